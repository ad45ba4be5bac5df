/* The pass manager: the registry tables generated from passes.def, option checking (every problem
 * reported with its place and pipeline position), running passes with the verifier between them, and
 * --print-after, --stats and --time-passes. */
#include "passes/pipeline.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/spec.h"
#include "ir/text.h"
#include "passes/passes.h"
#include "support/alloc.h"
#include "support/clock.h"
#include "support/err.h"
#include "support/text.h"

const PassInfo pass_table[PASS_COUNT] = {
#define PASS(id, name, summary) {name, summary, pass_##id},
#define POPT(pass, id, key, type, def, lo, hi, hi_open, choices, help)
#include "passes/passes.def"
#undef PASS
#undef POPT
};

const PassOptInfo pass_opt_table[PO_COUNT] = {
#define PASS(id, name, summary)
#define POPT(pass, id, key, type, def, lo, hi, hi_open, choices, help) \
  {PASS_##pass, key, type, def, lo, hi, hi_open, choices, help},
#include "passes/passes.def"
#undef PASS
#undef POPT
};

int pass_find(const char *name) {
  for (int i = 0; i < PASS_COUNT; i++)
    if (!strcmp(pass_table[i].name, name)) return i;
  return -1;
}

/* The names alone, for "did you mean" */
static const char *const pass_names[PASS_COUNT] = {
#define PASS(id, name, summary) name,
#define POPT(pass, id, key, type, def, lo, hi, hi_open, choices, help)
#include "passes/passes.def"
#undef PASS
#undef POPT
};

/* ---- option values ------------------------------------------------------------------------------- */

/* "a, b or c" from "a|b|c". */
static void choice_list(const char *choices, char *buf, size_t n) {
  size_t k = 0, count = 1;
  for (const char *p = choices; *p; p++) count += *p == '|';
  size_t seen = 0;
  buf[0] = 0;
  for (const char *p = choices; *p && k + 8 < n; p++) {
    if (*p == '|') {
      seen++;
      k += (size_t)snprintf(buf + k, n - k, "%s", seen == count - 1 ? " or " : ", ");
    } else {
      buf[k++] = *p;
      buf[k] = 0;
    }
  }
}

/* Index of `word` among "a|b|c", or -1; *near receives the closest choice for "did you mean". */
static int choice_index(const char *choices, const char *word, char *near, size_t nn) {
  char items[8][32];
  const char *ptrs[8];
  int n = 0;
  for (const char *p = choices; *p && n < 8;) {
    const char *bar = strchr(p, '|');
    size_t len = bar ? (size_t)(bar - p) : strlen(p);
    snprintf(items[n], sizeof items[n], "%.*s", (int)len, p);
    ptrs[n] = items[n];
    n++;
    p += len + (bar != NULL);
  }
  for (int i = 0; i < n; i++)
    if (!strcmp(items[i], word)) return i;
  const char *c = closest_word(word, ptrs, n);
  snprintf(near, nn, "%s", c ? c : "");
  return -1;
}

/* Parses one option value (kind: an AstValueKind) into out; on failure writes the reason to err. */
static int opt_parse(const PassOptInfo *o, int kind, const char *text, PassValue *out, char *err, size_t n) {
  memset(out, 0, sizeof *out);
  char shown[96];
  snprintf(shown, sizeof shown, kind == AST_STRING ? "\"%s\"" : kind == AST_WORD ? "'%s'" : "%s", text);
  switch (o->type) {
  case POPT_FLOAT: {
    char *end;
    double v = kind == AST_INT || kind == AST_FLOAT ? strtod(text, &end) : NAN;
    if (!isfinite(v) || v < o->lo || (o->hi_open ? v >= o->hi : v > o->hi)) {
      snprintf(err, n, "%s must be a number in [%g, %g%c, got %s", o->key, o->lo, o->hi, o->hi_open ? ')' : ']', shown);
      return -1;
    }
    out->f = v;
    break;
  }
  case POPT_INT: {
    char *end;
    errno = 0;
    long long v = kind == AST_INT ? strtoll(text, &end, 10) : 0;
    if (kind != AST_INT || errno || (double)v < o->lo || (double)v > o->hi) {
      snprintf(err, n, "%s must be an integer in [%.0f, %.0f], got %s", o->key, o->lo, o->hi, shown);
      return -1;
    }
    out->i = v;
    out->f = (double)v;
    break;
  }
  case POPT_CHOICE: {
    char near[32] = "", list[128];
    int k = kind == AST_STRING ? -1 : choice_index(o->choices, text, near, sizeof near);
    if (kind != AST_WORD) near[0] = 0; /* "did you mean '8'?" for bits=3 would be noise */
    if (k < 0) {
      choice_list(o->choices, list, sizeof list);
      if (near[0]) snprintf(err, n, "%s must be %s, got %s; did you mean '%s'?", o->key, list, shown, near);
      else snprintf(err, n, "%s must be %s, got %s", o->key, list, shown);
      return -1;
    }
    out->i = k;
    out->s = text;
    break;
  }
  default:
    if ((kind != AST_WORD && kind != AST_STRING) || !text[0]) {
      snprintf(err, n, "%s must be weight-name patterns such as rnns.*.weight_hh_l0, got %s", o->key, shown);
      return -1;
    }
    out->s = text;
    break;
  }
  out->set = 1;
  return 0;
}

static int default_kind(int type) {
  return type == POPT_FLOAT ? AST_FLOAT : type == POPT_INT ? AST_INT : AST_WORD;
}

/* Fills a->opt for one pass from its defaults and the pipeline text; reports problems through diag. */
static void build_args(const AstPass *p, int index, int pass, Diag *d, PassArgs *a) {
  memset(a, 0, sizeof *a);
  a->pass = pass;
  a->index = index;
  const char *name = pass_table[pass].name;
  for (int k = 0; k < PO_COUNT; k++) {
    const PassOptInfo *o = &pass_opt_table[k];
    char err[256];
    if (o->pass == pass && o->def && opt_parse(o, default_kind(o->type), o->def, &a->opt[k], err, sizeof err))
      LX_BUG("a default in passes.def does not parse");
  }
  uint8_t given[PO_COUNT] = {0};
  for (const AstPassOpt *po = p->opts; po; po = po->next) {
    int k = -1, nopts = 0;
    const char *keys[PO_COUNT];
    for (int j = 0; j < PO_COUNT; j++) {
      if (pass_opt_table[j].pass != pass) continue;
      keys[nopts++] = pass_opt_table[j].key;
      if (!strcmp(pass_opt_table[j].key, po->key)) k = j;
    }
    if (k < 0) {
      const char *near = closest_word(po->key, keys, nopts);
      if (near) diag_error(d, po->loc, "pass %d (%s): unknown option '%s'; did you mean '%s'?", index, name, po->key, near);
      else if (!nopts) diag_error(d, po->loc, "pass %d (%s): unknown option '%s' (%s takes no options)", index, name, po->key, name);
      else {
        char list[256] = "";
        size_t len = 0;
        for (int j = 0; j < nopts && len < sizeof list; j++)
          len += (size_t)snprintf(list + len, sizeof list - len, "%s'%s'", j ? (j == nopts - 1 ? " or " : ", ") : "", keys[j]);
        diag_error(d, po->loc, "pass %d (%s): unknown option '%s' (its options are %s)", index, name, po->key, list);
      }
      continue;
    }
    if (given[k]++) {
      diag_error(d, po->loc, "pass %d (%s): option '%s' is given twice", index, name, po->key);
      continue;
    }
    char err[256];
    if (opt_parse(&pass_opt_table[k], po->value->kind, po->value->s, &a->opt[k], err, sizeof err))
      diag_error(d, po->value->loc, "pass %d (%s): %s", index, name, err);
  }
}

/* Resolves a pass name; reports an unknown one. */
static int lookup_pass(const AstPass *p, int index, Diag *d) {
  int k = pass_find(p->name);
  if (k >= 0) return k;
  const char *near = closest_word(p->name, pass_names, PASS_COUNT);
  if (near) diag_error(d, p->loc, "pass %d: unknown pass '%s'; did you mean '%s'?", index, p->name, near);
  else diag_error(d, p->loc, "pass %d: unknown pass '%s' (see 'lstmc --list-passes')", index, p->name);
  return -1;
}

int pipeline_check(const AstPipeline *p, Diag *diag) {
  int before = diag->nerrors, index = 0;
  for (const AstPass *ps = p ? p->passes : NULL; ps; ps = ps->next) {
    int k = lookup_pass(ps, ++index, diag);
    PassArgs a;
    if (k >= 0) build_args(ps, index, k, diag, &a);
  }
  return diag->nerrors > before ? diag_status(diag) : 0;
}

/* ---- text ---------------------------------------------------------------------------------------- */

static void value_to_text(const AstValue *v, StrBuf *out) {
  if (v->kind == AST_STRING) sb_json_string(out, v->s, v->slen);
  else sb_puts(out, v->s);
}

static void pass_to_text(const AstPass *p, StrBuf *out) {
  sb_puts(out, p->name);
  if (!p->opts) return;
  sb_putc(out, '{');
  for (const AstPassOpt *o = p->opts; o; o = o->next) {
    sb_printf(out, "%s%s=", o == p->opts ? "" : ",", o->key);
    value_to_text(o->value, out);
  }
  sb_putc(out, '}');
}

void pipeline_to_text(const AstPipeline *p, StrBuf *out) {
  for (const AstPass *ps = p ? p->passes : NULL; ps; ps = ps->next) {
    if (ps != p->passes) sb_putc(out, ',');
    pass_to_text(ps, out);
  }
}

int pipeline_list(StrBuf *out) {
  sb_puts(out, "passes (pipeline text: name{key=value,...}, joined by commas):\n");
  for (int i = 0; i < PASS_COUNT; i++) {
    sb_printf(out, "\n  %s\n      %s\n", pass_table[i].name, pass_table[i].summary);
    for (int k = 0; k < PO_COUNT; k++) {
      const PassOptInfo *o = &pass_opt_table[k];
      if (o->pass != i) continue;
      char type[96];
      switch (o->type) {
      case POPT_FLOAT: snprintf(type, sizeof type, "number in [%g, %g%c", o->lo, o->hi, o->hi_open ? ')' : ']'); break;
      case POPT_INT: snprintf(type, sizeof type, "integer in [%.0f, %.0f]", o->lo, o->hi); break;
      case POPT_CHOICE: snprintf(type, sizeof type, "%s", o->choices); break;
      default: snprintf(type, sizeof type, "patterns (a|b, * and ?)"); break;
      }
      sb_printf(out, "      %-9s %s", o->key, type);
      if (o->def) sb_printf(out, ", default %s", o->def);
      sb_printf(out, ": %s\n", o->help);
    }
  }
  return out->failed ? lx_nomem("listing passes") : 0;
}

/* ---- running ------------------------------------------------------------------------------------- */

/* Reports a failure of a running pipeline through diag and makes it the error message, place included. */
static int run_fail(Diag *d, SrcLoc loc, int st, const char *fmt, ...) LX_PRINTF(4, 5);
static int run_fail(Diag *d, SrcLoc loc, int st, const char *fmt, ...) {
  char msg[1536];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  diag_error(d, loc, "%s", msg);
  if (loc.file && loc.line > 0) return lx_fail(st, "%s:%d:%d: error: %s", loc.file, loc.line, loc.col, msg);
  return lx_fail(st, "%s", msg);
}

/* Graph-wide figures for --stats: over the 2-D weights (a tied matrix once), and bytes of every tensor. */
typedef struct Totals {
  int64_t weights, kept, groups, packed_slots, packed_kept;
  int matrices;
  size_t bytes;
} Totals;

static void graph_totals(const Graph *g, Totals *t) {
  memset(t, 0, sizeof *t);
  for (int i = 0; i < g->nslots; i++) {
    const Tensor *x = g->slots[i].t;
    if (!x) continue;
    t->bytes += tensor_bytes(x);
    if (x->ndim != 2) continue;
    int64_t nnz = tensor_nnz(x);
    t->matrices++;
    t->weights += x->rows * x->cols;
    t->kept += nnz;
    if (tensor_has_groups(x)) t->groups += x->ngroups;
    if (x->layout == LX_LAYOUT_PACKED) {
      t->packed_slots += x->rows * x->ngroups;
      t->packed_kept += nnz;
    }
  }
}

static void print_stats_row(FILE *f, int index, const char *name, const PassStats *ps, const Totals *t) {
  char kept[48], groups[24] = "-", pruned[24] = "-", util[16] = "-";
  snprintf(kept, sizeof kept, "%lld (%.2f%%)", (long long)t->kept, t->weights ? 100.0 * (double)t->kept / (double)t->weights : 0.0);
  if (t->groups) snprintf(groups, sizeof groups, "%lld", (long long)t->groups);
  if (ps->pruned) snprintf(pruned, sizeof pruned, "%lld", (long long)ps->pruned);
  if (t->packed_slots) snprintf(util, sizeof util, "%.4f", (double)t->packed_kept / (double)t->packed_slots);
  fprintf(f, "  %2d  %-15s %7d  %-22s %8s  %10s  %11s  %11zu\n", index, name, ps->tensors, kept, groups, pruned, util,
          t->bytes);
  if (ps->note[0]) fprintf(f, "      %s: %s\n", name, ps->note);
}

int pipeline_run(Graph *g, const AstPipeline *p, const PipelineOptions *o, Diag *diag) {
  static const PipelineOptions none;
  if (!o) o = &none;
  FILE *out = o->out ? o->out : stderr;
  int st = pipeline_check(p, diag);
  if (st) return st;
  if (o->print_after && pass_find(o->print_after) < 0) {
    const char *near = closest_word(o->print_after, pass_names, PASS_COUNT);
    if (near) return lx_fail(LSTMC_ERR_USAGE, "--print-after: unknown pass '%s'; did you mean '%s'?", o->print_after, near);
    return lx_fail(LSTMC_ERR_USAGE, "--print-after: unknown pass '%s' (see 'lstmc --list-passes')", o->print_after);
  }
  if (!graph_has_weights(g)) return lx_fail(LSTMC_ERR_USAGE, "passes need weights: none are loaded");
#ifdef NDEBUG
  int verify = o->verify_each;
#else
  int verify = 1;
#endif
  int npasses = p ? p->npasses : 0;
  double *seconds = lx_calloc((size_t)npasses, sizeof *seconds);
  if (!seconds) return lx_nomem("running passes");
  Totals t;
  if (o->stats && npasses) {
    graph_totals(g, &t);
    fprintf(out, "pass statistics: %lld weights in %d matrices, %lld nonzero; %zu bytes before the pipeline\n",
            (long long)t.weights, t.matrices, (long long)t.kept, t.bytes);
    fprintf(out, "   #  %-15s %7s  %-22s %8s  %10s  %11s  %11s\n", "pass", "tensors", "weights kept", "groups",
            "pruned", "utilization", "bytes");
  }
  int index = 0;
  for (const AstPass *ps = p ? p->passes : NULL; ps && !st; ps = ps->next) {
    index++;
    int k = pass_find(ps->name);
    const char *name = pass_table[k].name;
    PassArgs a;
    build_args(ps, index, k, diag, &a);
    a.training = o->training;
    PassStats pst;
    memset(&pst, 0, sizeof pst);
    double t0 = now_seconds();
    st = pass_table[k].run(g, &a, &pst);
    seconds[index - 1] = now_seconds() - t0;
    if (st) {
      st = run_fail(diag, ps->loc, st, "pass %d (%s): %s", index, name, lstmc_errmsg());
      break;
    }
    if (verify && (st = graph_verify(g))) {
      st = run_fail(diag, ps->loc, st, "pass %d (%s): the IR is invalid after this pass: %s", index, name, lstmc_errmsg());
      break;
    }
    if (o->stats) {
      graph_totals(g, &t);
      print_stats_row(out, index, name, &pst, &t);
    }
    if (o->print_after_all || (o->print_after && !strcmp(o->print_after, name))) {
      StrBuf sb;
      sb_init(&sb);
      fprintf(out, "; IR after pass %d (%s)\n", index, name);
      IrPrintOptions po = {o->print_inline, NULL};
      if ((st = graph_print_text(g, &po, &sb))) st = lx_nomem("printing the IR");
      else fputs(sb_cstr(&sb), out);
      sb_free(&sb);
    }
  }
  if (o->time_passes && index) {
    /* `index` passes ran (the last one may have failed) */
    double total = 0;
    fprintf(out, "pass timing (seconds):\n");
    int i = 0;
    for (const AstPass *ps = p->passes; ps && i < index; ps = ps->next, i++) {
      fprintf(out, "  %2d  %-15s %10.6f\n", i + 1, ps->name, seconds[i]);
      total += seconds[i];
    }
    fprintf(out, "      %-15s %10.6f\n", "total", total);
  }
  lx_free(seconds);
  return st;
}

int pipeline_run_text(Graph *g, const char *text, const char *where, const PipelineOptions *o, Diag *diag,
                      StrBuf *canonical) {
  Arena arena;
  arena_init(&arena);
  size_t len = strlen(text);
  diag_add_source(diag, where, text, len);
  AstPipeline *p = NULL;
  SrcLoc loc = {where, 1, 1, 1, 1};
  int st = parse_pipeline_text(text, len, loc, &arena, diag, &p);
  if (!st && canonical) pipeline_to_text(p, canonical);
  if (!st) st = pipeline_run(g, p, o, diag);
  diag_remove_source(diag, where);
  arena_free(&arena);
  return st;
}
