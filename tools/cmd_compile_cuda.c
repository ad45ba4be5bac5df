/* `lstmc compile SPEC --weights W --target cuda --emit cuda|ptx|cubin -o OUT [--header H.h] [--blob B]`:
 * the CUDA module lstmc would run for this model, as source, PTX or cubin, planned for the GPU present or
 * for --arch (with that architecture's usual size, or --sms/--smem), plus optionally a header describing its
 * launch contract and the packed weights the kernels read. Works without a GPU: NVRTC compiles for any
 * architecture it knows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/cuda/cuda_codegen.h"
#include "codegen/cuda/cuda_compile.h"
#include "codegen/cuda/cuda_exec.h"
#include "api/internal.h"
#include "support/alloc.h"
#include "tools/cli.h"

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

static int device_for(const Args *a, CudaDeviceInfo *info) {
  const char *as = arg_str(a, "arch");
  memset(info, 0, sizeof *info);
  if (as) {
    int arch;
    if (parse_arch(as, &arch)) return usage_error("compile: --arch must look like sm_90, got '%s'", as);
    if (!cuda_device_defaults(arch, info)) {
      if (!arg_str(a, "sms") || !arg_str(a, "smem"))
        return usage_error("compile: lstmc knows no default size for sm_%d; give --sms and --smem", arch);
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
      fprintf(stderr, "lstmc: note: %s; planning for sm_90 (H100 SXM)\n", lstmc_errmsg());
      cuda_device_defaults(90, info);
    }
  }
  long long v;
  int rc;
  if ((rc = arg_int(a, "sms", info->sms, 1, 4096, &v))) return rc;
  info->sms = (int)v;
  if ((rc = arg_int(a, "smem", info->smem_optin, 1024, 1 << 30, &v))) return rc;
  info->smem_optin = (int)v;
  if ((rc = arg_int(a, "threads", info->threads, 32, 1024, &v))) return rc;
  if (v % 32) return usage_error("compile: --threads must be a multiple of 32, got %lld", v);
  info->threads = (int)v;
  return 0;
}

int cmd_compile_cuda(Args *a) {
  int rc;
  long long batch;
  if ((rc = require(a, "o")) || (rc = arg_int(a, "batch", 1, 1, 8, &batch))) return rc;
  const char *emit = arg_str(a, "emit") ? arg_str(a, "emit") : "cuda";
  int kind = !strcmp(emit, "cuda") ? -1 : !strcmp(emit, "ptx") ? CUDA_EMIT_PTX : !strcmp(emit, "cubin") ? CUDA_EMIT_CUBIN : -2;
  if (kind == -2) return usage_error("compile: --emit must be cuda, ptx or cubin, got '%s'", emit);
  CudaDeviceInfo info;
  if ((rc = device_for(a, &info))) return rc;
  lstmc_model *m;
  if ((rc = open_model(a, 1, &m))) return rc;
  if ((rc = apply_passes(a, m))) {
    lstmc_model_free(m);
    return rc;
  }
  const Graph *g = m->g;
  CudaPlan *plan = NULL;
  char *src = NULL, *hdr = NULL;
  uint8_t *bin = NULL, *blob = NULL, *dec = NULL;
  size_t nbin = 0;
  int verbose = arg_flag(a, "verbose");
  int st = cuda_plan_build(g, &info, (int)batch, &plan);
  if (!st) st = cuda_codegen_source(plan, g->name, 0, &src);
  if (st) {
    rc = fail(st);
    goto done;
  }
  if (verbose) {
    StrBuf sb;
    sb_init(&sb);
    cuda_plan_describe(plan, &sb);
    fprintf(stderr, "lstmc: cuda: %s", sb.data ? sb_cstr(&sb) : "");
    sb_free(&sb);
  }
  if (kind < 0) {
    rc = write_whole(arg_str(a, "o"), src, strlen(src));
  } else {
    char name[160];
    snprintf(name, sizeof name, "%s.cu", g->name);
    CudaCompileRequest rq = {src, name, info.arch, kind, arg_flag(a, "no-cache"), NULL, verbose};
    CudaCompileStats cs;
    char *log = NULL;
    st = cuda_compile(&rq, &bin, &nbin, &log, &cs);
    if (st) {
      rc = fail(st);
      lx_free(log);
      goto done;
    }
    if (verbose && log && *log) fprintf(stderr, "%s", log);
    lx_free(log);
    /* PTX is text: NVRTC's size counts its NUL */
    if (kind == CUDA_EMIT_PTX && nbin > 0 && bin[nbin - 1] == 0) nbin--;
    rc = write_whole(arg_str(a, "o"), bin, nbin);
    if (!rc)
      fprintf(stderr, "lstmc: wrote %s (%s for sm_%d, %zu bytes; %s)\n", arg_str(a, "o"), emit, info.arch, nbin,
              cs.cache_result == 1 ? "from the kernel cache" : "compiled");
  }
  if (!rc && arg_str(a, "header")) {
    char guard[128];
    snprintf(guard, sizeof guard, "LSTMC_CUDA_%s_H", g->name);
    for (char *p = guard; *p; p++)
      if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_')) *p = (*p >= 'a' && *p <= 'z') ? (char)(*p - 32) : '_';
    if ((st = cuda_codegen_header(plan, g->name, guard, &hdr))) rc = fail(st);
    else rc = write_whole(arg_str(a, "header"), hdr, strlen(hdr));
  }
  if (!rc && arg_str(a, "blob")) {
    if ((st = cuda_plan_pack(plan, &blob, &dec))) rc = fail(st);
    else {
      /* blob, then the decoder's blob, each as the header's LSTMC_BLOB_BYTES / LSTMC_DEC_BYTES say */
      uint8_t *both = lx_malloc(plan->blob_bytes + plan->dec_bytes);
      if (!both) rc = fail(lx_nomem("writing the weight images"));
      else {
        memcpy(both, blob, plan->blob_bytes);
        memcpy(both + plan->blob_bytes, dec, plan->dec_bytes);
        rc = write_whole(arg_str(a, "blob"), both, plan->blob_bytes + plan->dec_bytes);
        lx_free(both);
      }
    }
  }
done:
  lx_free(src);
  lx_free(hdr);
  lx_free(bin);
  lx_free(blob);
  lx_free(dec);
  cuda_plan_free(plan);
  lstmc_model_free(m);
  return rc;
}
