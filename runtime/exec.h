/* Executors: the reference interpreter, the LLVM CPU backend and the CUDA backend sit behind one table of
 * function pointers (as ggml's backends do). An executor is made for one graph whose weights are loaded;
 * it keeps the recurrent state (h, c per layer) and advances it one token at a time, or scores a known
 * token stream, which lets a backend batch the input projections over time.
 *
 * Memory: an Executor borrows its Graph (which must outlive it) and owns everything else. */
#ifndef LSTMC_RUNTIME_EXEC_H
#define LSTMC_RUNTIME_EXEC_H
#include <stddef.h>
#include <stdint.h>

#include "ir/graph.h"

typedef struct ExecOptions {
  int target;     /* ExecTarget (codegen/backend.h) */
  int threads;    /* 0: all cores (CPU backend) */
  int batch;      /* independent streams run together (1 for eval/generate) */
  int no_cache;   /* CUDA: skip the on-disk kernel cache */
  int verbose;    /* report what the backend compiles and plans (messages) */
  int allow_fallback; /* 1: a format the backend does not specialize runs on the reference path, with a warning */
  const struct SystolicConfig *systolic; /* target systolic: the array (codegen/systolic/systolic.h); NULL: defaults */
} ExecOptions;

typedef struct Executor Executor;

/* Generation as lstmc_session_generate asks for it: from the current state, feed prime[0..nprime), then
 * sample `length` tokens exactly as runtime/sample.c's sample_token does with an Rng seeded with `seed`,
 * feeding each sampled token but the last. */
typedef struct ExecGenRequest {
  const int32_t *prime;
  int64_t nprime; /* >= 1 */
  int64_t length;
  double temperature; /* <= 0: greedy */
  int top_k;          /* 0: no cut */
  uint64_t seed;
  /* Receives the sampled tokens in order, some at a time; a non-zero return stops generation with it. */
  int (*on_tokens)(const int32_t *ids, int64_t n, void *ctx);
  void *ctx;
} ExecGenRequest;

typedef struct ExecVtbl {
  const char *name;
  /* 0 when the backend can run the whole graph; otherwise LSTMC_ERR_UNSUPPORTED with a message naming
   * the node or tensor it cannot take. */
  int (*supports)(const Graph *g, const ExecOptions *o);
  int (*create)(const Graph *g, const ExecOptions *o, Executor **out);
  void (*destroy)(Executor *e);
  /* Zeroes the recurrent state of every stream. */
  void (*reset)(Executor *e);
  /* Feeds one token per stream (tokens[batch]) and writes logits[batch][V]. */
  int (*step)(Executor *e, const int32_t *tokens, float *logits);
  /* Optional (NULL: the generic loop over step): for stream 0, feeds tokens[0..n-2] and accumulates
   * -log p(tokens[t+1]) into *nll (natural log, double); logprobs[t] receives log p(tokens[t+1]) when
   * non-NULL. State carries over from earlier calls. */
  int (*score)(Executor *e, const int32_t *tokens, int64_t n, double *nll, double *logprobs);
  /* Optional (NULL: the session samples on the host between steps): generation on the backend's side, for
   * stream 0, e.g. decoder and sampler on the GPU with no host round trip per token. */
  int (*generate)(Executor *e, const ExecGenRequest *r);
} ExecVtbl;

struct Executor {
  const ExecVtbl *vt;
  const Graph *g;
  ExecOptions opts;
};

void exec_destroy(Executor *e);
/* Scores through the backend's `score`, or the generic loop. */
int exec_score(Executor *e, const int32_t *tokens, int64_t n, double *nll, double *logprobs);

/* log p(target) under the softmax of logits[V], in double. */
double log_softmax_at(const float *logits, int64_t V, int32_t target);

/* The LSTM cell after its matrix products, as the reference executor computes it (ref_exec.c): acc[4H]
 * holds the gate pre-activations (i, f, g, o; biases included), then c' = f·c + i·g and h' = o·tanh(c') in
 * double, stored as float. A backend that shares the reference's float arithmetic after its products
 * (codegen/systolic with exact gates) calls it, so that their logits agree bit for bit. */
void lstm_cell_ref(const double *acc, int64_t H, float *h, float *c);

/* The reference executor's table (ref_exec.c). */
extern const ExecVtbl ref_exec_vtbl;

#endif
