/* The training loop (see trainer.h): the epochs of a run set up by trainer.c — the prune_at pipelines due
 * at an epoch's start, its batches, its end (validation, log line, checkpoint), a stop on a limit or the stop
 * flag — and the final weights, exported through the schedule and written with their validation BPC.
 *
 * Where a data-parallel run plugs in (docs/train.md): train_batch between the engine's backward and update
 * (the gradient all-reduce), evaluate (each process scoring its share of the validation streams), and
 * save_checkpoint, write_log and report (rank 0 only). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "codegen/backend.h"
#include "runtime/weights.h"
#include "support/alloc.h"
#include "support/clock.h"
#include "support/err.h"
#include "train/run.h"

/* ---- helpers ---------------------------------------------------------------------------------------- */

/* The learning rate of epoch e: AWD-LSTM divides it by 10 after each epoch listed in lr_drop. */
static double epoch_lr(const Trainer *t, int64_t e) {
  double lr = t->cfg.oc.lr;
  const TrainSpec *ts = &t->spec->train;
  for (int i = 0; i < ts->nlr_drop; i++)
    if (ts->lr_drop[i] < e) lr /= 10;
  return lr;
}

/* The fraction of zero weights in all matrices. */
static double sparsity(const Graph *g) {
  int64_t zeros = 0, total = 0;
  for (int s = 0; s < g->nslots; s++) {
    if (g->slots[s].ndim != 2) continue;
    const float *w = tensor_f32(g->slots[s].t);
    int64_t n = g->slots[s].rows * g->slots[s].cols;
    for (int64_t i = 0; i < n; i++) zeros += w[i] == 0;
    total += n;
  }
  return total ? (double)zeros / (double)total : 0;
}

static int qat_on(const Trainer *t) { return qat_active(&t->qat, &t->sched, t->s.epoch, t->epoch_begun); }

static void report(Trainer *t, const lstmc_train_event *e) { progress_emit(&t->progress, e); }

static int save_checkpoint(Trainer *t) {
  int st = engine_to_host(t->engine);
  if (st) return st;
  CkptParts parts = trainer_ckpt_parts(t);
  st = ckpt_save(t->ckpt_path, &parts, &t->s);
  if (st) return st;
  lstmc_train_event e = progress_event(&t->progress, LSTMC_TRAIN_CHECKPOINT, &t->s);
  e.path = t->ckpt_path;
  report(t, &e);
  return 0;
}

static int write_log(Trainer *t) { return progress_write_log(t->o->log, t->s.log); }

/* ---- validation ------------------------------------------------------------------------------------- */

/* The validation BPC with the weights the validation net reads now. */
static int evaluate_plain(Trainer *t, double *bpc) {
  *bpc = NAN;
  if (!t->data.valid_ids) return 0;
  TrainEngine *e = t->engine;
  int st = e->ops->eval_reset(e);
  if (st) return st;
  double nll = 0;
  int64_t count = 0;
  int64_t E = t->cfg.eval_batch, steps = t->data.valid.steps, bptt = t->cfg.bptt;
  const int32_t *ids = t->data.valid.ids;
  for (int64_t i = 0; i < steps - 1; i += bptt) {
    int64_t T = bptt < steps - 1 - i ? bptt : steps - 1 - i;
    NetLoss l;
    st = e->ops->eval_step(e, ids + i * E, ids + (i + 1) * E, T, &l);
    if (st) return st;
    nll += l.nll;
    count += l.predictions;
  }
  *bpc = nll / (double)count / log(2.0);
  return 0;
}

/* The validation BPC of exported weights with int8 activations (act_bits = 8; ir/qdot.h), which the
 * training net, multiplying float activations, cannot give: the graph on the CPU backend (the reference
 * executor where lstmc has no LLVM), each of the eval_batch streams carried through as evaluate_plain
 * carries them. */
static int evaluate_exported(Trainer *t, const Graph *g, double *bpc) {
  *bpc = NAN;
  if (!t->data.valid_ids) return 0;
  int64_t E = t->cfg.eval_batch, steps = t->data.valid.steps;
  int threads = 0;
  const char *kernel;
  t->engine->ops->describe(t->engine, &threads, &kernel);
  ExecOptions o = {.target = exec_backend(TARGET_CPU) ? TARGET_CPU : TARGET_REF, .batch = 1, .threads = threads,
                   .allow_fallback = 1};
  int32_t *ids = lx_malloc((size_t)steps * sizeof *ids);
  if (!ids) return lx_nomem("evaluating the exported weights");
  double nll = 0;
  int st = 0;
  for (int64_t b = 0; b < E && !st; b++) {
    Executor *x = NULL;
    if ((st = exec_create(g, &o, &x))) break;
    for (int64_t i = 0; i < steps; i++) ids[i] = t->data.valid.ids[i * E + b];
    st = exec_score(x, ids, steps, &nll, NULL);
    exec_destroy(x);
  }
  lx_free(ids);
  if (!st) *bpc = nll / (double)(E * (steps - 1)) / log(2.0);
  return st;
}

static int has_int8_activations(const Graph *g) {
  for (int s = 0; s < g->nslots; s++)
    if (g->slots[s].t && g->slots[s].t->act_bits) return 1;
  return 0;
}

/* The validation BPC of the weights training has now (quantized under qat). */
static int evaluate(Trainer *t, double *bpc) {
  if (qat_on(t)) {
    int st = qat_refresh(&t->qat, &t->sched, t->g, &t->diag, t->engine);
    if (st) return st;
  }
  return evaluate_plain(t, bpc);
}

/* ---- an epoch's start: passes in the loop ----------------------------------------------------------- */

static int run_pipeline(Trainer *t, int entry) {
  Graph *g = t->g;
  double t0 = now_seconds(), wd[64];
  int nwd = 0;
  for (int i = 0; i < g->nnodes && nwd < 64; i++)
    if (g->nodes[i].op == OP_LSTM) wd[nwd++] = g->nodes[i].weight_drop;
  int st = engine_to_host(t->engine); /* the pipeline reads the trained weights */
  if (!st) st = schedule_run(&t->sched, g, entry, &t->diag);
  if (st) return st;
  /* a weight-drop{p=…} in the pipeline changes the masks the training net draws */
  int changed = 0, k = 0;
  for (int i = 0; i < g->nnodes && k < 64; i++)
    if (g->nodes[i].op == OP_LSTM) changed |= g->nodes[i].weight_drop != wd[k++];
  if ((st = t->engine->ops->structure_changed(t->engine, changed))) return st;
  double dt = now_seconds() - t0;
  t->s.epoch_pass_seconds += dt;
  t->s.total_seconds += dt;
  if (t->progress.on_event) {
    lstmc_train_event e = progress_event(&t->progress, LSTMC_TRAIN_PIPELINE, &t->s);
    e.pipeline = entry + 1;
    e.seconds = dt;
    e.sparsity = sparsity(g);
    report(t, &e);
  }
  return 0;
}

static int begin_epoch(Trainer *t) {
  for (int i = 0; i < t->spec->train.nschedule; i++) {
    int st = schedule_due(&t->sched, i, t->s.epoch) ? run_pipeline(t, i) : 0;
    if (st) return st;
  }
  t->epoch_begun = 1;
  return t->engine->ops->reset_state(t->engine);
}

/* ---- a batch ---------------------------------------------------------------------------------------- */

/* One optimizer step on the batch at the data position, seq_len long (T steps of it fit before the end). */
static int train_batch(Trainer *t, int64_t seq_len, int64_t T, NetLoss *loss) {
  TrainEngine *e = t->engine;
  const int32_t *x = t->data.train.ids + t->s.pos * t->cfg.batch;
  if (qat_on(t)) {
    int st = qat_refresh(&t->qat, &t->sched, t->g, &t->diag, e);
    if (st) return st;
  }
  int st = e->ops->backward(e, x, x + t->cfg.batch, T, t->s.step, loss);
  if (st) return st;
  double lr = epoch_lr(t, t->s.epoch) * (double)seq_len / (double)t->cfg.bptt;
  if ((st = e->ops->update(e, lr, t->cfg.oc.lr))) return st;
  t->s.step++;
  return 0;
}

/* ---- an epoch's end --------------------------------------------------------------------------------- */

static int end_epoch(Trainer *t, double *bpc, double *train_loss) {
  double t0 = now_seconds();
  int st = evaluate(t, bpc);
  if (!st) st = engine_to_host(t->engine); /* the sparsity below reads the weights */
  if (st) return st;
  double dt = now_seconds() - t0;
  t->s.epoch_seconds += dt;
  t->s.total_seconds += dt;
  EpochSummary sum = {t->s.epoch, t->s.epoch_tokens ? t->s.epoch_nll / (double)t->s.epoch_tokens : NAN, *bpc,
                      epoch_lr(t, t->s.epoch), sparsity(t->g), t->s.epoch_seconds, t->s.epoch_pass_seconds, t->s.step,
                      t->s.epoch_seconds > 0 ? (double)t->s.epoch_tokens / t->s.epoch_seconds : 0};
  *train_loss = sum.train_loss;
  if ((st = progress_log_epoch(&t->s.log, &sum))) return st;
  lstmc_train_event e = progress_event(&t->progress, LSTMC_TRAIN_EPOCH, &t->s);
  e.loss = sum.train_loss;
  e.bpc = sum.train_loss / log(2.0);
  e.valid_bpc = sum.valid_bpc;
  e.lr = sum.lr;
  e.sparsity = sum.sparsity;
  e.seconds = sum.seconds;
  e.pass_seconds = sum.pass_seconds;
  report(t, &e);
  t->s.epoch++;
  t->s.pos = 0;
  t->epoch_begun = 0;
  t->s.epoch_nll = 0;
  t->s.epoch_tokens = 0;
  t->s.epoch_seconds = t->s.epoch_pass_seconds = 0;
  if ((st = save_checkpoint(t))) return st;
  return write_log(t);
}

/* ---- stopping early --------------------------------------------------------------------------------- */

/* The stop flag was set: the checkpoint, and the error that names it. */
static int interrupt(Trainer *t, lstmc_train_result *r) {
  int st = save_checkpoint(t);
  if (st) return st;
  lstmc_train_event e = progress_event(&t->progress, LSTMC_TRAIN_INTERRUPTED, &t->s);
  e.path = t->ckpt_path;
  report(t, &e);
  r->interrupted = 1;
  return lx_fail(LSTMC_ERR_INTERRUPTED, "interrupted at epoch %lld, step %" PRIu64 "; checkpoint saved: continue with --resume %s",
                 (long long)t->s.epoch, t->s.step, t->ckpt_path);
}

/* 0, or which limit the run has reached (max_steps when both have). */
static int limit_reached(const Trainer *t) {
  if (t->cfg.max_steps > 0 && t->s.step >= (uint64_t)t->cfg.max_steps) return LSTMC_TRAIN_MAX_STEPS;
  if (t->cfg.max_seconds > 0 && t->s.total_seconds >= t->cfg.max_seconds) return LSTMC_TRAIN_MAX_SECONDS;
  return 0;
}

/* A limit was reached inside an epoch: the checkpoint, and the validation of the weights so far. */
static int stop_early(Trainer *t, int reason, double *bpc) {
  lstmc_train_event e = progress_event(&t->progress, LSTMC_TRAIN_LIMIT, &t->s);
  e.reason = reason;
  report(t, &e);
  int st = save_checkpoint(t);
  if (!st) st = evaluate(t, bpc);
  if (st) return st;
  e = progress_event(&t->progress, LSTMC_TRAIN_STOPPED, &t->s);
  e.reason = reason;
  e.valid_bpc = *bpc;
  e.path = t->ckpt_path;
  report(t, &e);
  return 0;
}

/* ---- the end: the final weights --------------------------------------------------------------------- */

static int save_output(Trainer *t, const Graph *out, double bpc) {
  char bpcs[64], epochs[32], steps[32];
  snprintf(bpcs, sizeof bpcs, "%.9g", bpc);
  snprintf(epochs, sizeof epochs, "%lld", (long long)(t->s.epoch - 1)); /* completed */
  snprintf(steps, sizeof steps, "%" PRIu64, t->s.step);
  const char *keys[3] = {"lstmc.train.valid_bpc", "lstmc.train.epochs", "lstmc.train.steps"};
  const char *vals[3] = {bpcs, epochs, steps};
  return weights_save(out, t->o->out, keys, vals, 3);
}

/* The weights as the schedule leaves them: templates filled with the trained values, quantized when the
 * last pipeline has run; the BPC reported is theirs (what `lstmc eval` gives). */
static int finish(Trainer *t, double bpc, lstmc_train_result *r) {
  int st = 0;
  if (isnan(bpc) && t->data.valid_ids && (st = evaluate(t, &bpc))) return st; /* nothing left to train (resumed at the end) */
  Graph *e = NULL;
  int final_done = schedule_final_done(&t->sched, t->s.epoch, t->epoch_begun);
  int structured = t->sched.quantize.npasses && final_done;
  for (int s = 0; s < t->g->nslots; s++) structured |= t->sched.tmpl[s] != NULL;
  if ((st = engine_to_host(t->engine))) return st; /* the export and the output read the weights */
  if (structured) {
    double float_bpc = bpc;
    if ((st = schedule_export(&t->sched, t->g, final_done, &t->diag, &e)) || (st = qat_point_forward(&t->qat, e, t->engine)) ||
        (st = has_int8_activations(e) ? evaluate_exported(t, e, &bpc) : evaluate_plain(t, &bpc))) {
      graph_free(e);
      return st;
    }
    lstmc_train_event ev = progress_event(&t->progress, LSTMC_TRAIN_EXPORTED, &t->s);
    ev.pipelines = e->pipeline;
    ev.valid_bpc = bpc;
    ev.float_bpc = float_bpc;
    report(t, &ev);
  }
  st = save_output(t, e ? e : t->g, bpc);
  graph_free(e);
  if (st) return st;
  r->valid_bpc = bpc;
  r->steps = t->s.step;
  r->seconds = now_seconds() - t->progress.t_start;
  r->tokens_per_s = progress_rate(&t->progress);
  lstmc_train_event ev = progress_event(&t->progress, LSTMC_TRAIN_DONE, &t->s);
  ev.path = t->o->out;
  ev.valid_bpc = bpc;
  ev.seconds = r->seconds;
  ev.tokens_per_s = r->tokens_per_s;
  report(t, &ev);
  return 0;
}

/* ---- the loop --------------------------------------------------------------------------------------- */

/* The reporting starts: the run's sizes for the progress numbers, the clock, the START event. */
static void start_progress(Trainer *t) {
  Progress *p = &t->progress;
  p->on_event = t->o->on_event;
  p->ctx = t->o->ctx;
  p->unit = t->g->vocab_kind == VOCAB_WORDS ? "words" : "chars";
  p->epochs = t->cfg.epochs;
  p->epoch_positions = t->data.train.steps;
  p->batch = t->cfg.batch;
  p->max_seconds = t->cfg.max_seconds;
  p->t_start = now_seconds();
  if (!p->on_event) return;
  char opt[256];
  optim_describe(&t->cfg.oc, opt, sizeof opt);
  lstmc_train_event e = progress_event(p, LSTMC_TRAIN_START, &t->s);
  e.model = t->g->name;
  e.data = t->data.train_path;
  e.optimizer = opt;
  t->engine->ops->describe(t->engine, &e.threads, &e.kernel);
  e.tokens = t->data.ntrain;
  e.vocab_size = t->g->vocab_size;
  e.streams = t->cfg.batch;
  e.steps_per_epoch = t->data.train.steps;
  e.resumed = t->o->resume != NULL;
  report(t, &e);
}

/* The batches of the epoch from the data position until it is used up, or until the stop flag (then the
 * interruption's status) or a limit (*stopped: which one). */
static int run_batches(Trainer *t, lstmc_train_result *r, int *stopped) {
  int64_t positions = t->data.train.steps;
  volatile sig_atomic_t *stop = t->o->stop;
  while (t->s.pos < positions - 1 - 1) {
    double t0 = now_seconds();
    int64_t seq_len = data_seq_len(&t->s.seq_rng, t->cfg.bptt);
    int64_t T = seq_len < positions - 1 - t->s.pos ? seq_len : positions - 1 - t->s.pos;
    NetLoss loss;
    int st = train_batch(t, seq_len, T, &loss);
    if (st) return st;
    t->s.pos += seq_len;
    t->s.epoch_nll += loss.nll;
    t->s.epoch_tokens += loss.predictions;
    double dt = now_seconds() - t0;
    progress_count_batch(&t->progress, loss.predictions, dt);
    t->s.epoch_seconds += dt;
    t->s.total_seconds += dt;
    if (!isfinite(loss.nll))
      return lx_fail(LSTMC_ERR_VALUE, "the training loss became %s at epoch %lld, step %" PRIu64 " (lower the lr or set 'clip')",
                     isnan(loss.nll) ? "NaN" : "infinite", (long long)t->s.epoch, t->s.step);
    progress_report_batch(&t->progress, &t->s, 0);
    if (stop && *stop) return interrupt(t, r);
    if ((*stopped = limit_reached(t))) break;
  }
  return 0;
}

int train_loop(Trainer *t, lstmc_train_result *r) {
  start_progress(t);
  double bpc = NAN;
  int st = 0, stopped = 0;
  t->epoch_begun = t->s.pos > 0;
  while (t->s.epoch <= t->cfg.epochs && !stopped) {
    if (t->s.pos == 0 && (st = begin_epoch(t))) return st;
    if ((st = run_batches(t, r, &stopped))) return st;
    if (!stopped || t->s.pos >= t->data.train.steps - 1 - 1) { /* the epoch is used up (also when a limit came with its end) */
      progress_report_batch(&t->progress, &t->s, 1);
      if ((st = end_epoch(t, &bpc, &r->train_loss))) return st;
      r->epochs_done++;
    } else if ((st = stop_early(t, stopped, &bpc))) {
      return st;
    }
  }
  return finish(t, bpc, r);
}
