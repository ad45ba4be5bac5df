/* NVRTC compilation through the kernel cache (see cuda_compile.h). */
#include "codegen/cuda/cuda_compile.h"

#include <stdio.h>
#include <string.h>

#include "codegen/cuda/cuda_cache.h"
#include "codegen/cuda/cuda_loader.h"
#include "support/alloc.h"
#include "support/clock.h"
#include "support/err.h"
#include "support/sha256.h"

int cuda_nvrtc_supports_arch(int arch) {
  const CudaNvrtc *nv;
  if (cuda_nvrtc_open(&nv)) return 0;
  int n = 0, found = 0;
  if (nv->nvrtcGetNumSupportedArchs(&n) || n <= 0 || n > 256) return 0;
  int archs[256];
  if (nv->nvrtcGetSupportedArchs(archs)) return 0;
  for (int i = 0; i < n; i++) found |= archs[i] == arch;
  return found;
}

/* Runs NVRTC once. On failure the message carries the first lines of the log. */
static int nvrtc_run(const CudaNvrtc *nv, const CudaCompileRequest *rq, const char *const *opts, int nopts,
                     uint8_t **out, size_t *outlen, char **log_out) {
  nvrtcProgram prog = NULL;
  char what[300];
  snprintf(what, sizeof what, "creating the NVRTC program %s", rq->name);
  int st = NVRTC_CALL(nv, nvrtcCreateProgram, (&prog, rq->source, rq->name, 0, NULL, NULL), what);
  if (st) return st;
  nvrtcResult cr = nv->nvrtcCompileProgram(prog, nopts, opts);
  size_t logn = 0;
  char *log = NULL;
  if (!nv->nvrtcGetProgramLogSize(prog, &logn) && logn > 0 && (log = lx_malloc(logn + 1))) {
    if (nv->nvrtcGetProgramLog(prog, log)) log[0] = 0;
    log[logn] = 0;
  }
  if (cr) {
    /* the first ~1500 characters of the log say what is wrong; the whole log goes to log_out */
    char head[1600];
    snprintf(head, sizeof head, "%s", log ? log : "");
    st = lx_fail(LSTMC_ERR_BACKEND, "NVRTC could not compile %s for sm_%d (%s):\n%s", rq->name, rq->arch,
                 nv->nvrtcGetErrorString(cr), head);
  } else {
    size_t n = 0;
    int cubin = rq->emit == CUDA_EMIT_CUBIN;
    snprintf(what, sizeof what, "reading the %s of %s", cubin ? "cubin" : "PTX", rq->name);
    st = cubin ? NVRTC_CALL(nv, nvrtcGetCUBINSize, (prog, &n), what) : NVRTC_CALL(nv, nvrtcGetPTXSize, (prog, &n), what);
    uint8_t *buf = NULL;
    if (!st && !(buf = lx_malloc(n ? n : 1))) st = lx_nomem("reading the compiled module");
    if (!st) st = cubin ? NVRTC_CALL(nv, nvrtcGetCUBIN, (prog, (char *)buf), what) : NVRTC_CALL(nv, nvrtcGetPTX, (prog, (char *)buf), what);
    if (st) lx_free(buf);
    else {
      *out = buf;
      *outlen = n;
    }
  }
  nv->nvrtcDestroyProgram(&prog);
  if (log_out) *log_out = log;
  else lx_free(log);
  return st;
}

int cuda_compile(const CudaCompileRequest *rq, uint8_t **out, size_t *outlen, char **log, CudaCompileStats *stats) {
  CudaCompileStats local;
  if (!stats) stats = &local;
  memset(stats, 0, sizeof *stats);
  *out = NULL;
  *outlen = 0;
  if (log) *log = NULL;
  double t0 = now_seconds();
  const CudaNvrtc *nv;
  int st = cuda_nvrtc_open(&nv);
  if (st) return st;
  char archopt[64], archname[16];
  snprintf(archname, sizeof archname, "sm_%d", rq->arch);
  snprintf(archopt, sizeof archopt, "--gpu-architecture=%s_%d", rq->emit == CUDA_EMIT_CUBIN ? "sm" : "compute", rq->arch);
  const char *opts[10];
  int nopts = 0;
  opts[nopts++] = archopt;
  opts[nopts++] = "--std=c++17";
  opts[nopts++] = "-default-device";
  opts[nopts++] = "--prec-div=true";
  opts[nopts++] = "--prec-sqrt=true";
  opts[nopts++] = "--ftz=false";
  if (rq->emit == CUDA_EMIT_CUBIN) opts[nopts++] = "--ptxas-options=-v";

  uint8_t key[32];
  cuda_cache_key(rq->source, opts, nopts, archname, nv->major, nv->minor, key);
  sha256_hex(key, stats->key);
  char dir[900];
  int use_cache = !rq->no_cache;
  if (use_cache) {
    if (rq->cache_dir) snprintf(dir, sizeof dir, "%s", rq->cache_dir);
    else if (cuda_cache_dir(dir, sizeof dir)) {
      lx_message(LSTMC_MSG_WARNING, "lstmc: warning: %s; compiling without the kernel cache\n", lstmc_errmsg());
      use_cache = 0;
    }
  }
  if (use_cache) {
    cuda_cache_path(dir, key, stats->entry, sizeof stats->entry);
    if ((st = cuda_cache_load(dir, key, out, outlen, &stats->cache_result))) return st;
    if (stats->cache_result == CUDA_CACHE_HIT) {
      stats->total_seconds = now_seconds() - t0;
      if (rq->verbose)
        lx_message(LSTMC_MSG_REPORT, "lstmc: cuda: %s: kernel cache hit (%s), %.1f ms\n", rq->name, stats->entry,
                   stats->total_seconds * 1e3);
      return 0;
    }
    if (stats->cache_result == CUDA_CACHE_CORRUPT)
      lx_message(LSTMC_MSG_WARNING, "lstmc: warning: kernel cache entry %s was damaged; removed it and recompiling\n", stats->entry);
  }
  double tc = now_seconds();
  if ((st = nvrtc_run(nv, rq, opts, nopts, out, outlen, log))) return st;
  stats->compiled = 1;
  stats->compile_seconds = now_seconds() - tc;
  if (use_cache) {
    if (cuda_cache_store(dir, key, *out, *outlen))
      lx_message(LSTMC_MSG_WARNING, "lstmc: warning: %s (the kernel cache is not updated)\n", lstmc_errmsg());
    else stats->stored = 1;
  }
  stats->total_seconds = now_seconds() - t0;
  if (rq->verbose)
    lx_message(LSTMC_MSG_REPORT, "lstmc: cuda: %s: compiled for %s with NVRTC %d.%d in %.2f s%s\n", rq->name, archname,
               nv->major, nv->minor, stats->compile_seconds, stats->stored ? " (cached)" : "");
  return 0;
}
