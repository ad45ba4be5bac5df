/* Binding a Graph's weight slots to safetensors files: names (PyTorch and AWD-LSTM aliases), dtypes,
 * shapes, lstmc's non-dense formats as component tensors, the vocabulary, and NaN/Inf checks.
 * Every error names the file and the tensor. */
#include "runtime/weights.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ir/vocab.h"
#include "runtime/format_meta.h"
#include "runtime/safetensors.h"
#include "support/alloc.h"
#include "support/err.h"
#include "support/json.h"
#include "support/strbuf.h"

/* ---- names --------------------------------------------------------------------------------------- */

/* Candidate file names for a slot, most canonical first: `rnns.0.weight_hh_l0` may also appear as
 * `rnns.0.module.weight_hh_l0_raw` (AWD-LSTM's WeightDrop), `rnns.0.weight_hh_l0_raw` or
 * `rnns.0.module.weight_hh_l0`. Returns the number written. */
static int slot_aliases(const char *name, char out[4][128]) {
  int n = 0;
  snprintf(out[n++], 128, "%s", name);
  int l;
  char rest[96];
  if (sscanf(name, "rnns.%d.%95s", &l, rest) == 2) {
    snprintf(out[n++], 128, "rnns.%d.module.%s", l, rest);
    if (!strncmp(rest, "weight_hh", 9)) {
      snprintf(out[n++], 128, "rnns.%d.module.%s_raw", l, rest);
      snprintf(out[n++], 128, "rnns.%d.%s_raw", l, rest);
    }
  }
  return n;
}

/* ---- component tensors ------------------------------------------------------------------------- */

/* One safetensors tensor that holds a part of a weight tensor in a non-dense format. */
typedef struct Component {
  char name[160];
  int dtype, ndim;
  int64_t d0, d1;
  void *data; /* the weight tensor's buffer */
  size_t nbytes;
} Component;

/* The dtype the codes of an encoding are stored as (the table in ir/layout.h). */
static int codes_dtype(int enc) {
  static const int dtype[LX_ENC_COUNT] = {
#define CODES_DTYPE(id, name, bits, scaled, max_level, codes_dtype, ...) [LX_ENC_##id] = ST_##codes_dtype,
      LX_ENCODINGS(CODES_DTYPE)
#undef CODES_DTYPE
  };
  return dtype[enc];
}

static void component(Component *c, const char *wname, const char *suffix, int dtype, int ndim, int64_t d0, int64_t d1,
                      void *data, size_t nbytes) {
  snprintf(c->name, sizeof c->name, suffix ? "%s.%s" : "%s", wname, suffix);
  c->dtype = dtype;
  c->ndim = ndim;
  c->d0 = d0;
  c->d1 = d1;
  c->data = data;
  c->nbytes = nbytes;
}

/* The components t (a tensor named wname in the file) is stored as, codes first. The codes of an encoding
 * of 8 bits or more are stored as its values, [rows, slots], under wname itself when that is the matrix's
 * shape (not packed); narrower codes as the bytes of each row, [rows, stride], under "wname.codes". Then,
 * when t has them: "wname.scale" F32 [rows], ".mask" U8 [rows, mask_stride], ".group_offsets" I32
 * [groups + 1], ".group_cols" I32 [group_cols], ".select" U8 [rows, groups]. Returns the count. */
static int tensor_components(const Tensor *t, const char *wname, Component c[6]) {
  int n = 0, whole_bytes = lx_enc_bits(t->enc) >= 8;
  component(&c[n++], wname, whole_bytes && t->layout != LX_LAYOUT_PACKED ? NULL : "codes", codes_dtype(t->enc), 2, t->rows,
            whole_bytes ? t->nslots : (int64_t)t->stride, t->codes, (size_t)t->rows * t->stride);
  if (t->scale) component(&c[n++], wname, "scale", ST_F32, 1, t->rows, 0, t->scale, (size_t)t->rows * sizeof(float));
  if (t->mask)
    component(&c[n++], wname, "mask", ST_U8, 2, t->rows, (int64_t)t->mask_stride, t->mask, (size_t)t->rows * t->mask_stride);
  if (tensor_has_groups(t)) {
    int64_t G = t->ngroups, K = t->group_off[G];
    component(&c[n++], wname, "group_offsets", ST_I32, 1, G + 1, 0, t->group_off, (size_t)(G + 1) * sizeof(int32_t));
    component(&c[n++], wname, "group_cols", ST_I32, 1, K, 0, t->group_cols, (size_t)K * sizeof(int32_t));
  }
  if (t->layout == LX_LAYOUT_PACKED)
    component(&c[n++], wname, "select", ST_U8, 2, t->rows, t->ngroups, t->sel, (size_t)t->rows * (size_t)t->ngroups);
  return n;
}

/* ---- reading ------------------------------------------------------------------------------------- */

typedef struct Loader {
  const char *path;
  const StFile *f;
  const Json *formats; /* lstmc.formats, or NULL */
  uint8_t *used;       /* [ntensors] */
} Loader;

static const StTensor *find_used(Loader *L, const char *name) {
  const StTensor *t = st_find(L->f, name);
  if (t) L->used[t - L->f->tensors] = 1;
  return t;
}

static void shape_text(const StTensor *t, char *buf, size_t n) {
  size_t k = (size_t)snprintf(buf, n, "[");
  for (int i = 0; i < t->ndim && k < n; i++) k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
  if (k < n) snprintf(buf + k, n - k, "]");
}

/* Checks a component tensor's dtype and 1-D/2-D shape. */
static int expect(Loader *L, const StTensor *t, const Component *c) {
  char got[96];
  shape_text(t, got, sizeof got);
  if (t->dtype != c->dtype)
    return lx_fail(LSTMC_ERR_FORMAT, "%s: tensor '%s' has dtype %s, expected %s", L->path, c->name, st_dtype_name(t->dtype),
                   st_dtype_name(c->dtype));
  if (t->ndim != c->ndim || t->shape[0] != c->d0 || (c->ndim == 2 && t->shape[1] != c->d1)) {
    if (c->ndim == 1)
      return lx_fail(LSTMC_ERR_SHAPE, "%s: tensor '%s' has shape %s, expected [%lld]", L->path, c->name, got, (long long)c->d0);
    return lx_fail(LSTMC_ERR_SHAPE, "%s: tensor '%s' has shape %s, expected [%lld, %lld]", L->path, c->name, got,
                   (long long)c->d0, (long long)c->d1);
  }
  return 0;
}

/* Converts a dense tensor of a float dtype into f32. */
static void to_f32(const StTensor *t, float *dst) {
  uint64_t n = t->nelems;
  const uint8_t *p = t->data;
  for (uint64_t i = 0; i < n; i++) {
    switch (t->dtype) {
    case ST_F32: memcpy(&dst[i], p + 4 * i, 4); break;
    case ST_F64: {
      double d;
      memcpy(&d, p + 8 * i, 8);
      dst[i] = (float)d;
      break;
    }
    case ST_BF16: {
      uint16_t h;
      memcpy(&h, p + 2 * i, 2);
      dst[i] = lx_bf16_to_f32(h);
      break;
    }
    case ST_F16: {
      uint16_t h;
      memcpy(&h, p + 2 * i, 2);
      uint32_t sign = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 31, m = h & 1023, u;
      if (e == 0) {
        float f = ldexpf((float)m, -24);
        memcpy(&u, &f, 4);
        u |= sign;
      } else if (e == 31) {
        u = sign | 0x7f800000u | (m << 13);
      } else {
        u = sign | ((e + 112) << 23) | (m << 13);
      }
      memcpy(&dst[i], &u, 4);
      break;
    }
    default: LX_BUG("to_f32 on a non-float dtype");
    }
  }
}

/* A tensor with no lstmc.formats entry: dense, any float dtype (converted to f32 unless bf16). */
static int load_plain(Loader *L, const WeightSlot *s, const char *fname, const StTensor *st, Tensor **out) {
  int is_float = st->dtype == ST_F32 || st->dtype == ST_F64 || st->dtype == ST_F16 || st->dtype == ST_BF16;
  char got[96];
  shape_text(st, got, sizeof got);
  if (!is_float)
    return lx_fail(LSTMC_ERR_FORMAT, "%s: tensor '%s' has dtype %s; weights must be F32, F64, F16 or BF16", L->path, fname,
                   st_dtype_name(st->dtype));
  int shape_ok = st->ndim == s->ndim && st->shape[0] == s->rows && (s->ndim == 1 || st->shape[1] == s->cols);
  if (!shape_ok) {
    if (s->ndim == 1)
      return lx_fail(LSTMC_ERR_SHAPE, "%s: tensor '%s' has shape %s, but the spec needs [%lld]", L->path, fname, got, (long long)s->rows);
    return lx_fail(LSTMC_ERR_SHAPE, "%s: tensor '%s' has shape %s, but the spec needs [%lld, %lld]", L->path, fname, got,
                   (long long)s->rows, (long long)s->cols);
  }
  int bf16 = st->dtype == ST_BF16 && s->ndim == 2;
  Tensor *t = tensor_new(s->name, s->ndim, s->rows, s->cols, LX_LAYOUT_DENSE, bf16 ? LX_ENC_BF16 : LX_ENC_F32, 0, 0);
  if (!t) return LSTMC_ERR_NOMEM;
  if (bf16) memcpy(t->codes, st->data, st->nbytes);
  else to_f32(st, tensor_f32(t));
  *out = t;
  return 0;
}

/* A tensor described in lstmc.formats: its format from the entry (runtime/format_meta.h), its data from its
 * component tensors. */
static int load_formatted(Loader *L, const WeightSlot *s, const char *fname, const Json *desc, Tensor **out) {
  Tensor *t;
  int st = format_meta_read(desc, L->path, fname, s, 0, &t);
  if (st) return st;
  int64_t G = t->ngroups, K = tensor_has_groups(t) ? t->group_off[G] : 0; /* what the entry declared */
  Component c[6];
  int n = tensor_components(t, fname, c);
  for (int i = 0; i < n && !st; i++) {
    const StTensor *ct = find_used(L, c[i].name);
    if (!ct && i == 0)
      st = lx_fail(LSTMC_ERR_FORMAT, "%s: tensor '%s' is missing (format %s)", L->path, c[i].name, format_name(t->layout, t->enc));
    else if (!ct)
      st = lx_fail(LSTMC_ERR_FORMAT, "%s: tensor '%s' is missing (its format needs '%s')", L->path, c[i].name, c[i].name);
    else if (!(st = expect(L, ct, &c[i])))
      memcpy(c[i].data, ct->data, c[i].nbytes);
    if (!st && c[i].data == t->group_off && t->group_off[G] != K)
      st = lx_fail(LSTMC_ERR_FORMAT, "%s: '%s.group_offsets' ends at %d, but \"group_cols\" says %lld", L->path, fname,
                   t->group_off[G], (long long)K);
  }
  if (!st && (st = tensor_check(t))) lx_err_prefix("%s", L->path);
  if (st) {
    tensor_free(t);
    return st;
  }
  *out = t;
  return 0;
}

static int load_vocab(Graph *g, const StFile *f, const char *path, Vocab **out) {
  *out = NULL;
  size_t len;
  const char *text = st_meta_get(f, "lstmc.vocab", &len);
  if (!text) {
    if (g->vocab_kind == VOCAB_BYTES) {
      *out = vocab_new_bytes();
      return *out ? 0 : LSTMC_ERR_NOMEM;
    }
    return lx_fail(LSTMC_ERR_FORMAT, "%s: no vocabulary (metadata key 'lstmc.vocab'); a %s model needs one", path,
                   vocab_kind_name(g->vocab_kind));
  }
  if (g->vocab_kind == VOCAB_BYTES) {
    *out = vocab_new_bytes();
    return *out ? 0 : LSTMC_ERR_NOMEM;
  }
  Json *j;
  char err[160];
  int jr = json_parse(text, len, &j, err, sizeof err);
  if (jr == JSON_ERR_NOMEM) return lx_nomem("reading the vocabulary");
  if (jr) return lx_fail(LSTMC_ERR_FORMAT, "%s: metadata 'lstmc.vocab' is not valid JSON (%s)", path, err);
  int st = 0;
  const char **toks = NULL;
  size_t *lens = NULL;
  if (j->type != JSON_ARRAY || j->count == 0) {
    st = lx_fail(LSTMC_ERR_FORMAT, "%s: metadata 'lstmc.vocab' must be a non-empty JSON array of strings", path);
    goto done;
  }
  toks = lx_malloc(j->count * sizeof *toks);
  lens = lx_malloc(j->count * sizeof *lens);
  if (!toks || !lens) {
    st = lx_nomem("reading the vocabulary");
    goto done;
  }
  for (size_t i = 0; i < j->count; i++) {
    const Json *e = j->items[i];
    if (e->type != JSON_STRING) {
      st = lx_fail(LSTMC_ERR_FORMAT, "%s: 'lstmc.vocab' entry %zu is a %s, not a string", path, i, json_type_name(e->type));
      goto done;
    }
    toks[i] = e->text;
    lens[i] = e->text_len;
  }
  st = vocab_from_tokens(g->vocab_kind, toks, lens, (int64_t)j->count, out);
  if (st) lx_err_prefix("%s: 'lstmc.vocab'", path);
done:
  lx_free(toks);
  lx_free(lens);
  json_free(j);
  return st;
}

int weights_check_finite(const Graph *g, const char *source) {
  for (int i = 0; i < g->nslots; i++) {
    const Tensor *t = g->slots[i].t;
    int64_t r, c;
    if (t && tensor_find_nonfinite(t, &r, &c)) {
      float v = tensor_get(t, r, c < 0 ? 0 : c);
      const char *what = isnan(v) ? "NaN" : "infinite";
      if (t->ndim == 1)
        return lx_fail(LSTMC_ERR_VALUE, "%s: tensor '%s' element [%lld] is %s", source, t->name, (long long)r, what);
      return lx_fail(LSTMC_ERR_VALUE, "%s: tensor '%s' element [%lld, %lld] is %s", source, t->name, (long long)r,
                     (long long)c, what);
    }
  }
  return 0;
}

int weights_load(Graph *g, const char *path) {
  StFile *f = NULL;
  int st = st_read_file(path, &f);
  if (st) return st;
  st = weights_bind(g, f);
  st_free(f);
  return st;
}

int weights_bind(Graph *g, const StFile *f) { return weights_bind_skip(g, f, NULL); }

/* The file's vocabulary, checked against the spec and the embedding; sets the graph's vocabulary size,
 * which the embedding and decoder shapes depend on. */
static int bind_vocab(Graph *g, const StFile *f, Vocab **out) {
  const char *path = f->path;
  Vocab *vocab;
  int st = load_vocab(g, f, path, &vocab);
  if (st) return st;
  if (g->vocab_size > 0 && g->vocab_size != vocab->n) {
    st = lx_fail(LSTMC_ERR_SHAPE, "%s: the vocabulary has %lld tokens but the spec says %lld", path, (long long)vocab->n,
                 (long long)g->vocab_size);
  } else {
    /* a vocabulary that disagrees with the embedding is the likelier mistake than a wrong shape: say so */
    const StTensor *enc = st_find(f, "encoder.weight");
    if (enc && enc->ndim == 2 && enc->shape[0] != vocab->n) {
      if (g->vocab_kind == VOCAB_BYTES)
        st = lx_fail(LSTMC_ERR_SHAPE, "%s: 'encoder.weight' has %lld rows, but a bytes model has 256 tokens", path,
                     (long long)enc->shape[0]);
      else
        st = lx_fail(LSTMC_ERR_SHAPE, "%s: the vocabulary ('lstmc.vocab') has %lld tokens, but 'encoder.weight' has %lld rows",
                     path, (long long)vocab->n, (long long)enc->shape[0]);
    }
  }
  if (st) {
    vocab_free(vocab);
    return st;
  }
  graph_set_vocab_size(g, vocab->n);
  *out = vocab;
  return 0;
}

/* Slot s's tensor: found under the first of its names that the file has (as a tensor or an lstmc.formats
 * entry), loaded from its entry's components or as a plain tensor. */
static int load_slot(Loader *L, const WeightSlot *s, Tensor **out) {
  char names[4][128];
  int nn = slot_aliases(s->name, names);
  for (int k = 0; k < nn; k++) {
    const Json *desc = L->formats ? json_get(L->formats, names[k]) : NULL;
    const StTensor *plain = st_find(L->f, names[k]);
    if (desc) return load_formatted(L, s, names[k], desc, out);
    if (plain) {
      L->used[plain - L->f->tensors] = 1;
      return load_plain(L, s, names[k], plain, out);
    }
  }
  const char *hint = !strcmp(s->name, "decoder.weight") ? " (the spec's decoder is untied; is this a tied model?)" : "";
  return lx_fail(LSTMC_ERR_FORMAT, "%s: tensor '%s' is missing%s", L->path, s->name, hint);
}

/* The file's tensors that no slot took are errors, except those starting with skip_prefix and a tied model's
 * decoder.weight when it is a copy of encoder.weight (AWD-LSTM's tied models store both). */
static int check_unused(Loader *L, const Graph *g, const char *skip_prefix) {
  const StFile *f = L->f;
  const StTensor *dw = st_find(f, "decoder.weight");
  if (dw && graph_find_slot(g, "decoder.weight") < 0 && !L->used[dw - f->tensors]) {
    const StTensor *ew = st_find(f, "encoder.weight");
    if (!ew || ew->dtype != dw->dtype || ew->nbytes != dw->nbytes || memcmp(ew->data, dw->data, ew->nbytes))
      return lx_fail(LSTMC_ERR_SHAPE, "%s: the file has its own 'decoder.weight', but the spec's decoder is tied (use 'decoder untied')",
                     L->path);
    L->used[dw - f->tensors] = 1;
  }
  for (int i = 0; i < f->ntensors; i++)
    if (!L->used[i] && !(skip_prefix && !strncmp(f->tensors[i].name, skip_prefix, strlen(skip_prefix))))
      return lx_fail(LSTMC_ERR_FORMAT, "%s: unexpected tensor '%s' (the spec has no such weight)", L->path, f->tensors[i].name);
  return 0;
}

/* Gives g the loaded tensors (taken from loaded[]) and the vocabulary (taken from *vocab), checks them
 * (finite, the IR verifier) and records the pass pipeline the file went through (NULL when it records
 * none). A graph whose new weights are not finite is left without weights rather than with bad ones. */
static int install(Graph *g, const StFile *f, Tensor **loaded, Vocab **vocab) {
  for (int i = 0; i < g->nslots; i++) {
    graph_set_tensor(g, i, loaded[i]);
    loaded[i] = NULL;
  }
  vocab_free(g->vocab);
  g->vocab = *vocab;
  *vocab = NULL;
  int st = weights_check_finite(g, f->path);
  if (st) {
    for (int i = 0; i < g->nslots; i++) graph_set_tensor(g, i, NULL);
    return st;
  }
  size_t plen;
  const char *pipeline = st_meta_get(f, "lstmc.pipeline", &plen);
  char *ptext = pipeline ? lx_strndup(pipeline, plen) : NULL;
  if (pipeline && !ptext) return lx_nomem("loading weights");
  lx_free(g->pipeline);
  g->pipeline = ptext;
  return graph_verify(g);
}

int weights_bind_skip(Graph *g, const StFile *f, const char *skip_prefix) {
  Loader L = {f->path, f, NULL, NULL};
  Json *formats = NULL;
  Vocab *vocab = NULL;
  Tensor **loaded = lx_calloc((size_t)g->nslots + 1, sizeof *loaded);
  L.used = lx_calloc((size_t)f->ntensors + 1, 1);
  int st = !loaded || !L.used ? lx_nomem("loading weights") : format_meta_parse_map(f, &formats);
  L.formats = formats;
  if (!st) st = bind_vocab(g, f, &vocab);
  for (int i = 0; i < g->nslots && !st; i++) st = load_slot(&L, &g->slots[i], &loaded[i]);
  if (!st) st = check_unused(&L, g, skip_prefix);
  if (!st) st = install(g, f, loaded, &vocab);
  if (loaded)
    for (int i = 0; i < g->nslots; i++) tensor_free(loaded[i]);
  lx_free(loaded);
  lx_free(L.used);
  json_free(formats);
  vocab_free(vocab);
  return st;
}

/* ---- writing ------------------------------------------------------------------------------------- */

typedef struct Writer {
  StWriteTensor *t;
  int n, cap;
  char **names; /* owned copies of component names */
} Writer;

static int add(Writer *w, const char *name, int dtype, int ndim, int64_t d0, int64_t d1, const void *data, size_t nbytes) {
  if (w->n == w->cap) {
    int cap = w->cap ? w->cap * 2 : 32;
    StWriteTensor *nt = lx_realloc(w->t, (size_t)cap * sizeof *nt);
    if (!nt) return lx_nomem("saving weights");
    w->t = nt;
    char **nn = lx_realloc(w->names, (size_t)cap * sizeof *nn);
    if (!nn) return lx_nomem("saving weights");
    w->names = nn;
    w->cap = cap;
  }
  char *copy = lx_strdup(name);
  if (!copy) return lx_nomem("saving weights");
  w->names[w->n] = copy;
  StWriteTensor *t = &w->t[w->n++];
  memset(t, 0, sizeof *t);
  t->name = copy;
  t->dtype = dtype;
  t->ndim = ndim;
  t->shape[0] = d0;
  t->shape[1] = d1;
  t->data = data;
  t->nbytes = nbytes;
  return 0;
}

/* A tensor whose codes are its values, dense and without groups, is written as a plain safetensors tensor
 * that any reader understands; any other as its components (tensor_components) with an lstmc.formats entry. */
static int add_tensor(Writer *w, const Tensor *t, StrBuf *formats, int *nformats) {
  if (t->layout == LX_LAYOUT_DENSE && !lx_enc_has_scale(t->enc) && !tensor_has_groups(t))
    return add(w, t->name, codes_dtype(t->enc), t->ndim, t->rows, t->cols, t->codes, (size_t)t->rows * t->stride);
  format_meta_map_add(formats, nformats, t->name, t);
  Component c[6];
  int n = tensor_components(t, t->name, c), st = 0;
  for (int i = 0; i < n && !st; i++) st = add(w, c[i].name, c[i].dtype, c[i].ndim, c[i].d0, c[i].d1, c[i].data, c[i].nbytes);
  return st;
}

int weights_save(const Graph *g, const char *path, const char *const *extra_keys, const char *const *extra_values, int nextra) {
  return weights_save_with(g, path, extra_keys, extra_values, nextra, NULL, 0);
}

int weights_save_with(const Graph *g, const char *path, const char *const *extra_keys, const char *const *extra_values,
                      int nextra, const StWriteTensor *extra_tensors, int nextra_tensors) {
  Writer w = {0};
  StrBuf formats, vocab;
  sb_init(&formats);
  sb_init(&vocab);
  int nformats = 0, st = 0;
  for (int i = 0; i < g->nslots && !st; i++) {
    if (!g->slots[i].t) st = lx_fail(LSTMC_ERR_USAGE, "weight '%s' is not loaded", g->slots[i].name);
    else st = add_tensor(&w, g->slots[i].t, &formats, &nformats);
  }
  for (int i = 0; i < nextra_tensors && !st; i++) {
    const StWriteTensor *x = &extra_tensors[i];
    st = add(&w, x->name, x->dtype, x->ndim, x->shape[0], x->ndim > 1 ? x->shape[1] : 0, x->data, x->nbytes);
  }
  const char *keys[8 + 16], *vals[8 + 16];
  int nmeta = 0;
  if (!st) {
    keys[nmeta] = "format", vals[nmeta++] = "pt";
    keys[nmeta] = "lstmc.version", vals[nmeta++] = LSTMC_VERSION;
    keys[nmeta] = "lstmc.vocab_kind", vals[nmeta++] = vocab_kind_name(g->vocab_kind);
    if (g->vocab && g->vocab_kind != VOCAB_BYTES) {
      sb_putc(&vocab, '[');
      for (int64_t i = 0; i < g->vocab->n; i++) {
        if (i) sb_puts(&vocab, ", ");
        sb_json_string(&vocab, g->vocab->tokens[i], g->vocab->lens[i]);
      }
      sb_putc(&vocab, ']');
      keys[nmeta] = "lstmc.vocab", vals[nmeta++] = sb_cstr(&vocab);
    }
    if (nformats) {
      format_meta_map_end(&formats, nformats);
      keys[nmeta] = "lstmc.formats", vals[nmeta++] = sb_cstr(&formats);
    }
    if (g->pipeline) keys[nmeta] = "lstmc.pipeline", vals[nmeta++] = g->pipeline;
    for (int i = 0; i < nextra && nmeta < (int)(sizeof keys / sizeof *keys); i++) keys[nmeta] = extra_keys[i], vals[nmeta++] = extra_values[i];
    if (formats.failed || vocab.failed) st = lx_nomem("saving weights");
  }
  if (!st) st = st_write_file(path, w.t, w.n, keys, vals, nmeta);
  for (int i = 0; i < w.n; i++) lx_free(w.names[i]);
  lx_free(w.names);
  lx_free(w.t);
  sb_free(&formats);
  sb_free(&vocab);
  return st;
}
