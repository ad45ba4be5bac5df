/* libFuzzer target: the systolic image reader (codegen/systolic/sa_image.c) on an image set packed as a tar
 * archive (`tar cf seed.tar -C DIR .`, what tools/fuzz.sh makes from compiled images). The files come from the
 * archive through the reader's source interface; in fuzzing builds (LSTMC_FUZZING) the reader skips the
 * SHA-256 comparison, so that mutations reach the checks behind it. A program that reads is also run for a few
 * tokens. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/systolic/systolic.h"
#include "support/alloc.h"
#include "support/err.h"

typedef struct Archive {
  const uint8_t *data;
  size_t size;
} Archive;

/* A ustar archive: 512-byte headers (name at 0, octal size at 124) each followed by the file in 512-byte
 * blocks. Names may start with "./". */
static int archive_read(void *ctx, const char *name, uint8_t **out, size_t *len) {
  const Archive *a = ctx;
  for (size_t off = 0; off + 512 <= a->size;) {
    const char *h = (const char *)a->data + off;
    if (!h[0]) break;
    char fname[101];
    memcpy(fname, h, 100);
    fname[100] = 0;
    char octal[13];
    memcpy(octal, h + 124, 12);
    octal[12] = 0;
    size_t n = (size_t)strtoull(octal, NULL, 8);
    off += 512;
    if (n > a->size - off) break;
    const char *base = !strncmp(fname, "./", 2) ? fname + 2 : fname;
    if (!strcmp(base, name)) {
      *out = lx_malloc(n + 1);
      if (!*out) return lx_nomem("reading the archive");
      memcpy(*out, a->data + off, n);
      *len = n;
      return 0;
    }
    off += (n + 511) / 512 * 512;
  }
  return lx_fail(LSTMC_ERR_IO, "cannot open '%s': not in the archive", name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  Archive a = {data, size};
  SaImageSource src = {archive_read, &a, "fuzz"};
  SaProgram *p = NULL;
  if (sa_image_read(&src, &p)) return 0;
  Executor *e = NULL;
  if (sa_exec_create_program(p, 1, &e) == 0) {
    float *logits = lx_malloc((size_t)sa_exec_program(e)->vocab * sizeof(float));
    for (int32_t t = 0; logits && t < 3; t++) {
      int32_t tok = t % (int32_t)sa_exec_program(e)->vocab;
      e->vt->step(e, &tok, logits);
    }
    lx_free(logits);
    exec_destroy(e);
  }
  return 0;
}
