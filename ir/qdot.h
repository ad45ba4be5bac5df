/* The integer arithmetic of quantized activations: the scalar C reference of the contract that every
 * integer kernel (the CPU's SIMD paths, the CUDA kernels, the systolic simulator) must match bit for bit.
 *
 * A quantized weight matrix (q8, q4, ternary, binary; any layout) with act_bits = 8 multiplies an input
 * vector x (the whole vector of that product for one stream: the layer input for W_ih, h(t-1) for W_hh,
 * the last h for the decoder) as follows:
 *   1. amax = max_c |x_c| (float). If amax == 0: every q_c = 0 and s_x = 0.
 *   2. inv = 127.0f / amax; s_x = amax / 127.0f (both float).
 *   3. q_c = clamp(nearbyintf(x_c * inv), -127, 127) as int8 (round half to even, the default FP mode).
 *      x_c * inv is NaN only when x_c == 0 and amax is so small (below 127 / FLT_MAX, about 3.7e-37)
 *      that inv overflows to infinity: such a q_c is 0, as every zero input's is.
 *   4. acc_r = Σ over the row's stored weights of level(r, slot) · q_col, exact in int32 (levels: q8
 *      -127..127, q4 -7..7, ternary -1..1, binary ±1; a cleared mask bit or an empty packed select
 *      contributes 0). qdot_acc_bound keeps |acc_r| within int32 for any input.
 *   5. y_r = ((float)acc_r * s_x) * scale_r, in float, in that order.
 * Everything after (bias adds, gates, cell, softmax) is as for float activations.
 *
 * act_bits = 0 means the activations stay float: what every weights file written before act_bits existed
 * means. The functions here take any layout and the four integer encodings; the caller checks act_bits. */
#ifndef LSTMC_IR_QDOT_H
#define LSTMC_IR_QDOT_H
#include <stdint.h>

#include "ir/tensor.h"

#define QDOT_QMAX 127 /* the largest |q_c| */

/* 1 when the encoding has integer levels a quantized activation can multiply (q8, q4, ternary, binary:
 * the encodings of ir/layout.h's table with a max_level). */
static inline int qdot_enc_ok(int enc) { return lx_enc_max_level(enc) > 0; }

/* Steps 1-3: q[0..n) from x[0..n); returns s_x. */
float qdot_quantize(const float *x, int64_t n, int8_t *q);

/* Step 3 for one element, given inv (what the SIMD kernels compute lane by lane). */
int8_t qdot_quantize_one(float x, float inv);

/* Step 4: acc_r of row r of t (enc q8, q4, ternary or binary; any layout) with the quantized input q
 * (length t->cols). */
int32_t qdot_row(const Tensor *t, int64_t r, const int8_t *q);

/* Step 5. */
static inline float qdot_output(int32_t acc, float s_x, float scale) { return ((float)acc * s_x) * scale; }

/* y[r] = step 5 of row r, for every row: the product W·x of the contract, given q and s_x of x. */
void qdot_matvec(const Tensor *t, const int8_t *q, float s_x, float *y);

/* The largest |acc_r| any input can give: Σ over a row's slots of |level| · 127, bounded by
 * nslots · level_max · 127. A tensor with act_bits = 8 must keep it at most INT32_MAX (about 133 000
 * inputs for q8, 2.4 million for q4, 16.9 million for ternary and binary). */
int64_t qdot_acc_bound(const Tensor *t);

/* Checks that act_bits suits the tensor: 0, or 8 on a 2-D q8/q4/ternary/binary tensor within the int32
 * bound. Returns 0 or LSTMC_ERR_FORMAT with a message naming the tensor. */
int qdot_check(const Tensor *t);

#endif
