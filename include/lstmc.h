/* lstmc — public C API.
 *
 * Conventions (as in SQLite and Lua):
 *  - Handles are opaque. Every function that can fail returns an lstmc_status; on failure
 *    lstmc_errmsg() returns one message for the last failure on the calling thread, naming the file and
 *    place where the user's input was wrong.
 *  - Ownership is written beside each function. Destructors accept NULL.
 *  - Nothing here aborts on bad input or on allocation failure.
 */
#ifndef LSTMC_H
#define LSTMC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LSTMC_VERSION "0.1.0"

typedef enum lstmc_status {
  LSTMC_OK = 0,
  LSTMC_ERR_USAGE = 1,       /* bad arguments or options */
  LSTMC_ERR_PARSE = 2,       /* malformed spec or pipeline text */
  LSTMC_ERR_IO = 3,          /* a file could not be read or written */
  LSTMC_ERR_FORMAT = 4,      /* a weights/checkpoint file is malformed or lies about itself */
  LSTMC_ERR_SHAPE = 5,       /* shapes disagree between spec and weights, or between tensors */
  LSTMC_ERR_VALUE = 6,       /* NaN/Inf weights, out-of-range values */
  LSTMC_ERR_DATA = 7,        /* input text cannot be tokenized with the model's vocabulary */
  LSTMC_ERR_NOMEM = 8,       /* out of memory, or a declared size over the memory cap */
  LSTMC_ERR_UNSUPPORTED = 9, /* the executor or pass cannot take this graph or format */
  LSTMC_ERR_NODEVICE = 10,   /* no GPU, or a CUDA library is missing */
  LSTMC_ERR_BACKEND = 11,    /* a code generator, compiler or driver call failed */
  LSTMC_ERR_INTERRUPTED = 12 /* stopped by a signal (state was saved) */
} lstmc_status;

/* The message of the last failure on this thread. Owned by lstmc; valid until the next call. */
const char *lstmc_errmsg(void);
/* A short name for a status ("parse error", ...). Static storage. */
const char *lstmc_status_name(int status);

/* ---- models ------------------------------------------------------------------------------------------
 * A model is a checked spec lowered to the IR, plus (once loaded or initialized) its weights and
 * vocabulary. */
typedef struct lstmc_model lstmc_model;

/* Parses and checks a .lstm spec. Diagnostics (every error found, with file:line:col, the source line and
 * a caret) go to stderr; lstmc_errmsg() gives the first. On success *out is a new model (free it with
 * lstmc_model_free); on failure *out is NULL. */
int lstmc_model_load(const char *spec_path, lstmc_model **out);
/* Destroys a model. Accepts NULL. Sessions made from it must be freed first. */
void lstmc_model_free(lstmc_model *m);
/* Loads weights (and the vocabulary) from a safetensors file; shapes are checked against the spec. */
int lstmc_model_load_weights(lstmc_model *m, const char *weights_path);
/* PyTorch-style random initialization, with the vocabulary built from a text file (chars, words) or
 * fixed (bytes; vocab_text_path may then be NULL). */
int lstmc_model_init_weights(lstmc_model *m, const char *vocab_text_path, uint64_t seed);
/* Writes weights, formats and vocabulary to a safetensors file, atomically (temp file, fsync, rename). */
int lstmc_model_save_weights(const lstmc_model *m, const char *path);
/* The IR as text. *text is allocated; release it with lstmc_free. */
int lstmc_model_ir(const lstmc_model *m, char **text);

typedef struct lstmc_model_info {
  const char *name;       /* owned by the model */
  const char *vocab_kind; /* "bytes", "chars" or "words"; static */
  int64_t vocab_size;     /* 0 while unknown */
  int num_lstm;
  int64_t params;           /* -1 while the vocabulary size is unknown */
  int64_t params_fixed;     /* parameters that do not depend on the vocabulary */
  int64_t params_per_vocab; /* parameters per vocabulary entry */
  int has_weights;
  /* Bytes of weights one step reads, as stored in their formats: every LSTM and decoder tensor with its
   * bias, and one row of the embedding (the whole of it when the decoder is tied to it). 0 without
   * weights. What `lstmc bench` divides by to give GB/s. */
  int64_t step_bytes;
} lstmc_model_info;
int lstmc_model_get_info(const lstmc_model *m, lstmc_model_info *out);

/* Splits text into token ids with the model's vocabulary. `name` is used in messages (unknown token at
 * byte offset …). *ids is allocated; release with lstmc_free. */
int lstmc_tokenize(const lstmc_model *m, const char *text, size_t len, const char *name, int32_t **ids, int64_t *n);

/* Pass pipelines (docs/passes.md). */
typedef struct lstmc_pass_opts {
  int stats;               /* per pass: weights kept, groups, conflicts pruned, utilization, bytes (stderr) */
  int time_passes;         /* seconds per pass (stderr) */
  int verify_each;         /* run the IR verifier after every pass */
  const char *print_after; /* print the IR after every run of this pass (stderr); NULL: never */
  int print_after_all;
  int training;            /* a training graph: weight-drop keeps the DropConnect */
  int verbose;             /* say on stderr when the spec's pipeline is not applied again */
  const char *source;      /* the name of the pipeline text in messages (NULL: "pipeline"); the CLI says "--passes" */
  int64_t print_inline;    /* printed IR writes the values of tensors of at most this many weights (0: summaries) */
} lstmc_pass_opts;

/* Runs a pass pipeline over the model's loaded weights. `pipeline` is text such as
 * "prune{sparsity=0.8},column-combine{alpha=8,gamma=0.5},conflict-prune,quantize{bits=8}" ("" runs
 * nothing), or NULL for the spec's `passes` line — which is not applied when the loaded weights record a
 * pipeline already (metadata lstmc.pipeline; with stats or verbose set, stderr says so). The text that ran
 * is appended to the model's record, which lstmc_model_save_weights writes. Every failure is reported on
 * stderr, with its place and pipeline position when it has one ("--passes:1:20: error: pass 2
 * (column-combine): …", the source line and a caret); lstmc_errmsg() gives the first message. A failing
 * pass leaves the weights as the pass before it made them. opts may be NULL. */
int lstmc_model_apply_passes(lstmc_model *m, const char *pipeline, const lstmc_pass_opts *opts);
/* The pipeline applied to the model's weights (recorded in the file or run since), or NULL when none.
 * Owned by the model; valid until its weights or pipeline change. */
const char *lstmc_model_pipeline(const lstmc_model *m);
/* The pass registry as text: every pass, its summary, its options with ranges and defaults. *text is
 * allocated; release with lstmc_free. */
int lstmc_passes_list(char **text);
/* A systolic-array report of the model's matrix products as they are now (run the pipeline first): per
 * matrix and in total, tiles before and after column combining, utilization and cycles per timestep on an
 * array of array_rows × array_cols cells (cost model in docs/passes.md); text or one JSON object.
 * *text is allocated; release with lstmc_free. */
int lstmc_model_report(const lstmc_model *m, int array_rows, int array_cols, int json, char **text);

/* ---- the IR's text form (docs/ir.md) -------------------------------------------------------------------
 * What `lstmc ir` prints reads back: a model's nodes and weights, with the values of small tensors written
 * out and larger ones in a safetensors file beside the text. `lstmc opt` runs passes on it. */

/* Reads a model from IR text. Diagnostics (every error, with file:line:col, the source line and a caret) go
 * to stderr; lstmc_errmsg() gives the first. The graph is verified. External tensors are read from the
 * safetensors file the text's `weights` line names (relative to the text's folder). The model has no spec:
 * lstmc_model_apply_passes with a NULL pipeline runs nothing. On failure *out is NULL. */
int lstmc_model_load_ir(const char *ir_path, lstmc_model **out);
/* The IR as text, with the values of every tensor of at most inline_max weights written out (the others as
 * summaries, which do not read back); inline_max 0 gives lstmc_model_ir's text. Release *text with
 * lstmc_free. */
int lstmc_model_ir_text(const lstmc_model *m, int64_t inline_max, char **text);
/* Writes the IR text to path, atomically: tensors of at most inline_max weights inline, the others in a
 * safetensors file beside it (NAME.ir → NAME.safetensors; written only when needed). lstmc_model_load_ir
 * reads both back exactly. */
int lstmc_model_write_ir(const lstmc_model *m, const char *path, int64_t inline_max);

/* Releases memory that lstmc allocated for the caller. Accepts NULL. */
void lstmc_free(void *p);

/* ---- sessions ----------------------------------------------------------------------------------------
 * A session runs a model on one executor and keeps its recurrent state. It borrows the model, which must
 * outlive it. */
typedef struct lstmc_session lstmc_session;

struct lstmc_systolic_opts;

typedef struct lstmc_session_opts {
  const char *target; /* "ref" (default), "cpu", "cuda" or "systolic" */
  int threads;        /* CPU threads; 0 = all cores */
  int no_cache;       /* CUDA: do not use the on-disk kernel cache */
  int verbose;        /* report compilation and fallbacks on stderr */
  int batch;          /* independent streams stepped together (0 or 1: one); see lstmc_session_step_batch */
  /* target "systolic": the array (NULL: the spec's `systolic` block, else the defaults); borrowed for the
   * call only. A model the array cannot hold fails with LSTMC_ERR_UNSUPPORTED (no fallback). */
  const struct lstmc_systolic_opts *systolic;
} lstmc_session_opts;

/* opts may be NULL (reference executor). */
int lstmc_session_create(const lstmc_model *m, const lstmc_session_opts *opts, lstmc_session **out);
void lstmc_session_free(lstmc_session *s);
/* Zeroes the recurrent state. */
void lstmc_session_reset(lstmc_session *s);
/* Feeds one token; writes vocab_size logits (caller's buffer). Needs a session of one stream. */
int lstmc_session_step(lstmc_session *s, int32_t token, float *logits);
/* Feeds one token to each of the session's `batch` streams (tokens[batch]) and writes logits[batch][V]
 * (caller's buffers). */
int lstmc_session_step_batch(lstmc_session *s, const int32_t *tokens, float *logits);
/* The executor the session runs on: "ref", "cpu" or "cuda" — "ref" after a fallback (which was reported
 * on stderr). Static storage. */
const char *lstmc_session_executor(const lstmc_session *s);

typedef struct lstmc_eval_result {
  double bpc;          /* mean cross-entropy in bits per token (per character for bytes/chars models) */
  double nll;          /* summed cross-entropy in nats */
  int64_t tokens;      /* tokens in the text */
  int64_t predictions; /* tokens - 1 */
  double seconds;
  double tokens_per_s;
} lstmc_eval_result;

/* Scores a token stream from a zero state (batch 1, state carried across the whole stream): each token
 * after the first is predicted from those before it. */
int lstmc_session_eval(lstmc_session *s, const int32_t *ids, int64_t n, lstmc_eval_result *out);

typedef struct lstmc_gen_opts {
  const char *prime;  /* text fed first (NULL or "": a newline if the vocabulary has one, else token 0) */
  int64_t length;     /* tokens to generate */
  double temperature; /* > 0; 0 = greedy */
  int top_k;          /* 0 = no cut */
  uint64_t seed;
  /* Called with the text of each generated token as it comes (may be NULL). */
  void (*on_text)(const char *text, size_t len, void *ctx);
  void *ctx;
} lstmc_gen_opts;

/* Generates text from a zero state. Deterministic for a given seed and executor. *text (may be NULL)
 * receives the generated text without the prime; release with lstmc_free. */
int lstmc_session_generate(lstmc_session *s, const lstmc_gen_opts *opts, char **text);

/* ---- compilation -------------------------------------------------------------------------------------
 * A model with its weights as a standalone object file: the weights embedded, a C API in the header
 * (create a state, reset, step a token to logits, sample, free), linking with only libc and libm. */
typedef struct lstmc_compile_opts {
  const char *target;   /* "cpu" (NULL means cpu), or "systolic": output is then a folder of array images */
  const char *emit;     /* "obj" (default), "asm" or "llvm" */
  const char *output;   /* the file to write */
  const char *header;   /* the C header to write, or NULL */
  const char *name;     /* prefix of the API's symbols (NULL: the header's file name, else the output's,
                           without directory and extension, made a C identifier) */
  const char *cpu;      /* "native" (NULL: the host CPU and its features) or an LLVM CPU name */
  const char *features; /* with a named CPU: LLVM features ("+avx2,+fma"); none: portable vector code */
  int verbose;          /* print the phases' times to stderr */
  const struct lstmc_systolic_opts *systolic; /* target "systolic": the array (NULL: spec's block, defaults) */
} lstmc_compile_opts;

/* Compiles a model whose weights are loaded. Fails with LSTMC_ERR_UNSUPPORTED when lstmc was built without
 * the LLVM CPU backend. */
int lstmc_model_compile(const lstmc_model *m, const lstmc_compile_opts *o);

/* ---- systolic arrays (docs/systolic.md) ----------------------------------------------------------------
 * The systolic target runs a quantized, column-combined model as a weight-stationary array of rows × cols
 * cells computes it: its integer arithmetic (saturation included), its cycles, and the images the chip
 * loads. A setting left unset comes from the spec's `systolic { … }` block, else from the defaults: 32×32,
 * alpha as the model's largest column group, 8-bit weights and activations, 32-bit accumulators, exact
 * gates, single-buffered weight loading, no weight memory, no gate latency. */
typedef struct lstmc_systolic_opts {
  int rows, cols;        /* cells (0: unset) */
  int alpha;             /* inputs each cell multiplexes (0: unset) */
  int wbits, abits, accbits; /* weight register, activation and accumulator bits (0: unset) */
  const char *gates;     /* the gate unit: "exact", "lut:N" (N-entry tables) or "pwl:N" (N segments); NULL: unset */
  const char *load;      /* "single" or "double" buffered weight loading; NULL: unset */
  int64_t resident;      /* tiles each cell's weight memory holds (0: none); -1: unset */
  int64_t gate_latency;  /* cycles from a layer's last accumulator to its h as an input; -1: unset */
  int cell_sim;          /* 1: step every cell of every cycle (slow; checks the cycle model while it runs) */
} lstmc_systolic_opts;

/* Sets every field to unset. */
void lstmc_systolic_opts_init(lstmc_systolic_opts *o);

typedef struct lstmc_systolic_stats {
  int rows, cols, alpha;         /* the array as it runs (alpha resolved) */
  int64_t streams;               /* the session's batch: each tile takes every stream's vector */
  int64_t tiles;                 /* per token */
  int64_t cycles_per_token;      /* steady state of a stream whose tokens are known (as eval runs); with
                                    several streams, per step (a token of each) */
  int64_t gen_cycles_per_token;  /* steady state when each token waits for the previous token's logits */
  int64_t first_token_cycles;    /* from an empty array to the first logits */
  int64_t busy_cycles, weight_stall_cycles, data_stall_cycles; /* cycles_per_token split */
  int64_t load_cycles;           /* per token, shifting weights in */
  int64_t preload_cycles;        /* resident weights: loading them all once */
  int resident;                  /* 1 when every tile stays in the cells' weight memories */
  int64_t macs;                  /* useful multiplies per token (nonzero weights × streams) */
  double utilization;            /* macs / (cells × cycles_per_token) */
  double tile_utilization;       /* macs / (cells × tiles × streams) */
  int may_saturate;              /* 1 when some accumulator can leave its range */
  int64_t saturations;           /* partial sums and accumulators clipped so far */
} lstmc_systolic_stats;

/* Cycle statistics of a session on the systolic target; LSTMC_ERR_USAGE for another target. */
int lstmc_session_systolic_stats(const lstmc_session *s, lstmc_systolic_stats *out);
/* The array, per product and in total: groups, tiles, utilization, cycles per token, stalls; text or one
 * JSON object. *text is allocated; release it with lstmc_free. */
int lstmc_session_systolic_report(const lstmc_session *s, int json, char **text);

/* Images written by `lstmc compile --target systolic -o DIR` (lstmc_model_compile), read back and run as the
 * chip would: the same arithmetic and logits as a systolic session with the same array. */
typedef struct lstmc_systolic_image lstmc_systolic_image;
/* Reads DIR's manifest and images and checks every byte (sizes, checksums, ranges, the tiles' coverage and
 * order); LSTMC_ERR_FORMAT naming the file and place when anything is off. */
int lstmc_systolic_image_open(const char *dir, lstmc_systolic_image **out);
void lstmc_systolic_image_free(lstmc_systolic_image *img);
int64_t lstmc_systolic_image_vocab_size(const lstmc_systolic_image *img);
/* Zeroes the recurrent state. */
void lstmc_systolic_image_reset(lstmc_systolic_image *img);
/* Feeds one token; writes vocab_size logits (caller's buffer). */
int lstmc_systolic_image_step(lstmc_systolic_image *img, int32_t token, float *logits);

/* ---- charts -----------------------------------------------------------------------------------------------
 * Points and lines as SVG or PNG (the drawing `lstmc plot` uses for training curves; `lstmc sweep` plots
 * BPC against cycles per token with it). */
typedef struct lstmc_chart_series {
  const char *name;          /* legend entry */
  const double *x, *y;       /* n points; non-finite ones (and x ≤ 0 on a logarithmic axis) are skipped */
  const char *const *labels; /* NULL, or a short text beside each point */
  int n;
  int lines;                 /* 1: connect the points in order; 0: markers only */
} lstmc_chart_series;

typedef struct lstmc_chart {
  const char *title, *xlabel, *ylabel;
  int logx;                  /* logarithmic x axis */
  const lstmc_chart_series *series;
  int nseries;
} lstmc_chart;

/* Writes the chart to path (.svg, or .png when lstmc was built with libpng). */
int lstmc_chart_write(const lstmc_chart *c, const char *path);

#ifdef __cplusplus
}
#endif
#endif
