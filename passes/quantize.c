/* quantize{bits=8|4|2|1, rounding=nearest|stochastic, seed=1, only=, skip=} — symmetric per-row
 * quantization.
 *
 * Requires: the selected weights (default: every 2-D weight) with f32 or bf16 values, in any layout
 * (dense, masked, column-packed; groups may be attached). Already quantized weights are an error.
 * Produces: the same layout with encoding q8 (bits=8), q4 (4), ternary (2) or binary (1) and one scale per
 * row, w ≈ level · scale[r]. Zeros stay exactly zero: pruned and masked weights and empty packed slots get
 * level 0, and binary, which has no zero level, keeps them out with the mask (a dense matrix with zeros
 * becomes masked_binary) or with empty packed slots.
 * Preserves: shapes, masks (binary: minus the zero weights), groups and packed selections, other tensors.
 *
 * Per row r, with m = max |w| over the row and "kept" the nonzero weights:
 *   q8, q4 (Q = 127, 7)  scale s = m / Q, level = round(w / s) (nearest, ties to even) — error ≤ s/2;
 *                        stochastic: level = ⌊w / s + u⌋, u ~ U[0, 1) — error < s, E[ŵ] = w.
 *   ternary  nearest: Δ = 0.7 · mean |w| over the kept weights (TWN, Li & Liu 2016, taken over the kept
 *                     weights so that pruned zeros do not pull Δ down), scale α = mean |w| over |w| > Δ,
 *                     level = sign(w) when |w| > Δ else 0 — error ≤ max(Δ, α − Δ, m − α).
 *            stochastic: scale m, level = sign(w) with probability |w| / m else 0 — error ≤ m, E[ŵ] = w.
 *   binary   nearest: scale α = mean |w| over the kept weights (the L2-optimal scale of XNOR-Net),
 *                     level = sign(w) — error ≤ max(α, m − α).
 *            stochastic: scale m, level = +1 with probability (1 + w/m) / 2 else −1 — error ≤ 2m,
 *                     E[ŵ] = w.
 * Stochastic draws come from one stream per weight (the seed and the slot index), one draw per kept
 * weight in row-major order: the same seed gives the same result. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "passes/passes.h"
#include "support/alloc.h"
#include "support/err.h"
#include "support/rng.h"

static const int enc_of_bits[4] = {LX_ENC_Q8, LX_ENC_Q4, LX_ENC_TERNARY, LX_ENC_BINARY}; /* bits choice order */

/* Levels and scale of one row of n values (zeros included). */
static float quantize_row(const float *v, int64_t n, int enc, int stochastic, Rng *rng, float *level) {
  double m = 0, sum = 0;
  int64_t kept = 0;
  for (int64_t i = 0; i < n; i++) {
    double a = fabs((double)v[i]);
    if (a > m) m = a;
    sum += a;
    kept += v[i] != 0.0f;
  }
  memset(level, 0, (size_t)n * sizeof *level);
  if (m == 0) return 0.0f;
  if (enc == LX_ENC_Q8 || enc == LX_ENC_Q4) {
    double Q = lx_enc_max_level(enc);
    /* s·Q ≥ m, so that |w / s| ≤ Q: no clamping, which would bias stochastic rounding */
    float s = (float)(m / Q);
    if ((double)s * Q < m) s = nextafterf(s, INFINITY);
    for (int64_t i = 0; i < n; i++) {
      if (v[i] == 0.0f) continue;
      double x = (double)v[i] / (double)s;
      double q = stochastic ? floor(x + rng_uniform(rng)) : nearbyint(x);
      level[i] = (float)(q > Q ? Q : q < -Q ? -Q : q);
    }
    return s;
  }
  if (stochastic) {
    /* scale m: every weight lies in [-m, m], so a two-point rounding between neighbouring levels exists */
    for (int64_t i = 0; i < n; i++) {
      if (v[i] == 0.0f) continue;
      double u = rng_uniform(rng), x = (double)v[i] / m;
      if (enc == LX_ENC_TERNARY) level[i] = u < fabs(x) ? (x > 0 ? 1.0f : -1.0f) : 0.0f;
      else level[i] = u < (1 + x) / 2 ? 1.0f : -1.0f;
    }
    return (float)m;
  }
  double mean = sum / (double)kept;
  if (enc == LX_ENC_BINARY) {
    for (int64_t i = 0; i < n; i++)
      if (v[i] != 0.0f) level[i] = v[i] > 0 ? 1.0f : -1.0f;
    return (float)mean;
  }
  double delta = 0.7 * mean, big = 0;
  int64_t nbig = 0;
  for (int64_t i = 0; i < n; i++)
    if (fabs((double)v[i]) > delta) {
      big += fabs((double)v[i]);
      nbig++;
      level[i] = v[i] > 0 ? 1.0f : -1.0f;
    }
  return nbig ? (float)(big / (double)nbig) : 0.0f;
}

static int quantize_tensor(const Tensor *t, int enc, int stochastic, uint64_t seed, Tensor **out) {
  *out = NULL;
  int packed = t->layout == LX_LAYOUT_PACKED;
  int64_t n = packed ? t->ngroups : t->cols;
  float *v = lx_malloc(((size_t)t->cols + 1) * sizeof *v), *level = lx_malloc(((size_t)t->cols + 1) * sizeof *level);
  if (!v || !level) {
    lx_free(v);
    lx_free(level);
    return lx_nomem("quantizing");
  }
  /* binary has no zero level: a dense matrix with zeros keeps them out with a mask */
  int layout = t->layout;
  if (enc == LX_ENC_BINARY && layout == LX_LAYOUT_DENSE && tensor_nnz(t) < t->rows * t->cols) layout = LX_LAYOUT_MASKED;
  Tensor *q = tensor_new(t->name, 2, t->rows, t->cols, layout, enc, packed ? t->ngroups : 0,
                         packed ? t->group_off[t->ngroups] : 0);
  int st = 0;
  if (!q || (!packed && tensor_copy_groups(q, t))) {
    st = lx_nomem("quantizing");
    goto done;
  }
  if (packed) {
    memcpy(q->group_off, t->group_off, ((size_t)t->ngroups + 1) * sizeof(int32_t));
    memcpy(q->group_cols, t->group_cols, (size_t)t->group_off[t->ngroups] * sizeof(int32_t));
    memcpy(q->sel, t->sel, (size_t)t->rows * (size_t)t->ngroups);
    q->alpha = t->alpha;
    q->gamma = t->gamma;
    q->block = t->block;
  }
  Rng rng;
  rng_seed(&rng, seed);
  for (int64_t r = 0; r < t->rows; r++) {
    uint8_t *sel = packed ? q->sel + (size_t)r * (size_t)t->ngroups : NULL;
    if (packed) {
      const unsigned char *row = t->codes + (size_t)r * t->stride;
      for (int64_t g = 0; g < n; g++) v[g] = sel[g] == LX_SEL_EMPTY ? 0.0f : lx_decode_level(t->enc, row, (unsigned long)g);
    } else {
      tensor_row_to_f32(t, r, v);
    }
    q->scale[r] = quantize_row(v, n, enc, stochastic, &rng, level);
    for (int64_t i = 0; i < n; i++) tensor_set_level(q, r, i, level[i]);
    if (layout == LX_LAYOUT_MASKED) {
      uint8_t *m = q->mask + (size_t)r * q->mask_stride;
      if (t->mask) memcpy(m, t->mask + (size_t)r * t->mask_stride, q->mask_stride);
      else memset(m, 0xff, q->mask_stride);
      if (enc == LX_ENC_BINARY)
        for (int64_t c = 0; c < n; c++)
          if (v[c] == 0.0f) m[c / 8] &= (uint8_t) ~(1u << (c % 8));
    }
    if (packed && enc == LX_ENC_BINARY)
      for (int64_t g = 0; g < n; g++)
        if (v[g] == 0.0f) sel[g] = LX_SEL_EMPTY;
  }
  *out = q;
  q = NULL;
done:
  tensor_free(q);
  lx_free(v);
  lx_free(level);
  return st;
}

int pass_quantize(Graph *g, const PassArgs *a, PassStats *st) {
  int enc = enc_of_bits[a->opt[PO_quantize_bits].i];
  int stochastic = a->opt[PO_quantize_rounding].i == 1;
  uint64_t seed = (uint64_t)a->opt[PO_quantize_seed].i;
  uint8_t *sel = lx_calloc((size_t)g->nslots, 1);
  PassEdits e = {0};
  if (!sel) return lx_nomem("quantizing");
  int rc = pass_select(g, a, PO_quantize_only, PO_quantize_skip, PASS_SET_MATRICES, sel);
  for (int i = 0; i < g->nslots && !rc; i++) {
    const Tensor *t = g->slots[i].t;
    if (sel[i] && lx_enc_has_scale(t->enc)) /* already quantized */
      rc = pass_bad_format("quantize", t, "f32 or bf16 weights (dense, masked or packed)");
  }
  if (!rc) rc = pass_edits_init(&e, g);
  for (int i = 0; i < g->nslots && !rc; i++)
    if (sel[i]) rc = quantize_tensor(g->slots[i].t, enc, stochastic, rng_derive(seed, (uint64_t)i), &e.t[i]);
  if (!rc) {
    st->tensors = pass_edits_commit(&e, g);
    snprintf(st->note, sizeof st->note, "%d matrices to %s, %s rounding", st->tensors, enc_name(enc),
             stochastic ? "stochastic" : "nearest");
  }
  pass_edits_free(&e);
  lx_free(sel);
  return rc;
}
