/* Random weight tensors in every format, built directly from their definitions in ir/layout.h (not by the
 * passes), so that executors and formats can be tested before and apart from the passes that make them.
 * Header-only with internal linkage, like testutil.h.
 *
 * Memory: the returned Tensor is the caller's (tensor_free). */
#ifndef LSTMC_TESTS_TENSOR_GEN_H
#define LSTMC_TESTS_TENSOR_GEN_H
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "frontend/lower.h"
#include "frontend/spec.h"
#include "ir/graph.h"
#include "ir/tensor.h"
#include "lstmc.h"
#include "support/alloc.h"
#include "support/rng.h"

typedef struct TensorGenOpts {
  int alpha;        /* packed: columns per group (groups split the grouped columns evenly) */
  int empty_one_in; /* packed: a row's slot in a group is empty with probability 1/empty_one_in (0: never) */
  int drop_cols;    /* packed: columns left out of every group (all-zero columns) */
  int torch_scale;  /* weights of PyTorch's initial magnitude, |w| <= 1/sqrt(cols), instead of the ranges below
                       (large random recurrent weights make a chaotic recurrence, where rounding grows) */
} TensorGenOpts;

/* Groups of 1..3 columns, a quarter of the slots empty, one column in no group: small and irregular. */
static const TensorGenOpts tensor_gen_default = {3, 4, 1, 0};

/* A random tensor in the given format (o NULL: tensor_gen_default). Values: f32/bf16 uniform in (-1, 1);
 * quantized codes uniform over the encoding's valid codes with scales in [0.01, 0.11); masks keep about half
 * the weights. With torch_scale, f32/bf16 values are uniform in (-a, a) and scales in [a/2, a) / (largest
 * level), a = 1/sqrt(cols). NULL on OOM. */
static inline Tensor *tensor_gen_random(const char *name, int64_t rows, int64_t cols, int layout, int enc,
                                        const TensorGenOpts *o, Rng *rng) {
  if (!o) o = &tensor_gen_default;
  int64_t G = 0, K = 0;
  int32_t *perm = NULL;
  if (layout == LX_LAYOUT_PACKED) {
    /* groups of consecutive columns of a shuffled order */
    perm = lx_malloc((size_t)cols * sizeof *perm);
    if (!perm) return NULL;
    for (int64_t i = 0; i < cols; i++) perm[i] = (int32_t)i;
    for (int64_t i = cols - 1; i > 0; i--) {
      int64_t j = (int64_t)rng_below(rng, (uint64_t)i + 1);
      int32_t t = perm[i];
      perm[i] = perm[j];
      perm[j] = t;
    }
    K = cols > o->drop_cols ? cols - o->drop_cols : 0;
    G = (K + o->alpha - 1) / o->alpha;
  }
  Tensor *t = tensor_new(name, 2, rows, cols, layout, enc, G, K);
  if (!t) {
    lx_free(perm);
    return NULL;
  }
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
        t->sel[r * G + g] = o->empty_one_in && rng_below(rng, (uint64_t)o->empty_one_in) == 0
                                ? LX_SEL_EMPTY
                                : (uint8_t)rng_below(rng, (uint64_t)(b - a));
    }
    t->alpha = o->alpha;
    t->gamma = 0.5;
    t->block = 0; /* groups span the whole matrix: executors must not assume blocks */
  }
  for (size_t i = 0; i < (size_t)rows * t->stride; i++) t->codes[i] = (uint8_t)rng_below(rng, 256);
  double amp = o->torch_scale ? 1.0 / sqrt((double)(cols > 0 ? cols : 1)) : 1.0;
  if (enc == LX_ENC_F32 || enc == LX_ENC_BF16) {
    for (int64_t r = 0; r < rows; r++)
      for (int64_t s = 0; s < t->nslots; s++) {
        float v = (float)((rng_uniform(rng) * 2 - 1) * amp);
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
  double top = lx_enc_max_level(enc); /* largest level (scaled encodings have one) */
  if (t->scale)
    for (int64_t r = 0; r < rows; r++)
      t->scale[r] = (float)(o->torch_scale ? amp / top * (0.5 + 0.5 * rng_uniform(rng)) : 0.01 + rng_uniform(rng) * 0.1);
  if (t->mask)
    for (size_t i = 0; i < (size_t)rows * t->mask_stride; i++) t->mask[i] = (uint8_t)rng_below(rng, 256);
  lx_free(perm);
  return t;
}

/* The spread of an encoding (standard deviation of a random code's level). */
static inline double tensor_gen_level_std(int enc) {
  switch (enc) {
  case LX_ENC_Q8: return 73.0;
  case LX_ENC_Q4: return 4.0;
  case LX_ENC_TERNARY: return 0.8;
  default: return 1.0;
  }
}

/* tensor_gen_random (default options) scaled like a trained weight matrix: a row times a vector of
 * unit-size entries is O(1) (values or scales ~ 1.5 / sqrt(cols)), so LSTM gates stay in the sensitive
 * range of their sigmoids. NULL on OOM. */
static inline Tensor *tensor_gen_matrix(const char *name, int64_t rows, int64_t cols, int layout, int enc, Rng *rng) {
  Tensor *t = tensor_gen_random(name, rows, cols, layout, enc, NULL, rng);
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
    for (int64_t r = 0; r < rows; r++) t->scale[r] = (float)((0.5 + rng_uniform(rng)) * s / tensor_gen_level_std(enc));
  }
  return t;
}

/* A graph lowered from spec text, with vocabulary size V (0: the spec's). NULL after printing the error. */
static inline Graph *tensor_gen_graph(const char *spec_text, int64_t V) {
  Diag d;
  diag_init(&d, stderr);
  Spec *s;
  Graph *g = NULL;
  if (spec_load_text("test.lstm", "", spec_text, strlen(spec_text), &d, &s)) return NULL;
  if (lower_spec(s, V, &g)) fprintf(stderr, "tensor_gen_graph: %s\n", lstmc_errmsg());
  spec_free(s);
  return g;
}

/* Replaces every LSTM weight matrix and the decoder's by a random tensor in the format; the embedding
 * too when it is the decoder's (tied), or when `embedding` is set. Biases stay as they are. Returns 0 or
 * LSTMC_ERR_NOMEM. */
static inline int tensor_gen_weights(Graph *g, int layout, int enc, const TensorGenOpts *o, int embedding, Rng *rng) {
  int emb = g->nodes[0].w[W_EMBED];
  for (int i = 0; i < g->nslots; i++) {
    WeightSlot *w = &g->slots[i];
    if (w->ndim != 2 || (i == emb && !embedding && g->nodes[g->nnodes - 2].w[W_DEC] != emb)) continue;
    Tensor *t = tensor_gen_random(w->name, w->rows, w->cols, layout, enc, o, rng);
    if (!t) return LSTMC_ERR_NOMEM;
    graph_set_tensor(g, i, t);
  }
  return 0;
}

#endif
