/* The GPU training engine of `lstmc train --target cuda`: the calls the training loop makes on the CPU
 * engine (a training batch's backward and update, validation, the weights QAT's forward reads, a pipeline's
 * new masks, the checkpoint's parts), made on the device through train/net_cuda.h.
 *
 * The master weights, gradients, optimizer state and carried state live on the device. The loop reads and
 * writes the host copies at a few points only — a pipeline at an epoch's start, QAT's export, a checkpoint,
 * the final export — so the engine gives it:
 *   - cuda_engine_to_host before those reads: the graph's dense f32 tensors, the host Optim's buffers and the
 *     host Net's carried state become the device's (the Optim's scalars are the engine's own at all times);
 *   - cuda_engine_structure_changed after a pipeline or a checkpoint restore: masks, weights, optimizer state
 *     and carried state go back to the device (and the training net is made anew when weight-drop changed).
 * The host Optim and the host Net (an evaluation net, holding the carried state only) are what a checkpoint
 * saves and restores (cuda_engine_checkpoint_parts), so checkpoints are the CPU engine's: a run moves
 * between the two through --resume.
 *
 * Memory: a CudaEngine borrows the graph and masks (which must outlive it) and owns everything else. */
#ifndef LSTMC_TRAIN_ENGINE_CUDA_H
#define LSTMC_TRAIN_ENGINE_CUDA_H
#include <stdint.h>

#include "train/net_cuda.h"

typedef struct CudaEngineConfig {
  Graph *g;              /* dense f32 weights (borrowed) */
  uint8_t *const *masks; /* [g->nslots] pruning masks, NULL entries where none (borrowed; may change, then
                            call cuda_engine_structure_changed) */
  int64_t batch, eval_batch;
  const OptimConfig *oc;
  double clip, ar, tar;
  uint64_t mask_seed;    /* the masks of step k are drawn from (mask_seed, k), as on the CPU */
  int precision;         /* CUDA_TRAIN_F32 or CUDA_TRAIN_BF16 */
  int no_cache, verbose; /* the kernel cache, the compile report */
  /* Opens the device (NULL: cuda_dev_open, the GPU of LSTMC_CUDA_DEVICE); the tests give the emulator. */
  int (*open_device)(CudaDev **out);
} CudaEngineConfig;

typedef struct CudaEngine CudaEngine;

/* LSTMC_ERR_NODEVICE without a CUDA driver or device. */
int cuda_engine_create(const CudaEngineConfig *c, CudaEngine **out);
void cuda_engine_free(CudaEngine *e); /* accepts NULL */
/* For the start of a run's report: the device's name and the precision ("NVIDIA H100 …, fp32"). */
const char *cuda_engine_describe(const CudaEngine *e);
/* Zeroes the training net's carried state (an epoch's start). */
int cuda_engine_reset_state(CudaEngine *e);
/* Forward and backward of one training batch with the masks of `step`: the loss, the gradients on the
 * device. */
int cuda_engine_backward(CudaEngine *e, const int32_t *x, const int32_t *y, int64_t T, uint64_t step, NetLoss *loss);
/* Masks on the gradients, clipping, the optimizer step at lr (base_lr: the configured rate), masks on the
 * weights. */
int cuda_engine_update(CudaEngine *e, double lr, double base_lr);
/* Validation: the evaluation net's state zeroed, then batches of eval_batch streams (dropout off). */
int cuda_engine_eval_reset(CudaEngine *e);
int cuda_engine_eval_step(CudaEngine *e, const int32_t *x, const int32_t *y, int64_t T, NetLoss *loss);
/* The weights both forward passes read for slot s (host floats, copied; NULL: the master weights). */
int cuda_engine_set_forward_weights(CudaEngine *e, int slot, const float *w);
/* After the masks, the host weights or optimizer state (a pipeline, a restore) or, with
 * weight_drop_changed, the graph's weight-drop probabilities changed: the optimizer state of pruned weights
 * cleared, everything uploaded. */
int cuda_engine_structure_changed(CudaEngine *e, int weight_drop_changed);
/* The host copies of the device's state (see above). */
int cuda_engine_to_host(CudaEngine *e);
/* The host objects a checkpoint saves and restores. */
void cuda_engine_checkpoint_parts(CudaEngine *e, Net **net, Optim **opt);

#endif
