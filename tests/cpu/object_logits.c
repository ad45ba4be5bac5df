/* A test driver linked with an object from `lstmc compile --header model.h`: feeds the token ids given as
 * arguments and prints the logits of every step, one per line, as exact hex floats; then checks that each
 * token's text maps back to its id, and prints "vocabulary ok" when it does. Uses only the object's API. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

int main(int argc, char **argv) {
  model *m = model_new();
  if (!m) return 1;
  for (int i = 1; i < argc; i++) {
    const float *l = model_step(m, (int32_t)atoi(argv[i]));
    if (!l) return 1;
    for (int j = 0; j < MODEL_VOCAB_SIZE; j++) printf("%a\n", (double)l[j]);
  }
  int ok = model_step(m, MODEL_VOCAB_SIZE) == NULL && model_token_text(-1, NULL) == NULL;
  for (int32_t id = 0; id < MODEL_VOCAB_SIZE; id++) {
    size_t len;
    const char *t = model_token_text(id, &len);
    /* words print with a trailing space, <eos> as a newline */
    if (!strcmp(MODEL_VOCAB_KIND, "words")) len = t[0] == '\n' ? 0 : len - 1;
    if (len && model_token_id(t, len) != id) ok = 0;
  }
  if (ok) printf("vocabulary ok\n");
  model_free(m);
  return 0;
}
