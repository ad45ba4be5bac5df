/* The training ops (see ops.h), instantiated from ops_impl.h in float and double. */
#include "train/ops.h"

#include <math.h>

#include "support/alloc.h"
#include "support/err.h"

void lstm_work_free(LstmWork *w) {
  for (int q = 0; q < 4; q++) gemm_packed_free(&w->fwd[q]);
  gemm_packed_free(&w->bwd);
  lx_free(w->dh);
  lx_free(w->dc);
  lx_free(w->db);
  w->dh = w->dc = w->db = NULL;
  w->cap = w->db_cap = 0;
}

/* tanhf through expf, which glibc computes several times faster than tanhf: a Taylor polynomial below
 * 0.25 (truncation under 1e-8) and 1 − 2/(e^{2|x|} + 1) above (no cancellation there: |tanh| > 0.24).
 * Within a few ulp of tanhf; the double instantiation keeps libm's tanh. */
static inline float tanh_fast(float x) {
  float a = fabsf(x);
  if (a < 0.25f) {
    float x2 = x * x;
    return x + x * x2 * (-1.0f / 3 + x2 * (2.0f / 15 + x2 * (-17.0f / 315 + x2 * (62.0f / 2835))));
  }
  float r = 1.0f - 2.0f / (expf(2 * a) + 1.0f);
  return copysignf(r, x);
}

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

#define R float
#define SFX(x) CAT(x, _f32)
#define RF(fn) CAT(fn, f)
#define RTANH tanh_fast
#include "train/ops_impl.h"
#undef R
#undef SFX
#undef RF
#undef RTANH

#define R double
#define SFX(x) CAT(x, _f64)
#define RF(fn) fn
#define RTANH tanh
#include "train/ops_impl.h"
#undef R
#undef SFX
#undef RF
#undef RTANH
