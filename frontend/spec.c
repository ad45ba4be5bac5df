/* Semantic checks of a .lstm file: which statements may appear where, what values they take, and the
 * model-level rules (embed first, decoder last, tied sizes). Every problem is reported with its place
 * and checking goes on, so one run lists all of them. */
#include "frontend/spec.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ir/graph.h"
#include "support/alloc.h"
#include "support/text.h"

static const char *const opt_param_names[OPT_COUNT] = {
    "lr", "weight_decay", "momentum", "beta1", "beta2", "eps", "rho", "alpha", "final_lr", "gamma", "lr_decay",
    "initial_accumulator"};
const char *optimizer_param_name(int k) { return k >= 0 && k < OPT_COUNT ? opt_param_names[k] : "?"; }

/* --- the checker ------------------------------------------------------------------------------------ */

typedef struct Sem {
  Spec *spec;
  Diag *diag;
} Sem;

#define ERR(loc, ...) diag_error(s->diag, (loc), __VA_ARGS__)

static void unknown_word(Sem *s, const AstStmt *st, const char *where, const char *const *words, int n) {
  const char *near = closest_word(st->word, words, n);
  char list[256] = "";
  size_t len = 0;
  for (int i = 0; i < n && len < sizeof list; i++)
    len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? (i == n - 1 ? " or " : ", ") : "", words[i]);
  if (near) ERR(st->loc, "unknown statement '%s' in %s; did you mean '%s'?", st->word, where, near);
  else ERR(st->loc, "unknown statement '%s' in %s (expected %s)", st->word, where, list);
}

static const char *value_text(const AstValue *v) {
  switch (v->kind) {
  case AST_STRING: return "a string";
  default: return v->s;
  }
}

/* Checks the count of values; reports and returns -1 when it is off. */
static int want_values(Sem *s, const AstStmt *st, int min, int max, const char *what) {
  if (st->nvalues >= min && st->nvalues <= max) return 0;
  if (st->nvalues < min) {
    ERR(st->loc, "'%s' needs %s", st->word, what);
  } else {
    const AstValue *extra = st->values;
    for (int i = 0; i < max; i++) extra = extra->next;
    int keyword = 0;
    static const char *const statements[] = {"vocab", "embed", "dropout", "lstm", "decoder", "model", "train",
                                             "optimizer", "data", "valid", "bptt", "batch", "epochs", "seed"};
    for (size_t i = 0; i < sizeof statements / sizeof *statements; i++)
      keyword |= extra->kind == AST_WORD && !strcmp(extra->s, statements[i]);
    ERR(extra->loc, "'%s' takes %s; unexpected '%s'%s", st->word, what, value_text(extra),
        keyword ? " (missing ';' before it?)" : "");
  }
  return -1;
}

static int no_block(Sem *s, const AstStmt *st) {
  if (!st->has_block) return 0;
  ERR(st->block_loc, "'%s' takes no block", st->word);
  return -1;
}

static int get_int(Sem *s, const AstValue *v, long long lo, long long hi, const char *what, long long *out) {
  if (v->kind != AST_INT) {
    if (v->kind == AST_FLOAT) ERR(v->loc, "%s must be a whole number, got %s", what, v->s);
    else ERR(v->loc, "%s must be a number, got %s%s%s", what, v->kind == AST_WORD ? "'" : "", value_text(v),
             v->kind == AST_WORD ? "'" : "");
    return -1;
  }
  if (v->overflow || v->i < lo || v->i > hi) {
    if (lo == 1 && v->i < 1) ERR(v->loc, "%s must be positive, got %s", what, v->s);
    else ERR(v->loc, "%s must be in [%lld, %lld], got %s", what, lo, hi, v->s);
    return -1;
  }
  *out = v->i;
  return 0;
}

/* A number in a range; hi_open makes the upper end exclusive. */
static int get_num(Sem *s, const AstValue *v, double lo, double hi, int hi_open, const char *what, double *out) {
  if (v->kind != AST_INT && v->kind != AST_FLOAT) {
    ERR(v->loc, "%s must be a number, got %s%s%s", what, v->kind == AST_WORD ? "'" : "", value_text(v),
        v->kind == AST_WORD ? "'" : "");
    return -1;
  }
  double x = v->f;
  if (!isfinite(x) || x < lo || (hi_open ? x >= hi : x > hi)) {
    if (isinf(hi)) ERR(v->loc, "%s must be at least %g, got %s", what, lo, v->s);
    else ERR(v->loc, "%s must be in [%g, %g%c, got %s", what, lo, hi, hi_open ? ')' : ']', v->s);
    return -1;
  }
  *out = x;
  return 0;
}

static int get_word(Sem *s, const AstValue *v, const char *const *allowed, int n, const char *what, int *index) {
  if (v->kind == AST_WORD)
    for (int i = 0; i < n; i++)
      if (!strcmp(v->s, allowed[i])) {
        *index = i;
        return 0;
      }
  char list[256] = "";
  size_t len = 0;
  for (int i = 0; i < n && len < sizeof list; i++)
    len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? (i == n - 1 ? " or " : ", ") : "", allowed[i]);
  const char *near = v->kind == AST_WORD ? closest_word(v->s, allowed, n) : NULL;
  if (near) ERR(v->loc, "%s must be %s, got '%s'; did you mean '%s'?", what, list, v->s, near);
  else ERR(v->loc, "%s must be %s, got %s%s%s", what, list, v->kind == AST_WORD ? "'" : "", value_text(v),
           v->kind == AST_WORD ? "'" : "");
  return -1;
}

/* Reports a second occurrence of a statement that may appear once. */
static int once(Sem *s, const AstStmt *st, const AstStmt **first) {
  if (*first) {
    ERR(st->loc, "'%s' given twice", st->word);
    diag_note(s->diag, (*first)->loc, "first given here");
    return -1;
  }
  *first = st;
  return 0;
}

static const char *resolve_path(Sem *s, const char *p) {
  if (p[0] == '/' || !s->spec->dir || !s->spec->dir[0]) return arena_strdup(&s->spec->arena, p);
  size_t n = strlen(s->spec->dir) + strlen(p) + 2;
  char *out = arena_alloc(&s->spec->arena, n);
  if (out) snprintf(out, n, "%s/%s", s->spec->dir, p);
  return out;
}

/* --- model block ------------------------------------------------------------------------------------ */

static void check_settings(Sem *s, const AstStmt *body, const char *where, const char *const *keys, int nkeys,
                           double *vals, const double *lo, const double *hi, const int *hi_open) {
  const AstStmt *seen[8] = {0};
  for (const AstStmt *st = body; st; st = st->next) {
    int k = -1;
    for (int i = 0; i < nkeys; i++)
      if (!strcmp(st->word, keys[i])) k = i;
    if (k < 0) {
      const char *near = closest_word(st->word, keys, nkeys);
      if (near) ERR(st->loc, "unknown setting '%s' in %s; did you mean '%s'?", st->word, where, near);
      else if (nkeys == 1) ERR(st->loc, "unknown setting '%s' in %s (it takes only '%s')", st->word, where, keys[0]);
      else ERR(st->loc, "unknown setting '%s' in %s", st->word, where);
      continue;
    }
    if (once(s, st, &seen[k]) || want_values(s, st, 1, 1, "one number") || no_block(s, st)) continue;
    get_num(s, st->values, lo[k], hi[k], hi_open[k], keys[k], &vals[k]);
  }
}

static void add_layer(Sem *s, const SpecLayer *l) {
  Spec *sp = s->spec;
  SpecLayer *nl = arena_alloc(&sp->arena, (size_t)(sp->nlayers + 1) * sizeof *nl);
  if (!nl) return;
  if (sp->nlayers) memcpy(nl, sp->layers, (size_t)sp->nlayers * sizeof *nl);
  nl[sp->nlayers++] = *l;
  sp->layers = nl;
}

static const char *const model_words[] = {"vocab", "embed", "dropout", "lstm", "decoder"};
static const char *const vocab_kinds[] = {"bytes", "chars", "words"};
static const char *const decoder_kinds[] = {"tied", "untied"};

/* What the model block has given so far. */
typedef struct ModelSeen {
  const AstStmt *vocab, *embed, *decoder; /* the first of each */
  int nlstm;
} ModelSeen;

/* vocab bytes|chars|words [SIZE]; */
static void check_vocab(Sem *s, const AstStmt *st, ModelSeen *seen) {
  Spec *sp = s->spec;
  if (once(s, st, &seen->vocab) || want_values(s, st, 1, 2, "a kind (bytes, chars or words) and an optional size") ||
      no_block(s, st))
    return;
  int k = 0;
  if (get_word(s, st->values, vocab_kinds, 3, "vocab", &k)) return;
  sp->vocab_kind = k;
  if (st->nvalues == 2) {
    long long n;
    if (get_int(s, st->values->next, 1, INT32_MAX / 4, "vocabulary size", &n)) return;
    if (k == VOCAB_BYTES && n != 256) ERR(st->values->next->loc, "a bytes vocabulary has 256 tokens, not %lld", n);
    else sp->vocab_size = n;
  }
}

/* embed SIZE [{ dropout P; }] — the first layer */
static void check_embed(Sem *s, const AstStmt *st, ModelSeen *seen) {
  if (seen->embed) {
    once(s, st, &seen->embed);
    return;
  }
  seen->embed = st;
  if (s->spec->nlayers > 0) ERR(st->loc, "'embed' must be the first layer");
  if (want_values(s, st, 1, 1, "a size, as in 'embed 200'")) return;
  long long n;
  if (get_int(s, st->values, 1, 1 << 20, "embedding size", &n)) return;
  SpecLayer l = {0};
  l.loc = st->loc;
  l.kind = SPEC_EMBED;
  l.size = n;
  if (st->has_block) {
    static const char *const keys[] = {"dropout"};
    static const double lo[] = {0}, hi[] = {1};
    static const int open[] = {1};
    check_settings(s, st->body, "embed block", keys, 1, &l.dropout, lo, hi, open);
  }
  add_layer(s, &l);
}

/* dropout P; — between embed and the decoder */
static void check_dropout(Sem *s, const AstStmt *st, const ModelSeen *seen) {
  SpecLayer l = {0};
  l.loc = st->loc;
  if (want_values(s, st, 1, 1, "a probability, as in 'dropout 0.25'") || no_block(s, st)) return;
  if (get_num(s, st->values, 0, 1, 1, "dropout", &l.dropout)) return;
  if (!seen->embed) ERR(st->loc, "'dropout' must come after 'embed'");
  if (seen->decoder) ERR(st->loc, "'dropout' cannot come after the decoder");
  l.kind = SPEC_DROPOUT;
  add_layer(s, &l);
}

/* lstm SIZE [{ weight_drop P; }] — between embed and the decoder */
static void check_lstm(Sem *s, const AstStmt *st, ModelSeen *seen) {
  seen->nlstm++;
  if (want_values(s, st, 1, 1, "a hidden size, as in 'lstm 1000'")) return;
  long long n;
  if (get_int(s, st->values, 1, 1 << 20, "lstm size", &n)) return;
  if (!seen->embed) ERR(st->loc, "'lstm' must come after 'embed'");
  if (seen->decoder) ERR(st->loc, "'lstm' cannot come after the decoder");
  SpecLayer l = {0};
  l.loc = st->loc;
  l.kind = SPEC_LSTM;
  l.size = n;
  if (st->has_block) {
    static const char *const keys[] = {"weight_drop"};
    static const double lo[] = {0}, hi[] = {1};
    static const int open[] = {1};
    check_settings(s, st->body, "lstm block", keys, 1, &l.weight_drop, lo, hi, open);
  }
  add_layer(s, &l);
}

/* decoder tied|untied; — the last layer */
static void check_decoder(Sem *s, const AstStmt *st, ModelSeen *seen) {
  if (once(s, st, &seen->decoder) || want_values(s, st, 1, 1, "'tied' or 'untied'") || no_block(s, st)) return;
  int k = 0;
  if (get_word(s, st->values, decoder_kinds, 2, "decoder", &k)) return;
  SpecLayer l = {0};
  l.loc = st->loc;
  l.kind = SPEC_DECODER;
  l.tied = k == 0;
  add_layer(s, &l);
}

/* Missing pieces, reported only when the block had no other error (clean), which would likely explain them
 * (a statement swallowed by a missing ';', say); and a tied decoder's sizes. */
static void check_model_whole(Sem *s, const AstStmt *model, const ModelSeen *seen, int clean) {
  Spec *sp = s->spec;
  const char *mname = sp->name ? sp->name : "?";
  if (!seen->vocab && clean) ERR(model->loc, "model '%s' has no 'vocab' statement (vocab bytes, chars or words)", mname);
  if (!seen->embed && clean) ERR(model->loc, "model '%s' has no 'embed' layer", mname);
  if (!seen->nlstm && clean) ERR(model->loc, "model '%s' has no 'lstm' layer", mname);
  if (!seen->decoder && clean) ERR(model->loc, "model '%s' has no 'decoder' (decoder tied or decoder untied)", mname);
  if (!seen->decoder || !seen->embed || !seen->nlstm) return;
  const SpecLayer *last_lstm = NULL, *emb = NULL, *dec = NULL;
  for (int i = 0; i < sp->nlayers; i++) {
    if (sp->layers[i].kind == SPEC_LSTM) last_lstm = &sp->layers[i];
    if (sp->layers[i].kind == SPEC_EMBED) emb = &sp->layers[i];
    if (sp->layers[i].kind == SPEC_DECODER) dec = &sp->layers[i];
  }
  if (dec && emb && last_lstm && dec->tied && last_lstm->size != emb->size) {
    ERR(dec->loc, "a tied decoder needs the last lstm's size (%lld) to equal the embedding size (%lld)",
        (long long)last_lstm->size, (long long)emb->size);
    diag_note(s->diag, last_lstm->loc, "last lstm is here");
  }
}

/* model NAME { layers } */
static void check_model(Sem *s, const AstStmt *model) {
  if (model->nvalues < 1 || model->values->kind != AST_WORD) {
    ERR(model->loc, "'model' needs a name, as in 'model charptb { … }'");
  } else {
    s->spec->name = model->values->s;
    if (model->nvalues > 1) ERR(model->values->next->loc, "'model' takes one name; unexpected '%s'", value_text(model->values->next));
  }
  if (!model->has_block) {
    ERR(model->loc, "'model' needs a block { … } of layers");
    return;
  }
  ModelSeen seen = {0};
  int errors_before = s->diag->nerrors;
  for (const AstStmt *st = model->body; st; st = st->next) {
    if (!strcmp(st->word, "vocab")) check_vocab(s, st, &seen);
    else if (!strcmp(st->word, "embed")) check_embed(s, st, &seen);
    else if (!strcmp(st->word, "dropout")) check_dropout(s, st, &seen);
    else if (!strcmp(st->word, "lstm")) check_lstm(s, st, &seen);
    else if (!strcmp(st->word, "decoder")) check_decoder(s, st, &seen);
    else unknown_word(s, st, "model block", model_words, 5);
  }
  check_model_whole(s, model, &seen, s->diag->nerrors == errors_before);
}

/* --- train block ------------------------------------------------------------------------------------ */

static const char *const optimizer_names[] = {"sgd",     "momentum", "nesterov", "adagrad", "adadelta",
                                              "rmsprop", "adam",     "adamax",   "nadam",   "adabound"};
static const char *const train_words[] = {"data", "valid", "test",    "bptt",   "batch", "epochs",    "seed",
                                          "clip", "ar",    "tar",     "lr_drop", "qat",  "eval_batch", "optimizer",
                                          "prune_at"};

static void check_optimizer(Sem *s, const AstStmt *st, OptimizerSpec *o) {
  if (want_values(s, st, 1, 1, "a name, as in 'optimizer adam { lr 0.002; }'")) return;
  int k = 0;
  if (get_word(s, st->values, optimizer_names, 10, "optimizer", &k)) return;
  o->name = optimizer_names[k];
  o->loc = st->loc;
  const AstStmt *seen[OPT_COUNT] = {0};
  for (const AstStmt *p = st->body; p; p = p->next) {
    int idx = -1;
    for (int i = 0; i < OPT_COUNT; i++)
      if (!strcmp(p->word, opt_param_names[i])) idx = i;
    if (idx < 0) {
      const char *near = closest_word(p->word, opt_param_names, OPT_COUNT);
      if (near) ERR(p->loc, "unknown optimizer setting '%s'; did you mean '%s'?", p->word, near);
      else ERR(p->loc, "unknown optimizer setting '%s'", p->word);
      continue;
    }
    if (once(s, p, &seen[idx]) || want_values(s, p, 1, 1, "one number") || no_block(s, p)) continue;
    double lo = 0, hi = INFINITY;
    int open = 0;
    if (idx == OPT_BETA1 || idx == OPT_BETA2 || idx == OPT_RHO || idx == OPT_ALPHA || idx == OPT_MOMENTUM ||
        idx == OPT_GAMMA)
      hi = 1, open = 1;
    if (get_num(s, p->values, lo, hi, open, opt_param_names[idx], &o->v[idx])) continue;
    if ((idx == OPT_LR || idx == OPT_EPS) && o->v[idx] <= 0) {
      ERR(p->values->loc, "%s must be positive, got %s", opt_param_names[idx], p->values->s);
      continue;
    }
    o->set |= 1u << idx;
  }
}

static int get_int_list(Sem *s, const AstStmt *st, int lo, int hi, const char *what, int **out, int *n) {
  if (want_values(s, st, 1, 1 << 16, what)) return -1;
  int *v = arena_alloc(&s->spec->arena, (size_t)st->nvalues * sizeof(int));
  if (!v) return -1;
  int k = 0;
  for (const AstValue *x = st->values; x; x = x->next) {
    long long e;
    if (get_int(s, x, lo, hi, what, &e)) return -1;
    if (k && e <= v[k - 1]) {
      ERR(x->loc, "%s must be in increasing order", what);
      return -1;
    }
    v[k++] = (int)e;
  }
  *out = v;
  *n = k;
  return 0;
}

static void check_train(Sem *s, const AstStmt *tr) {
  TrainSpec *t = &s->spec->train;
  t->present = 1;
  t->loc = tr->loc;
  if (tr->nvalues) ERR(tr->values->loc, "'train' takes no values, only a block");
  if (!tr->has_block) {
    ERR(tr->loc, "'train' needs a block { … }");
    return;
  }
  const AstStmt *seen[16] = {0};
  for (const AstStmt *st = tr->body; st; st = st->next) {
    int w = -1;
    for (int i = 0; i < (int)(sizeof train_words / sizeof *train_words); i++)
      if (!strcmp(st->word, train_words[i])) w = i;
    if (w < 0) {
      unknown_word(s, st, "train block", train_words, (int)(sizeof train_words / sizeof *train_words));
      continue;
    }
    const char *name = train_words[w];
    if (strcmp(name, "prune_at") && once(s, st, &seen[w])) continue;
    if (!strcmp(name, "optimizer")) {
      check_optimizer(s, st, &t->opt);
      continue;
    }
    if (!strcmp(name, "prune_at")) {
      if (!st->pipeline) {
        ERR(st->loc, "'prune_at' needs epochs and a pipeline, as in 'prune_at 10, 20 { prune{sparsity=0.5} }'");
        continue;
      }
      ScheduleEntry e = {0};
      e.loc = st->loc;
      e.pipeline = st->pipeline;
      if (get_int_list(s, st, 1, 1 << 24, "prune_at epochs", &e.epochs, &e.nepochs)) continue;
      ScheduleEntry *ns = arena_alloc(&s->spec->arena, (size_t)(t->nschedule + 1) * sizeof *ns);
      if (!ns) continue;
      if (t->nschedule) memcpy(ns, t->schedule, (size_t)t->nschedule * sizeof *ns);
      ns[t->nschedule++] = e;
      t->schedule = ns;
      continue;
    }
    if (no_block(s, st)) continue;
    if (!strcmp(name, "qat")) {
      if (want_values(s, st, 0, 0, "no values")) continue;
      t->qat = 1;
    } else if (!strcmp(name, "lr_drop")) {
      get_int_list(s, st, 1, 1 << 24, "lr_drop epochs", &t->lr_drop, &t->nlr_drop);
    } else if (!strcmp(name, "data") || !strcmp(name, "valid") || !strcmp(name, "test")) {
      if (want_values(s, st, 1, 1, "a file name in quotes")) continue;
      if (st->values->kind != AST_STRING) {
        ERR(st->values->loc, "'%s' needs a file name in quotes, as in %s \"train.txt\"", name, name);
        continue;
      }
      const char *p = resolve_path(s, st->values->s);
      if (name[0] == 'd') t->data = p, t->data_loc = st->values->loc;
      else if (name[0] == 'v') t->valid = p, t->valid_loc = st->values->loc;
      else t->test = p;
    } else {
      if (want_values(s, st, 1, 1, "one number")) continue;
      long long n;
      double x;
      if (!strcmp(name, "bptt") && !get_int(s, st->values, 1, 1 << 20, "bptt", &n)) t->bptt = n;
      else if (!strcmp(name, "batch") && !get_int(s, st->values, 1, 1 << 20, "batch", &n)) t->batch = n;
      else if (!strcmp(name, "eval_batch") && !get_int(s, st->values, 1, 1 << 20, "eval_batch", &n)) t->eval_batch = n;
      else if (!strcmp(name, "epochs") && !get_int(s, st->values, 1, 1 << 24, "epochs", &n)) t->epochs = n;
      else if (!strcmp(name, "seed") && !get_int(s, st->values, 0, LLONG_MAX, "seed", &n)) t->seed = (uint64_t)n;
      else if (!strcmp(name, "clip") && !get_num(s, st->values, 0, INFINITY, 0, "clip", &x)) t->clip = x;
      else if (!strcmp(name, "ar") && !get_num(s, st->values, 0, INFINITY, 0, "ar", &x)) t->ar = x;
      else if (!strcmp(name, "tar") && !get_num(s, st->values, 0, INFINITY, 0, "tar", &x)) t->tar = x;
    }
  }
}

/* --- top level -------------------------------------------------------------------------------------- */

static void set_train_defaults(TrainSpec *t) {
  t->bptt = 70;
  t->batch = 32;
  t->eval_batch = 1;
  t->epochs = 1;
  t->seed = 1;
  t->clip = 0.25;
  t->opt.name = "adam";
  t->opt.v[OPT_LR] = 0.002;
}

static void check_passes(Sem *s, const AstStmt *st, const AstStmt **seen) {
  if (once(s, st, seen)) return;
  s->spec->passes_loc = st->loc;
  if (st->pipeline) {
    if (st->nvalues) ERR(st->values->loc, "'passes' takes either a string or a { … } pipeline, not both");
    s->spec->passes = st->pipeline;
    return;
  }
  if (st->nvalues != 1 || st->values->kind != AST_STRING) {
    ERR(st->loc, "'passes' needs a pipeline in quotes, as in passes \"prune{sparsity=0.8},conflict-prune\";");
    return;
  }
  const AstValue *v = st->values;
  SrcLoc where = v->loc;
  where.col += 1; /* past the opening quote */
  parse_pipeline_text(v->s, v->slen, where, &s->spec->arena, s->diag, &s->spec->passes);
}

/* --- systolic block ----------------------------------------------------------------------------------- */

static const char *const systolic_words[] = {"array", "alpha", "wbits", "abits", "accbits", "gates", "load",
                                             "resident", "gate_latency"};

static void check_systolic(Sem *s, const AstStmt *blk) {
  SpecSystolic *y = &s->spec->systolic;
  y->present = 1;
  y->loc = blk->loc;
  if (blk->nvalues) ERR(blk->values->loc, "'systolic' takes no values, only a block");
  if (!blk->has_block) {
    ERR(blk->loc, "'systolic' needs a block { … }, as in systolic { array 32x32; alpha 8; }");
    return;
  }
  const AstStmt *seen[9] = {0};
  for (const AstStmt *st = blk->body; st; st = st->next) {
    int w = -1;
    for (int i = 0; i < 9; i++)
      if (!strcmp(st->word, systolic_words[i])) w = i;
    if (w < 0) {
      unknown_word(s, st, "systolic block", systolic_words, 9);
      continue;
    }
    if (once(s, st, &seen[w]) || no_block(s, st)) continue;
    long long n;
    const AstValue *v = st->values;
    if (w == 0) {
      /* `array 32 32`, `array 32, 32` or `array 32x32` (read as 32 and the word x32) */
      if (want_values(s, st, 2, 2, "rows and columns, as in 'array 32x32'")) continue;
      const AstValue *c = v->next;
      long long r;
      if (get_int(s, v, 1, INT32_MAX, "array rows", &r)) continue;
      if (c->kind == AST_WORD && (c->s[0] == 'x' || c->s[0] == 'X') && c->s[1]) {
        char *end;
        long long k = strtoll(c->s + 1, &end, 10);
        if (*end || k < 1 || k > INT32_MAX) {
          ERR(c->loc, "array columns must be a positive whole number, as in 'array 32x32'; got '%s'", c->s);
          continue;
        }
        n = k;
      } else if (get_int(s, c, 1, INT32_MAX, "array columns", &n)) {
        continue;
      }
      y->rows = r, y->cols = n, y->array_loc = st->loc;
    } else if (w == 5) {
      /* gates exact | lut N | pwl N */
      if (want_values(s, st, 1, 2, "exact, lut N or pwl N")) continue;
      static const char *const kinds[] = {"exact", "lut", "pwl"};
      int k = 0;
      if (get_word(s, v, kinds, 3, "gates", &k)) continue;
      if (k == 0 && st->nvalues == 2) {
        ERR(v->next->loc, "'gates exact' takes no count");
        continue;
      }
      if (k > 0 && st->nvalues == 1) {
        ERR(st->loc, "'gates %s' needs a count, as in 'gates %s 16'", kinds[k], kinds[k]);
        continue;
      }
      if (k > 0 && get_int(s, v->next, 0, INT32_MAX, "the gate unit's count", &n)) continue;
      y->gates = kinds[k], y->gate_n = k ? n : 0, y->gates_loc = st->loc;
    } else if (w == 6) {
      static const char *const loads[] = {"single", "double"};
      int k = 0;
      if (want_values(s, st, 1, 1, "single or double") || get_word(s, v, loads, 2, "load", &k)) continue;
      y->load = loads[k], y->load_loc = st->loc;
    } else {
      /* alpha 0 means "as the model needs", resident and gate_latency 0 "none"; the bit widths start at 1 */
      int lo = w == 1 || w == 7 || w == 8 ? 0 : 1;
      if (want_values(s, st, 1, 1, "one whole number") || get_int(s, v, lo, INT32_MAX, systolic_words[w], &n)) continue;
      int64_t *dst[] = {NULL, &y->alpha, &y->wbits, &y->abits, &y->accbits, NULL, NULL, &y->resident, &y->gate_latency};
      SrcLoc *loc[] = {NULL, &y->alpha_loc, &y->wbits_loc, &y->abits_loc, &y->accbits_loc, NULL, NULL, &y->resident_loc,
                       &y->gate_latency_loc};
      *dst[w] = n;
      *loc[w] = st->loc;
    }
  }
}

static void check_top(Sem *s, const AstStmt *stmts) {
  static const char *const top_words[] = {"model", "train", "passes", "systolic"};
  const AstStmt *model = NULL, *train = NULL, *passes = NULL, *systolic = NULL;
  SpecSystolic *y = &s->spec->systolic;
  y->rows = y->cols = y->alpha = y->wbits = y->abits = y->accbits = y->gate_n = y->resident = y->gate_latency = -1;
  for (const AstStmt *st = stmts; st; st = st->next) {
    if (!strcmp(st->word, "model")) {
      if (!once(s, st, &model)) check_model(s, st);
    } else if (!strcmp(st->word, "train")) {
      if (!once(s, st, &train)) check_train(s, st);
    } else if (!strcmp(st->word, "passes")) {
      check_passes(s, st, &passes);
    } else if (!strcmp(st->word, "systolic")) {
      if (!once(s, st, &systolic)) check_systolic(s, st);
    } else {
      unknown_word(s, st, "the top level", top_words, 4);
    }
  }
  if (!model && !s->diag->nerrors) ERR(((SrcLoc){s->spec->path, 1, 1, 1, 1}), "no 'model' block in this file");
}

void spec_free(Spec *s) {
  if (!s) return;
  arena_free(&s->arena);
  lx_free(s->path);
  lx_free(s->dir);
  lx_free(s->text);
  lx_free(s);
}

static int load(Spec *sp, Diag *diag, Spec **out) {
  diag_add_source(diag, sp->path, sp->text, sp->text_len);
  AstStmt *stmts = NULL;
  int errors_before = diag->nerrors;
  int st = parse_spec_text(sp->path, sp->text, sp->text_len, &sp->arena, diag, &stmts);
  if (st == LSTMC_ERR_NOMEM) goto fail;
  /* Semantic checks run even after syntax errors (the bad statements were dropped), so a run reports both. */
  Sem sem = {sp, diag};
  set_train_defaults(&sp->train);
  check_top(&sem, stmts);
  if (sp->arena.failed) {
    st = lx_nomem("checking the spec");
    goto fail;
  }
  if (diag->nerrors > errors_before) {
    st = diag_status(diag);
    goto fail;
  }
  *out = sp;
  return 0;
fail:
  /* The diagnostics quote this spec's text, which is about to be freed. */
  diag_remove_source(diag, sp->path);
  spec_free(sp);
  return st;
}

int spec_load_text(const char *name, const char *dir, const char *text, size_t len, Diag *diag, Spec **out) {
  *out = NULL;
  Spec *sp = lx_calloc(1, sizeof *sp);
  if (!sp) return lx_nomem("loading a spec");
  arena_init(&sp->arena);
  sp->path = lx_strdup(name);
  sp->dir = lx_strdup(dir ? dir : "");
  sp->text = lx_strndup(text, len);
  sp->text_len = len;
  if (!sp->path || !sp->dir || !sp->text) {
    spec_free(sp);
    return lx_nomem("loading a spec");
  }
  return load(sp, diag, out);
}

int spec_load(const char *path, Diag *diag, Spec **out) {
  *out = NULL;
  char *text;
  size_t len;
  int st = read_file(path, &text, &len);
  if (st) return st;
  Spec *sp = lx_calloc(1, sizeof *sp);
  if (!sp) {
    lx_free(text);
    return lx_nomem("loading a spec");
  }
  arena_init(&sp->arena);
  sp->text = text;
  sp->text_len = len;
  sp->path = lx_strdup(path);
  const char *slash = strrchr(path, '/');
  sp->dir = slash ? lx_strndup(path, (size_t)(slash - path)) : lx_strdup("");
  if (!sp->path || !sp->dir) {
    spec_free(sp);
    return lx_nomem("loading a spec");
  }
  return load(sp, diag, out);
}
