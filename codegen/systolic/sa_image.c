/* The images the chip loads, written by `lstmc compile --target systolic -o DIR` and read back by the image
 * runner. One folder:
 *
 *   manifest.json   the array, the model's shape, every file's size and SHA-256, and the tile schedule
 *   weights.bin     per tile in schedule order, rows × cols int8 weight levels, array row by array row
 *   select.bin      the same cells' multiplexer selects (uint8; 255: the cell holds no weight)
 *   routing.bin     per tile, rows × alpha int32 (little-endian): the input column on each multiplexer
 *                   input of each array row (−1: none), i.e. the column group that row takes
 *   scales.bin      float32 per output row of each product, in product order
 *   bias.bin        float32: per layer b_ih then b_hh (4·hidden each), then the decoder's bias
 *   embedding.bin   float32 [vocab][embed]: each token's input vector
 *   gates.bin       int16 (Q2.14): the sigmoid then the tanh table (only for lut/pwl gates)
 *
 * Cells outside a partial tile are empty (level 0, select 255) and their routing −1. The reader trusts
 * nothing: sizes against the manifest and against the shapes, checksums, every level against wbits, every
 * select against its group, routing columns inside the input and in one group each, the same routing in
 * every tile of a row block, each (product, row block, column block) once and in schedule order, the
 * schedule's cycles against the tile model, floats finite, the gate tables against the gate unit. Then it
 * rebuilds the program that the executor runs. */
#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "codegen/systolic/systolic.h"
#include "support/alloc.h"
#include "support/err.h"
#include "support/json.h"
#include "support/limits.h"
#include "support/sha256.h"
#include "support/text.h"

#define SA_IMAGE_FORMAT "lstmc-systolic-images"
#define SA_IMAGE_VERSION 1

enum { F_WEIGHTS, F_SELECT, F_ROUTING, F_SCALES, F_BIAS, F_EMBED, F_GATES, F_COUNT };
static const char *const file_names[F_COUNT] = {"weights.bin", "select.bin",    "routing.bin", "scales.bin",
                                                "bias.bin",    "embedding.bin", "gates.bin"};

static int gate_points(int kind, int n) { return kind == SA_GATES_EXACT ? 0 : kind == SA_GATES_PWL ? n + 1 : n; }

/* ---- writing ------------------------------------------------------------------------------------------ */

typedef struct OutFile {
  FILE *f;
  Sha256 h;
  uint64_t bytes;
  int failed;
} OutFile;

static void put(OutFile *o, const void *data, size_t n) {
  if (o->failed || !n) return;
  if (fwrite(data, 1, n, o->f) != n) o->failed = 1;
  sha256_update(&o->h, data, n);
  o->bytes += n;
}

static void put_u32(OutFile *o, uint32_t v) {
  uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
  put(o, b, 4);
}

static void put_f32(OutFile *o, float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  put_u32(o, u);
}

static void put_floats(OutFile *o, const float *v, int64_t n) {
  for (int64_t i = 0; i < n; i++) put_f32(o, v[i]);
}

static void put_i16(OutFile *o, int16_t v) {
  uint8_t b[2] = {(uint8_t)((uint16_t)v), (uint8_t)((uint16_t)v >> 8)};
  put(o, b, 2);
}

static char *join(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = lx_malloc(n);
  if (p) snprintf(p, n, "%s/%s", dir, name);
  return p;
}

int sa_image_write(const SaProgram *p, const char *dir) {
  const SystolicConfig *c = &p->cfg;
  struct stat sb;
  if (stat(dir, &sb) == 0) {
    if (!S_ISDIR(sb.st_mode)) return lx_fail(LSTMC_ERR_IO, "cannot write the images into '%s': it is not a folder", dir);
  } else if (mkdir(dir, 0777) != 0) {
    return lx_fail(LSTMC_ERR_IO, "cannot create the folder '%s': %s", dir, strerror(errno));
  }
  OutFile out[F_COUNT];
  memset(out, 0, sizeof out);
  int st = 0, nfiles = c->gates == SA_GATES_EXACT ? F_COUNT - 1 : F_COUNT;
  for (int k = 0; k < nfiles && !st; k++) {
    char *path = join(dir, file_names[k]);
    if (!path) st = lx_nomem("writing the images");
    else if (!(out[k].f = fopen(path, "wb"))) st = lx_fail(LSTMC_ERR_IO, "cannot create '%s': %s", path, strerror(errno));
    lx_free(path);
    sha256_init(&out[k].h);
  }
  int64_t A = c->rows, B = c->cols, al = c->alpha;
  int8_t *wrow = lx_malloc((size_t)B + 1);
  uint8_t *srow = lx_malloc((size_t)B + 1);
  if (!st && (!wrow || !srow)) st = lx_nomem("writing the images");
  for (int64_t k = 0; !st && k < p->ntiles; k++) {
    const SaTile *t = &p->tiles[k];
    const SaProduct *pr = &p->products[t->product];
    for (int64_t i = 0; i < A; i++) {
      int64_t g = (int64_t)t->row_block * A + i;
      for (int64_t j = 0; j < B; j++) {
        int64_t r = (int64_t)t->col_block * B + j;
        int inside = i < t->a && j < t->b;
        wrow[j] = inside ? pr->level[r * pr->ngroups + g] : 0;
        srow[j] = inside ? pr->sel[r * pr->ngroups + g] : LX_SEL_EMPTY;
      }
      put(&out[F_WEIGHTS], wrow, (size_t)B);
      put(&out[F_SELECT], srow, (size_t)B);
      for (int64_t s = 0; s < al; s++) {
        int32_t col = -1;
        if (i < t->a && s < pr->group_off[g + 1] - pr->group_off[g]) col = pr->group_cols[pr->group_off[g] + s];
        put_u32(&out[F_ROUTING], (uint32_t)col);
      }
    }
  }
  lx_free(wrow);
  lx_free(srow);
  if (!st) {
    for (int i = 0; i < p->nproducts; i++) put_floats(&out[F_SCALES], p->products[i].scale, p->products[i].rows);
    for (int l = 0; l < p->nlayers; l++) {
      put_floats(&out[F_BIAS], p->layers[l].b_ih, 4 * p->layers[l].hidden);
      put_floats(&out[F_BIAS], p->layers[l].b_hh, 4 * p->layers[l].hidden);
    }
    put_floats(&out[F_BIAS], p->b_dec, p->vocab);
    put_floats(&out[F_EMBED], p->embed, p->vocab * p->embed_dim);
    int npts = gate_points(c->gates, c->gate_n);
    for (int k = 0; k < npts; k++) put_i16(&out[F_GATES], p->gt.sigmoid[k]);
    for (int k = 0; k < npts; k++) put_i16(&out[F_GATES], p->gt.tanh[k]);
  }
  uint8_t digest[F_COUNT][32];
  for (int k = 0; k < nfiles; k++) {
    if (out[k].f && fclose(out[k].f)) out[k].failed = 1;
    if (!st && out[k].failed) st = lx_fail(LSTMC_ERR_IO, "cannot write '%s/%s'", dir, file_names[k]);
    sha256_final(&out[k].h, digest[k]);
  }
  if (st) return st;
  /* the schedule of one token from an empty array, one stream */
  SaTileTime *tt = lx_malloc(((size_t)p->ntiles + 1) * sizeof *tt);
  SaCycleStats cs;
  if (!tt) return lx_nomem("writing the images");
  if ((st = sa_schedule(p, 1, 1, 0, tt)) || (st = sa_cycle_stats(p, 1, &cs))) {
    lx_free(tt);
    return st;
  }
  StrBuf m;
  sb_init(&m);
  char g[24];
  sb_printf(&m, "{\n  \"format\": \"%s\",\n  \"version\": %d,\n  \"model\": ", SA_IMAGE_FORMAT, SA_IMAGE_VERSION);
  sb_json_string(&m, p->model, strlen(p->model));
  sb_puts(&m, ",\n  \"pipeline\": ");
  sb_json_string(&m, p->pipeline, strlen(p->pipeline));
  sb_printf(&m,
            ",\n  \"array\": {\"rows\": %d, \"cols\": %d, \"alpha\": %d, \"wbits\": %d, \"abits\": %d, \"accbits\": %d, "
            "\"gates\": \"%s\", \"load\": \"%s\", \"resident\": %lld, \"gate_latency\": %lld},\n",
            c->rows, c->cols, c->alpha, c->wbits, c->abits, c->accbits, sa_gates_text(c->gates, c->gate_n, g, sizeof g),
            sa_load_name(c->load), (long long)c->resident, (long long)c->gate_latency);
  sb_printf(&m, "  \"vocab_size\": %lld,\n  \"embed_dim\": %lld,\n  \"layers\": [", (long long)p->vocab,
            (long long)p->embed_dim);
  for (int l = 0; l < p->nlayers; l++)
    sb_printf(&m, "%s{\"input\": %lld, \"hidden\": %lld, \"w_hh\": %d, \"w_ih\": %d}", l ? ", " : "",
              (long long)p->layers[l].in, (long long)p->layers[l].hidden, p->layers[l].w_hh, p->layers[l].w_ih);
  sb_printf(&m, "],\n  \"decoder\": %d,\n  \"products\": [\n", p->dec);
  int64_t scale_off = 0;
  for (int i = 0; i < p->nproducts; i++) {
    const SaProduct *pr = &p->products[i];
    sb_puts(&m, "    {\"name\": ");
    sb_json_string(&m, pr->name, strlen(pr->name));
    sb_printf(&m,
              ", \"rows\": %lld, \"cols\": %lld, \"groups\": %lld, \"encoding\": \"%s\", \"first_tile\": %lld, "
              "\"tiles\": %lld, \"scales\": %lld}%s\n",
              (long long)pr->rows, (long long)pr->cols, (long long)pr->ngroups, enc_name(pr->enc),
              (long long)pr->first_tile, (long long)pr->ntiles, (long long)scale_off, i + 1 < p->nproducts ? "," : "");
    scale_off += pr->rows;
  }
  sb_puts(&m, "  ],\n  \"files\": {");
  for (int k = 0; k < nfiles; k++) {
    char hex[65];
    sha256_hex(digest[k], hex);
    sb_printf(&m, "%s\n    \"%s\": {\"bytes\": %llu, \"sha256\": \"%s\"}", k ? "," : "", file_names[k],
              (unsigned long long)out[k].bytes, hex);
  }
  sb_printf(&m,
            "\n  },\n  \"cycles\": {\"per_token\": %lld, \"gen_per_token\": %lld, \"first_token\": %lld, "
            "\"preload\": %lld},\n",
            (long long)cs.cycles_per_token, (long long)cs.gen_cycles_per_token, (long long)cs.first_token_cycles,
            (long long)cs.preload_cycles);
  sb_puts(&m, "  \"tile_fields\": [\"product\", \"row_block\", \"col_block\", \"rows\", \"cols\", \"load\", \"swap\", "
              "\"start\", \"done\"],\n  \"tiles\": [");
  for (int64_t k = 0; k < p->ntiles; k++) {
    const SaTile *t = &p->tiles[k];
    sb_printf(&m, "%s[%d, %d, %d, %d, %d, %lld, %lld, %lld, %lld]", k ? (k % 4 ? ", " : ",\n    ") : "\n    ", t->product,
              t->row_block, t->col_block, t->a, t->b, (long long)tt[k].load, (long long)tt[k].swap,
              (long long)tt[k].start, (long long)tt[k].done);
  }
  sb_puts(&m, "\n  ]\n}\n");
  lx_free(tt);
  if (m.failed) {
    sb_free(&m);
    return lx_nomem("writing the manifest");
  }
  char *path = join(dir, "manifest.json");
  FILE *f = path ? fopen(path, "wb") : NULL;
  if (!path) st = lx_nomem("writing the manifest");
  else if (!f) st = lx_fail(LSTMC_ERR_IO, "cannot create '%s': %s", path, strerror(errno));
  else {
    int ok = fwrite(m.data, 1, m.len, f) == m.len;
    if (fclose(f) || !ok) st = lx_fail(LSTMC_ERR_IO, "cannot write '%s'", path);
  }
  lx_free(path);
  sb_free(&m);
  return st;
}

/* ---- reading ------------------------------------------------------------------------------------------ */

typedef struct Reader {
  const SaImageSource *src;
  Json *man;
  uint8_t *data[F_COUNT];
  size_t len[F_COUNT];
} Reader;

#define MANIFEST "manifest.json"

static int bad(const Reader *r, const char *file, const char *fmt, ...) LX_PRINTF(3, 4);
static int bad(const Reader *r, const char *file, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return lx_fail(LSTMC_ERR_FORMAT, "%s/%s: %s", r->src->where, file, msg);
}

/* member `key` of obj (described as `path` in messages) as an integer in [lo, hi] */
static int get_i64(const Reader *r, const Json *obj, const char *path, const char *key, int64_t lo, int64_t hi, int64_t *out) {
  const Json *v = json_get(obj, key);
  if (!v) return bad(r, MANIFEST, "%s%s%s is missing", path, *path ? "." : "", key);
  if (v->type != JSON_NUMBER || json_as_i64(v, out) || *out < lo || *out > hi)
    return bad(r, MANIFEST, "%s%s%s must be an integer in [%lld, %lld], not %s%s", path, *path ? "." : "", key,
               (long long)lo, (long long)hi, v->type == JSON_NUMBER ? v->text : "a ",
               v->type == JSON_NUMBER ? "" : json_type_name(v->type));
  return 0;
}

static int get_str(const Reader *r, const Json *obj, const char *path, const char *key, const char **out) {
  const Json *v = json_get(obj, key);
  if (!v) return bad(r, MANIFEST, "%s%s%s is missing", path, *path ? "." : "", key);
  if (v->type != JSON_STRING || strlen(v->text) != v->text_len)
    return bad(r, MANIFEST, "%s%s%s must be a string, not a %s", path, *path ? "." : "", key, json_type_name(v->type));
  *out = v->text;
  return 0;
}

static const Json *get_array(const Reader *r, const Json *obj, const char *key, int *st) {
  const Json *v = json_get(obj, key);
  if (*st) return NULL;
  if (!v) *st = bad(r, MANIFEST, "%s is missing", key);
  else if (v->type != JSON_ARRAY) *st = bad(r, MANIFEST, "%s must be an array, not a %s", key, json_type_name(v->type));
  return *st ? NULL : v;
}

static uint32_t le32(const uint8_t *b) { return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24; }

static float lef32(const uint8_t *b) {
  uint32_t u = le32(b);
  float f;
  memcpy(&f, &u, 4);
  return f;
}

/* n finite floats from file k at byte offset off into dst. */
static int read_floats(const Reader *r, int k, size_t off, int64_t n, float *dst, const char *what) {
  for (int64_t i = 0; i < n; i++) {
    dst[i] = lef32(r->data[k] + off + 4 * (size_t)i);
    if (!isfinite(dst[i])) return bad(r, file_names[k], "%s: value %lld is not finite", what, (long long)i);
  }
  return 0;
}

/* Reads file k, checks its size and checksum against the manifest (and its size against `want`). */
static int load_file(Reader *r, const Json *files, int k, uint64_t want) {
  const Json *e = json_get(files, file_names[k]);
  if (!e || e->type != JSON_OBJECT) return bad(r, MANIFEST, "files.%s is missing", file_names[k]);
  int64_t bytes;
  const char *sha;
  char path[64];
  snprintf(path, sizeof path, "files.%s", file_names[k]);
  int st = get_i64(r, e, path, "bytes", 0, INT64_MAX / 2, &bytes);
  if (!st) st = get_str(r, e, path, "sha256", &sha);
  if (st) return st;
  if ((uint64_t)bytes != want)
    return bad(r, MANIFEST, "%s.bytes is %lld, but the model it describes needs %llu bytes", path, (long long)bytes,
               (unsigned long long)want);
  if ((st = r->src->read(r->src->ctx, file_names[k], &r->data[k], &r->len[k]))) return st;
  if (r->len[k] != want)
    return bad(r, file_names[k], "the file has %llu bytes, the manifest says %llu", (unsigned long long)r->len[k],
               (unsigned long long)want);
  uint8_t d[32];
  char hex[65];
  sha256(r->data[k], r->len[k], d);
  sha256_hex(d, hex);
#ifndef LSTMC_FUZZING /* the fuzz target's mutations must reach the checks behind this one */
  if (strcmp(hex, sha)) return bad(r, file_names[k], "its SHA-256 is %s, the manifest says %s: the file is not the one described", hex, sha);
#endif
  return 0;
}

static int read_config(Reader *r, const Json *arr, SystolicConfig *c) {
  if (!arr || arr->type != JSON_OBJECT) return bad(r, MANIFEST, "array must be an object");
  int64_t v[8];
  static const char *const keys[] = {"rows", "cols", "alpha", "wbits", "abits", "accbits", "resident", "gate_latency"};
  for (int k = 0; k < 8; k++) {
    int st = get_i64(r, arr, "array", keys[k], 0, SA_MAX_CYCLES_SETTING, &v[k]);
    if (st) return st;
  }
  sa_config_default(c);
  c->rows = (int)v[0], c->cols = (int)v[1], c->alpha = (int)v[2], c->wbits = (int)v[3], c->abits = (int)v[4];
  c->accbits = (int)v[5], c->resident = v[6], c->gate_latency = v[7];
  const char *gates, *load;
  int st = get_str(r, arr, "array", "gates", &gates);
  if (!st) st = get_str(r, arr, "array", "load", &load);
  if (!st) st = sa_gates_parse(gates, &c->gates, &c->gate_n);
  if (!st) st = sa_load_parse(load, &c->load);
  if (!st) st = sa_config_check(c);
  if (!st && c->alpha < 1) st = lx_fail(LSTMC_ERR_FORMAT, "alpha must be at least 1");
  if (st) return bad(r, MANIFEST, "array: %s", lstmc_errmsg());
  return 0;
}

/* The products and tiles from the manifest, the cells from weights/select/routing. */
static int read_products(Reader *r, SaProgram *p, const Json *prods) {
  const SystolicConfig *c = &p->cfg;
  int64_t A = c->rows, B = c->cols, al = c->alpha, ntiles = 0;
  int L = p->nlayers;
  if (json_len(prods) != (size_t)(2 * L + 1))
    return bad(r, MANIFEST, "products has %zu entries; %d layers and a decoder need %d", json_len(prods), L, 2 * L + 1);
  p->products = lx_calloc((size_t)(2 * L + 1), sizeof *p->products);
  if (!p->products) return lx_nomem("reading the images");
  p->nproducts = 2 * L + 1;
  for (int i = 0; i < p->nproducts; i++) {
    const Json *o = json_at(prods, (size_t)i);
    SaProduct *pr = &p->products[i];
    char path[48];
    snprintf(path, sizeof path, "products[%d]", i);
    if (o->type != JSON_OBJECT) return bad(r, MANIFEST, "%s must be an object", path);
    /* the shape each product must have: W_hh then W_ih of each layer, then the decoder */
    int layer = i / 2;
    int64_t rows = i == 2 * L ? p->vocab : 4 * p->layers[layer].hidden;
    int64_t cols = i == 2 * L ? p->layers[L - 1].hidden : i % 2 == 0 ? p->layers[layer].hidden : p->layers[layer].in;
    int64_t v[6];
    static const char *const keys[] = {"rows", "cols", "groups", "first_tile", "tiles", "scales"};
    for (int k = 0; k < 6; k++) {
      int st = get_i64(r, o, path, keys[k], 0, INT32_MAX, &v[k]);
      if (st) return st;
    }
    if (v[0] != rows || v[1] != cols)
      return bad(r, MANIFEST, "%s is %lldx%lld; the layers make it %lldx%lld", path, (long long)v[0], (long long)v[1],
                 (long long)rows, (long long)cols);
    const char *name, *enc;
    int st = get_str(r, o, path, "name", &name);
    if (!st) st = get_str(r, o, path, "encoding", &enc);
    if (st) return st;
    pr->enc = -1;
    for (int e = 0; e < LX_ENC_COUNT; e++)
      if (lx_enc_max_level(e) > 0 && !strcmp(enc, enc_name(e))) pr->enc = e;
    if (pr->enc < 0) return bad(r, MANIFEST, "%s.encoding must be q8, q4, ternary or binary, not '%s'", path, enc);
    pr->rows = rows;
    pr->cols = cols;
    pr->ngroups = v[2];
    pr->row_blocks = (v[2] + A - 1) / A;
    pr->col_blocks = (rows + B - 1) / B;
    if (v[3] != ntiles || v[4] != pr->row_blocks * pr->col_blocks)
      return bad(r, MANIFEST, "%s: tiles %lld from %lld; %lld groups and %lld rows on a %lldx%lld array make %lld from %lld",
                 path, (long long)v[4], (long long)v[3], (long long)v[2], (long long)rows, (long long)A, (long long)B,
                 (long long)(pr->row_blocks * pr->col_blocks), (long long)ntiles);
    ntiles += v[4];
    if (!(pr->name = lx_strdup(name))) return lx_nomem("reading the images");
  }
  /* weights.bin was sized from the same declarations: this holds unless they lie about the shapes */
  if ((uint64_t)ntiles != r->len[F_WEIGHTS] / (uint64_t)(A * B))
    return bad(r, file_names[F_WEIGHTS], "%llu bytes for %lld tiles of %lldx%lld cells", (unsigned long long)r->len[F_WEIGHTS],
               (long long)ntiles, (long long)A, (long long)B);
  /* the cells */
  int64_t k = 0;
  for (int i = 0; i < p->nproducts; i++) {
    SaProduct *pr = &p->products[i];
    int64_t G = pr->ngroups, R = pr->rows;
    pr->group_off = lx_calloc((size_t)G + 1, sizeof(int32_t));
    pr->group_cols = lx_malloc((size_t)(G * al) * sizeof(int32_t) + 4);
    pr->level = lx_calloc((size_t)(R * G) + 1, 1);
    pr->sel = lx_malloc((size_t)(R * G) + 1);
    pr->scale = lx_malloc((size_t)R * sizeof(float));
    uint8_t *used = lx_calloc((size_t)pr->cols + 1, 1);
    if (!pr->group_off || !pr->group_cols || !pr->level || !pr->sel || !pr->scale || !used) {
      lx_free(used);
      return lx_nomem("reading the images");
    }
    memset(pr->sel, LX_SEL_EMPTY, (size_t)(R * G));
    int st = 0;
    for (int64_t jb = 0; jb < pr->col_blocks && !st; jb++)
      for (int64_t ib = 0; ib < pr->row_blocks && !st; ib++, k++) {
        int64_t a = G - ib * A < A ? G - ib * A : A, b = R - jb * B < B ? R - jb * B : B;
        const int8_t *w = (const int8_t *)r->data[F_WEIGHTS] + k * A * B;
        const uint8_t *s = r->data[F_SELECT] + k * A * B, *route = r->data[F_ROUTING] + (size_t)(k * A * al) * 4;
        for (int64_t ii = 0; ii < A && !st; ii++) {
          int64_t g = ib * A + ii, size = 0, prev = -1;
          /* routing: a group's columns, ascending, then −1; the same in every column block */
          for (int64_t x = 0; x < al && !st; x++) {
            int32_t col = (int32_t)le32(route + (size_t)(ii * al + x) * 4);
            if (ii >= a || col == -1) {
              if (col != -1)
                st = bad(r, file_names[F_ROUTING], "tile %lld, array row %lld: input %lld routes column %d, but the row is outside the tile",
                         (long long)k, (long long)ii, (long long)x, col);
              continue;
            }
            if (size != x)
              st = bad(r, file_names[F_ROUTING], "tile %lld, array row %lld: input %lld routes column %d after an unused input",
                       (long long)k, (long long)ii, (long long)x, col);
            else if (col <= prev || col >= pr->cols)
              st = bad(r, file_names[F_ROUTING], "tile %lld, array row %lld: input %lld routes column %d (the %lld inputs of %s, ascending, are expected)",
                       (long long)k, (long long)ii, (long long)x, col, (long long)pr->cols, pr->name);
            else if (jb == 0) {
              if (used[col]) st = bad(r, file_names[F_ROUTING], "tile %lld, array row %lld: column %d is in two groups", (long long)k, (long long)ii, col);
              used[col] = 1;
              pr->group_cols[g * al + size++] = col;
            } else if (x >= pr->group_off[g + 1] - pr->group_off[g] || pr->group_cols[pr->group_off[g] + x] != col) {
              st = bad(r, file_names[F_ROUTING], "tile %lld, array row %lld: the routing differs from the first tile of its row block",
                       (long long)k, (long long)ii);
            } else {
              size++;
            }
            prev = col;
          }
          if (st || ii >= a) continue;
          if (jb == 0) {
            if (!size) st = bad(r, file_names[F_ROUTING], "tile %lld, array row %lld: the group has no column", (long long)k, (long long)ii);
            /* groups are numbered in order: compact the one just read */
            int32_t start = g ? pr->group_off[g] : 0;
            memmove(pr->group_cols + start, pr->group_cols + g * al, (size_t)size * sizeof(int32_t));
            pr->group_off[g + 1] = start + (int32_t)size;
          } else if (size != pr->group_off[g + 1] - pr->group_off[g]) {
            st = bad(r, file_names[F_ROUTING], "tile %lld, array row %lld: the routing differs from the first tile of its row block",
                     (long long)k, (long long)ii);
          }
        }
        int lo = c->wbits == 1 ? -1 : -(1 << (c->wbits - 1)), hi = c->wbits == 1 ? 1 : (1 << (c->wbits - 1)) - 1;
        if (c->wbits > 8) lo = -128, hi = 127;
        for (int64_t ii = 0; ii < A && !st; ii++)
          for (int64_t j = 0; j < B && !st; j++) {
            int lv = w[ii * B + j];
            unsigned sl = s[ii * B + j];
            if (ii >= a || j >= b) {
              if (lv || sl != LX_SEL_EMPTY)
                st = bad(r, file_names[lv ? F_WEIGHTS : F_SELECT], "tile %lld, cell (%lld, %lld) is outside the tile and must be empty",
                         (long long)k, (long long)ii, (long long)j);
              continue;
            }
            int64_t g = ib * A + ii, row = jb * B + j;
            if (sl == LX_SEL_EMPTY) {
              if (lv) st = bad(r, file_names[F_WEIGHTS], "tile %lld, cell (%lld, %lld): an empty cell (select 255) holds level %d", (long long)k, (long long)ii, (long long)j, lv);
              continue;
            }
            if ((int64_t)sl >= pr->group_off[g + 1] - pr->group_off[g])
              st = bad(r, file_names[F_SELECT], "tile %lld, cell (%lld, %lld): select %u is past the %d inputs of its group", (long long)k,
                       (long long)ii, (long long)j, sl, pr->group_off[g + 1] - pr->group_off[g]);
            else if (lv == 0 || lv < lo || lv > hi || (c->wbits == 1 && lv != 1 && lv != -1))
              st = bad(r, file_names[F_WEIGHTS], "tile %lld, cell (%lld, %lld): level %d %s", (long long)k, (long long)ii,
                       (long long)j, lv, lv ? "does not fit the weight registers" : "in a cell that selects an input (an empty cell has select 255)");
            else {
              pr->level[row * G + g] = (int8_t)lv;
              pr->sel[row * G + g] = (uint8_t)sl;
              pr->nnz++;
            }
          }
      }
    lx_free(used);
    if (st) return st;
    /* the groups' columns are now packed at the front */
    for (int64_t g = 0; g < G; g++)
      if (pr->group_off[g + 1] - pr->group_off[g] > pr->max_group) pr->max_group = pr->group_off[g + 1] - pr->group_off[g];
  }
  return 0;
}

static int read_all(Reader *r, SaProgram **out) {
  char err[160];
  uint8_t *text;
  size_t len;
  int st = r->src->read(r->src->ctx, MANIFEST, &text, &len);
  if (st) return st;
  int js = json_parse((const char *)text, len, &r->man, err, sizeof err);
  lx_free(text);
  if (js == JSON_ERR_NOMEM) return lx_nomem("reading the manifest");
  if (js) return bad(r, MANIFEST, "%s", err);
  const Json *m = r->man;
  if (m->type != JSON_OBJECT) return bad(r, MANIFEST, "the manifest must be a JSON object");
  const char *fmt;
  int64_t version;
  if ((st = get_str(r, m, "", "format", &fmt))) return st;
  if (strcmp(fmt, SA_IMAGE_FORMAT)) return bad(r, MANIFEST, "format is '%s', not %s", fmt, SA_IMAGE_FORMAT);
  if ((st = get_i64(r, m, "", "version", 1, INT32_MAX, &version))) return st;
  if (version != SA_IMAGE_VERSION)
    return bad(r, MANIFEST, "version %lld; this lstmc reads version %d", (long long)version, SA_IMAGE_VERSION);
  SaProgram *p = lx_calloc(1, sizeof *p);
  if (!p) return lx_nomem("reading the images");
  *out = p; /* freed by the caller on failure */
  if ((st = read_config(r, json_get(m, "array"), &p->cfg))) return st;
  const SystolicConfig *c = &p->cfg;
  const char *model, *pipeline;
  int64_t V, E, dec;
  if ((st = get_str(r, m, "", "model", &model)) || (st = get_str(r, m, "", "pipeline", &pipeline)) ||
      (st = get_i64(r, m, "", "vocab_size", 1, INT32_MAX, &V)) || (st = get_i64(r, m, "", "embed_dim", 1, INT32_MAX, &E)))
    return st;
  if (!(p->model = lx_strdup(model)) || !(p->pipeline = lx_strdup(pipeline))) return lx_nomem("reading the images");
  p->vocab = V;
  p->embed_dim = E;
  const Json *layers = get_array(r, m, "layers", &st), *prods = get_array(r, m, "products", &st),
             *tiles = get_array(r, m, "tiles", &st);
  if (st) return st;
  int L = (int)json_len(layers);
  if (L < 1 || L > 4096) return bad(r, MANIFEST, "layers must hold 1 to 4096 layers, not %d", L);
  p->layers = lx_calloc((size_t)L, sizeof *p->layers);
  if (!p->layers) return lx_nomem("reading the images");
  p->nlayers = L;
  int64_t bias_floats = V;
  for (int l = 0; l < L; l++) {
    const Json *o = json_at(layers, (size_t)l);
    char path[32];
    snprintf(path, sizeof path, "layers[%d]", l);
    if (o->type != JSON_OBJECT) return bad(r, MANIFEST, "%s must be an object", path);
    int64_t in, hid, whh, wih;
    if ((st = get_i64(r, o, path, "input", 1, INT32_MAX, &in)) || (st = get_i64(r, o, path, "hidden", 1, INT32_MAX / 4, &hid)) ||
        (st = get_i64(r, o, path, "w_hh", 0, INT32_MAX, &whh)) || (st = get_i64(r, o, path, "w_ih", 0, INT32_MAX, &wih)))
      return st;
    int64_t want_in = l ? p->layers[l - 1].hidden : E;
    if (in != want_in) return bad(r, MANIFEST, "%s.input is %lld; the layer below gives %lld", path, (long long)in, (long long)want_in);
    if (whh != 2 * l || wih != 2 * l + 1)
      return bad(r, MANIFEST, "%s: w_hh and w_ih must be products %d and %d (the schedule's order)", path, 2 * l, 2 * l + 1);
    p->layers[l].in = in;
    p->layers[l].hidden = hid;
    p->layers[l].w_hh = (int32_t)whh;
    p->layers[l].w_ih = (int32_t)wih;
    bias_floats += 8 * hid;
  }
  if ((st = get_i64(r, m, "", "decoder", 0, INT32_MAX, &dec))) return st;
  if (dec != 2 * L) return bad(r, MANIFEST, "decoder must be product %d (after the layers' products), not %lld", 2 * L, (long long)dec);
  p->dec = (int32_t)dec;
  /* the files, with the sizes the shapes make; the tiles' count comes from the products */
  const Json *files = json_get(m, "files");
  if (!files || files->type != JSON_OBJECT) return bad(r, MANIFEST, "files must be an object");
  for (size_t i = 0; i < json_len(files); i++) {
    const char *name = json_key_at(files, i, NULL);
    int known = 0;
    for (int k = 0; k < F_COUNT; k++) known |= !strcmp(name, file_names[k]) && (k != F_GATES || c->gates != SA_GATES_EXACT);
    if (!known) return bad(r, MANIFEST, "files lists '%s', which is not one of the images", name);
  }
  /* the products' declared tiles size weights.bin; the reader checks them against the shapes below */
  int64_t ntiles = 0, nrows = 0;
  for (size_t i = 0; i < json_len(prods); i++) {
    const Json *o = json_at(prods, i);
    int64_t t = 0, rows = 0;
    if (o->type == JSON_OBJECT) {
      json_as_i64(json_get(o, "tiles"), &t);
      json_as_i64(json_get(o, "rows"), &rows);
    }
    if (t < 0 || t > INT32_MAX || rows < 0 || rows > INT32_MAX) t = rows = 0;
    ntiles += t;
    nrows += rows;
  }
  uint64_t cells, routes, embed;
  if (__builtin_mul_overflow((uint64_t)ntiles, (uint64_t)c->rows * (uint64_t)c->cols, &cells) ||
      __builtin_mul_overflow((uint64_t)ntiles, (uint64_t)c->rows * (uint64_t)c->alpha * 4, &routes) ||
      __builtin_mul_overflow((uint64_t)V, (uint64_t)E * 4, &embed))
    return bad(r, MANIFEST, "the shapes it declares make images larger than any file");
  uint64_t want[F_COUNT] = {cells, cells, routes, (uint64_t)nrows * 4, (uint64_t)bias_floats * 4, embed,
                            (uint64_t)gate_points(c->gates, c->gate_n) * 4};
  for (int k = 0; k < F_COUNT; k++) {
    if (k == F_GATES && c->gates == SA_GATES_EXACT) continue;
    if ((st = lx_check_mem(want[k], file_names[k])) || (st = load_file(r, files, k, want[k]))) return st;
  }
  if ((st = read_products(r, p, prods))) return st;
  /* float parts */
  size_t off = 0;
  for (int i = 0; i < p->nproducts; i++) {
    if ((st = read_floats(r, F_SCALES, off, p->products[i].rows, p->products[i].scale, p->products[i].name))) return st;
    off += (size_t)p->products[i].rows * 4;
  }
  off = 0;
  for (int l = 0; l < L; l++) {
    int64_t n = 4 * p->layers[l].hidden;
    if (!(p->layers[l].b_ih = lx_malloc((size_t)n * 4)) || !(p->layers[l].b_hh = lx_malloc((size_t)n * 4)))
      return lx_nomem("reading the images");
    char what[48];
    snprintf(what, sizeof what, "layer %d's b_ih", l);
    if ((st = read_floats(r, F_BIAS, off, n, p->layers[l].b_ih, what))) return st;
    snprintf(what, sizeof what, "layer %d's b_hh", l);
    if ((st = read_floats(r, F_BIAS, off + (size_t)n * 4, n, p->layers[l].b_hh, what))) return st;
    off += (size_t)n * 8;
  }
  if (!(p->b_dec = lx_malloc((size_t)V * 4)) || !(p->embed = lx_malloc((size_t)(V * E) * 4))) return lx_nomem("reading the images");
  if ((st = read_floats(r, F_BIAS, off, V, p->b_dec, "the decoder's bias")) ||
      (st = read_floats(r, F_EMBED, 0, V * E, p->embed, "the embedding")))
    return st;
  if ((st = sa_program_finish(p))) return st;
  /* the gate tables the array's gate unit has */
  int npts = gate_points(c->gates, c->gate_n);
  for (int k = 0; k < 2 * npts; k++) {
    const uint8_t *b = r->data[F_GATES] + 2 * k;
    int16_t v = (int16_t)(uint16_t)(b[0] | b[1] << 8), want_v = k < npts ? p->gt.sigmoid[k] : p->gt.tanh[k - npts];
    if (v != want_v)
      return bad(r, file_names[F_GATES], "entry %d of the %s table is %d; the gate unit %s:%d has %d", k % npts,
                 k < npts ? "sigmoid" : "tanh", v, c->gates == SA_GATES_LUT ? "lut" : "pwl", c->gate_n, want_v);
  }
  /* the schedule: each tile where the program puts it, at the cycles the tile model gives */
  if (json_len(tiles) != (size_t)p->ntiles)
    return bad(r, MANIFEST, "tiles lists %zu tiles; the products have %lld", json_len(tiles), (long long)p->ntiles);
  SaTileTime *tt = lx_malloc(((size_t)p->ntiles + 1) * sizeof *tt);
  if (!tt) return lx_nomem("reading the images");
  if ((st = sa_schedule(p, 1, 1, 0, tt))) {
    lx_free(tt);
    return st;
  }
  for (int64_t k = 0; k < p->ntiles && !st; k++) {
    const Json *t = json_at(tiles, (size_t)k);
    const SaTile *w = &p->tiles[k];
    int64_t want_v[9] = {w->product, w->row_block, w->col_block, w->a, w->b, tt[k].load, tt[k].swap, tt[k].start, tt[k].done};
    static const char *const fields[9] = {"product", "row_block", "col_block", "rows", "cols", "load", "swap", "start", "done"};
    if (t->type != JSON_ARRAY || json_len(t) != 9) {
      st = bad(r, MANIFEST, "tiles[%lld] must be an array of 9 integers", (long long)k);
      break;
    }
    for (int f = 0; f < 9 && !st; f++) {
      int64_t v;
      if (json_as_i64(json_at(t, (size_t)f), &v) || v != want_v[f])
        st = bad(r, MANIFEST, "tiles[%lld]: %s is %s; the schedule has %lld", (long long)k, fields[f],
                 json_at(t, (size_t)f)->type == JSON_NUMBER ? json_at(t, (size_t)f)->text : "not an integer", (long long)want_v[f]);
    }
  }
  lx_free(tt);
  if (st) return st;
  /* the cycle counts it states */
  SaCycleStats cs;
  if ((st = sa_cycle_stats(p, 1, &cs))) return st;
  const Json *cyc = json_get(m, "cycles");
  if (!cyc || cyc->type != JSON_OBJECT) return bad(r, MANIFEST, "cycles must be an object");
  static const char *const ckeys[] = {"per_token", "gen_per_token", "first_token", "preload"};
  int64_t cwant[4] = {cs.cycles_per_token, cs.gen_cycles_per_token, cs.first_token_cycles, cs.preload_cycles};
  for (int k = 0; k < 4 && !st; k++) {
    int64_t v;
    if ((st = get_i64(r, cyc, "cycles", ckeys[k], 0, INT64_MAX, &v))) break;
    if (v != cwant[k])
      st = bad(r, MANIFEST, "cycles.%s is %lld; the tile model gives %lld", ckeys[k], (long long)v, (long long)cwant[k]);
  }
  return st;
}

int sa_image_read(const SaImageSource *src, SaProgram **out) {
  *out = NULL;
  Reader r;
  memset(&r, 0, sizeof r);
  r.src = src;
  SaProgram *p = NULL;
  int st = read_all(&r, &p);
  json_free(r.man);
  for (int k = 0; k < F_COUNT; k++) lx_free(r.data[k]);
  if (st) {
    sa_program_free(p);
    return st;
  }
  *out = p;
  return 0;
}

static int dir_read(void *ctx, const char *name, uint8_t **data, size_t *len) {
  char *path = join(ctx, name);
  if (!path) return lx_nomem("reading the images");
  char *text;
  int st = read_file(path, &text, len);
  lx_free(path);
  *data = st ? NULL : (uint8_t *)text;
  return st;
}

int sa_image_read_dir(const char *dir, SaProgram **out) {
  SaImageSource src = {dir_read, (void *)dir, dir};
  return sa_image_read(&src, out);
}
