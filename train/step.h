/* One optimizer step of the CPU engine on a batch whose masks are already in the net (net_draw_masks, or a
 * test's own): forward and backward, the pruning masks applied to the gradients, clipping by global norm,
 * the update at lr, the pruning masks applied to the weights. The CPU engine (engine_cpu.c) takes its steps
 * this way, in two halves (net_step, then train_update) so that gradients can be combined in between; the
 * tests call train_step to compare a step with PyTorch. */
#ifndef LSTMC_TRAIN_STEP_H
#define LSTMC_TRAIN_STEP_H
#include <stdint.h>

#include "support/pool.h"
#include "train/net.h"
#include "train/optim.h"

typedef struct TrainStepCtx {
  Net *net;
  Optim *opt;
  Pool *pool;
  float *const *params; /* [n] the weight slots' master weights */
  float *const *grads;  /* [n] net_grad of each slot */
  const int64_t *sizes; /* [n] */
  int n;
  uint8_t *const *masks; /* [n] pruning masks (1 = kept) or NULL entries; NULL: none */
  double clip, ar, tar;
} TrainStepCtx;

int train_step(const TrainStepCtx *c, const int32_t *x, const int32_t *y, int64_t T, double lr, double base_lr,
               NetLoss *loss);
/* The second half: everything after backward. */
void train_update(const TrainStepCtx *c, double lr, double base_lr);

#endif
