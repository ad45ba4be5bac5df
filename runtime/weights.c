/* Binding a Graph's weight slots to safetensors files: names (PyTorch and AWD-LSTM aliases), dtypes,
 * shapes, lstmc's non-dense formats as component tensors, the vocabulary, and NaN/Inf checks.
 * Every error names the file and the tensor. */
#include "runtime/weights.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ir/vocab.h"
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
static int expect(Loader *L, const StTensor *t, const char *name, int dtype, int ndim, int64_t d0, int64_t d1) {
  char got[96];
  shape_text(t, got, sizeof got);
  if (t->dtype != dtype)
    return lx_fail(LSTMC_ERR_FORMAT, "%s: tensor '%s' has dtype %s, expected %s", L->path, name, st_dtype_name(t->dtype),
                   st_dtype_name(dtype));
  if (t->ndim != ndim || t->shape[0] != d0 || (ndim == 2 && t->shape[1] != d1)) {
    if (ndim == 1)
      return lx_fail(LSTMC_ERR_SHAPE, "%s: tensor '%s' has shape %s, expected [%lld]", L->path, name, got, (long long)d0);
    return lx_fail(LSTMC_ERR_SHAPE, "%s: tensor '%s' has shape %s, expected [%lld, %lld]", L->path, name, got,
                   (long long)d0, (long long)d1);
  }
  return 0;
}

static int component(Loader *L, const char *base, const char *suffix, const StTensor **out) {
  char name[160];
  snprintf(name, sizeof name, "%s.%s", base, suffix);
  *out = find_used(L, name);
  if (!*out) return lx_fail(LSTMC_ERR_FORMAT, "%s: tensor '%s' is missing (its format needs '%s')", L->path, name, name);
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

static int json_int_field(Loader *L, const Json *o, const char *tname, const char *key, int64_t lo, int64_t hi, int64_t *out) {
  const Json *v = json_get(o, key);
  if (!v) return 1;
  if (json_as_i64(v, out) || *out < lo || *out > hi)
    return lx_fail(LSTMC_ERR_FORMAT, "%s: lstmc.formats: '%s'.%s must be an integer in [%lld, %lld]", L->path, tname, key,
                   (long long)lo, (long long)hi);
  return 0;
}

/* A tensor described in lstmc.formats: {"format": "cc_q8", "groups": G, "group_cols": K, ...}. */
static int load_formatted(Loader *L, const WeightSlot *s, const char *fname, const Json *desc, Tensor **out) {
  const Json *fj = json_get(desc, "format");
  int layout, enc;
  if (!fj || fj->type != JSON_STRING || format_parse(fj->text, &layout, &enc))
    return lx_fail(LSTMC_ERR_FORMAT, "%s: lstmc.formats: '%s' has no valid \"format\"", L->path, fname);
  if (s->ndim != 2)
    return lx_fail(LSTMC_ERR_FORMAT, "%s: '%s' is a bias and must be dense, not %s", L->path, fname, fj->text);
  int64_t G = 0, K = 0, alpha = 0, block = 0;
  /* packed tensors always have groups; dense and masked ones may ("grouped, not yet packed") */
  int grouped = layout == LX_LAYOUT_PACKED || json_get(desc, "groups");
  if (grouped) {
    int st;
    if ((st = json_int_field(L, desc, fname, "groups", 0, s->cols, &G)) ||
        (st = json_int_field(L, desc, fname, "group_cols", 0, s->cols, &K))) {
      if (st == 1) return lx_fail(LSTMC_ERR_FORMAT, "%s: lstmc.formats: '%s' needs \"groups\" and \"group_cols\"", L->path, fname);
      return st;
    }
    if (json_int_field(L, desc, fname, "alpha", 0, LX_MAX_ALPHA, &alpha) > 1) return LSTMC_ERR_FORMAT;
    if (json_int_field(L, desc, fname, "block", 0, 1 << 30, &block) > 1) return LSTMC_ERR_FORMAT;
  }
  Tensor *t = tensor_new(s->name, 2, s->rows, s->cols, layout, enc, G, K);
  if (!t) return LSTMC_ERR_NOMEM;
  if (grouped && layout != LX_LAYOUT_PACKED && tensor_alloc_groups(t, G, K)) {
    tensor_free(t);
    return LSTMC_ERR_NOMEM;
  }
  t->alpha = (int)alpha;
  t->block = (int)block;
  const Json *gj = json_get(desc, "gamma");
  if (gj && gj->type == JSON_NUMBER) t->gamma = gj->number;
  /* absent in files written before int8 activations: float activations, as then */
  int64_t act_bits = 0;
  if (json_int_field(L, desc, fname, "act_bits", 0, 8, &act_bits) > 1) {
    tensor_free(t);
    return LSTMC_ERR_FORMAT;
  }
  t->act_bits = (int)act_bits;
  int st = 0;
  const StTensor *c;
  /* codes: under the plain name when they have the matrix's own shape and a byte-aligned dtype */
  int plain = layout != LX_LAYOUT_PACKED && (enc == LX_ENC_F32 || enc == LX_ENC_BF16 || enc == LX_ENC_Q8);
  char cname[160];
  snprintf(cname, sizeof cname, plain ? "%s" : "%s.codes", fname);
  c = find_used(L, cname);
  if (!c) {
    st = lx_fail(LSTMC_ERR_FORMAT, "%s: tensor '%s' is missing (format %s)", L->path, cname, fj->text);
    goto fail;
  }
  if (plain) {
    int dt = enc == LX_ENC_F32 ? ST_F32 : enc == LX_ENC_BF16 ? ST_BF16 : ST_I8;
    if ((st = expect(L, c, cname, dt, 2, s->rows, t->nslots))) goto fail;
  } else {
    int dt = enc == LX_ENC_F32 ? ST_F32 : enc == LX_ENC_BF16 ? ST_BF16 : enc == LX_ENC_Q8 ? ST_I8 : ST_U8;
    int64_t d1 = dt == ST_U8 ? (int64_t)t->stride : t->nslots;
    if ((st = expect(L, c, cname, dt, 2, s->rows, d1))) goto fail;
  }
  memcpy(t->codes, c->data, (size_t)t->rows * t->stride);
  if (t->scale) {
    if ((st = component(L, fname, "scale", &c)) || (st = expect(L, c, c->name, ST_F32, 1, s->rows, 1))) goto fail;
    memcpy(t->scale, c->data, (size_t)s->rows * sizeof(float));
  }
  if (t->mask) {
    if ((st = component(L, fname, "mask", &c)) || (st = expect(L, c, c->name, ST_U8, 2, s->rows, (int64_t)t->mask_stride)))
      goto fail;
    memcpy(t->mask, c->data, (size_t)s->rows * t->mask_stride);
  }
  if (grouped) {
    if ((st = component(L, fname, "group_offsets", &c)) || (st = expect(L, c, c->name, ST_I32, 1, G + 1, 1))) goto fail;
    memcpy(t->group_off, c->data, (size_t)(G + 1) * sizeof(int32_t));
    if (t->group_off[G] != K) {
      st = lx_fail(LSTMC_ERR_FORMAT, "%s: '%s.group_offsets' ends at %d, but \"group_cols\" says %lld", L->path, fname,
                   t->group_off[G], (long long)K);
      goto fail;
    }
    if ((st = component(L, fname, "group_cols", &c)) || (st = expect(L, c, c->name, ST_I32, 1, K, 1))) goto fail;
    memcpy(t->group_cols, c->data, (size_t)K * sizeof(int32_t));
  }
  if (layout == LX_LAYOUT_PACKED) {
    if ((st = component(L, fname, "select", &c)) || (st = expect(L, c, c->name, ST_U8, 2, s->rows, G))) goto fail;
    memcpy(t->sel, c->data, (size_t)(s->rows * G));
  }
  if ((st = tensor_check(t))) {
    lx_err_prefix("%s", L->path);
    goto fail;
  }
  *out = t;
  return 0;
fail:
  tensor_free(t);
  return st;
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

int weights_bind_skip(Graph *g, const StFile *f, const char *skip_prefix) {
  const char *path = f->path;
  int st;
  Loader L = {path, f, NULL, NULL};
  Json *formats = NULL;
  Vocab *vocab = NULL;
  Tensor **loaded = lx_calloc((size_t)g->nslots + 1, sizeof *loaded);
  L.used = lx_calloc((size_t)f->ntensors + 1, 1);
  if (!loaded || !L.used) {
    st = lx_nomem("loading weights");
    goto done;
  }
  size_t flen;
  const char *ftext = st_meta_get(f, "lstmc.formats", &flen);
  if (ftext) {
    char err[160];
    int jr = json_parse(ftext, flen, &formats, err, sizeof err);
    if (jr == JSON_ERR_NOMEM) {
      st = lx_nomem("loading weights");
      goto done;
    }
    if (jr || formats->type != JSON_OBJECT) {
      st = lx_fail(LSTMC_ERR_FORMAT, "%s: metadata 'lstmc.formats' must be a JSON object%s%s", path, jr ? ": " : "", jr ? err : "");
      goto done;
    }
    L.formats = formats;
  }
  /* The vocabulary fixes V, which the embedding and decoder shapes depend on. */
  if ((st = load_vocab(g, f, path, &vocab))) goto done;
  if (g->vocab_size > 0 && g->vocab_size != vocab->n) {
    st = lx_fail(LSTMC_ERR_SHAPE, "%s: the vocabulary has %lld tokens but the spec says %lld", path, (long long)vocab->n,
                 (long long)g->vocab_size);
    goto done;
  }
  /* A vocabulary that disagrees with the embedding is the likelier mistake than a wrong shape: say so. */
  const StTensor *enc = st_find(f, "encoder.weight");
  if (enc && enc->ndim == 2 && enc->shape[0] != vocab->n) {
    if (g->vocab_kind == VOCAB_BYTES)
      st = lx_fail(LSTMC_ERR_SHAPE, "%s: 'encoder.weight' has %lld rows, but a bytes model has 256 tokens", path,
                   (long long)enc->shape[0]);
    else
      st = lx_fail(LSTMC_ERR_SHAPE, "%s: the vocabulary ('lstmc.vocab') has %lld tokens, but 'encoder.weight' has %lld rows",
                   path, (long long)vocab->n, (long long)enc->shape[0]);
    goto done;
  }
  graph_set_vocab_size(g, vocab->n);
  for (int i = 0; i < g->nslots; i++) {
    const WeightSlot *s = &g->slots[i];
    char names[4][128];
    int nn = slot_aliases(s->name, names);
    const char *fname = NULL;
    const Json *desc = NULL;
    const StTensor *plain = NULL;
    for (int k = 0; k < nn && !fname; k++) {
      const Json *d = formats ? json_get(formats, names[k]) : NULL;
      const StTensor *t = st_find(f, names[k]);
      if (d || t) {
        fname = names[k];
        desc = d;
        plain = t;
      }
    }
    if (!fname) {
      const char *hint = "";
      if (!strcmp(s->name, "decoder.weight")) hint = " (the spec's decoder is untied; is this a tied model?)";
      st = lx_fail(LSTMC_ERR_FORMAT, "%s: tensor '%s' is missing%s", path, s->name, hint);
      goto done;
    }
    if (desc && desc->type != JSON_OBJECT) {
      st = lx_fail(LSTMC_ERR_FORMAT, "%s: lstmc.formats: '%s' must be an object", path, fname);
      goto done;
    }
    if (desc) st = load_formatted(&L, s, fname, desc, &loaded[i]);
    else {
      L.used[plain - f->tensors] = 1;
      st = load_plain(&L, s, fname, plain, &loaded[i]);
    }
    if (st) goto done;
  }
  /* AWD-LSTM's tied models store decoder.weight as a second copy of encoder.weight: accept it only then. */
  const StTensor *dw = st_find(f, "decoder.weight");
  int dec_slot = graph_find_slot(g, "decoder.weight");
  if (dw && dec_slot < 0 && !L.used[dw - f->tensors]) {
    const StTensor *ew = st_find(f, "encoder.weight");
    if (!ew || ew->dtype != dw->dtype || ew->nbytes != dw->nbytes || memcmp(ew->data, dw->data, ew->nbytes)) {
      st = lx_fail(LSTMC_ERR_SHAPE, "%s: the file has its own 'decoder.weight', but the spec's decoder is tied (use 'decoder untied')", path);
      goto done;
    }
    L.used[dw - f->tensors] = 1;
  }
  for (int i = 0; i < f->ntensors; i++)
    if (!L.used[i] && !(skip_prefix && !strncmp(f->tensors[i].name, skip_prefix, strlen(skip_prefix)))) {
      st = lx_fail(LSTMC_ERR_FORMAT, "%s: unexpected tensor '%s' (the spec has no such weight)", path, f->tensors[i].name);
      goto done;
    }
  for (int i = 0; i < g->nslots; i++) {
    graph_set_tensor(g, i, loaded[i]);
    loaded[i] = NULL;
  }
  vocab_free(g->vocab);
  g->vocab = vocab;
  vocab = NULL;
  if ((st = weights_check_finite(g, path))) {
    /* leave the graph without weights rather than with bad ones */
    for (int i = 0; i < g->nslots; i++) graph_set_tensor(g, i, NULL);
    goto done;
  }
  /* the pass pipeline these weights went through (NULL when the file records none) */
  size_t plen;
  const char *pipeline = st_meta_get(f, "lstmc.pipeline", &plen);
  char *ptext = pipeline ? lx_strndup(pipeline, plen) : NULL;
  if (pipeline && !ptext) {
    st = lx_nomem("loading weights");
    goto done;
  }
  lx_free(g->pipeline);
  g->pipeline = ptext;
  st = graph_verify(g);
done:
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

static int add_tensor(Writer *w, const Tensor *t, StrBuf *formats, int *nformats) {
  int st;
  char name[160];
  if (t->layout == LX_LAYOUT_DENSE && (t->enc == LX_ENC_F32 || t->enc == LX_ENC_BF16) && !tensor_has_groups(t)) {
    int dt = t->enc == LX_ENC_F32 ? ST_F32 : ST_BF16;
    return add(w, t->name, dt, t->ndim, t->rows, t->cols, t->codes, (size_t)t->rows * t->stride);
  }
  sb_puts(formats, *nformats ? ", " : "{");
  (*nformats)++;
  sb_json_string(formats, t->name, strlen(t->name));
  sb_printf(formats, ": {\"format\": \"%s\"", format_name(t->layout, t->enc));
  if (tensor_has_groups(t))
    sb_printf(formats, ", \"groups\": %lld, \"group_cols\": %d, \"alpha\": %d, \"gamma\": %.17g, \"block\": %d",
              (long long)t->ngroups, t->group_off[t->ngroups], t->alpha, t->gamma, t->block);
  if (t->act_bits) sb_printf(formats, ", \"act_bits\": %d", t->act_bits);
  sb_puts(formats, "}");
  int plain = t->layout != LX_LAYOUT_PACKED && (t->enc == LX_ENC_F32 || t->enc == LX_ENC_BF16 || t->enc == LX_ENC_Q8);
  int dt = t->enc == LX_ENC_F32 ? ST_F32 : t->enc == LX_ENC_BF16 ? ST_BF16 : t->enc == LX_ENC_Q8 ? ST_I8 : ST_U8;
  int64_t d1 = dt == ST_U8 ? (int64_t)t->stride : t->nslots;
  snprintf(name, sizeof name, plain ? "%s" : "%s.codes", t->name);
  if ((st = add(w, name, dt, 2, t->rows, d1, t->codes, (size_t)t->rows * t->stride))) return st;
  if (t->scale) {
    snprintf(name, sizeof name, "%s.scale", t->name);
    if ((st = add(w, name, ST_F32, 1, t->rows, 0, t->scale, (size_t)t->rows * sizeof(float)))) return st;
  }
  if (t->mask) {
    snprintf(name, sizeof name, "%s.mask", t->name);
    if ((st = add(w, name, ST_U8, 2, t->rows, (int64_t)t->mask_stride, t->mask, (size_t)t->rows * t->mask_stride))) return st;
  }
  if (tensor_has_groups(t)) {
    int64_t G = t->ngroups, K = t->group_off[G];
    snprintf(name, sizeof name, "%s.group_offsets", t->name);
    if ((st = add(w, name, ST_I32, 1, G + 1, 0, t->group_off, (size_t)(G + 1) * sizeof(int32_t)))) return st;
    snprintf(name, sizeof name, "%s.group_cols", t->name);
    if ((st = add(w, name, ST_I32, 1, K, 0, t->group_cols, (size_t)K * sizeof(int32_t)))) return st;
  }
  if (t->layout == LX_LAYOUT_PACKED) {
    int64_t G = t->ngroups;
    snprintf(name, sizeof name, "%s.select", t->name);
    if ((st = add(w, name, ST_U8, 2, t->rows, G, t->sel, (size_t)(t->rows * G)))) return st;
  }
  return 0;
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
      sb_putc(&formats, '}');
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
