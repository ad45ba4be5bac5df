/* The list of training engines (see engine.h): which --target trains where, and what the targets that
 * cannot train say instead. */
#include "train/engine.h"

#include <string.h>

#include "support/err.h"

static const EngineOps *const engines[] = {&engine_cpu_ops, &engine_cuda_ops};

int engine_lookup(const char *target, const EngineOps **ops) {
  *ops = NULL;
  if (!target) target = "cpu";
  for (size_t i = 0; i < sizeof engines / sizeof *engines; i++)
    if (!strcmp(target, engines[i]->target)) {
      *ops = engines[i];
      return 0;
    }
  if (!strcmp(target, "ref"))
    return lx_fail(LSTMC_ERR_USAGE, "train: --target ref: the reference executor is for inference only; training runs on "
                                    "--target cpu (check the trained weights with 'lstmc eval --target ref')");
  return lx_fail(LSTMC_ERR_USAGE, "train: unknown target '%s' (training runs on cpu or cuda)", target);
}

int engine_to_host(TrainEngine *e) { return e->ops->to_host ? e->ops->to_host(e) : 0; }

void engine_free(TrainEngine *e) {
  if (e) e->ops->free(e);
}
