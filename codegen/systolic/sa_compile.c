/* `lstmc compile --target systolic -o DIR` (the backend registry's systolic_compile_vtbl): the images the
 * chip loads, written by sa_image.c, then read back and compared with the program they came from, so that
 * what lands on disk is known to describe the array the simulator ran. */
#include <string.h>

#include "codegen/backend.h"
#include "codegen/systolic/systolic.h"
#include "support/err.h"
#include "support/strbuf.h"

static int sa_compile_check(const lstmc_compile_opts *o) {
  if (o->header)
    return lx_fail(LSTMC_ERR_USAGE, "compile: --header is for cpu and cuda; the systolic images describe themselves (manifest.json)");
  if (o->emit && strcmp(o->emit, "images"))
    return lx_fail(LSTMC_ERR_USAGE, "compile: the systolic target emits images (a folder), not '%s'", o->emit);
  return 0;
}

static int sa_compile(const Graph *g, const char *spec_path, const lstmc_compile_opts *o, const ExecOptions *eo) {
  (void)spec_path;
  SystolicConfig c;
  if (eo && eo->systolic) c = *eo->systolic;
  else sa_config_default(&c);
  c.cell_sim = 0; /* a way of simulating, not part of the chip */
  SaProgram *p = NULL, *back = NULL;
  int st = sa_program_build(g, &c, &p);
  if (st) return st;
  if (!(st = sa_image_write(p, o->output)) && !(st = sa_image_read_dir(o->output, &back)) && !sa_program_equal(p, back))
    LX_BUG("the systolic images read back differ from the program written");
  if (!st && o->verbose) {
    SaCycleStats cs;
    if (!(st = sa_cycle_stats(p, 1, &cs))) {
      StrBuf d;
      sb_init(&d);
      sa_config_describe(&p->cfg, &d);
      lx_message(LSTMC_MSG_REPORT, "lstmc: %s: %lld tiles for the array %s; %lld cycles per token; read back and checked\n",
                 o->output, (long long)p->ntiles, d.failed ? "?" : sb_cstr(&d), (long long)cs.cycles_per_token);
      sb_free(&d);
    }
  }
  sa_program_free(back);
  sa_program_free(p);
  return st;
}

const CompileVtbl systolic_compile_vtbl = {.check = sa_compile_check, .compile = sa_compile};
