/* Reading the IR's text form (docs/ir.md) back into a Graph: the syntax (frontend/ir_parser.y), then every
 * line checked with its place — node order and chaining, attributes, weight names and shapes, tensor
 * formats, values, levels, scales, masks, groups and selections, the attributes printed beside them — and
 * finally the IR verifier (graph_verify), whose complaint is reported at the node or weight it is about.
 * Every problem is reported, with file:line:col, the source line and a caret, not just the first.
 *
 * Tensors marked `external` are in the safetensors file named on the `weights` line; reading them is left to
 * a callback (runtime/ir_file.c binds it with the weights loader), so that this layer opens no files. */
#ifndef LSTMC_FRONTEND_IR_READ_H
#define LSTMC_FRONTEND_IR_READ_H
#include <stddef.h>

#include "frontend/diag.h"
#include "ir/graph.h"

typedef struct IrExternal {
  /* Loads the weights file at path for a graph shaped like g (its nodes, slots and vocabulary size). On
   * success *loaded is a new graph like g holding every slot's tensor and the file's vocabulary; otherwise
   * returns a status with a message naming the file and the tensor. */
  int (*load)(void *ctx, const Graph *g, const char *path, Graph **loaded);
  void *ctx;
} IrExternal;

/* Reads IR text. `name` is the file's name in messages; `dir` is the folder that an external weights file
 * is relative to (NULL: the current one); ext may be NULL (external tensors are then an error). Diagnostics
 * go to diag. Returns 0 with *out a verified graph (owned by the caller), LSTMC_ERR_PARSE after reporting
 * errors, or another status (out of memory; lstmc_errmsg() says it) with *out NULL. */
int ir_read_text(const char *name, const char *dir, const char *text, size_t len, const IrExternal *ext, Diag *diag,
                 Graph **out);
/* The same for a file; its folder is `dir`. */
int ir_read_file(const char *path, const IrExternal *ext, Diag *diag, Graph **out);

#endif
