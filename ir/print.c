/* The IR's text form: one line per node, then one line per weight slot. Stable (no addresses, no
 * timings) and diffable, so that golden files and `--print-after` output can be compared as text. */
#include <string.h>

#include "ir/graph.h"

static void print_dim(StrBuf *o, int64_t d) {
  if (d > 0) sb_printf(o, "%lld", (long long)d);
  else sb_puts(o, "V");
}

static void print_slot_ref(StrBuf *o, const Graph *g, int slot) { sb_puts(o, g->slots[slot].name); }

int graph_print(const Graph *g, StrBuf *o) {
  sb_printf(o, "model %s vocab=%s V=", g->name, vocab_kind_name(g->vocab_kind));
  if (g->vocab_size > 0) sb_printf(o, "%lld\n", (long long)g->vocab_size);
  else sb_puts(o, "?\n");
  if (g->pipeline) {
    sb_puts(o, "  pipeline ");
    sb_json_string(o, g->pipeline, strlen(g->pipeline));
    sb_putc(o, '\n');
  }
  for (int i = 0; i < g->nnodes; i++) {
    const Node *n = &g->nodes[i];
    sb_printf(o, "  %%%d = %s", i, op_name(n->op));
    if (i == 0) sb_puts(o, " tokens");
    else sb_printf(o, " %%%d", i - 1);
    sb_puts(o, " : [");
    print_dim(o, n->out_dim);
    sb_puts(o, "]");
    switch (n->op) {
    case OP_EMBED:
      sb_printf(o, " dropout=%g weight=", n->p);
      print_slot_ref(o, g, n->w[W_EMBED]);
      break;
    case OP_DROPOUT: sb_printf(o, " p=%g", n->p); break;
    case OP_LSTM:
      sb_printf(o, " layer=%d weight_drop=%g weights=", n->layer, n->weight_drop);
      for (int k = 0; k < 4; k++) {
        if (k) sb_putc(o, ',');
        print_slot_ref(o, g, n->w[k]);
      }
      break;
    case OP_DECODER:
      sb_printf(o, " %s weight=", n->tied ? "tied" : "untied");
      print_slot_ref(o, g, n->w[W_DEC]);
      sb_puts(o, " bias=");
      print_slot_ref(o, g, n->w[B_DEC]);
      break;
    default: break;
    }
    sb_putc(o, '\n');
  }
  sb_puts(o, "weights\n");
  size_t width = 0;
  for (int i = 0; i < g->nslots; i++) {
    size_t l = strlen(g->slots[i].name);
    if (l > width) width = l;
  }
  for (int i = 0; i < g->nslots; i++) {
    const WeightSlot *s = &g->slots[i];
    sb_printf(o, "  %-*s [", (int)width, s->name);
    print_dim(o, s->rows);
    if (s->ndim == 2) {
      sb_puts(o, ", ");
      print_dim(o, s->cols);
    }
    sb_puts(o, "]");
    const Tensor *t = s->t;
    if (!t) {
      sb_puts(o, " (not loaded)\n");
      continue;
    }
    int64_t total = t->rows * t->cols, nnz = tensor_nnz(t);
    sb_printf(o, " %s", format_name(t->layout, t->enc));
    if (t->act_bits) sb_printf(o, " act=int%d", t->act_bits); /* only when set: float activations print as before */
    sb_printf(o, " nnz=%lld", (long long)nnz);
    if (total > 0 && nnz != total) sb_printf(o, " density=%.4f", (double)nnz / (double)total);
    if (tensor_has_groups(t)) {
      sb_printf(o, " groups=%lld", (long long)t->ngroups);
      if (t->alpha) sb_printf(o, " alpha=%d gamma=%g block=%d", t->alpha, t->gamma, t->block);
      /* grouped but not packed: what conflict-prune will drop; packed: how full the slots are */
      if (t->layout != LX_LAYOUT_PACKED) sb_printf(o, " conflicts=%lld", (long long)tensor_conflicts(t));
      else if (t->ngroups > 0 && t->rows > 0)
        sb_printf(o, " utilization=%.4f", (double)nnz / ((double)t->rows * (double)t->ngroups));
    }
    sb_printf(o, " bytes=%zu\n", tensor_bytes(t));
  }
  return o->failed ? LSTMC_ERR_NOMEM : 0;
}
