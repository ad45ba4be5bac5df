/* The worker pool behind the training engine and the CPU executor: threads wait for a generation counter
 * to move, run the job, and count themselves out. Every wait spins briefly and then sleeps (a condition
 * variable for jobs, a futex for barriers): the barriers are short (one LSTM step), but the machine may be
 * shared, and a thread that kept spinning or yielding would hold the core its descheduled partner needs to
 * arrive.
 *
 * Worker k is pinned to the k-th CPU its creator may use, and a run that finds the caller (thread 0) on
 * another CPU than the first moves it there (its affinity is narrowed and given back at once; a thread
 * stays where it was moved, so this costs two system calls only when it wandered). Without this the
 * scheduler kept both threads of a 2-thread pool on one core now and then, the other idle — a pair that
 * hands one core back and forth at each barrier looks balanced to it — and a pruned PTB-char step took
 * 0.9 ms instead of 57 µs. Pinning also keeps each thread's share of the weights in its own caches. */
#define _GNU_SOURCE /* pthread_setaffinity_np, sched_getaffinity, sched_getcpu */
#include "support/pool.h"

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#endif

#include "support/alloc.h"
#include "support/err.h"

#define SPINS 4000

struct Pool {
  int n;
  int cpu0;          /* the first CPU the creator may use: the caller's place in a run; -1: unknown */
  cpu_set_t allowed; /* the CPUs the creator may use */
  pthread_t *threads; /* [n - 1]; thread 0 is the caller */
  pthread_mutex_t mu;
  pthread_cond_t start_cv, done_cv;
  atomic_ulong gen;    /* bumped once per pool_run */
  atomic_int pending;  /* workers still inside the current job */
  atomic_int stop;
  PoolFn fn;
  void *ctx;
  int active; /* threads taking part in the current run */
  atomic_int bar_count;
  atomic_int bar_gen;      /* a futex word */
  atomic_int bar_sleepers; /* threads asleep on bar_gen */
};

typedef struct Worker {
  Pool *p;
  int tid;
} Worker;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/* The k-th CPU of a set (modulo their number), or -1 for an empty set. */
static int nth_cpu(const cpu_set_t *set, int k) {
  if (CPU_COUNT(set) == 0) return -1;
  k %= CPU_COUNT(set);
  for (int c = 0; c < CPU_SETSIZE; c++)
    if (CPU_ISSET(c, set) && k-- == 0) return c;
  return -1;
}

/* Moves (or pins) the calling thread to cpu; advice only, failures ignored. */
static void set_cpu(int cpu) {
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  pthread_setaffinity_np(pthread_self(), sizeof one, &one);
}

static void *worker_main(void *arg) {
  Worker w = *(Worker *)arg;
  lx_free(arg);
  Pool *p = w.p;
  int cpu = nth_cpu(&p->allowed, w.tid);
  if (cpu >= 0) set_cpu(cpu);
  unsigned long seen = 0;
  for (;;) {
    int spins = 0;
    while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop) && spins < SPINS) {
      cpu_relax();
      spins++;
    }
    if (atomic_load(&p->gen) == seen && !atomic_load(&p->stop)) {
      pthread_mutex_lock(&p->mu);
      while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop)) pthread_cond_wait(&p->start_cv, &p->mu);
      pthread_mutex_unlock(&p->mu);
    }
    if (atomic_load(&p->stop)) break;
    seen = atomic_load(&p->gen);
    if (w.tid < p->active) p->fn(p->ctx, w.tid, p->active);
    if (atomic_fetch_sub(&p->pending, 1) == 1) {
      pthread_mutex_lock(&p->mu);
      pthread_cond_broadcast(&p->done_cv);
      pthread_mutex_unlock(&p->mu);
    }
  }
  return NULL;
}

int pool_cpu_count(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

int pool_create(int nthreads, Pool **out) {
  *out = NULL;
  if (nthreads <= 0) nthreads = pool_cpu_count();
  Pool *p = lx_calloc(1, sizeof *p);
  if (!p) return lx_nomem("creating the thread pool");
  p->n = 1;
  if (sched_getaffinity(0, sizeof p->allowed, &p->allowed) != 0) CPU_ZERO(&p->allowed);
  p->cpu0 = nth_cpu(&p->allowed, 0);
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->start_cv, NULL);
  pthread_cond_init(&p->done_cv, NULL);
  if (nthreads > 1) {
    p->threads = lx_calloc((size_t)nthreads - 1, sizeof *p->threads);
    if (!p->threads) {
      pool_free(p);
      return lx_nomem("creating the thread pool");
    }
  }
  for (int i = 1; i < nthreads; i++) {
    Worker *w = lx_malloc(sizeof *w);
    if (!w) {
      pool_free(p);
      return lx_nomem("creating the thread pool");
    }
    w->p = p;
    w->tid = i;
    if (pthread_create(&p->threads[i - 1], NULL, worker_main, w)) {
      lx_free(w);
      pool_free(p);
      return lx_fail(LSTMC_ERR_BACKEND, "could not start worker thread %d of %d", i + 1, nthreads);
    }
    p->n = i + 1;
  }
  *out = p;
  return 0;
}

void pool_free(Pool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  atomic_store(&p->stop, 1);
  pthread_cond_broadcast(&p->start_cv);
  pthread_mutex_unlock(&p->mu);
  for (int i = 1; i < p->n; i++) pthread_join(p->threads[i - 1], NULL);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->start_cv);
  pthread_cond_destroy(&p->done_cv);
  lx_free(p->threads);
  lx_free(p);
}

int pool_threads(const Pool *p) { return p->n; }

void pool_run(Pool *p, PoolFn fn, void *ctx) { pool_run_n(p, p->n, fn, ctx); }

int pool_threads_for(const Pool *p, double work, double grain) {
  double n = work / grain;
  return n >= p->n ? p->n : n >= 1 ? (int)n : 1;
}

void pool_run_n(Pool *p, int n, PoolFn fn, void *ctx) {
  if (n > p->n) n = p->n;
  if (n <= 1) {
    p->active = 1;
    fn(ctx, 0, 1);
    return;
  }
  if (p->cpu0 >= 0 && sched_getcpu() != p->cpu0) {
    cpu_set_t mine; /* move the caller off the workers' CPUs, keeping its affinity as it was */
    if (pthread_getaffinity_np(pthread_self(), sizeof mine, &mine) == 0 && CPU_ISSET(p->cpu0, &mine)) {
      set_cpu(p->cpu0);
      pthread_setaffinity_np(pthread_self(), sizeof mine, &mine);
    }
  }
  p->fn = fn;
  p->ctx = ctx;
  p->active = n;
  atomic_store(&p->pending, p->n - 1);
  pthread_mutex_lock(&p->mu);
  atomic_fetch_add(&p->gen, 1);
  pthread_cond_broadcast(&p->start_cv);
  pthread_mutex_unlock(&p->mu);
  fn(ctx, 0, n);
  for (int spins = 0; atomic_load(&p->pending) > 0 && spins < SPINS; spins++) cpu_relax();
  if (atomic_load(&p->pending) > 0) {
    pthread_mutex_lock(&p->mu);
    while (atomic_load(&p->pending) > 0) pthread_cond_wait(&p->done_cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
  }
}

static void futex_wait(atomic_int *word, int expected) {
#ifdef __linux__
  syscall(SYS_futex, (int *)word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
#else
  (void)word, (void)expected;
  sched_yield();
#endif
}

static void futex_wake_all(atomic_int *word) {
#ifdef __linux__
  syscall(SYS_futex, (int *)word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
#else
  (void)word;
#endif
}

void pool_barrier(Pool *p) {
  if (p->n == 1 || p->active <= 1) return;
  int g = atomic_load(&p->bar_gen);
  if (atomic_fetch_add(&p->bar_count, 1) == p->active - 1) {
    atomic_store(&p->bar_count, 0);
    atomic_fetch_add(&p->bar_gen, 1);
    /* a sleeper counted itself before checking bar_gen in the kernel, so none is missed */
    if (atomic_load(&p->bar_sleepers) > 0) futex_wake_all(&p->bar_gen);
    return;
  }
  for (int spins = 0; spins < SPINS && atomic_load(&p->bar_gen) == g; spins++) cpu_relax();
  while (atomic_load(&p->bar_gen) == g) {
    atomic_fetch_add(&p->bar_sleepers, 1);
    futex_wait(&p->bar_gen, g);
    atomic_fetch_sub(&p->bar_sleepers, 1);
  }
}

void pool_split(int64_t n, int64_t align, int tid, int nt, int64_t *lo, int64_t *hi) {
  if (align < 1) align = 1;
  int64_t units = (n + align - 1) / align;
  int64_t a = units * tid / nt, b = units * (tid + 1) / nt;
  *lo = a * align < n ? a * align : n;
  *hi = b * align < n ? b * align : n;
}
