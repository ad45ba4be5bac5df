/* The systolic executor against the integer reference of issue 15 (ir/qdot.h) and the reference executor
 * that uses it: with the default array (8-bit weights and activations, 32-bit accumulators, exact gates),
 *  - every product's accumulators equal qdot_row's on the same input, and the quantized input equals
 *    qdot_quantize's, for every quantized format and layout;
 *  - on weights whose matrices carry act_bits = 8 the logits equal the reference executor's bit for bit, step
 *    after step, for untied and tied models, one and three streams. */
#include <stdlib.h>

#include "codegen/backend.h"
#include "ir/qdot.h"
#include "systest.h"

/* Every 2-D weight of the graph multiplies int8 activations. */
static void set_act_bits(Graph *g) {
  for (int i = 0; i < g->nslots; i++)
    if (g->slots[i].ndim == 2 && lx_enc_has_scale(g->slots[i].t->enc)) g->slots[i].t->act_bits = 8;
  CHECK(graph_verify(g) == 0);
}

/* The accumulators of each product on random inputs against qdot_row; the quantization against qdot's. */
static void test_products(const Graph *g, const SaProgram *p, Rng *rng) {
  for (int i = 0; i < p->nproducts; i++) {
    const SaProduct *pr = &p->products[i];
    const Tensor *t = g->slots[graph_find_slot(g, pr->name)].t;
    float *x = lx_malloc((size_t)pr->cols * sizeof *x), s1, s2;
    int16_t *q = lx_malloc((size_t)pr->cols * sizeof *q);
    int8_t *q8 = lx_malloc((size_t)pr->cols);
    int64_t *acc = lx_malloc((size_t)pr->rows * sizeof *acc);
    uint8_t *scratch = lx_malloc(sa_kernel_table_bytes(pr) + 64);
    for (int rep = 0; rep < 5; rep++) {
      for (int64_t c = 0; c < pr->cols; c++) x[c] = (float)(rng_uniform(rng) * 2 - 1) * (rep ? 1.0f : 0.0f);
      sa_quantize(x, pr->cols, 8, q, &s1);
      s2 = qdot_quantize(x, pr->cols, q8);
      int same = !memcmp(&s1, &s2, sizeof s1);
      for (int64_t c = 0; c < pr->cols; c++) same &= q[c] == q8[c];
      CHECK(same);
      sa_product_acc(pr, &p->cfg, q, scratch, acc);
      int eq = 1;
      for (int64_t r = 0; r < pr->rows; r++) eq &= acc[r] == qdot_row(t, r, q8);
      if (!CHECK(eq)) fprintf(stderr, "    %s (%s)\n", pr->name, format_name(t->layout, t->enc));
    }
    lx_free(x);
    lx_free(q);
    lx_free(q8);
    lx_free(acc);
    lx_free(scratch);
  }
}

static void test_logits(const Graph *g, int batch) {
  ExecOptions o = {0};
  o.batch = batch;
  Executor *ref = NULL, *sys = NULL;
  o.target = TARGET_REF;
  CHECK(exec_create(g, &o, &ref) == 0);
  o.target = TARGET_SYSTOLIC;
  CHECK(exec_create(g, &o, &sys) == 0);
  if (!ref || !sys) {
    exec_destroy(ref);
    exec_destroy(sys);
    return;
  }
  int64_t V = g->vocab_size;
  float *a = lx_malloc((size_t)(batch * V) * sizeof *a), *b = lx_malloc((size_t)(batch * V) * sizeof *b);
  int same = 1;
  for (int s = 0; s < 15; s++) {
    int32_t tok[3] = {(int32_t)(s * 5 % V), (int32_t)((s * 3 + 1) % V), (int32_t)((s * 7 + 2) % V)};
    CHECK(ref->vt->step(ref, tok, a) == 0 && sys->vt->step(sys, tok, b) == 0);
    same &= !memcmp(a, b, (size_t)(batch * V) * sizeof *a);
  }
  CHECK(same);
  lx_free(a);
  lx_free(b);
  exec_destroy(ref);
  exec_destroy(sys);
}

int main(void) {
  static const int layouts[] = {LX_LAYOUT_PACKED, LX_LAYOUT_DENSE, LX_LAYOUT_MASKED};
  static const int encs[] = {LX_ENC_Q8, LX_ENC_Q4, LX_ENC_TERNARY, LX_ENC_BINARY};
  Rng rng;
  rng_seed(&rng, 15);
  for (int li = 0; li < 3; li++)
    for (int ei = 0; ei < 4; ei++)
      for (int tied = 0; tied < 2; tied++) {
        Graph *g = st_graph(tied ? st_spec_tied : st_spec2, 13, layouts[li], encs[ei], 3, 500 + li * 8 + ei * 2 + tied);
        if (!g) continue;
        set_act_bits(g);
        SystolicConfig c = st_config(32, 32);
        SaProgram *p = st_program(g, &c);
        if (p) test_products(g, p, &rng);
        sa_program_free(p);
        test_logits(g, 1);
        test_logits(g, 3);
        graph_free(g);
      }
  return tu_summary("systolic_qdot");
}
