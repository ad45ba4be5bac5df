/* Device functions shared by every lstmc CUDA module, after the model's generated constants: waiting on
 * the counters, the warp-per-row dot product for every weight format, the block-wide sampler, and the two
 * small kernels (log-probabilities for scoring, the sampler check). Valid CUDA C++ and valid C11, so the
 * host emulator of tests/cuda runs the very same text. */

/* ---- waiting ---------------------------------------------------------------------------------------- */

#define LX_FLAG(i) ((i) * LX_FLAG_STRIDE)
#define LX_FLAG_DEC LX_FLAG(LX_NL)
#define LX_FLAG_SAMPLE LX_FLAG(LX_NL + 1)
#define LX_FLAG_ERR LX_FLAG(LX_NL + 2)

/* Thread 0 only: waits until *ctr >= target. Returns 1, or 0 when another block failed or the wait timed
 * out (a synchronization bug: the error words record what was awaited, at which step, by which block). */
LX_FN int lx_wait(unsigned *flags, int idx, unsigned target, int step) {
  const unsigned *ctr = flags + idx;
  if (lx_ld_acquire(ctr) >= target) return 1;
  unsigned long long t0 = lx_now_ns();
  for (;;) {
    if (lx_ld_acquire(ctr) >= target) return 1;
    if (lx_ld_acquire(flags + LX_FLAG_ERR) != 0u) return 0;
    if (lx_now_ns() - t0 > LX_TIMEOUT_NS) {
      lx_set_error(flags + LX_FLAG_ERR, LX_ERR_TIMEOUT, (unsigned)(idx / LX_FLAG_STRIDE), (unsigned)step, (unsigned)LX_BID);
      return 0;
    }
    lx_pause();
  }
}

/* ---- one row of a weight matrix times nb vectors --------------------------------------------------- */

/* Eight consecutive slots of a dense f32, bf16 or q8 row, with 16- or 8-byte loads (rows are 16-byte
 * aligned in every blob). */
LX_FN void lx_load8(const int enc, const unsigned char *rec, int v, float *w) {
  if (enc == LX_ENC_F32) {
    const uint4 a = ((const uint4 *)rec)[2 * v], b = ((const uint4 *)rec)[2 * v + 1];
    w[0] = lx_as_float(a.x); w[1] = lx_as_float(a.y); w[2] = lx_as_float(a.z); w[3] = lx_as_float(a.w);
    w[4] = lx_as_float(b.x); w[5] = lx_as_float(b.y); w[6] = lx_as_float(b.z); w[7] = lx_as_float(b.w);
  } else if (enc == LX_ENC_BF16) {
    const uint4 a = ((const uint4 *)rec)[v];
    w[0] = lx_as_float(a.x << 16); w[1] = lx_as_float(a.x & 0xffff0000u);
    w[2] = lx_as_float(a.y << 16); w[3] = lx_as_float(a.y & 0xffff0000u);
    w[4] = lx_as_float(a.z << 16); w[5] = lx_as_float(a.z & 0xffff0000u);
    w[6] = lx_as_float(a.w << 16); w[7] = lx_as_float(a.w & 0xffff0000u);
  } else { /* LX_ENC_Q8 */
    const uint2 a = ((const uint2 *)rec)[v];
    for (int i = 0; i < 4; i++) {
      w[i] = (float)(signed char)(unsigned char)(a.x >> (8 * i));
      w[4 + i] = (float)(signed char)(unsigned char)(a.y >> (8 * i));
    }
  }
}

/* acc[b] = Σ_slots level(s) · x_b[column(s)] for one row, computed by one warp; every lane returns the
 * total. The row's record (cuda_plan.h) holds its codes at 0, its mask bits at mask_off and its select
 * bytes at sel_off; gtab holds a packed tensor's group offsets [ngroups + 1] and then its group columns.
 * The per-row scale of quantized encodings is left to the caller (the reference scales the sum too). All
 * format arguments are constants at every call site, so each call compiles to the code of one format. */
LX_FN void lx_row_dot(const int enc, const int layout, const int nslots, const int mask_off, const int sel_off,
                      const int ngroups, const unsigned char *rec, const int *gtab, const float *x, const int xs,
                      const int nb, float *acc) {
  const int lane = LX_TID & 31;
  for (int b = 0; b < LX_BMAX; b++) acc[b] = 0.0f;
  int s0 = 0;
  if (layout == LX_LAYOUT_DENSE && (enc == LX_ENC_F32 || enc == LX_ENC_BF16 || enc == LX_ENC_Q8)) {
    const int nv = nslots >> 3;
    LX_UNROLL(unroll 1) /* with several streams, unrolling ran out of registers */
    for (int v = lane; v < nv; v += 32) {
      float w[8];
      lx_load8(enc, rec, v, w);
      for (int b = 0; b < nb; b++) {
        const float4 xa = ((const float4 *)(x + b * xs))[2 * v], xb = ((const float4 *)(x + b * xs))[2 * v + 1];
        acc[b] += w[0] * xa.x + w[1] * xa.y + w[2] * xa.z + w[3] * xa.w + w[4] * xb.x + w[5] * xb.y + w[6] * xb.z +
                  w[7] * xb.w;
      }
    }
    s0 = nv << 3;
  }
  LX_UNROLL(unroll 1)
  for (int s = s0 + lane; s < nslots; s += 32) {
    int col = s;
    if (layout == LX_LAYOUT_PACKED) {
      const unsigned sel = rec[sel_off + s];
      if (sel == LX_SEL_EMPTY) continue;
      col = gtab[ngroups + 1 + gtab[s] + (int)sel];
    } else if (layout == LX_LAYOUT_MASKED) {
      if (!lx_mask_get(rec + mask_off, (unsigned long)s)) continue;
    }
    const float w = lx_decode_level(enc, rec, (unsigned long)s);
    for (int b = 0; b < nb; b++) acc[b] += w * x[b * xs + col];
  }
  for (int b = 0; b < nb; b++)
    for (int m = 16; m > 0; m >>= 1) acc[b] += lx_shfl_xor(acc[b], m);
}

/* Lane 0's results for row k of nb streams: scaled, biased, stored. */
LX_FN void lx_rows_store(const float *acc, const int nb, const int k, const float *scale, const float *bias, float *out,
                          const int ostride, const int out_global) {
  for (int b = 0; b < nb; b++) {
    float r = scale ? acc[b] * scale[k] : acc[b];
    if (bias) r += bias[k];
    if (out_global) LX_ST(&out[b * ostride + k], r);
    else out[b * ostride + k] = r;
  }
}

/* Rows k0, k0 + kstep, … < k1 of one weight role, by one warp: out[b * ostride + k] = (row k · x_b) * scale[k]
 * + bias[k] (scale, bias: NULL when absent), stored with LX_ST when out_global. Row k's record is at byte
 * off0 + k * rec_step of the blob: in shared memory (sm) below `res`, else in global memory (gb).
 *
 * For the dense f32, bf16 and q8 encodings each lane keeps its slices of x in registers for all the warp's
 * rows (when nb * 8 * chunks fits in LX_XREG floats, which the plan sets from the registers a thread may
 * have: 48 at 512 threads per block), so shared memory serves the weights alone: re-reading x for every row
 * would move two bytes of activations per byte of bf16 weights. The register array is indexed by loop
 * counters with constant bounds only (nslots and nb are literals at every call), so it stays in registers. */
LX_FN void lx_rows_dot(const int enc, const int layout, const int nslots, const int mask_off, const int sel_off,
                       const int ngroups, const unsigned char *sm, const unsigned char *gb, const int res, const int off0,
                       const int rec_step, const int k0, const int k1, const int kstep, const int *gtab, const float *x,
                       const int xs, const int nb, const float *scale, const float *bias, float *out, const int ostride,
                       const int out_global) {
  const int lane = LX_TID & 31;
  const int nv = nslots >> 3, nvl = (nv + 31) >> 5;
  const int vec = layout == LX_LAYOUT_DENSE && (enc == LX_ENC_F32 || enc == LX_ENC_BF16 || enc == LX_ENC_Q8);
  if (vec && nb * nvl * 8 <= LX_XREG) {
    float xr[LX_XREG];
    LX_UNROLL(unroll)
    for (int c = 0; c < nvl; c++) {
      const int v = lane + 32 * c;
      LX_UNROLL(unroll)
      for (int b = 0; b < nb; b++) {
        float4 xa, xb;
        if (v < nv) {
          xa = ((const float4 *)(x + b * xs))[2 * v];
          xb = ((const float4 *)(x + b * xs))[2 * v + 1];
        } else {
          xa.x = xa.y = xa.z = xa.w = xb.x = xb.y = xb.z = xb.w = 0.0f;
        }
        float *r = xr + (b * nvl + c) * 8;
        r[0] = xa.x; r[1] = xa.y; r[2] = xa.z; r[3] = xa.w;
        r[4] = xb.x; r[5] = xb.y; r[6] = xb.z; r[7] = xb.w;
      }
    }
    LX_UNROLL(unroll 1)
    for (int k = k0; k < k1; k += kstep) {
      const int off = off0 + k * rec_step;
      const unsigned char *rec = off < res ? sm + off : gb + off;
      float acc[LX_BMAX];
      for (int b = 0; b < LX_BMAX; b++) acc[b] = 0.0f;
      LX_UNROLL(unroll)
      for (int c = 0; c < nvl; c++) {
        const int v = lane + 32 * c;
        if (v < nv) {
          float w[8];
          lx_load8(enc, rec, v, w);
          LX_UNROLL(unroll)
          for (int b = 0; b < nb; b++) {
            const float *r = xr + (b * nvl + c) * 8;
            acc[b] += w[0] * r[0] + w[1] * r[1] + w[2] * r[2] + w[3] * r[3] + w[4] * r[4] + w[5] * r[5] + w[6] * r[6] +
                      w[7] * r[7];
          }
        }
      }
      for (int s = nv * 8 + lane; s < nslots; s += 32) { /* the last nslots % 8 slots */
        const float w = lx_decode_level(enc, rec, (unsigned long)s);
        for (int b = 0; b < nb; b++) acc[b] += w * x[b * xs + s];
      }
      for (int b = 0; b < nb; b++)
        for (int m = 16; m > 0; m >>= 1) acc[b] += lx_shfl_xor(acc[b], m);
      if (lane == 0) lx_rows_store(acc, nb, k, scale, bias, out, ostride, out_global);
    }
    return;
  }
  for (int k = k0; k < k1; k += kstep) {
    const int off = off0 + k * rec_step;
    const unsigned char *rec = off < res ? sm + off : gb + off;
    float acc[LX_BMAX];
    lx_row_dot(enc, layout, nslots, mask_off, sel_off, ngroups, rec, gtab, x, xs, nb, acc);
    if (lane == 0) lx_rows_store(acc, nb, k, scale, bias, out, ostride, out_global);
  }
}

/* ---- int8 activations (ir/qdot.h) ------------------------------------------------------------------- */

/* A matrix with act_bits = 8 multiplies exactly as ir/qdot.c does: per stream, amax of the whole input
 * vector (each warp finds it itself: a pass over x in shared memory costs less than a barrier), inv =
 * 127 / amax and s_x = amax / 127 (IEEE divisions: --prec-div), q_c = clamp(rint(x_c · inv), ±127) with
 * NaN (0 · inf) → 0; exact int32 sums of level · q_c; then y = (float)acc · s_x · scale in that order,
 * never fused with the bias that follows (lx_fmul_rn). Each lane sums its slots in an int, and the warp
 * adds them in two exact float halves (an int has no shuffle in the emulator's interface, and halves of
 * 16 bits add exactly in floats), modulo 2^32 like the reference's int32. */

LX_FN int lx_quant(const float x, const float inv) {
  float v = rintf(lx_fmul_rn(x, inv));
  v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v;
  return v != v ? 0 : (int)v;
}

/* inv and s_x of nb vectors of n floats (stride xs), computed by one warp; every lane gets them. */
LX_FN void lx_quant_scales(const float *x, const int xs, const int n, const int nb, float *inv, float *sx) {
  const int lane = LX_TID & 31;
  for (int b = 0; b < nb; b++) {
    float m = 0.0f;
    for (int c = lane; c < n; c += 32) {
      const float a = fabsf(x[b * xs + c]);
      m = a > m ? a : m;
    }
    for (int k = 16; k > 0; k >>= 1) {
      const float o = lx_shfl_xor(m, k);
      m = o > m ? o : m;
    }
    inv[b] = 127.0f / m;
    sx[b] = m / 127.0f;
  }
}

/* The warp's total of one int per lane, modulo 2^32, in every lane. */
LX_FN int lx_warp_sum_i(const int v) {
  float hi = (float)(v >> 16), lo = (float)(v & 0xffff); /* |hi| <= 2^15, lo < 2^16: 32 of each add exactly */
  for (int k = 16; k > 0; k >>= 1) {
    hi += lx_shfl_xor(hi, k);
    lo += lx_shfl_xor(lo, k);
  }
  return (int)((unsigned)(int)hi * 65536u + (unsigned)(int)lo);
}

/* acc[b] = Σ_slots level(s) · q_b[column(s)] for one row, by one warp (every lane returns the totals): the
 * integer twin of lx_row_dot, quantizing each input as it reads it. */
LX_FN void lx_row_qdot(const int enc, const int layout, const int nslots, const int mask_off, const int sel_off,
                       const int ngroups, const unsigned char *rec, const int *gtab, const float *x, const int xs,
                       const int nb, const float *inv, int *acc) {
  const int lane = LX_TID & 31;
  for (int b = 0; b < LX_BMAX; b++) acc[b] = 0;
  LX_UNROLL(unroll 1)
  for (int s = lane; s < nslots; s += 32) {
    int col = s;
    if (layout == LX_LAYOUT_PACKED) {
      const unsigned sel = rec[sel_off + s];
      if (sel == LX_SEL_EMPTY) continue;
      col = gtab[ngroups + 1 + gtab[s] + (int)sel];
    } else if (layout == LX_LAYOUT_MASKED) {
      if (!lx_mask_get(rec + mask_off, (unsigned long)s)) continue;
    }
    const int w = (int)lx_decode_level(enc, rec, (unsigned long)s);
    for (int b = 0; b < nb; b++) acc[b] += w * lx_quant(x[b * xs + col], inv[b]);
  }
  for (int b = 0; b < nb; b++) acc[b] = lx_warp_sum_i(acc[b]);
}

/* Lane 0's results for row k of nb streams: y = (float)acc · s_x · scale (+ bias), stored. */
LX_FN void lx_rows_store_q(const int *acc, const int nb, const int k, const float *sx, const float *scale, const float *bias,
                           float *out, const int ostride, const int out_global) {
  for (int b = 0; b < nb; b++) {
    float r = lx_fmul_rn(lx_fmul_rn((float)acc[b], sx[b]), scale[k]);
    if (bias) r += bias[k];
    if (out_global) LX_ST(&out[b * ostride + k], r);
    else out[b * ostride + k] = r;
  }
}

/* lx_rows_dot for a matrix with int8 activations (the same arguments, and cols: the length of the input
 * vectors, over which amax runs even where a packed matrix has no group; scale is always there). Dense q8
 * rows keep each lane's quantized inputs in registers, four bytes to an int, for all the warp's rows, and
 * multiply them by the row's bytes with dp4a; the other formats quantize as they read. */
LX_FN void lx_rows_qdot(const int enc, const int layout, const int nslots, const int cols, const int mask_off, const int sel_off,
                        const int ngroups, const unsigned char *sm, const unsigned char *gb, const int res, const int off0,
                        const int rec_step, const int k0, const int k1, const int kstep, const int *gtab, const float *x,
                        const int xs, const int nb, const float *scale, const float *bias, float *out, const int ostride,
                        const int out_global) {
  const int lane = LX_TID & 31;
  const int nv = nslots >> 3, nvl = (nv + 31) >> 5;
  float inv[LX_BMAX], sx[LX_BMAX];
  lx_quant_scales(x, xs, cols, nb, inv, sx);
  if (layout == LX_LAYOUT_DENSE && enc == LX_ENC_Q8 && nb * nvl * 2 <= LX_XREG) {
    int qr[LX_XREG];
    LX_UNROLL(unroll)
    for (int c = 0; c < nvl; c++) {
      const int v = lane + 32 * c;
      LX_UNROLL(unroll)
      for (int b = 0; b < nb; b++) {
        int q0 = 0, q1 = 0;
        if (v < nv) {
          const float *xv = x + b * xs + 8 * v;
          for (int i = 0; i < 4; i++) {
            q0 |= (lx_quant(xv[i], inv[b]) & 255) << (8 * i);
            q1 |= (lx_quant(xv[4 + i], inv[b]) & 255) << (8 * i);
          }
        }
        qr[(b * nvl + c) * 2] = q0;
        qr[(b * nvl + c) * 2 + 1] = q1;
      }
    }
    LX_UNROLL(unroll 1)
    for (int k = k0; k < k1; k += kstep) {
      const int off = off0 + k * rec_step;
      const unsigned char *rec = off < res ? sm + off : gb + off;
      int acc[LX_BMAX];
      for (int b = 0; b < LX_BMAX; b++) acc[b] = 0;
      LX_UNROLL(unroll)
      for (int c = 0; c < nvl; c++) {
        const int v = lane + 32 * c;
        if (v < nv) {
          const uint2 w = ((const uint2 *)rec)[v];
          LX_UNROLL(unroll)
          for (int b = 0; b < nb; b++) {
            acc[b] = lx_dp4a((int)w.x, qr[(b * nvl + c) * 2], acc[b]);
            acc[b] = lx_dp4a((int)w.y, qr[(b * nvl + c) * 2 + 1], acc[b]);
          }
        }
      }
      for (int s = nv * 8 + lane; s < nslots; s += 32) { /* the last nslots % 8 slots */
        const int w = (int)(signed char)rec[s];
        for (int b = 0; b < nb; b++) acc[b] += w * lx_quant(x[b * xs + s], inv[b]);
      }
      for (int b = 0; b < nb; b++) acc[b] = lx_warp_sum_i(acc[b]);
      if (lane == 0) lx_rows_store_q(acc, nb, k, sx, scale, bias, out, ostride, out_global);
    }
    return;
  }
  for (int k = k0; k < k1; k += kstep) {
    const int off = off0 + k * rec_step;
    const unsigned char *rec = off < res ? sm + off : gb + off;
    int acc[LX_BMAX];
    lx_row_qdot(enc, layout, nslots, mask_off, sel_off, ngroups, rec, gtab, x, xs, nb, inv, acc);
    if (lane == 0) lx_rows_store_q(acc, nb, k, sx, scale, bias, out, ostride, out_global);
  }
}

/* ---- the sampler ------------------------------------------------------------------------------------ */

/* Scratch of the block-wide sampler: logits copied close, candidate order, weights and their running sums,
 * and per-thread reduction slots. */
typedef struct LxSampleScratch {
  float *lg;     /* [V] */
  int *ord;      /* [V] */
  double *w;     /* [V] */
  float *redf;   /* [threads] */
  int *redi;     /* [threads] */
  int *result;   /* [1] */
} LxSampleScratch;

/* Tree step of the block's reductions: slot i takes slot i + k when that is "better". */
LX_FN void lx_reduce_argmax(LxSampleScratch s, int nt) {
  const int tid = LX_TID;
  for (int k = 1; k < nt; k <<= 1) {
    if ((tid & (2 * k - 1)) == 0 && tid + k < nt) {
      const float a = s.redf[tid], b = s.redf[tid + k];
      const int ia = s.redi[tid], ib = s.redi[tid + k];
      if (ib >= 0 && (ia < 0 || b > a || (b == a && ib < ia))) {
        s.redf[tid] = b;
        s.redi[tid] = ib;
      }
    }
    LX_SYNC();
  }
}

/* The first index of the largest of s.lg[0..V), over the block: slot 0 of the reduction holds it and its
 * value. With fill_ord, also s.ord[i] = i (the candidates in id order). */
LX_FN void lx_block_argmax(LxSampleScratch s, int V, int nt, int fill_ord) {
  const int tid = LX_TID;
  float best = 0.0f;
  int bi = -1;
  for (int i = tid; i < V; i += nt) {
    if (fill_ord) s.ord[i] = i;
    if (bi < 0 || s.lg[i] > best) {
      best = s.lg[i];
      bi = i;
    }
  }
  s.redf[tid] = best;
  s.redi[tid] = bi;
  LX_SYNC();
  lx_reduce_argmax(s, nt);
}

/* The token runtime/sample.c's sample_token picks for these logits, with the same RNG draw, computed by the
 * whole block (every thread returns it; rng lives in shared memory and thread 0 advances it).
 *  - temperature <= 0: the first index of the largest logit; no random number is drawn.
 *  - otherwise the candidates are all tokens in id order, or with 0 < top_k < V the top_k largest in the
 *    order of a sort by (logit descending, id ascending); each candidate's weight is
 *    exp((logit - max) / temperature) in double; u = uniform * (sum of the weights, added in candidate
 *    order); the token is the first candidate whose running sum exceeds u, else the last.
 * The weights are computed in parallel (each is the same double either way) and the running sums by one
 * thread in the reference's order, so the sums are bit for bit the reference's; a candidate's rank is the
 * number of candidates that sort before it. */
LX_FN int lx_sample(const float *logits, const int V, const double temperature, const int top_k,
                    unsigned long long *rng, LxSampleScratch s) {
  const int tid = LX_TID, nt = LX_NTHREADS;
  for (int i = tid; i < V; i += nt) s.lg[i] = LX_LD(&logits[i]);
  LX_SYNC();
  if (temperature <= 0) {
    lx_block_argmax(s, V, nt, 0);
    const int tok = s.redi[0];
    LX_SYNC();
    return tok;
  }
  const int cut = top_k > 0 && top_k < V;
  const int k = cut ? top_k : V;
  double m;
  if (cut) {
    for (int i = tid; i < V; i += nt) {
      const float li = s.lg[i];
      int r = 0;
      for (int j = 0; j < V && r < k; j++) {
        const float lj = s.lg[j];
        r += (lj > li) || (lj == li && j < i);
      }
      if (r < k) s.ord[r] = i;
    }
    LX_SYNC();
    m = (double)s.lg[s.ord[0]];
  } else {
    lx_block_argmax(s, V, nt, 1);
    m = (double)s.redf[0];
  }
  for (int r = tid; r < k; r += nt) s.w[r] = exp(((double)s.lg[s.ord[r]] - m) / temperature);
  LX_SYNC();
  if (tid == 0) {
    double acc = 0;
    for (int r = 0; r < k; r++) {
      acc += s.w[r];
      s.w[r] = acc;
    }
    const double u = lx_xoshiro_uniform(rng) * acc;
    /* the first r with u < w[r]: the running sums never decrease */
    int lo = 0, hi = k - 1;
    if (!(u < s.w[hi])) lo = hi;
    while (lo < hi) {
      const int mid = lo + (hi - lo) / 2;
      if (u < s.w[mid]) hi = mid;
      else lo = mid + 1;
    }
    s.result[0] = s.ord[lo];
  }
  LX_SYNC();
  const int tok = s.result[0];
  LX_SYNC();
  return tok;
}

/* Bytes of sampler scratch for nt threads, laid out from a 16-byte aligned base. */
#define LX_SAMPLE_BYTES(V, nt) (8 * (((V) * 4 + 7) / 8) * 2 + 8 * (V) + 8 * (((nt) * 4 + 7) / 8) * 2 + 16)

LX_FN LxSampleScratch lx_sample_scratch(unsigned char *base, int V, int nt) {
  LxSampleScratch s;
  const int fv = 8 * ((V * 4 + 7) / 8), ft = 8 * ((nt * 4 + 7) / 8);
  s.w = (double *)base;
  s.lg = (float *)(base + 8 * V);
  s.ord = (int *)(base + 8 * V + fv);
  s.redf = (float *)(base + 8 * V + 2 * fv);
  s.redi = (int *)(base + 8 * V + 2 * fv + ft);
  s.result = (int *)(base + 8 * V + 2 * fv + 2 * ft);
  return s;
}

/* ---- scoring: log-probabilities of the targets ------------------------------------------------------ */

/* One block per step t: z = logits[t] + decoder bias (float, as the reference rounds its logits), then
 * log p(targets[t]) = z[target] - max - log Σ exp(z - max), the sum in double. Threads: a power of two;
 * shared memory: threads * 12 bytes. */
LX_KERNEL void lx_logprob(LxParams p) {
  LX_SMEM(sm);
  const int tid = LX_TID, nt = LX_NTHREADS, t = LX_BID;
  double *redd = (double *)sm;
  float *redf = (float *)(sm + 8 * nt);
  const float *z = (const float *)p.logits + (long long)t * LX_V;
  const float *bias = (const float *)((const unsigned char *)p.dec + LX_DEC_BIAS_OFF);
  float mx = -LX_INF;
  for (int v = tid; v < LX_V; v += nt) {
    const float zv = z[v] + bias[v];
    mx = zv > mx ? zv : mx;
  }
  redf[tid] = mx;
  LX_SYNC();
  for (int k = nt / 2; k > 0; k >>= 1) {
    if (tid < k && redf[tid + k] > redf[tid]) redf[tid] = redf[tid + k];
    LX_SYNC();
  }
  const double m = (double)redf[0];
  double sum = 0;
  for (int v = tid; v < LX_V; v += nt) sum += exp((double)(z[v] + bias[v]) - m);
  redd[tid] = sum;
  LX_SYNC();
  for (int k = nt / 2; k > 0; k >>= 1) {
    if (tid < k) redd[tid] += redd[tid + k];
    LX_SYNC();
  }
  if (tid == 0) {
    const int tg = ((const int *)p.targets)[t];
    ((double *)p.logprob)[t] = (double)(z[tg] + bias[tg]) - m - log(redd[0]);
  }
}

/* The sampler alone, on p.T rows of logits ([T][V]), drawing from p.rng in turn as consecutive generation
 * steps would; tokens to gen_out. One block; shared memory 32 bytes plus, unless p.scratch is given,
 * LX_SAMPLE_BYTES(V, threads). */
LX_KERNEL void lx_sample_test(LxParams p) {
  LX_SMEM(sm);
  unsigned long long *rng = (unsigned long long *)sm;
  LxSampleScratch s = lx_sample_scratch(p.scratch ? (unsigned char *)p.scratch : sm + 32, LX_V, LX_NTHREADS);
  if (LX_TID == 0)
    for (int i = 0; i < 4; i++) rng[i] = ((const unsigned long long *)p.rng)[i];
  LX_SYNC();
  for (int c = 0; c < p.T; c++) {
    const int tok = lx_sample((const float *)p.logits + (long long)c * LX_V, LX_V, p.temperature, p.top_k, rng, s);
    if (LX_TID == 0) ((int *)p.gen_out)[c] = tok;
  }
  if (LX_TID == 0)
    for (int i = 0; i < 4; i++) ((unsigned long long *)p.rng)[i] = rng[i];
}
