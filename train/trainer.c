/* The training loop of `lstmc train` (see trainer.h): setting up from the spec, the data and the weights
 * (random, --init, or a checkpoint), the epochs of AWD-LSTM batches, validation, the CSV log, progress
 * output, checkpoints, and the final weights. */
#include "support/clock.h"
#include "support/text.h"
#include "train/trainer.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "frontend/lower.h"
#include "frontend/spec.h"
#include "ir/vocab.h"
#include "passes/pipeline.h"
#include "runtime/exec.h"
#include "runtime/weights.h"
#include "support/alloc.h"
#include "support/err.h"
#include "support/strbuf.h"
#include "train/checkpoint.h"
#include "train/data.h"
#include "train/engine_cuda.h"
#include "train/net.h"
#include "train/optim.h"
#include "train/schedule.h"

/* Independent streams derived from the seed (the initial weights use the seed itself, as `lstmc init`). */
enum { SEED_SEQ_LEN = 1, SEED_MASKS = 2 };

#define CSV_HEADER "epoch,train_loss,train_bpc,valid_bpc,lr,sparsity,seconds,pass_seconds,pass_fraction,steps,tokens_per_s\n"

typedef struct Trainer {
  const TrainOptions *o;
  FILE *msg;
  Spec *spec;
  Graph *g;
  int64_t bptt, batch, eval_batch, epochs;
  uint64_t seed;
  double clip, ar, tar;
  OptimConfig oc;
  char *data_path, *valid_path;
  int32_t *train_ids, *valid_ids;
  int64_t ntrain, nvalid;
  Batched tb, vb;
  uint64_t data_hash;
  Pool *pool;
  Gemm *gemm;
  Net *net, *evnet;
  Optim *opt;
  CudaEngine *cuda; /* --target cuda: the GPU engine; then net and opt are its host copies (borrowed), no
                       evnet, pool or gemm */
  float **params, **grads;
  int64_t *sizes;
  uint8_t **masks; /* [nslots] pruning masks (1 = kept), NULL where nothing is pruned */
  Schedule sched;
  float **qat;     /* [nslots] the quantized weights the forward reads under qat, NULL where none */
  TrainState s;
  char *ckpt_path;
  char *fingerprint;
  int epoch_begun; /* the prune_at pipelines of the current epoch have run */
  /* this invocation */
  double t_start, t_last_draw, tokens_run, batch_seconds; /* batch_seconds: time in training batches */
  int64_t last_plain_decile;
} Trainer;

char *train_checkpoint_path(const char *out) {
  size_t n = strlen(out);
  const char *ext = ".safetensors";
  size_t e = strlen(ext);
  if (n > e && !strcmp(out + n - e, ext)) n -= e;
  char *p = lx_malloc(n + sizeof ".ckpt.safetensors");
  if (!p) return NULL;
  memcpy(p, out, n);
  memcpy(p + n, ".ckpt.safetensors", sizeof ".ckpt.safetensors");
  return p;
}

/* ---- setup --------------------------------------------------------------------------------------- */

/* What a resumed run must share with the one that wrote the checkpoint: the model and every train setting
 * that shapes the run (not the number of epochs, which may grow, nor threads, which do not matter). */
static char *make_fingerprint(const Trainer *t) {
  StrBuf sb, model;
  sb_init(&sb);
  sb_init(&model);
  const Graph *g = t->g;
  sb_printf(&model, "%s vocab %s:", g->name, vocab_kind_name(g->vocab_kind));
  for (int i = 0; i < g->nnodes; i++) {
    const Node *n = &g->nodes[i];
    switch (n->op) {
    case OP_EMBED: sb_printf(&model, " embed %lld (dropout %g)", (long long)n->out_dim, n->p); break;
    case OP_DROPOUT: sb_printf(&model, " dropout %g", n->p); break;
    case OP_LSTM: sb_printf(&model, " lstm %lld (weight_drop %g)", (long long)n->out_dim, n->weight_drop); break;
    case OP_DECODER: sb_printf(&model, " decoder %s", n->tied ? "tied" : "untied"); break;
    default: break;
    }
  }
  char opt[256];
  optim_describe(&t->oc, opt, sizeof opt);
  const TrainSpec *ts = &t->spec->train;
  sb_puts(&sb, "{\"model\": ");
  sb_json_string(&sb, sb_cstr(&model), model.len);
  sb_printf(&sb, ", \"batch\": %lld, \"bptt\": %lld, \"eval_batch\": %lld, \"seed\": %" PRIu64 ", \"clip\": %.17g, \"ar\": %.17g, \"tar\": %.17g, \"optimizer\": ",
            (long long)t->batch, (long long)t->bptt, (long long)t->eval_batch, t->seed, t->clip, t->ar, t->tar);
  sb_json_string(&sb, opt, strlen(opt));
  sb_puts(&sb, ", \"lr_drop\": \"");
  for (int i = 0; i < ts->nlr_drop; i++) sb_printf(&sb, "%s%d", i ? "," : "", ts->lr_drop[i]);
  StrBuf sched;
  sb_init(&sched);
  for (int i = 0; i < ts->nschedule; i++) {
    sb_puts(&sched, i ? "; prune_at " : "prune_at ");
    for (int k = 0; k < ts->schedule[i].nepochs; k++) sb_printf(&sched, "%s%d", k ? "," : "", ts->schedule[i].epochs[k]);
    sb_puts(&sched, " { ");
    pipeline_to_text(ts->schedule[i].pipeline, &sched);
    sb_puts(&sched, " }");
  }
  sb_puts(&sb, "\", \"schedule\": ");
  sb_json_string(&sb, sb_cstr(&sched), sched.len);
  sb_printf(&sb, ", \"qat\": %d}", ts->qat);
  sb.failed |= sched.failed;
  sb_free(&sched);
  char *r = model.failed ? NULL : sb_take(&sb);
  sb_free(&sb);
  sb_free(&model);
  return r;
}

/* The vocabulary of a chars/words model is built, as AWD-LSTM's Corpus does, from all the text it will
 * see: the training data and the validation data. */
static int build_vocab(Trainer *t, const char *train, size_t tlen, const char *valid, size_t vlen) {
  Graph *g = t->g;
  Vocab *v = NULL;
  int st;
  if (g->vocab_kind == VOCAB_BYTES) {
    if (!(v = vocab_new_bytes())) return LSTMC_ERR_NOMEM;
  } else {
    if (valid) { /* the valid text's own errors (invalid UTF-8) name its file and offsets, not the joined text's */
      if ((st = vocab_build(g->vocab_kind, valid, vlen, t->valid_path, &v))) return st;
      vocab_free(v);
      v = NULL;
    }
    char *all = lx_malloc(tlen + vlen + 2);
    if (!all) return lx_nomem("building the vocabulary");
    memcpy(all, train, tlen);
    size_t n = tlen;
    if (valid) {
      all[n++] = '\n';
      memcpy(all + n, valid, vlen);
      n += vlen;
    }
    st = vocab_build(g->vocab_kind, all, n, t->data_path, &v);
    lx_free(all);
    if (st) return st;
    if (t->spec->vocab_size > 0 && v->n != t->spec->vocab_size) {
      int64_t got = v->n;
      vocab_free(v);
      return lx_fail(LSTMC_ERR_DATA, "%s: the text has %lld distinct tokens but the spec says 'vocab %s %lld'", t->data_path,
                     (long long)got, vocab_kind_name(g->vocab_kind), (long long)t->spec->vocab_size);
    }
  }
  vocab_free(g->vocab);
  g->vocab = v;
  graph_set_vocab_size(g, v->n);
  return 0;
}

static int load_data(Trainer *t, char **train_text, size_t *tlen, char **valid_text, size_t *vlen) {
  const TrainOptions *o = t->o;
  const TrainSpec *ts = &t->spec->train;
  const char *data = o->data ? o->data : ts->data, *valid = o->valid ? o->valid : ts->valid;
  if (!data)
    return lx_fail(LSTMC_ERR_USAGE, "%s: no training data: give --data FILE or 'data \"FILE\";' in the train block", t->spec->path);
  if (!(t->data_path = lx_strdup(data)) || (valid && !(t->valid_path = lx_strdup(valid)))) return lx_nomem("starting training");
  int st = read_file(data, train_text, tlen);
  if (!st && valid) st = read_file(valid, valid_text, vlen);
  return st;
}

static int setup(Trainer *t, StFile **resume_file) {
  const TrainOptions *o = t->o;
  int st;
  Diag d;
  diag_init(&d, t->msg);
  if ((st = spec_load(o->spec_path, &d, &t->spec))) return st;
  if ((st = lower_spec(t->spec, 0, &t->g))) return st;
  const TrainSpec *ts = &t->spec->train;
  t->bptt = ts->bptt;
  t->batch = ts->batch;
  t->eval_batch = ts->eval_batch;
  t->epochs = o->epochs > 0 ? o->epochs : ts->epochs;
  t->seed = ts->seed;
  t->clip = ts->clip;
  t->ar = ts->ar;
  t->tar = ts->tar;
  if ((st = optim_config_from_spec(&ts->opt, &t->oc)) || (st = schedule_init(&t->sched, t->spec, t->g->nslots))) return st;

  char *train_text = NULL, *valid_text = NULL;
  size_t tlen = 0, vlen = 0;
  if ((st = load_data(t, &train_text, &tlen, &valid_text, &vlen))) goto done;
  if (!(t->masks = lx_calloc((size_t)t->g->nslots, sizeof *t->masks))) {
    st = lx_nomem("starting training");
    goto done;
  }
  if (!(t->fingerprint = make_fingerprint(t))) {
    st = lx_nomem("starting training");
    goto done;
  }
  uint64_t ckpt_hash = 0;
  if (o->resume) {
    if ((st = ckpt_open(o->resume, t->g, t->fingerprint, resume_file, &ckpt_hash))) goto done;
  } else if (o->init) {
    if ((st = weights_load(t->g, o->init))) goto done;
    for (int s = 0; s < t->g->nslots && !st; s++) st = schedule_adopt_tensor(&t->sched, t->g, s, &t->masks[s]);
    if (st) goto done;
  } else {
    if ((st = build_vocab(t, train_text, tlen, valid_text, vlen)) || (st = weights_init(t->g, t->seed))) goto done;
  }
  if ((st = vocab_tokenize(t->g->vocab, train_text, tlen, t->data_path, &t->train_ids, &t->ntrain))) goto done;
  if (valid_text && (st = vocab_tokenize(t->g->vocab, valid_text, vlen, t->valid_path, &t->valid_ids, &t->nvalid))) goto done;
  t->data_hash = data_hash(t->train_ids, t->ntrain);
  if (o->resume && ckpt_hash != t->data_hash) {
    st = lx_fail(LSTMC_ERR_DATA, "%s was written while training on other data than %s (a checkpoint resumes only the run that wrote it)",
                 o->resume, t->data_path);
    goto done;
  }
  if ((st = data_batchify(t->train_ids, t->ntrain, t->batch, t->data_path, &t->tb))) goto done;
  if (t->valid_ids && (st = data_batchify(t->valid_ids, t->nvalid, t->eval_batch, t->valid_path, &t->vb))) goto done;
  if (o->target && !strcmp(o->target, "cuda")) {
    CudaEngineConfig cc = {t->g,   t->masks, t->batch, t->eval_batch, &t->oc, t->clip, t->ar, t->tar, rng_derive(t->seed, SEED_MASKS),
                           o->precision, 0, 0, o->cuda_open};
    if ((st = cuda_engine_create(&cc, &t->cuda))) goto done;
    cuda_engine_checkpoint_parts(t->cuda, &t->net, &t->opt);
  } else if ((st = pool_create(o->threads, &t->pool)) || (st = gemm_create(t->pool, &t->gemm)) ||
             (st = net_create(t->g, t->gemm, t->batch, 1, &t->net)) ||
             (st = net_create(t->g, t->gemm, t->eval_batch, 0, &t->evnet)))
    goto done;
  int n = t->g->nslots;
  t->params = lx_calloc((size_t)n, sizeof *t->params);
  t->grads = lx_calloc((size_t)n, sizeof *t->grads);
  t->sizes = lx_calloc((size_t)n, sizeof *t->sizes);
  if (!t->params || !t->grads || !t->sizes) {
    st = lx_nomem("starting training");
    goto done;
  }
  for (int s = 0; s < n; s++) {
    t->params[s] = tensor_f32(t->g->slots[s].t);
    t->grads[s] = net_grad(t->net, s);
    t->sizes[s] = t->g->slots[s].rows * t->g->slots[s].cols;
  }
  if (!t->cuda && (st = optim_create(&t->oc, n, t->sizes, &t->opt))) goto done;
  t->s.epoch = 1;
  rng_seed(&t->s.seq_rng, rng_derive(t->seed, SEED_SEQ_LEN));
  if (!(t->s.log = lx_strdup(CSV_HEADER))) {
    st = lx_nomem("starting training");
    goto done;
  }
  if (!(t->qat = lx_calloc((size_t)n, sizeof *t->qat))) {
    st = lx_nomem("starting training");
    goto done;
  }
  if (o->resume) {
    CkptParts parts = {t->g, t->net, t->opt, t->masks, &t->sched, t->fingerprint, t->data_hash};
    if ((st = ckpt_restore(*resume_file, &parts, &t->s))) goto done;
  }
  for (int s = 0; s < n; s++)
    if (t->masks[s]) optim_mask_state(t->opt, s, t->masks[s]);
  if (t->cuda) st = cuda_engine_structure_changed(t->cuda, 0); /* the restored state, the masks, to the device */
done:
  lx_free(train_text);
  lx_free(valid_text);
  return st;
}

static void trainer_free(Trainer *t) {
  if (t->cuda) {
    cuda_engine_free(t->cuda);
  } else {
    net_free(t->net);
    optim_free(t->opt);
  }
  net_free(t->evnet);
  gemm_free(t->gemm);
  pool_free(t->pool);
  if (t->masks && t->g)
    for (int s = 0; s < t->g->nslots; s++) lx_free(t->masks[s]);
  if (t->qat && t->g)
    for (int s = 0; s < t->g->nslots; s++) lx_free(t->qat[s]);
  lx_free(t->masks);
  lx_free(t->qat);
  schedule_free(&t->sched);
  lx_free(t->params);
  lx_free(t->grads);
  lx_free(t->sizes);
  data_batched_free(&t->tb);
  data_batched_free(&t->vb);
  lx_free(t->train_ids);
  lx_free(t->valid_ids);
  lx_free(t->data_path);
  lx_free(t->valid_path);
  lx_free(t->ckpt_path);
  lx_free(t->fingerprint);
  lx_free(t->s.log);
  graph_free(t->g);
  spec_free(t->spec);
}

/* ---- one batch, validation ----------------------------------------------------------------------- */

static void apply_masks(const TrainStepCtx *c, float *const *arrays) {
  if (!c->masks) return;
  for (int s = 0; s < c->n; s++) {
    const uint8_t *m = c->masks[s];
    if (!m) continue;
    float *a = arrays[s];
    for (int64_t i = 0; i < c->sizes[s]; i++)
      if (!m[i]) a[i] = 0;
  }
}

int train_step(const TrainStepCtx *c, const int32_t *x, const int32_t *y, int64_t T, double lr, double base_lr, NetLoss *loss) {
  int st = net_step(c->net, x, y, T, c->ar, c->tar, loss);
  if (st) return st;
  apply_masks(c, c->grads);
  optim_clip_grad_norm(c->pool, c->grads, c->sizes, c->n, c->clip);
  optim_step(c->opt, c->pool, c->params, (const float *const *)c->grads, lr, base_lr);
  apply_masks(c, c->params);
  return 0;
}

/* The learning rate of epoch e: AWD-LSTM divides it by 10 after each epoch listed in lr_drop. */
static double epoch_lr(const Trainer *t, int64_t e) {
  double lr = t->oc.lr;
  const TrainSpec *ts = &t->spec->train;
  for (int i = 0; i < ts->nlr_drop; i++)
    if (ts->lr_drop[i] < e) lr /= 10;
  return lr;
}

static int qat_refresh(Trainer *t);
static int qat_active(const Trainer *t);

static int train_batch(Trainer *t, int64_t seq_len, int64_t T, NetLoss *loss) {
  const int32_t *x = t->tb.ids + t->s.pos * t->batch;
  if (qat_active(t)) {
    int st = qat_refresh(t);
    if (st) return st;
  }
  if (t->cuda) {
    double lr = epoch_lr(t, t->s.epoch) * (double)seq_len / (double)t->bptt;
    int st = cuda_engine_backward(t->cuda, x, x + t->batch, T, t->s.step, loss);
    if (!st) st = cuda_engine_update(t->cuda, lr, t->oc.lr);
    if (!st) t->s.step++;
    return st;
  }
  net_draw_masks(t->net, rng_derive(t->seed, SEED_MASKS), t->s.step);
  TrainStepCtx c = {t->net, t->opt, t->pool, t->params, t->grads, t->sizes, t->g->nslots, t->masks, t->clip, t->ar, t->tar};
  double lr = epoch_lr(t, t->s.epoch) * (double)seq_len / (double)t->bptt;
  int st = train_step(&c, x, x + t->batch, T, lr, t->oc.lr, loss);
  if (!st) t->s.step++;
  return st;
}

/* The validation BPC with the weights the validation net reads now. */
static int evaluate_plain(Trainer *t, double *bpc) {
  *bpc = NAN;
  if (!t->valid_ids) return 0;
  int st = 0;
  if (t->cuda) st = cuda_engine_eval_reset(t->cuda);
  else net_reset_state(t->evnet);
  if (st) return st;
  double nll = 0;
  int64_t count = 0;
  int64_t E = t->eval_batch, steps = t->vb.steps;
  for (int64_t i = 0; i < steps - 1; i += t->bptt) {
    int64_t T = t->bptt < steps - 1 - i ? t->bptt : steps - 1 - i;
    NetLoss l;
    const int32_t *x = t->vb.ids + i * E;
    st = t->cuda ? cuda_engine_eval_step(t->cuda, x, x + E, T, &l) : net_step(t->evnet, x, x + E, T, 0, 0, &l);
    if (st) return st;
    nll += l.nll;
    count += l.predictions;
  }
  *bpc = nll / (double)count / log(2.0);
  return 0;
}

/* The validation BPC of the weights training has now (quantized under qat). */
static int evaluate(Trainer *t, double *bpc) {
  if (qat_active(t)) {
    int st = qat_refresh(t);
    if (st) return st;
  }
  return evaluate_plain(t, bpc);
}

static double sparsity(const Trainer *t) {
  int64_t zeros = 0, total = 0;
  for (int s = 0; s < t->g->nslots; s++) {
    if (t->g->slots[s].ndim != 2) continue;
    for (int64_t i = 0; i < t->sizes[s]; i++) zeros += t->params[s][i] == 0;
    total += t->sizes[s];
  }
  return total ? (double)zeros / (double)total : 0;
}

/* ---- passes in the loop ------------------------------------------------------------------------- */

/* Points both forward passes (training, validation) at e's weights where e stores them quantized, decoded
 * to f32; everywhere else (and for e NULL) at the master weights, which equal e's other formats. */
static int set_forward_graph(Trainer *t, const Graph *e) {
  for (int s = 0; s < t->g->nslots; s++) {
    const Tensor *x = e ? e->slots[s].t : NULL;
    const float *w = NULL;
    if (x && x->enc != LX_ENC_F32) {
      if (!t->qat[s] && !(t->qat[s] = lx_malloc((size_t)(x->rows * x->cols) * sizeof(float))))
        return lx_nomem("decoding quantized weights");
      for (int64_t r = 0; r < x->rows; r++) tensor_row_to_f32(x, r, t->qat[s] + r * x->cols);
      w = t->qat[s];
    }
    if (t->cuda) {
      int st = cuda_engine_set_forward_weights(t->cuda, s, w);
      if (st) return st;
    } else {
      net_set_forward_weights(t->net, s, w);
      net_set_forward_weights(t->evnet, s, w);
    }
  }
  return 0;
}

/* With the GPU engine: the host copies (weights, optimizer state, carried state) made current before the
 * host reads them — a pipeline, QAT's export, a checkpoint, the final export. Nothing to do on the CPU. */
static int sync_host(Trainer *t) { return t->cuda ? cuda_engine_to_host(t->cuda) : 0; }

static int qat_active(const Trainer *t) {
  return t->spec->train.qat && schedule_final_done(&t->sched, t->s.epoch, t->epoch_begun);
}

/* Quantization-aware training: the forward reads the weights as the final pipeline would export them now;
 * the gradient of those weights is applied to the float master weights (straight-through estimator). */
static int qat_refresh(Trainer *t) {
  Graph *e;
  int st = sync_host(t);
  if (st) return st;
  st = schedule_export(&t->sched, t->g, 1, &e);
  if (st) return st;
  st = set_forward_graph(t, e);
  graph_free(e);
  return st;
}

static double sparsity(const Trainer *t);

static int run_pipeline(Trainer *t, int entry) {
  Graph *g = t->g;
  double t0 = now_seconds(), wd[64];
  int nwd = 0;
  for (int i = 0; i < g->nnodes && nwd < 64; i++)
    if (g->nodes[i].op == OP_LSTM) wd[nwd++] = g->nodes[i].weight_drop;
  int st = sync_host(t);
  if (!st) st = schedule_run(&t->sched, g, t->masks, entry, t->msg);
  if (st) return st;
  for (int s = 0; s < g->nslots; s++)
    if (t->masks[s]) optim_mask_state(t->opt, s, t->masks[s]);
  /* a weight-drop{p=…} in the pipeline changes the masks the training net draws: make it anew */
  int changed = 0, k = 0;
  for (int i = 0; i < g->nnodes && k < 64; i++)
    if (g->nodes[i].op == OP_LSTM) changed |= g->nodes[i].weight_drop != wd[k++];
  if (t->cuda) {
    if ((st = cuda_engine_structure_changed(t->cuda, changed))) return st;
  } else if (changed) {
    net_free(t->net);
    t->net = NULL;
    if ((st = net_create(g, t->gemm, t->batch, 1, &t->net))) return st;
    for (int s = 0; s < g->nslots; s++) t->grads[s] = net_grad(t->net, s);
  }
  double dt = now_seconds() - t0;
  t->s.epoch_pass_seconds += dt;
  t->s.total_seconds += dt;
  if (t->o->progress >= 0) {
    if (t->o->progress == 1) fputs("\r\033[K", t->msg);
    fprintf(t->msg, "epoch %lld: prune_at pipeline %d ran in %.2f s; sparsity now %.1f%%\n", (long long)t->s.epoch, entry + 1, dt,
            100 * sparsity(t));
  }
  return 0;
}

/* ---- output ------------------------------------------------------------------------------------- */

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

static void progress(Trainer *t, int force) {
  if (t->o->progress < 0) return;
  double now = now_seconds();
  int64_t total = t->tb.steps - 2 > 0 ? t->tb.steps - 2 : 1;
  double frac = (double)t->s.pos / (double)total;
  if (frac > 1) frac = 1;
  int64_t decile = (int64_t)(frac * 10);
  if (t->o->progress == 1 && !force && now - t->t_last_draw < 0.2) return;
  if (t->o->progress == 0 && (decile == t->last_plain_decile || (force && t->last_plain_decile == 10))) return;
  t->t_last_draw = now;
  t->last_plain_decile = decile;
  double rate = t->batch_seconds > 0 ? t->tokens_run / t->batch_seconds : 0;
  double loss = t->s.epoch_tokens ? t->s.epoch_nll / (double)t->s.epoch_tokens : NAN;
  double per_epoch = rate > 0 ? (double)(t->tb.steps * t->batch) / rate : NAN;
  double eta = per_epoch * ((1 - frac) + (double)(t->epochs - t->s.epoch));
  if (t->o->max_seconds > 0 && t->o->max_seconds - t->s.total_seconds < eta) eta = t->o->max_seconds - t->s.total_seconds;
  char rs[32], es[32];
  const char *unit = t->g->vocab_kind == VOCAB_WORDS ? "words/s" : "chars/s";
  fmt_rate(rate, rs, sizeof rs);
  fmt_duration(eta, es, sizeof es);
  if (t->o->progress == 1) {
    char bar[21];
    int fill = (int)(frac * 20);
    for (int i = 0; i < 20; i++) bar[i] = i < fill ? '#' : '.';
    bar[20] = 0;
    fprintf(t->msg, "\r\033[Kepoch %lld/%lld [%s] %3.0f%% | loss %.4f | bpc %.4f | %s %s | ETA %s", (long long)t->s.epoch,
            (long long)t->epochs, bar, frac * 100, loss, loss / log(2.0), rs, unit, es);
  } else {
    fprintf(t->msg, "epoch %lld/%lld %3.0f%%  loss %.4f  bpc %.4f  %s %s  ETA %s\n", (long long)t->s.epoch,
            (long long)t->epochs, frac * 100, loss, loss / log(2.0), rs, unit, es);
  }
  fflush(t->msg);
}

static int write_log(Trainer *t) {
  if (!t->o->log) return 0;
  FILE *f = fopen(t->o->log, "w");
  if (!f) return lx_fail(LSTMC_ERR_IO, "cannot write the log '%s'", t->o->log);
  fputs(t->s.log, f);
  if (fclose(f)) return lx_fail(LSTMC_ERR_IO, "cannot write the log '%s'", t->o->log);
  return 0;
}

static int save_checkpoint(Trainer *t) {
  int st = sync_host(t);
  if (st) return st;
  CkptParts parts = {t->g, t->net, t->opt, t->masks, &t->sched, t->fingerprint, t->data_hash};
  return ckpt_save(t->ckpt_path, &parts, &t->s);
}

static int save_output(Trainer *t, const Graph *out, double bpc) {
  char bpcs[64], epochs[32], steps[32];
  snprintf(bpcs, sizeof bpcs, "%.9g", bpc);
  snprintf(epochs, sizeof epochs, "%lld", (long long)(t->s.epoch - 1)); /* completed */
  snprintf(steps, sizeof steps, "%" PRIu64, t->s.step);
  const char *keys[3] = {"lstmc.train.valid_bpc", "lstmc.train.epochs", "lstmc.train.steps"};
  const char *vals[3] = {bpcs, epochs, steps};
  return weights_save(out, t->o->out, keys, vals, 3);
}

/* ---- the loop ------------------------------------------------------------------------------------ */

static int end_epoch(Trainer *t, double *bpc, double *train_loss) {
  double t0 = now_seconds();
  int st = evaluate(t, bpc);
  if (!st) st = sync_host(t); /* the sparsity below reads the weights */
  if (st) return st;
  t->s.epoch_seconds += now_seconds() - t0;
  t->s.total_seconds += now_seconds() - t0;
  double loss = t->s.epoch_tokens ? t->s.epoch_nll / (double)t->s.epoch_tokens : NAN;
  *train_loss = loss;
  double lr = epoch_lr(t, t->s.epoch), sp = sparsity(t);
  double rate = t->s.epoch_seconds > 0 ? (double)t->s.epoch_tokens / t->s.epoch_seconds : 0;
  StrBuf sb;
  sb_init(&sb);
  sb_puts(&sb, t->s.log);
  sb_printf(&sb, "%lld,%.6f,%.6f,%.6f,%.6g,%.6f,%.3f,%.6f,%.6f,%" PRIu64 ",%.1f\n", (long long)t->s.epoch, loss, loss / log(2.0),
            *bpc, lr, sp, t->s.epoch_seconds, t->s.epoch_pass_seconds,
            t->s.epoch_seconds > 0 ? t->s.epoch_pass_seconds / t->s.epoch_seconds : 0, t->s.step, rate);
  char *csv = sb_take(&sb);
  if (!csv) return lx_nomem("writing the log");
  lx_free(t->s.log);
  t->s.log = csv;
  if (t->o->progress >= 0) {
    if (t->o->progress == 1) fputs("\r\033[K", t->msg);
    fprintf(t->msg, "epoch %lld/%lld: train loss %.4f (bpc %.4f), valid bpc %.4f, lr %.4g, sparsity %.1f%%, %.1f s (passes %.1f s)\n",
            (long long)t->s.epoch, (long long)t->epochs, loss, loss / log(2.0), *bpc, lr, sp * 100, t->s.epoch_seconds,
            t->s.epoch_pass_seconds);
  }
  t->s.epoch++;
  t->s.pos = 0;
  t->epoch_begun = 0;
  t->s.epoch_nll = 0;
  t->s.epoch_tokens = 0;
  t->s.epoch_seconds = t->s.epoch_pass_seconds = 0;
  if ((st = save_checkpoint(t))) return st;
  return write_log(t);
}

static int run_loop(Trainer *t, TrainResult *r) {
  const TrainOptions *o = t->o;
  int st = 0;
  double bpc = NAN;
  int stopped = 0;
  t->t_start = t->t_last_draw = now_seconds();
  t->last_plain_decile = -1;
  if (o->progress >= 0) {
    char opt[256], engine[256];
    optim_describe(&t->oc, opt, sizeof opt);
    if (t->cuda) snprintf(engine, sizeof engine, "GPU %s", cuda_engine_describe(t->cuda));
    else snprintf(engine, sizeof engine, "%d threads, %s kernel", pool_threads(t->pool), gemm_kernel_name());
    fprintf(t->msg, "lstmc: training %s on %s: %lld tokens (vocabulary %lld), %lld streams × %lld steps; %s; %s%s\n",
            t->g->name, t->data_path, (long long)t->ntrain, (long long)t->g->vocab_size, (long long)t->batch,
            (long long)t->tb.steps, opt, engine, o->resume ? "; resumed" : "");
  }
  t->epoch_begun = t->s.pos > 0;
  while (t->s.epoch <= t->epochs && !stopped) {
    if (t->s.pos == 0) {
      for (int i = 0; i < t->spec->train.nschedule; i++)
        if (schedule_due(&t->sched, i, t->s.epoch) && (st = run_pipeline(t, i))) return st;
      t->epoch_begun = 1;
      if (t->cuda) st = cuda_engine_reset_state(t->cuda);
      else net_reset_state(t->net);
      if (st) return st;
    }
    while (t->s.pos < t->tb.steps - 1 - 1) {
      double t0 = now_seconds();
      int64_t seq_len = data_seq_len(&t->s.seq_rng, t->bptt);
      int64_t T = seq_len < t->tb.steps - 1 - t->s.pos ? seq_len : t->tb.steps - 1 - t->s.pos;
      NetLoss loss;
      if ((st = train_batch(t, seq_len, T, &loss))) return st;
      t->s.pos += seq_len;
      t->s.epoch_nll += loss.nll;
      t->s.epoch_tokens += loss.predictions;
      t->tokens_run += (double)loss.predictions;
      double dt = now_seconds() - t0;
      t->s.epoch_seconds += dt;
      t->s.total_seconds += dt;
      t->batch_seconds += dt;
      if (!isfinite(loss.nll))
        return lx_fail(LSTMC_ERR_VALUE, "the training loss became %s at epoch %lld, step %" PRIu64 " (lower the lr or set 'clip')",
                       isnan(loss.nll) ? "NaN" : "infinite", (long long)t->s.epoch, t->s.step);
      progress(t, 0);
      if (o->stop && *o->stop) {
        if ((st = save_checkpoint(t))) return st;
        if (o->progress == 1) fputs("\n", t->msg);
        r->interrupted = 1;
        return lx_fail(LSTMC_ERR_INTERRUPTED, "interrupted at epoch %lld, step %" PRIu64 "; checkpoint saved: continue with --resume %s",
                       (long long)t->s.epoch, t->s.step, t->ckpt_path);
      }
      if ((o->max_seconds > 0 && t->s.total_seconds >= o->max_seconds) || (o->max_steps > 0 && t->s.step >= (uint64_t)o->max_steps)) {
        stopped = 1;
        break;
      }
    }
    if (!stopped || t->s.pos >= t->tb.steps - 1 - 1) {
      progress(t, 1);
      if ((st = end_epoch(t, &bpc, &r->train_loss))) return st;
      r->epochs_done++;
    } else {
      if (o->progress == 1) fputs("\n", t->msg);
      if ((st = save_checkpoint(t)) || (st = evaluate(t, &bpc))) return st;
      if (o->progress >= 0)
        fprintf(t->msg, "lstmc: stopped at epoch %lld, step %" PRIu64 " (%s); valid bpc %.4f; checkpoint %s\n", (long long)t->s.epoch,
                t->s.step, o->max_steps > 0 && t->s.step >= (uint64_t)o->max_steps ? "--max-steps" : "--max-seconds", bpc, t->ckpt_path);
    }
  }
  if (isnan(bpc) && t->valid_ids && (st = evaluate(t, &bpc))) return st; /* nothing left to train (resumed at the end) */
  /* the weights as the schedule leaves them: templates filled with the trained values, quantized when the
   * last pipeline has run; the BPC reported is theirs (what `lstmc eval` gives) */
  Graph *e = NULL;
  int structured = t->sched.quantize.npasses && schedule_final_done(&t->sched, t->s.epoch, t->epoch_begun);
  for (int s = 0; s < t->g->nslots; s++) structured |= t->sched.tmpl[s] != NULL;
  if (structured) {
    double float_bpc = bpc;
    if ((st = sync_host(t)) || (st = schedule_export(&t->sched, t->g, schedule_final_done(&t->sched, t->s.epoch, t->epoch_begun), &e)) ||
        (st = set_forward_graph(t, e)) || (st = evaluate_plain(t, &bpc))) {
      graph_free(e);
      return st;
    }
    if (o->progress >= 0 && e->pipeline)
      fprintf(t->msg, "lstmc: exported through \"%s\": valid bpc %.4f (float master weights %.4f)\n", e->pipeline, bpc, float_bpc);
  }
  if (!st) st = sync_host(t);
  if (!st) st = save_output(t, e ? e : t->g, bpc);
  graph_free(e);
  if (st) return st;
  r->valid_bpc = bpc;
  r->steps = t->s.step;
  r->seconds = now_seconds() - t->t_start;
  r->tokens_per_s = t->batch_seconds > 0 ? t->tokens_run / t->batch_seconds : 0;
  if (o->progress >= 0)
    fprintf(t->msg, "lstmc: wrote %s (valid bpc %.4f) after %" PRIu64 " steps, %.1f s, training at %.0f %s\n", o->out, bpc,
            t->s.step, r->seconds, r->tokens_per_s, t->g->vocab_kind == VOCAB_WORDS ? "words/s" : "chars/s");
  return 0;
}

int train_run(const TrainOptions *o, TrainResult *r) {
  memset(r, 0, sizeof *r);
  r->valid_bpc = NAN;
  if (!o->out) return lx_fail(LSTMC_ERR_USAGE, "train: -o is required");
  if (o->target && strcmp(o->target, "cpu")) {
    if (!strcmp(o->target, "ref"))
      return lx_fail(LSTMC_ERR_USAGE, "train: --target ref: the reference executor is for inference only; training runs on "
                                      "--target cpu (check the trained weights with 'lstmc eval --target ref')");
    if (strcmp(o->target, "cuda")) return lx_fail(LSTMC_ERR_USAGE, "train: unknown target '%s' (training runs on cpu or cuda)", o->target);
  }
  Trainer t;
  memset(&t, 0, sizeof t);
  t.o = o;
  t.msg = o->msg ? o->msg : stderr;
  StFile *resume = NULL;
  int st = 0;
  if (!(t.ckpt_path = o->checkpoint ? lx_strdup(o->checkpoint) : train_checkpoint_path(o->out))) st = lx_nomem("starting training");
  if (!st) st = setup(&t, &resume);
  st_free(resume);
  if (!st) st = run_loop(&t, r);
  trainer_free(&t);
  return st;
}
