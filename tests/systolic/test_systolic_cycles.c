/* The tile model (sa_cycles.c) against the cell-by-cell simulation (sa_cellsim.c), which steps every
 * register of every cell:
 *  - on random small models, arrays from 1×1 to 5×6, one to three streams, single and double buffering,
 *    resident weights, gate latencies, two tokens: the model's schedule runs without a hazard, every
 *    accumulator equals the ordered arithmetic (sa_product_acc_ordered), every product finishes in the cycle
 *    the model says, and the multiplies are the nonzero weights;
 *  - the schedule is tight: starting any tile, load or swap one cycle earlier makes the simulation find a
 *    hazard (or wrong sums);
 *  - saturating accumulators (accbits 8..12) give the same sums cell by cell as the ordered path;
 *  - `lstmc report`'s cycles equal the model's per-token cycles less its waits for input vectors, and exactly
 *    when no tile waits (full tiles); the worked example of docs/systolic.md;
 *  - the statistics: busy + stalls = cycles per token, utilization, resident preload. */
#include <math.h>
#include <stdlib.h>

#include "passes/pipeline.h"
#include "passes/report.h"
#include "support/json.h"
#include "systest.h"

/* Runs the cell simulation of p over the schedule times (ntok tokens, streams) with the inputs q[job];
 * fills acc[job]. Returns the result (done allocated). */
static SaCellResult simulate(const SaProgram *p, int64_t streams, int ntok, const SaTileTime *times, int16_t **q,
                             int64_t **acc) {
  SaCellJob *jobs = lx_malloc((size_t)(ntok * p->nproducts) * sizeof *jobs);
  for (int t = 0; t < ntok; t++)
    for (int i = 0; i < p->nproducts; i++) {
      SaCellJob *j = &jobs[t * p->nproducts + i];
      j->token = t;
      j->product = i;
      j->q = q[t * p->nproducts + i];
      j->acc = acc[t * p->nproducts + i];
    }
  SaCellResult res;
  CHECK(sa_cellsim_run(p, streams, ntok, times, jobs, NULL, NULL, &res) == 0);
  lx_free(jobs);
  return res;
}

/* 1 when every accumulator equals the ordered arithmetic on the same inputs. */
static int sums_match(const SaProgram *p, int64_t streams, int ntok, int16_t **q, int64_t **acc) {
  int ok = 1;
  for (int t = 0; t < ntok; t++)
    for (int i = 0; i < p->nproducts; i++) {
      const SaProduct *pr = &p->products[i];
      int64_t *want = lx_malloc((size_t)pr->rows * sizeof *want);
      for (int64_t v = 0; v < streams; v++) {
        sa_product_acc_ordered(pr, &p->cfg, q[t * p->nproducts + i] + v * pr->cols, want);
        if (memcmp(want, acc[t * p->nproducts + i] + v * pr->rows, (size_t)pr->rows * sizeof *want)) ok = 0;
      }
      lx_free(want);
    }
  return ok;
}

/* The model's cycle at which product i of token t is done: its last tile's output, or (no tiles) -1. */
static int64_t model_done(const SaProgram *p, const SaTileTime *tt, int t, int i) {
  const SaProduct *pr = &p->products[i];
  int64_t d = -1;
  for (int64_t k = pr->first_tile; k < pr->first_tile + pr->ntiles; k++)
    if (tt[t * p->ntiles + k].done > d) d = tt[t * p->ntiles + k].done;
  return d;
}

static int checked_programs, tightness_runs;

/* The whole check of one program: schedule, simulate, compare; with `tight`, every event one cycle earlier. */
static void check_program(const SaProgram *p, int64_t streams, int ntok, int tight, Rng *rng, const char *what) {
  int64_t nt = p->ntiles, nj = ntok * p->nproducts;
  SaTileTime *tt = lx_malloc((size_t)(ntok * nt + 1) * sizeof *tt), *t2 = lx_malloc((size_t)(ntok * nt + 1) * sizeof *t2);
  int16_t **q = lx_calloc((size_t)nj, sizeof *q);
  int64_t **acc = lx_calloc((size_t)nj, sizeof *acc);
  for (int64_t j = 0; j < nj; j++) {
    const SaProduct *pr = &p->products[j % p->nproducts];
    q[j] = lx_malloc((size_t)(streams * pr->cols + 1) * sizeof **q);
    acc[j] = lx_malloc((size_t)(streams * pr->rows + 1) * sizeof **acc);
    st_random_q(q[j], streams * pr->cols, p->cfg.abits, rng);
  }
  CHECK(sa_schedule(p, streams, ntok, 0, tt) == 0);
  SaCellResult res = simulate(p, streams, ntok, tt, q, acc);
  checked_programs++;
  if (!CHECK_INT_EQ(res.hazards, 0)) fprintf(stderr, "    %s: %s\n", what, res.first_hazard);
  if (!CHECK(sums_match(p, streams, ntok, q, acc))) fprintf(stderr, "    %s: sums differ\n", what);
  int64_t last = 0, macs = 0;
  for (int t = 0; t < ntok; t++)
    for (int i = 0; i < p->nproducts; i++) {
      int64_t d = model_done(p, tt, t, i);
      if (d < 0) continue;
      if (!CHECK_INT_EQ(res.done[t * p->nproducts + i], d)) fprintf(stderr, "    %s: token %d product %d\n", what, t, i);
      if (d > last) last = d;
    }
  for (int i = 0; i < p->nproducts; i++) macs += p->products[i].nnz * streams * ntok;
  CHECK_INT_EQ(res.cycles, last);
  CHECK_INT_EQ(res.macs, macs);
  lx_free(res.done);
  if (tight) {
    int resident = p->cfg.resident > 0 && p->ntiles <= p->cfg.resident;
    for (int64_t g = 0; g < ntok * nt; g++)
      for (int field = 0; field < 3; field++) {
        memcpy(t2, tt, (size_t)(ntok * nt) * sizeof *tt);
        int64_t *f = field == 0 ? &t2[g].start : field == 1 ? &t2[g].load : &t2[g].swap;
        if (*f <= 0 || (field > 0 && resident)) continue; /* no such event, or it is at cycle 0 */
        (*f)--;
        SaCellResult r2 = simulate(p, streams, ntok, t2, q, acc);
        tightness_runs++;
        if (!CHECK(r2.hazards > 0 || !sums_match(p, streams, ntok, q, acc)))
          fprintf(stderr, "    %s: tile %lld's %s one cycle earlier goes unnoticed\n", what, (long long)g,
                  field == 0 ? "start" : field == 1 ? "load" : "swap");
        lx_free(r2.done);
      }
  }
  for (int64_t j = 0; j < nj; j++) {
    lx_free(q[j]);
    lx_free(acc[j]);
  }
  lx_free(q);
  lx_free(acc);
  lx_free(tt);
  lx_free(t2);
}

static void test_random_programs(void) {
  Rng rng;
  rng_seed(&rng, 17);
  static const int encs[] = {LX_ENC_Q8, LX_ENC_Q4, LX_ENC_TERNARY, LX_ENC_BINARY};
  for (int caseno = 0; caseno < 60; caseno++) {
    int layout = caseno % 5 == 4 ? LX_LAYOUT_MASKED : LX_LAYOUT_PACKED;
    int alpha = 1 + (int)rng_below(&rng, 4);
    Graph *g = st_graph(caseno % 7 == 6 ? st_spec_tied : st_spec2, 13, layout, encs[caseno % 4], alpha, 100 + caseno);
    if (!g) continue;
    SystolicConfig c = st_config(1 + (int)rng_below(&rng, 5), 1 + (int)rng_below(&rng, 6));
    c.load = (caseno / 2) % 2 ? SA_LOAD_DOUBLE : SA_LOAD_SINGLE;
    c.gate_latency = (int64_t)rng_below(&rng, 4);
    if (caseno % 6 == 5) c.resident = 1000; /* every tile fits */
    if (caseno % 9 == 8) c.accbits = 8 + (int)rng_below(&rng, 5), c.abits = 6 + (int)rng_below(&rng, 3);
    SaProgram *p = st_program(g, &c);
    if (p) {
      char what[160];
      snprintf(what, sizeof what, "case %d: %dx%d %s%s latency %lld accbits %d", caseno, c.rows, c.cols,
               sa_load_name(c.load), c.resident ? " resident" : "", (long long)c.gate_latency, c.accbits);
      check_program(p, 1 + caseno % 3, 2, caseno < 24, &rng, what);
    }
    sa_program_free(p);
    graph_free(g);
  }
}

/* Saturation is the same cell by cell as in the ordered path, and it does happen here. */
static void test_saturation(void) {
  Rng rng;
  rng_seed(&rng, 5);
  Graph *g = st_graph(st_spec2, 13, LX_LAYOUT_PACKED, LX_ENC_Q8, 3, 7);
  if (!g) return;
  SystolicConfig c = st_config(3, 4);
  c.accbits = 10;
  SaProgram *p = st_program(g, &c);
  if (p) {
    int sat = 0;
    for (int i = 0; i < p->nproducts; i++) sat |= p->products[i].may_saturate;
    CHECK(sat);
    check_program(p, 2, 2, 0, &rng, "saturating 10-bit accumulators");
    /* the ordered path really clips */
    int16_t q[16];
    int64_t acc[32], nsat = 0;
    for (int i = 0; i < 16; i++) q[i] = 127;
    for (int i = 0; i < p->nproducts; i++) nsat += sa_product_acc_ordered(&p->products[i], &p->cfg, q, acc);
    CHECK(nsat > 0);
  }
  sa_program_free(p);
  graph_free(g);
}

/* busy + stalls = cycles per token; utilization; resident preload and the single-buffer load cycles. */
static void test_stats(void) {
  Graph *g = st_graph(st_spec2, 13, LX_LAYOUT_PACKED, LX_ENC_Q8, 3, 9);
  if (!g) return;
  for (int mode = 0; mode < 3; mode++) {
    SystolicConfig c = st_config(2, 3);
    c.load = mode == 1 ? SA_LOAD_DOUBLE : SA_LOAD_SINGLE;
    c.resident = mode == 2 ? 100 : 0;
    c.gate_latency = 2;
    SaProgram *p = st_program(g, &c);
    if (!p) continue;
    SaCycleStats s;
    CHECK(sa_cycle_stats(p, 1, &s) == 0);
    CHECK_INT_EQ(s.busy + s.weight_stall + s.data_stall, s.cycles_per_token);
    CHECK(s.cycles_per_token > 0 && s.gen_cycles_per_token >= s.cycles_per_token);
    CHECK(fabs(s.utilization - (double)s.macs / (6.0 * (double)s.cycles_per_token)) < 1e-12);
    int64_t rows = 0;
    for (int64_t k = 0; k < p->ntiles; k++) rows += p->tiles[k].a;
    if (mode == 2) {
      CHECK(s.resident);
      CHECK_INT_EQ(s.preload_cycles, rows);
      CHECK_INT_EQ(s.weight_stall, 0);
      CHECK_INT_EQ(s.load_cycles, 0);
    } else {
      CHECK(!s.resident);
      CHECK_INT_EQ(s.load_cycles, rows);
    }
    if (mode == 0) CHECK(s.weight_stall >= rows); /* every load stops the array */
    /* the first token starts from an empty array: it is slower than the steady state only by loading */
    CHECK(s.first_token_cycles > 0);
    sa_program_free(p);
  }
  /* double buffering hides loads, resident weights remove them: each is faster than the one before */
  int64_t cyc[3];
  for (int mode = 0; mode < 3; mode++) {
    SystolicConfig c = st_config(4, 4);
    c.load = mode == 1 ? SA_LOAD_DOUBLE : SA_LOAD_SINGLE;
    c.resident = mode == 2 ? 100 : 0;
    SaProgram *p = st_program(g, &c);
    SaCycleStats s;
    cyc[mode] = p && sa_cycle_stats(p, 1, &s) == 0 ? s.cycles_per_token : -1;
    sa_program_free(p);
  }
  if (!CHECK(cyc[0] > cyc[1] && cyc[1] > cyc[2] && cyc[2] > 0))
    fprintf(stderr, "    single %lld, double %lld, resident %lld\n", (long long)cyc[0], (long long)cyc[1], (long long)cyc[2]);
  graph_free(g);
}

/* The report counts, per tile, its load and one vector through: the model's per-token cycles less the waits
 * for input vectors (single buffering, one stream). */
static void test_report_agrees(void) {
  static const struct {
    const char *spec;
    int rows, cols;
    const char *pipeline;
  } cases[] = {
      {"model r { vocab bytes; embed 32; lstm 48; lstm 32; decoder tied; }", 8, 8,
       "prune{sparsity=0.7},column-combine{alpha=4,gamma=0.5},conflict-prune,quantize{bits=8}"},
      {"model r { vocab bytes; embed 16; lstm 24; lstm 16; decoder untied; }", 5, 7,
       "prune{sparsity=0.8},column-combine{alpha=8,gamma=0.5},conflict-prune,quantize{bits=4}"},
      {"model r { vocab bytes; embed 32; lstm 32; decoder tied; }", 8, 16, "quantize{bits=8}"},
  };
  for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
    Graph *g = tensor_gen_graph(cases[ci].spec, 0);
    if (!CHECK(g != NULL) || !CHECK(weights_init(g, 3 + ci) == 0)) {
      graph_free(g);
      continue;
    }
    Diag d;
    diag_init(&d);
    PipelineOptions po = {0};
    if (!CHECK(pipeline_run_text(g, cases[ci].pipeline, "test", &po, &d) == 0)) {
      graph_free(g);
      continue;
    }
    StrBuf sb;
    sb_init(&sb);
    CHECK(report_systolic(g, cases[ci].rows, cases[ci].cols, 1, &sb) == 0);
    Json *j = NULL;
    CHECK(json_parse(sb.data, sb.len, &j, NULL, 0) == JSON_OK);
    int64_t report_cycles = -1;
    json_as_i64(json_get(json_get(j, "total"), "cycles_after"), &report_cycles);
    json_free(j);
    sb_free(&sb);
    SystolicConfig c = st_config(cases[ci].rows, cases[ci].cols);
    SaProgram *p = st_program(g, &c);
    SaCycleStats s;
    if (p && CHECK(sa_cycle_stats(p, 1, &s) == 0)) {
      CHECK_INT_EQ(report_cycles, s.cycles_per_token - s.data_stall);
      if (ci == 2) CHECK_INT_EQ(s.data_stall, 0); /* full tiles: nothing waits */
    }
    sa_program_free(p);
    graph_free(g);
  }
}

/* docs/systolic.md's worked example: W (4 outputs × 4 inputs) combined into 2 groups on a 2×2 array. */
static void test_worked_example(void) {
  Graph *g = tensor_gen_graph("model w { vocab chars; embed 4; lstm 1; decoder untied; }", 4);
  if (!CHECK(g != NULL) || !CHECK(weights_init(g, 1) == 0)) {
    graph_free(g);
    return;
  }
  /* W_ih of the one layer: 4 × 4, groups {0, 2} and {1, 3} */
  int slot = graph_find_slot(g, "rnns.0.weight_ih_l0");
  Tensor *t = tensor_new("rnns.0.weight_ih_l0", 2, 4, 4, LX_LAYOUT_PACKED, LX_ENC_Q8, 2, 4);
  static const int32_t cols[] = {0, 2, 1, 3};
  static const int8_t lev[4][2] = {{3, -1}, {0, 2}, {-4, 5}, {1, 0}};
  static const uint8_t sel[4][2] = {{1, 0}, {LX_SEL_EMPTY, 1}, {0, 1}, {1, LX_SEL_EMPTY}};
  t->group_off[0] = 0, t->group_off[1] = 2, t->group_off[2] = 4;
  memcpy(t->group_cols, cols, sizeof cols);
  for (int r = 0; r < 4; r++) {
    t->scale[r] = 0.01f;
    for (int k = 0; k < 2; k++) {
      t->sel[r * 2 + k] = sel[r][k];
      tensor_set_level(t, r, k, lev[r][k]);
    }
  }
  t->alpha = 2;
  graph_set_tensor(g, slot, t);
  Diag d;
  diag_init(&d);
  PipelineOptions po = {0};
  CHECK(pipeline_run_text(g, "quantize{bits=8,skip=rnns.0.weight_ih_l0}", "test", &po, &d) == 0);
  SystolicConfig c = st_config(2, 2);
  SaProgram *p = st_program(g, &c);
  if (p) {
    const SaProduct *ih = &p->products[p->layers[0].w_ih];
    CHECK_INT_EQ(ih->ngroups, 2);
    CHECK_INT_EQ(ih->ntiles, 2); /* one row block of 2 groups, two column blocks of 2 outputs */
    int16_t q[4] = {10, -20, 30, 40};
    int64_t acc[4];
    sa_product_acc_ordered(ih, &p->cfg, q, acc);
    /* row 0: 3·q[2] + (−1)·q[1]; row 1: 2·q[3]; row 2: −4·q[0] + 5·q[3]; row 3: 1·q[2] */
    CHECK_INT_EQ(acc[0], 3 * 30 + -1 * -20);
    CHECK_INT_EQ(acc[1], 2 * 40);
    CHECK_INT_EQ(acc[2], -4 * 10 + 5 * 40);
    CHECK_INT_EQ(acc[3], 1 * 30);
    /* the tiles of W_ih alone: T0 = 2 (its two rows shifted in), last multiply at T0 + 1 + 2 + 2 − 2 − 1,
     * next load one cycle later, T1 = T0 + 3 + 2 = 7; done = T + 1 + 2 + 2 − 2 */
    SaTileTime tt[64];
    CHECK(p->ntiles < 64);
    CHECK(sa_schedule(p, 1, 1, 0, tt) == 0);
    int64_t k0 = ih->first_tile;
    /* the first product, W_hh (4 × 1), runs first; W_ih's tiles follow it */
    const SaTileTime *a = &tt[k0], *b = &tt[k0 + 1];
    CHECK_INT_EQ(b->load, a->last_mac + 1);
    CHECK_INT_EQ(b->start, b->load + 2);
    CHECK_INT_EQ(a->last_mac, a->start + 2);
    CHECK_INT_EQ(a->done, a->start + 3);
    CHECK_INT_EQ(b->start - a->start, 5); /* 2a + b − 1 with a = b = 2 */
    /* double buffering: the second tile's rows shift in while the first multiplies; it starts when the first
     * is done multiplying (span = n + a + b − 2 = 3 cycles later). Resident weights: one cycle later. */
    for (int mode = 1; mode <= 2; mode++) {
      SystolicConfig c2 = c;
      c2.load = SA_LOAD_DOUBLE;
      c2.resident = mode == 2 ? 100 : 0;
      SaProgram *p2 = st_program(g, &c2);
      if (!p2) continue;
      CHECK(sa_schedule(p2, 1, 1, 0, tt) == 0);
      int64_t k = p2->products[p2->layers[0].w_ih].first_tile;
      CHECK_INT_EQ(tt[k + 1].start - tt[k].start, mode == 1 ? 3 : 1);
      if (mode == 1) CHECK_INT_EQ(tt[k + 1].swap, tt[k + 1].start);
      sa_program_free(p2);
    }
  }
  sa_program_free(p);
  graph_free(g);
}

int main(void) {
  test_random_programs();
  test_saturation();
  test_stats();
  test_report_agrees();
  test_worked_example();
  printf("%d programs simulated cell by cell, %d tightness runs\n", checked_programs, tightness_runs);
  return tu_summary("systolic_cycles");
}
