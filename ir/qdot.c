/* The scalar reference of the integer arithmetic (ir/qdot.h): activation quantization, the exact int32
 * dot product of a row for every layout and integer encoding, and the float output. Written for clarity:
 * this is the oracle the SIMD and CUDA kernels are compared with, not a fast path. */
#include "ir/qdot.h"

#include <math.h>

#include "support/err.h"

int8_t qdot_quantize_one(float x, float inv) {
  float v = nearbyintf(x * inv);
  if (v > (float)QDOT_QMAX) return QDOT_QMAX;
  if (v < -(float)QDOT_QMAX) return -QDOT_QMAX;
  if (v != v) return 0; /* 0 · inf: a zero input when inv overflowed */
  return (int8_t)v;
}

float qdot_quantize(const float *x, int64_t n, int8_t *q) {
  float amax = 0.0f;
  for (int64_t c = 0; c < n; c++) {
    float a = fabsf(x[c]);
    if (a > amax) amax = a;
  }
  if (amax == 0.0f) {
    for (int64_t c = 0; c < n; c++) q[c] = 0;
    return 0.0f;
  }
  float inv = 127.0f / amax, s_x = amax / 127.0f;
  for (int64_t c = 0; c < n; c++) q[c] = qdot_quantize_one(x[c], inv);
  return s_x;
}

/* The integer level of slot s of a row of codes (ir/layout.h's decoder gives it as a float, exactly). */
static int32_t level_at(const Tensor *t, const unsigned char *row, int64_t s) {
  return (int32_t)lx_decode_level(t->enc, row, (unsigned long)s);
}

int32_t qdot_row(const Tensor *t, int64_t r, const int8_t *q) {
  LX_ASSERT(qdot_enc_ok(t->enc));
  const unsigned char *row = t->codes + (size_t)r * t->stride;
  /* int64 so that a tensor that slipped past qdot_check is caught below instead of wrapping silently */
  int64_t acc = 0;
  if (t->layout == LX_LAYOUT_PACKED) {
    const uint8_t *sel = t->sel + (size_t)r * (size_t)t->ngroups;
    for (int64_t g = 0; g < t->ngroups; g++) {
      if (sel[g] == LX_SEL_EMPTY) continue;
      acc += (int64_t)level_at(t, row, g) * q[t->group_cols[t->group_off[g] + sel[g]]];
    }
  } else {
    const unsigned char *m = t->mask ? t->mask + (size_t)r * t->mask_stride : NULL;
    for (int64_t c = 0; c < t->cols; c++) {
      if (m && !lx_mask_get(m, (unsigned long)c)) continue;
      acc += (int64_t)level_at(t, row, c) * q[c];
    }
  }
  LX_ASSERT(acc >= INT32_MIN && acc <= INT32_MAX);
  return (int32_t)acc;
}

void qdot_matvec(const Tensor *t, const int8_t *q, float s_x, float *y) {
  for (int64_t r = 0; r < t->rows; r++) y[r] = qdot_output(qdot_row(t, r, q), s_x, t->scale[r]);
}

int64_t qdot_acc_bound(const Tensor *t) { return t->nslots * (int64_t)lx_enc_max_level(t->enc) * QDOT_QMAX; }

int qdot_check(const Tensor *t) {
  if (t->act_bits == 0) return 0;
  if (t->act_bits != 8)
    return lx_fail(LSTMC_ERR_FORMAT, "tensor '%s': act_bits is %d; it must be 0 (float activations) or 8 (int8)", t->name, t->act_bits);
  if (t->ndim != 2 || !qdot_enc_ok(t->enc))
    return lx_fail(LSTMC_ERR_FORMAT, "tensor '%s': int8 activations (act_bits 8) need a q8, q4, ternary or binary matrix, not %s",
                   t->name, format_name(t->layout, t->enc));
  if (qdot_acc_bound(t) > INT32_MAX)
    return lx_fail(LSTMC_ERR_FORMAT,
                   "tensor '%s': %lld inputs per row are too many for int8 activations with 32-bit sums (at most %lld for %s)",
                   t->name, (long long)t->nslots, (long long)(INT32_MAX / ((int64_t)lx_enc_max_level(t->enc) * QDOT_QMAX)),
                   enc_name(t->enc));
  return 0;
}
