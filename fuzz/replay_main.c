/* Replays inputs through a fuzz target's LLVMFuzzerTestOneInput without libFuzzer, so that every input
 * that once crashed (tests/bad/fuzz/) runs in the normal test suite, and under ASan/UBSan in
 * `make test-asan`. Usage: replay FILE... */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    FILE *f = fopen(argv[i], "rb");
    if (!f) {
      fprintf(stderr, "replay: cannot open %s\n", argv[i]);
      return 1;
    }
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
      if (n == cap) {
        cap = cap ? cap * 2 : 4096;
        uint8_t *nb = realloc(buf, cap);
        if (!nb) return 1;
        buf = nb;
      }
      size_t k = fread(buf + n, 1, cap - n, f);
      if (!k) break;
      n += k;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    printf("replayed %s (%zu bytes)\n", argv[i], n);
  }
  return 0;
}
