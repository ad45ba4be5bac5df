/* The element-wise updates of lstmc's ten optimizers, one element at a time, in torch.optim's order of
 * float operations (train/optim.h says which optimizer follows which paper or torch class).
 *
 * This header is shared, unchanged, by train/optim.c (the CPU engine) and by the CUDA training kernels
 * that NVRTC compiles (codegen/cuda/dev_train.h), so that an optimizer step on the GPU is the same float
 * arithmetic as on the CPU. The scalar coefficients of a step (learning rate, bias corrections, …) are
 * computed once per step on the host, in double, by optim_next_coef (train/optim.h), and handed to both.
 * Like support/rng_core.h it needs no libc but sqrtf and fabsf (math.h on the host; NVRTC has them built
 * in); the includer may define LX_FN (the function qualifier) first. */
#ifndef LSTMC_SUPPORT_OPTIM_CORE_H
#define LSTMC_SUPPORT_OPTIM_CORE_H
#ifndef __CUDACC_RTC__
#include <math.h>
#endif

#ifndef LX_FN
#define LX_FN static inline
#endif

/* The optimizers, in the order of train/optim.h's OptimKind (optim.c checks that they agree). */
enum {
  LX_OPT_SGD, LX_OPT_MOMENTUM, LX_OPT_NESTEROV, LX_OPT_ADAGRAD, LX_OPT_ADADELTA, LX_OPT_RMSPROP, LX_OPT_ADAM,
  LX_OPT_ADAMAX, LX_OPT_NADAM, LX_OPT_ADABOUND, LX_OPT_COUNT
};

/* The coefficients of one step, cast to float where torch applies a Python scalar to a float tensor.
 * Plain data with no padding holes (ints last), so that host code and device code agree on its layout. */
typedef struct LxOptCoef {
  float wd, lr_neg, b1, omb1, b2, omb2, eps, rho, omrho, alpha, omalpha, mom;
  float step_neg;              /* adam, adamax: −lr/(1 − beta1^t); adagrad: −lr/(1 + (t−1)·lr_decay) */
  float bc2_sqrt;              /* adam: sqrt(1 − beta2^t) */
  float nadam_g, nadam_m, bc2; /* nadam: −lr(1−mu)/(1−Πmu), −lr·mu_next/(1−Πmu_next), 1 − beta2^t */
  float ab_step, ab_lo, ab_hi; /* adabound: step size and the bounds of the clipped step */
  int kind;                    /* LX_OPT_* */
  int first;                   /* 1 on the first step (momentum buffers start as the gradient) */
  int nesterov;
  int nbuf;                    /* state buffers in use: s0 (and s1 when 2) */
} LxOptCoef;

/* Each updates the weight *w from the gradient g and the element's state *s0, *s1 (unused ones may be
 * null). Weight decay is added to the gradient as torch does (g + wd·w). */

/* sgd, momentum, nesterov; s0: the momentum buffer when momentum != 0 (nbuf 1), else null */
LX_FN void lx_opt_sgd(const LxOptCoef *k, float *w, float g, float *s0) {
  float d = g;
  if (k->wd != 0) d = d + k->wd * *w;
  if (s0) {
    *s0 = k->first ? d : *s0 * k->mom + d;
    d = k->nesterov ? d + k->mom * *s0 : *s0;
  }
  *w = *w + k->lr_neg * d;
}

LX_FN void lx_opt_adagrad(const LxOptCoef *k, float *w, float g, float *sum) {
  float d = g;
  if (k->wd != 0) d = d + k->wd * *w;
  *sum = *sum + d * d;
  float std = sqrtf(*sum) + k->eps;
  *w = *w + k->step_neg * (d / std);
}

LX_FN void lx_opt_adadelta(const LxOptCoef *k, float *w, float g, float *square_avg, float *acc_delta) {
  float d = g;
  if (k->wd != 0) d = d + k->wd * *w;
  *square_avg = *square_avg * k->rho + k->omrho * (d * d);
  float std = sqrtf(*square_avg + k->eps);
  float delta = sqrtf(*acc_delta + k->eps) / std * d;
  *acc_delta = *acc_delta * k->rho + k->omrho * (delta * delta);
  *w = *w + k->lr_neg * delta;
}

/* momentum_buffer (s1) is null without momentum */
LX_FN void lx_opt_rmsprop(const LxOptCoef *k, float *w, float g, float *square_avg, float *buf) {
  float d = g;
  if (k->wd != 0) d = d + k->wd * *w;
  *square_avg = *square_avg * k->alpha + k->omalpha * (d * d);
  float avg = sqrtf(*square_avg) + k->eps;
  if (buf) {
    *buf = *buf * k->mom + d / avg;
    *w = *w + k->lr_neg * *buf;
  } else {
    *w = *w + k->lr_neg * (d / avg);
  }
}

LX_FN void lx_opt_adam(const LxOptCoef *k, float *w, float g, float *exp_avg, float *exp_avg_sq) {
  float d = g;
  if (k->wd != 0) d = d + k->wd * *w;
  *exp_avg = *exp_avg * k->b1 + k->omb1 * d;
  *exp_avg_sq = *exp_avg_sq * k->b2 + k->omb2 * (d * d);
  float denom = sqrtf(*exp_avg_sq) / k->bc2_sqrt + k->eps;
  *w = *w + k->step_neg * (*exp_avg / denom);
}

LX_FN void lx_opt_adamax(const LxOptCoef *k, float *w, float g, float *exp_avg, float *exp_inf) {
  float d = g;
  if (k->wd != 0) d = d + k->wd * *w;
  *exp_avg = *exp_avg * k->b1 + k->omb1 * d;
  float a = *exp_inf * k->b2, b = fabsf(d) + k->eps;
  *exp_inf = a > b ? a : b;
  *w = *w + k->step_neg * (*exp_avg / *exp_inf);
}

LX_FN void lx_opt_nadam(const LxOptCoef *k, float *w, float g, float *exp_avg, float *exp_avg_sq) {
  float d = g;
  if (k->wd != 0) d = d + k->wd * *w;
  *exp_avg = *exp_avg * k->b1 + k->omb1 * d;
  *exp_avg_sq = *exp_avg_sq * k->b2 + k->omb2 * (d * d);
  float denom = sqrtf(*exp_avg_sq / k->bc2) + k->eps;
  *w = *w + k->nadam_g * (d / denom);
  *w = *w + k->nadam_m * (*exp_avg / denom);
}

LX_FN void lx_opt_adabound(const LxOptCoef *k, float *w, float g, float *exp_avg, float *exp_avg_sq) {
  float d = g;
  if (k->wd != 0) d = d + k->wd * *w;
  *exp_avg = *exp_avg * k->b1 + k->omb1 * d;
  *exp_avg_sq = *exp_avg_sq * k->b2 + k->omb2 * (d * d);
  float denom = sqrtf(*exp_avg_sq) + k->eps;
  float s = k->ab_step / denom;
  s = s < k->ab_lo ? k->ab_lo : s > k->ab_hi ? k->ab_hi : s;
  *w = *w + -(s * *exp_avg);
}

/* Any optimizer, by k->kind (the GPU kernel's entry; the CPU loops call the functions above directly so
 * that the choice is made once per tensor, not per element). */
LX_FN void lx_opt_update(const LxOptCoef *k, float *w, float g, float *s0, float *s1) {
  switch (k->kind) {
  case LX_OPT_SGD:
  case LX_OPT_MOMENTUM:
  case LX_OPT_NESTEROV: lx_opt_sgd(k, w, g, s0); break;
  case LX_OPT_ADAGRAD: lx_opt_adagrad(k, w, g, s0); break;
  case LX_OPT_ADADELTA: lx_opt_adadelta(k, w, g, s0, s1); break;
  case LX_OPT_RMSPROP: lx_opt_rmsprop(k, w, g, s0, s1); break;
  case LX_OPT_ADAM: lx_opt_adam(k, w, g, s0, s1); break;
  case LX_OPT_ADAMAX: lx_opt_adamax(k, w, g, s0, s1); break;
  case LX_OPT_NADAM: lx_opt_nadam(k, w, g, s0, s1); break;
  default: lx_opt_adabound(k, w, g, s0, s1); break;
  }
}

#endif
