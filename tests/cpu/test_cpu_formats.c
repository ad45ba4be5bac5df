/* The CPU backend against the reference executor, format by format: for every layout x encoding, a small
 * model whose embedding, LSTM and decoder matrices are random tensors in that format gives
 * logits within 1e-4 of the reference, step by step (one stream and three streams, one and two threads)
 * and when scoring a stream longer than two chunks; generation with the same seed yields the same text.
 * The portable kernels (no AVX-512: 8-float vectors, vpermps on AVX2, a generic gather without it) are
 * run too. The IR of every format verifies with several streams. An unsupported request falls back to the
 * reference executor with a warning, or fails when fallback is off. Automatic threads switch between one
 * thread and all without changing the logits. Every allocation of the executor's
 * creation, step and scoring can fail and is reported as LSTMC_ERR_NOMEM. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/backend.h"
#include "codegen/cpu/cpu.h"
#include "runtime/exec.h"
#include "api/internal.h"
#include "runtime/weights.h"
#include "support/alloc.h"
#include "tensor_gen.h"
#include "testutil.h"

static const char *tmpdir;
static const TensorGenOpts gen = {3, 4, 1, 1}; /* small irregular groups, PyTorch-sized weights */

static const char *untied = "model t { vocab bytes; embed 24; lstm 40; lstm 24; decoder untied; }";
static const char *tied = "model t { vocab bytes; embed 20; lstm 36; lstm 20; decoder tied; }";

/* Every matrix of the spec, the embedding included, random in the format. */
static Graph *format_graph(const char *spec, int layout, int enc, uint64_t seed) {
  Graph *g = tensor_gen_graph(spec, 0);
  if (!CHECK(g != NULL)) return NULL;
  Rng rng;
  rng_seed(&rng, seed);
  CHECK(weights_init(g, seed) == 0);
  CHECK(tensor_gen_weights(g, layout, enc, &gen, 1, &rng) == 0);
  CHECK(graph_verify(g) == 0);
  return g;
}

static Executor *make_exec(const Graph *g, int target, int batch, int threads, const CpuTarget *t) {
  ExecOptions o = {0};
  o.target = target;
  o.batch = batch;
  o.threads = threads;
  Executor *e = NULL;
  int st = t ? cpu_exec_create_for(g, &o, t, &e) : exec_create(g, &o, &e);
  if (!CHECK(st == 0)) fprintf(stderr, "    %s\n", lstmc_errmsg());
  return e;
}

/* Steps both executors through the same random tokens; returns the largest logit difference. */
static double step_diff(const Graph *g, Executor *ref, Executor *cpu, int batch, int steps, Rng *rng) {
  int64_t V = g->vocab_size;
  float *a = lx_malloc((size_t)(batch * V) * sizeof *a), *b = lx_malloc((size_t)(batch * V) * sizeof *b);
  int32_t tok[8];
  double md = 0;
  ref->vt->reset(ref);
  cpu->vt->reset(cpu);
  for (int s = 0; s < steps; s++) {
    for (int k = 0; k < batch; k++) tok[k] = (int32_t)rng_below(rng, (uint64_t)V);
    CHECK(ref->vt->step(ref, tok, a) == 0);
    if (!CHECK(cpu->vt->step(cpu, tok, b) == 0)) break;
    for (int64_t i = 0; i < batch * V; i++) md = fmax(md, fabs((double)a[i] - b[i]));
  }
  lx_free(a);
  lx_free(b);
  return md;
}

/* Scores the same stream on both (state carried from a few steps before); largest log-prob difference. */
static double score_diff(const Graph *g, Executor *ref, Executor *cpu, int n, Rng *rng) {
  int32_t *tok = lx_malloc((size_t)n * sizeof *tok);
  double *la = lx_malloc((size_t)n * sizeof *la), *lb = lx_malloc((size_t)n * sizeof *lb), na = 0, nb = 0, md = 0;
  for (int i = 0; i < n; i++) tok[i] = (int32_t)rng_below(rng, (uint64_t)g->vocab_size);
  CHECK(exec_score(ref, tok, n, &na, la) == 0);
  if (CHECK(exec_score(cpu, tok, n, &nb, lb) == 0)) {
    for (int i = 0; i + 1 < n; i++) md = fmax(md, fabs(la[i] - lb[i]));
    CHECK(fabs(na - nb) < 1e-4 * n);
  }
  lx_free(tok);
  lx_free(la);
  lx_free(lb);
  return md;
}

/* One stream on one thread, on cpu target t (NULL: the host), against the reference: the logits of `steps`
 * random steps, then (state carried) the log-probs of `nscore` scored tokens, within 1e-4. */
static void compare_one_stream(const Graph *g, const CpuTarget *t, int steps, int nscore, const char *what) {
  Rng rng;
  rng_seed(&rng, 99);
  Executor *ref = make_exec(g, TARGET_REF, 1, 1, NULL), *cpu = make_exec(g, TARGET_CPU, 1, 1, t);
  if (ref && cpu) {
    double d = step_diff(g, ref, cpu, 1, steps, &rng);
    if (!CHECK(d <= 1e-4)) fprintf(stderr, "    %s: step logits differ by %g\n", what, d);
    d = score_diff(g, ref, cpu, nscore, &rng);
    if (!CHECK(d <= 1e-4)) fprintf(stderr, "    %s: log-probs differ by %g\n", what, d);
  }
  exec_destroy(ref);
  exec_destroy(cpu);
}

static void check_format(const char *spec, int layout, int enc) {
  const char *fmt = format_name(layout, enc);
  Graph *g = format_graph(spec, layout, enc, 11 + (uint64_t)(layout * 6 + enc));
  if (!g) return;
  /* 75 scored tokens cross two chunk boundaries */
  compare_one_stream(g, NULL, 10, 75, fmt);
  Rng rng;
  rng_seed(&rng, 98);
  Executor *ref = make_exec(g, TARGET_REF, 3, 1, NULL), *cpu = make_exec(g, TARGET_CPU, 3, 2, NULL);
  if (ref && cpu) {
    double d = step_diff(g, ref, cpu, 3, 6, &rng);
    if (!CHECK(d <= 1e-4)) fprintf(stderr, "    %s, 3 streams, 2 threads: logits differ by %g\n", fmt, d);
  }
  exec_destroy(ref);
  exec_destroy(cpu);
  CpuTarget host;
  CHECK(cpu_target_host(&host) == 0);
  int st = cpu_verify_graph(g, &host, 5, 32);
  if (!CHECK(st == 0)) fprintf(stderr, "    %s: %s\n", fmt, lstmc_errmsg());
  graph_free(g);
}

/* The portable kernels, on CPUs that LLVM is told have no AVX-512 (the host runs their code). */
static void check_portable(void) {
  CpuTarget targets[2];
  CHECK(cpu_target_named("x86-64", "", &targets[0]) == 0);
  CHECK(cpu_target_named("x86-64-v3", "+avx2,+fma", &targets[1]) == 0);
  CHECK_INT_EQ(targets[0].vl, 8);
  CHECK(!targets[0].avx2 && targets[1].avx2 && !targets[1].avx512);
  static const int fmts[][2] = {{LX_LAYOUT_DENSE, LX_ENC_F32}, {LX_LAYOUT_DENSE, LX_ENC_Q4}, {LX_LAYOUT_MASKED, LX_ENC_BINARY},
                                {LX_LAYOUT_PACKED, LX_ENC_Q8},  {LX_LAYOUT_PACKED, LX_ENC_BF16}, {LX_LAYOUT_PACKED, LX_ENC_TERNARY}};
  for (int t = 0; t < 2; t++)
    for (int f = 0; f < 6; f++) {
      Graph *g = format_graph(untied, fmts[f][0], fmts[f][1], 77 + (uint64_t)f);
      if (!g) continue;
      char what[96];
      snprintf(what, sizeof what, "%.32s on %.32s", format_name(fmts[f][0], fmts[f][1]), targets[t].cpu);
      compare_one_stream(g, &targets[t], 8, 40, what);
      graph_free(g);
    }
}

/* Packed groups wider than a vector take the gather path even with AVX-512. */
static void check_wide_groups(void) {
  Graph *g = tensor_gen_graph("model w { vocab bytes; embed 40; lstm 48; decoder untied; }", 0);
  if (!CHECK(g != NULL)) return;
  Rng rng;
  rng_seed(&rng, 3);
  CHECK(weights_init(g, 3) == 0);
  TensorGenOpts wide = {20, 4, 0, 1};
  CHECK(tensor_gen_weights(g, LX_LAYOUT_PACKED, LX_ENC_Q8, &wide, 0, &rng) == 0);
  compare_one_stream(g, NULL, 8, 40, "groups of 20 columns");
  graph_free(g);
}

/* Threads left to the backend (0): it times steps and now and then switches between one thread and all;
 * the logits stay the reference's through the switches (600 steps pass two probes). */
static void check_auto_threads(void) {
  Graph *g = tensor_gen_graph("model a { vocab bytes; embed 64; lstm 256; lstm 64; decoder tied; }", 0);
  if (!CHECK(g != NULL)) return;
  CHECK(weights_init(g, 2) == 0); /* 1.7 MB per step: enough for every core */
  Rng rng;
  rng_seed(&rng, 4);
  Executor *ref = make_exec(g, TARGET_REF, 1, 1, NULL), *cpu = make_exec(g, TARGET_CPU, 1, 0, NULL);
  if (ref && cpu) {
    double d = step_diff(g, ref, cpu, 1, 600, &rng);
    if (!CHECK(d <= 1e-4)) fprintf(stderr, "    automatic threads: logits differ by %g\n", d);
  }
  exec_destroy(ref);
  exec_destroy(cpu);
  graph_free(g);
}

/* Through the public API: the same seed gives the same text on both executors. */
static void check_generation(int layout, int enc) {
  char spec[512];
  snprintf(spec, sizeof spec, "%s/gen.lstm", tmpdir);
  FILE *f = fopen(spec, "w");
  if (!CHECK(f != NULL)) return;
  fputs(tied, f);
  fclose(f);
  lstmc_model *m;
  if (!CHECK(lstmc_model_load(spec, &m) == 0)) return;
  CHECK(lstmc_model_init_weights(m, NULL, 4) == 0);
  Rng rng;
  rng_seed(&rng, 8);
  CHECK(tensor_gen_weights(m->g, layout, enc, &gen, 1, &rng) == 0);
  lstmc_session_opts o = {0};
  lstmc_session *a = NULL, *b = NULL;
  CHECK(lstmc_session_create(m, &o, &a) == 0);
  o.target = "cpu";
  CHECK(lstmc_session_create(m, &o, &b) == 0);
  CHECK_STR_EQ(lstmc_session_executor(b), "cpu");
  lstmc_gen_opts go = {"ab", 60, 0.9, 0, 42, NULL, NULL};
  for (int k = 0; a && b && k < 3; k++) {
    go.top_k = k == 1 ? 5 : 0;
    go.temperature = k == 2 ? 0 : 0.9;
    char *x = NULL, *y = NULL;
    CHECK(lstmc_session_generate(a, &go, &x) == 0);
    CHECK(lstmc_session_generate(b, &go, &y) == 0);
    if (!CHECK(x && y && !strcmp(x, y))) fprintf(stderr, "    %s: generated texts differ (case %d)\n", format_name(layout, enc), k);
    lstmc_free(x);
    lstmc_free(y);
  }
  lstmc_session_free(a);
  lstmc_session_free(b);
  lstmc_model_free(m);
}

/* The messages lstmc sends while a check runs: their kinds and text. */
typedef struct Messages {
  int warnings, others;
  char text[1024];
} Messages;

static void catch_message(void *ctx, lstmc_message_kind kind, const char *text) {
  Messages *m = ctx;
  if (kind == LSTMC_MSG_WARNING) m->warnings++;
  else m->others++;
  size_t n = strlen(m->text);
  snprintf(m->text + n, sizeof m->text - n, "%s", text);
}

/* More streams than the backend steps together: a warning and the reference executor, or an error. */
static void check_fallback(void) {
  Graph *g = format_graph(untied, LX_LAYOUT_DENSE, LX_ENC_F32, 1);
  if (!g) return;
  ExecOptions o = {0};
  o.target = TARGET_CPU;
  o.batch = 65;
  Executor *e = NULL;
  CHECK_INT_EQ(exec_create(g, &o, &e), LSTMC_ERR_UNSUPPORTED);
  CHECK_CONTAINS(lstmc_errmsg(), "cpu backend: batch 65 is more than the 64 streams it steps together");
  /* with fallback, a warning (a message to the caller's handler) */
  Messages msgs = {0};
  lstmc_set_message_handler(catch_message, &msgs);
  o.allow_fallback = 1;
  int st = exec_create(g, &o, &e);
  lstmc_set_message_handler(NULL, NULL);
  CHECK_INT_EQ(st, 0);
  CHECK(e && e->vt == &ref_exec_vtbl);
  CHECK_INT_EQ(msgs.warnings, 1);
  CHECK_INT_EQ(msgs.others, 0);
  CHECK_STR_EQ(msgs.text, "lstmc: warning: cpu backend: batch 65 is more than the 64 streams it steps together; running "
                          "on the reference executor instead\n");
  exec_destroy(e);
  graph_free(g);
}

/* Allocation N fails, for every N until the whole run succeeds: each failure is LSTMC_ERR_NOMEM (and,
 * under make test-asan, nothing leaks). */
static void check_oom(void) {
  Graph *g = format_graph(untied, LX_LAYOUT_PACKED, LX_ENC_Q4, 5);
  if (!g) return;
  int32_t toks[40];
  for (int i = 0; i < 40; i++) toks[i] = (int32_t)(i * 7 % 256);
  float logits[256];
  long n = 0;
  for (;; n++) {
    ExecOptions o = {0};
    o.target = TARGET_CPU;
    o.threads = 2;
    Executor *e = NULL;
    double nll = 0;
    lx_alloc_fail_after(n);
    int st = exec_create(g, &o, &e);
    if (!st) st = e->vt->step(e, toks, logits);
    if (!st) st = exec_score(e, toks, 40, &nll, NULL);
    lx_alloc_fail_after(-1);
    exec_destroy(e);
    if (!st) break;
    if (!CHECK_INT_EQ(st, LSTMC_ERR_NOMEM) || !CHECK(n < 100)) break;
  }
  CHECK(n > 5); /* the sweep went through the executor's allocations */
  graph_free(g);
}

int main(int argc, char **argv) {
  tmpdir = argc > 1 ? argv[1] : ".";
  for (int layout = 0; layout < LX_LAYOUT_COUNT; layout++)
    for (int enc = 0; enc < LX_ENC_COUNT; enc++) {
      check_format(untied, layout, enc);
    }
  check_portable();
  check_wide_groups();
  check_auto_threads();
  check_generation(LX_LAYOUT_DENSE, LX_ENC_F32);
  check_generation(LX_LAYOUT_PACKED, LX_ENC_Q8);
  check_fallback();
  check_oom();
  return tu_summary("cpu_formats");
}
