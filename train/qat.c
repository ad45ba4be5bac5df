/* Quantization-aware training (see qat.h): the forward passes pointed at the exported, decoded weights. */
#include "train/qat.h"

#include "support/alloc.h"
#include "support/err.h"

int qat_init(Qat *q, int enabled, int nslots) {
  q->enabled = enabled;
  q->nslots = nslots;
  q->w = lx_calloc((size_t)nslots + 1, sizeof *q->w);
  return q->w ? 0 : lx_nomem("starting training");
}

void qat_free(Qat *q) {
  if (q->w)
    for (int s = 0; s < q->nslots; s++) lx_free(q->w[s]);
  lx_free(q->w);
  q->w = NULL;
}

int qat_active(const Qat *q, const Schedule *sched, int64_t epoch, int epoch_begun) {
  return q->enabled && schedule_final_done(sched, epoch, epoch_begun);
}

int qat_point_forward(Qat *q, const Graph *e, TrainEngine *engine) {
  for (int s = 0; s < q->nslots; s++) {
    const Tensor *x = e ? e->slots[s].t : NULL;
    const float *w = NULL;
    if (x && x->enc != LX_ENC_F32) {
      if (!q->w[s] && !(q->w[s] = lx_malloc((size_t)(x->rows * x->cols) * sizeof(float))))
        return lx_nomem("decoding quantized weights");
      for (int64_t r = 0; r < x->rows; r++) tensor_row_to_f32(x, r, q->w[s] + r * x->cols);
      w = q->w[s];
    }
    int st = engine->ops->set_forward_weights(engine, s, w);
    if (st) return st;
  }
  return 0;
}

int qat_refresh(Qat *q, const Schedule *sched, const Graph *g, Diag *diag, TrainEngine *engine) {
  Graph *e;
  int st = engine_to_host(engine); /* the master weights, where the engine keeps them elsewhere */
  if (!st) st = schedule_export(sched, g, 1, diag, &e);
  if (st) return st;
  st = qat_point_forward(q, e, engine);
  graph_free(e);
  return st;
}
