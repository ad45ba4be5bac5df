/* The on-disk kernel cache: compiled CUDA modules stored under $XDG_CACHE_HOME/lstmc/cuda (or
 * ~/.cache/lstmc/cuda), one file per module, named by a SHA-256 key over everything that shaped it: the
 * source text, the NVRTC options, the target architecture, the NVRTC version and lstmc's version. A second
 * run of the same model therefore compiles nothing, and a change to any of those compiles afresh.
 *
 * An entry is written to a temporary file and renamed into place, so a reader never sees half a file; on
 * load its magic, key, length and the SHA-256 of its payload are checked, and an entry that fails (a
 * truncated or corrupted file) is removed and reported as CUDA_CACHE_CORRUPT so the caller recompiles. */
#ifndef LSTMC_CODEGEN_CUDA_CACHE_H
#define LSTMC_CODEGEN_CUDA_CACHE_H
#include <stddef.h>
#include <stdint.h>

enum { CUDA_CACHE_MISS = 0, CUDA_CACHE_HIT = 1, CUDA_CACHE_CORRUPT = 2 };

/* The cache folder: $XDG_CACHE_HOME/lstmc/cuda, else $HOME/.cache/lstmc/cuda. Returns 0, or
 * LSTMC_ERR_IO when neither variable is set (the caller then runs without a cache). */
int cuda_cache_dir(char *buf, size_t n);
/* The key of a module. opts are the compiler options in the order given to NVRTC. */
void cuda_cache_key(const char *source, const char *const *opts, int nopts, const char *arch, int nvrtc_major,
                    int nvrtc_minor, uint8_t key[32]);
/* The path of a key's entry inside dir. */
void cuda_cache_path(const char *dir, const uint8_t key[32], char *buf, size_t n);
/* Looks a key up. *result is CUDA_CACHE_HIT (then *data, *len hold the payload; lx_free it), MISS or
 * CORRUPT (the bad entry was removed). Returns 0, or an error only for out of memory. */
int cuda_cache_load(const char *dir, const uint8_t key[32], uint8_t **data, size_t *len, int *result);
/* Stores a payload atomically (temporary file, fsync, rename), creating dir when needed. Returns 0 or
 * LSTMC_ERR_IO with a message naming the file. */
int cuda_cache_store(const char *dir, const uint8_t key[32], const uint8_t *data, size_t len);

#endif
