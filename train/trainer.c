/* The trainer's entry (see trainer.h): checking the options, setting a run up — the spec and its graph, the
 * settings, the data and vocabulary, the weights (random, --init, or a checkpoint), the engine — handing it
 * to the loop (loop.c), and freeing it all. */
#include "train/trainer.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "frontend/lower.h"
#include "ir/vocab.h"
#include "passes/pipeline.h"
#include "runtime/weights.h"
#include "support/alloc.h"
#include "support/err.h"
#include "support/strbuf.h"
#include "support/text.h"
#include "train/net_cuda.h"
#include "train/run.h"

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

/* ---- settings -------------------------------------------------------------------------------------- */

static int read_config(const Spec *spec, const lstmc_train_options *o, TrainConfig *c) {
  const TrainSpec *ts = &spec->train;
  c->bptt = ts->bptt;
  c->batch = ts->batch;
  c->eval_batch = ts->eval_batch;
  c->epochs = o->epochs > 0 ? o->epochs : ts->epochs;
  c->seed = ts->seed;
  c->clip = ts->clip;
  c->ar = ts->ar;
  c->tar = ts->tar;
  c->max_seconds = o->max_seconds;
  c->max_steps = o->max_steps;
  return optim_config_from_spec(&ts->opt, &c->oc);
}

/* What a resumed run must share with the one that wrote the checkpoint: the model and every train setting
 * that shapes the run (not the number of epochs, which may grow, nor threads, which do not matter). */
static char *make_fingerprint(const Spec *spec, const Graph *g, const TrainConfig *c) {
  StrBuf sb, model;
  sb_init(&sb);
  sb_init(&model);
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
  optim_describe(&c->oc, opt, sizeof opt);
  const TrainSpec *ts = &spec->train;
  sb_puts(&sb, "{\"model\": ");
  sb_json_string(&sb, sb_cstr(&model), model.len);
  sb_printf(&sb, ", \"batch\": %lld, \"bptt\": %lld, \"eval_batch\": %lld, \"seed\": %" PRIu64 ", \"clip\": %.17g, \"ar\": %.17g, \"tar\": %.17g, \"optimizer\": ",
            (long long)c->batch, (long long)c->bptt, (long long)c->eval_batch, c->seed, c->clip, c->ar, c->tar);
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

/* ---- data and weights ------------------------------------------------------------------------------ */

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
      if ((st = vocab_build(g->vocab_kind, valid, vlen, t->data.valid_path, &v))) return st;
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
    st = vocab_build(g->vocab_kind, all, n, t->data.train_path, &v);
    lx_free(all);
    if (st) return st;
    if (t->spec->vocab_size > 0 && v->n != t->spec->vocab_size) {
      int64_t got = v->n;
      vocab_free(v);
      return lx_fail(LSTMC_ERR_DATA, "%s: the text has %lld distinct tokens but the spec says 'vocab %s %lld'", t->data.train_path,
                     (long long)got, vocab_kind_name(g->vocab_kind), (long long)t->spec->vocab_size);
    }
  }
  vocab_free(g->vocab);
  g->vocab = v;
  graph_set_vocab_size(g, v->n);
  return 0;
}

static int read_texts(Trainer *t, char **train_text, size_t *tlen, char **valid_text, size_t *vlen) {
  const lstmc_train_options *o = t->o;
  const TrainSpec *ts = &t->spec->train;
  const char *data = o->data ? o->data : ts->data, *valid = o->valid ? o->valid : ts->valid;
  if (!data)
    return lx_fail(LSTMC_ERR_USAGE, "%s: no training data: give --data FILE or 'data \"FILE\";' in the train block", t->spec->path);
  if (!(t->data.train_path = lx_strdup(data)) || (valid && !(t->data.valid_path = lx_strdup(valid))))
    return lx_nomem("starting training");
  int st = read_file(data, train_text, tlen);
  if (!st && valid) st = read_file(valid, valid_text, vlen);
  return st;
}

/* The weights to start from: a checkpoint's (opened into *resume_file, restored once the engine exists),
 * an --init file's (in any format: the schedule takes over its structures), or random ones with the
 * vocabulary built from the texts. */
static int start_weights(Trainer *t, const char *train_text, size_t tlen, const char *valid_text, size_t vlen,
                         StFile **resume_file, uint64_t *resume_hash) {
  const lstmc_train_options *o = t->o;
  int st = 0;
  if (o->resume) return ckpt_open(o->resume, t->g, t->fingerprint, resume_file, resume_hash);
  if (o->init) {
    if ((st = weights_load(t->g, o->init))) return st;
    for (int s = 0; s < t->g->nslots && !st; s++) st = schedule_adopt_tensor(&t->sched, t->g, s);
    return st;
  }
  if ((st = build_vocab(t, train_text, tlen, valid_text, vlen))) return st;
  return weights_init(t->g, t->cfg.seed);
}

/* Tokens, their hash (a resumed run must train on the data it was trained on), and the batched streams. */
static int tokenize_data(Trainer *t, const char *train_text, size_t tlen, const char *valid_text, size_t vlen,
                         uint64_t resume_hash) {
  TrainData *d = &t->data;
  int st;
  if ((st = vocab_tokenize(t->g->vocab, train_text, tlen, d->train_path, &d->train_ids, &d->ntrain))) return st;
  if (valid_text && (st = vocab_tokenize(t->g->vocab, valid_text, vlen, d->valid_path, &d->valid_ids, &d->nvalid)))
    return st;
  d->hash = data_hash(d->train_ids, d->ntrain);
  if (t->o->resume && resume_hash != d->hash)
    return lx_fail(LSTMC_ERR_DATA, "%s was written while training on other data than %s (a checkpoint resumes only the run that wrote it)",
                   t->o->resume, d->train_path);
  if ((st = data_batchify(d->train_ids, d->ntrain, t->cfg.batch, d->train_path, &d->train))) return st;
  if (d->valid_ids && (st = data_batchify(d->valid_ids, d->nvalid, t->cfg.eval_batch, d->valid_path, &d->valid))) return st;
  return 0;
}

/* ---- setup and teardown ---------------------------------------------------------------------------- */

CkptParts trainer_ckpt_parts(Trainer *t) {
  Net *net;
  Optim *opt;
  t->engine->ops->checkpoint_parts(t->engine, &net, &opt);
  CkptParts parts = {t->g, net, opt, t->sched.masks, &t->sched, t->fingerprint, t->data.hash};
  return parts;
}

static int start_engine(Trainer *t) {
  const TrainConfig *c = &t->cfg;
  EngineConfig ec = {t->g, t->sched.masks, c->batch, c->eval_batch, &c->oc, t->o->threads, c->clip, c->ar, c->tar,
                     rng_derive(c->seed, SEED_MASKS), t->precision, t->hooks ? t->hooks->cuda_open : NULL};
  return t->engine_ops->create(&ec, &t->engine);
}

static int setup(Trainer *t, const char *spec_path, StFile **resume_file) {
  const lstmc_train_options *o = t->o;
  int st;
  if ((st = spec_load(spec_path, &t->diag, &t->spec))) return st;
  if ((st = lower_spec(t->spec, 0, &t->g))) return st;
  if ((st = read_config(t->spec, o, &t->cfg)) || (st = schedule_init(&t->sched, t->spec, t->g->nslots, &t->diag))) return st;

  char *train_text = NULL, *valid_text = NULL;
  size_t tlen = 0, vlen = 0;
  uint64_t resume_hash = 0;
  if ((st = read_texts(t, &train_text, &tlen, &valid_text, &vlen))) goto done;
  if (!(t->fingerprint = make_fingerprint(t->spec, t->g, &t->cfg))) {
    st = lx_nomem("starting training");
    goto done;
  }
  if ((st = start_weights(t, train_text, tlen, valid_text, vlen, resume_file, &resume_hash)) ||
      (st = tokenize_data(t, train_text, tlen, valid_text, vlen, resume_hash)) || (st = start_engine(t)))
    goto done;
  t->s.epoch = 1;
  rng_seed(&t->s.seq_rng, rng_derive(t->cfg.seed, SEED_SEQ_LEN));
  if (!(t->s.log = lx_strdup(TRAIN_LOG_HEADER))) {
    st = lx_nomem("starting training");
    goto done;
  }
  if ((st = qat_init(&t->qat, t->spec->train.qat, t->g->nslots))) goto done;
  if (o->resume) {
    CkptParts parts = trainer_ckpt_parts(t);
    if ((st = ckpt_restore(*resume_file, &parts, &t->s))) goto done;
  }
  st = t->engine->ops->structure_changed(t->engine, 0); /* the masks an --init file or the checkpoint gave */
done:
  lx_free(train_text);
  lx_free(valid_text);
  return st;
}

static void trainer_free(Trainer *t) {
  engine_free(t->engine);
  qat_free(&t->qat);
  schedule_free(&t->sched);
  data_batched_free(&t->data.train);
  data_batched_free(&t->data.valid);
  lx_free(t->data.train_ids);
  lx_free(t->data.valid_ids);
  lx_free(t->data.train_path);
  lx_free(t->data.valid_path);
  lx_free(t->ckpt_path);
  lx_free(t->fingerprint);
  lx_free(t->s.log);
  graph_free(t->g);
  spec_free(t->spec);
}

int train_run(const char *spec_path, const lstmc_train_options *o, lstmc_train_result *r) {
  return train_run_with(spec_path, o, NULL, r);
}

int train_run_with(const char *spec_path, const lstmc_train_options *o, const TrainHooks *hooks, lstmc_train_result *r) {
  memset(r, 0, sizeof *r);
  r->valid_bpc = NAN;
  if (!o->out) return lx_fail(LSTMC_ERR_USAGE, "train: -o is required");
  Trainer t;
  memset(&t, 0, sizeof t);
  int st = engine_lookup(o->target, &t.engine_ops);
  if (st) return st;
  if (o->precision && strcmp(o->precision, "f32") && strcmp(o->precision, "bf16"))
    return lx_fail(LSTMC_ERR_USAGE, "train: precision '%s' (f32 or bf16)", o->precision);
  if (o->precision && t.engine_ops != &engine_cuda_ops)
    return lx_fail(LSTMC_ERR_USAGE, "train: a precision is for the cuda target (the CPU engine computes in fp32)");
  t.precision = o->precision && !strcmp(o->precision, "bf16") ? CUDA_TRAIN_BF16 : CUDA_TRAIN_F32;
  t.hooks = hooks;
  t.o = o;
  diag_init(&t.diag);
  StFile *resume = NULL;
  if (!(t.ckpt_path = o->checkpoint ? lx_strdup(o->checkpoint) : train_checkpoint_path(o->out))) st = lx_nomem("starting training");
  if (!st) st = setup(&t, spec_path, &resume);
  st_free(resume);
  if (!st) st = train_loop(&t, r);
  trainer_free(&t);
  return st;
}
