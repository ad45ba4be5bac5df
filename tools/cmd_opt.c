/* `lstmc opt`: reads IR text (docs/ir.md), runs a pass pipeline on it and prints the result — what mlir-opt
 * is to MLIR, and what the .test files of tests/passes are written against (docs/passes.md). */
#include <limits.h>
#include <string.h>

#include "tools/cli.h"

const OptSpec opt_opts[] = {
    {"passes", 1, "pass pipeline to run (default: none; the text's `pipeline` line records what ran before)"},
    {"stats", 0, "per pass: weights kept, groups, conflicts pruned, utilization, bytes"},
    {"time-passes", 0, "seconds per pass"},
    {"print-after", 1, "print the IR after each run of pass NAME (on stderr)"},
    {"print-after-all", 0, "print the IR after every pass (on stderr)"},
    {"verify-each", 0, "run the IR verifier after every pass"},
    {"inline", 1, "print the values of tensors of at most N weights (default 4096; larger ones as summaries)"},
    {"o", 1, "write the result instead of printing it: OUT.ir (larger tensors in OUT.safetensors) or OUT.safetensors"},
    {0}};

int cmd_opt(Args *a) {
  long long inline_max;
  int rc = arg_int(a, "inline", IR_INLINE_DEFAULT, 0, LLONG_MAX, &inline_max);
  if (rc) return rc;
  lstmc_model *m;
  int st = lstmc_model_load_ir(a->pos[0], &m);
  if (st) {
    if (st != LSTMC_ERR_PARSE) fprintf(stderr, "lstmc: error: %s\n", lstmc_errmsg());
    return st == LSTMC_ERR_USAGE ? 2 : 1;
  }
  if ((rc = apply_passes_inline(a, m, inline_max))) {
    lstmc_model_free(m);
    return rc;
  }
  const char *o = arg_str(a, "o");
  size_t n = o ? strlen(o) : 0;
  if (o && n > 3 && !strcmp(o + n - 3, ".ir")) {
    st = lstmc_model_write_ir(m, o, inline_max);
  } else if (o) {
    st = lstmc_model_save_weights(m, o);
  } else {
    char *text;
    if (!(st = lstmc_model_ir_text(m, inline_max, &text))) fputs(text, stdout);
    lstmc_free(text);
  }
  lstmc_model_free(m);
  return st ? fail(st) : 0;
}
