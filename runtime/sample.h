/* The reference sampler (sample.c). */
#ifndef LSTMC_RUNTIME_SAMPLE_H
#define LSTMC_RUNTIME_SAMPLE_H
#include <stdint.h>

#include "support/rng.h"

/* A sampling candidate (sample_token's scratch). */
typedef struct Cand {
  float logit;
  int32_t id;
} Cand;

/* The token generation picks from logits[V]: greedy for temperature <= 0 (the first maximum), else a draw
 * from softmax(logits / temperature) over all tokens or the top_k largest (ties: lower id first), with one
 * rng_uniform. scratch holds V candidates. */
int sample_token(const float *logits, int64_t V, double temperature, int top_k, Rng *rng, Cand *scratch);

#endif
