/* The GPU training engine (engine.h's engine_cuda_ops, `lstmc train --target cuda`): the training loop's
 * calls made on the device through train/net_cuda.h — a CudaTrain (weights, gradients, optimizer state,
 * pruning masks on the device) with a training net and an evaluation net.
 *
 * The master weights, gradients, optimizer state and carried state live on the device. The loop reads and
 * writes the host copies at a few points only — a pipeline at an epoch's start, QAT's export, a checkpoint,
 * an epoch's sparsity, the final export — so:
 *   - to_host, before those reads, makes the graph's dense f32 tensors, the host Optim's buffers and the
 *     host Net's carried state the device's (the Optim's scalars are the engine's own at all times: the
 *     device's optimizer steps take their coefficients from it);
 *   - structure_changed, after a pipeline or a checkpoint restore, sends masks, weights, optimizer state and
 *     carried state back (and makes the training net anew when weight-drop changed).
 * The host Optim and the host Net (an evaluation net holding the carried state only) are checkpoint_parts,
 * so checkpoints are the CPU engine's: a run moves between the two through --resume.
 *
 * Memory: the engine borrows the graph and masks (which must outlive it) and owns everything else. */
#include <stdio.h>
#include <string.h>

#include "support/alloc.h"
#include "support/err.h"
#include "train/engine.h"
#include "train/net_cuda.h"

typedef struct CudaEngine {
  TrainEngine base;
  EngineConfig c;
  CudaTrain *ct;
  NetCuda *net, *evnet;
  Net *host_state; /* the training net's carried state on the host (an evaluation net: no gradients) */
  char desc[200];
} CudaEngine;

static void cuda_free(TrainEngine *base) {
  CudaEngine *e = (CudaEngine *)base;
  net_cuda_free(e->net);
  net_cuda_free(e->evnet);
  cuda_train_free(e->ct);
  net_free(e->host_state);
  lx_free(e);
}

static int cuda_create(const EngineConfig *c, TrainEngine **out) {
  *out = NULL;
  CudaEngine *e = lx_calloc(1, sizeof *e);
  if (!e) return lx_nomem("starting GPU training");
  e->base.ops = &engine_cuda_ops;
  e->c = *c;
  CudaDev *dev = NULL;
  int st = c->cuda_open ? c->cuda_open(&dev) : cuda_dev_open(&dev);
  if (st) {
    lx_free(e);
    return st;
  }
  snprintf(e->desc, sizeof e->desc, "%s (sm_%d), %s", dev->info.name, dev->info.arch,
           c->precision == CUDA_TRAIN_BF16 ? "bf16 products, fp32 master weights" : "fp32");
  CudaTrainOptions o = {c->precision, 0, 0};
  if ((st = cuda_train_create(c->g, dev, c->oc, &o, &e->ct)) || (st = cuda_train_set_prune_masks(e->ct, c->masks)) ||
      (st = net_cuda_create(e->ct, c->batch, 1, &e->net)) || (st = net_cuda_create(e->ct, c->eval_batch, 0, &e->evnet)) ||
      (st = net_create(c->g, NULL, c->batch, 0, &e->host_state)))
    goto fail;
  *out = &e->base;
  return 0;
fail:
  cuda_free(&e->base);
  return st;
}

static void cuda_describe(const TrainEngine *base, int *threads, const char **kernel) {
  *threads = 0; /* a GPU: the kernel says which */
  *kernel = ((const CudaEngine *)base)->desc;
}

static int cuda_reset_state(TrainEngine *base) { return net_cuda_reset_state(((CudaEngine *)base)->net); }

static int cuda_backward(TrainEngine *base, const int32_t *x, const int32_t *y, int64_t T, uint64_t step, NetLoss *loss) {
  CudaEngine *e = (CudaEngine *)base;
  int st = net_cuda_draw_masks(e->net, e->c.mask_seed, step);
  return st ? st : cuda_train_backward(e->ct, e->net, x, y, T, e->c.ar, e->c.tar, loss);
}

static int cuda_update(TrainEngine *base, double lr, double base_lr) {
  CudaEngine *e = (CudaEngine *)base;
  return cuda_train_update(e->ct, lr, base_lr, e->c.clip);
}

static int cuda_eval_reset(TrainEngine *base) { return net_cuda_reset_state(((CudaEngine *)base)->evnet); }

static int cuda_eval_step(TrainEngine *base, const int32_t *x, const int32_t *y, int64_t T, NetLoss *loss) {
  return net_cuda_step(((CudaEngine *)base)->evnet, x, y, T, 0, 0, loss);
}

static int cuda_set_forward_weights(TrainEngine *base, int slot, const float *w) {
  return cuda_train_set_forward_weights(((CudaEngine *)base)->ct, slot, w);
}

static int cuda_structure_changed(TrainEngine *base, int weight_drop_changed) {
  CudaEngine *e = (CudaEngine *)base;
  Graph *g = e->c.g;
  Optim *opt = cuda_train_optim(e->ct);
  for (int s = 0; s < g->nslots; s++)
    if (e->c.masks[s]) optim_mask_state(opt, s, e->c.masks[s]);
  int st = cuda_train_set_prune_masks(e->ct, e->c.masks);
  if (!st) st = cuda_train_upload(e->ct);
  if (!st && weight_drop_changed) {
    /* the training net draws its weight-drop masks with the probabilities it was made with: make it anew */
    net_cuda_free(e->net);
    e->net = NULL;
    st = net_cuda_create(e->ct, e->c.batch, 1, &e->net);
  }
  for (int l = 0; !st && l < net_num_lstm(e->host_state); l++)
    st = net_cuda_set_state(e->net, l, net_state_h(e->host_state, l), net_state_c(e->host_state, l));
  return st;
}

static void cuda_checkpoint_parts(TrainEngine *base, Net **net, Optim **opt) {
  CudaEngine *e = (CudaEngine *)base;
  *net = e->host_state;
  *opt = cuda_train_optim(e->ct);
}

static int cuda_to_host(TrainEngine *base) {
  CudaEngine *e = (CudaEngine *)base;
  int st = cuda_train_download(e->ct);
  for (int l = 0; !st && l < net_num_lstm(e->host_state); l++)
    st = net_cuda_get_state(e->net, l, net_state_h(e->host_state, l), net_state_c(e->host_state, l));
  return st;
}

const EngineOps engine_cuda_ops = {
    .target = "cuda",
    .create = cuda_create,
    .free = cuda_free,
    .describe = cuda_describe,
    .reset_state = cuda_reset_state,
    .backward = cuda_backward,
    .update = cuda_update,
    .eval_reset = cuda_eval_reset,
    .eval_step = cuda_eval_step,
    .set_forward_weights = cuda_set_forward_weights,
    .structure_changed = cuda_structure_changed,
    .checkpoint_parts = cuda_checkpoint_parts,
    .to_host = cuda_to_host,
};
