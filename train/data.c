/* Batchified token streams and AWD-LSTM's sequence-length draw (see data.h). */
#include "train/data.h"

#include "support/alloc.h"
#include "support/err.h"

int data_batchify(const int32_t *ids, int64_t n, int64_t B, const char *what, Batched *out) {
  out->ids = NULL;
  out->steps = B > 0 ? n / B : 0;
  out->B = B;
  if (out->steps < 2)
    return lx_fail(LSTMC_ERR_DATA, "%s has %lld tokens: too few for %lld streams of at least 2 tokens", what, (long long)n,
                   (long long)B);
  out->ids = lx_malloc((size_t)(out->steps * B) * sizeof(int32_t));
  if (!out->ids) return lx_nomem("batching the data");
  for (int64_t b = 0; b < B; b++)
    for (int64_t t = 0; t < out->steps; t++) out->ids[t * B + b] = ids[b * out->steps + t];
  return 0;
}

void data_batched_free(Batched *b) {
  lx_free(b->ids);
  b->ids = NULL;
}

int64_t data_seq_len(Rng *rng, int64_t bptt) {
  double mean = rng_uniform(rng) < 0.95 ? (double)bptt : (double)bptt / 2.0;
  double x = mean + 5.0 * rng_normal(rng);
  int64_t len = (int64_t)x; /* Python's int(): toward zero */
  return len > 5 ? len : 5;
}

uint64_t data_hash(const int32_t *ids, int64_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (int64_t i = 0; i < n; i++) {
    uint32_t v = (uint32_t)ids[i];
    for (int k = 0; k < 4; k++) {
      h ^= (v >> (8 * k)) & 0xff;
      h *= 0x100000001b3ULL;
    }
  }
  return h;
}
