/* IR text files with their weights (docs/ir.md): the text form written to a file, tensors up to a size
 * inline and the larger ones in a safetensors file beside it (NAME.ir → NAME.safetensors, a complete
 * weights file that `--weights` also takes); and read back, the external tensors bound through the weights
 * loader (runtime/weights.c), which checks them as it checks any weights file. */
#ifndef LSTMC_RUNTIME_IR_FILE_H
#define LSTMC_RUNTIME_IR_FILE_H
#include <stdint.h>

#include "frontend/diag.h"
#include "ir/graph.h"

/* Reads an IR text file; diagnostics (with file:line:col and a caret) go to diag. Returns 0 with *out a
 * verified graph, or a status (LSTMC_ERR_PARSE after reporting) with *out NULL. */
int ir_file_read(const char *path, Diag *diag, Graph **out);
/* Writes g's text form to path (atomically): tensors of at most inline_max weights with their values, the
 * others in the safetensors file beside it, which is written only when there is one. */
int ir_file_write(const Graph *g, const char *path, int64_t inline_max);
/* The safetensors file beside an IR file: NAME.ir → NAME.safetensors, anything else → PATH.safetensors.
 * Caller lx_free's; NULL on OOM. */
char *ir_file_weights_path(const char *path);

#endif
