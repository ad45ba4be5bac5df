/* The GPU training engine (see engine_cuda.h): a CudaTrain with a training net and an evaluation net on
 * the device, and the host objects a checkpoint and the loop's host-side work go through. */
#include "train/engine_cuda.h"

#include <stdio.h>
#include <string.h>

#include "support/alloc.h"
#include "support/err.h"

struct CudaEngine {
  CudaEngineConfig c;
  CudaTrain *ct;
  NetCuda *net, *evnet;
  Net *host_state; /* the carried state of the training net, on the host (an evaluation net: no gradients) */
  char desc[200];
};

void cuda_engine_free(CudaEngine *e) {
  if (!e) return;
  net_cuda_free(e->net);
  net_cuda_free(e->evnet);
  cuda_train_free(e->ct);
  net_free(e->host_state);
  lx_free(e);
}

int cuda_engine_create(const CudaEngineConfig *c, CudaEngine **out) {
  *out = NULL;
  CudaEngine *e = lx_calloc(1, sizeof *e);
  if (!e) return lx_nomem("starting GPU training");
  e->c = *c;
  CudaDev *dev = NULL;
  int st = c->open_device ? c->open_device(&dev) : cuda_dev_open(&dev);
  if (st) {
    lx_free(e);
    return st;
  }
  snprintf(e->desc, sizeof e->desc, "%s (sm_%d), %s", dev->info.name, dev->info.arch,
           c->precision == CUDA_TRAIN_BF16 ? "bf16 products, fp32 master weights" : "fp32");
  CudaTrainOptions o = {c->precision, c->no_cache, c->verbose};
  if ((st = cuda_train_create(c->g, dev, c->oc, &o, &e->ct)) || (st = cuda_train_set_prune_masks(e->ct, c->masks)) ||
      (st = net_cuda_create(e->ct, c->batch, 1, &e->net)) || (st = net_cuda_create(e->ct, c->eval_batch, 0, &e->evnet)) ||
      (st = net_create(c->g, NULL, c->batch, 0, &e->host_state)))
    goto fail;
  *out = e;
  return 0;
fail:
  cuda_engine_free(e);
  return st;
}

const char *cuda_engine_describe(const CudaEngine *e) { return e->desc; }

int cuda_engine_reset_state(CudaEngine *e) { return net_cuda_reset_state(e->net); }

int cuda_engine_backward(CudaEngine *e, const int32_t *x, const int32_t *y, int64_t T, uint64_t step, NetLoss *loss) {
  int st = net_cuda_draw_masks(e->net, e->c.mask_seed, step);
  return st ? st : cuda_train_backward(e->ct, e->net, x, y, T, e->c.ar, e->c.tar, loss);
}

int cuda_engine_update(CudaEngine *e, double lr, double base_lr) { return cuda_train_update(e->ct, lr, base_lr, e->c.clip); }

int cuda_engine_eval_reset(CudaEngine *e) { return net_cuda_reset_state(e->evnet); }

int cuda_engine_eval_step(CudaEngine *e, const int32_t *x, const int32_t *y, int64_t T, NetLoss *loss) {
  return net_cuda_step(e->evnet, x, y, T, 0, 0, loss);
}

int cuda_engine_set_forward_weights(CudaEngine *e, int slot, const float *w) { return cuda_train_set_forward_weights(e->ct, slot, w); }

int cuda_engine_structure_changed(CudaEngine *e, int weight_drop_changed) {
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

int cuda_engine_to_host(CudaEngine *e) {
  int st = cuda_train_download(e->ct);
  for (int l = 0; !st && l < net_num_lstm(e->host_state); l++)
    st = net_cuda_get_state(e->net, l, net_state_h(e->host_state, l), net_state_c(e->host_state, l));
  return st;
}

void cuda_engine_checkpoint_parts(CudaEngine *e, Net **net, Optim **opt) {
  *net = e->host_state;
  *opt = cuda_train_optim(e->ct);
}
