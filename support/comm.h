/* The communication interface of data-parallel training: a group of `size` ranks, this process being
 * `rank`, with the four collective operations training needs — all-reduce (sum), broadcast, barrier, and
 * rank/size. One rank per process, one GPU per rank for the GPU engine.
 *
 * Implementations:
 *   - comm_single (here): one rank; every operation is the identity. What a run without distribution gets.
 *   - NCCL (codegen/cuda/cuda_nccl.h): buffers are device addresses (CUdeviceptr cast to void *); work is
 *     queued on the device's stream in order with the training kernels; the ranks find each other through
 *     an ncclUniqueId that rank 0 makes (comm_nccl_unique_id) and the launcher broadcasts — the MPI layer of
 *     the distributed-training issue, over its own host communicator (comm.h again, host memory).
 *   - MPI (the distributed-training issue): host memory, between processes and machines.
 *
 * A Comm says which memory its buffers live in (device_memory), so that a caller can refuse a mismatch
 * instead of passing host pointers to NCCL. Calls are collective: every rank makes the same calls in the
 * same order with the same counts. Errors are statuses with a message (lstmc_errmsg), as everywhere.
 *
 * Memory: comm_free releases a Comm (accepts NULL); comm_single's is static and comm_free ignores it. */
#ifndef LSTMC_SUPPORT_COMM_H
#define LSTMC_SUPPORT_COMM_H
#include <stddef.h>

typedef enum CommType { COMM_F32, COMM_F64, COMM_I32, COMM_U8 } CommType;

typedef struct Comm Comm;

typedef struct CommOps {
  /* buf[0..count) := Σ over ranks of buf (in place). */
  int (*allreduce_sum)(Comm *c, void *buf, size_t count, CommType type);
  /* buf[0..count) := root's buf. */
  int (*broadcast)(Comm *c, void *buf, size_t count, CommType type, int root);
  /* Returns once every rank has called it (for device communicators: once the device work queued before
   * it has finished everywhere). */
  int (*barrier)(Comm *c);
  void (*free)(Comm *c);
} CommOps;

struct Comm {
  const CommOps *ops;
  int rank, size;
  int device_memory; /* 1: buffers are device addresses of this rank's GPU */
  const char *name;  /* "single", "nccl", "mpi": for messages */
};

static inline int comm_rank(const Comm *c) { return c ? c->rank : 0; }
static inline int comm_size(const Comm *c) { return c ? c->size : 1; }
static inline int comm_allreduce_sum(Comm *c, void *buf, size_t count, CommType type) {
  return c->ops->allreduce_sum(c, buf, count, type);
}
static inline int comm_broadcast(Comm *c, void *buf, size_t count, CommType type, int root) {
  return c->ops->broadcast(c, buf, count, type, root);
}
static inline int comm_barrier(Comm *c) { return c->ops->barrier(c); }
static inline void comm_free(Comm *c) {
  if (c && c->ops->free) c->ops->free(c);
}

/* Bytes per element of a CommType. */
size_t comm_type_size(CommType type);

/* The one-rank communicator (host or device memory alike: it touches nothing). */
Comm *comm_single(void);

#endif
