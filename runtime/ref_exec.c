/* The reference executor: a plain interpreter of the graph for every weight format, fp32 state with
 * double accumulation, gate order i, f, g, o as torch.nn.LSTM. Slow and obviously right: every other
 * executor and every pass is tested against it. Dropout and weight-drop are training-only and are the
 * identity here. A matrix with int8 activations (act_bits = 8) multiplies by ir/qdot.h's integer
 * arithmetic: its float outputs y_r are added to the double sums like any other product. */
#include <math.h>
#include <string.h>

#include "ir/qdot.h"
#include "runtime/exec.h"
#include "support/alloc.h"
#include "support/err.h"

typedef struct RefExec {
  Executor base;
  int batch;
  float **h, **c; /* [nlstm] each [batch * H] */
  float *x, *y;   /* activations, [max_dim] */
  double *acc;    /* [max(4H, V)] */
  int8_t *q;      /* int8 activations, [max_dim] */
  float *qy;      /* outputs of an integer product, [max_dim] */
  int nlstm;
} RefExec;

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

static int ref_supports(const Graph *g, const ExecOptions *o) {
  (void)g;
  (void)o;
  return 0; /* every format has a reference matvec */
}

static void ref_destroy(Executor *e) {
  RefExec *r = (RefExec *)e;
  if (!r) return;
  for (int i = 0; i < r->nlstm; i++) {
    if (r->h) lx_free(r->h[i]);
    if (r->c) lx_free(r->c[i]);
  }
  lx_free(r->h);
  lx_free(r->c);
  lx_free(r->x);
  lx_free(r->y);
  lx_free(r->acc);
  lx_free(r->q);
  lx_free(r->qy);
  lx_free(r);
}

static void ref_reset(Executor *e) {
  RefExec *r = (RefExec *)e;
  int k = 0;
  for (int i = 0; i < e->g->nnodes; i++) {
    const Node *n = &e->g->nodes[i];
    if (n->op != OP_LSTM) continue;
    memset(r->h[k], 0, (size_t)r->batch * (size_t)n->out_dim * sizeof(float));
    memset(r->c[k], 0, (size_t)r->batch * (size_t)n->out_dim * sizeof(float));
    k++;
  }
}

static int ref_create(const Graph *g, const ExecOptions *o, Executor **out) {
  RefExec *r = lx_calloc(1, sizeof *r);
  if (!r) return lx_nomem("creating the reference executor");
  r->base.vt = &ref_exec_vtbl;
  r->base.g = g;
  r->base.opts = *o;
  r->batch = o->batch > 0 ? o->batch : 1;
  r->nlstm = graph_num_lstm(g);
  r->h = lx_calloc((size_t)r->nlstm, sizeof(float *));
  r->c = lx_calloc((size_t)r->nlstm, sizeof(float *));
  int64_t maxd = g->vocab_size;
  if (!r->h || !r->c) goto oom;
  int k = 0;
  for (int i = 0; i < g->nnodes; i++) {
    const Node *n = &g->nodes[i];
    if (n->out_dim * 4 > maxd) maxd = n->out_dim * 4;
    if (n->in_dim > maxd) maxd = n->in_dim;
    if (n->op != OP_LSTM) continue;
    r->h[k] = lx_calloc((size_t)r->batch * (size_t)n->out_dim, sizeof(float));
    r->c[k] = lx_calloc((size_t)r->batch * (size_t)n->out_dim, sizeof(float));
    if (!r->h[k] || !r->c[k]) goto oom;
    k++;
  }
  r->x = lx_malloc((size_t)maxd * sizeof(float));
  r->y = lx_malloc((size_t)maxd * sizeof(float));
  r->acc = lx_malloc((size_t)maxd * sizeof(double));
  r->q = lx_malloc((size_t)maxd);
  r->qy = lx_malloc((size_t)maxd * sizeof(float));
  if (!r->x || !r->y || !r->acc || !r->q || !r->qy) goto oom;
  *out = &r->base;
  return 0;
oom:
  ref_destroy(&r->base);
  return lx_nomem("creating the reference executor");
}

/* acc[r] += (W x)[r]: in double from float activations, or by the integer arithmetic when act_bits = 8. */
static void matvec(RefExec *r, const Tensor *t, const float *x, double *acc) {
  if (!t->act_bits) {
    tensor_matvec_ref(t, x, acc);
    return;
  }
  float s_x = qdot_quantize(x, t->cols, r->q);
  qdot_matvec(t, r->q, s_x, r->qy);
  for (int64_t j = 0; j < t->rows; j++) acc[j] += (double)r->qy[j];
}

void lstm_cell_ref(const double *acc, int64_t H, float *h, float *c) {
  for (int64_t j = 0; j < H; j++) {
    double i = sigmoid(acc[j]), f = sigmoid(acc[H + j]), gg = tanh(acc[2 * H + j]), o = sigmoid(acc[3 * H + j]);
    double cn = f * (double)c[j] + i * gg;
    c[j] = (float)cn;
    h[j] = (float)(o * tanh((double)c[j]));
  }
}

/* One LSTM cell step: gates = W_ih x + b_ih + W_hh h + b_hh; c' = f c + i g; h' = o tanh(c'). */
static void lstm_step(RefExec *r, const Node *n, const float *x, float *h, float *c) {
  const Graph *g = r->base.g;
  double *acc = r->acc;
  int64_t H = n->out_dim;
  const Tensor *b_ih = g->slots[n->w[B_IH]].t, *b_hh = g->slots[n->w[B_HH]].t;
  for (int64_t j = 0; j < 4 * H; j++) acc[j] = (double)tensor_f32(b_ih)[j] + (double)tensor_f32(b_hh)[j];
  matvec(r, g->slots[n->w[W_IH]].t, x, acc);
  matvec(r, g->slots[n->w[W_HH]].t, h, acc);
  lstm_cell_ref(acc, H, h, c);
}

static int ref_step(Executor *e, const int32_t *tokens, float *logits) {
  RefExec *r = (RefExec *)e;
  const Graph *g = e->g;
  int64_t V = g->vocab_size;
  for (int b = 0; b < r->batch; b++) {
    int32_t tok = tokens[b];
    if (tok < 0 || tok >= V) return lx_fail(LSTMC_ERR_DATA, "token id %d outside the vocabulary [0, %lld)", tok, (long long)V);
    float *x = r->x;
    int k = 0;
    for (int i = 0; i < g->nnodes; i++) {
      const Node *n = &g->nodes[i];
      switch (n->op) {
      case OP_EMBED: tensor_row_to_f32(g->slots[n->w[W_EMBED]].t, tok, x); break;
      case OP_DROPOUT: break;
      case OP_LSTM: {
        float *h = r->h[k] + (size_t)b * n->out_dim, *c = r->c[k] + (size_t)b * n->out_dim;
        lstm_step(r, n, x, h, c);
        memcpy(x, h, (size_t)n->out_dim * sizeof(float));
        k++;
        break;
      }
      case OP_DECODER: {
        const Tensor *bias = g->slots[n->w[B_DEC]].t;
        for (int64_t j = 0; j < V; j++) r->acc[j] = tensor_f32(bias)[j];
        matvec(r, g->slots[n->w[W_DEC]].t, x, r->acc);
        float *out = logits + (size_t)b * V;
        for (int64_t j = 0; j < V; j++) out[j] = (float)r->acc[j];
        break;
      }
      case OP_SOFTMAX: break; /* logits are returned; callers take the log-softmax in double */
      default: LX_BUG("unknown op in the reference executor");
      }
    }
  }
  return 0;
}

const ExecVtbl ref_exec_vtbl = {
    .name = "ref",
    .supports = ref_supports,
    .create = ref_create,
    .destroy = ref_destroy,
    .reset = ref_reset,
    .step = ref_step,
    .score = NULL,
};
