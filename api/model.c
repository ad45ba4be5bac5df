/* The public API (include/lstmc.h): models, sessions, evaluation and generation, as thin layers over the
 * frontend, the IR, weights.c and the executors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/backend.h"
#include "codegen/systolic/systolic.h"
#include "frontend/lower.h"
#include "frontend/spec.h"
#include "ir/vocab.h"
#include "lstmc.h"
#include "passes/pipeline.h"
#include "passes/report.h"
#include "runtime/exec.h"
#include "api/internal.h"
#include "runtime/sample.h"
#include "runtime/weights.h"
#include "support/alloc.h"
#include "support/clock.h"
#include "support/err.h"
#include "support/rng.h"
#include "support/text.h"

const char *lstmc_status_name(int status) {
  switch (status) {
  case LSTMC_OK: return "ok";
  case LSTMC_ERR_USAGE: return "usage error";
  case LSTMC_ERR_PARSE: return "parse error";
  case LSTMC_ERR_IO: return "I/O error";
  case LSTMC_ERR_FORMAT: return "format error";
  case LSTMC_ERR_SHAPE: return "shape error";
  case LSTMC_ERR_VALUE: return "value error";
  case LSTMC_ERR_DATA: return "data error";
  case LSTMC_ERR_NOMEM: return "out of memory";
  case LSTMC_ERR_UNSUPPORTED: return "unsupported";
  case LSTMC_ERR_NODEVICE: return "no device";
  case LSTMC_ERR_BACKEND: return "backend error";
  case LSTMC_ERR_INTERRUPTED: return "interrupted";
  default: return "unknown status";
  }
}

void lstmc_free(void *p) { lx_free(p); }

/* ---- models -------------------------------------------------------------------------------------- */

int lstmc_model_load(const char *spec_path, lstmc_model **out) {
  *out = NULL;
  lstmc_model *m = lx_calloc(1, sizeof *m);
  if (!m) return lx_nomem("loading a model");
  Diag d;
  diag_init(&d);
  int st = spec_load(spec_path, &d, &m->spec);
  /* the spec's pipelines are checked now, so that `lstmc check` reports an unknown pass or option; the
   * inference pipeline is kept, checked, for lstmc_model_apply_passes */
  if (!st && m->spec->passes) st = pipeline_build(m->spec->passes, &d, &m->passes);
  for (int i = 0; !st && i < m->spec->train.nschedule; i++) st = pipeline_check(m->spec->train.schedule[i].pipeline, &d);
  if (!st) st = api_systolic_check_spec(m->spec, &d);
  if (!st) st = lower_spec(m->spec, 0, &m->g);
  if (st) {
    lstmc_model_free(m);
    return st;
  }
  *out = m;
  return 0;
}

void lstmc_model_free(lstmc_model *m) {
  if (!m) return;
  graph_free(m->g);
  pipeline_free(m->passes);
  spec_free(m->spec);
  lx_free(m);
}

int lstmc_model_load_weights(lstmc_model *m, const char *path) { return weights_load(m->g, path); }

int lstmc_model_init_weights(lstmc_model *m, const char *vocab_text_path, uint64_t seed) {
  Vocab *v = NULL;
  int st;
  if (m->g->vocab_kind == VOCAB_BYTES) {
    v = vocab_new_bytes();
    if (!v) return LSTMC_ERR_NOMEM;
  } else {
    if (!vocab_text_path)
      return lx_fail(LSTMC_ERR_USAGE, "a %s model needs a text to build its vocabulary from (--vocab-from)",
                     vocab_kind_name(m->g->vocab_kind));
    char *text;
    size_t len;
    if ((st = read_file(vocab_text_path, &text, &len))) return st;
    st = vocab_build(m->g->vocab_kind, text, len, vocab_text_path, &v);
    lx_free(text);
    if (st) return st;
    if (m->spec && m->spec->vocab_size > 0 && v->n != m->spec->vocab_size) {
      int64_t n = v->n;
      vocab_free(v);
      return lx_fail(LSTMC_ERR_DATA, "%s: the text has %lld distinct tokens but the spec says 'vocab %s %lld'",
                     vocab_text_path, (long long)n, vocab_kind_name(m->g->vocab_kind), (long long)m->spec->vocab_size);
    }
  }
  vocab_free(m->g->vocab);
  m->g->vocab = v;
  graph_set_vocab_size(m->g, v->n);
  graph_set_pipeline(m->g, NULL); /* new weights: no pipeline has run on them */
  return weights_init(m->g, seed);
}

int lstmc_model_save_weights(const lstmc_model *m, const char *path) {
  if (!graph_has_weights(m->g)) return lx_fail(LSTMC_ERR_USAGE, "the model has no weights to save");
  return weights_save(m->g, path, NULL, NULL, 0);
}

int lstmc_model_apply_passes(lstmc_model *m, const char *pipeline, const lstmc_pass_opts *opts) {
  static const lstmc_pass_opts none;
  if (!opts) opts = &none;
  Graph *g = m->g;
  const Pipeline *run = m->passes;
  if (!pipeline && !run) return 0; /* a spec without a `passes` line, or a model read from IR text (no spec) */
  if (!pipeline && g->pipeline) {
    if (opts->verbose || opts->stats)
      lx_message(LSTMC_MSG_NOTE, "lstmc: the weights record the pipeline \"%s\"; the spec's pipeline \"%s\" is not applied again\n",
                 g->pipeline, run->text);
    return 0;
  }
  Diag d;
  diag_init(&d);
  if (m->spec) diag_add_source(&d, m->spec->path, m->spec->text, m->spec->text_len);
  const PipelineOptions po = {.verify_each = opts->verify_each,
                              .print_after = opts->print_after,
                              .print_after_all = opts->print_after_all,
                              .stats = opts->stats,
                              .time_passes = opts->time_passes,
                              .training = opts->training,
                              .print_inline = opts->print_inline};
  Pipeline *given = NULL;
  int st = 0;
  if (pipeline) {
    st = pipeline_build_text(pipeline, opts->source ? opts->source : "pipeline", &d, &given);
    run = given;
  }
  if (!st) st = pipeline_run(g, run, &po, &d);
  /* errors in the pipeline or its passes were reported with their place; say the others too */
  if (st && !d.nerrors) lx_message(LSTMC_MSG_ERROR, "lstmc: error: %s\n", lstmc_errmsg());
  /* the record: what the weights had, then what ran now */
  if (!st) {
    StrBuf rec;
    sb_init(&rec);
    if (g->pipeline) sb_puts(&rec, g->pipeline);
    if (g->pipeline && g->pipeline[0] && run->text[0]) sb_putc(&rec, ',');
    sb_puts(&rec, run->text);
    st = rec.failed ? lx_nomem("recording the pipeline") : graph_set_pipeline(g, sb_cstr(&rec));
    sb_free(&rec);
  }
  pipeline_free(given);
  return st;
}

const char *lstmc_model_pipeline(const lstmc_model *m) { return m->g->pipeline; }

int lstmc_passes_list(char **text) {
  StrBuf sb;
  sb_init(&sb);
  int st = pipeline_list(&sb);
  *text = st ? NULL : sb_take(&sb);
  sb_free(&sb);
  return st ? st : *text ? 0 : lx_nomem("listing passes");
}

int lstmc_model_report(const lstmc_model *m, int array_rows, int array_cols, int json, char **text) {
  *text = NULL;
  StrBuf sb;
  sb_init(&sb);
  int st = report_systolic(m->g, array_rows, array_cols, json, &sb);
  if (!st && !(*text = sb_take(&sb))) st = lx_nomem("writing the report");
  sb_free(&sb);
  return st;
}

int lstmc_model_ir(const lstmc_model *m, char **text) {
  StrBuf sb;
  sb_init(&sb);
  int st = graph_print(m->g, &sb);
  *text = sb_take(&sb);
  if (st || !*text) return lx_nomem("printing the IR");
  return 0;
}

/* The bytes a step reads (lstmc_model_info.step_bytes). */
static int64_t graph_step_bytes(const Graph *g) {
  int64_t b = 0;
  for (int i = 0; i < g->nnodes; i++) {
    const Node *n = &g->nodes[i];
    int nw = op_weight_slots(n->op);
    for (int k = 0; k < nw; k++) {
      const Tensor *t = g->slots[n->w[k]].t;
      if (n->op == OP_EMBED && !g->nodes[g->nnodes - 2].tied) b += (int64_t)(tensor_bytes(t) / (size_t)t->rows);
      else if (n->op != OP_EMBED) b += (int64_t)tensor_bytes(t);
    }
  }
  return b;
}

int lstmc_model_get_info(const lstmc_model *m, lstmc_model_info *out) {
  memset(out, 0, sizeof *out);
  out->name = m->g->name;
  out->vocab_kind = vocab_kind_name(m->g->vocab_kind);
  out->vocab_size = m->g->vocab_size;
  out->num_lstm = graph_num_lstm(m->g);
  out->params = graph_param_count(m->g, &out->params_fixed, &out->params_per_vocab);
  out->has_weights = graph_has_weights(m->g);
  if (out->has_weights) out->step_bytes = graph_step_bytes(m->g);
  return 0;
}

int lstmc_tokenize(const lstmc_model *m, const char *text, size_t len, const char *name, int32_t **ids, int64_t *n) {
  if (!m->g->vocab) return lx_fail(LSTMC_ERR_USAGE, "the model has no vocabulary yet (load weights first)");
  return vocab_tokenize(m->g->vocab, text, len, name, ids, n);
}

/* ---- sessions ------------------------------------------------------------------------------------ */

int lstmc_session_create(const lstmc_model *m, const lstmc_session_opts *opts, lstmc_session **out) {
  *out = NULL;
  ExecOptions eo = {0};
  eo.batch = 1;
  eo.allow_fallback = 1;
  if (opts) {
    if (opts->target && target_parse(opts->target, &eo.target)) return LSTMC_ERR_USAGE;
    if (opts->batch < 0) return lx_fail(LSTMC_ERR_USAGE, "the batch must be positive, not %d", opts->batch);
    eo.threads = opts->threads;
    eo.no_cache = opts->no_cache;
    eo.verbose = opts->verbose;
    if (opts->batch > 1) eo.batch = opts->batch;
  }
  SystolicConfig sc;
  int st = api_target_settings(m, eo.target, opts ? opts->systolic : NULL, &sc, &eo);
  if (st) return st;
  lstmc_session *s = lx_calloc(1, sizeof *s);
  if (!s) return lx_nomem("creating a session");
  s->m = m;
  s->logits = lx_malloc((size_t)(m->g->vocab_size > 0 ? m->g->vocab_size : 1) * sizeof(float));
  if (!s->logits) {
    lx_free(s);
    return lx_nomem("creating a session");
  }
  st = exec_create(m->g, &eo, &s->e);
  if (st) {
    lstmc_session_free(s);
    return st;
  }
  s->e->vt->reset(s->e);
  *out = s;
  return 0;
}

void lstmc_session_free(lstmc_session *s) {
  if (!s) return;
  exec_destroy(s->e);
  lx_free(s->logits);
  lx_free(s);
}

void lstmc_session_reset(lstmc_session *s) { s->e->vt->reset(s->e); }

static int one_stream(const lstmc_session *s, const char *what) {
  if (s->e->opts.batch <= 1) return 0;
  return lx_fail(LSTMC_ERR_USAGE, "%s runs one stream, but the session steps %d together", what, s->e->opts.batch);
}

int lstmc_session_step(lstmc_session *s, int32_t token, float *logits) {
  int st = one_stream(s, "lstmc_session_step");
  return st ? st : s->e->vt->step(s->e, &token, logits);
}

int lstmc_session_step_batch(lstmc_session *s, const int32_t *tokens, float *logits) {
  return s->e->vt->step(s->e, tokens, logits);
}

const char *lstmc_session_executor(const lstmc_session *s) { return s->e->vt->name; }

int lstmc_session_eval(lstmc_session *s, const int32_t *ids, int64_t n, lstmc_eval_result *out) {
  memset(out, 0, sizeof *out);
  int st = one_stream(s, "evaluation");
  if (st) return st;
  if (n < 2) return lx_fail(LSTMC_ERR_DATA, "the text has %lld token%s; evaluation needs at least 2", (long long)n, n == 1 ? "" : "s");
  /* the executors check the tokens they feed; the last one is only predicted */
  int64_t V = s->m->g->vocab_size;
  for (int64_t i = 0; i < n; i++)
    if (ids[i] < 0 || ids[i] >= V)
      return lx_fail(LSTMC_ERR_DATA, "token id %d (position %lld) outside the vocabulary [0, %lld)", ids[i], (long long)i, (long long)V);
  s->e->vt->reset(s->e);
  double t0 = now_seconds(), nll = 0;
  if ((st = exec_score(s->e, ids, n, &nll, NULL))) return st;
  out->seconds = now_seconds() - t0;
  out->nll = nll;
  out->tokens = n;
  out->predictions = n - 1;
  out->bpc = nll / (double)(n - 1) / log(2.0);
  out->tokens_per_s = out->seconds > 0 ? (double)(n - 1) / out->seconds : 0;
  return 0;
}

/* ---- generation ---------------------------------------------------------------------------------- */

/* Where generated tokens go: their text to the caller's callback and, when asked, to the returned string. */
typedef struct GenSink {
  const Vocab *v;
  const lstmc_gen_opts *o;
  StrBuf *out; /* NULL: no text is returned */
  StrBuf piece;
} GenSink;

static int gen_sink_tokens(const int32_t *ids, int64_t n, void *ctx) {
  GenSink *k = ctx;
  for (int64_t i = 0; i < n; i++) {
    k->piece.len = 0;
    vocab_append_token(k->v, ids[i], &k->piece);
    if (k->piece.failed) return lx_nomem("generating");
    if (k->o->on_text) k->o->on_text(k->piece.data, k->piece.len, k->o->ctx);
    if (k->out) sb_append(k->out, k->piece.data, k->piece.len);
  }
  return 0;
}

int lstmc_session_generate(lstmc_session *s, const lstmc_gen_opts *o, char **text) {
  if (text) *text = NULL;
  const Graph *g = s->m->g;
  const Vocab *v = g->vocab;
  if (!v) return lx_fail(LSTMC_ERR_USAGE, "the model has no vocabulary");
  if (o->length < 0) return lx_fail(LSTMC_ERR_USAGE, "--length must not be negative");
  if (!(o->temperature >= 0) || !isfinite(o->temperature)) return lx_fail(LSTMC_ERR_USAGE, "--temperature must be a finite number >= 0");
  if (o->top_k < 0) return lx_fail(LSTMC_ERR_USAGE, "--top-k must not be negative");
  int st = one_stream(s, "generation");
  if (st) return st;
  int64_t V = g->vocab_size;
  int32_t *prime = NULL;
  int64_t nprime = 0;
  if (o->prime && o->prime[0]) {
    if ((st = vocab_tokenize(v, o->prime, strlen(o->prime), "--prime", &prime, &nprime))) return st;
  }
  if (nprime == 0) {
    lx_free(prime);
    prime = lx_malloc(sizeof(int32_t));
    if (!prime) return lx_nomem("generating");
    prime[0] = vocab_prime_token(v);
    nprime = 1;
  }
  Cand *scratch = NULL;
  StrBuf out;
  sb_init(&out);
  GenSink sink = {v, o, text ? &out : NULL, {0}};
  sb_init(&sink.piece);
  s->e->vt->reset(s->e);
  if (s->e->vt->generate) {
    ExecGenRequest rq = {prime, nprime, o->length, o->temperature, o->top_k, o->seed, gen_sink_tokens, &sink};
    st = s->e->vt->generate(s->e, &rq);
  } else if (!(scratch = lx_malloc((size_t)V * sizeof *scratch))) {
    st = lx_nomem("generating");
  } else {
    Rng rng;
    rng_seed(&rng, o->seed);
    for (int64_t i = 0; i < nprime && !st; i++) st = s->e->vt->step(s->e, &prime[i], s->logits);
    for (int64_t i = 0; i < o->length && !st; i++) {
      int32_t tok = sample_token(s->logits, V, o->temperature, o->top_k, &rng, scratch);
      if ((st = gen_sink_tokens(&tok, 1, &sink))) break;
      if (i + 1 < o->length) st = s->e->vt->step(s->e, &tok, s->logits);
    }
  }
  if (!st && text) {
    *text = sb_take(&out);
    if (!*text) st = lx_nomem("generating");
  }
  sb_free(&out);
  sb_free(&sink.piece);
  lx_free(scratch);
  lx_free(prime);
  return st;
}
