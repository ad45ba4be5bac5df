/* `lstmc compile`: ahead-of-time code for a model and its weights, per target.
 *
 * NOTE for the merge: on this branch (cuda) only --target cuda exists (tools/cmd_compile_cuda.c); the CPU
 * backend's `compile --target cpu` is being written in parallel on branch cpu. The two option tables and
 * the dispatch below are meant to be joined into one. */
#include <string.h>

#include "tools/cli.h"

int cmd_compile_cuda(Args *a);

const OptSpec compile_opts[] = {
    {"weights", 1, "weights file (formats shape the code)"},
    {"target", 1, "cuda"},
    {"emit", 1, "cuda: cuda (source), ptx or cubin"},
    {"o", 1, "output file"},
    {"header", 1, "cuda: also write a C header describing the launch contract"},
    {"blob", 1, "cuda: also write the packed weight images (blob, then decoder)"},
    {"arch", 1, "cuda: target architecture, e.g. sm_90 (default: the GPU's, else sm_90)"},
    {"batch", 1, "cuda: streams of the batched kernel, 1..8 (default 1)"},
    {"sms", 1, "cuda: multiprocessors to plan for (default: the GPU's or the architecture's)"},
    {"smem", 1, "cuda: shared memory per block to plan for, bytes"},
    {"threads", 1, "cuda: threads per block of the persistent kernel (default 512)"},
    {"no-cache", 0, "cuda: do not use the kernel cache"},
    {"verbose", 0, "report the plan and the compilation"},
    {0}};

int cmd_compile(Args *a) {
  int rc = require(a, "target");
  if (rc) return rc;
  const char *t = arg_str(a, "target");
  if (!strcmp(t, "cuda")) return cmd_compile_cuda(a);
  return usage_error("compile: --target %s is not available in this build (cuda)", t);
}
