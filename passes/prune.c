/* prune{sparsity=s, scope=matrix|row, only=, skip=} — magnitude pruning to an exact fraction.
 *
 * Requires: the selected weights (default: every 2-D weight; a tied decoder is the embedding, one slot)
 * dense or masked with f32 or bf16 values; column groups may be attached.
 * Produces: the masked f32 layout. Of each matrix (scope=matrix) or each row (scope=row) of n weights,
 * exactly k = round(s·n) (halves round up) are pruned: the k of smallest |w|, ties broken by the lower
 * row-major index; a pruned weight's value becomes 0 and its mask bit is cleared, so training can keep it
 * at zero. Weights that were already zero (or masked out) have |w| = 0 and go first, so pruning again
 * to a higher sparsity continues where the last run stopped.
 * Preserves: shapes, column groups (removing weights cannot add conflicts), other tensors. */
#include <math.h>
#include <string.h>

#include "passes/passes.h"
#include "support/alloc.h"
#include "support/err.h"

/* Orders keys[0..n) so that keys[0..k) are the k smallest (keys are distinct). Quickselect with a
 * median-of-three pivot: linear on average, and the order of equal magnitudes is fixed by the index
 * inside each key, so the result does not depend on the algorithm. */
static void select_smallest(uint64_t *keys, size_t n, size_t k) {
  size_t lo = 0, hi = n;
  while (hi - lo > 1 && k > lo && k < hi) {
    size_t mid = lo + (hi - lo) / 2;
    uint64_t a = keys[lo], b = keys[mid], c = keys[hi - 1];
    uint64_t pivot = a < b ? (b < c ? b : a < c ? c : a) : (a < c ? a : b < c ? c : b);
    /* three-way partition: [lo, lt) < pivot, [lt, gt) == pivot, [gt, hi) > pivot */
    size_t lt = lo, i = lo, gt = hi;
    while (i < gt) {
      uint64_t x = keys[i];
      if (x < pivot) {
        keys[i++] = keys[lt];
        keys[lt++] = x;
      } else if (x > pivot) {
        keys[i] = keys[--gt];
        keys[gt] = x;
      } else {
        i++;
      }
    }
    if (k <= lt) hi = lt;
    else if (k >= gt) lo = gt;
    else return;
  }
}

/* |v| as an order-preserving integer (v is finite: weights are checked when loaded). */
static inline uint64_t abs_key(float v) {
  uint32_t u;
  memcpy(&u, &v, 4);
  return u & 0x7fffffffu;
}

/* Prunes the k smallest of n values vals[0..n) (their flat indices base + i) into the mask. */
static void prune_unit(const float *vals, size_t n, size_t k, uint64_t *keys, float *out, uint8_t *mask,
                       size_t mask_stride, int64_t cols, size_t base) {
  for (size_t i = 0; i < n; i++) keys[i] = abs_key(vals[i]) << 32 | (uint64_t)i;
  select_smallest(keys, n, k);
  for (size_t j = 0; j < k; j++) {
    size_t idx = base + (size_t)(keys[j] & 0xffffffffu);
    size_t r = idx / (size_t)cols, c = idx % (size_t)cols;
    out[idx] = 0.0f;
    mask[r * mask_stride + c / 8] &= (uint8_t) ~(1u << (c % 8));
  }
}

static int prune_tensor(const Tensor *t, double s, int per_row, Tensor **out, int64_t *pruned) {
  *out = NULL;
  size_t n = (size_t)t->rows * (size_t)t->cols;
  size_t unit = per_row ? (size_t)t->cols : n;
  if (unit >= ((size_t)1 << 32))
    return lx_fail(LSTMC_ERR_UNSUPPORTED, "tensor '%s' has %zu weights to rank; prune handles fewer than 2^32", t->name, unit);
  size_t k = (size_t)floor(s * (double)unit + 0.5);
  if (k > unit) k = unit;
  Tensor *p = tensor_new(t->name, 2, t->rows, t->cols, LX_LAYOUT_MASKED, LX_ENC_F32, 0, 0);
  uint64_t *keys = lx_malloc((unit ? unit : 1) * sizeof *keys);
  if (!p || !keys || tensor_copy_groups(p, t)) {
    tensor_free(p);
    lx_free(keys);
    return lx_nomem("pruning");
  }
  float *vals = tensor_f32(p);
  for (int64_t r = 0; r < t->rows; r++) tensor_row_to_f32(t, r, vals + (size_t)r * (size_t)t->cols);
  /* the mask starts as the old one (or all kept) */
  if (t->mask) memcpy(p->mask, t->mask, (size_t)t->rows * t->mask_stride);
  else
    for (int64_t r = 0; r < t->rows; r++)
      for (int64_t c = 0; c < t->cols; c++) p->mask[(size_t)r * p->mask_stride + (size_t)c / 8] |= (uint8_t)(1u << (c % 8));
  int64_t before = 0, after = 0;
  for (size_t i = 0; i < n; i++) before += vals[i] != 0.0f;
  if (per_row)
    for (int64_t r = 0; r < t->rows; r++)
      prune_unit(vals + (size_t)r * unit, unit, k, keys, vals, p->mask, p->mask_stride, t->cols, (size_t)r * unit);
  else
    prune_unit(vals, n, k, keys, vals, p->mask, p->mask_stride, t->cols, 0);
  for (size_t i = 0; i < n; i++) after += vals[i] != 0.0f;
  lx_free(keys);
  *pruned = before - after;
  *out = p;
  return 0;
}

int pass_prune(Graph *g, const PassArgs *a, PassStats *st) {
  uint8_t *sel = lx_calloc((size_t)g->nslots, 1);
  PassEdits e = {0};
  if (!sel) return lx_nomem("pruning");
  int rc = pass_select(g, a, PO_prune_only, PO_prune_skip, PASS_SET_MATRICES, sel);
  for (int i = 0; i < g->nslots && !rc; i++) {
    const Tensor *t = g->slots[i].t;
    if (sel[i] && (t->layout == LX_LAYOUT_PACKED || lx_enc_has_scale(t->enc)))
      rc = pass_bad_format("prune", t, "dense or masked f32/bf16 weights (prune before conflict-prune and quantize)");
  }
  if (!rc) rc = pass_edits_init(&e, g);
  for (int i = 0; i < g->nslots && !rc; i++) {
    if (!sel[i]) continue;
    int64_t pruned = 0;
    rc = prune_tensor(g->slots[i].t, a->opt[PO_prune_sparsity].f, a->opt[PO_prune_scope].i == 1, &e.t[i], &pruned);
    st->pruned += pruned;
  }
  if (!rc) st->tensors = pass_edits_commit(&e, g);
  pass_edits_free(&e);
  lx_free(sel);
  return rc;
}
