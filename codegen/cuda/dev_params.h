/* The one parameter block of every lstmc CUDA kernel, passed by value. Shared unchanged by the host C code
 * (cuda_exec.c fills it) and by the generated CUDA source (pasted by cuda_codegen.c), so both sides agree
 * on its layout: 64-bit device addresses first, then doubles, then ints, no padding holes.
 *
 * Like ir/layout.h this header has no includes and no libc. */
#ifndef LSTMC_CODEGEN_CUDA_DEV_PARAMS_H
#define LSTMC_CODEGEN_CUDA_DEV_PARAMS_H

/* What a launch of the persistent kernel does:
 *  STEP  – feed T inputs per stream from tokens[], write the logits after each step >= dec_from (the host
 *          reads the last); the `step` entry of the executor, batch 1..8.
 *  SCORE – feed T known inputs (stream 0); the last layer's outputs go to hout[T] for the decoder GEMM and
 *          the log-probability kernel; no in-kernel decoder.
 *  GEN   – feed nknown inputs from tokens[], then the sampler's own tokens; after each step >= dec_from the
 *          decoder and the sampler run on the device and the token goes to gen_out[] (stream 0). */
enum lx_mode { LX_MODE_STEP = 0, LX_MODE_SCORE = 1, LX_MODE_GEN = 2 };

/* Synchronization counters: each on its own 128-byte line. Counter l (< number of layers) counts the
 * steps that layer l's blocks finished (the prologue counts as one); then the decoder's, the sampler's,
 * and four error words (code, what, step, block). */
#define LX_FLAG_STRIDE 32
#define LX_ERR_TIMEOUT 1

typedef struct LxParams {
  unsigned long long blob;    /* const bytes: every block's weight blob, concatenated (cuda_plan.h) */
  unsigned long long dec;     /* const bytes: the decoder blob */
  unsigned long long table;   /* const float [V][4 H_0]: W_ih of layer 0 times every embedding row */
  unsigned long long hstate;  /* float [layers][nstreams][HMAX] */
  unsigned long long cstate;  /* float [layers][nstreams][HMAX] */
  unsigned long long ring;    /* float [layers][ring depth][BMAX][HMAX]: h of the last few steps */
  unsigned long long flags;   /* unsigned [(layers + 3) * LX_FLAG_STRIDE], zero at launch */
  unsigned long long tokens;  /* const int [nknown][B]: known inputs */
  unsigned long long tokbuf;  /* int [T + 1]: GEN: the sampled inputs, by step */
  unsigned long long hout;    /* float [T][H_last]: SCORE: the last layer's outputs */
  unsigned long long logits;  /* float [B][V] (STEP, GEN) or [T][V] (SCORE, the logprob kernel's input) */
  unsigned long long logprob; /* double [T]: SCORE: log p(targets[t]) */
  unsigned long long targets; /* const int [T]: SCORE: the token that step t predicts */
  unsigned long long gen_out; /* int [T]: GEN (and the sampler test): sampled tokens in order */
  unsigned long long rng;     /* unsigned long long [4]: xoshiro256** state; read at start, written at end */
  unsigned long long scratch; /* the sampler's scratch when it does not fit in shared memory */
  double temperature;
  int top_k;
  int mode;     /* enum lx_mode */
  int T;        /* input steps of this launch (SCORE: also the rows of logits; sampler test: cases) */
  int nknown;   /* GEN: the first nknown inputs come from tokens[] */
  int dec_from; /* STEP, GEN: the decoder runs after steps dec_from..T-1 */
  int nstreams; /* streams in the state buffers (the executor's batch) */
} LxParams;

#endif
