/* The ten optimizers against golden updates (tests/train/golden/optim.safetensors, made by
 * gen_optim_golden.py with torch.optim 1.13; NAdam with PyTorch 2.0's fix; AdaBound from its published
 * rule): 17 configurations, 6 steps each with fixed gradients and a learning rate that changes every step,
 * parameters compared after every step. The configurations go through optim_config_from_spec as the
 * spec would give them. Also: the defaults, the errors for settings an optimizer does not take, clipping
 * by global norm, and masked state. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/safetensors.h"
#include "support/alloc.h"
#include "support/json.h"
#include "testutil.h"
#include "train/optim.h"

static Pool *pool;

static const float *golden(const StFile *f, const char *fmt, int a, int b, int64_t n) {
  char name[128];
  snprintf(name, sizeof name, fmt, a, b);
  const StTensor *t = st_find(f, name);
  if (!CHECK(t && t->dtype == ST_F32 && (int64_t)t->nelems == n)) {
    fprintf(stderr, "    missing golden tensor %s\n", name);
    return NULL;
  }
  return (const float *)(const void *)t->data; /* the writer aligns F32 data to 4 bytes */
}

static void run_config(const StFile *f, const Json *cfg) {
  const char *name = json_get(cfg, "name")->text, *kind = json_get(cfg, "optimizer")->text;
  const Json *set = json_get(cfg, "settings"), *lrs = json_get(cfg, "lr");
  OptimizerSpec s;
  memset(&s, 0, sizeof s);
  s.name = kind;
  s.loc.file = "golden";
  s.loc.line = 1;
  for (size_t i = 0; i < json_len(set); i++) {
    const char *key = json_key_at(set, i, NULL);
    int k = -1;
    for (int j = 0; j < OPT_COUNT; j++)
      if (!strcmp(key, optimizer_param_name(j))) k = j;
    if (!CHECK(k >= 0)) return;
    s.v[k] = json_as_double(json_at(set, i));
    s.set |= 1u << k;
  }
  OptimConfig c;
  if (!CHECK(optim_config_from_spec(&s, &c) == 0)) {
    fprintf(stderr, "    %s: %s\n", name, lstmc_errmsg());
    return;
  }
  int64_t sizes[2] = {35, 13};
  float *w[2], g[2][35];
  for (int i = 0; i < 2; i++) {
    w[i] = lx_malloc((size_t)sizes[i] * sizeof(float));
    const float *init = golden(f, "param.init.%d%.0d", i, 0, sizes[i]);
    if (init) memcpy(w[i], init, (size_t)sizes[i] * sizeof(float));
  }
  Optim *o;
  CHECK(optim_create(&c, 2, sizes, &o) == 0);
  double worst = 0;
  for (size_t k = 0; k < json_len(lrs); k++) {
    const float *gp[2];
    for (int i = 0; i < 2; i++) {
      const float *src = golden(f, "grad.%d.%d", (int)k, i, sizes[i]);
      if (src) memcpy(g[i], src, (size_t)sizes[i] * sizeof(float));
      gp[i] = g[i];
    }
    optim_step(o, pool, w, gp, json_as_double(json_at(lrs, k)), c.lr);
    for (int i = 0; i < 2; i++) {
      char fmt[96];
      snprintf(fmt, sizeof fmt, "%s.step%%d.%%d", name);
      const float *want = golden(f, fmt, (int)k, i, sizes[i]);
      for (int64_t e = 0; want && e < sizes[i]; e++) worst = fmax(worst, fabs((double)w[i][e] - want[e]) / fmax(1.0, fabs(want[e])));
    }
  }
  if (!CHECK(worst <= 1e-6) || getenv("OPTIM_VERBOSE")) fprintf(stderr, "    %-14s worst difference %.2e\n", name, worst);
  optim_free(o);
  lx_free(w[0]);
  lx_free(w[1]);
}

static void test_goldens(void) {
  char path[512];
  snprintf(path, sizeof path, "%s/tests/train/golden/optim.safetensors", LSTMC_SOURCE_DIR);
  StFile *f;
  if (!CHECK(st_read_file(path, &f) == 0)) return;
  size_t len;
  const char *meta = st_meta_get(f, "lstmc.optim_golden", &len);
  Json *j = NULL;
  if (CHECK(meta && json_parse(meta, len, &j, NULL, 0) == 0)) {
    CHECK_INT_EQ(json_len(j), 17);
    int seen[OPTIM_COUNT] = {0};
    for (size_t i = 0; i < json_len(j); i++) {
      run_config(f, json_at(j, i));
      for (int k = 0; k < OPTIM_COUNT; k++) seen[k] |= !strcmp(optim_name(k), json_get(json_at(j, i), "optimizer")->text);
    }
    for (int k = 0; k < OPTIM_COUNT; k++) CHECK(seen[k]); /* every optimizer has a golden */
  }
  json_free(j);
  st_free(f);
}

static int config_error(const char *name, int k, double v, const char *want) {
  OptimizerSpec s;
  memset(&s, 0, sizeof s);
  s.name = name;
  s.loc = (SrcLoc){"m.lstm", 3, 5, 3, 13};
  if (k >= 0) s.v[k] = v, s.set = 1u << k;
  OptimConfig c;
  return CHECK(optim_config_from_spec(&s, &c) == LSTMC_ERR_USAGE) && CHECK_CONTAINS(lstmc_errmsg(), want);
}

static void test_config(void) {
  config_error("adam", OPT_RHO, 0.9, "m.lstm:3:5: optimizer 'adam' does not use 'rho' (it takes lr, weight_decay, beta1, beta2, eps)");
  config_error("sgd", -1, 0, "m.lstm:3:5: optimizer 'sgd' needs an lr (torch.optim.SGD has no default)");
  {
    OptimizerSpec n;
    memset(&n, 0, sizeof n);
    n.name = "nesterov";
    n.loc = (SrcLoc){"m.lstm", 4, 1, 4, 9};
    n.v[OPT_LR] = 0.1, n.v[OPT_MOMENTUM] = 0;
    n.set = 1u << OPT_LR | 1u << OPT_MOMENTUM;
    OptimConfig c;
    CHECK(optim_config_from_spec(&n, &c) == LSTMC_ERR_USAGE);
    CHECK_CONTAINS(lstmc_errmsg(), "m.lstm:4:1: optimizer 'nesterov' needs a momentum > 0");
  }
  /* torch's defaults */
  OptimizerSpec s;
  memset(&s, 0, sizeof s);
  s.loc.line = 1;
  OptimConfig c;
  const char *names[] = {"adagrad", "adadelta", "rmsprop", "adam", "adamax", "nadam", "adabound"};
  double lrs[] = {1e-2, 1.0, 1e-2, 1e-3, 2e-3, 2e-3, 1e-3};
  for (int i = 0; i < 7; i++) {
    s.name = names[i];
    CHECK(optim_config_from_spec(&s, &c) == 0);
    CHECK(c.lr == lrs[i]);
  }
  s.name = "adagrad";
  optim_config_from_spec(&s, &c);
  CHECK(c.eps == 1e-10 && c.lr_decay == 0 && c.initial_accumulator == 0);
  s.name = "adadelta";
  optim_config_from_spec(&s, &c);
  CHECK(c.rho == 0.9 && c.eps == 1e-6);
  s.name = "rmsprop";
  optim_config_from_spec(&s, &c);
  CHECK(c.alpha == 0.99 && c.eps == 1e-8 && c.momentum == 0);
  s.name = "adabound";
  optim_config_from_spec(&s, &c);
  CHECK(c.final_lr == 0.1 && c.gamma == 1e-3 && c.beta1 == 0.9 && c.beta2 == 0.999);
  s.name = "momentum";
  s.set = 1u << OPT_LR;
  s.v[OPT_LR] = 0.3;
  CHECK(optim_config_from_spec(&s, &c) == 0 && c.momentum == 0.9 && c.lr == 0.3);
  /* no optimizer statement: the train block's default, adam with lr 0.002 */
  memset(&s, 0, sizeof s);
  s.name = "adam";
  s.v[OPT_LR] = 0.002;
  CHECK(optim_config_from_spec(&s, &c) == 0 && c.kind == OPTIM_ADAM && c.lr == 0.002);
}

static void test_clip(void) {
  float a[3] = {3, 0, 0}, b[20000];
  for (int i = 0; i < 20000; i++) b[i] = i == 17000 ? 4.0f : 0.0f;
  float *g[2] = {a, b};
  int64_t sizes[2] = {3, 20000};
  double norm = optim_clip_grad_norm(pool, g, sizes, 2, 0);
  CHECK(fabs(norm - 5) < 1e-12);
  CHECK(a[0] == 3); /* max_norm 0: no clipping */
  norm = optim_clip_grad_norm(pool, g, sizes, 2, 1.0);
  CHECK(fabs(norm - 5) < 1e-12);
  CHECK(fabs(a[0] - 3 / (5 + 1e-6)) < 1e-6 && fabs(b[17000] - 4 / (5 + 1e-6)) < 1e-6);
  norm = optim_clip_grad_norm(pool, g, sizes, 2, 10.0); /* under the limit: untouched */
  CHECK(fabs(a[0] - 3 / (5 + 1e-6)) < 1e-6);
}

static void test_mask_state(void) {
  OptimConfig c;
  OptimizerSpec s;
  memset(&s, 0, sizeof s);
  s.name = "adam";
  s.loc.line = 1;
  CHECK(optim_config_from_spec(&s, &c) == 0);
  int64_t n = 8;
  Optim *o;
  CHECK(optim_create(&c, 1, &n, &o) == 0);
  float w[8] = {1, 0, 1, 0, 1, 0, 1, 0}, gr[8] = {1, 1, 1, 1, 1, 1, 1, 1};
  float *wp[1] = {w};
  const float *gp[1] = {gr};
  optim_step(o, pool, wp, gp, 0.1, 0.1);
  uint8_t keep[8] = {1, 0, 1, 0, 1, 0, 1, 0};
  optim_mask_state(o, 0, keep);
  for (int i = 0; i < 8; i++) {
    CHECK((optim_buffer(o, 0, 0)[i] == 0) == !keep[i]);
    CHECK((optim_buffer(o, 0, 1)[i] == 0) == !keep[i]);
  }
  optim_free(o);
}

int main(void) {
  if (!CHECK(pool_create(3, &pool) == 0)) return tu_summary("train_optim");
  test_goldens();
  test_config();
  test_clip();
  test_mask_state();
  pool_free(pool);
  return tu_summary("train_optim");
}
