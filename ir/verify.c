/* The IR verifier: structure (embed first, decoder and softmax last, at least one lstm), dimensions that
 * chain from node to node, attributes in range, weight slots whose tensors match the expected shapes, and
 * each tensor's own layout invariants. Run after lowering and between passes. */
#include <math.h>

#include "ir/graph.h"
#include "ir/vocab.h"
#include "support/err.h"

static int verify(const Graph *g, GraphPlace *where);

static int node_fail(const Graph *g, GraphPlace *where, int i, const char *what) {
  const Node *n = &g->nodes[i];
  where->node = i;
  return lx_fail(LSTMC_ERR_SHAPE, "IR verifier: node %%%d (%s): %s", i, op_name(n->op), what);
}

static int check_slot(const Graph *g, GraphPlace *where, int node, int slot, int ndim, int64_t rows, int64_t cols) {
  if (slot < 0 || slot >= g->nslots) return node_fail(g, where, node, "weight slot index out of range");
  const WeightSlot *s = &g->slots[slot];
  where->node = node;
  if (s->ndim != ndim || (rows > 0 && s->rows > 0 && s->rows != rows) || (ndim == 2 && s->cols != cols))
    return lx_fail(LSTMC_ERR_SHAPE, "IR verifier: node %%%d (%s): weight '%s' has shape [%lld, %lld], expected [%lld, %lld]",
                   node, op_name(g->nodes[node].op), s->name, (long long)s->rows, (long long)s->cols,
                   (long long)rows, (long long)cols);
  return 0;
}

int graph_verify_at(const Graph *g, GraphPlace *where) {
  GraphPlace none;
  if (!where) where = &none;
  where->node = where->slot = -1;
  int st = verify(g, where);
  if (!st) where->node = where->slot = -1;
  return st;
}

int graph_verify(const Graph *g) { return graph_verify_at(g, NULL); }

static int verify(const Graph *g, GraphPlace *where) {
  if (g->nnodes < 4) return lx_fail(LSTMC_ERR_SHAPE, "IR verifier: a model needs embed, lstm, decoder and softmax");
  if (g->nodes[0].op != OP_EMBED) return node_fail(g, where, 0, "the first node must be embed");
  if (g->nodes[g->nnodes - 1].op != OP_SOFTMAX) return node_fail(g, where, g->nnodes - 1, "the last node must be softmax");
  if (g->nodes[g->nnodes - 2].op != OP_DECODER) return node_fail(g, where, g->nnodes - 2, "the node before softmax must be decoder");
  if (!graph_num_lstm(g)) return lx_fail(LSTMC_ERR_SHAPE, "IR verifier: a model needs at least one lstm");
  if (g->vocab && g->vocab->n != g->vocab_size)
    return lx_fail(LSTMC_ERR_SHAPE, "IR verifier: vocabulary has %lld tokens but the graph says %lld",
                   (long long)g->vocab->n, (long long)g->vocab_size);
  int64_t V = g->vocab_size, prev = 0;
  int lstm_index = 0;
  for (int i = 0; i < g->nnodes; i++) {
    const Node *n = &g->nodes[i];
    int st;
    if (i > 0 && n->op != OP_SOFTMAX && n->in_dim != prev) return node_fail(g, where, i, "input size differs from the previous node's output");
    if (n->out_dim <= 0 && !(V <= 0 && (n->op == OP_DECODER || n->op == OP_SOFTMAX)))
      return node_fail(g, where, i, "output size must be positive");
    if (!(n->p >= 0 && n->p < 1)) return node_fail(g, where, i, "dropout probability outside [0, 1)");
    if (!(n->weight_drop >= 0 && n->weight_drop < 1)) return node_fail(g, where, i, "weight_drop outside [0, 1)");
    switch (n->op) {
    case OP_EMBED:
      if (i != 0) return node_fail(g, where, i, "embed must come first");
      if ((st = check_slot(g, where, i, n->w[W_EMBED], 2, V, n->out_dim))) return st;
      break;
    case OP_DROPOUT:
      if (n->in_dim != n->out_dim) return node_fail(g, where, i, "dropout must keep its size");
      break;
    case OP_LSTM:
      if (n->layer != lstm_index++) return node_fail(g, where, i, "lstm layers must be numbered 0, 1, … in order");
      if ((st = check_slot(g, where, i, n->w[W_IH], 2, 4 * n->out_dim, n->in_dim)) ||
          (st = check_slot(g, where, i, n->w[W_HH], 2, 4 * n->out_dim, n->out_dim)) ||
          (st = check_slot(g, where, i, n->w[B_IH], 1, 4 * n->out_dim, 1)) ||
          (st = check_slot(g, where, i, n->w[B_HH], 1, 4 * n->out_dim, 1)))
        return st;
      break;
    case OP_DECODER:
      if (i != g->nnodes - 2) return node_fail(g, where, i, "decoder must come just before softmax");
      if (V > 0 && n->out_dim != V) return node_fail(g, where, i, "decoder output size must be the vocabulary size");
      if ((st = check_slot(g, where, i, n->w[W_DEC], 2, V, n->in_dim)) || (st = check_slot(g, where, i, n->w[B_DEC], 1, V, 1)))
        return st;
      if (n->tied && n->w[W_DEC] != g->nodes[0].w[W_EMBED]) return node_fail(g, where, i, "a tied decoder must share the embedding's weight");
      if (!n->tied && n->w[W_DEC] == g->nodes[0].w[W_EMBED]) return node_fail(g, where, i, "an untied decoder has its own weight");
      break;
    case OP_SOFTMAX:
      if (n->in_dim != prev || n->out_dim != prev) return node_fail(g, where, i, "softmax must keep the decoder's size");
      break;
    default: return node_fail(g, where, i, "unknown operation");
    }
    prev = n->out_dim;
  }
  where->node = -1;
  for (int i = 0; i < g->nslots; i++) {
    const WeightSlot *s = &g->slots[i];
    const Tensor *t = s->t;
    if (!t) continue;
    where->slot = i;
    if (t->ndim != s->ndim || t->rows != s->rows || t->cols != s->cols)
      return lx_fail(LSTMC_ERR_SHAPE, "IR verifier: tensor '%s' has shape [%lld, %lld], its slot expects [%lld, %lld]",
                     s->name, (long long)t->rows, (long long)t->cols, (long long)s->rows, (long long)s->cols);
    if (t->ndim == 1 && t->layout != LX_LAYOUT_DENSE)
      return lx_fail(LSTMC_ERR_SHAPE, "IR verifier: bias '%s' must be dense, not %s", s->name, format_name(t->layout, t->enc));
    int st = tensor_check(t);
    if (st) return st;
  }
  return 0;
}
