/* libFuzzer target: the .lstm front end. Any bytes go through the lexer, the parser with its error
 * recovery, the semantic checks and (when those pass) lowering, the verifier and the IR printer. The
 * target must never crash, leak or report an internal error, whatever the input. */
#include <stddef.h>
#include <stdint.h>

#include "frontend/lower.h"
#include "frontend/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  Diag d;
  diag_init(&d);
  Spec *s = NULL;
  if (spec_load_text("fuzz.lstm", "", (const char *)data, size, &d, &s) == 0) {
    Graph *g = NULL;
    if (lower_spec(s, 0, &g) == 0) {
      StrBuf sb;
      sb_init(&sb);
      graph_print(g, &sb);
      sb_free(&sb);
      graph_free(g);
    }
    spec_free(s);
  }
  return 0;
}
