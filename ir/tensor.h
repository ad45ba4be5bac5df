/* Weight tensors. A tensor is a 1-D or 2-D array of weights in one of lstmc's formats: a layout (dense,
 * masked, column-packed) times a value encoding (f32, bf16, q8, q4, ternary, binary). ir/layout.h
 * describes the bytes; this file owns them and gives every format a scalar reference decode and matvec,
 * which are the oracle for the CPU and CUDA kernels.
 *
 * Memory: a Tensor owns all its buffers (lx_free'd by tensor_free). */
#ifndef LSTMC_IR_TENSOR_H
#define LSTMC_IR_TENSOR_H
#include <stddef.h>
#include <stdint.h>

#include "ir/layout.h"

typedef struct Tensor {
  char *name;
  int ndim;       /* 1 or 2 */
  int64_t rows;   /* shape[0] */
  int64_t cols;   /* shape[1]; 1 for 1-D tensors */
  int layout;     /* enum lx_layout */
  int enc;        /* enum lx_enc */
  int64_t nslots; /* value slots per row: cols, or groups when packed */
  size_t stride;  /* bytes per row of codes: lx_row_bytes(enc, nslots) */
  uint8_t *codes; /* rows * stride bytes */
  float *scale;   /* [rows] when lx_enc_has_scale(enc), else NULL */
  uint8_t *mask;  /* masked layout: rows * mask_stride bytes, else NULL */
  size_t mask_stride;
  /* Column groups: always present in the packed layout; a dense or masked matrix may carry them too
   * ("grouped, not yet packed": column-combine attaches them, conflict-prune packs). group_off == NULL
   * means no groups. Columns outside every group are all zero. */
  int64_t ngroups;
  int32_t *group_off;  /* [ngroups + 1] */
  int32_t *group_cols; /* [group_off[ngroups]] column indices, ascending within a group */
  uint8_t *sel;        /* packed only: [rows * ngroups] position inside the group, or LX_SEL_EMPTY */
  int alpha, block;    /* the column-combining parameters that built the groups (0: unknown) */
  double gamma;
} Tensor;

/* Format names, from the table of encodings (LX_ENCODINGS, ir/layout.h): "dense_f32", "dense_bf16", "q8",
 * "q4", "ternary", "binary" (dense layout); "masked", "masked_bf16", "masked_q8", ... (masked); "cc_packed",
 * "cc_bf16", "cc_q8", ... (packed). */
const char *format_name(int layout, int enc);
/* Parses a format name; returns 0 and sets layout/enc, or -1. */
int format_parse(const char *name, int *layout, int *enc);
const char *enc_name(int enc); /* "f32", "bf16", "q8", "q4", "ternary", "binary" */

/* A new dense f32 tensor, zero-filled. ndim 1: shape [rows]; ndim 2: [rows, cols]. NULL on OOM (errmsg set). */
Tensor *tensor_new_f32(const char *name, int ndim, int64_t rows, int64_t cols);
/* A tensor with buffers allocated (zeroed) for the given layout/encoding; for the packed layout `ngroups`
 * and `ngroup_cols` (total columns in groups) size the group arrays. NULL on OOM. */
Tensor *tensor_new(const char *name, int ndim, int64_t rows, int64_t cols, int layout, int enc, int64_t ngroups,
                   int64_t ngroup_cols);
void tensor_free(Tensor *t);
Tensor *tensor_clone(const Tensor *t);

static inline float *tensor_f32(const Tensor *t) { return (float *)(void *)t->codes; }
static inline int tensor_is_dense_f32(const Tensor *t) { return t->layout == LX_LAYOUT_DENSE && t->enc == LX_ENC_F32; }
static inline int tensor_has_groups(const Tensor *t) { return t->group_off != NULL; }
/* Gives a 2-D tensor without groups zeroed group arrays of ngroups (≥ 0) groups over ngroup_cols columns
 * (group_off[ngroups] is set); for a dense or masked tensor this makes it grouped. 0 or NOMEM. */
int tensor_alloc_groups(Tensor *t, int64_t ngroups, int64_t ngroup_cols);
/* Copies src's column groups and their parameters into t (same shape; t must have none). 0 or NOMEM. */
int tensor_copy_groups(Tensor *t, const Tensor *src);
/* Conflicts of a grouped tensor: Σ over groups and rows of max(nonzeros in the row's group − 1, 0) —
 * the weights conflict-prune will drop. 0 for a packed tensor (one weight per row and group). */
int64_t tensor_conflicts(const Tensor *t);

/* Scalar reference decoding: the weight at (r, c), and row r expanded to cols floats. */
float tensor_get(const Tensor *t, int64_t r, int64_t c);
void tensor_row_to_f32(const Tensor *t, int64_t r, float *out);
/* The whole tensor as dense row-major floats (caller lx_free's). NULL on OOM. */
float *tensor_to_f32(const Tensor *t);
/* Writes the unscaled level of slot `slot` of row r (for F32/BF16 the value; for Q8/Q4/TERNARY/BINARY an
 * integer the encoding can hold: -127..127, -7..7, -1..1, ±1). The inverse of lx_decode_level. */
void tensor_set_level(Tensor *t, int64_t r, int64_t slot, float level);
/* Reference matvec with double accumulation: y[r] += Σ_c W[r,c] · x[c] for r in [0, rows). */
void tensor_matvec_ref(const Tensor *t, const float *x, double *y);

/* Number of weights that are nonzero after decoding. */
int64_t tensor_nnz(const Tensor *t);
/* Bytes of storage: codes + scales + masks + group structure. */
size_t tensor_bytes(const Tensor *t);
/* First element that is NaN or ±Inf after decoding: returns 1 and sets *r, *c; 0 if all finite. */
int tensor_find_nonfinite(const Tensor *t, int64_t *r, int64_t *c);
/* Checks the internal invariants of the layout (groups disjoint and in range, sel in range, …).
 * Returns 0 or an LSTMC_ERR_* with a message naming the tensor. */
int tensor_check(const Tensor *t);

/* bf16 from f32, round to nearest even (NaN stays NaN). */
uint16_t f32_to_bf16(float f);

#endif
