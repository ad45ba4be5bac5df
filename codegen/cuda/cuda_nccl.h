/* NCCL behind the communication interface of support/comm.h: one rank per process, one GPU per rank, the
 * buffers device addresses on that rank's CudaDev (CUdeviceptr cast to void *), work queued on the
 * device's stream in order with the training kernels. libnccl is opened with dlopen (cuda_loader.h), so
 * lstmc builds and runs without it; asking for it where it is missing is one LSTMC_ERR_NODEVICE error.
 *
 * Bootstrapping (what the distributed-training issue's MPI layer does): rank 0 calls comm_nccl_unique_id,
 * broadcasts the 128 bytes to every rank over its host communicator (MPI_Bcast), and every rank calls
 * comm_nccl_create with the same id, the group size and its rank, on the thread that drives its device.
 *
 * Memory: comm_free releases the communicator (ncclCommDestroy) and its scratch buffer; the CudaDev is
 * borrowed and must outlive it. */
#ifndef LSTMC_CODEGEN_CUDA_NCCL_H
#define LSTMC_CODEGEN_CUDA_NCCL_H
#include "codegen/cuda/cuda_exec.h"
#include "support/comm.h"

typedef struct CommNcclId {
  unsigned char bytes[128]; /* an ncclUniqueId */
} CommNcclId;

/* A new id for a group (rank 0 makes it; every rank joins with it). */
int comm_nccl_unique_id(CommNcclId *out);
/* Joins the group `id` as `rank` of `size` on dev's GPU; blocks until every rank has joined. */
int comm_nccl_create(CudaDev *dev, int rank, int size, const CommNcclId *id, Comm **out);

#endif
