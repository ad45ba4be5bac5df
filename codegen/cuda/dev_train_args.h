/* The argument structs of the CUDA training kernels (dev_train.h), shared unchanged by the host C code that
 * queues them (train/net_cuda.c) and by the generated CUDA source (pasted by cuda_train_codegen.c), so both
 * sides agree on every layout: 64-bit device addresses first, then 64-bit integers and doubles, then
 * 32-bit values, each struct a multiple of 8 bytes with no padding holes. Every kernel takes one of these
 * by value; addresses of optional inputs are 0 when absent.
 *
 * Matrices are row-major and time-major as in train/ops.h: row n = t·B + b of a [T·B, features] matrix.
 * Like ir/layout.h it needs no libc; it follows support/optim_core.h (pasted before it in the generated
 * source, included here for host code). */
#ifndef LSTMC_CODEGEN_CUDA_DEV_TRAIN_ARGS_H
#define LSTMC_CODEGEN_CUDA_DEV_TRAIN_ARGS_H
#ifndef LSTMC_SUPPORT_OPTIM_CORE_H
#include "support/optim_core.h"
#endif

/* Threads per block of every training kernel but the row-wise softmax (which takes 64, 128 or 256): a
 * power of two, as the block reductions need. */
#define LX_TRAIN_THREADS 256
/* Partial sums a reduction writes at most (one per block). */
#define LX_TRAIN_MAX_PARTS 1024

/* dst[r, c] = a[c] (+ b[c] when b): the biases a GEMM with beta = 1 then adds onto */
typedef struct LxFillRowsArgs {
  unsigned long long dst, a, b;
  long long n, cols;
} LxFillRowsArgs;

/* dst[i] = src[i] (floats) */
typedef struct LxCopyArgs {
  unsigned long long dst, src;
  long long n;
} LxCopyArgs;

/* out[i] = a[i]·b[i], or out[i] += a[i]·b[i] when add; outbf (when set) receives out in bf16 */
typedef struct LxMulArgs {
  unsigned long long out, a, b, outbf;
  long long n;
  int add, pad_;
} LxMulArgs;

/* x[i] *= s */
typedef struct LxScaleArgs {
  unsigned long long x;
  long long n;
  float s;
  int pad_;
} LxScaleArgs;

/* dst[i] = bf16(src[i]), rounded to nearest even */
typedef struct LxToBf16Args {
  unsigned long long dst, src;
  long long n;
} LxToBf16Args;

/* out[r, c] = E[tok[r], c] · rowscale[tok[r]] (rowscale 0: 1) */
typedef struct LxEmbedFwdArgs {
  unsigned long long out, E, tok, rowscale;
  long long n, D;
} LxEmbedFwdArgs;

/* dE[v, c] += dout[n, c] · rowscale[v] for every n with tok[n] = v, in increasing n: rowidx[rowptr[v] ..
 * rowptr[v+1]) lists those n (the host sorts the batch's tokens), so each row of dE has one owner and the
 * sums run in the CPU engine's order with no atomics */
typedef struct LxEmbedBwdArgs {
  unsigned long long dE, dout, rowptr, rowidx, rowscale;
  long long V, D;
} LxEmbedBwdArgs;

/* out[r, f] = in[r, f] · mask[r mod B, f]: locked dropout, forward and backward (out may be in) */
typedef struct LxLockdropArgs {
  unsigned long long out, in, mask;
  long long rows, B, F;
} LxLockdropArgs;

/* A dropout mask as train/net.c draws it: row r from its own xoshiro256** stream seeded with
 * rng_derive(key, r), one uniform per column, kept (= keep, the 1/(1−p) scale) when below 1 − p */
typedef struct LxMaskRowsArgs {
  unsigned long long mask;
  unsigned long long key;
  long long rows, cols;
  double p;
  float keep;
  int pad_;
} LxMaskRowsArgs;

/* One LSTM step's cell: gates [B, 4H] hold the pre-activations (input projection + biases + recurrent
 * product) and receive the activated i, f, g, o; c = f·cprev + i·g, h = o·tanh(c) (hbf: h in bf16) */
typedef struct LxCellFwdArgs {
  unsigned long long gates, cprev, c, h, hbf;
  long long B, H;
} LxCellFwdArgs;

/* One step backward: dh_t = dH[t] (+ dhrec = dG_{t+1}·W_hh unless last), dc carried in and out; dg [B, 4H]
 * receives the pre-activation gradients (dgbf: in bf16) */
typedef struct LxCellBwdArgs {
  unsigned long long dg, gates, c, cprev, dH, dhrec, dc, dgbf;
  long long B, H;
  int last, pad_;
} LxCellBwdArgs;

/* Column sums in two passes: part[k, c] = Σ_{rows r of chunk k} Y[r, c] (chunks of `chunk` rows, in
 * order); then out1[c] += Σ_k part[k, c] (and out2 likewise when set) */
typedef struct LxColsumPartArgs {
  unsigned long long part, Y;
  long long n, cols, chunk, nchunks;
} LxColsumPartArgs;
typedef struct LxColsumFinArgs {
  unsigned long long out1, out2, part;
  long long cols, nchunks;
} LxColsumFinArgs;

/* Row-wise log-softmax cross-entropy, one block per row: row_nll[r] = max + log Σ exp(l − max) − l[tgt]
 * (sums in double); when scale != 0 the logits become (softmax − onehot)·scale */
typedef struct LxSoftmaxCeArgs {
  unsigned long long logits, tgt, row_nll;
  long long n, V;
  double scale;
} LxSoftmaxCeArgs;

/* AR: part[block] = Σ x² over its elements (double); dx[i] += k·x[i] when dx */
typedef struct LxArArgs {
  unsigned long long x, dx, part;
  long long n;
  float k;
  int pad_;
} LxArArgs;

/* TAR over h [T, row]: part[block] = Σ_{t ≥ 1} (h_t − h_{t−1})²; dh[t] = (dh[t] + k·d_t) − k·d_{t+1}, the
 * CPU engine's order */
typedef struct LxTarArgs {
  unsigned long long h, dh, part;
  long long T, row;
  float k;
  int pad_;
} LxTarArgs;

/* part[block] = Σ x² over its elements (double), for the global gradient norm */
typedef struct LxSumsqArgs {
  unsigned long long x, part;
  long long n;
} LxSumsqArgs;

/* One block: total = sqrt(Σ part) → out[0] (double); out_scale[0] = (float)(max_norm / (total + 1e−6)) when
 * max_norm > 0 and that is below 1, else 1 (torch.nn.utils.clip_grad_norm_) */
typedef struct LxClipCoefArgs {
  unsigned long long part, out, out_scale;
  long long nparts;
  double max_norm;
} LxClipCoefArgs;

/* x[i] *= scale[0] unless it is 1 */
typedef struct LxClipApplyArgs {
  unsigned long long x, scale;
  long long n;
} LxClipApplyArgs;

/* x[i] = 0 where keep[i] == 0 (pruned weights and their gradients) */
typedef struct LxApplyMaskArgs {
  unsigned long long x, keep;
  long long n;
} LxApplyMaskArgs;

/* One optimizer step over n elements (support/optim_core.h); s0, s1: the state buffers in use */
typedef struct LxOptimArgs {
  unsigned long long w, g, s0, s1;
  long long n;
  LxOptCoef k;
} LxOptimArgs;

/* The kernels: X(name, argument struct). cuda_train_codegen.c makes the entry points (and, for the host
 * emulator, the thunks that unpack the struct) from this list; train/net_cuda.c looks them up by it. */
#define LX_TRAIN_KERNELS(X)                                                                                    \
  X(lx_t_fill_rows, LxFillRowsArgs)                                                                            \
  X(lx_t_copy, LxCopyArgs)                                                                                     \
  X(lx_t_mul, LxMulArgs)                                                                                       \
  X(lx_t_scale, LxScaleArgs)                                                                                   \
  X(lx_t_to_bf16, LxToBf16Args)                                                                                \
  X(lx_t_embed_fwd, LxEmbedFwdArgs)                                                                            \
  X(lx_t_embed_bwd, LxEmbedBwdArgs)                                                                            \
  X(lx_t_lockdrop, LxLockdropArgs)                                                                             \
  X(lx_t_mask_rows, LxMaskRowsArgs)                                                                            \
  X(lx_t_cell_fwd, LxCellFwdArgs)                                                                              \
  X(lx_t_cell_bwd, LxCellBwdArgs)                                                                              \
  X(lx_t_colsum_part, LxColsumPartArgs)                                                                        \
  X(lx_t_colsum_fin, LxColsumFinArgs)                                                                          \
  X(lx_t_softmax_ce, LxSoftmaxCeArgs)                                                                          \
  X(lx_t_ar, LxArArgs)                                                                                         \
  X(lx_t_tar, LxTarArgs)                                                                                       \
  X(lx_t_sumsq, LxSumsqArgs)                                                                                   \
  X(lx_t_clip_coef, LxClipCoefArgs)                                                                            \
  X(lx_t_clip_apply, LxClipApplyArgs)                                                                          \
  X(lx_t_apply_mask, LxApplyMaskArgs)                                                                          \
  X(lx_t_optim, LxOptimArgs)

#endif
