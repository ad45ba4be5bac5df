/* The training engine: where a training run's numbers are computed — the forward and backward pass of the
 * training net, the optimizer update, and the validation net — behind one table of functions, so that the
 * loop (loop.c) reads the same whatever computes them. The CPU engine (engine_cpu.c) wraps net.h, optim.h,
 * gemm.h and the thread pool; another device is another table in engine.c's list (docs/train.md, "Where
 * the next engines plug in").
 *
 * The master weights are the graph's dense f32 tensors, which the engine reads and updates in place; the
 * pruning masks belong to the schedule (schedule.h), and the engine applies them on every update.
 *
 * One step is two calls, backward then update, so that a data-parallel run can sum the gradients of its
 * processes between them. Memory: an engine borrows its graph and masks (which must outlive it) and owns
 * everything else; engine_free releases it. */
#ifndef LSTMC_TRAIN_ENGINE_H
#define LSTMC_TRAIN_ENGINE_H
#include <stdint.h>

#include "ir/graph.h"
#include "train/net.h"
#include "train/optim.h"

struct CudaDev;
typedef struct EngineConfig {
  Graph *g;                 /* the model, weights dense f32 (borrowed) */
  uint8_t *const *masks;    /* [g->nslots] pruning masks (1 = kept), NULL entries where none; borrowed, its
                               entries may change (then call structure_changed) */
  int64_t batch;            /* training streams */
  int64_t eval_batch;       /* validation streams */
  const OptimConfig *oc;
  int threads;              /* 0: every core */
  double clip, ar, tar;
  uint64_t mask_seed;       /* the dropout and weight-drop masks of step k are drawn from (mask_seed, k) */
  int precision;            /* cuda: CUDA_TRAIN_F32 (0) or CUDA_TRAIN_BF16 (1) (train/net_cuda.h) */
  int (*cuda_open)(struct CudaDev **out); /* cuda: opens the device; NULL: the GPU (tests: the emulator) */
} EngineConfig;

typedef struct TrainEngine TrainEngine;

typedef struct EngineOps {
  const char *target; /* "cpu" */
  int (*create)(const EngineConfig *c, TrainEngine **out);
  void (*free)(TrainEngine *e);
  /* Threads it runs on and the name of its matrix kernel, for the start of a run's report. */
  void (*describe)(const TrainEngine *e, int *threads, const char **kernel);
  /* Zeroes the training net's carried state (at the start of an epoch). */
  int (*reset_state)(TrainEngine *e);
  /* Forward and backward of one training batch (x, y: [T·B] ids, time-major) with the masks of `step`:
   * the loss, and the gradients ready for update. */
  int (*backward)(TrainEngine *e, const int32_t *x, const int32_t *y, int64_t T, uint64_t step, NetLoss *loss);
  /* The pruning masks applied to the gradients, clipping by global norm, one optimizer step at lr (base_lr:
   * the configured rate, which AdaBound's bounds scale by), the masks applied to the weights. */
  int (*update)(TrainEngine *e, double lr, double base_lr);
  /* Validation: zero the validation net's state, then score batches of eval_batch streams (dropout off). */
  int (*eval_reset)(TrainEngine *e);
  int (*eval_step)(TrainEngine *e, const int32_t *x, const int32_t *y, int64_t T, NetLoss *loss);
  /* The weights both forward passes read for slot s (NULL: the master weights), for quantization-aware
   * training: the gradient still goes to the master weights. */
  int (*set_forward_weights)(TrainEngine *e, int slot, const float *w);
  /* After the masks (or, with weight_drop_changed, the graph's weight-drop probabilities) changed, or a
   * checkpoint was restored into the host objects: clears the optimizer state of pruned weights and redraws
   * what depends on them (an engine keeping its state elsewhere takes the host's copies back). */
  int (*structure_changed)(TrainEngine *e, int weight_drop_changed);
  /* The host objects a checkpoint saves and restores: the training net (its carried state) and the
   * optimizer (its state buffers and scalars). */
  void (*checkpoint_parts)(TrainEngine *e, Net **net, Optim **opt);
  /* Makes the host copies current — the graph's weights, and the optimizer and carried state of
   * checkpoint_parts — before the host reads them: a pipeline, QAT's export, a checkpoint, the final export.
   * NULL for an engine that computes on those copies (the CPU's). */
  int (*to_host)(TrainEngine *e);
} EngineOps;

/* Every engine begins with this header. */
struct TrainEngine {
  const EngineOps *ops;
};

/* The engine of `target` (NULL: "cpu"); a target that cannot train is an error saying what can. */
int engine_lookup(const char *target, const EngineOps **ops);
void engine_free(TrainEngine *e); /* accepts NULL */

/* The engines (engine_cpu.c, engine_cuda.c). */
extern const EngineOps engine_cpu_ops, engine_cuda_ops;
/* The host copies current (to_host), for any engine. */
int engine_to_host(TrainEngine *e);

#endif
