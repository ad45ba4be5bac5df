/* The CUDA executor (runtime/exec.h's `cuda_exec_vtbl`) and the device it runs on.
 *
 * The executor (and the GPU training engine, train/net_cuda.h) talks to its device through a small table of
 * operations — memory, one module of generated source, launches, and cuBLAS — rather than to the driver
 * directly. cuda_device.c
 * implements it with the CUDA driver, NVRTC (through the kernel cache) and cuBLAS; tests/cuda implements it
 * with a host emulator of the CUDA execution model, which runs the same generated kernel source compiled
 * by the host C compiler, so the executor's whole path is exercised on machines without a GPU. */
#ifndef LSTMC_CODEGEN_CUDA_EXEC_H
#define LSTMC_CODEGEN_CUDA_EXEC_H
#include <stddef.h>
#include <stdint.h>

#include "codegen/cuda/cuda_loader.h"
#include "codegen/cuda/cuda_plan.h"
#include "codegen/cuda/dev_params.h"
#include "runtime/exec.h"

typedef struct CudaDev CudaDev;

typedef struct CudaDevOps {
  int (*alloc)(CudaDev *d, size_t n, CUdeviceptr *p);
  void (*free)(CudaDev *d, CUdeviceptr p);
  int (*h2d)(CudaDev *d, CUdeviceptr dst, const void *src, size_t n);
  int (*d2h)(CudaDev *d, void *dst, CUdeviceptr src, size_t n);
  int (*memset32)(CudaDev *d, CUdeviceptr dst, uint32_t v, size_t nwords);
  /* Compiles and loads the module (one per device handle). */
  int (*load)(CudaDev *d, const char *source, const char *name, int no_cache, int verbose);
  /* A kernel of the module, allowed `smem` bytes of dynamic shared memory. */
  int (*kernel)(CudaDev *d, const char *name, int smem, void **fn);
  /* Runs a kernel to completion (cooperative: all blocks resident at once, or an error). */
  int (*launch)(CudaDev *d, void *fn, int grid, int block, int smem, int cooperative, const LxParams *p);
  /* C = op(A) op(B) in fp32, column-major as cuBLAS (beta = 0). */
  int (*gemm)(CudaDev *d, int ta, int tb, int m, int n, int k, CUdeviceptr A, int lda, CUdeviceptr B, int ldb,
              CUdeviceptr C, int ldc);
  void (*close)(CudaDev *d);
  /* ---- asynchronous work, for training (train/net_cuda.c): everything runs in order on the device's one
   * stream; copies (h2d, d2h, memset32) wait for what was queued before them. */
  /* Queues a kernel whose one parameter is a struct of `size` bytes at args (copied by the call). A failure
   * of the kernel itself is reported by a later sync or copy. */
  int (*enqueue)(CudaDev *d, void *fn, int grid, int block, int smem, const void *args, size_t size);
  /* Waits for everything queued; reports a failed kernel. */
  int (*sync)(CudaDev *d);
  /* The cuBLAS table and a handle on the device's stream, fp32 math without TF32 (CUBLAS_DEFAULT_MATH). On
   * the real device that is libcublas; the host emulator of tests/cuda gives host functions of the same
   * signatures and semantics. */
  int (*blas)(CudaDev *d, const CudaBlas **b, cublasHandle_t *h);
} CudaDevOps;

struct CudaDev {
  const CudaDevOps *ops;
  CudaDeviceInfo info;
  int emu; /* generate source for the host emulator */
};

/* Opens the first CUDA device (LSTMC_CUDA_DEVICE picks another ordinal; LSTMC_CUDA_THREADS the threads of
 * the persistent kernel). LSTMC_ERR_NODEVICE without a driver or a device. */
int cuda_dev_open(CudaDev **out);

/* Creates an executor on a device it takes over (closed on failure too). */
int cuda_exec_create_on(const Graph *g, const ExecOptions *o, CudaDev *dev, Executor **out);
/* Reports the plan (cuda_plan_describe) as a message: what --verbose shows. */
void cuda_plan_report(const CudaPlan *p);
/* The executor's plan and device (for reports and tests). */
const CudaPlan *cuda_exec_plan(const Executor *e);
CudaDev *cuda_exec_device(const Executor *e);

extern const ExecVtbl cuda_exec_vtbl;

#endif
