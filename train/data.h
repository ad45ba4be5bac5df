/* Training data as AWD-LSTM lays it out: the token stream cut into B equal streams (the tail that does not
 * fill a row is dropped), stored time-major so that the B tokens of one step are contiguous and a batch of
 * T steps starting at step i is simply ids + i·B (inputs) and ids + (i+1)·B (targets); and AWD-LSTM's
 * variable truncated-BPTT length. */
#ifndef LSTMC_TRAIN_DATA_H
#define LSTMC_TRAIN_DATA_H
#include <stdint.h>

#include "support/rng.h"

typedef struct Batched {
  int32_t *ids;  /* [steps · B]: ids[t·B + b] = token[b·steps + t] */
  int64_t steps; /* tokens per stream */
  int64_t B;
} Batched;

/* batchify(data, B) of AWD-LSTM: B streams of n / B tokens each. Fails (LSTMC_ERR_DATA) when a stream
 * would have fewer than 2 tokens; `what` names the data in that message. */
int data_batchify(const int32_t *ids, int64_t n, int64_t B, const char *what, Batched *out);
void data_batched_free(Batched *b);

/* AWD-LSTM's sequence length: bptt with probability 0.95, else bptt/2; then max(5, int(N(that, 5))). */
int64_t data_seq_len(Rng *rng, int64_t bptt);

/* FNV-1a of the token ids: identifies the training data in a checkpoint. */
uint64_t data_hash(const int32_t *ids, int64_t n);

#endif
