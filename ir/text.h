/* The IR's text form (docs/ir.md): what ir/print.c writes and frontend/ir_read.c reads back. One line per
 * node, then one line per weight slot; a weight's line gives its shape and format and then, depending on how
 * it was printed, nothing more (a summary for people), `external` (its values are in the safetensors file
 * named on the `weights` line), or a `{ … }` body with its values, levels, scales, mask, column groups and
 * selections written out.
 *
 * A tensor line's `key=value` attributes come from one table (tensor_attrs below): state that the tensor
 * carries (alpha, gamma, block of its column groups) and figures derived from it (nnz, density, groups,
 * conflicts, utilization, bytes). The printer writes them in table order; the reader sets the state ones and
 * checks the derived ones against the tensor it built. A new per-tensor attribute is one more table row. */
#ifndef LSTMC_IR_TEXT_H
#define LSTMC_IR_TEXT_H
#include <stddef.h>
#include <stdint.h>

#include "ir/graph.h"
#include "support/strbuf.h"

typedef struct IrPrintOptions {
  /* Tensors of at most this many weights are printed with their values (a `{ … }` body); 0: none. */
  int64_t inline_max;
  /* When set, larger tensors are printed as `external` and this file name goes on the `weights` line (the
   * caller writes the file); NULL: larger tensors are printed as summaries, which cannot be read back. */
  const char *external;
} IrPrintOptions;

/* The text form of g with o's choices (o NULL: summaries only, as graph_print). With values inline or
 * external, the vocabulary of a chars or words model is written too (`vocab [...]`). 0 or LSTMC_ERR_NOMEM. */
int graph_print_text(const Graph *g, const IrPrintOptions *o, StrBuf *out);
/* 1 when a tensor of this many weights is printed with its values under o. */
int ir_print_inline(const IrPrintOptions *o, int64_t weights);

/* Shortest decimal text that reads back (strtof / strtod) as exactly v: "0.1", "-0", "1e-05". */
void sb_float_exact(StrBuf *o, float v);
void sb_double_exact(StrBuf *o, double v);

typedef struct TensorAttr {
  const char *key;
  int derived;                       /* 1: computed from the tensor; 0: state the tensor carries */
  int integer;                       /* 1: the value is written as an integer */
  int (*shown)(const Tensor *t);     /* printed for this tensor? */
  double (*get)(const Tensor *t);    /* its value */
  /* The value as printed. The reader compares derived values by this text, so that `density=0.5` and
   * `density=0.5000` agree with a density of 0.50004. */
  void (*format)(double v, StrBuf *o);
  /* State attributes: sets the value read for t (whose layout, encoding and groups are already built);
   * returns NULL, or why the value is not allowed ("alpha must be an integer in [1, 64]"). */
  const char *(*set)(Tensor *t, double v);
} TensorAttr;

extern const TensorAttr tensor_attrs[];
extern const int ntensor_attrs;
/* The attribute called key, or NULL. */
const TensorAttr *tensor_attr_find(const char *key);

#endif
