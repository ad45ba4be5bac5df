/* The pass-pipeline commands: `passes` (the registry), `report` (a systolic-array report), and the pass
 * flags that ir, eval and generate share (apply_passes). */
#include <stdlib.h>
#include <string.h>

#include "tools/cli.h"

int apply_passes(const Args *a, lstmc_model *m) { return apply_passes_inline(a, m, 0); }

int apply_passes_inline(const Args *a, lstmc_model *m, int64_t print_inline) {
  lstmc_pass_opts po = {0};
  po.print_inline = print_inline;
  po.stats = arg_flag(a, "stats");
  po.time_passes = arg_flag(a, "time-passes");
  po.verify_each = arg_flag(a, "verify-each");
  po.print_after = arg_str(a, "print-after");
  po.print_after_all = arg_flag(a, "print-after-all");
  po.verbose = arg_flag(a, "verbose");
  po.source = "--passes";
  int st = lstmc_model_apply_passes(m, arg_str(a, "passes"), &po);
  return st == 0 ? 0 : st == LSTMC_ERR_USAGE ? 2 : 1;
}

const OptSpec passes_opts[] = {{0}};

int cmd_passes(Args *a) {
  (void)a;
  char *text;
  int st = lstmc_passes_list(&text);
  if (st) return fail(st);
  fputs(text, stdout);
  lstmc_free(text);
  return 0;
}

const OptSpec report_opts[] = {{"weights", 1, "weights file"},
                               {"array", 1, "systolic array size RxC (default 32x32)"},
                               {"json", 0, "print one JSON object"},
                               PASS_OPTSPECS,
                               {0}};

int cmd_report(Args *a) {
  const char *size = arg_str(a, "array");
  int rows = 32, cols = 32;
  if (size && parse_array("report", size, &rows, &cols)) return 2;
  lstmc_model *m;
  int rc = open_model(a, 1, &m);
  if (rc) return rc;
  char *text = NULL;
  if (!(rc = apply_passes(a, m))) {
    int st = lstmc_model_report(m, rows, cols, arg_flag(a, "json"), &text);
    if (st) rc = fail(st);
    else fputs(text, stdout);
  }
  lstmc_free(text);
  lstmc_model_free(m);
  return rc;
}
