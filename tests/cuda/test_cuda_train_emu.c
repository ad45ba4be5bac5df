/* GPU training without a GPU: the training kernels (codegen/cuda/dev_train.h), compiled by the host C
 * compiler, run on the host emulator with the cuBLAS stand-in (cublas_host.c), and train_check.h compares
 * every step with the CPU engine's — for each of the ten optimizers (and their variants), with embedding
 * dropout, locked dropout, weight-drop, AR, TAR and clipping on; with a column-packed pruning schedule;
 * under QAT; for 20 steps in a row; in bf16; and the evaluation net. Small shapes: the emulator runs every
 * CUDA thread as a coroutine. */
#include <sys/stat.h>

#include "cuda_emu.h"
#include "train_check.h"

static char workdir[512];

static int open_emu(CudaDev **out) { return cuda_emu_open(workdir, 4, 48 * 1024, 256, out); }

/* The model: both decoders, every regularizer; %s is the optimizer statement, %s the rest of the block. */
static const char *MODEL = "model t {\n"
                           "  vocab chars;\n"
                           "  embed 6 { dropout 0.2; }\n"
                           "  dropout 0.2;\n"
                           "  lstm 12 { weight_drop 0.3; }\n"
                           "  dropout 0.25;\n"
                           "  lstm %d { weight_drop 0.2; }\n"
                           "  dropout 0.1;\n"
                           "  decoder %s;\n"
                           "}\n"
                           "train {\n"
                           "  bptt 10; batch 3; seed 11; clip %s; ar 2; tar 1;\n"
                           "  %s\n"
                           "  %s\n"
                           "}\n";

static char *spec_text(int tied, const char *clip, const char *opt, const char *rest) {
  static char buf[8][2048];
  static int k;
  char *b = buf[k++ % 8];
  snprintf(b, sizeof buf[0], MODEL, tied ? 6 : 7, tied ? "tied" : "untied", clip, opt, rest);
  return b;
}

int main(int argc, char **argv) {
  snprintf(workdir, sizeof workdir, "%s/cuda_train_emu", argc > 1 ? argv[1] : ".");
  mkdir(workdir, 0755);
  static const int64_t T2[] = {5, 7}, T1[] = {6};
  static const struct {
    const char *opt;
    int tied;
  } opts[] = {
      {"optimizer sgd { lr 0.5; }", 1},
      {"optimizer sgd { lr 0.3; weight_decay 0.01; }", 0},
      {"optimizer momentum { lr 0.2; }", 1},
      {"optimizer nesterov { lr 0.2; momentum 0.8; weight_decay 0.001; }", 0},
      {"optimizer adagrad { lr 0.1; lr_decay 0.01; initial_accumulator 0.1; }", 1},
      {"optimizer adadelta { lr 1; }", 0},
      {"optimizer rmsprop { lr 0.01; }", 1},
      {"optimizer rmsprop { lr 0.01; momentum 0.5; }", 0},
      {"optimizer adam { lr 0.01; weight_decay 1e-4; }", 1},
      {"optimizer adamax { lr 0.01; }", 0},
      {"optimizer nadam { lr 0.01; }", 1},
      {"optimizer adabound { lr 0.01; final_lr 0.05; }", 0},
  };
  double worst = 0, worst_loss = 0;
  for (size_t i = 0; i < sizeof opts / sizeof *opts; i++) {
    TcCase c = {opts[i].opt, spec_text(opts[i].tied, "0.25", opts[i].opt, ""), 11, 3, CUDA_TRAIN_F32, -1, 0, 2, T2, 1e-5, 0, 0};
    tc_run(&c, open_emu);
    printf("%-72s worst relative error %.2g (losses %.2g)\n", c.name, c.worst, c.worst_loss);
    worst = c.worst > worst ? c.worst : worst;
    worst_loss = c.worst_loss > worst_loss ? c.worst_loss : worst_loss;
  }
  printf("every optimizer: worst relative error %.2g, losses %.2g\n", worst, worst_loss);

  /* clipping off and a large clip (not reached): the update without scaling */
  TcCase noclip = {"no clipping", spec_text(1, "0", "optimizer sgd { lr 0.5; }", ""), 11, 3, CUDA_TRAIN_F32, -1, 0, 2, T2, 1e-5, 0, 0};
  tc_run(&noclip, open_emu);
  printf("%-72s worst relative error %.2g\n", noclip.name, noclip.worst);

  /* a column-packed schedule: prune, column-combine, conflict-prune; the masks hold through every step */
  const char *cc = "prune_at 1 { prune{sparsity=0.5}, column-combine{alpha=4,gamma=0.5}, conflict-prune }";
  TcCase packed = {"column-packed schedule (adam)", spec_text(0, "0.25", "optimizer adam { lr 0.01; }", cc), 11, 3, CUDA_TRAIN_F32,
                   0, 0, 2, T2, 1e-5, 0, 0};
  tc_run(&packed, open_emu);
  printf("%-72s worst relative error %.2g\n", packed.name, packed.worst);

  /* QAT: the forward pass reads the exported cc_q8 weights, the update goes to the float masters */
  const char *q = "prune_at 1 { prune{sparsity=0.5}, column-combine{alpha=4,gamma=0.5}, conflict-prune, quantize{bits=8} }\n  qat;";
  TcCase qatc = {"qat through cc_q8 (sgd)", spec_text(1, "0.25", "optimizer momentum { lr 0.1; }", q), 11, 3, CUDA_TRAIN_F32, 0, 1,
                 2, T2, 1e-5, 0, 0};
  tc_run(&qatc, open_emu);
  printf("%-72s worst relative error %.2g\n", qatc.name, qatc.worst);

  /* 20 steps in a row: the GPU tracks the CPU's losses */
  static int64_t T20[20];
  for (int i = 0; i < 20; i++) T20[i] = 4 + i % 5;
  TcCase run20 = {"20 steps (adam)", spec_text(1, "0.25", "optimizer adam { lr 0.02; }", ""), 11, 3, CUDA_TRAIN_F32, -1, 0, 20, T20,
                  1e-4, 0, 0};
  tc_run(&run20, open_emu);
  printf("%-72s worst relative error %.2g (losses %.2g)\n", run20.name, run20.worst, run20.worst_loss);

  /* bf16 GEMM operands with fp32 accumulation: close to the fp32 CPU step, not equal */
  TcCase bf16 = {"bf16 (sgd)", spec_text(0, "0.25", "optimizer sgd { lr 0.5; }", ""), 11, 3, CUDA_TRAIN_BF16, -1, 0, 1, T1, 3e-2, 0, 0};
  tc_run(&bf16, open_emu);
  printf("%-72s worst relative error %.2g (losses %.2g)\n", bf16.name, bf16.worst, bf16.worst_loss);

  tc_eval(spec_text(1, "0.25", "optimizer adam { lr 0.01; }", ""), 11, 2, 6, open_emu, 1e-6);
  return tu_summary("cuda_train_emu");
}
