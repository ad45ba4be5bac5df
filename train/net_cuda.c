/* AWD-LSTM training on a CUDA device (see net_cuda.h): the flat parameter buffers, the kernels' launches,
 * and the forward/backward walk over the graph's chain of nodes, written as train/net.c writes it, with
 * each CPU op replaced by the same computation on the device. GEMMs are written in train/gemm.h's
 * row-major convention and turned into cuBLAS' column-major calls in one place (gemm_rm). */
#include "train/net_cuda.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "codegen/cuda/cuda_train_codegen.h"
#include "codegen/cuda/dev_train_args.h"
#include "support/alloc.h"
#include "support/err.h"
#include "support/rng.h"

/* Every slot starts at a multiple of this many floats (256 bytes) in the flat buffers. */
#define SLOT_ALIGN 64

enum {
#define KERNEL_ID(name, args) K_##name,
  LX_TRAIN_KERNELS(KERNEL_ID)
#undef KERNEL_ID
      K_COUNT
};

struct CudaTrain {
  Graph *g;
  CudaDev *dev;
  const CudaBlas *blas;
  cublasHandle_t handle;
  void *k[K_COUNT];
  int precision;
  int nslots;
  int64_t *off, *size; /* [nslots] flat offset and element count of each slot */
  int64_t total;       /* floats in a flat buffer */
  CUdeviceptr params, grads, state[2], keep; /* keep: pruning masks (bytes), 0 when none */
  CUdeviceptr fwbf;    /* bf16 copy of the forward weights (CUDA_TRAIN_BF16) */
  int fwbf_stale;      /* weights changed since fwbf was made */
  CUdeviceptr *qat;    /* [nslots] forward weights set by cuda_train_set_forward_weights, or 0 */
  CUdeviceptr clip_parts, clip_out; /* [LX_TRAIN_MAX_PARTS] doubles; total (double) and scale (float) */
  Optim *opt;
  int nbuf;
  Comm *comm;
};

typedef struct DLayer {
  const Node *node;
  int op;
  int64_t in, out;
  double p;
  int kind_index;
  CUdeviceptr ybuf, ybf;      /* output [Tcap·B, out] (embed, dropout, decoder) and its bf16 copy */
  CUdeviceptr y, ybf_cur;     /* this batch's output and its bf16 copy */
  CUdeviceptr Hall, Call, gates, Hbf; /* lstm: [(Tcap+1)·B, H] ×2, [Tcap·B, 4H], bf16 copy of Hall */
  CUdeviceptr mask;           /* embed [V], dropout [B·F], lstm [4H·H]; 0 when p = 0 or not training */
  CUdeviceptr Weff, Weffbf, dWeff; /* lstm with weight-drop: W_hh ⊙ mask (and bf16), its gradient */
  CUdeviceptr h, c;           /* lstm: carried state [B·H] */
} DLayer;

struct NetCuda {
  CudaTrain *ct;
  Graph *g;
  int64_t B, Tcap, maxdim, max4h, hmax;
  int training;
  DLayer *L;
  int nl, nlstm, last_lstm, dec;
  CUdeviceptr dA, dB, dG, dGbf, dYbf, dh, dc, tok_x, tok_y, rowptr, rowidx, red, colpart;
  /* red: [LX_TRAIN_MAX_PARTS] AR partial sums, [LX_TRAIN_MAX_PARTS] TAR, then row_nll [Tcap·B] (doubles) */
  int64_t colpart_floats;
  double *red_host;  /* the same, on the host */
  int32_t *csr_ptr, *csr_idx, *csr_fill; /* host: the embedding gradient's rows */
  int nparts_ar, nparts_tar;
};

static const CudaDevOps *OPS(const CudaTrain *ct) { return ct->dev->ops; }

/* ---- launching ----------------------------------------------------------------------------------------- */

static int grid_for(const CudaTrain *ct, int64_t n) {
  int64_t blocks = (n + LX_TRAIN_THREADS - 1) / LX_TRAIN_THREADS;
  int64_t cap = (int64_t)(ct->dev->info.sms > 0 ? ct->dev->info.sms : 1) * 16;
  if (blocks > cap) blocks = cap;
  return blocks < 1 ? 1 : (int)blocks;
}

/* Blocks of a reduction writing one partial sum each. */
static int parts_for(const CudaTrain *ct, int64_t n) {
  int g = grid_for(ct, n);
  return g > LX_TRAIN_MAX_PARTS ? LX_TRAIN_MAX_PARTS : g;
}

static int enq(CudaTrain *ct, int kernel, int grid, int block, int smem, const void *args, size_t size) {
  return OPS(ct)->enqueue(ct->dev, ct->k[kernel], grid, block, smem, args, size);
}
#define ENQ(ct, kid, grid, block, smem, args) enq((ct), (kid), (grid), (block), (smem), &(args), sizeof(args))
/* The common case: an element-wise kernel over n elements. */
#define ENQ_N(ct, kid, n, args) enq((ct), (kid), grid_for((ct), (n)), LX_TRAIN_THREADS, 0, &(args), sizeof(args))

/* base + an offset in floats, doubles or bf16 halves (0 stays 0: an absent buffer). */
static CUdeviceptr fofs(CUdeviceptr base, int64_t floats) { return base ? base + (CUdeviceptr)(floats * 4) : 0; }
static CUdeviceptr dofs(CUdeviceptr base, int64_t doubles) { return base ? base + (CUdeviceptr)(doubles * 8) : 0; }
static CUdeviceptr hofs(CUdeviceptr base, int64_t halves) { return base ? base + (CUdeviceptr)(halves * 2) : 0; }

static int copy_floats(CudaTrain *ct, CUdeviceptr dst, CUdeviceptr src, int64_t n) {
  LxCopyArgs a = {dst, src, n};
  return ENQ_N(ct, K_lx_t_copy, n, a);
}

static int to_bf16(CudaTrain *ct, CUdeviceptr dst, CUdeviceptr src, int64_t n) {
  LxToBf16Args a = {dst, src, n};
  return ENQ_N(ct, K_lx_t_to_bf16, n, a);
}

/* A GEMM operand: its fp32 values and, in bf16 mode, its bf16 copy. */
typedef struct Mat {
  CUdeviceptr f, h;
} Mat;

/* C[M×N] = op(A)·op(B) + beta·C in train/gemm.h's row-major convention (op(A)[i,k] = ta ? A[k·lda + i] :
 * A[i·lda + k], likewise B), as cuBLAS' column-major product Cᵀ = op(B)ᵀ·op(A)ᵀ. */
static int gemm_rm(CudaTrain *ct, int ta, int tb, int64_t M, int64_t N, int64_t K, Mat A, int64_t lda, Mat B, int64_t ldb,
                   float beta, CUdeviceptr C, int64_t ldc) {
  LX_ASSERT(M < (1LL << 31) && N < (1LL << 31) && K < (1LL << 31) && lda < (1LL << 31) && ldb < (1LL << 31) && ldc < (1LL << 31));
  const float one = 1.0f;
  int opa = tb ? CUBLAS_OP_T : CUBLAS_OP_N, opb = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
  if (ct->precision == CUDA_TRAIN_BF16) {
    LX_ASSERT(A.h && B.h);
    return BLAS_CALL(ct->blas, cublasGemmEx,
                     (ct->handle, opa, opb, (int)N, (int)M, (int)K, &one, (const void *)(uintptr_t)B.h, CUDA_R_16BF, (int)ldb,
                      (const void *)(uintptr_t)A.h, CUDA_R_16BF, (int)lda, &beta, (void *)(uintptr_t)C, CUDA_R_32F, (int)ldc,
                      CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                     "multiplying matrices (training, bf16)");
  }
  return BLAS_CALL(ct->blas, cublasSgemm,
                   (ct->handle, opa, opb, (int)N, (int)M, (int)K, &one, (const float *)(uintptr_t)B.f, (int)ldb,
                    (const float *)(uintptr_t)A.f, (int)lda, &beta, (float *)(uintptr_t)C, (int)ldc),
                   "multiplying matrices (training)");
}

/* ---- the engine ---------------------------------------------------------------------------------------- */

CudaDev *cuda_train_device(CudaTrain *ct) { return ct->dev; }
Optim *cuda_train_optim(CudaTrain *ct) { return ct->opt; }
void cuda_train_set_comm(CudaTrain *ct, Comm *c) { ct->comm = c; }

void cuda_train_free(CudaTrain *ct) {
  if (!ct) return;
  if (ct->dev) {
    const CudaDevOps *o = OPS(ct);
    CUdeviceptr bufs[] = {ct->params, ct->grads, ct->state[0], ct->state[1], ct->keep, ct->fwbf, ct->clip_parts, ct->clip_out};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
      if (bufs[i]) o->free(ct->dev, bufs[i]);
    for (int s = 0; ct->qat && s < ct->nslots; s++)
      if (ct->qat[s]) o->free(ct->dev, ct->qat[s]);
    o->close(ct->dev);
  }
  optim_free(ct->opt);
  lx_free(ct->off);
  lx_free(ct->size);
  lx_free(ct->qat);
  lx_free(ct);
}

static int dev_alloc(CudaTrain *ct, size_t bytes, CUdeviceptr *p) { return OPS(ct)->alloc(ct->dev, bytes ? bytes : 16, p); }

/* The forward weights of slot s: what cuda_train_set_forward_weights installed, else the master weights. */
static Mat fw(const CudaTrain *ct, int s) {
  Mat m = {ct->qat[s] ? ct->qat[s] : fofs(ct->params, ct->off[s]), hofs(ct->fwbf, ct->off[s])};
  return m;
}
static CUdeviceptr grad(const CudaTrain *ct, int s) { return fofs(ct->grads, ct->off[s]); }

int cuda_train_create(Graph *g, CudaDev *dev, const OptimConfig *oc, const CudaTrainOptions *o, CudaTrain **out) {
  *out = NULL;
  for (int s = 0; s < g->nslots; s++)
    if (!g->slots[s].t || !tensor_is_dense_f32(g->slots[s].t)) {
      dev->ops->close(dev);
      return lx_fail(LSTMC_ERR_UNSUPPORTED, "training needs dense f32 weights, but '%s' is %s", g->slots[s].name,
                     g->slots[s].t ? format_name(g->slots[s].t->layout, g->slots[s].t->enc) : "not loaded");
    }
  CudaTrain *ct = lx_calloc(1, sizeof *ct);
  if (!ct) {
    dev->ops->close(dev);
    return lx_nomem("creating the GPU training engine");
  }
  ct->g = g;
  ct->dev = dev;
  ct->precision = o && o->precision == CUDA_TRAIN_BF16 ? CUDA_TRAIN_BF16 : CUDA_TRAIN_F32;
  ct->nslots = g->nslots;
  int st = 0;
  char *src = NULL;
  ct->off = lx_calloc((size_t)g->nslots + 1, sizeof *ct->off);
  ct->size = lx_calloc((size_t)g->nslots + 1, sizeof *ct->size);
  ct->qat = lx_calloc((size_t)g->nslots + 1, sizeof *ct->qat);
  if (!ct->off || !ct->size || !ct->qat) {
    st = lx_nomem("creating the GPU training engine");
    goto fail;
  }
  for (int s = 0; s < g->nslots; s++) {
    ct->off[s] = ct->total;
    ct->size[s] = g->slots[s].rows * g->slots[s].cols;
    ct->total += (ct->size[s] + SLOT_ALIGN - 1) / SLOT_ALIGN * SLOT_ALIGN;
  }
  if ((st = optim_create(oc, g->nslots, ct->size, &ct->opt))) goto fail;
  ct->nbuf = optim_num_buffers(ct->opt);
  if ((st = cuda_train_source(dev->emu, &src)) ||
      (st = dev->ops->load(dev, src, "lstmc_train.cu", o ? o->no_cache : 0, o ? o->verbose : 0)))
    goto fail;
  for (int k = 0; k < K_COUNT; k++)
    if ((st = dev->ops->kernel(dev, cuda_train_kernel_names[k], 0, &ct->k[k]))) goto fail;
  if ((st = dev->ops->blas(dev, &ct->blas, &ct->handle))) goto fail;
  size_t fbytes = (size_t)ct->total * 4;
  if ((st = dev_alloc(ct, fbytes, &ct->params)) || (st = dev_alloc(ct, fbytes, &ct->grads)) ||
      (st = dev_alloc(ct, LX_TRAIN_MAX_PARTS * 8, &ct->clip_parts)) || (st = dev_alloc(ct, 16, &ct->clip_out)))
    goto fail;
  for (int k = 0; k < ct->nbuf; k++)
    if ((st = dev_alloc(ct, fbytes, &ct->state[k]))) goto fail;
  if (ct->precision == CUDA_TRAIN_BF16 && (st = dev_alloc(ct, (size_t)ct->total * 2, &ct->fwbf))) goto fail;
  /* the gaps between slots stay zero in every buffer, so whole-buffer kernels leave them zero */
  if ((st = dev->ops->memset32(dev, ct->params, 0, (size_t)ct->total)) || (st = dev->ops->memset32(dev, ct->grads, 0, (size_t)ct->total)))
    goto fail;
  for (int k = 0; k < ct->nbuf; k++)
    if ((st = dev->ops->memset32(dev, ct->state[k], 0, (size_t)ct->total))) goto fail;
  if ((st = cuda_train_upload(ct))) goto fail;
  lx_free(src);
  *out = ct;
  return 0;
fail:
  lx_free(src);
  cuda_train_free(ct);
  return st;
}

int cuda_train_upload(CudaTrain *ct) {
  const CudaDevOps *o = OPS(ct);
  int st = 0;
  for (int s = 0; s < ct->nslots && !st; s++) {
    st = o->h2d(ct->dev, fofs(ct->params, ct->off[s]), tensor_f32(ct->g->slots[s].t), (size_t)ct->size[s] * 4);
    for (int k = 0; k < ct->nbuf && !st; k++)
      st = o->h2d(ct->dev, fofs(ct->state[k], ct->off[s]), optim_buffer(ct->opt, s, k), (size_t)ct->size[s] * 4);
  }
  ct->fwbf_stale = 1;
  return st;
}

int cuda_train_download(CudaTrain *ct) {
  const CudaDevOps *o = OPS(ct);
  int st = 0;
  for (int s = 0; s < ct->nslots && !st; s++) {
    st = o->d2h(ct->dev, tensor_f32(ct->g->slots[s].t), fofs(ct->params, ct->off[s]), (size_t)ct->size[s] * 4);
    for (int k = 0; k < ct->nbuf && !st; k++)
      st = o->d2h(ct->dev, optim_buffer(ct->opt, s, k), fofs(ct->state[k], ct->off[s]), (size_t)ct->size[s] * 4);
  }
  return st;
}

int cuda_train_set_prune_masks(CudaTrain *ct, uint8_t *const *masks) {
  const CudaDevOps *o = OPS(ct);
  int any = 0, st = 0;
  for (int s = 0; masks && s < ct->nslots; s++) any |= masks[s] != NULL;
  if (!any) {
    if (ct->keep) o->free(ct->dev, ct->keep);
    ct->keep = 0;
    return 0;
  }
  if (!ct->keep && (st = dev_alloc(ct, (size_t)ct->total, &ct->keep))) return st;
  /* 1 everywhere (gaps included), then each masked slot's bytes */
  if ((st = o->memset32(ct->dev, ct->keep, 0x01010101u, (size_t)(ct->total / 4)))) return st;
  for (int s = 0; s < ct->nslots && !st; s++)
    if (masks[s]) st = o->h2d(ct->dev, ct->keep + (CUdeviceptr)ct->off[s], masks[s], (size_t)ct->size[s]);
  return st;
}

int cuda_train_set_forward_weights(CudaTrain *ct, int slot, const float *w) {
  const CudaDevOps *o = OPS(ct);
  int st = 0;
  ct->fwbf_stale = 1;
  if (!w) {
    if (ct->qat[slot]) o->free(ct->dev, ct->qat[slot]);
    ct->qat[slot] = 0;
    return 0;
  }
  if (!ct->qat[slot] && (st = dev_alloc(ct, (size_t)ct->size[slot] * 4, &ct->qat[slot]))) return st;
  return o->h2d(ct->dev, ct->qat[slot], w, (size_t)ct->size[slot] * 4);
}

int cuda_train_broadcast_weights(CudaTrain *ct) {
  if (comm_size(ct->comm) <= 1) return 0;
  if (!ct->comm->device_memory)
    return lx_fail(LSTMC_ERR_USAGE, "GPU training: the communicator '%s' works on host memory, not device buffers", ct->comm->name);
  ct->fwbf_stale = 1;
  return comm_broadcast(ct->comm, (void *)(uintptr_t)ct->params, (size_t)ct->total, COMM_F32, 0);
}

/* The bf16 copy of every slot's forward weights, when they changed. */
static int refresh_bf16(CudaTrain *ct) {
  if (ct->precision != CUDA_TRAIN_BF16 || !ct->fwbf_stale) return 0;
  int st = 0;
  for (int s = 0; s < ct->nslots && !st; s++) st = to_bf16(ct, hofs(ct->fwbf, ct->off[s]), fw(ct, s).f, ct->size[s]);
  ct->fwbf_stale = 0;
  return st;
}

/* ---- the network: construction ----------------------------------------------------------------------- */

void net_cuda_free(NetCuda *n) {
  if (!n) return;
  CudaTrain *ct = n->ct;
  const CudaDevOps *o = OPS(ct);
  for (int i = 0; n->L && i < n->nl; i++) {
    DLayer *L = &n->L[i];
    CUdeviceptr bufs[] = {L->ybuf, L->ybf, L->Hall, L->Call, L->gates, L->Hbf, L->mask, L->Weff, L->Weffbf, L->dWeff, L->h, L->c};
    for (size_t k = 0; k < sizeof bufs / sizeof *bufs; k++)
      if (bufs[k]) o->free(ct->dev, bufs[k]);
  }
  CUdeviceptr bufs[] = {n->dA, n->dB, n->dG, n->dGbf, n->dYbf, n->dh, n->dc, n->tok_x, n->tok_y, n->rowptr, n->rowidx, n->red, n->colpart};
  for (size_t k = 0; k < sizeof bufs / sizeof *bufs; k++)
    if (bufs[k]) o->free(ct->dev, bufs[k]);
  lx_free(n->L);
  lx_free(n->red_host);
  lx_free(n->csr_ptr);
  lx_free(n->csr_idx);
  lx_free(n->csr_fill);
  lx_free(n);
}

int net_cuda_create(CudaTrain *ct, int64_t batch, int training, NetCuda **out) {
  *out = NULL;
  Graph *g = ct->g;
  NetCuda *n = lx_calloc(1, sizeof *n);
  if (!n) return lx_nomem("creating the GPU training network");
  n->ct = ct;
  n->g = g;
  n->B = batch;
  n->training = training;
  int st = 0;
  int bf = ct->precision == CUDA_TRAIN_BF16;
  n->L = lx_calloc((size_t)g->nnodes, sizeof *n->L);
  n->csr_ptr = lx_calloc((size_t)g->vocab_size + 1, sizeof *n->csr_ptr);
  n->csr_fill = lx_calloc((size_t)g->vocab_size + 1, sizeof *n->csr_fill);
  if (!n->L || !n->csr_ptr || !n->csr_fill) goto oom;
  NetLayerShape *shapes = lx_calloc((size_t)g->nnodes, sizeof *shapes);
  if (!shapes) goto oom;
  NetShape sh;
  net_shape(g, shapes, &sh);
  n->nl = sh.nl, n->nlstm = sh.nlstm, n->last_lstm = sh.last_lstm, n->dec = sh.dec;
  n->maxdim = sh.maxdim, n->max4h = sh.max4h, n->hmax = sh.hmax;
  for (int i = 0; i < n->nl && !st; i++) {
    DLayer *L = &n->L[i];
    const NetLayerShape *ls = &shapes[i];
    L->node = ls->node, L->op = ls->op, L->in = ls->in, L->out = ls->out, L->p = ls->p, L->kind_index = ls->kind_index;
    if (L->op == OP_LSTM) {
      size_t H = (size_t)L->out;
      if ((st = dev_alloc(ct, (size_t)batch * H * 4, &L->h)) || (st = dev_alloc(ct, (size_t)batch * H * 4, &L->c))) break;
      if (training && L->p > 0 &&
          ((st = dev_alloc(ct, 4 * H * H * 4, &L->mask)) || (st = dev_alloc(ct, 4 * H * H * 4, &L->Weff)) ||
           (st = dev_alloc(ct, 4 * H * H * 4, &L->dWeff)) || (bf && (st = dev_alloc(ct, 4 * H * H * 2, &L->Weffbf)))))
        break;
    } else if (L->op != OP_DECODER && training && L->p > 0) {
      int64_t len = L->op == OP_EMBED ? g->vocab_size : batch * L->out;
      st = dev_alloc(ct, (size_t)len * 4, &L->mask);
    }
  }
  lx_free(shapes);
  if (st) goto fail;
  if ((st = dev_alloc(ct, (size_t)n->B * n->hmax * 4, &n->dh)) || (st = dev_alloc(ct, (size_t)n->B * n->hmax * 4, &n->dc)) ||
      (st = dev_alloc(ct, (size_t)(g->vocab_size + 1) * 4, &n->rowptr)))
    goto fail;
  if ((st = net_cuda_reset_state(n))) goto fail;
  *out = n;
  return 0;
oom:
  st = lx_nomem("creating the GPU training network");
fail:
  net_cuda_free(n);
  return st;
}

/* Makes room for T steps (buffers grow, never shrink), as net.c's net_reserve. */
static int net_reserve(NetCuda *n, int64_t T) {
  if (T <= n->Tcap) return 0;
  CudaTrain *ct = n->ct;
  const CudaDevOps *o = OPS(ct);
  int bf = ct->precision == CUDA_TRAIN_BF16;
  int64_t cap = n->Tcap ? n->Tcap : T;
  while (cap < T) cap += cap / 4 + 1;
  int64_t B = n->B, TB = cap * B;
  int st = 0;
#define REALLOC(p, bytes)                                                                                       \
  do {                                                                                                         \
    if (p) o->free(ct->dev, p);                                                                                \
    p = 0;                                                                                                     \
    if ((st = dev_alloc(ct, (size_t)(bytes), &p))) goto fail;                                                  \
  } while (0)
  for (int i = 0; i < n->nl; i++) {
    DLayer *L = &n->L[i];
    if (L->op == OP_LSTM) {
      REALLOC(L->Hall, (cap + 1) * B * L->out * 4);
      REALLOC(L->Call, (cap + 1) * B * L->out * 4);
      REALLOC(L->gates, TB * 4 * L->out * 4);
      if (bf) REALLOC(L->Hbf, (cap + 1) * B * L->out * 2);
    } else if (L->op != OP_DROPOUT || L->mask) {
      REALLOC(L->ybuf, TB * L->out * 4);
      if (bf && L->op != OP_DECODER) REALLOC(L->ybf, TB * L->out * 2);
    }
  }
  REALLOC(n->tok_x, TB * 4);
  REALLOC(n->tok_y, TB * 4);
  REALLOC(n->red, (2 * LX_TRAIN_MAX_PARTS + TB) * 8);
  lx_free(n->red_host);
  if (!(n->red_host = lx_malloc((size_t)(2 * LX_TRAIN_MAX_PARTS + TB) * 8))) goto oom;
  if (n->training) {
    REALLOC(n->dA, TB * n->maxdim * 4);
    REALLOC(n->dB, TB * n->maxdim * 4);
    REALLOC(n->dG, TB * n->max4h * 4);
    REALLOC(n->rowidx, TB * 4);
    if (bf) {
      REALLOC(n->dGbf, TB * n->max4h * 2);
      REALLOC(n->dYbf, TB * (n->g->vocab_size > n->maxdim ? n->g->vocab_size : n->maxdim) * 2);
    }
    lx_free(n->csr_idx);
    if (!(n->csr_idx = lx_malloc((size_t)TB * sizeof *n->csr_idx))) goto oom;
  }
#undef REALLOC
  n->Tcap = cap;
  return 0;
oom:
  st = lx_nomem("allocating activations for GPU training");
fail:
  n->Tcap = 0; /* everything is reallocated on the next call */
  return st;
}

/* Partial column sums of up to cols × chunks floats: rows in chunks of 64 (a chunk's sum is one thread's). */
#define COLSUM_CHUNK 64
static int colsum_add(NetCuda *n, CUdeviceptr Y, int64_t rows, int64_t cols, CUdeviceptr out1, CUdeviceptr out2) {
  CudaTrain *ct = n->ct;
  int64_t nchunks = (rows + COLSUM_CHUNK - 1) / COLSUM_CHUNK;
  int st;
  if (nchunks * cols > n->colpart_floats) {
    if (n->colpart) OPS(ct)->free(ct->dev, n->colpart);
    n->colpart = 0;
    n->colpart_floats = 0;
    if ((st = dev_alloc(ct, (size_t)(nchunks * cols) * 4, &n->colpart))) return st;
    n->colpart_floats = nchunks * cols;
  }
  LxColsumPartArgs p = {n->colpart, Y, rows, cols, COLSUM_CHUNK, nchunks};
  LxColsumFinArgs f = {out1, out2, n->colpart, cols, nchunks};
  if ((st = ENQ_N(ct, K_lx_t_colsum_part, nchunks * cols, p))) return st;
  return ENQ_N(ct, K_lx_t_colsum_fin, cols, f);
}

int64_t net_cuda_batch(const NetCuda *n) { return n->B; }
int net_cuda_num_lstm(const NetCuda *n) { return n->nlstm; }

static DLayer *lstm_layer(NetCuda *n, int l) {
  for (int i = 0; i < n->nl; i++)
    if (n->L[i].op == OP_LSTM && n->L[i].kind_index == l) return &n->L[i];
  LX_BUG("no such LSTM layer");
}

int64_t net_cuda_lstm_hidden(const NetCuda *n, int l) { return lstm_layer((NetCuda *)n, l)->out; }

int net_cuda_reset_state(NetCuda *n) {
  const CudaDevOps *o = OPS(n->ct);
  int st = 0;
  for (int i = 0; i < n->nl && !st; i++)
    if (n->L[i].op == OP_LSTM) {
      size_t words = (size_t)(n->B * n->L[i].out);
      if (!(st = o->memset32(n->ct->dev, n->L[i].h, 0, words))) st = o->memset32(n->ct->dev, n->L[i].c, 0, words);
    }
  return st;
}

int net_cuda_get_state(NetCuda *n, int l, float *h, float *c) {
  DLayer *L = lstm_layer(n, l);
  const CudaDevOps *o = OPS(n->ct);
  size_t bytes = (size_t)(n->B * L->out) * 4;
  int st = o->d2h(n->ct->dev, h, L->h, bytes);
  return st ? st : o->d2h(n->ct->dev, c, L->c, bytes);
}

int net_cuda_set_state(NetCuda *n, int l, const float *h, const float *c) {
  DLayer *L = lstm_layer(n, l);
  const CudaDevOps *o = OPS(n->ct);
  size_t bytes = (size_t)(n->B * L->out) * 4;
  int st = o->h2d(n->ct->dev, L->h, h, bytes);
  return st ? st : o->h2d(n->ct->dev, L->c, c, bytes);
}

/* ---- masks --------------------------------------------------------------------------------------------- */

int net_cuda_draw_masks(NetCuda *n, uint64_t seed, uint64_t step) {
  uint64_t step_key = rng_derive(seed, step);
  int st = 0;
  for (int i = 0; i < n->nl && !st; i++) {
    DLayer *L = &n->L[i];
    if (!L->mask) continue;
    uint64_t key = rng_derive(step_key, (uint64_t)(L->node - n->g->nodes) + 1);
    int64_t rows = L->op == OP_EMBED ? n->g->vocab_size : L->op == OP_DROPOUT ? n->B : 4 * L->out;
    int64_t cols = L->op == OP_EMBED ? 1 : L->out;
    LxMaskRowsArgs a = {L->mask, key, rows, cols, L->p, (float)(1.0 / (1.0 - L->p)), 0};
    st = ENQ_N(n->ct, K_lx_t_mask_rows, rows, a);
  }
  return st;
}

int net_cuda_get_mask(NetCuda *n, int op, int k, float *out) {
  for (int i = 0; i < n->nl; i++) {
    DLayer *L = &n->L[i];
    if (L->op != op || L->kind_index != k || !L->mask) continue;
    int64_t len = op == OP_EMBED ? n->g->vocab_size : op == OP_DROPOUT ? n->B * L->out : 4 * L->out * L->out;
    return OPS(n->ct)->d2h(n->ct->dev, out, L->mask, (size_t)len * 4);
  }
  return lx_fail(LSTMC_ERR_USAGE, "GPU training: no %s mask %d in this network", op_name(op), k);
}

int net_cuda_grad(NetCuda *n, int slot, float *out) {
  if (!n->training) return lx_fail(LSTMC_ERR_USAGE, "GPU training: an evaluation network has no gradients");
  return OPS(n->ct)->d2h(n->ct->dev, out, grad(n->ct, slot), (size_t)n->ct->size[slot] * 4);
}

/* ---- forward and backward ----------------------------------------------------------------------------- */

/* The embedding gradient's rows: for each vocabulary row, the batch positions holding it, ascending. */
static int upload_embed_rows(NetCuda *n, const int32_t *x, int64_t TB) {
  int64_t V = n->g->vocab_size;
  int32_t *ptr = n->csr_ptr, *fill = n->csr_fill;
  memset(ptr, 0, (size_t)(V + 1) * sizeof *ptr);
  for (int64_t i = 0; i < TB; i++) ptr[x[i] + 1]++;
  for (int64_t v = 0; v < V; v++) ptr[v + 1] += ptr[v];
  memcpy(fill, ptr, (size_t)V * sizeof *fill);
  for (int64_t i = 0; i < TB; i++) n->csr_idx[fill[x[i]]++] = (int32_t)i;
  const CudaDevOps *o = OPS(n->ct);
  int st = o->h2d(n->ct->dev, n->rowptr, ptr, (size_t)(V + 1) * 4);
  return st ? st : o->h2d(n->ct->dev, n->rowidx, n->csr_idx, (size_t)TB * 4);
}

static int lstm_forward(NetCuda *n, DLayer *L, Mat in, int64_t T) {
  CudaTrain *ct = n->ct;
  const Node *nd = L->node;
  int64_t B = n->B, H = L->out, I = L->in, TB = T * B;
  int bf = ct->precision == CUDA_TRAIN_BF16, st;
  Mat Whh = fw(ct, nd->w[W_HH]);
  if (L->mask) {
    LxMulArgs m = {L->Weff, Whh.f, L->mask, bf ? L->Weffbf : 0, 4 * H * H, 0, 0};
    if ((st = ENQ_N(ct, K_lx_t_mul, 4 * H * H, m))) return st;
    Whh.f = L->Weff;
    Whh.h = L->Weffbf;
  }
  if ((st = copy_floats(ct, L->Hall, L->h, B * H)) || (st = copy_floats(ct, L->Call, L->c, B * H))) return st;
  if (bf && (st = to_bf16(ct, L->Hbf, L->h, B * H))) return st;
  /* input projections of all steps at once: gates = b_ih + b_hh + X W_ih^T */
  LxFillRowsArgs fr = {L->gates, fw(ct, nd->w[B_IH]).f, fw(ct, nd->w[B_HH]).f, TB, 4 * H};
  if ((st = ENQ_N(ct, K_lx_t_fill_rows, TB * 4 * H, fr)) ||
      (st = gemm_rm(ct, 0, 1, TB, 4 * H, I, in, I, fw(ct, nd->w[W_IH]), I, 1.0f, L->gates, 4 * H)))
    return st;
  for (int64_t t = 0; t < T; t++) {
    Mat hprev = {fofs(L->Hall, t * B * H), hofs(L->Hbf, t * B * H)};
    CUdeviceptr G = fofs(L->gates, t * B * 4 * H);
    if ((st = gemm_rm(ct, 0, 1, B, 4 * H, H, hprev, H, Whh, H, 1.0f, G, 4 * H))) return st;
    LxCellFwdArgs c = {G, fofs(L->Call, t * B * H), fofs(L->Call, (t + 1) * B * H), fofs(L->Hall, (t + 1) * B * H),
                       hofs(L->Hbf, (t + 1) * B * H), B, H};
    if ((st = ENQ_N(ct, K_lx_t_cell_fwd, B * H, c))) return st;
  }
  if ((st = copy_floats(ct, L->h, fofs(L->Hall, T * B * H), B * H)) || (st = copy_floats(ct, L->c, fofs(L->Call, T * B * H), B * H)))
    return st;
  L->y = fofs(L->Hall, B * H);
  L->ybf_cur = hofs(L->Hbf, B * H);
  return 0;
}

static int lstm_backward(NetCuda *n, DLayer *L, Mat in, int64_t T, CUdeviceptr dH, CUdeviceptr dX) {
  CudaTrain *ct = n->ct;
  const Node *nd = L->node;
  int64_t B = n->B, H = L->out, I = L->in, TB = T * B;
  int st;
  Mat Whh = fw(ct, nd->w[W_HH]);
  CUdeviceptr gWhh = grad(ct, nd->w[W_HH]);
  if (L->mask) {
    Whh.f = L->Weff;
    Whh.h = L->Weffbf;
    gWhh = L->dWeff;
    if ((st = OPS(ct)->memset32(ct->dev, L->dWeff, 0, (size_t)(4 * H * H)))) return st;
  }
  for (int64_t t = T - 1; t >= 0; t--) {
    int last = t == T - 1;
    CUdeviceptr dGt = fofs(n->dG, t * B * 4 * H);
    if (!last) {
      /* the gradient reaching h_t through step t+1: dG_{t+1} · W_hh */
      Mat dGn = {fofs(n->dG, (t + 1) * B * 4 * H), hofs(n->dGbf, (t + 1) * B * 4 * H)};
      if ((st = gemm_rm(ct, 0, 0, B, H, 4 * H, dGn, 4 * H, Whh, H, 0.0f, n->dh, H))) return st;
    }
    LxCellBwdArgs c = {dGt,
                       fofs(L->gates, t * B * 4 * H),
                       fofs(L->Call, (t + 1) * B * H),
                       fofs(L->Call, t * B * H),
                       fofs(dH, t * B * H),
                       n->dh,
                       n->dc,
                       hofs(n->dGbf, t * B * 4 * H),
                       B,
                       H,
                       last,
                       0};
    if ((st = ENQ_N(ct, K_lx_t_cell_bwd, B * H, c))) return st;
  }
  /* parameter gradients over all steps at once: row n of Hall is h_{t-1} for row n of dG */
  Mat dG = {n->dG, n->dGbf}, Hprev = {L->Hall, L->Hbf};
  if ((st = colsum_add(n, n->dG, TB, 4 * H, grad(ct, nd->w[B_IH]), grad(ct, nd->w[B_HH]))) ||
      (st = gemm_rm(ct, 1, 0, 4 * H, H, TB, dG, 4 * H, Hprev, H, 1.0f, gWhh, H)) ||
      (st = gemm_rm(ct, 1, 0, 4 * H, I, TB, dG, 4 * H, in, I, 1.0f, grad(ct, nd->w[W_IH]), I)) ||
      (st = gemm_rm(ct, 0, 0, TB, I, 4 * H, dG, 4 * H, fw(ct, nd->w[W_IH]), I, 0.0f, dX, I)))
    return st;
  if (L->mask) {
    LxMulArgs m = {grad(ct, nd->w[W_HH]), L->dWeff, L->mask, 0, 4 * H * H, 1, 0};
    if ((st = ENQ_N(ct, K_lx_t_mul, 4 * H * H, m))) return st;
  }
  return 0;
}

/* The forward walk over the layers, then the cross-entropy (with its gradient in place when training). */
static int queue_forward(NetCuda *n, int64_t T) {
  CudaTrain *ct = n->ct;
  int64_t B = n->B, TB = T * B, V = n->g->vocab_size;
  int bf = ct->precision == CUDA_TRAIN_BF16;
  int st;
  for (int i = 0; i < n->nl; i++) {
    DLayer *L = &n->L[i];
    const Node *nd = L->node;
    Mat in = {i ? n->L[i - 1].y : 0, i ? n->L[i - 1].ybf_cur : 0};
    switch (L->op) {
    case OP_EMBED: {
      LxEmbedFwdArgs a = {L->ybuf, fw(ct, nd->w[W_EMBED]).f, n->tok_x, L->mask, TB, L->out};
      if ((st = ENQ_N(ct, K_lx_t_embed_fwd, TB * L->out, a))) return st;
      if (bf && (st = to_bf16(ct, L->ybf, L->ybuf, TB * L->out))) return st;
      L->y = L->ybuf;
      L->ybf_cur = L->ybf;
      break;
    }
    case OP_DROPOUT:
      if (L->mask) {
        LxLockdropArgs a = {L->ybuf, in.f, L->mask, TB, B, L->out};
        if ((st = ENQ_N(ct, K_lx_t_lockdrop, TB * L->out, a))) return st;
        if (bf && (st = to_bf16(ct, L->ybf, L->ybuf, TB * L->out))) return st;
        L->y = L->ybuf;
        L->ybf_cur = L->ybf;
      } else {
        L->y = in.f;
        L->ybf_cur = in.h;
      }
      break;
    case OP_LSTM:
      if ((st = lstm_forward(n, L, in, T))) return st;
      break;
    case OP_DECODER: {
      LxFillRowsArgs fr = {L->ybuf, fw(ct, nd->w[B_DEC]).f, 0, TB, V};
      if ((st = ENQ_N(ct, K_lx_t_fill_rows, TB * V, fr)) ||
          (st = gemm_rm(ct, 0, 1, TB, V, L->in, in, L->in, fw(ct, nd->w[W_DEC]), L->in, 1.0f, L->ybuf, V)))
        return st;
      L->y = L->ybuf;
      break;
    }
    default: LX_BUG("unexpected op in the training network");
    }
  }
  DLayer *D = &n->L[n->dec];
  int threads = V <= 64 ? 64 : V <= 128 ? 128 : 256;
  int rows_grid = (int)(TB < 65535 ? TB : 65535);
  LxSoftmaxCeArgs ce = {D->ybuf, n->tok_y, dofs(n->red, 2 * LX_TRAIN_MAX_PARTS), TB, V, n->training ? 1.0 / (double)TB : 0.0};
  return ENQ(ct, K_lx_t_softmax_ce, rows_grid < 1 ? 1 : rows_grid, threads, threads * 8, ce);
}

/* The backward walk, from the logits' gradient to the embedding's; AR and TAR on the way. */
static int queue_backward(NetCuda *n, int64_t T, double alpha, double beta) {
  CudaTrain *ct = n->ct;
  int64_t B = n->B, TB = T * B, V = n->g->vocab_size;
  int bf = ct->precision == CUDA_TRAIN_BF16;
  int st;
  if ((st = OPS(ct)->memset32(ct->dev, ct->grads, 0, (size_t)ct->total))) return st;
  CUdeviceptr dcur = 0;
  for (int i = n->nl - 1; i >= 0; i--) {
    DLayer *L = &n->L[i];
    const Node *nd = L->node;
    Mat in = {i ? n->L[i - 1].y : 0, i ? n->L[i - 1].ybf_cur : 0};
    switch (L->op) {
    case OP_DECODER: {
      Mat dY = {L->ybuf, bf ? n->dYbf : 0};
      if (bf && (st = to_bf16(ct, n->dYbf, L->ybuf, TB * V))) return st;
      if ((st = gemm_rm(ct, 1, 0, V, L->in, TB, dY, V, in, L->in, 1.0f, grad(ct, nd->w[W_DEC]), L->in)) ||
          (st = colsum_add(n, L->ybuf, TB, V, grad(ct, nd->w[B_DEC]), 0)) ||
          (st = gemm_rm(ct, 0, 0, TB, L->in, V, dY, V, fw(ct, nd->w[W_DEC]), L->in, 0.0f, n->dA, L->in)))
        return st;
      dcur = n->dA;
      if (alpha != 0 && TB * L->in > 0) {
        int64_t N = TB * L->in;
        n->nparts_ar = parts_for(ct, N);
        LxArArgs a = {in.f, dcur, n->red, N, (float)(2.0 * alpha / (double)N), 0};
        if ((st = ENQ(ct, K_lx_t_ar, n->nparts_ar, LX_TRAIN_THREADS, LX_TRAIN_THREADS * 8, a))) return st;
      }
      break;
    }
    case OP_DROPOUT:
      if (L->mask) {
        LxLockdropArgs a = {dcur, dcur, L->mask, TB, B, L->out};
        if ((st = ENQ_N(ct, K_lx_t_lockdrop, TB * L->out, a))) return st;
      }
      break;
    case OP_LSTM: {
      int64_t H = L->out;
      if (i == n->last_lstm && beta != 0 && T >= 2) {
        int64_t N = (T - 1) * B * H;
        n->nparts_tar = parts_for(ct, T * B * H);
        LxTarArgs a = {fofs(L->Hall, B * H), dcur, dofs(n->red, LX_TRAIN_MAX_PARTS), T, B * H, (float)(2.0 * beta / (double)N), 0};
        if ((st = ENQ(ct, K_lx_t_tar, n->nparts_tar, LX_TRAIN_THREADS, LX_TRAIN_THREADS * 8, a))) return st;
      }
      CUdeviceptr dst = dcur == n->dA ? n->dB : n->dA;
      if ((st = lstm_backward(n, L, in, T, dcur, dst))) return st;
      dcur = dst;
      break;
    }
    case OP_EMBED: {
      LxEmbedBwdArgs a = {grad(ct, nd->w[W_EMBED]), dcur, n->rowptr, n->rowidx, L->mask, V, L->out};
      int grid = (int)(V < 65535 ? V : 65535);
      int cols = L->out <= 64 ? 64 : L->out <= 128 ? 128 : 256;
      if ((st = ENQ(ct, K_lx_t_embed_bwd, grid < 1 ? 1 : grid, cols, 0, a))) return st;
      break;
    }
    default: LX_BUG("unexpected op in the training network");
    }
  }
  return 0;
}

/* Queues one batch; the loss's partial sums and rows stay on the device until fetch_loss. */
static int queue_step(NetCuda *n, const int32_t *x, const int32_t *y, int64_t T, double alpha, double beta) {
  CudaTrain *ct = n->ct;
  const CudaDevOps *o = OPS(ct);
  int64_t TB = T * n->B, V = n->g->vocab_size;
  int st;
  for (int64_t i = 0; i < TB; i++)
    if (x[i] < 0 || x[i] >= V || y[i] < 0 || y[i] >= V)
      return lx_fail(LSTMC_ERR_DATA, "token id %d outside the vocabulary [0, %lld)", x[i] < 0 || x[i] >= V ? x[i] : y[i],
                     (long long)V);
  if ((st = net_reserve(n, T)) || (st = refresh_bf16(ct))) return st;
  if ((st = o->h2d(ct->dev, n->tok_x, x, (size_t)TB * 4)) || (st = o->h2d(ct->dev, n->tok_y, y, (size_t)TB * 4))) return st;
  if (n->training && (st = upload_embed_rows(n, x, TB))) return st;
  n->nparts_ar = n->nparts_tar = 0;
  if ((st = queue_forward(n, T))) return st;
  return n->training ? queue_backward(n, T, alpha, beta) : 0;
}

/* Waits for the queued batch and sums its loss on the host, in the CPU engine's order. */
static int fetch_loss(NetCuda *n, int64_t T, double alpha, double beta, NetLoss *out) {
  int64_t TB = T * n->B;
  double *r = n->red_host;
  int st = OPS(n->ct)->d2h(n->ct->dev, r, n->red, (size_t)(2 * LX_TRAIN_MAX_PARTS + TB) * 8);
  if (st) return st;
  out->predictions = TB;
  out->nll = 0;
  for (int64_t i = 0; i < TB; i++) out->nll += r[2 * LX_TRAIN_MAX_PARTS + i];
  if (n->nparts_ar) {
    double s = 0;
    for (int i = 0; i < n->nparts_ar; i++) s += r[i];
    out->ar = alpha * s / (double)(TB * n->L[n->dec].in);
  }
  if (n->nparts_tar) {
    double s = 0;
    for (int i = 0; i < n->nparts_tar; i++) s += r[LX_TRAIN_MAX_PARTS + i];
    out->tar = beta * s / (double)((T - 1) * n->B * n->L[n->last_lstm].out);
  }
  return 0;
}

int net_cuda_step(NetCuda *n, const int32_t *x, const int32_t *y, int64_t T, double alpha, double beta, NetLoss *out) {
  memset(out, 0, sizeof *out);
  int st = queue_step(n, x, y, T, alpha, beta);
  return st ? st : fetch_loss(n, T, alpha, beta, out);
}

/* ---- the optimizer step -------------------------------------------------------------------------------- */

int cuda_train_backward(CudaTrain *ct, NetCuda *net, const int32_t *x, const int32_t *y, int64_t T, double ar, double tar,
                        NetLoss *loss) {
  (void)ct;
  memset(loss, 0, sizeof *loss);
  if (!net->training) return lx_fail(LSTMC_ERR_USAGE, "GPU training: a step needs a training network");
  int st = queue_step(net, x, y, T, ar, tar);
  return st ? st : fetch_loss(net, T, ar, tar, loss);
}

/* Queues the update of the gradients the last backward left. */
static int queue_update(CudaTrain *ct, double lr, double base_lr, double clip) {
  int64_t N = ct->total;
  int st;
  if (ct->keep) {
    LxApplyMaskArgs m = {ct->grads, ct->keep, N};
    if ((st = ENQ_N(ct, K_lx_t_apply_mask, N, m))) return st;
  }
  if (comm_size(ct->comm) > 1) {
    if (!ct->comm->device_memory)
      return lx_fail(LSTMC_ERR_USAGE, "GPU training: the communicator '%s' works on host memory, not device buffers", ct->comm->name);
    LxScaleArgs sc = {ct->grads, N, (float)(1.0 / comm_size(ct->comm)), 0};
    if ((st = comm_allreduce_sum(ct->comm, (void *)(uintptr_t)ct->grads, (size_t)N, COMM_F32)) ||
        (st = ENQ_N(ct, K_lx_t_scale, N, sc)))
      return st;
  }
  if (clip > 0) {
    int parts = parts_for(ct, N);
    LxSumsqArgs s = {ct->grads, ct->clip_parts, N};
    LxClipCoefArgs c = {ct->clip_parts, ct->clip_out, ct->clip_out + 8, parts, clip};
    LxClipApplyArgs a = {ct->grads, ct->clip_out + 8, N};
    if ((st = ENQ(ct, K_lx_t_sumsq, parts, LX_TRAIN_THREADS, LX_TRAIN_THREADS * 8, s)) ||
        (st = ENQ(ct, K_lx_t_clip_coef, 1, LX_TRAIN_THREADS, LX_TRAIN_THREADS * 8, c)) || (st = ENQ_N(ct, K_lx_t_clip_apply, N, a)))
      return st;
  }
  LxOptimArgs u;
  memset(&u, 0, sizeof u);
  u.w = ct->params;
  u.g = ct->grads;
  u.s0 = ct->nbuf > 0 ? ct->state[0] : 0;
  u.s1 = ct->nbuf > 1 ? ct->state[1] : 0;
  u.n = N;
  optim_next_coef(ct->opt, lr, base_lr, &u.k);
  if ((st = ENQ_N(ct, K_lx_t_optim, N, u))) return st;
  if (ct->keep) {
    LxApplyMaskArgs m = {ct->params, ct->keep, N};
    if ((st = ENQ_N(ct, K_lx_t_apply_mask, N, m))) return st;
  }
  ct->fwbf_stale = 1;
  return 0;
}

int cuda_train_update(CudaTrain *ct, double lr, double base_lr, double clip) { return queue_update(ct, lr, base_lr, clip); }

int cuda_train_step(CudaTrain *ct, NetCuda *net, const int32_t *x, const int32_t *y, int64_t T, double lr, double base_lr,
                    double clip, double ar, double tar, NetLoss *loss) {
  memset(loss, 0, sizeof *loss);
  if (!net->training) return lx_fail(LSTMC_ERR_USAGE, "GPU training: a step needs a training network");
  int st = queue_step(net, x, y, T, ar, tar);
  if (!st) st = queue_update(ct, lr, base_lr, clip);
  return st ? st : fetch_loss(net, T, ar, tar, loss); /* one wait, for the whole step */
}
