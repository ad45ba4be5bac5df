/* Spec → Graph. Embedding `encoder.weight` [V, E]; LSTM layer l `rnns.{l}.weight_ih_l0` [4H, I],
 * `rnns.{l}.weight_hh_l0` [4H, H], `rnns.{l}.bias_ih_l0`, `rnns.{l}.bias_hh_l0` [4H] (AWD-LSTM stacks
 * single-layer nn.LSTMs, hence the l0 suffix); decoder `decoder.weight` [V, H] (absent when tied) and
 * `decoder.bias` [V]. */
#include "frontend/lower.h"

#include <stdio.h>
#include <string.h>

#include "support/alloc.h"
#include "support/err.h"

static SrcLoc own_loc(const Graph *g, SrcLoc l) {
  l.file = g->spec_file;
  return l;
}

int lower_spec(const Spec *spec, int64_t vocab_size, Graph **out) {
  *out = NULL;
  Graph *g = graph_new(spec->name, spec->vocab_kind);
  if (!g) return LSTMC_ERR_NOMEM;
  if (!(g->spec_file = lx_strdup(spec->path))) goto oom;
  int64_t V = vocab_size > 0 ? vocab_size : spec->vocab_size > 0 ? spec->vocab_size : g->vocab_size;
  int64_t dim = 0;
  int lstm_index = 0;
  int embed_slot = -1;
  char name[96];
  for (int i = 0; i < spec->nlayers; i++) {
    const SpecLayer *l = &spec->layers[i];
    Node n;
    memset(&n, 0, sizeof n);
    for (int k = 0; k < 4; k++) n.w[k] = -1;
    n.loc = own_loc(g, l->loc);
    switch (l->kind) {
    case SPEC_EMBED:
      n.op = OP_EMBED;
      n.in_dim = V;
      n.out_dim = dim = l->size;
      n.p = l->dropout;
      graph_weight_name(OP_EMBED, 0, W_EMBED, name, sizeof name);
      if ((n.w[W_EMBED] = embed_slot = graph_add_slot(g, name, 2, V, l->size)) < 0) goto fail;
      break;
    case SPEC_DROPOUT:
      n.op = OP_DROPOUT;
      n.in_dim = n.out_dim = dim;
      n.p = l->dropout;
      break;
    case SPEC_LSTM: {
      n.op = OP_LSTM;
      n.in_dim = dim;
      n.out_dim = l->size;
      n.layer = lstm_index;
      n.weight_drop = l->weight_drop;
      int64_t H = l->size;
      for (int k = W_IH; k <= B_HH; k++) { /* W_ih [4H, I], W_hh [4H, H], b_ih and b_hh [4H] */
        graph_weight_name(OP_LSTM, lstm_index, k, name, sizeof name);
        if ((n.w[k] = graph_add_slot(g, name, k <= W_HH ? 2 : 1, 4 * H, k == W_IH ? dim : H)) < 0) goto fail;
      }
      lstm_index++;
      dim = H;
      break;
    }
    case SPEC_DECODER:
      n.op = OP_DECODER;
      n.in_dim = dim;
      n.out_dim = V;
      n.tied = l->tied;
      graph_weight_name(OP_DECODER, 0, W_DEC, name, sizeof name);
      if (l->tied) n.w[W_DEC] = embed_slot;
      else if ((n.w[W_DEC] = graph_add_slot(g, name, 2, V, dim)) < 0) goto fail;
      graph_weight_name(OP_DECODER, 0, B_DEC, name, sizeof name);
      if ((n.w[B_DEC] = graph_add_slot(g, name, 1, V, 1)) < 0) goto fail;
      dim = V;
      break;
    default: LX_BUG("unknown spec layer");
    }
    if (graph_add_node(g, &n) < 0) goto fail;
  }
  Node sm;
  memset(&sm, 0, sizeof sm);
  for (int k = 0; k < 4; k++) sm.w[k] = -1;
  sm.op = OP_SOFTMAX;
  sm.in_dim = sm.out_dim = V;
  if (g->nnodes) sm.loc = g->nodes[g->nnodes - 1].loc;
  if (graph_add_node(g, &sm) < 0) goto fail;
  graph_set_vocab_size(g, V);
  int st = graph_verify(g);
  if (st) {
    graph_free(g);
    return st;
  }
  *out = g;
  return 0;
oom:
  lx_nomem("lowering the spec");
fail:
  graph_free(g);
  return LSTMC_ERR_NOMEM;
}
