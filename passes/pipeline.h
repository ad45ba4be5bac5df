/* The pass manager: runs a pipeline of graph-rewriting passes, as text
 * `prune{sparsity=0.8},column-combine{alpha=8,gamma=0.5},conflict-prune,quantize{bits=8}`, over a Graph whose
 * weights are loaded. Passes are registered in passes.def (name, summary, options with types and defaults);
 * the manager checks names and option values before anything runs (errors name the pipeline position and
 * the place in the spec or the --passes text), verifies the graph after each pass, and prints IR or
 * statistics on request. */
#ifndef LSTMC_PASSES_PIPELINE_H
#define LSTMC_PASSES_PIPELINE_H
#include <stdint.h>
#include <stdio.h>

#include "frontend/ast.h"
#include "frontend/diag.h"
#include "ir/graph.h"
#include "support/strbuf.h"

typedef struct PipelineOptions {
  int verify_each;         /* verify after every pass (always on in debug builds) */
  const char *print_after; /* print the IR after each run of this pass (NULL: never) */
  int print_after_all;
  int stats;               /* per pass: weights kept, groups, conflicts pruned, utilization, bytes */
  int time_passes;
  FILE *out;               /* where printing, statistics and timings go (NULL: stderr) */
  int training;            /* the graph is being trained: weight-drop stays (as a training-time mask) */
  int64_t print_inline;    /* printing writes the values of tensors of at most this many weights (ir/text.h) */
} PipelineOptions;

/* Checks pass names and options of a parsed pipeline against the registry; reports every problem through
 * diag (with its place: "pass 2 (column-combine): unknown option 'alpah'; did you mean 'alpha'?") and
 * returns 0 or LSTMC_ERR_PARSE. */
int pipeline_check(const AstPipeline *p, Diag *diag);
/* Checks and runs a pipeline over g. A pass whose input format it cannot take is an error naming the
 * pipeline position and the tensor, reported through diag; g is then left as the previous pass made it.
 * Returns 0, LSTMC_ERR_PARSE (a bad pipeline), LSTMC_ERR_USAGE (a bad option of the run, e.g. an unknown
 * print_after name) or the failing pass's status; lstmc_errmsg() gives the message with its place. */
int pipeline_run(Graph *g, const AstPipeline *p, const PipelineOptions *o, Diag *diag);
/* Parses (with parse_pipeline_text; `where` names the source in messages, e.g. "--passes"), checks and
 * runs. The text is registered with diag for the caret excerpts while it runs. When canonical is not
 * NULL, the pipeline's canonical text (pipeline_to_text) is appended to it once the text parses. */
int pipeline_run_text(Graph *g, const char *text, const char *where, const PipelineOptions *o, Diag *diag,
                      StrBuf *canonical);
/* The canonical text of a pipeline (`name{key=value,…}` joined by commas, values as written), the form
 * recorded in a weights file's `lstmc.pipeline`. */
void pipeline_to_text(const AstPipeline *p, StrBuf *out);
/* The registry as text: every pass, its summary and its options with types, ranges and defaults
 * (`lstmc --list-passes`). Returns 0 or LSTMC_ERR_NOMEM. */
int pipeline_list(StrBuf *out);

#endif
