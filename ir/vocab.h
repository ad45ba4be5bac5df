/* Vocabularies and tokenization. `bytes`: 256 tokens, token = byte value. `chars`: one token per UTF-8
 * code point (its UTF-8 bytes). `words`: whitespace-separated words, each newline becoming `<eos>` as in
 * AWD-LSTM's word-level corpora. A vocabulary holding `<unk>` maps unknown tokens to it; otherwise an
 * unknown token is an error naming it and its byte offset.
 *
 * Memory: a Vocab owns its token strings; vocab_free accepts NULL. */
#ifndef LSTMC_IR_VOCAB_H
#define LSTMC_IR_VOCAB_H
#include <stddef.h>
#include <stdint.h>

#include "support/strbuf.h"

typedef struct Vocab {
  int kind;       /* VocabKind */
  int64_t n;      /* number of tokens */
  char **tokens;  /* [n] NUL-terminated UTF-8; NULL for bytes */
  size_t *lens;   /* [n] */
  int32_t *table; /* open-addressing hash: token id or -1 */
  size_t table_cap;
  int32_t unk; /* id of "<unk>", or -1 */
  int32_t eos; /* id of "<eos>", or -1 */
} Vocab;

Vocab *vocab_new_bytes(void);
/* A vocabulary of the given tokens (copied). Fails on duplicates or empty tokens. */
int vocab_from_tokens(int kind, const char *const *tokens, const size_t *lens, int64_t n, Vocab **out);
/* Builds a vocabulary from a text: chars sorted by code point, words by falling frequency then bytes.
 * `fname` names the text in errors (invalid UTF-8 for chars). */
int vocab_build(int kind, const char *text, size_t len, const char *fname, Vocab **out);
void vocab_free(Vocab *v);
Vocab *vocab_clone(const Vocab *v);
int32_t vocab_lookup(const Vocab *v, const char *s, size_t n);
/* Splits text into token ids (caller lx_free's *ids). Errors name `fname` and the byte offset. */
int vocab_tokenize(const Vocab *v, const char *text, size_t len, const char *fname, int32_t **ids, int64_t *n);
/* The token generation starts from when given no prime: <eos> for words, else the newline if the
 * vocabulary has one, else token 0. */
int32_t vocab_prime_token(const Vocab *v);
/* Appends the text of one token: bytes and chars verbatim, words followed by a space, <eos> as a newline. */
void vocab_append_token(const Vocab *v, int32_t id, StrBuf *out);
/* A printable form of a token for messages: "'a'", "U+000A", "byte 0xff". */
void vocab_describe_token(const char *s, size_t n, int kind, char *buf, size_t bufsz);

/* Decodes one UTF-8 code point at s[0..len); returns its byte length (1..4) and sets *cp, or 0 if the
 * bytes are not valid UTF-8 (overlong forms and surrogates rejected). */
int utf8_decode(const unsigned char *s, size_t len, uint32_t *cp);

#endif
