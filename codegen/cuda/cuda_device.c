/* The real device: the CUDA driver API, NVRTC through the kernel cache, and cuBLAS (see cuda_exec.h).
 * Everything runs on the default stream and every launch is followed by a synchronization, so a failing
 * kernel is reported by the call that launched it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/cuda/cuda_compile.h"
#include "codegen/cuda/cuda_exec.h"
#include "support/alloc.h"
#include "support/err.h"

typedef struct RealDev {
  CudaDev base;
  const CudaDriver *cu;
  const CudaBlas *blas;
  CUdevice dev;
  CUcontext ctx;
  CUmodule mod;
  cublasHandle_t handle;
} RealDev;

/* The context is made current on every entry, so an executor may be used from any one thread at a time. */
static const CudaDriver *use(CudaDev *d) {
  RealDev *r = (RealDev *)d;
  r->cu->cuCtxSetCurrent(r->ctx);
  return r->cu;
}

static int real_alloc(CudaDev *d, size_t n, CUdeviceptr *p) {
  const CudaDriver *cu = use(d);
  *p = 0;
  return CU_CALL(cu, cuMemAlloc, (p, n ? n : 16), "allocating GPU memory");
}

static void real_free(CudaDev *d, CUdeviceptr p) {
  if (p) ((RealDev *)d)->cu->cuMemFree(p);
}

static int real_h2d(CudaDev *d, CUdeviceptr dst, const void *src, size_t n) {
  const CudaDriver *cu = use(d);
  return n ? CU_CALL(cu, cuMemcpyHtoD, (dst, src, n), "copying to the GPU") : 0;
}

static int real_d2h(CudaDev *d, void *dst, CUdeviceptr src, size_t n) {
  const CudaDriver *cu = use(d);
  return n ? CU_CALL(cu, cuMemcpyDtoH, (dst, src, n), "copying from the GPU") : 0;
}

static int real_memset32(CudaDev *d, CUdeviceptr dst, uint32_t v, size_t n) {
  const CudaDriver *cu = use(d);
  return n ? CU_CALL(cu, cuMemsetD32, (dst, v, n), "clearing GPU memory") : 0;
}

static int real_load(CudaDev *d, const char *source, const char *name, int no_cache, int verbose) {
  RealDev *r = (RealDev *)d;
  use(d);
  CudaCompileRequest rq = {source, name, d->info.arch, CUDA_EMIT_CUBIN, no_cache, NULL, verbose};
  uint8_t *cubin;
  size_t n;
  int st = cuda_compile(&rq, &cubin, &n, NULL, NULL);
  if (st) return st;
  char what[160];
  snprintf(what, sizeof what, "loading the module of %s", name);
  st = CU_CALL(r->cu, cuModuleLoadData, (&r->mod, cubin), what);
  lx_free(cubin);
  return st;
}

static int real_kernel(CudaDev *d, const char *name, int smem, void **fn) {
  RealDev *r = (RealDev *)d;
  CUfunction f;
  char what[160];
  snprintf(what, sizeof what, "finding kernel %s", name);
  int st = CU_CALL(r->cu, cuModuleGetFunction, (&f, r->mod, name), what);
  if (!st && smem > 48 * 1024) {
    snprintf(what, sizeof what, "allowing kernel %s %d bytes of shared memory", name, smem);
    st = CU_CALL(r->cu, cuFuncSetAttribute, (f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, smem), what);
  }
  *fn = st ? NULL : (void *)f;
  return st;
}

static int real_launch(CudaDev *d, void *fn, int grid, int block, int smem, int cooperative, const LxParams *p) {
  RealDev *r = (RealDev *)d;
  use(d);
  void *args[1] = {(void *)p};
  CUresult res;
  if (cooperative) {
    res = r->cu->cuLaunchCooperativeKernel((CUfunction)fn, (unsigned)grid, 1, 1, (unsigned)block, 1, 1, (unsigned)smem, NULL, args);
    if (res == CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE)
      return lx_fail(LSTMC_ERR_BACKEND,
                     "cuda: %d blocks of %d threads with %d bytes of shared memory cannot all be resident on %s "
                     "(is another process using the GPU?)",
                     grid, block, smem, d->info.name);
    if (cuda_check_driver(r->cu, res, "cuLaunchCooperativeKernel", "launching the persistent LSTM kernel")) return LSTMC_ERR_BACKEND;
  } else {
    res = r->cu->cuLaunchKernel((CUfunction)fn, (unsigned)grid, 1, 1, (unsigned)block, 1, 1, (unsigned)smem, NULL, args, NULL);
    if (cuda_check_driver(r->cu, res, "cuLaunchKernel", "launching a kernel")) return LSTMC_ERR_BACKEND;
  }
  return CU_CALL(r->cu, cuCtxSynchronize, (), "running a kernel");
}

static int real_enqueue(CudaDev *d, void *fn, int grid, int block, int smem, const void *args, size_t size) {
  RealDev *r = (RealDev *)d;
  use(d);
  (void)size; /* the driver takes the struct's size from the kernel's signature */
  void *params[1] = {(void *)args};
  return CU_CALL(r->cu, cuLaunchKernel,
                 ((CUfunction)fn, (unsigned)grid, 1, 1, (unsigned)block, 1, 1, (unsigned)smem, NULL, params, NULL),
                 "queueing a training kernel");
}

static int real_sync(CudaDev *d) {
  const CudaDriver *cu = use(d);
  return CU_CALL(cu, cuCtxSynchronize, (), "running GPU work");
}

/* cuBLAS, opened and given a handle on first use. */
static int real_blas(CudaDev *d, const CudaBlas **b, cublasHandle_t *h) {
  RealDev *r = (RealDev *)d;
  use(d);
  int st;
  if (!r->blas && (st = cuda_blas_open(&r->blas))) return st;
  if (!r->handle) {
    if ((st = BLAS_CALL(r->blas, cublasCreate, (&r->handle), "creating a cuBLAS handle"))) return st;
    /* plain fp32 products (no TF32), as the reference computes */
    if ((st = BLAS_CALL(r->blas, cublasSetMathMode, (r->handle, CUBLAS_DEFAULT_MATH), "setting cuBLAS' math mode"))) {
      r->blas->cublasDestroy(r->handle);
      r->handle = NULL;
      return st;
    }
  }
  *b = r->blas;
  *h = r->handle;
  return 0;
}

static int real_gemm(CudaDev *d, int ta, int tb, int m, int n, int k, CUdeviceptr A, int lda, CUdeviceptr B, int ldb,
                     CUdeviceptr C, int ldc) {
  RealDev *r = (RealDev *)d;
  const CudaBlas *b;
  cublasHandle_t h;
  int st = real_blas(d, &b, &h);
  if (st) return st;
  const float one = 1.0f, zero = 0.0f;
  st = BLAS_CALL(r->blas, cublasSgemm,
                 (r->handle, ta, tb, m, n, k, &one, (const float *)(uintptr_t)A, lda, (const float *)(uintptr_t)B, ldb, &zero,
                  (float *)(uintptr_t)C, ldc),
                 "multiplying matrices");
  if (!st) st = CU_CALL(r->cu, cuCtxSynchronize, (), "multiplying matrices");
  return st;
}

static void real_close(CudaDev *d) {
  RealDev *r = (RealDev *)d;
  if (!r) return;
  if (r->handle) r->blas->cublasDestroy(r->handle);
  if (r->mod) r->cu->cuModuleUnload(r->mod);
  if (r->ctx) r->cu->cuDevicePrimaryCtxRelease(r->dev);
  lx_free(r);
}

static const CudaDevOps real_ops = {real_alloc,  real_free,   real_h2d,     real_d2h,  real_memset32,
                                    real_load,   real_kernel, real_launch,  real_gemm, real_close,
                                    real_enqueue, real_sync,  real_blas};

static int env_int(const char *name, int def, int lo, int hi) {
  const char *s = getenv(name);
  if (!s || !*s) return def;
  char *end;
  long v = strtol(s, &end, 10);
  return *end || v < lo || v > hi ? def : (int)v;
}

int cuda_dev_open(CudaDev **out) {
  *out = NULL;
  const CudaDriver *cu;
  int st = cuda_driver_open(&cu);
  if (st) return st;
  RealDev *r = lx_calloc(1, sizeof *r);
  if (!r) return lx_nomem("opening the CUDA device");
  r->base.ops = &real_ops;
  r->cu = cu;
  int ordinal = env_int("LSTMC_CUDA_DEVICE", 0, 0, 1024), count = 0;
  CudaDeviceInfo *info = &r->base.info;
  int major = 0, minor = 0, coop = 0;
  if ((st = CU_CALL(cu, cuDeviceGetCount, (&count), "counting CUDA devices"))) goto fail;
  if (ordinal >= count) {
    st = lx_fail(LSTMC_ERR_NODEVICE, "no CUDA device %d (LSTMC_CUDA_DEVICE; the driver reports %d)", ordinal, count);
    goto fail;
  }
  if ((st = CU_CALL(cu, cuDeviceGet, (&r->dev, ordinal), "opening the CUDA device")) ||
      (st = CU_CALL(cu, cuDeviceGetName, (info->name, (int)sizeof info->name, r->dev), "reading the device's name")) ||
      (st = CU_CALL(cu, cuDeviceGetAttribute, (&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, r->dev), "reading the compute capability")) ||
      (st = CU_CALL(cu, cuDeviceGetAttribute, (&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, r->dev), "reading the compute capability")) ||
      (st = CU_CALL(cu, cuDeviceGetAttribute, (&info->sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, r->dev), "reading the SM count")) ||
      (st = CU_CALL(cu, cuDeviceGetAttribute, (&info->smem_optin, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, r->dev), "reading the shared memory size")) ||
      (st = CU_CALL(cu, cuDeviceGetAttribute, (&info->l2_bytes, CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE, r->dev), "reading the L2 size")) ||
      (st = CU_CALL(cu, cuDeviceGetAttribute, (&coop, CU_DEVICE_ATTRIBUTE_COOPERATIVE_LAUNCH, r->dev), "reading the cooperative launch support")))
    goto fail;
  info->arch = major * 10 + minor;
  if (info->arch < 70) {
    st = lx_fail(LSTMC_ERR_UNSUPPORTED, "cuda: %s is compute capability %d.%d; lstmc's kernels need 7.0 or later", info->name, major, minor);
    goto fail;
  }
  if (!coop) {
    st = lx_fail(LSTMC_ERR_UNSUPPORTED, "cuda: %s does not support cooperative launches (needed by the persistent kernel)", info->name);
    goto fail;
  }
  info->threads = env_int("LSTMC_CUDA_THREADS", 512, 32, 1024) & ~31;
  if ((st = CU_CALL(cu, cuDevicePrimaryCtxRetain, (&r->ctx, r->dev), "creating the CUDA context")) ||
      (st = CU_CALL(cu, cuCtxSetCurrent, (r->ctx), "making the CUDA context current")))
    goto fail;
  *out = &r->base;
  return 0;
fail:
  real_close(&r->base);
  return st;
}
