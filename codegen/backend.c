/* The backend registry (codegen/backends.def): executor creation and the compiler of a target. */
#include "codegen/backend.h"

#include <stdio.h>
#include <string.h>

#include "support/err.h"

#define BACKEND(e, name, exec, compiler, built, missing) extern const ExecVtbl exec; extern const CompileVtbl compiler;
#include "codegen/backends.def"
#undef BACKEND

const CompileVtbl no_compiler = {NULL, NULL};

typedef struct Backend {
  const char *name;
  const ExecVtbl *vt;            /* NULL when not built */
  const CompileVtbl *compiler;   /* NULL when not built */
  const char *compiler_name;     /* "no_compiler" for a backend that makes no ahead-of-time code */
  const char *missing;
} Backend;

/* A table that is not built is never linked: its address is taken only under a true condition. */
#define BACKEND_VT_0(vtbl) NULL
#define BACKEND_VT_1(vtbl) &vtbl
#define BACKEND_VT_(b, vtbl) BACKEND_VT_##b(vtbl)
#define BACKEND_VT(b, vtbl) BACKEND_VT_(b, vtbl)

static const Backend backends[TARGET_COUNT] = {
#define BACKEND(e, name, exec, compiler, built, missing) \
  {name, BACKEND_VT(built, exec), BACKEND_VT(built, compiler), #compiler, missing},
#include "codegen/backends.def"
#undef BACKEND
};

/* Whether a backend compiles ahead of time, built here or not. */
static int compiles(int t) { return strcmp(backends[t].compiler_name, "no_compiler") != 0; }

const char *target_name(int t) { return t >= 0 && t < TARGET_COUNT ? backends[t].name : "?"; }

int target_parse(const char *name, int *t) {
  for (int i = 0; i < TARGET_COUNT; i++)
    if (!strcmp(name, backends[i].name)) {
      *t = i;
      return 0;
    }
  char list[256] = "";
  for (int i = 0; i < TARGET_COUNT; i++) {
    size_t n = strlen(list);
    snprintf(list + n, sizeof list - n, "%s%s", i == 0 ? "" : i + 1 == TARGET_COUNT ? " or " : ", ", backends[i].name);
  }
  return lx_fail(LSTMC_ERR_USAGE, "unknown target '%s' (expected %s)", name, list);
}

const ExecVtbl *exec_backend(int target) { return target >= 0 && target < TARGET_COUNT ? backends[target].vt : NULL; }

int exec_create(const Graph *g, const ExecOptions *o, Executor **out) {
  *out = NULL;
  if (!graph_has_weights(g)) return lx_fail(LSTMC_ERR_USAGE, "the model has no weights loaded");
  const ExecVtbl *vt = exec_backend(o->target);
  if (!vt) {
    if (o->target >= 0 && o->target < TARGET_COUNT) return lx_fail(LSTMC_ERR_UNSUPPORTED, "%s", backends[o->target].missing);
    return lx_fail(LSTMC_ERR_UNSUPPORTED, "target '%s' is not built into this lstmc", target_name(o->target));
  }
  int st = vt->supports(g, o);
  if (st == LSTMC_ERR_UNSUPPORTED && o->allow_fallback && vt != &ref_exec_vtbl) {
    /* never silently: the user asked for another executor */
    lx_message(LSTMC_MSG_WARNING, "lstmc: warning: %s; running on the reference executor instead\n", lstmc_errmsg());
    ExecOptions ref = *o;
    ref.target = TARGET_REF;
    return ref_exec_vtbl.create(g, &ref, out);
  }
  if (st) return st;
  return vt->create(g, o, out);
}

int compile_backend(const lstmc_compile_opts *o, const CompileVtbl **out) {
  *out = NULL;
  int t = -1;
  for (int i = 0; i < TARGET_COUNT && t < 0; i++)
    if (compiles(i) && (!o->target || !strcmp(o->target, backends[i].name))) t = i;
  if (t < 0) {
    char list[256] = "";
    int n = 0, k = 0;
    for (int i = 0; i < TARGET_COUNT; i++) n += compiles(i);
    for (int i = 0; i < TARGET_COUNT; i++) {
      if (!compiles(i)) continue;
      size_t len = strlen(list);
      snprintf(list + len, sizeof list - len, "%s%s", k == 0 ? "" : k + 1 == n ? " or " : ", ", backends[i].name);
      k++;
    }
    return lx_fail(LSTMC_ERR_USAGE, "compile: target '%s' cannot compile ahead of time (only %s can)", o->target, list);
  }
  const CompileVtbl *c = backends[t].compiler;
  if (!c) return lx_fail(LSTMC_ERR_UNSUPPORTED, "compile: %s", backends[t].missing);
  int st = c->check ? c->check(o) : 0;
  if (st) return st;
  *out = c;
  return 0;
}
