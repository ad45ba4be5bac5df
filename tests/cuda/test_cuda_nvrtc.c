/* NVRTC without a GPU: the kernel cache through real compilations (miss, hit with no compilation, corrupt
 * entry recompiled and replaced, --no-cache compiles and stores nothing, other architectures are other
 * keys, XDG_CACHE_HOME is honoured), a compile error carries NVRTC's log, and the generated module of every
 * example model compiles for sm_80 and sm_90 with every weight format appearing across the examples (and a
 * batched kernel). Skipped (77) only when libnvrtc is absent. Compile times are printed, not checked. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codegen/cuda/cuda_cache.h"
#include "codegen/cuda/cuda_compile.h"
#include "codegen/cuda/cuda_loader.h"
#include "cuda_check.h"

static char tmp[600];

static const char *tiny_src = "extern \"C\" __global__ void twice(float *x) { x[threadIdx.x] *= 2.0f; }\n";

static int count_entries(const char *d) {
  DIR *dd = opendir(d);
  int n = 0;
  if (!dd) return 0;
  struct dirent *e;
  while ((e = readdir(dd))) n += strstr(e->d_name, ".bin") != NULL;
  closedir(dd);
  return n;
}

static int compile(const char *src, int arch, int emit, int no_cache, const char *dir, CudaCompileStats *cs, uint8_t **out,
                   size_t *n) {
  CudaCompileRequest rq = {src, "test.cu", arch, emit, no_cache, dir, 0};
  char *log = NULL;
  int st = cuda_compile(&rq, out, n, &log, cs);
  lx_free(log);
  return st;
}

static void test_cache(void) {
  char dir[700];
  snprintf(dir, sizeof dir, "%s/nvrtc_cache", tmp);
  mkdir(dir, 0755);
  DIR *dd = opendir(dir);
  struct dirent *e;
  char p[1400];
  while (dd && (e = readdir(dd)))
    if (e->d_name[0] != '.') {
      snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
      unlink(p);
    }
  if (dd) closedir(dd);

  CudaCompileStats cs;
  uint8_t *a = NULL, *b = NULL;
  size_t na = 0, nb = 0;
  if (!CHECK(compile(tiny_src, 90, CUDA_EMIT_CUBIN, 0, dir, &cs, &a, &na) == 0)) {
    fprintf(stderr, "    %s\n", lstmc_errmsg());
    return;
  }
  CHECK(cs.compiled && cs.stored && cs.cache_result == CUDA_CACHE_MISS);
  CHECK(na > 4 && !memcmp(a, "\x7f" "ELF", 4));
  printf("tiny kernel, sm_90 cubin: cold %.3f s (NVRTC %.3f s)", cs.total_seconds, cs.compile_seconds);
  CHECK(compile(tiny_src, 90, CUDA_EMIT_CUBIN, 0, dir, &cs, &b, &nb) == 0);
  CHECK(!cs.compiled && cs.cache_result == CUDA_CACHE_HIT);
  CHECK(na == nb && !memcmp(a, b, na));
  printf(", warm %.4f s\n", cs.total_seconds);
  lx_free(b);
  b = NULL;
  CHECK_INT_EQ(count_entries(dir), 1);

  /* --no-cache: compiles, neither reads nor writes */
  CHECK(compile(tiny_src, 90, CUDA_EMIT_CUBIN, 1, dir, &cs, &b, &nb) == 0);
  CHECK(cs.compiled && !cs.stored && cs.entry[0] == 0);
  CHECK_INT_EQ(count_entries(dir), 1);
  lx_free(b);
  b = NULL;

  /* a damaged entry is detected, recompiled and replaced */
  compile(tiny_src, 90, CUDA_EMIT_CUBIN, 0, dir, &cs, &b, &nb);
  lx_free(b);
  b = NULL;
  FILE *f = fopen(cs.entry, "r+b");
  if (CHECK(f)) {
    fseek(f, -5, SEEK_END);
    fputc('!', f);
    fclose(f);
  }
  CHECK(compile(tiny_src, 90, CUDA_EMIT_CUBIN, 0, dir, &cs, &b, &nb) == 0);
  CHECK(cs.cache_result == CUDA_CACHE_CORRUPT && cs.compiled && cs.stored);
  CHECK(na == nb && !memcmp(a, b, na));
  lx_free(b);
  b = NULL;
  CHECK(compile(tiny_src, 90, CUDA_EMIT_CUBIN, 0, dir, &cs, &b, &nb) == 0);
  CHECK(cs.cache_result == CUDA_CACHE_HIT);
  lx_free(b);
  b = NULL;

  /* another architecture, another key; PTX another entry again */
  char key90[65];
  snprintf(key90, sizeof key90, "%s", cs.key);
  CHECK(compile(tiny_src, 80, CUDA_EMIT_CUBIN, 0, dir, &cs, &b, &nb) == 0);
  CHECK(cs.compiled && cs.cache_result == CUDA_CACHE_MISS && strcmp(cs.key, key90));
  lx_free(b);
  b = NULL;
  CHECK(compile(tiny_src, 90, CUDA_EMIT_PTX, 0, dir, &cs, &b, &nb) == 0);
  CHECK(cs.compiled && cs.cache_result == CUDA_CACHE_MISS);
  CHECK(b && nb > 0 && strstr((const char *)b, ".target sm_90") && strstr((const char *)b, ".entry twice"));
  lx_free(b);
  b = NULL;
  CHECK_INT_EQ(count_entries(dir), 3);

  /* the default folder: $XDG_CACHE_HOME/lstmc/cuda */
  char xdg[700], want[800];
  snprintf(xdg, sizeof xdg, "%s/xdg", tmp);
  setenv("XDG_CACHE_HOME", xdg, 1);
  CHECK(compile(tiny_src, 90, CUDA_EMIT_CUBIN, 0, NULL, &cs, &b, &nb) == 0);
  snprintf(want, sizeof want, "%s/lstmc/cuda/", xdg);
  CHECK(!strncmp(cs.entry, want, strlen(want)));
  lx_free(b);
  b = NULL;
  lx_free(a);

  /* a compile error: the message carries the compiler's log */
  int st = compile("extern \"C\" __global__ void broken(float *x) { x[0] = undeclared_name; }\n", 90, CUDA_EMIT_CUBIN, 1, dir, &cs,
                   &b, &nb);
  CHECK_INT_EQ(st, LSTMC_ERR_BACKEND);
  CHECK_CONTAINS(lstmc_errmsg(), "NVRTC could not compile test.cu for sm_90");
  CHECK_CONTAINS(lstmc_errmsg(), "undeclared_name");
  CHECK(b == NULL);
}

/* Every example: its module for sm_80 and sm_90. Formats rotate over the kernels' weight roles of all the
 * examples in turn (22 roles), so that every one of the 18 formats is compiled. */
static void test_examples(void) {
  static const struct {
    const char *file;
    int64_t V;
    int batch;
  } ex[] = {{"tiny", 0, 1}, {"tang", 3000, 1}, {"montage", 10000, 2}, {"charptb", 50, 8}, {"enwik8", 0, 1}};
  int next = 0, seen[CC_NFORMATS] = {0};
  Rng rng;
  rng_seed(&rng, 5);
  char dir[700];
  snprintf(dir, sizeof dir, "%s/nvrtc_cache", tmp);
  for (size_t i = 0; i < sizeof ex / sizeof *ex; i++) {
    char path[600];
    snprintf(path, sizeof path, "%s/examples/%s.lstm", LSTMC_SOURCE_DIR, ex[i].file);
    Graph *g = cc_graph(path, NULL, ex[i].V);
    if (!g) continue;
    int first = next;
    int roles = cc_fill(g, &next, &rng);
    for (int k = first; k < next; k++) seen[k % CC_NFORMATS] = 1;
    for (int arch = 80; arch <= 90; arch += 10) {
      CudaDeviceInfo dev;
      CudaPlan *plan = NULL;
      char *src = NULL;
      cuda_device_defaults(arch, &dev);
      if (!CHECK(cuda_plan_build(g, &dev, ex[i].batch, &plan) == 0) || !CHECK(cuda_codegen_source(plan, g->name, 0, &src) == 0)) {
        fprintf(stderr, "    %s: %s\n", ex[i].file, lstmc_errmsg());
        cuda_plan_free(plan);
        continue;
      }
      char name[64];
      snprintf(name, sizeof name, "%s.cu", ex[i].file);
      CudaCompileRequest rq = {src, name, arch, CUDA_EMIT_CUBIN, 1, dir, 0};
      CudaCompileStats cs;
      uint8_t *bin = NULL;
      size_t nbin = 0;
      char *log = NULL;
      int st = cuda_compile(&rq, &bin, &nbin, &log, &cs);
      if (!CHECK(st == 0)) fprintf(stderr, "    %s sm_%d: %s\n", ex[i].file, arch, lstmc_errmsg());
      else {
        /* the resource report: no spills, no local memory frames in the persistent kernels */
        const char *spill = log ? strstr(log, "spill stores") : NULL;
        int spills = 0;
        for (const char *q = log; q && (q = strstr(q, " bytes spill stores")); q++) {
          const char *d = q;
          while (d > log && d[-1] >= '0' && d[-1] <= '9') d--;
          spills += atoi(d);
        }
        printf("%s (%d kernel roles, formats %d..%d, batch %d): sm_%d cubin %zu bytes, NVRTC %.2f s, %d plan blocks, "
               "%d B shared memory, spill bytes %d\n",
               ex[i].file, roles, first % CC_NFORMATS, (next - 1) % CC_NFORMATS, ex[i].batch, arch, nbin, cs.compile_seconds,
               plan->nb, plan->sm_bytes, spills);
        CHECK(spill != NULL);
        if (!CHECK_INT_EQ(spills, 0)) fprintf(stderr, "    ptxas' report:\n%s\n", log);
      }
      lx_free(log);
      lx_free(bin);
      lx_free(src);
      cuda_plan_free(plan);
    }
    graph_free(g);
  }
  for (int f = 0; f < CC_NFORMATS; f++)
    if (!CHECK(seen[f])) fprintf(stderr, "    format %d was not compiled\n", f);
}

int main(int argc, char **argv) {
  snprintf(tmp, sizeof tmp, "%s", argc > 1 ? argv[1] : ".");
  const CudaNvrtc *nv;
  if (cuda_nvrtc_open(&nv)) {
    printf("cuda_nvrtc: skipped: %s\n", lstmc_errmsg());
    return 77;
  }
  printf("NVRTC %d.%d (%s)\n", nv->major, nv->minor, nv->path);
  CHECK(cuda_nvrtc_supports_arch(80));
  CHECK(cuda_nvrtc_supports_arch(90));
  test_cache();
  test_examples();
  return tu_summary("cuda_nvrtc");
}
