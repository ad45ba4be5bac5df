/* GPU training on a GPU: the cases of train_check.h (every optimizer, dropout and weight-drop, a
 * column-packed schedule, QAT, 20 steps, bf16, the evaluation net) and a wider model over 24 streams and
 * 64 steps, each step against the CPU engine — the generated kernels as NVRTC compiles them, the real
 * cuBLAS, the GPU's memory model. Exits 77 (skipped) without a GPU. */
#include "codegen/cuda/cuda_exec.h"
#include "train_check.h"

static int open_gpu(CudaDev **out) { return cuda_dev_open(out); }

int main(void) {
  CudaDev *dev;
  if (cuda_dev_open(&dev) != 0) {
    printf("cuda_train_gpu: skipped (%s)\n", lstmc_errmsg());
    return 77;
  }
  printf("cuda_train_gpu: %s, sm_%d, %d SMs\n", dev->info.name, dev->info.arch, dev->info.sms);
  dev->ops->close(dev);
  tc_suite(open_gpu, 1, 0);
  return tu_summary("cuda_train_gpu");
}
