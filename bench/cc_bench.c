/* cc_bench — column combining + conflict pruning over all matrices of PTB-char-shaped weights (W_ih and
 * W_hh of AWD-LSTM's 3 layers: 4000×200, 4000×1000, 4000×1000, 4000×1000, 800×1000, 800×200), random
 * uniform values with the 80 % of smallest magnitude zeroed (masked f32, as prune makes them), alpha 8,
 * gamma 0.5, block 256, one thread. Times, per run, everything the two passes do per matrix: the column
 * bitsets, the grouping, and the packed tensor; prints one JSON object with the median of the runs, and in
 * the same run the naive O(cols²·rows) pairwise-scan grouping (once; it must give the same groups) and the
 * ratio of the two.
 *
 *   cc_bench [--runs N] [--no-naive] [--density D]   (defaults: 7 runs, naive on, density 0.2) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lstmc.h"
#include "passes/passes.h"
#include "support/alloc.h"
#include "support/rng.h"

enum { NMAT = 6 };
static const int64_t shapes[NMAT][2] = {{4000, 200}, {4000, 1000}, {4000, 1000}, {4000, 1000}, {800, 1000}, {800, 200}};

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* A masked f32 matrix of uniform(-1, 1) values, those with |w| below the `1 - density` quantile zeroed. */
static Tensor *random_pruned(int64_t rows, int64_t cols, double density, Rng *rng) {
  Tensor *t = tensor_new("w", 2, rows, cols, LX_LAYOUT_MASKED, LX_ENC_F32, 0, 0);
  if (!t) return NULL;
  float *w = tensor_f32(t);
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < cols; c++) {
      float v = (float)(rng_uniform(rng) * 2 - 1);
      /* |v| is uniform on [0, 1): its (1 - density) quantile is 1 - density */
      int keep = v > (float)(1 - density) || v < -(float)(1 - density);
      w[r * cols + c] = keep ? v : 0.0f;
      if (keep) t->mask[(size_t)r * t->mask_stride + (size_t)c / 8] |= (uint8_t)(1u << (c % 8));
    }
  return t;
}

/* A benchmark has nothing to fall back to: running out of memory ends it with a message. */
static void *need(void *p) {
  if (!p) {
    fprintf(stderr, "cc_bench: out of memory\n");
    exit(1);
  }
  return p;
}

static int failed(void) {
  fprintf(stderr, "cc_bench: %s\n", lstmc_errmsg());
  return 1;
}

static int same_groups(const CcGroups *a, const CcGroups *b) {
  return a->ngroups == b->ngroups && a->conflicts == b->conflicts &&
         !memcmp(a->off, b->off, ((size_t)a->ngroups + 1) * sizeof(int32_t)) &&
         !memcmp(a->cols, b->cols, (size_t)a->off[a->ngroups] * sizeof(int32_t));
}

int main(int argc, char **argv) {
  int runs = 7, naive = 1;
  double density = 0.2;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--no-naive")) naive = 0;
    else if (!strcmp(argv[i], "--density") && i + 1 < argc) density = atof(argv[++i]);
    else {
      fprintf(stderr, "usage: cc_bench [--runs N] [--no-naive] [--density D]\n");
      return 2;
    }
  }
  if (runs < 1 || runs > 1000 || !(density > 0 && density <= 1)) {
    fprintf(stderr, "cc_bench: --runs in [1, 1000], --density in (0, 1]\n");
    return 2;
  }
  const int alpha = 8, block = 256;
  const double gamma = 0.5;
  Rng rng;
  rng_seed(&rng, 2019);
  Tensor *m[NMAT];
  int64_t weights = 0, nonzero = 0;
  for (int i = 0; i < NMAT; i++) {
    m[i] = need(random_pruned(shapes[i][0], shapes[i][1], density, &rng));
    weights += shapes[i][0] * shapes[i][1];
    nonzero += tensor_nnz(m[i]);
  }
  double *total = need(lx_calloc((size_t)runs, sizeof *total)), *t_bits = need(lx_calloc((size_t)runs, sizeof *t_bits)),
         *t_group = need(lx_calloc((size_t)runs, sizeof *t_group)), *t_pack = need(lx_calloc((size_t)runs, sizeof *t_pack));
  int64_t groups = 0, conflicts = 0, pruned_total = 0;
  CcGroups kept[NMAT];
  memset(kept, 0, sizeof kept);
  for (int run = 0; run < runs; run++) {
    groups = conflicts = pruned_total = 0;
    for (int i = 0; i < NMAT; i++) {
      Tensor *t = m[i];
      uint64_t *bits;
      int64_t words, pruned;
      CcGroups g;
      Tensor *packed;
      double t0 = now();
      if (cc_column_bits(cc_kernels_best(), t, &bits, &words)) return failed();
      double t1 = now();
      if (cc_group_columns(cc_kernels_best(), bits, t->rows, t->cols, alpha, gamma, block, &g)) return failed();
      double t2 = now();
      lx_free(bits);
      groups += g.ngroups;
      conflicts += g.conflicts;
      if (run == 0) {
        /* keep a copy of the groups for the naive comparison */
        kept[i].ngroups = g.ngroups;
        kept[i].conflicts = g.conflicts;
        kept[i].off = need(lx_malloc(((size_t)g.ngroups + 1) * sizeof(int32_t)));
        kept[i].cols = need(lx_malloc(((size_t)g.off[g.ngroups] + 1) * sizeof(int32_t)));
        memcpy(kept[i].off, g.off, ((size_t)g.ngroups + 1) * sizeof(int32_t));
        memcpy(kept[i].cols, g.cols, (size_t)g.off[g.ngroups] * sizeof(int32_t));
      }
      cc_groups_attach(t, &g, alpha, gamma, block);
      double t3 = now();
      if (cc_pack_tensor(t, &packed, &pruned)) return failed();
      double t4 = now();
      pruned_total += pruned;
      tensor_free(packed);
      t_bits[run] += t1 - t0;
      t_group[run] += t2 - t1;
      t_pack[run] += t4 - t3;
      total[run] += (t1 - t0) + (t2 - t1) + (t4 - t3);
    }
  }
  qsort(total, (size_t)runs, sizeof *total, cmp_double);
  qsort(t_bits, (size_t)runs, sizeof *t_bits, cmp_double);
  qsort(t_group, (size_t)runs, sizeof *t_group, cmp_double);
  qsort(t_pack, (size_t)runs, sizeof *t_pack, cmp_double);
  double median = total[runs / 2];
  double naive_s = 0;
  int same = 1;
  if (naive) {
    for (int i = 0; i < NMAT; i++) {
      const Tensor *t = m[i];
      uint8_t *nz = need(lx_malloc((size_t)(t->rows * t->cols)));
      const float *w = tensor_f32(t);
      for (int64_t k = 0; k < t->rows * t->cols; k++) nz[k] = w[k] != 0.0f;
      CcGroups g;
      double t0 = now();
      if (cc_group_columns_naive(nz, t->rows, t->cols, alpha, gamma, block, &g)) return failed();
      naive_s += now() - t0;
      same &= same_groups(&g, &kept[i]);
      cc_groups_free(&g);
      lx_free(nz);
    }
  }
  printf("{\"benchmark\": \"cc_bench\", \"what\": \"column-combine + conflict-prune, PTB-char W_ih/W_hh\", "
         "\"shapes\": [");
  for (int i = 0; i < NMAT; i++) printf("%s[%lld, %lld]", i ? ", " : "", (long long)shapes[i][0], (long long)shapes[i][1]);
  printf("], \"weights\": %lld, \"nonzero\": %lld, \"density\": %.4f, \"alpha\": %d, \"gamma\": %g, \"block\": %d, "
         "\"threads\": 1, \"popcount\": \"%s\", \"runs\": %d, \"median_ms\": %.3f, \"min_ms\": %.3f, \"max_ms\": %.3f, "
         "\"median_bits_ms\": %.3f, \"median_group_ms\": %.3f, \"median_pack_ms\": %.3f, \"groups\": %lld, "
         "\"conflicts_pruned\": %lld, \"target_ms\": 50, \"meets_target\": %s",
         (long long)weights, (long long)nonzero, (double)nonzero / (double)weights, alpha, gamma, block,
         cc_kernels_best()->name, runs, median * 1e3, total[0] * 1e3, total[runs - 1] * 1e3, t_bits[runs / 2] * 1e3,
         t_group[runs / 2] * 1e3, t_pack[runs / 2] * 1e3, (long long)groups, (long long)pruned_total,
         median * 1e3 <= 50 ? "true" : "false");
  if (naive)
    printf(", \"naive_grouping_ms\": %.3f, \"naive_over_bitset_grouping\": %.1f, \"same_groups\": %s", naive_s * 1e3,
           naive_s / t_group[runs / 2], same ? "true" : "false");
  printf("}\n");
  for (int i = 0; i < NMAT; i++) {
    tensor_free(m[i]);
    lx_free(kept[i].off);
    lx_free(kept[i].cols);
  }
  lx_free(total);
  lx_free(t_bits);
  lx_free(t_group);
  lx_free(t_pack);
  return same ? 0 : 1;
}
