/* The systolic-array target: a column-combined, quantized model run as a weight-stationary array of
 * rows × cols cells computes it (Kung, McDanel & Zhang, ASPLOS 2019), with the array's integer arithmetic,
 * its cycle counts, and the images the chip loads. docs/systolic.md describes the model with a worked
 * example; in short:
 *
 *  - a weight matrix (R outputs × C inputs) is stored transposed and packed: one array row per column
 *    group (≤ alpha input columns, multiplexed by each cell's select), one array column per output, cut into
 *    tiles of rows × cols cells, run column block by column block, row blocks inside (SaProduct, SaTile);
 *  - arithmetic (sa_arith.c): the input vector of a product is quantized to abits (the integer contract of
 *    issue 15 for abits = 8), each cell adds level · q[select] to the partial sum flowing down its column,
 *    saturating at accbits, and the accumulator under the column adds the tile's sum, saturating too; then
 *    y = ((float)acc · s_x) · scale and the float LSTM cell of the reference executor, with exact gates or a
 *    fixed-point lookup table / piecewise-linear sigmoid and tanh;
 *  - cycles (sa_cycles.c): per tile, weights shifted in row by row, the input skewed through, partial sums
 *    drained at the bottom; tiles follow one another under single- or double-buffered weight loading, or
 *    with every tile resident in the cells' weight memories, and wait for their input vector (the layer
 *    below, the gate unit's latency). sa_cellsim.c steps every cell of every cycle and checks the tile model
 *    against it;
 *  - images (sa_image.c): `lstmc compile --target systolic -o DIR` writes the tiles' weights, selects and
 *    input routing in the array's order, the scales, biases, embedding and gate tables, with a JSON manifest
 *    holding the schedule; sa_image_read checks every byte of them and rebuilds the program it runs.
 *
 * Memory: an SaProgram owns everything it points to (sa_program_free). */
#ifndef LSTMC_CODEGEN_SYSTOLIC_SYSTOLIC_H
#define LSTMC_CODEGEN_SYSTOLIC_SYSTOLIC_H
#include <stddef.h>
#include <stdint.h>

#include "ir/graph.h"
#include "runtime/exec.h"
#include "support/strbuf.h"

/* ---- the array ------------------------------------------------------------------------------------- */

enum SaGates { SA_GATES_EXACT = 0, SA_GATES_LUT = 1, SA_GATES_PWL = 2 };
enum SaLoad { SA_LOAD_SINGLE = 0, SA_LOAD_DOUBLE = 1 };

/* Limits of the settings (checked by sa_config_check). */
#define SA_MAX_DIM 4096
#define SA_MAX_GATE_N 65536
#define SA_MAX_CYCLES_SETTING (1 << 30)

typedef struct SystolicConfig {
  int rows, cols;      /* cells: array rows (one column group each) × array columns (one output each) */
  int alpha;           /* inputs each cell multiplexes; 0: the largest column group of the model */
  int wbits;           /* weight register bits: the levels must fit (q8 needs 8, q4 4, ternary 2, binary 1) */
  int abits;           /* activation bits: the input vector is quantized to ±(2^(abits-1) − 1) */
  int accbits;         /* partial-sum and accumulator bits, two's complement, saturating */
  int gates, gate_n;   /* SaGates; table entries (lut) or segments (pwl) */
  int load;            /* SaLoad: weights shifted into the cells' registers, or into shadow registers */
  int64_t resident;    /* tiles a cell's weight memory holds; when the model's tiles fit, they are loaded
                          once and stay (0: no weight memory) */
  int64_t gate_latency; /* cycles from a layer's last accumulator to its h being ready as an input */
  int cell_sim;        /* compute every product by stepping every cell (sa_cellsim.c): slow, for checks */
} SystolicConfig;

/* 32×32, alpha from the model, 8-bit weights and activations, 32-bit accumulators, exact gates, single
 * buffering, no weight memory, no gate latency. */
void sa_config_default(SystolicConfig *c);
/* Checks the ranges; LSTMC_ERR_USAGE naming the setting otherwise. */
int sa_config_check(const SystolicConfig *c);
/* "exact", "lut:N" or "pwl:N" → kind and N. 0 or LSTMC_ERR_USAGE. */
int sa_gates_parse(const char *text, int *kind, int *n);
/* "single" or "double". 0 or LSTMC_ERR_USAGE. */
int sa_load_parse(const char *text, int *load);
/* The gate unit as text ("exact", "lut:16"); buf of at least 24 bytes. */
const char *sa_gates_text(int kind, int n, char *buf, size_t size);
const char *sa_load_name(int load);
/* Sets what the public options set (fields left unset keep c's values; include/lstmc.h). 0 or
 * LSTMC_ERR_USAGE (a bad gate unit or loading name, a negative setting); the ranges are sa_config_check's. */
int sa_config_apply(SystolicConfig *c, const lstmc_systolic_opts *o);
/* One line: "32x32 alpha=8 wbits=8 abits=8 accbits=32 gates=exact load=single resident=0 gate_latency=0". */
void sa_config_describe(const SystolicConfig *c, StrBuf *out);

/* ---- the program: the model as the array holds it ---------------------------------------------------- */

/* One weight matrix: R outputs (array columns) × G column groups (array rows), tiled rows × cols. */
typedef struct SaProduct {
  char *name;            /* the weight tensor's name */
  int64_t rows, cols;    /* R outputs, C inputs */
  int64_t ngroups;       /* G packed columns */
  int32_t *group_off;    /* [G + 1] */
  int32_t *group_cols;   /* [group_off[G]]: the input columns of each group, ascending */
  int8_t *level;         /* [R * G], row-major by output: the weight level (0 where empty) */
  uint8_t *sel;          /* [R * G]: position in the group, or LX_SEL_EMPTY */
  float *scale;          /* [R] */
  int enc;               /* the source tensor's encoding (q8, q4, ternary, binary) */
  int max_group;         /* largest group */
  int64_t nnz;           /* nonzero weights: the useful MACs per input vector */
  int64_t first_tile, ntiles; /* its tiles in SaProgram.tiles */
  int64_t row_blocks, col_blocks;
  int may_saturate;      /* an accumulator can leave the accbits range (then the ordered path runs) */
  /* the fast kernel's layout (sa_arith.c), NULL when it does not apply */
  uint8_t *kidx;
  int8_t *kw;
  int32_t *kcorr;        /* [16 · kblocks_r]: 128 · Σ levels of each row (the VNNI kernel's offset) */
  int64_t kblocks_r, kquads; /* 16-row blocks, 4-group quads */
  int kentries;          /* table entries per group: 4, 8 or 16 */
} SaProduct;

/* A tile: array rows [row_block·rows, +a) are the product's groups, array columns [col_block·cols, +b)
 * its outputs. */
typedef struct SaTile {
  int32_t product;
  int32_t row_block, col_block;
  int32_t a, b;
} SaTile;

/* What a product's first tile waits for. */
enum SaInput { SA_IN_TOKEN = 0, SA_IN_LAYER_BELOW = 1, SA_IN_OWN_STATE = 2 };

typedef struct SaLayer {
  int64_t in, hidden;
  int32_t w_ih, w_hh;    /* product indices */
  float *b_ih, *b_hh;    /* [4 hidden] */
} SaLayer;

typedef struct SaGateTables {
  int kind, n;
  int16_t *sigmoid, *tanh; /* Q2.14: lut n entries, pwl n + 1 points; NULL for exact */
} SaGateTables;

typedef struct SaProgram {
  SystolicConfig cfg;    /* alpha resolved */
  char *model;           /* the model's name */
  char *pipeline;        /* the pipeline its weights went through ("" when none) */
  int64_t vocab, embed_dim;
  float *embed;          /* [vocab * embed_dim]: each token's embedding as the array receives it */
  int nlayers;
  SaLayer *layers;
  int32_t dec;           /* the decoder's product */
  float *b_dec;          /* [vocab] */
  SaProduct *products;   /* in schedule order: w_hh then w_ih of each layer, then the decoder */
  int nproducts;
  SaTile *tiles;         /* in schedule order */
  int64_t ntiles;
  SaGateTables gt;
} SaProgram;

/* Builds the program of a graph whose weights are loaded: every LSTM and decoder matrix must be quantized
 * (q8, q4, ternary, binary) and packed, grouped without conflicts, or without groups (each nonzero column a
 * group of one). cfg->alpha 0 takes the largest group. LSTMC_ERR_UNSUPPORTED naming the tensor for what
 * the array cannot hold (float weights, conflicts, groups wider than alpha, levels wider than wbits). */
int sa_program_build(const Graph *g, const SystolicConfig *cfg, SaProgram **out);
void sa_program_free(SaProgram *p);
/* Lays out tiles, saturation bounds, fast-kernel layouts and gate tables from the products and cfg (the
 * image reader calls it after filling products). 0 or NOMEM. */
int sa_program_finish(SaProgram *p);
/* What product p's first tile waits for (SaInput) and, for SA_IN_LAYER_BELOW / SA_IN_OWN_STATE, the
 * layer whose h it is. */
int sa_product_input(const SaProgram *p, int product, int *layer);
/* 1 when two programs hold the same array, shapes, weights, selects, routing, scales, biases, embedding
 * and tables, bit for bit (the image round trip). */
int sa_program_equal(const SaProgram *a, const SaProgram *b);

/* ---- arithmetic (sa_arith.c) --------------------------------------------------------------------------- */

/* The contract's steps 1–3 at abits: q[c] = clamp(nearbyintf(x[c] · inv), ±Q), Q = 2^(abits−1) − 1,
 * inv = Q / amax, *s_x = amax / Q (q = 0 and s_x = 0 when amax is 0). */
void sa_quantize(const float *x, int64_t n, int abits, int16_t *q, float *s_x);
/* Saturation to accbits bits, two's complement. *sat is incremented when the value was clipped. */
static inline int64_t sa_saturate(int64_t v, int accbits, int64_t *sat) {
  int64_t hi = ((int64_t)1 << (accbits - 1)) - 1, lo = -hi - 1;
  if (v > hi) return (*sat)++, hi;
  if (v < lo) return (*sat)++, lo;
  return v;
}
/* The product's accumulators for one quantized input vector, in the array's order: tile by tile (column
 * blocks outer), each cell adding level · q[select] to the partial sum coming down (saturating), each
 * tile's column sum added to the accumulator (saturating). Returns the saturations. */
int64_t sa_product_acc_ordered(const SaProduct *pr, const SystolicConfig *c, const int16_t *q, int64_t *acc);
/* The same accumulators by whichever path is fastest and exact: a SIMD kernel when one applies (no
 * accumulator can saturate, abits ≤ 8, groups ≤ 16; AVX-512 VNNI or AVX2), else the ordered path. `tables`
 * is scratch of sa_kernel_table_bytes(pr). Returns the saturations. */
int64_t sa_product_acc(const SaProduct *pr, const SystolicConfig *c, const int16_t *q, uint8_t *tables, int64_t *acc);
size_t sa_kernel_table_bytes(const SaProduct *pr);
/* Builds pr->kidx/kw when the kernel applies to the product under c (pr->may_saturate set first). */
int sa_kernel_layout(SaProduct *pr, const SystolicConfig *c);
/* "avx512-vnni", "avx2" or "portable" (the ordered path): what sa_product_acc runs on this CPU. */
const char *sa_kernel_name(void);
/* Test hook: run this kernel (one of the names above, if the CPU has it) instead of the best; NULL: the
 * best again. 0, or -1 for a kernel this CPU cannot run. */
int sa_kernel_select(const char *name);

/* Gate unit tables for kind/n (none for exact). 0 or NOMEM. */
int sa_gates_build(SaGateTables *t, int kind, int n);
void sa_gates_free(SaGateTables *t);
/* The LSTM cell from the gate pre-activations acc[4H] (i, f, g, o) through the gate unit. */
void sa_lstm_cell(const SaGateTables *t, const double *acc, int64_t H, float *h, float *c);
/* The gate unit's sigmoid and tanh (exact: the C library's, in double). */
double sa_sigmoid(const SaGateTables *t, double x);
double sa_tanh(const SaGateTables *t, double x);

/* ---- cycles (sa_cycles.c) ---------------------------------------------------------------------------- */

/* When one tile's events happen, in cycles from the start of the run. */
typedef struct SaTileTime {
  int64_t load;     /* its weights start shifting in (single: the cells' registers; double: the shadows) */
  int64_t swap;     /* double buffering: the shadows become the weights (all cells at once) */
  int64_t start;    /* its first input vector enters array row 0 */
  int64_t last_mac; /* the last cell multiplies */
  int64_t done;     /* its last output is in the accumulator (first cycle it can be read) */
} SaTileTime;

/* Per tile: the cycle its first input enters row 0 is T; vector v enters row i at T + v + i and meets the
 * weight of cell (i, j) at T + v + i + j; its column j leaves the bottom row at T + v + rows − 1 + j. */
static inline int64_t sa_tile_span(int64_t a, int64_t b, int64_t n) { return n + a + b - 2; }
static inline int64_t sa_tile_drain(int64_t rows, int64_t b, int64_t n) { return n + rows + b - 2; }

typedef struct SaCycleStats {
  int64_t tiles;              /* per token */
  int64_t cycles_per_token;   /* steady state of a stream whose tokens are known (eval, scoring) */
  int64_t gen_cycles_per_token; /* steady state when each token waits for the previous token's logits */
  int64_t first_token_cycles; /* from an empty array to the first token's logits */
  int64_t busy, weight_stall, data_stall; /* cycles_per_token split: tiles occupying the array, waiting for
                                             weights, waiting for an input vector */
  int64_t load_cycles;        /* cycles per token the weight port shifts */
  int64_t preload_cycles;     /* resident: loading every tile once, before the first token */
  int resident;               /* 1 when the tiles fit the weight memories and stay there */
  int64_t macs;               /* useful multiplies per token (nonzero weights × streams) */
  int64_t cells;              /* rows · cols */
  double utilization;         /* macs / (cells · cycles_per_token · streams) */
  double tile_utilization;    /* macs / (cells · tiles · streams) */
  int64_t streams;
} SaCycleStats;

/* The tile schedule of `ntokens` tokens of `streams` streams (each tile takes the streams' vectors back to
 * back), from an empty array: times[ntokens · ntiles]. gen: each token's first product waits for the
 * previous token's logits. 0 or NOMEM. */
int sa_schedule(const SaProgram *p, int64_t streams, int64_t ntokens, int gen, SaTileTime *times);
/* Cycles per token, stalls and utilization, from the schedule. 0 or NOMEM. */
int sa_cycle_stats(const SaProgram *p, int64_t streams, SaCycleStats *out);
/* Per product and in total, as text or JSON (one object); saturations < 0: not known. */
void sa_cycle_report(const SaProgram *p, const SaCycleStats *s, int64_t saturations, int json, StrBuf *out);

/* ---- the cell-by-cell simulation (sa_cellsim.c) --------------------------------------------------------- */

/* One product instance to simulate: its quantized inputs for each stream and where the accumulators go. */
typedef struct SaCellJob {
  int token;           /* 0.. */
  int product;
  const int16_t *q;    /* [streams * cols] */
  int64_t *acc;        /* [streams * rows]: out */
} SaCellJob;

typedef struct SaCellResult {
  int64_t cycles;      /* the last accumulator write + 1 */
  int64_t hazards;     /* wrong-tile weights, unready inputs, collisions: 0 for a valid schedule */
  char first_hazard[160];
  int64_t saturations;
  int64_t macs;        /* multiplies by a nonzero weight */
  int64_t *done;       /* [ntokens * nproducts]: when the product's last accumulator was written + 1 */
} SaCellResult;

/* Steps every cell of the array through the given schedule (times[ntokens · ntiles], as sa_schedule makes
 * it, or altered by a test) for ntokens tokens of `streams` streams, with jobs[ntokens · nproducts] in
 * schedule order. Checks every multiply against the tile the data belongs to, every feed against the time
 * its input vector was ready (from the accumulators' own write times and gate_latency), and the feeders
 * and load port against collisions. on_done (may be NULL) is called when a product's last accumulator is
 * written, before any later cycle: the executor computes the layer's cell there and quantizes the vector
 * that later products are fed. res->done is allocated (lx_free). 0 or NOMEM. */
int sa_cellsim_run(const SaProgram *p, int64_t streams, int ntokens, const SaTileTime *times, SaCellJob *jobs,
                   void (*on_done)(void *ctx, int64_t token, int product), void *ctx, SaCellResult *res);

/* ---- the executor (sa_exec.c) -------------------------------------------------------------------------- */

extern const ExecVtbl systolic_exec_vtbl;
/* An executor running a program it owns (the image runner). Takes p (freed with the executor, also on
 * failure). */
int sa_exec_create_program(SaProgram *p, int batch, Executor **out);
/* The program of a systolic executor, or NULL for another executor. */
const SaProgram *sa_exec_program(const Executor *e);
/* Cycle statistics of a systolic executor (for its batch), and the saturations counted so far. */
int sa_exec_stats(const Executor *e, SaCycleStats *out, int64_t *saturations);

/* ---- images (sa_image.c) ------------------------------------------------------------------------------- */

/* Writes the program's images and manifest into dir (created if missing). 0, IO or NOMEM. */
int sa_image_write(const SaProgram *p, const char *dir);
/* Where the reader gets a file's bytes: a folder, or memory (the fuzz target). */
typedef struct SaImageSource {
  /* 0 and the whole file in *data (lx_free it), or LSTMC_ERR_IO with a message naming it */
  int (*read)(void *ctx, const char *name, uint8_t **data, size_t *len);
  void *ctx;
  const char *where; /* the folder, for messages */
} SaImageSource;
/* Reads and checks an image set; every inconsistency is LSTMC_ERR_FORMAT naming the file and the place
 * (tile, cell, JSON member). */
int sa_image_read(const SaImageSource *src, SaProgram **out);
int sa_image_read_dir(const char *dir, SaProgram **out);

#endif
