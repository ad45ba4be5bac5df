/* CUDA C source for one planned model: the model's sizes, formats, block tables and shared-memory layout
 * as constants, one dispatch function per weight role that calls the generic row kernel with the
 * tensor's format as literal arguments (so NVRTC compiles one specialized loop per format), and the kernel
 * entry points. The fixed parts — ir/layout.h (unchanged), support/rng_core.h and the dev_*.h files of this
 * folder — are pasted in from copies embedded at build time, so the text is self-contained: what
 * `lstmc compile --emit cuda` writes is exactly what NVRTC compiles.
 *
 * Kernels (all take one LxParams by value, dev_params.h):
 *   lx_lstm_b1, lx_lstm_b<B>  the persistent kernel for 1 and (when the batch is larger) B streams;
 *                             grid = plan->nb blocks, plan->threads threads, plan->sm_bytes of dynamic
 *                             shared memory, launched cooperatively (all blocks resident);
 *   lx_logprob                SCORE: one block of 256 threads per step, 256 * 12 bytes of shared memory;
 *   lx_dec_qscore             SCORE with a decoder that has int8 activations (only then): the logits of
 *                             one step per block, plan->threads threads, 4 * H_last bytes of shared memory;
 *   lx_sample_test            the sampler alone, one block, LX_SAMPLE_TEST_SMEM bytes. */
#ifndef LSTMC_CODEGEN_CUDA_CODEGEN_H
#define LSTMC_CODEGEN_CUDA_CODEGEN_H
#include "codegen/cuda/cuda_plan.h"

#define CUDA_LOGPROB_THREADS 256

/* The source text (lx_free it). emu: for the host emulator of tests/cuda (defines LX_EMU). */
int cuda_codegen_source(const CudaPlan *p, const char *model_name, int emu, char **out);
/* The name of the persistent kernel for nb streams ("lx_lstm_b1"). */
void cuda_kernel_name(int nb, char *buf, size_t n);
/* Shared memory of lx_sample_test. */
int cuda_sample_test_smem(const CudaPlan *p);
/* A C header describing the launch contract of the generated module: kernel names, grid, block and shared
 * memory, the parameter block, buffer sizes and the blob layout (`lstmc compile --header`). */
int cuda_codegen_header(const CudaPlan *p, const char *model_name, const char *guard, char **out);

/* The embedded texts (generated from the files at build time). */
extern const char lx_text_layout_h[], lx_text_rng_core_h[], lx_text_dev_prelude_h[], lx_text_dev_params_h[],
    lx_text_dev_common_h[], lx_text_dev_kernel_h[];

#endif
