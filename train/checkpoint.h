/* Training checkpoints: one safetensors file that `lstmc eval` could almost read — the weights under their
 * PyTorch names with the vocabulary, exactly as `-o` writes them — plus everything needed to continue the
 * run bit for bit, under names starting with "train.":
 *
 *   train.opt.<slot>.<buffer>   F32 [n]   optimizer state per weight (exp_avg, exp_avg_sq, sum, …)
 *   train.state.h.<l>, .c.<l>  F32 [B·H] the recurrent state carried into the next batch
 *   train.mask.<slot>          U8 [n]    which weights a pass pruned (1 = kept), when a schedule ran
 *   train.struct.<slot>.mask, .group_offsets, .group_cols, .select
 *                                       the structure a prune_at pipeline left (schedule.h), as
 *                                       weights.c stores those formats
 *
 * and the metadata key "lstmc.checkpoint", a JSON object: format version, the position (epoch, data
 * position, step), the sequence-length RNG, optimizer scalars, the epoch's running sums, the CSV log so
 * far, a hash of the training tokens, the schedule's state (each structure's format and group parameters,
 * the pipeline record, the weight-drop probabilities), and the "fingerprint" — the model and the train
 * settings a resumed run must share. Writing goes through st_write_file: temporary file, fsync, rename — a crash or kill at
 * any moment leaves either the old checkpoint or the new one, never a torn file. */
#ifndef LSTMC_TRAIN_CHECKPOINT_H
#define LSTMC_TRAIN_CHECKPOINT_H
#include <stdint.h>

#include "ir/graph.h"
#include "runtime/safetensors.h"
#include "support/rng.h"
#include "train/net.h"
#include "train/optim.h"
#include "train/schedule.h"

typedef struct TrainState {
  int64_t epoch;          /* the epoch in progress, or the next one when pos is 0 (1-based) */
  int64_t pos;            /* data position (step index into the batched stream) within the epoch */
  uint64_t step;          /* optimizer steps taken in all */
  Rng seq_rng;            /* sequence lengths */
  double epoch_nll;       /* this epoch so far: summed cross-entropy (nats) */
  int64_t epoch_tokens;   /* … and predictions */
  double epoch_seconds, epoch_pass_seconds;
  double total_seconds;   /* training time of every invocation so far */
  char *log;              /* the CSV log so far (owned; lx_free) */
} TrainState;

/* What a checkpoint holds besides the scalars. masks[slot] is NULL for a slot nothing pruned. */
typedef struct CkptParts {
  Graph *g;
  Net *net;
  Optim *opt;
  uint8_t **masks;         /* [g->nslots] */
  Schedule *sched;
  const char *fingerprint; /* JSON object text */
  uint64_t data_hash;
} CkptParts;

int ckpt_save(const char *path, const CkptParts *p, const TrainState *s);

/* Reads a checkpoint, checks that it is one and that its fingerprint matches (an error names the first
 * setting that differs), and loads its weights, vocabulary and weight-drop probabilities into g. *f keeps the file for ckpt_restore;
 * *data_hash receives the hash of the data it was trained on. */
int ckpt_open(const char *path, Graph *g, const char *fingerprint, StFile **f, uint64_t *data_hash);
/* The same for a file already read (st_read_file / st_read_buffer); takes f over, freeing it on failure. */
int ckpt_open_file(StFile *f, Graph *g, const char *fingerprint, StFile **out, uint64_t *data_hash);
/* Restores the optimizer state, carried state, masks (allocating masks[slot] for the slots it has), the
 * schedule's structures and record, and the scalars from an opened checkpoint. */
int ckpt_restore(const StFile *f, const CkptParts *p, TrainState *s);

#endif
