/* `lstmc train` (lstmc_train in include/lstmc.h): the AWD-LSTM training loop over a spec's train block.
 *
 * Per epoch (1-based, as AWD-LSTM's main.py): the state starts at zero; batches of a variable length
 * (data_seq_len) run until the stream is used up, each one a forward/backward pass (engine.h) with freshly
 * drawn masks, gradient clipping by global norm, and one optimizer step at lr·seq_len/bptt; then the
 * validation BPC (eval_batch streams, state carried, dropout off), a line in the CSV log, and a checkpoint.
 * After an epoch listed in lr_drop the learning rate is divided by 10 (as AWD-LSTM's `--when`).
 *
 * Everything random comes from the seed: the initial weights (as `lstmc init --seed`), the sequence
 * lengths (one stream, saved in checkpoints) and the masks (keyed by the step counter). Results do not
 * depend on the thread count, so a run resumed from a checkpoint — even with other --threads — ends with
 * the same bytes as one that was never interrupted.
 *
 * The files: trainer.c sets a run up (spec, data, vocabulary, weights, engine, resume) and tears it down;
 * loop.c runs the epochs and writes the final weights; engine.h computes (engine_cpu.c on the CPU);
 * schedule.c runs the passes in the loop; qat.c trains through the quantizer; progress.c reports (events,
 * CSV log); checkpoint.c reads and writes checkpoint files.
 *
 * Memory: train_run owns everything it makes and frees it before returning. */
#ifndef LSTMC_TRAIN_TRAINER_H
#define LSTMC_TRAIN_TRAINER_H
#include "lstmc.h"

/* lstmc_train: see include/lstmc.h. */
int train_run(const char *spec_path, const lstmc_train_options *o, lstmc_train_result *r);

/* What a test puts in place of hardware (not part of the public API): the device of --target cuda. */
struct CudaDev;
typedef struct TrainHooks {
  int (*cuda_open)(struct CudaDev **out); /* NULL: the GPU (cuda_dev_open); tests/cuda gives the emulator */
} TrainHooks;
/* train_run with hooks (NULL: none). */
int train_run_with(const char *spec_path, const lstmc_train_options *o, const TrainHooks *hooks, lstmc_train_result *r);

/* The checkpoint path train_run uses for OUT (caller lx_free's), or NULL on OOM. */
char *train_checkpoint_path(const char *out);

#endif
