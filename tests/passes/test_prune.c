/* prune alone: exactly round(s·n) weights of each matrix (scope=matrix) or row (scope=row) are pruned, for
 * many shapes and sparsities; they are the smallest |w|, ties broken by the lower index; the result is
 * masked f32 whose cleared mask bits are exactly the pruned weights and whose other values are unchanged
 * bit for bit; pruning again continues to a higher sparsity; biases are never pruned; only=/skip= select by
 * glob patterns (and only= that matches nothing is an error); a tied decoder is pruned once; bf16 input
 * works; packed or quantized input is an error naming the tensor. */
#include "passtest.h"

static int64_t cleared_bits(const Tensor *t, int64_t r0, int64_t r1) {
  int64_t n = 0;
  for (int64_t r = r0; r < r1; r++)
    for (int64_t c = 0; c < t->cols; c++) n += !lx_mask_get(t->mask + (size_t)r * t->mask_stride, (unsigned long)c);
  return n;
}

/* Checks one pruned matrix against the dense one it came from (which had no zeros). */
static void check_pruned(const Tensor *orig, const Tensor *p, double s, int per_row) {
  if (!CHECK(p->layout == LX_LAYOUT_MASKED && p->enc == LX_ENC_F32)) return;
  int64_t rows = p->rows, cols = p->cols, unit = per_row ? cols : rows * cols;
  int64_t k = (int64_t)floor(s * (double)unit + 0.5);
  const float *a = tensor_f32(orig), *b = tensor_f32(p);
  for (int64_t u0 = 0; u0 < rows * cols; u0 += unit) {
    int64_t r0 = u0 / cols, r1 = (u0 + unit) / cols;
    CHECK_INT_EQ(cleared_bits(p, r0, r1), k);
    /* every pruned |w| ≤ every kept |w|, with equal magnitudes pruned in index order */
    float max_pruned = -1, min_kept = INFINITY;
    int64_t last_pruned_at_max = -1, first_kept_at_min = -1;
    int ok = 1;
    for (int64_t i = u0; i < u0 + unit; i++) {
      int kept = lx_mask_get(p->mask + (size_t)(i / cols) * p->mask_stride, (unsigned long)(i % cols));
      float m = fabsf(a[i]);
      if (kept) {
        ok &= b[i] == a[i];
        if (m < min_kept) min_kept = m, first_kept_at_min = i;
      } else {
        ok &= b[i] == 0.0f && !signbit(b[i]);
        if (m >= max_pruned) max_pruned = m, last_pruned_at_max = i;
      }
    }
    CHECK(ok);
    CHECK(max_pruned <= min_kept);
    if (max_pruned == min_kept) CHECK(last_pruned_at_max < first_kept_at_min);
  }
}

static void test_exact_fraction(void) {
  static const int64_t shapes[][2] = {{1, 1}, {1, 7}, {3, 3}, {16, 10}, {33, 65}, {100, 37}, {256, 200}};
  static const double sparsities[] = {0, 0.1, 0.5, 0.8, 0.9, 0.95, 1.0, 1.0 / 3};
  for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
    for (size_t k = 0; k < sizeof sparsities / sizeof *sparsities; k++)
      for (int per_row = 0; per_row < 2; per_row++) {
        /* a graph whose decoder.weight is the matrix under test: shape [256, H] (untied, V = 256) */
        char spec[160];
        snprintf(spec, sizeof spec, "model p { vocab bytes; embed 4; lstm %lld; decoder untied; }", (long long)shapes[s][1]);
        Graph *g = pt_graph(spec, 1);
        if (!g) return;
        Tensor *orig = tensor_clone(pt_slot(g, "decoder.weight"));
        /* a few equal magnitudes, to exercise the tie break */
        for (int64_t i = 0; i < orig->rows * orig->cols; i += 7) tensor_f32(orig)[i] = i % 2 ? 0.05f : -0.05f;
        graph_set_tensor(g, graph_find_slot(g, "decoder.weight"), tensor_clone(orig));
        char pipe[128];
        snprintf(pipe, sizeof pipe, "prune{sparsity=%.17g,scope=%s,only=decoder.weight}", sparsities[k], per_row ? "row" : "matrix");
        if (pt_ok(g, pipe)) check_pruned(orig, pt_slot(g, "decoder.weight"), sparsities[k], per_row);
        tensor_free(orig);
        graph_free(g);
      }
}

static void test_selection_and_formats(void) {
  Graph *g = pt_graph(pt_tied, 9);
  if (!g) return;
  Graph *orig = graph_clone(g);
  if (pt_ok(g, "prune{sparsity=0.5}")) {
    for (int i = 0; i < g->nslots; i++) {
      const Tensor *t = g->slots[i].t;
      if (t->ndim == 1) CHECK(pt_same_tensor(t, orig->slots[i].t)); /* biases never */
      else CHECK_INT_EQ(cleared_bits(t, 0, t->rows), (t->rows * t->cols + 1) / 2);
    }
    /* the tied decoder is the embedding: one slot, pruned once */
    CHECK_INT_EQ(g->nodes[g->nnodes - 2].w[W_DEC], g->nodes[0].w[W_EMBED]);
  }
  /* pruning again continues: 50 % then 80 % leaves 20 % */
  if (pt_ok(g, "prune{sparsity=0.8,skip=encoder.weight}")) {
    const Tensor *t = pt_slot(g, "rnns.0.weight_hh_l0");
    CHECK_INT_EQ(cleared_bits(t, 0, t->rows), (int64_t)floor(0.8 * (double)(t->rows * t->cols) + 0.5));
    t = pt_slot(g, "encoder.weight");
    CHECK_INT_EQ(cleared_bits(t, 0, t->rows), t->rows * t->cols / 2);
  }
  /* only= with several patterns */
  graph_free(g);
  g = graph_clone(orig);
  if (pt_ok(g, "prune{sparsity=0.25,only=rnns.?.weight_ih_l0|encoder.*}")) {
    CHECK(pt_slot(g, "rnns.0.weight_ih_l0")->layout == LX_LAYOUT_MASKED);
    CHECK(pt_slot(g, "rnns.1.weight_ih_l0")->layout == LX_LAYOUT_MASKED);
    CHECK(pt_slot(g, "encoder.weight")->layout == LX_LAYOUT_MASKED);
    CHECK(pt_slot(g, "rnns.0.weight_hh_l0")->layout == LX_LAYOUT_DENSE);
  }
  char *diag = NULL;
  CHECK_INT_EQ(pt_run(g, "prune{only=rnns.7.*}", &diag), LSTMC_ERR_USAGE);
  CHECK_STR_EQ(diag, "--passes:1:1: error: pass 1 (prune): only=rnns.7.* matches no weight matrix (there are: "
                     "encoder.weight, rnns.0.weight_ih_l0, rnns.0.weight_hh_l0, rnns.1.weight_ih_l0, rnns.1.weight_hh_l0)\n"
                     "prune{only=rnns.7.*}\n^~~~~\n");
  lx_free(diag);
  /* bf16 weights prune to masked f32 with the same values */
  int hh = graph_find_slot(g, "rnns.1.weight_hh_l0");
  const Tensor *f = g->slots[hh].t;
  Tensor *b = tensor_new(f->name, 2, f->rows, f->cols, LX_LAYOUT_DENSE, LX_ENC_BF16, 0, 0);
  for (int64_t r = 0; r < f->rows; r++)
    for (int64_t c = 0; c < f->cols; c++) tensor_set_level(b, r, c, tensor_get(f, r, c));
  Tensor *bcopy = tensor_clone(b);
  graph_set_tensor(g, hh, b);
  if (pt_ok(g, "prune{sparsity=0.5,only=rnns.1.weight_hh_l0}")) {
    const Tensor *p = g->slots[hh].t;
    int ok = p->layout == LX_LAYOUT_MASKED && p->enc == LX_ENC_F32;
    for (int64_t r = 0; r < p->rows && ok; r++)
      for (int64_t c = 0; c < p->cols; c++) {
        int kept = lx_mask_get(p->mask + (size_t)r * p->mask_stride, (unsigned long)c);
        ok &= tensor_get(p, r, c) == (kept ? tensor_get(bcopy, r, c) : 0.0f);
      }
    CHECK(ok);
  }
  tensor_free(bcopy);
  /* quantized or packed weights cannot be pruned; nothing changes */
  Graph *snap = graph_clone(g);
  CHECK_INT_EQ(pt_run(g, "quantize{bits=8,only=rnns.0.weight_hh_l0},prune", &diag), LSTMC_ERR_UNSUPPORTED);
  CHECK_STR_EQ(diag, "--passes:1:43: error: pass 2 (prune): tensor 'rnns.0.weight_hh_l0' is q8; prune takes dense or "
                     "masked f32/bf16 weights (prune before conflict-prune and quantize)\n"
                     "quantize{bits=8,only=rnns.0.weight_hh_l0},prune\n"
                     "                                          ^~~~~\n");
  lx_free(diag);
  for (int i = 0; i < g->nslots; i++)
    if (strcmp(g->slots[i].name, "rnns.0.weight_hh_l0")) CHECK(pt_same_tensor(g->slots[i].t, snap->slots[i].t));
  graph_free(snap);
  graph_free(orig);
  graph_free(g);
}

static void test_globs(void) {
  CHECK(pass_glob_match("rnns.*.weight_hh_l0", "rnns.12.weight_hh_l0"));
  CHECK(!pass_glob_match("rnns.*.weight_hh_l0", "rnns.1.weight_ih_l0"));
  CHECK(pass_glob_match("a|b|encoder.weight", "encoder.weight"));
  CHECK(pass_glob_match("*", "decoder.weight"));
  CHECK(pass_glob_match("rnns.?.w*", "rnns.3.weight_ih_l0"));
  CHECK(!pass_glob_match("rnns.?.w*", "rnns.10.weight_ih_l0"));
  CHECK(pass_glob_match("**a*b**", "xxaybz"));
  CHECK(!pass_glob_match("**a*b**", "xxbya"));
  CHECK(!pass_glob_match("encoder", "encoder.weight"));
  CHECK(!pass_glob_match("", "x"));
}

int main(int argc, char **argv) {
  (void)argc;
  (void)argv;
  test_exact_fraction();
  test_selection_and_formats();
  test_globs();
  return tu_summary("passes_prune");
}
