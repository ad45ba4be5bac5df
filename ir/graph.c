/* Graph construction, copying and queries. */
#include "ir/graph.h"

#include <stdio.h>
#include <string.h>

#include "ir/vocab.h"
#include "support/alloc.h"
#include "support/err.h"

static const char *const op_names[] = {
#define OP(e, name, nw, doc) name,
#include "ir/ops.def"
#undef OP
};
static const int op_nw[] = {
#define OP(e, name, nw, doc) nw,
#include "ir/ops.def"
#undef OP
};

const char *op_name(int op) { return op >= 0 && op < OP_COUNT ? op_names[op] : "?"; }
int op_weight_slots(int op) { return op >= 0 && op < OP_COUNT ? op_nw[op] : 0; }

const char *vocab_kind_name(int kind) {
  switch (kind) {
  case VOCAB_BYTES: return "bytes";
  case VOCAB_CHARS: return "chars";
  case VOCAB_WORDS: return "words";
  default: return "?";
  }
}

Graph *graph_new(const char *name, int vocab_kind) {
  Graph *g = lx_calloc(1, sizeof *g);
  if (!g || !(g->name = lx_strdup(name))) {
    lx_free(g);
    lx_nomem("creating a graph");
    return NULL;
  }
  g->vocab_kind = vocab_kind;
  if (vocab_kind == VOCAB_BYTES) g->vocab_size = 256;
  return g;
}

void graph_free(Graph *g) {
  if (!g) return;
  for (int i = 0; i < g->nslots; i++) {
    lx_free(g->slots[i].name);
    tensor_free(g->slots[i].t);
  }
  lx_free(g->slots);
  lx_free(g->nodes);
  vocab_free(g->vocab);
  lx_free(g->name);
  lx_free(g->spec_file);
  lx_free(g->pipeline);
  lx_free(g);
}

int graph_set_pipeline(Graph *g, const char *text) {
  char *copy = NULL;
  if (text && !(copy = lx_strdup(text))) return lx_nomem("recording the pipeline");
  lx_free(g->pipeline);
  g->pipeline = copy;
  return 0;
}

int graph_add_node(Graph *g, const Node *n) {
  if (g->nnodes == g->cap_nodes) {
    int cap = g->cap_nodes ? g->cap_nodes * 2 : 16;
    Node *nn = lx_realloc(g->nodes, (size_t)cap * sizeof *nn);
    if (!nn) return lx_nomem("adding a graph node"), -1;
    g->nodes = nn;
    g->cap_nodes = cap;
  }
  g->nodes[g->nnodes] = *n;
  return g->nnodes++;
}

int graph_add_slot(Graph *g, const char *name, int ndim, int64_t rows, int64_t cols) {
  if (g->nslots == g->cap_slots) {
    int cap = g->cap_slots ? g->cap_slots * 2 : 16;
    WeightSlot *ns = lx_realloc(g->slots, (size_t)cap * sizeof *ns);
    if (!ns) return lx_nomem("adding a weight slot"), -1;
    g->slots = ns;
    g->cap_slots = cap;
  }
  WeightSlot *s = &g->slots[g->nslots];
  memset(s, 0, sizeof *s);
  if (!(s->name = lx_strdup(name))) return lx_nomem("adding a weight slot"), -1;
  s->ndim = ndim;
  s->rows = rows;
  s->cols = ndim == 1 ? 1 : cols;
  return g->nslots++;
}

int graph_find_slot(const Graph *g, const char *name) {
  for (int i = 0; i < g->nslots; i++)
    if (!strcmp(g->slots[i].name, name)) return i;
  return -1;
}

void graph_weight_name(int op, int layer, int role, char *buf, size_t n) {
  static const char *const lstm_roles[4] = {"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"};
  switch (op) {
  case OP_EMBED: snprintf(buf, n, "encoder.weight"); break;
  case OP_LSTM: snprintf(buf, n, "rnns.%d.%s", layer, role >= 0 && role < 4 ? lstm_roles[role] : "?"); break;
  case OP_DECODER: snprintf(buf, n, role == B_DEC ? "decoder.bias" : "decoder.weight"); break;
  default: snprintf(buf, n, "?"); break;
  }
}

void graph_set_vocab_size(Graph *g, int64_t v) {
  g->vocab_size = v;
  for (int i = 0; i < g->nnodes; i++) {
    Node *n = &g->nodes[i];
    if (n->op == OP_EMBED) {
      n->in_dim = v;
      g->slots[n->w[W_EMBED]].rows = v;
    } else if (n->op == OP_DECODER) {
      n->out_dim = v;
      g->slots[n->w[W_DEC]].rows = v;
      g->slots[n->w[B_DEC]].rows = v;
    } else if (n->op == OP_SOFTMAX) {
      n->in_dim = n->out_dim = v;
    }
  }
}

void graph_set_tensor(Graph *g, int slot, Tensor *t) {
  tensor_free(g->slots[slot].t);
  g->slots[slot].t = t;
}

int graph_has_weights(const Graph *g) {
  for (int i = 0; i < g->nslots; i++)
    if (!g->slots[i].t) return 0;
  return g->nslots > 0;
}

int graph_num_lstm(const Graph *g) {
  int n = 0;
  for (int i = 0; i < g->nnodes; i++) n += g->nodes[i].op == OP_LSTM;
  return n;
}

int64_t graph_param_count(const Graph *g, int64_t *fixed, int64_t *per_vocab) {
  int64_t f = 0, pv = 0;
  for (int i = 0; i < g->nslots; i++) {
    const WeightSlot *s = &g->slots[i];
    /* Slots whose rows are the vocabulary: embedding, untied decoder weight, decoder bias. */
    int vocab_rows = 0;
    for (int k = 0; k < g->nnodes; k++) {
      const Node *n = &g->nodes[k];
      if ((n->op == OP_EMBED && n->w[W_EMBED] == i) || (n->op == OP_DECODER && (n->w[W_DEC] == i || n->w[B_DEC] == i)))
        vocab_rows = 1;
    }
    if (vocab_rows) pv += s->cols;
    else f += s->rows * s->cols;
  }
  if (fixed) *fixed = f;
  if (per_vocab) *per_vocab = pv;
  return g->vocab_size > 0 ? f + pv * g->vocab_size : -1;
}

Graph *graph_clone(const Graph *g) {
  Graph *c = graph_new(g->name, g->vocab_kind);
  if (!c) return NULL;
  c->vocab_size = g->vocab_size;
  if (g->spec_file && !(c->spec_file = lx_strdup(g->spec_file))) goto oom;
  if (g->vocab && !(c->vocab = vocab_clone(g->vocab))) goto oom;
  if (graph_set_pipeline(c, g->pipeline)) goto fail;
  for (int i = 0; i < g->nnodes; i++)
    if (graph_add_node(c, &g->nodes[i]) < 0) goto fail;
  for (int i = 0; i < g->nslots; i++) {
    const WeightSlot *s = &g->slots[i];
    if (graph_add_slot(c, s->name, s->ndim, s->rows, s->cols) < 0) goto fail;
    if (s->t && !(c->slots[i].t = tensor_clone(s->t))) goto fail;
  }
  return c;
oom:
  lx_nomem("copying a graph");
fail:
  graph_free(c);
  return NULL;
}
