/* The training network (see net.h): buffers sized for the longest batch seen so far, the per-batch masks,
 * and the forward/backward walk over the graph's chain of nodes using the float ops of ops.h. */
#include "train/net.h"

#include <string.h>

#include "support/alloc.h"
#include "support/err.h"
#include "support/rng.h"
#include "train/ops.h"

typedef struct Layer {
  const Node *node;
  int op;
  int64_t in, out; /* features */
  double p;        /* embed: embedding dropout; dropout: its p; lstm: weight-drop */
  int kind_index;  /* among the nodes of this op, in graph order */
  float *ybuf;     /* output [Tcap·B, out] (embed, dropout, decoder) */
  const float *y;  /* the output this batch: ybuf, the input (dropout off) or Hall + B·H (lstm) */
  float *Hall, *Call, *gates; /* lstm: [(Tcap+1)·B, H] ×2, [Tcap·B, 4H] */
  float *mask;     /* embed [V], dropout [B·F], lstm [4H·H]; NULL when p = 0 or not training */
  float *Weff, *dWeff; /* lstm with weight-drop: W_hh ⊙ mask and its gradient, [4H·H] */
  float *h, *c;    /* lstm: carried state [B·H] */
  LstmWork work;
} Layer;

struct Net {
  Graph *g;
  Gemm *gemm;
  int64_t B, Tcap, maxdim, max4h;
  int training;
  Layer *L;
  int nl, nlstm, last_lstm, dec;
  float **grad;       /* [nslots] */
  const float **fw;   /* [nslots] weights the forward reads */
  float *dA, *dB, *dG;
  double *row_nll;
};

static float *master(const Net *n, int slot) { return tensor_f32(n->g->slots[slot].t); }

/* The buffers sized by the sequence length (net_reserve). */
static void free_time_buffers(Layer *L) {
  lx_free(L->ybuf);
  lx_free(L->Hall);
  lx_free(L->Call);
  lx_free(L->gates);
  L->ybuf = L->Hall = L->Call = L->gates = NULL;
}

void net_free(Net *n) {
  if (!n) return;
  for (int i = 0; i < n->nl; i++) {
    Layer *L = &n->L[i];
    free_time_buffers(L);
    lx_free(L->mask);
    lx_free(L->Weff);
    lx_free(L->dWeff);
    lx_free(L->h);
    lx_free(L->c);
    lstm_work_free(&L->work);
  }
  if (n->grad)
    for (int s = 0; s < n->g->nslots; s++) lx_free(n->grad[s]);
  lx_free(n->grad);
  lx_free(n->fw);
  lx_free(n->L);
  lx_free(n->dA);
  lx_free(n->dB);
  lx_free(n->dG);
  lx_free(n->row_nll);
  lx_free(n);
}

static float *alloc_floats(int64_t count) { return lx_calloc((size_t)(count > 0 ? count : 1), sizeof(float)); }

int net_create(Graph *g, Gemm *gemm, int64_t batch, int training, Net **out) {
  *out = NULL;
  for (int s = 0; s < g->nslots; s++)
    if (!g->slots[s].t || !tensor_is_dense_f32(g->slots[s].t))
      return lx_fail(LSTMC_ERR_UNSUPPORTED, "training needs dense f32 weights, but '%s' is %s", g->slots[s].name,
                     g->slots[s].t ? format_name(g->slots[s].t->layout, g->slots[s].t->enc) : "not loaded");
  Net *n = lx_calloc(1, sizeof *n);
  if (!n) return lx_nomem("creating the training network");
  n->g = g;
  n->gemm = gemm;
  n->B = batch;
  n->training = training;
  n->L = lx_calloc((size_t)g->nnodes, sizeof *n->L);
  n->fw = lx_calloc((size_t)g->nslots, sizeof *n->fw);
  if (!n->L || !n->fw) goto oom;
  for (int s = 0; s < g->nslots; s++) n->fw[s] = master(n, s);
  NetLayerShape *shapes = lx_calloc((size_t)g->nnodes, sizeof *shapes);
  if (!shapes) goto oom;
  NetShape sh;
  net_shape(g, shapes, &sh);
  n->nl = sh.nl, n->nlstm = sh.nlstm, n->last_lstm = sh.last_lstm, n->dec = sh.dec;
  n->maxdim = sh.maxdim, n->max4h = sh.max4h;
  for (int i = 0; i < n->nl; i++) {
    Layer *L = &n->L[i];
    const NetLayerShape *ls = &shapes[i];
    L->node = ls->node, L->op = ls->op, L->in = ls->in, L->out = ls->out, L->p = ls->p, L->kind_index = ls->kind_index;
    if (L->op == OP_LSTM) {
      int64_t H = L->out;
      if (!(L->h = alloc_floats(batch * H)) || !(L->c = alloc_floats(batch * H))) goto oom_shapes;
      if (training && L->p > 0 &&
          (!(L->mask = alloc_floats(4 * H * H)) || !(L->Weff = alloc_floats(4 * H * H)) || !(L->dWeff = alloc_floats(4 * H * H))))
        goto oom_shapes;
    } else if (L->op != OP_DECODER && training && L->p > 0) {
      int64_t len = L->op == OP_EMBED ? g->vocab_size : batch * L->out;
      if (!(L->mask = alloc_floats(len))) goto oom_shapes;
    }
  }
  lx_free(shapes);
  if (training) {
    n->grad = lx_calloc((size_t)g->nslots, sizeof *n->grad);
    if (!n->grad) goto oom;
    for (int s = 0; s < g->nslots; s++)
      if (!(n->grad[s] = alloc_floats(g->slots[s].rows * g->slots[s].cols))) goto oom;
  }
  *out = n;
  return 0;
oom_shapes:
  lx_free(shapes);
oom:
  net_free(n);
  return lx_nomem("creating the training network");
}

void net_shape(const Graph *g, NetLayerShape *layers, NetShape *sh) {
  memset(sh, 0, sizeof *sh);
  sh->last_lstm = sh->dec = -1;
  int kinds[OP_COUNT] = {0};
  for (int i = 0; i < g->nnodes; i++) {
    const Node *nd = &g->nodes[i];
    if (nd->op == OP_SOFTMAX) continue;
    NetLayerShape *L = &layers[sh->nl];
    L->node = nd;
    L->op = nd->op;
    L->in = nd->in_dim;
    L->out = nd->out_dim;
    L->kind_index = kinds[nd->op]++;
    L->p = nd->op == OP_LSTM ? nd->weight_drop : nd->op == OP_DECODER ? 0 : nd->p;
    /* gradient buffers hold any activation but the vocabulary-sized ones (embedding input, logits) */
    int64_t din = nd->op == OP_EMBED ? 0 : L->in, dout = nd->op == OP_DECODER ? 0 : L->out;
    if (din > sh->maxdim) sh->maxdim = din;
    if (dout > sh->maxdim) sh->maxdim = dout;
    if (nd->op == OP_LSTM) {
      if (4 * L->out > sh->max4h) sh->max4h = 4 * L->out;
      if (L->out > sh->hmax) sh->hmax = L->out;
      sh->last_lstm = sh->nl;
      sh->nlstm++;
    } else if (nd->op == OP_DECODER) {
      sh->dec = sh->nl;
    }
    sh->nl++;
  }
  LX_ASSERT(sh->nl >= 3 && layers[0].op == OP_EMBED && sh->dec == sh->nl - 1 && sh->last_lstm >= 0);
}

/* Makes room for T steps (buffers grow, never shrink; AWD-LSTM's sequence lengths vary per batch). */
static int net_reserve(Net *n, int64_t T) {
  if (T <= n->Tcap) return 0;
  int64_t cap = n->Tcap ? n->Tcap : T;
  while (cap < T) cap += cap / 4 + 1;
  int64_t B = n->B, TB = cap * B;
  for (int i = 0; i < n->nl; i++) {
    Layer *L = &n->L[i];
    free_time_buffers(L);
    if (L->op == OP_LSTM) {
      if (!(L->Hall = alloc_floats((cap + 1) * B * L->out)) || !(L->Call = alloc_floats((cap + 1) * B * L->out)) ||
          !(L->gates = alloc_floats(TB * 4 * L->out)))
        goto oom;
    } else if (L->op != OP_DROPOUT || L->mask) {
      if (!(L->ybuf = alloc_floats(TB * L->out))) goto oom;
    }
  }
  lx_free(n->dA);
  lx_free(n->dB);
  lx_free(n->dG);
  lx_free(n->row_nll);
  n->dA = n->dB = n->dG = NULL;
  if (!(n->row_nll = lx_calloc((size_t)TB, sizeof(double)))) goto oom;
  if (n->training &&
      (!(n->dA = alloc_floats(TB * n->maxdim)) || !(n->dB = alloc_floats(TB * n->maxdim)) || !(n->dG = alloc_floats(TB * n->max4h))))
    goto oom;
  n->Tcap = cap;
  return 0;
oom:
  n->Tcap = 0; /* everything is reallocated on the next call */
  return lx_nomem("allocating activations for training");
}

int64_t net_batch(const Net *n) { return n->B; }
int net_num_lstm(const Net *n) { return n->nlstm; }

static Layer *lstm_layer(Net *n, int l) {
  for (int i = 0; i < n->nl; i++)
    if (n->L[i].op == OP_LSTM && n->L[i].kind_index == l) return &n->L[i];
  LX_BUG("no such LSTM layer");
}

float *net_state_h(Net *n, int l) { return lstm_layer(n, l)->h; }
float *net_state_c(Net *n, int l) { return lstm_layer(n, l)->c; }
int64_t net_lstm_hidden(const Net *n, int l) { return lstm_layer((Net *)n, l)->out; }

void net_reset_state(Net *n) {
  for (int i = 0; i < n->nl; i++)
    if (n->L[i].op == OP_LSTM) {
      memset(n->L[i].h, 0, (size_t)(n->B * n->L[i].out) * sizeof(float));
      memset(n->L[i].c, 0, (size_t)(n->B * n->L[i].out) * sizeof(float));
    }
}

static float *mask_of(Net *n, int op, int k) {
  for (int i = 0; i < n->nl; i++)
    if (n->L[i].op == op && n->L[i].kind_index == k) return n->L[i].mask;
  return NULL;
}
float *net_mask_embed(Net *n) { return mask_of(n, OP_EMBED, 0); }
float *net_mask_dropout(Net *n, int k) { return mask_of(n, OP_DROPOUT, k); }
float *net_mask_weight_drop(Net *n, int k) { return mask_of(n, OP_LSTM, k); }

float *net_grad(Net *n, int slot) { return n->grad ? n->grad[slot] : NULL; }

void net_set_forward_weights(Net *n, int slot, const float *w) { n->fw[slot] = w ? w : master(n, slot); }

/* ---- masks ---------------------------------------------------------------------------------------- */

typedef struct MaskJob {
  Net *n;
  uint64_t seed, step;
} MaskJob;

/* Row r of a mask draws from its own stream keyed by (seed, step, layer, r): the masks are the same on
 * any number of threads, and a resumed run needs only the step counter to redraw them. */
static void fill_mask_rows(float *mask, int64_t rows, int64_t cols, double p, uint64_t key, int tid, int nt) {
  int64_t r0, r1;
  pool_split(rows, 1, tid, nt, &r0, &r1);
  float keep = (float)(1.0 / (1.0 - p));
  for (int64_t r = r0; r < r1; r++) {
    Rng rng;
    rng_seed(&rng, rng_derive(key, (uint64_t)r));
    for (int64_t c = 0; c < cols; c++) mask[r * cols + c] = rng_uniform(&rng) < 1.0 - p ? keep : 0.0f;
  }
}

static void mask_job(void *ctx, int tid, int nt) {
  MaskJob *j = ctx;
  Net *n = j->n;
  uint64_t step_key = rng_derive(j->seed, j->step);
  for (int i = 0; i < n->nl; i++) {
    Layer *L = &n->L[i];
    if (!L->mask) continue;
    uint64_t key = rng_derive(step_key, (uint64_t)(L->node - n->g->nodes) + 1);
    if (L->op == OP_EMBED) fill_mask_rows(L->mask, n->g->vocab_size, 1, L->p, key, tid, nt);
    else if (L->op == OP_DROPOUT) fill_mask_rows(L->mask, n->B, L->out, L->p, key, tid, nt);
    else fill_mask_rows(L->mask, 4 * L->out, L->out, L->p, key, tid, nt);
  }
}

void net_draw_masks(Net *n, uint64_t seed, uint64_t step) {
  MaskJob j = {n, seed, step};
  pool_run(gemm_pool(n->gemm), mask_job, &j);
}

/* ---- forward and backward ------------------------------------------------------------------------- */

typedef struct MulJob {
  int64_t len;
  const float *a, *b;
  float *out;
  int add; /* out += a ⊙ b instead of out = a ⊙ b */
} MulJob;

static void mul_job(void *ctx, int tid, int nt) {
  MulJob *j = ctx;
  int64_t lo, hi;
  pool_split(j->len, 64, tid, nt, &lo, &hi);
  if (j->add)
    for (int64_t i = lo; i < hi; i++) j->out[i] += j->a[i] * j->b[i];
  else
    for (int64_t i = lo; i < hi; i++) j->out[i] = j->a[i] * j->b[i];
}

static void mul(Net *n, int64_t len, const float *a, const float *b, float *out, int add) {
  MulJob j = {len, a, b, out, add};
  pool_run_n(gemm_pool(n->gemm), pool_threads_for(gemm_pool(n->gemm), (double)len, 32768.0), mul_job, &j);
}

int net_step(Net *n, const int32_t *x, const int32_t *y, int64_t T, double alpha, double beta, NetLoss *out) {
  memset(out, 0, sizeof *out);
  int st = net_reserve(n, T);
  if (st) return st;
  Graph *g = n->g;
  Gemm *G = n->gemm;
  int64_t B = n->B, TB = T * B, V = g->vocab_size;
  for (int64_t i = 0; i < TB; i++)
    if (x[i] < 0 || x[i] >= V || y[i] < 0 || y[i] >= V)
      return lx_fail(LSTMC_ERR_DATA, "token id %d outside the vocabulary [0, %lld)", x[i] < 0 || x[i] >= V ? x[i] : y[i],
                     (long long)V);
  /* forward */
  for (int i = 0; i < n->nl; i++) {
    Layer *L = &n->L[i];
    const Node *nd = L->node;
    const float *in = i ? n->L[i - 1].y : NULL;
    switch (L->op) {
    case OP_EMBED:
      op_embed_fwd_f32(G, TB, L->out, n->fw[nd->w[W_EMBED]], x, L->mask, L->ybuf);
      L->y = L->ybuf;
      break;
    case OP_DROPOUT:
      if (L->mask) {
        memcpy(L->ybuf, in, (size_t)(TB * L->out) * sizeof(float));
        op_lockdrop_f32(G, T, B, L->out, L->ybuf, L->mask);
        L->y = L->ybuf;
      } else {
        L->y = in;
      }
      break;
    case OP_LSTM: {
      int64_t H = L->out;
      const float *Whh = n->fw[nd->w[W_HH]];
      if (L->mask) {
        mul(n, 4 * H * H, Whh, L->mask, L->Weff, 0);
        Whh = L->Weff;
      }
      memcpy(L->Hall, L->h, (size_t)(B * H) * sizeof(float));
      memcpy(L->Call, L->c, (size_t)(B * H) * sizeof(float));
      if ((st = op_lstm_fwd_f32(G, &L->work, T, B, L->in, H, in, n->fw[nd->w[W_IH]], Whh, n->fw[nd->w[B_IH]],
                                n->fw[nd->w[B_HH]], L->gates, L->Hall, L->Call)))
        return st;
      memcpy(L->h, L->Hall + T * B * H, (size_t)(B * H) * sizeof(float));
      memcpy(L->c, L->Call + T * B * H, (size_t)(B * H) * sizeof(float));
      L->y = L->Hall + B * H;
      break;
    }
    case OP_DECODER:
      op_linear_fwd_f32(G, TB, L->in, V, in, n->fw[nd->w[W_DEC]], n->fw[nd->w[B_DEC]], L->ybuf);
      L->y = L->ybuf;
      break;
    default: LX_BUG("unexpected op in the training network");
    }
  }
  Layer *D = &n->L[n->dec];
  out->predictions = TB;
  out->nll = op_softmax_ce_f32(G, TB, V, D->ybuf, y, n->training ? 1.0 / (double)TB : 0.0, n->row_nll);
  if (!n->training) return 0;

  /* backward */
  for (int s = 0; s < g->nslots; s++) memset(n->grad[s], 0, (size_t)(g->slots[s].rows * g->slots[s].cols) * sizeof(float));
  float *dcur = NULL;
  for (int i = n->nl - 1; i >= 0; i--) {
    Layer *L = &n->L[i];
    const Node *nd = L->node;
    const float *in = i ? n->L[i - 1].y : NULL;
    switch (L->op) {
    case OP_DECODER:
      op_linear_bwd_f32(G, TB, L->in, V, in, n->fw[nd->w[W_DEC]], L->ybuf, n->grad[nd->w[W_DEC]], n->grad[nd->w[B_DEC]], n->dA);
      dcur = n->dA;
      if (alpha != 0) out->ar = op_ar_f32(TB, L->in, in, alpha, dcur);
      break;
    case OP_DROPOUT:
      if (L->mask) op_lockdrop_f32(G, T, B, L->out, dcur, L->mask);
      break;
    case OP_LSTM: {
      int64_t H = L->out;
      if (i == n->last_lstm && beta != 0) out->tar = op_tar_f32(T, B, H, L->Hall + B * H, beta, dcur);
      float *dst = dcur == n->dA ? n->dB : n->dA;
      const float *Whh = L->mask ? L->Weff : n->fw[nd->w[W_HH]];
      float *gWhh = L->mask ? L->dWeff : n->grad[nd->w[W_HH]];
      if (L->mask) memset(L->dWeff, 0, (size_t)(4 * H * H) * sizeof(float));
      if ((st = op_lstm_bwd_f32(G, &L->work, T, B, L->in, H, in, n->fw[nd->w[W_IH]], Whh, L->gates, L->Hall, L->Call,
                                dcur, n->dG, dst, n->grad[nd->w[W_IH]], gWhh, n->grad[nd->w[B_IH]], n->grad[nd->w[B_HH]])))
        return st;
      if (L->mask) mul(n, 4 * H * H, L->dWeff, L->mask, n->grad[nd->w[W_HH]], 1);
      dcur = dst;
      break;
    }
    case OP_EMBED:
      op_embed_bwd_f32(G, TB, L->out, dcur, x, L->mask, n->grad[nd->w[W_EMBED]]);
      break;
    default: LX_BUG("unexpected op in the training network");
    }
  }
  return 0;
}
