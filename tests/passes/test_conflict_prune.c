/* conflict-prune alone: after column-combine on random matrices of many shapes and densities, the packed
 * matrix keeps per row and group exactly the nonzero of largest |w| (the lowest column on ties; worked out
 * here from the grouped matrix, independently of the pass), so it decodes to that conflict-pruned matrix
 * bit for bit and its reference matvec equals the dense matvec of it to 1e-6; at most one weight per row
 * and group by construction of the format; the weights dropped are the groups' conflicts. Quantized
 * grouped input packs with its codes and scales kept. Errors: nothing to pack, an ungrouped weight named
 * by only=. */
#include "passtest.h"

/* Packs a grouped tensor and checks it against the rule; returns the dropped count. */
static int64_t check_pack(const Tensor *grouped, Rng *rng, const char *what) {
  Tensor *p;
  int64_t dropped = -1;
  if (!CHECK(cc_pack_tensor(grouped, &p, &dropped) == 0)) return -1;
  CHECK(tensor_check(p) == 0);
  CHECK(p->layout == LX_LAYOUT_PACKED && p->enc == grouped->enc && p->ngroups == grouped->ngroups);
  float *e = pt_conflict_pruned(grouped), *got = pt_dense(p);
  int64_t n = grouped->rows * grouped->cols;
  int same = !memcmp(e, got, (size_t)n * sizeof *e);
  if (!CHECK(same)) fprintf(stderr, "    %s: packed matrix is not the conflict-pruned one\n", what);
  /* dropped = nonzeros before − nonzeros after = the grouping's conflicts */
  int64_t before = 0, after = 0;
  for (int64_t i = 0; i < n; i++) after += e[i] != 0.0f;
  before = tensor_nnz(grouped);
  CHECK_INT_EQ(dropped, before - after);
  CHECK_INT_EQ(dropped, tensor_conflicts(grouped));
  /* packed matvec = dense matvec of the pruned matrix */
  float *x = lx_malloc((size_t)grouped->cols * sizeof *x);
  double *y1 = lx_calloc((size_t)grouped->rows, sizeof *y1), *y2 = lx_calloc((size_t)grouped->rows, sizeof *y2);
  for (int64_t c = 0; c < grouped->cols; c++) x[c] = (float)(rng_uniform(rng) * 2 - 1);
  tensor_matvec_ref(p, x, y1);
  double md = 0;
  for (int64_t r = 0; r < grouped->rows; r++) {
    for (int64_t c = 0; c < grouped->cols; c++) y2[r] += (double)e[r * grouped->cols + c] * x[c];
    md = fmax(md, fabs(y1[r] - y2[r]));
  }
  if (!CHECK(md <= 1e-6)) fprintf(stderr, "    %s: matvec differs by %g\n", what, md);
  lx_free(x);
  lx_free(y1);
  lx_free(y2);
  lx_free(e);
  lx_free(got);
  tensor_free(p);
  return dropped;
}

static void test_properties(void) {
  static const int64_t shapes[][2] = {{1, 1}, {2, 9}, {17, 33}, {64, 64}, {65, 130}, {200, 300}, {300, 70}};
  static const double densities[] = {0, 0.05, 0.2, 0.5, 1.0};
  Rng rng;
  rng_seed(&rng, 21);
  for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
    for (size_t d = 0; d < sizeof densities / sizeof *densities; d++)
      for (int alpha = 1; alpha <= 16; alpha *= 4) {
        Tensor *t = pt_random("w", shapes[s][0], shapes[s][1], densities[d], &rng);
        uint64_t *bits;
        int64_t W;
        CcGroups g;
        CHECK(cc_column_bits(cc_kernels_best(), t, &bits, &W) == 0 && cc_group_columns(cc_kernels_best(), bits, t->rows, t->cols, alpha, 0.5, 32, &g) == 0);
        cc_groups_attach(t, &g, alpha, 0.5, 32);
        char what[96];
        snprintf(what, sizeof what, "%lldx%lld density %g alpha %d", (long long)shapes[s][0], (long long)shapes[s][1],
                 densities[d], alpha);
        int64_t dropped = check_pack(t, &rng, what);
        if (alpha == 1) CHECK_INT_EQ(dropped, 0);
        lx_free(bits);
        tensor_free(t);
      }
}

/* Equal magnitudes: the lowest column of the group wins; masked weights never do. */
static void test_ties_and_masks(void) {
  Tensor *t = tensor_new("w", 2, 3, 4, LX_LAYOUT_MASKED, LX_ENC_F32, 0, 0);
  static const float v[3][4] = {{0.5f, -0.5f, 0.5f, 0.25f}, {0, -0.75f, 0.75f, 0.75f}, {0.9f, 0.1f, 0, 0}};
  for (int r = 0; r < 3; r++)
    for (int c = 0; c < 4; c++) {
      tensor_f32(t)[r * 4 + c] = v[r][c];
      t->mask[r] |= (uint8_t)(1u << c);
    }
  t->mask[2] &= (uint8_t)~1u; /* row 2: the 0.9 is masked out, so 0.1 wins */
  CHECK(tensor_alloc_groups(t, 1, 4) == 0);
  for (int c = 0; c < 4; c++) t->group_cols[c] = c;
  Tensor *p;
  int64_t dropped;
  if (CHECK(cc_pack_tensor(t, &p, &dropped) == 0)) {
    CHECK_INT_EQ(p->sel[0], 0);
    CHECK_INT_EQ(p->sel[1], 1);
    CHECK_INT_EQ(p->sel[2], 1);
    CHECK(tensor_get(p, 1, 1) == -0.75f && tensor_get(p, 2, 1) == 0.1f && tensor_get(p, 2, 0) == 0.0f);
    CHECK_INT_EQ(dropped, 3 + 2 + 0);
    tensor_free(p);
  }
  tensor_free(t);
}

static void test_pass(void) {
  Rng rng;
  rng_seed(&rng, 8);
  Graph *g = pt_graph(pt_tied, 4);
  if (!g) return;
  char *diag = NULL;
  CHECK_INT_EQ(pt_run(g, "prune{sparsity=0.5},conflict-prune", &diag), LSTMC_ERR_UNSUPPORTED);
  CHECK_STR_EQ(diag, "--passes:1:21: error: pass 2 (conflict-prune): no weight has column groups to pack "
                     "(run column-combine before conflict-prune)\n"
                     "prune{sparsity=0.5},conflict-prune\n                    ^~~~~~~~~~~~~~\n");
  lx_free(diag);
  /* the failed pipeline left what prune made */
  CHECK(pt_slot(g, "rnns.0.weight_hh_l0")->layout == LX_LAYOUT_MASKED);
  CHECK_INT_EQ(pt_run(g, "conflict-prune{only=encoder.weight}", &diag), LSTMC_ERR_UNSUPPORTED);
  CHECK_CONTAINS(diag, "pass 1 (conflict-prune): tensor 'encoder.weight' is masked; conflict-prune takes weights "
                       "with column groups not packed yet (run column-combine first)");
  lx_free(diag);
  /* quantized grouped weights pack with their codes and scales */
  if (pt_ok(g, "column-combine{alpha=4},quantize{bits=4,only=rnns.0.*}")) {
    Graph *before = graph_clone(g);
    if (pt_ok(g, "conflict-prune")) {
      for (int i = 0; i < g->nslots; i++) {
        const Tensor *a = before->slots[i].t, *b = g->slots[i].t;
        if (!tensor_has_groups(a)) {
          CHECK(pt_same_tensor(a, b));
          continue;
        }
        CHECK(b->layout == LX_LAYOUT_PACKED && b->enc == a->enc);
        if (a->scale) CHECK(!memcmp(a->scale, b->scale, (size_t)a->rows * sizeof(float)));
        check_pack(a, &rng, a->name);
      }
      CHECK_STR_EQ(format_name(pt_slot(g, "rnns.0.weight_ih_l0")->layout, pt_slot(g, "rnns.0.weight_ih_l0")->enc), "cc_q4");
      CHECK_STR_EQ(format_name(pt_slot(g, "rnns.1.weight_hh_l0")->layout, pt_slot(g, "rnns.1.weight_hh_l0")->enc), "cc_packed");
      /* the tied embedding is never combined by default */
      CHECK(!tensor_has_groups(pt_slot(g, "encoder.weight")));
    }
    graph_free(before);
  }
  graph_free(g);
}

int main(int argc, char **argv) {
  (void)argc;
  (void)argv;
  test_properties();
  test_ties_and_masks();
  test_pass();
  return tu_summary("passes_conflict_prune");
}
