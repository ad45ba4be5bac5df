/* The public API of the IR's text form (include/lstmc.h, docs/ir.md): models read from IR text and written
 * to it, thin over frontend/ir_read.c, ir/print.c and runtime/ir_file.c. */
#include <stdio.h>

#include "api/internal.h"
#include "ir/text.h"
#include "lstmc.h"
#include "runtime/ir_file.h"
#include "support/alloc.h"
#include "support/err.h"

int lstmc_model_load_ir(const char *ir_path, lstmc_model **out) {
  *out = NULL;
  lstmc_model *m = lx_calloc(1, sizeof *m);
  if (!m) return lx_nomem("loading a model");
  Diag d;
  diag_init(&d, stderr);
  int st = ir_file_read(ir_path, &d, &m->g);
  if (st) {
    lx_free(m);
    return st;
  }
  *out = m;
  return 0;
}

int lstmc_model_ir_text(const lstmc_model *m, int64_t inline_max, char **text) {
  IrPrintOptions o = {inline_max, NULL};
  StrBuf sb;
  sb_init(&sb);
  int st = graph_print_text(m->g, &o, &sb);
  *text = sb_take(&sb);
  if (st || !*text) return lx_nomem("printing the IR");
  return 0;
}

int lstmc_model_write_ir(const lstmc_model *m, const char *path, int64_t inline_max) {
  return ir_file_write(m->g, path, inline_max);
}
