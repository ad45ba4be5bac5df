/* libFuzzer target: the IR's text form (frontend/ir_read.c) — any input is read without a crash or a leak,
 * and whatever reads successfully obeys the round-trip law: printed with all its values, it reads back,
 * and printing that gives the same text (print → read → print). A break of the law aborts. External tensors
 * are not read (no file loader): they are an error here. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/ir_read.h"
#include "ir/text.h"
#include "support/alloc.h"

static char *print_all(const Graph *g) {
  IrPrintOptions o = {INT64_MAX, NULL};
  StrBuf sb;
  sb_init(&sb);
  graph_print_text(g, &o, &sb);
  return sb_take(&sb); /* NULL when out of memory; lx_free it */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  Diag d;
  diag_init(&d, NULL);
  Graph *g = NULL;
  if (ir_read_text("fuzz.ir", NULL, (const char *)data, size, NULL, &d, &g)) return 0;
  char *first = print_all(g);
  graph_free(g);
  if (!first) return 0;
  Graph *back = NULL;
  Diag d2;
  diag_init(&d2, stderr);
  if (ir_read_text("printed.ir", NULL, first, strlen(first), NULL, &d2, &back)) {
    fprintf(stderr, "fuzz_ir: the printed text does not read back:\n%s\n", first);
    abort();
  }
  char *second = print_all(back);
  if (second && strcmp(first, second)) {
    fprintf(stderr, "fuzz_ir: print -> read -> print differs:\n--- first\n%s\n--- second\n%s\n", first, second);
    abort();
  }
  lx_free(second);
  lx_free(first);
  graph_free(back);
  return 0;
}
