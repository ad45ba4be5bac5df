/* The backend registry: every executor lstmc has (codegen/backends.def), found by name or target, and the
 * one entry that creates an executor with its `supports` check and the reference fallback. The runtime
 * defines the executor interface (runtime/exec.h) without knowing which backends exist; this table is
 * the one place that lists them. */
#ifndef LSTMC_CODEGEN_BACKEND_H
#define LSTMC_CODEGEN_BACKEND_H
#include "runtime/exec.h"

typedef enum ExecTarget {
#define BACKEND(e, name, vtbl, built, missing) TARGET_##e,
#include "codegen/backends.def"
#undef BACKEND
  TARGET_COUNT
} ExecTarget;

/* "ref", "cpu", "cuda"; "?" for an unknown target. */
const char *target_name(int target);
/* Sets *target from a name; LSTMC_ERR_USAGE with the list of names otherwise. */
int target_parse(const char *name, int *target);
/* The table of a target, or NULL when the target was not built in (e.g. no LLVM). */
const ExecVtbl *exec_backend(int target);
/* Creates an executor for o->target, checking `supports` first; with o->allow_fallback a graph the
 * backend cannot take runs on the reference executor instead, with a warning. */
int exec_create(const Graph *g, const ExecOptions *o, Executor **out);

#endif
