/* libFuzzer target: the safetensors reader, then binding the file to three small models (bytes tied,
 * chars untied, words untied), which exercises names, shapes, dtypes, the vocabulary JSON, the lstmc.formats
 * metadata and every format's layout checks. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "frontend/lower.h"
#include "frontend/spec.h"
#include "runtime/safetensors.h"
#include "runtime/weights.h"

static const char *const specs[] = {
    "model a { vocab bytes; embed 4; lstm 6; lstm 4; decoder tied; }",
    "model b { vocab chars; embed 4; lstm 4; decoder untied; }",
    "model c { vocab words 3; embed 2; lstm 3; decoder untied; }",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  StFile *f = NULL;
  if (st_read_buffer("fuzz.safetensors", data, size, &f)) return 0;
  for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) {
    Diag d;
    diag_init(&d);
    Spec *s = NULL;
    Graph *g = NULL;
    if (spec_load_text("fuzz.lstm", "", specs[i], strlen(specs[i]), &d, &s) == 0 && lower_spec(s, 0, &g) == 0)
      weights_bind(g, f);
    graph_free(g);
    spec_free(s);
  }
  st_free(f);
  return 0;
}
