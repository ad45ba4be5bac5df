/* Pass pipelines inside training: the train block's `prune_at E1, E2 { pipeline }` entries, and the
 * structure of the weights they leave, which every later step respects.
 *
 * At the start of each listed epoch the pipeline runs (passes/pipeline.h, in training mode) on a copy of
 * the graph whose weights are the trained values with the current pruning masks (masked layout). What it
 * leaves becomes, per weight, a *template*: the layout (dense, masked, column-packed), the mask, the
 * column groups and packed selections, with f32 values. Training continues on dense f32 master weights:
 * the template's values are taken over, its kept set becomes the pruning mask (pruned weights stay exactly
 * zero; their gradients and optimizer state are masked), and the weight-drop probabilities the pipeline
 * set (weight-drop{p=…} in training mode) apply from then on.
 *
 * Quantization stays out of the float training: `quantize{…}` may only end the last pipeline (the one of
 * the last prune_at epoch); it runs when the final weights are exported — each template filled with the
 * trained values, then the quantize pass — and, with the train block's `qat;`, before every step as well,
 * so that the forward pass sees the quantized weights while the gradient goes straight through to the
 * float master weights (straight-through estimator).
 *
 * An --init file in a non-dense format gives the first templates (its masks and groups are kept the same
 * way). Diagnostics (a pipeline's errors, with their place in the spec) go to the Diag the caller passes.
 * Memory: a Schedule owns its templates, masks and pass copies; schedule_free releases them. */
#ifndef LSTMC_TRAIN_SCHEDULE_H
#define LSTMC_TRAIN_SCHEDULE_H
#include <stdint.h>

#include "frontend/diag.h"
#include "frontend/spec.h"
#include "ir/graph.h"

typedef struct Schedule {
  const Spec *spec;
  int nslots;
  int final_entry;        /* the entry holding the last prune_at epoch; -1 without a schedule */
  int64_t final_epoch;
  AstPipeline *structural; /* [nschedule] each pipeline without a trailing quantize */
  AstPass *copies;         /* the pass nodes of `structural` (owned) */
  AstPipeline quantize;    /* the last pipeline's trailing quantize alone (npasses 0: none) */
  Tensor **tmpl;           /* [nslots] the structure of each weight, or NULL (plain dense) */
  uint8_t **masks;         /* [nslots] the pruning mask each template implies (1 = kept), NULL where nothing
                              is pruned: what the training steps keep at zero */
  char *record;            /* canonical text of the pipelines that ran (the weights' lstmc.pipeline) */
} Schedule;

/* Checks the schedule of the spec (pipeline names and options, where quantize may stand, qat's needs);
 * errors name the spec's place. */
int schedule_init(Schedule *s, const Spec *spec, int nslots, Diag *diag);
void schedule_free(Schedule *s);

/* 1 when the entry's pipeline runs at the start of this epoch. */
int schedule_due(const Schedule *s, int entry, int64_t epoch);
/* 1 once the last pipeline has run at or before this point (epoch, and whether it has started). */
int schedule_final_done(const Schedule *s, int64_t epoch, int started);

/* Runs entry's pipeline over g's trained weights (g keeps dense f32 master weights): afterwards g holds
 * the pipeline's values, s->masks its kept sets, s->tmpl the structures, and g's lstm nodes the
 * weight-drop probabilities it set. */
int schedule_run(Schedule *s, Graph *g, int entry, Diag *diag);

/* The weights to export: a copy of g (its f32 master weights) in each template's structure, then the
 * final quantize when `quantize` is set and there is one; the pipeline record set. *out is owned by the
 * caller (graph_free). */
int schedule_export(const Schedule *s, const Graph *g, int quantize, Diag *diag, Graph **out);

/* Takes over a weight in another format (an --init file) as dense f32 plus its template and mask. */
int schedule_adopt_tensor(Schedule *s, Graph *g, int slot);
/* The pruning mask a template implies (1 = kept); NULL for a dense template or on OOM (*oom set). */
uint8_t *schedule_mask_of(const Tensor *tmpl, int *oom);

#endif
