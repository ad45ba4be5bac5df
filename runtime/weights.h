/* Weights on disk: binding a Graph's weight slots to a safetensors file, both ways, and PyTorch-style
 * random initialization.
 *
 * Names follow PyTorch (`encoder.weight`, `rnns.{l}.weight_ih_l0`, …); AWD-LSTM checkpoints converted to
 * safetensors (`rnns.{l}.module.weight_hh_l0_raw`, …) load too. Dense f32 tensors are plain safetensors
 * tensors that any reader understands. Other formats are stored as component tensors next to the name
 * (`N` or `N.codes`, `N.scale`, `N.mask`, `N.group_offsets`, `N.group_cols`, `N.select`) and described in
 * the metadata key `lstmc.formats` (runtime/format_meta.h), so they load back bit for bit. The vocabulary is the metadata key
 * `lstmc.vocab`, a JSON array of token strings (absent for `vocab bytes`). */
#ifndef LSTMC_RUNTIME_WEIGHTS_H
#define LSTMC_RUNTIME_WEIGHTS_H
#include <stdint.h>

#include "ir/graph.h"

struct StFile;
/* Loads every slot's tensor and the vocabulary. Errors name the file and the tensor. On failure the graph
 * keeps no weights. */
int weights_load(Graph *g, const char *path);
/* The same from a safetensors file already read (runtime/safetensors.h); f stays the caller's. */
int weights_bind(Graph *g, const struct StFile *f);
/* weights_bind, leaving the tensors whose names start with skip_prefix to the caller instead of calling
 * them "unexpected" (training checkpoints keep their optimizer state that way). */
int weights_bind_skip(Graph *g, const struct StFile *f, const char *skip_prefix);
/* Writes all slots (and the vocabulary) atomically. extra_keys/values: more metadata (may be NULL). */
int weights_save(const Graph *g, const char *path, const char *const *extra_keys, const char *const *extra_values,
                 int nextra);
/* The same with more tensors (1-D or 2-D) written after the weights. */
struct StWriteTensor;
int weights_save_with(const Graph *g, const char *path, const char *const *extra_keys, const char *const *extra_values,
                      int nextra, const struct StWriteTensor *extra_tensors, int nextra_tensors);
/* Random weights as AWD-LSTM initializes them: encoder and decoder uniform(-0.1, 0.1), decoder bias 0,
 * LSTM weights and biases uniform(-1/sqrt(H), 1/sqrt(H)) like nn.LSTM. The graph must know its vocabulary. */
int weights_init(Graph *g, uint64_t seed);
/* Checks every tensor for NaN/Inf; the error names the tensor and element. */
int weights_check_finite(const Graph *g, const char *source);

#endif
