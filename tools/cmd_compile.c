/* lstmc compile: a model and its weights, after the pass pipeline (--passes, else the spec's, as eval runs
 * it), as ahead-of-time code. --target cpu (default): a standalone object file with a C header
 * (include/lstmc.h, lstmc_model_compile). --target cuda: the kernel source, PTX or cubin with a header
 * describing the launch contract (tools/cmd_compile_cuda.c). --target systolic: a folder of the array's
 * images with a JSON manifest (docs/systolic.md), through lstmc_model_compile too. */
#include <string.h>

#include "tools/cli.h"

int cmd_compile_cuda(Args *a);

const OptSpec compile_opts[] = {
    {"weights", 1, "weights file"},
    {"target", 1, "code generator: cpu (default), cuda, or systolic (-o DIR: the array's images)"},
    {"emit", 1, "cpu: obj (default), asm or llvm; cuda: cuda (source, default), ptx or cubin"},
    {"o", 1, "output file"},
    {"header", 1, "cpu: the C header of the object's API; cuda: the launch contract"},
    {"name", 1, "cpu: prefix of the API's symbols (default: the header's file name)"},
    {"cpu", 1, "cpu: native (default: this machine's CPU and features) or an LLVM CPU name"},
    {"features", 1, "cpu: with --cpu NAME, LLVM features, e.g. +avx2,+fma"},
    {"blob", 1, "cuda: also write the packed weight images (blob, then decoder)"},
    {"arch", 1, "cuda: target architecture, e.g. sm_90 (default: the GPU's, else sm_90)"},
    {"batch", 1, "cuda: streams of the batched kernel, 1..8 (default 1)"},
    {"sms", 1, "cuda: multiprocessors to plan for (default: the GPU's or the architecture's)"},
    {"smem", 1, "cuda: shared memory per block to plan for, bytes"},
    {"threads", 1, "cuda: threads per block of the persistent kernel (default 512)"},
    {"no-cache", 0, "cuda: do not use the kernel cache"},
    PASS_OPTSPECS, /* its --verbose also prints the compiler's phase times, the GPU plan */
    SYSTOLIC_OPTSPECS,
    {0}};

static int compile_cpu(Args *a) {
  int rc;
  lstmc_systolic_opts sys;
  if ((rc = require(a, "o")) || (rc = systolic_opts_from_args(a, &sys))) return rc;
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
  co.systolic = &sys;
  int st = lstmc_model_compile(m, &co);
  rc = st ? fail(st) : 0;
  if (!st && target_is_systolic(a))
    fprintf(stderr, "lstmc: wrote the systolic array's images to %s (read back and checked)\n", co.output);
  lstmc_model_free(m);
  return rc;
}

int cmd_compile(Args *a) {
  const char *t = arg_str(a, "target");
  if (t && !strcmp(t, "cuda")) return cmd_compile_cuda(a);
  return compile_cpu(a);
}
