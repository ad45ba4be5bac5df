/* The optimizers (see optim.h): configuration from the spec with torch's defaults, the element-wise
 * updates, and gradient clipping. Each update is written in the order torch.optim (1.13, single-tensor
 * path) computes it, in float, so that a step matches PyTorch to float rounding. */
#include "train/optim.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "support/alloc.h"
#include "support/err.h"
#include "support/optim_core.h"

_Static_assert((int)OPTIM_SGD == LX_OPT_SGD && (int)OPTIM_ADAGRAD == LX_OPT_ADAGRAD && (int)OPTIM_ADAM == LX_OPT_ADAM &&
                   (int)OPTIM_ADABOUND == LX_OPT_ADABOUND && (int)OPTIM_COUNT == LX_OPT_COUNT,
               "train/optim.h's OptimKind and support/optim_core.h's LX_OPT_* must agree");

static const char *const optim_names[OPTIM_COUNT] = {"sgd",     "momentum", "nesterov", "adagrad", "adadelta",
                                                     "rmsprop", "adam",     "adamax",   "nadam",   "adabound"};

const char *optim_name(int kind) { return kind >= 0 && kind < OPTIM_COUNT ? optim_names[kind] : "?"; }

#define B(x) (1u << OPT_##x)
/* The settings each optimizer takes. */
static const unsigned optim_uses[OPTIM_COUNT] = {
    B(LR) | B(WEIGHT_DECAY) | B(MOMENTUM),
    B(LR) | B(WEIGHT_DECAY) | B(MOMENTUM),
    B(LR) | B(WEIGHT_DECAY) | B(MOMENTUM),
    B(LR) | B(WEIGHT_DECAY) | B(LR_DECAY) | B(INITIAL_ACCUMULATOR) | B(EPS),
    B(LR) | B(WEIGHT_DECAY) | B(RHO) | B(EPS),
    B(LR) | B(WEIGHT_DECAY) | B(ALPHA) | B(EPS) | B(MOMENTUM),
    B(LR) | B(WEIGHT_DECAY) | B(BETA1) | B(BETA2) | B(EPS),
    B(LR) | B(WEIGHT_DECAY) | B(BETA1) | B(BETA2) | B(EPS),
    B(LR) | B(WEIGHT_DECAY) | B(BETA1) | B(BETA2) | B(EPS),
    B(LR) | B(WEIGHT_DECAY) | B(BETA1) | B(BETA2) | B(EPS) | B(FINAL_LR) | B(GAMMA),
};
#undef B

/* torch's defaults; lr 0 means "none" (the SGD family). */
static void set_defaults(int kind, OptimConfig *c) {
  memset(c, 0, sizeof *c);
  c->kind = kind;
  c->beta1 = 0.9;
  c->beta2 = 0.999;
  c->eps = 1e-8;
  c->momentum_decay = 0.004;
  switch (kind) {
  case OPTIM_MOMENTUM:
  case OPTIM_NESTEROV: c->momentum = 0.9; break;
  case OPTIM_ADAGRAD: c->lr = 1e-2, c->eps = 1e-10; break;
  case OPTIM_ADADELTA: c->lr = 1.0, c->rho = 0.9, c->eps = 1e-6; break;
  case OPTIM_RMSPROP: c->lr = 1e-2, c->alpha = 0.99; break;
  case OPTIM_ADAM: c->lr = 1e-3; break;
  case OPTIM_ADAMAX:
  case OPTIM_NADAM: c->lr = 2e-3; break;
  case OPTIM_ADABOUND: c->lr = 1e-3, c->final_lr = 0.1, c->gamma = 1e-3; break;
  default: break;
  }
}

static double *config_field(OptimConfig *c, int k) {
  switch (k) {
  case OPT_LR: return &c->lr;
  case OPT_WEIGHT_DECAY: return &c->weight_decay;
  case OPT_MOMENTUM: return &c->momentum;
  case OPT_BETA1: return &c->beta1;
  case OPT_BETA2: return &c->beta2;
  case OPT_EPS: return &c->eps;
  case OPT_RHO: return &c->rho;
  case OPT_ALPHA: return &c->alpha;
  case OPT_FINAL_LR: return &c->final_lr;
  case OPT_GAMMA: return &c->gamma;
  case OPT_LR_DECAY: return &c->lr_decay;
  default: return &c->initial_accumulator;
  }
}

static void uses_text(int kind, char *buf, size_t n) {
  size_t k = 0;
  buf[0] = 0;
  for (int i = 0; i < OPT_COUNT && k < n; i++)
    if (optim_uses[kind] & (1u << i)) k += (size_t)snprintf(buf + k, n - k, "%s%s", k ? ", " : "", optimizer_param_name(i));
}

int optim_config_from_spec(const OptimizerSpec *s, OptimConfig *out) {
  int kind = -1;
  for (int i = 0; i < OPTIM_COUNT; i++)
    if (s->name && !strcmp(s->name, optim_names[i])) kind = i;
  if (kind < 0) return lx_fail(LSTMC_ERR_USAGE, "unknown optimizer '%s'", s->name ? s->name : "(none)");
  set_defaults(kind, out);
  const char *file = s->loc.file ? s->loc.file : "spec";
  if (s->loc.line == 0) { /* no optimizer statement: the train block's documented default */
    out->lr = s->v[OPT_LR];
    return 0;
  }
  for (int k = 0; k < OPT_COUNT; k++) {
    if (!(s->set & (1u << k))) continue;
    if (!(optim_uses[kind] & (1u << k))) {
      char uses[160];
      uses_text(kind, uses, sizeof uses);
      return lx_fail(LSTMC_ERR_USAGE, "%s:%d:%d: optimizer '%s' does not use '%s' (it takes %s)", file, s->loc.line,
                     s->loc.col, optim_names[kind], optimizer_param_name(k), uses);
    }
    *config_field(out, k) = s->v[k];
  }
  if (out->lr <= 0)
    return lx_fail(LSTMC_ERR_USAGE, "%s:%d:%d: optimizer '%s' needs an lr (torch.optim.SGD has no default), as in 'optimizer %s { lr 0.1; }'",
                   file, s->loc.line, s->loc.col, optim_names[kind], optim_names[kind]);
  if (kind == OPTIM_NESTEROV && out->momentum <= 0)
    return lx_fail(LSTMC_ERR_USAGE, "%s:%d:%d: optimizer 'nesterov' needs a momentum > 0", file, s->loc.line, s->loc.col);
  if (kind == OPTIM_ADABOUND && out->gamma <= 0)
    return lx_fail(LSTMC_ERR_USAGE, "%s:%d:%d: optimizer 'adabound' needs a gamma > 0", file, s->loc.line, s->loc.col);
  return 0;
}

void optim_describe(const OptimConfig *c, char *buf, size_t n) {
  size_t k = (size_t)snprintf(buf, n, "%s (", optim_name(c->kind));
  int first = 1;
  for (int i = 0; i < OPT_COUNT && k < n; i++) {
    if (!(optim_uses[c->kind] & (1u << i))) continue;
    k += (size_t)snprintf(buf + k, n - k, "%s%s %g", first ? "" : ", ", optimizer_param_name(i),
                          *config_field((OptimConfig *)c, i));
    first = 0;
  }
  if (k < n) snprintf(buf + k, n - k, ")");
}

/* ---- state ---------------------------------------------------------------------------------------- */

struct Optim {
  OptimConfig c;
  int nparams;
  int64_t *sizes;
  int nbuf;
  const char *bufname[2];
  float **buf; /* [nparams * nbuf] */
  uint64_t steps;
  float mu_product; /* nadam; a float32 tensor in torch */
};

void optim_free(Optim *o) {
  if (!o) return;
  if (o->buf)
    for (int i = 0; i < o->nparams * o->nbuf; i++) lx_free(o->buf[i]);
  lx_free(o->buf);
  lx_free(o->sizes);
  lx_free(o);
}

int optim_create(const OptimConfig *c, int nparams, const int64_t *sizes, Optim **out) {
  *out = NULL;
  Optim *o = lx_calloc(1, sizeof *o);
  if (!o) return lx_nomem("creating the optimizer");
  o->c = *c;
  o->nparams = nparams;
  o->mu_product = 1.0f;
  switch (c->kind) {
  case OPTIM_SGD:
  case OPTIM_MOMENTUM:
  case OPTIM_NESTEROV:
    if (c->momentum != 0) o->bufname[o->nbuf++] = "momentum_buffer";
    break;
  case OPTIM_ADAGRAD: o->bufname[o->nbuf++] = "sum"; break;
  case OPTIM_ADADELTA:
    o->bufname[o->nbuf++] = "square_avg";
    o->bufname[o->nbuf++] = "acc_delta";
    break;
  case OPTIM_RMSPROP:
    o->bufname[o->nbuf++] = "square_avg";
    if (c->momentum > 0) o->bufname[o->nbuf++] = "momentum_buffer";
    break;
  case OPTIM_ADAMAX:
    o->bufname[o->nbuf++] = "exp_avg";
    o->bufname[o->nbuf++] = "exp_inf";
    break;
  default:
    o->bufname[o->nbuf++] = "exp_avg";
    o->bufname[o->nbuf++] = "exp_avg_sq";
    break;
  }
  o->sizes = lx_malloc((size_t)(nparams ? nparams : 1) * sizeof *o->sizes);
  o->buf = lx_calloc((size_t)(nparams * o->nbuf + 1), sizeof *o->buf);
  if (!o->sizes || !o->buf) goto oom;
  for (int p = 0; p < nparams; p++) {
    o->sizes[p] = sizes[p];
    for (int k = 0; k < o->nbuf; k++) {
      float *b = lx_calloc((size_t)(sizes[p] ? sizes[p] : 1), sizeof(float));
      if (!b) goto oom;
      if (c->kind == OPTIM_ADAGRAD)
        for (int64_t i = 0; i < sizes[p]; i++) b[i] = (float)c->initial_accumulator;
      o->buf[p * o->nbuf + k] = b;
    }
  }
  *out = o;
  return 0;
oom:
  optim_free(o);
  return lx_nomem("creating the optimizer");
}

int optim_num_buffers(const Optim *o) { return o->nbuf; }
const char *optim_buffer_name(const Optim *o, int k) { return o->bufname[k]; }
float *optim_buffer(Optim *o, int p, int k) { return o->buf[p * o->nbuf + k]; }
uint64_t optim_steps(const Optim *o) { return o->steps; }
void optim_set_steps(Optim *o, uint64_t steps) { o->steps = steps; }
float optim_mu_product(const Optim *o) { return o->mu_product; }
void optim_set_mu_product(Optim *o, float mu) { o->mu_product = mu; }

void optim_mask_state(Optim *o, int p, const uint8_t *keep) {
  for (int k = 0; k < o->nbuf; k++) {
    float *b = optim_buffer(o, p, k);
    for (int64_t i = 0; i < o->sizes[p]; i++)
      if (!keep[i]) b[i] = 0;
  }
}

/* ---- the updates ---------------------------------------------------------------------------------- */

typedef struct StepJob {
  Optim *o;
  float *const *params;
  const float *const *grads;
  LxOptCoef k;
} StepJob;

/* The loop is chosen once per tensor; the element update is optim_core.h's, which the GPU runs too. */
static void update_range(const LxOptCoef *k, float *w, const float *g, float *s0, float *s1, int64_t lo, int64_t hi) {
  switch (k->kind) {
  case OPTIM_SGD:
  case OPTIM_MOMENTUM:
  case OPTIM_NESTEROV:
    if (s0)
      for (int64_t i = lo; i < hi; i++) lx_opt_sgd(k, w + i, g[i], s0 + i);
    else
      for (int64_t i = lo; i < hi; i++) lx_opt_sgd(k, w + i, g[i], NULL);
    break;
  case OPTIM_ADAGRAD:
    for (int64_t i = lo; i < hi; i++) lx_opt_adagrad(k, w + i, g[i], s0 + i);
    break;
  case OPTIM_ADADELTA:
    for (int64_t i = lo; i < hi; i++) lx_opt_adadelta(k, w + i, g[i], s0 + i, s1 + i);
    break;
  case OPTIM_RMSPROP:
    if (s1)
      for (int64_t i = lo; i < hi; i++) lx_opt_rmsprop(k, w + i, g[i], s0 + i, s1 + i);
    else
      for (int64_t i = lo; i < hi; i++) lx_opt_rmsprop(k, w + i, g[i], s0 + i, NULL);
    break;
  case OPTIM_ADAM:
    for (int64_t i = lo; i < hi; i++) lx_opt_adam(k, w + i, g[i], s0 + i, s1 + i);
    break;
  case OPTIM_ADAMAX:
    for (int64_t i = lo; i < hi; i++) lx_opt_adamax(k, w + i, g[i], s0 + i, s1 + i);
    break;
  case OPTIM_NADAM:
    for (int64_t i = lo; i < hi; i++) lx_opt_nadam(k, w + i, g[i], s0 + i, s1 + i);
    break;
  case OPTIM_ADABOUND:
    for (int64_t i = lo; i < hi; i++) lx_opt_adabound(k, w + i, g[i], s0 + i, s1 + i);
    break;
  default: LX_BUG("unknown optimizer");
  }
}

static void step_job(void *ctx, int tid, int nt) {
  StepJob *j = ctx;
  Optim *o = j->o;
  for (int p = 0; p < o->nparams; p++) {
    int64_t lo, hi;
    pool_split(o->sizes[p], 64, tid, nt, &lo, &hi);
    float *s0 = o->nbuf > 0 ? optim_buffer(o, p, 0) : NULL, *s1 = o->nbuf > 1 ? optim_buffer(o, p, 1) : NULL;
    update_range(&j->k, j->params[p], j->grads[p], s0, s1, lo, hi);
  }
}

void optim_next_coef(Optim *o, double lr, double base_lr, LxOptCoef *out) {
  const OptimConfig *c = &o->c;
  LxOptCoef k;
  memset(&k, 0, sizeof k);
  o->steps++;
  double t = (double)o->steps;
  k.kind = c->kind;
  k.nbuf = o->nbuf;
  k.first = o->steps == 1;
  k.nesterov = c->kind == OPTIM_NESTEROV;
  k.wd = (float)c->weight_decay;
  k.lr_neg = (float)-lr;
  k.b1 = (float)c->beta1;
  k.omb1 = (float)(1 - c->beta1);
  k.b2 = (float)c->beta2;
  k.omb2 = (float)(1 - c->beta2);
  k.eps = (float)c->eps;
  k.rho = (float)c->rho;
  k.omrho = (float)(1 - c->rho);
  k.alpha = (float)c->alpha;
  k.omalpha = (float)(1 - c->alpha);
  k.mom = (float)c->momentum;
  switch (c->kind) {
  case OPTIM_ADAGRAD: k.step_neg = (float)-(lr / (1 + (t - 1) * c->lr_decay)); break;
  case OPTIM_ADAM:
    k.step_neg = (float)-(lr / (1 - pow(c->beta1, t)));
    k.bc2_sqrt = (float)sqrt(1 - pow(c->beta2, t));
    break;
  case OPTIM_ADAMAX: k.step_neg = (float)-(lr / (1 - pow(c->beta1, t))); break;
  case OPTIM_NADAM: {
    double mu = c->beta1 * (1. - 0.5 * pow(0.96, t * c->momentum_decay));
    double mu_next = c->beta1 * (1. - 0.5 * pow(0.96, (t + 1) * c->momentum_decay));
    o->mu_product = o->mu_product * (float)mu;
    double mu_product_next = (double)o->mu_product * mu_next;
    k.bc2 = (float)(1 - pow(c->beta2, t));
    k.nadam_g = (float)(-lr * (1. - mu) / (1. - (double)o->mu_product));
    k.nadam_m = (float)(-lr * mu_next / (1. - mu_product_next));
    break;
  }
  case OPTIM_ADABOUND: {
    double step_size = lr * sqrt(1 - pow(c->beta2, t)) / (1 - pow(c->beta1, t));
    double final_lr = c->final_lr * lr / base_lr;
    k.ab_step = (float)step_size;
    k.ab_lo = (float)(final_lr * (1 - 1 / (c->gamma * t + 1)));
    k.ab_hi = (float)(final_lr * (1 + 1 / (c->gamma * t)));
    break;
  }
  default: break;
  }
  *out = k;
}

void optim_step(Optim *o, Pool *pool, float *const *params, const float *const *grads, double lr, double base_lr) {
  StepJob j;
  j.o = o;
  j.params = params;
  j.grads = grads;
  optim_next_coef(o, lr, base_lr, &j.k);
  double total = 0;
  for (int p = 0; p < o->nparams; p++) total += (double)o->sizes[p];
  pool_run_n(pool, pool_threads_for(pool, total, 32768.0), step_job, &j);
}

/* ---- clipping --------------------------------------------------------------------------------------- */

#define CLIP_CHUNK 8192

typedef struct ClipJob {
  float *const *grads;
  const int64_t *sizes;
  int n;
  int64_t nchunks;
  const int64_t *chunk_param, *chunk_start;
  double *sums;
  float scale;
} ClipJob;

/* Sums of squares in fixed chunks (whichever thread computes them), added in chunk order afterwards. */
static void sumsq_job(void *ctx, int tid, int nt) {
  ClipJob *j = ctx;
  int64_t c0, c1;
  pool_split(j->nchunks, 1, tid, nt, &c0, &c1);
  for (int64_t c = c0; c < c1; c++) {
    const float *g = j->grads[j->chunk_param[c]];
    int64_t a = j->chunk_start[c], b = a + CLIP_CHUNK < j->sizes[j->chunk_param[c]] ? a + CLIP_CHUNK : j->sizes[j->chunk_param[c]];
    double s = 0;
    for (int64_t i = a; i < b; i++) s += (double)g[i] * (double)g[i];
    j->sums[c] = s;
  }
}

static void scale_job(void *ctx, int tid, int nt) {
  ClipJob *j = ctx;
  for (int p = 0; p < j->n; p++) {
    int64_t lo, hi;
    pool_split(j->sizes[p], 64, tid, nt, &lo, &hi);
    for (int64_t i = lo; i < hi; i++) j->grads[p][i] *= j->scale;
  }
}

double optim_clip_grad_norm(Pool *pool, float *const *grads, const int64_t *sizes, int n, double max_norm) {
  int64_t nchunks = 0;
  for (int p = 0; p < n; p++) nchunks += (sizes[p] + CLIP_CHUNK - 1) / CLIP_CHUNK;
  int64_t *cp = lx_malloc((size_t)(nchunks + 1) * sizeof *cp), *cs = lx_malloc((size_t)(nchunks + 1) * sizeof *cs);
  double *sums = lx_malloc((size_t)(nchunks + 1) * sizeof *sums);
  ClipJob j = {grads, sizes, n, nchunks, cp, cs, sums, 1.0f};
  double total = 0;
  if (cp && cs && sums) {
    int64_t c = 0;
    for (int p = 0; p < n; p++)
      for (int64_t a = 0; a < sizes[p]; a += CLIP_CHUNK) cp[c] = p, cs[c] = a, c++;
    pool_run(pool, sumsq_job, &j);
    for (int64_t k = 0; k < nchunks; k++) total += sums[k];
  } else { /* out of memory: the same chunked sums, on this thread */
    for (int p = 0; p < n; p++)
      for (int64_t a = 0; a < sizes[p]; a += CLIP_CHUNK) {
        double s = 0;
        for (int64_t i = a; i < a + CLIP_CHUNK && i < sizes[p]; i++) s += (double)grads[p][i] * (double)grads[p][i];
        total += s;
      }
  }
  lx_free(cp);
  lx_free(cs);
  lx_free(sums);
  total = sqrt(total);
  if (max_norm > 0) {
    double coef = max_norm / (total + 1e-6);
    if (coef < 1) {
      j.scale = (float)coef;
      pool_run(pool, scale_job, &j);
    }
  }
  return total;
}
