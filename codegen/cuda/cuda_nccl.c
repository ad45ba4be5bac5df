/* The NCCL communicator (see cuda_nccl.h). Every call goes through NCCL_CALL (one error naming the call and
 * NCCL's error string); the barrier is an all-reduce of one word followed by a wait for the device. */
#include "codegen/cuda/cuda_nccl.h"

#include <stdio.h>
#include <string.h>

#include "support/alloc.h"
#include "support/err.h"

typedef struct NcclComm {
  Comm base;
  const CudaNccl *nc;
  ncclComm_t comm;
  CudaDev *dev;
  CUdeviceptr word; /* the barrier's scratch */
} NcclComm;

_Static_assert(sizeof(CommNcclId) == sizeof(ncclUniqueId), "CommNcclId must hold an ncclUniqueId");

static int nccl_type(CommType t) {
  switch (t) {
  case COMM_F32: return ncclFloat32;
  case COMM_F64: return ncclFloat64;
  case COMM_I32: return ncclInt32;
  default: return ncclUint8;
  }
}

static int nccl_allreduce(Comm *c, void *buf, size_t count, CommType type) {
  NcclComm *n = (NcclComm *)c;
  return NCCL_CALL(n->nc, ncclAllReduce, (buf, buf, count, nccl_type(type), ncclSum, n->comm, NULL), "summing over the GPUs");
}

static int nccl_broadcast(Comm *c, void *buf, size_t count, CommType type, int root) {
  NcclComm *n = (NcclComm *)c;
  if (root < 0 || root >= c->size) return lx_fail(LSTMC_ERR_USAGE, "comm nccl: broadcast from rank %d of %d", root, c->size);
  return NCCL_CALL(n->nc, ncclBroadcast, (buf, buf, count, nccl_type(type), root, n->comm, NULL), "broadcasting over the GPUs");
}

static int nccl_barrier(Comm *c) {
  NcclComm *n = (NcclComm *)c;
  int st = nccl_allreduce(c, (void *)(uintptr_t)n->word, 1, COMM_I32);
  if (!st) st = n->dev->ops->sync(n->dev);
  if (!st) {
    ncclResult_t async = 0;
    if (!NCCL_CALL(n->nc, ncclCommGetAsyncError, (n->comm, &async), "checking the GPUs' communicator") && async)
      st = cuda_check_nccl(n->nc, async, "a collective", "communicating between the GPUs");
  }
  return st;
}

static void nccl_free(Comm *c) {
  NcclComm *n = (NcclComm *)c;
  if (n->comm) n->nc->ncclCommDestroy(n->comm);
  if (n->word) n->dev->ops->free(n->dev, n->word);
  lx_free(n);
}

static const CommOps nccl_ops = {nccl_allreduce, nccl_broadcast, nccl_barrier, nccl_free};

int comm_nccl_unique_id(CommNcclId *out) {
  const CudaNccl *nc;
  int st = cuda_nccl_open(&nc);
  if (st) return st;
  ncclUniqueId id;
  if ((st = NCCL_CALL(nc, ncclGetUniqueId, (&id), "making the id of a GPU group"))) return st;
  memcpy(out->bytes, id.internal, sizeof out->bytes);
  return 0;
}

int comm_nccl_create(CudaDev *dev, int rank, int size, const CommNcclId *id, Comm **out) {
  *out = NULL;
  if (size < 1 || rank < 0 || rank >= size) return lx_fail(LSTMC_ERR_USAGE, "comm nccl: rank %d of a group of %d", rank, size);
  if (dev->emu) return lx_fail(LSTMC_ERR_UNSUPPORTED, "comm nccl: NCCL needs a GPU, not %s", dev->info.name);
  const CudaNccl *nc;
  int st = cuda_nccl_open(&nc);
  if (st) return st;
  NcclComm *n = lx_calloc(1, sizeof *n);
  if (!n) return lx_nomem("joining a GPU group");
  n->base.ops = &nccl_ops;
  n->base.rank = rank;
  n->base.size = size;
  n->base.device_memory = 1;
  n->base.name = "nccl";
  n->nc = nc;
  n->dev = dev;
  /* an operation of the device makes its context current on this thread, where NCCL finds it */
  if ((st = dev->ops->alloc(dev, 4, &n->word)) || (st = dev->ops->memset32(dev, n->word, 0, 1)) || (st = dev->ops->sync(dev))) {
    nccl_free(&n->base);
    return st;
  }
  ncclUniqueId uid;
  memcpy(uid.internal, id->bytes, sizeof uid.internal);
  char what[96];
  snprintf(what, sizeof what, "joining a group of %d GPUs as rank %d", size, rank);
  if ((st = NCCL_CALL(nc, ncclCommInitRank, (&n->comm, size, uid, rank), what))) {
    n->comm = NULL;
    nccl_free(&n->base);
    return st;
  }
  *out = &n->base;
  return 0;
}
