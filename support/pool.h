/* A fixed pool of worker threads, shared by the training engine and the CPU executor. pool_run hands one
 * function to every thread (the caller takes part as thread 0) and returns when all have finished; inside it, pool_barrier lets
 * the threads step through a recurrence together (one LSTM time step per phase) without returning to the
 * caller. Work is always split by thread index with pool_split, never by which thread comes first, so the
 * results do not depend on timing: with the same thread count every run is bit-identical, and code that
 * keeps each output element on one thread is bit-identical for any thread count.
 *
 * Memory: a Pool owns its threads; pool_free joins them. */
#ifndef LSTMC_SUPPORT_POOL_H
#define LSTMC_SUPPORT_POOL_H
#include <stdint.h>

typedef struct Pool Pool;

typedef void (*PoolFn)(void *ctx, int tid, int nthreads);

/* nthreads <= 0: one per online CPU. Returns 0, LSTMC_ERR_NOMEM or LSTMC_ERR_BACKEND (thread creation). */
int pool_create(int nthreads, Pool **out);
void pool_free(Pool *p); /* accepts NULL */
int pool_threads(const Pool *p);
/* Runs fn(ctx, tid, n) on threads 0..n-1 and waits for all. Not reentrant (fn must not call pool_run). */
void pool_run(Pool *p, PoolFn fn, void *ctx);
/* The same on the first n threads only (1 <= n; more than the pool has are capped): small jobs run on
 * fewer threads, where a barrier would cost more than the work it splits. */
void pool_run_n(Pool *p, int n, PoolFn fn, void *ctx);
/* How many threads a job of `work` units should use: one per `grain` units, at least 1, at most all. */
int pool_threads_for(const Pool *p, double work, double grain);
/* Inside fn: waits until every thread of the run has reached this barrier. */
void pool_barrier(Pool *p);
/* The share [*lo, *hi) of n items for thread tid of nt, in chunks that are multiples of `align` (except
 * the last): contiguous, in thread order, covering [0, n). */
void pool_split(int64_t n, int64_t align, int tid, int nt, int64_t *lo, int64_t *hi);
/* Online CPUs. */
int pool_cpu_count(void);

#endif
