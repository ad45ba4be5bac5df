/* The generic scoring loop and the softmax shared by every backend (creation is codegen/backend.c). */
#include "runtime/exec.h"

#include <math.h>
#include <string.h>

#include "support/alloc.h"
#include "support/err.h"

void exec_destroy(Executor *e) {
  if (e) e->vt->destroy(e);
}

double log_softmax_at(const float *logits, int64_t V, int32_t target) {
  double m = -INFINITY;
  for (int64_t i = 0; i < V; i++)
    if (logits[i] > m) m = logits[i];
  double s = 0;
  for (int64_t i = 0; i < V; i++) s += exp((double)logits[i] - m);
  return (double)logits[target] - m - log(s);
}

int exec_score(Executor *e, const int32_t *tokens, int64_t n, double *nll, double *logprobs) {
  if (e->vt->score) return e->vt->score(e, tokens, n, nll, logprobs);
  int64_t V = e->g->vocab_size;
  float *logits = lx_malloc((size_t)V * sizeof(float));
  if (!logits) return lx_nomem("scoring");
  int st = 0;
  for (int64_t t = 0; t + 1 < n; t++) {
    if ((st = e->vt->step(e, &tokens[t], logits))) break;
    double lp = log_softmax_at(logits, V, tokens[t + 1]);
    *nll -= lp;
    if (logprobs) logprobs[t] = lp;
  }
  lx_free(logits);
  return st;
}
