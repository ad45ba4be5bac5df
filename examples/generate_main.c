/* generate_main.c — text generation with a model compiled by `lstmc compile`: this program needs only the
 * object and its header (no lstmc, no LLVM), and prints what `lstmc generate` prints for the same options.
 *
 *   lstmc compile examples/charptb.lstm --weights w.safetensors --target cpu -o model.o --header model.h
 *   cc -O2 -I. examples/generate_main.c model.o -lm -o generate
 *   ./generate --prime "the " --length 200 --temperature 0.8 --top-k 10 --seed 7
 *
 * The header's file name gives the API its prefix, so compile with `--header model.h` (or `--name model`)
 * for this program. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

static int is_word_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

/* The byte length of the UTF-8 sequence that starts with byte c (1 for a stray continuation byte). */
static size_t utf8_len(unsigned char c) { return c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1; }

/* Splits text into tokens as the model's vocabulary does (bytes, UTF-8 code points, or words with each
 * newline as <eos>); an unknown token becomes <unk> when the vocabulary has it. Returns the count, or -1
 * after printing which token is unknown. */
static long tokenize(const char *text, int32_t *ids) {
  const char *kind = MODEL_VOCAB_KIND;
  int32_t unk = model_token_id("<unk>", 5);
  size_t i = 0, len = strlen(text);
  long n = 0;
  while (i < len) {
    size_t k;
    const char *tok = text + i;
    if (!strcmp(kind, "bytes")) {
      k = 1;
    } else if (!strcmp(kind, "chars")) {
      k = utf8_len((unsigned char)text[i]);
      if (k > len - i) k = len - i;
    } else if (is_word_space(text[i])) {
      i++;
      continue;
    } else if (text[i] == '\n') {
      ids[n++] = model_token_id("<eos>", 5);
      i++;
      continue;
    } else {
      for (k = 0; i + k < len && !is_word_space(text[i + k]) && text[i + k] != '\n';) k++;
    }
    int32_t id = model_token_id(tok, k);
    if (id < 0) id = unk;
    if (id < 0) {
      fprintf(stderr, "generate: byte offset %zu: '%.*s' is not in the model's vocabulary\n", i, (int)k, tok);
      return -1;
    }
    ids[n++] = id;
    i += k;
  }
  return n;
}

int main(int argc, char **argv) {
  const char *prime = "";
  long length = 200, top_k = 0;
  double temperature = 1.0;
  unsigned long long seed = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--prime")) prime = argv[i + 1];
    else if (!strcmp(argv[i], "--length")) length = strtol(argv[i + 1], NULL, 10);
    else if (!strcmp(argv[i], "--temperature")) temperature = strtod(argv[i + 1], NULL);
    else if (!strcmp(argv[i], "--top-k")) top_k = strtol(argv[i + 1], NULL, 10);
    else if (!strcmp(argv[i], "--seed")) seed = strtoull(argv[i + 1], NULL, 10);
    else {
      fprintf(stderr, "usage: %s [--prime TEXT] [--length N] [--temperature T] [--top-k K] [--seed S]\n", argv[0]);
      return 2;
    }
  }
  int32_t *ids = malloc((strlen(prime) + 1) * sizeof *ids);
  model *m = model_new();
  if (!ids || !m) {
    fprintf(stderr, "generate: out of memory\n");
    return 1;
  }
  long n = tokenize(prime, ids);
  if (n < 0) return 1;
  if (n == 0) ids[n++] = MODEL_PRIME_TOKEN;
  model_seed(m, seed);
  const float *logits = NULL;
  for (long i = 0; i < n; i++) logits = model_step(m, ids[i]);
  fputs(prime, stdout);
  for (long i = 0; i < length; i++) {
    int32_t tok = model_sample(m, logits, temperature, (int)top_k);
    size_t len;
    const char *text = model_token_text(tok, &len);
    fwrite(text, 1, len, stdout);
    if (i + 1 < length) logits = model_step(m, tok);
  }
  fputc('\n', stdout);
  model_free(m);
  free(ids);
  return 0;
}
