/* The IR text form's meaning (docs/ir.md): the syntax tree of frontend/ir_parser.y becomes a Graph. Each
 * line is checked with its place and checking goes on after a problem, so that one run lists all of them;
 * the graph is built only when there is none, and then the IR verifier has the last word. */
#include "frontend/ir_read.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "frontend/ir_ast.h"
#include "ir/text.h"
#include "ir/vocab.h"
#include "support/alloc.h"
#include "support/json.h"
#include "support/strbuf.h"
#include "support/text.h"

/* The largest size a node or weight dimension may have: the vocabulary limit of the .lstm frontend (and
 * 4·H of its largest lstm), so that the verifier's 4·H never overflows. */
#define IR_MAX_DIM (INT32_MAX / 4)

typedef struct Builder {
  Diag *diag;
  Arena *arena;
  const char *dir;
  const IrExternal *ext;
  const IrDoc *doc;
  int base; /* diag->nerrors before this text: more means this text has errors */
  Graph *g;
  const IrTensorLine **slot_line; /* [nslots] */
  SrcLoc *node_loc;               /* [nnodes] */
  int nomem;                      /* an allocation failed: stop, report LSTMC_ERR_NOMEM */
} Builder;

#define ERR(loc, ...) diag_error(b->diag, (loc), __VA_ARGS__)
#define FAILED(b) ((b)->diag->nerrors > (b)->base)

static SrcLoc num_loc(const Builder *b, const SrcLoc *near, const IrNum *x) {
  SrcLoc l = {near->file, x->line, x->col, x->line, x->end_col};
  (void)b;
  return l;
}

/* Decodes a string literal (JSON syntax, as the printer writes it) into the arena. Returns 0, or -1 after
 * reporting (or on allocation failure, with b->nomem set). */
static int decode_string(Builder *b, const IrTok *t, SrcLoc loc, const char **out, size_t *len) {
  Json *j = NULL;
  char err[160];
  int jr = json_parse(t->s, t->len, &j, err, sizeof err);
  if (jr == JSON_ERR_NOMEM) {
    b->nomem = 1;
    return -1;
  }
  if (jr || j->type != JSON_STRING) {
    ERR(loc, "malformed string literal (%s)", jr ? err : "not a string");
    json_free(j);
    return -1;
  }
  char *s = arena_alloc(b->arena, j->text_len + 1);
  if (!s) {
    json_free(j);
    b->nomem = 1;
    return -1;
  }
  memcpy(s, j->text, j->text_len);
  *out = s;
  if (len) *len = j->text_len;
  json_free(j);
  return 0;
}

/* A name written bare or as a string. */
static const char *name_text(Builder *b, const char *raw, SrcLoc loc) {
  if (raw[0] != '"') return raw;
  IrTok t = {raw, strlen(raw), 0, 0, 0, 0};
  const char *s;
  size_t n;
  if (decode_string(b, &t, loc, &s, &n)) return NULL;
  if (strlen(s) != n || n == 0) {
    ERR(loc, "a name must be non-empty and hold no NUL byte");
    return NULL;
  }
  return s;
}

/* ---- attributes ----------------------------------------------------------------------------------- */

/* The attribute key=value (flag 0) or the bare word key (flag 1), or NULL. */
static const IrAttr *find_attr(const IrAttr *list, const char *key, int flag) {
  for (const IrAttr *a = list; a; a = a->next)
    if (a->has_value != flag && !strcmp(a->key, key)) return a;
  return NULL;
}

/* Reports attributes not among keys[] (key=value) or flags[] (bare words), and repeated ones. */
static void check_attr_names(Builder *b, const IrAttr *list, const char *what, const char *const *keys, int nkeys,
                             const char *const *flags, int nflags) {
  for (const IrAttr *a = list; a; a = a->next) {
    int known = 0;
    for (int i = 0; i < (a->has_value ? nkeys : nflags); i++) known |= !strcmp(a->key, (a->has_value ? keys : flags)[i]);
    if (!known) {
      const char *near = a->has_value ? closest_word(a->key, keys, nkeys) : closest_word(a->key, flags, nflags);
      if (!a->has_value && !nflags) ERR(a->loc, "unexpected '%s' in %s (attributes are key=value)", a->key, what);
      else if (near) ERR(a->loc, "unknown %s '%s' in %s; did you mean '%s'?", a->has_value ? "attribute" : "word", a->key, what, near);
      else ERR(a->loc, "unknown %s '%s' in %s", a->has_value ? "attribute" : "word", a->key, what);
      continue;
    }
    for (const IrAttr *p = list; p != a; p = p->next)
      if (!strcmp(p->key, a->key) && p->has_value == a->has_value) {
        ERR(a->loc, "'%s' is given twice", a->key);
        break;
      }
  }
}

static const char *value_text(const IrValue *v, char *buf, size_t n) {
  switch (v->kind) {
  case IRV_UNKNOWN: return "?";
  case IRV_STRING: return "a string";
  case IRV_NAMES: return "a list of names";
  default: snprintf(buf, n, "%.*s", (int)(v->tok.len > 60 ? 60 : v->tok.len), v->tok.s); return buf;
  }
}

/* A number attribute (an integer where `integer`); -1 after reporting. */
static int attr_number(Builder *b, const IrAttr *a, int integer, double *out) {
  char buf[64];
  if (a->v.kind == IRV_INT && !a->v.tok.overflow) *out = (double)a->v.tok.i;
  else if (a->v.kind == IRV_FLOAT && !integer && !a->v.tok.overflow) *out = a->v.tok.d;
  else {
    ERR(a->v.loc, "%s must be %s, got %s", a->key, integer ? "an integer" : "a number", value_text(&a->v, buf, sizeof buf));
    return -1;
  }
  return 0;
}

/* ---- the model line, pipeline and vocabulary ------------------------------------------------------ */

static Graph *build_header(Builder *b) {
  const IrDoc *d = b->doc;
  static const char *const keys[] = {"vocab", "V"};
  check_attr_names(b, d->attrs, "the model line", keys, 2, NULL, 0);
  const char *name = name_text(b, d->name.s, d->name_loc);
  int kind = -1;
  int64_t V = 0;
  const IrAttr *a = find_attr(d->attrs, "vocab", 0);
  if (!a) ERR(d->loc, "the model line needs vocab=bytes, vocab=chars or vocab=words");
  else if (a->v.kind != IRV_WORD || (strcmp(a->v.tok.s, "bytes") && strcmp(a->v.tok.s, "chars") && strcmp(a->v.tok.s, "words"))) {
    char buf[64];
    ERR(a->v.loc, "vocab must be bytes, chars or words, got %s", value_text(&a->v, buf, sizeof buf));
  } else {
    kind = !strcmp(a->v.tok.s, "bytes") ? VOCAB_BYTES : !strcmp(a->v.tok.s, "chars") ? VOCAB_CHARS : VOCAB_WORDS;
  }
  a = find_attr(d->attrs, "V", 0);
  double v;
  if (!a) ERR(d->loc, "the model line needs V=N, the vocabulary size (V=? while it is unknown)");
  else if (a->v.kind == IRV_UNKNOWN) V = 0;
  else if (!attr_number(b, a, 1, &v)) {
    if (v < 1 || v > IR_MAX_DIM) ERR(a->v.loc, "V must be in [1, %d], got %.0f", IR_MAX_DIM, v);
    else V = (int64_t)v;
  }
  if (a && kind == VOCAB_BYTES && V != 256) ERR(a->v.loc, "a bytes model has V=256");
  if (!name || kind < 0) return NULL;
  Graph *g = graph_new(name, kind);
  if (!g || !(g->spec_file = lx_strdup(d->loc.file ? d->loc.file : "IR"))) {
    graph_free(g);
    b->nomem = 1;
    return NULL;
  }
  g->vocab_size = V;
  return g;
}

static void build_pipeline(Builder *b) {
  const IrDoc *d = b->doc;
  if (!d->pipeline) return;
  /* the parser collects the lines last first */
  const IrString *first = d->pipeline;
  while (first->next) first = first->next;
  for (const IrString *s = d->pipeline; s != first; s = s->next) ERR(s->loc, "a second pipeline line");
  const char *text;
  size_t n;
  if (decode_string(b, &first->tok, first->loc, &text, &n)) return;
  if (strlen(text) != n) ERR(first->loc, "the pipeline text holds a NUL byte");
  else if (graph_set_pipeline(b->g, text)) b->nomem = 1;
}

static void build_vocab(Builder *b) {
  const IrDoc *d = b->doc;
  Graph *g = b->g;
  if (!d->nvocab_lines) return;
  if (g->vocab_kind == VOCAB_BYTES) {
    ERR(d->vocab_loc, "a bytes model's vocabulary is the 256 byte values; it takes no vocab line");
    return;
  }
  int64_t n = 0;
  for (const IrString *s = d->vocab; s; s = s->next) n++;
  const char **toks = lx_calloc((size_t)n + 1, sizeof *toks);
  size_t *lens = lx_calloc((size_t)n + 1, sizeof *lens);
  if (!toks || !lens) b->nomem = 1;
  int64_t k = 0, bad = 0;
  for (const IrString *s = d->vocab; s && !b->nomem; s = s->next, k++) bad |= decode_string(b, &s->tok, s->loc, &toks[k], &lens[k]);
  if (!b->nomem && !bad) {
    Vocab *v = NULL;
    int st = vocab_from_tokens(g->vocab_kind, toks, lens, n, &v);
    if (st == LSTMC_ERR_NOMEM) b->nomem = 1;
    else if (st) ERR(d->vocab_loc, "%s", lstmc_errmsg());
    else if (g->vocab_size <= 0) ERR(d->vocab_loc, "the vocabulary has %lld tokens, but the model line says V=?; write V=%lld",
                                     (long long)v->n, (long long)v->n);
    else if (v->n != g->vocab_size)
      ERR(d->vocab_loc, "the vocabulary has %lld tokens, but the model line says V=%lld", (long long)v->n,
          (long long)g->vocab_size);
    if (FAILED(b) || b->nomem) vocab_free(v);
    else g->vocab = v;
  }
  lx_free(toks);
  lx_free(lens);
}

/* ---- weight slots and nodes ----------------------------------------------------------------------- */

/* A dimension: a number in [1, IR_MAX_DIM], or `V` (0) while the vocabulary size is unknown. -1 after
 * reporting. */
static int64_t dim_value(Builder *b, const IrDim *d) {
  if (d->word) {
    if (strcmp(d->word, "V")) ERR(d->loc, "a size must be a number (or V while the vocabulary size is unknown), got '%s'", d->word);
    else if (b->g->vocab_size > 0) ERR(d->loc, "V is %lld in this model; write the number", (long long)b->g->vocab_size);
    else return 0;
    return -1;
  }
  if (d->overflow || d->v < 1 || d->v > IR_MAX_DIM) {
    ERR(d->loc, "a size must be in [1, %d]", IR_MAX_DIM);
    return -1;
  }
  return d->v;
}

static void build_slots(Builder *b) {
  Graph *g = b->g;
  int n = 0;
  for (const IrTensorLine *t = b->doc->tensors; t; t = t->next) n++;
  b->slot_line = lx_calloc((size_t)n + 1, sizeof *b->slot_line);
  if (!b->slot_line) {
    b->nomem = 1;
    return;
  }
  for (const IrTensorLine *t = b->doc->tensors; t && !b->nomem; t = t->next) {
    const char *name = name_text(b, t->name, t->loc);
    if (!name) continue;
    if (graph_find_slot(g, name) >= 0) {
      ERR(t->loc, "weight '%s' is listed twice", name);
      continue;
    }
    if (t->shape.n < 1 || t->shape.n > 2) {
      ERR(t->shape.loc, "a weight has 1 or 2 dimensions, not %d", t->shape.n);
      continue;
    }
    int64_t rows = dim_value(b, &t->shape.dims[0]), cols = t->shape.n == 2 ? dim_value(b, &t->shape.dims[1]) : 1;
    if (rows < 0 || cols < 0) continue;
    if (t->shape.n == 2 && cols == 0) {
      ERR(t->shape.dims[1].loc, "only the rows of a weight are the vocabulary");
      continue;
    }
    int i = graph_add_slot(g, name, t->shape.n, rows, cols);
    if (i < 0) b->nomem = 1;
    else b->slot_line[i] = t;
  }
}

static int find_op(const char *name) {
  for (int i = 0; i < OP_COUNT; i++)
    if (!strcmp(op_name(i), name)) return i;
  return -1;
}

/* The slot a node attribute names, checked against the PyTorch name lower.c gives that role. */
static int slot_ref(Builder *b, const char *name, SrcLoc loc, int op, int layer, int role, int node) {
  char want[96];
  graph_weight_name(op, layer, role, want, sizeof want);
  int s = graph_find_slot(b->g, name);
  if (s < 0) {
    ERR(loc, "no weight '%s' in the weights section", name);
    return -1;
  }
  /* a tied decoder names the embedding's weight (the verifier checks that it shares it) */
  if (strcmp(name, want) && !(op == OP_DECODER && role == W_DEC && !strcmp(name, "encoder.weight"))) {
    ERR(loc, "%s %%%d's weight is named '%s' (PyTorch's name), not '%s'", op_name(op), node, want, name);
    return -1;
  }
  return s;
}

static int attr_name(Builder *b, const IrAttr *a, int want, const char **names, SrcLoc *locs) {
  if (!a->has_value || (a->v.kind != IRV_WORD && a->v.kind != IRV_NAMES) || a->v.nnames != want) {
    ERR(a->v.loc, "%s takes %s", a->key, want == 1 ? "a weight name" : "4 weight names: W_ih,W_hh,b_ih,b_hh");
    return -1;
  }
  for (int i = 0; i < want; i++) {
    names[i] = a->v.names[i];
    locs[i] = a->v.name_locs[i];
  }
  return 0;
}

static void build_node(Builder *b, const IrNodeLine *l, const IrNodeLine *prev_line, int k, int64_t *prev_out) {
  Graph *g = b->g;
  Node n;
  memset(&n, 0, sizeof n);
  for (int i = 0; i < 4; i++) n.w[i] = -1;
  n.loc = l->loc;
  n.loc.file = g->spec_file;
  int before = b->diag->nerrors;
  if (l->id != k) ERR(l->loc, "expected %%%d here: nodes are numbered from %%0 in order", k);
  n.op = find_op(l->op);
  if (n.op < 0) {
    const char *names[OP_COUNT];
    for (int i = 0; i < OP_COUNT; i++) names[i] = op_name(i);
    const char *near = closest_word(l->op, names, OP_COUNT);
    if (near) ERR(l->op_loc, "unknown operation '%s'; did you mean '%s'?", l->op, near);
    else ERR(l->op_loc, "unknown operation '%s' (embed, dropout, lstm, decoder or softmax)", l->op);
    return;
  }
  /* the input is the node on the line before (named as written there, so one misnumbered line is one error) */
  if (!prev_line && (!l->input_is_word || strcmp(l->input_word, "tokens")))
    ERR(l->input_loc, "the first node takes the input tokens: write 'tokens'");
  else if (prev_line && (l->input_is_word || l->input != prev_line->id))
    ERR(l->input_loc, "this node takes %%%lld, the node before it: the nodes form a chain", prev_line->id);
  if (l->shape.n != 1) ERR(l->shape.loc, "a node's shape has one size, its output features");
  int64_t out = l->shape.n == 1 ? dim_value(b, &l->shape.dims[0]) : -1;
  n.out_dim = out < 0 ? 0 : out;
  n.in_dim = k == 0 ? g->vocab_size : *prev_out;
  if (out == 0 && n.op != OP_DECODER && n.op != OP_SOFTMAX) ERR(l->shape.loc, "only the decoder and softmax output V features");
  const char *names[4];
  SrcLoc locs[4];
  double v;
  const IrAttr *a;
  switch (n.op) {
  case OP_EMBED: {
    static const char *const keys[] = {"dropout", "weight"};
    check_attr_names(b, l->attrs, "an embed node", keys, 2, NULL, 0);
    if (!(a = find_attr(l->attrs, "dropout", 0))) ERR(l->loc, "embed needs dropout=P");
    else if (!attr_number(b, a, 0, &v)) n.p = v;
    if (!(a = find_attr(l->attrs, "weight", 0))) ERR(l->loc, "embed needs weight=encoder.weight");
    else if (!attr_name(b, a, 1, names, locs)) n.w[W_EMBED] = slot_ref(b, names[0], locs[0], OP_EMBED, 0, W_EMBED, k);
    break;
  }
  case OP_DROPOUT: {
    static const char *const keys[] = {"p"};
    check_attr_names(b, l->attrs, "a dropout node", keys, 1, NULL, 0);
    if (!(a = find_attr(l->attrs, "p", 0))) ERR(l->loc, "dropout needs p=P");
    else if (!attr_number(b, a, 0, &v)) n.p = v;
    break;
  }
  case OP_LSTM: {
    static const char *const keys[] = {"layer", "weight_drop", "weights"};
    check_attr_names(b, l->attrs, "an lstm node", keys, 3, NULL, 0);
    if (!(a = find_attr(l->attrs, "layer", 0))) ERR(l->loc, "lstm needs layer=L");
    else if (!attr_number(b, a, 1, &v)) {
      if (v < 0 || v > INT_MAX) ERR(a->v.loc, "layer must be in [0, %d]", INT_MAX);
      else n.layer = (int)v;
    }
    if (!(a = find_attr(l->attrs, "weight_drop", 0))) ERR(l->loc, "lstm needs weight_drop=P");
    else if (!attr_number(b, a, 0, &v)) n.weight_drop = v;
    if (!(a = find_attr(l->attrs, "weights", 0))) ERR(l->loc, "lstm needs weights=W_ih,W_hh,b_ih,b_hh");
    else if (!attr_name(b, a, 4, names, locs))
      for (int r = 0; r < 4; r++) n.w[r] = slot_ref(b, names[r], locs[r], OP_LSTM, n.layer, r, k);
    break;
  }
  case OP_DECODER: {
    static const char *const keys[] = {"weight", "bias"}, *const flags[] = {"tied", "untied"};
    check_attr_names(b, l->attrs, "a decoder node", keys, 2, flags, 2);
    int tied = find_attr(l->attrs, "tied", 1) != NULL, untied = find_attr(l->attrs, "untied", 1) != NULL;
    if (tied + untied != 1) ERR(l->loc, "decoder is either tied or untied");
    n.tied = tied;
    if (!(a = find_attr(l->attrs, "weight", 0))) ERR(l->loc, "decoder needs weight=NAME");
    else if (!attr_name(b, a, 1, names, locs)) n.w[W_DEC] = slot_ref(b, names[0], locs[0], OP_DECODER, 0, W_DEC, k);
    if (!(a = find_attr(l->attrs, "bias", 0))) ERR(l->loc, "decoder needs bias=decoder.bias");
    else if (!attr_name(b, a, 1, names, locs)) n.w[B_DEC] = slot_ref(b, names[0], locs[0], OP_DECODER, 0, B_DEC, k);
    break;
  }
  default:
    check_attr_names(b, l->attrs, "a softmax node", NULL, 0, NULL, 0);
    break;
  }
  *prev_out = n.out_dim;
  if (b->diag->nerrors > before) return;
  if (graph_add_node(g, &n) < 0) b->nomem = 1;
  else b->node_loc[k] = n.loc;
}

static void build_nodes(Builder *b) {
  int n = 0;
  for (const IrNodeLine *l = b->doc->nodes; l; l = l->next) n++;
  b->node_loc = lx_calloc((size_t)n + 1, sizeof *b->node_loc);
  if (!b->node_loc) {
    b->nomem = 1;
    return;
  }
  int64_t prev = 0;
  int k = 0;
  const IrNodeLine *prev_line = NULL;
  for (const IrNodeLine *l = b->doc->nodes; l && !b->nomem; prev_line = l, l = l->next, k++) build_node(b, l, prev_line, k, &prev);
  if (FAILED(b) || b->nomem) return;
  for (int s = 0; s < b->g->nslots; s++) {
    int used = 0;
    for (int i = 0; i < b->g->nnodes; i++)
      for (int r = 0; r < 4; r++) used |= b->g->nodes[i].w[r] == s;
    if (!used) ERR(b->slot_line[s]->loc, "weight '%s' is used by no node", b->g->slots[s].name);
  }
}

/* ---- tensors -------------------------------------------------------------------------------------- */

enum { F_VALUES, F_LEVELS, F_SCALE, F_MASK, F_GROUPS, F_SELECT, F_COUNT };
static const char *const field_names[F_COUNT] = {"values", "levels", "scale", "mask", "groups", "select"};

/* The body's fields by kind; -1 after reporting an unknown or repeated one. */
static int collect_fields(Builder *b, const IrTensorLine *l, const IrField *f[F_COUNT]) {
  int bad = 0;
  for (const IrField *x = l->fields; x; x = x->next) {
    int k = 0;
    while (k < F_COUNT && strcmp(field_names[k], x->key)) k++;
    if (k == F_COUNT) {
      const char *near = closest_word(x->key, field_names, F_COUNT);
      if (near) ERR(x->loc, "unknown field '%s'; did you mean '%s'?", x->key, near);
      else ERR(x->loc, "unknown field '%s' (values, levels, scale, mask, groups, select)", x->key);
      bad = 1;
    } else if (f[k]) {
      ERR(x->loc, "'%s' is given twice", x->key);
      bad = 1;
    } else {
      f[k] = x;
    }
  }
  return bad ? -1 : 0;
}

/* Checks that a field is a flat list of n numbers. */
static int want_list(Builder *b, const IrField *f, size_t n, const char *what) {
  const IrArray *a = f->a;
  if (a->depth == 2 || a->n != n) {
    ERR(f->a->loc, "%s needs %zu numbers (%s), got %s%zu", f->key, n, what, a->depth == 2 ? "rows of " : "",
        a->depth == 2 ? a->nrows : a->n);
    return -1;
  }
  return 0;
}

/* Checks that a field has `rows` rows of `cols` entries. */
static int want_matrix(Builder *b, const IrField *f, int64_t rows, int64_t cols, const char *colname) {
  const IrArray *a = f->a;
  if (a->depth == 1 || (a->depth == 0 && rows > 0)) {
    ERR(a->loc, "%s needs %lld rows of %lld (a list of lists), one per row of the tensor", f->key, (long long)rows,
        (long long)cols);
    return -1;
  }
  if ((int64_t)a->nrows != rows) {
    ERR(a->loc, "%s has %zu rows; the tensor has %lld", f->key, a->nrows, (long long)rows);
    return -1;
  }
  for (size_t r = 0; r < a->nrows; r++)
    if ((int64_t)a->rows[r].count != cols) {
      ERR(a->rows[r].loc, "row %zu of %s has %zu entries; the tensor has %lld %s", r, f->key, a->rows[r].count,
          (long long)cols, colname);
      return -1;
    }
  return 0;
}

/* An element of a field as a finite float; -1 after reporting. */
static int elem_float(Builder *b, const IrField *f, const IrNum *x, float *out) {
  if (x->kind == IRN_EMPTY) {
    ERR(num_loc(b, &f->loc, x), "'_' (no selection) belongs in select only; %s holds numbers", f->key);
    return -1;
  }
  if (x->overflow || !isfinite(x->f)) {
    ERR(num_loc(b, &f->loc, x), "%s holds a number outside the range of a 32-bit float", f->key);
    return -1;
  }
  *out = x->f;
  return 0;
}

static void num_text(const IrNum *x, char *buf, size_t n) {
  if (x->kind == IRN_EMPTY) snprintf(buf, n, "_");
  else if (x->kind == IRN_INT && !x->overflow) snprintf(buf, n, "%lld", x->i);
  else snprintf(buf, n, "%g", x->d);
}

/* An element as an integer in [lo, hi] (`what` says what is allowed); -1 after reporting. */
static int elem_int(Builder *b, const IrField *f, const IrNum *x, long long lo, long long hi, const char *what, long long *out) {
  *out = 0;
  if (x->kind != IRN_INT || x->overflow || x->i < lo || x->i > hi) {
    char buf[48];
    num_text(x, buf, sizeof buf);
    ERR(num_loc(b, &f->loc, x), "%s holds %s, but %s", f->key, buf, what);
    return -1;
  }
  *out = x->i;
  return 0;
}

/* The levels an encoding holds, from the table of encodings (ir/layout.h), and how to say so. */
static void level_range(int enc, long long *lo, long long *hi, char *what, size_t n) {
  *hi = lx_enc_max_level(enc);
  *lo = -*hi;
  if (enc == LX_ENC_BINARY)
    snprintf(what, n, "binary levels are -1 and 1 (a zero weight is left out by the mask or an empty selection)");
  else snprintf(what, n, "%s levels are integers in [%lld, %lld]", enc_name(enc), *lo, *hi);
}

/* Fills codes (values or levels) from the field, slot by slot. */
static int fill_codes(Builder *b, Tensor *t, const IrField *f) {
  const IrArray *a = f->a;
  int quantized = lx_enc_has_scale(t->enc);
  long long lo = 0, hi = 0;
  char what[128] = "";
  if (quantized) level_range(t->enc, &lo, &hi, what, sizeof what);
  for (int64_t r = 0; r < t->rows; r++)
    for (int64_t s = 0; s < t->nslots; s++) {
      const IrNum *x = t->ndim == 1 ? &a->v[r] : &a->v[a->rows[r].start + (size_t)s];
      if (quantized) {
        long long q;
        if (elem_int(b, f, x, lo, hi, what, &q)) return -1;
        if (t->enc == LX_ENC_BINARY && q == 0) {
          ERR(num_loc(b, &f->loc, x), "%s holds 0, but %s", f->key, what);
          return -1;
        }
        tensor_set_level(t, r, s, (float)q);
      } else {
        float v;
        if (elem_float(b, f, x, &v)) return -1;
        tensor_set_level(t, r, s, v);
      }
    }
  return 0;
}

static int fill_groups(Builder *b, Tensor *t, const IrField *f) {
  const IrArray *a = f->a;
  t->group_off[0] = 0;
  for (size_t g = 0; g < a->nrows; g++) {
    const IrRow *row = &a->rows[g];
    if (row->count < 1 || row->count > LX_MAX_ALPHA) {
      ERR(row->loc, "group %zu has %zu columns; a group has 1 to %d", g, row->count, LX_MAX_ALPHA);
      return -1;
    }
    for (size_t k = 0; k < row->count; k++) {
      long long c;
      char what[64];
      snprintf(what, sizeof what, "columns are numbered 0 to %lld", (long long)t->cols - 1);
      if (elem_int(b, f, &a->v[row->start + k], 0, t->cols - 1, what, &c)) return -1;
      t->group_cols[row->start + k] = (int32_t)c;
    }
    t->group_off[g + 1] = (int32_t)(row->start + row->count);
  }
  return 0;
}

/* select names columns; the packed layout stores their positions inside the group. */
static int fill_select(Builder *b, Tensor *t, const IrField *f) {
  const IrArray *a = f->a;
  for (int64_t r = 0; r < t->rows; r++)
    for (int64_t g = 0; g < t->ngroups; g++) {
      const IrNum *x = &a->v[a->rows[r].start + (size_t)g];
      uint8_t *sel = &t->sel[(size_t)r * (size_t)t->ngroups + (size_t)g];
      if (x->kind == IRN_EMPTY) {
        *sel = LX_SEL_EMPTY;
        continue;
      }
      long long c;
      if (elem_int(b, f, x, 0, t->cols - 1, "select holds column numbers (or _ for none)", &c)) return -1;
      int32_t k = t->group_off[g];
      while (k < t->group_off[g + 1] && t->group_cols[k] != c) k++;
      if (k == t->group_off[g + 1]) {
        ERR(num_loc(b, &f->loc, x), "row %lld selects column %lld from group %lld, which does not hold it (rows and groups count from 0)",
            (long long)r, c, (long long)g);
        return -1;
      }
      *sel = (uint8_t)(k - t->group_off[g]);
    }
  return 0;
}

/* Compares the attributes written on a tensor's line with the tensor: state ones (alpha, gamma, block) are
 * set when `set_state` and compared otherwise (an external tensor carries its own), derived ones compared. */
static void check_tensor_attrs(Builder *b, Tensor *t, const IrTensorLine *l, int set_state) {
  const char *keys[32];
  int n = 0;
  for (int i = 0; i < ntensor_attrs && n < 32; i++) keys[n++] = tensor_attrs[i].key;
  check_attr_names(b, l->attrs, "a weight's line", keys, n, NULL, 0);
  for (const IrAttr *a = l->attrs; a; a = a->next) {
    const TensorAttr *ta = tensor_attr_find(a->key);
    double v;
    if (!ta || !a->has_value || attr_number(b, a, ta->integer, &v)) continue;
    if (!ta->derived && set_state) {
      const char *why = ta->set(t, v);
      if (why) ERR(a->v.loc, "%s", why);
      continue;
    }
    if (!ta->shown(t)) {
      ERR(a->loc, "%s is not an attribute of this %s tensor", a->key, format_name(t->layout, t->enc));
      continue;
    }
    StrBuf said, is;
    sb_init(&said);
    sb_init(&is);
    ta->format(v, &said);
    ta->format(ta->get(t), &is);
    if (said.failed || is.failed) b->nomem = 1;
    else if (strcmp(sb_cstr(&said), sb_cstr(&is)))
      ERR(a->v.loc, "%s=%s, but the tensor's %s is %s", a->key, sb_cstr(&said), a->key, sb_cstr(&is));
    sb_free(&said);
    sb_free(&is);
  }
}

/* The format named on a line; -1 after reporting. */
static int line_format(Builder *b, const IrTensorLine *l, int *layout, int *enc) {
  if (!format_parse(l->format, layout, enc)) return 0;
  const char *names[LX_LAYOUT_COUNT * LX_ENC_COUNT];
  int n = 0;
  for (int ly = 0; ly < LX_LAYOUT_COUNT; ly++)
    for (int e = 0; e < LX_ENC_COUNT; e++) names[n++] = format_name(ly, e);
  const char *near = closest_word(l->format, names, n);
  if (near) ERR(l->format_loc, "unknown format '%s'; did you mean '%s'?", l->format, near);
  else ERR(l->format_loc, "unknown format '%s' (dense_f32, masked, cc_packed, q8, masked_q4, cc_binary, …)", l->format);
  return -1;
}

/* Builds the tensor written in a line's body into slot s. */
static void build_tensor(Builder *b, int s, const IrTensorLine *l) {
  const WeightSlot *slot = &b->g->slots[s];
  int layout, enc;
  if (line_format(b, l, &layout, &enc)) return;
  const IrField *f[F_COUNT] = {0};
  if (collect_fields(b, l, f)) return;
  const char *fmt = format_name(layout, enc);
  int quantized = lx_enc_has_scale(enc), packed = layout == LX_LAYOUT_PACKED;
  int values = quantized ? F_LEVELS : F_VALUES;
  int before = b->diag->nerrors;
  /* which fields this format has */
  int need[F_COUNT] = {0};
  need[values] = 1;
  need[F_SCALE] = quantized;
  need[F_MASK] = layout == LX_LAYOUT_MASKED;
  need[F_GROUPS] = packed ? 1 : slot->ndim == 2 ? 2 : 0; /* 2: may have */
  need[F_SELECT] = packed;
  for (int k = 0; k < F_COUNT; k++) {
    if (f[k] && !need[k]) {
      if (k == F_VALUES || k == F_LEVELS)
        ERR(f[k]->loc, "a %s tensor holds %s, not %s", fmt, quantized ? "levels (integers) and a scale per row" : "values",
            field_names[k]);
      else ERR(f[k]->loc, "a %s tensor has no %s", fmt, field_names[k]);
    } else if (!f[k] && need[k] == 1 && !((k == F_VALUES && f[F_LEVELS]) || (k == F_LEVELS && f[F_VALUES]))) {
      ERR(l->tail_loc, "a %s tensor needs '%s'", fmt, field_names[k]);
    }
  }
  if (b->diag->nerrors > before) return;
  /* shapes, before anything is allocated: the arrays bound the sizes */
  int64_t G = 0, K = 0;
  if (f[F_GROUPS]) {
    const IrArray *a = f[F_GROUPS]->a;
    if (a->depth == 1) {
      ERR(a->loc, "groups is a list of column lists: [[0, 3], [1, 2]]");
      return;
    }
    G = (int64_t)a->nrows;
    K = (int64_t)a->n;
    if (G > slot->cols) {
      ERR(a->loc, "%lld groups in a tensor of %lld columns", (long long)G, (long long)slot->cols);
      return;
    }
  }
  int64_t nslots = packed ? G : slot->cols;
  if (slot->ndim == 1 ? want_list(b, f[values], (size_t)slot->rows, "one per row")
                      : want_matrix(b, f[values], slot->rows, nslots, packed ? "groups" : "columns"))
    return;
  if (f[F_SCALE] && want_list(b, f[F_SCALE], (size_t)slot->rows, "one per row")) return;
  if (f[F_MASK] && want_matrix(b, f[F_MASK], slot->rows, slot->cols, "columns")) return;
  if (f[F_SELECT] && want_matrix(b, f[F_SELECT], slot->rows, G, "groups")) return;
  Tensor *t = tensor_new(slot->name, slot->ndim, slot->rows, slot->cols, layout, enc, packed ? G : 0, packed ? K : 0);
  if (!t || (f[F_GROUPS] && !packed && tensor_alloc_groups(t, G, K))) {
    tensor_free(t);
    b->nomem = 1;
    return;
  }
  int bad = fill_codes(b, t, f[values]);
  for (int64_t r = 0; r < t->rows && f[F_SCALE] && !bad; r++) bad = elem_float(b, f[F_SCALE], &f[F_SCALE]->a->v[r], &t->scale[r]);
  if (f[F_MASK] && !bad) {
    const IrArray *a = f[F_MASK]->a;
    for (int64_t r = 0; r < t->rows && !bad; r++)
      for (int64_t c = 0; c < t->cols && !bad; c++) {
        long long m;
        bad = elem_int(b, f[F_MASK], &a->v[a->rows[r].start + (size_t)c], 0, 1, "mask bits are 0 (left out) or 1 (kept)", &m);
        if (!bad && m) t->mask[(size_t)r * t->mask_stride + (size_t)c / 8] |= (uint8_t)(1u << (c % 8));
      }
  }
  if (f[F_GROUPS] && !bad) bad = fill_groups(b, t, f[F_GROUPS]);
  if (f[F_SELECT] && !bad) bad = fill_select(b, t, f[F_SELECT]);
  if (!bad) {
    before = b->diag->nerrors;
    check_tensor_attrs(b, t, l, 1);
    int st = b->diag->nerrors > before ? 0 : tensor_check(t);
    if (st == LSTMC_ERR_NOMEM) b->nomem = 1;
    else if (st) ERR(l->loc, "%s", lstmc_errmsg());
  }
  if (b->diag->nerrors > before || bad || b->nomem) tensor_free(t);
  else graph_set_tensor(b->g, s, t);
}

static void build_tensors(Builder *b, int *nexternal) {
  Graph *g = b->g;
  int with = 0, without = 0;
  const IrTensorLine *first_without = NULL;
  for (int s = 0; s < g->nslots; s++) {
    const IrTensorLine *l = b->slot_line[s];
    if (l->not_loaded) {
      without++;
      if (!first_without) first_without = l;
    } else {
      with++;
    }
  }
  if (with && without) {
    ERR(first_without->loc, "weight '%s' is not loaded, but %d other%s values: a model has all its weights or none",
        first_without->name, with, with == 1 ? " has" : "s have");
    return;
  }
  if (with && g->vocab_size <= 0) {
    ERR(b->doc->loc, "weights need the vocabulary size: V=? on the model line");
    return;
  }
  *nexternal = 0;
  for (int s = 0; s < g->nslots && !b->nomem; s++) {
    const IrTensorLine *l = b->slot_line[s];
    if (l->not_loaded) continue;
    if (l->has_body) build_tensor(b, s, l);
    else if (l->external) {
      (*nexternal)++;
      if (!b->doc->external_file)
        ERR(l->tail_loc, "weight '%s' is external, but the weights line names no file (weights \"FILE.safetensors\")",
            g->slots[s].name);
    } else {
      ERR(l->loc, "weight '%s' has no values here: it was printed as a summary (`lstmc ir --inline N` prints values, "
                  "`lstmc ir -o FILE.ir` writes them all)", g->slots[s].name);
    }
  }
}

/* Reads the external tensors through b->ext and checks each against its line. */
static void bind_external(Builder *b) {
  Graph *g = b->g;
  const IrDoc *d = b->doc;
  const char *file;
  size_t n;
  if (decode_string(b, &d->external_file->tok, d->external_file->loc, &file, &n)) return;
  if (!b->ext) {
    ERR(d->external_file->loc, "external weights cannot be read here");
    return;
  }
  StrBuf path;
  sb_init(&path);
  if (file[0] != '/' && b->dir && b->dir[0]) sb_printf(&path, "%s/", b->dir);
  sb_puts(&path, file);
  Graph *loaded = NULL;
  int st = path.failed ? LSTMC_ERR_NOMEM : b->ext->load(b->ext->ctx, g, sb_cstr(&path), &loaded);
  sb_free(&path);
  if (st == LSTMC_ERR_NOMEM) b->nomem = 1;
  else if (st) ERR(d->external_file->loc, "%s", lstmc_errmsg());
  if (st) return;
  for (int s = 0; s < g->nslots; s++) {
    const IrTensorLine *l = b->slot_line[s];
    Tensor *t = loaded->slots[s].t;
    if (!l->external || !t) continue;
    int layout, enc;
    if (line_format(b, l, &layout, &enc)) continue;
    if (layout != t->layout || enc != t->enc) {
      ERR(l->format_loc, "weight '%s' is %s in %s, not %s", g->slots[s].name, format_name(t->layout, t->enc),
          file, l->format);
      continue;
    }
    check_tensor_attrs(b, t, l, 0);
    graph_set_tensor(g, s, t);
    loaded->slots[s].t = NULL;
  }
  if (!g->vocab && g->vocab_kind != VOCAB_BYTES) {
    g->vocab = loaded->vocab;
    loaded->vocab = NULL;
  }
  graph_free(loaded);
}

static void verify(Builder *b) {
  GraphPlace where;
  int st = graph_verify_at(b->g, &where);
  if (!st) return;
  if (st == LSTMC_ERR_NOMEM) {
    b->nomem = 1;
    return;
  }
  SrcLoc loc = b->doc->loc;
  if (where.node >= 0 && where.node < b->g->nnodes) loc = b->node_loc[where.node];
  else if (where.slot >= 0 && where.slot < b->g->nslots) loc = b->slot_line[where.slot]->loc;
  ERR(loc, "%s", lstmc_errmsg());
}

static int build(Builder *b) {
  if (!b->doc->has_header) return diag_status(b->diag); /* the parser said why */
  b->g = build_header(b);
  if (b->g) build_pipeline(b);
  if (b->g && !b->nomem) build_vocab(b);
  if (b->g && !b->nomem) build_slots(b);
  if (b->g && !b->nomem) build_nodes(b);
  int nexternal = 0;
  if (b->g && !b->nomem && !FAILED(b)) build_tensors(b, &nexternal);
  if (b->g && !b->nomem && !FAILED(b) && nexternal) bind_external(b);
  if (b->g && !b->nomem && !FAILED(b) && graph_has_weights(b->g) && !b->g->vocab) {
    if (b->g->vocab_kind == VOCAB_BYTES) {
      if (!(b->g->vocab = vocab_new_bytes())) b->nomem = 1;
    } else {
      ERR(b->doc->loc, "a %s model with weights needs its vocabulary: a vocab [\"…\", …] line",
          vocab_kind_name(b->g->vocab_kind));
    }
  }
  if (b->g && !b->nomem && !FAILED(b)) verify(b);
  if (b->nomem) return lx_nomem("reading the IR");
  return FAILED(b) ? diag_status(b->diag) : 0;
}

int ir_read_text(const char *name, const char *dir, const char *text, size_t len, const IrExternal *ext, Diag *diag,
                 Graph **out) {
  *out = NULL;
  Arena arena;
  arena_init(&arena);
  IrParseCtx ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.arena = &arena;
  ctx.diag = diag;
  ctx.file = name;
  diag_add_source(diag, name, text, len);
  int st = ir_parse(&ctx, text, len);
  Builder b;
  memset(&b, 0, sizeof b);
  b.diag = diag;
  b.arena = &arena;
  b.dir = dir;
  b.ext = ext;
  b.doc = &ctx.doc;
  b.base = diag->nerrors;
  if (!st) st = build(&b);
  if (st) graph_free(b.g);
  else *out = b.g;
  lx_free(b.slot_line);
  lx_free(b.node_loc);
  ir_parse_free_arrays(&ctx);
  arena_free(&arena);
  diag_remove_source(diag, name);
  return st;
}

int ir_read_file(const char *path, const IrExternal *ext, Diag *diag, Graph **out) {
  *out = NULL;
  char *text;
  size_t len;
  int st = read_file(path, &text, &len);
  if (st) return st;
  char *dir = lx_strdup(path);
  if (!dir) {
    lx_free(text);
    return lx_nomem("reading the IR");
  }
  char *slash = strrchr(dir, '/');
  if (slash) *slash = 0;
  else dir[0] = 0;
  st = ir_read_text(path, dir, text, len, ext, diag, out);
  lx_free(dir);
  lx_free(text);
  return st;
}
