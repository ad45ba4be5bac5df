/* bench_train_cuda: times lstmc's GPU training engine (train/net_cuda.h) on a spec's model and train block,
 * one optimizer step after another, as `lstmc train --target cuda` runs them.
 *
 *   bench_train_cuda SPEC [--vocab V] [--batch B] [--bptt T] [--steps N] [--warmup W] [--precision f32|bf16]
 *                    [--label L] [--epoch-chars C] [--emu DIR]
 *
 * The weights are lstmc init's (seeded), the tokens random over V (default 50, Penn Treebank's characters);
 * every step draws its dropout and weight-drop masks, runs forward and backward over T steps of B streams,
 * clips and takes the optimizer's step, and waits for the loss (the engine's one host round trip per
 * step), so host clock readings bracket the device's work. Defaults come from the spec's train block.
 *
 * Measured (median of N steps after W warm-up steps):
 *   create         compiling (or loading from the kernel cache) and uploading
 *   train_step     ms per optimizer step; train_chars_per_s = B·T / that
 *   pass_seconds   when the spec has a prune_at entry: its pipeline in the loop — weights and optimizer state
 *                  to the host, the passes, masks and weights back — and pass_fraction, that time over an
 *                  epoch of --epoch-chars characters (default 5,000,000, about Penn Treebank's training
 *                  characters) at the measured rate; then train_step_pruned, steps with the masks applied
 * Output: a table on stdout and one JSON object per measurement on the lines starting with '{'.
 *
 * --emu DIR runs on the host emulator of tests/cuda (to check this program without a GPU; its timings mean
 * nothing and a full-size model takes hours there: give a small spec). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_emu.h"
#include "frontend/lower.h"
#include "frontend/spec.h"
#include "lstmc.h"
#include "runtime/weights.h"
#include "support/alloc.h"
#include "support/clock.h"
#include "support/rng.h"
#include "train/net_cuda.h"
#include "train/schedule.h"

static const char *label = "", *precision_name = "f32";

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void report(const char *what, double value, const char *unit, double lo, double hi, int reps) {
  printf("%-18s %12.4f %-8s (min %.4f, max %.4f, %d reps)\n", what, value, unit, lo, hi, reps);
  printf("{\"label\": \"%s\", \"precision\": \"%s\", \"what\": \"%s\", \"median\": %.6g, \"unit\": \"%s\", \"min\": %.6g, "
         "\"max\": %.6g, \"reps\": %d}\n",
         label, precision_name, what, value, unit, lo, hi, reps);
  fflush(stdout);
}

static int fail(const char *what) {
  fprintf(stderr, "bench_train_cuda: %s: %s\n", what, lstmc_errmsg());
  return 1;
}

/* N timed steps after W warm-up steps; returns the median seconds per step (times sorted into v). */
static int time_steps(CudaTrain *ct, NetCuda *net, const TrainSpec *ts, const OptimConfig *oc, const int32_t *tok, int64_t B,
                      int64_t T, int warmup, int steps, uint64_t *step, double *v, double *median) {
  for (int r = -warmup; r < steps; r++) {
    NetLoss loss;
    double a = now_seconds();
    if (net_cuda_draw_masks(net, rng_derive(ts->seed, 2), *step) ||
        cuda_train_step(ct, net, tok, tok + B, T, oc->lr, oc->lr, ts->clip, ts->ar, ts->tar, &loss))
      return 1;
    ++*step;
    if (r >= 0) v[r] = now_seconds() - a;
    if (r == -warmup) printf("first step: loss %.4f nats per prediction\n", loss.nll / (double)loss.predictions);
  }
  qsort(v, (size_t)steps, sizeof *v, cmp_double);
  *median = steps % 2 ? v[steps / 2] : 0.5 * (v[steps / 2 - 1] + v[steps / 2]);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bench_train_cuda SPEC [--vocab V] [--batch B] [--bptt T] [--steps N] [--warmup W] "
                    "[--precision f32|bf16] [--label L] [--epoch-chars C] [--emu DIR]\n");
    return 2;
  }
  const char *spec_path = argv[1], *emu = NULL;
  int64_t V = 50, B = 0, T = 0;
  double epoch_chars = 5e6;
  int steps = 20, warmup = 3, precision = CUDA_TRAIN_F32;
  label = spec_path;
  for (int i = 2; i + 1 < argc; i += 2) {
    const char *k = argv[i], *v = argv[i + 1];
    if (!strcmp(k, "--vocab")) V = atoll(v);
    else if (!strcmp(k, "--batch")) B = atoll(v);
    else if (!strcmp(k, "--bptt")) T = atoll(v);
    else if (!strcmp(k, "--steps")) steps = atoi(v);
    else if (!strcmp(k, "--warmup")) warmup = atoi(v);
    else if (!strcmp(k, "--label")) label = v;
    else if (!strcmp(k, "--epoch-chars")) epoch_chars = atof(v);
    else if (!strcmp(k, "--emu")) emu = v;
    else if (!strcmp(k, "--precision") && (!strcmp(v, "f32") || !strcmp(v, "bf16"))) {
      precision = !strcmp(v, "bf16") ? CUDA_TRAIN_BF16 : CUDA_TRAIN_F32;
      precision_name = v;
    } else {
      fprintf(stderr, "bench_train_cuda: unknown option or value: %s %s\n", k, v);
      return 2;
    }
  }
  if ((argc - 2) % 2) {
    fprintf(stderr, "bench_train_cuda: option %s needs a value\n", argv[argc - 1]);
    return 2;
  }
  if (steps < 1 || steps > 10000 || warmup < 1 || V < 2 || B < 0 || T < 0) {
    fprintf(stderr, "bench_train_cuda: bad --steps, --warmup, --vocab, --batch or --bptt\n");
    return 2;
  }
  Diag d;
  diag_init(&d);
  Spec *spec;
  Graph *g;
  if (spec_load(spec_path, &d, &spec)) return 1;
  if (lower_spec(spec, V, &g) || weights_init(g, spec->train.seed)) return fail(spec_path);
  const TrainSpec *ts = &spec->train;
  if (!B) B = ts->batch;
  if (!T) T = ts->bptt;
  OptimConfig oc;
  Schedule sched;
  memset(&sched, 0, sizeof sched);
  if (optim_config_from_spec(&ts->opt, &oc) || schedule_init(&sched, spec, g->nslots, &d)) return fail(spec_path);
  int64_t params = 0;
  for (int s = 0; s < g->nslots; s++) params += g->slots[s].rows * g->slots[s].cols;

  CudaDev *dev;
  if (emu ? cuda_emu_open(emu, 4, 48 * 1024, 256, &dev) : cuda_dev_open(&dev)) return fail("opening the GPU");
  printf("bench_train_cuda: %s (%lld parameters), %lld streams x %lld steps, %s, %s, on %s (sm_%d, %d SMs)\n", spec_path,
         (long long)params, (long long)B, (long long)T, precision_name, oc.kind == OPTIM_ADAM ? "adam" : optim_name(oc.kind),
         dev->info.name, dev->info.arch, dev->info.sms);
  CudaTrainOptions o = {precision, 0, 0};
  CudaTrain *ct;
  NetCuda *net;
  double t0 = now_seconds();
  if (cuda_train_create(g, dev, &oc, &o, &ct)) return fail("creating the engine");
  if (net_cuda_create(ct, B, 1, &net)) return fail("creating the training net");
  double tc = now_seconds() - t0;
  report("create", tc * 1e3, "ms", tc * 1e3, tc * 1e3, 1);

  Rng rng;
  rng_seed(&rng, 5);
  int32_t *tok = lx_malloc((size_t)((T + 1) * B) * sizeof *tok);
  double *v = lx_malloc((size_t)steps * sizeof *v);
  if (!tok || !v) return fail("allocating");
  for (int64_t i = 0; i < (T + 1) * B; i++) tok[i] = (int32_t)rng_below(&rng, (uint64_t)V);
  uint64_t step = 0;
  double med;
  if (time_steps(ct, net, ts, &oc, tok, B, T, warmup, steps, &step, v, &med)) return fail("training");
  report("train_step", med * 1e3, "ms", v[0] * 1e3, v[steps - 1] * 1e3, steps);
  double rate = (double)(B * T) / med;
  report("train_chars_per_s", rate, "chars/s", (double)(B * T) / v[steps - 1], (double)(B * T) / v[0], steps);

  if (ts->nschedule > 0) {
    /* the first prune_at pipeline as the loop runs it on a GPU run: state to the host, passes, back */
    uint8_t **masks = sched.masks;
    double a = now_seconds();
    if (cuda_train_download(ct) || schedule_run(&sched, g, 0, &d)) return fail("running the pipeline");
    for (int s = 0; s < g->nslots; s++)
      if (masks[s]) optim_mask_state(cuda_train_optim(ct), s, masks[s]);
    if (cuda_train_set_prune_masks(ct, masks) || cuda_train_upload(ct)) return fail("uploading");
    double ps = now_seconds() - a;
    double epoch = epoch_chars / rate;
    int64_t zeros = 0, total = 0;
    for (int s = 0; s < g->nslots; s++)
      if (g->slots[s].ndim == 2)
        for (int64_t i = 0; i < g->slots[s].rows * g->slots[s].cols; i++) zeros += tensor_f32(g->slots[s].t)[i] == 0, total++;
    printf("after the pipeline: %.1f%% of the matrices' weights are zero\n", 100.0 * (double)zeros / (double)(total ? total : 1));
    report("pass_seconds", ps, "s", ps, ps, 1);
    report("pass_fraction", ps / (epoch + ps), "fraction", ps / (epoch + ps), ps / (epoch + ps), 1);
    printf("(an epoch of %.0f characters at %.0f chars/s takes %.1f s)\n", epoch_chars, rate, epoch);
    if (time_steps(ct, net, ts, &oc, tok, B, T, 1, steps, &step, v, &med)) return fail("training after the pipeline");
    report("train_step_pruned", med * 1e3, "ms", v[0] * 1e3, v[steps - 1] * 1e3, steps);
  }
  net_cuda_free(net);
  cuda_train_free(ct);
  schedule_free(&sched);
  graph_free(g);
  spec_free(spec);
  lx_free(tok);
  lx_free(v);
  return 0;
}
