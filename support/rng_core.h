/* The core of lstmc's random numbers: splitmix64 seeding and the xoshiro256** step (Blackman & Vigna).
 *
 * This header is shared, unchanged, by support/rng.c and by the CUDA sources that NVRTC compiles
 * (codegen/cuda), so that a generation sampled on the GPU draws exactly the numbers the reference draws on
 * the CPU. Like ir/layout.h it uses no includes and no libc; the includer may define LX_FN (the function
 * qualifier) and LX_U64 (an unsigned 64-bit type) first. */
#ifndef LSTMC_SUPPORT_RNG_CORE_H
#define LSTMC_SUPPORT_RNG_CORE_H

#ifndef LX_FN
#define LX_FN static inline
#endif
#ifndef LX_U64
#define LX_U64 unsigned long long
#endif

LX_FN LX_U64 lx_splitmix64(LX_U64 *x) {
  LX_U64 z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

LX_FN void lx_xoshiro_seed(LX_U64 s[4], LX_U64 seed) {
  LX_U64 x = seed;
  for (int i = 0; i < 4; i++) s[i] = lx_splitmix64(&x);
}

LX_FN LX_U64 lx_rotl64(LX_U64 x, int k) { return (x << k) | (x >> (64 - k)); }

LX_FN LX_U64 lx_xoshiro_next(LX_U64 s[4]) {
  LX_U64 result = lx_rotl64(s[1] * 5, 7) * 9;
  LX_U64 t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = lx_rotl64(s[3], 45);
  return result;
}

/* Uniform in [0, 1) with 53 random bits. */
LX_FN double lx_xoshiro_uniform(LX_U64 s[4]) { return (double)(lx_xoshiro_next(s) >> 11) * 0x1.0p-53; }

/* An independent seed for a sub-purpose (a layer, a row) from a seed and a tag: rng_derive of rng.h, and
 * what the CUDA training kernels use to draw the very masks the CPU engine draws. */
LX_FN LX_U64 lx_rng_derive(LX_U64 seed, LX_U64 tag) {
  LX_U64 x = seed ^ (tag * 0xd1b54a32d192ed03ULL);
  lx_splitmix64(&x);
  return lx_splitmix64(&x);
}

#endif
