/* The GEMM of train/gemm.h for one element type. Included by gemm.c twice, with R (float or double) and
 * SFX(name) (name_f32 or name_f64) defined; everything here is static to that instantiation except the
 * public gemm_*_f32/_f64 entry points. */

#define VL ((int)(GEMM_VBYTES / sizeof(R))) /* elements per vector */
#define NR (2 * VL)                          /* columns per panel: two vectors */

typedef R SFX(vec) __attribute__((vector_size(GEMM_VBYTES)));
typedef R SFX(vecu) __attribute__((vector_size(GEMM_VBYTES), aligned(sizeof(R)), may_alias));

/* The register kernel: acc[MRV×NR] = Σ_k a[k][0..MRV) ⊗ b[k][0..NR), with a packed MRV values per k and b
 * NR values per k. Written once as a macro so that the AVX2 and the portable copies are the same code. */
#define GEMM_KERNEL_BODY(MRV)                                                                                \
  SFX(vec) c0[MRV], c1[MRV];                                                                                 \
  _Pragma("GCC unroll 8") for (int i = 0; i < (MRV); i++) c0[i] = c1[i] = (SFX(vec)){0};                     \
  for (int64_t k = 0; k < kc; k++) {                                                                         \
    SFX(vec) b0 = *(const SFX(vecu) *)(b), b1 = *(const SFX(vecu) *)(b + VL);                                \
    _Pragma("GCC unroll 8") for (int i = 0; i < (MRV); i++) {                                                \
      R av = a[i];                                                                                           \
      c0[i] += av * b0;                                                                                      \
      c1[i] += av * b1;                                                                                      \
    }                                                                                                        \
    a += (MRV);                                                                                              \
    b += NR;                                                                                                 \
  }                                                                                                          \
  _Pragma("GCC unroll 8") for (int i = 0; i < (MRV); i++) {                                                  \
    *(SFX(vecu) *)(acc + i * NR) = c0[i];                                                                    \
    *(SFX(vecu) *)(acc + i * NR + VL) = c1[i];                                                               \
  }

typedef void (*SFX(kernel_fn))(int64_t kc, const R *restrict a, const R *restrict b, R *restrict acc);

#define GEMM_DEF_KERNEL(MRV)                                                                                 \
  static void SFX(kern_gen_##MRV)(int64_t kc, const R *restrict a, const R *restrict b, R *restrict acc) {    \
    GEMM_KERNEL_BODY(MRV)                                                                                    \
  }                                                                                                          \
  GEMM_AVX2_ATTR static void SFX(kern_avx2_##MRV)(int64_t kc, const R *restrict a, const R *restrict b,      \
                                                  R *restrict acc) {                                         \
    GEMM_KERNEL_BODY(MRV)                                                                                    \
  }
GEMM_DEF_KERNEL(1)
GEMM_DEF_KERNEL(2)
GEMM_DEF_KERNEL(3)
GEMM_DEF_KERNEL(4)
GEMM_DEF_KERNEL(5)
GEMM_DEF_KERNEL(6)

static SFX(kernel_fn) SFX(kernels)[GEMM_MR + 1];

static void SFX(select_kernels)(int avx2) {
  static const SFX(kernel_fn) gen[GEMM_MR + 1] = {NULL, SFX(kern_gen_1), SFX(kern_gen_2), SFX(kern_gen_3),
                                                  SFX(kern_gen_4), SFX(kern_gen_5), SFX(kern_gen_6)};
  static const SFX(kernel_fn) fast[GEMM_MR + 1] = {NULL, SFX(kern_avx2_1), SFX(kern_avx2_2), SFX(kern_avx2_3),
                                                   SFX(kern_avx2_4), SFX(kern_avx2_5), SFX(kern_avx2_6)};
  for (int i = 0; i <= GEMM_MR; i++) SFX(kernels)[i] = avx2 ? fast[i] : gen[i];
}

/* op(A)[m0:m0+mc, k0:k0+kc] into panels of up to MR rows; a panel of mr rows holds kc groups of mr values. */
static void SFX(pack_a)(int ta, const R *A, int64_t lda, int64_t m0, int64_t mc, int64_t k0, int64_t kc, R *out) {
  if (ta) {
    /* op(A) rows are columns of A: walk A's rows once, scattering each into every panel */
    for (int64_t k = 0; k < kc; k++) {
      const R *src = A + (k0 + k) * lda + m0;
      R *o = out;
      for (int64_t p = 0; p < mc; p += GEMM_MR) {
        int64_t mr = mc - p < GEMM_MR ? mc - p : GEMM_MR;
        for (int64_t i = 0; i < mr; i++) o[k * mr + i] = src[p + i];
        o += mr * kc;
      }
    }
    return;
  }
  for (int64_t p = 0; p < mc; p += GEMM_MR) {
    int64_t mr = mc - p < GEMM_MR ? mc - p : GEMM_MR;
    for (int64_t i = 0; i < mr; i++) { /* read rows contiguously; the strided writes stay in L1 */
      const R *src = A + (m0 + p + i) * lda + k0;
      for (int64_t k = 0; k < kc; k++) out[k * mr + i] = src[k];
    }
    out += mr * kc;
  }
}

/* op(B)[k0:k0+kc, n0:n0+nc] into panels of NR columns (zero-padded), each kc rows of NR values. */
static void SFX(pack_b)(int tb, const R *B, int64_t ldb, int64_t k0, int64_t kc, int64_t n0, int64_t nc, R *out) {
  for (int64_t p = 0; p < nc; p += NR) {
    int64_t nr = nc - p < NR ? nc - p : NR;
    if (tb) {
      for (int64_t j = 0; j < nr; j++) {
        const R *src = B + (n0 + p + j) * ldb + k0;
        for (int64_t k = 0; k < kc; k++) out[k * NR + j] = src[k];
      }
      for (int64_t j = nr; j < NR; j++)
        for (int64_t k = 0; k < kc; k++) out[k * NR + j] = 0;
    } else {
      for (int64_t k = 0; k < kc; k++) {
        const R *src = B + (k0 + k) * ldb + n0 + p;
        int64_t j = 0;
        for (; j < nr; j++) out[k * NR + j] = src[j];
        for (; j < NR; j++) out[k * NR + j] = 0;
      }
    }
    out += kc * NR;
  }
}

/* Adds one tile of the product into C: the first K block applies beta, later blocks accumulate. */
static void SFX(tile_store)(const R *acc, int64_t mr, int64_t nr, R *C, int64_t ldc, int first, R beta) {
  if (nr == NR && (!first || beta == 1 || beta == 0)) {
    int add = !first || beta == 1;
    for (int64_t i = 0; i < mr; i++) {
      SFX(vecu) *c = (SFX(vecu) *)(C + i * ldc);
      const SFX(vecu) *s = (const SFX(vecu) *)(acc + i * NR);
      if (add) {
        c[0] = c[0] + s[0];
        c[1] = c[1] + s[1];
      } else {
        c[0] = s[0];
        c[1] = s[1];
      }
    }
    return;
  }
  for (int64_t i = 0; i < mr; i++) {
    R *c = C + i * ldc;
    const R *s = acc + i * NR;
    if (!first || beta == 1)
      for (int64_t j = 0; j < nr; j++) c[j] += s[j];
    else if (beta == 0)
      for (int64_t j = 0; j < nr; j++) c[j] = s[j];
    else
      for (int64_t j = 0; j < nr; j++) c[j] = beta * c[j] + s[j];
  }
}

static void SFX(scale_region)(R *C, int64_t ldc, int64_t m0, int64_t m1, int64_t n0, int64_t n1, R beta) {
  for (int64_t i = m0; i < m1; i++)
    for (int64_t j = n0; j < n1; j++) C[i * ldc + j] = beta == 0 ? 0 : beta * C[i * ldc + j];
}

/* C[m0:m1, n0:n1] on one thread. With pb, op(B) comes pre-packed and B/tb/ldb are unused. */
static void SFX(gemm_region)(R *ws_a, R *ws_b, int ta, int tb, int64_t m0, int64_t m1, int64_t n0, int64_t n1,
                             int64_t K, const R *A, int64_t lda, const R *B, int64_t ldb, const PackedB *pb, R beta,
                             R *C, int64_t ldc) {
  if (m1 <= m0 || n1 <= n0) return;
  if (K == 0) {
    SFX(scale_region)(C, ldc, m0, m1, n0, n1, beta);
    return;
  }
  R acc[GEMM_MR * NR] __attribute__((aligned(64)));
  int64_t npad = pb ? (pb->N + NR - 1) / NR * NR : 0;
  for (int64_t jc = n0; jc < n1; jc += GEMM_NC) {
    int64_t nc = n1 - jc < GEMM_NC ? n1 - jc : GEMM_NC;
    for (int64_t pc = 0; pc < K; pc += GEMM_KC) {
      int64_t kc = K - pc < GEMM_KC ? K - pc : GEMM_KC;
      const R *bblock;
      if (pb) {
        bblock = (const R *)pb->buf + pc * npad + (jc / NR) * kc * NR;
      } else {
        SFX(pack_b)(tb, B, ldb, pc, kc, jc, nc, ws_b);
        bblock = ws_b;
      }
      for (int64_t ic = m0; ic < m1; ic += GEMM_MC) {
        int64_t mc = m1 - ic < GEMM_MC ? m1 - ic : GEMM_MC;
        SFX(pack_a)(ta, A, lda, ic, mc, pc, kc, ws_a);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          int64_t nr = nc - jr < NR ? nc - jr : NR;
          const R *bp = bblock + (jr / NR) * kc * NR;
          const R *ap = ws_a;
          for (int64_t ir = 0; ir < mc; ir += GEMM_MR) {
            int64_t mr = mc - ir < GEMM_MR ? mc - ir : GEMM_MR;
            R *ct = C + (ic + ir) * ldc + jc + jr;
            for (int64_t i = 0; i < mr; i++) __builtin_prefetch(ct + i * ldc, 1), __builtin_prefetch(ct + i * ldc + NR - 1, 1);
            SFX(kernels)[mr](kc, ap, bp, acc);
            SFX(tile_store)(acc, mr, nr, ct, ldc, pc == 0, beta);
            ap += mr * kc;
          }
        }
      }
    }
  }
}

typedef struct SFX(GemmJob) {
  Gemm *g;
  int ta, tb, split_n;
  int64_t M, N, K, lda, ldb, ldc;
  const R *A, *B;
  R beta;
  R *C;
} SFX(GemmJob);

static void SFX(gemm_job)(void *ctx, int tid, int nt) {
  SFX(GemmJob) *j = ctx;
  int64_t lo, hi;
  R *wa = (R *)gemm_ws_a(j->g, tid), *wb = (R *)gemm_ws_b(j->g, tid);
  if (j->split_n) {
    pool_split(j->N, NR, tid, nt, &lo, &hi);
    SFX(gemm_region)(wa, wb, j->ta, j->tb, 0, j->M, lo, hi, j->K, j->A, j->lda, j->B, j->ldb, NULL, j->beta, j->C, j->ldc);
  } else {
    pool_split(j->M, GEMM_MR, tid, nt, &lo, &hi);
    SFX(gemm_region)(wa, wb, j->ta, j->tb, lo, hi, 0, j->N, j->K, j->A, j->lda, j->B, j->ldb, NULL, j->beta, j->C, j->ldc);
  }
}

void SFX(gemm)(Gemm *g, int ta, int tb, int64_t M, int64_t N, int64_t K, const R *A, int64_t lda, const R *B,
               int64_t ldb, R beta, R *C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  SFX(GemmJob) j = {g, ta, tb, 0, M, N, K, lda, ldb, ldc, A, B, beta, C};
  int64_t pm = (M + GEMM_MR - 1) / GEMM_MR, pn = (N + NR - 1) / NR;
  int nt = pool_threads(gemm_pool(g));
  j.split_n = pn >= pm || pn >= 4 * nt;
  /* a thread is worth waking for about 256k multiply-adds */
  nt = pool_threads_for(gemm_pool(g), (double)M * (double)N * (double)K, 262144.0);
  pool_run_n(gemm_pool(g), nt, SFX(gemm_job), &j);
}

int64_t SFX(gemm_panel_cols)(void) { return NR; }

int SFX(gemm_pack_b)(Gemm *g, PackedB *pb, int tb, int64_t K, int64_t N, const R *B, int64_t ldb) {
  (void)g;
  int64_t npad = (N + NR - 1) / NR * NR;
  size_t need = (size_t)(K > 0 ? K : 1) * (size_t)npad * sizeof(R) + 64;
  if (need > pb->cap) {
    void *raw = lx_malloc(need);
    if (!raw) return lx_nomem("packing a weight matrix");
    lx_free(pb->raw);
    pb->raw = raw;
    pb->cap = need;
  }
  pb->buf = (void *)(((uintptr_t)pb->raw + 63) & ~(uintptr_t)63);
  pb->K = K;
  pb->N = N;
  pb->elsize = (int)sizeof(R);
  for (int64_t pc = 0; pc < K; pc += GEMM_KC) {
    int64_t kc = K - pc < GEMM_KC ? K - pc : GEMM_KC;
    SFX(pack_b)(tb, B, ldb, pc, kc, 0, N, (R *)pb->buf + pc * npad);
  }
  return 0;
}

void SFX(gemm_packed_multi)(Gemm *g, int tid, int64_t M, const R *A, int64_t lda, const PackedB *const *pbs,
                            R *const *Cs, int nq, int64_t n0, int64_t n1, R beta, int64_t ldc) {
  if (M <= 0 || n1 <= n0) return;
  int64_t K = pbs[0]->K;
  for (int q = 0; q < nq; q++) LX_ASSERT(pbs[q]->elsize == (int)sizeof(R) && n0 % NR == 0 && n1 <= pbs[q]->N && pbs[q]->K == K);
  if (K == 0) {
    for (int q = 0; q < nq; q++) SFX(scale_region)(Cs[q], ldc, 0, M, n0, n1, beta);
    return;
  }
  R *ws_a = (R *)gemm_ws_a(g, tid);
  R acc[GEMM_MR * NR] __attribute__((aligned(64)));
  for (int64_t pc = 0; pc < K; pc += GEMM_KC) {
    int64_t kc = K - pc < GEMM_KC ? K - pc : GEMM_KC;
    for (int64_t ic = 0; ic < M; ic += GEMM_MC) {
      int64_t mc = M - ic < GEMM_MC ? M - ic : GEMM_MC;
      SFX(pack_a)(0, A, lda, ic, mc, pc, kc, ws_a); /* once for all nq products */
      for (int q = 0; q < nq; q++) {
        const PackedB *pb = pbs[q];
        int64_t npad = (pb->N + NR - 1) / NR * NR;
        const R *bblock = (const R *)pb->buf + pc * npad;
        for (int64_t jr = n0; jr < n1; jr += NR) {
          int64_t nr = n1 - jr < NR ? n1 - jr : NR;
          const R *bp = bblock + (jr / NR) * kc * NR, *ap = ws_a;
          for (int64_t ir = 0; ir < mc; ir += GEMM_MR) {
            int64_t mr = mc - ir < GEMM_MR ? mc - ir : GEMM_MR;
            R *ct = Cs[q] + (ic + ir) * ldc + jr;
            SFX(kernels)[mr](kc, ap, bp, acc);
            SFX(tile_store)(acc, mr, nr, ct, ldc, pc == 0, beta);
            ap += mr * kc;
          }
        }
      }
    }
  }
}

void SFX(gemm_packed_range)(Gemm *g, int tid, int64_t M, const R *A, int64_t lda, const PackedB *pb, int64_t n0,
                            int64_t n1, R beta, R *C, int64_t ldc) {
  SFX(gemm_packed_multi)(g, tid, M, A, lda, &pb, &C, 1, n0, n1, beta, ldc);
}

#undef VL
#undef NR
#undef GEMM_KERNEL_BODY
#undef GEMM_DEF_KERNEL
