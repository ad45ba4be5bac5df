/* quantize alone: for bits 8, 4, 2, 1, nearest and stochastic rounding, on dense, masked (pruned) and
 * column-packed weights of many shapes, every weight is within its format's error bound (passes/quantize.c
 * states them), computed here from the weights before and the scale stored; zeros stay exactly zero
 * (binary keeps the mask, leaves empty packed slots empty, and turns a dense matrix with zeros masked);
 * stochastic rounding is unbiased: over 1000 seeds the mean of every weight is within 6 standard errors of
 * the weight, and the mean error over all weights too; the same seed gives the same result; groups stay attached; quantized input is an error. */
#include "passtest.h"

static const char *const bits_text[4] = {"8", "4", "2", "1"};
static const int bits_enc[4] = {LX_ENC_Q8, LX_ENC_Q4, LX_ENC_TERNARY, LX_ENC_BINARY};

/* Checks every row of q (quantized) against d (the dense weights before). */
static void check_bounds(const float *d, const Tensor *q, int enc, int stochastic, const char *what) {
  int64_t rows = q->rows, cols = q->cols;
  float *e = pt_dense(q);
  int ok = 1;
  for (int64_t r = 0; r < rows && ok; r++) {
    const float *v = d + r * cols, *w = e + r * cols;
    double m = 0, sum = 0, s = q->scale[r];
    int64_t kept = 0;
    for (int64_t c = 0; c < cols; c++) {
      m = fmax(m, fabs(v[c]));
      sum += fabs(v[c]);
      kept += v[c] != 0.0f;
    }
    double bound = 0, slack = 1e-6 * m + 1e-30;
    if (enc == LX_ENC_Q8 || enc == LX_ENC_Q4) {
      double Q = enc == LX_ENC_Q8 ? 127 : 7;
      ok &= CHECK(m == 0 || (s * Q >= m && s * Q <= m * (1 + 1e-6)));
      bound = stochastic ? s : s / 2;
    } else if (stochastic) {
      ok &= CHECK(s == m);
      bound = enc == LX_ENC_TERNARY ? m : 2 * m;
    } else if (enc == LX_ENC_BINARY) {
      double alpha = kept ? sum / (double)kept : 0;
      ok &= CHECK(fabs(s - alpha) <= 1e-6 * alpha);
      bound = fmax(alpha, m - alpha);
    } else {
      double delta = kept ? 0.7 * sum / (double)kept : 0, big = 0;
      int64_t nbig = 0;
      for (int64_t c = 0; c < cols; c++)
        if (fabs(v[c]) > delta) big += fabs(v[c]), nbig++;
      double alpha = nbig ? big / (double)nbig : 0;
      ok &= CHECK(fabs(s - alpha) <= 1e-6 * alpha);
      bound = fmax(delta, fmax(alpha - delta, m - alpha));
    }
    for (int64_t c = 0; c < cols; c++) {
      if (v[c] == 0.0f) ok &= CHECK(w[c] == 0.0f); /* zeros stay zero */
      double err = fabs((double)v[c] - (double)w[c]);
      if (!(err <= bound + slack)) {
        ok &= CHECK(err <= bound + slack);
        fprintf(stderr, "    %s row %lld col %lld: |%g - %g| = %g > bound %g\n", what, (long long)r, (long long)c, v[c],
                w[c], err, bound);
      }
    }
  }
  if (!ok) fprintf(stderr, "    in %s\n", what);
  lx_free(e);
}

/* The three layouts of the graph's recurrent matrices: dense (as initialized), masked (pruned), packed. */
static const char *const layouts[3] = {"", "prune{sparsity=0.6},", "prune{sparsity=0.6},column-combine{alpha=4},conflict-prune,"};
static const int layout_of[3] = {LX_LAYOUT_DENSE, LX_LAYOUT_MASKED, LX_LAYOUT_PACKED};

static void test_bounds(void) {
  static const char *const specs[] = {"model a { vocab bytes; embed 5; lstm 7; decoder untied; }",
                                      "model b { vocab bytes; embed 64; lstm 33; lstm 64; decoder tied; }"};
  for (size_t sp = 0; sp < 2; sp++)
    for (int l = 0; l < 3; l++)
      for (int b = 0; b < 4; b++)
        for (int stochastic = 0; stochastic < 2; stochastic++) {
          Graph *g = pt_graph(specs[sp], 17 + sp);
          if (!g) return;
          char pipe[256];
          snprintf(pipe, sizeof pipe, "%squantize{bits=%s,rounding=%s,seed=3}", layouts[l], bits_text[b],
                   stochastic ? "stochastic" : "nearest");
          /* the weights just before quantize */
          Graph *before = graph_clone(g);
          size_t prefix = strlen(layouts[l]);
          if (prefix) {
            char pre[256];
            snprintf(pre, sizeof pre, "%.*s", (int)prefix - 1, layouts[l]);
            CHECK(pt_ok(before, pre));
          }
          if (pt_ok(g, pipe)) {
            for (int i = 0; i < g->nslots; i++) {
              const Tensor *q = g->slots[i].t, *t = before->slots[i].t;
              if (q->ndim != 2) continue;
              char what[320];
              snprintf(what, sizeof what, "%s %s", pipe, q->name);
              int want_layout = t->layout;
              /* binary has no zero level: dense weights with zeros become masked */
              if (bits_enc[b] == LX_ENC_BINARY && want_layout == LX_LAYOUT_DENSE && tensor_nnz(t) < t->rows * t->cols)
                want_layout = LX_LAYOUT_MASKED;
              CHECK_INT_EQ(q->layout, want_layout);
              CHECK_INT_EQ(q->enc, bits_enc[b]);
              CHECK_INT_EQ(tensor_has_groups(q), tensor_has_groups(t));
              if (q->layout == LX_LAYOUT_PACKED)
                for (int64_t k = 0; k < q->rows * q->ngroups; k++) {
                  /* empty slots stay empty, and binary empties none that held a weight */
                  if (t->sel[k] == LX_SEL_EMPTY && !CHECK_INT_EQ(q->sel[k], LX_SEL_EMPTY)) break;
                  if (t->sel[k] != LX_SEL_EMPTY && !CHECK_INT_EQ(q->sel[k], t->sel[k])) break;
                }
              /* the layout under test (the embedding is pruned but never combined by default) */
              CHECK(t->layout == layout_of[l] || (l == 2 && t->layout == LX_LAYOUT_MASKED));
              float *d = pt_dense(t);
              check_bounds(d, q, bits_enc[b], stochastic, what);
              lx_free(d);
            }
          }
          graph_free(before);
          graph_free(g);
        }
}

/* Mean over seeds → the weight (stochastic rounding is unbiased). Per weight: within 6 standard errors.
 * Over all weights, in units of each weight's rounding step: the mean error and the mean error towards
 * zero are within 6 standard errors of 0 — which finds a bias of a few thousandths of a step. */
static void test_unbiased(void) {
  enum { SEEDS = 1000 };
  const char *spec = "model s { vocab bytes; embed 4; lstm 32; decoder untied; }";
  for (int b = 0; b < 4; b++) {
    Graph *g0 = pt_graph(spec, 23);
    if (!g0) return;
    CHECK(pt_ok(g0, "prune{sparsity=0.3,only=rnns.0.weight_hh_l0}"));
    const Tensor *t = pt_slot(g0, "rnns.0.weight_hh_l0");
    int64_t n = t->rows * t->cols;
    float *d = pt_dense(t);
    double *sum = lx_calloc((size_t)n, sizeof *sum);
    float *first = NULL;
    for (int seed = 1; seed <= SEEDS; seed++) {
      Graph *g = graph_clone(g0);
      char pipe[128];
      snprintf(pipe, sizeof pipe, "quantize{bits=%s,rounding=stochastic,seed=%d,only=rnns.0.weight_hh_l0}", bits_text[b], seed);
      if (!pt_ok(g, pipe)) {
        graph_free(g);
        break;
      }
      float *e = pt_dense(pt_slot(g, "rnns.0.weight_hh_l0"));
      for (int64_t i = 0; i < n; i++) sum[i] += e[i];
      if (seed == 1) first = e;
      else lx_free(e);
      graph_free(g);
    }
    /* the step between the two levels a weight is rounded to: s (q8, q4), m (ternary), 2m (binary); the
     * standard deviation of one rounding is at most half of it */
    const Tensor *q = NULL;
    Graph *g = graph_clone(g0);
    char pipe[128];
    snprintf(pipe, sizeof pipe, "quantize{bits=%s,rounding=stochastic,seed=1,only=rnns.0.weight_hh_l0}", bits_text[b]);
    if (pt_ok(g, pipe)) q = pt_slot(g, "rnns.0.weight_hh_l0");
    int ok = q != NULL, worst = 0;
    double worst_z = 0, bias = 0, shrink = 0;
    int64_t nonzero = 0;
    for (int64_t i = 0; q && i < n; i++) {
      int64_t r = i / t->cols;
      double step = bits_enc[b] == LX_ENC_BINARY ? 2 * q->scale[r] : q->scale[r];
      double mean = sum[i] / SEEDS, se = step / 2 / sqrt((double)SEEDS);
      double z = se > 0 ? fabs(mean - d[i]) / se : 0;
      if (z > worst_z) worst_z = z, worst = (int)i;
      ok &= fabs(mean - d[i]) <= 6 * se + 1e-7;
      if (d[i] != 0.0f) {
        bias += (mean - d[i]) / step;
        shrink += (mean - d[i]) / step * (d[i] > 0 ? -1 : 1);
        nonzero++;
      }
    }
    if (!CHECK(ok)) fprintf(stderr, "    bits=%s: weight %d is %.2f standard errors from its mean\n", bits_text[b], worst, worst_z);
    double se_all = 0.5 / sqrt((double)SEEDS * (double)nonzero);
    bias /= (double)nonzero;
    shrink /= (double)nonzero;
    if (!CHECK(fabs(bias) <= 6 * se_all && fabs(shrink) <= 6 * se_all))
      fprintf(stderr, "    bits=%s: mean error %.5f steps, towards zero %.5f steps (standard error %.5f)\n", bits_text[b],
              bias, shrink, se_all);
    /* the same seed twice gives the same tensor; another seed another one */
    float *again = pt_dense(q);
    CHECK(first && !memcmp(first, again, (size_t)n * sizeof *again));
    Graph *g2 = graph_clone(g0);
    snprintf(pipe, sizeof pipe, "quantize{bits=%s,rounding=stochastic,seed=2,only=rnns.0.weight_hh_l0}", bits_text[b]);
    if (pt_ok(g2, pipe)) {
      float *other = pt_dense(pt_slot(g2, "rnns.0.weight_hh_l0"));
      CHECK(memcmp(other, again, (size_t)n * sizeof *again) != 0);
      lx_free(other);
    }
    lx_free(again);
    lx_free(first);
    lx_free(sum);
    lx_free(d);
    graph_free(g2);
    graph_free(g);
    graph_free(g0);
  }
}

static void test_zeros_and_errors(void) {
  Graph *g = pt_graph(pt_untied, 31);
  if (!g) return;
  /* a dense matrix with zeros becomes masked_binary; its zeros are masked out */
  Rng rng;
  rng_seed(&rng, 4);
  pt_set_random(g, "decoder.weight", 0.5, &rng);
  float *d = pt_dense(pt_slot(g, "decoder.weight"));
  if (pt_ok(g, "column-combine,quantize{bits=1,only=decoder.weight}")) {
    const Tensor *q = pt_slot(g, "decoder.weight");
    CHECK_STR_EQ(format_name(q->layout, q->enc), "masked_binary");
    CHECK(tensor_has_groups(q) && q->alpha == 8);
    int ok = 1;
    for (int64_t r = 0; r < q->rows; r++)
      for (int64_t c = 0; c < q->cols; c++)
        ok &= lx_mask_get(q->mask + (size_t)r * q->mask_stride, (unsigned long)c) == (d[r * q->cols + c] != 0.0f);
    CHECK(ok);
    CHECK_INT_EQ(tensor_nnz(q), tensor_nnz(pt_slot(g, "decoder.weight")));
  }
  lx_free(d);
  /* quantized weights cannot be quantized again; the message names the position and the tensor */
  char *diag = NULL;
  CHECK_INT_EQ(pt_run(g, "quantize", &diag), LSTMC_ERR_UNSUPPORTED);
  CHECK_STR_EQ(diag, "--passes:1:1: error: pass 1 (quantize): tensor 'decoder.weight' is masked_binary with column "
                     "groups; quantize takes f32 or bf16 weights (dense, masked or packed)\nquantize\n^~~~~~~~\n");
  lx_free(diag);
  CHECK(pt_ok(g, "quantize{bits=4,skip=decoder.weight}"));
  CHECK_STR_EQ(format_name(pt_slot(g, "encoder.weight")->layout, pt_slot(g, "encoder.weight")->enc), "q4");
  graph_free(g);
}

int main(int argc, char **argv) {
  (void)argc;
  (void)argv;
  test_bounds();
  test_unbiased();
  test_zeros_and_errors();
  return tu_summary("passes_quantize");
}
