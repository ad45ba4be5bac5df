/* Planning a model onto a GPU: which block owns which hidden units, which weight rows stay in shared
 * memory and which stream from L2, where everything sits in shared memory, and the weight images that
 * the kernels read ("blobs"). The plan is a pure function of the graph, the device's size (SMs, shared
 * memory per block) and the batch, so the generated source — and the kernel cache key — is too.
 *
 * Blobs. Each block has one blob: small parts first (the gate biases b_ih + b_hh of its rows, the row
 * scales of quantized encodings, the group tables of packed tensors), then one record per local row
 * k = gate * nu + j (hidden unit u0 + j, PyTorch row gate * H + u0 + j): the W_ih record (layers > 0), then
 * the W_hh record. A record is the row's codes, then (masked) its mask bits, then (packed) its select
 * bytes, each part padded to 16 bytes (ir/layout.h defines the bytes). The blob's first `res` bytes — the
 * small parts and whole rows — are copied to shared memory at launch; the rest is read from global memory.
 * The decoder has its own blob: bias [V], scales, group table, then V records.
 *
 * Memory: a CudaPlan owns its arrays; cuda_plan_free releases it. */
#ifndef LSTMC_CODEGEN_CUDA_PLAN_H
#define LSTMC_CODEGEN_CUDA_PLAN_H
#include <stddef.h>
#include <stdint.h>

#include "ir/graph.h"

/* What the plan needs to know about the device. */
typedef struct CudaDeviceInfo {
  int arch;         /* compute capability major*10+minor */
  int sms;          /* multiprocessors: at most one persistent block each */
  int smem_optin;   /* shared memory one block may use (bytes) */
  int l2_bytes;     /* for the report only */
  int threads;      /* threads per block of the persistent kernel wanted (a multiple of 32); the plan
                     * may take fewer, down to 256, so that wide rows keep x in registers */
  char name[128];
} CudaDeviceInfo;

/* The byte layout of one row record of a weight tensor. */
typedef struct CudaFmt {
  int layout, enc;
  int act_bits;          /* 8: int8 activations (ir/qdot.h), the kernels' integer path */
  int nslots;            /* value slots per row: cols, or groups when packed */
  int ngroups, ngcols;   /* packed: groups and columns in groups */
  int scaled;            /* a per-row scale */
  int mask_off, sel_off; /* inside the record (0 when absent) */
  int rec;               /* bytes per record, a multiple of 16 */
  int gtab_ints;         /* packed: ngroups + 1 + ngcols */
} CudaFmt;

typedef struct CudaLayerPlan {
  int node;             /* graph node index */
  int H, I;             /* hidden size, input size */
  const Tensor *w_ih, *w_hh, *b_ih, *b_hh;
  CudaFmt ih, hh;       /* ih.rec is 0 for layer 0 (its input projection is the table) */
  int nblk, blk0, numax;
  int bias_off, sih_off, shh_off, gih_off, ghh_off; /* in the block's blob (and shared memory); -1: none */
  int rows_off;
  size_t inloop_bytes;  /* record bytes of all its rows */
} CudaLayerPlan;

typedef struct CudaBlockPlan {
  int layer, u0, nu;
  size_t blob_off;      /* in the concatenated blob */
  int blob_bytes, res;  /* res: resident bytes (small parts and whole rows) */
  int rows_resident;
} CudaBlockPlan;

typedef struct CudaPlan {
  int nl, nb, threads, bmax, ring_depth, ndec;
  int V, E, hmax, hlast;
  CudaLayerPlan *layers;
  CudaBlockPlan *blocks;
  size_t blob_bytes;
  /* the decoder */
  const Tensor *w_dec, *b_dec, *w_embed, *w_ih0;
  CudaFmt dec;
  int dec_bias_off, dec_scale_off, dec_g_off, dec_rows_off;
  size_t dec_bytes;
  /* shared memory (bytes) */
  int res_max, numax, gstride, xs_hh, xs_in;
  int sm_xhh, sm_xin, sm_ghh, sm_gih, sm_c, sm_misc, sm_rng, sm_bytes;
  int sample_smem, sample_bytes; /* sampler scratch in shared memory (at sm_xhh) or global memory */
  /* device buffers (elements) */
  size_t table_floats, state_floats, ring_floats, flag_words;
  /* report */
  size_t inloop_bytes, resident_bytes;
  CudaDeviceInfo dev;
} CudaPlan;

/* Plans g (weights loaded, verified) for the device and up to `batch` streams (1..8). Returns 0, or
 * LSTMC_ERR_UNSUPPORTED with a message naming the reason (a size the kernels cannot take). */
int cuda_plan_build(const Graph *g, const CudaDeviceInfo *dev, int batch, CudaPlan **out);
void cuda_plan_free(CudaPlan *p);
/* The blob images, as the plan lays them out (lx_free both). */
int cuda_plan_pack(const CudaPlan *p, uint8_t **blob, uint8_t **dec);
/* x floats a lane keeps in registers at this many threads per block (LX_XREG in the generated source). */
int cuda_plan_xreg(int threads);
/* A few lines: blocks per layer, resident and streamed bytes, shared memory. */
void cuda_plan_describe(const CudaPlan *p, StrBuf *out);

/* Defaults of known architectures, for planning without a device (`lstmc compile`): SMs and the opt-in
 * shared memory per block of the largest part (A100 SXM: 108, 163 KB; H100 SXM: 132, 227 KB). 0 when
 * arch is unknown. */
int cuda_device_defaults(int arch, CudaDeviceInfo *out);

#endif
