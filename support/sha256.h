/* SHA-256 (FIPS 180-4), incremental. Used where a key must not collide in practice, such as the CUDA kernel
 * cache (codegen/cuda/cuda_cache.c), whose entries are named by the hash of everything that shaped them. */
#ifndef LSTMC_SUPPORT_SHA256_H
#define LSTMC_SUPPORT_SHA256_H
#include <stddef.h>
#include <stdint.h>

typedef struct Sha256 {
  uint32_t h[8];
  uint64_t len; /* bytes hashed so far */
  uint8_t buf[64];
  size_t nbuf;
} Sha256;

void sha256_init(Sha256 *s);
void sha256_update(Sha256 *s, const void *data, size_t n);
void sha256_final(Sha256 *s, uint8_t out[32]);
/* One-shot hash. */
void sha256(const void *data, size_t n, uint8_t out[32]);
/* Lower-case hex of a digest: out holds 65 bytes. */
void sha256_hex(const uint8_t d[32], char out[65]);

#endif
