/* random_tensor: a tensor of any format with random contents, built directly from the format's definition
 * in ir/layout.h (not through any pass), for tests that need weights of every format. Header-only with
 * internal linkage, like testutil.h. Packed tensors get groups of 1..4 columns of a shuffled order (one
 * column left out) and about a quarter of empty slots; f32/bf16 values are uniform in [-1, 1]; scales in
 * [0.01, 0.11]. random_matrix scales them like trained weights. */
#ifndef LSTMC_TESTS_RANDOM_TENSOR_H
#define LSTMC_TESTS_RANDOM_TENSOR_H
#include <math.h>
#include <string.h>

#include "ir/tensor.h"
#include "support/alloc.h"
#include "support/rng.h"

/* A random tensor in the given format, built directly from its definition in ir/layout.h. */
static inline Tensor *random_tensor(const char *name, int64_t rows, int64_t cols, int layout, int enc, Rng *rng) {
  int64_t G = 0, K = 0;
  int32_t *perm = NULL;
  if (layout == LX_LAYOUT_PACKED) {
    /* groups of 1..4 consecutive columns of a shuffled order, one column left out */
    perm = lx_malloc((size_t)cols * sizeof *perm);
    for (int64_t i = 0; i < cols; i++) perm[i] = (int32_t)i;
    for (int64_t i = cols - 1; i > 0; i--) {
      int64_t j = (int64_t)rng_below(rng, (uint64_t)i + 1);
      int32_t t = perm[i];
      perm[i] = perm[j];
      perm[j] = t;
    }
    K = cols - 1;
    G = (K + 2) / 3;
  }
  Tensor *t = tensor_new(name, 2, rows, cols, layout, enc, G, K);
  if (layout == LX_LAYOUT_PACKED) {
    for (int64_t g = 0; g <= G; g++) t->group_off[g] = (int32_t)(g * K / G);
    for (int64_t g = 0; g < G; g++) {
      int32_t a = t->group_off[g], b = t->group_off[g + 1];
      for (int32_t k = a; k < b; k++) t->group_cols[k] = perm[k];
      /* ascending inside a group */
      for (int32_t x = a; x < b; x++)
        for (int32_t y = x + 1; y < b; y++)
          if (t->group_cols[y] < t->group_cols[x]) {
            int32_t tmp = t->group_cols[x];
            t->group_cols[x] = t->group_cols[y];
            t->group_cols[y] = tmp;
          }
      for (int64_t r = 0; r < rows; r++)
        t->sel[r * G + g] = rng_below(rng, 4) == 0 ? LX_SEL_EMPTY : (uint8_t)rng_below(rng, (uint64_t)(b - a));
    }
    t->alpha = 3;
    t->gamma = 0.5;
    t->block = 0; /* groups span the whole matrix (executors must not assume blocks) */
  }
  for (size_t i = 0; i < (size_t)rows * t->stride; i++) t->codes[i] = (uint8_t)rng_below(rng, 256);
  if (enc == LX_ENC_F32 || enc == LX_ENC_BF16) {
    for (int64_t r = 0; r < rows; r++)
      for (int64_t s = 0; s < t->nslots; s++) {
        float v = (float)(rng_uniform(rng) * 2 - 1);
        if (enc == LX_ENC_F32) memcpy(t->codes + r * t->stride + 4 * s, &v, 4);
        else {
          uint16_t h = f32_to_bf16(v);
          memcpy(t->codes + r * t->stride + 2 * s, &h, 2);
        }
      }
  }
  /* clear the codes that a format does not use (q4 -8, ternary 3) */
  for (int64_t r = 0; r < rows; r++)
    for (int64_t s = 0; s < t->nslots; s++) {
      uint8_t *row = t->codes + r * t->stride;
      if (enc == LX_ENC_Q4 && ((row[s >> 1] >> ((s & 1) * 4)) & 15) == 8) row[s >> 1] ^= (uint8_t)(1 << ((s & 1) * 4));
      if (enc == LX_ENC_TERNARY && ((row[s >> 2] >> ((s & 3) * 2)) & 3) == 3) row[s >> 2] ^= (uint8_t)(1 << ((s & 3) * 2));
    }
  if (t->scale)
    for (int64_t r = 0; r < rows; r++) t->scale[r] = (float)(0.01 + rng_uniform(rng) * 0.1);
  if (t->mask)
    for (size_t i = 0; i < (size_t)rows * t->mask_stride; i++) t->mask[i] = (uint8_t)rng_below(rng, 256);
  lx_free(perm);
  return t;
}

/* The spread of an encoding (standard deviation of a random code's level). */
static inline double random_level_std(int enc) {
  switch (enc) {
  case LX_ENC_Q8: return 73.0;
  case LX_ENC_Q4: return 4.0;
  case LX_ENC_TERNARY: return 0.8;
  default: return 1.0;
  }
}

/* random_tensor scaled like a trained weight matrix: a row times a vector of unit-size entries is O(1)
 * (values or scales ~ 1.5 / sqrt(cols)), so LSTM gates stay in the sensitive range of their sigmoids. */
static inline Tensor *random_matrix(const char *name, int64_t rows, int64_t cols, int layout, int enc, Rng *rng) {
  Tensor *t = random_tensor(name, rows, cols, layout, enc, rng);
  if (!t) return NULL;
  double s = 1.5 / sqrt((double)cols);
  if (enc == LX_ENC_F32 || enc == LX_ENC_BF16) {
    for (int64_t r = 0; r < rows; r++)
      for (int64_t k = 0; k < t->nslots; k++) {
        uint8_t *p = t->codes + (size_t)r * t->stride;
        if (enc == LX_ENC_F32) {
          float v;
          memcpy(&v, p + 4 * k, 4);
          v = (float)(v * s);
          memcpy(p + 4 * k, &v, 4);
        } else {
          uint16_t h;
          memcpy(&h, p + 2 * k, 2);
          h = f32_to_bf16((float)(lx_bf16_to_f32(h) * s));
          memcpy(p + 2 * k, &h, 2);
        }
      }
  } else {
    for (int64_t r = 0; r < rows; r++) t->scale[r] = (float)((0.5 + rng_uniform(rng)) * s / random_level_std(enc));
  }
  return t;
}

#endif
