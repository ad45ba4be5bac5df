/* The training ops of train/ops.h for one element type. Included by ops.c twice with R (float or double),
 * SFX(name) (name_f32 / name_f64), RF(fn) (the libm function for R: expf or exp) and RTANH defined. */

static inline R SFX(sigmoid)(R x) { return (R)1 / ((R)1 + RF(exp)(-x)); }

/* Threads for an element-wise job of `work` elements: waking a thread costs about what 32k elements do. */
static int SFX(threads_for)(Gemm *g, double work) { return pool_threads_for(gemm_pool(g), work, 32768.0); }

/* Threads for the recurrence: each step ends in a barrier, worth it only for about 64k multiply-adds a
 * thread per step. The hidden units are split in panel-sized ranges, so never more threads than panels. */
static int SFX(step_threads)(Gemm *g, int64_t B, int64_t H) {
  int n = pool_threads_for(gemm_pool(g), (double)B * 4.0 * (double)H * (double)H, 65536.0);
  int64_t panels = (H + SFX(gemm_panel_cols)() - 1) / SFX(gemm_panel_cols)();
  return panels < n ? (int)panels : n;
}

/* ---- embedding ------------------------------------------------------------------------------------- */

typedef struct SFX(EmbedJob) {
  int64_t n, D;
  const R *src; /* E (forward) or dout (backward) */
  const int32_t *tok;
  const R *rowscale;
  R *dst; /* out (forward) or dE (backward) */
  int backward;
} SFX(EmbedJob);

/* Split over columns, so that the backward's scatter-add into shared rows of dE needs no locks and adds
 * rows in the same order on any number of threads. */
static void SFX(embed_job)(void *ctx, int tid, int nt) {
  SFX(EmbedJob) *j = ctx;
  int64_t c0, c1;
  pool_split(j->D, 16, tid, nt, &c0, &c1);
  for (int64_t r = 0; r < j->n; r++) {
    int32_t v = j->tok[r];
    R s = j->rowscale ? j->rowscale[v] : (R)1;
    if (!j->backward) {
      const R *e = j->src + (int64_t)v * j->D;
      R *o = j->dst + r * j->D;
      for (int64_t c = c0; c < c1; c++) o[c] = e[c] * s;
    } else {
      const R *d = j->src + r * j->D;
      R *o = j->dst + (int64_t)v * j->D;
      for (int64_t c = c0; c < c1; c++) o[c] += d[c] * s;
    }
  }
}

void SFX(op_embed_fwd)(Gemm *g, int64_t n, int64_t D, const R *E, const int32_t *tok, const R *rowscale, R *out) {
  SFX(EmbedJob) j = {n, D, E, tok, rowscale, out, 0};
  pool_run_n(gemm_pool(g), SFX(threads_for)(g, (double)n * D), SFX(embed_job), &j);
}

void SFX(op_embed_bwd)(Gemm *g, int64_t n, int64_t D, const R *dout, const int32_t *tok, const R *rowscale, R *dE) {
  SFX(EmbedJob) j = {n, D, dout, tok, rowscale, dE, 1};
  pool_run_n(gemm_pool(g), SFX(threads_for)(g, (double)n * D), SFX(embed_job), &j);
}

/* ---- locked dropout -------------------------------------------------------------------------------- */

typedef struct SFX(LockJob) {
  int64_t T, B, F;
  R *x;
  const R *mask;
} SFX(LockJob);

static void SFX(lock_job)(void *ctx, int tid, int nt) {
  SFX(LockJob) *j = ctx;
  int64_t r0, r1;
  pool_split(j->T * j->B, 1, tid, nt, &r0, &r1);
  for (int64_t r = r0; r < r1; r++) {
    const R *m = j->mask + (r % j->B) * j->F;
    R *x = j->x + r * j->F;
    for (int64_t f = 0; f < j->F; f++) x[f] *= m[f];
  }
}

void SFX(op_lockdrop)(Gemm *g, int64_t T, int64_t B, int64_t F, R *x, const R *mask) {
  SFX(LockJob) j = {T, B, F, x, mask};
  pool_run_n(gemm_pool(g), SFX(threads_for)(g, (double)T * B * F), SFX(lock_job), &j);
}

/* ---- column sums and row fills ------------------------------------------------------------------------ */

typedef struct SFX(ColJob) {
  int64_t n, V;
  const R *Y;
  R *out1, *out2; /* out1 += Σ rows (and out2 too when not NULL); or, for fill, rows of Y = out1 + out2 */
  R *fill;        /* fill mode: destination [n, V] */
} SFX(ColJob);

static void SFX(col_job)(void *ctx, int tid, int nt) {
  SFX(ColJob) *j = ctx;
  if (j->fill) {
    int64_t r0, r1;
    pool_split(j->n, 1, tid, nt, &r0, &r1);
    for (int64_t r = r0; r < r1; r++)
      for (int64_t c = 0; c < j->V; c++) j->fill[r * j->V + c] = j->out2 ? j->out1[c] + j->out2[c] : j->out1[c];
    return;
  }
  int64_t c0, c1;
  pool_split(j->V, 16, tid, nt, &c0, &c1);
  /* blocks of columns, rows in order: each column is summed top to bottom, as one loop would */
  for (int64_t cb = c0; cb < c1; cb += 256) {
    int64_t w = c1 - cb < 256 ? c1 - cb : 256;
    R acc[256];
    for (int64_t c = 0; c < w; c++) acc[c] = 0;
    for (int64_t r = 0; r < j->n; r++) {
      const R *y = j->Y + r * j->V + cb;
      for (int64_t c = 0; c < w; c++) acc[c] += y[c];
    }
    for (int64_t c = 0; c < w; c++) {
      j->out1[cb + c] += acc[c];
      if (j->out2) j->out2[cb + c] += acc[c];
    }
  }
}

static void SFX(colsum_add)(Gemm *g, int64_t n, int64_t V, const R *Y, R *out1, R *out2) {
  SFX(ColJob) j = {n, V, Y, out1, out2, NULL};
  pool_run_n(gemm_pool(g), SFX(threads_for)(g, (double)n * V), SFX(col_job), &j);
}

/* rows of dst [n, V] = a (+ b) */
static void SFX(fill_rows)(Gemm *g, int64_t n, int64_t V, R *dst, const R *a, const R *b) {
  SFX(ColJob) j = {n, V, NULL, (R *)a, (R *)b, dst};
  pool_run_n(gemm_pool(g), SFX(threads_for)(g, (double)n * V), SFX(col_job), &j);
}

/* ---- LSTM -------------------------------------------------------------------------------------------- */

typedef struct SFX(LstmJob) {
  Gemm *g;
  LstmWork *w;
  int64_t T, B, I, H;
  R *gates;
  R *Hall, *Call;
  const R *dH;
  R *dG;
} SFX(LstmJob);

/* Each thread owns a range of hidden units: per step it computes the four gates' recurrent products for
 * its units, then their cell update, so one barrier per step is all the synchronization. */
static void SFX(lstm_fwd_job)(void *ctx, int tid, int nt) {
  SFX(LstmJob) *j = ctx;
  int64_t B = j->B, H = j->H, u0, u1;
  pool_split(H, SFX(gemm_panel_cols)(), tid, nt, &u0, &u1);
  for (int64_t t = 0; t < j->T; t++) {
    const R *hprev = j->Hall + t * B * H;
    const R *cprev = j->Call + t * B * H;
    R *hnext = j->Hall + (t + 1) * B * H, *cnext = j->Call + (t + 1) * B * H;
    R *G = j->gates + t * B * 4 * H;
    if (u1 > u0) {
      const PackedB *pbs[4] = {&j->w->fwd[0], &j->w->fwd[1], &j->w->fwd[2], &j->w->fwd[3]};
      R *Cs[4] = {G, G + H, G + 2 * H, G + 3 * H};
      SFX(gemm_packed_multi)(j->g, tid, B, hprev, H, pbs, Cs, 4, u0, u1, 1, 4 * H);
    }
    for (int64_t b = 0; b < B; b++) {
      R *z = G + b * 4 * H;
      for (int64_t u = u0; u < u1; u++) {
        R i = SFX(sigmoid)(z[u]), f = SFX(sigmoid)(z[H + u]), gg = RTANH(z[2 * H + u]), o = SFX(sigmoid)(z[3 * H + u]);
        R c = f * cprev[b * H + u] + i * gg;
        z[u] = i;
        z[H + u] = f;
        z[2 * H + u] = gg;
        z[3 * H + u] = o;
        cnext[b * H + u] = c;
        hnext[b * H + u] = o * RTANH(c);
      }
    }
    pool_barrier(gemm_pool(j->g));
  }
}

static int SFX(lstm_scratch)(LstmWork *w, int64_t B, int64_t H) {
  size_t need = (size_t)(B * H) * sizeof(R), need_db = (size_t)(4 * H) * sizeof(R);
  if (need_db > w->db_cap) {
    void *db = lx_malloc(need_db);
    if (!db) return lx_nomem("allocating LSTM scratch");
    lx_free(w->db);
    w->db = db;
    w->db_cap = need_db;
  }
  if (need <= w->cap) return 0;
  void *dh = lx_malloc(need), *dc = lx_malloc(need);
  if (!dh || !dc) {
    lx_free(dh);
    lx_free(dc);
    return lx_nomem("allocating LSTM scratch");
  }
  lx_free(w->dh);
  lx_free(w->dc);
  w->dh = dh;
  w->dc = dc;
  w->cap = need;
  return 0;
}

int SFX(op_lstm_fwd)(Gemm *g, LstmWork *w, int64_t T, int64_t B, int64_t I, int64_t H, const R *X, const R *Wih,
                     const R *Whh, const R *bih, const R *bhh, R *gates, R *Hall, R *Call) {
  int st;
  for (int q = 0; q < 4; q++)
    if ((st = SFX(gemm_pack_b)(g, &w->fwd[q], 1, H, H, Whh + (int64_t)q * H * H, H))) return st;
  /* input projections of all steps at once: gates = b_ih + b_hh + X W_ih^T */
  SFX(fill_rows)(g, T * B, 4 * H, gates, bih, bhh);
  SFX(gemm)(g, 0, 1, T * B, 4 * H, I, X, I, Wih, I, 1, gates, 4 * H);
  SFX(LstmJob) j = {g, w, T, B, I, H, gates, Hall, Call, NULL, NULL};
  pool_run_n(gemm_pool(g), SFX(step_threads)(g, B, H), SFX(lstm_fwd_job), &j);
  return 0;
}

static void SFX(lstm_bwd_job)(void *ctx, int tid, int nt) {
  SFX(LstmJob) *j = ctx;
  int64_t B = j->B, H = j->H, u0, u1;
  pool_split(H, SFX(gemm_panel_cols)(), tid, nt, &u0, &u1);
  R *dh = j->w->dh, *dc = j->w->dc, *db = j->w->db;
  for (int q = 0; q < 4; q++)
    for (int64_t u = u0; u < u1; u++) db[q * H + u] = 0;
  for (int64_t t = j->T - 1; t >= 0; t--) {
    int last = t == j->T - 1;
    R *dGt = j->dG + t * B * 4 * H;
    /* the gradient reaching h_t through step t+1: dG_{t+1} · W_hh, for this thread's units */
    if (!last && u1 > u0) SFX(gemm_packed_range)(j->g, tid, B, dGt + B * 4 * H, 4 * H, &j->w->bwd, u0, u1, 0, dh, H);
    const R *gt = j->gates + t * B * 4 * H, *c = j->Call + (t + 1) * B * H, *cprev = j->Call + t * B * H;
    const R *dHt = j->dH + t * B * H;
    for (int64_t b = 0; b < B; b++) {
      const R *z = gt + b * 4 * H;
      R *dz = dGt + b * 4 * H;
      for (int64_t u = u0; u < u1; u++) {
        int64_t k = b * H + u;
        R i = z[u], f = z[H + u], gg = z[2 * H + u], o = z[3 * H + u];
        R tc = RTANH(c[k]);
        R dhv = last ? dHt[k] : dHt[k] + dh[k];
        R dcv = dhv * o * ((R)1 - tc * tc);
        if (!last) dcv += dc[k];
        dz[u] = dcv * gg * i * ((R)1 - i);
        dz[H + u] = dcv * cprev[k] * f * ((R)1 - f);
        dz[2 * H + u] = dcv * i * ((R)1 - gg * gg);
        dz[3 * H + u] = dhv * tc * o * ((R)1 - o);
        dc[k] = dcv * f;
        /* the bias gradient, here while the values are in registers, by the thread owning unit u */
        db[u] += dz[u];
        db[H + u] += dz[H + u];
        db[2 * H + u] += dz[2 * H + u];
        db[3 * H + u] += dz[3 * H + u];
      }
    }
    pool_barrier(gemm_pool(j->g));
  }
}

int SFX(op_lstm_bwd)(Gemm *g, LstmWork *w, int64_t T, int64_t B, int64_t I, int64_t H, const R *X, const R *Wih,
                     const R *Whh, const R *gates, const R *Hall, const R *Call, const R *dH, R *dG, R *dX, R *dWih,
                     R *dWhh, R *dbih, R *dbhh) {
  int st;
  if ((st = SFX(gemm_pack_b)(g, &w->bwd, 0, 4 * H, H, Whh, H)) || (st = SFX(lstm_scratch)(w, B, H))) return st;
  SFX(LstmJob) j = {g, w, T, B, I, H, (R *)gates, (R *)Hall, (R *)Call, dH, dG};
  pool_run_n(gemm_pool(g), SFX(step_threads)(g, B, H), SFX(lstm_bwd_job), &j);
  /* parameter gradients over all steps at once: row n of Hall is h_{t-1} for row n of dG */
  SFX(gemm)(g, 1, 0, 4 * H, H, T * B, dG, 4 * H, Hall, H, 1, dWhh, H);
  SFX(gemm)(g, 1, 0, 4 * H, I, T * B, dG, 4 * H, X, I, 1, dWih, I);
  const R *db = w->db;
  for (int64_t i = 0; i < 4 * H; i++) {
    dbih[i] += db[i];
    dbhh[i] += db[i];
  }
  if (dX) SFX(gemm)(g, 0, 0, T * B, I, 4 * H, dG, 4 * H, Wih, I, 0, dX, I);
  return 0;
}

/* ---- decoder --------------------------------------------------------------------------------------- */

void SFX(op_linear_fwd)(Gemm *g, int64_t n, int64_t D, int64_t V, const R *X, const R *W, const R *b, R *Y) {
  SFX(fill_rows)(g, n, V, Y, b, NULL);
  SFX(gemm)(g, 0, 1, n, V, D, X, D, W, D, 1, Y, V);
}

void SFX(op_linear_bwd)(Gemm *g, int64_t n, int64_t D, int64_t V, const R *X, const R *W, const R *dY, R *dW, R *db,
                        R *dX) {
  SFX(gemm)(g, 1, 0, V, D, n, dY, V, X, D, 1, dW, D);
  SFX(colsum_add)(g, n, V, dY, db, NULL);
  if (dX) SFX(gemm)(g, 0, 0, n, D, V, dY, V, W, D, 0, dX, D);
}

/* ---- softmax cross-entropy -------------------------------------------------------------------------- */

typedef struct SFX(CeJob) {
  int64_t n, V;
  R *logits;
  const int32_t *tgt;
  double scale;
  double *row_nll;
} SFX(CeJob);

static void SFX(ce_job)(void *ctx, int tid, int nt) {
  SFX(CeJob) *j = ctx;
  int64_t r0, r1;
  pool_split(j->n, 1, tid, nt, &r0, &r1);
  for (int64_t r = r0; r < r1; r++) {
    R *l = j->logits + r * j->V;
    R m = l[0];
    for (int64_t v = 1; v < j->V; v++)
      if (l[v] > m) m = l[v];
    double s = 0;
    for (int64_t v = 0; v < j->V; v++) s += (double)RF(exp)(l[v] - m);
    int32_t y = j->tgt[r];
    j->row_nll[r] = (double)m + log(s) - (double)l[y];
    if (j->scale != 0) {
      double k = j->scale / s;
      for (int64_t v = 0; v < j->V; v++) l[v] = (R)((double)RF(exp)(l[v] - m) * k);
      l[y] -= (R)j->scale;
    }
  }
}

double SFX(op_softmax_ce)(Gemm *g, int64_t n, int64_t V, R *logits, const int32_t *tgt, double grad_scale,
                          double *row_nll) {
  SFX(CeJob) j = {n, V, logits, tgt, grad_scale, row_nll};
  pool_run_n(gemm_pool(g), SFX(threads_for)(g, 8.0 * n * V), SFX(ce_job), &j);
  double total = 0;
  for (int64_t r = 0; r < n; r++) total += row_nll[r];
  return total;
}

/* ---- AR and TAR ------------------------------------------------------------------------------------ */

double SFX(op_ar)(int64_t n, int64_t F, const R *x, double alpha, R *dx) {
  int64_t N = n * F;
  if (N == 0 || alpha == 0) return 0;
  double s = 0;
  for (int64_t i = 0; i < N; i++) s += (double)x[i] * (double)x[i];
  if (dx) {
    R k = (R)(2.0 * alpha / (double)N);
    for (int64_t i = 0; i < N; i++) dx[i] += k * x[i];
  }
  return alpha * s / (double)N;
}

double SFX(op_tar)(int64_t T, int64_t B, int64_t F, const R *h, double beta, R *dh) {
  if (T < 2 || beta == 0) return 0;
  int64_t row = B * F, N = (T - 1) * row;
  double s = 0;
  R k = (R)(2.0 * beta / (double)N);
  for (int64_t t = 1; t < T; t++)
    for (int64_t i = 0; i < row; i++) {
      R d = h[t * row + i] - h[(t - 1) * row + i];
      s += (double)d * (double)d;
      if (dh) {
        dh[t * row + i] += k * d;
        dh[(t - 1) * row + i] -= k * d;
      }
    }
  return beta * s / (double)N;
}
