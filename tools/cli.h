/* The CLI's shared pieces: option tables, argument access, and helpers used by the command files
 * (tools/cmd_*.c). Each command is a `Command` in the table of tools/lstmc.c. */
#ifndef LSTMC_TOOLS_CLI_H
#define LSTMC_TOOLS_CLI_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lstmc.h"

typedef struct OptSpec {
  const char *name; /* long name without dashes; a one-letter name is written -x */
  int takes_value;
  const char *help;
} OptSpec;

#define MAX_OPTS 48
#define MAX_POS 4

typedef struct Args {
  const char *cmd;
  const OptSpec *specs;
  const char *values[MAX_OPTS]; /* NULL: not given; "" for flags given */
  const char *pos[MAX_POS];
  int npos;
} Args;

typedef struct Command {
  const char *name;
  const char *usage;
  const char *summary;
  int npos; /* positional arguments required */
  const OptSpec *opts;
  int (*run)(Args *a);
} Command;

/* Parses a command's arguments against its option table; returns 0 or an exit status (2). */
int parse_args(const Command *c, int argc, char **argv, Args *a);
/* Prints "lstmc: MESSAGE" and returns 2 (bad usage). */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "lstmc: error: <lstmc_errmsg()>" and returns the exit status for a failed call (1, or 2 for usage). */
int fail(int status);

const char *arg_str(const Args *a, const char *name);
int arg_flag(const Args *a, const char *name);
/* Typed options with a default and a range: return 0, or print a usage error and return 2. */
int arg_int(const Args *a, const char *name, long long def, long long lo, long long hi, long long *out);
int arg_u64(const Args *a, const char *name, uint64_t def, uint64_t *out);
int arg_double(const Args *a, const char *name, double def, double lo, double hi, double *out);
int require(const Args *a, const char *name);

/* Reads a whole file with malloc (free it); prints the error and returns 1 on failure. */
int read_whole(const char *path, char **data, size_t *len);
/* Writes n with thousands separators. */
void print_count(FILE *f, long long n);
/* Loads the spec (a->pos[0]) and --weights when given (required when need_weights). Returns an exit status. */
int open_model(const Args *a, int need_weights, lstmc_model **m);

/* The executor flags, one row each, for every command that runs a model on an executor (eval, generate,
 * bench); session_opts reads them, with --verbose (PASS_OPTSPECS) and a command's own --batch. */
#define OPT_TARGET {"target", 1, "executor: ref (default), cpu, cuda, systolic"}
#define OPT_THREADS {"threads", 1, "CPU threads (0 = all cores)"}
#define OPT_NO_CACHE {"no-cache", 0, "cuda: do not use the on-disk kernel cache"}
/* The session options of the executor flags a command has (the others keep their defaults), with the
 * systolic array's (SYSTOLIC_OPTSPECS) read into *sys, which so->systolic points at. Returns 0 or prints a
 * usage error and returns 2. */
int session_opts(const Args *a, lstmc_session_opts *so, lstmc_systolic_opts *sys);

/* The pass-pipeline options of commands that run a model's pipeline (ir, eval, generate, report). */
#define PASS_OPTSPECS                                                                                        \
  {"passes", 1, "pass pipeline, replacing the spec's ('' for none)"},                                       \
      {"stats", 0, "per pass: weights kept, groups, conflicts pruned, utilization, bytes"},                 \
      {"time-passes", 0, "seconds per pass"}, {"print-after", 1, "print the IR after each run of pass NAME"}, \
      {"print-after-all", 0, "print the IR after every pass"},                                             \
      {"verify-each", 0, "run the IR verifier after every pass"},                                          \
      {"verbose", 0, "say what runs: skipped default pipelines, kernel compilation, the GPU plan"}
/* Applies --passes (or the spec's pipeline) with the flags above; the API reports failures on stderr.
 * Returns an exit status. */
int apply_passes(const Args *a, lstmc_model *m);
/* The same, with --print-after output writing the values of tensors of at most print_inline weights. */
int apply_passes_inline(const Args *a, lstmc_model *m, int64_t print_inline);

/* IR text written to a file (and by `opt`) holds the values of tensors up to this many weights; larger
 * ones go to the safetensors file beside it (docs/ir.md). */
#define IR_INLINE_DEFAULT 4096

/* Parses an array size "ROWSxCOLS" (each in [1, 65536]); prints a usage error naming cmd and returns 2. */
int parse_array(const char *cmd, const char *text, int *rows, int *cols);

/* The systolic array's options of commands that run or compile for --target systolic (tools/cmd_systolic.c). */
#define SYSTOLIC_OPTSPECS                                                                                       \
  {"array", 1, "systolic: the array, ROWSxCOLS (default 32x32)"},                                            \
      {"alpha", 1, "systolic: inputs each cell multiplexes (default: the model's largest column group)"},    \
      {"wbits", 1, "systolic: weight register bits (default 8)"},                                            \
      {"abits", 1, "systolic: activation bits (default 8)"},                                                 \
      {"accbits", 1, "systolic: accumulator bits, saturating (default 32)"},                                 \
      {"gates", 1, "systolic: the gate unit, exact (default), lut:N or pwl:N"},                              \
      {"load", 1, "systolic: single (default) or double buffered weight loading"},                           \
      {"resident", 1, "systolic: tiles a cell's weight memory holds (default 0: none)"},                     \
      {"gate-latency", 1, "systolic: cycles from a layer's last output to its h as an input (default 0)"},   \
      {"cell-sim", 0, "systolic: step every cell of every cycle (slow; checks the cycle model)"}
/* The array options given (the others unset: the spec's block or the defaults apply). Returns an exit status. */
int systolic_opts_from_args(const Args *a, lstmc_systolic_opts *o);
/* 1 when the command runs for --target systolic. */
int target_is_systolic(const Args *a);
/* After a run on the systolic target: one line on f (the array, cycles per token, utilization, saturations). */
void print_systolic_summary(const lstmc_session *s, FILE *f);

#endif
