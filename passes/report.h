/* The systolic-array report (`lstmc report`): what the model's matrix products cost on a weight-stationary
 * array of A × B cells once column combining has packed them. The cost model is stated in report.c and
 * in docs/passes.md. */
#ifndef LSTMC_PASSES_REPORT_H
#define LSTMC_PASSES_REPORT_H
#include "ir/graph.h"
#include "support/strbuf.h"

/* Appends the report for an array of array_rows × array_cols cells: per matrix (W_ih and W_hh of every
 * lstm, the decoder) and in total, as text or one JSON object. 0, LSTMC_ERR_USAGE (no weights, a bad
 * size) or LSTMC_ERR_NOMEM. */
int report_systolic(const Graph *g, int array_rows, int array_cols, int json, StrBuf *out);

#endif
