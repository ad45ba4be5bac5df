/* Vocabularies: hashing, building from text, tokenizing with exact error places. */
#include "ir/vocab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/graph.h"
#include "support/alloc.h"
#include "support/err.h"

int utf8_decode(const unsigned char *s, size_t len, uint32_t *cp) {
  if (len == 0) return 0;
  unsigned c = s[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  int n;
  uint32_t v, min;
  if ((c & 0xe0) == 0xc0) n = 2, v = c & 0x1f, min = 0x80;
  else if ((c & 0xf0) == 0xe0) n = 3, v = c & 0x0f, min = 0x800;
  else if ((c & 0xf8) == 0xf0) n = 4, v = c & 0x07, min = 0x10000;
  else return 0;
  if (len < (size_t)n) return 0;
  for (int i = 1; i < n; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    v = (v << 6) | (s[i] & 0x3f);
  }
  if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
  *cp = v;
  return n;
}

static uint64_t hash_bytes(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a */
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
  return h;
}

void vocab_free(Vocab *v) {
  if (!v) return;
  if (v->tokens)
    for (int64_t i = 0; i < v->n; i++) lx_free(v->tokens[i]);
  lx_free(v->tokens);
  lx_free(v->lens);
  lx_free(v->table);
  lx_free(v);
}

Vocab *vocab_new_bytes(void) {
  Vocab *v = lx_calloc(1, sizeof *v);
  if (!v) {
    lx_nomem("creating a vocabulary");
    return NULL;
  }
  v->kind = VOCAB_BYTES;
  v->n = 256;
  v->unk = v->eos = -1;
  return v;
}

int32_t vocab_lookup(const Vocab *v, const char *s, size_t n) {
  if (v->kind == VOCAB_BYTES) return n == 1 ? (unsigned char)s[0] : -1;
  size_t mask = v->table_cap - 1;
  for (size_t i = hash_bytes(s, n) & mask;; i = (i + 1) & mask) {
    int32_t id = v->table[i];
    if (id < 0) return -1;
    if (v->lens[id] == n && !memcmp(v->tokens[id], s, n)) return id;
  }
}

int vocab_from_tokens(int kind, const char *const *tokens, const size_t *lens, int64_t n, Vocab **out) {
  *out = NULL;
  if (kind == VOCAB_BYTES) {
    if (n != 256) return lx_fail(LSTMC_ERR_FORMAT, "a bytes vocabulary has 256 tokens, not %lld", (long long)n);
    *out = vocab_new_bytes();
    return *out ? 0 : LSTMC_ERR_NOMEM;
  }
  if (n <= 0 || n > INT32_MAX / 4) return lx_fail(LSTMC_ERR_FORMAT, "vocabulary size %lld out of range", (long long)n);
  Vocab *v = lx_calloc(1, sizeof *v);
  if (!v) return lx_nomem("creating a vocabulary");
  v->kind = kind;
  v->unk = v->eos = -1;
  v->tokens = lx_calloc((size_t)n, sizeof(char *));
  v->lens = lx_calloc((size_t)n, sizeof(size_t));
  v->table_cap = 16;
  while (v->table_cap < (size_t)n * 2) v->table_cap *= 2;
  v->table = lx_malloc(v->table_cap * sizeof(int32_t));
  if (!v->tokens || !v->lens || !v->table) {
    vocab_free(v);
    return lx_nomem("creating a vocabulary");
  }
  memset(v->table, 0xff, v->table_cap * sizeof(int32_t));
  for (int64_t i = 0; i < n; i++) {
    v->n = i; /* so vocab_free sees only what was copied */
    size_t len = lens[i];
    if (len == 0) {
      vocab_free(v);
      return lx_fail(LSTMC_ERR_FORMAT, "vocabulary token %lld is empty", (long long)i);
    }
    if (vocab_lookup(v, tokens[i], len) >= 0) {
      char desc[64];
      vocab_describe_token(tokens[i], len, kind, desc, sizeof desc);
      vocab_free(v);
      return lx_fail(LSTMC_ERR_FORMAT, "vocabulary token %lld (%s) appears twice", (long long)i, desc);
    }
    v->tokens[i] = lx_strndup(tokens[i], len);
    if (!v->tokens[i]) {
      vocab_free(v);
      return lx_nomem("creating a vocabulary");
    }
    v->lens[i] = len;
    size_t mask = v->table_cap - 1, h = hash_bytes(tokens[i], len) & mask;
    while (v->table[h] >= 0) h = (h + 1) & mask;
    v->table[h] = (int32_t)i;
    v->n = i + 1;
  }
  v->unk = vocab_lookup(v, "<unk>", 5);
  v->eos = vocab_lookup(v, "<eos>", 5);
  *out = v;
  return 0;
}

Vocab *vocab_clone(const Vocab *v) {
  if (!v) return NULL;
  Vocab *c = NULL;
  if (vocab_from_tokens(v->kind, (const char *const *)v->tokens, v->lens, v->n, &c)) return NULL;
  return c;
}

void vocab_describe_token(const char *s, size_t n, int kind, char *buf, size_t bufsz) {
  uint32_t cp;
  if (n == 1 && ((unsigned char)s[0] < 0x20 || (unsigned char)s[0] == 0x7f)) {
    snprintf(buf, bufsz, "U+%04X", (unsigned char)s[0]);
  } else if (kind == VOCAB_BYTES && n == 1 && (unsigned char)s[0] >= 0x80) {
    snprintf(buf, bufsz, "byte 0x%02x", (unsigned char)s[0]);
  } else if (kind == VOCAB_CHARS && utf8_decode((const unsigned char *)s, n, &cp) == (int)n && cp >= 0x80) {
    snprintf(buf, bufsz, "'%.*s' (U+%04X)", (int)n, s, (unsigned)cp);
  } else {
    snprintf(buf, bufsz, "'%.*s'", (int)(n > 40 ? 40 : n), s);
  }
}

/* Calls fn(ctx, token bytes, offset) for each token of the text; returns fn's first non-zero result. */
typedef int (*token_fn)(void *ctx, const char *s, size_t n, size_t offset);

static int is_word_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

static int split_tokens(int kind, const char *text, size_t len, const char *fname, token_fn fn, void *ctx) {
  size_t i = 0;
  while (i < len) {
    int st;
    if (kind == VOCAB_BYTES) {
      st = fn(ctx, text + i, 1, i);
      i++;
    } else if (kind == VOCAB_CHARS) {
      uint32_t cp;
      int k = utf8_decode((const unsigned char *)text + i, len - i, &cp);
      if (!k)
        return lx_fail(LSTMC_ERR_DATA, "%s: byte offset %zu: invalid UTF-8 (byte 0x%02x) in a chars model's text",
                       fname, i, (unsigned char)text[i]);
      st = fn(ctx, text + i, (size_t)k, i);
      i += (size_t)k;
    } else {
      if (is_word_space(text[i])) {
        i++;
        continue;
      }
      if (text[i] == '\n') {
        st = fn(ctx, "<eos>", 5, i);
        i++;
      } else {
        size_t j = i;
        while (j < len && !is_word_space(text[j]) && text[j] != '\n') j++;
        st = fn(ctx, text + i, j - i, i);
        i = j;
      }
    }
    if (st) return st;
  }
  return 0;
}

/* --- building -------------------------------------------------------------------------------------- */

typedef struct BuildCtx {
  int kind;
  char **toks;
  size_t *lens;
  int64_t *counts;
  int64_t n, cap;
  size_t table_cap;
  int32_t *table;
} BuildCtx;

static int build_add(void *vctx, const char *s, size_t n, size_t offset) {
  BuildCtx *b = vctx;
  (void)offset;
  uint64_t h = hash_bytes(s, n);
  size_t mask = b->table_cap - 1;
  size_t i = h & mask;
  for (; b->table[i] >= 0; i = (i + 1) & mask) {
    int32_t id = b->table[i];
    if (b->lens[id] == n && !memcmp(b->toks[id], s, n)) {
      b->counts[id]++;
      return 0;
    }
  }
  if (b->n == b->cap || (size_t)(b->n + 1) * 2 > b->table_cap) {
    int64_t ncap = b->cap ? b->cap * 2 : 256;
    char **t = lx_realloc(b->toks, (size_t)ncap * sizeof *t);
    if (t) b->toks = t;
    size_t *l = lx_realloc(b->lens, (size_t)ncap * sizeof *l);
    if (l) b->lens = l;
    int64_t *c = lx_realloc(b->counts, (size_t)ncap * sizeof *c);
    if (c) b->counts = c;
    if (!t || !l || !c) return lx_nomem("building a vocabulary");
    b->cap = ncap;
    size_t tcap = b->table_cap;
    while ((size_t)(b->n + 1) * 2 > tcap) tcap *= 2;
    if (tcap != b->table_cap) {
      int32_t *nt = lx_malloc(tcap * sizeof(int32_t));
      if (!nt) return lx_nomem("building a vocabulary");
      memset(nt, 0xff, tcap * sizeof(int32_t));
      for (int64_t k = 0; k < b->n; k++) {
        size_t j = hash_bytes(b->toks[k], b->lens[k]) & (tcap - 1);
        while (nt[j] >= 0) j = (j + 1) & (tcap - 1);
        nt[j] = (int32_t)k;
      }
      lx_free(b->table);
      b->table = nt;
      b->table_cap = tcap;
      mask = tcap - 1;
    }
    for (i = h & mask; b->table[i] >= 0; i = (i + 1) & mask) {}
  }
  b->toks[b->n] = lx_strndup(s, n);
  if (!b->toks[b->n]) return lx_nomem("building a vocabulary");
  b->lens[b->n] = n;
  b->counts[b->n] = 1;
  b->table[i] = (int32_t)b->n;
  b->n++;
  return 0;
}

static const BuildCtx *sort_ctx;
static int build_cmp(const void *pa, const void *pb) {
  int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
  const BuildCtx *c = sort_ctx;
  if (c->kind == VOCAB_WORDS && c->counts[a] != c->counts[b]) return c->counts[a] > c->counts[b] ? -1 : 1;
  size_t la = c->lens[a], lb = c->lens[b];
  int r = memcmp(c->toks[a], c->toks[b], la < lb ? la : lb);
  if (r) return r;
  return la < lb ? -1 : la > lb;
}

int vocab_build(int kind, const char *text, size_t len, const char *fname, Vocab **out) {
  *out = NULL;
  if (kind == VOCAB_BYTES) {
    *out = vocab_new_bytes();
    return *out ? 0 : LSTMC_ERR_NOMEM;
  }
  BuildCtx b = {0};
  b.kind = kind;
  b.table_cap = 1024;
  b.table = lx_malloc(b.table_cap * sizeof(int32_t));
  int st = 0;
  int64_t *order = NULL;
  const char **sorted = NULL;
  size_t *slens = NULL;
  if (!b.table) {
    st = lx_nomem("building a vocabulary");
    goto done;
  }
  memset(b.table, 0xff, b.table_cap * sizeof(int32_t));
  st = split_tokens(kind, text, len, fname, build_add, &b);
  if (st) goto done;
  if (b.n == 0) {
    st = lx_fail(LSTMC_ERR_DATA, "%s: no tokens to build a vocabulary from", fname);
    goto done;
  }
  order = lx_malloc((size_t)b.n * sizeof *order);
  sorted = lx_malloc((size_t)b.n * sizeof *sorted);
  slens = lx_malloc((size_t)b.n * sizeof *slens);
  if (!order || !sorted || !slens) {
    st = lx_nomem("building a vocabulary");
    goto done;
  }
  for (int64_t i = 0; i < b.n; i++) order[i] = i;
  sort_ctx = &b;
  qsort(order, (size_t)b.n, sizeof *order, build_cmp);
  for (int64_t i = 0; i < b.n; i++) {
    sorted[i] = b.toks[order[i]];
    slens[i] = b.lens[order[i]];
  }
  st = vocab_from_tokens(kind, sorted, slens, b.n, out);
done:
  for (int64_t i = 0; i < b.n; i++) lx_free(b.toks[i]);
  lx_free(b.toks);
  lx_free(b.lens);
  lx_free(b.counts);
  lx_free(b.table);
  lx_free(order);
  lx_free(sorted);
  lx_free(slens);
  return st;
}

/* --- tokenizing ------------------------------------------------------------------------------------ */

typedef struct TokCtx {
  const Vocab *v;
  const char *fname;
  int32_t *ids;
  int64_t n, cap;
} TokCtx;

static int tok_add(void *vctx, const char *s, size_t n, size_t offset) {
  TokCtx *t = vctx;
  int32_t id = vocab_lookup(t->v, s, n);
  if (id < 0) {
    if (t->v->unk < 0) {
      char desc[96];
      vocab_describe_token(s, n, t->v->kind, desc, sizeof desc);
      return lx_fail(LSTMC_ERR_DATA, "%s: byte offset %zu: token %s is not in the model's vocabulary (%lld tokens, no <unk>)",
                     t->fname, offset, desc, (long long)t->v->n);
    }
    id = t->v->unk;
  }
  if (t->n == t->cap) {
    int64_t ncap = t->cap ? t->cap * 2 : 4096;
    int32_t *ni = lx_realloc(t->ids, (size_t)ncap * sizeof(int32_t));
    if (!ni) return lx_nomem("tokenizing text");
    t->ids = ni;
    t->cap = ncap;
  }
  t->ids[t->n++] = id;
  return 0;
}

int vocab_tokenize(const Vocab *v, const char *text, size_t len, const char *fname, int32_t **ids, int64_t *n) {
  TokCtx t = {v, fname, NULL, 0, 0};
  int st = split_tokens(v->kind, text, len, fname, tok_add, &t);
  if (st) {
    lx_free(t.ids);
    *ids = NULL;
    *n = 0;
    return st;
  }
  *ids = t.ids;
  *n = t.n;
  return 0;
}

int32_t vocab_prime_token(const Vocab *v) {
  int32_t nl = v->kind == VOCAB_WORDS ? v->eos : vocab_lookup(v, "\n", 1);
  return nl >= 0 ? nl : 0;
}

void vocab_append_token(const Vocab *v, int32_t id, StrBuf *out) {
  if (v->kind == VOCAB_BYTES) {
    sb_putc(out, (char)id);
  } else if (v->kind == VOCAB_CHARS) {
    sb_append(out, v->tokens[id], v->lens[id]);
  } else if (id == v->eos) {
    sb_putc(out, '\n');
  } else {
    sb_append(out, v->tokens[id], v->lens[id]);
    sb_putc(out, ' ');
  }
}
