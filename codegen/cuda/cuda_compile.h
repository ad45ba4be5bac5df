/* Compiling generated CUDA source with NVRTC, through the on-disk cache. NVRTC needs no GPU, so this runs
 * (and is tested) on machines without one: `lstmc compile --emit ptx|cubin` and the CI tests use it for any
 * architecture NVRTC supports.
 *
 * Options are fixed here, so that every caller (the executor, `lstmc compile`, the tests) compiles a given
 * source the same way: C++17, -default-device, fast math off (IEEE division, square root and denormals,
 * as the reference executor computes), and, for cubin, ptxas' resource report in the log. */
#ifndef LSTMC_CODEGEN_CUDA_COMPILE_H
#define LSTMC_CODEGEN_CUDA_COMPILE_H
#include <stddef.h>
#include <stdint.h>

enum { CUDA_EMIT_PTX = 0, CUDA_EMIT_CUBIN = 1 };

typedef struct CudaCompileRequest {
  const char *source;    /* NUL-terminated CUDA C++ */
  const char *name;      /* the program's name in messages ("charptb.cu") */
  int arch;              /* compute capability as major*10+minor: 80, 90, … */
  int emit;              /* CUDA_EMIT_PTX (compute_XX, for any later GPU) or CUDA_EMIT_CUBIN (sm_XX) */
  int no_cache;          /* neither read nor write the cache */
  const char *cache_dir; /* NULL: cuda_cache_dir() */
  int verbose;           /* report hits and compile times (messages) */
} CudaCompileRequest;

typedef struct CudaCompileStats {
  int cache_result; /* CUDA_CACHE_MISS, HIT or CORRUPT; MISS also when the cache is off */
  int compiled;     /* 1 when NVRTC ran */
  int stored;       /* 1 when the result was written to the cache */
  double compile_seconds; /* NVRTC alone */
  double total_seconds;   /* key, lookup, compile and store */
  char key[65];           /* hex */
  char entry[1024];       /* the cache file ("" without a cache) */
} CudaCompileStats;

/* Compiles (or loads from the cache) rq->source. *out (lx_free it) receives the PTX text (with its NUL) or
 * the cubin; *log (may be NULL; lx_free it) the compiler's log. A compile error is LSTMC_ERR_BACKEND with
 * the log's first lines in the message; no NVRTC is LSTMC_ERR_NODEVICE. stats may be NULL. */
int cuda_compile(const CudaCompileRequest *rq, uint8_t **out, size_t *outlen, char **log, CudaCompileStats *stats);

/* Whether this NVRTC can compile for arch (major*10+minor); 0 when it cannot or NVRTC is absent. */
int cuda_nvrtc_supports_arch(int arch);

#endif
