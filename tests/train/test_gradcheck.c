/* Gradient checks: the backward of every training op (embedding with a fixed embedding-dropout mask,
 * locked dropout with a fixed mask, the LSTM layer over several steps with a carried-in state, the
 * decoder, softmax cross-entropy, AR and TAR) against central finite differences, in double precision —
 * the double instantiation of the very source the float engine is compiled from. Each op's output is
 * reduced to a scalar with fixed random weights, so the check covers every output element. Run on three
 * threads so that the LSTM's per-thread unit ranges and barriers are exercised; the float copy must agree
 * with the double copy. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "support/alloc.h"
#include "support/rng.h"
#include "testutil.h"
#include "train/ops.h"

static Gemm *G;
static Rng rng;

static double *rnd(int64_t n, double scale) {
  double *x = lx_malloc((size_t)(n ? n : 1) * sizeof(double));
  for (int64_t i = 0; i < n; i++) x[i] = (rng_uniform(&rng) * 2 - 1) * scale;
  return x;
}

static double *zeros(int64_t n) { return lx_calloc((size_t)(n ? n : 1), sizeof(double)); }

static double dot(const double *a, const double *b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

/* Compares an analytic gradient with central differences of loss() over every element of x. */
typedef double (*LossFn)(void *ctx);
static int check_grad(const char *what, double *x, int64_t n, const double *grad, LossFn loss, void *ctx) {
  const double h = 1e-5;
  double worst = 0;
  int64_t at = -1;
  for (int64_t i = 0; i < n; i++) {
    double keep = x[i];
    x[i] = keep + h;
    double lp = loss(ctx);
    x[i] = keep - h;
    double lm = loss(ctx);
    x[i] = keep;
    double num = (lp - lm) / (2 * h);
    double err = fabs(num - grad[i]) / fmax(1e-3, fabs(num) + fabs(grad[i]));
    if (err > worst) worst = err, at = i;
  }
  int ok = CHECK(worst < 1e-6);
  if (!ok || getenv("GRADCHECK_VERBOSE"))
    fprintf(stderr, "    %-22s %lld elements, worst relative error %.2e at %lld\n", what, (long long)n, worst, (long long)at);
  return ok;
}

/* ---- embedding ------------------------------------------------------------------------------------- */

typedef struct EmbedCase {
  int64_t n, D, V;
  double *E, *scale, *P, *out;
  int32_t *tok;
} EmbedCase;

static double embed_loss(void *c) {
  EmbedCase *e = c;
  op_embed_fwd_f64(G, e->n, e->D, e->E, e->tok, e->scale, e->out);
  return dot(e->out, e->P, e->n * e->D);
}

static void test_embed(void) {
  EmbedCase e = {9, 5, 7, NULL, NULL, NULL, NULL, NULL};
  e.E = rnd(e.V * e.D, 1);
  e.P = rnd(e.n * e.D, 1);
  e.out = zeros(e.n * e.D);
  e.scale = zeros(e.V);
  for (int64_t v = 0; v < e.V; v++) e.scale[v] = v % 3 == 1 ? 0 : 1 / (1 - 0.3); /* embedding dropout p = 0.3 */
  e.tok = lx_malloc((size_t)e.n * sizeof(int32_t));
  for (int64_t i = 0; i < e.n; i++) e.tok[i] = (int32_t)rng_below(&rng, (uint64_t)e.V);
  e.tok[3] = e.tok[0]; /* a repeated token: its rows' gradients add */
  double *dE = zeros(e.V * e.D);
  op_embed_bwd_f64(G, e.n, e.D, e.P, e.tok, e.scale, dE);
  check_grad("embed: E", e.E, e.V * e.D, dE, embed_loss, &e);
  lx_free(dE);
  lx_free(e.E);
  lx_free(e.P);
  lx_free(e.out);
  lx_free(e.scale);
  lx_free(e.tok);
}

/* ---- locked dropout -------------------------------------------------------------------------------- */

typedef struct LockCase {
  int64_t T, B, F;
  double *x, *mask, *P, *y;
} LockCase;

static double lock_loss(void *c) {
  LockCase *l = c;
  memcpy(l->y, l->x, (size_t)(l->T * l->B * l->F) * sizeof(double));
  op_lockdrop_f64(G, l->T, l->B, l->F, l->y, l->mask);
  return dot(l->y, l->P, l->T * l->B * l->F);
}

static void test_lockdrop(void) {
  LockCase l = {4, 3, 5, NULL, NULL, NULL, NULL};
  int64_t N = l.T * l.B * l.F;
  l.x = rnd(N, 1);
  l.P = rnd(N, 1);
  l.y = zeros(N);
  l.mask = zeros(l.B * l.F);
  for (int64_t i = 0; i < l.B * l.F; i++) l.mask[i] = rng_uniform(&rng) < 0.4 ? 0 : 1 / (1 - 0.4);
  double *dx = lx_malloc((size_t)N * sizeof(double));
  memcpy(dx, l.P, (size_t)N * sizeof(double));
  op_lockdrop_f64(G, l.T, l.B, l.F, dx, l.mask);
  check_grad("lockdrop: x", l.x, N, dx, lock_loss, &l);
  /* the same mask at every time step */
  lock_loss(&l);
  int same = 1;
  for (int64_t t = 0; t < l.T; t++)
    for (int64_t i = 0; i < l.B * l.F; i++) same &= (l.y[t * l.B * l.F + i] == 0) == (l.mask[i] == 0 || l.x[t * l.B * l.F + i] == 0);
  CHECK(same);
  lx_free(dx);
  lx_free(l.x);
  lx_free(l.P);
  lx_free(l.y);
  lx_free(l.mask);
}

/* ---- LSTM ------------------------------------------------------------------------------------------ */

typedef struct LstmCase {
  int64_t T, B, I, H;
  double *X, *Wih, *Whh, *bih, *bhh, *h0, *c0, *P, *gates, *Hall, *Call;
  LstmWork w;
} LstmCase;

static double lstm_loss(void *c) {
  LstmCase *l = c;
  int64_t BH = l->B * l->H;
  memcpy(l->Hall, l->h0, (size_t)BH * sizeof(double));
  memcpy(l->Call, l->c0, (size_t)BH * sizeof(double));
  CHECK(op_lstm_fwd_f64(G, &l->w, l->T, l->B, l->I, l->H, l->X, l->Wih, l->Whh, l->bih, l->bhh, l->gates, l->Hall, l->Call) == 0);
  return dot(l->Hall + BH, l->P, l->T * BH);
}

static void test_lstm(void) {
  /* H = 20 spans three 8-column panels of the double kernel: three threads own different unit ranges */
  LstmCase l = {.T = 5, .B = 3, .I = 6, .H = 20};
  memset(&l.w, 0, sizeof l.w);
  int64_t T = l.T, B = l.B, I = l.I, H = l.H;
  l.X = rnd(T * B * I, 1);
  l.Wih = rnd(4 * H * I, 0.6);
  l.Whh = rnd(4 * H * H, 0.6);
  l.bih = rnd(4 * H, 0.5);
  l.bhh = rnd(4 * H, 0.5);
  l.h0 = rnd(B * H, 0.5);
  l.c0 = rnd(B * H, 1);
  l.P = rnd(T * B * H, 1);
  l.gates = zeros(T * B * 4 * H);
  l.Hall = zeros((T + 1) * B * H);
  l.Call = zeros((T + 1) * B * H);
  double *dX = zeros(T * B * I), *dWih = zeros(4 * H * I), *dWhh = zeros(4 * H * H), *dbih = zeros(4 * H),
         *dbhh = zeros(4 * H), *dG = zeros(T * B * 4 * H);
  lstm_loss(&l);
  CHECK(op_lstm_bwd_f64(G, &l.w, T, B, I, H, l.X, l.Wih, l.Whh, l.gates, l.Hall, l.Call, l.P, dG, dX, dWih, dWhh, dbih,
                        dbhh) == 0);
  check_grad("lstm: X", l.X, T * B * I, dX, lstm_loss, &l);
  check_grad("lstm: W_ih", l.Wih, 4 * H * I, dWih, lstm_loss, &l);
  check_grad("lstm: W_hh", l.Whh, 4 * H * H, dWhh, lstm_loss, &l);
  check_grad("lstm: b_ih", l.bih, 4 * H, dbih, lstm_loss, &l);
  check_grad("lstm: b_hh", l.bhh, 4 * H, dbhh, lstm_loss, &l);

  /* the float engine computes the same function */
  float *f[11];
  double *src[7] = {l.X, l.Wih, l.Whh, l.bih, l.bhh, l.h0, l.c0};
  int64_t len[7] = {T * B * I, 4 * H * I, 4 * H * H, 4 * H, 4 * H, B * H, B * H};
  for (int k = 0; k < 7; k++) {
    f[k] = lx_malloc((size_t)len[k] * sizeof(float));
    for (int64_t i = 0; i < len[k]; i++) f[k][i] = (float)src[k][i];
  }
  float *fg = lx_malloc((size_t)(T * B * 4 * H) * sizeof(float)), *fH = lx_malloc((size_t)((T + 1) * B * H) * sizeof(float)),
        *fC = lx_malloc((size_t)((T + 1) * B * H) * sizeof(float));
  memcpy(fH, f[5], (size_t)(B * H) * sizeof(float));
  memcpy(fC, f[6], (size_t)(B * H) * sizeof(float));
  LstmWork fw;
  memset(&fw, 0, sizeof fw);
  CHECK(op_lstm_fwd_f32(G, &fw, T, B, I, H, f[0], f[1], f[2], f[3], f[4], fg, fH, fC) == 0);
  lstm_loss(&l);
  double md = 0;
  for (int64_t i = 0; i < (T + 1) * B * H; i++) md = fmax(md, fabs(fH[i] - l.Hall[i]));
  CHECK(md < 1e-5);
  lstm_work_free(&fw);
  for (int k = 0; k < 7; k++) lx_free(f[k]);
  lx_free(fg);
  lx_free(fH);
  lx_free(fC);

  lstm_work_free(&l.w);
  double *all[] = {l.X, l.Wih, l.Whh, l.bih, l.bhh, l.h0, l.c0, l.P, l.gates, l.Hall, l.Call, dX, dWih, dWhh, dbih, dbhh, dG};
  for (size_t k = 0; k < sizeof all / sizeof *all; k++) lx_free(all[k]);
}

/* ---- decoder and softmax cross-entropy -------------------------------------------------------------- */

typedef struct LinCase {
  int64_t n, D, V;
  double *X, *W, *b, *P, *Y;
} LinCase;

static double lin_loss(void *c) {
  LinCase *l = c;
  op_linear_fwd_f64(G, l->n, l->D, l->V, l->X, l->W, l->b, l->Y);
  return dot(l->Y, l->P, l->n * l->V);
}

static void test_linear(void) {
  LinCase l = {.n = 7, .D = 9, .V = 19};
  l.X = rnd(l.n * l.D, 1);
  l.W = rnd(l.V * l.D, 1);
  l.b = rnd(l.V, 1);
  l.P = rnd(l.n * l.V, 1);
  l.Y = zeros(l.n * l.V);
  double *dX = zeros(l.n * l.D), *dW = zeros(l.V * l.D), *db = zeros(l.V);
  op_linear_bwd_f64(G, l.n, l.D, l.V, l.X, l.W, l.P, dW, db, dX);
  check_grad("decoder: X", l.X, l.n * l.D, dX, lin_loss, &l);
  check_grad("decoder: W", l.W, l.V * l.D, dW, lin_loss, &l);
  check_grad("decoder: b", l.b, l.V, db, lin_loss, &l);
  double *all[] = {l.X, l.W, l.b, l.P, l.Y, dX, dW, db};
  for (size_t k = 0; k < sizeof all / sizeof *all; k++) lx_free(all[k]);
}

typedef struct CeCase {
  int64_t n, V;
  double *logits, *work, *row;
  int32_t *tgt;
} CeCase;

static double ce_loss(void *c) {
  CeCase *e = c;
  memcpy(e->work, e->logits, (size_t)(e->n * e->V) * sizeof(double));
  return op_softmax_ce_f64(G, e->n, e->V, e->work, e->tgt, 0, e->row);
}

static void test_softmax_ce(void) {
  CeCase e = {.n = 6, .V = 11};
  e.logits = rnd(e.n * e.V, 4);
  e.work = zeros(e.n * e.V);
  e.row = zeros(e.n);
  e.tgt = lx_malloc((size_t)e.n * sizeof(int32_t));
  for (int64_t i = 0; i < e.n; i++) e.tgt[i] = (int32_t)rng_below(&rng, (uint64_t)e.V);
  double *d = zeros(e.n * e.V);
  memcpy(d, e.logits, (size_t)(e.n * e.V) * sizeof(double));
  double nll = op_softmax_ce_f64(G, e.n, e.V, d, e.tgt, 1.0, e.row);
  /* the loss itself against a direct computation */
  double want = 0;
  for (int64_t r = 0; r < e.n; r++) {
    double s = 0;
    for (int64_t v = 0; v < e.V; v++) s += exp(e.logits[r * e.V + v]);
    want += log(s) - e.logits[r * e.V + e.tgt[r]];
  }
  CHECK(fabs(nll - want) < 1e-12 * fabs(want));
  check_grad("softmax-ce: logits", e.logits, e.n * e.V, d, ce_loss, &e);
  lx_free(d);
  lx_free(e.logits);
  lx_free(e.work);
  lx_free(e.row);
  lx_free(e.tgt);
}

/* ---- AR, TAR ------------------------------------------------------------------------------------- */

typedef struct RegCase {
  int64_t T, B, F;
  double *x, coef;
  int tar;
} RegCase;

static double reg_loss(void *c) {
  RegCase *r = c;
  return r->tar ? op_tar_f64(r->T, r->B, r->F, r->x, r->coef, NULL) : op_ar_f64(r->T * r->B, r->F, r->x, r->coef, NULL);
}

static void test_ar_tar(void) {
  for (int tar = 0; tar < 2; tar++) {
    RegCase r = {5, 3, 4, NULL, tar ? 1.5 : 2.0, tar};
    int64_t N = r.T * r.B * r.F;
    r.x = rnd(N, 1);
    double *d = zeros(N);
    double v = tar ? op_tar_f64(r.T, r.B, r.F, r.x, r.coef, d) : op_ar_f64(r.T * r.B, r.F, r.x, r.coef, d);
    CHECK(fabs(v - reg_loss(&r)) < 1e-15);
    check_grad(tar ? "TAR: h" : "AR: x", r.x, N, d, reg_loss, &r);
    lx_free(r.x);
    lx_free(d);
  }
  /* TAR of one step is 0 (no pairs) */
  double x[4] = {1, 2, 3, 4};
  CHECK(op_tar_f64(1, 2, 2, x, 1.0, NULL) == 0);
}

int main(void) {
  Pool *p;
  rng_seed(&rng, 2024);
  if (!CHECK(pool_create(3, &p) == 0) || !CHECK(gemm_create(p, &G) == 0)) return tu_summary("train_gradcheck");
  test_embed();
  test_lockdrop();
  test_lstm();
  test_linear();
  test_softmax_ce();
  test_ar_tar();
  gemm_free(G);
  pool_free(p);
  return tu_summary("train_gradcheck");
}
