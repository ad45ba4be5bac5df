/* The one-rank communicator (see comm.h): with a single rank, a sum over ranks, a broadcast from rank 0
 * and a barrier leave every buffer as it is. */
#include "support/comm.h"

#include "support/err.h"

size_t comm_type_size(CommType type) {
  switch (type) {
  case COMM_F32:
  case COMM_I32: return 4;
  case COMM_F64: return 8;
  default: return 1;
  }
}

static int single_allreduce(Comm *c, void *buf, size_t count, CommType type) {
  (void)c, (void)buf, (void)count, (void)type;
  return 0;
}

static int single_broadcast(Comm *c, void *buf, size_t count, CommType type, int root) {
  (void)buf, (void)count, (void)type;
  if (root != 0) return lx_fail(LSTMC_ERR_USAGE, "comm %s: broadcast from rank %d of %d", c->name, root, c->size);
  return 0;
}

static int single_barrier(Comm *c) {
  (void)c;
  return 0;
}

static const CommOps single_ops = {single_allreduce, single_broadcast, single_barrier, NULL};

Comm *comm_single(void) {
  static Comm c = {&single_ops, 0, 1, 0, "single"};
  return &c;
}
