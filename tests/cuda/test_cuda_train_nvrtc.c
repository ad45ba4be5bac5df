/* The CUDA training kernels (codegen/cuda/dev_train.h) compile with NVRTC for sm_80 and sm_90 (cubin, with
 * ptxas' resource report): every kernel of LX_TRAIN_KERNELS is in the module, none spills registers. A
 * second compile of the same source is a cache hit (one module serves every model). The emulator's
 * variant of the source (LX_EMU, thunks) is what test_cuda_train_emu runs; it must differ only by those.
 * Skipped (77) only when libnvrtc is absent. Compile times are printed, not checked. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "codegen/cuda/cuda_compile.h"
#include "codegen/cuda/cuda_loader.h"
#include "codegen/cuda/cuda_train_codegen.h"
#include "lstmc.h"
#include "support/alloc.h"
#include "testutil.h"

/* Sum of "N bytes spill stores" over the report. */
static int spill_bytes(const char *log) {
  int spills = 0;
  for (const char *q = log; q && (q = strstr(q, " bytes spill stores")); q++) {
    const char *d = q;
    while (d > log && d[-1] >= '0' && d[-1] <= '9') d--;
    spills += atoi(d);
  }
  return spills;
}

int main(int argc, char **argv) {
  const CudaNvrtc *nv;
  if (cuda_nvrtc_open(&nv)) {
    printf("cuda_train_nvrtc: skipped (%s)\n", lstmc_errmsg());
    return 77;
  }
  char dir[600];
  snprintf(dir, sizeof dir, "%s/train_nvrtc_cache", argc > 1 ? argv[1] : ".");
  mkdir(dir, 0755);
  char *src = NULL, *emu = NULL;
  if (!CHECK(cuda_train_source(0, &src) == 0) || !CHECK(cuda_train_source(1, &emu) == 0)) return tu_summary("cuda_train_nvrtc");
  CHECK(strstr(src, "LX_EMU 1") == NULL);
  CHECK(strstr(emu, "#define LX_EMU 1") != NULL);
  CHECK(strstr(emu, "void lx_emu_thunk_lx_t_optim(const void *p) { lx_t_optim(*(const LxOptimArgs *)p); }") != NULL);
  for (int arch = 80; arch <= 90; arch += 10) {
    if (!cuda_nvrtc_supports_arch(arch)) {
      printf("sm_%d: not supported by this NVRTC, skipped\n", arch);
      continue;
    }
    for (int pass = 0; pass < 2; pass++) {
      CudaCompileRequest rq = {src, "lstmc_train.cu", arch, CUDA_EMIT_CUBIN, 0, dir, 0};
      CudaCompileStats cs;
      uint8_t *bin = NULL;
      size_t n = 0;
      char *log = NULL;
      int st = cuda_compile(&rq, &bin, &n, &log, &cs);
      if (!CHECK(st == 0)) {
        fprintf(stderr, "    sm_%d: %s\n", arch, lstmc_errmsg());
      } else if (pass == 0) {
        printf("sm_%d: cubin %zu bytes, NVRTC %.2f s (%s), spill bytes %d\n", arch, n, cs.compile_seconds,
               cs.compiled ? "compiled" : "cache hit", spill_bytes(log));
        if (cs.compiled) { /* the report exists only when NVRTC ran (a warm cache from an earlier run has none) */
          for (int k = 0; k < cuda_train_kernel_count; k++) {
            char entry[160];
            snprintf(entry, sizeof entry, "Compiling entry function '%s'", cuda_train_kernel_names[k]);
            if (!CHECK(log && strstr(log, entry))) fprintf(stderr, "    sm_%d: no kernel %s in the module\n", arch, cuda_train_kernel_names[k]);
          }
          if (!CHECK_INT_EQ(spill_bytes(log), 0)) fprintf(stderr, "    ptxas' report:\n%s\n", log);
        }
      } else {
        CHECK_INT_EQ(cs.compiled, 0); /* the same source again: a cache hit */
      }
      lx_free(bin);
      lx_free(log);
    }
  }
  lx_free(src);
  lx_free(emu);
  return tu_summary("cuda_train_nvrtc");
}
