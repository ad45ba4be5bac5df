/* Checks of the GPU training engine (train/net_cuda.h) against the CPU engine (train/net.h, train_step),
 * shared by test_cuda_train_emu.c (the generated kernels and the cuBLAS stand-in on the host emulator) and
 * test_cuda_train_gpu.c (a GPU with libcublas). Both engines start from the same weights, draw their
 * masks from the same seed and step counter and take the same batches; after every step the losses, the
 * masks (bit for bit), the gradients, the weights, the optimizer state and the carried recurrent state
 * are compared.
 *
 * Relative error of a tensor: max_i |gpu_i − cpu_i| / max_i |cpu_i| (a tensor of zeros must be zeros).
 * The engines sum in other orders (cuBLAS against the CPU's blocked GEMM, trees against loops), so they
 * agree to float rounding, which the bound of 1e-5 leaves room for; bf16 is held to 3e-2. How one
 * step is compared is written above tc_run.
 *
 * Header-only with internal linkage, like cuda_check.h. */
#ifndef LSTMC_TESTS_CUDA_TRAIN_CHECK_H
#define LSTMC_TESTS_CUDA_TRAIN_CHECK_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/lower.h"
#include "frontend/spec.h"
#include "runtime/weights.h"
#include "support/alloc.h"
#include "support/rng.h"
#include "testutil.h"
#include "train/net_cuda.h"
#include "train/schedule.h"
#include "train/step.h"

#define TC_MAXSLOTS 32

/* Opens the device a case runs on (the emulator, or the GPU). */
typedef int (*TcOpenDev)(CudaDev **out);

typedef struct TcCase {
  const char *name;
  const char *spec;      /* model and train block (optimizer, clip, ar, tar, prune_at, qat) */
  int64_t V, B;          /* vocabulary (chars), streams */
  int precision;         /* CUDA_TRAIN_F32 / BF16 */
  int schedule_entry;    /* run the prune_at pipeline of this entry before training; -1: none */
  int qat;               /* forward through the exported (quantized) weights */
  int steps;
  const int64_t *T;      /* [steps] sequence lengths */
  double tol;            /* relative error allowed */
  int free_running;      /* 0: every step starts from the CPU's state (uploaded); 1: each engine goes its way */
  int direct;            /* also compare the weights and optimizer state after each step across the engines */
  double worst;          /* out: the largest relative error seen (all tensors, all steps) */
  double worst_loss;     /* out: the largest relative error of a loss */
  double worst_direct;   /* out: of the weights after the update, across the engines (also when not checked) */
} TcCase;

static double tc_rel(const float *gpu, const float *cpu, int64_t n) {
  double d = 0, m = 0;
  for (int64_t i = 0; i < n; i++) {
    double e = fabs((double)gpu[i] - (double)cpu[i]);
    if (!(e <= d)) d = e; /* NaN sticks */
    if (fabs((double)cpu[i]) > m) m = fabs((double)cpu[i]);
  }
  return m > 0 ? d / m : d;
}

/* Checks one tensor; returns its relative error. */
static double tc_cmp(TcCase *c, const char *what, int step, const float *gpu, const float *cpu, int64_t n) {
  double r = tc_rel(gpu, cpu, n);
  if (!(r <= c->worst)) c->worst = r;
  if (!CHECK(r <= c->tol)) fprintf(stderr, "    %s, step %d: %s differs, relative error %.3g (allowed %.3g)\n", c->name, step, what, r, c->tol);
  return r;
}

static int tc_cmp_loss(TcCase *c, const char *what, int step, double gpu, double cpu) {
  double r = fabs(gpu - cpu) / (fabs(cpu) > 0 ? fabs(cpu) : 1);
  if (!(r <= c->worst_loss)) c->worst_loss = r;
  if (!CHECK(r <= c->tol)) {
    fprintf(stderr, "    %s, step %d: %s %.9g on the GPU, %.9g on the CPU\n", c->name, step, what, gpu, cpu);
    return 0;
  }
  return 1;
}

static Graph *tc_graph(const char *text, int64_t V, Spec **spec) {
  Diag d;
  diag_init(&d);
  Graph *g = NULL;
  if (!CHECK(spec_load_text("train_check.lstm", "", text, strlen(text), &d, spec) == 0)) return NULL;
  if (!CHECK(lower_spec(*spec, V, &g) == 0) || !CHECK(weights_init(g, 7) == 0)) {
    graph_free(g);
    return NULL;
  }
  /* random biases too (weights_init's are uniform like PyTorch's): every gradient path carries signal */
  return g;
}

/* The masks of the CPU net and the GPU net must be the same floats. */
static void tc_check_masks(TcCase *c, Net *net, NetCuda *ng, const Graph *g, int step) {
  int kd = 0, kl = 0;
  for (int i = 0; i < g->nnodes; i++) {
    const Node *nd = &g->nodes[i];
    float *cpu = NULL;
    int64_t len = 0;
    int op = nd->op, k = 0;
    if (op == OP_EMBED) cpu = net_mask_embed(net), len = g->vocab_size;
    else if (op == OP_DROPOUT) k = kd++, cpu = net_mask_dropout(net, k), len = net_batch(net) * nd->out_dim;
    else if (op == OP_LSTM) k = kl++, cpu = net_mask_weight_drop(net, k), len = 4 * nd->out_dim * nd->out_dim;
    if (!cpu) continue;
    float *gpu = lx_malloc((size_t)len * sizeof *gpu);
    if (CHECK(gpu && net_cuda_get_mask(ng, op, k, gpu) == 0) && !CHECK(memcmp(gpu, cpu, (size_t)len * sizeof *gpu) == 0))
      fprintf(stderr, "    %s, step %d: the %s mask %d differs from the CPU's\n", c->name, step, op_name(op), k);
    lx_free(gpu);
  }
}

/* Runs one case on the device open_dev gives. Per step:
 *   - unless free running, the GPU starts from the CPU's weights, optimizer state and carried state;
 *   - both draw their masks (compared bit for bit) and take the step;
 *   - the losses, every gradient (after masking and clipping) and the carried state are compared;
 *   - the update: the CPU optimizer applied to the GPU's own state before the step and the GPU's gradients
 *     must give the GPU's weights and state after it (the optimizer kernels against optim.c);
 *   - with `direct`, the weights and state after the step are compared across the engines as well. That
 *     is the update through gradients that differ by rounding, which adaptive optimizers amplify where a
 *     gradient is as small as their eps (Adam's step is ±lr wherever |g| ≫ eps): exact only when the
 *     engines sum in the same order, as on the emulator, so a GPU checks it for the SGD family alone. */
static void tc_run(TcCase *c, TcOpenDev open_dev) {
  Spec *spec = NULL;
  Graph *gc = tc_graph(c->spec, c->V, &spec), *gg = NULL;
  Pool *pool = NULL;
  Gemm *gemm = NULL;
  Net *net = NULL;
  Optim *opt = NULL, *shadow = NULL;
  CudaTrain *ct = NULL;
  NetCuda *ng = NULL;
  CudaDev *dev = NULL;
  Schedule sched;
  memset(&sched, 0, sizeof sched);
  uint8_t *const *masks = NULL; /* the schedule's pruning masks */
  float *qat[TC_MAXSLOTS] = {0}, *w0[TC_MAXSLOTS] = {0}, *ggrad[TC_MAXSLOTS] = {0};
  int32_t *tok = NULL;
  float *buf = NULL;
  c->worst = c->worst_loss = c->worst_direct = 0;
  if (!gc || !CHECK(gc->nslots <= TC_MAXSLOTS)) goto done;
  const TrainSpec *ts = &spec->train;
  OptimConfig oc;
  Diag diag;
  diag_init(&diag);
  if (!CHECK(optim_config_from_spec(&ts->opt, &oc) == 0) || !CHECK(schedule_init(&sched, spec, gc->nslots, &diag) == 0)) goto done;
  masks = sched.masks;
  if (c->schedule_entry >= 0) {
    if (!CHECK(schedule_run(&sched, gc, c->schedule_entry, &diag) == 0)) {
      fprintf(stderr, "    %s\n", lstmc_errmsg());
      goto done;
    }
    int any = 0;
    for (int s = 0; s < gc->nslots; s++) any |= masks[s] != NULL;
    CHECK(any); /* the pipeline pruned something */
  }
  if (c->qat) {
    Graph *e = NULL;
    if (!CHECK(schedule_export(&sched, gc, 1, &diag, &e) == 0)) goto done;
    int quantized = 0;
    for (int s = 0; s < gc->nslots; s++)
      if (e->slots[s].t->enc != LX_ENC_F32) {
        qat[s] = tensor_to_f32(e->slots[s].t);
        quantized++;
      }
    graph_free(e);
    CHECK(quantized > 0);
  }
  gg = graph_clone(gc);
  if (!CHECK(gg != NULL)) goto done;
  int n = gc->nslots;
  float *params[TC_MAXSLOTS], *grads[TC_MAXSLOTS];
  int64_t sizes[TC_MAXSLOTS], maxsize = 0;
  if (!CHECK(pool_create(1, &pool) == 0) || !CHECK(gemm_create(pool, &gemm) == 0) || !CHECK(net_create(gc, gemm, c->B, 1, &net) == 0))
    goto done;
  for (int s = 0; s < n; s++) {
    params[s] = tensor_f32(gc->slots[s].t);
    grads[s] = net_grad(net, s);
    sizes[s] = gc->slots[s].rows * gc->slots[s].cols;
    if (sizes[s] > maxsize) maxsize = sizes[s];
    if (qat[s]) net_set_forward_weights(net, s, qat[s]);
    w0[s] = lx_malloc((size_t)sizes[s] * sizeof(float));
    ggrad[s] = lx_malloc((size_t)sizes[s] * sizeof(float));
    if (!CHECK(w0[s] && ggrad[s])) goto done;
  }
  if (!CHECK(optim_create(&oc, n, sizes, &opt) == 0) || !CHECK(optim_create(&oc, n, sizes, &shadow) == 0)) goto done;
  int64_t hmax = 0;
  for (int l = 0; l < net_num_lstm(net); l++)
    if (net_lstm_hidden(net, l) > hmax) hmax = net_lstm_hidden(net, l);
  if (c->B * hmax > maxsize) maxsize = c->B * hmax;
  if (gc->vocab_size > maxsize) maxsize = gc->vocab_size;
  buf = lx_malloc((size_t)maxsize * 2 * sizeof *buf);
  if (!CHECK(buf != NULL)) goto done;

  CudaTrainOptions o = {c->precision, 0, 0};
  int st = open_dev(&dev);
  if (!CHECK(st == 0) || !CHECK((st = cuda_train_create(gg, dev, &oc, &o, &ct)) == 0)) {
    fprintf(stderr, "    %s: %s\n", c->name, lstmc_errmsg());
    goto done;
  }
  Optim *gopt = cuda_train_optim(ct);
  if (!CHECK(cuda_train_set_prune_masks(ct, masks) == 0) || !CHECK(net_cuda_create(ct, c->B, 1, &ng) == 0)) goto done;
  for (int s = 0; s < n; s++)
    if (qat[s] && !CHECK(cuda_train_set_forward_weights(ct, s, qat[s]) == 0)) goto done;

  int64_t Tmax = 0;
  for (int i = 0; i < c->steps; i++)
    if (c->T[i] > Tmax) Tmax = c->T[i];
  tok = lx_malloc((size_t)((Tmax + 1) * c->B) * sizeof *tok);
  if (!CHECK(tok != NULL)) goto done;
  Rng rng;
  rng_seed(&rng, 99);
  uint64_t seed = rng_derive(ts->seed, 2);
  int nbuf = optim_num_buffers(opt);
  TrainStepCtx ctx = {net, opt, pool, params, grads, sizes, n, masks, ts->clip, ts->ar, ts->tar};
  for (int step = 0; step < c->steps; step++) {
    int64_t T = c->T[step];
    char what[200];
    for (int64_t i = 0; i < (T + 1) * c->B; i++) tok[i] = (int32_t)rng_below(&rng, (uint64_t)c->V);
    double lr = oc.lr * (double)T / 10.0; /* as the trainer scales it by seq_len / bptt */
    if (!c->free_running && step > 0) { /* the GPU starts where the CPU is */
      for (int s = 0; s < n; s++) {
        memcpy(tensor_f32(gg->slots[s].t), params[s], (size_t)sizes[s] * sizeof(float));
        for (int k = 0; k < nbuf; k++) memcpy(optim_buffer(gopt, s, k), optim_buffer(opt, s, k), (size_t)sizes[s] * sizeof(float));
      }
      optim_set_steps(gopt, optim_steps(opt));
      optim_set_mu_product(gopt, optim_mu_product(opt));
      if (!CHECK(cuda_train_upload(ct) == 0)) break;
      for (int l = 0; l < net_num_lstm(net); l++)
        if (!CHECK(net_cuda_set_state(ng, l, net_state_h(net, l), net_state_c(net, l)) == 0)) goto done;
    }
    /* the GPU's state before the step, for the update check */
    if (!CHECK(cuda_train_download(ct) == 0)) break;
    for (int s = 0; s < n; s++) {
      memcpy(w0[s], tensor_f32(gg->slots[s].t), (size_t)sizes[s] * sizeof(float));
      for (int k = 0; k < nbuf; k++) memcpy(optim_buffer(shadow, s, k), optim_buffer(gopt, s, k), (size_t)sizes[s] * sizeof(float));
    }
    optim_set_steps(shadow, optim_steps(gopt));
    optim_set_mu_product(shadow, optim_mu_product(gopt));

    net_draw_masks(net, seed, (uint64_t)step);
    if (!CHECK(net_cuda_draw_masks(ng, seed, (uint64_t)step) == 0)) break;
    tc_check_masks(c, net, ng, gc, step);
    NetLoss lc, lg;
    if (!CHECK(train_step(&ctx, tok, tok + c->B, T, lr, oc.lr, &lc) == 0)) break;
    if (!CHECK((st = cuda_train_step(ct, ng, tok, tok + c->B, T, lr, oc.lr, ts->clip, ts->ar, ts->tar, &lg)) == 0)) {
      fprintf(stderr, "    %s: %s\n", c->name, lstmc_errmsg());
      break;
    }
    CHECK_INT_EQ(lg.predictions, lc.predictions);
    tc_cmp_loss(c, "the cross-entropy", step, lg.nll, lc.nll);
    tc_cmp_loss(c, "AR", step, lg.ar, lc.ar);
    tc_cmp_loss(c, "TAR", step, lg.tar, lc.tar);
    for (int s = 0; s < n; s++) {
      snprintf(what, sizeof what, "the gradient of %s", gc->slots[s].name);
      if (CHECK(net_cuda_grad(ng, s, ggrad[s]) == 0)) tc_cmp(c, what, step, ggrad[s], grads[s], sizes[s]);
    }
    for (int l = 0; l < net_num_lstm(net); l++) {
      int64_t len = c->B * net_lstm_hidden(net, l);
      if (CHECK(net_cuda_get_state(ng, l, buf, buf + maxsize) == 0)) {
        tc_cmp(c, "the carried h", step, buf, net_state_h(net, l), len);
        tc_cmp(c, "the carried c", step, buf + maxsize, net_state_c(net, l), len);
      }
    }
    /* the update: optim.c on the GPU's state and (masked, clipped) gradients, then the pruning masks */
    optim_step(shadow, pool, w0, (const float *const *)ggrad, lr, oc.lr);
    for (int s = 0; s < n; s++)
      for (int64_t i = 0; masks[s] && i < sizes[s]; i++)
        if (!masks[s][i]) w0[s][i] = 0;
    if (!CHECK(cuda_train_download(ct) == 0)) break;
    for (int s = 0; s < n; s++) {
      const float *wg = tensor_f32(gg->slots[s].t);
      snprintf(what, sizeof what, "%s after the GPU's update", gc->slots[s].name);
      tc_cmp(c, what, step, wg, w0[s], sizes[s]);
      for (int k = 0; k < nbuf; k++) {
        snprintf(what, sizeof what, "optimizer state %s of %s after the GPU's update", optim_buffer_name(opt, k), gc->slots[s].name);
        tc_cmp(c, what, step, optim_buffer(gopt, s, k), optim_buffer(shadow, s, k), sizes[s]);
      }
      double d = tc_rel(wg, params[s], sizes[s]);
      if (!(d <= c->worst_direct)) c->worst_direct = d;
      if (c->direct) {
        snprintf(what, sizeof what, "%s after the update (GPU against CPU)", gc->slots[s].name);
        tc_cmp(c, what, step, wg, params[s], sizes[s]);
        for (int k = 0; k < nbuf; k++) {
          snprintf(what, sizeof what, "optimizer state %s of %s (GPU against CPU)", optim_buffer_name(opt, k), gc->slots[s].name);
          tc_cmp(c, what, step, optim_buffer(gopt, s, k), optim_buffer(opt, s, k), sizes[s]);
        }
      }
      if (masks[s]) /* pruned weights stay exactly zero */
        for (int64_t i = 0; i < sizes[s]; i++)
          if (!masks[s][i] && !CHECK(wg[i] == 0.0f)) {
            fprintf(stderr, "    %s: pruned weight %lld of %s is %g\n", c->name, (long long)i, gc->slots[s].name, wg[i]);
            break;
          }
    }
  }
done:
  net_cuda_free(ng);
  cuda_train_free(ct);
  net_free(net);
  optim_free(opt);
  optim_free(shadow);
  gemm_free(gemm);
  pool_free(pool);
  for (int s = 0; s < TC_MAXSLOTS; s++) {
    lx_free(qat[s]);
    lx_free(w0[s]);
    lx_free(ggrad[s]);
  }
  schedule_free(&sched);
  graph_free(gg);
  graph_free(gc);
  spec_free(spec);
  lx_free(tok);
  lx_free(buf);
}

/* A training net and an evaluation net on the GPU share weights; the evaluation loss equals the CPU's. */
static void tc_eval(const char *spec_text, int64_t V, int64_t B, int64_t T, TcOpenDev open_dev, double tol) {
  Spec *spec = NULL;
  Graph *gc = tc_graph(spec_text, V, &spec), *gg = gc ? graph_clone(gc) : NULL;
  Pool *pool = NULL;
  Gemm *gemm = NULL;
  Net *net = NULL;
  CudaTrain *ct = NULL;
  NetCuda *ng = NULL;
  CudaDev *dev = NULL;
  int32_t *tok = lx_malloc((size_t)((2 * T + 1) * B) * sizeof *tok);
  OptimConfig oc;
  if (!gg || !tok || !CHECK(optim_config_from_spec(&spec->train.opt, &oc) == 0)) goto done;
  if (!CHECK(pool_create(1, &pool) == 0) || !CHECK(gemm_create(pool, &gemm) == 0) || !CHECK(net_create(gc, gemm, B, 0, &net) == 0) ||
      !CHECK(open_dev(&dev) == 0) || !CHECK(cuda_train_create(gg, dev, &oc, NULL, &ct) == 0) || !CHECK(net_cuda_create(ct, B, 0, &ng) == 0))
    goto done;
  Rng rng;
  rng_seed(&rng, 5);
  for (int64_t i = 0; i < (2 * T + 1) * B; i++) tok[i] = (int32_t)rng_below(&rng, (uint64_t)V);
  for (int half = 0; half < 2; half++) { /* the state carries over from the first half into the second */
    NetLoss lc, lg;
    const int32_t *x = tok + half * T * B;
    if (!CHECK(net_step(net, x, x + B, T, 0, 0, &lc) == 0) || !CHECK(net_cuda_step(ng, x, x + B, T, 0, 0, &lg) == 0)) break;
    double r = fabs(lg.nll - lc.nll) / lc.nll;
    printf("  eval net, part %d: nll %.9g on the GPU, %.9g on the CPU (relative %.2g)\n", half, lg.nll, lc.nll, r);
    CHECK(r <= tol);
  }
  /* a bad token is a data error, as on the CPU */
  tok[0] = (int32_t)V;
  NetLoss l;
  CHECK_INT_EQ(net_cuda_step(ng, tok, tok + B, T, 0, 0, &l), LSTMC_ERR_DATA);
  CHECK_CONTAINS(lstmc_errmsg(), "outside the vocabulary");
done:
  net_cuda_free(ng);
  cuda_train_free(ct);
  net_free(net);
  gemm_free(gemm);
  pool_free(pool);
  graph_free(gg);
  graph_free(gc);
  spec_free(spec);
  lx_free(tok);
}

/* The model: both decoders, every regularizer; %s is the optimizer statement, %s the rest of the block. */
static const char *MODEL = "model t {\n"
                           "  vocab chars;\n"
                           "  embed 6 { dropout 0.2; }\n"
                           "  dropout 0.2;\n"
                           "  lstm 12 { weight_drop 0.3; }\n"
                           "  dropout 0.25;\n"
                           "  lstm %d { weight_drop 0.2; }\n"
                           "  dropout 0.1;\n"
                           "  decoder %s;\n"
                           "}\n"
                           "train {\n"
                           "  bptt 10; batch 3; seed 11; clip %s; ar 2; tar 1;\n"
                           "  %s\n"
                           "  %s\n"
                           "}\n";

static char *spec_text(int tied, const char *clip, const char *opt, const char *rest) {
  static char buf[8][2048];
  static int k;
  char *b = buf[k++ % 8];
  snprintf(b, sizeof buf[0], MODEL, tied ? 6 : 7, tied ? "tied" : "untied", clip, opt, rest);
  return b;
}

/* The cases both tests run: every optimizer (two steps each), no clipping, a column-packed schedule, QAT,
 * 20 steps, bf16, the evaluation net; with `big`, also a wider model over more steps and streams (many
 * blocks per kernel and cuBLAS' larger algorithms, on a GPU). */
static void tc_suite(TcOpenDev open_dev, int big, int direct_all) {
  static const int64_t T2[] = {5, 7}, T1[] = {6};
  static const struct {
    const char *opt;
    int tied, linear; /* linear: the update is linear in the gradient (the SGD family) */
  } opts[] = {
      {"optimizer sgd { lr 0.5; }", 1, 1},
      {"optimizer sgd { lr 0.3; weight_decay 0.01; }", 0, 1},
      {"optimizer momentum { lr 0.2; }", 1, 1},
      {"optimizer nesterov { lr 0.2; momentum 0.8; weight_decay 0.001; }", 0, 1},
      {"optimizer adagrad { lr 0.1; lr_decay 0.01; initial_accumulator 0.1; }", 1, 0},
      {"optimizer adadelta { lr 1; }", 0, 0},
      {"optimizer rmsprop { lr 0.01; }", 1, 0},
      {"optimizer rmsprop { lr 0.01; momentum 0.5; }", 0, 0},
      {"optimizer adam { lr 0.01; weight_decay 1e-4; }", 1, 0},
      {"optimizer adamax { lr 0.01; }", 0, 0},
      {"optimizer nadam { lr 0.01; }", 1, 0},
      {"optimizer adabound { lr 0.01; final_lr 0.05; }", 0, 0},
  };
  double worst = 0, worst_loss = 0;
  for (size_t i = 0; i < sizeof opts / sizeof *opts; i++) {
    TcCase c = {.name = opts[i].opt, .spec = spec_text(opts[i].tied, "0.25", opts[i].opt, ""), .V = 11, .B = 3,
                .schedule_entry = -1, .steps = 2, .T = T2, .tol = 1e-5, .direct = direct_all || opts[i].linear};
    tc_run(&c, open_dev);
    printf("%-72s worst relative error %.2g (losses %.2g; weights across engines %.2g)\n", c.name, c.worst, c.worst_loss,
           c.worst_direct);
    worst = c.worst > worst ? c.worst : worst;
    worst_loss = c.worst_loss > worst_loss ? c.worst_loss : worst_loss;
  }
  printf("every optimizer: worst relative error %.2g, losses %.2g\n", worst, worst_loss);

  /* clipping off and a large clip (not reached): the update without scaling */
  TcCase noclip = {.name = "no clipping", .spec = spec_text(1, "0", "optimizer sgd { lr 0.5; }", ""), .V = 11, .B = 3,
                   .schedule_entry = -1, .steps = 2, .T = T2, .tol = 1e-5, .direct = 1};
  tc_run(&noclip, open_dev);
  printf("%-72s worst relative error %.2g\n", noclip.name, noclip.worst);

  /* a column-packed schedule: prune, column-combine, conflict-prune; the masks hold through every step */
  const char *cc = "prune_at 1 { prune{sparsity=0.5}, column-combine{alpha=4,gamma=0.5}, conflict-prune }";
  TcCase packed = {.name = "column-packed schedule (adam)", .spec = spec_text(0, "0.25", "optimizer adam { lr 0.01; }", cc),
                   .V = 11, .B = 3, .schedule_entry = 0, .steps = 2, .T = T2, .tol = 1e-5, .direct = direct_all};
  tc_run(&packed, open_dev);
  printf("%-72s worst relative error %.2g\n", packed.name, packed.worst);

  /* QAT: the forward pass reads the exported cc_q8 weights, the update goes to the float masters */
  const char *q = "prune_at 1 { prune{sparsity=0.5}, column-combine{alpha=4,gamma=0.5}, conflict-prune, quantize{bits=8} }\n  qat;";
  TcCase qatc = {.name = "qat through cc_q8 (momentum)", .spec = spec_text(1, "0.25", "optimizer momentum { lr 0.1; }", q),
                 .V = 11, .B = 3, .schedule_entry = 0, .qat = 1, .steps = 2, .T = T2, .tol = 1e-5, .direct = 1};
  tc_run(&qatc, open_dev);
  printf("%-72s worst relative error %.2g\n", qatc.name, qatc.worst);

  /* 20 steps in a row: the GPU tracks the CPU's losses */
  static int64_t T20[20];
  for (int i = 0; i < 20; i++) T20[i] = 4 + i % 5;
  TcCase run20 = {.name = "20 steps, free running (adam)", .spec = spec_text(1, "0.25", "optimizer adam { lr 0.02; }", ""),
                  .V = 11, .B = 3, .schedule_entry = -1, .steps = 20, .T = T20, .tol = 1e-4, .free_running = 1, .direct = direct_all};
  tc_run(&run20, open_dev);
  printf("%-72s worst relative error %.2g (losses %.2g; weights across engines %.2g)\n", run20.name, run20.worst,
         run20.worst_loss, run20.worst_direct);

  /* bf16 GEMM operands with fp32 accumulation: close to the fp32 CPU step, not equal */
  TcCase bf16 = {.name = "bf16 (sgd)", .spec = spec_text(0, "0.25", "optimizer sgd { lr 0.5; }", ""), .V = 11, .B = 3,
                 .precision = CUDA_TRAIN_BF16, .schedule_entry = -1, .steps = 1, .T = T1, .tol = 3e-2, .direct = 1};
  tc_run(&bf16, open_dev);
  printf("%-72s worst relative error %.2g (losses %.2g)\n", bf16.name, bf16.worst, bf16.worst_loss);

  tc_eval(spec_text(1, "0.25", "optimizer adam { lr 0.01; }", ""), 11, 2, 6, open_dev, 1e-6);
  if (big) {
    static const int64_t Tb[] = {48, 64};
    static char text[2048];
    snprintf(text, sizeof text,
             "model w { vocab chars; embed 64 { dropout 0.1; } dropout 0.1; lstm 384 { weight_drop 0.25; } dropout 0.2;\n"
             "  lstm 256 { weight_drop 0.25; } dropout 0.2; lstm 64 { weight_drop 0.25; } dropout 0.1; decoder tied; }\n"
             "train { bptt 64; batch 24; seed 3; clip 0.25; ar 2; tar 1; optimizer adam { lr 0.002; weight_decay 1.2e-6; } }\n");
    TcCase wide = {.name = "wide model, 24 streams x 64 steps (adam)", .spec = text, .V = 50, .B = 24, .schedule_entry = -1,
                   .steps = 2, .T = Tb, .tol = 1e-5, .direct = direct_all};
    tc_run(&wide, open_dev);
    printf("%-72s worst relative error %.2g (losses %.2g; weights across engines %.2g)\n", wide.name, wide.worst, wide.worst_loss,
           wide.worst_direct);
  }
}

#endif
