/* The CUDA libraries, opened at run time. lstmc never links against CUDA and needs no CUDA header to build:
 * the few driver, NVRTC, cuBLAS and NCCL types and entry points it uses are declared here, and cuda_loader.c fills
 * one function table per library with dlopen/dlsym (as hashcat's ext_nvrtc.c does). So lstmc builds, and
 * its non-GPU tests pass, on machines without CUDA; asking for `--target cuda` there is a clear error
 * (LSTMC_ERR_NODEVICE).
 *
 * Every call goes through CU_CALL / NVRTC_CALL / BLAS_CALL / NCCL_CALL, which turn a failure into one lstmc error naming
 * the call, what lstmc was doing, and the library's own error string.
 *
 * Memory: the tables are process-wide and live until exit (the libraries stay loaded). */
#ifndef LSTMC_CODEGEN_CUDA_LOADER_H
#define LSTMC_CODEGEN_CUDA_LOADER_H
#include <stddef.h>

/* ---- driver API (cuda.h) ----------------------------------------------------------------------------- */
typedef int CUresult; /* CUDA_SUCCESS = 0 */
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUstream_st *CUstream;
typedef struct CUevent_st *CUevent;

enum {
  CUDA_ERROR_OUT_OF_MEMORY = 2,
  CUDA_ERROR_NOT_INITIALIZED = 3,
  CUDA_ERROR_STUB_LIBRARY = 34,
  CUDA_ERROR_NO_DEVICE = 100,
  CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE = 720
};
/* CUdevice_attribute values used (cuda.h). */
enum {
  CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 1,
  CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16,
  CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE = 38,
  CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
  CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76,
  CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR = 81,
  CU_DEVICE_ATTRIBUTE_COOPERATIVE_LAUNCH = 95,
  CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97
};
/* CUfunction_attribute values used. */
enum {
  CU_FUNC_ATTRIBUTE_NUM_REGS = 4,
  CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES = 3,
  CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8
};
enum { CU_EVENT_DEFAULT = 0 };

typedef struct CudaDriver {
  void *lib;
  char path[256];
  CUresult (*cuInit)(unsigned flags);
  CUresult (*cuDriverGetVersion)(int *version);
  CUresult (*cuDeviceGetCount)(int *count);
  CUresult (*cuDeviceGet)(CUdevice *dev, int ordinal);
  CUresult (*cuDeviceGetName)(char *name, int len, CUdevice dev);
  CUresult (*cuDeviceGetAttribute)(int *value, int attrib, CUdevice dev);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *ctx, CUdevice dev);
  CUresult (*cuDevicePrimaryCtxRelease)(CUdevice dev);
  CUresult (*cuCtxSetCurrent)(CUcontext ctx);
  CUresult (*cuCtxSynchronize)(void);
  CUresult (*cuModuleLoadData)(CUmodule *mod, const void *image);
  CUresult (*cuModuleUnload)(CUmodule mod);
  CUresult (*cuModuleGetFunction)(CUfunction *fn, CUmodule mod, const char *name);
  CUresult (*cuFuncSetAttribute)(CUfunction fn, int attrib, int value);
  CUresult (*cuFuncGetAttribute)(int *value, int attrib, CUfunction fn);
  CUresult (*cuOccupancyMaxActiveBlocksPerMultiprocessor)(int *nblocks, CUfunction fn, int block, size_t smem);
  CUresult (*cuMemAlloc)(CUdeviceptr *p, size_t n);
  CUresult (*cuMemFree)(CUdeviceptr p);
  CUresult (*cuMemcpyHtoD)(CUdeviceptr dst, const void *src, size_t n);
  CUresult (*cuMemcpyDtoH)(void *dst, CUdeviceptr src, size_t n);
  CUresult (*cuMemsetD32)(CUdeviceptr dst, unsigned v, size_t n);
  CUresult (*cuLaunchKernel)(CUfunction fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                             unsigned bz, unsigned smem, CUstream s, void **params, void **extra);
  CUresult (*cuLaunchCooperativeKernel)(CUfunction fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                                        unsigned by, unsigned bz, unsigned smem, CUstream s, void **params);
  CUresult (*cuEventCreate)(CUevent *e, unsigned flags);
  CUresult (*cuEventDestroy)(CUevent e);
  CUresult (*cuEventRecord)(CUevent e, CUstream s);
  CUresult (*cuEventSynchronize)(CUevent e);
  CUresult (*cuEventElapsedTime)(float *ms, CUevent a, CUevent b);
  CUresult (*cuGetErrorString)(CUresult r, const char **s);
  CUresult (*cuGetErrorName)(CUresult r, const char **s);
} CudaDriver;

/* ---- NVRTC (nvrtc.h) ------------------------------------------------------------------------------------ */
typedef int nvrtcResult; /* NVRTC_SUCCESS = 0 */
typedef struct _nvrtcProgram *nvrtcProgram;

typedef struct CudaNvrtc {
  void *lib;
  char path[256];
  int major, minor; /* nvrtcVersion */
  nvrtcResult (*nvrtcVersion)(int *major, int *minor);
  const char *(*nvrtcGetErrorString)(nvrtcResult r);
  nvrtcResult (*nvrtcCreateProgram)(nvrtcProgram *p, const char *src, const char *name, int nheaders,
                                    const char *const *headers, const char *const *include_names);
  nvrtcResult (*nvrtcDestroyProgram)(nvrtcProgram *p);
  nvrtcResult (*nvrtcCompileProgram)(nvrtcProgram p, int nopts, const char *const *opts);
  nvrtcResult (*nvrtcGetProgramLogSize)(nvrtcProgram p, size_t *n);
  nvrtcResult (*nvrtcGetProgramLog)(nvrtcProgram p, char *log);
  nvrtcResult (*nvrtcGetPTXSize)(nvrtcProgram p, size_t *n);
  nvrtcResult (*nvrtcGetPTX)(nvrtcProgram p, char *ptx);
  nvrtcResult (*nvrtcGetCUBINSize)(nvrtcProgram p, size_t *n);
  nvrtcResult (*nvrtcGetCUBIN)(nvrtcProgram p, char *cubin);
  nvrtcResult (*nvrtcGetNumSupportedArchs)(int *n);
  nvrtcResult (*nvrtcGetSupportedArchs)(int *archs);
} CudaNvrtc;

/* ---- cuBLAS (cublas_api.h) ------------------------------------------------------------------------------ */
typedef int cublasStatus_t; /* CUBLAS_STATUS_SUCCESS = 0 */
typedef struct cublasContext *cublasHandle_t;
enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 };
enum { CUBLAS_DEFAULT_MATH = 0, CUBLAS_PEDANTIC_MATH = 2, CUBLAS_TF32_TENSOR_OP_MATH = 3 };
enum { CUBLAS_STATUS_SUCCESS = 0, CUBLAS_STATUS_NOT_INITIALIZED = 1, CUBLAS_STATUS_INVALID_VALUE = 7,
       CUBLAS_STATUS_NOT_SUPPORTED = 15 };
/* cudaDataType (library_types.h), cublasComputeType_t and cublasGemmAlgo_t values used by cublasGemmEx. */
enum { CUDA_R_32F = 0, CUDA_R_16BF = 14 };
enum { CUBLAS_COMPUTE_32F = 68 };
enum { CUBLAS_GEMM_DEFAULT = -1 };

typedef struct CudaBlas {
  void *lib;
  char path[256];
  cublasStatus_t (*cublasCreate)(cublasHandle_t *h);
  cublasStatus_t (*cublasDestroy)(cublasHandle_t h);
  cublasStatus_t (*cublasSetStream)(cublasHandle_t h, CUstream s);
  cublasStatus_t (*cublasSetMathMode)(cublasHandle_t h, int mode);
  cublasStatus_t (*cublasSgemm)(cublasHandle_t h, int ta, int tb, int m, int n, int k, const float *alpha,
                                const float *A, int lda, const float *B, int ldb, const float *beta, float *C, int ldc);
  /* mixed precision (training's bf16 option): A and B in Atype/Btype, C in Ctype, alpha/beta as computeType */
  cublasStatus_t (*cublasGemmEx)(cublasHandle_t h, int ta, int tb, int m, int n, int k, const void *alpha, const void *A,
                                 int Atype, int lda, const void *B, int Btype, int ldb, const void *beta, void *C, int Ctype,
                                 int ldc, int computeType, int algo);
  const char *(*cublasGetStatusString)(cublasStatus_t s); /* NULL before cuBLAS 11.4 */
} CudaBlas;

/* ---- NCCL (nccl.h) ----------------------------------------------------------------------------------- */
typedef int ncclResult_t; /* ncclSuccess = 0 */
typedef struct ncclComm *ncclComm_t;
#define NCCL_UNIQUE_ID_BYTES 128
typedef struct { char internal[NCCL_UNIQUE_ID_BYTES]; } ncclUniqueId;
enum { ncclInt8 = 0, ncclUint8 = 1, ncclInt32 = 2, ncclFloat32 = 7, ncclFloat64 = 8 };
enum { ncclSum = 0 };

typedef struct CudaNccl {
  void *lib;
  char path[256];
  int version; /* ncclGetVersion: major*10000 + minor*100 + patch (2.9+) */
  ncclResult_t (*ncclGetVersion)(int *version);
  ncclResult_t (*ncclGetUniqueId)(ncclUniqueId *id);
  ncclResult_t (*ncclCommInitRank)(ncclComm_t *comm, int nranks, ncclUniqueId id, int rank);
  ncclResult_t (*ncclCommDestroy)(ncclComm_t comm);
  ncclResult_t (*ncclCommGetAsyncError)(ncclComm_t comm, ncclResult_t *err);
  ncclResult_t (*ncclAllReduce)(const void *send, void *recv, size_t count, int type, int op, ncclComm_t comm, CUstream s);
  ncclResult_t (*ncclBroadcast)(const void *send, void *recv, size_t count, int type, int root, ncclComm_t comm, CUstream s);
  const char *(*ncclGetErrorString)(ncclResult_t r);
} CudaNccl;

/* Open the libraries (once per process; later calls return the same table). Errors:
 *  driver: LSTMC_ERR_NODEVICE "no CUDA driver (libcuda.so.1 not found)", "no CUDA device", …
 *  NVRTC, cuBLAS: LSTMC_ERR_NODEVICE naming the file names tried.
 * LSTMC_NVRTC / LSTMC_CUBLAS / LSTMC_CUDA_DRIVER name a library file to use instead of the search (an
 * empty value makes the library absent, which the tests use to check the messages). */
int cuda_driver_open(const CudaDriver **out);
int cuda_nvrtc_open(const CudaNvrtc **out);
int cuda_blas_open(const CudaBlas **out);
/* libnccl.so.2 (LSTMC_NCCL names a file instead; empty: absent): LSTMC_ERR_NODEVICE naming what was tried. */
int cuda_nccl_open(const CudaNccl **out);

/* Turn a failed call into an lstmc error: "CALL failed while WHAT: STRING (NAME)". Return 0 on success. */
int cuda_check_driver(const CudaDriver *d, CUresult r, const char *call, const char *what);
int cuda_check_nvrtc(const CudaNvrtc *n, nvrtcResult r, const char *call, const char *what);
int cuda_check_blas(const CudaBlas *b, cublasStatus_t r, const char *call, const char *what);
int cuda_check_nccl(const CudaNccl *n, ncclResult_t r, const char *call, const char *what);

#define CU_CALL(d, fn, args, what) cuda_check_driver((d), (d)->fn args, #fn, (what))
#define NVRTC_CALL(n, fn, args, what) cuda_check_nvrtc((n), (n)->fn args, #fn, (what))
#define BLAS_CALL(b, fn, args, what) cuda_check_blas((b), (b)->fn args, #fn, (what))
#define NCCL_CALL(n, fn, args, what) cuda_check_nccl((n), (n)->fn args, #fn, (what))

#endif
