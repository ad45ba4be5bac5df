/* Definitions behind the public handles, shared inside the runtime (not part of the API). */
#ifndef LSTMC_RUNTIME_INTERNAL_H
#define LSTMC_RUNTIME_INTERNAL_H
#include "frontend/spec.h"
#include "ir/graph.h"
#include "runtime/exec.h"

struct lstmc_model {
  Spec *spec;
  Graph *g;
};

struct lstmc_session {
  const struct lstmc_model *m;
  Executor *e;
  float *logits; /* [V] scratch for generation */
};

/* A sampling candidate (sample_token's scratch). */
typedef struct Cand {
  float logit;
  int32_t id;
} Cand;

/* The token generation picks from logits[V] (model.c): greedy for temperature <= 0, else a draw from
 * softmax(logits / temperature) over all tokens or the top_k largest, with one rng_uniform. The reference
 * every executor's sampler must reproduce. scratch holds V candidates. */
struct Rng;
int sample_token(const float *logits, int64_t V, double temperature, int top_k, struct Rng *rng, Cand *scratch);

/* Monotonic clock in seconds. */
double now_seconds(void);

#endif
