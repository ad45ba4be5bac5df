/* Blocked GEMM (see gemm.h): the per-thread workspaces, the kernel choice, and two instantiations of
 * gemm_impl.h (float and double). The block sizes are fixed constants, never derived from the thread
 * count, which is what keeps every sum in the same order on any number of threads. */
#include "train/gemm.h"

#include <stdint.h>
#include <string.h>

#include "support/alloc.h"
#include "support/err.h"

#define GEMM_VBYTES 32 /* one AVX2 register */
#define GEMM_MR 6      /* rows per register tile */
#define GEMM_KC 256    /* depth of a packed block: a KC×NR panel of B stays in L1 */
#define GEMM_MC 96     /* rows of A packed at once (L2) */
#define GEMM_NC 1024   /* columns of B packed at once (L3) */

#if defined(__x86_64__) || defined(__i386__)
#define GEMM_AVX2_ATTR __attribute__((target("avx2,fma")))
#define GEMM_HAVE_AVX2 1
#else
#define GEMM_AVX2_ATTR
#define GEMM_HAVE_AVX2 0
#endif

struct Gemm {
  Pool *pool;
  int n;
  void **raw;      /* [n] allocations */
  double **ws_a;   /* [n] MC×KC elements (sized for double) */
  double **ws_b;   /* [n] KC×NC elements */
};

static int kernel_is_avx2 = -1;

static void *gemm_ws_a(Gemm *g, int tid) { return g->ws_a[tid]; }
static void *gemm_ws_b(Gemm *g, int tid) { return g->ws_b[tid]; }
Pool *gemm_pool(const Gemm *g) { return g->pool; }

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

#define R float
#define SFX(x) CAT(x, _f32)
#include "train/gemm_impl.h"
#undef R
#undef SFX

#define R double
#define SFX(x) CAT(x, _f64)
#include "train/gemm_impl.h"
#undef R
#undef SFX

const char *gemm_kernel_name(void) { return kernel_is_avx2 > 0 ? "avx2+fma" : "generic"; }

static void choose_kernels(void) {
  if (kernel_is_avx2 >= 0) return;
  int avx2 = 0;
#if GEMM_HAVE_AVX2
  __builtin_cpu_init();
  avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
  select_kernels_f32(avx2);
  select_kernels_f64(avx2);
  kernel_is_avx2 = avx2;
}

void gemm_free(Gemm *g) {
  if (!g) return;
  if (g->raw)
    for (int i = 0; i < g->n; i++) lx_free(g->raw[i]);
  lx_free(g->raw);
  lx_free(g->ws_a);
  lx_free(g->ws_b);
  lx_free(g);
}

int gemm_create(Pool *pool, Gemm **out) {
  *out = NULL;
  choose_kernels();
  Gemm *g = lx_calloc(1, sizeof *g);
  if (!g) return lx_nomem("creating GEMM workspaces");
  g->pool = pool;
  g->n = pool_threads(pool);
  g->raw = lx_calloc((size_t)g->n, sizeof *g->raw);
  g->ws_a = lx_calloc((size_t)g->n, sizeof *g->ws_a);
  g->ws_b = lx_calloc((size_t)g->n, sizeof *g->ws_b);
  if (!g->raw || !g->ws_a || !g->ws_b) goto oom;
  size_t na = (size_t)GEMM_MC * GEMM_KC * sizeof(double), nb = (size_t)GEMM_KC * GEMM_NC * sizeof(double);
  for (int i = 0; i < g->n; i++) {
    g->raw[i] = lx_malloc(na + nb + 128);
    if (!g->raw[i]) goto oom;
    uintptr_t base = ((uintptr_t)g->raw[i] + 63) & ~(uintptr_t)63;
    g->ws_a[i] = (double *)base;
    g->ws_b[i] = (double *)(base + ((na + 63) & ~(size_t)63));
  }
  *out = g;
  return 0;
oom:
  gemm_free(g);
  return lx_nomem("creating GEMM workspaces");
}

void gemm_packed_free(PackedB *pb) {
  lx_free(pb->raw);
  memset(pb, 0, sizeof *pb);
}
