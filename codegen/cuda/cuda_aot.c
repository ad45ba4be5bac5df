/* `lstmc compile --target cuda` (the backend registry's cuda_compile_vtbl): the CUDA module lstmc would run
 * for a model, as source, PTX or cubin, planned for the GPU present or for an architecture named (with that
 * architecture's usual size, or the sizes given), plus optionally a header describing its launch contract
 * and the packed weights the kernels read. Works without a GPU: NVRTC compiles for any architecture it
 * knows, and the source needs nothing of CUDA. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/backend.h"
#include "codegen/cuda/cuda_cache.h"
#include "codegen/cuda/cuda_codegen.h"
#include "codegen/cuda/cuda_compile.h"
#include "codegen/cuda/cuda_exec.h"
#include "support/alloc.h"
#include "support/err.h"
#include "support/text.h"

enum { EMIT_SOURCE = -1 }; /* else CUDA_EMIT_PTX or CUDA_EMIT_CUBIN */

static int emit_kind(const char *emit) {
  if (!emit || !strcmp(emit, "cuda")) return EMIT_SOURCE;
  if (!strcmp(emit, "ptx")) return CUDA_EMIT_PTX;
  if (!strcmp(emit, "cubin")) return CUDA_EMIT_CUBIN;
  return -2;
}

/* "sm_90", "compute_90", "90" or "9.0" → 90 */
static int parse_arch(const char *s, int *arch) {
  if (!strncmp(s, "sm_", 3)) s += 3;
  else if (!strncmp(s, "compute_", 8)) s += 8;
  int major, minor;
  char tail;
  if (sscanf(s, "%d.%d%c", &major, &minor, &tail) == 2 && major > 0 && minor >= 0 && minor < 10) {
    *arch = major * 10 + minor;
    return 0;
  }
  char *end;
  long v = strtol(s, &end, 10);
  if (*end || v < 10 || v > 1000) return -1;
  *arch = (int)v;
  return 0;
}

/* Whether v is 0 (the default) or in [lo, hi]; else a usage error naming the option. */
static int in_range(const char *option, int v, int lo, int hi) {
  if (v == 0 || (v >= lo && v <= hi)) return 0;
  return lx_fail(LSTMC_ERR_USAGE, "compile: --%s must be an integer in [%d, %d], got %d", option, lo, hi, v);
}

static int cuda_aot_check(const lstmc_compile_opts *o) {
  int st;
  if ((st = in_range("batch", o->batch, 1, 8)) || (st = in_range("sms", o->sms, 1, 4096)) ||
      (st = in_range("smem", o->smem, 1024, 1 << 30)) || (st = in_range("threads", o->threads, 32, 1024)))
    return st;
  if (emit_kind(o->emit) == -2) return lx_fail(LSTMC_ERR_USAGE, "compile: --emit must be cuda, ptx or cubin, got '%s'", o->emit);
  if (o->arch) {
    int arch;
    CudaDeviceInfo known;
    if (parse_arch(o->arch, &arch)) return lx_fail(LSTMC_ERR_USAGE, "compile: --arch must look like sm_90, got '%s'", o->arch);
    if (!cuda_device_defaults(arch, &known) && (!o->sms || !o->smem))
      return lx_fail(LSTMC_ERR_USAGE, "compile: lstmc knows no default size for sm_%d; give --sms and --smem", arch);
  }
  if (o->threads % 32) return lx_fail(LSTMC_ERR_USAGE, "compile: --threads must be a multiple of 32, got %d", o->threads);
  return 0;
}

/* The device to plan for: the architecture named, else the GPU present, else an H100 (with a note); then
 * the sizes given replace its own. */
static void device_for(const lstmc_compile_opts *o, CudaDeviceInfo *info) {
  memset(info, 0, sizeof *info);
  if (o->arch) {
    int arch = 0;
    parse_arch(o->arch, &arch); /* checked */
    if (!cuda_device_defaults(arch, info)) {
      info->arch = arch;
      info->threads = 512;
      snprintf(info->name, sizeof info->name, "sm_%d (planned without a device)", arch);
    }
  } else {
    CudaDev *dev;
    if (cuda_dev_open(&dev) == 0) {
      *info = dev->info;
      dev->ops->close(dev);
    } else {
      lx_message(LSTMC_MSG_NOTE, "lstmc: note: %s; planning for sm_90 (H100 SXM)\n", lstmc_errmsg());
      cuda_device_defaults(90, info);
    }
  }
  if (o->sms) info->sms = o->sms;
  if (o->smem) info->smem_optin = o->smem;
  if (o->threads) info->threads = o->threads;
}

/* PTX or cubin of the source, written to o->output. */
static int write_binary(const lstmc_compile_opts *o, const char *model_name, const char *src, int arch, int kind) {
  char name[160];
  snprintf(name, sizeof name, "%s.cu", model_name);
  CudaCompileRequest rq = {.source = src, .name = name, .arch = arch, .emit = kind, .no_cache = o->no_cache, .verbose = o->verbose};
  CudaCompileStats cs;
  uint8_t *bin = NULL;
  size_t nbin = 0;
  char *log = NULL;
  int st = cuda_compile(&rq, &bin, &nbin, &log, &cs);
  if (!st && o->verbose && log && *log) lx_message_text(LSTMC_MSG_REPORT, log);
  lx_free(log);
  if (st) return st;
  /* PTX is text: NVRTC's size counts its NUL */
  if (kind == CUDA_EMIT_PTX && nbin > 0 && bin[nbin - 1] == 0) nbin--;
  st = write_file(o->output, bin, nbin);
  lx_free(bin);
  if (!st)
    lx_message(LSTMC_MSG_NOTE, "lstmc: wrote %s (%s for sm_%d, %zu bytes; %s)\n", o->output, o->emit, arch, nbin,
               cs.cache_result == CUDA_CACHE_HIT ? "from the kernel cache" : "compiled");
  return st;
}

/* The launch contract, its include guard made from the model's name. */
static int write_header(const CudaPlan *plan, const char *model_name, const char *path) {
  char guard[128];
  snprintf(guard, sizeof guard, "LSTMC_CUDA_%s_H", model_name);
  for (char *p = guard; *p; p++)
    if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_')) *p = (*p >= 'a' && *p <= 'z') ? (char)(*p - 32) : '_';
  char *hdr = NULL;
  int st = cuda_codegen_header(plan, model_name, guard, &hdr);
  if (!st) st = write_file(path, hdr, strlen(hdr));
  lx_free(hdr);
  return st;
}

/* The blob, then the decoder's blob, each as the header's LSTMC_BLOB_BYTES / LSTMC_DEC_BYTES say. */
static int write_blob(const CudaPlan *plan, const char *path) {
  uint8_t *blob = NULL, *dec = NULL, *both = NULL;
  int st = cuda_plan_pack(plan, &blob, &dec);
  if (!st && !(both = lx_malloc(plan->blob_bytes + plan->dec_bytes))) st = lx_nomem("writing the weight images");
  if (!st) {
    memcpy(both, blob, plan->blob_bytes);
    memcpy(both + plan->blob_bytes, dec, plan->dec_bytes);
    st = write_file(path, both, plan->blob_bytes + plan->dec_bytes);
  }
  lx_free(both);
  lx_free(blob);
  lx_free(dec);
  return st;
}

static int cuda_aot_compile(const Graph *g, const char *spec_path, const lstmc_compile_opts *o, const ExecOptions *eo) {
  (void)eo;
  (void)spec_path;
  CudaDeviceInfo info;
  device_for(o, &info);
  CudaPlan *plan = NULL;
  char *src = NULL;
  int kind = emit_kind(o->emit);
  int st = cuda_plan_build(g, &info, o->batch > 0 ? o->batch : 1, &plan);
  if (!st) st = cuda_codegen_source(plan, g->name, 0, &src);
  if (!st && o->verbose) cuda_plan_report(plan);
  if (!st) st = kind == EMIT_SOURCE ? write_file(o->output, src, strlen(src)) : write_binary(o, g->name, src, info.arch, kind);
  if (!st && o->header) st = write_header(plan, g->name, o->header);
  if (!st && o->blob) st = write_blob(plan, o->blob);
  lx_free(src);
  cuda_plan_free(plan);
  return st;
}

const CompileVtbl cuda_compile_vtbl = {.check = cuda_aot_check, .compile = cuda_aot_compile};
