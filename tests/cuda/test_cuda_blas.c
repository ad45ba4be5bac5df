/* The cuBLAS stand-in of the host emulator (cublas_host.c) against the definition of each call, in double:
 * cublasSgemm and cublasGemmEx (fp32 and bf16 operands) for every pair of transposes, leading dimensions
 * larger than the rows, alpha and beta (beta 0 with NaN in C, which must not be read), k = 0, m or n = 0;
 * the statuses of invalid arguments (a leading dimension too small, a bad operation, negative sizes, an
 * unsupported type or compute type), and the refusal of TF32 math. With a GPU (and libcublas) the same
 * calls also run through the real cuBLAS and must give the same statuses and the same products (to float
 * rounding): the stand-in is checked against what it stands in for. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/cuda/cuda_exec.h"
#include "cublas_host.h"
#include "support/alloc.h"
#include "support/rng.h"
#include "testutil.h"

typedef struct GemmCase {
  int ta, tb, m, n, k, lda, ldb, ldc;
  float alpha, beta;
  int atype, btype; /* both CUDA_R_32F (Sgemm and GemmEx) or both CUDA_R_16BF (GemmEx) */
} GemmCase;

static uint16_t to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

static float from_bf16(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

/* A matrix of `elems` elements in `type`, random in [-1, 1); also its values as floats. */
static void *make_matrix(int type, size_t elems, Rng *rng, float *vals) {
  size_t es = type == CUDA_R_16BF ? 2 : 4;
  unsigned char *m = lx_malloc(elems * es + 4);
  for (size_t i = 0; i < elems; i++) {
    float v = (float)(2 * rng_uniform(rng) - 1);
    if (type == CUDA_R_16BF) {
      uint16_t h = to_bf16(v);
      memcpy(m + 2 * i, &h, 2);
      vals[i] = from_bf16(h);
    } else {
      memcpy(m + 4 * i, &v, 4);
      vals[i] = v;
    }
  }
  return m;
}

/* The product by its definition, in double: C = alpha·op(A)·op(B) + beta·C (C not read when beta = 0). */
static void reference(const GemmCase *g, const float *A, const float *B, const float *C0, double *C) {
  for (int j = 0; j < g->n; j++)
    for (int i = 0; i < g->m; i++) {
      double s = 0;
      for (int l = 0; l < g->k; l++) {
        double a = g->ta ? A[l + (size_t)i * g->lda] : A[i + (size_t)l * g->lda];
        double b = g->tb ? B[j + (size_t)l * g->ldb] : B[l + (size_t)j * g->ldb];
        s += a * b;
      }
      size_t c = i + (size_t)j * g->ldc;
      C[c] = g->alpha * s + (g->beta == 0 ? 0 : g->beta * (double)C0[c]);
    }
}

/* The GPU, when there is one: the same call through libcublas. */
static CudaDev *gpu;

static int run_call(const CudaBlas *b, cublasHandle_t h, const GemmCase *g, int ex, const void *A, const void *B, float *C) {
  if (!ex)
    return b->cublasSgemm(h, g->ta, g->tb, g->m, g->n, g->k, &g->alpha, A, g->lda, B, g->ldb, &g->beta, C, g->ldc);
  return b->cublasGemmEx(h, g->ta, g->tb, g->m, g->n, g->k, &g->alpha, A, g->atype, g->lda, B, g->btype, g->ldb, &g->beta, C,
                         CUDA_R_32F, g->ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
}

/* Runs the call on the GPU with copies of the operands; returns its status and fills C. */
static int run_gpu(const GemmCase *g, int ex, const void *A, size_t abytes, const void *B, size_t bbytes, float *C, size_t cbytes) {
  const CudaBlas *b;
  cublasHandle_t h;
  CUdeviceptr dA = 0, dB = 0, dC = 0;
  const CudaDevOps *o = gpu->ops;
  int st = -1;
  if (o->blas(gpu, &b, &h) || o->alloc(gpu, abytes, &dA) || o->alloc(gpu, bbytes, &dB) || o->alloc(gpu, cbytes, &dC) ||
      o->h2d(gpu, dA, A, abytes) || o->h2d(gpu, dB, B, bbytes) || o->h2d(gpu, dC, C, cbytes)) {
    fprintf(stderr, "    GPU: %s\n", lstmc_errmsg());
    goto done;
  }
  st = run_call(b, h, g, ex, (const void *)(uintptr_t)dA, (const void *)(uintptr_t)dB, (float *)(uintptr_t)dC);
  if (o->sync(gpu) || o->d2h(gpu, C, dC, cbytes)) {
    fprintf(stderr, "    GPU: %s\n", lstmc_errmsg());
    st = -1;
  }
done:
  if (dA) o->free(gpu, dA);
  if (dB) o->free(gpu, dB);
  if (dC) o->free(gpu, dC);
  return st;
}

static double worst_host, worst_gpu;

static void check_case(const GemmCase *g, Rng *rng) {
  int arows = g->ta ? g->k : g->m, acols = g->ta ? g->m : g->k, brows = g->tb ? g->n : g->k, bcols = g->tb ? g->k : g->n;
  size_t na = (size_t)g->lda * (acols > 0 ? acols : 1), nb = (size_t)g->ldb * (bcols > 0 ? bcols : 1),
         nc = (size_t)g->ldc * (g->n > 0 ? g->n : 1);
  (void)arows, (void)brows;
  float *av = lx_malloc(na * 4 + 4), *bv = lx_malloc(nb * 4 + 4), *c0 = lx_malloc(nc * 4 + 4), *c = lx_malloc(nc * 4 + 4),
        *cg = lx_malloc(nc * 4 + 4);
  double *want = lx_malloc(nc * 8 + 8);
  void *A = make_matrix(g->atype, na, rng, av), *B = make_matrix(g->btype, nb, rng, bv);
  for (size_t i = 0; i < nc; i++) c0[i] = g->beta == 0 ? NAN : (float)(2 * rng_uniform(rng) - 1);
  reference(g, av, bv, c0, want);
  const CudaBlas *host = cublas_host_table();
  cublasHandle_t h;
  CHECK(host->cublasCreate(&h) == CUBLAS_STATUS_SUCCESS);
  for (int ex = 0; ex < 2; ex++) {
    if (!ex && (g->atype != CUDA_R_32F || g->btype != CUDA_R_32F)) continue;
    memcpy(c, c0, nc * 4);
    if (!CHECK_INT_EQ(run_call(host, h, g, ex, A, B, c), CUBLAS_STATUS_SUCCESS)) continue;
    double err = 0, scale = 1e-30;
    for (int j = 0; j < g->n; j++)
      for (int i = 0; i < g->m; i++) {
        size_t k = i + (size_t)j * g->ldc;
        err = fmax(err, fabs(c[k] - want[k]));
        scale = fmax(scale, fabs(want[k]));
      }
    /* the padding rows of C (ldc > m) are never written */
    for (int j = 0; j < g->n; j++)
      for (int i = g->m; i < g->ldc; i++)
        if (!CHECK(memcmp(&c[i + (size_t)j * g->ldc], &c0[i + (size_t)j * g->ldc], 4) == 0)) break;
    double rel = err / scale;
    worst_host = fmax(worst_host, rel);
    if (!CHECK(rel <= 1e-6 * (g->k + 1)))
      fprintf(stderr, "    %s ta %d tb %d m %d n %d k %d: relative error %.3g\n", ex ? "GemmEx" : "Sgemm", g->ta, g->tb, g->m, g->n,
              g->k, rel);
    if (gpu) {
      memcpy(cg, c0, nc * 4);
      size_t abytes = na * (g->atype == CUDA_R_16BF ? 2 : 4), bbytes = nb * (g->btype == CUDA_R_16BF ? 2 : 4);
      if (CHECK_INT_EQ(run_gpu(g, ex, A, abytes, B, bbytes, cg, nc * 4), CUBLAS_STATUS_SUCCESS)) {
        double e2 = 0;
        for (size_t k = 0; k < nc; k++) e2 = fmax(e2, isnan(c[k]) && isnan(cg[k]) ? 0 : fabs((double)cg[k] - c[k]));
        worst_gpu = fmax(worst_gpu, e2 / scale);
        if (!CHECK(e2 / scale <= 1e-6 * (g->k + 1)))
          fprintf(stderr, "    libcublas and the stand-in differ by %.3g (relative) for %s ta %d tb %d m %d n %d k %d\n", e2 / scale,
                  ex ? "GemmEx" : "Sgemm", g->ta, g->tb, g->m, g->n, g->k);
      }
    }
  }
  host->cublasDestroy(h);
  lx_free(av);
  lx_free(bv);
  lx_free(c0);
  lx_free(c);
  lx_free(cg);
  lx_free(want);
  lx_free(A);
  lx_free(B);
}

/* Invalid arguments: the stand-in's status, and libcublas' on a GPU, must be the one cuBLAS documents. */
static void check_status(const char *what, const GemmCase *g, int ex, int want) {
  float buf[64] = {0};
  const CudaBlas *host = cublas_host_table();
  cublasHandle_t h;
  host->cublasCreate(&h);
  int got = run_call(host, h, g, ex, buf, buf, buf);
  if (!CHECK_INT_EQ(got, want)) fprintf(stderr, "    stand-in, %s\n", what);
  host->cublasDestroy(h);
  if (gpu) {
    float c[64] = {0};
    int g2 = run_gpu(g, ex, buf, sizeof buf, buf, sizeof buf, c, sizeof c);
    if (!CHECK_INT_EQ(g2, want)) fprintf(stderr, "    libcublas, %s\n", what);
  }
}

int main(void) {
  Rng rng;
  rng_seed(&rng, 3);
  if (cuda_dev_open(&gpu) != 0) {
    printf("cuda_blas: no GPU (%s): the stand-in is checked against the definition only\n", lstmc_errmsg());
    gpu = NULL;
  }
  int ncase = 0;
  static const int dims[][3] = {{1, 1, 1}, {3, 5, 7}, {17, 4, 33}, {8, 16, 300}, {5, 9, 0}};
  for (size_t d = 0; d < sizeof dims / sizeof *dims; d++)
    for (int ta = 0; ta < 2; ta++)
      for (int tb = 0; tb < 2; tb++)
        for (int pad = 0; pad < 2; pad++)
          for (int types = 0; types < 3; types++) {
            GemmCase g;
            g.ta = ta, g.tb = tb, g.m = dims[d][0], g.n = dims[d][1], g.k = dims[d][2];
            int arows = ta ? g.k : g.m, brows = tb ? g.n : g.k;
            g.lda = (arows > 1 ? arows : 1) + pad * 3;
            g.ldb = (brows > 1 ? brows : 1) + pad * 2;
            g.ldc = g.m + pad * 4;
            g.alpha = (types == 1) ? 0.5f : 1.0f;
            g.beta = pad ? 0.75f : 0.0f;
            g.atype = g.btype = types == 2 ? CUDA_R_16BF : CUDA_R_32F;
            check_case(&g, &rng);
            ncase++;
          }
  /* alpha 0: C = beta·C, A and B unread */
  GemmCase z = {0, 0, 4, 3, 5, 4, 5, 4, 0.0f, 2.0f, CUDA_R_32F, CUDA_R_32F};
  check_case(&z, &rng);
  /* m = 0 and n = 0: nothing happens */
  GemmCase e1 = {0, 0, 0, 3, 2, 1, 2, 1, 1.0f, 0.0f, CUDA_R_32F, CUDA_R_32F}, e2 = {1, 1, 3, 0, 2, 2, 1, 3, 1.0f, 1.0f, CUDA_R_32F, CUDA_R_32F};
  check_status("m = 0", &e1, 0, CUBLAS_STATUS_SUCCESS);
  check_status("n = 0", &e2, 0, CUBLAS_STATUS_SUCCESS);
  printf("cuda_blas: %d product cases, worst relative error %.2g against the definition%s", ncase + 1, worst_host,
         gpu ? "" : "\n");
  if (gpu) printf(", %.2g between libcublas and the stand-in\n", worst_gpu);

  GemmCase bad = {0, 0, 4, 4, 4, 4, 4, 4, 1.0f, 0.0f, CUDA_R_32F, CUDA_R_32F};
  GemmCase g = bad;
  g.lda = 3;
  check_status("lda < m", &g, 0, CUBLAS_STATUS_INVALID_VALUE);
  g = bad, g.ta = 1, g.k = 6, g.lda = 5;
  check_status("lda < k (A transposed)", &g, 0, CUBLAS_STATUS_INVALID_VALUE);
  g = bad, g.ldb = 2;
  check_status("ldb < k", &g, 0, CUBLAS_STATUS_INVALID_VALUE);
  g = bad, g.ldc = 3;
  check_status("ldc < m", &g, 0, CUBLAS_STATUS_INVALID_VALUE);
  g = bad, g.m = -1;
  check_status("m < 0", &g, 0, CUBLAS_STATUS_INVALID_VALUE);
  g = bad, g.ta = 7;
  check_status("a bad operation", &g, 0, CUBLAS_STATUS_INVALID_VALUE);
  g = bad, g.ldc = 3;
  check_status("GemmEx, ldc < m", &g, 1, CUBLAS_STATUS_INVALID_VALUE);
  /* types the stand-in does not do, and neither does lstmc: refused, never computed in another precision */
  const CudaBlas *host = cublas_host_table();
  cublasHandle_t h;
  CHECK(host->cublasCreate(&h) == 0);
  float one = 1, zero = 0, buf[16] = {0};
  CHECK_INT_EQ(host->cublasGemmEx(h, 0, 0, 2, 2, 2, &one, buf, 2 /* CUDA_R_16F */, 2, buf, 2, 2, &zero, buf, CUDA_R_32F, 2,
                                  CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
               CUBLAS_STATUS_NOT_SUPPORTED);
  CHECK_INT_EQ(host->cublasGemmEx(h, 0, 0, 2, 2, 2, &one, buf, CUDA_R_32F, 2, buf, CUDA_R_16BF, 2, &zero, buf, CUDA_R_32F, 2,
                                  CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
               CUBLAS_STATUS_NOT_SUPPORTED);
  CHECK_INT_EQ(host->cublasGemmEx(h, 0, 0, 2, 2, 2, &one, buf, CUDA_R_32F, 2, buf, CUDA_R_32F, 2, &zero, buf, CUDA_R_32F, 2,
                                  74 /* CUBLAS_COMPUTE_32F_FAST_TF32 */, CUBLAS_GEMM_DEFAULT),
               CUBLAS_STATUS_NOT_SUPPORTED);
  CHECK_INT_EQ(host->cublasSetMathMode(h, CUBLAS_TF32_TENSOR_OP_MATH), CUBLAS_STATUS_NOT_SUPPORTED);
  CHECK_INT_EQ(host->cublasSetMathMode(h, CUBLAS_DEFAULT_MATH), CUBLAS_STATUS_SUCCESS);
  CHECK_INT_EQ(host->cublasSgemm(NULL, 0, 0, 1, 1, 1, &one, buf, 1, buf, 1, &zero, buf, 1), CUBLAS_STATUS_NOT_INITIALIZED);
  CHECK(host->cublasDestroy(h) == 0);
  if (gpu) gpu->ops->close(gpu);
  return tu_summary("cuda_blas");
}
