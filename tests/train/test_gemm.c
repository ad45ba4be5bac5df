/* The training GEMM against a naive double-precision product: every transpose combination, beta 0, 1 and
 * 0.5, shapes around the register tile (6 rows × 2 vectors) and the K block (256), the packed-B path, and
 * bit-identical results on 1, 2 and 3 threads. */
#include <math.h>
#include <string.h>

#include "support/alloc.h"
#include "support/rng.h"
#include "testutil.h"
#include "train/gemm.h"

static double naive(int ta, int tb, int64_t i, int64_t j, int64_t K, const float *A, int64_t lda, const float *B,
                    int64_t ldb) {
  double s = 0;
  for (int64_t k = 0; k < K; k++) s += (double)(ta ? A[k * lda + i] : A[i * lda + k]) * (tb ? B[j * ldb + k] : B[k * ldb + j]);
  return s;
}

static void fill(float *x, size_t n, Rng *r) {
  for (size_t i = 0; i < n; i++) x[i] = (float)(rng_uniform(r) * 2 - 1);
}

static void check_shapes(Gemm **g, int ng) {
  static const int64_t Ms[] = {1, 2, 5, 6, 7, 13, 40, 101}, Ns[] = {1, 3, 16, 17, 33, 70}, Ks[] = {0, 1, 7, 256, 300, 600};
  Rng r;
  rng_seed(&r, 5);
  int bad = 0, diff_threads = 0;
  for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++)
    for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++)
      for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++)
        for (int t = 0; t < 4; t++) {
          int64_t M = Ms[mi], N = Ns[ni], K = Ks[ki];
          int ta = t & 1, tb = t >> 1;
          int64_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2;
          int64_t arows = ta ? K : M, brows = tb ? N : K;
          float *A = lx_malloc((size_t)(arows * lda + 1) * 4), *B = lx_malloc((size_t)(brows * ldb + 1) * 4);
          float *C0 = lx_malloc((size_t)(M * ldc) * 4), *C = lx_malloc((size_t)(M * ldc) * 4), *C1 = lx_malloc((size_t)(M * ldc) * 4);
          fill(A, (size_t)(arows * lda + 1), &r);
          fill(B, (size_t)(brows * ldb + 1), &r);
          fill(C0, (size_t)(M * ldc), &r);
          float betas[3] = {0, 1, 0.5f};
          for (int bi = 0; bi < 3; bi++) {
            for (int gi = 0; gi < ng; gi++) {
              memcpy(C, C0, (size_t)(M * ldc) * 4);
              gemm_f32(g[gi], ta, tb, M, N, K, A, lda, B, ldb, betas[bi], C, ldc);
              if (gi == 0) memcpy(C1, C, (size_t)(M * ldc) * 4);
              else if (memcmp(C1, C, (size_t)(M * ldc) * 4)) diff_threads++;
            }
            for (int64_t i = 0; i < M; i++)
              for (int64_t j = 0; j < ldc; j++) {
                double want = j < N ? naive(ta, tb, i, j, K, A, lda, B, ldb) + betas[bi] * C0[i * ldc + j] : C0[i * ldc + j];
                if (fabs(C1[i * ldc + j] - want) > 1e-4 * (1 + sqrt((double)K))) {
                  if (bad++ < 5)
                    fprintf(stderr, "    M=%lld N=%lld K=%lld ta=%d tb=%d beta=%g: C[%lld,%lld] = %g, want %g\n", (long long)M,
                            (long long)N, (long long)K, ta, tb, betas[bi], (long long)i, (long long)j, C1[i * ldc + j], want);
                }
              }
          }
          lx_free(A);
          lx_free(B);
          lx_free(C0);
          lx_free(C);
          lx_free(C1);
        }
  CHECK_INT_EQ(bad, 0);
  CHECK_INT_EQ(diff_threads, 0);
}

typedef struct PackedCtx {
  Gemm *g;
  PackedB *pb;
  int64_t M, N;
  const float *A;
  float *C;
} PackedCtx;

static void packed_job(void *ctx, int tid, int nt) {
  PackedCtx *c = ctx;
  int64_t lo, hi;
  pool_split(c->N, gemm_panel_cols_f32(), tid, nt, &lo, &hi);
  gemm_packed_range_f32(c->g, tid, c->M, c->A, c->pb->K, c->pb, lo, hi, 1.0f, c->C, c->N);
}

static void check_packed(Gemm *g) {
  Rng r;
  rng_seed(&r, 9);
  int64_t M = 11, K = 300, N = 50;
  float *W = lx_malloc((size_t)(N * K) * 4), *A = lx_malloc((size_t)(M * K) * 4), *C = lx_calloc((size_t)(M * N), 4);
  fill(W, (size_t)(N * K), &r);
  fill(A, (size_t)(M * K), &r);
  PackedB pb = {0};
  CHECK(gemm_pack_b_f32(g, &pb, 1, K, N, W, K) == 0); /* op(B) = W^T, as the LSTM's recurrent product */
  PackedCtx c = {g, &pb, M, N, A, C};
  pool_run(gemm_pool(g), packed_job, &c);
  double md = 0;
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) md = fmax(md, fabs(C[i * N + j] - naive(0, 1, i, j, K, A, K, W, K)));
  CHECK(md < 1e-4);
  gemm_packed_free(&pb);
  lx_free(W);
  lx_free(A);
  lx_free(C);
}

int main(void) {
  Pool *p[3] = {0};
  Gemm *g[3] = {0};
  for (int i = 0; i < 3; i++) {
    CHECK(pool_create(i + 1, &p[i]) == 0);
    CHECK(gemm_create(p[i], &g[i]) == 0);
  }
  printf("kernel: %s\n", gemm_kernel_name());
  check_shapes(g, 3);
  check_packed(g[2]);
  for (int i = 0; i < 3; i++) {
    gemm_free(g[i]);
    pool_free(p[i]);
  }
  return tu_summary("train_gemm");
}
