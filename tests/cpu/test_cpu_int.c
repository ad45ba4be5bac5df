/* The CPU backend's integer kernels (int8 activations) and bf16 dot-product kernel.
 *
 * Exactness: for every integer encoding x layout, on every kernel variant this CPU can run — the dot
 * product (VNNI, MADD, portable) at 16 and at 8 lanes, the packed gathers (vpermb, vpshufb, generic; groups
 * narrow and wide), and the baseline x86-64 and x86-64-v3 targets — each matrix's kernel is run alone
 * through the test probe (cpu_exec_probe) on random inputs (with zeros and exact .5 ties), and its int32
 * sums must equal ir/qdot.c's acc_r exactly and its outputs ((float)acc · s_x) · scale bit for bit.
 *
 * Against the reference executor: stepping and scoring (past two chunks) give logits and log-probs within
 * INT8_BOUND. The integer sums are exact, but the executors' float state differs slightly (the CPU's
 * vector exp, float gate sums), and where an activation sits within that difference of a rounding boundary
 * of q_c = nearbyint(x_c · 127 / amax) the two quantize it one level apart; the bound covers that.
 *
 * bf16: the dot-product kernel's outputs against the double reference matvec (relative 1e-5 of Σ|w x|),
 * and its logits against the reference within 1e-4, as every float format. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "codegen/backend.h"
#include "codegen/cpu/cpu.h"
#include "ir/qdot.h"
#include "lstmc.h"
#include "runtime/exec.h"
#include "runtime/weights.h"
#include "support/alloc.h"
#include "tensor_gen.h"
#include "testutil.h"

#define INT8_BOUND 1e-3 /* logits and log-probs, int8 activations, against the reference */

static const char *spec_untied = "model t { vocab bytes; embed 40; lstm 72; lstm 40; decoder untied; }";

static CpuTarget host;
static int host_has(const char *feature) {
  size_t n = strlen(feature);
  for (const char *p = host.features; (p = strstr(p, feature)); p += n)
    if ((p == host.features || p[-1] == ',') && (p[n] == ',' || p[n] == 0)) return 1;
  return 0;
}

/* A kernel variant: the host's target with lesser settings, or a named CPU. */
typedef struct Variant {
  const char *name;
  const char *cpu, *features; /* NULL: the host */
  int vl, dot, vbmi, avx2;
  const char *needs[3];       /* host features the variant's code uses */
} Variant;

static const Variant variants[] = {
    {"16 lanes, vnni, vpermb", NULL, NULL, 16, CPU_DOT_VNNI, 1, 1, {"+avx512vnni", "+avx512vbmi", "+avx512bw"}},
    {"16 lanes, madd, generic gather", NULL, NULL, 16, CPU_DOT_MADD, 0, 1, {"+avx512bw", NULL, NULL}},
    {"16 lanes, portable", NULL, NULL, 16, CPU_DOT_PORTABLE, 0, 1, {"+avx512f", NULL, NULL}},
    {"8 lanes, vnni, vpshufb", NULL, NULL, 8, CPU_DOT_VNNI, 0, 1, {"+avx512vnni", "+avx512vl", NULL}},
    {"8 lanes, madd, vpshufb", NULL, NULL, 8, CPU_DOT_MADD, 0, 1, {"+avx2", NULL, NULL}},
    {"8 lanes, portable, generic gather", NULL, NULL, 8, CPU_DOT_PORTABLE, 0, 0, {NULL, NULL, NULL}},
    {"x86-64", "x86-64", "", 0, -1, 0, 0, {NULL, NULL, NULL}},
    {"x86-64-v3 +avxvnni", "x86-64-v3", "+avx2,+fma,+avxvnni", 0, -1, 0, 0, {"+avx2", "+avxvnni", NULL}},
    {"x86-64-v3", "x86-64-v3", "+avx2,+fma", 0, -1, 0, 0, {"+avx2", NULL, NULL}},
};

/* The variant's target; 0 when the host cannot run it. */
static int variant_target(const Variant *v, CpuTarget *t) {
  for (int i = 0; i < 3; i++)
    if (v->needs[i] && !host_has(v->needs[i])) return 0;
  if (v->cpu) {
    CHECK(cpu_target_named(v->cpu, v->features, t) == 0);
    return 1;
  }
  *t = host;
  t->vl = v->vl;
  t->dot = v->dot;
  t->vbmi = v->vbmi;
  t->avx2 = v->avx2;
  t->avx512 = v->vl == 16;
  t->bf16dot = 0;
  return 1;
}

/* Every integer encoding in every layout, packed both with groups of 3 (a quad spans at most 12 table
 * bytes) and of 20 (wider than vpermb's 64 bytes and vpshufb's 32: the generic gather), one format per
 * matrix of an eight-layer model (the decoder repeats the first); sizes not multiples of 4 or of a
 * vector, so quads and tiles are padded. */
static const char *spec_mixed = "model t { vocab bytes; embed 40; lstm 37; lstm 50; lstm 29; lstm 66; lstm 33; lstm 70; lstm 67;"
                                " lstm 69; decoder untied; }";
typedef struct Combo {
  int layout, enc, alpha;
} Combo;
static const Combo combos[16] = {
    {LX_LAYOUT_DENSE, LX_ENC_Q8, 3},     {LX_LAYOUT_DENSE, LX_ENC_Q4, 3},      {LX_LAYOUT_DENSE, LX_ENC_TERNARY, 3},
    {LX_LAYOUT_DENSE, LX_ENC_BINARY, 3}, {LX_LAYOUT_MASKED, LX_ENC_Q8, 3},     {LX_LAYOUT_MASKED, LX_ENC_Q4, 3},
    {LX_LAYOUT_MASKED, LX_ENC_TERNARY, 3}, {LX_LAYOUT_MASKED, LX_ENC_BINARY, 3}, {LX_LAYOUT_PACKED, LX_ENC_Q8, 3},
    {LX_LAYOUT_PACKED, LX_ENC_Q4, 3},    {LX_LAYOUT_PACKED, LX_ENC_TERNARY, 3}, {LX_LAYOUT_PACKED, LX_ENC_BINARY, 3},
    {LX_LAYOUT_PACKED, LX_ENC_Q8, 20},   {LX_LAYOUT_PACKED, LX_ENC_Q4, 20},     {LX_LAYOUT_PACKED, LX_ENC_TERNARY, 20},
    {LX_LAYOUT_PACKED, LX_ENC_BINARY, 20},
};

/* spec_mixed with matrix k (W_ih, W_hh of each layer, then the decoder) in combos[k % 16], int8
 * activations on all of them. Packed binary matrices get no empty slots in half the cases, so that the
 * binary kernel (not the ternary it becomes with empty slots) runs too. */
static Graph *mixed_graph(uint64_t seed) {
  Graph *g = tensor_gen_graph(spec_mixed, 0);
  if (!CHECK(g != NULL)) return NULL;
  Rng rng;
  rng_seed(&rng, seed);
  CHECK(weights_init(g, seed) == 0);
  int k = 0;
  for (int i = 0; i < g->nslots; i++) {
    WeightSlot *w = &g->slots[i];
    if (w->ndim != 2 || !strcmp(w->name, "encoder.weight")) continue;
    const Combo *c = &combos[k % 16];
    TensorGenOpts o = {c->alpha, c->enc == LX_ENC_BINARY && k % 2 ? 0 : 4, 1, 1};
    Tensor *t = tensor_gen_random(w->name, w->rows, w->cols, c->layout, c->enc, &o, &rng);
    if (!CHECK(t != NULL)) break;
    t->act_bits = 8;
    graph_set_tensor(g, i, t);
    k++;
  }
  CHECK(k == 17);
  CHECK(graph_verify(g) == 0);
  return g;
}

static Executor *probed_exec(const Graph *g, const CpuTarget *t, int batch, int threads) {
  ExecOptions o = {0};
  o.target = TARGET_CPU;
  o.batch = batch;
  o.threads = threads;
  Executor *e = NULL;
  int st = cpu_exec_create_probed(g, &o, t, &e);
  if (!CHECK(st == 0)) fprintf(stderr, "    %s\n", lstmc_errmsg());
  return e;
}

/* Random input of n floats: mostly uniform, some zeros, some exact ties of the quantization grid. */
static void random_input(float *x, int64_t n, Rng *rng) {
  for (int64_t c = 0; c < n; c++) x[c] = (float)(rng_uniform(rng) * 2 - 1);
  x[0] = 1.0f; /* amax 1: inv = 127, so k / 254 for odd k lands near a .5 tie */
  for (int64_t c = 1; c < n; c += 5) x[c] = 0.0f;
  for (int64_t c = 2; c < n; c += 7) x[c] = (float)(2 * (int64_t)rng_below(rng, 127) + 1) / 254.0f;
}

/* Matrix by matrix: the probe's sums and outputs against ir/qdot.c, exactly. */
static void check_exact(const Graph *g, const CpuTarget *t, const char *what) {
  Executor *e = probed_exec(g, t, 1, 1);
  if (!e) return;
  const CpuPlan *p = cpu_exec_plan(e);
  Rng rng;
  rng_seed(&rng, 3);
  for (int k = 0; k < cpu_plan_nmats(p); k++) {
    const CpuMat *m = cpu_plan_mat(p, k);
    const Tensor *w = m->src;
    if (!CHECK(m->kernel == CPU_KERNEL_INT8)) continue;
    float *x = lx_malloc((size_t)w->cols * sizeof *x), *y = lx_malloc((size_t)w->rows * sizeof *y);
    int8_t *q = lx_malloc((size_t)w->cols);
    int32_t *acc = lx_malloc((size_t)w->rows * sizeof *acc);
    for (int trial = 0; trial < 3; trial++) {
      random_input(x, w->cols, &rng);
      if (trial == 2) memset(x, 0, (size_t)w->cols * sizeof *x); /* amax 0 */
      CHECK(cpu_exec_probe(e, k, x, acc, y) == 0);
      float sx = qdot_quantize(x, w->cols, q);
      int bad = 0;
      for (int64_t r = 0; r < w->rows; r++) {
        int32_t want = qdot_row(w, r, q);
        float wy = qdot_output(want, sx, w->scale[r]);
        if (acc[r] != want || memcmp(&y[r], &wy, sizeof wy)) {
          if (!bad) fprintf(stderr, "    row %lld: acc %d, want %d; y %.9g, want %.9g\n", (long long)r, acc[r], want, (double)y[r], (double)wy);
          bad++;
        }
      }
      if (!CHECK(bad == 0))
        fprintf(stderr, "    %s, %s (%s, dot %s, gather %d): %d of %lld rows differ\n", what, w->name,
                format_name(w->layout, w->enc), cpu_dot_name(m->dot), m->gather, bad, (long long)w->rows);
    }
    lx_free(x);
    lx_free(y);
    lx_free(q);
    lx_free(acc);
  }
  exec_destroy(e);
}

/* Steps (one stream, then three on two threads) and scores against the reference. */
static void check_against_ref(const Graph *g, const CpuTarget *t, const char *what) {
  Rng rng;
  rng_seed(&rng, 4);
  int64_t V = g->vocab_size;
  for (int batch = 1; batch <= 3; batch += 2) {
    ExecOptions o = {0};
    o.target = TARGET_REF;
    o.batch = batch;
    Executor *ref = NULL, *cpu = NULL;
    CHECK(exec_create(g, &o, &ref) == 0);
    o.target = TARGET_CPU;
    o.threads = batch == 1 ? 1 : 2;
    if (!CHECK(cpu_exec_create_for(g, &o, t, &cpu) == 0)) fprintf(stderr, "    %s\n", lstmc_errmsg());
    float *a = lx_malloc((size_t)(batch * V) * sizeof *a), *b = lx_malloc((size_t)(batch * V) * sizeof *b);
    double md = 0;
    int32_t tok[3];
    for (int s = 0; ref && cpu && s < 8; s++) {
      for (int k = 0; k < batch; k++) tok[k] = (int32_t)rng_below(&rng, (uint64_t)V);
      CHECK(ref->vt->step(ref, tok, a) == 0);
      CHECK(cpu->vt->step(cpu, tok, b) == 0);
      for (int64_t i = 0; i < batch * V; i++) md = fmax(md, fabs((double)a[i] - b[i]));
    }
    printf("cpu_int: %s, %d stream%s: largest logit difference from the reference %.2e\n", what, batch, batch > 1 ? "s" : "", md);
    if (!CHECK(md <= INT8_BOUND)) fprintf(stderr, "    %s, %d streams: logits differ by %g\n", what, batch, md);
    if (batch == 1 && ref && cpu) {
      enum { N = 75 }; /* past two chunks of 32 */
      int32_t toks[N];
      double la[N], lb[N], na = 0, nb = 0, ml = 0;
      for (int i = 0; i < N; i++) toks[i] = (int32_t)rng_below(&rng, (uint64_t)V);
      CHECK(exec_score(ref, toks, N, &na, la) == 0);
      CHECK(exec_score(cpu, toks, N, &nb, lb) == 0);
      for (int i = 0; i + 1 < N; i++) ml = fmax(ml, fabs(la[i] - lb[i]));
      printf("cpu_int: %s, scoring: largest log-prob difference %.2e\n", what, ml);
      if (!CHECK(ml <= INT8_BOUND)) fprintf(stderr, "    %s: scored log-probs differ by %g\n", what, ml);
    }
    lx_free(a);
    lx_free(b);
    exec_destroy(ref);
    exec_destroy(cpu);
  }
}

static void test_int_kernels(void) {
  Graph *g = mixed_graph(10);
  if (!g) return;
  int ran = 0;
  for (size_t v = 0; v < sizeof variants / sizeof *variants; v++) {
    CpuTarget t;
    if (!variant_target(&variants[v], &t)) {
      printf("cpu_int: skipping '%s': this CPU lacks a feature it needs\n", variants[v].name);
      continue;
    }
    ran++;
    check_exact(g, &t, variants[v].name);
    /* the logits on a few variants; the exact sums above cover the rest */
    if (v == 0 || v == 4 || v == 6) check_against_ref(g, &t, variants[v].name);
  }
  CHECK(ran >= 1);
  graph_free(g);
}

/* The plan picks the kernels the target allows. */
static void test_selection(void) {
  Graph *g = mixed_graph(1);
  if (!g) return;
  CpuTarget t;
  CHECK(cpu_target_named("x86-64", "", &t) == 0);
  CHECK(t.vl == 8 && t.dot == CPU_DOT_PORTABLE && !t.vbmi && !t.bf16dot);
  CpuPlan *p;
  if (CHECK(cpu_plan_make(g, &t, 1, 0, 1, &p) == 0)) {
    const CpuMat *m = &p->layers[4].ih; /* combos[8]: packed q8, groups of 3 */
    CHECK(m->kernel == CPU_KERNEL_INT8 && m->packed && m->gather == CPU_GATHER_GENERIC && m->nsteps == (m->nslots + 3) / 4);
    cpu_plan_free(p);
  }
  CHECK(cpu_target_named("x86-64-v4", "+avx512f,+avx512bw,+avx512vl,+avx512vnni,+avx512vbmi,+avx512bf16", &t) == 0);
  CHECK(t.vl == 16 && t.dot == CPU_DOT_VNNI && t.vbmi && t.bf16dot);
  if (CHECK(cpu_plan_make(g, &t, 1, 0, 1, &p) == 0)) {
    CHECK(p->layers[4].ih.gather == CPU_GATHER_VPERMB && p->layers[4].ih.wsum_off > 0);
    CHECK(p->layers[6].ih.gather == CPU_GATHER_GENERIC); /* combos[12]: groups of 20 */
    /* selects as nibbles where groups have at most 16 columns, else whole index bytes */
    CHECK(p->layers[4].ih.sel_nibbles && p->layers[4].ih.qoff_off > 0 && !p->layers[6].ih.sel_nibbles);
    cpu_plan_free(p);
  }
  CHECK(cpu_target_named("x86-64-v3", "+avx2,+fma,+avxvnni", &t) == 0);
  CHECK(t.vl == 8 && t.dot == CPU_DOT_VNNI);
  CHECK(cpu_target_named("x86-64-v3", "+avx2,+fma", &t) == 0);
  CHECK(t.vl == 8 && t.dot == CPU_DOT_MADD);
  CHECK(cpu_target_named("skylake-avx512", "+avx512f,+avx512bw", &t) == 0);
  CHECK(t.vl == 16 && t.dot == CPU_DOT_MADD && !t.vbmi);
  /* the IR of every kernel variant verifies, with five streams and scoring */
  for (size_t v = 0; v < sizeof variants / sizeof *variants; v++) {
    CpuTarget vt;
    if (!variants[v].cpu) {
      vt = host;
      vt.vl = variants[v].vl;
      vt.dot = variants[v].dot;
      vt.vbmi = variants[v].vbmi;
      vt.avx2 = variants[v].avx2;
    } else {
      CHECK(cpu_target_named(variants[v].cpu, variants[v].features, &vt) == 0);
    }
    int st = cpu_verify_graph(g, &vt, 5, 32);
    if (!CHECK(st == 0)) fprintf(stderr, "    %s: %s\n", variants[v].name, lstmc_errmsg());
  }
  graph_free(g);
}

/* Dense and masked bf16 on the bf16 dot-product kernel. */
static void test_bf16dot(void) {
  if (!host.bf16dot) {
    printf("cpu_int: skipping the bf16 dot product: this CPU has no AVX512-BF16\n");
    return;
  }
  for (int layout = 0; layout < 2; layout++) {
    Graph *g = tensor_gen_graph(spec_untied, 0);
    if (!CHECK(g != NULL)) return;
    Rng rng;
    rng_seed(&rng, 20 + (uint64_t)layout);
    CHECK(weights_init(g, 5) == 0);
    TensorGenOpts o = {3, 4, 1, 1};
    CHECK(tensor_gen_weights(g, layout, LX_ENC_BF16, &o, 0, &rng) == 0);
    const char *what = format_name(layout, LX_ENC_BF16);
    Executor *e = probed_exec(g, &host, 1, 1);
    if (e) {
      const CpuPlan *p = cpu_exec_plan(e);
      for (int k = 0; k < cpu_plan_nmats(p); k++) {
        const CpuMat *m = cpu_plan_mat(p, k);
        const Tensor *w = m->src;
        CHECK(m->kernel == CPU_KERNEL_BF16DOT);
        float *x = lx_malloc((size_t)w->cols * sizeof *x), *y = lx_malloc((size_t)w->rows * sizeof *y);
        double *ref = lx_calloc((size_t)w->rows, sizeof *ref);
        random_input(x, w->cols, &rng);
        CHECK(cpu_exec_probe(e, k, x, NULL, y) == 0);
        tensor_matvec_ref(w, x, ref);
        double worst = 0;
        for (int64_t r = 0; r < w->rows; r++) {
          double mag = 0;
          for (int64_t c = 0; c < w->cols; c++) mag += fabs((double)tensor_get(w, r, c) * x[c]);
          worst = fmax(worst, fabs(y[r] - ref[r]) / (mag > 0 ? mag : 1));
        }
        if (!CHECK(worst <= 1e-5)) fprintf(stderr, "    %s, %s: relative error %g\n", what, w->name, worst);
        lx_free(x);
        lx_free(y);
        lx_free(ref);
      }
      exec_destroy(e);
    }
    /* logits and scores as tight as every float format's */
    ExecOptions o2 = {0};
    o2.target = TARGET_REF;
    o2.batch = 1;
    Executor *ref = NULL, *cpu = NULL;
    CHECK(exec_create(g, &o2, &ref) == 0);
    o2.target = TARGET_CPU;
    CHECK(cpu_exec_create_for(g, &o2, &host, &cpu) == 0);
    enum { N = 75 };
    int32_t toks[N];
    double la[N], lb[N], na = 0, nb = 0, ml = 0;
    for (int i = 0; i < N; i++) toks[i] = (int32_t)rng_below(&rng, 256);
    if (ref && cpu) {
      CHECK(exec_score(ref, toks, N, &na, la) == 0);
      CHECK(exec_score(cpu, toks, N, &nb, lb) == 0);
      for (int i = 0; i + 1 < N; i++) ml = fmax(ml, fabs(la[i] - lb[i]));
      if (!CHECK(ml <= 1e-4)) fprintf(stderr, "    %s: scored log-probs differ by %g\n", what, ml);
    }
    exec_destroy(ref);
    exec_destroy(cpu);
    graph_free(g);
  }
}

int main(void) {
  if (!CHECK(cpu_target_host(&host) == 0)) return 1;
  printf("cpu_int: host %s, %d lanes, dot %s, vbmi %d, bf16dot %d\n", host.cpu, host.vl, cpu_dot_name(host.dot), host.vbmi, host.bf16dot);
  test_selection();
  test_int_kernels();
  test_bf16dot();
  return tu_summary("cpu_int");
}
