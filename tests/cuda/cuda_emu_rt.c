/* A host emulator of the CUDA execution model, for running lstmc's generated kernels without a GPU.
 *
 * tests/cuda compiles a generated source (with LX_EMU defined, see codegen/cuda/dev_prelude.h) together with
 * this file into a shared object with the host C compiler. Every CUDA thread of a launch becomes a
 * coroutine (ucontext) with its own stack; one OS thread runs them round robin, switching at every
 * barrier, shuffle and counter poll, so blocks interleave and a block that waits for another really waits
 * while the other runs. __syncthreads is a barrier over the block's live threads, __shfl_xor_sync an
 * exchange among the 32 lanes of a warp, shared memory a per-block buffer filled with NaN bytes at launch
 * (a read before a write shows up), and time advances with every switch so the kernels' wait time limits
 * fire on a deadlock instead of hanging.
 *
 * On x86-64 a switch is six pushes, a stack swap and six pops (ucontext's swapcontext also saves the signal
 * mask with a system call, which made the emulator ten times slower); elsewhere it is swapcontext.
 *
 * What it checks: the kernels' arithmetic, indexing, formats and synchronization protocol, on real data.
 * What it cannot: NVRTC's code, timing, and the GPU's weak memory model (here every store is seen at once). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#include "codegen/cuda/dev_params.h"

#define EMU_STACK (64 * 1024)

typedef struct EmuThread {
#if defined(__x86_64__)
  void *sp; /* saved stack pointer while switched out */
#else
  ucontext_t ctx;
#endif
  char *stack;
  int tid, bid, done;
} EmuThread;

typedef struct EmuGroup { /* a block or a warp: the threads of a barrier */
  int live, arrived;
  unsigned gen;
} EmuGroup;

static EmuThread *threads;
static EmuGroup *blocks, *warps;
static float *shfl; /* [warps][32] */
static unsigned char **smem;
static int nthreads_block, nblocks, cur;
#if defined(__x86_64__)
/* lx_emu_switch(&save, to): pushes the callee-saved registers, saves the stack pointer in *save, moves to
 * the stack `to` and pops its registers; its `ret` resumes whatever switched out of that stack. */
__asm__(".text\n.globl lx_emu_switch\n.type lx_emu_switch,@function\nlx_emu_switch:\n"
        "pushq %rbp\npushq %rbx\npushq %r12\npushq %r13\npushq %r14\npushq %r15\n"
        "movq %rsp, (%rdi)\nmovq %rsi, %rsp\n"
        "popq %r15\npopq %r14\npopq %r13\npopq %r12\npopq %rbx\npopq %rbp\nret\n"
        ".size lx_emu_switch, .-lx_emu_switch\n");
void lx_emu_switch(void **save, void *to);
static void *sched_sp;
#define TO_SCHED(t) lx_emu_switch(&(t)->sp, sched_sp)
#define TO_THREAD(t) lx_emu_switch(&sched_sp, (t)->sp)
#else
static ucontext_t sched;
#define TO_SCHED(t) swapcontext(&(t)->ctx, &sched)
#define TO_THREAD(t) swapcontext(&sched, &(t)->ctx)
#endif
static void (*kernel)(LxParams);
static LxParams params;
static unsigned long long now_ns;

int lx_emu_tid(void) { return threads[cur].tid; }
int lx_emu_bid(void) { return threads[cur].bid; }
int lx_emu_nthreads(void) { return nthreads_block; }
unsigned char *lx_emu_smem(void) { return smem[threads[cur].bid]; }
unsigned long long lx_emu_now_ns(void) { return now_ns; }

void lx_emu_yield(void) {
  now_ns += 100;
  TO_SCHED(&threads[cur]);
}

static void group_wait(EmuGroup *g) {
  unsigned gen = g->gen;
  if (++g->arrived >= g->live) {
    g->arrived = 0;
    g->gen++;
    return;
  }
  while (g->gen == gen) lx_emu_yield();
}

static int warp_of(const EmuThread *t) { return t->bid * (nthreads_block / 32) + t->tid / 32; }

void lx_emu_sync(void) { group_wait(&blocks[threads[cur].bid]); }

float lx_emu_shfl_xor(float v, int m) {
  const EmuThread *t = &threads[cur];
  int w = warp_of(t), lane = t->tid & 31;
  EmuGroup *g = &warps[w];
  if (g->live != 32) {
    fprintf(stderr, "emu: a shuffle in a warp with %d live lanes (block %d, thread %d)\n", g->live, t->bid, t->tid);
    abort();
  }
  shfl[w * 32 + lane] = v;
  group_wait(g);
  float r = shfl[w * 32 + (lane ^ m)];
  group_wait(g);
  return r;
}

/* A thread that returns leaves its barriers; one that completes a barrier by leaving releases it. */
static void leave(EmuGroup *g) {
  g->live--;
  if (g->live > 0 && g->arrived >= g->live) {
    g->arrived = 0;
    g->gen++;
  }
}

static void trampoline(void) {
  kernel(params);
  EmuThread *t = &threads[cur];
  t->done = 1;
  leave(&blocks[t->bid]);
  leave(&warps[warp_of(t)]);
#if defined(__x86_64__)
  TO_SCHED(t); /* never resumed */
  abort();
#endif
}

/* Runs fn over grid x block threads to completion. Returns 0, or -1 when out of memory. */
int lx_emu_launch(void (*fn)(LxParams), int grid, int block, int smem_bytes, const LxParams *p) {
  int n = grid * block, nw = grid * (block / 32), rc = -1;
  kernel = fn;
  params = *p;
  nthreads_block = block;
  nblocks = grid;
  threads = calloc((size_t)n, sizeof *threads);
  blocks = calloc((size_t)grid, sizeof *blocks);
  warps = calloc((size_t)nw, sizeof *warps);
  shfl = calloc((size_t)nw * 32, sizeof *shfl);
  smem = calloc((size_t)grid, sizeof *smem);
  if (!threads || !blocks || !warps || !shfl || !smem) goto done;
  for (int b = 0; b < grid; b++) {
    if (!(smem[b] = malloc((size_t)smem_bytes + 16))) goto done;
    memset(smem[b], 0xff, (size_t)smem_bytes + 16);
    blocks[b].live = block;
  }
  for (int w = 0; w < nw; w++) warps[w].live = 32;
  for (int i = 0; i < n; i++) {
    EmuThread *t = &threads[i];
    t->tid = i % block;
    t->bid = i / block;
    if (!(t->stack = malloc(EMU_STACK))) goto done;
#if defined(__x86_64__)
    /* a stack that lx_emu_switch "returns" into trampoline from, aligned as after a call */
    uintptr_t *sp = (uintptr_t *)(((uintptr_t)t->stack + EMU_STACK) & ~(uintptr_t)15);
    *--sp = 0;
    *--sp = (uintptr_t)trampoline;
    for (int r = 0; r < 6; r++) *--sp = 0;
    t->sp = sp;
#else
    getcontext(&t->ctx);
    t->ctx.uc_stack.ss_sp = t->stack;
    t->ctx.uc_stack.ss_size = EMU_STACK;
    t->ctx.uc_link = &sched;
    makecontext(&t->ctx, trampoline, 0);
#endif
  }
  for (int left = n; left > 0;) {
    left = 0;
    for (int i = 0; i < n; i++) {
      if (threads[i].done) continue;
      cur = i;
      TO_THREAD(&threads[i]);
      left += !threads[i].done;
    }
  }
  rc = 0;
done:
  if (threads)
    for (int i = 0; i < n; i++) free(threads[i].stack);
  if (smem)
    for (int b = 0; b < grid; b++) free(smem[b]);
  free(threads);
  free(blocks);
  free(warps);
  free(shfl);
  free(smem);
  threads = NULL;
  return rc;
}
