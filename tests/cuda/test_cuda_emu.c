/* The CUDA executor end to end without a GPU: the generated kernels, compiled by the host C compiler, run on
 * the host emulator (cuda_emu_rt.c) and are checked against the reference executor — logits of single and
 * batched steps, scoring across launch boundaries, seeded generation with the device sampler, the sampler
 * alone on tied logits — for three small models that together take every weight format, multi-block
 * layers, partly resident weights, a one-layer model, a decoder split over blocks and the sampler's scratch
 * in global memory. LSTMC_CUDA_CHECK poisons every output, so each element is proven written. */
#include <stdlib.h>
#include <sys/stat.h>

#include "codegen/backend.h"
#include "cuda_check.h"
#include "cuda_emu.h"

static char workdir[512];

static Executor *emu_executor(const Graph *g, int batch, int sms, int smem, int threads) {
  CudaDev *dev;
  if (!CHECK(cuda_emu_open(workdir, sms, smem, threads, &dev) == 0)) return NULL;
  ExecOptions o = {0};
  o.target = TARGET_CUDA;
  o.batch = batch;
  Executor *e = NULL;
  if (!CHECK(cuda_exec_create_on(g, &o, dev, &e) == 0)) fprintf(stderr, "    %s\n", lstmc_errmsg());
  return e;
}

static void check_model(const char *name, const char *spec, int64_t V, int first_format, int sms, int smem, int threads,
                        int batch, int full) {
  Rng rng;
  rng_seed(&rng, 77 + (uint64_t)first_format);
  Graph *g = cc_graph(NULL, spec, V);
  if (!g) return;
  int next = first_format;
  int roles = cc_fill(g, &next, &rng);
  printf("%s: kernel formats %d..%d (mod %d)\n", name, first_format, first_format + roles - 1, CC_NFORMATS);
  Executor *e = emu_executor(g, 1, sms, smem, threads);
  if (e) {
    StrBuf sb;
    sb_init(&sb);
    cuda_plan_describe(cuda_exec_plan(e), &sb);
    printf("  plan: %s", sb_cstr(&sb));
    sb_free(&sb);
    cc_check_steps(g, e, 1, 5, 1e-4, &rng, name);
    cc_check_score(g, e, 19, 1e-4, &rng, name);
    cc_check_generate(g, e, 16, 0.8, 0, 5, 1e-4, name);
    if (full) {
      cc_check_generate(g, e, 9, 0.0, 0, 1, 1e-4, name);
      cc_check_generate(g, e, 12, 1.0, 3, 9, 1e-4, name);
      cc_check_sampler(e, &rng, name);
    }
    exec_destroy(e);
  }
  if (batch > 1 && (e = emu_executor(g, batch, sms, smem, threads))) {
    cc_check_steps(g, e, batch, 3, 1e-4, &rng, name);
    cc_check_score(g, e, 9, 1e-4, &rng, name); /* stream 0 of a batched executor */
    exec_destroy(e);
  }
  graph_free(g);
}

int main(int argc, char **argv) {
  snprintf(workdir, sizeof workdir, "%s/cuda_emu", argc > 1 ? argv[1] : ".");
  mkdir(workdir, 0755);
  setenv("LSTMC_CUDA_CHECK", "1", 1);
  setenv("LSTMC_CUDA_CHUNK", "7", 1);
  static const char *three = "model three { vocab bytes; embed 12; lstm 40; lstm 24; lstm 12; decoder tied; }";
  static const char *odd = "model odd { vocab chars; embed 9; lstm 21; lstm 13; decoder untied; }";
  static const char *wide = "model wide { vocab words; embed 8; lstm 24; decoder untied; }";
  /* kernel roles: three 6, odd 4, wide 2: formats 0..5, 6..11, 12..15, 16..17 — all 18 */
  check_model("three/a", three, 0, 0, 6, 7168, 512, 7, 1); /* x in registers (batch 1) and not (batch 7) */
  check_model("three/b", three, 0, 6, 5, 3072, 64, 1, 0);
  check_model("odd", odd, 37, 12, 4, 4096, 256, 2, 1); /* more threads than tokens or units */
  check_model("wide", wide, 3000, 16, 3, 3072, 64, 2, 1);
  return tu_summary("cuda_emu");
}
