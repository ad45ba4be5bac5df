/* The first lines of every generated CUDA source: the few things that differ between NVRTC and the host
 * emulator that tests/cuda uses to run the same source without a GPU (LX_EMU defined). Kernel code uses
 * only these names for thread indices, barriers, shuffles, shared memory, cross-block loads and stores
 * and the acquire/release counters, so one text serves both.
 *
 * Cross-block data (ring buffers, tokens, logits written during a launch) is read with LX_LD, an L2 load
 * (ld.global.cg) that cannot hit a stale L1 line, after thread 0 has acquired the counter that publishes
 * it and the block has passed a barrier; a producer writes with LX_ST, passes a barrier, and thread 0
 * fences and adds to the counter (the pattern of cooperative groups' grid sync). */
#if !defined(LX_EMU)
#define LX_FN __device__ __forceinline__
#define LX_KERNEL extern "C" __global__
#define LX_BOUNDS(n) __launch_bounds__(n, 1)
#define LX_CONST __constant__
#define LX_TID ((int)threadIdx.x)
#define LX_BID ((int)blockIdx.x)
#define LX_NTHREADS ((int)blockDim.x)
#define LX_SYNC() __syncthreads()
extern __shared__ __align__(16) unsigned char lx_smem[]; /* the dynamic shared memory of every kernel */
#define LX_SMEM(name) unsigned char *name = lx_smem
#define LX_LD(p) __ldcg(p)
#define LX_ST(p, v) __stcg((p), (v))
#define LX_INF __int_as_float(0x7f800000)
#define LX_UNROLL(n) _Pragma(#n)

LX_FN float lx_shfl_xor(float v, int m) { return __shfl_xor_sync(0xffffffffu, v, m); }
LX_FN float lx_as_float(unsigned u) { return __uint_as_float(u); }
/* a * b rounded to float and never fused into a following add (the integer path's y = (acc · s_x) · scale) */
LX_FN float lx_fmul_rn(float a, float b) { return __fmul_rn(a, b); }
/* Σ of the four products of the signed bytes of a and b, plus c */
LX_FN int lx_dp4a(int a, int b, int c) { return __dp4a(a, b, c); }
LX_FN unsigned lx_ld_acquire(const unsigned *p) {
  unsigned v;
  asm volatile("ld.acquire.gpu.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
  return v;
}
/* Publishes everything this block wrote before its last barrier: fence, then count. */
LX_FN void lx_signal(unsigned *p) {
  __threadfence();
  atomicAdd(p, 1u);
}
LX_FN void lx_set_error(unsigned *err, unsigned code, unsigned what, unsigned step, unsigned block) {
  if (atomicCAS(err, 0u, code) == 0u) {
    err[1] = what;
    err[2] = step;
    err[3] = block;
    __threadfence();
  }
}
LX_FN unsigned long long lx_now_ns(void) {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}
LX_FN void lx_pause(void) {}
#define LX_TIMEOUT_NS 4000000000ull

#else /* the host emulator (tests/cuda/cuda_emu_rt.c) */
#include <math.h>
#include <string.h>
#define LX_FN static inline
#define LX_KERNEL
#define LX_BOUNDS(n)
#define LX_CONST static const
int lx_emu_tid(void);
int lx_emu_bid(void);
int lx_emu_nthreads(void);
void lx_emu_sync(void);
unsigned char *lx_emu_smem(void);
float lx_emu_shfl_xor(float v, int m);
void lx_emu_yield(void);
unsigned long long lx_emu_now_ns(void);
#define LX_TID lx_emu_tid()
#define LX_BID lx_emu_bid()
#define LX_NTHREADS lx_emu_nthreads()
#define LX_SYNC() lx_emu_sync()
#define LX_SMEM(name) unsigned char *name = lx_emu_smem()
#define LX_LD(p) (*(p))
#define LX_ST(p, v) (*(p) = (v))
#define LX_INF INFINITY
#define LX_UNROLL(n)
typedef struct { unsigned x, y, z, w; } uint4;
typedef struct { unsigned x, y; } uint2;
typedef struct { float x, y, z, w; } float4;
LX_FN float lx_shfl_xor(float v, int m) { return lx_emu_shfl_xor(v, m); }
LX_FN float lx_as_float(unsigned u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}
LX_FN float lx_fmul_rn(float a, float b) {
  volatile float r = a * b; /* stored: a compiler allowed to contract cannot fuse it */
  return r;
}
LX_FN int lx_dp4a(int a, int b, int c) {
  for (int i = 0; i < 4; i++) c += (int)(signed char)(a >> (8 * i)) * (int)(signed char)(b >> (8 * i));
  return c;
}
/* Every poll yields, so the other emulated threads run while this one waits. */
LX_FN unsigned lx_ld_acquire(const unsigned *p) {
  lx_emu_yield();
  return *(volatile const unsigned *)p;
}
LX_FN void lx_signal(unsigned *p) { *p += 1; }
LX_FN void lx_set_error(unsigned *err, unsigned code, unsigned what, unsigned step, unsigned block) {
  if (err[0] == 0) {
    err[0] = code;
    err[1] = what;
    err[2] = step;
    err[3] = block;
  }
}
LX_FN unsigned long long lx_now_ns(void) { return lx_emu_now_ns(); }
LX_FN void lx_pause(void) {}
#define LX_TIMEOUT_NS 4000000000ull
#endif
