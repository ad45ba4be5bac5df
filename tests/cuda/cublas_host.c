/* The host stand-in for cuBLAS (see cublas_host.h). */
#include "cublas_host.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cublasContext {
  unsigned magic;
  int math;
  CUstream stream;
};
#define HANDLE_MAGIC 0x6c786231u

static int valid(cublasHandle_t h) { return h && h->magic == HANDLE_MAGIC; }

static cublasStatus_t host_create(cublasHandle_t *h) {
  if (!h) return CUBLAS_STATUS_INVALID_VALUE;
  cublasHandle_t c = calloc(1, sizeof *c);
  if (!c) return 3; /* CUBLAS_STATUS_ALLOC_FAILED */
  c->magic = HANDLE_MAGIC;
  *h = c;
  return CUBLAS_STATUS_SUCCESS;
}

static cublasStatus_t host_destroy(cublasHandle_t h) {
  if (!valid(h)) return CUBLAS_STATUS_NOT_INITIALIZED;
  h->magic = 0;
  free(h);
  return CUBLAS_STATUS_SUCCESS;
}

static cublasStatus_t host_set_stream(cublasHandle_t h, CUstream s) {
  if (!valid(h)) return CUBLAS_STATUS_NOT_INITIALIZED;
  h->stream = s;
  return CUBLAS_STATUS_SUCCESS;
}

static cublasStatus_t host_set_math_mode(cublasHandle_t h, int mode) {
  if (!valid(h)) return CUBLAS_STATUS_NOT_INITIALIZED;
  int base = mode & 0xf; /* bit 4: CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION, no effect in fp32 */
  if (mode & ~0x1f) return CUBLAS_STATUS_INVALID_VALUE;
  if (base == CUBLAS_DEFAULT_MATH || base == CUBLAS_PEDANTIC_MATH) {
    h->math = mode;
    return CUBLAS_STATUS_SUCCESS;
  }
  return base <= CUBLAS_TF32_TENSOR_OP_MATH ? CUBLAS_STATUS_NOT_SUPPORTED : CUBLAS_STATUS_INVALID_VALUE;
}

static const char *host_status_string(cublasStatus_t s) {
  switch (s) {
  case CUBLAS_STATUS_SUCCESS: return "the operation completed successfully";
  case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
  case CUBLAS_STATUS_INVALID_VALUE: return "an unsupported value or parameter was passed to the function";
  case CUBLAS_STATUS_NOT_SUPPORTED: return "the functionality requested is not supported";
  default: return "unknown error";
  }
}

static float bf16_to_float(uint16_t v) {
  uint32_t u = (uint32_t)v << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

/* Element (r, c) of op(X) for X stored column-major with leading dimension ld, in type `type`. */
static float op_elem(const void *X, int type, int trans, int64_t ld, int64_t r, int64_t c) {
  int64_t i = trans == CUBLAS_OP_T ? c + r * ld : r + c * ld;
  return type == CUDA_R_16BF ? bf16_to_float(((const uint16_t *)X)[i]) : ((const float *)X)[i];
}

/* The checks and the product shared by Sgemm and GemmEx. */
static cublasStatus_t gemm_any(cublasHandle_t h, int ta, int tb, int m, int n, int k, const float *alpha,
                               const void *A, int atype, int lda, const void *B, int btype, int ldb, const float *beta,
                               float *C, int ldc) {
  if (!valid(h)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if ((ta != CUBLAS_OP_N && ta != CUBLAS_OP_T) || (tb != CUBLAS_OP_N && tb != CUBLAS_OP_T) || m < 0 || n < 0 || k < 0)
    return CUBLAS_STATUS_INVALID_VALUE;
  int arows = ta == CUBLAS_OP_N ? m : k, brows = tb == CUBLAS_OP_N ? k : n;
  if (lda < (arows > 1 ? arows : 1) || ldb < (brows > 1 ? brows : 1) || ldc < (m > 1 ? m : 1))
    return CUBLAS_STATUS_INVALID_VALUE;
  if (!alpha || !beta) return CUBLAS_STATUS_INVALID_VALUE;
  if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
  float a = *alpha, b = *beta;
  for (int64_t j = 0; j < n; j++)
    for (int64_t i = 0; i < m; i++) {
      float s = 0;
      if (a != 0)
        for (int64_t l = 0; l < k; l++) s = fmaf(op_elem(A, atype, ta, lda, i, l), op_elem(B, btype, tb, ldb, l, j), s);
      float *c = &C[i + j * (int64_t)ldc];
      *c = b == 0 ? a * s : a * s + b * *c;
    }
  return CUBLAS_STATUS_SUCCESS;
}

static cublasStatus_t host_sgemm(cublasHandle_t h, int ta, int tb, int m, int n, int k, const float *alpha, const float *A,
                                 int lda, const float *B, int ldb, const float *beta, float *C, int ldc) {
  return gemm_any(h, ta, tb, m, n, k, alpha, A, CUDA_R_32F, lda, B, CUDA_R_32F, ldb, beta, C, ldc);
}

static cublasStatus_t host_gemm_ex(cublasHandle_t h, int ta, int tb, int m, int n, int k, const void *alpha, const void *A,
                                   int atype, int lda, const void *B, int btype, int ldb, const void *beta, void *C,
                                   int ctype, int ldc, int compute, int algo) {
  if (!valid(h)) return CUBLAS_STATUS_NOT_INITIALIZED;
  /* cuBLAS' table of GemmEx types: A and B of one type; of those, lstmc uses fp32 and bf16 into fp32 */
  if ((atype != CUDA_R_32F && atype != CUDA_R_16BF) || btype != atype || ctype != CUDA_R_32F || compute != CUBLAS_COMPUTE_32F)
    return CUBLAS_STATUS_NOT_SUPPORTED;
  if (algo < CUBLAS_GEMM_DEFAULT || algo > 23) return CUBLAS_STATUS_INVALID_VALUE;
  return gemm_any(h, ta, tb, m, n, k, alpha, A, atype, lda, B, btype, ldb, beta, C, ldc);
}

const CudaBlas *cublas_host_table(void) {
  static CudaBlas t;
  if (!t.cublasCreate) {
    snprintf(t.path, sizeof t.path, "the host stand-in (tests/cuda/cublas_host.c)");
    t.cublasCreate = host_create;
    t.cublasDestroy = host_destroy;
    t.cublasSetStream = host_set_stream;
    t.cublasSetMathMode = host_set_math_mode;
    t.cublasSgemm = host_sgemm;
    t.cublasGemmEx = host_gemm_ex;
    t.cublasGetStatusString = host_status_string;
  }
  return &t;
}
