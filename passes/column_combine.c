/* column-combine{alpha=8, gamma=0.5, block=256, only=, skip=} — column combining (Kung, McDanel & Zhang,
 * ASPLOS 2019), and the grouping core the report and bench/cc_bench share.
 *
 * Requires: the selected weights (default: W_ih and W_hh of every lstm and an untied decoder.weight, never
 * the embedding or a tied decoder unless only= names them) dense or masked, any encoding; groups they
 * already carry are replaced. A column-packed weight is an error (its columns are combined already).
 * Produces: the same tensors with column groups attached ("grouped, not yet packed"): every column with a
 * nonzero weight in exactly one group of at most alpha columns inside one block of `block` consecutive
 * columns, each group holding at most ⌊gamma·rows⌋ conflicts. Deterministic.
 * Preserves: every value, bit for bit (conflict-prune drops the conflicts and packs). */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "passes/passes.h"
#include "support/alloc.h"
#include "support/err.h"

void cc_groups_free(CcGroups *g) {
  lx_free(g->off);
  lx_free(g->cols);
  memset(g, 0, sizeof *g);
}

int64_t cc_conflict_limit(double gamma, int64_t rows) { return (int64_t)floor(gamma * (double)rows + 1e-9); }

/* ---- kernels ------------------------------------------------------------------------------------
 * Two loops carry the passes' time: |a ∧ b| over n words (overlap: giving up, returning a value > budget,
 * once it exceeds budget, so that an inadmissible candidate stops early), and the nonzero bits of 64
 * floats (nonzero64). The library is built for any x86-64, where __builtin_popcountll is a table routine;
 * popcnt and, where the CPU has them, AVX-512 (F, VPOPCNTDQ) versions are picked once at run time
 * (cc_kernels_best, under pthread_once). Every function that runs them takes the set as an argument, so
 * a test can compare the sets side by side without changing what any other caller runs. */

static uint64_t nonzero64_generic(const float *v) {
  uint64_t bits = 0;
  for (int i = 0; i < 64; i++) bits |= (uint64_t)(v[i] != 0.0f) << i;
  return bits;
}


static int64_t overlap_generic(const uint64_t *a, const uint64_t *b, int64_t n, int64_t budget) {
  int64_t s = 0;
  for (int64_t i = 0; i < n; i++) {
    s += __builtin_popcountll(a[i] & b[i]);
    if (s > budget) break;
  }
  return s;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

__attribute__((target("popcnt"))) static int64_t overlap_popcnt(const uint64_t *a, const uint64_t *b, int64_t n,
                                                                 int64_t budget) {
  int64_t s = 0, i = 0;
  for (; i + 4 <= n; i += 4) {
    s += __builtin_popcountll(a[i] & b[i]) + __builtin_popcountll(a[i + 1] & b[i + 1]) +
         __builtin_popcountll(a[i + 2] & b[i + 2]) + __builtin_popcountll(a[i + 3] & b[i + 3]);
    if (s > budget) return s;
  }
  for (; i < n; i++) s += __builtin_popcountll(a[i] & b[i]);
  return s;
}

__attribute__((target("avx512f,avx512vpopcntdq"))) static int64_t overlap_avx512(const uint64_t *a, const uint64_t *b,
                                                                                  int64_t n, int64_t budget) {
  __m512i acc = _mm512_setzero_si512();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m512i x = _mm512_and_si512(_mm512_loadu_si512(a + i), _mm512_loadu_si512(b + i));
    acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(x));
    /* checking the budget every 512 rows keeps the reduction off the hot path */
    if ((i & 63) == 56 && _mm512_reduce_add_epi64(acc) > budget) return _mm512_reduce_add_epi64(acc);
  }
  if (i < n) {
    __mmask8 m = (__mmask8)((1u << (n - i)) - 1);
    __m512i x = _mm512_and_si512(_mm512_maskz_loadu_epi64(m, a + i), _mm512_maskz_loadu_epi64(m, b + i));
    acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(x));
  }
  return _mm512_reduce_add_epi64(acc);
}

/* != 0 is true for NaN, as in C: unordered compare */
__attribute__((target("avx512f"))) static uint64_t nonzero64_avx512(const float *v) {
  __m512 z = _mm512_setzero_ps();
  uint64_t bits = 0;
  for (int k = 0; k < 4; k++) bits |= (uint64_t)_mm512_cmp_ps_mask(_mm512_loadu_ps(v + 16 * k), z, _CMP_NEQ_UQ) << (16 * k);
  return bits;
}
#endif

/* The kernel sets: all portable, popcnt for the overlap, and the best this CPU has (picked once). */
static const CcKernels kernels_generic = {"generic", overlap_generic, nonzero64_generic};
#if defined(__x86_64__) && defined(__GNUC__)
static const CcKernels kernels_popcnt = {"popcnt", overlap_popcnt, nonzero64_generic};
static const CcKernels kernels_popcnt_avx512 = {"popcnt", overlap_popcnt, nonzero64_avx512};
static const CcKernels kernels_avx512 = {"avx512-vpopcntdq", overlap_avx512, nonzero64_avx512};
#endif

static const CcKernels *kernels_best;
static pthread_once_t kernels_once = PTHREAD_ONCE_INIT;

static void pick_kernels(void) {
  kernels_best = &kernels_generic;
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  int avx512f = __builtin_cpu_supports("avx512f");
  if (avx512f && __builtin_cpu_supports("avx512vpopcntdq")) kernels_best = &kernels_avx512;
  else if (__builtin_cpu_supports("popcnt")) kernels_best = avx512f ? &kernels_popcnt_avx512 : &kernels_popcnt;
#endif
}

const CcKernels *cc_kernels_best(void) {
  pthread_once(&kernels_once, pick_kernels);
  return kernels_best;
}

const CcKernels *cc_kernels_named(const char *name) {
  const CcKernels *best = cc_kernels_best();
  if (!strcmp(name, best->name)) return best;
  if (!strcmp(name, "generic")) return &kernels_generic;
#if defined(__x86_64__) && defined(__GNUC__)
  if (!strcmp(name, "popcnt") && __builtin_cpu_supports("popcnt")) return &kernels_popcnt;
#endif
  return NULL;
}

/* Transposes a 64×64 bit matrix in place: bit j of a[i] moves to bit i of a[j]. Swaps the off-diagonal
 * halves of ever smaller blocks (Hacker's Delight 7-3), 6 × 32 word operations instead of 4096 bit moves. */
static void transpose64(uint64_t a[64]) {
  uint64_t m = 0x00000000ffffffffull;
  for (int j = 32; j != 0; j >>= 1, m ^= m << j)
    for (int k = 0; k < 64; k = ((k | j) + 1) & ~j) {
      uint64_t t = ((a[k] >> j) ^ a[k | j]) & m;
      a[k] ^= t << j;
      a[k | j] ^= t;
    }
}

const float *cc_row_bits(const CcKernels *kern, const Tensor *t, int64_t r, float *tmp, uint64_t *out, int64_t cw) {
  const float *v = tmp;
  const uint8_t *mask = t->mask ? t->mask + (size_t)r * t->mask_stride : NULL;
  if (t->enc == LX_ENC_F32) v = (const float *)(const void *)(t->codes + (size_t)r * t->stride);
  else tensor_row_to_f32(t, r, tmp);
  for (int64_t w = 0; w < cw; w++) {
    int64_t c0 = w * 64, n = t->cols - c0 < 64 ? t->cols - c0 : 64;
    uint64_t bits = 0;
    if (n == 64) bits = kern->nonzero64(v + c0);
    else
      for (int64_t i = 0; i < n; i++) bits |= (uint64_t)(v[c0 + i] != 0.0f) << i;
    if (mask && t->enc == LX_ENC_F32) {
      /* the mask row is the same little-endian bit order, byte by byte */
      uint64_t mw = 0;
      for (int64_t b = 0; b < (n + 7) / 8; b++) mw |= (uint64_t)mask[(size_t)w * 8 + (size_t)b] << (8 * b);
      bits &= mw;
    }
    out[w] = bits;
  }
  return v;
}

int cc_column_bits(const CcKernels *kern, const Tensor *t, uint64_t **bits, int64_t *words) {
  int64_t W = (t->rows + 63) / 64, cw = (t->cols + 63) / 64;
  size_t n;
  *bits = NULL;
  *words = W;
  if (lx_mul_size((size_t)W * 64, (size_t)cw, &n)) return lx_nomem("building column bitsets");
  /* the pattern row-major in blocks of 64 rows, then each 64×64 tile transposed into the columns */
  uint64_t *b = lx_malloc(n * sizeof *b);
  uint64_t *rowbits = lx_malloc((size_t)(64 * cw) * sizeof *rowbits);
  float *tmp = lx_malloc(((size_t)t->cols + 1) * sizeof *tmp);
  if (!b || !rowbits || !tmp) {
    lx_free(b);
    lx_free(rowbits);
    lx_free(tmp);
    return lx_nomem("building column bitsets");
  }
  uint64_t tile[64];
  for (int64_t rb = 0; rb < W; rb++) {
    int64_t nrows = t->rows - rb * 64 < 64 ? t->rows - rb * 64 : 64;
    for (int64_t i = 0; i < nrows; i++) cc_row_bits(kern, t, rb * 64 + i, tmp, rowbits + i * cw, cw);
    for (int64_t cb = 0; cb < cw; cb++) {
      for (int64_t i = 0; i < 64; i++) tile[i] = i < nrows ? rowbits[i * cw + cb] : 0;
      transpose64(tile);
      int64_t ncols = t->cols - cb * 64 < 64 ? t->cols - cb * 64 : 64;
      for (int64_t j = 0; j < ncols; j++) b[(size_t)(cb * 64 + j) * (size_t)W + (size_t)rb] = tile[j];
    }
  }
  lx_free(rowbits);
  lx_free(tmp);
  *bits = b;
  return 0;
}

/* ---- grouping ------------------------------------------------------------------------------------ */

/* Appends a finished group (its columns sorted ascending) to out. */
static void emit_group(CcGroups *out, int32_t *members, int n) {
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && members[j - 1] > members[j]; j--) {
      int32_t x = members[j];
      members[j] = members[j - 1];
      members[j - 1] = x;
    }
  int32_t at = out->off[out->ngroups];
  memcpy(out->cols + at, members, (size_t)n * sizeof *members);
  out->off[++out->ngroups] = at + n;
}

static int groups_alloc(CcGroups *out, int64_t cols) {
  memset(out, 0, sizeof *out);
  out->off = lx_calloc((size_t)cols + 1, sizeof *out->off);
  out->cols = lx_malloc(((size_t)cols + 1) * sizeof *out->cols);
  if (!out->off || !out->cols) {
    cc_groups_free(out);
    return lx_nomem("combining columns");
  }
  return 0;
}

int cc_group_columns(const CcKernels *kern, const uint64_t *bits, int64_t rows, int64_t cols, int alpha, double gamma,
                     int block, CcGroups *out) {
  int64_t W = (rows + 63) / 64, limit = cc_conflict_limit(gamma, rows);
  if (groups_alloc(out, cols)) return LSTMC_ERR_NOMEM;
  int32_t *pop = lx_malloc(((size_t)cols + 1) * sizeof *pop);
  int32_t *avail = lx_malloc(((size_t)block + 1) * sizeof *avail);
  int32_t *cand = lx_malloc(((size_t)block + 1) * sizeof *cand);
  uint64_t *uni = lx_malloc(((size_t)W + 1) * sizeof *uni);
  int32_t members[LX_MAX_ALPHA];
  int st = 0;
  if (!pop || !avail || !cand || !uni) {
    cc_groups_free(out);
    st = lx_nomem("combining columns");
    goto done;
  }
  for (int64_t c = 0; c < cols; c++) pop[c] = (int32_t)overlap_generic(bits + (size_t)c * W, bits + (size_t)c * W, W, INT64_MAX);
  for (int64_t b0 = 0; b0 < cols; b0 += block) {
    int64_t b1 = b0 + block < cols ? b0 + block : cols;
    /* the block's nonzero columns not yet grouped, ascending */
    int navail = 0;
    for (int64_t c = b0; c < b1; c++)
      if (pop[c]) avail[navail++] = (int32_t)c;
    while (navail > 0) {
      int32_t seed = avail[0];
      int n = 0;
      members[n++] = seed;
      memcpy(uni, bits + (size_t)seed * W, (size_t)W * sizeof *uni);
      int64_t conflicts = 0;
      /* candidates: every other available column; one that is inadmissible now stays so (the union only
       * grows), so it leaves the list for this group */
      int ncand = 0;
      for (int i = 1; i < navail; i++) cand[ncand++] = avail[i];
      while (n < alpha && ncand > 0) {
        int64_t budget = limit - conflicts, best_gain = -1, best_ov = 0;
        int best = -1, kept = 0;
        for (int i = 0; i < ncand; i++) {
          int32_t c = cand[i];
          int64_t ov = kern->overlap(uni, bits + (size_t)c * W, W, budget);
          if (ov > budget) continue;
          /* rows newly covered = pop − overlap: the fewest all-zero rows left; ties keep the lowest column */
          int64_t gain = pop[c] - ov;
          if (gain > best_gain) best_gain = gain, best_ov = ov, best = kept;
          cand[kept++] = c;
        }
        ncand = kept;
        if (best < 0) break;
        int32_t c = cand[best];
        members[n++] = c;
        conflicts += best_ov;
        const uint64_t *bc = bits + (size_t)c * W;
        for (int64_t w = 0; w < W; w++) uni[w] |= bc[w];
        memmove(cand + best, cand + best + 1, (size_t)(ncand - best - 1) * sizeof *cand);
        ncand--;
      }
      out->conflicts += conflicts;
      emit_group(out, members, n);
      /* drop the members from the available list (both are ascending) */
      int k = 0;
      for (int i = 0; i < navail; i++) {
        int used = 0;
        for (int j = 0; j < n && !used; j++) used = members[j] == avail[i];
        if (!used) avail[k++] = avail[i];
      }
      navail = k;
    }
  }
done:
  lx_free(pop);
  lx_free(avail);
  lx_free(cand);
  lx_free(uni);
  return st;
}

int cc_group_columns_naive(const uint8_t *nz, int64_t rows, int64_t cols, int alpha, double gamma, int block,
                           CcGroups *out) {
  int64_t limit = cc_conflict_limit(gamma, rows);
  if (groups_alloc(out, cols)) return LSTMC_ERR_NOMEM;
  uint8_t *grouped = lx_calloc((size_t)cols + 1, 1), *covered = lx_malloc((size_t)rows + 1);
  if (!grouped || !covered) {
    lx_free(grouped);
    lx_free(covered);
    cc_groups_free(out);
    return lx_nomem("combining columns");
  }
  int32_t members[LX_MAX_ALPHA];
  for (int64_t b0 = 0; b0 < cols; b0 += block) {
    int64_t b1 = b0 + block < cols ? b0 + block : cols;
    for (int64_t seed = b0; seed < b1; seed++) {
      int64_t pop = 0;
      for (int64_t r = 0; r < rows; r++) pop += nz[r * cols + seed];
      if (grouped[seed] || !pop) continue;
      int n = 0;
      members[n++] = (int32_t)seed;
      grouped[seed] = 1;
      for (int64_t r = 0; r < rows; r++) covered[r] = nz[r * cols + seed];
      int64_t conflicts = 0;
      while (n < alpha) {
        int64_t best = -1, best_gain = -1, best_ov = 0;
        for (int64_t c = b0; c < b1; c++) {
          if (grouped[c]) continue;
          int64_t ov = 0, p = 0;
          for (int64_t r = 0; r < rows; r++) {
            p += nz[r * cols + c];
            ov += nz[r * cols + c] && covered[r];
          }
          if (!p || conflicts + ov > limit) continue;
          if (p - ov > best_gain) best_gain = p - ov, best_ov = ov, best = c;
        }
        if (best < 0) break;
        members[n++] = (int32_t)best;
        grouped[best] = 1;
        conflicts += best_ov;
        for (int64_t r = 0; r < rows; r++) covered[r] |= nz[r * cols + best];
      }
      out->conflicts += conflicts;
      emit_group(out, members, n);
    }
  }
  lx_free(grouped);
  lx_free(covered);
  return 0;
}

void cc_groups_attach(Tensor *t, CcGroups *g, int alpha, double gamma, int block) {
  lx_free(t->group_off);
  lx_free(t->group_cols);
  t->ngroups = g->ngroups;
  t->group_off = g->off;
  t->group_cols = g->cols;
  t->alpha = alpha;
  t->gamma = gamma;
  t->block = block;
  g->off = NULL;
  g->cols = NULL;
}

int pass_column_combine(Graph *g, const PassArgs *a, PassStats *st) {
  int alpha = (int)a->opt[PO_column_combine_alpha].i, block = (int)a->opt[PO_column_combine_block].i;
  double gamma = a->opt[PO_column_combine_gamma].f;
  uint8_t *sel = lx_calloc((size_t)g->nslots, 1);
  CcGroups *groups = lx_calloc((size_t)g->nslots, sizeof *groups);
  if (!sel || !groups) {
    lx_free(sel);
    lx_free(groups);
    return lx_nomem("combining columns");
  }
  int rc = pass_select(g, a, PO_column_combine_only, PO_column_combine_skip, PASS_SET_RECURRENT, sel);
  const CcKernels *kernels = cc_kernels_best();
  for (int i = 0; i < g->nslots && !rc; i++)
    if (sel[i] && g->slots[i].t->layout == LX_LAYOUT_PACKED)
      rc = pass_bad_format("column-combine", g->slots[i].t, "dense or masked weights (its columns are combined already)");
  for (int i = 0; i < g->nslots && !rc; i++) {
    if (!sel[i]) continue;
    const Tensor *t = g->slots[i].t;
    uint64_t *bits;
    int64_t words;
    if (!(rc = cc_column_bits(kernels, t, &bits, &words)))
      rc = cc_group_columns(kernels, bits, t->rows, t->cols, alpha, gamma, block, &groups[i]);
    lx_free(bits);
  }
  /* every grouping is made: attach them (this cannot fail) */
  for (int i = 0; i < g->nslots && !rc; i++) {
    if (!sel[i]) continue;
    st->tensors++;
    st->groups += groups[i].ngroups;
    st->conflicts += groups[i].conflicts;
    cc_groups_attach(g->slots[i].t, &groups[i], alpha, gamma, block);
  }
  if (!rc && st->tensors)
    snprintf(st->note, sizeof st->note, "%lld groups in %d matrices; %lld conflicts for conflict-prune to drop",
             (long long)st->groups, st->tensors, (long long)st->conflicts);
  for (int i = 0; i < g->nslots; i++) cc_groups_free(&groups[i]);
  lx_free(groups);
  lx_free(sel);
  return rc;
}
