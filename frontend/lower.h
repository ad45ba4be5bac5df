/* Lowering: a checked Spec becomes an IR Graph with PyTorch-named weight slots (no tensors yet). */
#ifndef LSTMC_FRONTEND_LOWER_H
#define LSTMC_FRONTEND_LOWER_H
#include "frontend/spec.h"
#include "ir/graph.h"

/* vocab_size: 0 to use the spec's (or leave it unknown). */
int lower_spec(const Spec *spec, int64_t vocab_size, Graph **out);

#endif
