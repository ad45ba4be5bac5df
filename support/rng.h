/* Deterministic random numbers: xoshiro256** seeded through splitmix64. The same seed gives the same stream
 * on every machine, which is what makes `--seed` reproducible across executors and runs. */
#ifndef LSTMC_SUPPORT_RNG_H
#define LSTMC_SUPPORT_RNG_H
#include <stdint.h>

typedef struct Rng {
  uint64_t s[4];
} Rng;

void rng_seed(Rng *r, uint64_t seed);
uint64_t rng_u64(Rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double rng_uniform(Rng *r);
/* Uniform in [0, n). */
uint64_t rng_below(Rng *r, uint64_t n);
/* Standard normal (Box-Muller; one value per call, deterministic). */
double rng_normal(Rng *r);
/* Derives an independent stream for a sub-purpose (e.g. one per layer) from a seed and a tag. */
uint64_t rng_derive(uint64_t seed, uint64_t tag);

#endif
