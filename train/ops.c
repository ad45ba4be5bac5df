/* The training ops (see ops.h), instantiated from ops_impl.h in float and double. */
#include "train/ops.h"

#include <math.h>

#include "support/alloc.h"
#include "support/err.h"
#include "support/tanh_core.h"

void lstm_work_free(LstmWork *w) {
  for (int q = 0; q < 4; q++) gemm_packed_free(&w->fwd[q]);
  gemm_packed_free(&w->bwd);
  lx_free(w->dh);
  lx_free(w->dc);
  lx_free(w->db);
  w->dh = w->dc = w->db = NULL;
  w->cap = w->db_cap = 0;
}

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

#define R float
#define SFX(x) CAT(x, _f32)
#define RF(fn) CAT(fn, f)
#define RTANH lx_tanhf_fast
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
