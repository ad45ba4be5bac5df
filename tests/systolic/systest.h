/* Helpers shared by the systolic tests: small models whose LSTM and decoder matrices are random tensors in a
 * quantized format (tests/tensor_gen.h), programs built from them under a given array, and random quantized
 * input vectors. Header-only (each test is one translation unit). */
#ifndef LSTMC_TESTS_SYSTOLIC_SYSTEST_H
#define LSTMC_TESTS_SYSTOLIC_SYSTEST_H
#include <stdio.h>
#include <string.h>

#include "codegen/systolic/systolic.h"
#include "runtime/weights.h"
#include "tensor_gen.h"
#include "testutil.h"

/* Two layers, untied; with V = 13 the decoder is 13 × 4. */
static const char *const st_spec2 = "model t { vocab chars; embed 6; lstm 5; lstm 4; decoder untied; }";
/* One layer, tied (the decoder is the embedding, dense). */
static const char *const st_spec_tied = "model t { vocab chars; embed 7; lstm 7; decoder tied; }";

/* A graph of the spec with vocabulary V whose matrices (the embedding too) are random in layout × enc,
 * column groups of `alpha`, a quarter of the packed slots empty, PyTorch-sized values. NULL on failure. */
static inline Graph *st_graph(const char *spec, int64_t V, int layout, int enc, int alpha, uint64_t seed) {
  Graph *g = tensor_gen_graph(spec, V);
  if (!CHECK(g != NULL)) return NULL;
  Rng rng;
  rng_seed(&rng, seed);
  TensorGenOpts o = {alpha, 4, 1, 1};
  if (!CHECK(weights_init(g, seed) == 0) || !CHECK(tensor_gen_weights(g, layout, enc, &o, 1, &rng) == 0)) {
    graph_free(g);
    return NULL;
  }
  /* nonzero biases, so that they take part */
  for (int i = 0; i < g->nslots; i++)
    if (g->slots[i].ndim == 1)
      for (int64_t j = 0; j < g->slots[i].rows; j++) tensor_f32(g->slots[i].t)[j] = (float)(rng_uniform(&rng) - 0.5) * 0.2f;
  CHECK(graph_verify(g) == 0);
  return g;
}

static inline SystolicConfig st_config(int rows, int cols) {
  SystolicConfig c;
  sa_config_default(&c);
  c.rows = rows;
  c.cols = cols;
  return c;
}

static inline SaProgram *st_program(const Graph *g, const SystolicConfig *c) {
  SaProgram *p = NULL;
  int st = sa_program_build(g, c, &p);
  if (!CHECK_INT_EQ(st, 0)) fprintf(stderr, "    %s\n", lstmc_errmsg());
  return p;
}

/* n random quantized values in ±(2^(abits−1) − 1). */
static inline void st_random_q(int16_t *q, int64_t n, int abits, Rng *rng) {
  int64_t Q = ((int64_t)1 << (abits - 1)) - 1;
  for (int64_t i = 0; i < n; i++) q[i] = (int16_t)((int64_t)rng_below(rng, (uint64_t)(2 * Q + 1)) - Q);
}

#endif
