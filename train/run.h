/* One training run as the trainer's files share it (trainer.c sets it up and finishes it, loop.c runs the
 * epochs): the spec and graph, the settings, the data, and one small part per concern — the engine that
 * computes, the schedule of passes in the loop, quantization-aware training, the reporting, the
 * checkpoint's identity — plus the position and sums a checkpoint saves. Not used outside train/. */
#ifndef LSTMC_TRAIN_RUN_H
#define LSTMC_TRAIN_RUN_H
#include <stdint.h>

#include "frontend/diag.h"
#include "frontend/spec.h"
#include "ir/graph.h"
#include "lstmc.h"
#include "train/checkpoint.h"
#include "train/data.h"
#include "train/engine.h"
#include "train/optim.h"
#include "train/progress.h"
#include "train/qat.h"
#include "train/schedule.h"
#include "train/trainer.h"

/* Independent streams derived from the seed (the initial weights use the seed itself, as `lstmc init`). */
enum { SEED_SEQ_LEN = 1, SEED_MASKS = 2 };

/* The train block with the options applied. */
typedef struct TrainConfig {
  int64_t bptt, batch, eval_batch, epochs;
  uint64_t seed;
  double clip, ar, tar;
  OptimConfig oc;
  double max_seconds;  /* 0: no limit */
  int64_t max_steps;   /* 0: no limit */
} TrainConfig;

/* The training and validation text as token streams. */
typedef struct TrainData {
  char *train_path, *valid_path;
  int32_t *train_ids, *valid_ids; /* valid_ids NULL without validation data */
  int64_t ntrain, nvalid;
  Batched train, valid;           /* batched for batch and eval_batch streams */
  uint64_t hash;                  /* of the training tokens, in checkpoints */
} TrainData;

typedef struct Trainer {
  const lstmc_train_options *o;
  const TrainHooks *hooks; /* NULL: none */
  int precision;           /* cuda: CUDA_TRAIN_F32 or CUDA_TRAIN_BF16, from o->precision */
  Diag diag;             /* where the spec's and the pipelines' diagnostics go */
  Spec *spec;
  Graph *g;              /* the model; its dense f32 tensors are the master weights */
  TrainConfig cfg;
  TrainData data;
  const EngineOps *engine_ops;
  TrainEngine *engine;
  Schedule sched;        /* passes in the loop: templates and pruning masks */
  int epoch_begun;       /* the current epoch's prune_at pipelines have run */
  Qat qat;
  Progress progress;
  char *ckpt_path;
  char *fingerprint;     /* what a resumed run must share with this one (checkpoint.h) */
  TrainState s;          /* position, sums and log: what a checkpoint carries */
} Trainer;

/* loop.c: the epochs, from the state set up (fresh or resumed) to the final weights written. */
int train_loop(Trainer *t, lstmc_train_result *r);

/* The parts of the run a checkpoint saves and restores. */
CkptParts trainer_ckpt_parts(Trainer *t);

#endif
