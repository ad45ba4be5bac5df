/* bench_cuda: times lstmc's CUDA executor on one model in one weight format, through the executor table that
 * `lstmc eval/generate/bench --target cuda` use.
 *
 *   bench_cuda SPEC FORMAT [--vocab-from TEXT] [--tokens N] [--reps R] [--batch B] [--label L]
 *
 * The weights are PyTorch-style random (lstmc init), then every weight matrix is replaced by random contents
 * of FORMAT (dense_f32, dense_bf16, q8, cc_q8, …; tests/tensor_gen.h), scaled like trained weights: the
 * kernels do the same work on any values, and random data is what METHOD.md asks for (never zeros).
 *
 * Measured, each as the median of R repetitions after one warm-up (executor calls are synchronous, so host
 * clock readings bracket the device work; the time includes launches and copies):
 *   compile_cold / compile_warm  NVRTC compile of the module with an empty kernel cache, then a cache hit
 *   create_cold / create_warm    executor creation (compile or cache, upload, layer-0 table GEMM)
 *   score                        µs per token of scoring N tokens (the persistent kernel as a wavefront,
 *                                decoder GEMM, log-probabilities)
 *   generate                     µs per token of generating N tokens on the device (T = 1, no top-k)
 *   step_b1 / step_bB            µs per call of `step` (host round trip each), and per token at batch B
 * Output: a table on stdout and one JSON object per measurement on the lines starting with '{'. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codegen/backend.h"
#include "codegen/cuda/cuda_codegen.h"
#include "codegen/cuda/cuda_compile.h"
#include "codegen/cuda/cuda_exec.h"
#include "lstmc.h"
#include "support/clock.h"
#include "tensor_gen.h"
#include "api/internal.h"

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static const char *label = "";
static const char *fmt_name = "";

static void report(const char *what, double value, const char *unit, double lo, double hi, int reps) {
  printf("%-14s %12.3f %-8s (min %.3f, max %.3f, %d reps)\n", what, value, unit, lo, hi, reps);
  printf("{\"label\": \"%s\", \"format\": \"%s\", \"what\": \"%s\", \"median\": %.6g, \"unit\": \"%s\", \"min\": %.6g, "
         "\"max\": %.6g, \"reps\": %d}\n",
         label, fmt_name, what, value, unit, lo, hi, reps);
}

static void report_series(const char *what, double *v, int n, double scale, const char *unit) {
  for (int i = 0; i < n; i++) v[i] *= scale;
  double m = median(v, n);
  report(what, m, unit, v[0], v[n - 1], n);
}

static int no_tokens(const int32_t *ids, int64_t n, void *ctx) {
  (void)ids;
  (void)n;
  (void)ctx;
  return 0;
}

static int fail(const char *what) {
  fprintf(stderr, "bench_cuda: %s: %s\n", what, lstmc_errmsg());
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: bench_cuda SPEC FORMAT [--vocab-from TEXT] [--tokens N] [--reps R] [--batch B] [--label L]\n");
    return 2;
  }
  const char *spec = argv[1], *vocab_text = NULL;
  fmt_name = argv[2];
  int64_t N = 2000;
  int reps = 7, batch = 8;
  label = spec;
  for (int i = 3; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--vocab-from")) vocab_text = argv[i + 1];
    else if (!strcmp(argv[i], "--tokens")) N = atoll(argv[i + 1]);
    else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--batch")) batch = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--label")) label = argv[i + 1];
    else {
      fprintf(stderr, "bench_cuda: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (reps < 1 || reps > 1000 || N < 2 || batch < 1 || batch > 8) {
    fprintf(stderr, "bench_cuda: bad --reps, --tokens or --batch\n");
    return 2;
  }
  int layout, enc;
  if (format_parse(fmt_name, &layout, &enc)) {
    fprintf(stderr, "bench_cuda: unknown format %s\n", fmt_name);
    return 2;
  }
  lstmc_model *m;
  if (lstmc_model_load(spec, &m) || lstmc_model_init_weights(m, vocab_text, 1)) return fail(spec);
  Graph *g = m->g;
  Rng rng;
  rng_seed(&rng, 11);
  for (int i = 0; i < g->nslots; i++)
    if (g->slots[i].ndim == 2) graph_set_tensor(g, i, tensor_gen_matrix(g->slots[i].name, g->slots[i].rows, g->slots[i].cols, layout, enc, &rng));
  if (graph_verify(g)) return fail("weights");

  CudaDev *dev;
  if (cuda_dev_open(&dev)) return fail("opening the GPU");
  CudaDeviceInfo info = dev->info;
  dev->ops->close(dev);
  /* a fresh kernel cache, so that the first compilation is cold */
  char cache[] = "/tmp/lstmc-bench-cache-XXXXXX";
  if (!mkdtemp(cache)) return fail("mkdtemp");
  setenv("XDG_CACHE_HOME", cache, 1);
  printf("bench_cuda: %s, format %s, %lld tokens, %d repetitions, kernel cache %s, %s (sm_%d, %d SMs)\n", spec, fmt_name,
         (long long)N, reps, cache, info.name, info.arch, info.sms);

  CudaPlan *plan;
  char *src;
  if (cuda_plan_build(g, &info, 1, &plan) || cuda_codegen_source(plan, g->name, 0, &src)) return fail("planning");
  StrBuf sb;
  sb_init(&sb);
  cuda_plan_describe(plan, &sb);
  printf("plan: %s", sb_cstr(&sb));
  sb_free(&sb);
  double tc[2];
  for (int k = 0; k < 2; k++) { /* cold (miss), then warm (hit) */
    CudaCompileRequest rq = {src, "bench.cu", info.arch, CUDA_EMIT_CUBIN, 0, NULL, 0};
    CudaCompileStats cs;
    uint8_t *bin;
    size_t nbin;
    if (cuda_compile(&rq, &bin, &nbin, NULL, &cs)) return fail("compiling");
    tc[k] = cs.total_seconds;
    lx_free(bin);
  }
  report("compile_cold", tc[0] * 1e3, "ms", tc[0] * 1e3, tc[0] * 1e3, 1);
  report("compile_warm", tc[1] * 1e3, "ms", tc[1] * 1e3, tc[1] * 1e3, 1);
  lx_free(src);
  cuda_plan_free(plan);

  /* creating the executor: the module is in the cache now, so both are warm; the first pays the driver's
   * first-use costs */
  ExecOptions o = {0};
  o.target = TARGET_CUDA;
  o.batch = 1;
  Executor *e = NULL;
  double t0 = now_seconds();
  if (exec_create(g, &o, &e)) return fail("creating the executor");
  double t1 = now_seconds();
  exec_destroy(e);
  if (exec_create(g, &o, &e)) return fail("creating the executor");
  double t2 = now_seconds();
  report("create_first", (t1 - t0) * 1e3, "ms", (t1 - t0) * 1e3, (t1 - t0) * 1e3, 1);
  report("create_warm", (t2 - t1) * 1e3, "ms", (t2 - t1) * 1e3, (t2 - t1) * 1e3, 1);

  int64_t V = g->vocab_size;
  int32_t *tok = lx_malloc((size_t)N * sizeof *tok);
  double *v = lx_malloc((size_t)(reps > 200 ? reps : 200) * sizeof *v);
  float *logits = lx_malloc((size_t)8 * V * sizeof *logits);
  for (int64_t i = 0; i < N; i++) tok[i] = (int32_t)rng_below(&rng, (uint64_t)V);

  /* scoring */
  for (int r = -1; r < reps; r++) {
    double nll = 0;
    e->vt->reset(e);
    double a = now_seconds();
    if (exec_score(e, tok, N, &nll, NULL)) return fail("scoring");
    if (r >= 0) v[r] = (now_seconds() - a) / (double)(N - 1);
  }
  report_series("score", v, reps, 1e6, "us/token");

  /* generation on the device */
  for (int r = -1; r < reps; r++) {
    ExecGenRequest rq = {tok, 1, N, 1.0, 0, (uint64_t)(r + 2), no_tokens, NULL};
    e->vt->reset(e);
    double a = now_seconds();
    if (e->vt->generate(e, &rq)) return fail("generating");
    if (r >= 0) v[r] = (now_seconds() - a) / (double)N;
  }
  report_series("generate", v, reps, 1e6, "us/token");

  /* step at batch 1: one launch and a host round trip per token */
  for (int r = -10; r < 200; r++) {
    double a = now_seconds();
    if (e->vt->step(e, &tok[(r + 10) % N], logits)) return fail("stepping");
    if (r >= 0) v[r] = now_seconds() - a;
  }
  report_series("step_b1", v, 200, 1e6, "us/call");
  exec_destroy(e);

  if (batch > 1) {
    o.batch = batch;
    if (exec_create(g, &o, &e)) return fail("creating the batched executor");
    for (int r = -10; r < 200; r++) {
      double a = now_seconds();
      if (e->vt->step(e, &tok[((r + 10) * batch) % (N - batch)], logits)) return fail("stepping");
      if (r >= 0) v[r] = (now_seconds() - a) / batch;
    }
    char what[32];
    snprintf(what, sizeof what, "step_b%d", batch);
    report_series(what, v, 200, 1e6, "us/token");
    exec_destroy(e);
  }
  lx_free(tok);
  lx_free(v);
  lx_free(logits);
  lstmc_model_free(m);
  return 0;
}
