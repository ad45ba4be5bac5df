/* The training commands: `lstmc train` (train/trainer.h) and `lstmc plot` (train/plot.h). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/cli.h"
#include "train/plot.h"
#include "train/trainer.h"

const OptSpec train_opts[] = {{"data", 1, "training text (default: the train block's 'data')"},
                              {"valid", 1, "validation text (default: the train block's 'valid')"},
                              {"o", 1, "output weights file (.safetensors)"},
                              {"target", 1, "engine: cpu (default) or cuda (one GPU)"},
                              {"precision", 1, "cuda: f32 (default) or bf16 (bf16 products, fp32 master weights)"},
                              {"epochs", 1, "epochs in all (default: the train block's)"},
                              {"max-seconds", 1, "stop after this much training time, then validate and save"},
                              {"max-steps", 1, "stop after this many optimizer steps in all, then validate and save"},
                              {"resume", 1, "continue from this checkpoint"},
                              {"checkpoint", 1, "checkpoint file (default: OUT with .ckpt.safetensors)"},
                              {"log", 1, "write one CSV line per epoch here"},
                              {"threads", 1, "CPU threads (0 = all cores)"},
                              {"init", 1, "start from these weights (and vocabulary) instead of random ones"},
                              {"quiet", 0, "no progress output"},
                              {0}};

static volatile sig_atomic_t stop_requested;

/* The first Ctrl-C asks the trainer to checkpoint and stop at the next batch; a second one kills. */
static void on_sigint(int sig) {
  stop_requested = 1;
  signal(sig, SIG_DFL);
}

int cmd_train(Args *a) {
  int rc;
  long long epochs, threads, max_steps;
  double max_seconds;
  if ((rc = require(a, "o")) || (rc = arg_int(a, "epochs", 0, 1, 1 << 24, &epochs)) ||
      (rc = arg_int(a, "threads", 0, 0, 1024, &threads)) || (rc = arg_int(a, "max-steps", 0, 1, 1LL << 62, &max_steps)) ||
      (rc = arg_double(a, "max-seconds", 0, 0, 1e12, &max_seconds)))
    return rc;
  TrainOptions o;
  memset(&o, 0, sizeof o);
  o.spec_path = a->pos[0];
  o.data = arg_str(a, "data");
  o.valid = arg_str(a, "valid");
  o.out = arg_str(a, "o");
  o.target = arg_str(a, "target");
  const char *prec = arg_str(a, "precision");
  if (prec && strcmp(prec, "f32") && strcmp(prec, "bf16"))
    return usage_error("train: --precision must be f32 or bf16, not '%s'", prec);
  if (prec && (!o.target || strcmp(o.target, "cuda"))) return usage_error("train: --precision is for --target cuda");
  o.precision = prec && !strcmp(prec, "bf16"); /* CUDA_TRAIN_BF16 */
  o.epochs = epochs;
  o.max_seconds = max_seconds;
  o.max_steps = max_steps;
  o.resume = arg_str(a, "resume");
  o.checkpoint = arg_str(a, "checkpoint");
  o.log = arg_str(a, "log");
  o.init = arg_str(a, "init");
  o.threads = (int)threads;
  o.progress = arg_flag(a, "quiet") ? -1 : isatty(STDERR_FILENO) ? 1 : 0;
  o.stop = &stop_requested;
  o.msg = stderr;
  if (o.resume && o.init) return usage_error("train: --resume and --init exclude each other");
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old);
  TrainResult r;
  int st = train_run(&o, &r);
  sigaction(SIGINT, &old, NULL);
  if (st == LSTMC_ERR_INTERRUPTED) {
    fprintf(stderr, "lstmc: %s\n", lstmc_errmsg());
    return 130;
  }
  if (st == LSTMC_ERR_PARSE) return 1; /* the diagnostics are out already */
  return st ? fail(st) : 0;
}

const OptSpec plot_opts[] = {{"o", 1, "output image: .png or .svg"},
                             {"title", 1, "title (default: the log's file name)"},
                             {0}};

int cmd_plot(Args *a) {
  int rc;
  if ((rc = require(a, "o"))) return rc;
  int st = plot_log(a->pos[0], arg_str(a, "o"), arg_str(a, "title"));
  return st ? fail(st) : 0;
}
