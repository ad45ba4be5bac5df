/* Layout of a graph for the CPU kernels: which kernel each weight matrix gets, where its repacked tiles
 * sit in the weight blob, and where state and activations sit in the arena; then the repacking itself.
 *
 * Repacking turns every format into one of twelve kernel formats (dense or packed, times six encodings)
 * without changing a single weight value: a masked weight whose bit is clear becomes code 0, and a packed
 * slot with no column (LX_SEL_EMPTY) becomes code 0 with select index 0. Binary codes have no zero, so a
 * binary matrix that needs zeros (masked, or packed with empty slots) is repacked as ternary, which spends
 * the same two bits per weight as binary plus its mask. Lanes past the last unit of a tile get code 0 and
 * scale 0, so padded units compute nothing and their state stays 0. */
#include <string.h>

#include "codegen/cpu/cpu.h"
#include "support/alloc.h"
#include "support/err.h"

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

/* The kernel encoding of a tensor: its own, unless zeros must be representable in a binary one. */
static int kernel_enc(const Tensor *t) {
  if (t->enc != LX_ENC_BINARY || t->layout == LX_LAYOUT_DENSE) return t->enc;
  if (t->layout == LX_LAYOUT_MASKED) return LX_ENC_TERNARY;
  for (int64_t i = 0; i < t->rows * t->ngroups; i++)
    if (t->sel[i] == LX_SEL_EMPTY) return LX_ENC_TERNARY;
  return LX_ENC_BINARY;
}

/* Places a matrix of `gates` x units rows in the blob at *off (advanced past it). */
static int mat_layout(CpuMat *m, const Tensor *t, int gates, int vl, size_t *off) {
  memset(m, 0, sizeof *m);
  if (!t || t->ndim != 2 || t->layout < 0 || t->layout >= LX_LAYOUT_COUNT || t->enc < 0 || t->enc >= LX_ENC_COUNT)
    return lx_fail(LSTMC_ERR_UNSUPPORTED, "cpu backend: tensor '%s' is not a weight matrix in a known format",
                   t ? t->name : "?");
  m->src = t;
  m->packed = t->layout == LX_LAYOUT_PACKED;
  m->enc = kernel_enc(t);
  m->gates = gates;
  m->units = t->rows / gates;
  m->cols = t->cols;
  m->ntiles = (m->units + vl - 1) / vl;
  m->nslots = m->packed ? t->ngroups : t->cols;
  if (m->ntiles > INT32_MAX || m->nslots > INT32_MAX)
    return lx_fail(LSTMC_ERR_UNSUPPORTED, "cpu backend: tensor '%s' is too large (%lld x %lld)", t->name,
                   (long long)t->rows, (long long)t->cols);
  m->code_bytes = lx_row_bytes(m->enc, (unsigned long)vl);
  m->gate_stride = m->code_bytes + (m->packed ? (size_t)vl : 0);
  m->slot_stride = (size_t)gates * m->gate_stride;
  m->tile_bytes = (size_t)m->nslots * m->slot_stride;
  m->off = *off;
  *off = align64(*off + (size_t)m->ntiles * m->tile_bytes);
  if (lx_enc_has_scale(m->enc)) {
    m->scale_off = *off;
    *off = align64(*off + (size_t)m->ntiles * (size_t)gates * (size_t)vl * sizeof(float));
  }
  if (m->packed) {
    m->ngrouped = t->group_off[t->ngroups];
    for (int64_t g = 0; g < t->ngroups; g++) {
      int size = t->group_off[g + 1] - t->group_off[g];
      if (size > m->max_group) m->max_group = size;
    }
    m->goff_off = *off;
    *off = align64(*off + ((size_t)m->nslots + 1) * sizeof(int32_t));
    m->gcols_off = *off;
    *off = align64(*off + (size_t)m->ngrouped * sizeof(int32_t));
  }
  return 0;
}

static const Tensor *slot_tensor(const Graph *g, int slot) { return slot >= 0 && slot < g->nslots ? g->slots[slot].t : NULL; }

/* Phase 1: the weight blob. Every matrix, bias and the embedding get their place, node by node. */
static int plan_blob(CpuPlan *p, const Graph *g) {
  int vl = p->vl, k = 0;
  size_t off = 0;
  for (int i = 0; i < g->nnodes; i++) {
    const Node *n = &g->nodes[i];
    int st = 0;
    switch (n->op) {
    case OP_EMBED:
      p->E = n->out_dim;
      if (!slot_tensor(g, n->w[W_EMBED])) st = lx_fail(LSTMC_ERR_UNSUPPORTED, "cpu backend: node %%%d (embed) has no weight", i);
      break;
    case OP_DROPOUT:
    case OP_SOFTMAX: break; /* identity in inference; callers take the log-softmax */
    case OP_LSTM: {
      CpuLayer *L = &p->layers[k++];
      L->in = n->in_dim;
      L->hidden = n->out_dim;
      if ((st = mat_layout(&L->ih, slot_tensor(g, n->w[W_IH]), 4, vl, &off)) ||
          (st = mat_layout(&L->hh, slot_tensor(g, n->w[W_HH]), 4, vl, &off)))
        break;
      L->hp = L->ih.ntiles * vl;
      L->bias_off = off;
      off = align64(off + (size_t)L->hp * 4 * sizeof(float));
      break;
    }
    case OP_DECODER:
      if ((st = mat_layout(&p->dec, slot_tensor(g, n->w[W_DEC]), 1, vl, &off))) break;
      p->Vp = p->dec.ntiles * vl;
      p->dec_bias_off = off;
      off = align64(off + (size_t)p->Vp * sizeof(float));
      break;
    default: st = lx_fail(LSTMC_ERR_UNSUPPORTED, "cpu backend: node %%%d (%s) has no kernel", i, op_name(n->op));
    }
    if (st) return st;
  }
  p->emb_off = off;
  off = align64(off + (size_t)p->V * (size_t)p->E * sizeof(float));
  p->blob_size = off;
  return 0;
}

/* Phase 2: the arena. Fixed words, per layer h (double-buffered) and c, the logits, the scoring buffers,
 * the sampler's scratch, then one scratch area per thread. */
static void plan_arena(CpuPlan *p) {
  int64_t kmax = 0, hpmax = 0;
  for (int l = 0; l < p->nlayers; l++) {
    const CpuLayer *L = &p->layers[l];
    if (L->ih.ngrouped > kmax) kmax = L->ih.ngrouped;
    if (L->hh.ngrouped > kmax) kmax = L->hh.ngrouped;
    if (L->hp > hpmax) hpmax = L->hp;
  }
  if (p->dec.ngrouped > kmax) kmax = p->dec.ngrouped;
  size_t B = (size_t)p->batch, T = (size_t)p->chunk, a = 64;
  p->a_parity = 0;
  p->a_rng = 8;
  p->a_tokens = a;
  a = align64(a + sizeof(int32_t) * (B > T ? B : T));
  for (int l = 0; l < p->nlayers; l++) {
    CpuLayer *L = &p->layers[l];
    size_t bytes = B * (size_t)L->hp * sizeof(float);
    L->h_off[0] = a;
    L->h_off[1] = a = align64(a + bytes);
    L->c_off = a = align64(a + bytes);
    a = align64(a + bytes);
  }
  p->a_logits = a;
  a = align64(a + B * (size_t)p->Vp * sizeof(float));
  if (T) {
    for (int l = 0; l < p->nlayers; l++) {
      p->layers[l].xout_off = a;
      a = align64(a + T * (size_t)p->layers[l].hp * sizeof(float));
    }
    p->a_gates = a;
    a = align64(a + T * 4 * (size_t)hpmax * sizeof(float));
    p->a_slogits = a;
    a = align64(a + T * (size_t)p->Vp * sizeof(float));
  }
  p->a_cands = a;
  a = align64(a + (size_t)p->V * 8);
  p->scratch_off = a;
  size_t ntables = 2 * B > T ? 2 * B : T;
  p->table_floats = kmax ? (size_t)kmax + (size_t)p->vl : 0;
  p->scratch_size = align64(ntables * p->table_floats * sizeof(float));
  p->arena_size = a + (size_t)p->nthreads * p->scratch_size;
}

int cpu_plan_make(const Graph *g, const CpuTarget *tgt, int batch, int chunk, int nthreads, CpuPlan **out) {
  *out = NULL;
  if (!graph_has_weights(g)) return lx_fail(LSTMC_ERR_USAGE, "cpu backend: the model has no weights loaded");
  CpuPlan *p = lx_calloc(1, sizeof *p);
  if (!p) return lx_nomem("planning the cpu code");
  p->vl = tgt->vl;
  p->batch = batch > 0 ? batch : 1;
  p->chunk = chunk;
  p->nthreads = nthreads > 0 ? nthreads : 1;
  p->nlayers = graph_num_lstm(g);
  p->V = g->vocab_size;
  p->layers = lx_calloc((size_t)(p->nlayers ? p->nlayers : 1), sizeof *p->layers);
  int st = p->layers ? plan_blob(p, g) : lx_nomem("planning the cpu code");
  if (st) {
    cpu_plan_free(p);
    return st;
  }
  plan_arena(p);
  *out = p;
  return 0;
}

void cpu_plan_free(CpuPlan *p) {
  if (!p) return;
  lx_free(p->layers);
  lx_free(p);
}

static size_t mat_bytes(const CpuMat *m, int vl) {
  size_t b = (size_t)m->ntiles * m->tile_bytes;
  if (m->scale_off) b += (size_t)m->ntiles * (size_t)m->gates * (size_t)vl * sizeof(float);
  if (m->packed) b += ((size_t)m->nslots + 1 + (size_t)m->ngrouped) * sizeof(int32_t);
  return b;
}

size_t cpu_plan_step_bytes(const CpuPlan *p) {
  size_t b = mat_bytes(&p->dec, p->vl) + (size_t)p->Vp * sizeof(float) + (size_t)p->E * sizeof(float);
  for (int l = 0; l < p->nlayers; l++)
    b += mat_bytes(&p->layers[l].ih, p->vl) + mat_bytes(&p->layers[l].hh, p->vl) + (size_t)p->layers[l].hp * 16;
  return b;
}

/* ---- repacking ---------------------------------------------------------------------------------- */

/* Writes the integer level v (or the float value, for F32/BF16) into lane u of a gate's code vector. */
static void put_code(int enc, uint8_t *codes, int vl, int u, float v) {
  switch (enc) {
  case LX_ENC_F32: memcpy(codes + 4 * u, &v, 4); break;
  case LX_ENC_BF16: {
    uint32_t bits;
    memcpy(&bits, &v, 4);
    uint16_t h = (uint16_t)(bits >> 16); /* exact: the value came from a bf16 */
    memcpy(codes + 2 * u, &h, 2);
    break;
  }
  case LX_ENC_Q8: codes[u] = (uint8_t)(int8_t)v; break;
  case LX_ENC_Q4: {
    /* lane u < vl/2 in the low nibble of byte u, lane u >= vl/2 in the high nibble of byte u - vl/2, so
     * that two arithmetic shifts and one concatenation decode a whole vector */
    uint8_t nib = (uint8_t)((int)v & 15);
    if (u < vl / 2) codes[u] = (uint8_t)((codes[u] & 0xf0) | nib);
    else codes[u - vl / 2] = (uint8_t)((codes[u - vl / 2] & 0x0f) | nib << 4);
    break;
  }
  case LX_ENC_TERNARY: /* a mask of +1 lanes, then a mask of -1 lanes */
    if (v > 0) codes[u >> 3] |= (uint8_t)(1u << (u & 7));
    if (v < 0) codes[vl / 8 + (u >> 3)] |= (uint8_t)(1u << (u & 7));
    break;
  default: /* binary: bit set = -1 */
    if (v < 0) codes[u >> 3] |= (uint8_t)(1u << (u & 7));
    break;
  }
}

static void mat_fill(const CpuMat *m, int vl, uint8_t *blob) {
  const Tensor *t = m->src;
  for (int64_t tile = 0; tile < m->ntiles; tile++)
    for (int q = 0; q < m->gates; q++)
      for (int u = 0; u < vl; u++) {
        int64_t unit = tile * vl + u;
        if (unit >= m->units) continue; /* padding: code 0 (blob is zeroed), scale 0 */
        int64_t row = q * m->units + unit;
        const uint8_t *src = t->codes + (size_t)row * t->stride;
        const uint8_t *mask = t->mask ? t->mask + (size_t)row * t->mask_stride : NULL;
        uint8_t *dst = blob + m->off + (size_t)tile * m->tile_bytes + (size_t)q * m->gate_stride;
        for (int64_t s = 0; s < m->nslots; s++, dst += m->slot_stride) {
          float v;
          if (m->packed) {
            unsigned sel = t->sel[(size_t)row * (size_t)t->ngroups + (size_t)s];
            if (sel == LX_SEL_EMPTY) continue; /* code 0, select 0 */
            dst[u] = (uint8_t)sel;
            v = lx_decode_level(t->enc, src, (unsigned long)s);
            put_code(m->enc, dst + vl, vl, u, v);
          } else {
            if (mask && !lx_mask_get(mask, (unsigned long)s)) continue;
            v = lx_decode_level(t->enc, src, (unsigned long)s);
            put_code(m->enc, dst, vl, u, v);
          }
        }
        if (m->scale_off) memcpy(blob + m->scale_off + (((size_t)tile * (size_t)m->gates + (size_t)q) * (size_t)vl + (size_t)u) * 4, &t->scale[row], 4);
      }
  if (m->packed) {
    memcpy(blob + m->goff_off, t->group_off, ((size_t)m->nslots + 1) * sizeof(int32_t));
    memcpy(blob + m->gcols_off, t->group_cols, (size_t)m->ngrouped * sizeof(int32_t));
  }
}

void cpu_plan_fill(const CpuPlan *p, const Graph *g, uint8_t *blob) {
  memset(blob, 0, p->blob_size);
  int vl = p->vl, k = 0;
  for (int i = 0; i < g->nnodes; i++) {
    const Node *n = &g->nodes[i];
    if (n->op == OP_EMBED) {
      const Tensor *t = g->slots[n->w[W_EMBED]].t;
      for (int64_t r = 0; r < p->V; r++) tensor_row_to_f32(t, r, (float *)(void *)(blob + p->emb_off) + r * p->E);
    } else if (n->op == OP_LSTM) {
      const CpuLayer *L = &p->layers[k++];
      mat_fill(&L->ih, vl, blob);
      mat_fill(&L->hh, vl, blob);
      const Tensor *bi = g->slots[n->w[B_IH]].t, *bh = g->slots[n->w[B_HH]].t;
      float *bias = (float *)(void *)(blob + L->bias_off);
      for (int64_t unit = 0; unit < L->hidden; unit++)
        for (int q = 0; q < 4; q++) {
          int64_t row = q * L->hidden + unit;
          /* the reference adds the two biases in double */
          bias[((unit / vl) * 4 + q) * vl + unit % vl] = (float)((double)tensor_get(bi, row, 0) + (double)tensor_get(bh, row, 0));
        }
    } else if (n->op == OP_DECODER) {
      mat_fill(&p->dec, vl, blob);
      const Tensor *b = g->slots[n->w[B_DEC]].t;
      float *bias = (float *)(void *)(blob + p->dec_bias_off);
      for (int64_t r = 0; r < p->V; r++) bias[r] = tensor_get(b, r, 0);
    }
  }
}
