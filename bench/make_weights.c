/* make_weights: a model's weights rewritten in another format with random values of the right structure,
 * for benchmarks that need a compressed model before the passes that make one exist (or apart from them).
 *
 *   make_weights SPEC IN.safetensors OUT.safetensors FORMAT [ALPHA [EMPTY_ONE_IN]]
 *
 * Every LSTM matrix (and the decoder when untied) becomes a random tensor in FORMAT (a name from
 * ir/tensor.h: cc_q8, masked_q4, ...) built by tests/tensor_gen.h with PyTorch-sized values; the
 * embedding, the biases and the vocabulary are kept. For the packed layout, groups hold ALPHA columns
 * (default 8) of a shuffled order and a row's slot is empty with probability 1/EMPTY_ONE_IN (default 3):
 * the structure that prune{sparsity=0.875},column-combine{alpha=8,gamma=0.5},conflict-prune leaves on
 * random weights, where a row has no weight in a group of 8 columns with probability (7/8)^8 = 0.34. */
#include <stdio.h>
#include <stdlib.h>

#include "lstmc.h"
#include "runtime/internal.h"
#include "tensor_gen.h"

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: make_weights SPEC IN.safetensors OUT.safetensors FORMAT [ALPHA [EMPTY_ONE_IN]]\n");
    return 2;
  }
  int layout, enc;
  if (format_parse(argv[4], &layout, &enc)) {
    fprintf(stderr, "make_weights: unknown format '%s'\n", argv[4]);
    return 2;
  }
  TensorGenOpts o = {argc > 5 ? atoi(argv[5]) : 8, argc > 6 ? atoi(argv[6]) : 3, 0, 1};
  if (o.alpha < 1 || o.alpha > LX_MAX_ALPHA || o.empty_one_in < 0) {
    fprintf(stderr, "make_weights: ALPHA must be in [1, %d] and EMPTY_ONE_IN >= 0\n", LX_MAX_ALPHA);
    return 2;
  }
  lstmc_model *m;
  int st = lstmc_model_load(argv[1], &m);
  if (!st) st = lstmc_model_load_weights(m, argv[2]);
  if (!st) {
    Rng rng;
    rng_seed(&rng, 1);
    st = tensor_gen_weights(m->g, layout, enc, &o, 0, &rng);
    if (!st) st = lstmc_model_save_weights(m, argv[3]);
  }
  if (st) fprintf(stderr, "make_weights: %s\n", lstmc_errmsg());
  lstmc_model_free(m);
  return st ? 1 : 0;
}
