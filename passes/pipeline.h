/* The pass manager: runs a pipeline of graph-rewriting passes, as text
 * `prune{sparsity=0.8},column-combine{alpha=8,gamma=0.5},conflict-prune,quantize{bits=8}`, over a Graph whose
 * weights are loaded. Passes are registered in passes.def (name, summary, options with types and defaults);
 * the manager checks names and option values before anything runs (errors name the pipeline position and
 * the place in the spec or the --passes text), verifies the graph after each pass, and prints IR or
 * statistics on request. */
#ifndef LSTMC_PASSES_PIPELINE_H
#define LSTMC_PASSES_PIPELINE_H
#include <stdio.h>

#include "frontend/ast.h"
#include "frontend/diag.h"
#include "ir/graph.h"

typedef struct PipelineOptions {
  int verify_each;         /* verify after every pass (always on in debug builds) */
  const char *print_after; /* print the IR after each run of this pass (NULL: never) */
  int print_after_all;
  int stats;               /* per pass: weights kept, groups, conflicts pruned, utilization, bytes */
  int time_passes;
  FILE *out;               /* where printing, statistics and timings go (NULL: stderr) */
  int training;            /* the graph is being trained: weight-drop stays (as a training-time mask) */
} PipelineOptions;

/* Checks pass names and options of a parsed pipeline against the registry; reports every problem through
 * diag (with its place) and returns 0 or LSTMC_ERR_PARSE. */
int pipeline_check(const AstPipeline *p, Diag *diag);
/* Runs a checked pipeline over g. A pass whose input format it cannot take is an error naming the
 * pipeline position and the tensor; g is then left as the previous pass made it. */
int pipeline_run(Graph *g, const AstPipeline *p, const PipelineOptions *o, Diag *diag);
/* Parses (with parse_pipeline_text; `where` names the source, e.g. "--passes"), checks and runs. */
int pipeline_run_text(Graph *g, const char *text, const char *where, const PipelineOptions *o, Diag *diag);
/* Prints the registry: every pass, its summary and options with defaults (`lstmc --list-passes`). */
void pipeline_list(FILE *out);

#endif
