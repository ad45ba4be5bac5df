/* Layout of a graph for the CPU kernels: which kernel each weight matrix gets, where its repacked tiles
 * sit in the weight blob, and where state and activations sit in the arena; then the repacking itself.
 *
 * Repacking turns every format into one of twelve kernel formats (dense or packed, times six encodings)
 * without changing a single weight value: a masked weight whose bit is clear becomes code 0, and a packed
 * slot with no column (LX_SEL_EMPTY) becomes code 0 with select index 0. Binary codes have no zero, so a
 * binary matrix that needs zeros (masked, or packed with empty slots) is repacked as ternary, which spends
 * the same two bits per weight as binary plus its mask. Lanes past the last unit of a tile get code 0 and
 * scale 0, so padded units compute nothing and their state stays 0.
 *
 * The kernel of each matrix (cpu.h CPU_KERNEL_*) sets its tile layout: the float kernel's (one slot per
 * step), the integer kernel's (quads of slots, for int8 activations: act_bits = 8), or the bf16 dot
 * product's (pairs of slots, dense bf16 on a CPU with AVX512-BF16). */
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

/* The kernel of a matrix on a target (cpu.h CPU_KERNEL_*). */
static int kernel_of(const Tensor *t, const CpuTarget *tgt) {
  if (t->act_bits == 8) return CPU_KERNEL_INT8;
  if (t->enc == LX_ENC_BF16 && t->layout != LX_LAYOUT_PACKED && tgt->bf16dot && tgt->vl == 16) return CPU_KERNEL_BF16DOT;
  return CPU_KERNEL_FLOAT;
}

/* The widest stretch of the group table that one quad of groups reaches (INT8 packed): its groups' columns,
 * and for a last quad with fewer than four groups the zero byte after the table, which the missing
 * groups' lanes read (binary levels have no 0, so their weight may be ±1). */
static int64_t max_quad_span(const Tensor *t) {
  int64_t span = 0;
  for (int64_t q = 0; q < t->ngroups; q += 4) {
    int64_t end = q + 4 < t->ngroups ? q + 4 : t->ngroups;
    int64_t s = t->group_off[end] - t->group_off[q] + (q + 4 > t->ngroups);
    if (s > span) span = s;
  }
  return span;
}

/* The kernel's loop and the bytes of one of its steps: slots (float), quads (integer), pairs (bf16); and what
 * a prepared input of the matrix takes. */
static void kernel_steps(CpuMat *m, const Tensor *t, const CpuTarget *tgt) {
  int vl = tgt->vl;
  switch (m->kernel) {
  case CPU_KERNEL_INT8: {
    m->dot = tgt->dot;
    m->nsteps = (m->nslots + 3) / 4;
    m->code_bytes = lx_row_bytes(m->enc, 4ul * (unsigned long)vl);
    m->sel_nibbles = m->packed && m->max_group <= 16;
    m->gate_stride = m->code_bytes + (m->packed ? (m->sel_nibbles ? 2 : 4) * (size_t)vl : 0);
    if (m->packed) {
      int64_t span = max_quad_span(t);
      m->gather = vl == 16 && tgt->vbmi && span <= 64 ? CPU_GATHER_VPERMB
                  : vl == 8 && tgt->avx2 && span <= 32 ? CPU_GATHER_PSHUFB
                                                      : CPU_GATHER_GENERIC;
      m->in_bytes = align64((size_t)m->ngrouped + 64); /* room for the widest load past the last group */
    } else {
      m->in_bytes = align64(4 * (size_t)m->nsteps);
    }
    break;
  }
  case CPU_KERNEL_BF16DOT:
    m->nsteps = (m->nslots + 1) / 2;
    m->code_bytes = 4 * (size_t)vl;
    m->gate_stride = m->code_bytes;
    m->in_bytes = align64(8 * (size_t)m->nsteps); /* the hi pairs, then the lo pairs */
    break;
  default:
    m->nsteps = m->nslots;
    m->code_bytes = lx_row_bytes(m->enc, (unsigned long)vl);
    m->gate_stride = m->code_bytes + (m->packed ? (size_t)vl : 0);
    m->in_bytes = m->packed ? align64(((size_t)m->ngrouped + (size_t)vl) * sizeof(float)) : 0;
  }
}

/* Places a matrix of `gates` x units rows in the blob at *off (advanced past it). */
static int mat_layout(CpuMat *m, const Tensor *t, int gates, const CpuTarget *tgt, size_t *off) {
  int vl = tgt->vl;
  memset(m, 0, sizeof *m);
  if (!t || t->ndim != 2 || t->layout < 0 || t->layout >= LX_LAYOUT_COUNT || t->enc < 0 || t->enc >= LX_ENC_COUNT)
    return lx_fail(LSTMC_ERR_UNSUPPORTED, "cpu backend: tensor '%s' is not a weight matrix in a known format",
                   t ? t->name : "?");
  m->src = t;
  m->kernel = kernel_of(t, tgt);
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
  if (m->packed) {
    m->ngrouped = t->group_off[t->ngroups];
    for (int64_t g = 0; g < t->ngroups; g++) {
      int size = t->group_off[g + 1] - t->group_off[g];
      if (size > m->max_group) m->max_group = size;
    }
  }
  kernel_steps(m, t, tgt);
  m->slot_stride = (size_t)gates * m->gate_stride;
  m->tile_bytes = (size_t)m->nsteps * m->slot_stride;
  m->off = *off;
  *off = align64(*off + (size_t)m->ntiles * m->tile_bytes);
  size_t lane_words = (size_t)m->ntiles * (size_t)gates * (size_t)vl * 4;
  if (lx_enc_has_scale(m->enc)) {
    m->scale_off = *off;
    *off = align64(*off + lane_words);
  }
  if (m->kernel == CPU_KERNEL_INT8 && m->dot == CPU_DOT_VNNI) {
    m->wsum_off = *off;
    *off = align64(*off + lane_words);
  }
  if (m->sel_nibbles) {
    m->qoff_off = *off;
    *off = align64(*off + (size_t)m->nsteps * sizeof(uint32_t));
  }
  if (m->packed) {
    m->goff_off = *off;
    *off = align64(*off + ((size_t)m->nslots + 1) * sizeof(int32_t));
    m->gcols_off = *off;
    *off = align64(*off + (size_t)m->ngrouped * sizeof(int32_t));
  }
  return 0;
}

static const Tensor *slot_tensor(const Graph *g, int slot) { return slot >= 0 && slot < g->nslots ? g->slots[slot].t : NULL; }

/* Phase 1: the weight blob. Every matrix, bias and the embedding get their place, node by node. */
static int plan_blob(CpuPlan *p, const Graph *g, const CpuTarget *tgt) {
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
      if ((st = mat_layout(&L->ih, slot_tensor(g, n->w[W_IH]), 4, tgt, &off)) ||
          (st = mat_layout(&L->hh, slot_tensor(g, n->w[W_HH]), 4, tgt, &off)))
        break;
      L->hp = L->ih.ntiles * vl;
      L->bias_off = off;
      off = align64(off + (size_t)L->hp * 4 * sizeof(float));
      break;
    }
    case OP_DECODER:
      if ((st = mat_layout(&p->dec, slot_tensor(g, n->w[W_DEC]), 1, tgt, &off))) break;
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

int cpu_plan_nmats(const CpuPlan *p) { return 2 * p->nlayers + 1; }

const CpuMat *cpu_plan_mat(const CpuPlan *p, int k) {
  LX_ASSERT(k >= 0 && k < cpu_plan_nmats(p));
  if (k == 2 * p->nlayers) return &p->dec;
  return k % 2 ? &p->layers[k / 2].hh : &p->layers[k / 2].ih;
}

/* Phase 2: the arena. Fixed words, per layer h (double-buffered) and c, the logits, the scoring buffers,
 * the sampler's scratch, the test probes' buffers, then one scratch area per thread. */
static void plan_arena(CpuPlan *p) {
  int64_t hpmax = 0, colmax = 0, rowmax = 0;
  size_t inmax = 0;
  for (int k = 0; k < cpu_plan_nmats(p); k++) {
    const CpuMat *m = cpu_plan_mat(p, k);
    if (m->in_bytes > inmax) inmax = m->in_bytes;
    if (m->cols > colmax) colmax = m->cols;
    if (m->ntiles * m->gates * p->vl > rowmax) rowmax = m->ntiles * m->gates * p->vl;
  }
  for (int l = 0; l < p->nlayers; l++)
    if (p->layers[l].hp > hpmax) hpmax = p->layers[l].hp;
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
  if (p->probes) {
    p->a_probe_in = a;
    a = align64(a + (size_t)colmax * 4);
    p->a_probe_acc = a;
    a = align64(a + (size_t)rowmax * 4);
    p->a_probe_y = a;
    a = align64(a + (size_t)rowmax * 4);
  }
  p->scratch_off = a;
  size_t ntables = 2 * B > T ? 2 * B : T;
  /* a prepared input: a 64-byte header (s_x) and the kernel's bytes */
  p->table_bytes = inmax ? 64 + inmax : 0;
  p->scratch_size = align64(ntables * p->table_bytes);
  p->arena_size = a + (size_t)p->nthreads * p->scratch_size;
}

int cpu_plan_make_probed(const Graph *g, const CpuTarget *tgt, int batch, int chunk, int nthreads, int probes, CpuPlan **out) {
  *out = NULL;
  if (!graph_has_weights(g)) return lx_fail(LSTMC_ERR_USAGE, "cpu backend: the model has no weights loaded");
  CpuPlan *p = lx_calloc(1, sizeof *p);
  if (!p) return lx_nomem("planning the cpu code");
  p->vl = tgt->vl;
  p->batch = batch > 0 ? batch : 1;
  p->chunk = chunk;
  p->nthreads = nthreads > 0 ? nthreads : 1;
  p->probes = probes;
  p->nlayers = graph_num_lstm(g);
  p->V = g->vocab_size;
  p->layers = lx_calloc((size_t)(p->nlayers ? p->nlayers : 1), sizeof *p->layers);
  int st = p->layers ? plan_blob(p, g, tgt) : lx_nomem("planning the cpu code");
  if (st) {
    cpu_plan_free(p);
    return st;
  }
  plan_arena(p);
  *out = p;
  return 0;
}

int cpu_plan_make(const Graph *g, const CpuTarget *tgt, int batch, int chunk, int nthreads, CpuPlan **out) {
  return cpu_plan_make_probed(g, tgt, batch, chunk, nthreads, 0, out);
}

void cpu_plan_free(CpuPlan *p) {
  if (!p) return;
  lx_free(p->layers);
  lx_free(p);
}

static size_t mat_bytes(const CpuMat *m, int vl) {
  size_t b = (size_t)m->ntiles * m->tile_bytes;
  if (m->scale_off) b += (size_t)m->ntiles * (size_t)m->gates * (size_t)vl * sizeof(float);
  if (m->wsum_off) b += (size_t)m->ntiles * (size_t)m->gates * (size_t)vl * sizeof(int32_t);
  if (m->qoff_off) b += (size_t)m->nsteps * sizeof(uint32_t);
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

/* Writes level v at byte position i (0 .. 4 vl - 1) of an INT8 kernel's code vector (cpu.h). */
static void put_int_code(int enc, uint8_t *codes, int vl, int i, int v) {
  switch (enc) {
  case LX_ENC_Q8: codes[i] = (uint8_t)(int8_t)v; break;
  case LX_ENC_Q4: {
    uint8_t nib = (uint8_t)(v & 15);
    if (i < 2 * vl) codes[i] = (uint8_t)((codes[i] & 0xf0) | nib);
    else codes[i - 2 * vl] = (uint8_t)((codes[i - 2 * vl] & 0x0f) | nib << 4);
    break;
  }
  case LX_ENC_TERNARY:
    if (v > 0) codes[i >> 3] |= (uint8_t)(1u << (i & 7));
    if (v < 0) codes[vl / 2 + (i >> 3)] |= (uint8_t)(1u << (i & 7));
    break;
  default: /* binary: bit set = -1 */
    if (v < 0) codes[i >> 3] |= (uint8_t)(1u << (i & 7));
    break;
  }
}

/* The weight slot s of a row as the kernels see it: its level (0 for a cleared mask bit or an empty packed
 * slot) and, packed, its select index (0 when empty). */
static float slot_level(const Tensor *t, int64_t row, int64_t s, unsigned *sel) {
  const uint8_t *src = t->codes + (size_t)row * t->stride;
  *sel = 0;
  if (t->layout == LX_LAYOUT_PACKED) {
    unsigned v = t->sel[(size_t)row * (size_t)t->ngroups + (size_t)s];
    if (v == LX_SEL_EMPTY) return 0.0f;
    *sel = v;
  } else if (t->mask && !lx_mask_get(t->mask + (size_t)row * t->mask_stride, (unsigned long)s)) {
    return 0.0f;
  }
  return lx_decode_level(t->enc, src, (unsigned long)s);
}

/* One lane (unit u of a tile, gate q) of a matrix: its codes at every step, its scale, and (VNNI) the
 * correction 128 · Σ levels. */
static void lane_fill(const CpuMat *m, int vl, uint8_t *blob, int64_t tile, int q, int u) {
  const Tensor *t = m->src;
  int64_t row = q * m->units + tile * vl + u;
  uint8_t *base = blob + m->off + (size_t)tile * m->tile_bytes + (size_t)q * m->gate_stride;
  int64_t sum = 0;
  for (int64_t s = 0; s < m->nslots; s++) {
    unsigned sel;
    float v = slot_level(t, row, s, &sel);
    if (m->kernel == CPU_KERNEL_INT8) {
      int64_t step = s / 4;
      int i = 4 * u + (int)(s % 4);
      uint8_t *dst = base + (size_t)step * m->slot_stride;
      if (m->sel_nibbles) {
        put_int_code(LX_ENC_Q4, dst, vl, i, (int)sel); /* the nibble layout of q4 codes, values 0..15 */
        dst += 2 * (size_t)vl;
      } else if (m->packed) {
        dst[i] = (uint8_t)(t->group_off[s] - t->group_off[4 * step] + (int32_t)sel);
        dst += 4 * (size_t)vl;
      }
      put_int_code(m->enc, dst, vl, i, (int)v);
      sum += (int64_t)v;
      if (m->packed && !m->sel_nibbles && s == m->nslots - 1)
        for (int64_t pad = s + 1; pad < 4 * (step + 1); pad++) /* missing groups: the zero byte after the table */
          base[(size_t)step * m->slot_stride + 4 * (size_t)u + (size_t)(pad % 4)] = (uint8_t)(t->group_off[s + 1] - t->group_off[4 * step]);
    } else if (m->kernel == CPU_KERNEL_BF16DOT) {
      uint32_t bits;
      memcpy(&bits, &v, 4);
      uint16_t h = (uint16_t)(bits >> 16); /* exact: the value came from a bf16 */
      memcpy(base + (size_t)(s / 2) * m->slot_stride + 4 * (size_t)u + 2 * (size_t)(s % 2), &h, 2);
    } else {
      uint8_t *dst = base + (size_t)s * m->slot_stride;
      if (m->packed) {
        dst[u] = (uint8_t)sel;
        dst += vl;
      }
      put_code(m->enc, dst, vl, u, v);
    }
  }
  size_t lane = ((size_t)tile * (size_t)m->gates + (size_t)q) * (size_t)vl + (size_t)u;
  if (m->scale_off) memcpy(blob + m->scale_off + lane * 4, &t->scale[row], 4);
  if (m->wsum_off) {
    uint32_t w = (uint32_t)(128 * sum); /* modulo 2^32, as vpdpbusd sums: the difference is exact */
    memcpy(blob + m->wsum_off + lane * 4, &w, 4);
  }
}

static void mat_fill(const CpuMat *m, int vl, uint8_t *blob) {
  const Tensor *t = m->src;
  for (int64_t tile = 0; tile < m->ntiles; tile++)
    for (int q = 0; q < m->gates; q++)
      for (int u = 0; u < vl && tile * vl + u < m->units; u++) /* padding: code 0 (blob is zeroed), scale 0 */
        lane_fill(m, vl, blob, tile, q, u);
  if (m->packed) {
    memcpy(blob + m->goff_off, t->group_off, ((size_t)m->nslots + 1) * sizeof(int32_t));
    memcpy(blob + m->gcols_off, t->group_cols, (size_t)m->ngrouped * sizeof(int32_t));
  }
  for (int64_t q = 0; m->sel_nibbles && q < m->nsteps; q++) {
    uint8_t rel[4];
    for (int j = 0; j < 4; j++) { /* a missing group's lanes read the zero byte after the table */
      int64_t g = 4 * q + j < m->nslots ? 4 * q + j : m->nslots;
      rel[j] = (uint8_t)(t->group_off[g] - t->group_off[4 * q]);
    }
    memcpy(blob + m->qoff_off + (size_t)q * 4, rel, 4);
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
