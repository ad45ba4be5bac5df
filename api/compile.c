/* lstmc_compile_check and lstmc_model_compile (include/lstmc.h): the checks every target shares, in front
 * of the target's compiler, found in the backend registry (codegen/backends.def). */
#include "lstmc.h"
#include "api/internal.h"
#include "codegen/backend.h"
#include "codegen/systolic/systolic.h"
#include "support/err.h"

int lstmc_compile_check(const lstmc_compile_opts *o) {
  const CompileVtbl *c;
  return compile_backend(o, &c);
}

int lstmc_model_compile(const lstmc_model *m, const lstmc_compile_opts *o) {
  if (!o->output || !o->output[0]) return lx_fail(LSTMC_ERR_USAGE, "compile: no output file (-o)");
  const CompileVtbl *c;
  int st = compile_backend(o, &c);
  if (st) return st;
  if (!graph_has_weights(m->g)) return lx_fail(LSTMC_ERR_USAGE, "the model has no weights loaded");
  int target = 0;
  if (o->target && (st = target_parse(o->target, &target))) return st;
  SystolicConfig sc;
  ExecOptions eo = {.batch = 1};
  if ((st = api_target_settings(m, target, o->systolic, &sc, &eo))) return st;
  return c->compile(m->g, m->g->spec_file, o, &eo); /* the spec's path, or the IR file's */
}
