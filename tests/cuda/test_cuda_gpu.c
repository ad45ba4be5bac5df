/* The CUDA executor on a GPU against the reference executor, for every example model with every weight
 * format (rotated over the model's kernel roles until each of the 18 formats has been used): logits of
 * single and batched steps, scoring across launch boundaries (LSTMC_CUDA_CHUNK), seeded generation with the
 * device sampler (the same text as the reference, twice, so it is deterministic), the state after it, and
 * the sampler alone on tied logits. LSTMC_CUDA_CHECK poisons every output before each launch, so each
 * element is proven written. Exits 77 (skipped) when there is no CUDA driver or device. */
#include <stdlib.h>
#include <sys/stat.h>

#include "codegen/backend.h"
#include "cuda_check.h"

static Executor *gpu_executor(const Graph *g, int batch) {
  ExecOptions o = {0};
  o.target = TARGET_CUDA;
  o.batch = batch;
  Executor *e = NULL;
  if (!CHECK(exec_create(g, &o, &e) == 0)) fprintf(stderr, "    %s\n", lstmc_errmsg());
  return e;
}

int main(int argc, char **argv) {
  CudaDev *dev;
  int st = cuda_dev_open(&dev);
  if (st == LSTMC_ERR_NODEVICE) {
    printf("cuda_gpu: skipped: %s\n", lstmc_errmsg());
    return 77;
  }
  if (!CHECK(st == 0)) {
    fprintf(stderr, "    %s\n", lstmc_errmsg());
    return tu_summary("cuda_gpu");
  }
  printf("%s: sm_%d, %d SMs, %d KB shared memory per block, %d MB L2\n", dev->info.name, dev->info.arch, dev->info.sms,
         dev->info.smem_optin / 1024, dev->info.l2_bytes >> 20);
  dev->ops->close(dev);
  char cache[600];
  snprintf(cache, sizeof cache, "%s/gpu_cache", argc > 1 ? argv[1] : ".");
  mkdir(cache, 0755);
  setenv("XDG_CACHE_HOME", cache, 1);
  setenv("LSTMC_CUDA_CHECK", "1", 1);
  setenv("LSTMC_CUDA_CHUNK", "64", 1);

  static const struct {
    const char *file;
    int64_t V;
    int big; /* the reference is slow on it: fewer steps */
  } ex[] = {{"tiny", 0, 0}, {"tang", 3000, 0}, {"montage", 10000, 0}, {"charptb", 50, 1}, {"enwik8", 0, 1}};
  Rng rng;
  rng_seed(&rng, 2024);
  for (size_t i = 0; i < sizeof ex / sizeof *ex; i++) {
    char path[600];
    snprintf(path, sizeof path, "%s/examples/%s.lstm", LSTMC_SOURCE_DIR, ex[i].file);
    int next = 0;
    for (int config = 0; next < CC_NFORMATS; config++) {
      Graph *g = cc_graph(path, NULL, ex[i].V);
      if (!g) break;
      int first = next, roles = cc_fill(g, &next, &rng);
      char what[96];
      snprintf(what, sizeof what, "%s/%d (formats %d..%d)", ex[i].file, config, first, first + roles - 1);
      printf("%s\n", what);
      Executor *e = gpu_executor(g, 1);
      if (e) {
        int big = ex[i].big;
        cc_check_steps(g, e, 1, big ? 3 : 8, 1e-4, &rng, what);
        cc_check_score(g, e, big ? 24 : 160, 1e-4, &rng, what);
        cc_check_generate(g, e, big ? 16 : 120, 0.8, 0, 7, 1e-4, what);
        cc_check_generate(g, e, big ? 16 : 120, 0.8, 0, 7, 1e-4, what); /* the same seed again */
        cc_check_generate(g, e, big ? 8 : 60, 0.0, 0, 1, 1e-4, what);
        cc_check_generate(g, e, big ? 8 : 60, 1.2, 5, 3, 1e-4, what);
        cc_check_sampler(e, &rng, what);
        exec_destroy(e);
      }
      if (config == 0 && (e = gpu_executor(g, 4))) {
        cc_check_steps(g, e, 4, ex[i].big ? 2 : 6, 1e-4, &rng, what);
        exec_destroy(e);
      }
      graph_free(g);
      if (roles == 0) break;
    }
  }
  return tu_summary("cuda_gpu");
}
