/* `lstmc compile --target cpu` (the backend registry's cpu_compile_vtbl): the options of lstmc_model_compile
 * that the CPU backend reads — what to emit, the symbol prefix, the CPU and its features — checked and
 * turned into a CpuCompileOptions for object.c, which does the work. */
#include <ctype.h>
#include <string.h>

#include "codegen/backend.h"
#include "codegen/cpu/cpu.h"
#include "support/clock.h"
#include "support/err.h"

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

static int cpu_aot_compile(const Graph *g, const char *spec_path, const lstmc_compile_opts *o, const ExecOptions *eo) {
  (void)eo;
  static const char *const emits[] = {"obj", "asm", "llvm"}; /* CPU_EMIT_OBJ, _ASM, _LLVM in this order */
  int emit = -1;
  for (int i = 0; i < 3; i++)
    if (!strcmp(o->emit ? o->emit : "obj", emits[i])) emit = i;
  if (emit < 0) return lx_fail(LSTMC_ERR_USAGE, "compile: --emit must be obj, asm or llvm, not '%s'", o->emit);
  char prefix[100];
  int st = make_prefix(o->name, o->header ? o->header : o->output, prefix, sizeof prefix);
  if (st) return st;
  CpuCompileOptions co = {.emit = emit, .out_path = o->output, .header_path = o->header, .prefix = prefix, .spec_name = spec_path};
  if ((st = cpu_target_named(o->cpu ? o->cpu : "native", o->features, &co.target))) return st;
  double t0 = now_seconds();
  if ((st = cpu_compile(g, &co))) return st;
  if (o->verbose)
    lx_message(LSTMC_MSG_REPORT, "lstmc: compiled %s in %.0f ms (repack %.0f, IR %.0f, optimize %.0f, emit %.0f)\n", o->output,
               (now_seconds() - t0) * 1e3, co.seconds[0] * 1e3, co.seconds[1] * 1e3, co.seconds[2] * 1e3, co.seconds[3] * 1e3);
  return 0;
}

const CompileVtbl cpu_compile_vtbl = {.check = NULL, .compile = cpu_aot_compile};
