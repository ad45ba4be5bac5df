/* A persistent pool of worker threads for the CPU executor: one job per step (or scoring chunk) runs on
 * every thread at once (the caller is thread 0), with a cheap barrier between the phases of a job and at
 * its end. A waiting thread spins first — a step follows the previous one within microseconds during
 * generation, and threads reach a barrier within microseconds of each other — then sleeps on a condition
 * variable. Sleeping rather than spinning on matters when the cores are shared with other work: a thread
 * whose partner was preempted gives its core back, so the scheduler can run the partner there.
 *
 * Memory: the pool owns its threads; cpu_pool_free joins them. */
#ifndef LSTMC_CODEGEN_CPU_POOL_H
#define LSTMC_CODEGEN_CPU_POOL_H

typedef struct CpuPool CpuPool;

/* A pool of n threads in all (n - 1 workers besides the caller). Returns 0 or LSTMC_ERR_NOMEM / a thread
 * creation error. */
int cpu_pool_new(int n, CpuPool **out);
void cpu_pool_free(CpuPool *p);
/* Runs fn(ctx, tid) on threads 0..active-1 (1 <= active <= n; the caller is thread 0; the others sit this
 * job out) and returns when all have finished. */
void cpu_pool_run(CpuPool *p, int active, void (*fn)(void *ctx, int tid), void *ctx);
/* Inside a job: waits until every thread of the job has reached this point. */
void cpu_pool_barrier(CpuPool *p);

#endif
