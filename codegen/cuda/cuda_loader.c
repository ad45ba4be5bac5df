/* Opens libcuda, libnvrtc and libcublas with dlopen and fills their function tables (see cuda_loader.h).
 * Each library is searched under its versioned names, then in the toolkit folders ($CUDA_HOME/lib64,
 * /usr/local/cuda/lib64); the first that opens and has every needed symbol wins. A library that is missing
 * or incomplete is one LSTMC_ERR_NODEVICE error naming what was tried, never a crash later on. */
#include "codegen/cuda/cuda_loader.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/err.h"
#include "support/strbuf.h"

/* A symbol to bind: the table slot, and its names in order of preference ("a|b": try a, then b). */
typedef struct SymSpec {
  const char *names;
  size_t offset; /* of the function pointer inside the table */
  int optional;
} SymSpec;

#define SYM(T, field, names) {names, offsetof(T, field), 0}
#define SYM_OPT(T, field, names) {names, offsetof(T, field), 1}

static const SymSpec driver_syms[] = {
    SYM(CudaDriver, cuInit, "cuInit"),
    SYM(CudaDriver, cuDriverGetVersion, "cuDriverGetVersion"),
    SYM(CudaDriver, cuDeviceGetCount, "cuDeviceGetCount"),
    SYM(CudaDriver, cuDeviceGet, "cuDeviceGet"),
    SYM(CudaDriver, cuDeviceGetName, "cuDeviceGetName"),
    SYM(CudaDriver, cuDeviceGetAttribute, "cuDeviceGetAttribute"),
    SYM(CudaDriver, cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain"),
    SYM(CudaDriver, cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2|cuDevicePrimaryCtxRelease"),
    SYM(CudaDriver, cuCtxSetCurrent, "cuCtxSetCurrent"),
    SYM(CudaDriver, cuCtxSynchronize, "cuCtxSynchronize"),
    SYM(CudaDriver, cuModuleLoadData, "cuModuleLoadData"),
    SYM(CudaDriver, cuModuleUnload, "cuModuleUnload"),
    SYM(CudaDriver, cuModuleGetFunction, "cuModuleGetFunction"),
    SYM(CudaDriver, cuFuncSetAttribute, "cuFuncSetAttribute"),
    SYM(CudaDriver, cuFuncGetAttribute, "cuFuncGetAttribute"),
    SYM(CudaDriver, cuOccupancyMaxActiveBlocksPerMultiprocessor, "cuOccupancyMaxActiveBlocksPerMultiprocessor"),
    SYM(CudaDriver, cuMemAlloc, "cuMemAlloc_v2"),
    SYM(CudaDriver, cuMemFree, "cuMemFree_v2"),
    SYM(CudaDriver, cuMemcpyHtoD, "cuMemcpyHtoD_v2"),
    SYM(CudaDriver, cuMemcpyDtoH, "cuMemcpyDtoH_v2"),
    SYM(CudaDriver, cuMemsetD32, "cuMemsetD32_v2"),
    SYM(CudaDriver, cuLaunchKernel, "cuLaunchKernel"),
    SYM(CudaDriver, cuLaunchCooperativeKernel, "cuLaunchCooperativeKernel"),
    SYM(CudaDriver, cuEventCreate, "cuEventCreate"),
    SYM(CudaDriver, cuEventDestroy, "cuEventDestroy_v2|cuEventDestroy"),
    SYM(CudaDriver, cuEventRecord, "cuEventRecord"),
    SYM(CudaDriver, cuEventSynchronize, "cuEventSynchronize"),
    SYM(CudaDriver, cuEventElapsedTime, "cuEventElapsedTime_v2|cuEventElapsedTime"),
    SYM(CudaDriver, cuGetErrorString, "cuGetErrorString"),
    SYM(CudaDriver, cuGetErrorName, "cuGetErrorName"),
};

static const SymSpec nvrtc_syms[] = {
    SYM(CudaNvrtc, nvrtcVersion, "nvrtcVersion"),
    SYM(CudaNvrtc, nvrtcGetErrorString, "nvrtcGetErrorString"),
    SYM(CudaNvrtc, nvrtcCreateProgram, "nvrtcCreateProgram"),
    SYM(CudaNvrtc, nvrtcDestroyProgram, "nvrtcDestroyProgram"),
    SYM(CudaNvrtc, nvrtcCompileProgram, "nvrtcCompileProgram"),
    SYM(CudaNvrtc, nvrtcGetProgramLogSize, "nvrtcGetProgramLogSize"),
    SYM(CudaNvrtc, nvrtcGetProgramLog, "nvrtcGetProgramLog"),
    SYM(CudaNvrtc, nvrtcGetPTXSize, "nvrtcGetPTXSize"),
    SYM(CudaNvrtc, nvrtcGetPTX, "nvrtcGetPTX"),
    SYM(CudaNvrtc, nvrtcGetCUBINSize, "nvrtcGetCUBINSize"),
    SYM(CudaNvrtc, nvrtcGetCUBIN, "nvrtcGetCUBIN"),
    SYM(CudaNvrtc, nvrtcGetNumSupportedArchs, "nvrtcGetNumSupportedArchs"),
    SYM(CudaNvrtc, nvrtcGetSupportedArchs, "nvrtcGetSupportedArchs"),
};

static const SymSpec blas_syms[] = {
    SYM(CudaBlas, cublasCreate, "cublasCreate_v2"),
    SYM(CudaBlas, cublasDestroy, "cublasDestroy_v2"),
    SYM(CudaBlas, cublasSetStream, "cublasSetStream_v2"),
    SYM(CudaBlas, cublasSetMathMode, "cublasSetMathMode"),
    SYM(CudaBlas, cublasSgemm, "cublasSgemm_v2"),
    SYM(CudaBlas, cublasGemmEx, "cublasGemmEx"),
    SYM_OPT(CudaBlas, cublasGetStatusString, "cublasGetStatusString"),
};

static const SymSpec nccl_syms[] = {
    SYM(CudaNccl, ncclGetVersion, "ncclGetVersion"),
    SYM(CudaNccl, ncclGetUniqueId, "ncclGetUniqueId"),
    SYM(CudaNccl, ncclCommInitRank, "ncclCommInitRank"),
    SYM(CudaNccl, ncclCommDestroy, "ncclCommDestroy"),
    SYM(CudaNccl, ncclCommGetAsyncError, "ncclCommGetAsyncError"),
    SYM(CudaNccl, ncclAllReduce, "ncclAllReduce"),
    SYM(CudaNccl, ncclBroadcast, "ncclBroadcast"),
    SYM(CudaNccl, ncclGetErrorString, "ncclGetErrorString"),
};

#define NSYMS(a) ((int)(sizeof a / sizeof *a))

/* Binds every symbol of specs into table; on a missing one returns its name. */
static const char *bind_symbols(void *lib, void *table, const SymSpec *specs, int n) {
  for (int i = 0; i < n; i++) {
    void *fn = NULL;
    char name[96];
    const char *p = specs[i].names;
    while (!fn && *p) {
      size_t k = strcspn(p, "|");
      if (k >= sizeof name) k = sizeof name - 1;
      memcpy(name, p, k);
      name[k] = 0;
      fn = dlsym(lib, name);
      p += k;
      if (*p == '|') p++;
    }
    if (!fn && !specs[i].optional) return specs[i].names;
    memcpy((char *)table + specs[i].offset, &fn, sizeof fn);
  }
  return NULL;
}

/* Tries each candidate file name, bare (the loader's search path) and under the toolkit folders. On
 * success fills lib and path; otherwise writes what was tried into `tried`. env names a variable that,
 * when set, replaces the search with one file (empty: the library is treated as absent). */
static void *open_library(const char *env, const char *const *names, int nnames, void *table, const SymSpec *syms,
                          int nsyms, char *path, size_t pathsz, StrBuf *tried, const char **missing_sym) {
  const char *over = getenv(env);
  const char *home = getenv("CUDA_HOME");
  const char *dirs[3] = {"", home && *home ? home : NULL, "/usr/local/cuda"};
  *missing_sym = NULL;
  for (int d = 0; d < 3; d++) {
    if (!dirs[d]) continue;
    for (int i = 0; i < nnames; i++) {
      char file[512];
      if (over) {
        if (d > 0 || i > 0) return NULL;
        if (!*over) {
          sb_printf(tried, "%s is set empty", env);
          return NULL;
        }
        snprintf(file, sizeof file, "%s", over);
      } else if (d == 0) {
        snprintf(file, sizeof file, "%s", names[i]);
      } else {
        snprintf(file, sizeof file, "%s/lib64/%s", dirs[d], names[i]);
      }
      void *lib = dlopen(file, RTLD_NOW | RTLD_LOCAL);
      if (!lib) {
        if (d == 0 || over) sb_printf(tried, "%s%s", tried->len ? ", " : "", file);
        continue;
      }
      const char *miss = bind_symbols(lib, table, syms, nsyms);
      if (miss) {
        *missing_sym = miss;
        sb_printf(tried, "%s%s (lacks %s)", tried->len ? ", " : "", file, miss);
        dlclose(lib);
        continue;
      }
      if (strlen(file) >= pathsz) file[pathsz - 1] = 0; /* only shown in messages */
      memcpy(path, file, strlen(file) + 1);
      return lib;
    }
  }
  return NULL;
}

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- driver ------------------------------------------------------------------------------------------ */

static CudaDriver driver;
static int driver_state; /* 0 not tried, 1 ready, else the status of the failure (retried on the next call) */

static int driver_load(void) {
  static const char *const names[] = {"libcuda.so.1", "libcuda.so"};
  StrBuf tried;
  sb_init(&tried);
  const char *miss;
  memset(&driver, 0, sizeof driver);
  driver.lib = open_library("LSTMC_CUDA_DRIVER", names, 2, &driver, driver_syms, NSYMS(driver_syms), driver.path,
                            sizeof driver.path, &tried, &miss);
  if (!driver.lib) {
    int st = lx_fail(LSTMC_ERR_NODEVICE, "no CUDA driver (libcuda.so.1 not found; tried %s)",
                     tried.data ? sb_cstr(&tried) : "nothing");
    sb_free(&tried);
    return st;
  }
  sb_free(&tried);
  CUresult r = driver.cuInit(0);
  if (r == CUDA_ERROR_STUB_LIBRARY)
    return lx_fail(LSTMC_ERR_NODEVICE, "no CUDA driver (%s is the toolkit's stub library, not a driver)", driver.path);
  if (r == CUDA_ERROR_NO_DEVICE) return lx_fail(LSTMC_ERR_NODEVICE, "no CUDA device (cuInit: no CUDA-capable device is detected)");
  if (r) {
    int st = cuda_check_driver(&driver, r, "cuInit", "initializing the CUDA driver");
    lx_err_prefix("no CUDA device");
    (void)st;
    return LSTMC_ERR_NODEVICE;
  }
  int n = 0;
  if ((r = driver.cuDeviceGetCount(&n)) || n < 1)
    return lx_fail(LSTMC_ERR_NODEVICE, "no CUDA device (the driver at %s reports none)", driver.path);
  return 0;
}

int cuda_driver_open(const CudaDriver **out) {
  pthread_mutex_lock(&load_lock);
  int st = 0;
  if (driver_state != 1) {
    st = driver_load();
    if (st && driver.lib) {
      dlclose(driver.lib);
      driver.lib = NULL;
    }
    driver_state = st ? st : 1;
  }
  pthread_mutex_unlock(&load_lock);
  *out = st ? NULL : &driver;
  return st;
}

int cuda_check_driver(const CudaDriver *d, CUresult r, const char *call, const char *what) {
  if (r == 0) return 0;
  const char *s = NULL, *name = NULL;
  if (d && d->cuGetErrorString) d->cuGetErrorString(r, &s);
  if (d && d->cuGetErrorName) d->cuGetErrorName(r, &name);
  return lx_fail(r == CUDA_ERROR_OUT_OF_MEMORY ? LSTMC_ERR_NOMEM : LSTMC_ERR_BACKEND, "%s failed while %s: %s (%s, %d)",
                 call, what, s ? s : "unknown error", name ? name : "?", r);
}

/* ---- NVRTC ------------------------------------------------------------------------------------------- */

static CudaNvrtc nvrtc;
static int nvrtc_state;

int cuda_nvrtc_open(const CudaNvrtc **out) {
  static const char *const names[] = {"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so"};
  pthread_mutex_lock(&load_lock);
  int st = 0;
  if (nvrtc_state != 1) {
    StrBuf tried;
    sb_init(&tried);
    const char *miss;
    memset(&nvrtc, 0, sizeof nvrtc);
    nvrtc.lib = open_library("LSTMC_NVRTC", names, 4, &nvrtc, nvrtc_syms, NSYMS(nvrtc_syms), nvrtc.path,
                             sizeof nvrtc.path, &tried, &miss);
    if (!nvrtc.lib) {
      st = lx_fail(LSTMC_ERR_NODEVICE, "NVRTC not found (libnvrtc.so; tried %s and $CUDA_HOME/lib64, /usr/local/cuda/lib64)",
                   tried.data ? sb_cstr(&tried) : "nothing");
    } else if (nvrtc.nvrtcVersion(&nvrtc.major, &nvrtc.minor)) {
      st = lx_fail(LSTMC_ERR_BACKEND, "nvrtcVersion failed (%s)", nvrtc.path);
      dlclose(nvrtc.lib);
      nvrtc.lib = NULL;
    }
    sb_free(&tried);
    nvrtc_state = st ? st : 1;
  }
  pthread_mutex_unlock(&load_lock);
  *out = st ? NULL : &nvrtc;
  return st;
}

int cuda_check_nvrtc(const CudaNvrtc *n, nvrtcResult r, const char *call, const char *what) {
  if (r == 0) return 0;
  const char *s = n && n->nvrtcGetErrorString ? n->nvrtcGetErrorString(r) : NULL;
  return lx_fail(LSTMC_ERR_BACKEND, "%s failed while %s: %s (%d)", call, what, s ? s : "unknown error", r);
}

/* ---- cuBLAS ------------------------------------------------------------------------------------------ */

static CudaBlas blas;
static int blas_state;

int cuda_blas_open(const CudaBlas **out) {
  static const char *const names[] = {"libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so"};
  pthread_mutex_lock(&load_lock);
  int st = 0;
  if (blas_state != 1) {
    StrBuf tried;
    sb_init(&tried);
    const char *miss;
    memset(&blas, 0, sizeof blas);
    blas.lib = open_library("LSTMC_CUBLAS", names, 4, &blas, blas_syms, NSYMS(blas_syms), blas.path, sizeof blas.path,
                            &tried, &miss);
    if (!blas.lib)
      st = lx_fail(LSTMC_ERR_NODEVICE, "cuBLAS not found (libcublas.so; tried %s and $CUDA_HOME/lib64, /usr/local/cuda/lib64)",
                   tried.data ? sb_cstr(&tried) : "nothing");
    sb_free(&tried);
    blas_state = st ? st : 1;
  }
  pthread_mutex_unlock(&load_lock);
  *out = st ? NULL : &blas;
  return st;
}

int cuda_check_blas(const CudaBlas *b, cublasStatus_t r, const char *call, const char *what) {
  if (r == 0) return 0;
  const char *s = b && b->cublasGetStatusString ? b->cublasGetStatusString(r) : NULL;
  return lx_fail(r == 3 /* CUBLAS_STATUS_ALLOC_FAILED */ ? LSTMC_ERR_NOMEM : LSTMC_ERR_BACKEND,
                 "%s failed while %s: %s (cublasStatus %d)", call, what, s ? s : "cuBLAS error", r);
}

/* ---- NCCL -------------------------------------------------------------------------------------------- */

static CudaNccl nccl;
static int nccl_state;

int cuda_nccl_open(const CudaNccl **out) {
  static const char *const names[] = {"libnccl.so.2", "libnccl.so"};
  pthread_mutex_lock(&load_lock);
  int st = 0;
  if (nccl_state != 1) {
    StrBuf tried;
    sb_init(&tried);
    const char *miss;
    memset(&nccl, 0, sizeof nccl);
    nccl.lib = open_library("LSTMC_NCCL", names, 2, &nccl, nccl_syms, NSYMS(nccl_syms), nccl.path, sizeof nccl.path, &tried,
                            &miss);
    if (!nccl.lib)
      st = lx_fail(LSTMC_ERR_NODEVICE, "NCCL not found (libnccl.so.2; tried %s and $CUDA_HOME/lib64, /usr/local/cuda/lib64)",
                   tried.data ? sb_cstr(&tried) : "nothing");
    else if (nccl.ncclGetVersion(&nccl.version))
      nccl.version = 0;
    sb_free(&tried);
    nccl_state = st ? st : 1;
  }
  pthread_mutex_unlock(&load_lock);
  *out = st ? NULL : &nccl;
  return st;
}

int cuda_check_nccl(const CudaNccl *n, ncclResult_t r, const char *call, const char *what) {
  if (r == 0) return 0;
  const char *s = n && n->ncclGetErrorString ? n->ncclGetErrorString(r) : NULL;
  return lx_fail(LSTMC_ERR_BACKEND, "%s failed while %s: %s (ncclResult %d)", call, what, s ? s : "NCCL error", r);
}
