/* `lstmc train` (lstmc_train): the options, Ctrl-C, and what the run's events look like on stderr — a
 * progress bar redrawn in place on a terminal, plain lines (one per tenth of an epoch) elsewhere, nothing
 * with --quiet. */
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/cli.h"

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

/* ---- drawing the events ---------------------------------------------------------------------------- */

typedef struct TrainView {
  int bar;             /* 1: a bar redrawn in place (a terminal), 0: plain lines */
  double last_draw;    /* the event time of the last drawing */
  int64_t last_decile; /* the tenth of the epoch the last drawing showed (-1: none yet) */
} TrainView;

static void fmt_duration(double s, char *buf, size_t n) {
  if (!(s >= 0) || s > 1e7) {
    snprintf(buf, n, "--:--");
    return;
  }
  long v = (long)(s + 0.5);
  if (v >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", v / 3600, v / 60 % 60, v % 60);
  else snprintf(buf, n, "%ld:%02ld", v / 60, v % 60);
}

static void fmt_rate(double r, char *buf, size_t n) {
  if (r >= 1e6) snprintf(buf, n, "%.2fM", r / 1e6);
  else if (r >= 1e3) snprintf(buf, n, "%.1fk", r / 1e3);
  else snprintf(buf, n, "%.0f", r);
}

/* The bar at most five times a second and always after an epoch's last batch; plain lines when the tenth
 * of the epoch changes. */
static void draw_progress(TrainView *v, const lstmc_train_event *e) {
  int64_t decile = (int64_t)(e->fraction * 10);
  if (v->bar && !e->last && e->elapsed - v->last_draw < 0.2) return;
  if (!v->bar && (decile == v->last_decile || (e->last && v->last_decile == 10))) return;
  v->last_draw = e->elapsed;
  v->last_decile = decile;
  char rs[32], es[32];
  fmt_rate(e->tokens_per_s, rs, sizeof rs);
  fmt_duration(e->eta, es, sizeof es);
  if (v->bar) {
    char bar[21];
    int fill = (int)(e->fraction * 20);
    for (int i = 0; i < 20; i++) bar[i] = i < fill ? '#' : '.';
    bar[20] = 0;
    fprintf(stderr, "\r\033[Kepoch %lld/%lld [%s] %3.0f%% | loss %.4f | bpc %.4f | %s %s/s | ETA %s", (long long)e->epoch,
            (long long)e->epochs, bar, e->fraction * 100, e->loss, e->bpc, rs, e->unit, es);
  } else {
    fprintf(stderr, "epoch %lld/%lld %3.0f%%  loss %.4f  bpc %.4f  %s %s/s  ETA %s\n", (long long)e->epoch,
            (long long)e->epochs, e->fraction * 100, e->loss, e->bpc, rs, e->unit, es);
  }
  fflush(stderr);
}

static void on_event(const lstmc_train_event *e, void *ctx) {
  TrainView *v = ctx;
  switch (e->kind) {
  case LSTMC_TRAIN_START:
    if (e->threads > 0)
      fprintf(stderr, "lstmc: training %s on %s: %lld tokens (vocabulary %lld), %lld streams × %lld steps; %s; %d threads, %s kernel%s\n",
              e->model, e->data, (long long)e->tokens, (long long)e->vocab_size, (long long)e->streams,
              (long long)e->steps_per_epoch, e->optimizer, e->threads, e->kernel, e->resumed ? "; resumed" : "");
    else /* a GPU: kernel names it */
      fprintf(stderr, "lstmc: training %s on %s: %lld tokens (vocabulary %lld), %lld streams × %lld steps; %s; GPU %s%s\n",
              e->model, e->data, (long long)e->tokens, (long long)e->vocab_size, (long long)e->streams,
              (long long)e->steps_per_epoch, e->optimizer, e->kernel, e->resumed ? "; resumed" : "");
    break;
  case LSTMC_TRAIN_PROGRESS: draw_progress(v, e); break;
  case LSTMC_TRAIN_PIPELINE:
    if (v->bar) fputs("\r\033[K", stderr);
    fprintf(stderr, "epoch %lld: prune_at pipeline %d ran in %.2f s; sparsity now %.1f%%\n", (long long)e->epoch, e->pipeline,
            e->seconds, 100 * e->sparsity);
    break;
  case LSTMC_TRAIN_EPOCH:
    if (v->bar) fputs("\r\033[K", stderr);
    fprintf(stderr, "epoch %lld/%lld: train loss %.4f (bpc %.4f), valid bpc %.4f, lr %.4g, sparsity %.1f%%, %.1f s (passes %.1f s)\n",
            (long long)e->epoch, (long long)e->epochs, e->loss, e->bpc, e->valid_bpc, e->lr, e->sparsity * 100, e->seconds,
            e->pass_seconds);
    break;
  case LSTMC_TRAIN_LIMIT:
  case LSTMC_TRAIN_INTERRUPTED: /* the bar's line stays; the message comes below it */
    if (v->bar) fputs("\n", stderr);
    break;
  case LSTMC_TRAIN_STOPPED:
    fprintf(stderr, "lstmc: stopped at epoch %lld, step %" PRIu64 " (%s); valid bpc %.4f; checkpoint %s\n", (long long)e->epoch,
            e->step, e->reason == LSTMC_TRAIN_MAX_STEPS ? "--max-steps" : "--max-seconds", e->valid_bpc, e->path);
    break;
  case LSTMC_TRAIN_EXPORTED:
    if (e->pipelines)
      fprintf(stderr, "lstmc: exported through \"%s\": valid bpc %.4f (float master weights %.4f)\n", e->pipelines, e->valid_bpc,
              e->float_bpc);
    break;
  case LSTMC_TRAIN_DONE:
    fprintf(stderr, "lstmc: wrote %s (valid bpc %.4f) after %" PRIu64 " steps, %.1f s, training at %.0f %s/s\n", e->path,
            e->valid_bpc, e->step, e->seconds, e->tokens_per_s, e->unit);
    break;
  case LSTMC_TRAIN_CHECKPOINT: break;
  }
}

/* ---- the command ----------------------------------------------------------------------------------- */

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
  lstmc_train_options o;
  memset(&o, 0, sizeof o);
  o.data = arg_str(a, "data");
  o.valid = arg_str(a, "valid");
  o.out = arg_str(a, "o");
  o.target = arg_str(a, "target");
  const char *prec = arg_str(a, "precision");
  if (prec && strcmp(prec, "f32") && strcmp(prec, "bf16"))
    return usage_error("train: --precision must be f32 or bf16, not '%s'", prec);
  if (prec && (!o.target || strcmp(o.target, "cuda"))) return usage_error("train: --precision is for --target cuda");
  o.precision = prec;
  o.epochs = epochs;
  o.max_seconds = max_seconds;
  o.max_steps = max_steps;
  o.resume = arg_str(a, "resume");
  o.checkpoint = arg_str(a, "checkpoint");
  o.log = arg_str(a, "log");
  o.init = arg_str(a, "init");
  o.threads = (int)threads;
  TrainView view = {isatty(STDERR_FILENO), 0, -1};
  if (!arg_flag(a, "quiet")) {
    o.on_event = on_event;
    o.ctx = &view;
  }
  o.stop = &stop_requested;
  if (o.resume && o.init) return usage_error("train: --resume and --init exclude each other");
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old);
  lstmc_train_result r;
  int st = lstmc_train(a->pos[0], &o, &r);
  sigaction(SIGINT, &old, NULL);
  if (st == LSTMC_ERR_INTERRUPTED) {
    fprintf(stderr, "lstmc: %s\n", lstmc_errmsg());
    return 130;
  }
  if (st == LSTMC_ERR_PARSE) return 1; /* the diagnostics are out already */
  return st ? fail(st) : 0;
}
