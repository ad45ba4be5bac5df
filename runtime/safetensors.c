/* The safetensors reader and writer (safetensors.h). The reader loads the whole file, parses the header
 * with the strict JSON parser (so duplicate names, bad UTF-8 and odd numbers are already rejected), then
 * checks each entry against the real buffer size before anything points into it: sizes use checked
 * arithmetic, and ranges are compared only after they are known to lie inside the buffer. Nothing is ever
 * allocated from a size the file declares; the only allocations are the file itself and arrays bounded by
 * the header's member count. The writer validates its arguments completely before it creates any file. */
#include "runtime/safetensors.h"

#include "support/limits.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support/alloc.h"
#include "support/err.h"
#include "support/json.h"
#include "support/strbuf.h"

static const struct {
  const char *name;
  size_t size;
} dtype_traits[ST_DTYPE_COUNT] = {
    [ST_BOOL] = {"BOOL", 1}, [ST_U8] = {"U8", 1},     [ST_I8] = {"I8", 1},     [ST_U16] = {"U16", 2},
    [ST_I16] = {"I16", 2},   [ST_F16] = {"F16", 2},   [ST_BF16] = {"BF16", 2}, [ST_U32] = {"U32", 4},
    [ST_I32] = {"I32", 4},   [ST_F32] = {"F32", 4},   [ST_U64] = {"U64", 8},   [ST_I64] = {"I64", 8},
    [ST_F64] = {"F64", 8},
};

const char *st_dtype_name(int dtype) { return dtype >= 0 && dtype < ST_DTYPE_COUNT ? dtype_traits[dtype].name : "?"; }

size_t st_dtype_size(int dtype) { return dtype >= 0 && dtype < ST_DTYPE_COUNT ? dtype_traits[dtype].size : 0; }

/* Compares with an explicit length because a JSON string may hold NUL bytes ("F32\u0000"). */
static int dtype_lookup(const char *name, size_t len, int *dtype) {
  for (int d = 0; d < ST_DTYPE_COUNT; d++)
    if (strlen(dtype_traits[d].name) == len && memcmp(dtype_traits[d].name, name, len) == 0) {
      *dtype = d;
      return 0;
    }
  return -1;
}

int st_dtype_parse(const char *name, int *dtype) { return dtype_lookup(name, strlen(name), dtype); }

/* "[3,4]", "[]" for a scalar. */
static void shape_format(char *dst, size_t dstsz, const int64_t *shape, int ndim) {
  size_t o = 0;
  int n = snprintf(dst, dstsz, "[");
  o = n > 0 ? (size_t)n : 0;
  for (int i = 0; i < ndim && o < dstsz; i++) {
    n = snprintf(dst + o, dstsz - o, "%s%" PRId64, i ? "," : "", shape[i]);
    if (n > 0) o += (size_t)n;
  }
  if (o < dstsz) snprintf(dst + o, dstsz - o, "]");
}

/* ---------------------------------------------------------------------------------------------------------
 * Reading */

typedef struct StReader {
  const char *file; /* for messages */
  size_t data_len;  /* bytes in the buffer after the header */
} StReader;

static int read_fail(const StReader *r, const char *fmt, ...) LX_PRINTF(2, 3);
static int read_fail(const StReader *r, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return lx_fail(LSTMC_ERR_FORMAT, "%s: %s", r->file, msg);
}

/* "FILE: tensor 'NAME': MESSAGE (header byte K)", K locating the offending JSON value. */
static int tensor_fail(const StReader *r, const char *tname, const Json *at, const char *fmt, ...) LX_PRINTF(4, 5);
static int tensor_fail(const StReader *r, const char *tname, const Json *at, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return lx_fail(LSTMC_ERR_FORMAT, "%s: tensor '%s': %s (header byte %zu)", r->file, tname, msg, at->offset);
}

static int read_nomem(const StReader *r) {
  lx_nomem("reading a safetensors file");
  lx_err_prefix("%s", r->file);
  return LSTMC_ERR_NOMEM;
}

/* How a JSON value that should have been a non-negative integer looks, for messages. */
static void value_describe(char *dst, size_t dstsz, const Json *v) {
  if (v->type == JSON_NUMBER) json_excerpt(dst, dstsz, v->text, v->text_len);
  else snprintf(dst, dstsz, "a%s %s", v->type == JSON_ARRAY || v->type == JSON_OBJECT ? "n" : "",
                json_type_name(v->type));
}

static int read_shape(const StReader *r, const char *tname, const Json *js, StTensor *t) {
  if (js->type != JSON_ARRAY)
    return tensor_fail(r, tname, js, "\"shape\" is a%s %s, expected an array of integers",
                       js->type == JSON_OBJECT ? "n" : "", json_type_name(js->type));
  if (js->count > ST_MAX_DIMS)
    return tensor_fail(r, tname, js, "shape has %zu dimensions, at most %d are supported", js->count, ST_MAX_DIMS);
  t->ndim = (int)js->count;
  /* The product of the dimensions with zeros counted as ones must fit, so that strides computed later
   * from this shape cannot overflow even when the tensor is empty. */
  size_t strided = 1, nelems = 1;
  for (int i = 0; i < t->ndim; i++) {
    const Json *d = js->items[i];
    uint64_t v;
    if (json_as_u64(d, &v) || v > INT64_MAX || v > SIZE_MAX) {
      char what[96];
      value_describe(what, sizeof what, d);
      int is_int = d->type == JSON_NUMBER && !strpbrk(d->text, ".eE") && d->text[0] != '-';
      return tensor_fail(r, tname, d, "shape[%d] is %s, expected a non-negative integer%s", i, what,
                         is_int ? " below 2^63" : "");
    }
    t->shape[i] = (int64_t)v;
    if (lx_mul_size(strided, v ? (size_t)v : 1, &strided) || lx_mul_size(nelems, (size_t)v, &nelems)) {
      char s[200];
      shape_format(s, sizeof s, t->shape, i + 1);
      return tensor_fail(r, tname, js, "shape %s%s has too many elements (the count overflows)", s,
                         i + 1 < t->ndim ? "..." : "");
    }
  }
  t->nelems = nelems;
  if (lx_mul_size(nelems, st_dtype_size(t->dtype), &t->nbytes)) {
    char s[200];
    shape_format(s, sizeof s, t->shape, t->ndim);
    return tensor_fail(r, tname, js, "shape %s of %s is too large (its byte size overflows)", s,
                       st_dtype_name(t->dtype));
  }
  return LSTMC_OK;
}

static int read_offsets(const StReader *r, const char *tname, const Json *jo, StTensor *t) {
  if (jo->type != JSON_ARRAY || jo->count != 2)
    return tensor_fail(r, tname, jo, "\"data_offsets\" must be an array of two integers [begin, end]");
  uint64_t b, e;
  for (int i = 0; i < 2; i++) {
    const Json *v = jo->items[i];
    if (json_as_u64(v, i ? &e : &b)) {
      char what[96];
      value_describe(what, sizeof what, v);
      return tensor_fail(r, tname, v, "data_offsets[%d] is %s, expected a non-negative integer", i, what);
    }
  }
  if (b > e) return tensor_fail(r, tname, jo, "data_offsets [%" PRIu64 ", %" PRIu64 "] end before they begin", b, e);
  if (e > r->data_len)
    return tensor_fail(r, tname, jo,
                       "data_offsets [%" PRIu64 ", %" PRIu64 "] reach past the end of the %zu-byte data buffer", b,
                       e, r->data_len);
  if (e - b != t->nbytes) {
    char s[200];
    shape_format(s, sizeof s, t->shape, t->ndim);
    return tensor_fail(r, tname, jo, "shape %s of %s needs %zu bytes, data_offsets give %" PRIu64, s,
                       st_dtype_name(t->dtype), t->nbytes, e - b);
  }
  t->begin = b;
  return LSTMC_OK;
}

/* One header member other than __metadata__: name -> {"dtype", "shape", "data_offsets"}. The checks run
 * in that order because the byte size needs the dtype and the shape. */
static int read_tensor(const StReader *r, const uint8_t *data, const char *key, size_t klen, const Json *entry,
                       StTensor *t) {
  char tname[96];
  json_excerpt(tname, sizeof tname, key, klen);
  if (klen == 0) return read_fail(r, "a tensor has an empty name (header byte %zu)", entry->offset);
  if (memchr(key, 0, klen)) return tensor_fail(r, tname, entry, "the name contains a NUL byte");
  if (entry->type != JSON_OBJECT)
    return tensor_fail(r, tname, entry, "the entry is a%s %s, expected an object",
                       entry->type == JSON_ARRAY ? "n" : "", json_type_name(entry->type));
  static const char *const fields[3] = {"dtype", "shape", "data_offsets"};
  for (size_t i = 0; i < entry->count; i++) {
    int known = 0;
    for (int f = 0; f < 3; f++) known |= entry->key_lens[i] == strlen(fields[f]) && !strcmp(entry->keys[i], fields[f]);
    if (!known) {
      char fname[96];
      json_excerpt(fname, sizeof fname, entry->keys[i], entry->key_lens[i]);
      return tensor_fail(r, tname, entry->items[i], "unknown field \"%s\"", fname);
    }
  }
  const Json *jd = json_get(entry, "dtype"), *js = json_get(entry, "shape"), *jo = json_get(entry, "data_offsets");
  for (int f = 0; f < 3; f++)
    if (!(f == 0 ? jd : f == 1 ? js : jo)) return tensor_fail(r, tname, entry, "missing \"%s\"", fields[f]);
  if (jd->type != JSON_STRING)
    return tensor_fail(r, tname, jd, "\"dtype\" is a%s %s, expected a string", jd->type == JSON_ARRAY ? "n" : "",
                       json_type_name(jd->type));
  if (dtype_lookup(jd->text, jd->text_len, &t->dtype)) {
    char dname[96];
    json_excerpt(dname, sizeof dname, jd->text, jd->text_len);
    return tensor_fail(r, tname, jd, "unknown dtype \"%s\"", dname);
  }
  int rc = read_shape(r, tname, js, t);
  if (!rc) rc = read_offsets(r, tname, jo, t);
  if (rc) return rc;
  t->data = data + t->begin;
  if (!(t->name = lx_strndup(key, klen))) return read_nomem(r);
  return LSTMC_OK;
}

static int read_metadata(const StReader *r, const Json *m, StFile *f) {
  if (m->type != JSON_OBJECT)
    return read_fail(r, "\"__metadata__\" is a%s %s, expected an object of strings (header byte %zu)",
                     m->type == JSON_ARRAY ? "n" : "", json_type_name(m->type), m->offset);
  if (m->count == 0) return LSTMC_OK;
  if (m->count > INT_MAX) return read_fail(r, "\"__metadata__\" has too many entries");
  if (!(f->meta_keys = lx_calloc(m->count, sizeof *f->meta_keys)) ||
      !(f->meta_values = lx_calloc(m->count, sizeof *f->meta_values)) ||
      !(f->meta_value_lens = lx_calloc(m->count, sizeof *f->meta_value_lens)))
    return read_nomem(r);
  for (size_t i = 0; i < m->count; i++) {
    const Json *v = m->items[i];
    f->nmeta = (int)i + 1; /* counted first, so that st_free releases a half-copied entry */
    char kname[96];
    json_excerpt(kname, sizeof kname, m->keys[i], m->key_lens[i]);
    if (v->type != JSON_STRING)
      return read_fail(r, "\"__metadata__\" value for '%s' is a%s %s, expected a string (header byte %zu)", kname,
                       v->type == JSON_ARRAY || v->type == JSON_OBJECT ? "n" : "", json_type_name(v->type), v->offset);
    if (memchr(m->keys[i], 0, m->key_lens[i]))
      return read_fail(r, "\"__metadata__\" key '%s' contains a NUL byte (header byte %zu)", kname, v->offset);
    if (!(f->meta_keys[i] = lx_strndup(m->keys[i], m->key_lens[i])) ||
        !(f->meta_values[i] = lx_malloc(v->text_len + 1)))
      return read_nomem(r);
    memcpy(f->meta_values[i], v->text, v->text_len + 1);
    f->meta_value_lens[i] = v->text_len;
  }
  return LSTMC_OK;
}

static int tensor_cmp_range(const void *a, const void *b) {
  const StTensor *x = *(const StTensor *const *)a, *y = *(const StTensor *const *)b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

/* Two tensors must never share bytes (writing one would change the other). Gaps are allowed: they are
 * harmless, though the reference reader rejects them. */
static int check_overlaps(const StReader *r, StFile *f) {
  if (f->ntensors < 2) return LSTMC_OK;
  const StTensor **byrange = lx_malloc((size_t)f->ntensors * sizeof *byrange);
  if (!byrange) return read_nomem(r);
  for (int i = 0; i < f->ntensors; i++) byrange[i] = &f->tensors[i];
  qsort(byrange, (size_t)f->ntensors, sizeof *byrange, tensor_cmp_range);
  const StTensor *last = NULL; /* the non-empty tensor reaching furthest so far */
  int rc = LSTMC_OK;
  for (int i = 0; i < f->ntensors && !rc; i++) {
    const StTensor *t = byrange[i];
    if (t->nbytes == 0) continue;
    if (last && t->begin < last->begin + last->nbytes) {
      char a[96], b[96];
      json_excerpt(a, sizeof a, last->name, strlen(last->name));
      json_excerpt(b, sizeof b, t->name, strlen(t->name));
      rc = read_fail(r,
                     "tensors '%s' (data_offsets [%" PRIu64 ", %" PRIu64 "]) and '%s' (data_offsets [%" PRIu64
                     ", %" PRIu64 "]) overlap",
                     a, last->begin, last->begin + last->nbytes, b, t->begin, t->begin + t->nbytes);
    }
    if (!last || t->begin + t->nbytes > last->begin + last->nbytes) last = t;
  }
  lx_free(byrange);
  return rc;
}

static uint64_t load_le64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

static int read_header(StReader *r, StFile *f) {
  if (f->len < 8) return read_fail(r, "file is %zu bytes, too short to hold the 8-byte header length", f->len);
  uint64_t hlen = load_le64(f->buf);
  if (hlen > ST_MAX_HEADER_BYTES)
    return read_fail(r, "header length %" PRIu64 " exceeds the limit of %u bytes", hlen, ST_MAX_HEADER_BYTES);
  if (hlen > f->len - 8)
    return read_fail(r, "header length %" PRIu64 " is larger than the rest of the file (%zu bytes)", hlen, f->len - 8);
  r->data_len = f->len - 8 - (size_t)hlen;
  const uint8_t *data = f->buf + 8 + hlen;

  Json *root;
  char jerr[256];
  int jrc = json_parse((const char *)f->buf + 8, (size_t)hlen, &root, jerr, sizeof jerr);
  if (jrc == JSON_ERR_NOMEM) return read_nomem(r);
  if (jrc) return read_fail(r, "header is not valid JSON at header %s", jerr);
  int rc = LSTMC_OK;
  if (root->type != JSON_OBJECT) {
    rc = read_fail(r, "header is a%s %s, expected an object", root->type == JSON_ARRAY ? "n" : "",
                   json_type_name(root->type));
    goto done;
  }
  const Json *meta = json_get(root, "__metadata__");
  size_t ntensors = root->count - (meta != NULL);
  if (ntensors > INT_MAX) {
    rc = read_fail(r, "header lists %zu tensors, more than supported", ntensors);
    goto done;
  }
  if (ntensors && !(f->tensors = lx_calloc(ntensors, sizeof *f->tensors))) {
    rc = read_nomem(r);
    goto done;
  }
  for (size_t i = 0; i < root->count && !rc; i++) {
    if (root->items[i] == meta) {
      rc = read_metadata(r, meta, f);
    } else {
      /* Counted before it is filled in, so that st_free releases a half-read entry. */
      StTensor *t = &f->tensors[f->ntensors++];
      rc = read_tensor(r, data, root->keys[i], root->key_lens[i], root->items[i], t);
    }
  }
  if (!rc) rc = check_overlaps(r, f);
done:
  json_free(root);
  return rc;
}

/* Takes ownership of buf (freed on failure). */
static int st_parse_owned(const char *name, uint8_t *buf, size_t len, StFile **out) {
  StReader r = {name, 0};
  StFile *f = lx_calloc(1, sizeof *f);
  if (!f) {
    lx_free(buf);
    return read_nomem(&r);
  }
  f->buf = buf;
  f->len = len;
  int rc = (f->path = lx_strdup(name)) ? read_header(&r, f) : read_nomem(&r);
  if (rc) {
    st_free(f);
    return rc;
  }
  *out = f;
  return LSTMC_OK;
}

int st_read_buffer(const char *name, const uint8_t *buf, size_t len, StFile **out) {
  *out = NULL;
  uint8_t *copy = lx_malloc(len);
  if (!copy) {
    StReader r = {name, 0};
    return read_nomem(&r);
  }
  if (len) memcpy(copy, buf, len);
  return st_parse_owned(name, copy, len, out);
}

int st_read_file(const char *path, StFile **out) {
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return lx_fail(LSTMC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return lx_fail(LSTMC_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return lx_fail(LSTMC_ERR_IO, "%s: not a regular file", path);
  }
  if ((uint64_t)st.st_size > SIZE_MAX) {
    close(fd);
    return lx_fail(LSTMC_ERR_NOMEM, "%s: file of %jd bytes does not fit in memory", path, (intmax_t)st.st_size);
  }
  size_t len = (size_t)st.st_size, got = 0;
  char what[600];
  snprintf(what, sizeof what, "%s: reading this file", path);
  int cap = lx_check_mem((uint64_t)len, what);
  if (cap) {
    close(fd);
    return cap;
  }
  uint8_t *buf = lx_malloc(len);
  if (!buf) {
    close(fd);
    StReader r = {path, 0};
    return read_nomem(&r);
  }
  while (got < len) {
    size_t want = len - got > ((size_t)1 << 30) ? (size_t)1 << 30 : len - got;
    ssize_t n = read(fd, buf + got, want);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = errno;
      close(fd);
      lx_free(buf);
      if (n == 0) return lx_fail(LSTMC_ERR_IO, "%s: file shrank while being read (%zu of %zu bytes)", path, got, len);
      return lx_fail(LSTMC_ERR_IO, "%s: read error: %s", path, strerror(e));
    }
    got += (size_t)n;
  }
  close(fd);
  return st_parse_owned(path, buf, len, out);
}

void st_free(StFile *f) {
  if (!f) return;
  for (int i = 0; i < f->ntensors; i++) lx_free(f->tensors[i].name);
  for (int i = 0; i < f->nmeta; i++) {
    lx_free(f->meta_keys[i]);
    lx_free(f->meta_values[i]);
  }
  lx_free(f->tensors);
  lx_free(f->meta_keys);
  lx_free(f->meta_values);
  lx_free(f->meta_value_lens);
  lx_free(f->buf);
  lx_free(f->path);
  lx_free(f);
}

const StTensor *st_find(const StFile *f, const char *name) {
  for (int i = 0; f && i < f->ntensors; i++)
    if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
  return NULL;
}

const char *st_meta_get(const StFile *f, const char *key, size_t *len) {
  for (int i = 0; f && i < f->nmeta; i++)
    if (strcmp(f->meta_keys[i], key) == 0) {
      if (len) *len = f->meta_value_lens[i];
      return f->meta_values[i];
    }
  return NULL;
}

/* ---------------------------------------------------------------------------------------------------------
 * Writing */

typedef struct WriteSlot {
  const char *name;
  size_t esize; /* element size: the layout key */
  int index;    /* position in the caller's array: the tie-break that keeps the layout stable */
  uint64_t begin;
} WriteSlot;

static int slot_cmp_name(const void *a, const void *b) {
  return strcmp(((const WriteSlot *)a)->name, ((const WriteSlot *)b)->name);
}

/* Larger elements first, then the caller's order (as the reference writer, which breaks ties by name). */
static int slot_cmp_layout(const void *a, const void *b) {
  const WriteSlot *x = a, *y = b;
  if (x->esize != y->esize) return x->esize > y->esize ? -1 : 1;
  return x->index < y->index ? -1 : x->index > y->index;
}

static int write_check_tensor(const char *path, const StWriteTensor *t, int i) {
  if (!t->name || !t->name[0]) return lx_fail(LSTMC_ERR_USAGE, "%s: tensor %d has an empty name", path, i);
  char tname[96];
  json_excerpt(tname, sizeof tname, t->name, strlen(t->name));
  if (!strcmp(t->name, "__metadata__"))
    return lx_fail(LSTMC_ERR_USAGE, "%s: tensor name '__metadata__' is reserved for metadata", path);
  if (!json_utf8_valid(t->name, strlen(t->name)))
    return lx_fail(LSTMC_ERR_USAGE, "%s: tensor '%s': the name is not valid UTF-8", path, tname);
  if (t->dtype < 0 || t->dtype >= ST_DTYPE_COUNT)
    return lx_fail(LSTMC_ERR_USAGE, "%s: tensor '%s': invalid dtype %d", path, tname, t->dtype);
  if (t->ndim < 0 || t->ndim > ST_MAX_DIMS)
    return lx_fail(LSTMC_ERR_USAGE, "%s: tensor '%s': %d dimensions, expected 0 to %d", path, tname, t->ndim,
                   ST_MAX_DIMS);
  char s[200];
  shape_format(s, sizeof s, t->shape, t->ndim);
  size_t nelems = 1, strided = 1, nbytes;
  for (int d = 0; d < t->ndim; d++) {
    if (t->shape[d] < 0)
      return lx_fail(LSTMC_ERR_SHAPE, "%s: tensor '%s': shape %s has a negative dimension", path, tname, s);
    if ((uint64_t)t->shape[d] > SIZE_MAX || lx_mul_size(nelems, (size_t)t->shape[d], &nelems) ||
        lx_mul_size(strided, t->shape[d] ? (size_t)t->shape[d] : 1, &strided))
      return lx_fail(LSTMC_ERR_SHAPE, "%s: tensor '%s': shape %s has too many elements", path, tname, s);
  }
  if (lx_mul_size(nelems, st_dtype_size(t->dtype), &nbytes))
    return lx_fail(LSTMC_ERR_SHAPE, "%s: tensor '%s': shape %s is too large", path, tname, s);
  if (nbytes != t->nbytes)
    return lx_fail(LSTMC_ERR_SHAPE, "%s: tensor '%s': shape %s of %s needs %zu bytes, %zu given", path, tname, s,
                   st_dtype_name(t->dtype), nbytes, t->nbytes);
  if (nbytes && !t->data) return lx_fail(LSTMC_ERR_USAGE, "%s: tensor '%s': no data", path, tname);
  return LSTMC_OK;
}

static int write_check_meta(const char *path, const char *const *keys, const char *const *values, int nmeta) {
  for (int i = 0; i < nmeta; i++) {
    if (!keys[i] || !values[i]) return lx_fail(LSTMC_ERR_USAGE, "%s: metadata entry %d is NULL", path, i);
    char k[96];
    json_excerpt(k, sizeof k, keys[i], strlen(keys[i]));
    if (!json_utf8_valid(keys[i], strlen(keys[i])) || !json_utf8_valid(values[i], strlen(values[i])))
      return lx_fail(LSTMC_ERR_USAGE, "%s: metadata '%s' is not valid UTF-8", path, k);
    /* Metadata is a handful of strings; quadratic is fine. */
    for (int j = 0; j < i; j++)
      if (!strcmp(keys[i], keys[j])) return lx_fail(LSTMC_ERR_USAGE, "%s: metadata key '%s' given twice", path, k);
  }
  return LSTMC_OK;
}

/* The header text (padded with spaces to a multiple of 8 bytes) for tensors in `slots` order, whose
 * begin offsets are already set. */
static char *header_build(const StWriteTensor *t, const WriteSlot *slots, int n, const char *const *meta_keys,
                          const char *const *meta_values, int nmeta, size_t *len) {
  StrBuf sb;
  sb_init(&sb);
  sb_putc(&sb, '{');
  if (nmeta > 0) {
    sb_puts(&sb, "\"__metadata__\":{");
    for (int i = 0; i < nmeta; i++) {
      if (i) sb_putc(&sb, ',');
      sb_json_string(&sb, meta_keys[i], strlen(meta_keys[i]));
      sb_putc(&sb, ':');
      sb_json_string(&sb, meta_values[i], strlen(meta_values[i]));
    }
    sb_putc(&sb, '}');
  }
  for (int k = 0; k < n; k++) {
    const StWriteTensor *w = &t[slots[k].index];
    if (k || nmeta > 0) sb_putc(&sb, ',');
    sb_json_string(&sb, w->name, strlen(w->name));
    sb_printf(&sb, ":{\"dtype\":\"%s\",\"shape\":[", st_dtype_name(w->dtype));
    for (int d = 0; d < w->ndim; d++) sb_printf(&sb, "%s%" PRId64, d ? "," : "", w->shape[d]);
    sb_printf(&sb, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", slots[k].begin, slots[k].begin + w->nbytes);
  }
  sb_putc(&sb, '}');
  /* The reference writer pads with spaces (valid JSON whitespace) so the buffer starts 8-aligned. */
  while (!sb.failed && sb.len % 8) sb_putc(&sb, ' ');
  *len = sb.len;
  return sb_take(&sb);
}

static int write_all(int fd, const void *data, size_t n) {
  const uint8_t *p = data;
  while (n > 0) {
    size_t want = n > ((size_t)1 << 30) ? (size_t)1 << 30 : n;
    ssize_t w = write(fd, p, want);
    if (w < 0 && errno == EINTR) continue;
    if (w == 0) errno = EIO; /* no progress and no reason given */
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Writes everything to tmp and renames it over path; removes tmp on any failure. */
static int write_atomically(const char *path, const char *tmp, const char *dir, const char *header, size_t hlen,
                            const StWriteTensor *t, const WriteSlot *slots, int n) {
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  /* The message names the destination: the temporary name (with a process id) means nothing to a user. */
  if (fd < 0) return lx_fail(LSTMC_ERR_IO, "%s: cannot create the file: %s", path, strerror(errno));
  uint8_t lenbuf[8];
  for (int i = 0; i < 8; i++) lenbuf[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
  const char *step = "write";
  int ok = write_all(fd, lenbuf, 8) == 0 && write_all(fd, header, hlen) == 0;
  for (int k = 0; ok && k < n; k++) ok = write_all(fd, t[slots[k].index].data, t[slots[k].index].nbytes) == 0;
  if (ok && !(ok = fsync(fd) == 0)) step = "sync";
  int e = errno;
  if (close(fd) != 0 && ok) {
    e = errno;
    ok = 0;
    step = "close";
  }
  if (ok && !(ok = rename(tmp, path) == 0)) {
    e = errno;
    step = "rename";
  }
  if (!ok) {
    unlink(tmp);
    return lx_fail(LSTMC_ERR_IO, "%s: %s failed: %s", path, step, strerror(e));
  }
  /* Best effort: makes the rename itself durable; the file is already complete either way. */
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return LSTMC_OK;
}

int st_write_file(const char *path, const StWriteTensor *t, int n, const char *const *meta_keys,
                  const char *const *meta_values, int nmeta) {
  if (!path || !path[0]) return lx_fail(LSTMC_ERR_USAGE, "safetensors writer: no output path");
  if (n < 0 || (n > 0 && !t)) return lx_fail(LSTMC_ERR_USAGE, "%s: invalid tensor list", path);
  if (nmeta < 0 || (nmeta > 0 && (!meta_keys || !meta_values)))
    return lx_fail(LSTMC_ERR_USAGE, "%s: invalid metadata list", path);
  int rc;
  for (int i = 0; i < n; i++)
    if ((rc = write_check_tensor(path, &t[i], i))) return rc;
  if ((rc = write_check_meta(path, meta_keys, meta_values, nmeta))) return rc;

  WriteSlot *slots = lx_malloc((size_t)(n ? n : 1) * sizeof *slots);
  char *header = NULL, *tmp = NULL, *dir = NULL;
  uint64_t offset = 0;
  size_t hlen;
  StrBuf sb;
  const char *slash;
  if (!slots) return lx_nomem("writing a safetensors file");
  for (int i = 0; i < n; i++) slots[i] = (WriteSlot){t[i].name, st_dtype_size(t[i].dtype), i, 0};
  qsort(slots, (size_t)n, sizeof *slots, slot_cmp_name);
  for (int i = 1; i < n; i++)
    if (!strcmp(slots[i].name, slots[i - 1].name)) {
      char tname[96];
      json_excerpt(tname, sizeof tname, slots[i].name, strlen(slots[i].name));
      rc = lx_fail(LSTMC_ERR_USAGE, "%s: tensor name '%s' given twice", path, tname);
      goto out;
    }
  qsort(slots, (size_t)n, sizeof *slots, slot_cmp_layout);
  for (int k = 0; k < n; k++) {
    slots[k].begin = offset;
    if ((offset += t[slots[k].index].nbytes) < slots[k].begin) {
      rc = lx_fail(LSTMC_ERR_USAGE, "%s: the tensors' total size overflows 64 bits", path);
      goto out;
    }
  }

  header = header_build(t, slots, n, meta_keys, meta_values, nmeta, &hlen);
  if (!header) {
    rc = lx_nomem("writing a safetensors header");
    goto out;
  }
  if (hlen > ST_MAX_HEADER_BYTES) {
    rc = lx_fail(LSTMC_ERR_USAGE, "%s: the header would be %zu bytes, over the %u-byte limit readers accept", path,
                 hlen, ST_MAX_HEADER_BYTES);
    goto out;
  }
  sb_init(&sb);
  sb_printf(&sb, "%s.tmp.%ld", path, (long)getpid());
  tmp = sb_take(&sb);
  slash = strrchr(path, '/');
  dir = slash ? lx_strndup(path, slash == path ? 1 : (size_t)(slash - path)) : lx_strdup(".");
  if (!tmp || !dir) {
    rc = lx_nomem("writing a safetensors file");
    goto out;
  }
  rc = write_atomically(path, tmp, dir, header, hlen, t, slots, n);
out:
  lx_free(slots);
  lx_free(header);
  lx_free(tmp);
  lx_free(dir);
  return rc;
}
