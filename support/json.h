/* A strict RFC 8259 JSON reader producing a small DOM, for file headers that must not be ambiguous
 * (safetensors, checkpoints, configuration). Strictness is the point: invalid UTF-8, lone surrogates, raw
 * control characters, leading zeros, NaN/Infinity, trailing garbage and duplicate object keys are all
 * errors, and nesting is limited to JSON_MAX_DEPTH so that a hostile file cannot exhaust the stack.
 * Numbers keep their source text, so integers of any size are read exactly (json_as_u64). Strings keep
 * explicit lengths because "\u0000" is legal. Writing JSON needs no DOM: use sb_json_string (strbuf.h).
 *
 * Memory: json_parse returns a tree owned by the caller and released with json_free; every node, string
 * and array in it belongs to the tree. Pointers returned by the accessors live as long as the tree. */
#ifndef LSTMC_SUPPORT_JSON_H
#define LSTMC_SUPPORT_JSON_H
#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 64 /* arrays/objects nested deeper than this are rejected */

/* json_parse results. */
#define JSON_OK 0
#define JSON_ERR_SYNTAX (-1) /* the text is not valid JSON (or has a duplicate key, or is too deep) */
#define JSON_ERR_NOMEM (-2)  /* an allocation failed; callers report LSTMC_ERR_NOMEM */

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } JsonType;

typedef struct Json Json;
struct Json {
  JsonType type;
  size_t offset;   /* byte offset of the value's first character in the parsed text (for messages) */
  int boolean;     /* JSON_BOOL: 0 or 1 */
  double number;   /* JSON_NUMBER: nearest double (±HUGE_VAL when out of range) */
  char *text;      /* JSON_STRING: the decoded UTF-8 bytes; JSON_NUMBER: the source text. Always
                    * NUL-terminated, but a string may also contain NUL bytes: use text_len. */
  size_t text_len;
  size_t count;    /* JSON_ARRAY, JSON_OBJECT: number of elements / members */
  Json **items;    /* JSON_ARRAY: the elements; JSON_OBJECT: the member values, in source order */
  char **keys;     /* JSON_OBJECT: the decoded member names (NUL-terminated), parallel to items */
  size_t *key_lens;
};

/* Parses exactly `len` bytes of `text` (which need not be NUL-terminated) as one JSON value surrounded by
 * optional whitespace. On success returns JSON_OK and sets *out (free it with json_free). On failure sets
 * *out to NULL, writes "byte N: what is wrong" into err (N is a 0-based offset into text; err may be NULL)
 * and returns JSON_ERR_SYNTAX, or writes "out of memory" and returns JSON_ERR_NOMEM. */
int json_parse(const char *text, size_t len, Json **out, char *err, size_t errsz);
void json_free(Json *v); /* accepts NULL */

/* "null", "boolean", "number", "string", "array", "object" — for messages such as "expected a string,
 * found a number". */
const char *json_type_name(JsonType t);

/* Array length or object member count; 0 for scalars and NULL. */
size_t json_len(const Json *v);
/* Array element i, or object member value i; NULL when out of range or v is a scalar. */
const Json *json_at(const Json *v, size_t i);
/* Object member name i (its byte length in *len when len is not NULL); NULL when out of range. */
const char *json_key_at(const Json *obj, size_t i, size_t *len);
/* The value of member `key` of an object, or NULL (also when obj is not an object). Keys are unique. */
const Json *json_get(const Json *obj, const char *key);

/* Exact integer conversions from the number's source text. Return 0 and set *out, or -1 when v is not a
 * number, or has a fraction or exponent (even "1.0", "1e2"), or is out of range (json_as_u64 also rejects
 * every negative number, "-0" included). */
int json_as_u64(const Json *v, uint64_t *out);
int json_as_i64(const Json *v, int64_t *out);
/* The number's value; NaN when v is not a number. */
double json_as_double(const Json *v);

/* 1 when the n bytes at s are well-formed UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF), the rule json_parse applies to strings; writers check names with it before emitting them. */
int json_utf8_valid(const char *s, size_t n);

/* Writes a printable excerpt of the n bytes at s into dst (no surrounding quotes; always NUL-terminated),
 * for error messages that quote untrusted names: control bytes, quotes and backslashes are escaped C-style,
 * and text past 60 bytes is cut at a character boundary and marked with "...". */
void json_excerpt(char *dst, size_t dstsz, const char *s, size_t n);

#endif
