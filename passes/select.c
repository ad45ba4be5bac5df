/* Choosing the weights a pass works on (default sets, only=/skip= glob patterns), the shared
 * wrong-format error, and PassEdits, which lets a pass install all its new tensors at once. */
#include <string.h>

#include "passes/passes.h"
#include "support/alloc.h"
#include "support/err.h"
#include "support/strbuf.h"

/* One glob pattern (no '|') of length plen against name: '*' any run, '?' one character. Iterative with
 * one backtrack point, so that a pattern of many stars stays linear in practice. */
static int glob_one(const char *p, size_t plen, const char *name) {
  size_t i = 0, star = (size_t)-1, resume = 0;
  const char *n = name;
  while (*n) {
    if (i < plen && (p[i] == '?' || p[i] == *n)) {
      i++;
      n++;
    } else if (i < plen && p[i] == '*') {
      star = i++;
      resume = (size_t)(n - name);
    } else if (star != (size_t)-1) {
      i = star + 1;
      n = name + ++resume;
    } else {
      return 0;
    }
  }
  while (i < plen && p[i] == '*') i++;
  return i == plen;
}

int pass_glob_match(const char *patterns, const char *name) {
  const char *p = patterns;
  for (;;) {
    const char *bar = strchr(p, '|');
    size_t len = bar ? (size_t)(bar - p) : strlen(p);
    if (glob_one(p, len, name)) return 1;
    if (!bar) return 0;
    p = bar + 1;
  }
}

static int in_default_set(const Graph *g, int slot, int set) {
  if (set == PASS_SET_MATRICES) return 1;
  for (int i = 0; i < g->nnodes; i++) {
    const Node *n = &g->nodes[i];
    if (n->op == OP_LSTM && (n->w[W_IH] == slot || n->w[W_HH] == slot)) return 1;
    if (n->op == OP_DECODER && !n->tied && n->w[W_DEC] == slot) return 1;
  }
  return 0;
}

int pass_select(const Graph *g, const PassArgs *a, int only_opt, int skip_opt, int default_set, uint8_t *selected) {
  const char *only = a->opt[only_opt].set ? a->opt[only_opt].s : NULL;
  const char *skip = a->opt[skip_opt].set ? a->opt[skip_opt].s : NULL;
  int matched = 0;
  for (int i = 0; i < g->nslots; i++) {
    const WeightSlot *s = &g->slots[i];
    selected[i] = 0;
    if (s->ndim != 2) continue;
    int want = only ? pass_glob_match(only, s->name) : in_default_set(g, i, default_set);
    matched += want;
    if (want && skip && pass_glob_match(skip, s->name)) want = 0;
    if (want && !s->t) return lx_fail(LSTMC_ERR_USAGE, "weight '%s' is not loaded", s->name);
    selected[i] = (uint8_t)want;
  }
  if (only && !matched) {
    StrBuf names;
    sb_init(&names);
    for (int i = 0; i < g->nslots; i++)
      if (g->slots[i].ndim == 2) sb_printf(&names, "%s%s", names.len ? ", " : "", g->slots[i].name);
    int st = lx_fail(LSTMC_ERR_USAGE, "only=%s matches no weight matrix (there are: %s)", only,
                     names.failed ? "?" : sb_cstr(&names));
    sb_free(&names);
    return st;
  }
  return 0;
}

int pass_bad_format(const char *pass, const Tensor *t, const char *what) {
  const char *fmt = format_name(t->layout, t->enc);
  if (tensor_has_groups(t) && t->layout != LX_LAYOUT_PACKED)
    return lx_fail(LSTMC_ERR_UNSUPPORTED, "tensor '%s' is %s with column groups; %s takes %s", t->name, fmt, pass, what);
  return lx_fail(LSTMC_ERR_UNSUPPORTED, "tensor '%s' is %s; %s takes %s", t->name, fmt, pass, what);
}

int pass_edits_init(PassEdits *e, const Graph *g) {
  e->nslots = g->nslots;
  e->t = lx_calloc((size_t)g->nslots, sizeof *e->t);
  return e->t ? 0 : lx_nomem("running a pass");
}

int pass_edits_commit(PassEdits *e, Graph *g) {
  int n = 0;
  for (int i = 0; i < e->nslots; i++)
    if (e->t[i]) {
      graph_set_tensor(g, i, e->t[i]);
      e->t[i] = NULL;
      n++;
    }
  return n;
}

void pass_edits_free(PassEdits *e) {
  if (!e->t) return;
  for (int i = 0; i < e->nslots; i++) tensor_free(e->t[i]);
  lx_free(e->t);
  e->t = NULL;
}
