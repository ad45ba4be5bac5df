/* The CPU executor's thread pool (pool.h): a job generation counter that workers watch, a count of
 * workers still running, and a centralized barrier (arrival count plus a generation that the last thread
 * to arrive advances). */
#include "codegen/cpu/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "support/alloc.h"
#include "support/err.h"

/* Spins before a waiting thread yields (in a job) or sleeps (between jobs): about 20-50 µs. */
#define SPINS 20000

struct CpuPool {
  int n;
  pthread_t *threads;
  void (*fn)(void *ctx, int tid);
  void *ctx;
  atomic_uint job;     /* advanced once per job */
  atomic_int running;  /* workers still in the current job */
  atomic_int stop;
  atomic_int sleepers; /* workers waiting on cv */
  atomic_int arrived;  /* barrier */
  atomic_uint phase;
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

static void *worker_main(void *arg) {
  CpuPool *p = ((Worker *)arg)->p;
  int tid = ((Worker *)arg)->tid;
  lx_free(arg);
  unsigned seen = 0;
  for (;;) {
    int spins = 0;
    while (atomic_load(&p->job) == seen && !atomic_load(&p->stop)) {
      if (++spins < SPINS) {
        cpu_relax();
        continue;
      }
      /* sleep; cpu_pool_run broadcasts when it sees a sleeper (both sides use seq_cst, so either it sees
       * our increment or we see its new job) */
      pthread_mutex_lock(&p->mu);
      atomic_fetch_add(&p->sleepers, 1);
      while (atomic_load(&p->job) == seen && !atomic_load(&p->stop)) pthread_cond_wait(&p->cv, &p->mu);
      atomic_fetch_sub(&p->sleepers, 1);
      pthread_mutex_unlock(&p->mu);
    }
    if (atomic_load(&p->stop)) break;
    seen = atomic_load(&p->job);
    p->fn(p->ctx, tid);
    atomic_fetch_sub(&p->running, 1);
  }
  return NULL;
}

static void wake_sleepers(CpuPool *p) {
  if (!atomic_load(&p->sleepers)) return;
  pthread_mutex_lock(&p->mu);
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
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

void cpu_pool_run(CpuPool *p, void (*fn)(void *ctx, int tid), void *ctx) {
  if (p->n == 1) {
    fn(ctx, 0);
    return;
  }
  p->fn = fn;
  p->ctx = ctx;
  atomic_store(&p->running, p->n - 1);
  atomic_fetch_add(&p->job, 1);
  wake_sleepers(p);
  fn(ctx, 0);
  for (int spins = 0; atomic_load(&p->running) > 0;)
    if (++spins < SPINS) cpu_relax();
    else sched_yield();
}

void cpu_pool_barrier(CpuPool *p) {
  if (p->n == 1) return;
  unsigned phase = atomic_load(&p->phase);
  if (atomic_fetch_add(&p->arrived, 1) == p->n - 1) {
    atomic_store(&p->arrived, 0);
    atomic_fetch_add(&p->phase, 1);
    return;
  }
  for (int spins = 0; atomic_load(&p->phase) == phase;)
    if (++spins < SPINS) cpu_relax();
    else sched_yield();
}
