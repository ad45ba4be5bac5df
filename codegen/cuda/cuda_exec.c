/* The CUDA executor: plans the model onto the device, generates and compiles the module, uploads the weight
 * blobs, and runs the three modes of the persistent kernel (dev_kernel.h):
 *  - step: one launch per call, batch 1..8, logits back to the host;
 *  - score: chunks of up to `tmax` known tokens per launch (layers as a wavefront), then one cuBLAS GEMM for
 *    the decoder over the chunk and the log-probability kernel;
 *  - generate: decoder and sampler on the device, chunks of up to `tmax` tokens per launch, no host round
 *    trip per token; the same tokens as the reference sampler for the same seed.
 * Layer 0's input projection is a table [V][4 H] = embedding · W_ih^T made once with cuBLAS (on the host
 * by ir/qdot when W_ih has int8 activations), so the persistent kernel gathers one row per token instead
 * of multiplying. A scoring decoder with int8 activations runs the integer kernel lx_dec_qscore instead of
 * the GEMM.
 *
 * LSTMC_CUDA_CHECK=1 poisons every output buffer (NaN) before each launch and fails if any element
 * survives, and poisons the ring buffers once, so a read of something never written shows up as NaN.
 * LSTMC_CUDA_CHUNK=N caps the steps per launch (tests use it to cross chunk boundaries). */
#include "codegen/cuda/cuda_exec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/cuda/cuda_codegen.h"
#include "ir/qdot.h"
#include "support/alloc.h"
#include "support/err.h"
#include "support/rng.h"

#define POISON 0xffffffffu /* a NaN as float, and as double */

typedef struct CudaExec {
  Executor base;
  CudaDev *dev;
  CudaPlan *plan;
  int batch, check, tmax;
  void *k_batch, *k_one, *k_logprob, *k_dec_q; /* k_dec_q: scoring decoder with int8 activations */
  CUdeviceptr blob, dec, table, wdec, hstate, cstate, ring, flags, tokens, tokbuf, hout, logits, logprob, targets,
      gen_out, rng, scratch;
  double *lp;      /* [tmax] */
  int32_t *ihost;  /* [tmax] */
} CudaExec;

_Static_assert(sizeof(LxParams) == 16 * 8 + 8 + 6 * 4, "LxParams layout (dev_params.h) changed: check the device side");

static int cuda_supports(const Graph *g, const ExecOptions *o) {
  int batch = o->batch > 0 ? o->batch : 1;
  if (batch > 8) return lx_fail(LSTMC_ERR_UNSUPPORTED, "cuda: batch %d (the persistent kernel takes 1 to 8 streams)", batch);
  if (g->vocab_size > (1 << 24))
    return lx_fail(LSTMC_ERR_UNSUPPORTED, "cuda: a vocabulary of %lld tokens (at most %d)", (long long)g->vocab_size, 1 << 24);
  for (int i = 0; i < g->nslots; i++) {
    const Tensor *t = g->slots[i].t;
    if (t && t->cols > (1 << 24)) return lx_fail(LSTMC_ERR_UNSUPPORTED, "cuda: tensor '%s' has %lld columns (at most %d)", t->name, (long long)t->cols, 1 << 24);
  }
  return 0; /* every layout and encoding of ir/layout.h has a device path (lx_row_dot) */
}

static void cuda_destroy(Executor *e) {
  CudaExec *x = (CudaExec *)e;
  if (!x) return;
  if (x->dev) {
    CUdeviceptr *bufs[] = {&x->blob,  &x->dec,     &x->table,   &x->wdec,    &x->hstate, &x->cstate,
                           &x->ring,  &x->flags,   &x->tokens,  &x->tokbuf,  &x->hout,   &x->logits,
                           &x->logprob, &x->targets, &x->gen_out, &x->rng,     &x->scratch};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) x->dev->ops->free(x->dev, *bufs[i]);
    x->dev->ops->close(x->dev);
  }
  cuda_plan_free(x->plan);
  lx_free(x->lp);
  lx_free(x->ihost);
  lx_free(x);
}

static void cuda_reset(Executor *e) {
  CudaExec *x = (CudaExec *)e;
  /* a failure here leaves the state as it was; the next launch reports the device's error */
  x->dev->ops->memset32(x->dev, x->hstate, 0, x->plan->state_floats);
  x->dev->ops->memset32(x->dev, x->cstate, 0, x->plan->state_floats);
}

static LxParams params_for(const CudaExec *x, int mode) {
  LxParams p;
  memset(&p, 0, sizeof p);
  p.blob = x->blob;
  p.dec = x->dec;
  p.table = x->table;
  p.hstate = x->hstate;
  p.cstate = x->cstate;
  p.ring = x->ring;
  p.flags = x->flags;
  p.tokens = x->tokens;
  p.tokbuf = x->tokbuf;
  p.hout = x->hout;
  p.logits = x->logits;
  p.logprob = x->logprob;
  p.targets = x->targets;
  p.gen_out = x->gen_out;
  p.rng = x->rng;
  p.scratch = x->scratch;
  p.mode = mode;
  p.nstreams = x->batch;
  return p;
}

static const char *flag_name(const CudaPlan *pl, unsigned what, char *buf, size_t n) {
  if ((int)what < pl->nl) snprintf(buf, n, "layer %u", what);
  else snprintf(buf, n, "%s", (int)what == pl->nl ? "the decoder" : "the sampler");
  return buf;
}

/* One launch of the persistent kernel, then its error words. */
static int run_persistent(CudaExec *x, void *fn, LxParams *p) {
  CudaDev *d = x->dev;
  const CudaPlan *pl = x->plan;
  int st = d->ops->memset32(d, x->flags, 0, pl->flag_words);
  if (!st) st = d->ops->launch(d, fn, pl->nb, pl->threads, pl->sm_bytes, 1, p);
  if (st) return st;
  uint32_t err[4];
  if ((st = d->ops->d2h(d, err, x->flags + (CUdeviceptr)((pl->nl + 2) * LX_FLAG_STRIDE * 4), sizeof err))) return st;
  if (err[0]) {
    char what[32];
    return lx_fail(LSTMC_ERR_BACKEND,
                   "cuda: the persistent kernel stopped: block %u waited more than %.0f s for %s at step %u "
                   "(a synchronization bug in lstmc; the state is no longer valid)",
                   err[3], 4.0, flag_name(pl, err[1], what, sizeof what), err[2]);
  }
  return 0;
}

static int check_tokens(const CudaExec *x, const int32_t *t, int64_t n) {
  int64_t V = x->plan->V;
  for (int64_t i = 0; i < n; i++)
    if (t[i] < 0 || t[i] >= V) return lx_fail(LSTMC_ERR_DATA, "token id %d outside the vocabulary [0, %lld)", t[i], (long long)V);
  return 0;
}

/* With LSTMC_CUDA_CHECK: a NaN left in an output means the kernel did not write that element. */
static int check_written_f(const CudaExec *x, const float *v, int64_t n, const char *what) {
  if (!x->check) return 0;
  for (int64_t i = 0; i < n; i++)
    if (isnan(v[i])) return lx_fail(LSTMC_ERR_BACKEND, "cuda: %s[%lld] was not written (the poison survived)", what, (long long)i);
  return 0;
}

static int cuda_step(Executor *e, const int32_t *tokens, float *logits) {
  CudaExec *x = (CudaExec *)e;
  CudaDev *d = x->dev;
  const CudaPlan *pl = x->plan;
  int st = check_tokens(x, tokens, x->batch);
  if (!st) st = d->ops->h2d(d, x->tokens, tokens, (size_t)x->batch * sizeof(int32_t));
  if (!st && x->check) st = d->ops->memset32(d, x->logits, POISON, (size_t)x->batch * pl->V);
  if (st) return st;
  LxParams p = params_for(x, LX_MODE_STEP);
  p.T = 1;
  p.nknown = 1;
  p.dec_from = 0;
  if ((st = run_persistent(x, x->k_batch, &p))) return st;
  if ((st = d->ops->d2h(d, logits, x->logits, (size_t)x->batch * pl->V * sizeof(float)))) return st;
  return check_written_f(x, logits, (int64_t)x->batch * pl->V, "logits");
}

static int cuda_score(Executor *e, const int32_t *tokens, int64_t n, double *nll, double *logprobs) {
  CudaExec *x = (CudaExec *)e;
  CudaDev *d = x->dev;
  const CudaPlan *pl = x->plan;
  int st = check_tokens(x, tokens, n);
  for (int64_t i0 = 0; !st && i0 + 1 < n; i0 += x->tmax) {
    int T = (int)(n - 1 - i0 < x->tmax ? n - 1 - i0 : x->tmax);
    if ((st = d->ops->h2d(d, x->tokens, tokens + i0, (size_t)T * sizeof(int32_t))) ||
        (st = d->ops->h2d(d, x->targets, tokens + i0 + 1, (size_t)T * sizeof(int32_t))))
      break;
    if (x->check && ((st = d->ops->memset32(d, x->hout, POISON, (size_t)T * pl->hlast)) ||
                     (st = d->ops->memset32(d, x->logprob, POISON, (size_t)T * 2))))
      break;
    LxParams p = params_for(x, LX_MODE_SCORE);
    p.T = T;
    p.nknown = T;
    p.dec_from = T;
    if ((st = run_persistent(x, x->k_one, &p))) break;
    /* logits[T][V] = hout[T][H] · W_dec^T: column-major, C (V x T) = A^T (V x H) · B (H x T) */
    if (x->k_dec_q) st = d->ops->launch(d, x->k_dec_q, T, pl->threads, (pl->hlast * 4 + 15) & ~15, 0, &p);
    else st = d->ops->gemm(d, CUBLAS_OP_T, CUBLAS_OP_N, pl->V, T, pl->hlast, x->wdec, pl->hlast, x->hout, pl->hlast, x->logits, pl->V);
    if (st) break;
    if ((st = d->ops->launch(d, x->k_logprob, T, CUDA_LOGPROB_THREADS, CUDA_LOGPROB_THREADS * 12, 0, &p))) break;
    if ((st = d->ops->d2h(d, x->lp, x->logprob, (size_t)T * sizeof(double)))) break;
    for (int t = 0; t < T; t++) {
      if (x->check && isnan(x->lp[t])) {
        st = lx_fail(LSTMC_ERR_BACKEND, "cuda: log-probability %lld was not written (the poison survived)", (long long)(i0 + t));
        break;
      }
      *nll -= x->lp[t];
      if (logprobs) logprobs[i0 + t] = x->lp[t];
    }
  }
  return st;
}

static int cuda_generate(Executor *e, const ExecGenRequest *r) {
  CudaExec *x = (CudaExec *)e;
  CudaDev *d = x->dev;
  int st = check_tokens(x, r->prime, r->nprime);
  if (st) return st;
  Rng rng;
  rng_seed(&rng, r->seed);
  if ((st = d->ops->h2d(d, x->rng, rng.s, sizeof rng.s))) return st;
  int64_t pos = 0, left = r->length;
  int32_t last = 0;
  /* Each launch feeds nk known tokens (the prime, a chunk at a time, or the last sampled token) and, once
   * the prime is in, samples m tokens, feeding all but the last of them: T = nk + m - 1 steps. */
  while (pos < r->nprime || left > 0) {
    int nk;
    if (pos < r->nprime) {
      nk = (int)(r->nprime - pos < x->tmax ? r->nprime - pos : x->tmax);
      memcpy(x->ihost, r->prime + pos, (size_t)nk * sizeof(int32_t));
      pos += nk;
    } else {
      nk = 1;
      x->ihost[0] = last;
    }
    int m = 0;
    if (pos >= r->nprime && left > 0) m = (int)(left < x->tmax - nk + 1 ? left : x->tmax - nk + 1);
    if ((st = d->ops->h2d(d, x->tokens, x->ihost, (size_t)nk * sizeof(int32_t)))) return st;
    if (m > 0 && x->check && (st = d->ops->memset32(d, x->gen_out, POISON, (size_t)m))) return st;
    LxParams p = params_for(x, LX_MODE_GEN);
    p.T = m > 0 ? nk + m - 1 : nk;
    p.nknown = nk;
    p.dec_from = m > 0 ? nk - 1 : p.T;
    p.temperature = r->temperature;
    p.top_k = r->top_k;
    if ((st = run_persistent(x, x->k_one, &p))) return st;
    if (m == 0) continue;
    if ((st = d->ops->d2h(d, x->ihost, x->gen_out, (size_t)m * sizeof(int32_t)))) return st;
    if ((st = check_tokens(x, x->ihost, m))) {
      lx_err_prefix("cuda: the device sampler returned a bad token");
      return LSTMC_ERR_BACKEND;
    }
    last = x->ihost[m - 1];
    left -= m;
    if ((st = r->on_tokens(x->ihost, m, r->ctx))) return st;
  }
  return 0;
}

/* The layer-0 table with int8 activations: y = W_ih · embedding row by ir/qdot's arithmetic, per token. */
static int build_qtable(CudaExec *x) {
  const CudaPlan *pl = x->plan;
  const Tensor *w = pl->w_ih0;
  int64_t rows = w->rows, E = w->cols;
  float *table = lx_malloc((size_t)pl->V * (size_t)rows * sizeof *table), *e = lx_malloc((size_t)E * sizeof *e);
  int8_t *q = lx_malloc((size_t)E);
  int st = !table || !e || !q ? lx_nomem("building the layer-0 table") : 0;
  for (int64_t v = 0; !st && v < pl->V; v++) {
    tensor_row_to_f32(pl->w_embed, v, e);
    qdot_matvec(w, q, qdot_quantize(e, E, q), table + (size_t)v * (size_t)rows);
  }
  if (!st) st = x->dev->ops->h2d(x->dev, x->table, table, (size_t)pl->V * (size_t)rows * sizeof *table);
  lx_free(table);
  lx_free(e);
  lx_free(q);
  return st;
}

/* The layer-0 table (embedding · W_ih^T, one row per token) and the dense fp32 decoder for scoring. */
static int build_tables(CudaExec *x) {
  CudaDev *d = x->dev;
  const CudaPlan *pl = x->plan;
  int H0 = pl->layers[0].H, E = pl->E, st;
  if (pl->w_ih0->act_bits) {
    if ((st = build_qtable(x))) return st;
    if (x->k_dec_q) return 0;
    float *wd = tensor_to_f32(pl->w_dec);
    st = wd ? d->ops->h2d(d, x->wdec, wd, (size_t)pl->V * pl->hlast * 4) : LSTMC_ERR_NOMEM;
    lx_free(wd);
    return st;
  }
  float *emb = tensor_to_f32(pl->w_embed), *w0 = tensor_to_f32(pl->w_ih0), *wd = tensor_to_f32(pl->w_dec);
  CUdeviceptr demb = 0, dw0 = 0;
  if (!emb || !w0 || !wd) {
    st = LSTMC_ERR_NOMEM;
    goto done;
  }
  if ((st = d->ops->alloc(d, (size_t)pl->V * E * 4, &demb)) || (st = d->ops->alloc(d, (size_t)4 * H0 * E * 4, &dw0)) ||
      (st = d->ops->h2d(d, demb, emb, (size_t)pl->V * E * 4)) || (st = d->ops->h2d(d, dw0, w0, (size_t)4 * H0 * E * 4)))
    goto done;
  /* table (row-major [V][4H]) = column-major 4H x V = W_ih (row-major [4H][E], so op T) · emb^T */
  if ((st = d->ops->gemm(d, CUBLAS_OP_T, CUBLAS_OP_N, 4 * H0, pl->V, E, dw0, E, demb, E, x->table, 4 * H0))) goto done;
  st = d->ops->h2d(d, x->wdec, wd, (size_t)pl->V * pl->hlast * 4);
done:
  d->ops->free(d, demb);
  d->ops->free(d, dw0);
  lx_free(emb);
  lx_free(w0);
  lx_free(wd);
  return st;
}

void cuda_plan_report(const CudaPlan *p) {
  if (!lx_message_wanted()) return;
  StrBuf sb;
  sb_init(&sb);
  cuda_plan_describe(p, &sb);
  lx_message(LSTMC_MSG_REPORT, "lstmc: cuda: %s", sb.data ? sb_cstr(&sb) : "");
  sb_free(&sb);
}

int cuda_exec_create_on(const Graph *g, const ExecOptions *o, CudaDev *dev, Executor **out) {
  *out = NULL;
  CudaExec *x = lx_calloc(1, sizeof *x);
  if (!x) {
    dev->ops->close(dev);
    return lx_nomem("creating the CUDA executor");
  }
  x->base.vt = &cuda_exec_vtbl;
  x->base.g = g;
  x->base.opts = *o;
  x->dev = dev;
  x->batch = o->batch > 0 ? o->batch : 1;
  const char *chk = getenv("LSTMC_CUDA_CHECK");
  x->check = chk && *chk && strcmp(chk, "0");
  char *src = NULL, name[160];
  uint8_t *blob = NULL, *decb = NULL;
  int st = cuda_plan_build(g, &dev->info, x->batch, &x->plan);
  if (st) goto fail;
  CudaPlan *pl = x->plan;
  if (o->verbose) cuda_plan_report(pl);
  snprintf(name, sizeof name, "%s.cu", g->name);
  if ((st = cuda_codegen_source(pl, g->name, dev->emu, &src))) goto fail;
  if ((st = dev->ops->load(dev, src, name, o->no_cache, o->verbose))) goto fail;
  char kb[32], k1[32];
  cuda_kernel_name(x->batch, kb, sizeof kb);
  cuda_kernel_name(1, k1, sizeof k1);
  if ((st = dev->ops->kernel(dev, kb, pl->sm_bytes, &x->k_batch)) || (st = dev->ops->kernel(dev, k1, pl->sm_bytes, &x->k_one)) ||
      (st = dev->ops->kernel(dev, "lx_logprob", CUDA_LOGPROB_THREADS * 12, &x->k_logprob)) ||
      (pl->dec.act_bits && (st = dev->ops->kernel(dev, "lx_dec_qscore", (pl->hlast * 4 + 15) & ~15, &x->k_dec_q))))
    goto fail;

  /* steps per launch: bounded by the [T][V] logits of a scoring chunk (256 MB); LSTMC_CUDA_CHUNK makes it
   * smaller, so that tests cross chunk boundaries with short texts */
  int64_t tm = ((int64_t)256 << 20) / ((int64_t)pl->V * 4);
  x->tmax = (int)(tm > 4096 ? 4096 : tm < 16 ? 16 : tm);
  const char *chunk = getenv("LSTMC_CUDA_CHUNK");
  if (chunk && atoi(chunk) >= 2 && atoi(chunk) < x->tmax) x->tmax = atoi(chunk);
  size_t T = (size_t)x->tmax, V = (size_t)pl->V;
  size_t nlog = T * V > (size_t)x->batch * V ? T * V : (size_t)x->batch * V;
  x->lp = lx_malloc(T * sizeof(double));
  x->ihost = lx_malloc(T * sizeof(int32_t));
  if (!x->lp || !x->ihost) {
    st = lx_nomem("creating the CUDA executor");
    goto fail;
  }
  if ((st = cuda_plan_pack(pl, &blob, &decb))) goto fail;
  struct {
    CUdeviceptr *p;
    size_t bytes;
  } bufs[] = {{&x->blob, pl->blob_bytes},
              {&x->dec, pl->dec_bytes},
              {&x->table, pl->table_floats * 4},
              {&x->wdec, V * (size_t)pl->hlast * 4},
              {&x->hstate, pl->state_floats * 4},
              {&x->cstate, pl->state_floats * 4},
              {&x->ring, pl->ring_floats * 4},
              {&x->flags, pl->flag_words * 4},
              {&x->tokens, T * (size_t)x->batch * 4},
              {&x->tokbuf, (T + 1) * 4},
              {&x->hout, T * (size_t)pl->hlast * 4},
              {&x->logits, nlog * 4},
              {&x->logprob, T * 8},
              {&x->targets, T * 4},
              {&x->gen_out, T * 4},
              {&x->rng, 32},
              {&x->scratch, pl->sample_smem ? 16 : (size_t)pl->sample_bytes}};
  for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
    if ((st = dev->ops->alloc(dev, bufs[i].bytes, bufs[i].p))) goto fail;
  if ((st = dev->ops->h2d(dev, x->blob, blob, pl->blob_bytes)) || (st = dev->ops->h2d(dev, x->dec, decb, pl->dec_bytes))) goto fail;
  if ((st = build_tables(x))) goto fail;
  if ((st = dev->ops->memset32(dev, x->ring, x->check ? POISON : 0, pl->ring_floats))) goto fail;
  lx_free(src);
  lx_free(blob);
  lx_free(decb);
  cuda_reset(&x->base);
  *out = &x->base;
  return 0;
fail:
  lx_free(src);
  lx_free(blob);
  lx_free(decb);
  cuda_destroy(&x->base);
  return st;
}

const CudaPlan *cuda_exec_plan(const Executor *e) { return ((const CudaExec *)e)->plan; }
CudaDev *cuda_exec_device(const Executor *e) { return ((const CudaExec *)e)->dev; }

static int cuda_create(const Graph *g, const ExecOptions *o, Executor **out) {
  CudaDev *dev;
  int st = cuda_dev_open(&dev);
  if (st) return st;
  return cuda_exec_create_on(g, o, dev, out);
}

const ExecVtbl cuda_exec_vtbl = {
    .name = "cuda",
    .supports = cuda_supports,
    .create = cuda_create,
    .destroy = cuda_destroy,
    .reset = cuda_reset,
    .step = cuda_step,
    .score = cuda_score,
    .generate = cuda_generate,
};
