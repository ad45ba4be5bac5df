/* Executor dispatch, the generic scoring loop and the softmax shared by every backend. */
#include "runtime/exec.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "support/alloc.h"
#include "support/err.h"

static const char *const target_names[TARGET_COUNT] = {"ref", "cpu", "cuda"};

const char *target_name(int t) { return t >= 0 && t < TARGET_COUNT ? target_names[t] : "?"; }

int target_parse(const char *name, int *t) {
  for (int i = 0; i < TARGET_COUNT; i++)
    if (!strcmp(name, target_names[i])) {
      *t = i;
      return 0;
    }
  return lx_fail(LSTMC_ERR_USAGE, "unknown target '%s' (expected ref, cpu or cuda)", name);
}

#ifdef LSTMC_HAVE_LLVM
extern const ExecVtbl cpu_exec_vtbl;
#endif
#ifdef LSTMC_HAVE_CUDA
extern const ExecVtbl cuda_exec_vtbl;
#endif

const ExecVtbl *exec_backend(int target) {
  switch (target) {
  case TARGET_REF: return &ref_exec_vtbl;
#ifdef LSTMC_HAVE_LLVM
  case TARGET_CPU: return &cpu_exec_vtbl;
#endif
#ifdef LSTMC_HAVE_CUDA
  case TARGET_CUDA: return &cuda_exec_vtbl;
#endif
  default: return NULL;
  }
}

int exec_create(const Graph *g, const ExecOptions *o, Executor **out) {
  *out = NULL;
  if (!graph_has_weights(g)) return lx_fail(LSTMC_ERR_USAGE, "the model has no weights loaded");
  const ExecVtbl *vt = exec_backend(o->target);
  if (!vt) {
    if (o->target == TARGET_CPU)
      return lx_fail(LSTMC_ERR_UNSUPPORTED, "this lstmc was built without the LLVM CPU backend (LSTMC_WITH_LLVM=OFF)");
    return lx_fail(LSTMC_ERR_UNSUPPORTED, "target '%s' is not built into this lstmc", target_name(o->target));
  }
  int st = vt->supports(g, o);
  if (st == LSTMC_ERR_UNSUPPORTED && o->allow_fallback && vt != &ref_exec_vtbl) {
    /* never silently: the user asked for another executor */
    fprintf(stderr, "lstmc: warning: %s; running on the reference executor instead\n", lstmc_errmsg());
    ExecOptions ref = *o;
    ref.target = TARGET_REF;
    return ref_exec_vtbl.create(g, &ref, out);
  }
  if (st) return st;
  return vt->create(g, o, out);
}

void exec_destroy(Executor *e) {
  if (e) e->vt->destroy(e);
}

void log_softmax(const float *logits, int64_t V, double *out) {
  double m = -INFINITY;
  for (int64_t i = 0; i < V; i++)
    if (logits[i] > m) m = logits[i];
  double s = 0;
  for (int64_t i = 0; i < V; i++) s += exp((double)logits[i] - m);
  double lse = m + log(s);
  for (int64_t i = 0; i < V; i++) out[i] = (double)logits[i] - lse;
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
