/* Two AWD-LSTM training steps against PyTorch (goldens by gen_step_golden.py): a tied model with SGD and an
 * untied one with Adam and weight decay, each with embedding dropout, locked dropout at three points,
 * weight-drop on both LSTMs (the golden's masks installed in the net), AR, TAR, clipping, the
 * seq_len/bptt learning-rate scaling and the state carried (detached) into the second batch. Checked: the
 * losses, every gradient of the first batch, and every weight after each step (≤ 1e-5). Also: masks drawn
 * by the net are Bernoulli(1−p) with the right scale, the same for any thread count, and different per
 * step. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/lower.h"
#include "frontend/spec.h"
#include "runtime/safetensors.h"
#include "runtime/weights.h"
#include "support/alloc.h"
#include "support/json.h"
#include "testutil.h"
#include "train/net.h"
#include "train/optim.h"
#include "train/step.h"

static Graph *graph_from(const char *text, int64_t V) {
  Diag d;
  diag_init(&d, stderr);
  Spec *s;
  Graph *g = NULL;
  if (!CHECK(spec_load_text("golden.lstm", "", text, strlen(text), &d, &s) == 0)) return NULL;
  CHECK(lower_spec(s, V, &g) == 0);
  spec_free(s);
  if (g && !CHECK(weights_init(g, 1) == 0)) {
    graph_free(g);
    return NULL;
  }
  return g;
}

static const float *tensor_of(const StFile *f, const char *name, int64_t n) {
  const StTensor *t = st_find(f, name);
  if (!CHECK(t && t->dtype == ST_F32 && (int64_t)t->nelems == n)) {
    fprintf(stderr, "    golden tensor %s missing or of the wrong size\n", name);
    return NULL;
  }
  return (const float *)(const void *)t->data;
}

static void set_weights(Graph *g, const StFile *f, const char *prefix) {
  for (int s = 0; s < g->nslots; s++) {
    char name[160];
    snprintf(name, sizeof name, "%s%s", prefix, g->slots[s].name);
    const float *src = tensor_of(f, name, g->slots[s].rows * g->slots[s].cols);
    if (src) memcpy(tensor_f32(g->slots[s].t), src, (size_t)(g->slots[s].rows * g->slots[s].cols) * sizeof(float));
  }
}

static void install_masks(Net *n, const StFile *f, int step, const Graph *g) {
  char name[96];
  snprintf(name, sizeof name, "mask.%d.embed", step);
  const float *m = tensor_of(f, name, g->vocab_size);
  if (m && CHECK(net_mask_embed(n))) memcpy(net_mask_embed(n), m, (size_t)g->vocab_size * sizeof(float));
  int kd = 0, kl = 0;
  int64_t B = net_batch(n);
  for (int i = 0; i < g->nnodes; i++) {
    const Node *nd = &g->nodes[i];
    if (nd->op == OP_DROPOUT) {
      snprintf(name, sizeof name, "mask.%d.dropout.%d", step, kd);
      m = tensor_of(f, name, B * nd->out_dim);
      if (m && CHECK(net_mask_dropout(n, kd))) memcpy(net_mask_dropout(n, kd), m, (size_t)(B * nd->out_dim) * sizeof(float));
      kd++;
    } else if (nd->op == OP_LSTM) {
      snprintf(name, sizeof name, "mask.%d.weight_drop.%d", step, kl);
      m = tensor_of(f, name, 4 * nd->out_dim * nd->out_dim);
      if (m && CHECK(net_mask_weight_drop(n, kl)))
        memcpy(net_mask_weight_drop(n, kl), m, (size_t)(4 * nd->out_dim * nd->out_dim) * sizeof(float));
      kl++;
    }
  }
}

static double max_diff(const float *a, const float *b, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
  return m;
}

static void check_case(const char *name, int threads) {
  char path[512];
  snprintf(path, sizeof path, "%s/tests/train/golden/step_%s.safetensors", LSTMC_SOURCE_DIR, name);
  StFile *f = NULL;
  Json *meta = NULL;
  Graph *g = NULL;
  Pool *pool = NULL;
  Gemm *gemm = NULL;
  Net *net = NULL;
  Optim *opt = NULL;
  if (!CHECK(st_read_file(path, &f) == 0)) return;
  size_t len;
  const char *mt = st_meta_get(f, "lstmc.step_golden", &len);
  if (!CHECK(mt && json_parse(mt, len, &meta, NULL, 0) == 0)) goto done;
  const Json *seq = json_get(meta, "seq_len"), *set = json_get(meta, "settings");
  int64_t V = (int64_t)json_as_double(json_get(meta, "V")), B = (int64_t)json_as_double(json_get(meta, "B"));
  double bptt = json_as_double(json_get(meta, "bptt"));
  if (!(g = graph_from(json_get(meta, "spec")->text, V))) goto done;
  set_weights(g, f, "init.");
  if (!CHECK(pool_create(threads, &pool) == 0) || !CHECK(gemm_create(pool, &gemm) == 0) || !CHECK(net_create(g, gemm, B, 1, &net) == 0))
    goto done;
  int n = g->nslots;
  float *params[16], *grads[16];
  int64_t sizes[16];
  for (int s = 0; s < n; s++) {
    params[s] = tensor_f32(g->slots[s].t);
    grads[s] = net_grad(net, s);
    sizes[s] = g->slots[s].rows * g->slots[s].cols;
  }
  int64_t ntok = (int64_t)json_as_double(json_at(seq, 0)) + (int64_t)json_as_double(json_at(seq, 1)) + 1;
  const StTensor *tt = st_find(f, "tokens");
  if (!CHECK(tt && tt->dtype == ST_I32 && (int64_t)tt->nelems == ntok * B)) goto done;
  int32_t *tokens = lx_malloc(tt->nbytes);
  memcpy(tokens, tt->data, tt->nbytes);
  double ar = json_as_double(json_get(meta, "ar")), tar = json_as_double(json_get(meta, "tar"));

  /* the first batch's gradients, before clipping */
  install_masks(net, f, 0, g);
  NetLoss loss;
  int64_t T0 = (int64_t)json_as_double(json_at(seq, 0));
  CHECK(net_step(net, tokens, tokens + B, T0, ar, tar, &loss) == 0);
  const StTensor *l0 = st_find(f, "loss.0");
  double want[3];
  memcpy(want, l0->data, sizeof want);
  CHECK(fabs(loss.nll / (double)loss.predictions - want[0]) < 1e-5);
  CHECK(fabs(loss.ar - want[1]) < 1e-6 && fabs(loss.tar - want[2]) < 1e-6);
  double gd = 0;
  for (int s = 0; s < n; s++) {
    char gname[160];
    snprintf(gname, sizeof gname, "grad.0.%s", g->slots[s].name);
    const float *wg = tensor_of(f, gname, sizes[s]);
    if (wg) gd = fmax(gd, max_diff(grads[s], wg, sizes[s]));
  }
  if (!CHECK(gd < 1e-5) || getenv("STEP_VERBOSE")) fprintf(stderr, "    %s: first-batch gradients differ by %.2e\n", name, gd);

  /* two steps from the start, as the trainer takes them */
  set_weights(g, f, "init.");
  net_reset_state(net);
  OptimizerSpec os;
  memset(&os, 0, sizeof os);
  os.name = json_get(meta, "optimizer")->text;
  os.loc.line = 1;
  for (size_t i = 0; i < json_len(set); i++)
    for (int k = 0; k < OPT_COUNT; k++)
      if (!strcmp(json_key_at(set, i, NULL), optimizer_param_name(k))) os.v[k] = json_as_double(json_at(set, i)), os.set |= 1u << k;
  OptimConfig oc;
  if (!CHECK(optim_config_from_spec(&os, &oc) == 0) || !CHECK(optim_create(&oc, n, sizes, &opt) == 0)) goto free_tokens;
  TrainStepCtx c = {net, opt, pool, params, grads, sizes, n, NULL, json_as_double(json_get(meta, "clip")), ar, tar};
  int64_t pos = 0;
  for (int step = 0; step < 2; step++) {
    int64_t T = (int64_t)json_as_double(json_at(seq, (size_t)step));
    install_masks(net, f, step, g);
    CHECK(train_step(&c, tokens + pos * B, tokens + (pos + 1) * B, T, oc.lr * (double)T / bptt, oc.lr, &loss) == 0);
    char lname[32];
    snprintf(lname, sizeof lname, "loss.%d", step);
    memcpy(want, st_find(f, lname)->data, sizeof want);
    CHECK(fabs(loss.nll / (double)loss.predictions - want[0]) < 1e-5);
    CHECK(fabs(loss.ar - want[1]) < 1e-6 && fabs(loss.tar - want[2]) < 1e-6);
    double wd = 0;
    for (int s = 0; s < n; s++) {
      char wname[160];
      snprintf(wname, sizeof wname, "after.%d.%s", step, g->slots[s].name);
      const float *w = tensor_of(f, wname, sizes[s]);
      if (w) wd = fmax(wd, max_diff(params[s], w, sizes[s]));
    }
    if (!CHECK(wd <= 1e-5) || getenv("STEP_VERBOSE"))
      fprintf(stderr, "    %s, %d threads: weights after step %d differ by %.2e\n", name, threads, step, wd);
    pos += T;
  }
free_tokens:
  lx_free(tokens);
done:
  optim_free(opt);
  net_free(net);
  gemm_free(gemm);
  pool_free(pool);
  graph_free(g);
  json_free(meta);
  st_free(f);
}

/* The net's own masks: keep rate 1−p, values 0 or 1/(1−p), identical on 1 and 3 threads, new each step. */
static void check_drawn_masks(void) {
  const char *text = "model m { vocab chars; embed 16 { dropout 0.3; } dropout 0.4; lstm 64 { weight_drop 0.5; } "
                     "dropout 0.2; decoder untied; }";
  Graph *g = graph_from(text, 300);
  if (!g) return;
  Pool *p1 = NULL, *p3 = NULL;
  Gemm *g1 = NULL, *g3 = NULL;
  Net *n1 = NULL, *n3 = NULL;
  if (!CHECK(pool_create(1, &p1) == 0 && pool_create(3, &p3) == 0 && gemm_create(p1, &g1) == 0 && gemm_create(p3, &g3) == 0) ||
      !CHECK(net_create(g, g1, 40, 1, &n1) == 0 && net_create(g, g3, 40, 1, &n3) == 0))
    goto done;
  net_draw_masks(n1, 77, 5);
  net_draw_masks(n3, 77, 5);
  struct {
    float *a, *b;
    int64_t n;
    double p;
  } m[3] = {{net_mask_embed(n1), net_mask_embed(n3), 300, 0.3},
            {net_mask_dropout(n1, 0), net_mask_dropout(n3, 0), 40 * 16, 0.4},
            {net_mask_weight_drop(n1, 0), net_mask_weight_drop(n3, 0), 4 * 64 * 64, 0.5}};
  for (int k = 0; k < 3; k++) {
    CHECK(!memcmp(m[k].a, m[k].b, (size_t)m[k].n * sizeof(float)));
    int64_t kept = 0, bad = 0;
    float scale = (float)(1 / (1 - m[k].p));
    for (int64_t i = 0; i < m[k].n; i++) {
      kept += m[k].a[i] != 0;
      bad += m[k].a[i] != 0 && m[k].a[i] != scale;
    }
    double rate = (double)kept / (double)m[k].n, sd = sqrt((1 - m[k].p) * m[k].p / (double)m[k].n);
    CHECK(fabs(rate - (1 - m[k].p)) < 5 * sd);
    CHECK_INT_EQ(bad, 0);
  }
  float *before = lx_malloc(4 * 64 * 64 * sizeof(float));
  memcpy(before, net_mask_weight_drop(n1, 0), 4 * 64 * 64 * sizeof(float));
  net_draw_masks(n1, 77, 6);
  CHECK(memcmp(before, net_mask_weight_drop(n1, 0), 4 * 64 * 64 * sizeof(float)) != 0);
  lx_free(before);
done:
  net_free(n1);
  net_free(n3);
  gemm_free(g1);
  gemm_free(g3);
  pool_free(p1);
  pool_free(p3);
  graph_free(g);
}

int main(void) {
  check_case("sgd", 1);
  check_case("sgd", 3);
  check_case("adam", 2);
  check_drawn_masks();
  return tu_summary("train_step");
}
