/* lstmc — public C API.
 *
 * Conventions (as in SQLite and Lua):
 *  - Handles are opaque. Every function that can fail returns an lstmc_status; on failure
 *    lstmc_errmsg() returns one message for the last failure on the calling thread, naming the file and
 *    place where the user's input was wrong.
 *  - Ownership is written beside each function. Destructors accept NULL.
 *  - Nothing here aborts on bad input or on allocation failure.
 *  - lstmc never writes to stdout or stderr: whatever else it has to say (diagnostics, warnings, the
 *    reports options ask for) goes to the message handler the caller installs, and nowhere without one.
 */
#ifndef LSTMC_H
#define LSTMC_H

#include <signal.h>
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

/* ---- messages ----------------------------------------------------------------------------------------
 * The second half of the error channel. A call that fails returns its status and sets lstmc_errmsg();
 * everything else lstmc has to say comes as messages: the diagnostics of a spec or pipeline (every error
 * found, each with file:line:col, the source line and a caret — lstmc_errmsg() then gives the first),
 * warnings (the reference executor runs instead of the one asked for, the kernel cache cannot be used),
 * notes, and the reports that options ask for (pass statistics, timings and IR dumps, verbose lines of the
 * compilers and executors). Each message is complete lines, each ending in '\n', ready to print as they
 * are: the CLI writes them to stderr. */
typedef enum lstmc_message_kind {
  LSTMC_MSG_ERROR = 0,   /* a diagnostic of an error; the call reporting it fails */
  LSTMC_MSG_WARNING = 1, /* lstmc does something other than asked and goes on */
  LSTMC_MSG_NOTE = 2,    /* what lstmc decided or did: a pipeline not applied again, a file written */
  LSTMC_MSG_REPORT = 3   /* output an option asked for: --stats, --time-passes, --print-after, verbose */
} lstmc_message_kind;

/* Receives one message. text is valid during the call only. Called on the thread of the lstmc call that
 * has something to say. */
typedef void (*lstmc_message_fn)(void *ctx, lstmc_message_kind kind, const char *text);
/* Installs the handler of every thread's messages, with ctx passed back to it; NULL (the default): no
 * output. Process-wide: install it before other lstmc calls, not while another thread is inside one. */
void lstmc_set_message_handler(lstmc_message_fn fn, void *ctx);

/* ---- models ------------------------------------------------------------------------------------------
 * A model is a checked spec lowered to the IR, plus (once loaded or initialized) its weights and
 * vocabulary. */
typedef struct lstmc_model lstmc_model;

/* Parses and checks a .lstm spec, and its pipelines. A malformed spec is LSTMC_ERR_PARSE with every error
 * found reported as a message (LSTMC_MSG_ERROR, with file:line:col, the source line and a caret);
 * lstmc_errmsg() gives the first. On success *out is a new model (free it with lstmc_model_free); on
 * failure *out is NULL. */
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
  int stats;               /* per pass: weights kept, groups, conflicts pruned, utilization, bytes (a report) */
  int time_passes;         /* seconds per pass (a report) */
  int verify_each;         /* run the IR verifier after every pass */
  const char *print_after; /* report the IR after every run of this pass; NULL: never */
  int print_after_all;
  int training;            /* a training graph: weight-drop keeps the DropConnect */
  int verbose;             /* a note when the spec's pipeline is not applied again */
  const char *source;      /* the name of the pipeline text in messages (NULL: "pipeline"); the CLI says "--passes" */
  int64_t print_inline;    /* printed IR writes the values of tensors of at most this many weights (0: summaries) */
} lstmc_pass_opts;

/* Runs a pass pipeline over the model's loaded weights. `pipeline` is text such as
 * "prune{sparsity=0.8},column-combine{alpha=8,gamma=0.5},conflict-prune,quantize{bits=8}" ("" runs
 * nothing), or NULL for the spec's `passes` line — which is not applied when the loaded weights record a
 * pipeline already (metadata lstmc.pipeline; with stats or verbose set, a note says so). The text that ran
 * is appended to the model's record, which lstmc_model_save_weights writes. Every failure is reported as
 * a message (LSTMC_MSG_ERROR), with its place and pipeline position when it has one ("--passes:1:20:
 * error: pass 2 (column-combine): …", the source line and a caret), else as "lstmc: error: MESSAGE";
 * lstmc_errmsg() gives the first. A failing pass leaves the weights as the pass before it made them. opts
 * may be NULL. */
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

/* Reads a model from IR text. Malformed text is LSTMC_ERR_PARSE with every error reported as a message
 * (LSTMC_MSG_ERROR, with file:line:col, the source line and a caret); lstmc_errmsg() gives the first. The graph is verified. External tensors are read from the
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
  int verbose;        /* report what the executor compiles and plans (messages) */
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
/* The executor the session runs on: "ref", "cpu" or "cuda" — "ref" after a fallback (which a warning
 * reported). Static storage. */
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
 * A model with its weights as ahead-of-time code, after whatever pipeline ran on it.
 *   cpu:  a standalone object file with the weights embedded and a C API in its header (create a state,
 *         reset, step a token to logits, sample, free), linking with only libc and libm.
 *   cuda: the CUDA module lstmc would run for the model — source, PTX or cubin — planned for the GPU present
 *         or for an architecture named (NVRTC needs no GPU), with a header describing its launch contract and
 *         optionally the packed weight images its kernels read. */
typedef struct lstmc_compile_opts {
  const char *target;   /* "cpu", "cuda" or "systolic" (NULL: cpu) */
  const char *emit;     /* cpu: "obj" (default), "asm" or "llvm"; cuda: "cuda" (source, default), "ptx" or "cubin";
                           systolic: "images" (the only one: output is a folder of array images + manifest.json) */
  const char *output;   /* the file to write */
  const char *header;   /* cpu: the C header of the object's API; cuda: the launch contract; NULL: none */
  int verbose;          /* report the phases' times (cpu), the GPU plan and NVRTC's log (cuda) as messages */
  /* cpu */
  const char *name;     /* prefix of the API's symbols (NULL: the header's file name, else the output's,
                           without directory and extension, made a C identifier) */
  const char *cpu;      /* "native" (NULL: the host CPU and its features) or an LLVM CPU name */
  const char *features; /* with a named CPU: LLVM features ("+avx2,+fma"); none: portable vector code */
  /* cuda (0 or NULL: the default) */
  const char *arch;     /* "sm_90", "compute_90", "90" or "9.0" (NULL: the GPU's; without one sm_90, with a note) */
  int sms;              /* multiprocessors to plan for, 1..4096 (default: the GPU's or the architecture's) */
  int smem;             /* shared memory per block to plan for, bytes, 1024..2^30 (likewise) */
  int threads;          /* threads per block of the persistent kernel, a multiple of 32 in 32..1024 (512) */
  int batch;            /* streams of the batched kernel, 1..8 (1) */
  const char *blob;     /* also write the packed weight images here (the blob, then the decoder's) */
  int no_cache;         /* neither read nor write the on-disk kernel cache */
  /* systolic */
  const struct lstmc_systolic_opts *systolic; /* the array (NULL: the spec's `systolic` block, else defaults) */
} lstmc_compile_opts;

/* Checks the options that need no model (the target; for cuda, what to emit, the architecture and the
 * sizes), so that a caller can report them before loading one; lstmc_model_compile checks them again.
 * LSTMC_ERR_USAGE for a bad option, LSTMC_ERR_UNSUPPORTED for a target not built into this lstmc. */
int lstmc_compile_check(const lstmc_compile_opts *o);
/* Compiles a model whose weights are loaded into the files o names. Fails with LSTMC_ERR_UNSUPPORTED when
 * lstmc was built without the target's backend (cpu needs LLVM), LSTMC_ERR_NODEVICE when cuda is to emit
 * PTX or cubin and NVRTC is missing. Files are written as each is made: a failure can leave the earlier
 * ones (the output before the header). */
int lstmc_model_compile(const lstmc_model *m, const lstmc_compile_opts *o);

/* ---- training ----------------------------------------------------------------------------------------
 * lstmc_train runs AWD-LSTM training over a spec's train block (docs/train.md): batches, validation after
 * every epoch, the block's prune_at pipelines, a checkpoint per epoch that a later call resumes bit for bit,
 * an optional CSV log, and the final weights. It prints nothing: what a run has to say comes as events
 * through opts->on_event, and the caller decides what to show of it (the CLI draws a progress bar on a
 * terminal and plain lines elsewhere). */

typedef enum lstmc_train_event_kind {
  LSTMC_TRAIN_START = 1,   /* set up (data read, weights made or loaded): training begins or resumes */
  LSTMC_TRAIN_PIPELINE,    /* a prune_at pipeline ran at the start of an epoch */
  LSTMC_TRAIN_PROGRESS,    /* a batch is done; once more with `last` set when the epoch's batches are */
  LSTMC_TRAIN_EPOCH,       /* an epoch is done and validated (its log line is made; its checkpoint follows) */
  LSTMC_TRAIN_CHECKPOINT,  /* a checkpoint was written */
  LSTMC_TRAIN_LIMIT,       /* max_steps or max_seconds was reached inside an epoch: a checkpoint and the
                              validation follow, then STOPPED */
  LSTMC_TRAIN_STOPPED,     /* the run stops early (after LIMIT); the final weights follow */
  LSTMC_TRAIN_INTERRUPTED, /* *stop was set: the checkpoint is written and lstmc_train returns
                              LSTMC_ERR_INTERRUPTED without writing the final weights */
  LSTMC_TRAIN_EXPORTED,    /* the final weights went through the schedule's structures (and quantizer) */
  LSTMC_TRAIN_DONE         /* the final weights are written */
} lstmc_train_event_kind;

/* Why a run stopped before its last epoch (event field `reason`). */
enum { LSTMC_TRAIN_MAX_STEPS = 1, LSTMC_TRAIN_MAX_SECONDS = 2 };

/* One event. The first group of fields is set for every kind; the others for the kinds named beside them
 * (0 or NULL otherwise). Strings are owned by lstmc and valid during the callback only. */
typedef struct lstmc_train_event {
  lstmc_train_event_kind kind;
  int64_t epoch;        /* the epoch in progress, from 1; at an epoch's end the next one (epochs + 1 after the
                           last), except in EPOCH: the one that ended */
  int64_t epochs;       /* epochs in all */
  uint64_t step;        /* optimizer steps taken in all, over resumed runs too */
  double elapsed;       /* seconds since training began (START; the setup before it is not counted) */
  const char *unit;     /* what a token is in rates: "chars" (bytes and chars models) or "words" */

  /* START */
  const char *model;      /* the model's name */
  const char *data;       /* the training text's path */
  const char *optimizer;  /* "adam (lr 0.002, beta1 0.9, …)" */
  const char *kernel;     /* the engine's matrix kernel ("avx2+fma", "portable"; cuda: the GPU and precision) */
  int64_t tokens;         /* training tokens */
  int64_t vocab_size;
  int64_t streams;        /* the batch: streams stepped together */
  int64_t steps_per_epoch;/* tokens per stream */
  int threads;            /* threads the engine runs on (0: a GPU, named by kernel) */
  int resumed;            /* 1 when continuing from opts->resume */

  /* PROGRESS */
  double fraction;      /* of the epoch's batches done, 0 to 1 */
  double tokens_per_s;  /* PROGRESS, DONE: training tokens per second of this call's batches (0: none yet) */
  double eta;           /* seconds left to the end of the run or the max_seconds budget; NaN while unknown */
  int last;             /* 1 for the report after the epoch's last batch */

  /* PROGRESS (the epoch so far), EPOCH (the whole epoch): mean cross-entropy without AR/TAR */
  double loss;          /* in nats; NaN before the first batch */
  double bpc;           /* in bits (loss / ln 2) */

  /* EPOCH */
  double valid_bpc;     /* EPOCH, STOPPED, EXPORTED, DONE: validation BPC (NaN without validation data) */
  double lr;            /* the epoch's learning rate (before the seq_len/bptt scaling) */
  double sparsity;      /* EPOCH, PIPELINE: the fraction of zero weights in all matrices */
  double seconds;       /* EPOCH: the epoch's time (batches, pipelines, validation); PIPELINE: the pipeline's;
                           DONE: the elapsed time */
  double pass_seconds;  /* EPOCH: the epoch's time in pipelines */

  /* PIPELINE */
  int pipeline;         /* which prune_at entry of the train block, from 1 */

  /* LIMIT, STOPPED */
  int reason;           /* LSTMC_TRAIN_MAX_STEPS or LSTMC_TRAIN_MAX_SECONDS */

  /* CHECKPOINT, STOPPED, INTERRUPTED: the checkpoint's path; DONE: the final weights' */
  const char *path;

  /* EXPORTED */
  const char *pipelines; /* the pipelines the exported weights went through (NULL when none is recorded) */
  double float_bpc;      /* the validation BPC of the float master weights (valid_bpc is the exported ones') */
} lstmc_train_event;

typedef struct lstmc_train_options {
  const char *data, *valid; /* training and validation text (NULL: the train block's `data` / `valid`) */
  const char *out;          /* the final weights (.safetensors); required */
  const char *checkpoint;   /* NULL: `out` with ".safetensors" replaced by ".ckpt.safetensors" */
  const char *resume;       /* a checkpoint to continue from, or NULL */
  const char *log;          /* a CSV file rewritten after every epoch (one line each), or NULL */
  const char *init;         /* initial weights (and vocabulary), any format, or NULL for random ones; not with resume */
  const char *target;       /* the engine: "cpu" (NULL means cpu) or "cuda" (one GPU; docs/train.md) */
  const char *precision;    /* cuda: "f32" (NULL means f32: no TF32) or "bf16" (bf16 products, fp32 master
                               weights) */
  int64_t epochs;           /* epochs in all; 0: the train block's */
  double max_seconds;       /* 0: no limit; else stop at the first batch boundary after this much training time */
  int64_t max_steps;        /* 0: no limit; else stop after this many optimizer steps in all */
  int threads;              /* CPU threads; 0: every core. Results do not depend on it. */
  /* Called on the training thread for every event (may be NULL). */
  void (*on_event)(const lstmc_train_event *e, void *ctx);
  void *ctx;
  /* When set (by a SIGINT handler, say) the run stops at the next batch boundary with a checkpoint. May be NULL. */
  volatile sig_atomic_t *stop;
} lstmc_train_options;

typedef struct lstmc_train_result {
  double valid_bpc;     /* of the weights written; NaN without validation data */
  double train_loss;    /* the mean cross-entropy (nats) of the last epoch this call completed */
  int64_t epochs_done;  /* epochs completed by this call */
  uint64_t steps;       /* optimizer steps in all */
  double seconds;       /* wall time from the START event to the end */
  double tokens_per_s;  /* training tokens per second of this call's batches */
  int interrupted;      /* stopped by *stop: the checkpoint was written, `out` was not */
} lstmc_train_result;

/* Trains the model of spec_path as its train block says, with opts (`out` is required; NULL opts is a usage
 * error). Returns 0 when the run finished — also when max_seconds or max_steps stopped it: the
 * checkpoint and `out` are written — or a status with lstmc_errmsg(): LSTMC_ERR_INTERRUPTED when *stop was
 * set (the message names the checkpoint to resume from); LSTMC_ERR_PARSE for a malformed spec or schedule,
 * whose diagnostics (file:line:col, source line, caret) went to the message handler. *result (may be NULL) is
 * filled as far as the run got. Everything lstmc_train allocates is freed before it returns. */
int lstmc_train(const char *spec_path, const lstmc_train_options *opts, lstmc_train_result *result);

/* Draws the curves of a training log (the CSV that lstmc_train writes) — train and validation BPC against the
 * epoch — as out_path's extension says: ".svg" or ".png" (LSTMC_ERR_UNSUPPORTED when lstmc was built without
 * libpng). title NULL: the log's file name. Returns 0, or LSTMC_ERR_IO, LSTMC_ERR_FORMAT (not a training
 * log), LSTMC_ERR_USAGE (another extension). */
int lstmc_plot(const char *log_path, const char *out_path, const char *title);

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
