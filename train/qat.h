/* Quantization-aware training (the train block's `qat;`): once the last prune_at pipeline has run, the
 * forward pass of every step — and the validation — reads the weights as the final pipeline would export
 * them now (schedule_export with its quantizer, decoded to f32), while the gradient is applied to the float
 * master weights (straight-through estimator). The same pointing of the forward passes at exported weights
 * serves the end of a run, which reports the BPC of the weights it writes.
 *
 * Memory: a Qat owns one decoded buffer per quantized weight, made on first use and kept; qat_free. */
#ifndef LSTMC_TRAIN_QAT_H
#define LSTMC_TRAIN_QAT_H
#include "frontend/diag.h"
#include "ir/graph.h"
#include "train/engine.h"
#include "train/schedule.h"

typedef struct Qat {
  int enabled;   /* the train block says `qat;` */
  int nslots;
  float **w;     /* [nslots] the decoded weights the forward passes read, NULL where none */
} Qat;

int qat_init(Qat *q, int enabled, int nslots);
void qat_free(Qat *q);

/* 1 when the forward passes must read the quantized weights: qat is on and the last pipeline has run at
 * or before this point (epoch, and whether its pipelines have run). */
int qat_active(const Qat *q, const Schedule *sched, int64_t epoch, int epoch_begun);
/* Exports g's master weights through the schedule (quantized) and points the engine's forward passes at
 * them. */
int qat_refresh(Qat *q, const Schedule *sched, const Graph *g, Diag *diag, TrainEngine *engine);
/* Points the engine's forward passes at e's weights where e stores them quantized, decoded to f32; everywhere
 * else (and for e NULL) at the master weights, which equal e's other formats. */
int qat_point_forward(Qat *q, const Graph *e, TrainEngine *engine);

#endif
