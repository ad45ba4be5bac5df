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
 * Kernels that take LxParams (the inference kernels) start through lx_emu_launch, all blocks at once (a
 * cooperative launch: blocks wait for each other). The training kernels (codegen/cuda/dev_train.h) take
 * one struct each and start through lx_emu_launch_thunk with the generated thunk that unpacks it; their
 * blocks are independent (an ordinary launch), so they run one block after another, which bounds the
 * memory a big grid needs. Thread stacks are pooled across launches.
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
  int tid, bid, lb, done; /* lb: the block's index among those running now */
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
static char **stack_pool; /* stacks kept for the next launch */
static int stack_pool_n;
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
static void (*thunk)(const void *); /* when set, started instead of kernel, with thunk_args */
static _Alignas(16) unsigned char thunk_args[1024];
static unsigned long long now_ns;

int lx_emu_tid(void) { return threads[cur].tid; }
int lx_emu_bid(void) { return threads[cur].bid; }
int lx_emu_nthreads(void) { return nthreads_block; }
int lx_emu_nblocks(void) { return nblocks; }
unsigned char *lx_emu_smem(void) { return smem[threads[cur].lb]; }
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

static int warp_of(const EmuThread *t) { return t->lb * (nthreads_block / 32) + t->tid / 32; }

void lx_emu_sync(void) { group_wait(&blocks[threads[cur].lb]); }

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
  if (thunk) thunk(thunk_args);
  else kernel(params);
  EmuThread *t = &threads[cur];
  t->done = 1;
  leave(&blocks[t->lb]);
  leave(&warps[warp_of(t)]);
#if defined(__x86_64__)
  TO_SCHED(t); /* never resumed */
  abort();
#endif
}

static char *stack_get(void) {
  return stack_pool_n > 0 ? stack_pool[--stack_pool_n] : malloc(EMU_STACK);
}

static void stack_put(char *st, int cap) {
  if (!st) return;
  if (stack_pool_n < cap) stack_pool[stack_pool_n++] = st;
  else free(st);
}

/* Runs blocks bid0 .. bid0 + nrun - 1 (of a grid of `grid`) of `block` threads to completion, all at once.
 * Returns 0, or -1 when out of memory. */
static int run_blocks(int grid, int bid0, int nrun, int block, int smem_bytes) {
  int n = nrun * block, nw = nrun * (block / 32), rc = -1;
  nthreads_block = block;
  nblocks = grid;
  if (!stack_pool && !(stack_pool = calloc(4096, sizeof *stack_pool))) return -1;
  threads = calloc((size_t)n, sizeof *threads);
  blocks = calloc((size_t)nrun, sizeof *blocks);
  warps = calloc((size_t)(nw ? nw : 1), sizeof *warps);
  shfl = calloc((size_t)(nw ? nw : 1) * 32, sizeof *shfl);
  smem = calloc((size_t)nrun, sizeof *smem);
  if (!threads || !blocks || !warps || !shfl || !smem) goto done;
  for (int b = 0; b < nrun; b++) {
    if (!(smem[b] = malloc((size_t)smem_bytes + 16))) goto done;
    memset(smem[b], 0xff, (size_t)smem_bytes + 16);
    blocks[b].live = block;
  }
  for (int w = 0; w < nw; w++) warps[w].live = 32;
  for (int i = 0; i < n; i++) {
    EmuThread *t = &threads[i];
    t->tid = i % block;
    t->lb = i / block;
    t->bid = bid0 + t->lb;
    if (!(t->stack = stack_get())) goto done;
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
    for (int i = 0; i < n; i++) stack_put(threads[i].stack, 4096);
  if (smem)
    for (int b = 0; b < nrun; b++) free(smem[b]);
  free(threads);
  free(blocks);
  free(warps);
  free(shfl);
  free(smem);
  threads = NULL;
  return rc;
}

/* Runs fn over grid x block threads to completion, every block at once (cooperative). Returns 0, or -1
 * when out of memory. */
int lx_emu_launch(void (*fn)(LxParams), int grid, int block, int smem_bytes, const LxParams *p) {
  kernel = fn;
  params = *p;
  thunk = NULL;
  return run_blocks(grid, 0, grid, block, smem_bytes);
}

/* Runs a training kernel through its thunk with a copy of its argument struct, one block after another.
 * Returns 0, -1 when out of memory, -2 when the struct is larger than the emulator holds. */
int lx_emu_launch_thunk(void (*fn)(const void *), const void *args, size_t size, int grid, int block, int smem_bytes) {
  if (size > sizeof thunk_args) return -2;
  memcpy(thunk_args, args, size);
  thunk = fn;
  int rc = 0;
  for (int b = 0; b < grid && !rc; b++) rc = run_blocks(grid, b, 1, block, smem_bytes);
  thunk = NULL;
  return rc;
}

/* Frees the pooled stacks (before the module is unloaded, so that nothing it allocated is lost). */
void lx_emu_release(void) {
  while (stack_pool_n > 0) free(stack_pool[--stack_pool_n]);
  free(stack_pool);
  stack_pool = NULL;
}
