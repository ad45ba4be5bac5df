/* The operations of AWD-LSTM training, forward and backward, over a whole truncated-BPTT batch: embedding
 * (with whole-row embedding dropout), locked dropout, the LSTM layer (the recurrence, with the recurrent
 * weights already weight-dropped by the caller), the linear decoder, softmax cross-entropy, and the AR
 * and TAR penalties. Activations are time-major: row n = t·B + b of a [T·B, features] matrix.
 *
 * Each op exists in float (the engine, suffix _f32) and double (suffix _f64): both come from the one
 * source train/ops_impl.h, so the double copy that the finite-difference gradient checks run is the same
 * code as the float copy that trains. Backward functions ADD into parameter gradients (the caller zeroes
 * them once per step) and WRITE input gradients. Work is split over the pool's threads so that every
 * output element is computed by one thread in a fixed order: results do not depend on the thread count. */
#ifndef LSTMC_TRAIN_OPS_H
#define LSTMC_TRAIN_OPS_H
#include <stdint.h>

#include "train/gemm.h"

/* Scratch an LSTM layer keeps between its forward and backward: the recurrent weights packed once per
 * batch (per gate for the forward, whole for the backward) and the per-step state gradients. Zero it
 * before first use; lstm_work_free releases it. */
typedef struct LstmWork {
  PackedB fwd[4], bwd;
  void *dh, *dc; /* [B·H] of the op's element type */
  size_t cap;    /* bytes in dh and dc */
  void *db;      /* [4H]: the bias gradient, summed by the thread that owns each unit */
  size_t db_cap;
} LstmWork;
void lstm_work_free(LstmWork *w);

#define TRAIN_OPS_DECLARE(R, S)                                                                               \
  /* out[n] = E[tok[n]] · rowscale[tok[n]] (rowscale NULL: 1) */                                               \
  void op_embed_fwd##S(Gemm *g, int64_t n, int64_t D, const R *E, const int32_t *tok, const R *rowscale, R *out); \
  /* dE[tok[n]] += dout[n] · rowscale[tok[n]] */                                                               \
  void op_embed_bwd##S(Gemm *g, int64_t n, int64_t D, const R *dout, const int32_t *tok, const R *rowscale, R *dE); \
  /* x[t·B + b, f] *= mask[b, f] for every t: locked dropout, forward and backward alike */                    \
  void op_lockdrop##S(Gemm *g, int64_t T, int64_t B, int64_t F, R *x, const R *mask);                         \
  /* One LSTM layer over T steps. X [T·B, I]; Hall, Call [(T+1)·B, H] with rows 0..B-1 holding h0, c0 on     \
   * entry; the outputs h_t, c_t fill the rest; gates [T·B, 4H] receives the activated i, f, g, o. */         \
  int op_lstm_fwd##S(Gemm *g, LstmWork *w, int64_t T, int64_t B, int64_t I, int64_t H, const R *X,              \
                     const R *Wih, const R *Whh, const R *bih, const R *bhh, R *gates, R *Hall, R *Call);       \
  /* Backward through the T steps (the state handed in, h0 and c0, gets no gradient: truncated BPTT).        \
   * dH [T·B, H] is the gradient on the outputs; dG [T·B, 4H] is scratch (pre-activation gradients);        \
   * dX [T·B, I] is written when not NULL; dWih, dWhh, dbih, dbhh are accumulated. */                        \
  int op_lstm_bwd##S(Gemm *g, LstmWork *w, int64_t T, int64_t B, int64_t I, int64_t H, const R *X,              \
                     const R *Wih, const R *Whh, const R *gates, const R *Hall, const R *Call, const R *dH,     \
                     R *dG, R *dX, R *dWih, R *dWhh, R *dbih, R *dbhh);                                         \
  /* Y [n, V] = X [n, D] · W^T + b */                                                                          \
  void op_linear_fwd##S(Gemm *g, int64_t n, int64_t D, int64_t V, const R *X, const R *W, const R *b, R *Y);  \
  /* dW += dY^T X, db += Σ_rows dY, dX = dY W (dX may be NULL) */                                              \
  void op_linear_bwd##S(Gemm *g, int64_t n, int64_t D, int64_t V, const R *X, const R *W, const R *dY, R *dW,  \
                        R *db, R *dX);                                                                          \
  /* Σ_n −log softmax(logits[n])[tgt[n]], in double; when grad_scale is not 0 the logits are replaced by     \
   * their gradient times grad_scale: (softmax − onehot)·grad_scale. row_nll [n] is scratch. */             \
  double op_softmax_ce##S(Gemm *g, int64_t n, int64_t V, R *logits, const int32_t *tgt, double grad_scale,      \
                          double *row_nll);                                                                     \
  /* AR: alpha · mean(x²) over n·F elements; dx += its gradient (dx may be NULL) */                            \
  double op_ar##S(int64_t n, int64_t F, const R *x, double alpha, R *dx);                                      \
  /* TAR: beta · mean over (T−1)·B·F elements of (h_t − h_{t−1})²; dh += its gradient (dh may be NULL) */     \
  double op_tar##S(int64_t T, int64_t B, int64_t F, const R *h, double beta, R *dh);

TRAIN_OPS_DECLARE(float, _f32)
TRAIN_OPS_DECLARE(double, _f64)
#undef TRAIN_OPS_DECLARE

#endif
