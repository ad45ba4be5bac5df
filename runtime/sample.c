/* The reference sampler: the token generation picks from a step's logits. Every executor's own sampler
 * (the CUDA device sampler, the standalone object's) reproduces it draw for draw. */
#include "runtime/sample.h"

#include <math.h>
#include <stdlib.h>

static int cand_cmp(const void *a, const void *b) {
  const Cand *x = a, *y = b;
  if (x->logit != y->logit) return x->logit > y->logit ? -1 : 1;
  return x->id < y->id ? -1 : x->id > y->id; /* ties: the lower id first, so the order is total */
}

int sample_token(const float *logits, int64_t V, double temperature, int top_k, Rng *rng, Cand *scratch) {
  if (temperature <= 0) {
    int32_t best = 0;
    for (int64_t i = 1; i < V; i++)
      if (logits[i] > logits[best]) best = (int32_t)i;
    return best;
  }
  int64_t k = V;
  for (int64_t i = 0; i < V; i++) scratch[i] = (Cand){logits[i], (int32_t)i};
  if (top_k > 0 && top_k < V) {
    qsort(scratch, (size_t)V, sizeof *scratch, cand_cmp);
    k = top_k;
  }
  double m = -INFINITY;
  for (int64_t i = 0; i < k; i++)
    if (scratch[i].logit > m) m = scratch[i].logit;
  double total = 0;
  for (int64_t i = 0; i < k; i++) total += exp(((double)scratch[i].logit - m) / temperature);
  double u = rng_uniform(rng) * total, acc = 0;
  for (int64_t i = 0; i < k; i++) {
    acc += exp(((double)scratch[i].logit - m) / temperature);
    if (u < acc) return scratch[i].id;
  }
  return scratch[k - 1].id; /* u landed on the rounding edge */
}
