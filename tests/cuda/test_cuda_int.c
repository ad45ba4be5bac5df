/* The CUDA backend's integer path (int8 activations, ir/qdot.h) without a GPU: models whose kernel matrices
 * take every integer encoding in every layout with act_bits = 8 (layer 0's W_ih too: its table is made by
 * ir/qdot on the host; the decoder's scoring product is the lx_dec_qscore kernel) run on the host emulator
 * against the reference executor — single and batched steps, scoring across launch boundaries, seeded
 * generation — within INT8_BOUND: the integer sums are exact, but the device's float state differs from
 * the reference's (float sums, expf), and an activation that close to a rounding boundary of its int8
 * level is quantized one level apart. The same modules compile with NVRTC for sm_80 and sm_90 without
 * register spills (skipped without libnvrtc). */
#include <stdlib.h>
#include <sys/stat.h>

#include "codegen/backend.h"
#include "codegen/cuda/cuda_compile.h"
#include "codegen/cuda/cuda_loader.h"
#include "cuda_check.h"
#include "cuda_emu.h"

#define INT8_BOUND 1e-3

static char workdir[512];

static const int int_encs[4] = {LX_ENC_Q8, LX_ENC_Q4, LX_ENC_TERNARY, LX_ENC_BINARY};

/* Every 2-D weight in an integer format with int8 activations: the kernel roles (and layer 0's W_ih) take
 * combination *next, *next + 1, ... of (layout, encoding), the embedding of an untied model stays f32. */
static Graph *int_graph(const char *spec, int64_t V, int *next, Rng *rng) {
  Graph *g = cc_graph(NULL, spec, V);
  if (!g) return NULL;
  int emb = g->nodes[0].w[W_EMBED], tied = g->nodes[g->nnodes - 2].w[W_DEC] == emb;
  for (int i = 0; i < g->nslots; i++) {
    WeightSlot *s = &g->slots[i];
    Tensor *t;
    if (s->ndim == 2 && (i != emb || tied)) {
      int c = (*next)++ % 12;
      t = tensor_gen_matrix(s->name, s->rows, s->cols, c / 4, int_encs[c % 4], rng);
      if (t) t->act_bits = 8;
    } else if (s->ndim == 2) {
      t = tensor_gen_matrix(s->name, s->rows, s->cols, LX_LAYOUT_DENSE, LX_ENC_F32, rng);
    } else {
      t = tensor_new_f32(s->name, 1, s->rows, 1);
      for (int64_t r = 0; t && r < s->rows; r++) tensor_f32(t)[r] = (float)(0.4 * rng_uniform(rng) - 0.2);
    }
    if (!CHECK(t != NULL)) break;
    graph_set_tensor(g, i, t);
  }
  if (!CHECK(graph_verify(g) == 0)) fprintf(stderr, "    %s\n", lstmc_errmsg());
  return g;
}

static Executor *emu_executor(const Graph *g, int batch, int sms, int smem, int threads) {
  CudaDev *dev;
  if (!CHECK(cuda_emu_open(workdir, sms, smem, threads, &dev) == 0)) return NULL;
  ExecOptions o = {0};
  o.target = TARGET_CUDA;
  o.batch = batch;
  Executor *e = NULL;
  if (!CHECK(cuda_exec_create_on(g, &o, dev, &e) == 0)) fprintf(stderr, "    %s\n", lstmc_errmsg());
  return e;
}

/* The largest logit difference over `steps` steps of a token sequence, between two executors. */
static double step_gap(const Graph *g, Executor *a, Executor *b, int steps) {
  int64_t V = g->vocab_size;
  float *la = lx_malloc((size_t)V * 4), *lb = lx_malloc((size_t)V * 4);
  double gap = 0;
  a->vt->reset(a);
  b->vt->reset(b);
  for (int t = 0; t < steps; t++) {
    int32_t tok = (int32_t)((t * 7 + 3) % V);
    CHECK(a->vt->step(a, &tok, la) == 0);
    CHECK(b->vt->step(b, &tok, lb) == 0);
    for (int64_t i = 0; i < V; i++) gap = fmax(gap, fabs((double)la[i] - lb[i]));
  }
  lx_free(la);
  lx_free(lb);
  return gap;
}

/* The device follows the integer arithmetic, not float activations: its logits are far closer to the
 * reference's with int8 activations than the reference's with float activations are. */
static void check_follows_int(const char *name, const Graph *g, Executor *cu) {
  Graph *f = graph_clone(g);
  if (!CHECK(f != NULL)) return;
  for (int i = 0; i < f->nslots; i++)
    if (f->slots[i].t) f->slots[i].t->act_bits = 0;
  Executor *ri = cc_ref(g, 1), *rf = cc_ref(f, 1);
  if (ri && rf) {
    double dev_gap = step_gap(g, cu, ri, 6), float_gap = step_gap(g, rf, ri, 6);
    printf("  %s: device vs reference %.2e; float activations vs int8 in the reference %.2e\n", name, dev_gap, float_gap);
    CHECK(float_gap > 1e-5 && dev_gap < 0.01 * float_gap);
  }
  exec_destroy(ri);
  exec_destroy(rf);
  graph_free(f);
}

static void check_emulated(const char *name, const Graph *g, int sms, int smem, int threads, int batch) {
  Rng rng;
  rng_seed(&rng, 31);
  Executor *e = emu_executor(g, 1, sms, smem, threads);
  if (e) {
    CHECK(cuda_exec_plan(e)->dec.act_bits == 8);
    check_follows_int(name, g, e);
    cc_check_steps(g, e, 1, 5, INT8_BOUND, &rng, name);
    cc_check_score(g, e, 19, INT8_BOUND, &rng, name);
    cc_check_generate((Graph *)g, e, 12, 0.8, 0, 5, INT8_BOUND, name);
    exec_destroy(e);
  }
  if (batch > 1 && (e = emu_executor(g, batch, sms, smem, threads))) {
    cc_check_steps(g, e, batch, 3, INT8_BOUND, &rng, name);
    exec_destroy(e);
  }
}

/* The module of g for sm_80 and sm_90 through NVRTC: compiles, and ptxas reports no spills. */
static void check_nvrtc(const char *name, const Graph *g, int batch) {
  char dir[700];
  snprintf(dir, sizeof dir, "%s/nvrtc_cache", workdir);
  for (int arch = 80; arch <= 90; arch += 10) {
    CudaDeviceInfo dev;
    CudaPlan *plan = NULL;
    char *src = NULL, *log = NULL;
    cuda_device_defaults(arch, &dev);
    if (!CHECK(cuda_plan_build(g, &dev, batch, &plan) == 0) || !CHECK(cuda_codegen_source(plan, g->name, 0, &src) == 0)) {
      fprintf(stderr, "    %s: %s\n", name, lstmc_errmsg());
      cuda_plan_free(plan);
      continue;
    }
    CHECK(strstr(src, "lx_rows_qdot(") != NULL && strstr(src, "#define LX_DEC_INT8 1") != NULL);
    CudaCompileRequest rq = {src, "int8.cu", arch, CUDA_EMIT_CUBIN, 1, dir, 0};
    CudaCompileStats cs;
    uint8_t *bin = NULL;
    size_t nbin = 0;
    if (!CHECK(cuda_compile(&rq, &bin, &nbin, &log, &cs) == 0)) {
      fprintf(stderr, "    %s sm_%d: %s\n", name, arch, lstmc_errmsg());
    } else {
      int spills = 0;
      for (const char *q = log; q && (q = strstr(q, " bytes spill stores")); q++) {
        const char *d = q;
        while (d > log && d[-1] >= '0' && d[-1] <= '9') d--;
        spills += atoi(d);
      }
      printf("%s: sm_%d cubin %zu bytes, NVRTC %.2f s, spill bytes %d\n", name, arch, nbin, cs.compile_seconds, spills);
      if (!CHECK_INT_EQ(spills, 0)) fprintf(stderr, "    ptxas' report:\n%s\n", log);
    }
    lx_free(log);
    lx_free(bin);
    lx_free(src);
    cuda_plan_free(plan);
  }
}

int main(int argc, char **argv) {
  snprintf(workdir, sizeof workdir, "%s/cuda_int", argc > 1 ? argv[1] : ".");
  mkdir(workdir, 0755);
  setenv("LSTMC_CUDA_CHECK", "1", 1);
  setenv("LSTMC_CUDA_CHUNK", "7", 1);
  static const char *three = "model three { vocab bytes; embed 12; lstm 40; lstm 24; lstm 12; decoder tied; }";
  static const char *odd = "model odd { vocab chars; embed 9; lstm 21; lstm 13; decoder untied; }";
  Rng rng;
  rng_seed(&rng, 8);
  int next = 0;
  /* three: 6 roles + layer 0's W_ih = combinations 0..6; odd: 5 more, 7..11 — all 12 */
  Graph *a = int_graph(three, 0, &next, &rng), *b = int_graph(odd, 37, &next, &rng);
  CHECK_INT_EQ(next, 12);
  if (a) check_emulated("three", a, 6, 7168, 512, 3);     /* dense q8 rows with x in registers at batch 1 */
  if (b) check_emulated("odd", b, 4, 4096, 256, 2);
  const CudaNvrtc *nv;
  if (cuda_nvrtc_open(&nv)) {
    printf("cuda_int: NVRTC compiles skipped: %s\n", lstmc_errmsg());
  } else {
    if (a) check_nvrtc("three", a, 4);
    if (b) check_nvrtc("odd", b, 1);
  }
  graph_free(a);
  graph_free(b);
  return tu_summary("cuda_int");
}
