/* Matrix products for the training engine: cache-blocked, packed, multi-threaded GEMM in float (the
 * engine) and double (the same code, instantiated for the gradient checks). Row-major throughout:
 *
 *   C[M×N] = op(A)·op(B) + beta·C,   op(A)[i,k] = ta ? A[k*lda + i] : A[i*lda + k],
 *                                    op(B)[k,j] = tb ? B[j*ldb + k] : B[k*ldb + j]
 *
 * The blocking follows Goto/BLIS: op(B) is packed in KC×NR panels, op(A) in MR×KC panels, and a register
 * kernel of up to 6 rows × 2 vectors accumulates one tile (AVX2+FMA when the CPU has it, chosen once at
 * gemm_create; portable vector code otherwise). Every element of C is summed by one thread in a fixed
 * order (K in blocks of KC), so results are bit-identical for any thread count.
 *
 * The recurrent weights are multiplied T times per batch: gemm_pack_b packs them once into a PackedB that
 * every thread reads, and gemm_packed_range computes one thread's columns from inside a pool job, which
 * lets an LSTM time step be a product and a cell update between two barriers.
 *
 * Memory: a Gemm owns one workspace per pool thread; a PackedB owns its buffer (gemm_packed_free). */
#ifndef LSTMC_TRAIN_GEMM_H
#define LSTMC_TRAIN_GEMM_H
#include <stddef.h>
#include <stdint.h>

#include "support/pool.h"

typedef struct Gemm Gemm;

/* Workspaces for every thread of the pool (borrowed; it must outlive the Gemm). */
int gemm_create(Pool *pool, Gemm **out);
void gemm_free(Gemm *g); /* accepts NULL */
Pool *gemm_pool(const Gemm *g);
/* "avx2+fma" or "generic": the kernel in use. */
const char *gemm_kernel_name(void);

/* Multi-threaded over the pool. */
void gemm_f32(Gemm *g, int ta, int tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B,
              int64_t ldb, float beta, float *C, int64_t ldc);
void gemm_f64(Gemm *g, int ta, int tb, int64_t M, int64_t N, int64_t K, const double *A, int64_t lda, const double *B,
              int64_t ldb, double beta, double *C, int64_t ldc);

/* op(B) (K×N) packed once for many products. `elsize` is 4 or 8. */
typedef struct PackedB {
  int64_t K, N;
  int elsize;
  void *buf; /* aligned view into raw */
  void *raw;
  size_t cap;
} PackedB;
int gemm_pack_b_f32(Gemm *g, PackedB *pb, int tb, int64_t K, int64_t N, const float *B, int64_t ldb);
int gemm_pack_b_f64(Gemm *g, PackedB *pb, int tb, int64_t K, int64_t N, const double *B, int64_t ldb);
void gemm_packed_free(PackedB *pb); /* releases the buffer; accepts a zeroed PackedB */
/* Columns the packed panels come in: ranges given to gemm_packed_range must start at multiples of it. */
int64_t gemm_panel_cols_f32(void);
int64_t gemm_panel_cols_f64(void);

/* From inside a pool job, on thread tid: C[0:M, n0:n1] = A·op(B)[:, n0:n1] + beta·C[0:M, n0:n1], A not
 * transposed (M×K, row stride lda). n0 must be a multiple of the panel width. */
void gemm_packed_range_f32(Gemm *g, int tid, int64_t M, const float *A, int64_t lda, const PackedB *pb, int64_t n0,
                           int64_t n1, float beta, float *C, int64_t ldc);
void gemm_packed_range_f64(Gemm *g, int tid, int64_t M, const double *A, int64_t lda, const PackedB *pb, int64_t n0,
                           int64_t n1, double beta, double *C, int64_t ldc);
/* The same for nq products that share A (the four gates of an LSTM step): A is packed once per block.
 * Product q writes columns n0:n1 of Cs[q] (row stride ldc) from pbs[q]; all pbs have the same K. */
void gemm_packed_multi_f32(Gemm *g, int tid, int64_t M, const float *A, int64_t lda, const PackedB *const *pbs,
                           float *const *Cs, int nq, int64_t n0, int64_t n1, float beta, int64_t ldc);
void gemm_packed_multi_f64(Gemm *g, int tid, int64_t M, const double *A, int64_t lda, const PackedB *const *pbs,
                           double *const *Cs, int nq, int64_t n0, int64_t n1, double beta, int64_t ldc);

#endif
