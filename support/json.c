/* The strict JSON reader (json.h): a recursive-descent parser over a byte range, one function per grammar
 * rule, each reporting the first error with its byte offset. Recursion is bounded by JSON_MAX_DEPTH, so the
 * C stack stays small whatever the input. Strings are read in two passes over the same bytes — the first
 * validates and measures, the second decodes into an allocation of exactly the right size — so a syntax
 * error never depends on whether memory ran out first. Every allocation is checked; on any failure the
 * partial tree is released before returning. */
#include "support/json.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/alloc.h"
#include "support/err.h"

typedef struct JsonParser {
  const unsigned char *s;
  size_t len, pos;
  int depth;
  char *err;
  size_t errsz;
} JsonParser;

static int parse_value(JsonParser *p, Json **out);

static int parse_fail(JsonParser *p, size_t at, const char *fmt, ...) LX_PRINTF(3, 4);
static int parse_fail(JsonParser *p, size_t at, const char *fmt, ...) {
  if (p->err && p->errsz) {
    int n = snprintf(p->err, p->errsz, "byte %zu: ", at);
    if (n >= 0 && (size_t)n < p->errsz) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(p->err + n, p->errsz - (size_t)n, fmt, ap);
      va_end(ap);
    }
  }
  return JSON_ERR_SYNTAX;
}

static int parse_nomem(JsonParser *p) {
  if (p->err && p->errsz) snprintf(p->err, p->errsz, "out of memory");
  return JSON_ERR_NOMEM;
}

static int is_digit(unsigned c) { return c >= '0' && c <= '9'; }

static int at_char(const JsonParser *p, unsigned char c) { return p->pos < p->len && p->s[p->pos] == c; }

/* ws = *( %x20 / %x09 / %x0A / %x0D ) */
static void skip_ws(JsonParser *p) {
  while (p->pos < p->len) {
    unsigned char c = p->s[p->pos];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
    p->pos++;
  }
}

static Json *node_new(JsonType type, size_t offset) {
  Json *v = lx_calloc(1, sizeof *v);
  if (v) {
    v->type = type;
    v->offset = offset;
  }
  return v;
}

/* Grows *arr to hold cap elements of size elem; the old block stays valid when this fails. */
static int array_grow(void **arr, size_t cap, size_t elem) {
  size_t bytes;
  if (lx_mul_size(cap, elem, &bytes)) return -1;
  void *n = lx_realloc(*arr, bytes);
  if (!n) return -1;
  *arr = n;
  return 0;
}

/* The length of the well-formed UTF-8 sequence at s (RFC 3629, table 3-7 of Unicode: no overlong forms,
 * no surrogates, nothing past U+10FFFF), or 0 when the bytes are not one. */
static size_t utf8_seq_len(const unsigned char *s, size_t avail) {
  unsigned c = s[0], lo = 0x80, hi = 0xBF;
  size_t n;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;      /* overlong */
    else if (c == 0xED) hi = 0x9F; /* UTF-16 surrogates */
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;      /* overlong */
    else if (c == 0xF4) hi = 0x8F; /* past U+10FFFF */
  } else {
    return 0;
  }
  if (avail < n || s[1] < lo || s[1] > hi) return 0;
  for (size_t k = 2; k < n; k++)
    if (s[k] < 0x80 || s[k] > 0xBF) return 0;
  return n;
}

/* Encodes code point cp as UTF-8 into dst (when not NULL) and returns its length. */
static size_t utf8_put(char *dst, unsigned long cp) {
  unsigned char b[4];
  size_t n;
  if (cp < 0x80) {
    b[0] = (unsigned char)cp;
    n = 1;
  } else if (cp < 0x800) {
    b[0] = (unsigned char)(0xC0 | (cp >> 6));
    b[1] = (unsigned char)(0x80 | (cp & 0x3F));
    n = 2;
  } else if (cp < 0x10000) {
    b[0] = (unsigned char)(0xE0 | (cp >> 12));
    b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    b[2] = (unsigned char)(0x80 | (cp & 0x3F));
    n = 3;
  } else {
    b[0] = (unsigned char)(0xF0 | (cp >> 18));
    b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    b[3] = (unsigned char)(0x80 | (cp & 0x3F));
    n = 4;
  }
  if (dst) memcpy(dst, b, n);
  return n;
}

/* Four hex digits at s[at..at+3]; -1 when they are missing or not hex. */
static int read_hex4(const JsonParser *p, size_t at, unsigned long *out) {
  if (at > p->len || p->len - at < 4) return -1;
  unsigned long v = 0;
  for (size_t k = 0; k < 4; k++) {
    unsigned c = p->s[at + k];
    unsigned d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return -1;
    v = v << 4 | d;
  }
  *out = v;
  return 0;
}

/* string = quotation-mark *char quotation-mark, starting at the quote at p->pos.
 * With dst NULL: validates and sets *n to the decoded length and *end past the closing quote.
 * With dst: decodes into dst (the bytes were validated by the first pass, so no error can occur).
 * Decoding never lengthens the text (an escape of k bytes decodes to fewer than k), so the decoded length
 * is bounded by the source length. */
static int scan_string(JsonParser *p, char *dst, size_t *n_out, size_t *end) {
  const unsigned char *s = p->s;
  size_t i = p->pos + 1, n = 0;
  for (;;) {
    if (i >= p->len) return parse_fail(p, p->pos, "unterminated string");
    unsigned c = s[i];
    if (c == '"') break;
    if (c < 0x20) return parse_fail(p, i, "control character 0x%02x in a string must be escaped", c);
    if (c == '\\') {
      if (i + 1 >= p->len) return parse_fail(p, p->pos, "unterminated string");
      char simple;
      switch (s[i + 1]) {
      case '"': simple = '"'; break;
      case '\\': simple = '\\'; break;
      case '/': simple = '/'; break;
      case 'b': simple = '\b'; break;
      case 'f': simple = '\f'; break;
      case 'n': simple = '\n'; break;
      case 'r': simple = '\r'; break;
      case 't': simple = '\t'; break;
      case 'u': simple = 0; break;
      default: return parse_fail(p, i, "invalid escape sequence");
      }
      if (s[i + 1] != 'u') {
        if (dst) dst[n] = simple;
        n++;
        i += 2;
        continue;
      }
      unsigned long cp, lo;
      size_t esc = i;
      if (read_hex4(p, i + 2, &cp)) return parse_fail(p, esc, "\\u must be followed by four hex digits");
      i += 6;
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        /* A high surrogate counts only as the first half of a pair written as two escapes. */
        if (i + 1 < p->len && s[i] == '\\' && s[i + 1] == 'u' && read_hex4(p, i + 2, &lo) == 0 && lo >= 0xDC00 &&
            lo <= 0xDFFF) {
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          i += 6;
        } else {
          return parse_fail(p, esc, "lone surrogate \\u%04lX (a high surrogate must be followed by a low one)", cp);
        }
      } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        return parse_fail(p, esc, "lone surrogate \\u%04lX (a low surrogate without a high one)", cp);
      }
      n += utf8_put(dst ? dst + n : NULL, cp);
      continue;
    }
    size_t k = utf8_seq_len(s + i, p->len - i);
    if (!k) return parse_fail(p, i, "invalid UTF-8 in a string");
    if (dst) memcpy(dst + n, s + i, k);
    n += k;
    i += k;
  }
  *n_out = n;
  *end = i + 1;
  return JSON_OK;
}

static int parse_string_bytes(JsonParser *p, char **out, size_t *out_len) {
  size_t n, end;
  int rc = scan_string(p, NULL, &n, &end);
  if (rc) return rc;
  char *d = lx_malloc(n + 1);
  if (!d) return parse_nomem(p);
  scan_string(p, d, &n, &end);
  d[n] = 0;
  p->pos = end;
  *out = d;
  *out_len = n;
  return JSON_OK;
}

/* number = [ "-" ] int [ frac ] [ exp ];  int = "0" / digit1-9 *digit;  frac = "." 1*digit;
 * exp = ("e" / "E") [ "-" / "+" ] 1*digit */
static int parse_number(JsonParser *p, Json **out) {
  const unsigned char *s = p->s;
  size_t start = p->pos, i = start, len = p->len;
  if (i < len && s[i] == '-') i++;
  if (i >= len || !is_digit(s[i])) return parse_fail(p, i, "expected a digit");
  if (s[i] == '0') {
    i++;
    if (i < len && is_digit(s[i])) return parse_fail(p, start, "numbers must not have leading zeros");
  } else {
    while (i < len && is_digit(s[i])) i++;
  }
  if (i < len && s[i] == '.') {
    i++;
    if (i >= len || !is_digit(s[i])) return parse_fail(p, i, "expected a digit after '.'");
    while (i < len && is_digit(s[i])) i++;
  }
  if (i < len && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < len && (s[i] == '+' || s[i] == '-')) i++;
    if (i >= len || !is_digit(s[i])) return parse_fail(p, i, "expected a digit in the exponent");
    while (i < len && is_digit(s[i])) i++;
  }
  Json *v = node_new(JSON_NUMBER, start);
  if (!v) return parse_nomem(p);
  v->text = lx_strndup((const char *)s + start, i - start);
  if (!v->text) {
    lx_free(v);
    return parse_nomem(p);
  }
  v->text_len = i - start;
  /* strtod reads '.' as the decimal point because lstmc never changes LC_NUMERIC from "C". */
  v->number = strtod(v->text, NULL);
  p->pos = i;
  *out = v;
  return JSON_OK;
}

static int parse_literal(JsonParser *p, const char *word, JsonType type, int boolean, Json **out) {
  size_t n = strlen(word);
  if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
    return parse_fail(p, p->pos, "invalid literal (expected '%s')", word);
  Json *v = node_new(type, p->pos);
  if (!v) return parse_nomem(p);
  v->boolean = boolean;
  p->pos += n;
  *out = v;
  return JSON_OK;
}

/* array = begin-array [ value *( value-separator value ) ] end-array */
static int parse_array(JsonParser *p, Json **out) {
  Json *v = node_new(JSON_ARRAY, p->pos);
  if (!v) return parse_nomem(p);
  size_t cap = 0;
  p->pos++;
  skip_ws(p);
  if (at_char(p, ']')) {
    p->pos++;
    *out = v;
    return JSON_OK;
  }
  for (;;) {
    if (v->count == cap) {
      size_t ncap = cap ? cap * 2 : 4;
      if (array_grow((void **)&v->items, ncap, sizeof *v->items)) {
        json_free(v);
        return parse_nomem(p);
      }
      cap = ncap;
    }
    Json *item;
    int rc = parse_value(p, &item);
    if (rc) {
      json_free(v);
      return rc;
    }
    v->items[v->count++] = item;
    skip_ws(p);
    if (at_char(p, ',')) {
      p->pos++;
    } else if (at_char(p, ']')) {
      p->pos++;
      break;
    } else {
      json_free(v);
      return parse_fail(p, p->pos, "expected ',' or ']'");
    }
  }
  *out = v;
  return JSON_OK;
}

typedef struct KeyRef {
  const char *key;
  size_t len, index;
} KeyRef;

static int keyref_cmp(const void *a, const void *b) {
  const KeyRef *x = a, *y = b;
  if (x->len != y->len) return x->len < y->len ? -1 : 1;
  int c = memcmp(x->key, y->key, x->len);
  if (c) return c;
  return x->index < y->index ? -1 : x->index > y->index;
}

/* Rejects an object with a repeated member name, reporting the first repeat in source order. Sorting
 * (rather than hashing) keeps the worst case at O(n log n) even for keys crafted to collide. */
static int check_duplicate_keys(JsonParser *p, const Json *v, const size_t *key_offs) {
  size_t n = v->count, dup = (size_t)-1;
  if (n < 2) return JSON_OK;
  if (n <= 8) {
    for (size_t i = 1; i < n && dup == (size_t)-1; i++)
      for (size_t j = 0; j < i; j++)
        if (v->key_lens[i] == v->key_lens[j] && memcmp(v->keys[i], v->keys[j], v->key_lens[i]) == 0) {
          dup = i;
          break;
        }
  } else {
    size_t bytes;
    KeyRef *refs = NULL;
    if (lx_mul_size(n, sizeof *refs, &bytes) || !(refs = lx_malloc(bytes))) return parse_nomem(p);
    for (size_t i = 0; i < n; i++) refs[i] = (KeyRef){v->keys[i], v->key_lens[i], i};
    qsort(refs, n, sizeof *refs, keyref_cmp);
    /* Equal keys sort together by index; the second of each run is a repeat. */
    for (size_t i = 1; i < n; i++)
      if (refs[i].len == refs[i - 1].len && memcmp(refs[i].key, refs[i - 1].key, refs[i].len) == 0 &&
          refs[i].index < dup)
        dup = refs[i].index;
    lx_free(refs);
  }
  if (dup == (size_t)-1) return JSON_OK;
  char ex[96];
  json_excerpt(ex, sizeof ex, v->keys[dup], v->key_lens[dup]);
  return parse_fail(p, key_offs[dup], "duplicate key \"%s\"", ex);
}

/* object = begin-object [ member *( value-separator member ) ] end-object;  member = string ':' value */
static int parse_object(JsonParser *p, Json **out) {
  Json *v = node_new(JSON_OBJECT, p->pos);
  if (!v) return parse_nomem(p);
  size_t cap = 0, *key_offs = NULL; /* where each key starts, for the duplicate-key message */
  int rc;
  p->pos++;
  skip_ws(p);
  if (at_char(p, '}')) {
    p->pos++;
    *out = v;
    return JSON_OK;
  }
  for (;;) {
    skip_ws(p);
    if (!at_char(p, '"')) {
      rc = parse_fail(p, p->pos, "expected a string (an object member name)");
      goto fail;
    }
    if (v->count == cap) {
      /* Grow all four arrays before reading the member, so that nothing read can be lost. */
      size_t ncap = cap ? cap * 2 : 4;
      if (array_grow((void **)&v->keys, ncap, sizeof *v->keys) ||
          array_grow((void **)&v->key_lens, ncap, sizeof *v->key_lens) ||
          array_grow((void **)&v->items, ncap, sizeof *v->items) ||
          array_grow((void **)&key_offs, ncap, sizeof *key_offs)) {
        rc = parse_nomem(p);
        goto fail;
      }
      cap = ncap;
    }
    size_t key_off = p->pos, klen;
    char *key;
    if ((rc = parse_string_bytes(p, &key, &klen))) goto fail;
    skip_ws(p);
    if (!at_char(p, ':')) {
      lx_free(key);
      rc = parse_fail(p, p->pos, "expected ':'");
      goto fail;
    }
    p->pos++;
    Json *val;
    if ((rc = parse_value(p, &val))) {
      lx_free(key);
      goto fail;
    }
    v->keys[v->count] = key;
    v->key_lens[v->count] = klen;
    v->items[v->count] = val;
    key_offs[v->count] = key_off;
    v->count++;
    skip_ws(p);
    if (at_char(p, ',')) {
      p->pos++;
    } else if (at_char(p, '}')) {
      p->pos++;
      break;
    } else {
      rc = parse_fail(p, p->pos, "expected ',' or '}'");
      goto fail;
    }
  }
  if ((rc = check_duplicate_keys(p, v, key_offs))) goto fail;
  lx_free(key_offs);
  *out = v;
  return JSON_OK;
fail:
  lx_free(key_offs);
  json_free(v);
  return rc;
}

/* value = false / null / true / object / array / number / string, after optional whitespace */
static int parse_value(JsonParser *p, Json **out) {
  skip_ws(p);
  if (p->pos >= p->len) return parse_fail(p, p->pos, "unexpected end of input, expected a value");
  unsigned char c = p->s[p->pos];
  switch (c) {
  case '{':
  case '[': {
    if (p->depth >= JSON_MAX_DEPTH) return parse_fail(p, p->pos, "nesting deeper than %d levels", JSON_MAX_DEPTH);
    p->depth++;
    int rc = c == '{' ? parse_object(p, out) : parse_array(p, out);
    p->depth--;
    return rc;
  }
  case '"': {
    Json *v = node_new(JSON_STRING, p->pos);
    if (!v) return parse_nomem(p);
    int rc = parse_string_bytes(p, &v->text, &v->text_len);
    if (rc) {
      lx_free(v);
      return rc;
    }
    *out = v;
    return JSON_OK;
  }
  case 't': return parse_literal(p, "true", JSON_BOOL, 1, out);
  case 'f': return parse_literal(p, "false", JSON_BOOL, 0, out);
  case 'n': return parse_literal(p, "null", JSON_NULL, 0, out);
  default:
    if (c == '-' || is_digit(c)) return parse_number(p, out);
    return parse_fail(p, p->pos, "expected a value");
  }
}

int json_parse(const char *text, size_t len, Json **out, char *err, size_t errsz) {
  JsonParser p = {(const unsigned char *)text, len, 0, 0, err, errsz};
  *out = NULL;
  if (err && errsz) err[0] = 0;
  Json *v;
  int rc = parse_value(&p, &v);
  if (rc) return rc;
  skip_ws(&p);
  if (p.pos < len) {
    json_free(v);
    return parse_fail(&p, p.pos, "unexpected text after the JSON value");
  }
  *out = v;
  return JSON_OK;
}

void json_free(Json *v) {
  if (!v) return;
  /* Recursion is bounded by JSON_MAX_DEPTH. */
  for (size_t i = 0; i < v->count; i++) {
    json_free(v->items[i]);
    if (v->keys) lx_free(v->keys[i]);
  }
  lx_free(v->items);
  lx_free(v->keys);
  lx_free(v->key_lens);
  lx_free(v->text);
  lx_free(v);
}

const char *json_type_name(JsonType t) {
  switch (t) {
  case JSON_NULL: return "null";
  case JSON_BOOL: return "boolean";
  case JSON_NUMBER: return "number";
  case JSON_STRING: return "string";
  case JSON_ARRAY: return "array";
  case JSON_OBJECT: return "object";
  }
  return "?";
}

size_t json_len(const Json *v) {
  return v && (v->type == JSON_ARRAY || v->type == JSON_OBJECT) ? v->count : 0;
}

const Json *json_at(const Json *v, size_t i) { return i < json_len(v) ? v->items[i] : NULL; }

const char *json_key_at(const Json *obj, size_t i, size_t *len) {
  if (!obj || obj->type != JSON_OBJECT || i >= obj->count) return NULL;
  if (len) *len = obj->key_lens[i];
  return obj->keys[i];
}

const Json *json_get(const Json *obj, const char *key) {
  if (!obj || obj->type != JSON_OBJECT) return NULL;
  size_t n = strlen(key);
  for (size_t i = 0; i < obj->count; i++)
    if (obj->key_lens[i] == n && memcmp(obj->keys[i], key, n) == 0) return obj->items[i];
  return NULL;
}

/* Unsigned decimal digits to a u64; -1 on anything else or overflow. */
static int digits_to_u64(const char *t, size_t n, uint64_t *out) {
  if (n == 0) return -1;
  uint64_t x = 0;
  for (size_t i = 0; i < n; i++) {
    if (!is_digit((unsigned char)t[i])) return -1;
    unsigned d = (unsigned)(t[i] - '0');
    if (x > (UINT64_MAX - d) / 10) return -1;
    x = x * 10 + d;
  }
  *out = x;
  return 0;
}

int json_as_u64(const Json *v, uint64_t *out) {
  if (!v || v->type != JSON_NUMBER) return -1;
  return digits_to_u64(v->text, v->text_len, out);
}

int json_as_i64(const Json *v, int64_t *out) {
  if (!v || v->type != JSON_NUMBER) return -1;
  const char *t = v->text;
  size_t n = v->text_len;
  int neg = n > 0 && t[0] == '-';
  uint64_t x;
  if (digits_to_u64(t + neg, n - (size_t)neg, &x)) return -1;
  if (neg) {
    if (x > (uint64_t)INT64_MAX + 1) return -1;
    *out = x == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)x;
  } else {
    if (x > (uint64_t)INT64_MAX) return -1;
    *out = (int64_t)x;
  }
  return 0;
}

double json_as_double(const Json *v) { return v && v->type == JSON_NUMBER ? v->number : NAN; }

int json_utf8_valid(const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  for (size_t i = 0; i < n;) {
    size_t k = utf8_seq_len(u + i, n - i);
    if (!k) return 0;
    i += k;
  }
  return 1;
}

void json_excerpt(char *dst, size_t dstsz, const char *s, size_t n) {
  enum { MAX_SOURCE_BYTES = 60 };
  if (dstsz < 8) {
    if (dstsz) dst[0] = 0;
    return;
  }
  const unsigned char *u = (const unsigned char *)s;
  size_t o = 0, i = 0;
  while (i < n) {
    char piece[8];
    size_t plen, adv = 1;
    unsigned c = u[i];
    if (c == '\\' || c == '\'' || c == '"') {
      piece[0] = '\\';
      piece[1] = (char)c;
      plen = 2;
    } else if (c < 0x20 || c == 0x7F) {
      plen = (size_t)snprintf(piece, sizeof piece, "\\x%02x", c);
    } else if (c < 0x80) {
      piece[0] = (char)c;
      plen = 1;
    } else if ((adv = utf8_seq_len(u + i, n - i)) != 0) {
      memcpy(piece, u + i, adv);
      plen = adv;
    } else {
      adv = 1;
      plen = (size_t)snprintf(piece, sizeof piece, "\\x%02x", c);
    }
    /* Keep room for "..." and the NUL; stop between characters, never inside one. */
    if (i + adv > MAX_SOURCE_BYTES || o + plen > dstsz - 4) {
      memcpy(dst + o, "...", 3);
      o += 3;
      break;
    }
    memcpy(dst + o, piece, plen);
    o += plen;
    i += adv;
  }
  dst[o] = 0;
}
