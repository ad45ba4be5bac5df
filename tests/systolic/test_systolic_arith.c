/* The systolic executor's arithmetic against an oracle written here from the integer contract
 * (/work/coord/PLAN.md, "Integer arithmetic contract"): steps 1–5 on the tensors' own bytes (not on the
 * program's packing), then the reference executor's float LSTM cell (lstm_cell_ref). With the default array
 * (8-bit weights and activations, 32-bit accumulators, exact gates) the logits are equal bit for bit, for
 * every quantized format and layout, one and three streams, untied and tied models. Besides:
 *  - sa_quantize equals the contract's steps 1–3 for every activation width;
 *  - each SIMD kernel the CPU has (AVX-512 VNNI, AVX2) equals the ordered path wherever it runs (groups of
 *    1..16, any shape);
 *  - the cell-by-cell simulation run as the executor gives the same logits as the arithmetic functions;
 *  - the gate unit's tables are within their stated error of the exact functions;
 *  - what the array cannot hold is refused with a message naming the tensor. */
#include <math.h>
#include <stdlib.h>

#include "codegen/backend.h"
#include "passes/pipeline.h"
#include "systest.h"

/* ---- the oracle ---------------------------------------------------------------------------------------- */

/* Steps 1–3 for abits bits (Q = 2^(abits−1) − 1; the contract's 127 at 8 bits). */
static void oracle_quantize(const float *x, int64_t n, int abits, int32_t *q, float *s_x) {
  float amax = 0;
  for (int64_t c = 0; c < n; c++) amax = fabsf(x[c]) > amax ? fabsf(x[c]) : amax;
  if (amax == 0) {
    for (int64_t c = 0; c < n; c++) q[c] = 0;
    *s_x = 0;
    return;
  }
  float Q = (float)((1 << (abits - 1)) - 1);
  float inv = Q / amax;
  *s_x = amax / Q;
  for (int64_t c = 0; c < n; c++) {
    float v = nearbyintf(x[c] * inv);
    q[c] = v > Q ? (int32_t)Q : v < -Q ? -(int32_t)Q : v != v ? 0 : (int32_t)v; /* NaN: 0 · inf, a zero input */
  }
}

/* Step 4: Σ over row r's stored weights of level · q[column], exact. */
static int64_t oracle_acc(const Tensor *t, int64_t r, const int32_t *q) {
  const unsigned char *row = t->codes + (size_t)r * t->stride;
  int64_t acc = 0;
  if (t->layout == LX_LAYOUT_PACKED) {
    for (int64_t g = 0; g < t->ngroups; g++) {
      unsigned s = t->sel[r * t->ngroups + g];
      if (s != LX_SEL_EMPTY) acc += (int64_t)lx_decode_level(t->enc, row, (unsigned long)g) * q[t->group_cols[t->group_off[g] + (int)s]];
    }
  } else {
    for (int64_t c = 0; c < t->cols; c++) {
      if (t->mask && !lx_mask_get(t->mask + (size_t)r * t->mask_stride, (unsigned long)c)) continue;
      acc += (int64_t)lx_decode_level(t->enc, row, (unsigned long)c) * q[c];
    }
  }
  return acc;
}

/* Steps 1–5 added to the double pre-activations: y_r = ((float)acc_r · s_x) · scale_r. */
static void oracle_product(const Tensor *t, const float *x, double *out) {
  int32_t *q = lx_malloc((size_t)t->cols * sizeof *q);
  float s_x;
  oracle_quantize(x, t->cols, 8, q, &s_x);
  for (int64_t r = 0; r < t->rows; r++) {
    int64_t acc = oracle_acc(t, r, q);
    CHECK(acc >= INT32_MIN && acc <= INT32_MAX); /* the contract's int32 */
    out[r] += (double)(((float)acc * s_x) * t->scale[r]);
  }
  lx_free(q);
}

typedef struct Oracle {
  const Graph *g;
  float *h[4], *c[4];
  double *acc;
  float *x;
} Oracle;

/* One token through the graph: the embedding row, then per layer b_ih + b_hh, W_ih x, W_hh h and the
 * reference executor's cell, then the decoder — the reference executor's order, with the contract's products. */
static void oracle_step(Oracle *o, int32_t tok, float *logits) {
  const Graph *g = o->g;
  int k = 0;
  for (int i = 0; i < g->nnodes; i++) {
    const Node *n = &g->nodes[i];
    if (n->op == OP_EMBED) tensor_row_to_f32(g->slots[n->w[W_EMBED]].t, tok, o->x);
    if (n->op == OP_LSTM) {
      int64_t H = n->out_dim;
      for (int64_t j = 0; j < 4 * H; j++)
        o->acc[j] = (double)tensor_f32(g->slots[n->w[B_IH]].t)[j] + (double)tensor_f32(g->slots[n->w[B_HH]].t)[j];
      oracle_product(g->slots[n->w[W_IH]].t, o->x, o->acc);
      oracle_product(g->slots[n->w[W_HH]].t, o->h[k], o->acc);
      lstm_cell_ref(o->acc, H, o->h[k], o->c[k]);
      memcpy(o->x, o->h[k], (size_t)H * sizeof(float));
      k++;
    }
    if (n->op == OP_DECODER) {
      for (int64_t j = 0; j < g->vocab_size; j++) o->acc[j] = tensor_f32(g->slots[n->w[B_DEC]].t)[j];
      oracle_product(g->slots[n->w[W_DEC]].t, o->x, o->acc);
      for (int64_t j = 0; j < g->vocab_size; j++) logits[j] = (float)o->acc[j];
    }
  }
}

static void oracle_init(Oracle *o, const Graph *g) {
  memset(o, 0, sizeof *o);
  o->g = g;
  int k = 0;
  for (int i = 0; i < g->nnodes; i++)
    if (g->nodes[i].op == OP_LSTM) {
      o->h[k] = lx_calloc((size_t)g->nodes[i].out_dim, sizeof(float));
      o->c[k] = lx_calloc((size_t)g->nodes[i].out_dim, sizeof(float));
      k++;
    }
  o->acc = lx_malloc(4096 * sizeof(double));
  o->x = lx_malloc(4096 * sizeof(float));
}

static void oracle_free(Oracle *o) {
  for (int k = 0; k < 4; k++) {
    lx_free(o->h[k]);
    lx_free(o->c[k]);
  }
  lx_free(o->acc);
  lx_free(o->x);
}

static Executor *systolic_exec(const Graph *g, const SystolicConfig *c, int batch) {
  ExecOptions o = {0};
  o.target = TARGET_SYSTOLIC;
  o.batch = batch;
  o.systolic = c;
  Executor *e = NULL;
  int st = exec_create(g, &o, &e);
  if (!CHECK_INT_EQ(st, 0)) fprintf(stderr, "    %s\n", lstmc_errmsg());
  return e;
}

/* `steps` random tokens on each of `batch` streams: the executor's logits against the oracle's, bit for bit.
 * Returns the number of differing logits. */
static int64_t against_oracle(const Graph *g, const SystolicConfig *c, int batch, int steps, uint64_t seed) {
  Executor *e = systolic_exec(g, c, batch);
  if (!e) return -1;
  int64_t V = g->vocab_size, diff = 0;
  Oracle o[3];
  for (int b = 0; b < batch; b++) oracle_init(&o[b], g);
  float *got = lx_malloc((size_t)(batch * V) * sizeof *got), *want = lx_malloc((size_t)V * sizeof *want);
  Rng rng;
  rng_seed(&rng, seed);
  for (int s = 0; s < steps; s++) {
    int32_t tok[3];
    for (int b = 0; b < batch; b++) tok[b] = (int32_t)rng_below(&rng, (uint64_t)V);
    if (!CHECK(e->vt->step(e, tok, got) == 0)) break;
    for (int b = 0; b < batch; b++) {
      oracle_step(&o[b], tok[b], want);
      for (int64_t j = 0; j < V; j++) diff += memcmp(&got[b * V + j], &want[j], sizeof(float)) != 0;
    }
  }
  for (int b = 0; b < batch; b++) oracle_free(&o[b]);
  lx_free(got);
  lx_free(want);
  exec_destroy(e);
  return diff;
}

/* ---- tests --------------------------------------------------------------------------------------------- */

static void test_quantize(void) {
  Rng rng;
  rng_seed(&rng, 3);
  float x[257];
  int16_t q[257];
  int32_t want[257];
  for (int abits = 2; abits <= 16; abits++)
    for (int rep = 0; rep < 40; rep++) {
      int n = 1 + (int)rng_below(&rng, 256);
      for (int i = 0; i < n; i++) x[i] = (float)((rng_uniform(&rng) - 0.5) * pow(10, (double)rng_below(&rng, 5) - 2));
      if (rep == 0) memset(x, 0, sizeof x);                       /* amax 0 */
      if (rep == 1) for (int i = 0; i < n; i++) x[i] = (float)(i % 7) * 0.5f - 1.5f; /* halves: round to even */
      if (rep == 2) for (int i = 0; i < n; i++) x[i] = i % 3 ? 0.0f : 1e-40f; /* amax subnormal: inv is inf */
      float s1, s2;
      sa_quantize(x, n, abits, q, &s1);
      oracle_quantize(x, n, abits, want, &s2);
      int same = memcmp(&s1, &s2, sizeof s1) == 0;
      for (int i = 0; i < n; i++) same &= q[i] == want[i];
      if (!CHECK(same)) fprintf(stderr, "    abits %d rep %d\n", abits, rep);
    }
}

/* Every quantized format and layout, untied and tied, one and three streams. */
static void test_formats(void) {
  static const int layouts[] = {LX_LAYOUT_PACKED, LX_LAYOUT_DENSE, LX_LAYOUT_MASKED};
  static const int encs[] = {LX_ENC_Q8, LX_ENC_Q4, LX_ENC_TERNARY, LX_ENC_BINARY};
  int cases = 0;
  for (int li = 0; li < 3; li++)
    for (int ei = 0; ei < 4; ei++)
      for (int tied = 0; tied < 2; tied++) {
        Graph *g = st_graph(tied ? st_spec_tied : st_spec2, 13, layouts[li], encs[ei], 3, 40 + li * 8 + ei * 2 + tied);
        if (!g) continue;
        SystolicConfig c = st_config(32, 32);
        for (int batch = 1; batch <= 3; batch += 2) {
          int64_t d = against_oracle(g, &c, batch, 12, 7 + cases);
          if (!CHECK_INT_EQ(d, 0))
            fprintf(stderr, "    %s %s, batch %d\n", format_name(layouts[li], encs[ei]), tied ? "tied" : "untied", batch);
          cases++;
        }
        graph_free(g);
      }
  CHECK_INT_EQ(cases, 48);
}

/* The kernels this CPU can run (the ordered path, "portable", always). */
static const char *const kernels[] = {"avx512-vnni", "avx2", "portable"};

/* Groups of up to 16 inputs use the kernels' four tables; over 16 the ordered path; all exact. Small arrays
 * (many tiles) and every kernel give the same logits. */
static void test_group_sizes_and_paths(void) {
  static const char *wide = "model w { vocab chars; embed 40; lstm 36; decoder untied; }";
  for (int alpha = 1; alpha <= 24; alpha += (alpha < 4 ? 1 : 5)) {
    Graph *g = st_graph(wide, 11, LX_LAYOUT_PACKED, LX_ENC_Q8, alpha, 60 + alpha);
    if (!g) continue;
    for (int arr = 0; arr < 3; arr++) {
      SystolicConfig c = st_config(arr == 0 ? 32 : arr == 1 ? 3 : 7, arr == 0 ? 32 : arr == 1 ? 5 : 2);
      for (int k = 0; k < 3; k++) {
        if (sa_kernel_select(kernels[k])) continue;
        if (!CHECK_INT_EQ(against_oracle(g, &c, 1, 6, 5), 0))
          fprintf(stderr, "    alpha %d, array %dx%d, kernel %s\n", alpha, c.rows, c.cols, sa_kernel_name());
      }
      sa_kernel_select(NULL);
    }
    graph_free(g);
  }
}

/* Each kernel and the ordered path on random products: same accumulators. */
static void test_kernel(const char *kernel) {
  if (sa_kernel_select(kernel)) {
    printf("kernel %s: not on this CPU\n", kernel);
    return;
  }
  Rng rng;
  rng_seed(&rng, 11);
  int ran = 0;
  for (int caseno = 0; caseno < 200; caseno++) {
    int64_t R = 1 + (int64_t)rng_below(&rng, 70), C = 1 + (int64_t)rng_below(&rng, 90);
    TensorGenOpts o = {1 + (int)rng_below(&rng, 16), 1 + (int)rng_below(&rng, 5), C > 2 ? (int)rng_below(&rng, 3) : 0, 0};
    Tensor *t = tensor_gen_random("w", R, C, LX_LAYOUT_PACKED, caseno % 2 ? LX_ENC_Q8 : LX_ENC_Q4, &o, &rng);
    Graph *g = tensor_gen_graph(st_spec2, 13);
    if (!t || !g) {
      tensor_free(t);
      graph_free(g);
      continue;
    }
    /* the product alone, through a one-matrix program built by hand */
    SaProgram p;
    memset(&p, 0, sizeof p);
    sa_config_default(&p.cfg);
    p.cfg.abits = 2 + (int)rng_below(&rng, 7);
    SaProduct pr;
    memset(&pr, 0, sizeof pr);
    pr.rows = R;
    pr.cols = C;
    pr.ngroups = t->ngroups;
    pr.group_off = t->group_off;
    pr.group_cols = t->group_cols;
    pr.level = lx_calloc((size_t)(R * t->ngroups) + 1, 1);
    pr.sel = t->sel;
    for (int64_t r = 0; r < R; r++)
      for (int64_t k = 0; k < t->ngroups; k++) {
        pr.level[r * t->ngroups + k] = (int8_t)lx_decode_level(t->enc, t->codes + r * t->stride, (unsigned long)k);
        if (t->sel[r * t->ngroups + k] == LX_SEL_EMPTY) pr.level[r * t->ngroups + k] = 0;
      }
    for (int64_t k = 0; k < t->ngroups; k++)
      if (t->group_off[k + 1] - t->group_off[k] > pr.max_group) pr.max_group = t->group_off[k + 1] - t->group_off[k];
    CHECK(sa_kernel_layout(&pr, &p.cfg) == 0);
    int16_t q[100];
    int64_t a1[80], a2[80];
    uint8_t *scratch = lx_malloc(sa_kernel_table_bytes(&pr) + 64);
    for (int rep = 0; rep < 4; rep++) {
      st_random_q(q, C, p.cfg.abits, &rng);
      sa_product_acc_ordered(&pr, &p.cfg, q, a1);
      sa_product_acc(&pr, &p.cfg, q, scratch, a2);
      if (!CHECK(!memcmp(a1, a2, (size_t)R * sizeof *a1))) fprintf(stderr, "    %lldx%lld alpha %d\n", (long long)R, (long long)C, o.alpha);
    }
    ran += pr.kidx != NULL;
    lx_free(scratch);
    lx_free(pr.kidx);
    lx_free(pr.kw);
    lx_free(pr.kcorr);
    lx_free(pr.level);
    tensor_free(t);
    graph_free(g);
  }
  if (strcmp(kernel, "portable")) CHECK(ran > 150);
  printf("kernel %s: %d of 200 products laid out for the SIMD kernels\n", sa_kernel_name(), ran);
  sa_kernel_select(NULL);
}

/* The executor stepping every cell computes the same logits as the arithmetic functions. */
static void test_cell_sim_executor(void) {
  Graph *g = st_graph(st_spec2, 13, LX_LAYOUT_PACKED, LX_ENC_Q8, 3, 21);
  if (!g) return;
  for (int mode = 0; mode < 4; mode++) {
    SystolicConfig c = st_config(mode == 3 ? 2 : 3, mode == 3 ? 7 : 4);
    c.load = mode == 1 ? SA_LOAD_DOUBLE : SA_LOAD_SINGLE;
    c.resident = mode == 2 ? 500 : 0;
    c.gate_latency = mode;
    c.accbits = mode == 3 ? 12 : 32;
    c.gates = mode == 3 ? SA_GATES_PWL : SA_GATES_EXACT;
    c.gate_n = mode == 3 ? 8 : 0;
    SystolicConfig cs = c;
    cs.cell_sim = 1;
    int batch = 1 + mode % 2;
    Executor *e1 = systolic_exec(g, &c, batch), *e2 = systolic_exec(g, &cs, batch);
    if (!e1 || !e2) {
      exec_destroy(e1);
      exec_destroy(e2);
      continue;
    }
    float l1[2 * 13], l2[2 * 13];
    Rng rng;
    rng_seed(&rng, 4);
    int same = 1;
    for (int s = 0; s < 5; s++) {
      int32_t tok[2] = {(int32_t)rng_below(&rng, 13), (int32_t)rng_below(&rng, 13)};
      CHECK(e1->vt->step(e1, tok, l1) == 0);
      if (!CHECK(e2->vt->step(e2, tok, l2) == 0)) fprintf(stderr, "    %s\n", lstmc_errmsg());
      same &= !memcmp(l1, l2, (size_t)(batch * 13) * sizeof(float));
    }
    if (!CHECK(same)) fprintf(stderr, "    mode %d\n", mode);
    SaCycleStats s1, s2;
    int64_t sat1 = -1, sat2 = -2;
    CHECK(sa_exec_stats(e1, &s1, &sat1) == 0 && sa_exec_stats(e2, &s2, &sat2) == 0);
    CHECK_INT_EQ(sat1, sat2);
    if (mode == 3) CHECK(sat1 > 0);
    exec_destroy(e1);
    exec_destroy(e2);
  }
  graph_free(g);
}

/* Lookup table and piecewise-linear gates: within their error of the exact functions, saturating outside
 * their input range; exact gates are the C library's. */
static void test_gate_unit(void) {
  SaGateTables t;
  for (int kind = SA_GATES_LUT; kind <= SA_GATES_PWL; kind++)
    for (int n = 2; n <= 1024; n *= 4) {
      if (!CHECK(sa_gates_build(&t, kind, n) == 0)) continue;
      double ws = 16.0 / n, wt = 8.0 / n, es = 0, et = 0;
      for (double x = -12; x <= 12; x += 0.00390625) {
        es = fmax(es, fabs(sa_sigmoid(&t, x) - 1 / (1 + exp(-x))));
        et = fmax(et, fabs(sa_tanh(&t, x) - tanh(x)));
      }
      /* bounds: a table entry is off by at most its half width times the largest slope (sigmoid 1/4,
       * tanh 1), a segment by w²/8 times the largest curvature (0.0963, 0.770); both plus the fixed
       * point's half step, and outside the range the function's distance to its end value */
      double fix = 1.0 / 16384, tail_s = 1 / (1 + exp(8.0)), tail_t = 1 - tanh(4.0);
      double bs = kind == SA_GATES_LUT ? 0.25 * ws / 2 : 0.0963 * ws * ws / 8;
      double bt = kind == SA_GATES_LUT ? 1.0 * wt / 2 : 0.770 * wt * wt / 8;
      if (!CHECK(es <= fmax(bs, tail_s) + fix && et <= fmax(bt, tail_t) + fix))
        fprintf(stderr, "    %s:%d sigmoid %g (bound %g), tanh %g (bound %g)\n", kind == SA_GATES_LUT ? "lut" : "pwl", n,
                es, bs, et, bt);
      CHECK(sa_sigmoid(&t, NAN) == sa_sigmoid(&t, -100) || kind == SA_GATES_PWL);
      sa_gates_free(&t);
    }
  CHECK(sa_gates_build(&t, SA_GATES_EXACT, 0) == 0);
  CHECK(sa_sigmoid(&t, 0.3) == 1 / (1 + exp(-0.3)) && sa_tanh(&t, 0.3) == tanh(0.3));
  /* an approximate gate unit changes the logits, an exact one does not */
  Graph *g = st_graph(st_spec2, 13, LX_LAYOUT_PACKED, LX_ENC_Q8, 3, 31);
  if (g) {
    SystolicConfig c = st_config(8, 8);
    c.gates = SA_GATES_LUT;
    c.gate_n = 16;
    CHECK(against_oracle(g, &c, 1, 4, 1) > 0);
    graph_free(g);
  }
}

static void expect_refused(Graph *g, const SystolicConfig *c, const char *words) {
  SaProgram *p = NULL;
  int st = sa_program_build(g, c, &p);
  CHECK_INT_EQ(st, LSTMC_ERR_UNSUPPORTED);
  CHECK_CONTAINS(lstmc_errmsg(), words);
  CHECK(p == NULL);
  ExecOptions o = {0};
  o.target = TARGET_SYSTOLIC;
  o.systolic = c;
  o.allow_fallback = 0;
  Executor *e = NULL;
  CHECK_INT_EQ(exec_create(g, &o, &e), LSTMC_ERR_UNSUPPORTED);
  CHECK(e == NULL);
}

static int run(Graph *g, const char *pipeline) {
  Diag d;
  diag_init(&d);
  PipelineOptions po = {0};
  return pipeline_run_text(g, pipeline, "test", &po, &d);
}

static void test_refusals(void) {
  SystolicConfig c = st_config(8, 8);
  Graph *g = tensor_gen_graph("model r { vocab bytes; embed 16; lstm 16; decoder tied; }", 0);
  if (!CHECK(g != NULL) || !CHECK(weights_init(g, 2) == 0)) return;
  expect_refused(g, &c, "tensor 'rnns.0.weight_hh_l0' is dense_f32; the array multiplies integer levels");
  /* grouped with conflicts */
  CHECK(run(g, "prune{sparsity=0.5},column-combine{alpha=4,gamma=1},quantize{bits=8}") == 0);
  expect_refused(g, &c, "conflicts in its column groups");
  CHECK_CONTAINS(lstmc_errmsg(), "run conflict-prune first");
  graph_free(g);
  /* grouped without conflicts (gamma 0) runs, and gives the logits of the same model packed */
  g = tensor_gen_graph("model r { vocab bytes; embed 16; lstm 16; decoder tied; }", 0);
  CHECK(weights_init(g, 2) == 0);
  CHECK(run(g, "prune{sparsity=0.8},column-combine{alpha=4,gamma=0},quantize{bits=8}") == 0);
  Graph *packed = graph_clone(g);
  CHECK(run(packed, "conflict-prune") == 0);
  CHECK_INT_EQ(against_oracle(g, &c, 1, 5, 3), 0);
  Executor *e1 = systolic_exec(g, &c, 1), *e2 = systolic_exec(packed, &c, 1);
  if (e1 && e2) {
    float a[256], b[256];
    int32_t tok = 65;
    CHECK(e1->vt->step(e1, &tok, a) == 0 && e2->vt->step(e2, &tok, b) == 0);
    CHECK(!memcmp(a, b, sizeof a));
  }
  exec_destroy(e1);
  exec_destroy(e2);
  /* groups wider than the cells' multiplexers */
  SystolicConfig narrow = c;
  narrow.alpha = 2;
  expect_refused(packed, &narrow, "column groups of up to 3 columns, but the array's cells multiplex alpha = 2 inputs");
  /* levels wider than the weight registers */
  SystolicConfig w4 = c;
  w4.wbits = 4;
  expect_refused(packed, &w4, "which need 8-bit weight registers; the array has wbits = 4");
  graph_free(packed);
  graph_free(g);
  /* ternary levels fit 1-bit registers: zeros are empty cells */
  g = st_graph(st_spec2, 13, LX_LAYOUT_PACKED, LX_ENC_TERNARY, 3, 8);
  SystolicConfig w1 = c;
  w1.wbits = 1;
  CHECK_INT_EQ(against_oracle(g, &w1, 1, 3, 2), 0);
  graph_free(g);
  /* settings out of range */
  SystolicConfig bad = c;
  bad.abits = 1;
  CHECK_INT_EQ(sa_config_check(&bad), LSTMC_ERR_USAGE);
  CHECK_CONTAINS(lstmc_errmsg(), "abits must be in [2, 16], not 1");
  int kind, n;
  CHECK_INT_EQ(sa_gates_parse("lut:1", &kind, &n), LSTMC_ERR_USAGE);
  CHECK_CONTAINS(lstmc_errmsg(), "'lut:1': a lookup table needs a count in [2, 65536]");
  CHECK_INT_EQ(sa_gates_parse("tanh", &kind, &n), LSTMC_ERR_USAGE);
  CHECK(sa_gates_parse("pwl:8", &kind, &n) == 0 && kind == SA_GATES_PWL && n == 8);
}

int main(void) {
  test_quantize();
  test_formats();
  test_group_sizes_and_paths();
  for (int k = 0; k < 3; k++) test_kernel(kernels[k]);
  test_cell_sim_executor();
  test_gate_unit();
  test_refusals();
  return tu_summary("systolic_arith");
}
