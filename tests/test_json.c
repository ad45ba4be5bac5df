/* Tests for the strict JSON reader (support/json.h): a table of valid and invalid documents with the exact
 * error message and byte offset, escapes and surrogate pairs, the depth limit, duplicate keys, exact
 * integer conversion, accessors, the excerpt helper, and a failing-allocator sweep (run under ASan by the
 * sanitizer build, which turns any leak on a failure path into a test failure). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "support/alloc.h"
#include "support/json.h"
#include "testutil.h"

typedef struct Case {
  const char *text;
  size_t len;        /* 0: strlen(text) */
  const char *error; /* NULL: must parse; otherwise the exact message */
} Case;

static const Case cases[] = {
    /* valid */
    {"{}", 0, NULL},
    {"[]", 0, NULL},
    {"  [1, 2.5, -0, 1e10, 1E-2, 0.5e+3, -0.0e-0]  ", 0, NULL},
    {"{\"a\":{\"b\":[true,false,null]},\"c\":\"\"}", 0, NULL},
    {"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", 0, NULL},
    {"\"h\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"", 0, NULL},
    {" \t\r\n 7 \n", 0, NULL},
    {"123456789012345678901234567890", 0, NULL},
    {"\"\xef\xbf\xbf\xf4\x8f\xbf\xbf\"", 0, NULL}, /* U+FFFF and U+10FFFF */
    {"{\"a\\u0000b\":1,\"a\\u0000c\":2}", 0, NULL},  /* keys differ after a NUL */
    /* invalid, with exact offsets */
    {"", 0, "byte 0: unexpected end of input, expected a value"},
    {"   ", 0, "byte 3: unexpected end of input, expected a value"},
    {"{\"a\":1,}", 0, "byte 7: expected a string (an object member name)"},
    {"[1,]", 0, "byte 3: expected a value"},
    {"[1,,2]", 0, "byte 3: expected a value"},
    {"[1 2]", 0, "byte 3: expected ',' or ']'"},
    {"[1,2", 0, "byte 4: expected ',' or ']'"},
    {"{\"a\" 1}", 0, "byte 5: expected ':'"},
    {"{\"a\":1 \"b\":2}", 0, "byte 7: expected ',' or '}'"},
    {"{1:2}", 0, "byte 1: expected a string (an object member name)"},
    {"01", 0, "byte 0: numbers must not have leading zeros"},
    {"-012", 0, "byte 0: numbers must not have leading zeros"},
    {"+1", 0, "byte 0: expected a value"},
    {"NaN", 0, "byte 0: expected a value"},
    {"Infinity", 0, "byte 0: expected a value"},
    {"-Infinity", 0, "byte 1: expected a digit"},
    {"-", 0, "byte 1: expected a digit"},
    {".5", 0, "byte 0: expected a value"},
    {"1.", 0, "byte 2: expected a digit after '.'"},
    {"1.e5", 0, "byte 2: expected a digit after '.'"},
    {"1e", 0, "byte 2: expected a digit in the exponent"},
    {"1e+", 0, "byte 3: expected a digit in the exponent"},
    {"'a'", 0, "byte 0: expected a value"},
    {"tru", 0, "byte 0: invalid literal (expected 'true')"},
    {"nul", 0, "byte 0: invalid literal (expected 'null')"},
    {"[true, fals]", 0, "byte 7: invalid literal (expected 'false')"},
    {"\"abc", 0, "byte 0: unterminated string"},
    {"[\"abc\\", 0, "byte 1: unterminated string"},
    {"\"a\x01" "b\"", 0, "byte 2: control character 0x01 in a string must be escaped"},
    {"\"a\tb\"", 0, "byte 2: control character 0x09 in a string must be escaped"},
    {"\"\\x\"", 0, "byte 1: invalid escape sequence"},
    {"\"\\u12\"", 0, "byte 1: \\u must be followed by four hex digits"},
    {"\"\\u12G4\"", 0, "byte 1: \\u must be followed by four hex digits"},
    {"\"ab\\ud800\"", 0, "byte 3: lone surrogate \\uD800 (a high surrogate must be followed by a low one)"},
    {"\"\\ud800\\u0041\"", 0, "byte 1: lone surrogate \\uD800 (a high surrogate must be followed by a low one)"},
    {"\"\\udbff\\udbff\"", 0, "byte 1: lone surrogate \\uDBFF (a high surrogate must be followed by a low one)"},
    {"\"\\udc00\"", 0, "byte 1: lone surrogate \\uDC00 (a low surrogate without a high one)"},
    {"\"\xc0\xaf\"", 0, "byte 1: invalid UTF-8 in a string"},         /* overlong '/' */
    {"\"\xe0\x80\xaf\"", 0, "byte 1: invalid UTF-8 in a string"},     /* overlong, 3 bytes */
    {"\"\xed\xa0\x80\"", 0, "byte 1: invalid UTF-8 in a string"},     /* an encoded surrogate */
    {"\"\xf4\x90\x80\x80\"", 0, "byte 1: invalid UTF-8 in a string"}, /* past U+10FFFF */
    {"\"ab\xe2\x82\"", 0, "byte 3: invalid UTF-8 in a string"},       /* truncated sequence */
    {"\"\x80\"", 0, "byte 1: invalid UTF-8 in a string"},             /* stray continuation byte */
    {"\"\xff\"", 0, "byte 1: invalid UTF-8 in a string"},
    {"\xef\xbb\xbf{}", 0, "byte 0: expected a value"}, /* a byte-order mark is not JSON */
    {"{\"a\":1,\"a\":2}", 0, "byte 7: duplicate key \"a\""},
    {"{\"a\\u0000b\":1,\"a\\u0000b\":2}", 0, "byte 14: duplicate key \"a\\x00b\""},
    {"[1] x", 0, "byte 4: unexpected text after the JSON value"},
    {"{\"a\":1}}", 0, "byte 7: unexpected text after the JSON value"},
    {"[]\0", 3, "byte 2: unexpected text after the JSON value"},
    {"\"a\0b\"", 5, "byte 2: control character 0x00 in a string must be escaped"},
};

static void test_table(void) {
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const Case *c = &cases[i];
    size_t len = c->len ? c->len : strlen(c->text);
    char err[256];
    Json *v = (Json *)1;
    int rc = json_parse(c->text, len, &v, err, sizeof err);
    if (c->error) {
      if (!CHECK_INT_EQ(rc, JSON_ERR_SYNTAX)) fprintf(stderr, "    case %zu: %s\n", i, c->text);
      CHECK(v == NULL);
      if (!CHECK_STR_EQ(err, c->error)) fprintf(stderr, "    case %zu\n", i);
    } else {
      if (!CHECK_INT_EQ(rc, JSON_OK)) fprintf(stderr, "    case %zu: %s: %s\n", i, c->text, err);
      CHECK(rc != JSON_OK || v != NULL);
    }
    json_free(rc == JSON_OK ? v : NULL);
  }
}

static Json *parse_ok(const char *text) {
  char err[256];
  Json *v = NULL;
  int rc = json_parse(text, strlen(text), &v, err, sizeof err);
  if (!CHECK_INT_EQ(rc, JSON_OK)) fprintf(stderr, "    %s\n", err);
  return v;
}

static void test_strings(void) {
  /* A surrogate pair is one code point: U+1F600 is F0 9F 98 80. */
  Json *v = parse_ok("\"\\u00e9\\ud83d\\ude00\\u0041\\u20AC\"");
  if (CHECK(v && v->type == JSON_STRING)) {
    CHECK_INT_EQ(v->text_len, 2 + 4 + 1 + 3);
    CHECK(memcmp(v->text, "\xc3\xa9\xf0\x9f\x98\x80" "A\xe2\x82\xac", 10) == 0);
    CHECK(v->text[v->text_len] == 0);
  }
  json_free(v);
  /* \u0000 keeps an explicit length. */
  v = parse_ok("\"a\\u0000b\"");
  if (CHECK(v)) {
    CHECK_INT_EQ(v->text_len, 3);
    CHECK(memcmp(v->text, "a\0b", 3) == 0);
  }
  json_free(v);
  v = parse_ok("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"");
  if (CHECK(v)) CHECK(v->text_len == 8 && memcmp(v->text, "\"\\/\b\f\n\r\t", 8) == 0);
  json_free(v);
  /* Raw multi-byte UTF-8 is kept as is. */
  v = parse_ok("\"\xf0\x9f\x98\x80\"");
  if (CHECK(v)) CHECK(v->text_len == 4 && memcmp(v->text, "\xf0\x9f\x98\x80", 4) == 0);
  json_free(v);
}

static void test_depth(void) {
  char buf[2 * (JSON_MAX_DEPTH + 1) + 1], err[128];
  Json *v;
  /* exactly the limit: accepted */
  for (int i = 0; i < JSON_MAX_DEPTH; i++) buf[i] = '[';
  for (int i = 0; i < JSON_MAX_DEPTH; i++) buf[JSON_MAX_DEPTH + i] = ']';
  CHECK_INT_EQ(json_parse(buf, 2 * JSON_MAX_DEPTH, &v, err, sizeof err), JSON_OK);
  json_free(v);
  /* one deeper: rejected at the first bracket past the limit */
  for (int i = 0; i <= JSON_MAX_DEPTH; i++) buf[i] = '[';
  for (int i = 0; i <= JSON_MAX_DEPTH; i++) buf[JSON_MAX_DEPTH + 1 + i] = ']';
  CHECK_INT_EQ(json_parse(buf, 2 * (JSON_MAX_DEPTH + 1), &v, err, sizeof err), JSON_ERR_SYNTAX);
  CHECK_STR_EQ(err, "byte 64: nesting deeper than 64 levels");
  /* objects count too, and a deep unterminated document fails cleanly */
  char obj[6 * 70 + 1];
  size_t n = 0;
  for (int i = 0; i < 70; i++) n += (size_t)sprintf(obj + n, "{\"a\":");
  CHECK_INT_EQ(json_parse(obj, n, &v, err, sizeof err), JSON_ERR_SYNTAX);
  CHECK_STR_EQ(err, "byte 320: nesting deeper than 64 levels");
  /* a very deep document never recurses past the limit */
  size_t big = 1000000;
  char *deep = malloc(big);
  if (CHECK(deep)) {
    memset(deep, '[', big);
    CHECK_INT_EQ(json_parse(deep, big, &v, err, sizeof err), JSON_ERR_SYNTAX);
    free(deep);
  }
}

static void test_duplicates(void) {
  /* More than 8 keys takes the sorting path; the repeat reported is the first one in source order. */
  char doc[512], err[128];
  size_t n = (size_t)sprintf(doc, "{");
  size_t off_k3_again = 0;
  for (int i = 0; i < 20; i++) {
    int k = i == 15 ? 3 : i == 17 ? 5 : i;
    if (i) doc[n++] = ',';
    if (i == 15) off_k3_again = n;
    n += (size_t)sprintf(doc + n, "\"k%d\":%d", k, i);
  }
  doc[n++] = '}';
  Json *v;
  CHECK_INT_EQ(json_parse(doc, n, &v, err, sizeof err), JSON_ERR_SYNTAX);
  char want[64];
  snprintf(want, sizeof want, "byte %zu: duplicate key \"k3\"", off_k3_again);
  CHECK_STR_EQ(err, want);
  /* the same keys without repeats are fine; keys keep insertion order */
  v = parse_ok("{\"z\":1,\"y\":2,\"x\":3,\"w\":4,\"v\":5,\"u\":6,\"t\":7,\"s\":8,\"r\":9,\"q\":10}");
  if (CHECK(v)) {
    CHECK_INT_EQ(json_len(v), 10);
    size_t klen;
    CHECK_STR_EQ(json_key_at(v, 0, &klen), "z");
    CHECK_INT_EQ(klen, 1);
    CHECK_STR_EQ(json_key_at(v, 9, NULL), "q");
    CHECK(json_key_at(v, 10, NULL) == NULL);
  }
  json_free(v);
  /* nested objects are checked separately: the same key in two objects is fine */
  v = parse_ok("{\"a\":{\"a\":1},\"b\":{\"a\":2}}");
  json_free(v);
}

static void test_numbers(void) {
  Json *v = parse_ok("[9007199254740993, 18446744073709551615, 18446744073709551616, -1, 1.0, 1e2, -0, "
                     "-9223372036854775808, -9223372036854775809, 9223372036854775807, 9223372036854775808, 0.1, "
                     "1e400, \"7\"]");
  if (!CHECK(v && json_len(v) == 14)) {
    json_free(v);
    return;
  }
  uint64_t u = 0;
  int64_t s = 0;
  CHECK(json_as_u64(json_at(v, 0), &u) == 0 && u == UINT64_C(9007199254740993)); /* not representable in double */
  CHECK(json_as_u64(json_at(v, 1), &u) == 0 && u == UINT64_MAX);
  CHECK(json_as_u64(json_at(v, 2), &u) == -1); /* overflow */
  CHECK(json_as_u64(json_at(v, 3), &u) == -1); /* negative */
  CHECK(json_as_u64(json_at(v, 4), &u) == -1); /* fraction, even .0 */
  CHECK(json_as_u64(json_at(v, 5), &u) == -1); /* exponent */
  CHECK(json_as_u64(json_at(v, 6), &u) == -1); /* -0 */
  CHECK(json_as_i64(json_at(v, 6), &s) == 0 && s == 0);
  CHECK(json_as_i64(json_at(v, 7), &s) == 0 && s == INT64_MIN);
  CHECK(json_as_i64(json_at(v, 8), &s) == -1);
  CHECK(json_as_i64(json_at(v, 9), &s) == 0 && s == INT64_MAX);
  CHECK(json_as_i64(json_at(v, 10), &s) == -1);
  CHECK(json_as_i64(json_at(v, 0), &s) == 0 && s == INT64_C(9007199254740993));
  CHECK(json_as_i64(json_at(v, 3), &s) == 0 && s == -1);
  CHECK(json_as_i64(json_at(v, 4), &s) == -1);
  CHECK(json_as_double(json_at(v, 11)) == 0.1);
  CHECK(json_as_double(json_at(v, 4)) == 1.0);
  CHECK(isinf(json_as_double(json_at(v, 12))));
  CHECK(isnan(json_as_double(json_at(v, 13))));
  CHECK(json_as_u64(json_at(v, 13), &u) == -1); /* a string is not a number */
  CHECK_STR_EQ(json_at(v, 0)->text, "9007199254740993");
  json_free(v);
}

static void test_accessors(void) {
  Json *v = parse_ok("{\"name\":\"w\",\"shape\":[3,4],\"ok\":true,\"none\":null}");
  if (!CHECK(v)) return;
  CHECK(v->type == JSON_OBJECT);
  CHECK_INT_EQ(json_len(v), 4);
  const Json *shape = json_get(v, "shape");
  CHECK(shape && shape->type == JSON_ARRAY && json_len(shape) == 2);
  CHECK(json_at(shape, 2) == NULL);
  CHECK(json_get(v, "missing") == NULL);
  CHECK(json_get(shape, "name") == NULL); /* not an object */
  CHECK(json_get(v, "ok")->type == JSON_BOOL && json_get(v, "ok")->boolean == 1);
  CHECK(json_get(v, "none")->type == JSON_NULL);
  CHECK_STR_EQ(json_get(v, "name")->text, "w");
  CHECK(json_at(v, 1) == shape); /* object values by index */
  CHECK_INT_EQ(json_get(v, "shape")->offset, 20);
  CHECK_INT_EQ(json_len(json_get(v, "ok")), 0);
  CHECK_STR_EQ(json_type_name(JSON_OBJECT), "object");
  CHECK_STR_EQ(json_type_name(JSON_NUMBER), "number");
  json_free(v);
  json_free(NULL);
  /* a NULL err buffer is allowed */
  CHECK_INT_EQ(json_parse("[", 1, &v, NULL, 0), JSON_ERR_SYNTAX);
  /* a short err buffer is truncated, never overrun */
  char small[8];
  CHECK_INT_EQ(json_parse("[1,]", 4, &v, small, sizeof small), JSON_ERR_SYNTAX);
  CHECK_STR_EQ(small, "byte 3:");
}

static void test_excerpt_utf8(void) {
  char out[96];
  json_excerpt(out, sizeof out, "a'b\"c\\d\n\x7f", 9);
  CHECK_STR_EQ(out, "a\\'b\\\"c\\\\d\\x0a\\x7f");
  char lng[200];
  memset(lng, 'x', sizeof lng);
  json_excerpt(out, sizeof out, lng, sizeof lng);
  CHECK_INT_EQ(strlen(out), 63);
  CHECK(strcmp(out + 60, "...") == 0);
  /* cut between characters, never inside one */
  char mb[80];
  size_t n = 0;
  mb[n++] = 'a';
  for (int i = 0; i < 25; i++) n += (size_t)sprintf(mb + n, "\xe2\x82\xac"); /* 1 + 75 bytes */
  json_excerpt(out, sizeof out, mb, n);
  CHECK_INT_EQ(strlen(out), 1 + 19 * 3 + 3);
  CHECK(json_utf8_valid(out, strlen(out)));
  char tiny[8];
  json_excerpt(tiny, sizeof tiny, "abcdefgh", 8);
  CHECK_STR_EQ(tiny, "abcd...");
  CHECK(json_utf8_valid("h\xc3\xa9", 3));
  CHECK(!json_utf8_valid("\xc3", 1));
  CHECK(!json_utf8_valid("\xed\xb0\x80", 3));
}

/* Every allocation the parser makes, failed in turn: each failure must be reported as out of memory
 * and release everything (ASan's leak checker sees the rest). */
static void test_oom_sweep(void) {
  const char *doc = "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"caf\\u00e9 \\ud83d\\ude00\"},"
                    "\"a\":[1,2.5,{\"b\":\"c\",\"d\":[true,false,null,[]]}],"
                    "\"k0\":0,\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,\"k6\":6,\"k7\":7,\"k8\":8,"
                    "\"w\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[0,48]}}";
  int succeeded = 0;
  long n;
  for (n = 0; n < 10000 && !succeeded; n++) {
    char err[64];
    Json *v = (Json *)1;
    lx_alloc_fail_after(n);
    int rc = json_parse(doc, strlen(doc), &v, err, sizeof err);
    lx_alloc_fail_after(-1);
    if (rc == JSON_OK) {
      succeeded = 1;
      CHECK(json_len(v) == 12);
      json_free(v);
    } else {
      if (!CHECK_INT_EQ(rc, JSON_ERR_NOMEM)) fprintf(stderr, "    at allocation %ld: %s\n", n, err);
      CHECK(v == NULL);
      CHECK_STR_EQ(err, "out of memory");
    }
  }
  CHECK(succeeded);
  CHECK(n > 30); /* the sweep really went through many allocations */
}

int main(void) {
  test_table();
  test_strings();
  test_depth();
  test_duplicates();
  test_numbers();
  test_accessors();
  test_excerpt_utf8();
  test_oom_sweep();
  printf("json: %zu table cases\n", sizeof cases / sizeof cases[0]);
  return tu_summary("test_json");
}
