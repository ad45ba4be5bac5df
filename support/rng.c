/* xoshiro256** (Blackman & Vigna), seeded with splitmix64; the step itself is in rng_core.h, which the CUDA
 * sampler shares. */
#include "rng.h"

#define LX_U64 uint64_t
#include "rng_core.h"

#include <math.h>

void rng_seed(Rng *r, uint64_t seed) { lx_xoshiro_seed(r->s, seed); }

uint64_t rng_u64(Rng *r) { return lx_xoshiro_next(r->s); }

double rng_uniform(Rng *r) { return lx_xoshiro_uniform(r->s); }

uint64_t rng_below(Rng *r, uint64_t n) {
  /* Rejection sampling keeps the result exactly uniform. */
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do x = rng_u64(r);
  while (x >= limit);
  return x % n;
}

double rng_normal(Rng *r) {
  double u1 = rng_uniform(r), u2 = rng_uniform(r);
  if (u1 < 1e-300) u1 = 1e-300;
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

uint64_t rng_derive(uint64_t seed, uint64_t tag) { return lx_rng_derive(seed, tag); }
