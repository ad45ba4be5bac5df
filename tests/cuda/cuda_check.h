/* Checks of the CUDA executor against the reference executor, shared by test_cuda_emu.c (the generated
 * kernels on the host emulator) and test_cuda_gpu.c (on a GPU). Weights of any format are random (tests/
 * tensor_gen.h) and scaled so that gate pre-activations stay in the sensitive range of the sigmoids.
 * Both executors decode the very same codes, so the only difference is the order and precision of the
 * sums (fp32 on the device, double in the reference): one tolerance serves every format.
 *
 * Header-only with internal linkage, like testutil.h. */
#ifndef LSTMC_TESTS_CUDA_CHECK_H
#define LSTMC_TESTS_CUDA_CHECK_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/backend.h"
#include "codegen/cuda/cuda_codegen.h"
#include "codegen/cuda/cuda_exec.h"
#include "frontend/lower.h"
#include "frontend/spec.h"
#include "ir/vocab.h"
#include "runtime/sample.h"
#include "tensor_gen.h"
#include "api/internal.h"
#include "testutil.h"

#define CC_NFORMATS (LX_LAYOUT_COUNT * LX_ENC_COUNT)

static void __attribute__((unused)) cc_format(int i, int *layout, int *enc) {
  *layout = (i / LX_ENC_COUNT) % LX_LAYOUT_COUNT;
  *enc = i % LX_ENC_COUNT;
}

/* A vocabulary of V made-up tokens of the graph's kind (bytes: the 256 bytes). */
static Vocab *cc_vocab(int kind, int64_t V) {
  if (kind == VOCAB_BYTES) return vocab_new_bytes();
  char **tok = lx_calloc((size_t)V, sizeof *tok);
  size_t *len = lx_calloc((size_t)V, sizeof *len);
  Vocab *v = NULL;
  for (int64_t i = 0; tok && len && i < V; i++) {
    char buf[32];
    if (kind == VOCAB_CHARS) { /* CJK code points, three UTF-8 bytes each */
      unsigned cp = 0x4e00u + (unsigned)i;
      buf[0] = (char)(0xe0 | (cp >> 12));
      buf[1] = (char)(0x80 | ((cp >> 6) & 63));
      buf[2] = (char)(0x80 | (cp & 63));
      buf[3] = 0;
    } else {
      snprintf(buf, sizeof buf, "w%lld", (long long)i);
    }
    tok[i] = lx_strdup(buf);
    len[i] = strlen(buf);
  }
  if (tok && len) vocab_from_tokens(kind, (const char *const *)tok, len, V, &v);
  for (int64_t i = 0; tok && i < V; i++) lx_free(tok[i]);
  lx_free(tok);
  lx_free(len);
  return v;
}

/* The graph of a spec (text, or a file when path is given) with V tokens (ignored for bytes). */
static Graph *cc_graph(const char *path, const char *text, int64_t V) {
  Diag d;
  diag_init(&d);
  Spec *s = NULL;
  Graph *g = NULL;
  int st = path ? spec_load(path, &d, &s) : spec_load_text("test.lstm", "", text, strlen(text), &d, &s);
  if (!CHECK(st == 0)) return NULL;
  if (s->vocab_kind == VOCAB_BYTES) V = 256;
  if (CHECK(lower_spec(s, V, &g) == 0)) {
    g->vocab = cc_vocab(g->vocab_kind, V);
    CHECK(g->vocab != NULL);
  }
  spec_free(s);
  return g;
}

/* Whether slot i is read by the generated kernels (W_hh, W_ih above layer 0, the decoder's weight) rather
 * than only decoded on the host (the embedding of an untied model, layer 0's W_ih: they make the table). */
static int __attribute__((unused)) cc_kernel_role(const Graph *g, int slot) {
  int l = 0;
  for (int i = 0; i < g->nnodes; i++) {
    const Node *n = &g->nodes[i];
    if (n->op == OP_LSTM) {
      if (n->w[W_HH] == slot || (l > 0 && n->w[W_IH] == slot)) return 1;
      l++;
    }
    if (n->op == OP_DECODER && n->w[W_DEC] == slot) return 1;
  }
  return 0;
}

/* Random weights: the kernels' matrices take formats *next, *next + 1, … (mod 18; *next advances), the
 * other matrices the format 5 further on; biases dense in [-0.2, 0.2]. Returns the kernel roles filled. */
static int __attribute__((unused)) cc_fill(Graph *g, int *next, Rng *rng) {
  int roles = 0;
  for (int i = 0; i < g->nslots; i++) {
    WeightSlot *s = &g->slots[i];
    Tensor *t;
    if (s->ndim == 2) {
      int kr = cc_kernel_role(g, i);
      int layout, enc;
      cc_format((*next + (kr ? 0 : 5)) % CC_NFORMATS, &layout, &enc);
      t = tensor_gen_matrix(s->name, s->rows, s->cols, layout, enc, rng);
      if (kr) {
        ++*next;
        roles++;
      }
    } else {
      t = tensor_new_f32(s->name, 1, s->rows, 1);
      for (int64_t r = 0; t && r < s->rows; r++) tensor_f32(t)[r] = (float)(0.4 * rng_uniform(rng) - 0.2);
    }
    if (!CHECK(t != NULL)) return roles;
    graph_set_tensor(g, i, t);
  }
  if (!CHECK(graph_verify(g) == 0)) fprintf(stderr, "    %s\n", lstmc_errmsg());
  return roles;
}

static Executor *cc_ref(const Graph *g, int batch) {
  ExecOptions o = {0};
  o.target = TARGET_REF;
  o.batch = batch;
  Executor *e = NULL;
  CHECK(exec_create(g, &o, &e) == 0);
  return e;
}

/* |a - r| / (1 + |r|), the worst over n. */
static double __attribute__((unused)) cc_err(const float *a, const float *r, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; i++) {
    double e = fabs((double)a[i] - (double)r[i]) / (1.0 + fabs((double)r[i]));
    if (!(e <= m)) m = e; /* NaN wins */
  }
  return m;
}

/* `steps` steps of `batch` streams with random tokens: logits within tol. */
static void __attribute__((unused)) cc_check_steps(const Graph *g, Executor *cu, int batch, int steps, double tol, Rng *rng, const char *what) {
  Executor *ref = cc_ref(g, batch);
  if (!ref) return;
  int64_t V = g->vocab_size;
  float *a = lx_malloc((size_t)batch * V * 4), *r = lx_malloc((size_t)batch * V * 4);
  int32_t tok[8];
  double worst = 0;
  ref->vt->reset(ref);
  cu->vt->reset(cu);
  for (int t = 0; t < steps; t++) {
    for (int b = 0; b < batch; b++) tok[b] = (int32_t)rng_below(rng, (uint64_t)V);
    CHECK(ref->vt->step(ref, tok, r) == 0);
    if (!CHECK(cu->vt->step(cu, tok, a) == 0)) {
      fprintf(stderr, "    %s: %s\n", what, lstmc_errmsg());
      break;
    }
    double e = cc_err(a, r, (int64_t)batch * V);
    if (!(e <= worst)) worst = e;
  }
  printf("  %s: %d steps x %d streams, max logit error %.2e\n", what, steps, batch, worst);
  if (!CHECK(worst <= tol)) fprintf(stderr, "    %s: logits differ by %.3e (tolerance %.1e)\n", what, worst, tol);
  lx_free(a);
  lx_free(r);
  exec_destroy(ref);
}

/* Scoring n random tokens: every log-probability within tol. */
static void __attribute__((unused)) cc_check_score(const Graph *g, Executor *cu, int64_t n, double tol, Rng *rng, const char *what) {
  Executor *ref = cc_ref(g, 1);
  if (!ref) return;
  int32_t *tok = lx_malloc((size_t)n * 4);
  double *la = lx_malloc((size_t)n * 8), *lr = lx_malloc((size_t)n * 8), na = 0, nr = 0;
  for (int64_t i = 0; i < n; i++) tok[i] = (int32_t)rng_below(rng, (uint64_t)g->vocab_size);
  ref->vt->reset(ref);
  cu->vt->reset(cu);
  CHECK(exec_score(ref, tok, n, &nr, lr) == 0);
  if (CHECK(exec_score(cu, tok, n, &na, la) == 0)) {
    double worst = 0;
    for (int64_t i = 0; i + 1 < n; i++) {
      double e = fabs(la[i] - lr[i]);
      if (!(e <= worst)) worst = e;
    }
    printf("  %s: scored %lld tokens, max log-prob error %.2e, nll %.6f vs %.6f\n", what, (long long)n, worst, na, nr);
    if (!CHECK(worst <= tol)) fprintf(stderr, "    %s: log-probabilities differ by %.3e (tolerance %.1e)\n", what, worst, tol);
  } else {
    fprintf(stderr, "    %s: %s\n", what, lstmc_errmsg());
  }
  lx_free(tok);
  lx_free(la);
  lx_free(lr);
  exec_destroy(ref);
}

/* Generation through lstmc_session_generate (the executor's `generate` vs the host loop over the
 * reference's steps): the same text for the same seed, and the same state afterwards. */
static void __attribute__((unused)) cc_check_generate(Graph *g, Executor *cu, int64_t length, double temperature, int top_k, uint64_t seed,
                              double tol, const char *what) {
  Executor *ref = cc_ref(g, 1);
  if (!ref) return;
  struct lstmc_model m = {.g = g};
  int64_t V = g->vocab_size;
  float *lr = lx_malloc((size_t)V * 4), *la = lx_malloc((size_t)V * 8 * 4), *sr = lx_malloc((size_t)V * 4);
  struct lstmc_session s_ref = {&m, ref, lr}, s_cu = {&m, cu, la};
  lstmc_gen_opts o = {g->vocab_kind == VOCAB_BYTES ? "The " : NULL, length, temperature, top_k, seed, NULL, NULL};
  char *tr = NULL, *ta = NULL;
  CHECK(lstmc_session_generate(&s_ref, &o, &tr) == 0);
  if (CHECK(lstmc_session_generate(&s_cu, &o, &ta) == 0) && tr && ta) {
    size_t k = 0;
    while (tr[k] && tr[k] == ta[k]) k++;
    int same = tr[k] == ta[k];
    printf("  %s: generated %lld tokens (T %.2f, top-k %d, seed %llu): %s\n", what, (long long)length, temperature, top_k,
           (unsigned long long)seed, same ? "same as the reference" : "DIFFERENT");
    if (!CHECK(same)) fprintf(stderr, "    %s: generation differs from byte %zu on\n", what, k);
    /* the state after generation: one more step each */
    int32_t t0 = 0;
    CHECK(ref->vt->step(ref, &t0, sr) == 0);
    if (CHECK(cu->vt->step(cu, &t0, la) == 0)) {
      double e = cc_err(la, sr, V);
      if (!CHECK(e <= tol)) fprintf(stderr, "    %s: the state after generation differs (%.3e)\n", what, e);
    }
  } else {
    fprintf(stderr, "    %s: %s\n", what, lstmc_errmsg());
  }
  lx_free(tr);
  lx_free(ta);
  lx_free(lr);
  lx_free(la);
  lx_free(sr);
  exec_destroy(ref);
}

/* The device sampler (lx_sample_test) against sample_token on logits with many ties, for several
 * temperatures and cuts, drawing from one RNG stream in turn as generation does. */
static void __attribute__((unused)) cc_check_sampler(Executor *cu, Rng *rng, const char *what) {
  CudaDev *d = cuda_exec_device(cu);
  const CudaPlan *pl = cuda_exec_plan(cu);
  int V = pl->V, ncase = 24;
  static const struct {
    double t;
    int k;
  } modes[] = {{0, 0}, {1.0, 0}, {0.7, 5}, {1.3, -1}, {0.5, -2}, {2.0, 1}, {0.9, 2}};
  float *lg = lx_malloc((size_t)ncase * V * 4);
  Cand *scratch = lx_malloc((size_t)V * sizeof *scratch);
  int32_t got[64];
  CUdeviceptr dl = 0, dout = 0, drng = 0, dscratch = 0;
  void *fn = NULL;
  /* the scratch in shared memory when it fits, else in global memory */
  int smem = cuda_sample_test_smem(pl), global = smem > d->info.smem_optin;
  if (global) smem = 32;
  if (!CHECK(d->ops->kernel(d, "lx_sample_test", smem, &fn) == 0) || !CHECK(d->ops->alloc(d, (size_t)ncase * V * 4, &dl) == 0) ||
      !CHECK(d->ops->alloc(d, 64 * 4, &dout) == 0) || !CHECK(d->ops->alloc(d, 32, &drng) == 0) ||
      (global && !CHECK(d->ops->alloc(d, (size_t)pl->sample_bytes, &dscratch) == 0)))
    goto done;
  for (size_t mi = 0; mi < sizeof modes / sizeof *modes; mi++) {
    int k = modes[mi].k == -1 ? V - 1 : modes[mi].k == -2 ? V + 3 : modes[mi].k;
    /* logits on a coarse grid: ties everywhere, and a few equal maxima */
    for (int i = 0; i < ncase * V; i++) lg[i] = (float)((int)rng_below(rng, 9) - 4) * 0.75f;
    Rng host, dev;
    rng_seed(&host, 1000 + mi);
    dev = host;
    LxParams p;
    memset(&p, 0, sizeof p);
    p.logits = dl;
    p.gen_out = dout;
    p.rng = drng;
    p.scratch = dscratch;
    p.T = ncase;
    p.temperature = modes[mi].t;
    p.top_k = k;
    if (!CHECK(d->ops->h2d(d, dl, lg, (size_t)ncase * V * 4) == 0) || !CHECK(d->ops->h2d(d, drng, dev.s, 32) == 0) ||
        !CHECK(d->ops->launch(d, fn, 1, pl->threads, smem, 0, &p) == 0) || !CHECK(d->ops->d2h(d, got, dout, (size_t)ncase * 4) == 0) ||
        !CHECK(d->ops->d2h(d, dev.s, drng, 32) == 0)) {
      fprintf(stderr, "    %s: %s\n", what, lstmc_errmsg());
      break;
    }
    int bad = -1;
    for (int c = 0; c < ncase; c++)
      if (sample_token(lg + (size_t)c * V, V, modes[mi].t, k, &host, scratch) != got[c] && bad < 0) bad = c;
    if (!CHECK(bad < 0)) fprintf(stderr, "    %s: sampler (T %.1f, top-k %d) differs at case %d\n", what, modes[mi].t, k, bad);
    if (!CHECK(!memcmp(host.s, dev.s, 32))) fprintf(stderr, "    %s: the sampler's RNG state differs (T %.1f)\n", what, modes[mi].t);
  }
  printf("  %s: device sampler matches sample_token on %d cases x %d modes (V %d, scratch in %s memory)\n", what,
         ncase, (int)(sizeof modes / sizeof *modes), V, global ? "global" : "shared");
done:
  d->ops->free(d, dl);
  d->ops->free(d, dout);
  d->ops->free(d, drng);
  d->ops->free(d, dscratch);
  lx_free(lg);
  lx_free(scratch);
}

#endif
