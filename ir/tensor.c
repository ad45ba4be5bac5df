/* Weight tensors: allocation, format names, and the scalar reference decode/matvec for every format. */
#include "ir/tensor.h"

#include <math.h>
#include <string.h>

#include "support/alloc.h"
#include "support/err.h"

/* Names from the table of encodings (ir/layout.h). */
static const struct {
  const char *name;
  const char *format[LX_LAYOUT_COUNT]; /* by layout */
} enc_names[LX_ENC_COUNT] = {
#define ENC_NAMES(id, name, bits, scaled, max_level, codes_dtype, dense, masked, packed) \
  [LX_ENC_##id] = {name, {[LX_LAYOUT_DENSE] = dense, [LX_LAYOUT_MASKED] = masked, [LX_LAYOUT_PACKED] = packed}},
    LX_ENCODINGS(ENC_NAMES)
#undef ENC_NAMES
};

/* What the table's columns must agree on: integer levels come with a row scale, and the codes fill whole
 * bytes or divide one (rows of sub-byte codes are stored as bytes). */
#define ENC_CHECK(id, name, bits, scaled, max_level, ...)                                                      \
  _Static_assert((scaled) == ((max_level) > 0), "encoding " name ": a row scale goes with integer levels"); \
  _Static_assert((bits) % 8 == 0 || 8 % (bits) == 0, "encoding " name ": bits must divide or fill bytes");
LX_ENCODINGS(ENC_CHECK)
#undef ENC_CHECK

const char *enc_name(int enc) { return enc >= 0 && enc < LX_ENC_COUNT ? enc_names[enc].name : "?"; }

const char *format_name(int layout, int enc) {
  if (enc < 0 || enc >= LX_ENC_COUNT || layout < 0 || layout >= LX_LAYOUT_COUNT) return "?";
  return enc_names[enc].format[layout];
}

int format_parse(const char *name, int *layout, int *enc) {
  for (int l = 0; l < LX_LAYOUT_COUNT; l++)
    for (int e = 0; e < LX_ENC_COUNT; e++)
      if (!strcmp(name, enc_names[e].format[l])) {
        *layout = l;
        *enc = e;
        return 0;
      }
  return -1;
}

void tensor_free(Tensor *t) {
  if (!t) return;
  lx_free(t->name);
  lx_free(t->codes);
  lx_free(t->scale);
  lx_free(t->mask);
  lx_free(t->group_off);
  lx_free(t->group_cols);
  lx_free(t->sel);
  lx_free(t);
}

static void *alloc_array(size_t count, size_t size) {
  size_t n;
  if (lx_mul_size(count, size, &n)) return NULL;
  return lx_calloc(1, n);
}

Tensor *tensor_new(const char *name, int ndim, int64_t rows, int64_t cols, int layout, int enc, int64_t ngroups,
                   int64_t ngroup_cols) {
  LX_ASSERT(ndim == 1 || ndim == 2);
  LX_ASSERT(rows >= 0 && cols >= 0);
  if (ndim == 1) cols = 1;
  Tensor *t = lx_calloc(1, sizeof *t);
  if (!t) goto oom;
  t->name = lx_strdup(name);
  if (!t->name) goto oom;
  t->ndim = ndim;
  t->rows = rows;
  t->cols = cols;
  t->layout = layout;
  t->enc = enc;
  t->nslots = layout == LX_LAYOUT_PACKED ? ngroups : cols;
  t->stride = lx_row_bytes(enc, (unsigned long)t->nslots);
  t->codes = alloc_array((size_t)rows, t->stride);
  if (!t->codes) goto oom;
  if (lx_enc_has_scale(enc)) {
    t->scale = alloc_array((size_t)rows, sizeof(float));
    if (!t->scale) goto oom;
  }
  if (layout == LX_LAYOUT_MASKED) {
    t->mask_stride = ((size_t)cols + 7) / 8;
    t->mask = alloc_array((size_t)rows, t->mask_stride);
    if (!t->mask) goto oom;
  }
  if (layout == LX_LAYOUT_PACKED) {
    if (tensor_alloc_groups(t, ngroups, ngroup_cols)) goto oom;
    t->sel = alloc_array((size_t)rows, (size_t)ngroups);
    if (!t->sel) goto oom;
  }
  return t;
oom:
  tensor_free(t);
  lx_nomem("allocating a tensor");
  return NULL;
}

Tensor *tensor_new_f32(const char *name, int ndim, int64_t rows, int64_t cols) {
  return tensor_new(name, ndim, rows, cols, LX_LAYOUT_DENSE, LX_ENC_F32, 0, 0);
}

static int dup_buf(void **dst, const void *src, size_t n) {
  if (!src) return 0;
  *dst = lx_malloc(n);
  if (!*dst) return -1;
  memcpy(*dst, src, n);
  return 0;
}

Tensor *tensor_clone(const Tensor *s) {
  Tensor *t = lx_calloc(1, sizeof *t);
  if (!t) goto oom;
  *t = *s;
  t->name = NULL;
  t->codes = NULL;
  t->scale = NULL;
  t->mask = NULL;
  t->group_off = NULL;
  t->group_cols = NULL;
  t->sel = NULL;
  t->name = lx_strdup(s->name);
  if (!t->name) goto oom;
  if (dup_buf((void **)&t->codes, s->codes, (size_t)s->rows * s->stride)) goto oom;
  if (dup_buf((void **)&t->scale, s->scale, (size_t)s->rows * sizeof(float))) goto oom;
  if (dup_buf((void **)&t->mask, s->mask, (size_t)s->rows * s->mask_stride)) goto oom;
  if (tensor_has_groups(s)) {
    if (dup_buf((void **)&t->group_off, s->group_off, ((size_t)s->ngroups + 1) * sizeof(int32_t))) goto oom;
    if (dup_buf((void **)&t->group_cols, s->group_cols, (size_t)s->group_off[s->ngroups] * sizeof(int32_t)))
      goto oom;
  }
  if (s->layout == LX_LAYOUT_PACKED && dup_buf((void **)&t->sel, s->sel, (size_t)s->rows * (size_t)s->ngroups)) goto oom;
  return t;
oom:
  tensor_free(t);
  lx_nomem("copying a tensor");
  return NULL;
}

int tensor_alloc_groups(Tensor *t, int64_t ngroups, int64_t ngroup_cols) {
  LX_ASSERT(!tensor_has_groups(t) && t->ndim == 2 && ngroups >= 0 && ngroup_cols >= 0);
  int32_t *off = alloc_array((size_t)ngroups + 1, sizeof(int32_t));
  int32_t *cols = alloc_array((size_t)ngroup_cols, sizeof(int32_t));
  if (!off || !cols) {
    lx_free(off);
    lx_free(cols);
    return lx_nomem("allocating column groups");
  }
  off[ngroups] = (int32_t)ngroup_cols;
  t->ngroups = ngroups;
  t->group_off = off;
  t->group_cols = cols;
  return 0;
}

int tensor_copy_groups(Tensor *t, const Tensor *src) {
  LX_ASSERT(t->cols == src->cols);
  if (!tensor_has_groups(src)) return 0;
  int64_t k = src->group_off[src->ngroups];
  if (tensor_alloc_groups(t, src->ngroups, k)) return LSTMC_ERR_NOMEM;
  memcpy(t->group_off, src->group_off, ((size_t)src->ngroups + 1) * sizeof(int32_t));
  memcpy(t->group_cols, src->group_cols, (size_t)k * sizeof(int32_t));
  t->alpha = src->alpha;
  t->gamma = src->gamma;
  t->block = src->block;
  return 0;
}

static inline float slot_value(const Tensor *t, int64_t r, int64_t slot) {
  const unsigned char *row = t->codes + (size_t)r * t->stride;
  float v = lx_decode_level(t->enc, row, (unsigned long)slot);
  return t->scale ? v * t->scale[r] : v;
}

float tensor_get(const Tensor *t, int64_t r, int64_t c) {
  switch (t->layout) {
  case LX_LAYOUT_DENSE: return slot_value(t, r, c);
  case LX_LAYOUT_MASKED:
    return lx_mask_get(t->mask + (size_t)r * t->mask_stride, (unsigned long)c) ? slot_value(t, r, c) : 0.0f;
  default:
    for (int64_t g = 0; g < t->ngroups; g++) {
      unsigned s = t->sel[(size_t)r * t->ngroups + g];
      if (s != LX_SEL_EMPTY && t->group_cols[t->group_off[g] + s] == c) return slot_value(t, r, g);
    }
    return 0.0f;
  }
}

void tensor_row_to_f32(const Tensor *t, int64_t r, float *out) {
  /* f32 rows are what the passes read most: decode them without the per-element switch */
  if (t->enc == LX_ENC_F32 && t->layout != LX_LAYOUT_PACKED) {
    memcpy(out, t->codes + (size_t)r * t->stride, (size_t)t->cols * sizeof(float));
    if (t->layout == LX_LAYOUT_MASKED) {
      const unsigned char *m = t->mask + (size_t)r * t->mask_stride;
      for (int64_t c = 0; c < t->cols; c++)
        if (!lx_mask_get(m, (unsigned long)c)) out[c] = 0.0f;
    }
    return;
  }
  if (t->layout == LX_LAYOUT_PACKED) {
    memset(out, 0, (size_t)t->cols * sizeof(float));
    for (int64_t g = 0; g < t->ngroups; g++) {
      unsigned s = t->sel[(size_t)r * t->ngroups + g];
      if (s != LX_SEL_EMPTY) out[t->group_cols[t->group_off[g] + s]] = slot_value(t, r, g);
    }
    return;
  }
  for (int64_t c = 0; c < t->cols; c++) out[c] = tensor_get(t, r, c);
}

float *tensor_to_f32(const Tensor *t) {
  size_t n;
  if (lx_mul_size((size_t)t->rows, (size_t)t->cols, &n) || lx_mul_size(n, sizeof(float), &n)) {
    lx_nomem("decoding a tensor");
    return NULL;
  }
  float *out = lx_malloc(n);
  if (!out) {
    lx_nomem("decoding a tensor");
    return NULL;
  }
  for (int64_t r = 0; r < t->rows; r++) tensor_row_to_f32(t, r, out + (size_t)r * t->cols);
  return out;
}

void tensor_set_level(Tensor *t, int64_t r, int64_t slot, float level) {
  unsigned char *row = t->codes + (size_t)r * t->stride;
  size_t i = (size_t)slot;
  switch (t->enc) {
  case LX_ENC_F32: memcpy(row + 4 * i, &level, 4); break;
  case LX_ENC_BF16: {
    uint16_t h = f32_to_bf16(level);
    row[2 * i] = (unsigned char)h;
    row[2 * i + 1] = (unsigned char)(h >> 8);
    break;
  }
  case LX_ENC_Q8: row[i] = (unsigned char)(signed char)level; break;
  case LX_ENC_Q4: {
    unsigned shift = (unsigned)(i & 1) * 4, q = (unsigned)((int)level & 15);
    row[i >> 1] = (unsigned char)((row[i >> 1] & ~(15u << shift)) | q << shift);
    break;
  }
  case LX_ENC_TERNARY: {
    unsigned shift = (unsigned)(i & 3) * 2, q = level > 0 ? 1u : level < 0 ? 2u : 0u;
    row[i >> 2] = (unsigned char)((row[i >> 2] & ~(3u << shift)) | q << shift);
    break;
  }
  default: {
    unsigned shift = (unsigned)(i & 7), q = level < 0;
    row[i >> 3] = (unsigned char)((row[i >> 3] & ~(1u << shift)) | q << shift);
    break;
  }
  }
}

void tensor_matvec_ref(const Tensor *t, const float *x, double *y) {
  if (tensor_is_dense_f32(t)) {
    const float *w = tensor_f32(t);
    for (int64_t r = 0; r < t->rows; r++) {
      const float *wr = w + (size_t)r * t->cols;
      double acc = 0;
      for (int64_t c = 0; c < t->cols; c++) acc += (double)wr[c] * x[c];
      y[r] += acc;
    }
    return;
  }
  for (int64_t r = 0; r < t->rows; r++) {
    const unsigned char *row = t->codes + (size_t)r * t->stride;
    double acc = 0;
    if (t->layout == LX_LAYOUT_PACKED) {
      for (int64_t g = 0; g < t->ngroups; g++) {
        unsigned s = t->sel[(size_t)r * t->ngroups + g];
        if (s == LX_SEL_EMPTY) continue;
        acc += (double)lx_decode_level(t->enc, row, (unsigned long)g) * x[t->group_cols[t->group_off[g] + s]];
      }
    } else {
      const unsigned char *m = t->mask ? t->mask + (size_t)r * t->mask_stride : NULL;
      for (int64_t c = 0; c < t->cols; c++) {
        if (m && !lx_mask_get(m, (unsigned long)c)) continue;
        acc += (double)lx_decode_level(t->enc, row, (unsigned long)c) * x[c];
      }
    }
    y[r] += t->scale ? acc * t->scale[r] : acc;
  }
}

int64_t tensor_nnz(const Tensor *t) {
  int64_t n = 0;
  if (t->layout == LX_LAYOUT_PACKED) {
    for (int64_t r = 0; r < t->rows; r++)
      for (int64_t g = 0; g < t->ngroups; g++)
        if (t->sel[(size_t)r * t->ngroups + g] != LX_SEL_EMPTY && slot_value(t, r, g) != 0.0f) n++;
    return n;
  }
  for (int64_t r = 0; r < t->rows; r++)
    for (int64_t c = 0; c < t->cols; c++) n += tensor_get(t, r, c) != 0.0f;
  return n;
}

size_t tensor_bytes(const Tensor *t) {
  size_t b = (size_t)t->rows * t->stride;
  if (t->scale) b += (size_t)t->rows * sizeof(float);
  if (t->mask) b += (size_t)t->rows * t->mask_stride;
  if (tensor_has_groups(t)) b += ((size_t)t->ngroups + 1 + (size_t)t->group_off[t->ngroups]) * sizeof(int32_t);
  if (t->layout == LX_LAYOUT_PACKED) b += (size_t)t->rows * (size_t)t->ngroups;
  return b;
}

int64_t tensor_conflicts(const Tensor *t) {
  if (!tensor_has_groups(t) || t->layout == LX_LAYOUT_PACKED) return 0;
  int64_t n = 0;
  for (int64_t r = 0; r < t->rows; r++)
    for (int64_t g = 0; g < t->ngroups; g++) {
      int k = 0;
      for (int32_t i = t->group_off[g]; i < t->group_off[g + 1]; i++) k += tensor_get(t, r, t->group_cols[i]) != 0.0f;
      if (k > 1) n += k - 1;
    }
  return n;
}

int tensor_find_nonfinite(const Tensor *t, int64_t *r, int64_t *c) {
  if (t->scale)
    for (int64_t i = 0; i < t->rows; i++)
      if (!isfinite(t->scale[i])) {
        *r = i;
        *c = 0;
        return 1;
      }
  if (lx_enc_max_level(t->enc) > 0) return 0; /* integer levels are finite */
  for (int64_t i = 0; i < t->rows; i++) {
    const unsigned char *row = t->codes + (size_t)i * t->stride;
    for (int64_t s = 0; s < t->nslots; s++)
      if (!isfinite(lx_decode_level(t->enc, row, (unsigned long)s))) {
        *r = i;
        *c = t->layout == LX_LAYOUT_PACKED ? -1 : s;
        if (t->layout == LX_LAYOUT_PACKED) {
          unsigned sl = t->sel[(size_t)i * t->ngroups + s];
          *c = sl == LX_SEL_EMPTY ? t->group_cols[t->group_off[s]] : t->group_cols[t->group_off[s] + sl];
        }
        return 1;
      }
  }
  return 0;
}

int tensor_check(const Tensor *t) {
  if (t->enc == LX_ENC_Q4 || t->enc == LX_ENC_TERNARY) {
    for (int64_t r = 0; r < t->rows; r++) {
      const unsigned char *row = t->codes + (size_t)r * t->stride;
      for (int64_t s = 0; s < t->nslots; s++) {
        if (t->enc == LX_ENC_Q4 && ((row[s >> 1] >> ((s & 1) * 4)) & 15) == 8)
          return lx_fail(LSTMC_ERR_FORMAT, "tensor '%s': row %lld slot %lld holds the q4 code -8 (range is -7..7)",
                         t->name, (long long)r, (long long)s);
        if (t->enc == LX_ENC_TERNARY && ((row[s >> 2] >> ((s & 3) * 2)) & 3) == 3)
          return lx_fail(LSTMC_ERR_FORMAT, "tensor '%s': row %lld slot %lld holds the unused ternary code 3",
                         t->name, (long long)r, (long long)s);
      }
    }
  }
  if (!tensor_has_groups(t)) return 0;
  if (t->ndim != 2) return lx_fail(LSTMC_ERR_FORMAT, "tensor '%s': a 1-D tensor cannot have column groups", t->name);
  if (t->group_off[0] != 0)
    return lx_fail(LSTMC_ERR_FORMAT, "tensor '%s': group offsets must start at 0", t->name);
  uint8_t *seen = lx_calloc((size_t)t->cols + 1, 1);
  if (!seen) return lx_nomem("checking column groups");
  int st = 0;
  int max_cols = t->alpha > 0 ? t->alpha : LX_MAX_ALPHA;
  for (int64_t g = 0; g < t->ngroups && !st; g++) {
    int32_t a = t->group_off[g], b = t->group_off[g + 1];
    if (b <= a || b - a > max_cols || b > t->group_off[t->ngroups]) {
      st = lx_fail(LSTMC_ERR_FORMAT, "tensor '%s': group %lld has %d columns (must be 1..%d)", t->name, (long long)g,
                   b - a, max_cols);
      break;
    }
    for (int32_t k = a; k < b; k++) {
      int32_t c = t->group_cols[k];
      if (c < 0 || c >= t->cols) {
        st = lx_fail(LSTMC_ERR_FORMAT, "tensor '%s': group %lld names column %d, outside [0, %lld)", t->name,
                     (long long)g, c, (long long)t->cols);
        break;
      }
      if (seen[c]) {
        st = lx_fail(LSTMC_ERR_FORMAT, "tensor '%s': column %d is in two groups", t->name, c);
        break;
      }
      seen[c] = 1;
      if (k > a && t->group_cols[k - 1] >= c) {
        st = lx_fail(LSTMC_ERR_FORMAT, "tensor '%s': columns of group %lld are not ascending", t->name, (long long)g);
        break;
      }
      if (t->block > 0 && c / t->block != t->group_cols[a] / t->block) {
        st = lx_fail(LSTMC_ERR_FORMAT, "tensor '%s': group %lld crosses a block of %d columns", t->name, (long long)g,
                     t->block);
        break;
      }
    }
    for (int64_t r = 0; r < t->rows && !st && t->layout == LX_LAYOUT_PACKED; r++) {
      unsigned s = t->sel[(size_t)r * t->ngroups + g];
      if (s != LX_SEL_EMPTY && (int32_t)s >= b - a)
        st = lx_fail(LSTMC_ERR_FORMAT, "tensor '%s': row %lld selects position %u of group %lld, which has %d columns",
                     t->name, (long long)r, s, (long long)g, b - a);
    }
  }
  /* grouped, not yet packed: a weight outside every group would be lost when packing */
  for (int64_t r = 0; r < t->rows && !st && t->layout != LX_LAYOUT_PACKED; r++)
    for (int64_t c = 0; c < t->cols; c++)
      if (!seen[c] && tensor_get(t, r, c) != 0.0f) {
        st = lx_fail(LSTMC_ERR_FORMAT, "tensor '%s': weight [%lld, %lld] is nonzero but its column is in no group",
                     t->name, (long long)r, (long long)c);
        break;
      }
  lx_free(seen);
  return st;
}

uint16_t f32_to_bf16(float f) {
  union {
    float f;
    uint32_t u;
  } v = {f};
  if ((v.u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((v.u >> 16) | 0x40); /* quiet NaN */
  uint32_t rounding = 0x7fffu + ((v.u >> 16) & 1u);
  return (uint16_t)((v.u + rounding) >> 16);
}
