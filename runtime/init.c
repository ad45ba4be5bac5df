/* PyTorch-style random initialization, as AWD-LSTM does it: encoder and decoder weights uniform(-0.1, 0.1),
 * decoder bias zero, and every LSTM weight and bias uniform(-1/sqrt(H), 1/sqrt(H)) like
 * nn.LSTM.reset_parameters. Each slot draws from its own stream derived from the seed and the slot's
 * index, so adding a layer does not change the others. */
#include <math.h>

#include "runtime/weights.h"
#include <stdio.h>

#include "support/err.h"
#include "support/limits.h"
#include "support/rng.h"

int weights_init(Graph *g, uint64_t seed) {
  if (g->vocab_size <= 0) return lx_fail(LSTMC_ERR_USAGE, "initialization needs the vocabulary size");
  int64_t params = graph_param_count(g, NULL, NULL);
  char what[160];
  snprintf(what, sizeof what, "a model of %lld parameters (f32)", (long long)params);
  int st = lx_check_mem((uint64_t)params * sizeof(float), what);
  if (st) return st;
  for (int i = 0; i < g->nslots; i++) {
    WeightSlot *s = &g->slots[i];
    double range = 0;
    for (int k = 0; k < g->nnodes; k++) {
      const Node *n = &g->nodes[k];
      for (int w = 0; w < op_weight_slots(n->op); w++) {
        if (n->w[w] != i) continue;
        if (n->op == OP_EMBED) range = 0.1;
        else if (n->op == OP_DECODER) range = w == W_DEC ? 0.1 : 0.0;
        else if (n->op == OP_LSTM) range = 1.0 / sqrt((double)n->out_dim);
      }
    }
    Tensor *t = tensor_new_f32(s->name, s->ndim, s->rows, s->cols);
    if (!t) return LSTMC_ERR_NOMEM;
    Rng rng;
    rng_seed(&rng, rng_derive(seed, (uint64_t)i + 1));
    float *w = tensor_f32(t);
    int64_t n = s->rows * s->cols;
    for (int64_t j = 0; j < n; j++) w[j] = (float)((rng_uniform(&rng) * 2 - 1) * range);
    graph_set_tensor(g, i, t);
  }
  return 0;
}
