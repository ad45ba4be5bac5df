/* column-combine alone: on random matrices of many shapes, densities and parameters, every nonzero column is
 * in exactly one group and no all-zero column is; no group has more than alpha columns or crosses a block;
 * each group's conflicts are at most ⌊gamma·rows⌋ (counted here from the matrix); the grouping equals the
 * naive pairwise-scan oracle and is deterministic; the column bitsets equal the matrix's pattern — with
 * every popcount and bit kernel the CPU has (generic, popcnt, AVX-512). On
 * graphs: the default set (W_ih, W_hh, an untied decoder; not the embedding), only=/skip=, values left
 * bit for bit, a hand-checked grouping, and the error for packed input. */
#include "passtest.h"

/* Checks one grouping of the dense pattern nz[rows * cols] against the rules. */
static void check_groups(const uint8_t *nz, int64_t rows, int64_t cols, int alpha, double gamma, int block,
                         const CcGroups *g, const char *what) {
  int64_t limit = cc_conflict_limit(gamma, rows), total_conflicts = 0;
  int *owner = lx_malloc((size_t)cols * sizeof *owner);
  for (int64_t c = 0; c < cols; c++) owner[c] = -1;
  int ok = CHECK_INT_EQ(g->off[0], 0);
  for (int64_t k = 0; k < g->ngroups && ok; k++) {
    int32_t a = g->off[k], b = g->off[k + 1];
    ok &= CHECK(b > a && b - a <= alpha);
    for (int32_t i = a; i < b && ok; i++) {
      int32_t c = g->cols[i];
      ok &= CHECK(c >= 0 && c < cols) && CHECK(owner[c] < 0);
      if (!ok) break;
      owner[c] = (int)k;
      ok &= CHECK(c / block == g->cols[a] / block);
      if (i > a) ok &= CHECK(g->cols[i - 1] < c);
    }
    int64_t conflicts = 0;
    for (int64_t r = 0; r < rows && ok; r++) {
      int n = 0;
      for (int32_t i = a; i < b; i++) n += nz[r * cols + g->cols[i]];
      if (n > 1) conflicts += n - 1;
    }
    ok &= CHECK(conflicts <= limit);
    total_conflicts += conflicts;
  }
  for (int64_t c = 0; c < cols && ok; c++) {
    int any = 0;
    for (int64_t r = 0; r < rows; r++) any |= nz[r * cols + c];
    ok &= CHECK(any == (owner[c] >= 0));
  }
  if (ok) ok &= CHECK_INT_EQ(total_conflicts, g->conflicts);
  if (!ok) fprintf(stderr, "    in %s\n", what);
  lx_free(owner);
}

static void test_properties(const CcKernels *k) {
  static const int64_t shapes[][2] = {{1, 1}, {1, 70}, {3, 5}, {17, 33}, {64, 64}, {65, 130}, {100, 257}, {200, 300},
                                      {129, 520}, {400, 64}};
  static const double densities[] = {0, 0.02, 0.1, 0.3, 0.6, 1.0};
  static const struct { int alpha; double gamma; int block; } params[] = {
      {1, 0.5, 256}, {8, 0.5, 256}, {4, 0, 256}, {16, 1.5, 64}, {3, 0.29, 7}, {64, 0.1, 1000}, {8, 0.5, 1}};
  Rng rng;
  rng_seed(&rng, 11);
  int cases = 0;
  for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
    for (size_t d = 0; d < sizeof densities / sizeof *densities; d++) {
      int64_t rows = shapes[s][0], cols = shapes[s][1];
      Tensor *t = pt_random("w", rows, cols, densities[d], &rng);
      uint8_t *nz = lx_malloc((size_t)(rows * cols));
      for (int64_t i = 0; i < rows * cols; i++) nz[i] = tensor_f32(t)[i] != 0.0f;
      uint64_t *bits;
      int64_t W;
      if (!CHECK(cc_column_bits(k, t, &bits, &W) == 0)) return;
      /* the bitsets are the pattern, column by column */
      int same = W == (rows + 63) / 64;
      for (int64_t c = 0; c < cols && same; c++)
        for (int64_t r = 0; r < rows; r++) same &= ((bits[c * W + r / 64] >> (r % 64)) & 1) == nz[r * cols + c];
      for (int64_t c = 0; c < cols && same; c++)
        for (int64_t r = rows; r < W * 64; r++) same &= !((bits[c * W + r / 64] >> (r % 64)) & 1);
      CHECK(same);
      for (size_t p = 0; p < sizeof params / sizeof *params; p++) {
        CcGroups g1, g2, g3;
        char what[128];
        snprintf(what, sizeof what, "%lldx%lld density %g alpha %d gamma %g block %d", (long long)rows, (long long)cols,
                 densities[d], params[p].alpha, params[p].gamma, params[p].block);
        CHECK(cc_group_columns(k, bits, rows, cols, params[p].alpha, params[p].gamma, params[p].block, &g1) == 0);
        CHECK(cc_group_columns(k, bits, rows, cols, params[p].alpha, params[p].gamma, params[p].block, &g3) == 0);
        CHECK(cc_group_columns_naive(nz, rows, cols, params[p].alpha, params[p].gamma, params[p].block, &g2) == 0);
        check_groups(nz, rows, cols, params[p].alpha, params[p].gamma, params[p].block, &g1, what);
        int eq = g1.ngroups == g2.ngroups && g1.conflicts == g2.conflicts &&
                 !memcmp(g1.off, g2.off, ((size_t)g1.ngroups + 1) * 4) && !memcmp(g1.cols, g2.cols, (size_t)g1.off[g1.ngroups] * 4);
        if (!CHECK(eq)) fprintf(stderr, "    bitset and naive groupings differ: %s\n", what);
        CHECK(g3.ngroups == g1.ngroups && !memcmp(g3.cols, g1.cols, (size_t)g1.off[g1.ngroups] * 4));
        /* alpha = 1: one group per nonzero column, nothing combined */
        if (params[p].alpha == 1) CHECK_INT_EQ(g1.conflicts, 0);
        cc_groups_free(&g1);
        cc_groups_free(&g2);
        cc_groups_free(&g3);
        cases++;
      }
      lx_free(bits);
      lx_free(nz);
      tensor_free(t);
    }
  CHECK_INT_EQ(cases, 10 * 6 * 7);
}

/* A grouping worked out by hand. Columns (rows holding a nonzero): c0 {0,1}, c1 {2,3}, c2 {0,2}, c3 {1,3},
 * c4 {0,1,2,3}. alpha 4, gamma 0.25 (one conflict per group): the group seeded by c0 takes c1 (covers two
 * new rows, no conflict) — c2, c3 and c4 would each add ≥ 2 conflicts; the next group, seeded by c2, takes
 * c3; c4 conflicts with everything and stays alone. */
static void test_by_hand(void) {
  static const uint8_t pattern[4][5] = {{1, 0, 1, 0, 1}, {1, 0, 0, 1, 1}, {0, 1, 1, 0, 1}, {0, 1, 0, 1, 1}};
  uint8_t nz[20];
  Tensor *t = tensor_new_f32("w", 2, 4, 5);
  for (int r = 0; r < 4; r++)
    for (int c = 0; c < 5; c++) {
      nz[r * 5 + c] = pattern[r][c];
      tensor_f32(t)[r * 5 + c] = pattern[r][c] ? (float)(1 + r + c) : 0.0f;
    }
  uint64_t *bits;
  int64_t W;
  CHECK(cc_column_bits(cc_kernels_best(), t, &bits, &W) == 0);
  CcGroups g;
  CHECK(cc_group_columns(cc_kernels_best(), bits, 4, 5, 4, 0.25, 256, &g) == 0);
  static const int32_t off1[] = {0, 2, 4, 5}, cols1[] = {0, 1, 2, 3, 4};
  if (CHECK_INT_EQ(g.ngroups, 3)) CHECK(!memcmp(g.off, off1, sizeof off1) && !memcmp(g.cols, cols1, sizeof cols1));
  CHECK_INT_EQ(g.conflicts, 0);
  cc_groups_free(&g);
  /* gamma 0.5 (two conflicts): c0 takes c1 (gain 2, tied with c4 but lower); the union covers every row,
   * so c2 and c3 gain 0 with 2 conflicts each and c2, the lower, fits; then nothing does. Seeded by c3,
   * c4 covers two new rows with 2 conflicts: {c3, c4}. */
  CHECK(cc_group_columns(cc_kernels_best(), bits, 4, 5, 4, 0.5, 256, &g) == 0);
  static const int32_t off2[] = {0, 3, 5}, cols2[] = {0, 1, 2, 3, 4};
  if (CHECK_INT_EQ(g.ngroups, 2)) CHECK(!memcmp(g.off, off2, sizeof off2) && !memcmp(g.cols, cols2, sizeof cols2));
  CHECK_INT_EQ(g.conflicts, 4);
  cc_groups_free(&g);
  CHECK(cc_group_columns_naive(nz, 4, 5, 4, 0.5, 256, &g) == 0);
  if (CHECK_INT_EQ(g.ngroups, 2)) CHECK(!memcmp(g.cols, cols2, sizeof cols2));
  cc_groups_free(&g);
  /* block 2: groups stay inside {c0, c1}, {c2, c3}, {c4} */
  CHECK(cc_group_columns(cc_kernels_best(), bits, 4, 5, 4, 1.0, 2, &g) == 0);
  static const int32_t off3[] = {0, 2, 4, 5};
  if (CHECK_INT_EQ(g.ngroups, 3)) CHECK(!memcmp(g.off, off3, sizeof off3));
  cc_groups_free(&g);
  lx_free(bits);
  tensor_free(t);
}

static void test_pass(void) {
  Rng rng;
  rng_seed(&rng, 5);
  Graph *g = pt_graph(pt_untied, 3);
  if (!g) return;
  pt_set_random(g, "rnns.0.weight_ih_l0", 0.3, &rng);
  pt_set_random(g, "rnns.0.weight_hh_l0", 0.2, &rng);
  pt_set_random(g, "decoder.weight", 0.25, &rng);
  Graph *before = graph_clone(g);
  if (pt_ok(g, "column-combine{alpha=4,gamma=0.5,block=8}")) {
    for (int i = 0; i < g->nslots; i++) {
      const Tensor *a = before->slots[i].t, *b = g->slots[i].t;
      /* values bit for bit; groups only on the default set */
      CHECK(a->layout == b->layout && a->enc == b->enc && !memcmp(a->codes, b->codes, (size_t)a->rows * a->stride));
      int want = !strcmp(a->name, "rnns.0.weight_ih_l0") || !strcmp(a->name, "rnns.0.weight_hh_l0") ||
                 !strcmp(a->name, "decoder.weight");
      if (!CHECK_INT_EQ(tensor_has_groups(b), want)) fprintf(stderr, "    %s\n", a->name);
      if (want) CHECK(b->alpha == 4 && b->gamma == 0.5 && b->block == 8);
    }
    /* the pass's groups are cc_group_columns' on the same pattern */
    const Tensor *t = pt_slot(g, "rnns.0.weight_hh_l0");
    uint64_t *bits;
    int64_t W;
    CcGroups ref;
    CHECK(cc_column_bits(cc_kernels_best(), t, &bits, &W) == 0 && cc_group_columns(cc_kernels_best(), bits, t->rows, t->cols, 4, 0.5, 8, &ref) == 0);
    CHECK(ref.ngroups == t->ngroups && !memcmp(ref.cols, t->group_cols, (size_t)ref.off[ref.ngroups] * 4));
    CHECK_INT_EQ(tensor_conflicts(t), ref.conflicts);
    cc_groups_free(&ref);
    lx_free(bits);
  }
  graph_free(before);
  /* only= widens the set to the embedding; skip= narrows it */
  CHECK(pt_ok(g, "column-combine{only=encoder.weight|rnns.*,skip=*_hh_l0}"));
  CHECK(tensor_has_groups(pt_slot(g, "encoder.weight")));
  CHECK_INT_EQ(pt_slot(g, "rnns.0.weight_ih_l0")->alpha, 8);
  CHECK_INT_EQ(pt_slot(g, "rnns.0.weight_hh_l0")->alpha, 4); /* skipped: keeps the earlier groups */
  /* a packed matrix cannot be combined again; the error names the tensor, and nothing changed */
  CHECK(pt_ok(g, "conflict-prune{only=rnns.0.weight_hh_l0}"));
  Graph *snap = graph_clone(g);
  char *diag = NULL;
  CHECK_INT_EQ(pt_run(g, "column-combine", &diag), LSTMC_ERR_UNSUPPORTED);
  CHECK_STR_EQ(diag, "--passes:1:1: error: pass 1 (column-combine): tensor 'rnns.0.weight_hh_l0' is cc_packed; "
                     "column-combine takes dense or masked weights (its columns are combined already)\n"
                     "column-combine\n^~~~~~~~~~~~~~\n");
  for (int i = 0; i < g->nslots; i++) CHECK(pt_same_tensor(g->slots[i].t, snap->slots[i].t));
  lx_free(diag);
  graph_free(snap);
  graph_free(g);
}

int main(int argc, char **argv) {
  (void)argc;
  (void)argv;
  /* every kernel this CPU has gives the same groups (the properties compare against the naive oracle) */
  const CcKernels *best = cc_kernels_best();
  static const char *const kernels[] = {"generic", "popcnt"};
  for (int k = 0; k < 2; k++) {
    const CcKernels *named = cc_kernels_named(kernels[k]);
    if (named) {
      CHECK_STR_EQ(named->name, kernels[k]);
      test_properties(named);
    }
  }
  CHECK(cc_kernels_named(best->name) == best);
  CHECK(cc_kernels_best() == best);
  test_properties(best);
  test_by_hand();
  test_pass();
  return tu_summary("passes_column_combine");
}
