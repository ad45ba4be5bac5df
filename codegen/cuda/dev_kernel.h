/* The persistent recurrent kernel. One launch runs T input steps of every layer, and in STEP and GEN mode
 * the decoder (and in GEN the sampler) after each step, without returning to the host.
 *
 * Each block owns a slice of one layer's hidden units — all four gate rows of each, so the cell update is
 * local — and keeps the weight rows of that slice in shared memory for the whole launch (the front of its
 * blob; the rows that do not fit stream from the same blob in global memory, i.e. L2). Layers run on
 * disjoint blocks and talk through small ring buffers of h in global memory and one counter per layer:
 * a block of layer l computes the two halves of step t's gates as their inputs arrive:
 *   - W_hh h(t-1) once its own layer finished step t-1 (counter l >= nblk(l) * (t + 1); the prologue
 *     counts as a step) and the layer above is done with the ring slot step t overwrites (counter l+1 >=
 *     nblk(l+1) * (t - D + 2));
 *   - W_ih x(t) once the layer below finished step t (counter l-1 >= nblk(l-1) * (t + 2)); for layer 0, a
 *     row of the precomputed table once the token is known (the sampler's counter in GEN).
 * Generation does the W_hh half first (the token comes last, so that half is off the critical path);
 * scoring does W_ih first: the layers run as a wavefront, the layer below a step or more ahead, so a
 * token costs one hop of the layer's own recurrence, not one per layer. The cell update writes h(t) to the ring (and to hout in SCORE mode), the block passes a barrier,
 * and thread 0 fences and counts. The decoder (STEP, GEN) runs on blocks 0..LX_NDEC-1 after the last
 * layer's step; with LX_NDEC == 1 the sampler follows in the same block with no extra hop.
 *
 * Every wait has a time limit: a synchronization bug ends the launch with the error words set (what was
 * awaited, the step, the block) instead of hanging the GPU. `nb` (streams) is a constant at each call, so
 * each kernel entry compiles to code for one batch size. */

LX_FN long long lx_ring_index(int layer, int slot, int b, int c) {
  return (((long long)layer * LX_D + slot) * LX_BMAX + b) * LX_HMAX + c;
}

LX_FN void lx_persistent(LxParams p, const int nb) {
  LX_SMEM(sm);
  const int tid = LX_TID, lane = tid & 31, warp = tid >> 5, nwarps = LX_NTHREADS >> 5, nt = LX_NTHREADS;
  const int bid = LX_BID;
  const int layer = lx_blk_layer[bid], u0 = lx_blk_u0[bid], nu = lx_blk_nu[bid], res = lx_blk_res[bid];
  const int H = lx_H[layer], I = lx_I[layer], nrows = 4 * nu;
  const int rec_ih = lx_rec_ih[layer], rec_hh = lx_rec_hh[layer], rows_off = lx_rows_off[layer];
  const unsigned char *gblob = (const unsigned char *)p.blob + lx_blk_blob[bid];
  float *x_hh = (float *)(sm + LX_SM_XHH), *x_in = (float *)(sm + LX_SM_XIN);
  float *g_hh = (float *)(sm + LX_SM_GHH), *g_ih = (float *)(sm + LX_SM_GIH), *cst = (float *)(sm + LX_SM_C);
  int *misc = (int *)(sm + LX_SM_MISC); /* [0]: stop; [1 + b]: stream b's token */
  unsigned long long *rng = (unsigned long long *)(sm + LX_SM_RNG);
  unsigned *flags = (unsigned *)p.flags;
  float *ring = (float *)p.ring;
  float *hstate = (float *)p.hstate, *cstate = (float *)p.cstate;
  const float *bias = (const float *)(sm + lx_bias_off[layer]);
  const float *scale_ih = lx_sih_off[layer] >= 0 ? (const float *)(sm + lx_sih_off[layer]) : (const float *)0;
  const float *scale_hh = lx_shh_off[layer] >= 0 ? (const float *)(sm + lx_shh_off[layer]) : (const float *)0;
  const int *gtab_ih = lx_gih_off[layer] >= 0 ? (const int *)(sm + lx_gih_off[layer]) : (const int *)0;
  const int *gtab_hh = lx_ghh_off[layer] >= 0 ? (const int *)(sm + lx_ghh_off[layer]) : (const int *)0;
  LxSampleScratch ss = lx_sample_scratch(LX_SAMPLE_SMEM ? sm + LX_SM_SAMPLE : (unsigned char *)p.scratch, LX_V, nt);

  /* prologue: the resident front of the blob, this block's cell state, and its units of h(-1) into the
   * ring slot of step -1 */
  for (int o = tid * 16; o < res; o += nt * 16) *(uint4 *)(sm + o) = *(const uint4 *)(gblob + o);
  for (int j = tid; j < nb * nu; j += nt) {
    const int b = j / nu, u = j - b * nu;
    const long long si = ((long long)layer * p.nstreams + b) * LX_HMAX + u0 + u;
    cst[b * LX_NUMAX + u] = cstate[si];
    LX_ST(&ring[lx_ring_index(layer, LX_D - 1, b, u0 + u)], hstate[si]);
  }
  if (tid == 0) {
    misc[0] = 0;
    if (bid == 0 && p.mode == LX_MODE_GEN)
      for (int i = 0; i < 4; i++) rng[i] = ((const unsigned long long *)p.rng)[i];
  }
  LX_SYNC();
  if (tid == 0) lx_signal(&flags[LX_FLAG(layer)]);

  for (int t = 0; t < p.T; t++) {
    /* The two halves of the gates, in the order their inputs usually arrive: in generation h(t-1) is there
     * long before the token, in scoring (a wavefront) the layer below runs ahead, so x(t) is there first. */
    const int slot = t % LX_D;
    for (int half = 0; half < 2; half++) {
      if ((half == 0) == (p.mode != LX_MODE_SCORE)) {
        /* h(t-1) of the whole layer is complete, and the layer above has read the slot step t overwrites */
        if (tid == 0) {
          int ok = lx_wait(flags, LX_FLAG(layer), (unsigned)(lx_nblk[layer] * (t + 1)), t);
          if (ok && layer + 1 < LX_NL && t - LX_D + 2 > 0)
            ok = lx_wait(flags, LX_FLAG(layer + 1), (unsigned)(lx_nblk[layer + 1] * (t - LX_D + 2)), t);
          misc[0] = !ok;
        }
        LX_SYNC();
        if (misc[0]) return;
        const int slot_prev = (t + LX_D - 1) % LX_D;
        for (int j = tid; j < nb * H; j += nt) {
          const int b = j / H, c = j - b * H;
          x_hh[b * LX_XS_HH + c] = LX_LD(&ring[lx_ring_index(layer, slot_prev, b, c)]);
        }
        LX_SYNC();

        /* W_hh h(t-1): warp w takes gate rows w, w + nwarps, … */
        lx_rows_hh(layer, sm, gblob, res, rows_off + rec_ih, rec_ih + rec_hh, warp, nrows, nwarps, gtab_hh, x_hh, LX_XS_HH, nb,
                   scale_hh, g_hh);
      } else {
        /* the input: layer 0 reads its table row for the token, the others W_ih h_{l-1}(t) */
        if (layer == 0) {
          if (tid == 0) {
            int ok = 1;
            if (t < p.nknown) {
              for (int b = 0; b < nb; b++) misc[1 + b] = ((const int *)p.tokens)[t * nb + b];
            } else {
              ok = lx_wait(flags, LX_FLAG_SAMPLE, (unsigned)(t - p.nknown + 1), t);
              misc[1] = ok ? LX_LD(&((int *)p.tokbuf)[t]) : 0;
            }
            misc[0] = !ok;
          }
          LX_SYNC();
          if (misc[0]) return;
          const float *table = (const float *)p.table;
          for (int j = tid; j < nb * nrows; j += nt) {
            const int b = j / nrows, k = j - b * nrows, gate = k / nu, u = k - gate * nu;
            g_ih[b * LX_GSTRIDE + k] = table[(long long)misc[1 + b] * 4 * H + gate * H + u0 + u];
          }
        } else {
          if (tid == 0) misc[0] = !lx_wait(flags, LX_FLAG(layer - 1), (unsigned)(lx_nblk[layer - 1] * (t + 2)), t);
          LX_SYNC();
          if (misc[0]) return;
          for (int j = tid; j < nb * I; j += nt) {
            const int b = j / I, c = j - b * I;
            x_in[b * LX_XS_IN + c] = LX_LD(&ring[lx_ring_index(layer - 1, slot, b, c)]);
          }
          LX_SYNC();
          lx_rows_ih(layer, sm, gblob, res, rows_off, rec_ih + rec_hh, warp, nrows, nwarps, gtab_ih, x_in, LX_XS_IN, nb, scale_ih,
                     g_ih);
        }
      }
      LX_SYNC();
    }

    /* the cell: c = f c + i g, h = o tanh(c), gates i f g o as torch.nn.LSTM */
    for (int j = tid; j < nb * nu; j += nt) {
      const int b = j / nu, u = j - b * nu;
      const float *gh = g_hh + b * LX_GSTRIDE, *gi = g_ih + b * LX_GSTRIDE;
      const float zi = gh[u] + gi[u] + bias[u];
      const float zf = gh[nu + u] + gi[nu + u] + bias[nu + u];
      const float zg = gh[2 * nu + u] + gi[2 * nu + u] + bias[2 * nu + u];
      const float zo = gh[3 * nu + u] + gi[3 * nu + u] + bias[3 * nu + u];
      const float ig = 1.0f / (1.0f + expf(-zi)), fg = 1.0f / (1.0f + expf(-zf)), gg = tanhf(zg);
      const float og = 1.0f / (1.0f + expf(-zo));
      const float c = fg * cst[b * LX_NUMAX + u] + ig * gg;
      const float h = og * tanhf(c);
      cst[b * LX_NUMAX + u] = c;
      LX_ST(&ring[lx_ring_index(layer, slot, b, u0 + u)], h);
      if (p.mode == LX_MODE_SCORE && layer == LX_NL - 1) LX_ST(&((float *)p.hout)[(long long)t * H + u0 + u], h);
      if (t == p.T - 1) {
        const long long si = ((long long)layer * p.nstreams + b) * LX_HMAX + u0 + u;
        hstate[si] = h;
        cstate[si] = c;
      }
    }
    LX_SYNC();
    if (tid == 0) lx_signal(&flags[LX_FLAG(layer)]);

    /* the decoder (and the sampler) after the last layer's step t */
    if (p.mode != LX_MODE_SCORE && t >= p.dec_from && bid < LX_NDEC) {
      if (tid == 0) misc[0] = !lx_wait(flags, LX_FLAG(LX_NL - 1), (unsigned)(lx_nblk[LX_NL - 1] * (t + 2)), t);
      LX_SYNC();
      if (misc[0]) return;
      for (int j = tid; j < nb * LX_HLAST; j += nt) {
        const int b = j / LX_HLAST, c = j - b * LX_HLAST;
        x_in[b * LX_XS_IN + c] = LX_LD(&ring[lx_ring_index(LX_NL - 1, slot, b, c)]);
      }
      LX_SYNC();
      const unsigned char *dec = (const unsigned char *)p.dec;
      const float *dbias = (const float *)(dec + LX_DEC_BIAS_OFF);
      const float *dscale = LX_DEC_SCALE_OFF >= 0 ? (const float *)(dec + LX_DEC_SCALE_OFF) : (const float *)0;
      const int *dgtab = LX_DEC_G_OFF >= 0 ? (const int *)(dec + LX_DEC_G_OFF) : (const int *)0;
      const int v0 = (int)((long long)bid * LX_V / LX_NDEC), v1 = (int)((long long)(bid + 1) * LX_V / LX_NDEC);
      lx_rows_dec(dec, v0 + warp, v1, nwarps, dgtab, x_in, LX_XS_IN, nb, dscale, dbias, (float *)p.logits);
      LX_SYNC();
      if (LX_NDEC > 1 && tid == 0) lx_signal(&flags[LX_FLAG_DEC]);
      if (p.mode == LX_MODE_GEN && bid == 0) {
        if (LX_NDEC > 1) {
          if (tid == 0) misc[0] = !lx_wait(flags, LX_FLAG_DEC, (unsigned)(LX_NDEC * (t - p.dec_from + 1)), t);
          LX_SYNC();
          if (misc[0]) return;
        }
        const int tok = lx_sample((const float *)p.logits, LX_V, p.temperature, p.top_k, rng, ss);
        if (tid == 0) {
          LX_ST(&((int *)p.tokbuf)[t + 1], tok);
          ((int *)p.gen_out)[t - p.dec_from] = tok;
          lx_signal(&flags[LX_FLAG_SAMPLE]);
        }
      }
    }
  }
  if (bid == 0 && p.mode == LX_MODE_GEN && tid == 0)
    for (int i = 0; i < 4; i++) ((unsigned long long *)p.rng)[i] = rng[i];
}

/* Scoring with a decoder that has int8 activations: the logits of step t (no bias: lx_logprob adds it)
 * from hout[t], one block per step, by the integer path (lx_rows_qdot) — in place of the cuBLAS product
 * of float weights that the other formats use. Shared memory: LX_HLAST floats. */
#if LX_DEC_INT8
LX_KERNEL void lx_dec_qscore(LxParams p) {
  LX_SMEM(sm);
  float *x = (float *)sm;
  const int tid = LX_TID, nt = LX_NTHREADS, t = LX_BID;
  for (int c = tid; c < LX_HLAST; c += nt) x[c] = ((const float *)p.hout)[(long long)t * LX_HLAST + c];
  LX_SYNC();
  const unsigned char *dec = (const unsigned char *)p.dec;
  const float *dscale = LX_DEC_SCALE_OFF >= 0 ? (const float *)(dec + LX_DEC_SCALE_OFF) : (const float *)0;
  const int *dgtab = LX_DEC_G_OFF >= 0 ? (const int *)(dec + LX_DEC_G_OFF) : (const int *)0;
  lx_rows_dec(dec, tid >> 5, LX_V, nt >> 5, dgtab, x, LX_HLAST, 1, dscale, (const float *)0, (float *)p.logits + (long long)t * LX_V);
}
#endif
