/* tanh in float through expf, which glibc computes several times faster than tanhf: a Taylor polynomial
 * below 0.25 (truncation under 1e-8) and 1 − 2/(e^{2|x|} + 1) above (no cancellation there: |tanh| >
 * 0.24); within a few ulp of tanhf.
 *
 * Shared, unchanged, by train/ops.c (the CPU engine's float LSTM cell) and the CUDA training kernels
 * (codegen/cuda/dev_train.h), so that the two engines' cells agree to the rounding of expf. Like
 * support/rng_core.h it needs no libc but expf, fabsf and copysignf; the includer may define LX_FN first. */
#ifndef LSTMC_SUPPORT_TANH_CORE_H
#define LSTMC_SUPPORT_TANH_CORE_H
#ifndef __CUDACC_RTC__
#include <math.h>
#endif

#ifndef LX_FN
#define LX_FN static inline
#endif

LX_FN float lx_tanhf_fast(float x) {
  float a = fabsf(x);
  if (a < 0.25f) {
    float x2 = x * x;
    return x + x * x2 * (-1.0f / 3 + x2 * (2.0f / 15 + x2 * (-17.0f / 315 + x2 * (62.0f / 2835))));
  }
  float r = 1.0f - 2.0f / (expf(2 * a) + 1.0f);
  return copysignf(r, x);
}

#endif
