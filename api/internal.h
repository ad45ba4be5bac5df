/* Definitions behind the public handles, shared by the files of api/ (not part of the public API; tests may read them). */
#ifndef LSTMC_API_INTERNAL_H
#define LSTMC_API_INTERNAL_H
#include "frontend/spec.h"
#include "ir/graph.h"
#include "runtime/exec.h"

struct lstmc_model {
  Spec *spec; /* NULL for a model read from IR text (api/ir_text.c) */
  Graph *g;
};

struct lstmc_session {
  const struct lstmc_model *m;
  Executor *e;
  float *logits; /* [V] scratch for generation */
};

#endif
