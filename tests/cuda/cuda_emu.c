/* The emulated device (see cuda_emu.h). */
#include "cuda_emu.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cublas_host.h"
#include "support/alloc.h"
#include "support/err.h"

typedef struct EmuDev {
  CudaDev base;
  char workdir[512];
  void *so;
  int (*launch)(void (*fn)(LxParams), int grid, int block, int smem, const LxParams *p);
  int (*launch_thunk)(void (*fn)(const void *), const void *args, size_t size, int grid, int block, int smem);
  void (*release)(void);
  cublasHandle_t blas;
} EmuDev;

static int module_count;
/* The last module compiled in this process, reused for the same source (the training tests make many
 * devices for one module). */
static char *last_source;
static char last_so[700];

static int emu_alloc(CudaDev *d, size_t n, CUdeviceptr *p) {
  (void)d;
  void *m = lx_malloc(n ? n : 16);
  if (!m) return lx_nomem("allocating emulated device memory");
  memset(m, 0xff, n);
  *p = (CUdeviceptr)(uintptr_t)m;
  return 0;
}

static void emu_free(CudaDev *d, CUdeviceptr p) {
  (void)d;
  lx_free((void *)(uintptr_t)p);
}

static int emu_h2d(CudaDev *d, CUdeviceptr dst, const void *src, size_t n) {
  (void)d;
  if (n) memcpy((void *)(uintptr_t)dst, src, n);
  return 0;
}

static int emu_d2h(CudaDev *d, void *dst, CUdeviceptr src, size_t n) {
  (void)d;
  if (n) memcpy(dst, (const void *)(uintptr_t)src, n);
  return 0;
}

static int emu_memset32(CudaDev *d, CUdeviceptr dst, uint32_t v, size_t n) {
  (void)d;
  uint32_t *p = (uint32_t *)(uintptr_t)dst;
  for (size_t i = 0; i < n; i++) p[i] = v;
  return 0;
}

static int emu_load(CudaDev *d, const char *source, const char *name, int no_cache, int verbose) {
  (void)no_cache;
  EmuDev *e = (EmuDev *)d;
  char src[700], so[700], cmd[3000];
  if (last_source && !strcmp(last_source, source)) {
    snprintf(so, sizeof so, "%s", last_so);
    goto open;
  }
  int k = module_count++;
  snprintf(src, sizeof src, "%s/emu_%d_%s.c", e->workdir, k, name);
  snprintf(so, sizeof so, "%s/emu_%d.so", e->workdir, k);
  FILE *f = fopen(src, "w");
  if (!f) return lx_fail(LSTMC_ERR_IO, "emu: cannot write %s", src);
  fputs(source, f);
  fclose(f);
  /* no sanitizers: the coroutines of the emulator switch stacks */
  snprintf(cmd, sizeof cmd, "%s -std=gnu11 -O1 -g -fPIC -shared -fno-strict-aliasing -w -I%s -o %s %s %s/tests/cuda/cuda_emu_rt.c -lm",
           LSTMC_TEST_CC, LSTMC_SOURCE_DIR, so, src, LSTMC_SOURCE_DIR);
  if (verbose) fprintf(stderr, "emu: %s\n", cmd);
  if (system(cmd) != 0) return lx_fail(LSTMC_ERR_BACKEND, "emu: the host compiler failed on %s (%s)", src, cmd);
  free(last_source);
  last_source = strdup(source);
  snprintf(last_so, sizeof last_so, "%s", so);
open:
  if (!(e->so = dlopen(so, RTLD_NOW | RTLD_LOCAL))) return lx_fail(LSTMC_ERR_BACKEND, "emu: dlopen %s: %s", so, dlerror());
  *(void **)&e->launch = dlsym(e->so, "lx_emu_launch");
  *(void **)&e->launch_thunk = dlsym(e->so, "lx_emu_launch_thunk");
  *(void **)&e->release = dlsym(e->so, "lx_emu_release");
  if (!e->launch || !e->launch_thunk || !e->release) return lx_fail(LSTMC_ERR_BACKEND, "emu: %s lacks the emulator's entry points", so);
  return 0;
}

/* A kernel taking one struct (the training kernels) is started through its generated thunk. */
static int emu_kernel(CudaDev *d, const char *name, int smem, void **fn) {
  EmuDev *e = (EmuDev *)d;
  if (smem > d->info.smem_optin)
    return lx_fail(LSTMC_ERR_BACKEND, "emu: kernel %s wants %d bytes of shared memory, the device has %d", name, smem, d->info.smem_optin);
  char thunk[160];
  snprintf(thunk, sizeof thunk, "lx_emu_thunk_%s", name);
  *fn = dlsym(e->so, thunk);
  if (*fn) return 0;
  *fn = dlsym(e->so, name);
  if (!*fn) return lx_fail(LSTMC_ERR_BACKEND, "emu: no kernel %s in the module", name);
  return 0;
}

static int emu_launch(CudaDev *d, void *fn, int grid, int block, int smem, int cooperative, const LxParams *p) {
  EmuDev *e = (EmuDev *)d;
  if (cooperative && grid > d->info.sms) return lx_fail(LSTMC_ERR_BACKEND, "emu: %d blocks cannot all be resident on %d SMs", grid, d->info.sms);
  void (*k)(LxParams);
  *(void **)&k = fn;
  if (e->launch(k, grid, block, smem, p)) return lx_nomem("emulating a launch");
  return 0;
}

static int emu_blas(CudaDev *d, const CudaBlas **b, cublasHandle_t *h) {
  EmuDev *e = (EmuDev *)d;
  const CudaBlas *t = cublas_host_table();
  int st;
  if (!e->blas) {
    if ((st = BLAS_CALL(t, cublasCreate, (&e->blas), "creating a cuBLAS handle"))) return st;
    if ((st = BLAS_CALL(t, cublasSetMathMode, (e->blas, CUBLAS_DEFAULT_MATH), "setting cuBLAS' math mode"))) return st;
  }
  *b = t;
  *h = e->blas;
  return 0;
}

static int emu_gemm(CudaDev *d, int ta, int tb, int m, int n, int k, CUdeviceptr A, int lda, CUdeviceptr B, int ldb,
                    CUdeviceptr C, int ldc) {
  const CudaBlas *b;
  cublasHandle_t h;
  int st = emu_blas(d, &b, &h);
  const float one = 1.0f, zero = 0.0f;
  if (!st)
    st = BLAS_CALL(b, cublasSgemm,
                   (h, ta, tb, m, n, k, &one, (const float *)(uintptr_t)A, lda, (const float *)(uintptr_t)B, ldb, &zero,
                    (float *)(uintptr_t)C, ldc),
                   "multiplying matrices");
  return st;
}

static int emu_enqueue(CudaDev *d, void *fn, int grid, int block, int smem, const void *args, size_t size) {
  EmuDev *e = (EmuDev *)d;
  if (grid < 1 || block < 32 || block % 32 || block > 1024)
    return lx_fail(LSTMC_ERR_BACKEND, "emu: a launch of %d blocks of %d threads (blocks of 32..1024 threads, a multiple of 32)", grid, block);
  if (smem > d->info.smem_optin)
    return lx_fail(LSTMC_ERR_BACKEND, "emu: a launch wants %d bytes of shared memory, the device has %d", smem, d->info.smem_optin);
  void (*k)(const void *);
  *(void **)&k = fn;
  int rc = e->launch_thunk(k, args, size, grid, block, smem);
  if (rc == -2) return lx_fail(LSTMC_ERR_BACKEND, "emu: a kernel argument of %zu bytes (the emulator holds 1024)", size);
  if (rc) return lx_nomem("emulating a launch");
  return 0;
}

static int emu_sync(CudaDev *d) {
  (void)d;
  return 0;
}

static void emu_close(CudaDev *d) {
  EmuDev *e = (EmuDev *)d;
  if (!e) return;
  if (e->blas) cublas_host_table()->cublasDestroy(e->blas);
  if (e->so) {
    if (e->release) e->release();
    dlclose(e->so);
  }
  lx_free(e);
}

static const CudaDevOps emu_ops = {emu_alloc,  emu_free,   emu_h2d,    emu_d2h,  emu_memset32, emu_load, emu_kernel,
                                   emu_launch, emu_gemm,   emu_close,  emu_enqueue, emu_sync, emu_blas};

int cuda_emu_open(const char *workdir, int sms, int smem, int threads, CudaDev **out) {
  EmuDev *e = lx_calloc(1, sizeof *e);
  if (!e) return lx_nomem("opening the emulated device");
  e->base.ops = &emu_ops;
  e->base.emu = 1;
  e->base.info.arch = 90;
  e->base.info.sms = sms;
  e->base.info.smem_optin = smem;
  e->base.info.l2_bytes = 1 << 20;
  e->base.info.threads = threads;
  snprintf(e->base.info.name, sizeof e->base.info.name, "the host emulator");
  snprintf(e->workdir, sizeof e->workdir, "%s", workdir);
  *out = &e->base;
  return 0;
}
