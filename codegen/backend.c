/* The backend registry (codegen/backends.def) and executor creation. */
#include "codegen/backend.h"

#include <stdio.h>
#include <string.h>

#include "support/err.h"

#define BACKEND(e, name, vtbl, built, missing) extern const ExecVtbl vtbl;
#include "codegen/backends.def"
#undef BACKEND

/* A backend's macro is 1 when built, and undefined (0 in #if, but an unknown identifier in C) otherwise:
 * turn each into a constant the C code can test. */
#ifndef LSTMC_HAVE_LLVM
#define LSTMC_HAVE_LLVM 0
#endif
#ifndef LSTMC_HAVE_CUDA
#define LSTMC_HAVE_CUDA 0
#endif

typedef struct Backend {
  const char *name;
  const ExecVtbl *vt; /* NULL when not built */
  const char *missing;
} Backend;

/* A vtable that is not built is never linked: its address is taken only under a true condition. */
#define BACKEND_VT_0(vtbl) NULL
#define BACKEND_VT_1(vtbl) &vtbl
#define BACKEND_VT_(b, vtbl) BACKEND_VT_##b(vtbl)
#define BACKEND_VT(b, vtbl) BACKEND_VT_(b, vtbl)

static const Backend backends[TARGET_COUNT] = {
#define BACKEND(e, name, vtbl, built, missing) {name, BACKEND_VT(built, vtbl), missing},
#include "codegen/backends.def"
#undef BACKEND
};

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
