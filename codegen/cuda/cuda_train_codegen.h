/* The CUDA source of the training kernels (dev_train.h): one module for every model — the kernels take
 * their sizes as arguments, so NVRTC compiles it once per architecture and the kernel cache serves every
 * later run. The fixed parts (dev_prelude.h, support/rng_core.h, support/optim_core.h, support/tanh_core.h,
 * dev_train_args.h, dev_train.h) are pasted from copies embedded at build time, so the text is self-contained; for the host
 * emulator of tests/cuda it also gets one thunk per kernel, `lx_emu_thunk_NAME(const void *args)`, which
 * unpacks the argument struct (a C function pointer cannot be called with a struct of unknown type).
 *
 * Kernels: the LX_TRAIN_KERNELS list of dev_train_args.h, each `extern "C"`, one struct argument by value,
 * LX_TRAIN_THREADS threads per block (lx_t_softmax_ce: 64, 128 or 256), shared memory as dev_train.h
 * states per kernel. */
#ifndef LSTMC_CODEGEN_CUDA_TRAIN_CODEGEN_H
#define LSTMC_CODEGEN_CUDA_TRAIN_CODEGEN_H

/* The source text (lx_free it). emu: for the host emulator (defines LX_EMU, adds the thunks). */
int cuda_train_source(int emu, char **out);

/* The kernels' names, in the order of LX_TRAIN_KERNELS. */
extern const char *const cuda_train_kernel_names[];
extern const int cuda_train_kernel_count;

/* The embedded texts (generated from the files at build time). */
extern const char lx_text_optim_core_h[], lx_text_tanh_core_h[], lx_text_dev_train_args_h[], lx_text_dev_train_h[];

#endif
