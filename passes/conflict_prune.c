/* conflict-prune{only=, skip=} — conflict pruning after column combining, and packing.
 *
 * Requires: weights with column groups that are not packed yet (what column-combine makes), dense or
 * masked, any encoding. By default every such weight is taken, and it is an error when there is none;
 * a weight named by only= must be one.
 * Produces: the column-packed layout in the same encoding (scales kept): per row and group the weight of
 * largest |w| stays (the lowest column on ties) and the other nonzeros of that row in that group, the
 * conflicts, are dropped; a row with no nonzero in a group gets an empty slot. Then
 * y[r] = Σ_g V[r,g] · x[S[r,g]] equals the dense product of the conflict-pruned matrix.
 * Preserves: shapes, the groups and their parameters, every kept value bit for bit, other tensors. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "passes/passes.h"
#include "support/alloc.h"
#include "support/err.h"

int cc_pack_tensor(const Tensor *t, Tensor **out, int64_t *pruned) {
  LX_ASSERT(tensor_has_groups(t) && t->layout != LX_LAYOUT_PACKED);
  *out = NULL;
  *pruned = 0;
  int64_t G = t->ngroups, cw = (t->cols + 63) / 64;
  Tensor *p = tensor_new(t->name, 2, t->rows, t->cols, LX_LAYOUT_PACKED, t->enc, G, t->group_off[G]);
  float *tmp = lx_malloc(((size_t)t->cols + 1) * sizeof *tmp);
  uint64_t *bits = lx_malloc(((size_t)cw + 1) * sizeof *bits), *best = lx_calloc((size_t)G + 1, sizeof *best);
  int32_t *group_of = lx_malloc(((size_t)t->cols + 1) * sizeof *group_of), *count = lx_calloc((size_t)G + 1, sizeof *count);
  int st = 0;
  if (!p || !tmp || !bits || !best || !group_of || !count) {
    st = lx_nomem("packing combined columns");
    goto done;
  }
  memcpy(p->group_off, t->group_off, ((size_t)G + 1) * sizeof(int32_t));
  memcpy(p->group_cols, t->group_cols, (size_t)t->group_off[G] * sizeof(int32_t));
  p->alpha = t->alpha;
  p->gamma = t->gamma;
  p->block = t->block;
  if (t->scale) memcpy(p->scale, t->scale, (size_t)t->rows * sizeof(float));
  /* column → group << 8 | position in the group (columns in no group hold no weight: tensor_check) */
  for (int64_t c = 0; c < t->cols; c++) group_of[c] = -1;
  for (int64_t g = 0; g < G; g++)
    for (int32_t k = t->group_off[g]; k < t->group_off[g + 1]; k++)
      group_of[t->group_cols[k]] = (int32_t)(g << 8 | (k - t->group_off[g]));
  int64_t dropped = 0;
  const CcKernels *kernels = cc_kernels_best();
  for (int64_t r = 0; r < t->rows; r++) {
    const unsigned char *src = t->codes + (size_t)r * t->stride;
    const float *v = cc_row_bits(kernels, t, r, tmp, bits, cw);
    /* Visit only the nonzeros. Each group's winner is one integer maximum: |w| as its bits (order-
     * preserving for non-negative floats), then 255 − position, so equal magnitudes go to the lowest
     * column — no data-dependent branch, which here would mispredict on every other weight. */
    for (int64_t w = 0; w < cw; w++)
      for (uint64_t b = bits[w]; b; b &= b - 1) {
        int64_t c = w * 64 + __builtin_ctzll(b);
        int32_t gp = group_of[c];
        if (gp < 0) continue;
        uint32_t a;
        memcpy(&a, &v[c], 4);
        uint64_t key = (uint64_t)(a & 0x7fffffffu) << 8 | (uint64_t)(255 - (gp & 255));
        int64_t g = gp >> 8;
        count[g]++;
        best[g] = key > best[g] ? key : best[g];
      }
    /* One slot per group. An empty group (best 0) gets LX_SEL_EMPTY and level 0 — written without a
     * branch too, as empties are scattered. */
    uint8_t *sel = p->sel + (size_t)r * (size_t)G;
    float *out_f32 = p->enc == LX_ENC_F32 ? (float *)(void *)(p->codes + (size_t)r * p->stride) : NULL;
    for (int64_t g = 0; g < G; g++) {
      int empty = best[g] == 0;
      int k = empty ? 0 : 255 - (int)(best[g] & 255);
      int32_t c = t->group_cols[t->group_off[g] + k];
      sel[g] = empty ? (uint8_t)LX_SEL_EMPTY : (uint8_t)k;
      dropped += count[g] - !empty;
      /* the stored level, not the decoded value: scaled encodings keep their codes exactly */
      if (out_f32) out_f32[g] = empty ? 0.0f : v[c];
      else if (!empty) tensor_set_level(p, r, g, lx_decode_level(t->enc, src, (unsigned long)c));
      best[g] = 0;
      count[g] = 0;
    }
  }
  *pruned = dropped;
  *out = p;
  p = NULL;
done:
  tensor_free(p);
  lx_free(tmp);
  lx_free(bits);
  lx_free(best);
  lx_free(group_of);
  lx_free(count);
  return st;
}

int pass_conflict_prune(Graph *g, const PassArgs *a, PassStats *st) {
  uint8_t *sel = lx_calloc((size_t)g->nslots, 1);
  PassEdits e = {0};
  if (!sel) return lx_nomem("pruning conflicts");
  int explicit = a->opt[PO_conflict_prune_only].set;
  int rc = pass_select(g, a, PO_conflict_prune_only, PO_conflict_prune_skip, PASS_SET_MATRICES, sel);
  int n = 0;
  for (int i = 0; i < g->nslots && !rc; i++) {
    const Tensor *t = g->slots[i].t;
    if (!sel[i]) continue;
    if (tensor_has_groups(t) && t->layout != LX_LAYOUT_PACKED) n++;
    else if (explicit)
      rc = pass_bad_format("conflict-prune", t, "weights with column groups not packed yet (run column-combine first)");
    else sel[i] = 0;
  }
  if (!rc && !n)
    rc = lx_fail(LSTMC_ERR_UNSUPPORTED, "no weight has column groups to pack (run column-combine before conflict-prune)");
  if (!rc) rc = pass_edits_init(&e, g);
  for (int i = 0; i < g->nslots && !rc; i++) {
    if (!sel[i]) continue;
    int64_t pruned;
    rc = cc_pack_tensor(g->slots[i].t, &e.t[i], &pruned);
    st->pruned += pruned;
  }
  if (!rc) {
    st->tensors = pass_edits_commit(&e, g);
    snprintf(st->note, sizeof st->note, "%lld conflicts pruned in %d matrices", (long long)st->pruned, st->tensors);
  }
  pass_edits_free(&e);
  lx_free(sel);
  return rc;
}
