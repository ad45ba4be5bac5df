/* Checks of the GPU training engine (train/net_cuda.h) against the CPU engine (train/net.h, train_step),
 * shared by test_cuda_train_emu.c (the generated kernels and the cuBLAS stand-in on the host emulator) and
 * test_cuda_train_gpu.c (a GPU with libcublas). Both engines start from the same weights, draw their
 * masks from the same seed and step counter and take the same batches; after every step the losses, the
 * masks (bit for bit), the gradients, the weights, the optimizer state and the carried recurrent state
 * are compared.
 *
 * Relative error of a tensor: max_i |gpu_i − cpu_i| / max_i |cpu_i| (a tensor of zeros must be zeros).
 * The engines sum in other orders (cuBLAS against the CPU's blocked GEMM, trees against loops), so they
 * agree to float rounding, which the bound of 1e-5 leaves room for; bf16 is held to 3e-2.
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
#include "train/trainer.h"

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
  double worst;          /* out: the largest relative error seen (all tensors, all steps) */
  double worst_loss;     /* out: the largest relative error of a loss */
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
  diag_init(&d, stderr);
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

/* Runs one case on the device open_dev gives. */
static void tc_run(TcCase *c, TcOpenDev open_dev) {
  Spec *spec = NULL;
  Graph *gc = tc_graph(c->spec, c->V, &spec), *gg = NULL;
  Pool *pool = NULL;
  Gemm *gemm = NULL;
  Net *net = NULL;
  Optim *opt = NULL;
  CudaTrain *ct = NULL;
  NetCuda *ng = NULL;
  CudaDev *dev = NULL;
  Schedule sched;
  memset(&sched, 0, sizeof sched);
  uint8_t *masks[TC_MAXSLOTS] = {0};
  float *qat[TC_MAXSLOTS] = {0};
  int32_t *tok = NULL;
  float *buf = NULL;
  c->worst = c->worst_loss = 0;
  if (!gc || !CHECK(gc->nslots <= TC_MAXSLOTS)) goto done;
  const TrainSpec *ts = &spec->train;
  OptimConfig oc;
  if (!CHECK(optim_config_from_spec(&ts->opt, &oc) == 0) || !CHECK(schedule_init(&sched, spec, gc->nslots) == 0)) goto done;
  if (c->schedule_entry >= 0) {
    if (!CHECK(schedule_run(&sched, gc, masks, c->schedule_entry, stderr) == 0)) {
      fprintf(stderr, "    %s\n", lstmc_errmsg());
      goto done;
    }
    int any = 0;
    for (int s = 0; s < gc->nslots; s++) any |= masks[s] != NULL;
    CHECK(any); /* the pipeline pruned something */
  }
  if (c->qat) {
    Graph *e = NULL;
    if (!CHECK(schedule_export(&sched, gc, 1, &e) == 0)) goto done;
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
  }
  if (!CHECK(optim_create(&oc, n, sizes, &opt) == 0)) goto done;
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
  TrainStepCtx ctx = {net, opt, pool, params, grads, sizes, n, masks, ts->clip, ts->ar, ts->tar};
  for (int step = 0; step < c->steps; step++) {
    int64_t T = c->T[step];
    for (int64_t i = 0; i < (T + 1) * c->B; i++) tok[i] = (int32_t)rng_below(&rng, (uint64_t)c->V);
    double lr = oc.lr * (double)T / 10.0; /* as the trainer scales it by seq_len / bptt */
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
    if (!CHECK(cuda_train_download(ct) == 0)) break;
    for (int s = 0; s < n; s++) {
      char what[200];
      snprintf(what, sizeof what, "the gradient of %s", gc->slots[s].name);
      if (CHECK(net_cuda_grad(ng, s, buf) == 0)) tc_cmp(c, what, step, buf, grads[s], sizes[s]);
      snprintf(what, sizeof what, "%s after the update", gc->slots[s].name);
      tc_cmp(c, what, step, tensor_f32(gg->slots[s].t), params[s], sizes[s]);
      for (int k = 0; k < optim_num_buffers(opt); k++) {
        snprintf(what, sizeof what, "optimizer state %s of %s", optim_buffer_name(opt, k), gc->slots[s].name);
        tc_cmp(c, what, step, optim_buffer(cuda_train_optim(ct), s, k), optim_buffer(opt, s, k), sizes[s]);
      }
      if (masks[s]) /* pruned weights stay exactly zero */
        for (int64_t i = 0; i < sizes[s]; i++)
          if (!masks[s][i] && !CHECK(tensor_f32(gg->slots[s].t)[i] == 0.0f)) {
            fprintf(stderr, "    %s: pruned weight %lld of %s is %g\n", c->name, (long long)i, gc->slots[s].name, tensor_f32(gg->slots[s].t)[i]);
            break;
          }
    }
    for (int l = 0; l < net_num_lstm(net); l++) {
      int64_t len = c->B * net_lstm_hidden(net, l);
      if (CHECK(net_cuda_get_state(ng, l, buf, buf + maxsize) == 0)) {
        tc_cmp(c, "the carried h", step, buf, net_state_h(net, l), len);
        tc_cmp(c, "the carried c", step, buf + maxsize, net_state_c(net, l), len);
      }
    }
  }
done:
  net_cuda_free(ng);
  cuda_train_free(ct);
  net_free(net);
  optim_free(opt);
  gemm_free(gemm);
  pool_free(pool);
  for (int s = 0; s < TC_MAXSLOTS; s++) {
    lx_free(masks[s]);
    lx_free(qat[s]);
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

#endif
