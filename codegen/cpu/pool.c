/* The CPU executor's thread pool (pool.h): a job generation counter that workers watch, and a centralized
 * barrier (arrival count plus a phase that the last thread to arrive advances), which also ends each job.
 * Sleepers are counted so that whoever advances the job or the phase takes the mutex and broadcasts only
 * when someone sleeps: both sides use sequentially consistent atomics, so either the advancing thread sees
 * the sleeper's count or the sleeper, re-checking under the mutex, sees the advance.
 *
 * Worker k is pinned to the k-th CPU the process may use (the caller, thread 0, is left alone). Without
 * it the scheduler sometimes kept both threads of a 2-thread pool on one core — a pair that hands the core
 * back and forth at each barrier looks balanced to it — and a step took the one-thread time. Pinning also
 * keeps a worker's share of the weights in its own core's caches. */
#define _GNU_SOURCE /* pthread_setaffinity_np, sched_getaffinity */
#include "codegen/cpu/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "support/alloc.h"
#include "support/err.h"

/* Spins (x86 `pause`, about 27 ns on this machine's Zen 4) before a waiting thread sleeps: about 0.5 ms
 * between jobs, 0.2 ms at a barrier (longer than the imbalance of a phase on an idle machine, so only a
 * preempted partner makes a thread sleep). */
#define JOB_SPINS 20000
#define BARRIER_SPINS 8000

struct CpuPool {
  int n;
  int active;          /* threads in the current job */
  pthread_t *threads;
  void (*fn)(void *ctx, int tid);
  void *ctx;
  atomic_uint job;     /* advanced once per job */
  atomic_int stop;
  atomic_int arrived;  /* barrier */
  atomic_uint phase;
  atomic_int sleepers; /* threads waiting on cv, for a job or a phase */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int nstarted;
};

typedef struct Worker {
  CpuPool *p;
  int tid;
} Worker;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

static void wake_sleepers(CpuPool *p) {
  if (!atomic_load(&p->sleepers)) return;
  pthread_mutex_lock(&p->mu);
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
}

/* Waits until *v differs from old (or the pool stops): spins, then sleeps. */
static void wait_change(CpuPool *p, atomic_uint *v, unsigned old, int spins) {
  for (int i = 0; i < spins; i++) {
    if (atomic_load(v) != old || atomic_load(&p->stop)) return;
    cpu_relax();
  }
  pthread_mutex_lock(&p->mu);
  atomic_fetch_add(&p->sleepers, 1);
  while (atomic_load(v) == old && !atomic_load(&p->stop)) pthread_cond_wait(&p->cv, &p->mu);
  atomic_fetch_sub(&p->sleepers, 1);
  pthread_mutex_unlock(&p->mu);
}

/* Pins the calling thread to the k-th allowed CPU (modulo their number); advice only, failures ignored. */
static void pin_to_cpu(int k) {
  cpu_set_t allowed, one;
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0 || CPU_COUNT(&allowed) == 0) return;
  k %= CPU_COUNT(&allowed);
  for (int c = 0; c < CPU_SETSIZE; c++)
    if (CPU_ISSET(c, &allowed) && k-- == 0) {
      CPU_ZERO(&one);
      CPU_SET(c, &one);
      pthread_setaffinity_np(pthread_self(), sizeof one, &one);
      return;
    }
}

static void *worker_main(void *arg) {
  CpuPool *p = ((Worker *)arg)->p;
  int tid = ((Worker *)arg)->tid;
  lx_free(arg);
  pin_to_cpu(tid);
  unsigned seen = 0;
  for (;;) {
    wait_change(p, &p->job, seen, JOB_SPINS);
    if (atomic_load(&p->stop)) break;
    seen = atomic_load(&p->job);
    if (tid >= p->active) continue;
    p->fn(p->ctx, tid);
    cpu_pool_barrier(p); /* the end of the job */
  }
  return NULL;
}

void cpu_pool_free(CpuPool *p) {
  if (!p) return;
  atomic_store(&p->stop, 1);
  pthread_mutex_lock(&p->mu);
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  for (int i = 0; i < p->nstarted; i++) pthread_join(p->threads[i], NULL);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  lx_free(p->threads);
  lx_free(p);
}

int cpu_pool_new(int n, CpuPool **out) {
  *out = NULL;
  CpuPool *p = lx_calloc(1, sizeof *p);
  if (!p) return lx_nomem("creating the thread pool");
  p->n = n;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  p->threads = lx_calloc((size_t)(n > 1 ? n - 1 : 1), sizeof(pthread_t));
  if (!p->threads) {
    cpu_pool_free(p);
    return lx_nomem("creating the thread pool");
  }
  for (int i = 1; i < n; i++) {
    Worker *w = lx_malloc(sizeof *w);
    if (!w) {
      cpu_pool_free(p);
      return lx_nomem("creating the thread pool");
    }
    w->p = p;
    w->tid = i;
    int rc = pthread_create(&p->threads[i - 1], NULL, worker_main, w);
    if (rc) {
      lx_free(w);
      cpu_pool_free(p);
      return lx_fail(LSTMC_ERR_BACKEND, "cpu backend: cannot start a worker thread: %s", strerror(rc));
    }
    p->nstarted++;
  }
  *out = p;
  return 0;
}

void cpu_pool_run(CpuPool *p, int active, void (*fn)(void *ctx, int tid), void *ctx) {
  LX_ASSERT(active >= 1 && active <= p->n);
  p->active = active;
  if (active == 1) {
    fn(ctx, 0);
    return;
  }
  p->fn = fn;
  p->ctx = ctx;
  atomic_fetch_add(&p->job, 1);
  wake_sleepers(p);
  fn(ctx, 0);
  cpu_pool_barrier(p);
}

void cpu_pool_barrier(CpuPool *p) {
  if (p->active == 1) return;
  unsigned phase = atomic_load(&p->phase);
  if (atomic_fetch_add(&p->arrived, 1) == p->active - 1) {
    atomic_store(&p->arrived, 0);
    atomic_fetch_add(&p->phase, 1);
    wake_sleepers(p);
    return;
  }
  wait_change(p, &p->phase, phase, BARRIER_SPINS);
}
