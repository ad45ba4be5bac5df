/* The CPU training engine (engine.h): the training and validation nets of net.h on the cache-blocked GEMM
 * and the thread pool, the optimizer of optim.h over the graph's master weights, and the step of step.h. */
#include <string.h>

#include "support/alloc.h"
#include "support/err.h"
#include "support/pool.h"
#include "train/engine.h"
#include "train/gemm.h"
#include "train/step.h"

typedef struct CpuEngine {
  TrainEngine base;
  EngineConfig c;
  Pool *pool;
  Gemm *gemm;
  Net *net, *evnet;
  Optim *opt;
  float **params, **grads;
  int64_t *sizes;
  TrainStepCtx step; /* the above, as train_step takes them */
} CpuEngine;

/* ---- the step ------------------------------------------------------------------------------------- */

static void apply_masks(const TrainStepCtx *c, float *const *arrays) {
  if (!c->masks) return;
  for (int s = 0; s < c->n; s++) {
    const uint8_t *m = c->masks[s];
    if (!m) continue;
    float *a = arrays[s];
    for (int64_t i = 0; i < c->sizes[s]; i++)
      if (!m[i]) a[i] = 0;
  }
}

void train_update(const TrainStepCtx *c, double lr, double base_lr) {
  apply_masks(c, c->grads);
  optim_clip_grad_norm(c->pool, c->grads, c->sizes, c->n, c->clip);
  optim_step(c->opt, c->pool, c->params, (const float *const *)c->grads, lr, base_lr);
  apply_masks(c, c->params);
}

int train_step(const TrainStepCtx *c, const int32_t *x, const int32_t *y, int64_t T, double lr, double base_lr, NetLoss *loss) {
  int st = net_step(c->net, x, y, T, c->ar, c->tar, loss);
  if (st) return st;
  train_update(c, lr, base_lr);
  return 0;
}

/* ---- the engine ----------------------------------------------------------------------------------- */

static void cpu_free(TrainEngine *base) {
  CpuEngine *e = (CpuEngine *)base;
  net_free(e->net);
  net_free(e->evnet);
  optim_free(e->opt);
  gemm_free(e->gemm);
  pool_free(e->pool);
  lx_free(e->params);
  lx_free(e->grads);
  lx_free(e->sizes);
  lx_free(e);
}

static void point_step(CpuEngine *e) {
  TrainStepCtx s = {e->net, e->opt, e->pool, e->params, e->grads, e->sizes, e->c.g->nslots, e->c.masks,
                    e->c.clip, e->c.ar, e->c.tar};
  e->step = s;
}

static int cpu_create(const EngineConfig *c, TrainEngine **out) {
  *out = NULL;
  CpuEngine *e = lx_calloc(1, sizeof *e);
  if (!e) return lx_nomem("starting training");
  e->base.ops = &engine_cpu_ops;
  e->c = *c;
  Graph *g = c->g;
  int n = g->nslots, st;
  if ((st = pool_create(c->threads, &e->pool)) || (st = gemm_create(e->pool, &e->gemm)) ||
      (st = net_create(g, e->gemm, c->batch, 1, &e->net)) || (st = net_create(g, e->gemm, c->eval_batch, 0, &e->evnet)))
    goto fail;
  e->params = lx_calloc((size_t)n, sizeof *e->params);
  e->grads = lx_calloc((size_t)n, sizeof *e->grads);
  e->sizes = lx_calloc((size_t)n, sizeof *e->sizes);
  if (!e->params || !e->grads || !e->sizes) {
    st = lx_nomem("starting training");
    goto fail;
  }
  for (int s = 0; s < n; s++) {
    e->params[s] = tensor_f32(g->slots[s].t);
    e->grads[s] = net_grad(e->net, s);
    e->sizes[s] = g->slots[s].rows * g->slots[s].cols;
  }
  if ((st = optim_create(c->oc, n, e->sizes, &e->opt))) goto fail;
  point_step(e);
  *out = &e->base;
  return 0;
fail:
  cpu_free(&e->base);
  return st;
}

static void cpu_describe(const TrainEngine *base, int *threads, const char **kernel) {
  const CpuEngine *e = (const CpuEngine *)base;
  *threads = pool_threads(e->pool);
  *kernel = gemm_kernel_name();
}

static int cpu_reset_state(TrainEngine *base) {
  net_reset_state(((CpuEngine *)base)->net);
  return 0;
}

static int cpu_backward(TrainEngine *base, const int32_t *x, const int32_t *y, int64_t T, uint64_t step, NetLoss *loss) {
  CpuEngine *e = (CpuEngine *)base;
  net_draw_masks(e->net, e->c.mask_seed, step);
  return net_step(e->net, x, y, T, e->c.ar, e->c.tar, loss);
}

static int cpu_update(TrainEngine *base, double lr, double base_lr) {
  train_update(&((CpuEngine *)base)->step, lr, base_lr);
  return 0;
}

static int cpu_eval_reset(TrainEngine *base) {
  net_reset_state(((CpuEngine *)base)->evnet);
  return 0;
}

static int cpu_eval_step(TrainEngine *base, const int32_t *x, const int32_t *y, int64_t T, NetLoss *loss) {
  return net_step(((CpuEngine *)base)->evnet, x, y, T, 0, 0, loss);
}

static int cpu_set_forward_weights(TrainEngine *base, int slot, const float *w) {
  CpuEngine *e = (CpuEngine *)base;
  net_set_forward_weights(e->net, slot, w);
  net_set_forward_weights(e->evnet, slot, w);
  return 0;
}

static int cpu_structure_changed(TrainEngine *base, int weight_drop_changed) {
  CpuEngine *e = (CpuEngine *)base;
  Graph *g = e->c.g;
  for (int s = 0; s < g->nslots; s++)
    if (e->c.masks[s]) optim_mask_state(e->opt, s, e->c.masks[s]);
  if (!weight_drop_changed) return 0;
  /* the training net draws its weight-drop masks with the probabilities it was made with: make it anew */
  net_free(e->net);
  e->net = NULL;
  int st = net_create(g, e->gemm, e->c.batch, 1, &e->net);
  if (st) return st;
  for (int s = 0; s < g->nslots; s++) e->grads[s] = net_grad(e->net, s);
  point_step(e);
  return 0;
}

static void cpu_checkpoint_parts(TrainEngine *base, Net **net, Optim **opt) {
  CpuEngine *e = (CpuEngine *)base;
  *net = e->net;
  *opt = e->opt;
}

const EngineOps engine_cpu_ops = {
    .target = "cpu",
    .create = cpu_create,
    .free = cpu_free,
    .describe = cpu_describe,
    .reset_state = cpu_reset_state,
    .backward = cpu_backward,
    .update = cpu_update,
    .eval_reset = cpu_eval_reset,
    .eval_step = cpu_eval_step,
    .set_forward_weights = cpu_set_forward_weights,
    .structure_changed = cpu_structure_changed,
    .checkpoint_parts = cpu_checkpoint_parts,
};
