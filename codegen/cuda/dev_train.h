/* The CUDA training kernels: the element-wise and row-wise work of one AWD-LSTM training step — embedding
 * gather and scatter, locked dropout, dropout masks drawn from the CPU engine's counter-based seeds, the
 * LSTM cell forward and backward, column sums (bias gradients), log-softmax cross-entropy, AR, TAR, the
 * global gradient norm and clipping, pruning masks, the optimizers (support/optim_core.h) and bf16
 * conversion. The matrix products around them are cuBLAS calls (train/net_cuda.c).
 *
 * Each kernel computes what train/ops_impl.h, train/net.c and train/optim.c compute, in float with the
 * same formulas and, where a value is summed in sequence there, the same order (embedding gradient, TAR,
 * the cross-entropy gradient); reductions that the CPU engine sums in double are summed in double here by
 * fixed trees, so the results agree to float rounding and do not depend on timing (no atomics). Kernels
 * stride over their elements with the whole grid, so any grid size is correct.
 *
 * Valid CUDA C++ and valid C11 (after dev_prelude.h, support/rng_core.h, support/optim_core.h,
 * support/tanh_core.h and dev_train_args.h), so the host emulator of tests/cuda runs the very same text. */

#if defined(LX_EMU)
int lx_emu_nblocks(void);
#define LX_NBLK lx_emu_nblocks()
#else
#define LX_NBLK ((int)gridDim.x)
#endif

/* The elements of a grid-stride loop: thread (block, tid) takes i = block·threads + tid, then steps by the
 * whole grid. */
#define LX_FOR_GRID(i, n)                                                                                      \
  for (long long i = (long long)LX_BID * LX_NTHREADS + LX_TID; i < (n); i += (long long)LX_NBLK * LX_NTHREADS)

LX_FN float lx_t_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

/* tanh: support/tanh_core.h's, as train/ops.c computes it in float, so that the two engines' cells agree to
 * the rounding of expf. */
#define lx_t_tanh lx_tanhf_fast

/* bf16 of a float, rounded to nearest even (ir/tensor.c's f32_to_bf16; NaN stays a quiet NaN). */
LX_FN unsigned short lx_t_bf16(float f) {
  unsigned u;
#if defined(LX_EMU)
  memcpy(&u, &f, 4);
#else
  u = __float_as_uint(f);
#endif
  if ((u & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (unsigned short)(u >> 16);
}

/* Σ of v over the block, in double, by a fixed tree (sm: LX_NTHREADS doubles of shared memory). Every
 * thread returns the total. */
LX_FN double lx_t_block_sum(double v, double *sm) {
  const int t = LX_TID;
  sm[t] = v;
  LX_SYNC();
  for (int s = LX_NTHREADS / 2; s > 0; s >>= 1) {
    if (t < s) sm[t] += sm[t + s];
    LX_SYNC();
  }
  double r = sm[0];
  LX_SYNC();
  return r;
}

LX_FN float lx_t_block_max(float v, float *sm) {
  const int t = LX_TID;
  sm[t] = v;
  LX_SYNC();
  for (int s = LX_NTHREADS / 2; s > 0; s >>= 1) {
    if (t < s && sm[t + s] > sm[t]) sm[t] = sm[t + s];
    LX_SYNC();
  }
  float r = sm[0];
  LX_SYNC();
  return r;
}

/* ---- element-wise helpers --------------------------------------------------------------------------- */

LX_KERNEL void lx_t_fill_rows(LxFillRowsArgs a) {
  float *dst = (float *)a.dst;
  const float *x = (const float *)a.a, *y = (const float *)a.b;
  LX_FOR_GRID(i, a.n * a.cols) {
    long long c = i % a.cols;
    dst[i] = y ? x[c] + y[c] : x[c];
  }
}

LX_KERNEL void lx_t_copy(LxCopyArgs a) {
  float *dst = (float *)a.dst;
  const float *src = (const float *)a.src;
  LX_FOR_GRID(i, a.n) dst[i] = src[i];
}

LX_KERNEL void lx_t_mul(LxMulArgs a) {
  float *out = (float *)a.out;
  const float *x = (const float *)a.a, *y = (const float *)a.b;
  unsigned short *bf = (unsigned short *)a.outbf;
  LX_FOR_GRID(i, a.n) {
    float v = a.add ? out[i] + x[i] * y[i] : x[i] * y[i];
    out[i] = v;
    if (bf) bf[i] = lx_t_bf16(v);
  }
}

LX_KERNEL void lx_t_scale(LxScaleArgs a) {
  float *x = (float *)a.x;
  LX_FOR_GRID(i, a.n) x[i] *= a.s;
}

LX_KERNEL void lx_t_to_bf16(LxToBf16Args a) {
  unsigned short *dst = (unsigned short *)a.dst;
  const float *src = (const float *)a.src;
  LX_FOR_GRID(i, a.n) dst[i] = lx_t_bf16(src[i]);
}

/* ---- embedding, locked dropout, masks ---------------------------------------------------------------- */

LX_KERNEL void lx_t_embed_fwd(LxEmbedFwdArgs a) {
  float *out = (float *)a.out;
  const float *E = (const float *)a.E, *rs = (const float *)a.rowscale;
  const int *tok = (const int *)a.tok;
  LX_FOR_GRID(i, a.n * a.D) {
    long long r = i / a.D, c = i % a.D;
    int v = tok[r];
    out[i] = E[(long long)v * a.D + c] * (rs ? rs[v] : 1.0f);
  }
}

/* One block per vocabulary row (striding over rows by the grid), threads over the columns. */
LX_KERNEL void lx_t_embed_bwd(LxEmbedBwdArgs a) {
  float *dE = (float *)a.dE;
  const float *dout = (const float *)a.dout, *rs = (const float *)a.rowscale;
  const int *ptr = (const int *)a.rowptr, *idx = (const int *)a.rowidx;
  for (long long v = LX_BID; v < a.V; v += LX_NBLK) {
    int p0 = ptr[v], p1 = ptr[v + 1];
    if (p0 == p1) continue;
    float s = rs ? rs[v] : 1.0f;
    for (long long c = LX_TID; c < a.D; c += LX_NTHREADS) {
      float acc = dE[v * a.D + c];
      for (int p = p0; p < p1; p++) acc += dout[(long long)idx[p] * a.D + c] * s;
      dE[v * a.D + c] = acc;
    }
  }
}

LX_KERNEL void lx_t_lockdrop(LxLockdropArgs a) {
  float *out = (float *)a.out;
  const float *in = (const float *)a.in, *m = (const float *)a.mask;
  LX_FOR_GRID(i, a.rows * a.F) {
    long long r = i / a.F, f = i % a.F;
    out[i] = in[i] * m[(r % a.B) * a.F + f];
  }
}

/* One thread per row: the row's draws are a sequence (one xoshiro256** stream), as on the CPU. */
LX_KERNEL void lx_t_mask_rows(LxMaskRowsArgs a) {
  float *mask = (float *)a.mask;
  const double keep_below = 1.0 - a.p;
  LX_FOR_GRID(r, a.rows) {
    unsigned long long s[4];
    lx_xoshiro_seed(s, lx_rng_derive(a.key, (unsigned long long)r));
    for (long long c = 0; c < a.cols; c++) mask[r * a.cols + c] = lx_xoshiro_uniform(s) < keep_below ? a.keep : 0.0f;
  }
}

/* ---- the LSTM cell ----------------------------------------------------------------------------------- */

LX_KERNEL void lx_t_cell_fwd(LxCellFwdArgs a) {
  float *G = (float *)a.gates, *cn = (float *)a.c, *hn = (float *)a.h;
  const float *cp = (const float *)a.cprev;
  unsigned short *hbf = (unsigned short *)a.hbf;
  const long long H = a.H;
  LX_FOR_GRID(k, a.B * H) {
    long long b = k / H, u = k % H;
    float *z = G + b * 4 * H;
    float i = lx_t_sigmoid(z[u]), f = lx_t_sigmoid(z[H + u]), g = lx_t_tanh(z[2 * H + u]), o = lx_t_sigmoid(z[3 * H + u]);
    float c = f * cp[k] + i * g;
    z[u] = i;
    z[H + u] = f;
    z[2 * H + u] = g;
    z[3 * H + u] = o;
    cn[k] = c;
    float h = o * lx_t_tanh(c);
    hn[k] = h;
    if (hbf) hbf[k] = lx_t_bf16(h);
  }
}

LX_KERNEL void lx_t_cell_bwd(LxCellBwdArgs a) {
  float *dG = (float *)a.dg, *dc = (float *)a.dc;
  const float *G = (const float *)a.gates, *c = (const float *)a.c, *cp = (const float *)a.cprev;
  const float *dH = (const float *)a.dH, *dh = (const float *)a.dhrec;
  unsigned short *dgbf = (unsigned short *)a.dgbf;
  const long long H = a.H;
  LX_FOR_GRID(k, a.B * H) {
    long long b = k / H, u = k % H;
    const float *z = G + b * 4 * H;
    float *dz = dG + b * 4 * H;
    float i = z[u], f = z[H + u], g = z[2 * H + u], o = z[3 * H + u];
    float tc = lx_t_tanh(c[k]);
    float dhv = a.last ? dH[k] : dH[k] + dh[k];
    float dcv = dhv * o * (1.0f - tc * tc);
    if (!a.last) dcv += dc[k];
    float d0 = dcv * g * i * (1.0f - i), d1 = dcv * cp[k] * f * (1.0f - f), d2 = dcv * i * (1.0f - g * g),
          d3 = dhv * tc * o * (1.0f - o);
    dz[u] = d0;
    dz[H + u] = d1;
    dz[2 * H + u] = d2;
    dz[3 * H + u] = d3;
    dc[k] = dcv * f;
    if (dgbf) {
      unsigned short *q = dgbf + b * 4 * H;
      q[u] = lx_t_bf16(d0);
      q[H + u] = lx_t_bf16(d1);
      q[2 * H + u] = lx_t_bf16(d2);
      q[3 * H + u] = lx_t_bf16(d3);
    }
  }
}

/* ---- column sums (bias gradients) ------------------------------------------------------------------ */

LX_KERNEL void lx_t_colsum_part(LxColsumPartArgs a) {
  float *part = (float *)a.part;
  const float *Y = (const float *)a.Y;
  LX_FOR_GRID(i, a.nchunks * a.cols) {
    long long k = i / a.cols, c = i % a.cols;
    long long r0 = k * a.chunk, r1 = r0 + a.chunk < a.n ? r0 + a.chunk : a.n;
    float s = 0.0f;
    for (long long r = r0; r < r1; r++) s += Y[r * a.cols + c];
    part[i] = s;
  }
}

LX_KERNEL void lx_t_colsum_fin(LxColsumFinArgs a) {
  float *o1 = (float *)a.out1, *o2 = (float *)a.out2;
  const float *part = (const float *)a.part;
  LX_FOR_GRID(c, a.cols) {
    float s = 0.0f;
    for (long long k = 0; k < a.nchunks; k++) s += part[k * a.cols + c];
    o1[c] += s;
    if (o2) o2[c] += s;
  }
}

/* ---- softmax cross-entropy --------------------------------------------------------------------------- */

/* Shared memory: LX_NTHREADS doubles. */
LX_KERNEL void lx_t_softmax_ce(LxSoftmaxCeArgs a) {
  LX_SMEM(smraw);
  double *sm = (double *)smraw;
  const int *tgt = (const int *)a.tgt;
  double *row_nll = (double *)a.row_nll;
  for (long long r = LX_BID; r < a.n; r += LX_NBLK) {
    float *l = (float *)a.logits + r * a.V;
    float m = -LX_INF;
    for (long long v = LX_TID; v < a.V; v += LX_NTHREADS)
      if (l[v] > m) m = l[v];
    m = lx_t_block_max(m, (float *)sm);
    double s = 0.0;
    for (long long v = LX_TID; v < a.V; v += LX_NTHREADS) s += (double)expf(l[v] - m);
    s = lx_t_block_sum(s, sm);
    const int y = tgt[r];
    if (LX_TID == 0) row_nll[r] = (double)m + log(s) - (double)l[y];
    LX_SYNC(); /* l[y] is read before the gradient overwrites it */
    if (a.scale != 0.0) {
      const double k = a.scale / s;
      for (long long v = LX_TID; v < a.V; v += LX_NTHREADS) {
        float e = (float)((double)expf(l[v] - m) * k);
        if (v == y) e -= (float)a.scale;
        l[v] = e;
      }
    }
    LX_SYNC();
  }
}

/* ---- AR, TAR, norms --------------------------------------------------------------------------------- */

/* Shared memory: LX_NTHREADS doubles; part has one entry per block. */
LX_KERNEL void lx_t_ar(LxArArgs a) {
  LX_SMEM(smraw);
  const float *x = (const float *)a.x;
  float *dx = (float *)a.dx;
  double s = 0.0;
  LX_FOR_GRID(i, a.n) {
    s += (double)x[i] * (double)x[i];
    if (dx) dx[i] += a.k * x[i];
  }
  s = lx_t_block_sum(s, (double *)smraw);
  if (LX_TID == 0) ((double *)a.part)[LX_BID] = s;
}

LX_KERNEL void lx_t_tar(LxTarArgs a) {
  LX_SMEM(smraw);
  const float *h = (const float *)a.h;
  float *dh = (float *)a.dh;
  const long long row = a.row;
  double s = 0.0;
  LX_FOR_GRID(i, a.T * row) {
    long long t = i / row;
    float v = dh ? dh[i] : 0.0f;
    if (t >= 1) {
      float d = h[i] - h[i - row];
      s += (double)d * (double)d;
      v += a.k * d;
    }
    if (t + 1 < a.T) v -= a.k * (h[i + row] - h[i]);
    if (dh) dh[i] = v;
  }
  s = lx_t_block_sum(s, (double *)smraw);
  if (LX_TID == 0) ((double *)a.part)[LX_BID] = s;
}

LX_KERNEL void lx_t_sumsq(LxSumsqArgs a) {
  LX_SMEM(smraw);
  const float *x = (const float *)a.x;
  double s = 0.0;
  LX_FOR_GRID(i, a.n) s += (double)x[i] * (double)x[i];
  s = lx_t_block_sum(s, (double *)smraw);
  if (LX_TID == 0) ((double *)a.part)[LX_BID] = s;
}

/* One block. */
LX_KERNEL void lx_t_clip_coef(LxClipCoefArgs a) {
  LX_SMEM(smraw);
  const double *part = (const double *)a.part;
  double s = 0.0;
  for (long long i = LX_TID; i < a.nparts; i += LX_NTHREADS) s += part[i];
  s = lx_t_block_sum(s, (double *)smraw);
  if (LX_TID == 0) {
    double total = sqrt(s);
    float scale = 1.0f;
    if (a.max_norm > 0) {
      double coef = a.max_norm / (total + 1e-6);
      if (coef < 1) scale = (float)coef;
    }
    ((double *)a.out)[0] = total;
    ((float *)a.out_scale)[0] = scale;
  }
}

LX_KERNEL void lx_t_clip_apply(LxClipApplyArgs a) {
  float *x = (float *)a.x;
  const float s = ((const float *)a.scale)[0];
  if (s == 1.0f) return;
  LX_FOR_GRID(i, a.n) x[i] *= s;
}

LX_KERNEL void lx_t_apply_mask(LxApplyMaskArgs a) {
  float *x = (float *)a.x;
  const unsigned char *keep = (const unsigned char *)a.keep;
  LX_FOR_GRID(i, a.n) if (!keep[i]) x[i] = 0.0f;
}

/* ---- the optimizers ---------------------------------------------------------------------------------- */

LX_KERNEL void lx_t_optim(LxOptimArgs a) {
  float *w = (float *)a.w, *s0 = (float *)a.s0, *s1 = (float *)a.s1;
  const float *g = (const float *)a.g;
  LX_FOR_GRID(i, a.n) lx_opt_update(&a.k, w + i, g[i], s0 ? s0 + i : 0, s1 ? s1 + i : 0);
}
