/* The network being trained: the graph's nodes (embed, dropout, lstm…, decoder) as a chain of training ops
 * over one truncated-BPTT batch of B streams and T steps, with AWD-LSTM's regularizers:
 *
 *   - embedding dropout: one Bernoulli(1−p) draw per vocabulary row, kept rows scaled 1/(1−p);
 *   - locked dropout at each `dropout` node: one draw per stream and feature, shared by every step;
 *   - weight-drop on each LSTM's W_hh: one draw per weight, the same for every step of the batch;
 *   - AR (alpha · mean of the squared decoder input, i.e. the last LSTM's output after dropout) and TAR
 *     (beta · mean of (h_t − h_{t−1})² of the last LSTM's raw output).
 *
 * The recurrent state (h, c of every layer, per stream) is carried from batch to batch and detached: no
 * gradient flows into the state a batch starts from. The master weights are the graph's dense f32
 * tensors, read and updated in place; the net owns gradients, activations and masks.
 *
 * Masks are a pure function of (mask seed, step, node, row) — counter-based, so they can be drawn on any
 * number of threads and a resumed run redraws exactly what the interrupted one would have. A test can
 * install its own masks instead (net_masks_*).
 *
 * Memory: a Net borrows its Graph and Gemm (which must outlive it) and owns everything else. */
#ifndef LSTMC_TRAIN_NET_H
#define LSTMC_TRAIN_NET_H
#include <stdint.h>

#include "ir/graph.h"
#include "train/gemm.h"

typedef struct Net Net;

/* The layers of the training network — the graph's nodes but the softmax, in order — and the sizes its
 * buffers need: what net.c and the GPU network (net_cuda.c) are both built from. */
typedef struct NetLayerShape {
  const Node *node;
  int op;
  int64_t in, out; /* features */
  double p;        /* embed: embedding dropout; dropout: its p; lstm: weight-drop; decoder: 0 */
  int kind_index;  /* among the nodes of this op, in graph order */
} NetLayerShape;
typedef struct NetShape {
  int nl, nlstm, last_lstm, dec; /* layers, LSTM layers, the last LSTM's and the decoder's index */
  int64_t maxdim;                /* the widest activation but the vocabulary-sized ones (the embedding's
                                    input, the logits): what the gradient buffers hold */
  int64_t max4h, hmax;           /* the widest LSTM's 4H and H */
} NetShape;
/* Fills layers[0 .. shape->nl) (room for g->nnodes entries) and the shape; the chain must be embed …
 * decoder (lower.c makes it so). */
void net_shape(const Graph *g, NetLayerShape *layers, NetShape *shape);

/* training: 1 to keep what backward needs and apply the regularizers; 0 for evaluation (dropout off). The
 * graph's weights must be dense f32. */
int net_create(Graph *g, Gemm *gemm, int64_t batch, int training, Net **out);
void net_free(Net *n); /* accepts NULL */
int64_t net_batch(const Net *n);

/* Zeroes the carried state of every stream. */
void net_reset_state(Net *n);
/* The carried state of LSTM layer l (0-based), [B·H] floats each; for checkpoints. */
float *net_state_h(Net *n, int l);
float *net_state_c(Net *n, int l);
int net_num_lstm(const Net *n);
int64_t net_lstm_hidden(const Net *n, int l);

/* Draws this batch's dropout and weight-drop masks from the seed and the step counter. */
void net_draw_masks(Net *n, uint64_t seed, uint64_t step);
/* Masks a test installs: the embedding's row scales [V], a dropout node's [B·F] and an LSTM's weight-drop
 * [4H·H], each value 0 or the keep scale. Return NULL when that node has no such mask (p = 0). `k` counts
 * nodes of that kind from 0 in graph order. */
float *net_mask_embed(Net *n);
float *net_mask_dropout(Net *n, int k);
float *net_mask_weight_drop(Net *n, int k);

typedef struct NetLoss {
  double nll; /* summed cross-entropy in nats over the T·B predictions */
  double ar, tar;
  int64_t predictions;
} NetLoss;

/* One batch: x, y are [T·B] token ids, time-major (x[t·B + b] is stream b's input at step t, y its
 * target). Computes the loss mean(nll) + AR + TAR and, when training, its gradient with respect to every
 * weight slot (net_grad; zeroed first). Advances the carried state. */
int net_step(Net *n, const int32_t *x, const int32_t *y, int64_t T, double alpha, double beta, NetLoss *out);
/* The gradient of weight slot s (NULL for an evaluation net). A tied decoder's gradient is in the
 * embedding's slot. */
float *net_grad(Net *n, int slot);

/* Replaces the weights the forward pass reads for slot s (NULL: the master weights again), for training
 * through quantized weights with a straight-through estimator: the gradient still goes to the master. */
void net_set_forward_weights(Net *n, int slot, const float *w);

#endif
