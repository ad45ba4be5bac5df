/* The systolic executor: runs a program token by token with the array's arithmetic, keeping h and c of
 * every layer for each stream. After each product the array's post-processing does what the reference
 * executor does after its matrix-vector products, in the same order and precision — the gate
 * pre-activations start from b_ih + b_hh in double, y_ih then y_hh are added, the cell runs
 * (lstm_cell_ref with exact gates) — so that with 8-bit activations and no saturation the logits equal the
 * reference executor's on act_bits = 8 weights bit for bit.
 *
 * With cfg.cell_sim every token runs through the cell-by-cell simulation instead of the arithmetic
 * functions: the layers' cells are computed in its callback the moment a layer's last accumulator is
 * written, and the simulation checks that no input vector is fed before that. */
#include <string.h>

#include "codegen/systolic/systolic.h"
#include "support/alloc.h"
#include "support/err.h"

typedef struct SaExec {
  Executor base;
  SaProgram *prog;
  int batch;
  int64_t maxdim;        /* largest vector: inputs, hidden, vocabulary */
  float **h, **c;        /* [nlayers] each [batch * hidden] */
  float *x;              /* [batch * maxdim]: the current layer's input per stream */
  int16_t **q;           /* [nproducts] each [batch * cols]: the quantized input of each product */
  float **sx;            /* [nproducts] each [batch] */
  int64_t **acc;         /* [nproducts] each [batch * rows] */
  double *gates;         /* [maxdim * 4] */
  uint8_t *scratch;      /* the kernel's tables */
  int64_t saturations;
  SaCycleStats stats;
  /* cell simulation: this step's logits, schedule and which layers are done */
  float *logits;
  SaTileTime *times;
  int *layer_done, dec_done, *prod_done;
} SaExec;

static void sa_destroy(Executor *e) {
  SaExec *s = (SaExec *)e;
  if (!s) return;
  SaProgram *p = s->prog;
  for (int l = 0; p && l < p->nlayers; l++) {
    if (s->h) lx_free(s->h[l]);
    if (s->c) lx_free(s->c[l]);
  }
  for (int i = 0; p && i < p->nproducts; i++) {
    if (s->q) lx_free(s->q[i]);
    if (s->sx) lx_free(s->sx[i]);
    if (s->acc) lx_free(s->acc[i]);
  }
  lx_free(s->h);
  lx_free(s->c);
  lx_free(s->q);
  lx_free(s->sx);
  lx_free(s->acc);
  lx_free(s->x);
  lx_free(s->gates);
  lx_free(s->scratch);
  lx_free(s->times);
  lx_free(s->layer_done);
  lx_free(s->prod_done);
  sa_program_free(p);
  lx_free(s);
}

static void sa_reset(Executor *e) {
  SaExec *s = (SaExec *)e;
  for (int l = 0; l < s->prog->nlayers; l++) {
    size_t n = (size_t)s->batch * (size_t)s->prog->layers[l].hidden * sizeof(float);
    memset(s->h[l], 0, n);
    memset(s->c[l], 0, n);
  }
}

int sa_exec_create_program(SaProgram *p, int batch, Executor **out) {
  *out = NULL;
  SaExec *s = lx_calloc(1, sizeof *s);
  if (!s) {
    sa_program_free(p);
    return lx_nomem("creating the systolic executor");
  }
  s->base.vt = &systolic_exec_vtbl;
  s->prog = p;
  s->batch = batch > 0 ? batch : 1;
  size_t B = (size_t)s->batch;
  int64_t maxd = p->vocab > p->embed_dim ? p->vocab : p->embed_dim;
  for (int l = 0; l < p->nlayers; l++) {
    if (4 * p->layers[l].hidden > maxd) maxd = 4 * p->layers[l].hidden;
    if (p->layers[l].in > maxd) maxd = p->layers[l].in;
  }
  s->maxdim = maxd;
  size_t scratch = 0;
  for (int i = 0; i < p->nproducts; i++)
    if (sa_kernel_table_bytes(&p->products[i]) > scratch) scratch = sa_kernel_table_bytes(&p->products[i]);
  s->h = lx_calloc((size_t)p->nlayers + 1, sizeof(float *));
  s->c = lx_calloc((size_t)p->nlayers + 1, sizeof(float *));
  s->q = lx_calloc((size_t)p->nproducts + 1, sizeof(int16_t *));
  s->sx = lx_calloc((size_t)p->nproducts + 1, sizeof(float *));
  s->acc = lx_calloc((size_t)p->nproducts + 1, sizeof(int64_t *));
  s->x = lx_malloc(B * (size_t)maxd * sizeof(float));
  s->gates = lx_malloc(B * (size_t)maxd * sizeof(double));
  s->scratch = lx_malloc(scratch + 64);
  s->layer_done = lx_calloc((size_t)p->nlayers + 1, sizeof(int));
  s->prod_done = lx_calloc((size_t)p->nproducts + 1, sizeof(int));
  s->times = lx_malloc(((size_t)p->ntiles + 1) * sizeof *s->times);
  int ok = s->h && s->c && s->q && s->sx && s->acc && s->x && s->gates && s->scratch && s->layer_done && s->prod_done &&
           s->times;
  for (int l = 0; ok && l < p->nlayers; l++) {
    s->h[l] = lx_calloc(B * (size_t)p->layers[l].hidden, sizeof(float));
    s->c[l] = lx_calloc(B * (size_t)p->layers[l].hidden, sizeof(float));
    ok = s->h[l] && s->c[l];
  }
  for (int i = 0; ok && i < p->nproducts; i++) {
    s->q[i] = lx_malloc(B * (size_t)p->products[i].cols * sizeof(int16_t) + 1);
    s->sx[i] = lx_malloc(B * sizeof(float));
    s->acc[i] = lx_malloc(B * (size_t)p->products[i].rows * sizeof(int64_t));
    ok = s->q[i] && s->sx[i] && s->acc[i];
  }
  int st = ok ? sa_cycle_stats(p, s->batch, &s->stats) : lx_nomem("creating the systolic executor");
  if (!st && p->cfg.cell_sim) st = sa_schedule(p, s->batch, 1, 0, s->times);
  if (st) {
    sa_destroy(&s->base);
    return st;
  }
  *out = &s->base;
  return 0;
}

static int sa_create(const Graph *g, const ExecOptions *o, Executor **out) {
  SystolicConfig cfg;
  if (o->systolic) cfg = *o->systolic;
  else sa_config_default(&cfg);
  SaProgram *p;
  int st = sa_program_build(g, &cfg, &p);
  if (st) return st;
  st = sa_exec_create_program(p, o->batch, out);
  if (!st) {
    (*out)->g = g;
    (*out)->opts = *o;
    (*out)->opts.systolic = NULL; /* the caller's config need not outlive the executor: the program has it */
  }
  return st;
}

static int sa_supports(const Graph *g, const ExecOptions *o) {
  SystolicConfig cfg;
  if (o->systolic) cfg = *o->systolic;
  else sa_config_default(&cfg);
  SaProgram *p;
  int st = sa_program_build(g, &cfg, &p);
  sa_program_free(p);
  return st;
}

/* y = ((float)acc · s_x) · scale, added in double to the gate pre-activations (the contract's step 5). */
static void add_product(const SaProduct *pr, const int64_t *acc, float s_x, double *gates) {
  for (int64_t r = 0; r < pr->rows; r++) gates[r] += (double)(((float)acc[r] * s_x) * pr->scale[r]);
}

/* Quantizes stream b's input of product i. */
static void quantize_input(SaExec *s, int i, int b, const float *x) {
  const SaProduct *pr = &s->prog->products[i];
  sa_quantize(x, pr->cols, s->prog->cfg.abits, s->q[i] + (size_t)b * (size_t)pr->cols, &s->sx[i][b]);
}

static void run_product(SaExec *s, int i, int b) {
  const SaProduct *pr = &s->prog->products[i];
  int64_t *acc = s->acc[i] + (size_t)b * (size_t)pr->rows;
  s->saturations += sa_product_acc(pr, &s->prog->cfg, s->q[i] + (size_t)b * (size_t)pr->cols, s->scratch, acc);
}

/* Layer l's cell for stream b, from its two products' accumulators; then its h is the next input. */
static void layer_tail(SaExec *s, int l, int b) {
  const SaProgram *p = s->prog;
  const SaLayer *ly = &p->layers[l];
  int64_t H = ly->hidden;
  double *gates = s->gates;
  for (int64_t j = 0; j < 4 * H; j++) gates[j] = (double)ly->b_ih[j] + (double)ly->b_hh[j];
  add_product(&p->products[ly->w_ih], s->acc[ly->w_ih] + (size_t)b * (size_t)(4 * H), s->sx[ly->w_ih][b], gates);
  add_product(&p->products[ly->w_hh], s->acc[ly->w_hh] + (size_t)b * (size_t)(4 * H), s->sx[ly->w_hh][b], gates);
  sa_lstm_cell(&p->gt, gates, H, s->h[l] + (size_t)b * (size_t)H, s->c[l] + (size_t)b * (size_t)H);
}

static void decoder_tail(SaExec *s, int b, float *logits) {
  const SaProgram *p = s->prog;
  double *acc = s->gates;
  for (int64_t j = 0; j < p->vocab; j++) acc[j] = p->b_dec[j];
  add_product(&p->products[p->dec], s->acc[p->dec] + (size_t)b * (size_t)p->vocab, s->sx[p->dec][b], acc);
  float *out = logits + (size_t)b * (size_t)p->vocab;
  for (int64_t j = 0; j < p->vocab; j++) out[j] = (float)acc[j];
}

/* The consumer of layer l's h: the next layer's W_ih, or the decoder. */
static int consumer_of(const SaProgram *p, int l) { return l + 1 < p->nlayers ? p->layers[l + 1].w_ih : p->dec; }

/* ---- cell simulation --------------------------------------------------------------------------------- */

/* Computes every layer (and the decoder) whose products are all done, in order. */
static void pump(SaExec *s) {
  const SaProgram *p = s->prog;
  for (int l = 0; l < p->nlayers; l++) {
    const SaLayer *ly = &p->layers[l];
    if (s->layer_done[l] || !s->prod_done[ly->w_ih] || !s->prod_done[ly->w_hh]) continue;
    s->layer_done[l] = 1;
    int next = consumer_of(p, l);
    for (int b = 0; b < s->batch; b++) {
      layer_tail(s, l, b);
      quantize_input(s, next, b, s->h[l] + (size_t)b * (size_t)ly->hidden);
    }
  }
  if (!s->dec_done && s->prod_done[p->dec] && (p->nlayers == 0 || s->layer_done[p->nlayers - 1])) {
    s->dec_done = 1;
    for (int b = 0; b < s->batch; b++) decoder_tail(s, b, s->logits);
  }
}

static void on_product_done(void *ctx, int64_t token, int product) {
  SaExec *s = ctx;
  (void)token;
  s->prod_done[product] = 1;
  pump(s);
}

static int step_cellsim(SaExec *s, float *logits) {
  const SaProgram *p = s->prog;
  SaCellJob *jobs = lx_malloc((size_t)p->nproducts * sizeof *jobs);
  if (!jobs) return lx_nomem("simulating the array cell by cell");
  for (int i = 0; i < p->nproducts; i++) {
    jobs[i].token = 0;
    jobs[i].product = i;
    jobs[i].q = s->q[i];
    jobs[i].acc = s->acc[i];
    s->prod_done[i] = p->products[i].ntiles == 0;
    if (!p->products[i].ntiles) memset(s->acc[i], 0, (size_t)s->batch * (size_t)p->products[i].rows * sizeof(int64_t));
  }
  memset(s->layer_done, 0, (size_t)p->nlayers * sizeof(int));
  s->dec_done = 0;
  s->logits = logits;
  pump(s);
  SaCellResult res;
  int st = sa_cellsim_run(p, s->batch, 1, s->times, jobs, on_product_done, s, &res);
  lx_free(jobs);
  if (st) return st;
  lx_free(res.done);
  s->saturations += res.saturations;
  if (res.hazards)
    return lx_fail(LSTMC_ERR_BACKEND, "systolic: the cell-by-cell simulation found %lld hazards in the schedule: %s",
                   (long long)res.hazards, res.first_hazard);
  if (!s->dec_done) LX_BUG("the cell simulation ended before the decoder");
  return 0;
}

static int sa_step(Executor *e, const int32_t *tokens, float *logits) {
  SaExec *s = (SaExec *)e;
  const SaProgram *p = s->prog;
  for (int b = 0; b < s->batch; b++)
    if (tokens[b] < 0 || tokens[b] >= p->vocab)
      return lx_fail(LSTMC_ERR_DATA, "token id %d outside the vocabulary [0, %lld)", tokens[b], (long long)p->vocab);
  /* the inputs known before the token starts: the embeddings and every layer's previous h */
  for (int b = 0; b < s->batch; b++) {
    int first = p->nlayers ? p->layers[0].w_ih : p->dec;
    quantize_input(s, first, b, p->embed + (size_t)tokens[b] * (size_t)p->embed_dim);
    for (int l = 0; l < p->nlayers; l++)
      quantize_input(s, p->layers[l].w_hh, b, s->h[l] + (size_t)b * (size_t)p->layers[l].hidden);
  }
  if (p->cfg.cell_sim) return step_cellsim(s, logits);
  for (int b = 0; b < s->batch; b++) {
    for (int l = 0; l < p->nlayers; l++) {
      const SaLayer *ly = &p->layers[l];
      run_product(s, ly->w_hh, b);
      run_product(s, ly->w_ih, b);
      layer_tail(s, l, b);
      quantize_input(s, consumer_of(p, l), b, s->h[l] + (size_t)b * (size_t)ly->hidden);
    }
    run_product(s, p->dec, b);
    decoder_tail(s, b, logits);
  }
  return 0;
}

const SaProgram *sa_exec_program(const Executor *e) {
  return e && e->vt == &systolic_exec_vtbl ? ((const SaExec *)e)->prog : NULL;
}

int sa_exec_stats(const Executor *e, SaCycleStats *out, int64_t *saturations) {
  if (!e || e->vt != &systolic_exec_vtbl)
    return lx_fail(LSTMC_ERR_USAGE, "systolic statistics: the session does not run on the systolic target");
  const SaExec *s = (const SaExec *)e;
  *out = s->stats;
  if (saturations) *saturations = s->saturations;
  return 0;
}

const ExecVtbl systolic_exec_vtbl = {
    .name = "systolic",
    .supports = sa_supports,
    .create = sa_create,
    .destroy = sa_destroy,
    .reset = sa_reset,
    .step = sa_step,
    .score = NULL,
};
