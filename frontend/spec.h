/* A checked model specification: what a .lstm file means. spec.c walks the syntax tree, checks every
 * statement against what it may say (reporting each problem with its place), and fills a Spec; lower.c
 * turns the Spec into an IR Graph.
 *
 * Memory: a Spec owns its source text and an arena holding everything it points to; spec_free releases all. */
#ifndef LSTMC_FRONTEND_SPEC_H
#define LSTMC_FRONTEND_SPEC_H
#include <stdint.h>

#include "frontend/ast.h"
#include "frontend/diag.h"

typedef enum SpecLayerKind { SPEC_EMBED, SPEC_DROPOUT, SPEC_LSTM, SPEC_DECODER } SpecLayerKind;

typedef struct SpecLayer {
  int kind;
  int64_t size;       /* embed/lstm: features */
  double dropout;     /* embed: embedding dropout; dropout: locked-dropout probability */
  double weight_drop; /* lstm */
  int tied;           /* decoder */
  SrcLoc loc;
} SpecLayer;

/* Optimizer hyper-parameters; `set` has bit OPT_x for each one the spec gave. */
enum {
  OPT_LR, OPT_WEIGHT_DECAY, OPT_MOMENTUM, OPT_BETA1, OPT_BETA2, OPT_EPS, OPT_RHO, OPT_ALPHA,
  OPT_FINAL_LR, OPT_GAMMA, OPT_LR_DECAY, OPT_INITIAL_ACCUMULATOR, OPT_COUNT
};
typedef struct OptimizerSpec {
  const char *name; /* sgd, momentum, nesterov, adagrad, adadelta, rmsprop, adam, adamax, nadam, adabound */
  double v[OPT_COUNT];
  unsigned set;
  SrcLoc loc;
} OptimizerSpec;
const char *optimizer_param_name(int k);

typedef struct ScheduleEntry {
  int *epochs; /* ascending */
  int nepochs;
  AstPipeline *pipeline;
  SrcLoc loc;
} ScheduleEntry;

typedef struct TrainSpec {
  int present;
  const char *data, *valid, *test; /* resolved against the spec's folder; NULL when not given */
  SrcLoc data_loc, valid_loc;
  int64_t bptt, batch, epochs, eval_batch;
  uint64_t seed;
  double clip; /* 0: no clipping */
  double ar, tar;
  OptimizerSpec opt;
  int *lr_drop;
  int nlr_drop;
  ScheduleEntry *schedule;
  int nschedule;
  int qat; /* quantization-aware training for a final quantize pass */
  SrcLoc loc;
} TrainSpec;

/* The `systolic { … }` block: the array the systolic target models, as the spec states it. The statements
 * are checked for form here; their ranges, with their places, when the model loads (api/systolic.c). */
typedef struct SpecSystolic {
  int present;
  int64_t rows, cols, alpha, wbits, abits, accbits, gate_n, resident, gate_latency; /* -1: not given */
  const char *gates; /* "exact", "lut" or "pwl"; NULL: not given */
  const char *load;  /* "single" or "double"; NULL: not given */
  SrcLoc loc, array_loc, alpha_loc, wbits_loc, abits_loc, accbits_loc, gates_loc, load_loc, resident_loc,
      gate_latency_loc;
} SpecSystolic;

typedef struct Spec {
  Arena arena;
  char *path;      /* as given */
  char *dir;       /* folder of the spec, for relative paths */
  char *text;      /* source text */
  size_t text_len;
  const char *name;
  int vocab_kind;     /* VocabKind */
  int64_t vocab_size; /* 0 unless the spec states it (`vocab chars 50;`) */
  SpecLayer *layers;
  int nlayers;
  TrainSpec train;
  AstPipeline *passes; /* NULL when the spec has no `passes` statement */
  SrcLoc passes_loc;
  SpecSystolic systolic;
} Spec;

/* Reads, parses and checks a spec file. Diagnostics go to diag; on failure *out is NULL. */
int spec_load(const char *path, Diag *diag, Spec **out);
/* The same for text in memory; `name` is used in messages and `dir` resolves relative paths. */
int spec_load_text(const char *name, const char *dir, const char *text, size_t len, Diag *diag, Spec **out);
void spec_free(Spec *s);

#endif
