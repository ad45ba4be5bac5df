/* IR text files with their weights: writing the text form and the safetensors file beside it, and reading
 * both back (runtime/ir_file.h). */
#include "runtime/ir_file.h"

#include <string.h>

#include "frontend/ir_read.h"
#include "ir/text.h"
#include "runtime/weights.h"
#include "support/alloc.h"
#include "support/err.h"
#include "support/text.h"

/* The IrExternal callback: a copy of g's structure bound to the weights file like any --weights file. */
static int load_external(void *ctx, const Graph *g, const char *path, Graph **loaded) {
  (void)ctx;
  *loaded = NULL;
  Graph *c = graph_clone(g);
  if (!c) return LSTMC_ERR_NOMEM;
  for (int i = 0; i < c->nslots; i++) graph_set_tensor(c, i, NULL);
  int st = weights_load(c, path);
  if (st) {
    graph_free(c);
    return st;
  }
  *loaded = c;
  return 0;
}

int ir_file_read(const char *path, Diag *diag, Graph **out) {
  IrExternal ext = {load_external, NULL};
  return ir_read_file(path, &ext, diag, out);
}

char *ir_file_weights_path(const char *path) {
  size_t n = strlen(path);
  int ir = n > 3 && !strcmp(path + n - 3, ".ir");
  size_t keep = ir ? n - 3 : n;
  char *w = lx_malloc(keep + sizeof ".safetensors");
  if (!w) {
    lx_nomem("naming the weights file");
    return NULL;
  }
  memcpy(w, path, keep);
  memcpy(w + keep, ".safetensors", sizeof ".safetensors");
  return w;
}

int ir_file_write(const Graph *g, const char *path, int64_t inline_max) {
  IrPrintOptions o = {inline_max, NULL};
  char *wpath = NULL;
  int st = 0;
  for (int i = 0; i < g->nslots && !o.external; i++) {
    const Tensor *t = g->slots[i].t;
    if (t && !ir_print_inline(&o, t->rows * t->cols)) {
      if (!(wpath = ir_file_weights_path(path))) return LSTMC_ERR_NOMEM;
      /* the text names the file as it lies beside it */
      const char *slash = strrchr(wpath, '/');
      o.external = slash ? slash + 1 : wpath;
    }
  }
  if (wpath) st = weights_save(g, wpath, NULL, NULL, 0);
  StrBuf sb;
  sb_init(&sb);
  if (!st) st = graph_print_text(g, &o, &sb);
  if (!st) st = write_file_atomic(path, sb.data ? sb.data : "", sb.len);
  sb_free(&sb);
  lx_free(wpath);
  return st;
}
