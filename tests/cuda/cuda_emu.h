/* A CudaDev (codegen/cuda/cuda_exec.h) backed by the host emulator of cuda_emu_rt.c: "device memory" is host
 * memory (filled with NaN bytes when allocated, as nothing promises what fresh GPU memory holds), the module
 * is the generated source compiled with the host C compiler into a shared object, launches run on the
 * emulator, and the GEMM is a plain column-major loop in float. It lets the CUDA executor run end to end,
 * on real data, on machines without a GPU. */
#ifndef LSTMC_TESTS_CUDA_EMU_H
#define LSTMC_TESTS_CUDA_EMU_H
#include "codegen/cuda/cuda_exec.h"

/* workdir: where the source and shared object go. The device has `sms` multiprocessors, `smem` bytes of
 * shared memory per block and runs `threads` threads per block. */
int cuda_emu_open(const char *workdir, int sms, int smem, int threads, CudaDev **out);

#endif
