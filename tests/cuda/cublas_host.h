/* Host implementations of the cuBLAS calls lstmc makes, with cuBLAS' own signatures and semantics, standing
 * in for libcublas on the host emulator (cuda_emu.c): the "device" pointers are host pointers there, so the
 * same calls of codegen/cuda and train/net_cuda.c run unchanged.
 *
 * Semantics kept from the cuBLAS documentation: column-major storage; op(X) = X, or its transpose for
 * CUBLAS_OP_T; C = alpha·op(A)·op(B) + beta·C over m×n with inner dimension k; leading dimensions checked
 * as cuBLAS checks them (lda ≥ max(1, rows of A as stored), …; a violation is CUBLAS_STATUS_INVALID_VALUE
 * and nothing is written); with beta == 0, C is not read (NaN there does not propagate); k == 0 scales C
 * by beta; m == 0 or n == 0 does nothing. cublasGemmEx takes A and B both fp32 or both bf16 (cuBLAS has
 * no mixed pair), fp32 C, fp32 compute (CUBLAS_COMPUTE_32F) — anything else is CUBLAS_STATUS_NOT_SUPPORTED. Products accumulate in float in
 * order of the inner index. Math modes that change the arithmetic (TF32) are refused (NOT_SUPPORTED)
 * rather than silently computed in fp32: lstmc never relies on what the stand-in does not emulate.
 *
 * test_cuda_blas.c checks every call against a double-precision product, and on a GPU against libcublas. */
#ifndef LSTMC_TESTS_CUDA_CUBLAS_HOST_H
#define LSTMC_TESTS_CUDA_CUBLAS_HOST_H
#include "codegen/cuda/cuda_loader.h"

/* The function table (as cuda_blas_open fills it for libcublas). */
const CudaBlas *cublas_host_table(void);

#endif
