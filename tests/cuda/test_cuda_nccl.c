/* The communication interface (support/comm.h) and its NCCL implementation (codegen/cuda/cuda_nccl.c):
 *   - the one-rank communicator leaves buffers as they are and refuses a broadcast from another rank;
 *   - NCCL missing (LSTMC_NCCL set empty) is one LSTMC_ERR_NODEVICE error naming it; an emulated device is
 *     refused (NCCL needs a GPU); a bad rank is a usage error;
 *   - with libnccl, a group id can be made (no GPU needed);
 *   - with a GPU: a group of one rank on it — all-reduce, broadcast and barrier on device buffers.
 * Several GPUs (one process each) are the distributed-training issue's to test, with its launcher. */
#include <stdlib.h>
#include <string.h>

#include "codegen/cuda/cuda_nccl.h"
#include "cuda_emu.h"
#include "testutil.h"

static void test_single(void) {
  Comm *c = comm_single();
  CHECK_INT_EQ(comm_rank(c), 0);
  CHECK_INT_EQ(comm_size(c), 1);
  CHECK_INT_EQ(comm_size(NULL), 1);
  float x[3] = {1.5f, -2, 3};
  CHECK(comm_allreduce_sum(c, x, 3, COMM_F32) == 0 && x[0] == 1.5f && x[1] == -2 && x[2] == 3);
  CHECK(comm_broadcast(c, x, 3, COMM_F32, 0) == 0 && x[0] == 1.5f);
  CHECK_INT_EQ(comm_broadcast(c, x, 3, COMM_F32, 1), LSTMC_ERR_USAGE);
  CHECK_CONTAINS(lstmc_errmsg(), "broadcast from rank 1 of 1");
  CHECK(comm_barrier(c) == 0);
  comm_free(c); /* the static one: ignored */
  CHECK_INT_EQ(comm_type_size(COMM_F64), 8);
  CHECK_INT_EQ(comm_type_size(COMM_U8), 1);
}

int main(int argc, char **argv) {
  test_single();
  /* an emulated device has no NCCL */
  char dir[600];
  snprintf(dir, sizeof dir, "%s/nccl_emu", argc > 1 ? argv[1] : ".");
  CudaDev *emu;
  Comm *c = NULL;
  CommNcclId id;
  memset(&id, 0, sizeof id);
  if (CHECK(cuda_emu_open(dir, 1, 1024, 32, &emu) == 0)) {
    CHECK_INT_EQ(comm_nccl_create(emu, 0, 1, &id, &c), LSTMC_ERR_UNSUPPORTED);
    CHECK_CONTAINS(lstmc_errmsg(), "NCCL needs a GPU");
    CHECK_INT_EQ(comm_nccl_create(emu, 2, 2, &id, &c), LSTMC_ERR_USAGE);
    CHECK_CONTAINS(lstmc_errmsg(), "rank 2 of a group of 2");
    emu->ops->close(emu);
  }
  /* no NCCL at all */
  const char *old = getenv("LSTMC_NCCL");
  setenv("LSTMC_NCCL", "", 1);
  CHECK_INT_EQ(comm_nccl_unique_id(&id), LSTMC_ERR_NODEVICE);
  CHECK_CONTAINS(lstmc_errmsg(), "NCCL not found (libnccl.so.2; tried LSTMC_NCCL is set empty");
  if (old) setenv("LSTMC_NCCL", old, 1);
  else unsetenv("LSTMC_NCCL");

  int have_nccl = comm_nccl_unique_id(&id) == 0;
  if (!have_nccl) printf("cuda_nccl: no libnccl (%s): the NCCL checks are skipped\n", lstmc_errmsg());
  CudaDev *gpu = NULL;
  if (have_nccl && cuda_dev_open(&gpu) == 0) {
    printf("cuda_nccl: a group of one rank on %s\n", gpu->info.name);
    CUdeviceptr buf = 0;
    float x[4] = {1, 2, 3, 4}, y[4] = {0};
    if (CHECK(comm_nccl_create(gpu, 0, 1, &id, &c) == 0) && CHECK(gpu->ops->alloc(gpu, sizeof x, &buf) == 0) &&
        CHECK(gpu->ops->h2d(gpu, buf, x, sizeof x) == 0)) {
      CHECK_INT_EQ(comm_size(c), 1);
      CHECK(c->device_memory);
      CHECK(comm_allreduce_sum(c, (void *)(uintptr_t)buf, 4, COMM_F32) == 0);
      CHECK(comm_broadcast(c, (void *)(uintptr_t)buf, 4, COMM_F32, 0) == 0);
      CHECK(comm_barrier(c) == 0);
      CHECK(gpu->ops->d2h(gpu, y, buf, sizeof y) == 0);
      CHECK(memcmp(x, y, sizeof x) == 0); /* a sum over one rank, a broadcast from itself */
      CHECK_INT_EQ(comm_broadcast(c, (void *)(uintptr_t)buf, 4, COMM_F32, 1), LSTMC_ERR_USAGE);
    } else {
      fprintf(stderr, "    %s\n", lstmc_errmsg());
    }
    if (buf) gpu->ops->free(gpu, buf);
    comm_free(c);
    gpu->ops->close(gpu);
  } else if (have_nccl) {
    printf("cuda_nccl: no GPU (%s): the one-rank group is skipped\n", lstmc_errmsg());
  }
  return tu_summary("cuda_nccl");
}
