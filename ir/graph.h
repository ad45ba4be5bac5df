/* The IR: a model is an ordered chain of nodes (embed, dropout, lstm …, decoder, softmax), each with its
 * shape and attributes, and a table of weight slots. A slot names a weight the way PyTorch does
 * (`rnns.0.weight_hh_l0`), states its shape, and holds the tensor once weights are loaded; a tied decoder
 * points at the embedding's slot. Passes rewrite the tensors in place (their formats change), the
 * verifier checks the whole after each pass, and print.c writes it as stable, diffable text.
 *
 * Memory: the Graph owns its nodes, slots, tensors and vocabulary; graph_free releases everything. */
#ifndef LSTMC_IR_GRAPH_H
#define LSTMC_IR_GRAPH_H
#include <stdint.h>

#include "ir/tensor.h"
#include "support/srcloc.h"
#include "support/strbuf.h"

typedef enum Op {
#define OP(e, name, nw, doc) OP_##e,
#include "ir/ops.def"
#undef OP
  OP_COUNT
} Op;

const char *op_name(int op);
int op_weight_slots(int op);

typedef enum VocabKind { VOCAB_BYTES = 0, VOCAB_CHARS = 1, VOCAB_WORDS = 2 } VocabKind;
const char *vocab_kind_name(int kind);

struct Vocab;

/* Weight-slot roles inside a node's w[] array. */
enum { W_EMBED = 0 };
enum { W_IH = 0, W_HH = 1, B_IH = 2, B_HH = 3 };
enum { W_DEC = 0, B_DEC = 1 };

typedef struct Node {
  int op;          /* Op */
  int64_t in_dim;  /* features in (for embed: the vocabulary size) */
  int64_t out_dim; /* features out */
  double p;        /* dropout: locked-dropout probability; embed: embedding-dropout probability */
  double weight_drop; /* lstm: DropConnect probability on W_hh (training only; 0 once removed) */
  int layer;       /* lstm: index l in rnns.{l} */
  int tied;        /* decoder: 1 when W is the embedding */
  int w[4];        /* weight-slot indices, -1 when unused */
  SrcLoc loc;      /* the spec statement this node came from */
} Node;

typedef struct WeightSlot {
  char *name;
  int ndim;
  int64_t rows, cols; /* expected shape; rows < 0 while the vocabulary size is unknown */
  Tensor *t;          /* NULL until weights are loaded */
} WeightSlot;

typedef struct Graph {
  char *name;
  int vocab_kind;     /* VocabKind */
  int64_t vocab_size; /* 0 while unknown (chars/words before a vocabulary is known) */
  struct Vocab *vocab; /* owned; NULL until known */
  Node *nodes;
  int nnodes, cap_nodes;
  WeightSlot *slots;
  int nslots, cap_slots;
  char *spec_file; /* for messages; owned */
  /* The pass pipeline already applied to these weights (canonical text, "" for an explicitly empty one),
   * recorded in and read from the weights file's metadata `lstmc.pipeline`; NULL when none. Owned. */
  char *pipeline;
} Graph;

Graph *graph_new(const char *name, int vocab_kind);
void graph_free(Graph *g);
Graph *graph_clone(const Graph *g); /* deep copy: nodes, slots, tensors, vocabulary */
/* Appends a node; returns its index or -1 (errmsg set) on OOM. */
int graph_add_node(Graph *g, const Node *n);
/* Appends a weight slot; returns its index or -1 on OOM. */
int graph_add_slot(Graph *g, const char *name, int ndim, int64_t rows, int64_t cols);
int graph_find_slot(const Graph *g, const char *name);
/* The PyTorch name of weight `role` (W_EMBED, W_IH … B_HH, W_DEC, B_DEC) of a node of kind op, lstm layer
 * `layer` (encoder.weight, rnns.{l}.weight_ih_l0, …, decoder.weight, decoder.bias), into buf. */
void graph_weight_name(int op, int layer, int role, char *buf, size_t n);
/* Sets the vocabulary size and fixes the shapes that depend on it. */
void graph_set_vocab_size(Graph *g, int64_t v);
/* Replaces the recorded pipeline (copied; NULL clears it). 0 or LSTMC_ERR_NOMEM. */
int graph_set_pipeline(Graph *g, const char *text);
/* Installs a tensor into a slot (takes ownership, frees the old one). */
void graph_set_tensor(Graph *g, int slot, Tensor *t);
/* 1 when every slot holds a tensor. */
int graph_has_weights(const Graph *g);
int graph_num_lstm(const Graph *g);
/* Parameters (weights counted once when tied); -1 when the vocabulary size is unknown, in which case
 * *per_vocab receives the count per vocabulary entry and *fixed the rest. */
int64_t graph_param_count(const Graph *g, int64_t *fixed, int64_t *per_vocab);

/* Stable text form of the graph (print.c) as a summary: with weights, each tensor line says its format,
 * nonzeros and bytes, without the values (ir/text.h writes them too). Returns 0, or LSTMC_ERR_NOMEM. */
int graph_print(const Graph *g, StrBuf *out);
/* Checks shapes, attributes, slot/tensor agreement and every tensor's layout invariants (verify.c).
 * Returns 0 or a status with a message naming the node or tensor. */
int graph_verify(const Graph *g);
/* The node or weight slot a failed verification is about (-1 when none), so that a reader of the text form
 * can point at its line. */
typedef struct GraphPlace {
  int node, slot;
} GraphPlace;
/* graph_verify, also saying in *where (may be NULL) what the problem is about. */
int graph_verify_at(const Graph *g, GraphPlace *where);

#endif
