/* The CPU executor (cpu_exec_vtbl): plans and repacks the graph, JIT-compiles its phase functions for the
 * host CPU, and runs them on a thread pool. Each thread owns a fixed, contiguous range of tiles in every
 * phase, so that across steps its share of the weights stays in its own caches; the threads meet at one
 * barrier per layer step.
 *
 * With the thread count left to it (--threads 0), the executor checks now and then that the threads pay:
 * every so many steps (or scoring chunks) it runs a few on the other setting (one thread instead of all,
 * or all instead of one) and keeps whichever had the lower median time per token. On a machine whose
 * cores are busy with other work one thread wins, on an idle one all of them; results do not depend on it
 * (each tile is computed the same way whichever thread does it).
 *
 * A step runs layer 0 .. L-1 then the decoder. Scoring runs a chunk of up to CPU_CHUNK tokens layer by
 * layer: the input projections of the whole chunk in one pass over W_ih, then the recurrence token by
 * token, then the decoder over the chunk; a layer's W_hh is read once per token as in generation but,
 * since one layer is worked at a time, from cache where it fits in L3.
 *
 * Memory: the executor owns the plan, the weight blob (aligned to 2 MiB and advised for huge pages when
 * large, which cuts TLB misses when the weights stream from DRAM), the arena, the JIT and the pool. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "codegen/cpu/emit.h"
#include "support/alloc.h"
#include "support/clock.h"
#include "support/err.h"
#include "support/limits.h"
#include "support/pool.h"

#define CPU_CHUNK 32           /* tokens per scoring chunk: a chunk's activations stay in L2 */
#define CPU_MAX_BATCH 64
#define CPU_SMALL_WEIGHTS (512u << 10) /* below this per step, one thread is faster than two plus barriers */
#define PROBE_STEPS 16                 /* steps timed on each setting when comparing thread counts */
#define PROBE_EVERY 256                /* steps between comparisons, doubled (up to 8192) while nothing changes */

/* The automatic choice between one thread and all of them. */
typedef struct Adapt {
  int on;
  int every, until;     /* steps between probes, and until the next one */
  int probing;          /* steps left in the current probe */
  int before;           /* the thread count the probe replaced */
  double recent[PROBE_STEPS], trial[PROBE_STEPS]; /* seconds per token; recent is a ring */
  int nrecent, next, ntrial;
  PoolFn job;           /* the kind of job timed (steps and scoring chunks are not compared) */
} Adapt;

typedef struct CpuExec {
  Executor base;
  CpuPlan *plan;
  void *blob_mem, *arena_mem; /* as allocated */
  uint8_t *blob, *arena;      /* aligned */
  CpuJit *jit;
  CpuPhaseFn *step;           /* [nlayers + 1]: the layers, then the decoder */
  CpuPhaseFn *ih, *rec;       /* [nlayers] (scoring) */
  CpuPhaseFn dec_gemm;
  CpuPhaseFn *probe;          /* [matrices] (test builds) */
  Pool *pool;
  int nthreads;               /* threads in the pool */
  int active;                 /* threads running jobs now: nthreads, or 1 when that was faster */
  Adapt adapt;
  int parity;                 /* which h buffer holds the state */
  int32_t chunk_n;            /* the current scoring chunk's inputs */
} CpuExec;

extern const ExecVtbl cpu_exec_vtbl;

static void *alloc_aligned(size_t n, size_t align, void **mem) {
  *mem = lx_malloc(n + align);
  if (!*mem) return NULL;
  uint8_t *p = (uint8_t *)(((uintptr_t)*mem + align - 1) & ~(uintptr_t)(align - 1));
  return p;
}

static void cpu_destroy(Executor *e) {
  CpuExec *x = (CpuExec *)e;
  if (!x) return;
  pool_free(x->pool);
  cpu_jit_free(x->jit);
  cpu_plan_free(x->plan);
  lx_free(x->step);
  lx_free(x->ih);
  lx_free(x->rec);
  lx_free(x->probe);
  lx_free(x->blob_mem);
  lx_free(x->arena_mem);
  lx_free(x);
}

static int cpu_supports(const Graph *g, const ExecOptions *o) {
  CpuTarget t;
  int st = cpu_target_host(&t);
  if (st) return st;
  if (o->batch > CPU_MAX_BATCH)
    return lx_fail(LSTMC_ERR_UNSUPPORTED, "cpu backend: batch %d is more than the %d streams it steps together", o->batch, CPU_MAX_BATCH);
  CpuPlan *p;
  st = cpu_plan_make(g, &t, 1, 0, 1, &p);
  cpu_plan_free(p);
  return st;
}

static void cpu_reset(Executor *e) {
  CpuExec *x = (CpuExec *)e;
  const CpuPlan *p = x->plan;
  size_t h0 = p->layers[0].h_off[0];
  memset(x->arena + h0, 0, p->a_logits - h0); /* every layer's h and c */
  x->parity = 0;
}


static uint8_t *scratch_of(CpuExec *x, int tid) { return x->arena + x->plan->scratch_off + (size_t)tid * x->plan->scratch_size; }

/* Thread tid's tiles [*b, *e) of a phase of nt tiles: the same range at every step. */
static void tiles_of(int64_t nt, int tid, int n, int32_t *b, int32_t *e) {
  int64_t lo, hi;
  pool_split(nt, 1, tid, n, &lo, &hi);
  *b = (int32_t)lo;
  *e = (int32_t)hi;
}

static void step_job(void *ctx, int tid, int n) {
  CpuExec *x = ctx;
  const CpuPlan *p = x->plan;
  for (int l = 0; l <= p->nlayers; l++) {
    int32_t b, e;
    tiles_of(l < p->nlayers ? p->layers[l].ih.ntiles : p->dec.ntiles, tid, n, &b, &e);
    if (l) pool_barrier(x->pool);
    x->step[l](x->arena, scratch_of(x, tid), b, e, x->parity, 0);
  }
}

static void score_job(void *ctx, int tid, int n) {
  CpuExec *x = ctx;
  const CpuPlan *p = x->plan;
  uint8_t *scratch = scratch_of(x, tid);
  int32_t b, e;
  for (int l = 0; l < p->nlayers; l++) {
    tiles_of(p->layers[l].ih.ntiles, tid, n, &b, &e);
    /* the same thread owns the same tiles in both phases, so no barrier between them */
    x->ih[l](x->arena, scratch, b, e, x->chunk_n, 0);
    for (int32_t t = 0; t < x->chunk_n; t++) {
      x->rec[l](x->arena, scratch, b, e, t, (x->parity + t) & 1);
      pool_barrier(x->pool);
    }
  }
  tiles_of(p->dec.ntiles, tid, n, &b, &e);
  x->dec_gemm(x->arena, scratch, b, e, x->chunk_n, 0);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(const double *v, int n) {
  double s[PROBE_STEPS];
  memcpy(s, v, (size_t)n * sizeof *s);
  qsort(s, (size_t)n, sizeof *s, cmp_double);
  return s[n / 2];
}

/* Runs a job on the active threads; in automatic mode times it and, now and then, tries the other thread
 * count for PROBE_STEPS jobs, keeping it when its median time per token is at least 10% lower. */
static void run_job(CpuExec *x, PoolFn job, int64_t tokens) {
  Adapt *a = &x->adapt;
  double t0 = a->on ? now_seconds() : 0;
  pool_run_n(x->pool, x->active, job, x);
  if (!a->on) return;
  double t = (now_seconds() - t0) / (double)tokens;
  if (job != a->job) { /* start over: times per token of steps and of scoring differ */
    if (a->probing) x->active = a->before;
    a->job = job;
    a->probing = a->nrecent = a->next = 0;
    a->until = a->every;
  }
  if (a->probing) {
    a->trial[a->ntrial++] = t;
    if (--a->probing) return;
    if (median(a->trial, a->ntrial) < 0.9 * median(a->recent, a->nrecent)) {
      a->every = PROBE_EVERY;
      a->nrecent = a->next = 0;
    } else {
      x->active = a->before;
      a->every = a->every < 8192 ? 2 * a->every : a->every;
    }
    a->until = a->every;
    return;
  }
  a->recent[a->next] = t;
  a->next = (a->next + 1) % PROBE_STEPS;
  if (a->nrecent < PROBE_STEPS) a->nrecent++;
  if (--a->until <= 0 && a->nrecent == PROBE_STEPS) {
    a->before = x->active;
    x->active = x->active == 1 ? x->nthreads : 1;
    a->probing = PROBE_STEPS;
    a->ntrial = 0;
  }
}

static int check_tokens(const CpuExec *x, const int32_t *tokens, int64_t n) {
  int64_t V = x->plan->V;
  for (int64_t i = 0; i < n; i++)
    if (tokens[i] < 0 || tokens[i] >= V)
      return lx_fail(LSTMC_ERR_DATA, "token id %d outside the vocabulary [0, %lld)", tokens[i], (long long)V);
  return 0;
}

static int cpu_step(Executor *e, const int32_t *tokens, float *logits) {
  CpuExec *x = (CpuExec *)e;
  const CpuPlan *p = x->plan;
  int st = check_tokens(x, tokens, p->batch);
  if (st) return st;
  memcpy(x->arena + p->a_tokens, tokens, (size_t)p->batch * sizeof(int32_t));
  run_job(x, step_job, p->batch);
  x->parity ^= 1;
  for (int b = 0; b < p->batch; b++)
    memcpy(logits + (size_t)b * (size_t)p->V, x->arena + p->a_logits + (size_t)b * (size_t)p->Vp * 4, (size_t)p->V * sizeof(float));
  return 0;
}

static int cpu_score(Executor *e, const int32_t *tokens, int64_t n, double *nll, double *logprobs) {
  CpuExec *x = (CpuExec *)e;
  const CpuPlan *p = x->plan;
  int st = check_tokens(x, tokens, n);
  if (st) return st;
  if (!p->chunk) {
    /* several streams: feed stream 0 its tokens (the others token 0) one step at a time */
    int32_t *toks = lx_calloc((size_t)p->batch, sizeof *toks);
    float *logits = lx_malloc((size_t)p->batch * (size_t)p->V * sizeof(float));
    for (int64_t t = 0; toks && logits && t + 1 < n && !st; t++) {
      toks[0] = tokens[t];
      if ((st = cpu_step(e, toks, logits))) break;
      double lp = log_softmax_at(logits, p->V, tokens[t + 1]);
      *nll -= lp;
      if (logprobs) logprobs[t] = lp;
    }
    if (!toks || !logits) st = lx_nomem("scoring");
    lx_free(toks);
    lx_free(logits);
    return st;
  }
  for (int64_t i0 = 0; i0 + 1 < n; i0 += p->chunk) {
    int64_t m = n - 1 - i0 < p->chunk ? n - 1 - i0 : p->chunk;
    x->chunk_n = (int32_t)m;
    memcpy(x->arena + p->a_tokens, tokens + i0, (size_t)m * sizeof(int32_t));
    run_job(x, score_job, m);
    x->parity = (int)((x->parity + m) & 1);
    for (int64_t t = 0; t < m; t++) {
      double lp = log_softmax_at((const float *)(const void *)(x->arena + p->a_slogits) + t * p->Vp, p->V, tokens[i0 + t + 1]);
      *nll -= lp;
      if (logprobs) logprobs[i0 + t] = lp;
    }
  }
  return 0;
}

static int lookup_phases(CpuExec *x) {
  const CpuPlan *p = x->plan;
  char name[64];
  int st = 0;
  for (int l = 0; l <= p->nlayers && !st; l++) {
    cpu_phase_name(name, sizeof name, l < p->nlayers ? "step" : "dec_step", l < p->nlayers ? l : -1);
    st = cpu_jit_lookup(x->jit, name, (void **)&x->step[l]);
  }
  for (int l = 0; p->chunk && l < p->nlayers && !st; l++) {
    cpu_phase_name(name, sizeof name, "ih", l);
    if ((st = cpu_jit_lookup(x->jit, name, (void **)&x->ih[l]))) break;
    cpu_phase_name(name, sizeof name, "rec", l);
    st = cpu_jit_lookup(x->jit, name, (void **)&x->rec[l]);
  }
  cpu_phase_name(name, sizeof name, "dec_gemm", -1);
  if (p->chunk && !st) st = cpu_jit_lookup(x->jit, name, (void **)&x->dec_gemm);
  for (int k = 0; x->probe && k < cpu_plan_nmats(p) && !st; k++) {
    char what[32];
    snprintf(what, sizeof what, "probe%d", k);
    cpu_phase_name(name, sizeof name, what, -1);
    st = cpu_jit_lookup(x->jit, name, (void **)&x->probe[k]);
  }
  return st;
}

/* Threads: as asked, or (0) every core unless the weights are small enough that one core's cache holds
 * them; never more than the largest phase has tiles. */
static int pick_threads(const CpuPlan *p, int asked) {
  int n = asked;
  if (n <= 0) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    n = cores > 0 ? (int)cores : 1;
    if (cpu_plan_step_bytes(p) < CPU_SMALL_WEIGHTS) n = 1;
  }
  int64_t most = p->dec.ntiles;
  for (int l = 0; l < p->nlayers; l++)
    if (p->layers[l].ih.ntiles > most) most = p->layers[l].ih.ntiles;
  return n > most ? (int)most : n;
}

static int exec_create(const Graph *g, const ExecOptions *o, const CpuTarget *t, int probes, Executor **out) {
  *out = NULL;
  int batch = o->batch > 0 ? o->batch : 1;
  if (batch > CPU_MAX_BATCH)
    return lx_fail(LSTMC_ERR_UNSUPPORTED, "cpu backend: batch %d is more than the %d streams it steps together", batch, CPU_MAX_BATCH);
  double t0 = now_seconds();
  CpuExec *x = lx_calloc(1, sizeof *x);
  if (!x) return lx_nomem("creating the cpu executor");
  x->base.vt = &cpu_exec_vtbl;
  x->base.g = g;
  x->base.opts = *o;
  CpuPlan *probe = NULL;
  int st = cpu_plan_make(g, t, batch, 0, 1, &probe);
  if (st) goto fail;
  x->nthreads = pick_threads(probe, o->threads);
  cpu_plan_free(probe);
  if ((st = cpu_plan_make_probed(g, t, batch, batch == 1 ? CPU_CHUNK : 0, x->nthreads, probes, &x->plan))) goto fail;
  const CpuPlan *p = x->plan;
  if ((st = lx_check_mem((uint64_t)p->blob_size + p->arena_size, "the cpu backend's repacked weights and state"))) goto fail;
  int huge = p->blob_size >= (8u << 20);
  size_t align = huge ? (2u << 20) : 64;
  x->blob = alloc_aligned(p->blob_size, align, &x->blob_mem);
  x->arena = alloc_aligned(p->arena_size, 64, &x->arena_mem);
  x->step = lx_calloc((size_t)p->nlayers + 1, sizeof *x->step);
  x->ih = lx_calloc((size_t)p->nlayers, sizeof *x->ih);
  x->rec = lx_calloc((size_t)p->nlayers, sizeof *x->rec);
  x->probe = probes ? lx_calloc((size_t)cpu_plan_nmats(p), sizeof *x->probe) : NULL;
  if (!x->blob || !x->arena || !x->step || !x->ih || !x->rec || (probes && !x->probe)) {
    st = lx_nomem("creating the cpu executor");
    goto fail;
  }
#ifdef MADV_HUGEPAGE
  if (huge) madvise(x->blob, (p->blob_size + align - 1) & ~(align - 1), MADV_HUGEPAGE); /* advice only */
#endif
  cpu_plan_fill(p, g, x->blob);
  memset(x->arena, 0, p->arena_size);
  CpuModuleSpec spec = {0};
  spec.plan = p;
  spec.target = t;
  spec.blob_addr = (uint64_t)(uintptr_t)x->blob;
  double t1 = now_seconds();
  if ((st = cpu_jit_compile(&spec, &x->jit)) || (st = lookup_phases(x)) || (st = pool_create(x->nthreads, &x->pool))) goto fail;
  x->active = x->nthreads;
  x->adapt.on = o->threads <= 0 && x->nthreads > 1;
  x->adapt.every = x->adapt.until = PROBE_EVERY;
  if (o->verbose)
    lx_message(LSTMC_MSG_REPORT,
            "lstmc: cpu backend: %s%s%s, vectors of %d floats, %d thread%s%s, %.1f MB of weights per step; "
            "repacked in %.0f ms, compiled in %.0f ms\n",
            t->cpu, t->avx512 ? " with AVX-512" : "", !t->avx512 && t->avx2 ? " with AVX2" : "", p->vl, x->nthreads,
            x->nthreads == 1 ? "" : "s", x->adapt.on ? " (or one, when faster)" : "", (double)cpu_plan_step_bytes(p) / 1e6, (t1 - t0) * 1e3, (now_seconds() - t1) * 1e3);
  *out = &x->base;
  return 0;
fail:
  cpu_destroy(&x->base);
  return st;
}

int cpu_exec_create_for(const Graph *g, const ExecOptions *o, const CpuTarget *t, Executor **out) {
  return exec_create(g, o, t, 0, out);
}

int cpu_exec_create_probed(const Graph *g, const ExecOptions *o, const CpuTarget *t, Executor **out) {
  return exec_create(g, o, t, 1, out);
}

const CpuPlan *cpu_exec_plan(const Executor *e) {
  LX_ASSERT(e->vt == &cpu_exec_vtbl);
  return ((const CpuExec *)e)->plan;
}

int cpu_exec_probe(Executor *e, int k, const float *x, int32_t *acc, float *y) {
  CpuExec *c = (CpuExec *)e;
  LX_ASSERT(e->vt == &cpu_exec_vtbl && c->probe && k >= 0 && k < cpu_plan_nmats(c->plan));
  const CpuPlan *p = c->plan;
  const CpuMat *m = cpu_plan_mat(p, k);
  memcpy(c->arena + p->a_probe_in, x, (size_t)m->cols * sizeof(float));
  c->probe[k](c->arena, scratch_of(c, 0), 0, (int32_t)m->ntiles, 0, 0);
  const int32_t *pa = (const int32_t *)(const void *)(c->arena + p->a_probe_acc);
  const float *py = (const float *)(const void *)(c->arena + p->a_probe_y);
  for (int64_t tile = 0; tile < m->ntiles; tile++)
    for (int q = 0; q < m->gates; q++)
      for (int u = 0; u < p->vl && tile * p->vl + u < m->units; u++) {
        size_t lane = ((size_t)tile * (size_t)m->gates + (size_t)q) * (size_t)p->vl + (size_t)u;
        int64_t row = q * m->units + tile * p->vl + u;
        if (acc && m->kernel == CPU_KERNEL_INT8) acc[row] = pa[lane];
        y[row] = py[lane];
      }
  return 0;
}

static int cpu_create(const Graph *g, const ExecOptions *o, Executor **out) {
  CpuTarget t;
  int st = cpu_target_host(&t);
  return st ? st : cpu_exec_create_for(g, o, &t, out);
}

const ExecVtbl cpu_exec_vtbl = {
    .name = "cpu",
    .supports = cpu_supports,
    .create = cpu_create,
    .destroy = cpu_destroy,
    .reset = cpu_reset,
    .step = cpu_step,
    .score = cpu_score,
};
