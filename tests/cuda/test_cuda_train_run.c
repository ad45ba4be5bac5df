/* `lstmc train --target cuda` end to end on the host emulator (the trainer's options take the emulated
 * device): the GPU engine inside the training loop against the CPU engine —
 *   - a run of two epochs (validation, checkpoints, lr drop, AR/TAR, clipping, weight-drop, dropouts) ends
 *     with the CPU run's weights and validation BPC, to float rounding;
 *   - a run moves between the engines through checkpoints (CPU → GPU → CPU, stopped and resumed with
 *     --max-steps mid-epoch) and ends where the CPU alone ends; a GPU run stopped and resumed on the GPU
 *     ends with the uninterrupted GPU run's bytes (the checkpoint holds all the device's state);
 *   - a schedule in the loop (prune_at: weight-drop, prune, column-combine, conflict-prune, quantize) under
 *     QAT: the exported cc_q8 weights and their BPC match the CPU run's;
 *   - bf16 products train too (their BPC close to fp32's).
 * The emulator sums as the CPU engine does, so the runs agree far below the bounds used here (printed). */
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "cuda_emu.h"
#include "runtime/safetensors.h"
#include "support/alloc.h"
#include "support/text.h"
#include "testutil.h"
#include "train/trainer.h"

static char workdir[600], dir[512];

static int open_emu(struct CudaDev **out) { return cuda_emu_open(workdir, 4, 48 * 1024, 256, out); }

static const char *SPEC = "model small {\n"
                          "  vocab chars;\n"
                          "  embed 8 { dropout 0.1; }\n"
                          "  dropout 0.1;\n"
                          "  lstm 20 { weight_drop 0.2; }\n"
                          "  dropout 0.1;\n"
                          "  lstm 8 { weight_drop 0.1; }\n"
                          "  dropout 0.1;\n"
                          "  decoder tied;\n"
                          "}\n"
                          "train {\n"
                          "  bptt 12; batch 4; eval_batch 2; epochs 2; seed 5; clip 0.25; ar 1; tar 1;\n"
                          "  optimizer adam { lr 0.01; weight_decay 1e-5; }\n"
                          "  lr_drop 1;\n"
                          "%s"
                          "}\n";

/* A file in the test's folder (one of 8 rotating buffers: copy a path that must live longer). */
static char *path(const char *name) {
  static char buf[8][600];
  static int k;
  char *p = buf[k++ % 8];
  snprintf(p, 600, "%s/%s", dir, name);
  return p;
}

static void write_text(const char *p, const char *text) { CHECK(write_file(p, text, strlen(text)) == 0); }

/* One run; returns its status. target: "cpu" or "cuda"; precision NULL or "bf16". */
static int run(const char *spec, const char *target, const char *precision, const char *out, const char *resume, int64_t max_steps,
               lstmc_train_result *r) {
  lstmc_train_options o;
  memset(&o, 0, sizeof o);
  o.data = path("train.txt");
  o.valid = path("valid.txt");
  o.out = out;
  o.target = target;
  o.precision = precision;
  o.resume = resume;
  o.max_steps = max_steps;
  o.threads = 1;
  TrainHooks hooks = {open_emu};
  int st = train_run_with(spec, &o, &hooks, r);
  if (st) fprintf(stderr, "    %s run: %s\n", target, lstmc_errmsg());
  return st;
}

/* The largest relative difference between two weights files' tensors (max |a − b| / max |b| per tensor). */
static double weights_diff(const char *a, const char *b) {
  StFile *fa = NULL, *fb = NULL;
  double worst = INFINITY;
  if (!CHECK(st_read_file(a, &fa) == 0) || !CHECK(st_read_file(b, &fb) == 0)) goto done;
  worst = 0;
  CHECK_INT_EQ(fa->ntensors, fb->ntensors);
  for (int i = 0; i < fa->ntensors; i++) {
    const StTensor *x = &fa->tensors[i], *y = st_find(fb, x->name);
    if (!CHECK(y && y->dtype == x->dtype && y->nbytes == x->nbytes)) {
      worst = INFINITY;
      continue;
    }
    if (x->dtype != ST_F32) {
      if (!CHECK(memcmp(x->data, y->data, x->nbytes) == 0)) fprintf(stderr, "    %s differs\n", x->name);
      continue;
    }
    const float *p = (const float *)(const void *)x->data, *q = (const float *)(const void *)y->data;
    double d = 0, m = 0;
    for (size_t k = 0; k < x->nelems; k++) {
      d = fmax(d, fabs((double)p[k] - q[k]));
      m = fmax(m, fabs((double)q[k]));
    }
    worst = fmax(worst, m > 0 ? d / m : d);
  }
done:
  st_free(fa);
  st_free(fb);
  return worst;
}

int main(int argc, char **argv) {
  snprintf(dir, sizeof dir, "%s/cuda_train_run", argc > 1 ? argv[1] : ".");
  snprintf(workdir, sizeof workdir, "%s/emu", dir);
  mkdir(dir, 0755);
  mkdir(workdir, 0755);
  /* a text with a structure to learn: words of a small alphabet */
  char *text = lx_malloc(3001), *valid = lx_malloc(801);
  const char *words[] = {"the ", "cat ", "sat ", "on ", "a ", "mat ", "and ", "dog ", "ran ", "far "};
  uint64_t x = 7;
  for (int i = 0, n = 0; n < 3000; i++) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    const char *w = words[(x >> 33) % 10];
    for (const char *c = w; *c && n < 3000; c++) text[n++] = *c;
    text[n] = 0;
  }
  memcpy(valid, text + 1000, 800);
  valid[800] = 0;
  write_text(path("train.txt"), text);
  write_text(path("valid.txt"), valid);
  char spec[4096];
  snprintf(spec, sizeof spec, SPEC, "");
  write_text(path("plain.lstm"), spec);

  /* two epochs on each engine */
  lstmc_train_result rc, rg, plain;
  memset(&plain, 0, sizeof plain);
  if (CHECK(run(path("plain.lstm"), "cpu", NULL, path("cpu.safetensors"), NULL, 0, &rc) == 0) &&
      CHECK(run(path("plain.lstm"), "cuda", NULL, path("gpu.safetensors"), NULL, 0, &rg) == 0)) {
    double dw = weights_diff(path("gpu.safetensors"), path("cpu.safetensors"));
    double db = fabs(rg.valid_bpc - rc.valid_bpc) / rc.valid_bpc;
    printf("two epochs (%llu steps): valid bpc %.6f on the GPU, %.6f on the CPU (relative %.2g); weights %.2g\n",
           (unsigned long long)rg.steps, rg.valid_bpc, rc.valid_bpc, db, dw);
    CHECK_INT_EQ(rg.steps, rc.steps);
    CHECK_INT_EQ(rg.epochs_done, 2);
    CHECK(db <= 1e-5);
    CHECK(dw <= 1e-4);
    CHECK(rc.valid_bpc < 4.0); /* it learned something: the unigram entropy of this text is higher */
    plain = rc;
  }

  /* CPU -> GPU -> CPU through checkpoints, mid-epoch */
  lstmc_train_result r1, r2, r3;
  char mix[600], ck[600];
  snprintf(mix, sizeof mix, "%s", path("mix.safetensors"));
  snprintf(ck, sizeof ck, "%s", path("mix.ckpt.safetensors"));
  if (CHECK(run(path("plain.lstm"), "cpu", NULL, mix, NULL, 30, &r1) == 0) &&
      CHECK(run(path("plain.lstm"), "cuda", NULL, mix, ck, 70, &r2) == 0) && CHECK(run(path("plain.lstm"), "cpu", NULL, mix, ck, 0, &r3) == 0)) {
    double dw = weights_diff(mix, path("cpu.safetensors"));
    double db = fabs(r3.valid_bpc - rc.valid_bpc) / rc.valid_bpc;
    printf("cpu (30 steps) -> gpu (to 70) -> cpu (to the end): valid bpc %.6f (relative %.2g to the CPU run); weights %.2g\n",
           r3.valid_bpc, db, dw);
    CHECK_INT_EQ(r1.steps, 30);
    CHECK_INT_EQ(r2.steps, 70);
    CHECK_INT_EQ(r3.steps, rc.steps);
    CHECK(db <= 1e-5);
    CHECK(dw <= 1e-4);
  }

  /* GPU -> GPU: the same bytes as the uninterrupted GPU run */
  char res[600], res_ck[600];
  snprintf(res, sizeof res, "%s", path("resumed.safetensors"));
  snprintf(res_ck, sizeof res_ck, "%s", path("resumed.ckpt.safetensors"));
  if (CHECK(run(path("plain.lstm"), "cuda", NULL, res, NULL, 40, &r1) == 0) &&
      CHECK(run(path("plain.lstm"), "cuda", NULL, res, res_ck, 0, &r2) == 0)) {
    char *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    CHECK(read_file(res, &a, &na) == 0 && read_file(path("gpu.safetensors"), &b, &nb) == 0);
    CHECK(a && b && na == nb && memcmp(a, b, na) == 0);
    CHECK(r2.valid_bpc == rg.valid_bpc);
    lx_free(a);
    lx_free(b);
    printf("gpu (40 steps) -> gpu (to the end): the uninterrupted GPU run's weights, bit for bit\n");
  }

  /* a schedule in the loop under QAT */
  snprintf(spec, sizeof spec, SPEC,
           "  prune_at 2 { weight-drop{p=0.3}, prune{sparsity=0.5}, column-combine{alpha=4,gamma=0.5}, conflict-prune, "
           "quantize{bits=8} }\n  qat;\n");
  write_text(path("sched.lstm"), spec);
  if (CHECK(run(path("sched.lstm"), "cpu", NULL, path("cpu_sched.safetensors"), NULL, 0, &rc) == 0) &&
      CHECK(run(path("sched.lstm"), "cuda", NULL, path("gpu_sched.safetensors"), NULL, 0, &rg) == 0)) {
    double dw = weights_diff(path("gpu_sched.safetensors"), path("cpu_sched.safetensors"));
    double db = fabs(rg.valid_bpc - rc.valid_bpc) / rc.valid_bpc;
    printf("prune_at + qat (cc_q8): valid bpc %.6f on the GPU, %.6f on the CPU (relative %.2g); exported weights %.2g\n",
           rg.valid_bpc, rc.valid_bpc, db, dw);
    CHECK(db <= 1e-4);
    /* quantized codes can flip by one level where a weight sits on a rounding boundary; their scales hold */
    CHECK(dw <= 1e-2);
  }

  /* bf16 products: the same training to bf16's precision */
  if (CHECK(run(path("plain.lstm"), "cuda", "bf16", path("bf16.safetensors"), NULL, 0, &rg) == 0)) {
    double db = fabs(rg.valid_bpc - plain.valid_bpc) / plain.valid_bpc;
    printf("bf16: valid bpc %.6f (fp32 on the CPU %.6f, relative %.2g)\n", rg.valid_bpc, plain.valid_bpc, db);
    CHECK(db <= 2e-2);
  }
  lx_free(text);
  lx_free(valid);
  return tu_summary("cuda_train_run");
}
