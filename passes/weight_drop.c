/* weight-drop{p} — AWD-LSTM's DropConnect on W_hh.
 *
 * Requires: nothing (any formats). In an inference graph (the default) it removes the training-only
 * DropConnect: every lstm node's weight_drop becomes 0 (inference already treats it as the identity, so
 * no value changes); the statistics say from how many layers and with which p. In a training graph
 * (PipelineOptions.training) it keeps the DropConnect, which the trainer applies as one Bernoulli mask per
 * batch on W_hh scaled by 1/(1-p); p= then replaces the spec's probability on every layer.
 * Preserves: every tensor, bit for bit. */
#include <stdio.h>
#include <string.h>

#include "passes/passes.h"

/* "0.5", or "0.5, 0.5, 0.2" when the layers differ. */
static void describe_p(const Graph *g, char *buf, size_t n) {
  double first = -1;
  int same = 1;
  for (int i = 0; i < g->nnodes; i++)
    if (g->nodes[i].op == OP_LSTM) {
      if (first < 0) first = g->nodes[i].weight_drop;
      same &= g->nodes[i].weight_drop == first;
    }
  size_t k = 0;
  buf[0] = 0;
  for (int i = 0; i < g->nnodes && k < n; i++)
    if (g->nodes[i].op == OP_LSTM) {
      k += (size_t)snprintf(buf + k, n - k, "%s%g", k ? ", " : "", g->nodes[i].weight_drop);
      if (same) break;
    }
}

int pass_weight_drop(Graph *g, const PassArgs *a, PassStats *st) {
  const PassValue *p = &a->opt[PO_weight_drop_p];
  int layers = 0;
  for (int i = 0; i < g->nnodes; i++)
    if (g->nodes[i].op == OP_LSTM) {
      if (p->set) g->nodes[i].weight_drop = p->f;
      layers += g->nodes[i].weight_drop > 0;
    }
  char ps[128];
  describe_p(g, ps, sizeof ps);
  if (a->training) {
    snprintf(st->note, sizeof st->note, "kept on %d layer%s for training (p=%s)", layers, layers == 1 ? "" : "s", ps);
    return 0;
  }
  for (int i = 0; i < g->nnodes; i++)
    if (g->nodes[i].op == OP_LSTM) g->nodes[i].weight_drop = 0;
  snprintf(st->note, sizeof st->note, "removed from %d layer%s (p=%s)", layers, layers == 1 ? "" : "s", ps);
  return 0;
}
