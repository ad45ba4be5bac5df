/* The backend registry: every backend lstmc has (codegen/backends.def), found by name or target, with its
 * two entry points — the executor (runtime/exec.h's ExecVtbl), created here with its `supports` check and
 * the reference fallback, and the ahead-of-time compiler of lstmc_model_compile (CompileVtbl). The runtime
 * and the public API use backends through this table without naming one; it is the one place that lists
 * them. */
#ifndef LSTMC_CODEGEN_BACKEND_H
#define LSTMC_CODEGEN_BACKEND_H
#include "lstmc.h"
#include "runtime/exec.h"

typedef enum ExecTarget {
#define BACKEND(e, name, exec, compiler, built, missing) TARGET_##e,
#include "codegen/backends.def"
#undef BACKEND
  TARGET_COUNT
} ExecTarget;

/* A backend's ahead-of-time compiler: `lstmc compile --target NAME` (include/lstmc.h's lstmc_compile_opts
 * holds the options of every backend; each reads its own). */
typedef struct CompileVtbl {
  /* Checks the options that need no model, so that a caller can report them before loading one; NULL:
   * none. Returns 0 or LSTMC_ERR_USAGE. */
  int (*check)(const lstmc_compile_opts *o);
  /* Compiles g (weights loaded, options checked) into the files o names. spec_path (the spec's, or the IR
   * file's) names the model in what is written; eo holds the settings the target runs the model with (for
   * systolic, the array), as a session on it would get them. NULL: the backend makes no ahead-of-time code. */
  int (*compile)(const Graph *g, const char *spec_path, const lstmc_compile_opts *o, const ExecOptions *eo);
} CompileVtbl;

/* The compiler of a backend that makes no ahead-of-time code (backends.def's `no_compiler`). */
extern const CompileVtbl no_compiler;

/* "ref", "cpu", "cuda"; "?" for an unknown target. */
const char *target_name(int target);
/* Sets *target from a name; LSTMC_ERR_USAGE with the list of names otherwise. */
int target_parse(const char *name, int *target);
/* The table of a target, or NULL when the target was not built in (e.g. no LLVM). */
const ExecVtbl *exec_backend(int target);
/* Creates an executor for o->target, checking `supports` first; with o->allow_fallback a graph the
 * backend cannot take runs on the reference executor instead, with a warning. */
int exec_create(const Graph *g, const ExecOptions *o, Executor **out);
/* The compiler of the target named o->target (NULL: the first backend that compiles), with o checked by its
 * `check`. LSTMC_ERR_USAGE for a target that makes no ahead-of-time code, LSTMC_ERR_UNSUPPORTED for one
 * not built in; messages start "compile: ". */
int compile_backend(const lstmc_compile_opts *o, const CompileVtbl **out);

#endif
