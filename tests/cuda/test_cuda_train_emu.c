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

/* Two ranks that hold the same gradients, as the emulator can pretend (its device memory is host memory):
 * the sum over ranks doubles every element, and the average halves it back exactly. */
static int mirror_allreduce(Comm *c, void *buf, size_t count, CommType type) {
  if (type != COMM_F32) return lx_fail(LSTMC_ERR_USAGE, "mirror: floats only");
  float *x = buf;
  for (size_t i = 0; i < count; i++) x[i] *= (float)c->size;
  return 0;
}
static int mirror_broadcast(Comm *c, void *buf, size_t count, CommType type, int root) {
  (void)c, (void)buf, (void)count, (void)type, (void)root;
  return 0;
}
static int mirror_barrier(Comm *c) {
  (void)c;
  return 0;
}
static const CommOps mirror_ops = {mirror_allreduce, mirror_broadcast, mirror_barrier, NULL};

/* The data-parallel path of cuda_train_step (average over ranks before clipping) with two mirrored ranks
 * gives the one-rank step bit for bit; a host-memory communicator is refused. */
static void check_comm(void) {
  static const char *text = "model m { vocab chars; embed 5; lstm 9 { weight_drop 0.2; } decoder untied; }\n"
                            "train { clip 0.1; optimizer adam { lr 0.01; } }\n";
  Spec *spec = NULL;
  Graph *g1 = tc_graph(text, 7, &spec), *g2 = g1 ? graph_clone(g1) : NULL;
  CudaTrain *t1 = NULL, *t2 = NULL;
  NetCuda *n1 = NULL, *n2 = NULL;
  CudaDev *d1 = NULL, *d2 = NULL;
  OptimConfig oc;
  Comm mirror = {&mirror_ops, 0, 2, 1, "mirror"}, host = {&mirror_ops, 0, 2, 0, "host-mirror"};
  if (!g2 || !CHECK(optim_config_from_spec(&spec->train.opt, &oc) == 0) || !CHECK(open_emu(&d1) == 0) ||
      !CHECK(cuda_train_create(g1, d1, &oc, NULL, &t1) == 0) || !CHECK(open_emu(&d2) == 0) ||
      !CHECK(cuda_train_create(g2, d2, &oc, NULL, &t2) == 0) || !CHECK(net_cuda_create(t1, 2, 1, &n1) == 0) ||
      !CHECK(net_cuda_create(t2, 2, 1, &n2) == 0))
    goto done;
  cuda_train_set_comm(t2, &mirror);
  CHECK(cuda_train_broadcast_weights(t2) == 0);
  int32_t tok[14] = {1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6, 0};
  for (int step = 0; step < 2; step++) {
    NetLoss l1, l2;
    CHECK(net_cuda_draw_masks(n1, 5, (uint64_t)step) == 0 && net_cuda_draw_masks(n2, 5, (uint64_t)step) == 0);
    CHECK(cuda_train_step(t1, n1, tok, tok + 2, 6, 0.01, 0.01, 0.1, 0, 0, &l1) == 0);
    CHECK(cuda_train_step(t2, n2, tok, tok + 2, 6, 0.01, 0.01, 0.1, 0, 0, &l2) == 0);
    CHECK(l1.nll == l2.nll);
  }
  CHECK(cuda_train_download(t1) == 0 && cuda_train_download(t2) == 0);
  for (int s = 0; s < g1->nslots; s++)
    if (!CHECK(memcmp(tensor_f32(g1->slots[s].t), tensor_f32(g2->slots[s].t), (size_t)(g1->slots[s].rows * g1->slots[s].cols) * 4) == 0))
      fprintf(stderr, "    %s differs between one rank and two mirrored ranks\n", g1->slots[s].name);
  cuda_train_set_comm(t2, &host);
  NetLoss l;
  CHECK_INT_EQ(cuda_train_step(t2, n2, tok, tok + 2, 6, 0.01, 0.01, 0.1, 0, 0, &l), LSTMC_ERR_USAGE);
  CHECK_CONTAINS(lstmc_errmsg(), "the communicator 'host-mirror' works on host memory");
  printf("data-parallel path: two mirrored ranks give the one-rank steps bit for bit\n");
done:
  net_cuda_free(n1);
  net_cuda_free(n2);
  cuda_train_free(t1);
  cuda_train_free(t2);
  graph_free(g1);
  graph_free(g2);
  spec_free(spec);
}

int main(int argc, char **argv) {
  snprintf(workdir, sizeof workdir, "%s/cuda_train_emu", argc > 1 ? argv[1] : ".");
  mkdir(workdir, 0755);
  tc_suite(open_emu, 0, 1); /* the emulator sums as the CPU does: weights compared across engines too */
  check_comm();
  return tu_summary("cuda_train_emu");
}
