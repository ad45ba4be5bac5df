/* A persistent pool of worker threads for the CPU executor: one job per step (or scoring chunk) runs on
 * every thread at once (the caller is thread 0), with a cheap barrier between the phases of a job. Workers
 * spin briefly between jobs (a step follows the previous one within microseconds during generation), then
 * sleep on a condition variable; inside a job the barrier spins and then yields, which keeps it cheap when
 * the machine's cores are shared with other work.
 *
 * Memory: the pool owns its threads; cpu_pool_free joins them. */
#ifndef LSTMC_CODEGEN_CPU_POOL_H
#define LSTMC_CODEGEN_CPU_POOL_H

typedef struct CpuPool CpuPool;

/* A pool of n threads in all (n - 1 workers besides the caller). Returns 0 or LSTMC_ERR_NOMEM / a thread
 * creation error. */
int cpu_pool_new(int n, CpuPool **out);
void cpu_pool_free(CpuPool *p);
/* Runs fn(ctx, tid) on threads 0..n-1 (the caller is thread 0) and returns when all have finished. */
void cpu_pool_run(CpuPool *p, void (*fn)(void *ctx, int tid), void *ctx);
/* Inside a job: waits until every thread has reached this point. */
void cpu_pool_barrier(CpuPool *p);

#endif
