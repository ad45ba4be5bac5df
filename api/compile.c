/* lstmc_model_compile (include/lstmc.h): option checking and the symbol prefix, in front of the code
 * generator that does the work (codegen/cpu/object.c), which exists only in builds with LLVM. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "lstmc.h"
#include "api/internal.h"
#include "support/clock.h"
#include "support/err.h"
#ifdef LSTMC_HAVE_LLVM
#include "codegen/cpu/cpu.h"
#endif

/* The prefix the API's symbols get: the given name, else the file name of path without directory and
 * extension, with every other character than letters, digits and '_' made '_' (and '_' in front of a
 * leading digit). */
static int make_prefix(const char *name, const char *path, char *out, size_t n) {
  const char *src = name;
  size_t len;
  if (src) {
    len = strlen(src);
  } else {
    const char *slash = strrchr(path, '/');
    src = slash ? slash + 1 : path;
    const char *dot = strchr(src, '.');
    len = dot ? (size_t)(dot - src) : strlen(src);
  }
  if (len + 2 > n) return lx_fail(LSTMC_ERR_USAGE, "compile: the symbol prefix '%.20s…' is too long", src);
  size_t k = 0;
  if (len && isdigit((unsigned char)src[0])) out[k++] = '_';
  for (size_t i = 0; i < len; i++) out[k++] = isalnum((unsigned char)src[i]) ? src[i] : '_';
  out[k] = 0;
  if (!k) return lx_fail(LSTMC_ERR_USAGE, "compile: no symbol prefix can be made from '%s' (give --name)", path);
  if (name && strcmp(out, name)) return lx_fail(LSTMC_ERR_USAGE, "compile: --name '%s' is not a C identifier", name);
  return 0;
}

int lstmc_model_compile(const lstmc_model *m, const lstmc_compile_opts *o) {
  if (!o->output || !o->output[0]) return lx_fail(LSTMC_ERR_USAGE, "compile: no output file (-o)");
  if (o->target && !strcmp(o->target, "systolic")) return api_systolic_compile(m, o);
  if (o->target && strcmp(o->target, "cpu"))
    return lx_fail(LSTMC_ERR_USAGE, "compile: target '%s' cannot be compiled by this call (cpu makes an object file, systolic a folder of array images)", o->target);
  if (!graph_has_weights(m->g)) return lx_fail(LSTMC_ERR_USAGE, "the model has no weights loaded");
  static const char *const emits[] = {"obj", "asm", "llvm"};
  int emit = -1;
  for (int i = 0; i < 3; i++)
    if (!strcmp(o->emit ? o->emit : "obj", emits[i])) emit = i;
  if (emit < 0) return lx_fail(LSTMC_ERR_USAGE, "compile: --emit must be obj, asm or llvm, not '%s'", o->emit);
  char prefix[100];
  int st = make_prefix(o->name, o->header ? o->header : o->output, prefix, sizeof prefix);
  if (st) return st;
#ifdef LSTMC_HAVE_LLVM
  CpuCompileOptions co;
  memset(&co, 0, sizeof co);
  co.emit = emit; /* CPU_EMIT_OBJ, _ASM, _LLVM in this order */
  co.out_path = o->output;
  co.header_path = o->header;
  co.prefix = prefix;
  co.spec_name = m->g->spec_file; /* the spec's path, or the IR file's */
  if ((st = cpu_target_named(o->cpu ? o->cpu : "native", o->features, &co.target))) return st;
  double t0 = now_seconds();
  if ((st = cpu_compile(m->g, &co))) return st;
  if (o->verbose)
    fprintf(stderr, "lstmc: compiled %s in %.0f ms (repack %.0f, IR %.0f, optimize %.0f, emit %.0f)\n", o->output,
            (now_seconds() - t0) * 1e3, co.seconds[0] * 1e3, co.seconds[1] * 1e3, co.seconds[2] * 1e3, co.seconds[3] * 1e3);
  return 0;
#else
  return lx_fail(LSTMC_ERR_UNSUPPORTED, "compile: this lstmc was built without the LLVM CPU backend (LSTMC_WITH_LLVM=OFF)");
#endif
}
