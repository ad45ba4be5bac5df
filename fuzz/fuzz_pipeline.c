/* libFuzzer target: pass-pipeline text as given to --passes, parsed by the pipeline entry of the grammar
 * (and checked against the pass registry when it is built in). */
#include <stddef.h>
#include <stdint.h>

#include "frontend/ast.h"
#include "frontend/diag.h"
#if __has_include("passes/pipeline.h")
#include "passes/pipeline.h"
#endif

#ifdef LSTMC_HAVE_PASSES
#define CHECK_PIPELINE(p, d) pipeline_check(p, d)
#else
#define CHECK_PIPELINE(p, d) (void)0
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  Diag d;
  diag_init(&d, NULL);
  Arena a;
  arena_init(&a);
  AstPipeline *p = NULL;
  SrcLoc where = {"--passes", 1, 1, 1, 1};
  if (parse_pipeline_text((const char *)data, size, where, &a, &d, &p) == 0 && p) CHECK_PIPELINE(p, &d);
  arena_free(&a);
  return 0;
}
