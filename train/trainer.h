/* `lstmc train`: the AWD-LSTM training loop over a spec's train block, on the multi-threaded CPU engine.
 *
 * Per epoch (1-based, as AWD-LSTM's main.py): the state starts at zero; batches of a variable length
 * (data_seq_len) run until the stream is used up, each one a forward/backward pass (net.h) with freshly
 * drawn masks, gradient clipping by global norm, and one optimizer step at lr·seq_len/bptt; then the
 * validation BPC (eval_batch streams, state carried, dropout off), a line in the CSV log, and a checkpoint.
 * After an epoch listed in lr_drop the learning rate is divided by 10 (as AWD-LSTM's `--when`).
 *
 * Everything random comes from the seed: the initial weights (as `lstmc init --seed`), the sequence
 * lengths (one stream, saved in checkpoints) and the masks (keyed by the step counter). Results do not
 * depend on the thread count, so a run resumed from a checkpoint — even with other --threads — ends with
 * the same bytes as one that was never interrupted.
 *
 * Memory: train_run owns everything it makes and frees it before returning. */
#ifndef LSTMC_TRAIN_TRAINER_H
#define LSTMC_TRAIN_TRAINER_H
#include <signal.h>
#include <stdint.h>
#include <stdio.h>

struct CudaDev;
typedef struct TrainOptions {
  const char *spec_path;
  const char *data, *valid; /* override the train block's files (NULL: the spec's) */
  const char *out;          /* final weights (required) */
  const char *checkpoint;   /* NULL: OUT with ".safetensors" replaced by ".ckpt.safetensors" */
  const char *resume;       /* checkpoint to continue from, or NULL */
  const char *log;          /* CSV log, or NULL */
  const char *init;         /* initial weights (and vocabulary), or NULL for random ones */
  const char *target;       /* "cpu" (default) or "cuda" (the GPU engine, train/engine_cuda.h); "ref" is refused */
  int precision;            /* cuda: CUDA_TRAIN_F32 (0, default) or CUDA_TRAIN_BF16 (train/net_cuda.h) */
  int (*cuda_open)(struct CudaDev **out); /* cuda: opens the device (NULL: the GPU); tests give the emulator */
  int64_t epochs;           /* 0: the spec's */
  double max_seconds;       /* 0: no limit */
  int64_t max_steps;        /* 0: no limit; else stop after this many optimizer steps in all */
  int threads;              /* 0: every core */
  int progress;             /* 1: a bar redrawn in place (terminal), 0: plain lines, -1: nothing */
  volatile sig_atomic_t *stop; /* set (by a SIGINT handler) to stop at the next batch boundary */
  FILE *msg;                /* progress and messages; NULL: stderr */
} TrainOptions;

typedef struct TrainResult {
  double valid_bpc;  /* after the last epoch; NaN without validation data */
  double train_loss; /* mean cross-entropy (nats) of the last epoch */
  int64_t epochs_done;
  uint64_t steps;
  double seconds;    /* this invocation */
  double tokens_per_s;
  int interrupted;   /* stopped by *stop: the checkpoint was written, OUT was not */
} TrainResult;

/* Returns 0 (also when stopped by max_seconds/max_steps: OUT and the checkpoint are written), or a status
 * with a message: LSTMC_ERR_INTERRUPTED when *stop was set (the checkpoint names how to resume). */
int train_run(const TrainOptions *o, TrainResult *r);

/* One optimizer step on a batch whose masks are already in the net (net_draw_masks, or a test's own):
 * forward and backward, the pruning masks applied to the gradients, clipping by global norm, the update
 * at lr, the pruning masks applied to the weights. train_run's loop calls it; so do the tests. */
struct Net;
struct Optim;
struct Pool;
struct NetLoss;
typedef struct TrainStepCtx {
  struct Net *net;
  struct Optim *opt;
  struct Pool *pool;
  float *const *params; /* [n] the weight slots' master weights */
  float *const *grads;  /* [n] net_grad of each slot */
  const int64_t *sizes; /* [n] */
  int n;
  uint8_t *const *masks; /* [n] pruning masks (1 = kept) or NULL entries; NULL: none */
  double clip, ar, tar;
} TrainStepCtx;
int train_step(const TrainStepCtx *c, const int32_t *x, const int32_t *y, int64_t T, double lr, double base_lr,
               struct NetLoss *loss);

/* The checkpoint path train_run uses for OUT (caller lx_free's), or NULL on OOM. */
char *train_checkpoint_path(const char *out);

#endif
