/* The pass manager: the registry tables generated from passes.def, checking a parsed pipeline into the
 * arguments of each pass (every problem reported with its place and pipeline position), running them with
 * the verifier between passes, and the --print-after, --stats and --time-passes reports. */
#include "passes/pipeline.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/text.h"
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

/* Fills a->opt for one pass from its defaults and the pipeline text; reports problems through diag. The
 * values' strings are the AST's: pipeline_build copies them. */
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

void pipeline_free(Pipeline *p) {
  if (!p) return;
  lx_free(p->steps);
  arena_free(&p->arena);
  lx_free(p);
}

int pipeline_build(const AstPipeline *p, Diag *diag, Pipeline **out) {
  *out = NULL;
  int before = diag->nerrors, index = 0;
  Pipeline *pl = lx_calloc(1, sizeof *pl);
  if (!pl) return lx_nomem("checking a pipeline");
  arena_init(&pl->arena);
  int n = p ? p->npasses : 0;
  pl->steps = lx_calloc((size_t)n + 1, sizeof *pl->steps);
  if (!pl->steps) {
    pipeline_free(pl);
    return lx_nomem("checking a pipeline");
  }
  for (const AstPass *ps = p ? p->passes : NULL; ps; ps = ps->next) {
    int k = lookup_pass(ps, ++index, diag);
    if (k < 0) continue;
    PipelineStep *step = &pl->steps[pl->nsteps++];
    build_args(ps, index, k, diag, &step->args);
    step->loc = ps->loc;
    /* the values outlive the AST: their strings move into the pipeline */
    for (int j = 0; j < PO_COUNT; j++) {
      PassValue *v = &step->args.opt[j];
      if (v->s) v->s = arena_strdup(&pl->arena, v->s);
    }
  }
  if (diag->nerrors > before) {
    pipeline_free(pl);
    return diag_status(diag);
  }
  StrBuf text;
  sb_init(&text);
  pipeline_to_text(p, &text);
  pl->text = arena_strndup(&pl->arena, text.data ? text.data : "", text.len);
  int oom = text.failed || pl->arena.failed;
  sb_free(&text);
  if (oom) {
    pipeline_free(pl);
    return lx_nomem("checking a pipeline");
  }
  *out = pl;
  return 0;
}

int pipeline_build_text(const char *text, const char *where, Diag *diag, Pipeline **out) {
  *out = NULL;
  Arena arena;
  arena_init(&arena);
  size_t len = strlen(text);
  diag_add_source(diag, where, text, len);
  AstPipeline *p = NULL;
  SrcLoc loc = {where, 1, 1, 1, 1};
  int st = parse_pipeline_text(text, len, loc, &arena, diag, &p);
  if (!st) st = pipeline_build(p, diag, out);
  diag_remove_source(diag, where);
  arena_free(&arena);
  if (st) return st;
  Pipeline *pl = *out;
  pl->source = arena_strndup(&pl->arena, text, len);
  pl->source_name = arena_strdup(&pl->arena, where);
  if (pl->arena.failed) {
    pipeline_free(pl);
    *out = NULL;
    return lx_nomem("checking a pipeline");
  }
  /* the steps' places name the text by the copy, which lives as long as they do */
  for (int i = 0; i < pl->nsteps; i++) pl->steps[i].loc.file = pl->source_name;
  return 0;
}

int pipeline_check(const AstPipeline *p, Diag *diag) {
  Pipeline *pl;
  int st = pipeline_build(p, diag, &pl);
  pipeline_free(pl);
  return st;
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

static void stats_row(StrBuf *sb, int index, const char *name, const PassStats *ps, const Totals *t) {
  char kept[48], groups[24] = "-", pruned[24] = "-", util[16] = "-";
  snprintf(kept, sizeof kept, "%lld (%.2f%%)", (long long)t->kept, t->weights ? 100.0 * (double)t->kept / (double)t->weights : 0.0);
  if (t->groups) snprintf(groups, sizeof groups, "%lld", (long long)t->groups);
  if (ps->pruned) snprintf(pruned, sizeof pruned, "%lld", (long long)ps->pruned);
  if (t->packed_slots) snprintf(util, sizeof util, "%.4f", (double)t->packed_kept / (double)t->packed_slots);
  sb_printf(sb, "  %2d  %-15s %7d  %-22s %8s  %10s  %11s  %11zu\n", index, name, ps->tensors, kept, groups, pruned, util,
            t->bytes);
  if (ps->note[0]) sb_printf(sb, "      %s: %s\n", name, ps->note);
}

/* Sends a report built in sb (and empties it); a report that could not be built is out of memory. */
static int report(StrBuf *sb, const char *what) {
  int st = sb->failed ? lx_nomem(what) : 0;
  if (!st && sb->len) lx_message_text(LSTMC_MSG_REPORT, sb_cstr(sb));
  sb_free(sb);
  sb_init(sb);
  return st;
}

static void timing_table(const Pipeline *p, const double *seconds, int ran, StrBuf *sb) {
  double total = 0;
  sb_puts(sb, "pass timing (seconds):\n");
  for (int i = 0; i < ran; i++) {
    sb_printf(sb, "  %2d  %-15s %10.6f\n", i + 1, pass_table[p->steps[i].args.pass].name, seconds[i]);
    total += seconds[i];
  }
  sb_printf(sb, "      %-15s %10.6f\n", "total", total);
}

int pipeline_run(Graph *g, const Pipeline *p, const PipelineOptions *o, Diag *diag) {
  static const PipelineOptions none;
  if (!o) o = &none;
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
  /* reports are built only for a caller who reads them */
  int stats = o->stats && lx_message_wanted(), timing = o->time_passes && lx_message_wanted();
  double *seconds = lx_calloc((size_t)p->nsteps + 1, sizeof *seconds);
  if (!seconds) return lx_nomem("running passes");
  if (p->source) diag_add_source(diag, p->source_name, p->source, strlen(p->source));
  StrBuf sb;
  sb_init(&sb);
  Totals t;
  int st = 0;
  if (stats && p->nsteps) {
    graph_totals(g, &t);
    sb_printf(&sb, "pass statistics: %lld weights in %d matrices, %lld nonzero; %zu bytes before the pipeline\n",
              (long long)t.weights, t.matrices, (long long)t.kept, t.bytes);
    sb_printf(&sb, "   #  %-15s %7s  %-22s %8s  %10s  %11s  %11s\n", "pass", "tensors", "weights kept", "groups",
              "pruned", "utilization", "bytes");
    st = report(&sb, "reporting pass statistics");
  }
  int ran = 0;
  for (int i = 0; i < p->nsteps && !st; i++) {
    const PipelineStep *step = &p->steps[i];
    const char *name = pass_table[step->args.pass].name;
    PassArgs a = step->args;
    a.training = o->training;
    PassStats pst;
    memset(&pst, 0, sizeof pst);
    double t0 = now_seconds();
    st = pass_table[a.pass].run(g, &a, &pst);
    seconds[i] = now_seconds() - t0;
    ran = i + 1;
    if (st) {
      st = run_fail(diag, step->loc, st, "pass %d (%s): %s", a.index, name, lstmc_errmsg());
      break;
    }
    if (verify && (st = graph_verify(g))) {
      st = run_fail(diag, step->loc, st, "pass %d (%s): the IR is invalid after this pass: %s", a.index, name, lstmc_errmsg());
      break;
    }
    if (stats) {
      graph_totals(g, &t);
      stats_row(&sb, a.index, name, &pst, &t);
      if ((st = report(&sb, "reporting pass statistics"))) break;
    }
    if ((o->print_after_all || (o->print_after && !strcmp(o->print_after, name))) && lx_message_wanted()) {
      sb_printf(&sb, "; IR after pass %d (%s)\n", a.index, name);
      IrPrintOptions po = {.inline_max = o->print_inline};
      if (graph_print_text(g, &po, &sb)) sb.failed = 1;
      st = report(&sb, "printing the IR");
    }
  }
  if (timing && ran) {
    /* `ran` passes ran (the last one may have failed) */
    timing_table(p, seconds, ran, &sb);
    int rst = report(&sb, "reporting pass timings");
    if (!st) st = rst;
  }
  sb_free(&sb);
  if (p->source) diag_remove_source(diag, p->source_name);
  lx_free(seconds);
  return st;
}

int pipeline_run_ast(Graph *g, const AstPipeline *p, const PipelineOptions *o, Diag *diag) {
  Pipeline *pl;
  int st = pipeline_build(p, diag, &pl);
  if (!st) st = pipeline_run(g, pl, o, diag);
  pipeline_free(pl);
  return st;
}

int pipeline_run_text(Graph *g, const char *text, const char *where, const PipelineOptions *o, Diag *diag) {
  Pipeline *pl;
  int st = pipeline_build_text(text, where, diag, &pl);
  if (!st) st = pipeline_run(g, pl, o, diag);
  pipeline_free(pl);
  return st;
}
