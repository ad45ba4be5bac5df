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

/* Monotonic clock in seconds. */
double now_seconds(void);

#endif
