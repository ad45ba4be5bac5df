/* The training module's source (see cuda_train_codegen.h). */
#include "codegen/cuda/cuda_train_codegen.h"

#include "codegen/cuda/cuda_codegen.h"
#include "codegen/cuda/dev_train_args.h"
#include "lstmc.h"
#include "support/alloc.h"
#include "support/err.h"
#include "support/strbuf.h"

#define KERNEL_NAME(name, args) #name,
const char *const cuda_train_kernel_names[] = {LX_TRAIN_KERNELS(KERNEL_NAME)};
#undef KERNEL_NAME
const int cuda_train_kernel_count = (int)(sizeof cuda_train_kernel_names / sizeof *cuda_train_kernel_names);

int cuda_train_source(int emu, char **out) {
  StrBuf sb;
  sb_init(&sb);
  sb_printf(&sb, "/* lstmc %s: CUDA training kernels (generated; codegen/cuda/cuda_train_codegen.c). */\n", LSTMC_VERSION);
  if (emu) sb_puts(&sb, "#define LX_EMU 1\n");
  sb_puts(&sb, lx_text_dev_prelude_h);
  sb_puts(&sb, lx_text_rng_core_h);
  sb_puts(&sb, lx_text_optim_core_h);
  sb_puts(&sb, lx_text_tanh_core_h);
  sb_puts(&sb, lx_text_dev_train_args_h);
  sb_puts(&sb, lx_text_dev_train_h);
  if (emu) {
    sb_puts(&sb, "\n/* ---- thunks for the host emulator: unpack the argument struct ---- */\n");
#define THUNK(name, args) \
  sb_printf(&sb, "void lx_emu_thunk_%s(const void *p) { %s(*(const %s *)p); }\n", #name, #name, #args);
    LX_TRAIN_KERNELS(THUNK)
#undef THUNK
  }
  *out = sb_take(&sb);
  if (!*out) return lx_nomem("generating the CUDA training source");
  return 0;
}
