/* libFuzzer target: pass-pipeline text as given to --passes, parsed by the pipeline entry of the grammar
 * and checked against the pass registry (names, options, values). */
#include <stddef.h>
#include <stdint.h>

#include "frontend/ast.h"
#include "frontend/diag.h"
#include "passes/pipeline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  Diag d;
  diag_init(&d);
  Arena a;
  arena_init(&a);
  AstPipeline *p = NULL;
  SrcLoc where = {"--passes", 1, 1, 1, 1};
  if (parse_pipeline_text((const char *)data, size, where, &a, &d, &p) == 0 && p) pipeline_check(p, &d);
  arena_free(&a);
  return 0;
}
