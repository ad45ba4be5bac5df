/* The pass manager: runs a pipeline of graph-rewriting passes, as text
 * `prune{sparsity=0.8},column-combine{alpha=8,gamma=0.5},conflict-prune,quantize{bits=8}`, over a Graph whose
 * weights are loaded. Passes are registered in passes.def (name, summary, options with types and defaults).
 * A parsed pipeline is checked once — names and option values against the registry, every error reported
 * with its place and pipeline position — into a Pipeline that holds each pass's arguments; running it
 * converts nothing again. The manager verifies the graph after each pass and reports IR, statistics and
 * timings on request, as messages (lstmc_set_message_handler). */
#ifndef LSTMC_PASSES_PIPELINE_H
#define LSTMC_PASSES_PIPELINE_H
#include <stdint.h>

#include "frontend/ast.h"
#include "frontend/diag.h"
#include "ir/graph.h"
#include "passes/passes.h"
#include "support/arena.h"
#include "support/strbuf.h"

typedef struct PipelineOptions {
  int verify_each;         /* verify after every pass (always on in debug builds) */
  const char *print_after; /* report the IR after each run of this pass (NULL: never) */
  int print_after_all;
  int stats;               /* per pass: weights kept, groups, conflicts pruned, utilization, bytes */
  int time_passes;
  int training;            /* the graph is being trained: weight-drop stays (as a training-time mask) */
  int64_t print_inline;    /* printing writes the values of tensors of at most this many weights (ir/text.h) */
} PipelineOptions;

/* One pass of a checked pipeline: the arguments it runs with (defaults filled in) and its place. */
typedef struct PipelineStep {
  PassArgs args;
  SrcLoc loc; /* its name in the source; loc.file is borrowed from the AST */
} PipelineStep;

/* A checked pipeline. Owns its steps and every string their arguments point to. */
typedef struct Pipeline {
  int nsteps;
  PipelineStep *steps;
  const char *text; /* the canonical text (pipeline_to_text), the form recorded in a weights file */
  /* pipeline_build_text: the text as given and its name, registered with the diag of every run so that a
   * failing pass is shown in its line; NULL for a pipeline of a spec (whose caller registers the file) */
  const char *source, *source_name;
  Arena arena; /* the arguments' strings, the texts and the source name */
} Pipeline;

/* Checks a parsed pipeline (NULL: the empty one) against the registry, reporting every problem through diag
 * with its place ("pass 2 (column-combine): unknown option 'alpah'; did you mean 'alpha'?"). Returns 0 and
 * a new *out (free it with pipeline_free), or LSTMC_ERR_PARSE or LSTMC_ERR_NOMEM with *out NULL. */
int pipeline_build(const AstPipeline *p, Diag *diag, Pipeline **out);
/* Parses pipeline text (`where` names it in messages, e.g. "--passes"; the text is registered with diag for
 * the caret excerpts while it is parsed) and checks it: pipeline_build for text. */
int pipeline_build_text(const char *text, const char *where, Diag *diag, Pipeline **out);
void pipeline_free(Pipeline *p);
/* Checks without keeping the result (a spec's pipelines that run elsewhere; the fuzz target). */
int pipeline_check(const AstPipeline *p, Diag *diag);
/* Runs a checked pipeline over g. A pass whose input format it cannot take is an error naming the
 * pipeline position and the tensor, reported through diag; g is then left as the previous pass made it.
 * Returns 0, LSTMC_ERR_USAGE (a bad option of the run, e.g. an unknown print_after name) or the failing
 * pass's status; lstmc_errmsg() gives the message with its place. o may be NULL. */
int pipeline_run(Graph *g, const Pipeline *p, const PipelineOptions *o, Diag *diag);
/* Builds, runs and frees: for a pipeline that runs once. */
int pipeline_run_ast(Graph *g, const AstPipeline *p, const PipelineOptions *o, Diag *diag);
/* Parses, builds, runs and frees pipeline text. */
int pipeline_run_text(Graph *g, const char *text, const char *where, const PipelineOptions *o, Diag *diag);
/* The canonical text of a pipeline (`name{key=value,…}` joined by commas, values as written), the form
 * recorded in a weights file's `lstmc.pipeline`. */
void pipeline_to_text(const AstPipeline *p, StrBuf *out);
/* The registry as text: every pass, its summary and its options with types, ranges and defaults
 * (`lstmc --list-passes`). Returns 0 or LSTMC_ERR_NOMEM. */
int pipeline_list(StrBuf *out);

#endif
