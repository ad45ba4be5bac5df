/* Tests for runtime/safetensors: write/read round trips over every kind of shape, the layout the reference
 * implementation expects (checked byte for byte against a file built by hand the way it writes one), one
 * corrupted file per hardening rule with its exact message, the writer's argument checks and atomicity
 * (a failed write never touches an existing file and leaves no temporary behind), and failing-allocator
 * sweeps over the reader and the writer. Temporary files go under argv[1] (CMake passes the test's binary
 * directory) or /tmp. */
#define _GNU_SOURCE /* nftw */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lstmc.h"
#include "runtime/safetensors.h"
#include "support/alloc.h"
#include "testutil.h"

static char tmpdir[1024];

static void path_join(char *dst, size_t dstsz, const char *name) { snprintf(dst, dstsz, "%s/%s", tmpdir, name); }

/* The whole file, malloc'ed (NULL when it cannot be read). */
static uint8_t *file_slurp(const char *path, size_t *len) {
  FILE *fp = fopen(path, "rb");
  if (!fp) return NULL;
  fseek(fp, 0, SEEK_END);
  long n = ftell(fp);
  fseek(fp, 0, SEEK_SET);
  uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
  if (b && fread(b, 1, (size_t)n, fp) != (size_t)n) {
    free(b);
    b = NULL;
  }
  fclose(fp);
  *len = (size_t)n;
  return b;
}

static int file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* Temporary files the writer left in tmpdir (there must never be any). */
static int count_temp_files(void) {
  DIR *d = opendir(tmpdir);
  int n = 0;
  if (!d) return -1;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strstr(e->d_name, ".tmp.")) n++;
  closedir(d);
  return n;
}

static void put_le64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* An 8-byte length, the header exactly as given (no padding), then dlen data bytes (zeros if data is NULL). */
static size_t file_build(uint8_t *out, const char *header, const void *data, size_t dlen) {
  size_t h = strlen(header);
  put_le64(out, h);
  memcpy(out + 8, header, h);
  if (data) memcpy(out + 8 + h, data, dlen);
  else memset(out + 8 + h, 0, dlen);
  return 8 + h + dlen;
}

static void check_bad_bytes(int line, const uint8_t *buf, size_t n, const char *want) {
  StFile *f = (StFile *)1;
  int rc = st_read_buffer("bad.safetensors", buf, n, &f);
  int ok = CHECK_INT_EQ(rc, LSTMC_ERR_FORMAT);
  ok &= CHECK(f == NULL);
  const char *msg = lstmc_errmsg();
  ok &= CHECK(strncmp(msg, "bad.safetensors: ", 17) == 0);
  ok &= CHECK_CONTAINS(msg, want);
  if (!ok) fprintf(stderr, "    (case at line %d)\n", line);
  if (rc == LSTMC_OK) st_free(f);
}

static void check_bad(int line, const char *header, size_t dlen, const char *want) {
  static uint8_t buf[8192];
  size_t n = file_build(buf, header, NULL, dlen);
  check_bad_bytes(line, buf, n, want);
}
#define EXPECT_BAD(header, dlen, want) check_bad(__LINE__, header, dlen, want)

static void test_dtypes(void) {
  int d = -1;
  CHECK(st_dtype_parse("BF16", &d) == 0 && d == ST_BF16);
  CHECK(st_dtype_parse("BOOL", &d) == 0 && d == ST_BOOL);
  CHECK(st_dtype_parse("F8_E4M3", &d) == -1);
  CHECK(st_dtype_parse("f32", &d) == -1);
  CHECK_STR_EQ(st_dtype_name(ST_F32), "F32");
  CHECK_STR_EQ(st_dtype_name(ST_DTYPE_COUNT), "?");
  CHECK_INT_EQ(st_dtype_size(ST_F64), 8);
  CHECK_INT_EQ(st_dtype_size(ST_BF16), 2);
  CHECK_INT_EQ(st_dtype_size(-1), 0);
  for (int i = 0; i < ST_DTYPE_COUNT; i++) {
    CHECK(st_dtype_parse(st_dtype_name(i), &d) == 0 && d == i);
    if (i) CHECK(st_dtype_size(i) >= st_dtype_size(i - 1)); /* the enum is in increasing size */
  }
}

/* ---- round trips ----------------------------------------------------------------------------------- */

static double rt_scalar = 3.25;
static float rt_vec[5] = {1.0f, -2.0f, 3.5f, 0.0f, 1e-3f};
static int32_t rt_mat[2][3] = {{1, 2, 3}, {-4, -5, -6}};
static uint16_t rt_bf16[3] = {0x3f80, 0xc000, 0x7f80};
static uint8_t rt_bytes[3] = {1, 2, 255};
static uint8_t rt_flags[2] = {1, 0};
static int64_t rt_big[1] = {INT64_MIN};
static uint16_t rt_half[1] = {0x3c00};

#define RT_N 10
static const StWriteTensor rt_tensors[RT_N] = {
    {"u8.bytes", ST_U8, 1, {3}, rt_bytes, 3},
    {"scalar", ST_F64, 0, {0}, &rt_scalar, 8},
    {"rnns.0.vec", ST_F32, 1, {5}, rt_vec, 20},
    {"bf16", ST_BF16, 1, {3}, rt_bf16, 6},
    {"mat", ST_I32, 2, {2, 3}, rt_mat, 24},
    {"empty", ST_F32, 2, {0, 4}, NULL, 0},
    {"flags", ST_BOOL, 1, {2}, rt_flags, 2},
    {"big", ST_I64, 1, {1}, rt_big, 8},
    {"half", ST_F16, 1, {1}, rt_half, 2},
    {"caf\xc3\xa9 \"quoted\\name\"", ST_U8, 1, {1}, rt_bytes, 1},
};
/* Larger elements first, the given order among equals: this is where each tensor must land. */
static const char *const rt_layout[RT_N] = {"scalar", "big",  "rnns.0.vec", "mat",   "empty",
                                            "bf16",   "half", "u8.bytes",   "flags", "caf\xc3\xa9 \"quoted\\name\""};
static const uint64_t rt_begin[RT_N] = {0, 8, 16, 36, 60, 60, 66, 68, 71, 73};
static const char *const rt_meta_keys[2] = {"format", "note"};
static const char *const rt_meta_values[2] = {"pt", "line1\nline2 \"q\" \\ caf\xc3\xa9"};

static void test_round_trip(void) {
  char path[1200];
  path_join(path, sizeof path, "rt.safetensors");
  if (!CHECK_INT_EQ(st_write_file(path, rt_tensors, RT_N, rt_meta_keys, rt_meta_values, 2), LSTMC_OK)) {
    fprintf(stderr, "    %s\n", lstmc_errmsg());
    return;
  }
  StFile *f = NULL;
  if (!CHECK_INT_EQ(st_read_file(path, &f), LSTMC_OK)) {
    fprintf(stderr, "    %s\n", lstmc_errmsg());
    return;
  }
  CHECK_STR_EQ(f->path, path);
  CHECK_INT_EQ(f->ntensors, RT_N);
  for (int i = 0; i < RT_N; i++) {
    const StWriteTensor *w = &rt_tensors[i];
    const StTensor *t = st_find(f, w->name);
    if (!CHECK(t != NULL)) continue;
    CHECK_INT_EQ(t->dtype, w->dtype);
    CHECK_INT_EQ(t->ndim, w->ndim);
    uint64_t nelems = 1;
    for (int d = 0; d < w->ndim; d++) {
      CHECK_INT_EQ(t->shape[d], w->shape[d]);
      nelems *= (uint64_t)w->shape[d];
    }
    CHECK_INT_EQ(t->nelems, nelems);
    CHECK_INT_EQ(t->nbytes, w->nbytes);
    if (w->nbytes) CHECK(memcmp(t->data, w->data, w->nbytes) == 0);
    /* aligned to the element size, relative to the buffer and in memory */
    size_t es = st_dtype_size(t->dtype);
    CHECK_INT_EQ(t->begin % es, 0);
    CHECK_INT_EQ((uintptr_t)t->data % es, 0);
  }
  /* header order = data order = the layout; tensors tile the buffer with no gap (the reference reader
   * rejects gaps), and the buffer starts at a multiple of 8 */
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = hlen << 8 | f->buf[i];
  CHECK_INT_EQ(hlen % 8, 0);
  CHECK_INT_EQ(f->len, 8 + hlen + 74);
  for (int i = 0; i < RT_N && i < f->ntensors; i++) {
    CHECK_STR_EQ(f->tensors[i].name, rt_layout[i]);
    CHECK_INT_EQ(f->tensors[i].begin, rt_begin[i]);
    CHECK(f->tensors[i].data == f->buf + 8 + hlen + rt_begin[i]);
  }
  CHECK(memcmp(f->buf + 8, "{\"__metadata__\":{\"format\":\"pt\",", 31) == 0);
  CHECK(f->buf[8 + hlen - 1] == '}' || f->buf[8 + hlen - 1] == ' ');
  const StTensor *s = st_find(f, "scalar");
  if (CHECK(s)) CHECK(s->ndim == 0 && s->nelems == 1 && s->nbytes == 8);
  const StTensor *e = st_find(f, "empty");
  if (CHECK(e)) CHECK(e->nelems == 0 && e->nbytes == 0 && e->shape[0] == 0 && e->shape[1] == 4);
  CHECK(st_find(f, "missing") == NULL);
  /* metadata */
  CHECK_INT_EQ(f->nmeta, 2);
  size_t len = 0;
  CHECK_STR_EQ(st_meta_get(f, "format", &len), "pt");
  CHECK_INT_EQ(len, 2);
  CHECK_STR_EQ(st_meta_get(f, "note", &len), rt_meta_values[1]);
  CHECK_INT_EQ(len, strlen(rt_meta_values[1]));
  CHECK(st_meta_get(f, "missing", NULL) == NULL);
  st_free(f);
  st_free(NULL);

  /* without metadata, and with no tensors at all */
  CHECK_INT_EQ(st_write_file(path, rt_tensors + 2, 1, NULL, NULL, 0), LSTMC_OK);
  f = NULL;
  if (CHECK_INT_EQ(st_read_file(path, &f), LSTMC_OK)) {
    CHECK(f->nmeta == 0 && f->ntensors == 1);
    CHECK(memcmp(f->buf + 8, "{\"rnns.0.vec\":{", 15) == 0);
  }
  st_free(f);
  CHECK_INT_EQ(st_write_file(path, NULL, 0, NULL, NULL, 0), LSTMC_OK);
  size_t n;
  uint8_t *b = file_slurp(path, &n);
  if (CHECK(b)) CHECK(n == 16 && memcmp(b, "\x08\0\0\0\0\0\0\0{}      ", 16) == 0);
  free(b);
  f = NULL;
  if (CHECK_INT_EQ(st_read_file(path, &f), LSTMC_OK)) CHECK(f->ntensors == 0 && f->nmeta == 0);
  st_free(f);
  CHECK_INT_EQ(count_temp_files(), 0);
}

/* A file built byte by byte the way the reference writer lays one out: __metadata__ first, tensors sorted
 * by decreasing dtype (then name) and contiguous, compact JSON padded with spaces to a multiple of 8. */
static const char ref_header[] =
    "{\"__metadata__\":{\"format\":\"pt\"},"
    "\"scale\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,8]},"
    "\"bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]},"
    "\"half\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[16,18]},"
    "\"mask\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[18,21]}}    ";
static const uint8_t ref_prefix[8] = {0x08, 0x01, 0, 0, 0, 0, 0, 0}; /* 264 */
static const uint8_t ref_data[21] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xe0, 0x3f, /* scale: 0.5 as a little-endian double */
    0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0, /* bias: 1.0f, -2.0f */
    0x00, 0x3c,                                     /* half: 1.0 in IEEE half */
    0x01, 0x00, 0x01,                               /* mask */
};

static void test_reference_file(void) {
  uint8_t ref[8 + 264 + 21];
  CHECK_INT_EQ(sizeof ref_header - 1, 264);
  memcpy(ref, ref_prefix, 8);
  memcpy(ref + 8, ref_header, 264);
  memcpy(ref + 8 + 264, ref_data, sizeof ref_data);

  StFile *f = NULL;
  if (!CHECK_INT_EQ(st_read_buffer("ref.safetensors", ref, sizeof ref, &f), LSTMC_OK)) {
    fprintf(stderr, "    %s\n", lstmc_errmsg());
    return;
  }
  const StTensor *scale = st_find(f, "scale"), *bias = st_find(f, "bias"), *half = st_find(f, "half"),
                 *mask = st_find(f, "mask");
  if (CHECK(scale && bias && half && mask)) {
    double d;
    float fl[2];
    uint16_t h;
    memcpy(&d, scale->data, 8);
    memcpy(fl, bias->data, 8);
    memcpy(&h, half->data, 2);
    CHECK(scale->dtype == ST_F64 && scale->ndim == 0 && d == 0.5);
    CHECK(bias->dtype == ST_F32 && bias->shape[0] == 2 && fl[0] == 1.0f && fl[1] == -2.0f);
    CHECK(half->dtype == ST_F16 && h == 0x3c00);
    CHECK(mask->dtype == ST_U8 && mask->nbytes == 3 && memcmp(mask->data, "\1\0\1", 3) == 0);
  }
  CHECK_STR_EQ(st_meta_get(f, "format", NULL), "pt");
  st_free(f);

  /* our writer, given the same tensors, produces exactly these bytes */
  double scale_v = 0.5;
  float bias_v[2] = {1.0f, -2.0f};
  uint16_t half_v = 0x3c00;
  uint8_t mask_v[3] = {1, 0, 1};
  StWriteTensor w[4] = {
      {"scale", ST_F64, 0, {0}, &scale_v, 8},
      {"bias", ST_F32, 1, {2}, bias_v, 8},
      {"half", ST_F16, 1, {1}, &half_v, 2},
      {"mask", ST_U8, 1, {3}, mask_v, 3},
  };
  /* given in a scrambled order, the layout comes out the same (sizes are all different) */
  StWriteTensor scrambled[4] = {w[3], w[1], w[0], w[2]};
  const char *mk[1] = {"format"}, *mv[1] = {"pt"};
  char path[1200];
  path_join(path, sizeof path, "ours.safetensors");
  CHECK_INT_EQ(st_write_file(path, scrambled, 4, mk, mv, 1), LSTMC_OK);
  size_t n = 0;
  uint8_t *b = file_slurp(path, &n);
  if (CHECK(b)) {
    CHECK_INT_EQ(n, sizeof ref);
    CHECK(n == sizeof ref && memcmp(b, ref, n) == 0);
  }
  free(b);
}

static void test_foreign_layouts(void) {
  /* odd data_offsets: the F32 starts at buffer offset 1; readers memcpy */
  uint8_t buf[512];
  uint8_t data[5] = {7, 0, 0, 0xc0, 0x3f}; /* 7, then 1.5f little-endian */
  size_t n = file_build(buf,
                        "{\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                        "\"f\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[1,5]}}",
                        data, sizeof data);
  StFile *f = NULL;
  if (CHECK_INT_EQ(st_read_buffer("odd.safetensors", buf, n, &f), LSTMC_OK)) {
    const StTensor *t = st_find(f, "f");
    float v = 0;
    if (CHECK(t)) memcpy(&v, t->data, 4);
    CHECK(v == 1.5f);
    CHECK(st_find(f, "b")->data[0] == 7);
  }
  st_free(f);
  /* gaps and unused trailing bytes are accepted; empty tensors overlap nothing */
  n = file_build(buf,
                 "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                 "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
                 "\"z\":{\"dtype\":\"I8\",\"shape\":[0,3],\"data_offsets\":[8,8]},"
                 "\"g\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[12,14]}}",
                 NULL, 20);
  f = NULL;
  if (CHECK_INT_EQ(st_read_buffer("gaps.safetensors", buf, n, &f), LSTMC_OK)) CHECK_INT_EQ(f->ntensors, 4);
  else fprintf(stderr, "    %s\n", lstmc_errmsg());
  st_free(f);
  /* metadata values may hold NUL bytes; whitespace anywhere in the header is fine */
  n = file_build(buf, " { \"__metadata__\" : { \"k\" : \"a\\u0000b\" } } \n", NULL, 0);
  f = NULL;
  if (CHECK_INT_EQ(st_read_buffer("meta.safetensors", buf, n, &f), LSTMC_OK)) {
    size_t len = 0;
    const char *v = st_meta_get(f, "k", &len);
    CHECK(v && len == 3 && memcmp(v, "a\0b", 3) == 0);
    CHECK_INT_EQ(f->ntensors, 0);
  }
  st_free(f);
}

/* ---- corrupted files --------------------------------------------------------------------------------- */

#define F32_2 "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]"

static void test_corrupted(void) {
  uint8_t raw[64];
  /* sizes */
  memset(raw, 0, sizeof raw);
  check_bad_bytes(__LINE__, raw, 5, "file is 5 bytes, too short to hold the 8-byte header length");
  check_bad_bytes(__LINE__, raw, 0, "file is 0 bytes");
  put_le64(raw, 1000);
  memcpy(raw + 8, "{}", 2);
  check_bad_bytes(__LINE__, raw, 10, "header length 1000 is larger than the rest of the file (2 bytes)");
  put_le64(raw, 100000001);
  check_bad_bytes(__LINE__, raw, 10, "header length 100000001 exceeds the limit of 100000000 bytes");
  put_le64(raw, UINT64_MAX);
  check_bad_bytes(__LINE__, raw, 10, "header length 18446744073709551615 exceeds the limit");
  put_le64(raw, 0);
  check_bad_bytes(__LINE__, raw, 8, "header is not valid JSON at header byte 0: unexpected end of input");

  /* the header as JSON */
  EXPECT_BAD("{\"w\":{" F32_2 "}", 8, "header is not valid JSON at header byte 53: expected ',' or '}'");
  EXPECT_BAD("{\"w\":{" F32_2 "},\"w\":{" F32_2 "}}", 8, "at header byte 54: duplicate key \"w\"");
  EXPECT_BAD("{\"w\xff\":{" F32_2 "}}", 8, "at header byte 3: invalid UTF-8 in a string");
  EXPECT_BAD("[1,2]", 0, "header is an array, expected an object");
  EXPECT_BAD("\"x\"", 0, "header is a string, expected an object");

  /* entries */
  EXPECT_BAD("{\"\":{" F32_2 "}}", 8, "bad.safetensors: a tensor has an empty name (header byte 4)");
  EXPECT_BAD("{\"a\\u0000b\":{" F32_2 "}}", 8, "tensor 'a\\x00b': the name contains a NUL byte");
  EXPECT_BAD("{\"w\":[1]}", 0, "tensor 'w': the entry is an array, expected an object (header byte 5)");
  EXPECT_BAD("{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "tensor 'w': missing \"dtype\" (header byte 5)");
  EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, "tensor 'w': missing \"shape\"");
  EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "tensor 'w': missing \"data_offsets\"");
  EXPECT_BAD("{\"w\":{" F32_2 ",\"offsets\":[0,8]}}", 8, "tensor 'w': unknown field \"offsets\"");
  EXPECT_BAD("{\"w\":{\"dtype\":32,\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
             "tensor 'w': \"dtype\" is a number, expected a string (header byte 14)");
  EXPECT_BAD("{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2,
             "tensor 'w': unknown dtype \"F8_E4M3\"");
  EXPECT_BAD("{\"w\":{\"dtype\":\"F32\\u0000\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
             "tensor 'w': unknown dtype \"F32\\x00\"");

  /* shapes */
  EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":3,\"data_offsets\":[0,12]}}", 12,
             "tensor 'w': \"shape\" is a number, expected an array of integers");
  EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,-3],\"data_offsets\":[0,8]}}", 8,
             "tensor 'w': shape[1] is -3, expected a non-negative integer (header byte 31)");
  EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8,
             "tensor 'w': shape[0] is 2.5, expected a non-negative integer");
  EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8,
             "tensor 'w': shape[0] is a string, expected a non-negative integer");
  EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,8]}}", 8,
             "tensor 'w': shape[0] is 99999999999999999999, expected a non-negative integer below 2^63");
  EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[9223372036854775808],\"data_offsets\":[0,8]}}", 8,
             "below 2^63");
  EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
             "tensor 'w': shape has 9 dimensions, at most 8 are supported");
  EXPECT_BAD("{\"w\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,2],\"data_offsets\":[0,8]}}", 8,
             "tensor 'w': shape [4294967296,4294967296]... has too many elements (the count overflows)");
  /* a zero dimension does not hide an overflowing shape (its strides would overflow) */
  EXPECT_BAD("{\"w\":{\"dtype\":\"U8\",\"shape\":[0,4294967296,4294967296],\"data_offsets\":[0,0]}}", 0,
             "has too many elements");
  EXPECT_BAD("{\"w\":{\"dtype\":\"F64\",\"shape\":[2305843009213693952],\"data_offsets\":[0,8]}}", 8,
             "tensor 'w': shape [2305843009213693952] of F64 is too large (its byte size overflows)");

  /* data_offsets */
  EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8,
             "tensor 'w': \"data_offsets\" must be an array of two integers [begin, end]");
  EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":{\"b\":0}}}", 8, "must be an array of two");
  EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,\"8\"]}}", 8,
             "tensor 'w': data_offsets[1] is a string, expected a non-negative integer");
  EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 8,
             "tensor 'w': data_offsets[0] is -8, expected a non-negative integer");
  EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8e0]}}", 8, "data_offsets[1] is 8e0");
  EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,8]}}", 16,
             "tensor 'w': data_offsets [16, 8] end before they begin");
  EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 7,
             "tensor 'w': data_offsets [0, 8] reach past the end of the 7-byte data buffer");
  EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[18446744073709551608,18446744073709551615]}}",
             8, "reach past the end of the 8-byte data buffer");
  EXPECT_BAD("{\"x\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[0,40]}}", 64,
             "bad.safetensors: tensor 'x': shape [3,4] of F32 needs 48 bytes, data_offsets give 40 (header byte 49)");
  EXPECT_BAD("{\"s\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,4]}}", 8,
             "tensor 's': shape [] of F64 needs 8 bytes, data_offsets give 4");
  EXPECT_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
             12, "tensors 'a' (data_offsets [0, 8]) and 'b' (data_offsets [4, 12]) overlap");
  EXPECT_BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[16],\"data_offsets\":[0,16]},"
             "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]},"
             "\"c\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[8,10]}}",
             16, "tensors 'a' (data_offsets [0, 16]) and 'b' (data_offsets [2, 4]) overlap");
  EXPECT_BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
             "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}",
             4, "overlap");

  /* metadata */
  EXPECT_BAD("{\"__metadata__\":[\"a\"]}", 0,
             "\"__metadata__\" is an array, expected an object of strings (header byte 16)");
  EXPECT_BAD("{\"__metadata__\":{\"k\":1}}", 0,
             "\"__metadata__\" value for 'k' is a number, expected a string (header byte 21)");
  EXPECT_BAD("{\"__metadata__\":{\"k\":{}}}", 0, "\"__metadata__\" value for 'k' is an object");
  EXPECT_BAD("{\"__metadata__\":{\"a\\u0000\":\"v\"}}", 0, "\"__metadata__\" key 'a\\x00' contains a NUL byte");

  /* untrusted names are printed safely */
  EXPECT_BAD("{\"\\u001b[31mred\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 8,
             "tensor '\\x1b[31mred': shape [2] of F32 needs 8 bytes");
}

/* ---- I/O errors and the writer ------------------------------------------------------------------------- */

static void test_read_io_errors(void) {
  char path[1200];
  StFile *f = (StFile *)1;
  path_join(path, sizeof path, "does-not-exist.safetensors");
  CHECK_INT_EQ(st_read_file(path, &f), LSTMC_ERR_IO);
  CHECK(f == NULL);
  CHECK_CONTAINS(lstmc_errmsg(), "does-not-exist.safetensors: cannot open: No such file or directory");
  f = (StFile *)1;
  CHECK_INT_EQ(st_read_file(tmpdir, &f), LSTMC_ERR_IO);
  CHECK(f == NULL);
  CHECK_CONTAINS(lstmc_errmsg(), ": not a regular file");
  /* a corrupted file on disk is reported under its path */
  path_join(path, sizeof path, "short.safetensors");
  FILE *fp = fopen(path, "wb");
  if (CHECK(fp)) {
    fwrite("abc", 1, 3, fp);
    fclose(fp);
  }
  CHECK_INT_EQ(st_read_file(path, &f), LSTMC_ERR_FORMAT);
  char want[1300];
  snprintf(want, sizeof want, "%s: file is 3 bytes", path);
  CHECK_CONTAINS(lstmc_errmsg(), want);
}

static void test_writer_checks(void) {
  char path[1200];
  path_join(path, sizeof path, "never.safetensors");
  float v[12] = {0};
  StWriteTensor t[2] = {{"w", ST_F32, 2, {3, 4}, v, 48}, {"b", ST_F32, 1, {2}, v, 8}};
  struct {
    int status;
    const char *want;
  } expect[] = {
      {LSTMC_ERR_USAGE, "never.safetensors: tensor 0 has an empty name"},
      {LSTMC_ERR_USAGE, "tensor name 'w' given twice"},
      {LSTMC_ERR_USAGE, "tensor name '__metadata__' is reserved"},
      {LSTMC_ERR_USAGE, "tensor 'w': 9 dimensions, expected 0 to 8"},
      {LSTMC_ERR_SHAPE, "tensor 'w': shape [3,-4] has a negative dimension"},
      {LSTMC_ERR_SHAPE, "tensor 'w': shape [3,4] of F32 needs 48 bytes, 40 given"},
      {LSTMC_ERR_USAGE, "tensor 'w': invalid dtype 42"},
      {LSTMC_ERR_USAGE, "tensor 'w': no data"},
      {LSTMC_ERR_USAGE, "the name is not valid UTF-8"},
      {LSTMC_ERR_USAGE, "metadata key 'k' given twice"},
  };
  const char *mk[2] = {"k", "k"}, *mv[2] = {"1", "2"};
  for (int c = 0; c < (int)(sizeof expect / sizeof expect[0]); c++) {
    StWriteTensor w[2] = {t[0], t[1]};
    int nmeta = 0;
    switch (c) {
    case 0: w[0].name = ""; break;
    case 1: w[1].name = "w"; break;
    case 2: w[0].name = "__metadata__"; break;
    case 3: w[0].ndim = 9; break;
    case 4: w[0].shape[1] = -4; break;
    case 5: w[0].nbytes = 40; break;
    case 6: w[0].dtype = 42; break;
    case 7: w[0].data = NULL; break;
    case 8: w[1].name = "b\xff"; break;
    case 9: nmeta = 2; break;
    }
    int rc = st_write_file(path, w, 2, mk, mv, nmeta);
    int ok = CHECK_INT_EQ(rc, expect[c].status);
    ok &= CHECK_CONTAINS(lstmc_errmsg(), expect[c].want);
    if (!ok) fprintf(stderr, "    writer case %d\n", c);
  }
  CHECK(!file_exists(path));
  CHECK_INT_EQ(count_temp_files(), 0);
}

static void test_writer_atomicity(void) {
  char path[1300], dirpath[1200];
  float v[16384];
  for (int i = 0; i < 16384; i++) v[i] = (float)i;
  StWriteTensor small = {"w", ST_F32, 1, {4}, v, 16};
  StWriteTensor large = {"w", ST_F32, 1, {16384}, v, sizeof v};

  /* a directory that does not exist: a clean I/O error, and nothing is created */
  path_join(dirpath, sizeof dirpath, "no/such");
  snprintf(path, sizeof path, "%s/x.safetensors", dirpath);
  CHECK_INT_EQ(st_write_file(path, &small, 1, NULL, NULL, 0), LSTMC_ERR_IO);
  CHECK_CONTAINS(lstmc_errmsg(), "x.safetensors: cannot create");
  CHECK_CONTAINS(lstmc_errmsg(), "No such file or directory");
  path_join(dirpath, sizeof dirpath, "no");
  CHECK(!file_exists(dirpath));

  /* an existing file survives a write that fails half-way (the file size limit stops it) */
  path_join(path, sizeof path, "keep.safetensors");
  CHECK_INT_EQ(st_write_file(path, &small, 1, NULL, NULL, 0), LSTMC_OK);
  size_t n0 = 0, n1 = 0;
  uint8_t *before = file_slurp(path, &n0);
  struct rlimit old, lim;
  void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
  if (CHECK(before) && CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0)) {
    lim = old;
    lim.rlim_cur = 4096;
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    int rc = st_write_file(path, &large, 1, NULL, NULL, 0);
    CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
    CHECK_INT_EQ(rc, LSTMC_ERR_IO);
    CHECK_CONTAINS(lstmc_errmsg(), "keep.safetensors: write failed: File too large");
    uint8_t *after = file_slurp(path, &n1);
    CHECK(after && n1 == n0 && memcmp(before, after, n0) == 0);
    free(after);
  }
  signal(SIGXFSZ, old_handler);
  CHECK_INT_EQ(count_temp_files(), 0);

  /* invalid arguments leave it alone too */
  StWriteTensor bad = small;
  bad.nbytes = 12;
  CHECK_INT_EQ(st_write_file(path, &bad, 1, NULL, NULL, 0), LSTMC_ERR_SHAPE);
  uint8_t *after = file_slurp(path, &n1);
  CHECK(after && n1 == n0 && memcmp(before, after, n0) == 0);
  free(after);

  /* the destination is a directory: the rename fails, the directory and its contents stay */
  path_join(dirpath, sizeof dirpath, "adir.safetensors");
  CHECK(mkdir(dirpath, 0755) == 0 || errno == EEXIST);
  char inner[1300];
  snprintf(inner, sizeof inner, "%s/inside", dirpath);
  FILE *fp = fopen(inner, "wb");
  if (CHECK(fp)) fclose(fp);
  CHECK_INT_EQ(st_write_file(dirpath, &small, 1, NULL, NULL, 0), LSTMC_ERR_IO);
  CHECK_CONTAINS(lstmc_errmsg(), "adir.safetensors: rename failed");
  CHECK(file_exists(inner));
  CHECK_INT_EQ(count_temp_files(), 0);

  /* a successful write replaces the file */
  CHECK_INT_EQ(st_write_file(path, &large, 1, NULL, NULL, 0), LSTMC_OK);
  StFile *f = NULL;
  if (CHECK_INT_EQ(st_read_file(path, &f), LSTMC_OK)) CHECK(f->tensors[0].nbytes == sizeof v);
  st_free(f);

  /* out of memory at every allocation of the writer: the old file stays whole */
  CHECK_INT_EQ(st_write_file(path, &small, 1, NULL, NULL, 0), LSTMC_OK);
  const char *mk[2] = {"format", "note"}, *mv[2] = {"pt", "x"};
  int done = 0;
  for (long k = 0; k < 1000 && !done; k++) {
    lx_alloc_fail_after(k);
    int rc = st_write_file(path, rt_tensors, RT_N, mk, mv, 2);
    lx_alloc_fail_after(-1);
    if (rc == LSTMC_OK) {
      done = 1;
    } else {
      CHECK_INT_EQ(rc, LSTMC_ERR_NOMEM);
      after = file_slurp(path, &n1);
      CHECK(after && n1 == n0 && memcmp(before, after, n0) == 0);
      free(after);
    }
  }
  CHECK(done);
  CHECK_INT_EQ(count_temp_files(), 0);
  free(before);
}

/* Every allocation of the reader, failed in turn, on a file with metadata and many tensors. */
static void test_reader_oom_sweep(void) {
  char path[1200];
  path_join(path, sizeof path, "oom.safetensors");
  if (!CHECK_INT_EQ(st_write_file(path, rt_tensors, RT_N, rt_meta_keys, rt_meta_values, 2), LSTMC_OK)) return;
  size_t n = 0;
  uint8_t *bytes = file_slurp(path, &n);
  if (!CHECK(bytes)) return;
  int done = 0;
  long k;
  for (k = 0; k < 10000 && !done; k++) {
    StFile *f = (StFile *)1;
    lx_alloc_fail_after(k);
    int rc = st_read_buffer("oom.safetensors", bytes, n, &f);
    lx_alloc_fail_after(-1);
    if (rc == LSTMC_OK) {
      done = 1;
      CHECK_INT_EQ(f->ntensors, RT_N);
      st_free(f);
    } else {
      if (!CHECK_INT_EQ(rc, LSTMC_ERR_NOMEM)) fprintf(stderr, "    allocation %ld: %s\n", k, lstmc_errmsg());
      CHECK(f == NULL);
      CHECK_CONTAINS(lstmc_errmsg(), "oom.safetensors: out of memory");
    }
  }
  CHECK(done);
  CHECK(k > 20);
  /* and st_read_file's own allocations */
  done = 0;
  for (k = 0; k < 10000 && !done; k++) {
    StFile *f = NULL;
    lx_alloc_fail_after(k);
    int rc = st_read_file(path, &f);
    lx_alloc_fail_after(-1);
    if (rc == LSTMC_OK) done = 1;
    else CHECK_INT_EQ(rc, LSTMC_ERR_NOMEM);
    st_free(f);
  }
  CHECK(done);
  free(bytes);
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) { return remove(path); }

int main(int argc, char **argv) {
  snprintf(tmpdir, sizeof tmpdir, "%s/test_safetensors.XXXXXX", argc > 1 ? argv[1] : "/tmp");
  if (!mkdtemp(tmpdir)) {
    fprintf(stderr, "test_safetensors: cannot create a temporary directory %s: %s\n", tmpdir, strerror(errno));
    return 1;
  }
  test_dtypes();
  test_round_trip();
  test_reference_file();
  test_foreign_layouts();
  test_corrupted();
  test_read_io_errors();
  test_writer_checks();
  test_writer_atomicity();
  test_reader_oom_sweep();
  int rc = tu_summary("test_safetensors");
  /* Leave the directory for inspection when something failed. */
  if (rc == 0 && nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
    fprintf(stderr, "test_safetensors: could not remove %s\n", tmpdir);
  return rc;
}
