/* lstmc compile: a model and its weights, after the pass pipeline (--passes, else the spec's, as eval
 * runs it), as a standalone object file with a C header (include/lstmc.h, lstmc_model_compile). */
#include <string.h>

#include "tools/cli.h"

const OptSpec compile_opts[] = {{"weights", 1, "weights file"},
                                {"target", 1, "code generator: cpu (default)"},
                                {"emit", 1, "obj (default), asm or llvm"},
                                {"o", 1, "output file"},
                                {"header", 1, "also write the C header of the object's API"},
                                {"name", 1, "prefix of the API's symbols (default: the header's file name)"},
                                {"cpu", 1, "native (default: this machine's CPU and features) or an LLVM CPU name"},
                                {"features", 1, "with --cpu NAME: LLVM features, e.g. +avx2,+fma"},
                                PASS_OPTSPECS, /* its --verbose also prints the compiler's phase times */
                                {0}};

int cmd_compile(Args *a) {
  int rc;
  if ((rc = require(a, "o"))) return rc;
  lstmc_model *m;
  if ((rc = open_model(a, 1, &m))) return rc;
  if ((rc = apply_passes(a, m))) {
    lstmc_model_free(m);
    return rc;
  }
  lstmc_compile_opts co;
  memset(&co, 0, sizeof co);
  co.target = arg_str(a, "target");
  co.emit = arg_str(a, "emit");
  co.output = arg_str(a, "o");
  co.header = arg_str(a, "header");
  co.name = arg_str(a, "name");
  co.cpu = arg_str(a, "cpu");
  co.features = arg_str(a, "features");
  co.verbose = arg_flag(a, "verbose");
  int st = lstmc_model_compile(m, &co);
  rc = st ? fail(st) : 0;
  lstmc_model_free(m);
  return rc;
}
