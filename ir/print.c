/* The IR's text form (ir/text.h, docs/ir.md): one line per node, then one line per weight slot, with the
 * tensors' values written out when asked. Stable (no addresses, no timings) and diffable, so that golden
 * files and `--print-after` output can be compared as text, and exact: every number is written in the
 * shortest form that reads back as the same float or double, so print → read → print gives the same bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/text.h"
#include "ir/vocab.h"
#include "support/alloc.h"

/* ---- numbers --------------------------------------------------------------------------------------- */

/* The shortest %.Ng (N ≤ 9) that strtof reads back as v. More digits never hurt (correct rounding), so
 * the shortest N is found by bisection. */
static void format_float_exact(float v, char *buf, size_t n) {
  int lo = 1, hi = 9;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    snprintf(buf, n, "%.*g", mid, (double)v);
    if (strtof(buf, NULL) == v) hi = mid;
    else lo = mid + 1;
  }
  snprintf(buf, n, "%.*g", lo, (double)v);
}

static void format_double_exact(double v, char *buf, size_t n) {
  int lo = 1, hi = 17;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    snprintf(buf, n, "%.*g", mid, v);
    if (strtod(buf, NULL) == v) hi = mid;
    else lo = mid + 1;
  }
  snprintf(buf, n, "%.*g", lo, v);
}

void sb_float_exact(StrBuf *o, float v) {
  char buf[32];
  format_float_exact(v, buf, sizeof buf);
  sb_puts(o, buf);
}

void sb_double_exact(StrBuf *o, double v) {
  char buf[40];
  format_double_exact(v, buf, sizeof buf);
  sb_puts(o, buf);
}

/* ---- the graph ------------------------------------------------------------------------------------- */

static void print_dim(StrBuf *o, int64_t d) {
  if (d > 0) sb_printf(o, "%lld", (long long)d);
  else sb_puts(o, "V");
}

/* Names that read back as one word are written bare, others as JSON strings. */
static void print_name(StrBuf *o, const char *s) {
  int plain = (s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_';
  for (const char *p = s; *p && plain; p++)
    plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' ||
            *p == '.' || *p == '-';
  if (plain && strcmp(s, "_")) sb_puts(o, s);
  else sb_json_string(o, s, strlen(s));
}

static void print_slot_ref(StrBuf *o, const Graph *g, int slot) { print_name(o, g->slots[slot].name); }

int ir_print_inline(const IrPrintOptions *o, int64_t weights) { return o && o->inline_max > 0 && weights <= o->inline_max; }

static void print_node(const Graph *g, int i, StrBuf *o) {
  const Node *n = &g->nodes[i];
  sb_printf(o, "  %%%d = %s", i, op_name(n->op));
  if (i == 0) sb_puts(o, " tokens");
  else sb_printf(o, " %%%d", i - 1);
  sb_puts(o, " : [");
  print_dim(o, n->out_dim);
  sb_puts(o, "]");
  switch (n->op) {
  case OP_EMBED:
    sb_puts(o, " dropout=");
    sb_double_exact(o, n->p);
    sb_puts(o, " weight=");
    print_slot_ref(o, g, n->w[W_EMBED]);
    break;
  case OP_DROPOUT:
    sb_puts(o, " p=");
    sb_double_exact(o, n->p);
    break;
  case OP_LSTM:
    sb_printf(o, " layer=%d weight_drop=", n->layer);
    sb_double_exact(o, n->weight_drop);
    sb_puts(o, " weights=");
    for (int k = 0; k < 4; k++) {
      if (k) sb_putc(o, ',');
      print_slot_ref(o, g, n->w[k]);
    }
    break;
  case OP_DECODER:
    sb_printf(o, " %s weight=", n->tied ? "tied" : "untied");
    print_slot_ref(o, g, n->w[W_DEC]);
    sb_puts(o, " bias=");
    print_slot_ref(o, g, n->w[B_DEC]);
    break;
  default: break;
  }
  sb_putc(o, '\n');
}

/* ---- tensor bodies --------------------------------------------------------------------------------- */

typedef void (*CellFn)(const Tensor *t, int64_t r, int64_t c, char *buf, size_t n);

static void cell_value(const Tensor *t, int64_t r, int64_t s, char *buf, size_t n) {
  float v = lx_decode_level(t->enc, t->codes + (size_t)r * t->stride, (unsigned long)s);
  if (lx_enc_has_scale(t->enc)) snprintf(buf, n, "%d", (int)v);
  else format_float_exact(v, buf, n);
}

static void cell_mask(const Tensor *t, int64_t r, int64_t c, char *buf, size_t n) {
  snprintf(buf, n, "%d", lx_mask_get(t->mask + (size_t)r * t->mask_stride, (unsigned long)c));
}

/* the column a packed row takes from group g, or _ for none */
static void cell_select(const Tensor *t, int64_t r, int64_t g, char *buf, size_t n) {
  unsigned s = t->sel[(size_t)r * (size_t)t->ngroups + (size_t)g];
  if (s == LX_SEL_EMPTY) snprintf(buf, n, "_");
  else snprintf(buf, n, "%d", t->group_cols[t->group_off[g] + (int32_t)s]);
}

/* `    name = [` then one row per line, each cell right-aligned in its column, then `    ]`. */
static void print_matrix(StrBuf *o, const char *name, const Tensor *t, int64_t cols, CellFn cell) {
  char buf[40];
  int *width = cols > 0 ? lx_calloc((size_t)cols, sizeof *width) : NULL;
  if (cols > 0 && !width) {
    o->failed = 1;
    return;
  }
  for (int64_t r = 0; r < t->rows; r++)
    for (int64_t c = 0; c < cols; c++) {
      cell(t, r, c, buf, sizeof buf);
      int w = (int)strlen(buf);
      if (w > width[c]) width[c] = w;
    }
  sb_printf(o, "    %s = [\n", name);
  for (int64_t r = 0; r < t->rows && !o->failed; r++) {
    sb_puts(o, "      [");
    for (int64_t c = 0; c < cols; c++) {
      cell(t, r, c, buf, sizeof buf);
      sb_printf(o, "%s%*s", c ? ", " : "", width[c], buf);
    }
    sb_puts(o, r + 1 < t->rows ? "],\n" : "]\n");
  }
  sb_puts(o, "    ]\n");
  lx_free(width);
}

static void print_body(StrBuf *o, const Tensor *t) {
  const char *values = lx_enc_has_scale(t->enc) ? "levels" : "values";
  char buf[40];
  if (t->scale) {
    sb_puts(o, "    scale = [");
    for (int64_t r = 0; r < t->rows; r++) {
      if (r) sb_puts(o, ", ");
      sb_float_exact(o, t->scale[r]);
    }
    sb_puts(o, "]\n");
  }
  if (t->ndim == 1) {
    sb_printf(o, "    %s = [", values);
    for (int64_t r = 0; r < t->rows; r++) {
      cell_value(t, r, 0, buf, sizeof buf);
      sb_printf(o, "%s%s", r ? ", " : "", buf);
    }
    sb_puts(o, "]\n");
  } else {
    print_matrix(o, values, t, t->nslots, cell_value);
  }
  if (t->mask) print_matrix(o, "mask", t, t->cols, cell_mask);
  if (tensor_has_groups(t)) {
    sb_puts(o, "    groups = [");
    for (int64_t g = 0; g < t->ngroups; g++) {
      sb_puts(o, g ? ", [" : "[");
      for (int32_t k = t->group_off[g]; k < t->group_off[g + 1]; k++)
        sb_printf(o, "%s%d", k > t->group_off[g] ? ", " : "", t->group_cols[k]);
      sb_putc(o, ']');
    }
    sb_puts(o, "]\n");
  }
  if (t->layout == LX_LAYOUT_PACKED) print_matrix(o, "select", t, t->ngroups, cell_select);
}

static void print_tensor(StrBuf *o, const Tensor *t, const IrPrintOptions *po) {
  sb_printf(o, " %s", format_name(t->layout, t->enc));
  for (int i = 0; i < ntensor_attrs; i++) {
    const TensorAttr *a = &tensor_attrs[i];
    if (!a->shown(t)) continue;
    sb_printf(o, " %s=", a->key);
    a->format(a->get(t), o);
  }
  if (ir_print_inline(po, t->rows * t->cols)) {
    sb_puts(o, " {\n");
    print_body(o, t);
    sb_puts(o, "  }");
  } else if (po && po->external) {
    sb_puts(o, " external");
  }
  sb_putc(o, '\n');
}

static void print_vocab(StrBuf *o, const struct Vocab *v) {
  sb_puts(o, "  vocab [");
  for (int64_t i = 0; i < v->n; i++) {
    if (i) sb_puts(o, ", ");
    sb_json_string(o, v->tokens[i], v->lens[i]);
  }
  sb_puts(o, "]\n");
}

int graph_print_text(const Graph *g, const IrPrintOptions *po, StrBuf *o) {
  sb_puts(o, "model ");
  print_name(o, g->name);
  sb_printf(o, " vocab=%s V=", vocab_kind_name(g->vocab_kind));
  if (g->vocab_size > 0) sb_printf(o, "%lld\n", (long long)g->vocab_size);
  else sb_puts(o, "?\n");
  if (g->pipeline) {
    sb_puts(o, "  pipeline ");
    sb_json_string(o, g->pipeline, strlen(g->pipeline));
    sb_putc(o, '\n');
  }
  /* the vocabulary is data, like the values: written with them */
  int with_data = po && (po->inline_max > 0 || po->external);
  if (with_data && g->vocab && g->vocab_kind != VOCAB_BYTES) print_vocab(o, g->vocab);
  for (int i = 0; i < g->nnodes; i++) print_node(g, i, o);
  sb_puts(o, "weights");
  if (po && po->external) {
    sb_putc(o, ' ');
    sb_json_string(o, po->external, strlen(po->external));
  }
  sb_putc(o, '\n');
  size_t width = 0;
  for (int i = 0; i < g->nslots; i++) {
    size_t l = strlen(g->slots[i].name);
    if (l > width) width = l;
  }
  for (int i = 0; i < g->nslots; i++) {
    const WeightSlot *s = &g->slots[i];
    StrBuf name;
    sb_init(&name);
    print_name(&name, s->name);
    sb_printf(o, "  %-*s [", (int)width, name.failed ? "?" : sb_cstr(&name));
    if (name.failed) o->failed = 1;
    sb_free(&name);
    print_dim(o, s->rows);
    if (s->ndim == 2) {
      sb_puts(o, ", ");
      print_dim(o, s->cols);
    }
    sb_puts(o, "]");
    if (s->t) print_tensor(o, s->t, po);
    else sb_puts(o, " (not loaded)\n");
  }
  return o->failed ? LSTMC_ERR_NOMEM : 0;
}

int graph_print(const Graph *g, StrBuf *o) { return graph_print_text(g, NULL, o); }
