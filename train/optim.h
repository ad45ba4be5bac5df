/* The ten optimizers of the train block, each with its standard update and defaults:
 *
 *   sgd, momentum, nesterov   torch.optim.SGD (momentum 0 / 0.9 / 0.9 with nesterov=True, dampening 0)
 *   adagrad                   torch.optim.Adagrad (lr 1e-2, lr_decay 0, initial_accumulator 0, eps 1e-10)
 *   adadelta                  torch.optim.Adadelta (lr 1, rho 0.9, eps 1e-6)
 *   rmsprop                   torch.optim.RMSprop (lr 1e-2, alpha 0.99, eps 1e-8, momentum 0; not centered)
 *   adam                      torch.optim.Adam (lr 1e-3, beta1 0.9, beta2 0.999, eps 1e-8; eps outside the sqrt)
 *   adamax                    torch.optim.Adamax (lr 2e-3, beta1 0.9, beta2 0.999, eps 1e-8)
 *   nadam                     torch.optim.NAdam (lr 2e-3, betas 0.9/0.999, eps 1e-8, momentum_decay 0.004),
 *                             with mu_product_next = mu_product·mu_next as fixed in PyTorch 2.0 (pytorch#92699;
 *                             1.13 multiplies by mu twice)
 *   adabound                  Luo et al. 2019, the authors' AdaBound (lr 1e-3, betas 0.9/0.999, final_lr 0.1,
 *                             gamma 1e-3, eps 1e-8; the bounds scale with lr / initial lr)
 *
 * weight_decay (default 0) is added to the gradient as torch does (g + wd·w). The updates run in float in
 * torch's order of operations, with the scalar coefficients computed in double, and are split over the
 * pool by elements (deterministic for any thread count). Gradient clipping by global norm follows
 * torch.nn.utils.clip_grad_norm_.
 *
 * Memory: an Optim owns its state buffers (optim_free). */
#ifndef LSTMC_TRAIN_OPTIM_H
#define LSTMC_TRAIN_OPTIM_H
#include <stdint.h>

#include "frontend/spec.h"
#include "support/optim_core.h"
#include "support/pool.h"

typedef enum OptimKind {
  OPTIM_SGD, OPTIM_MOMENTUM, OPTIM_NESTEROV, OPTIM_ADAGRAD, OPTIM_ADADELTA, OPTIM_RMSPROP, OPTIM_ADAM, OPTIM_ADAMAX,
  OPTIM_NADAM, OPTIM_ADABOUND, OPTIM_COUNT
} OptimKind;

typedef struct OptimConfig {
  int kind;
  double lr, weight_decay, momentum, beta1, beta2, eps, rho, alpha, final_lr, gamma, lr_decay, initial_accumulator;
  double momentum_decay; /* nadam; fixed at 0.004 */
} OptimConfig;

const char *optim_name(int kind);
/* Fills the optimizer's defaults, then what the spec gives. A setting the optimizer does not use, or a
 * missing lr for the SGD family (torch.optim.SGD has no default), is an error naming the spec's place.
 * When the train block has no optimizer statement (spec->loc.line == 0) the block's default applies:
 * adam with lr 0.002. */
int optim_config_from_spec(const OptimizerSpec *spec, OptimConfig *out);
/* One line "adam (lr 0.002, beta1 0.9, …)" for logs; writes at most n bytes. */
void optim_describe(const OptimConfig *c, char *buf, size_t n);

typedef struct Optim Optim;

/* State for nparams parameters of the given element counts. */
int optim_create(const OptimConfig *c, int nparams, const int64_t *sizes, Optim **out);
void optim_free(Optim *o); /* accepts NULL */

/* One update of every parameter: params[i] -= … from grads[i] (grads are not modified), with learning
 * rate lr (the scheduled value) and base_lr (the configured one, which AdaBound's bounds scale by). */
void optim_step(Optim *o, Pool *pool, float *const *params, const float *const *grads, double lr, double base_lr);

/* The coefficients of the next step (support/optim_core.h), counting the step (and advancing NAdam's μ
 * product) as optim_step does: for an engine that runs the element-wise update itself (the GPU's). */
void optim_next_coef(Optim *o, double lr, double base_lr, LxOptCoef *out);

/* Clears the state of the elements where keep[i] == 0 (parameter p), e.g. weights a pass pruned. */
void optim_mask_state(Optim *o, int p, const uint8_t *keep);

/* Checkpoint access: the per-parameter state buffers (names such as "exp_avg") and the scalars. */
int optim_num_buffers(const Optim *o);
const char *optim_buffer_name(const Optim *o, int k);
float *optim_buffer(Optim *o, int p, int k);
uint64_t optim_steps(const Optim *o);
void optim_set_steps(Optim *o, uint64_t steps);
float optim_mu_product(const Optim *o);
void optim_set_mu_product(Optim *o, float mu);

/* torch.nn.utils.clip_grad_norm_: total = ‖(‖g_i‖)_i‖₂; when max_norm > 0 and max_norm/(total+1e-6) < 1,
 * every gradient is scaled by that factor. Returns the total norm. */
double optim_clip_grad_norm(Pool *pool, float *const *grads, const int64_t *sizes, int n, double max_norm);

#endif
