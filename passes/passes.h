/* What the passes share: the registry generated from passes.def (names, summaries, typed options), the
 * arguments a pass receives and the statistics it reports, the helpers that pick the weights a pass works
 * on (default sets narrowed or widened by only=/skip= glob patterns), and the column-combining core that
 * column-combine, conflict-prune, the systolic-array report and bench/cc_bench use.
 *
 * A pass is `int pass_<id>(Graph *g, const PassArgs *a, PassStats *st)`: it rewrites the weight tensors of
 * g and returns 0, or a status with a message (lx_fail) naming the tensor; the pass manager (pipeline.c)
 * adds the pipeline position. A pass that fails leaves g as it found it: it builds every new tensor first
 * and installs them only when all are made (PassEdits). */
#ifndef LSTMC_PASSES_PASSES_H
#define LSTMC_PASSES_PASSES_H
#include <stdint.h>

#include "ir/graph.h"

typedef enum PassOptType { POPT_FLOAT, POPT_INT, POPT_CHOICE, POPT_PATTERNS } PassOptType;

enum PassId {
#define PASS(id, name, summary) PASS_##id,
#define POPT(pass, id, key, type, def, lo, hi, hi_open, choices, help)
#include "passes/passes.def"
#undef PASS
#undef POPT
  PASS_COUNT
};

enum PassOptId {
#define PASS(id, name, summary)
#define POPT(pass, id, key, type, def, lo, hi, hi_open, choices, help) PO_##pass##_##id,
#include "passes/passes.def"
#undef PASS
#undef POPT
  PO_COUNT
};

typedef struct PassOptInfo {
  int pass; /* PassId */
  const char *key;
  int type; /* PassOptType */
  const char *def; /* default as pipeline text; NULL: unset */
  double lo, hi;
  int hi_open;
  const char *choices; /* POPT_CHOICE: "a|b|c" */
  const char *help;
} PassOptInfo;

/* An option's value. FLOAT: f; INT: i (and f); CHOICE: i = index of the choice, s = its text;
 * PATTERNS: s. `set`: the value came from the pipeline text or a default (0: unset, no default). */
typedef struct PassValue {
  int set;
  double f;
  long long i;
  const char *s;
} PassValue;

typedef struct PassArgs {
  int pass;         /* PassId */
  int index;        /* 1-based position in the pipeline */
  int training;     /* the graph is being trained (weight-drop stays) */
  PassValue opt[PO_COUNT]; /* this pass's options (others unset) */
} PassArgs;

/* What a pass reports for --stats; the manager adds the graph-wide figures (weights kept, groups,
 * utilization, bytes). */
typedef struct PassStats {
  int tensors;        /* tensors rewritten */
  int64_t pruned;     /* weights set to zero (prune: by magnitude; conflict-prune: conflicts) */
  int64_t groups;     /* column-combine: groups made */
  int64_t conflicts;  /* column-combine: conflicts inside the new groups (what conflict-prune drops) */
  char note[256];     /* the pass's own sentence, printed under its row ("removed from 3 layers (p=0.5)") */
} PassStats;

typedef int (*PassFn)(Graph *g, const PassArgs *a, PassStats *st);

typedef struct PassInfo {
  const char *name;
  const char *summary;
  PassFn run;
} PassInfo;

extern const PassInfo pass_table[PASS_COUNT];
extern const PassOptInfo pass_opt_table[PO_COUNT];

#define PASS(id, name, summary) int pass_##id(Graph *g, const PassArgs *a, PassStats *st);
#define POPT(pass, id, key, type, def, lo, hi, hi_open, choices, help)
#include "passes/passes.def"
#undef PASS
#undef POPT

/* Index of a pass by name, or -1. */
int pass_find(const char *name);

/* ---- choosing weights (select.c) ------------------------------------------------------------------ */

/* 1 when name matches one of the '|'-separated glob patterns ('*': any run of characters, '?': one). */
int pass_glob_match(const char *patterns, const char *name);

typedef enum PassDefaultSet {
  PASS_SET_MATRICES,  /* every 2-D weight (the embedding, W_ih, W_hh, an untied decoder) */
  PASS_SET_RECURRENT  /* W_ih and W_hh of every lstm and an untied decoder.weight */
} PassDefaultSet;

/* Marks in selected[nslots] the 2-D weights a pass works on: those matching only= (when given; else the
 * default set), less those matching skip=. Biases are never selected. Fails (LSTMC_ERR_USAGE) when only=
 * matches no 2-D weight, naming the weights there are. Every selected slot holds a tensor. */
int pass_select(const Graph *g, const PassArgs *a, int only_opt, int skip_opt, int default_set, uint8_t *selected);

/* The error for a tensor whose format a pass cannot take:
 * "tensor 'NAME' is FORMAT; PASS takes WHAT". Returns LSTMC_ERR_UNSUPPORTED. */
int pass_bad_format(const char *pass, const Tensor *t, const char *what);

/* New tensors of a pass, installed together when every one is made (so a failing pass changes nothing). */
typedef struct PassEdits {
  Tensor **t; /* [nslots]; NULL: unchanged */
  int nslots;
} PassEdits;
int pass_edits_init(PassEdits *e, const Graph *g);
/* Installs every new tensor into g (taking ownership) and returns how many there were. */
int pass_edits_commit(PassEdits *e, Graph *g);
void pass_edits_free(PassEdits *e);

/* ---- column combining (column_combine.c, conflict_prune.c) ---------------------------------------- */

/* Column groups of one matrix: group g owns cols[off[g] .. off[g+1]), ascending. */
typedef struct CcGroups {
  int64_t ngroups;
  int32_t *off;      /* [ngroups + 1] */
  int32_t *cols;     /* [off[ngroups]] */
  int64_t conflicts; /* Σ over groups and rows of max(nonzeros − 1, 0) */
} CcGroups;
void cc_groups_free(CcGroups *g);

/* ⌊gamma · rows⌋, the conflicts a group may hold (with 1e-9 of slack so that 0.29·100 is 29). */
int64_t cc_conflict_limit(double gamma, int64_t rows);
/* The two loops the grouping's time goes to, in one of the versions this CPU can run: the popcount of
 * a ∧ b over n words, stopping once it exceeds budget (overlap), and the nonzero bits of 64 floats. */
typedef struct CcKernels {
  const char *name; /* "avx512-vpopcntdq", "popcnt" or "generic" */
  int64_t (*overlap)(const uint64_t *a, const uint64_t *b, int64_t n, int64_t budget);
  uint64_t (*nonzero64)(const float *v);
} CcKernels;
/* The fastest kernels this CPU has (chosen once; safe from any thread). Static storage. */
const CcKernels *cc_kernels_best(void);
/* The named kernels ("generic", "popcnt", or cc_kernels_best()'s name, which gives that set), or NULL when
 * this CPU lacks them: for tests and benchmarks that compare them. Static storage. */
const CcKernels *cc_kernels_named(const char *name);
/* Row r's nonzero pattern as cw = ceil(cols / 64) words, bit c of word c / 64 (masked weights are zero).
 * Returns the row's values: in place for f32, else decoded into tmp[cols]. f32 rows are read without a
 * copy because they are what prune leaves and what the passes' time goes to. */
const float *cc_row_bits(const CcKernels *kern, const Tensor *t, int64_t r, float *tmp, uint64_t *out, int64_t cw);
/* The nonzero pattern of a 2-D tensor as one bitset per column: bit r of bits[c * words + r / 64].
 * *words = ceil(rows / 64). *bits is lx_free'd by the caller. */
int cc_column_bits(const CcKernels *kern, const Tensor *t, uint64_t **bits, int64_t *words);
/* The grouping of Kung, McDanel & Zhang (ASPLOS 2019) as ../shared/DESIGN.md states it: inside each block
 * of `block` consecutive columns, a group starts at the lowest-numbered nonzero column not yet grouped and
 * takes, while it has fewer than alpha columns, the admissible candidate (conflicts stay ≤ ⌊gamma·rows⌋)
 * that leaves the fewest all-zero rows, the lowest-numbered on ties. All-zero columns join no group.
 * Admission is one AND + popcount per candidate over the column bitsets. */
int cc_group_columns(const CcKernels *kern, const uint64_t *bits, int64_t rows, int64_t cols, int alpha, double gamma,
                     int block, CcGroups *out);
/* The same grouping by pairwise scans of a dense nonzero map nz[rows * cols] (O(cols² · rows)): the
 * oracle for tests and the baseline of bench/cc_bench. */
int cc_group_columns_naive(const uint8_t *nz, int64_t rows, int64_t cols, int alpha, double gamma, int block,
                           CcGroups *out);
/* Moves g's arrays into t (dense or masked; replacing groups it had) with the parameters that made them. */
void cc_groups_attach(Tensor *t, CcGroups *g, int alpha, double gamma, int block);
/* Conflict pruning: from a grouped dense or masked tensor, the column-packed one that keeps, per row and
 * group, the weight of largest |w| (the lowest column on ties); same encoding and scales. *pruned: weights
 * dropped. */
int cc_pack_tensor(const Tensor *t, Tensor **out, int64_t *pruned);

#endif
