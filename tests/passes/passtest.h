/* Helpers shared by the pass tests: graphs built from spec text with PyTorch-style random weights, random
 * matrices of a chosen shape and density, running a pipeline with its diagnostics captured, and an
 * independent decoding of a tensor's nonzero pattern. Header-only (each test is one translation unit). */
#ifndef LSTMC_TESTS_PASSES_PASSTEST_H
#define LSTMC_TESTS_PASSES_PASSTEST_H
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "frontend/lower.h"
#include "frontend/spec.h"
#include "passes/passes.h"
#include "passes/pipeline.h"
#include "runtime/weights.h"
#include "support/alloc.h"
#include "support/rng.h"
#include "testutil.h"

/* Two layers, tied: W_ih [48, 8], W_hh [48, 12], W_ih [32, 12], W_hh [32, 8], encoder [256, 8]. */
static const char *const pt_tied = "model t { vocab bytes; embed 8; lstm 12 { weight_drop 0.5; } lstm 8 { weight_drop 0.5; } decoder tied; }";
/* One layer, untied: encoder [256, 10], W_ih [80, 10], W_hh [80, 20], decoder [256, 20]. */
static const char *const pt_untied = "model u { vocab bytes; embed 10; lstm 20 { weight_drop 0.2; } decoder untied; }";

/* A graph of the spec with random weights (seed). NULL on failure (reported as a failed check). */
static inline Graph *pt_graph(const char *spec, uint64_t seed) {
  Diag d;
  diag_init(&d);
  Spec *s;
  Graph *g = NULL;
  if (!CHECK(spec_load_text("test.lstm", "", spec, strlen(spec), &d, &s) == 0)) return NULL;
  CHECK(lower_spec(s, 0, &g) == 0);
  spec_free(s);
  if (g && !CHECK(weights_init(g, seed) == 0)) {
    graph_free(g);
    return NULL;
  }
  return g;
}

static inline Tensor *pt_slot(const Graph *g, const char *name) {
  int i = graph_find_slot(g, name);
  return i >= 0 ? g->slots[i].t : NULL;
}

/* A dense f32 matrix whose entries are nonzero with probability `density`, values uniform in ±(0.05, 1). */
static inline Tensor *pt_random(const char *name, int64_t rows, int64_t cols, double density, Rng *rng) {
  Tensor *t = tensor_new_f32(name, 2, rows, cols);
  float *w = tensor_f32(t);
  for (int64_t i = 0; i < rows * cols; i++) {
    double u = rng_uniform(rng), m = 0.05 + 0.95 * rng_uniform(rng);
    w[i] = u < density ? (float)(rng_uniform(rng) < 0.5 ? -m : m) : 0.0f;
  }
  return t;
}

/* Replaces a slot's tensor with a random one of the slot's shape. */
static inline void pt_set_random(Graph *g, const char *name, double density, Rng *rng) {
  int i = graph_find_slot(g, name);
  LX_ASSERT(i >= 0);
  graph_set_tensor(g, i, pt_random(name, g->slots[i].rows, g->slots[i].cols, density, rng));
}

/* Runs pipeline text over g with the verifier after each pass; diagnostics go to *diag_text (lx_free it;
 * may be NULL to drop them). Returns the status. */
static inline int pt_run_opts(Graph *g, const char *pipeline, const PipelineOptions *o, char **diag_text) {
  StrBuf cap;
  sb_init(&cap);
  Diag d;
  diag_init(&d);
  diag_set_sink(&d, diag_sink_append, &cap);
  int st = pipeline_run_text(g, pipeline, "--passes", o, &d);
  if (diag_text) *diag_text = sb_take(&cap);
  sb_free(&cap);
  return st;
}

static void pt_append_message(void *ctx, lstmc_message_kind kind, const char *text) {
  (void)kind;
  sb_puts(ctx, text);
}

/* pt_run_opts with the pipeline's reports (--stats, --time-passes, --print-after: lstmc's messages) in
 * *reports (lx_free it). */
static inline int pt_run_reports(Graph *g, const char *pipeline, const PipelineOptions *o, char **reports,
                                 char **diag_text) {
  StrBuf sb;
  sb_init(&sb);
  lstmc_set_message_handler(pt_append_message, &sb);
  int st = pt_run_opts(g, pipeline, o, diag_text);
  lstmc_set_message_handler(NULL, NULL);
  *reports = sb_take(&sb);
  if (!*reports) *reports = lx_strdup("");
  sb_free(&sb);
  return st;
}

static inline int pt_run(Graph *g, const char *pipeline, char **diag_text) {
  PipelineOptions o = {0};
  o.verify_each = 1;
  return pt_run_opts(g, pipeline, &o, diag_text);
}

/* Runs a pipeline that must succeed; prints the diagnostics when it does not. */
static inline int pt_ok(Graph *g, const char *pipeline) {
  char *diag = NULL;
  int st = pt_run(g, pipeline, &diag);
  if (!CHECK_INT_EQ(st, 0)) fprintf(stderr, "    pipeline %s: %s\n", pipeline, diag ? diag : lstmc_errmsg());
  lx_free(diag);
  return st == 0;
}

/* The weights of t as dense floats (tensor_get, element by element: independent of the fast paths). */
static inline float *pt_dense(const Tensor *t) {
  float *d = lx_malloc((size_t)(t->rows * t->cols) * sizeof *d);
  for (int64_t r = 0; r < t->rows; r++)
    for (int64_t c = 0; c < t->cols; c++) d[r * t->cols + c] = tensor_get(t, r, c);
  return d;
}

/* The conflict-pruned matrix of a grouped tensor, worked out by the rule: per row and group the nonzero of
 * largest |w| stays (the lowest column on ties), the others become zero. Dense row-major; lx_free it. */
static inline float *pt_conflict_pruned(const Tensor *t) {
  float *d = pt_dense(t), *e = lx_calloc((size_t)(t->rows * t->cols), sizeof *e);
  for (int64_t r = 0; r < t->rows; r++)
    for (int64_t g = 0; g < t->ngroups; g++) {
      int32_t best = -1;
      for (int32_t k = t->group_off[g]; k < t->group_off[g + 1]; k++) {
        int32_t c = t->group_cols[k];
        if (d[r * t->cols + c] != 0.0f && (best < 0 || fabsf(d[r * t->cols + c]) > fabsf(d[r * t->cols + best]))) best = c;
      }
      if (best >= 0) e[r * t->cols + best] = d[r * t->cols + best];
    }
  lx_free(d);
  return e;
}

/* 1 when two tensors hold the same format, bytes, scales, masks and groups. */
static inline int pt_same_tensor(const Tensor *a, const Tensor *b) {
  if (a->layout != b->layout || a->enc != b->enc || a->rows != b->rows || a->cols != b->cols || a->stride != b->stride)
    return 0;
  if (memcmp(a->codes, b->codes, (size_t)a->rows * a->stride)) return 0;
  if (!a->scale != !b->scale || (a->scale && memcmp(a->scale, b->scale, (size_t)a->rows * sizeof(float)))) return 0;
  if (!a->mask != !b->mask || (a->mask && memcmp(a->mask, b->mask, (size_t)a->rows * a->mask_stride))) return 0;
  if (tensor_has_groups(a) != tensor_has_groups(b)) return 0;
  if (tensor_has_groups(a) &&
      (a->ngroups != b->ngroups || a->alpha != b->alpha || a->gamma != b->gamma || a->block != b->block ||
       memcmp(a->group_off, b->group_off, ((size_t)a->ngroups + 1) * sizeof(int32_t)) ||
       memcmp(a->group_cols, b->group_cols, (size_t)a->group_off[a->ngroups] * sizeof(int32_t))))
    return 0;
  if (a->layout == LX_LAYOUT_PACKED && memcmp(a->sel, b->sel, (size_t)(a->rows * a->ngroups))) return 0;
  return 1;
}

#endif
