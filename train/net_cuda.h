/* AWD-LSTM training on a CUDA device: the GPU counterpart of train/net.h (the network) and of train_step
 * (clipping, the optimizer, pruning masks), with the CPU engine's semantics, so that one step on the GPU
 * equals one on the CPU to float rounding and a run can move between the two through checkpoints.
 *
 * Two objects:
 *   - a CudaTrain holds one device, the compiled training kernels (codegen/cuda/dev_train.h), cuBLAS, and
 *     the model's state on the device: the master weights, gradients, optimizer state and pruning masks,
 *     each as one flat buffer (every slot at an aligned offset), so that clipping, the optimizer and the
 *     masks are one kernel each over all parameters;
 *   - a NetCuda is the network for one batch size (net.h's Net): activations, dropout and weight-drop
 *     masks, the carried recurrent state. A training net and an evaluation net share their CudaTrain's
 *     weights.
 *
 * One step: the input projections of a layer over the whole window, the decoder and all weight gradients
 * are single cuBLAS GEMMs; the recurrent product is one GEMM per time step, between the cell kernels;
 * element-wise and row-wise work (embedding, dropout, cell, softmax cross-entropy, AR, TAR, bias sums)
 * are the training kernels. Masks are drawn on the device from the same counter-based seeds as net.c,
 * bit for bit. Everything is queued on the device's one stream; the host waits once per step, for the
 * loss.
 *
 * Precision: fp32 by default, cuBLAS without TF32. CUDA_TRAIN_BF16 multiplies bf16 copies of the GEMM
 * operands (the forward weights, converted after each update, and the activations and gradients the
 * products read) with fp32 accumulation and fp32 results; master weights, optimizer state and all
 * element-wise work stay fp32.
 *
 * Data parallelism: with a communicator of several ranks (support/comm.h, device buffers), the gradients
 * are averaged over the ranks before clipping, one GPU per rank.
 *
 * Host copies: the graph's dense f32 tensors and the host Optim (cuda_train_optim) are the staging area
 * for checkpoints and passes: cuda_train_download fills them from the device, cuda_train_upload sends
 * them back.
 *
 * Memory: a CudaTrain owns its device (closed by cuda_train_free), its Optim and every device buffer; it
 * borrows the Graph, which must outlive it. A NetCuda borrows its CudaTrain. */
#ifndef LSTMC_TRAIN_NET_CUDA_H
#define LSTMC_TRAIN_NET_CUDA_H
#include <stdint.h>

#include "codegen/cuda/cuda_exec.h"
#include "ir/graph.h"
#include "support/comm.h"
#include "train/net.h"
#include "train/optim.h"

typedef struct CudaTrain CudaTrain;
typedef struct NetCuda NetCuda;

enum { CUDA_TRAIN_F32 = 0, CUDA_TRAIN_BF16 = 1 };

typedef struct CudaTrainOptions {
  int precision; /* CUDA_TRAIN_F32 or CUDA_TRAIN_BF16 */
  int no_cache;  /* compile the kernels without the kernel cache */
  int verbose;   /* report the compilation on stderr */
} CudaTrainOptions;

/* Compiles the training kernels for dev (which it takes over: closed on failure too), allocates the flat
 * buffers for g's weights (dense f32, every slot loaded) and uploads them; the optimizer starts fresh (its
 * host state can be replaced through cuda_train_optim + cuda_train_upload). */
int cuda_train_create(Graph *g, CudaDev *dev, const OptimConfig *oc, const CudaTrainOptions *o, CudaTrain **out);
void cuda_train_free(CudaTrain *ct); /* accepts NULL */
CudaDev *cuda_train_device(CudaTrain *ct);
/* The host Optim: its scalars drive every step; its buffers are the staging area of the device state. */
Optim *cuda_train_optim(CudaTrain *ct);

/* Graph tensors and the host Optim's buffers → device (after a checkpoint restore or a pass). */
int cuda_train_upload(CudaTrain *ct);
/* Device → graph tensors and the host Optim's buffers (before a checkpoint, a pass, an export). */
int cuda_train_download(CudaTrain *ct);
/* Pruning masks (1 = kept) per slot, NULL entries where nothing is pruned, NULL for none at all:
 * gradients are masked before clipping and weights after every update, as train_step does. */
int cuda_train_set_prune_masks(CudaTrain *ct, uint8_t *const *masks);
/* The weights the forward pass reads for slot s (host floats, copied), for QAT's straight-through
 * estimator; NULL: the master weights again. */
int cuda_train_set_forward_weights(CudaTrain *ct, int slot, const float *w);
/* Gradients averaged over c's ranks before clipping (NULL or one rank: none). Borrowed. */
void cuda_train_set_comm(CudaTrain *ct, Comm *c);
/* Rank 0's weights to every rank (before the first step of a data-parallel run). */
int cuda_train_broadcast_weights(CudaTrain *ct);

/* ---- the network (net.h's calls) ----------------------------------------------------------------- */

int net_cuda_create(CudaTrain *ct, int64_t batch, int training, NetCuda **out);
void net_cuda_free(NetCuda *n); /* accepts NULL */
int64_t net_cuda_batch(const NetCuda *n);
int net_cuda_num_lstm(const NetCuda *n);
int64_t net_cuda_lstm_hidden(const NetCuda *n, int l);
int net_cuda_reset_state(NetCuda *n);
/* The carried state of LSTM layer l, [B·H] floats each (checkpoints). */
int net_cuda_get_state(NetCuda *n, int l, float *h, float *c);
int net_cuda_set_state(NetCuda *n, int l, const float *h, const float *c);
/* Draws this batch's masks on the device, the very values net_draw_masks draws for (seed, step). */
int net_cuda_draw_masks(NetCuda *n, uint64_t seed, uint64_t step);
/* A mask as net.h's net_mask_* name it, copied to host floats; LSTMC_ERR_USAGE when there is none. */
int net_cuda_get_mask(NetCuda *n, int op, int k, float *out);
/* One batch, as net_step: the loss, and in a training net the gradient of every slot (on the device). */
int net_cuda_step(NetCuda *n, const int32_t *x, const int32_t *y, int64_t T, double alpha, double beta, NetLoss *out);
/* The gradient of slot s as the last step left it (before clipping), copied to host floats. */
int net_cuda_grad(NetCuda *n, int slot, float *out);

/* One optimizer step, as train_step: net_cuda_step on a net whose masks are drawn, the pruning masks on
 * the gradients, the average over ranks, clipping by global norm (clip 0: none), the update at lr, the
 * pruning masks on the weights. One wait for the device, at the end. */
int cuda_train_step(CudaTrain *ct, NetCuda *net, const int32_t *x, const int32_t *y, int64_t T, double lr, double base_lr,
                    double clip, double ar, double tar, NetLoss *loss);
/* The same in two halves (the engine interface's backward and update): forward and backward with the loss
 * (waits for the device); then the update of those gradients, queued (the host goes on with the next batch
 * while it runs; a failure shows at the next wait). */
int cuda_train_backward(CudaTrain *ct, NetCuda *net, const int32_t *x, const int32_t *y, int64_t T, double ar, double tar,
                        NetLoss *loss);
int cuda_train_update(CudaTrain *ct, double lr, double base_lr, double clip);

#endif
