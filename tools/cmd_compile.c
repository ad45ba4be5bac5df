/* lstmc compile: a model and its weights, after the pass pipeline (--passes, else the spec's, as eval runs
 * it), as ahead-of-time code (include/lstmc.h, lstmc_model_compile). --target cpu (default): a standalone
 * object file with a C header. --target cuda: the kernel source, PTX or cubin with a header describing the
 * launch contract, and optionally the packed weight images. --target systolic: a folder of the array's images
 * with a JSON manifest (docs/systolic.md). */
#include <string.h>

#include "tools/cli.h"

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

int cmd_compile(Args *a) {
  int rc;
  long long batch, sms, smem, threads;
  lstmc_systolic_opts sys;
  /* 0: the default of the target */
  if ((rc = require(a, "o")) || (rc = arg_int(a, "batch", 0, 1, 8, &batch)) || (rc = arg_int(a, "sms", 0, 1, 4096, &sms)) ||
      (rc = arg_int(a, "smem", 0, 1024, 1 << 30, &smem)) || (rc = arg_int(a, "threads", 0, 32, 1024, &threads)) ||
      (rc = systolic_opts_from_args(a, &sys)))
    return rc;
  const lstmc_compile_opts co = {.target = arg_str(a, "target"),
                                 .emit = arg_str(a, "emit"),
                                 .output = arg_str(a, "o"),
                                 .header = arg_str(a, "header"),
                                 .verbose = arg_flag(a, "verbose"),
                                 .name = arg_str(a, "name"),
                                 .cpu = arg_str(a, "cpu"),
                                 .features = arg_str(a, "features"),
                                 .arch = arg_str(a, "arch"),
                                 .sms = (int)sms,
                                 .smem = (int)smem,
                                 .threads = (int)threads,
                                 .batch = (int)batch,
                                 .blob = arg_str(a, "blob"),
                                 .no_cache = arg_flag(a, "no-cache"),
                                 .systolic = &sys};
  /* what needs no model is checked before the model loads */
  int st = lstmc_compile_check(&co);
  if (st) return st == LSTMC_ERR_USAGE ? usage_error("%s", lstmc_errmsg()) : fail(st);
  lstmc_model *m;
  if ((rc = open_model(a, 1, &m))) return rc;
  if (!(rc = apply_passes(a, m)) && (st = lstmc_model_compile(m, &co))) rc = fail(st);
  if (!rc && target_is_systolic(a))
    fprintf(stderr, "lstmc: wrote the systolic array's images to %s (read back and checked)\n", co.output);
  lstmc_model_free(m);
  return rc;
}
