/* The array's arithmetic: quantizing a product's input vector, the cells' multiply-accumulate with
 * saturation in the array's order, SIMD kernels that give the same integers when nothing can saturate,
 * and the gate unit (exact, lookup table, piecewise linear).
 *
 * The ordered path is the definition: tile by tile, each column's partial sum starts at 0 at the top of
 * the tile, every cell adds level · q[select] and saturates to accbits, and the accumulator under the
 * column adds the tile's sum and saturates. When no row's Σ|level| · Q can leave the accbits range
 * (SaProduct.may_saturate is 0) every partial sum is exact, so any order of the same integer additions
 * gives the same accumulators; then a SIMD kernel runs: per 16 outputs and 4 column groups a byte shuffle
 * picks each cell's input from a table of the groups' quantized inputs (the multiplexers) and the products
 * are summed exactly in 32 bits (the layout and the two kernels are described below). */
#include <math.h>
#include <string.h>

#include "codegen/systolic/systolic.h"
#include "support/alloc.h"
#include "support/err.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define SA_HAVE_AVX2_KERNEL 1
#endif

void sa_quantize(const float *x, int64_t n, int abits, int16_t *q, float *s_x) {
  float amax = 0.0f;
  for (int64_t c = 0; c < n; c++) {
    float a = fabsf(x[c]);
    if (a > amax) amax = a;
  }
  if (amax == 0.0f) {
    memset(q, 0, (size_t)n * sizeof *q);
    *s_x = 0.0f;
    return;
  }
  float Q = (float)((1 << (abits - 1)) - 1), inv = Q / amax;
  *s_x = amax / Q;
  for (int64_t c = 0; c < n; c++) {
    float v = nearbyintf(x[c] * inv);
    if (v > Q) v = Q;
    else if (v < -Q) v = -Q;
    else if (v != v) v = 0; /* 0 · inf: a zero input when amax is so small that inv overflowed (ir/qdot.h) */
    q[c] = (int16_t)v;
  }
}

int64_t sa_product_acc_ordered(const SaProduct *pr, const SystolicConfig *c, const int16_t *q, int64_t *acc) {
  int64_t sat = 0, A = c->rows, B = c->cols, G = pr->ngroups, R = pr->rows;
  int bits = c->accbits;
  memset(acc, 0, (size_t)R * sizeof *acc);
  for (int64_t r0 = 0; r0 < R; r0 += B) {
    int64_t r1 = r0 + B < R ? r0 + B : R;
    for (int64_t g0 = 0; g0 < G; g0 += A) {
      int64_t g1 = g0 + A < G ? g0 + A : G;
      for (int64_t r = r0; r < r1; r++) {
        const int8_t *lv = pr->level + r * G;
        const uint8_t *sl = pr->sel + r * G;
        int64_t p = 0;
        for (int64_t g = g0; g < g1; g++) {
          unsigned s = sl[g];
          if (s == LX_SEL_EMPTY) continue;
          p = sa_saturate(p + (int64_t)lv[g] * q[pr->group_cols[pr->group_off[g] + (int32_t)s]], bits, &sat);
        }
        acc[r] = sa_saturate(acc[r] + p, bits, &sat);
      }
    }
  }
  return sat;
}

/* ---- the SIMD kernels ----------------------------------------------------------------------------------
 * Layout: per 16-row block and 4-group quad, 64 bytes of selects-as-table-indices and 64 of levels, byte
 * 4·r' + k for row r' of the block and group k of the quad (0x80 and level 0 where the cell is empty). Group k
 * of a quad sits in table (k·E)/16 of the quad at entries (k·E)%16 + select, E = 4, 8 or 16 entries per group
 * (the largest group, rounded up). Per call the tables hold the groups' quantized inputs.
 *  - AVX2: per 8 rows, |w| ⊗ sign(w)·q with pmaddubsw (pairs ≤ 32258: no saturation), pmaddwd with ones;
 *  - AVX-512 VNNI: per 16 rows, vpdpbusd of (q + 128) as unsigned bytes with the signed levels, less
 *    128 · Σ levels of the row (precomputed): exact in int32. */

enum { KERNEL_PORTABLE = 0, KERNEL_AVX2 = 1, KERNEL_AVX512 = 2 };
static int kernel_forced = -1; /* -1: the best the CPU has */

static int cpu_kernel(void) {
#ifdef SA_HAVE_AVX2_KERNEL
  static int known = -1;
  if (known < 0) {
    __builtin_cpu_init();
    known = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                    __builtin_cpu_supports("avx512vnni")
                ? KERNEL_AVX512
                : __builtin_cpu_supports("avx2") ? KERNEL_AVX2 : KERNEL_PORTABLE;
  }
  return known;
#else
  return KERNEL_PORTABLE;
#endif
}

/* The kernel that runs: the forced one when the CPU has it, else the best. */
static int active_kernel(void) {
  int best = cpu_kernel();
  return kernel_forced >= 0 && kernel_forced <= best ? kernel_forced : best;
}

static const char *const kernel_names[] = {"portable", "avx2", "avx512-vnni"};

int sa_kernel_select(const char *name) {
  if (!name) {
    kernel_forced = -1;
    return 0;
  }
  for (int k = 0; k < 3; k++)
    if (!strcmp(name, kernel_names[k])) {
      if (k > cpu_kernel()) return -1;
      kernel_forced = k;
      return 0;
    }
  return -1;
}

const char *sa_kernel_name(void) { return kernel_names[active_kernel()]; }

/* Bytes of the per-call scratch: the tables (16 bytes per table, kentries / 4 tables per quad), then the
 * 32-bit sums of every 16-row block. */
static size_t tables_bytes(const SaProduct *pr) { return ((size_t)pr->kquads * (size_t)(pr->kentries / 4) * 16 + 63) & ~(size_t)63; }

size_t sa_kernel_table_bytes(const SaProduct *pr) {
  if (!pr->kidx) return 0;
  return tables_bytes(pr) + (size_t)pr->kblocks_r * 16 * sizeof(int32_t) + 64;
}

static void kernel_layout_free(SaProduct *pr) {
  lx_free(pr->kidx);
  lx_free(pr->kw);
  lx_free(pr->kcorr);
  pr->kidx = NULL;
  pr->kw = NULL;
  pr->kcorr = NULL;
}

int sa_kernel_layout(SaProduct *pr, const SystolicConfig *c) {
  kernel_layout_free(pr);
  if (pr->may_saturate || c->abits > 8 || pr->max_group > 16 || pr->ngroups == 0 || cpu_kernel() == KERNEL_PORTABLE)
    return 0;
  int E = pr->max_group <= 4 ? 4 : pr->max_group <= 8 ? 8 : 16;
  int64_t R16 = (pr->rows + 15) / 16, Q4 = (pr->ngroups + 3) / 4, G = pr->ngroups;
  size_t n = (size_t)(R16 * Q4) * 64;
  pr->kidx = lx_malloc(n + 64);
  pr->kw = lx_malloc(n + 64);
  pr->kcorr = lx_calloc((size_t)R16 * 16, sizeof(int32_t));
  if (!pr->kidx || !pr->kw || !pr->kcorr) {
    kernel_layout_free(pr);
    return lx_nomem("laying out the systolic kernel");
  }
  pr->kentries = E;
  pr->kblocks_r = R16;
  pr->kquads = Q4;
  for (int64_t rb = 0; rb < R16; rb++)
    for (int64_t gq = 0; gq < Q4; gq++) {
      uint8_t *ip = pr->kidx + (rb * Q4 + gq) * 64;
      int8_t *wp = pr->kw + (rb * Q4 + gq) * 64;
      for (int p = 0; p < 64; p++) {
        int64_t r = rb * 16 + p / 4, g = gq * 4 + p % 4;
        unsigned s = r < pr->rows && g < G ? pr->sel[r * G + g] : LX_SEL_EMPTY;
        ip[p] = s == LX_SEL_EMPTY ? 0x80 : (uint8_t)(((p % 4) * E) % 16 + (int)s);
        wp[p] = s == LX_SEL_EMPTY ? 0 : pr->level[r * G + g];
        pr->kcorr[rb * 16 + p / 4] += 128 * wp[p];
      }
    }
  return 0;
}

/* The tables of a call: per quad and table, the quantized inputs of its groups. */
static void kernel_tables(const SaProduct *pr, const int16_t *q, uint8_t *tables) {
  int E = pr->kentries, NT = E / 4;
  memset(tables, 0, (size_t)pr->kquads * (size_t)NT * 16);
  for (int64_t g = 0; g < pr->ngroups; g++) {
    int64_t gq = g / 4;
    int k = (int)(g % 4), t = (k * E) / 16, base = (k * E) % 16;
    uint8_t *tb = tables + (gq * NT + t) * 16;
    for (int32_t s = 0; s < pr->group_off[g + 1] - pr->group_off[g]; s++)
      tb[base + s] = (uint8_t)(int8_t)q[pr->group_cols[pr->group_off[g] + s]];
  }
}

/* The byte masks that keep table t's positions of a quad (0x80 elsewhere), for E entries per group. */
static void table_masks(int E, int t, uint8_t m[64]) {
  for (int p = 0; p < 64; p++) m[p] = ((p % 4) * E) / 16 == t ? 0 : 0x80;
}

#ifdef SA_HAVE_AVX2_KERNEL
/* NT tables per quad (1, 2 or 4): the compiler specializes each call. */
__attribute__((target("avx2"))) static inline void kernel_avx2_nt(const SaProduct *pr, const uint8_t *tables,
                                                                   int32_t *out, const int NT) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i mask[4];
  for (int t = 0; t < NT; t++) {
    uint8_t m[64];
    table_masks(pr->kentries, t, m);
    mask[t] = _mm256_loadu_si256((const __m256i *)m);
  }
  const int64_t Q4 = pr->kquads;
  for (int64_t rb = 0; rb < pr->kblocks_r; rb++) {
    const uint8_t *ip = pr->kidx + rb * Q4 * 64;
    const int8_t *wp = pr->kw + rb * Q4 * 64;
    __m256i acc[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
    for (int64_t gq = 0; gq < Q4; gq++) {
      __m256i tb[4];
      for (int t = 0; t < NT; t++)
        tb[t] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(tables + (gq * NT + t) * 16)));
      for (int h = 0; h < 2; h++) {
        __m256i idx = _mm256_loadu_si256((const __m256i *)(ip + gq * 64 + h * 32));
        __m256i w = _mm256_loadu_si256((const __m256i *)(wp + gq * 64 + h * 32));
        __m256i s;
        if (NT == 1) {
          s = _mm256_shuffle_epi8(tb[0], idx);
        } else {
          s = _mm256_setzero_si256();
          for (int t = 0; t < NT; t++) s = _mm256_or_si256(s, _mm256_shuffle_epi8(tb[t], _mm256_or_si256(idx, mask[t])));
        }
        __m256i p16 = _mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(s, w));
        acc[h] = _mm256_add_epi32(acc[h], _mm256_madd_epi16(p16, ones));
      }
    }
    _mm256_storeu_si256((__m256i *)(out + rb * 16), acc[0]);
    _mm256_storeu_si256((__m256i *)(out + rb * 16 + 8), acc[1]);
  }
}

__attribute__((target("avx2"))) static void kernel_avx2(const SaProduct *pr, const uint8_t *tables, int32_t *out) {
  switch (pr->kentries) {
  case 4: kernel_avx2_nt(pr, tables, out, 1); break;
  case 8: kernel_avx2_nt(pr, tables, out, 2); break;
  default: kernel_avx2_nt(pr, tables, out, 4); break;
  }
}

#define SA_AVX512 __attribute__((target("avx512f,avx512bw,avx512vnni")))
SA_AVX512 static inline void kernel_avx512_nt(const SaProduct *pr, const uint8_t *tables, int32_t *out, const int NT) {
  __m512i mask[4];
  for (int t = 0; t < NT; t++) {
    uint8_t m[64];
    table_masks(pr->kentries, t, m);
    mask[t] = _mm512_loadu_si512((const void *)m);
  }
  const __m512i flip = _mm512_set1_epi8((char)0x80);
  const int64_t Q4 = pr->kquads;
  for (int64_t rb = 0; rb < pr->kblocks_r; rb++) {
    const uint8_t *ip = pr->kidx + rb * Q4 * 64;
    const int8_t *wp = pr->kw + rb * Q4 * 64;
    __m512i acc = _mm512_setzero_si512();
    for (int64_t gq = 0; gq < Q4; gq++) {
      __m512i idx = _mm512_loadu_si512((const void *)(ip + gq * 64));
      __m512i w = _mm512_loadu_si512((const void *)(wp + gq * 64));
      __m512i s;
      if (NT == 1) {
        s = _mm512_shuffle_epi8(_mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(tables + gq * 16))), idx);
      } else {
        s = _mm512_setzero_si512();
        for (int t = 0; t < NT; t++) {
          __m512i tb = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(tables + (gq * NT + t) * 16)));
          s = _mm512_or_si512(s, _mm512_shuffle_epi8(tb, _mm512_or_si512(idx, mask[t])));
        }
      }
      /* q + 128 as an unsigned byte: 0x80 flipped */
      acc = _mm512_dpbusd_epi32(acc, _mm512_xor_si512(s, flip), w);
    }
    __m512i corr = _mm512_loadu_si512((const void *)(pr->kcorr + rb * 16));
    _mm512_storeu_si512((void *)(out + rb * 16), _mm512_sub_epi32(acc, corr));
  }
}

SA_AVX512 static void kernel_avx512(const SaProduct *pr, const uint8_t *tables, int32_t *out) {
  switch (pr->kentries) {
  case 4: kernel_avx512_nt(pr, tables, out, 1); break;
  case 8: kernel_avx512_nt(pr, tables, out, 2); break;
  default: kernel_avx512_nt(pr, tables, out, 4); break;
  }
}
#endif

int64_t sa_product_acc(const SaProduct *pr, const SystolicConfig *c, const int16_t *q, uint8_t *scratch, int64_t *acc) {
#ifdef SA_HAVE_AVX2_KERNEL
  int k = active_kernel();
  if (pr->kidx && k != KERNEL_PORTABLE) {
    uint8_t *tables = (uint8_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    int32_t *sums = (int32_t *)(void *)(tables + tables_bytes(pr));
    kernel_tables(pr, q, tables);
    if (k == KERNEL_AVX512) kernel_avx512(pr, tables, sums);
    else kernel_avx2(pr, tables, sums);
    for (int64_t r = 0; r < pr->rows; r++) acc[r] = sums[r];
    return 0;
  }
#else
  (void)scratch;
  (void)kernel_tables;
  (void)table_masks;
#endif
  return sa_product_acc_ordered(pr, c, q, acc);
}

/* ---- the gate unit ------------------------------------------------------------------------------------- */

/* Fixed point of the tables: Q2.14 in int16. Inputs cover [-8, 8) for sigmoid and [-4, 4) for tanh, where
 * each function has all but 0.0003 (sigmoid) and 0.0007 (tanh) of its range; outside, the end entries. */
#define SA_GATE_ONE 16384.0
static const double sig_range = 8.0, tanh_range = 4.0;

static double exact_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

static int16_t to_fixed(double v) { return (int16_t)lrint(v * SA_GATE_ONE); }

static int16_t *build_table(int kind, int n, double range, double (*f)(double)) {
  int pts = kind == SA_GATES_PWL ? n + 1 : n;
  int16_t *t = lx_malloc((size_t)pts * sizeof *t);
  if (!t) return NULL;
  double w = 2 * range / n;
  for (int k = 0; k < pts; k++) t[k] = to_fixed(f(-range + (kind == SA_GATES_LUT ? (k + 0.5) : k) * w));
  return t;
}

int sa_gates_build(SaGateTables *t, int kind, int n) {
  memset(t, 0, sizeof *t);
  t->kind = kind;
  t->n = n;
  if (kind == SA_GATES_EXACT) return 0;
  t->sigmoid = build_table(kind, n, sig_range, exact_sigmoid);
  t->tanh = build_table(kind, n, tanh_range, tanh);
  if (!t->sigmoid || !t->tanh) {
    sa_gates_free(t);
    return lx_nomem("building the gate unit's tables");
  }
  return 0;
}

void sa_gates_free(SaGateTables *t) {
  lx_free(t->sigmoid);
  lx_free(t->tanh);
  t->sigmoid = t->tanh = NULL;
}

static double table_eval(const SaGateTables *t, const int16_t *tab, double range, double x) {
  int n = t->n;
  double u = (x + range) / (2 * range / n); /* position in entries or segments */
  if (t->kind == SA_GATES_LUT) {
    int k = !(u >= 0) ? 0 : u >= n ? n - 1 : (int)u; /* a NaN takes the first entry */
    return tab[k] / SA_GATE_ONE;
  }
  if (!(u > 0)) return tab[0] / SA_GATE_ONE;
  if (u >= n) return tab[n] / SA_GATE_ONE;
  int k = (int)u;
  double f = u - k, v = tab[k] + f * (tab[k + 1] - tab[k]);
  return nearbyint(v) / SA_GATE_ONE; /* the interpolated value in the same fixed point */
}

double sa_sigmoid(const SaGateTables *t, double x) {
  return t->kind == SA_GATES_EXACT ? exact_sigmoid(x) : table_eval(t, t->sigmoid, sig_range, x);
}

double sa_tanh(const SaGateTables *t, double x) {
  return t->kind == SA_GATES_EXACT ? tanh(x) : table_eval(t, t->tanh, tanh_range, x);
}

void sa_lstm_cell(const SaGateTables *t, const double *acc, int64_t H, float *h, float *c) {
  if (t->kind == SA_GATES_EXACT) {
    lstm_cell_ref(acc, H, h, c); /* the reference executor's own code: the logits agree bit for bit */
    return;
  }
  /* the same formula as lstm_cell_ref with the gate unit's functions */
  for (int64_t j = 0; j < H; j++) {
    double i = sa_sigmoid(t, acc[j]), f = sa_sigmoid(t, acc[H + j]), g = sa_tanh(t, acc[2 * H + j]),
           o = sa_sigmoid(t, acc[3 * H + j]);
    double cn = f * (double)c[j] + i * g;
    c[j] = (float)cn;
    h[j] = (float)(o * sa_tanh(t, (double)c[j]));
  }
}
