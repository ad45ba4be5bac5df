/* Definitions behind the public handles, shared by the files of api/ (not part of the public API; tests may read them). */
#ifndef LSTMC_API_INTERNAL_H
#define LSTMC_API_INTERNAL_H
#include "frontend/spec.h"
#include "ir/graph.h"
#include "passes/pipeline.h"
#include "runtime/exec.h"

struct lstmc_model {
  Spec *spec; /* NULL for a model read from IR text (api/ir_text.c) */
  Graph *g;
  Pipeline *passes; /* the spec's `passes`, checked when it loaded; NULL when it has none */
};

struct lstmc_session {
  const struct lstmc_model *m;
  Executor *e;
  float *logits; /* [V] scratch for generation */
};

/* The systolic target (api/systolic.c). */
struct SystolicConfig;
struct lstmc_systolic_opts;
/* Checks the spec's systolic block, reporting each bad setting at its place. 0 or LSTMC_ERR_PARSE. */
int api_systolic_check_spec(const Spec *sp, Diag *d);
/* The array of a model: the defaults, then the spec's block, then the caller's settings (o may be NULL). */
int api_systolic_config(const struct lstmc_model *m, const struct lstmc_systolic_opts *o, struct SystolicConfig *c);
/* The executor settings a session or ahead-of-time compilation on `target` gets from the model and the
 * caller's options: for systolic, the array (the spec's block and *o over the defaults, in *sc, which must
 * outlive eo) and no fallback to the reference executor. */
int api_target_settings(const struct lstmc_model *m, int target, const struct lstmc_systolic_opts *o,
                        struct SystolicConfig *sc, ExecOptions *eo);

#endif
