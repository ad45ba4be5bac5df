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
  w->dh = w->dc = NULL;
  w->cap = 0;
}

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

#define R float
#define SFX(x) CAT(x, _f32)
#define RF(fn) CAT(fn, f)
#include "train/ops_impl.h"
#undef R
#undef SFX
#undef RF

#define R double
#define SFX(x) CAT(x, _f64)
#define RF(fn) fn
#include "train/ops_impl.h"
#undef R
#undef SFX
#undef RF
