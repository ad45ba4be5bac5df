/* The planner (see cuda_plan.h). Blocks are split among layers by the bytes of their recurrent weights
 * (W_hh, and W_ih for layers above the first), so that every block holds about the same share of the
 * weights — and the same share of the per-step work — and as much of it as fits stays in shared memory. */
#include "codegen/cuda/cuda_plan.h"

#include <stdio.h>
#include <string.h>

#include "support/alloc.h"
#include "support/err.h"

#define PAD16(x) (((x) + 15) & ~15)
/* Per-block per-step multiply-adds (per stream) above which a layer asks for another block, so that small
 * layers still spread over a few SMs. */
#define MACS_PER_BLOCK 65536

static const struct {
  int arch, sms, smem_optin, l2;
  const char *name;
} known_devices[] = {
    {80, 108, 166912, 40 << 20, "A100 (planned without a device)"},
    {86, 84, 101376, 6 << 20, "GA102 (planned without a device)"},
    {89, 128, 101376, 72 << 20, "AD102 (planned without a device)"},
    {90, 132, 232448, 50 << 20, "H100 SXM (planned without a device)"},
};

int cuda_device_defaults(int arch, CudaDeviceInfo *out) {
  for (size_t i = 0; i < sizeof known_devices / sizeof *known_devices; i++)
    if (known_devices[i].arch == arch) {
      memset(out, 0, sizeof *out);
      out->arch = arch;
      out->sms = known_devices[i].sms;
      out->smem_optin = known_devices[i].smem_optin;
      out->l2_bytes = known_devices[i].l2;
      out->threads = 512;
      snprintf(out->name, sizeof out->name, "%s", known_devices[i].name);
      return 1;
    }
  return 0;
}

static int fmt_of(const Tensor *t, CudaFmt *f) {
  memset(f, 0, sizeof *f);
  f->layout = t->layout;
  f->enc = t->enc;
  if (t->nslots > (1 << 24) || t->cols > (1 << 24))
    return lx_fail(LSTMC_ERR_UNSUPPORTED, "cuda: tensor '%s' has %lld columns (at most %d)", t->name, (long long)t->cols, 1 << 24);
  f->nslots = (int)t->nslots;
  f->scaled = t->scale != NULL;
  int off = PAD16((int)t->stride);
  if (t->layout == LX_LAYOUT_MASKED) {
    f->mask_off = off;
    off += PAD16((int)t->mask_stride);
  }
  if (t->layout == LX_LAYOUT_PACKED) {
    f->ngroups = (int)t->ngroups;
    f->ngcols = t->group_off[t->ngroups];
    f->sel_off = off;
    off += PAD16((int)t->ngroups);
    f->gtab_ints = f->ngroups + 1 + f->ngcols;
  }
  f->rec = off;
  return 0;
}

void cuda_plan_free(CudaPlan *p) {
  if (!p) return;
  lx_free(p->layers);
  lx_free(p->blocks);
  lx_free(p);
}

/* Small parts of a layer's blob for up to numax units; returns rows_off. */
static int layout_small_parts(CudaLayerPlan *L) {
  int off = 0;
  L->bias_off = off;
  off += PAD16(16 * L->numax);
  L->sih_off = L->shh_off = L->gih_off = L->ghh_off = -1;
  if (L->ih.rec && L->ih.scaled) {
    L->sih_off = off;
    off += PAD16(16 * L->numax);
  }
  if (L->hh.scaled) {
    L->shh_off = off;
    off += PAD16(16 * L->numax);
  }
  if (L->ih.rec && L->ih.gtab_ints) {
    L->gih_off = off;
    off += PAD16(4 * L->ih.gtab_ints);
  }
  if (L->hh.gtab_ints) {
    L->ghh_off = off;
    off += PAD16(4 * L->hh.gtab_ints);
  }
  L->rows_off = off;
  return off;
}

/* Splits nb_avail blocks among the layers (see the file comment); at least one each, at most H each. */
static void split_blocks(CudaPlan *p, int nb_avail, size_t budget, int batch) {
  size_t total = 0;
  int want_sum = 0;
  for (int l = 0; l < p->nl; l++) {
    CudaLayerPlan *L = &p->layers[l];
    long long macs = 4LL * L->H * ((l ? L->I : 0) + L->H) * batch;
    long long w = (long long)((L->inloop_bytes + budget - 1) / budget);
    long long m = (macs + MACS_PER_BLOCK - 1) / MACS_PER_BLOCK;
    long long want = w > m ? w : m;
    if (want < 1) want = 1;
    if (want > L->H) want = L->H;
    L->nblk = (int)want;
    want_sum += L->nblk;
    total += L->inloop_bytes;
  }
  if (want_sum <= nb_avail) return;
  /* too many: shares by weight bytes, then fix the rounding */
  int sum = 0;
  for (int l = 0; l < p->nl; l++) {
    CudaLayerPlan *L = &p->layers[l];
    int n = (int)((double)nb_avail * (double)L->inloop_bytes / (double)(total ? total : 1));
    if (n < 1) n = 1;
    if (n > L->H) n = L->H;
    L->nblk = n;
    sum += n;
  }
  while (sum > nb_avail) { /* take from the layer with the most blocks */
    int best = -1;
    for (int l = 0; l < p->nl; l++)
      if (p->layers[l].nblk > 1 && (best < 0 || p->layers[l].nblk > p->layers[best].nblk)) best = l;
    if (best < 0) break;
    p->layers[best].nblk--;
    sum--;
  }
  while (sum < nb_avail) { /* give to the layer with the most bytes per block */
    int best = -1;
    double most = 0;
    for (int l = 0; l < p->nl; l++) {
      const CudaLayerPlan *L = &p->layers[l];
      double per = (double)L->inloop_bytes / L->nblk;
      if (L->nblk < L->H && per > most) {
        most = per;
        best = l;
      }
    }
    if (best < 0) break;
    p->layers[best].nblk++;
    sum++;
  }
}

/* x floats a lane may keep in registers at this many threads per block (a thread may have 65536 / threads
 * registers, at most 255); emitted as LX_XREG. With NVRTC 13.0, 64 floats made ptxas spill at 512 threads
 * (128 registers, sm_90) and at 384 (168 registers, sm_80); 48 and 128 do not. */
int cuda_plan_xreg(int threads) { return threads <= 256 ? 128 : 48; }

/* Threads per block: the most, up to the device's request, at which every dense f32/bf16/q8 row of the
 * kernels keeps its slice of x in registers at batch 1 (8 floats per 32-lane chunk of 8 columns), so that
 * shared memory serves weights alone. Rows wider than 1536 columns (enwik8's 1840) thus get 256 threads. */
static int choose_threads(const CudaPlan *p, int requested) {
  int need = 0;
  for (int l = 0; l < p->nl; l++)
    for (int r = 0; r < 2; r++) {
      const CudaFmt *f = r ? &p->layers[l].ih : &p->layers[l].hh;
      if (!f->rec || f->layout != LX_LAYOUT_DENSE || f->enc > LX_ENC_Q8) continue;
      int nvl = ((f->nslots >> 3) + 31) >> 5;
      if (8 * nvl > need) need = 8 * nvl;
    }
  static const int choices[] = {512, 256};
  for (int i = 0; i < 2; i++)
    if (choices[i] <= requested && cuda_plan_xreg(choices[i]) >= need) return choices[i];
  return requested;
}

/* The model's weights: the embedding, each lstm layer's sizes and tensors with the record formats of its
 * recurrent weights, the decoder; the vocabulary and the first layer's input table within bounds. */
static int plan_model(CudaPlan *p, const Graph *g) {
  if (g->vocab_size < 1 || g->vocab_size > (1 << 24))
    return lx_fail(LSTMC_ERR_UNSUPPORTED, "cuda: vocabulary of %lld tokens (1 to %d)", (long long)g->vocab_size, 1 << 24);
  p->V = (int)g->vocab_size;
  int st, l = 0;
  for (int i = 0; i < g->nnodes; i++) {
    const Node *n = &g->nodes[i];
    if (n->op == OP_EMBED) {
      p->w_embed = g->slots[n->w[W_EMBED]].t;
      p->E = (int)n->out_dim;
    } else if (n->op == OP_DECODER) {
      p->w_dec = g->slots[n->w[W_DEC]].t;
      p->b_dec = g->slots[n->w[B_DEC]].t;
    } else if (n->op == OP_LSTM) {
      CudaLayerPlan *L = &p->layers[l];
      L->node = i;
      L->H = (int)n->out_dim;
      L->I = (int)n->in_dim;
      L->w_ih = g->slots[n->w[W_IH]].t;
      L->w_hh = g->slots[n->w[W_HH]].t;
      L->b_ih = g->slots[n->w[B_IH]].t;
      L->b_hh = g->slots[n->w[B_HH]].t;
      if ((st = fmt_of(L->w_hh, &L->hh))) return st;
      if (l > 0 && (st = fmt_of(L->w_ih, &L->ih))) return st;
      L->inloop_bytes = (size_t)4 * L->H * (size_t)(L->ih.rec + L->hh.rec);
      if (L->H > p->hmax) p->hmax = L->H;
      p->hlast = L->H;
      l++;
    }
  }
  if (!p->w_embed || !p->w_dec) return lx_fail(LSTMC_ERR_UNSUPPORTED, "cuda: the model needs an embed and a decoder");
  if ((st = fmt_of(p->w_dec, &p->dec))) return st;
  p->w_ih0 = p->layers[0].w_ih;
  p->table_floats = (size_t)p->V * 4 * (size_t)p->layers[0].H;
  if (p->table_floats > ((size_t)1 << 29))
    return lx_fail(LSTMC_ERR_UNSUPPORTED, "cuda: the first layer's input table (vocabulary %d x 4 x %d floats) would exceed 2 GiB",
                   p->V, p->layers[0].H);
  return 0;
}

/* The activation vectors in shared memory for the largest batch (*xbytes), then the blocks split among the
 * layers on a first guess of the weight budget, and each layer's units per block and small parts. */
static int plan_split(CudaPlan *p, const CudaDeviceInfo *dev, int batch, size_t *xbytes) {
  int imax = p->hlast;
  for (int l = 1; l < p->nl; l++)
    if (p->layers[l].I > imax) imax = p->layers[l].I;
  p->xs_hh = (p->hmax + 3) & ~3;
  p->xs_in = (imax + 3) & ~3;
  *xbytes = (size_t)4 * batch * (size_t)(p->xs_hh + p->xs_in);
  /* the gate and cell arrays, sized once the split is known, get a margin of up to 4 KB */
  long long margin = dev->smem_optin / 4 < 4096 ? dev->smem_optin / 4 : 4096;
  long long first_budget = (long long)dev->smem_optin - (long long)*xbytes - margin;
  if (first_budget < 256)
    return lx_fail(LSTMC_ERR_UNSUPPORTED, "cuda: the activations of %d stream(s) (%zu bytes) leave no shared memory for weights (%d bytes per block)",
                   batch, *xbytes, dev->smem_optin);
  split_blocks(p, dev->sms, (size_t)first_budget, batch);
  p->nb = 0;
  for (int l = 0; l < p->nl; l++) {
    CudaLayerPlan *L = &p->layers[l];
    L->blk0 = p->nb;
    p->nb += L->nblk;
    L->numax = (L->H + L->nblk - 1) / L->nblk;
    if (L->numax > p->numax) p->numax = L->numax;
    layout_small_parts(L);
  }
  return 0;
}

/* With the exact vector region known, each block's units, its blob in the concatenated image, and how many
 * of its rows stay resident in shared memory. */
static int plan_blocks(CudaPlan *p, const CudaDeviceInfo *dev, int batch, size_t xbytes) {
  p->blocks = lx_calloc((size_t)p->nb, sizeof *p->blocks);
  if (!p->blocks) return lx_nomem("planning the CUDA kernels");
  p->gstride = 4 * p->numax;
  int vec = PAD16((int)xbytes) + 2 * PAD16(4 * batch * p->gstride) + PAD16(4 * batch * p->numax) + 64 + 32;
  long long budget = (long long)dev->smem_optin - vec;
  size_t off = 0;
  for (int l = 0; l < p->nl; l++) {
    CudaLayerPlan *L = &p->layers[l];
    int R = L->ih.rec + L->hh.rec;
    if (budget < L->rows_off)
      return lx_fail(LSTMC_ERR_UNSUPPORTED, "cuda: layer %d's biases, scales and group tables (%d bytes) do not fit in shared memory", l,
                     L->rows_off);
    for (int k = 0; k < L->nblk; k++) {
      CudaBlockPlan *B = &p->blocks[L->blk0 + k];
      B->layer = l;
      B->u0 = (int)((long long)L->H * k / L->nblk);
      B->nu = (int)((long long)L->H * (k + 1) / L->nblk) - B->u0;
      long long bytes = (long long)L->rows_off + 4LL * B->nu * R;
      if (bytes > 0x7fffffffLL)
        return lx_fail(LSTMC_ERR_UNSUPPORTED, "cuda: a block of layer %d would hold %lld bytes of weights", l, bytes);
      long long fit = (budget - L->rows_off) / R;
      if (fit > 4LL * B->nu) fit = 4LL * B->nu;
      B->rows_resident = (int)fit;
      B->res = L->rows_off + (int)fit * R;
      B->blob_bytes = (int)bytes;
      B->blob_off = off;
      off += (size_t)PAD16(B->blob_bytes);
      if (B->res > p->res_max) p->res_max = B->res;
      p->resident_bytes += (size_t)fit * (size_t)R;
    }
    p->inloop_bytes += L->inloop_bytes;
  }
  p->blob_bytes = off;
  return 0;
}

/* Where each region sits in a block's shared memory: resident rows, h and x vectors, gates, cell, misc. */
static void plan_shared_memory(CudaPlan *p, int batch) {
  p->sm_xhh = PAD16(p->res_max);
  p->sm_xin = p->sm_xhh + 4 * batch * p->xs_hh;
  p->sm_ghh = PAD16(p->sm_xin + 4 * batch * p->xs_in);
  p->sm_gih = p->sm_ghh + PAD16(4 * batch * p->gstride);
  p->sm_c = p->sm_gih + PAD16(4 * batch * p->gstride);
  p->sm_misc = p->sm_c + PAD16(4 * batch * p->numax);
  p->sm_rng = p->sm_misc + 64;
  p->sm_bytes = p->sm_rng + 32;
  if (p->sm_bytes > p->dev.smem_optin) LX_BUG("cuda plan: shared memory over the budget");
  /* the sampler's scratch (LX_SAMPLE_BYTES in dev_common.h) reuses the activation vectors when it fits */
  p->sample_bytes = 8 * ((p->V * 4 + 7) / 8) * 2 + 8 * p->V + 8 * ((p->threads * 4 + 7) / 8) * 2 + 16;
  p->sample_smem = p->sample_bytes <= p->sm_ghh - p->sm_xhh;
}

/* The decoder's blob: bias, scales, group table, then V records; one block unless the decoder is large. */
static void plan_decoder(CudaPlan *p) {
  int doff = 0;
  p->dec_bias_off = doff;
  doff += PAD16(4 * p->V);
  p->dec_scale_off = p->dec_g_off = -1;
  if (p->dec.scaled) {
    p->dec_scale_off = doff;
    doff += PAD16(4 * p->V);
  }
  if (p->dec.gtab_ints) {
    p->dec_g_off = doff;
    doff += PAD16(4 * p->dec.gtab_ints);
  }
  p->dec_rows_off = doff;
  p->dec_bytes = (size_t)doff + (size_t)p->V * (size_t)p->dec.rec;
  p->ndec = (long long)p->V * p->hlast <= 65536 ? 1 : p->nb;
}

int cuda_plan_build(const Graph *g, const CudaDeviceInfo *dev, int batch, CudaPlan **out) {
  *out = NULL;
  if (batch < 1 || batch > 8) return lx_fail(LSTMC_ERR_UNSUPPORTED, "cuda: batch %d is outside 1..8", batch);
  if (dev->threads < 32 || dev->threads % 32 || dev->threads > 1024)
    return lx_fail(LSTMC_ERR_UNSUPPORTED, "cuda: %d threads per block (a multiple of 32 up to 1024)", dev->threads);
  int nl = graph_num_lstm(g);
  if (nl < 1) return lx_fail(LSTMC_ERR_UNSUPPORTED, "cuda: the model has no lstm layer");
  CudaPlan *p = lx_calloc(1, sizeof *p);
  if (!p || !(p->layers = lx_calloc((size_t)nl, sizeof *p->layers))) {
    cuda_plan_free(p);
    return lx_nomem("planning the CUDA kernels");
  }
  p->dev = *dev;
  p->nl = nl;
  p->bmax = batch;
  p->ring_depth = 4;
  size_t xbytes = 0;
  int st = plan_model(p, g);
  if (!st) {
    p->threads = choose_threads(p, dev->threads);
    st = plan_split(p, dev, batch, &xbytes);
  }
  if (!st) st = plan_blocks(p, dev, batch, xbytes);
  if (st) {
    cuda_plan_free(p);
    return st;
  }
  plan_shared_memory(p, batch);
  plan_decoder(p);
  /* the device buffers (elements) */
  p->state_floats = (size_t)nl * (size_t)batch * (size_t)p->hmax;
  p->ring_floats = (size_t)nl * (size_t)p->ring_depth * (size_t)batch * (size_t)p->hmax;
  p->flag_words = (size_t)(nl + 3) * 32;
  *out = p;
  return 0;
}

/* One row of t into a record. */
static void pack_record(const Tensor *t, const CudaFmt *f, int64_t r, uint8_t *dst) {
  memcpy(dst, t->codes + (size_t)r * t->stride, t->stride);
  if (f->layout == LX_LAYOUT_MASKED) memcpy(dst + f->mask_off, t->mask + (size_t)r * t->mask_stride, t->mask_stride);
  if (f->layout == LX_LAYOUT_PACKED) memcpy(dst + f->sel_off, t->sel + (size_t)r * t->ngroups, (size_t)t->ngroups);
}

static void pack_gtab(const Tensor *t, uint8_t *dst) {
  int32_t *g = (int32_t *)(void *)dst;
  for (int64_t i = 0; i <= t->ngroups; i++) g[i] = t->group_off[i];
  for (int32_t i = 0; i < t->group_off[t->ngroups]; i++) g[t->ngroups + 1 + i] = t->group_cols[i];
}

int cuda_plan_pack(const CudaPlan *p, uint8_t **blob_out, uint8_t **dec_out) {
  *blob_out = *dec_out = NULL;
  uint8_t *blob = lx_calloc(p->blob_bytes ? p->blob_bytes : 1, 1), *dec = lx_calloc(p->dec_bytes, 1);
  if (!blob || !dec) {
    lx_free(blob);
    lx_free(dec);
    return lx_nomem("packing the weights for the GPU");
  }
  for (int b = 0; b < p->nb; b++) {
    const CudaBlockPlan *B = &p->blocks[b];
    const CudaLayerPlan *L = &p->layers[B->layer];
    uint8_t *base = blob + B->blob_off;
    float *bias = (float *)(void *)(base + L->bias_off);
    const float *bih = tensor_f32(L->b_ih), *bhh = tensor_f32(L->b_hh);
    for (int k = 0; k < 4 * B->nu; k++) {
      int gate = k / B->nu, u = k - gate * B->nu;
      int64_t row = (int64_t)gate * L->H + B->u0 + u;
      bias[k] = bih[row] + bhh[row];
      if (L->sih_off >= 0) ((float *)(void *)(base + L->sih_off))[k] = L->w_ih->scale[row];
      if (L->shh_off >= 0) ((float *)(void *)(base + L->shh_off))[k] = L->w_hh->scale[row];
      uint8_t *rec = base + L->rows_off + (size_t)k * (size_t)(L->ih.rec + L->hh.rec);
      if (L->ih.rec) pack_record(L->w_ih, &L->ih, row, rec);
      pack_record(L->w_hh, &L->hh, row, rec + L->ih.rec);
    }
    if (L->gih_off >= 0) pack_gtab(L->w_ih, base + L->gih_off);
    if (L->ghh_off >= 0) pack_gtab(L->w_hh, base + L->ghh_off);
  }
  memcpy(dec + p->dec_bias_off, tensor_f32(p->b_dec), (size_t)p->V * sizeof(float));
  if (p->dec_scale_off >= 0) memcpy(dec + p->dec_scale_off, p->w_dec->scale, (size_t)p->V * sizeof(float));
  if (p->dec_g_off >= 0) pack_gtab(p->w_dec, dec + p->dec_g_off);
  for (int v = 0; v < p->V; v++) pack_record(p->w_dec, &p->dec, v, dec + p->dec_rows_off + (size_t)v * p->dec.rec);
  *blob_out = blob;
  *dec_out = dec;
  return 0;
}

void cuda_plan_describe(const CudaPlan *p, StrBuf *sb) {
  sb_printf(sb, "%d blocks x %d threads on %s (%d SMs, %d KB shared memory per block, %d used)\n", p->nb, p->threads,
            p->dev.name, p->dev.sms, p->dev.smem_optin / 1024, p->sm_bytes / 1024);
  for (int l = 0; l < p->nl; l++) {
    const CudaLayerPlan *L = &p->layers[l];
    size_t res = 0;
    for (int b = L->blk0; b < L->blk0 + L->nblk; b++) res += (size_t)p->blocks[b].rows_resident * (size_t)(L->ih.rec + L->hh.rec);
    sb_printf(sb, "  layer %d: H %d, %s W_hh%s%s, %d blocks of <= %d units, %.2f MB recurrent weights, %.0f%% in shared memory\n",
              l, L->H, format_name(L->hh.layout, L->hh.enc), l ? " + " : " (W_ih: per-token table)", l ? format_name(L->ih.layout, L->ih.enc) : "",
              L->nblk, L->numax, (double)L->inloop_bytes / 1e6, L->inloop_bytes ? 100.0 * (double)res / (double)L->inloop_bytes : 100.0);
  }
  sb_printf(sb, "  decoder: %s, %d block%s; streamed per step: %.2f MB\n", format_name(p->dec.layout, p->dec.enc), p->ndec,
            p->ndec == 1 ? "" : "s", (double)(p->inloop_bytes - p->resident_bytes) / 1e6);
}
