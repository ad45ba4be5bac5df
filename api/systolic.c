/* The systolic target's part of the public API (include/lstmc.h, "systolic arrays"): the array's settings
 * merged from the defaults, the spec's `systolic { … }` block and the caller's options; a session's cycle
 * statistics and report; compiling the images; and the image runner. The work is codegen/systolic's. */
#include <stdio.h>
#include <string.h>

#include "api/internal.h"
#include "codegen/backend.h"
#include "codegen/systolic/systolic.h"
#include "lstmc.h"
#include "support/alloc.h"
#include "support/err.h"

void lstmc_systolic_opts_init(lstmc_systolic_opts *o) {
  memset(o, 0, sizeof *o);
  o->resident = -1;
  o->gate_latency = -1;
}

/* The message of a failed check without its "systolic: " prefix (the place says it already). */
static const char *bare_message(void) {
  const char *m = lstmc_errmsg();
  return strncmp(m, "systolic: ", 10) ? m : m + 10;
}

/* The spec's settings as call options (`only` ≥ 0: that one setting, for checking it with its place; −1: all
 * of them). The gate unit's kind and count become text ("lut:16") in gates[48]. */
static void spec_opts(const SpecSystolic *y, int only, lstmc_systolic_opts *o, char *gates) {
  lstmc_systolic_opts_init(o);
#define WANT(k) (only < 0 || only == (k))
  if (WANT(0) && y->rows >= 0) o->rows = (int)y->rows, o->cols = (int)y->cols;
  if (WANT(1) && y->alpha >= 0) o->alpha = (int)y->alpha;
  if (WANT(2) && y->wbits >= 0) o->wbits = (int)y->wbits;
  if (WANT(3) && y->abits >= 0) o->abits = (int)y->abits;
  if (WANT(4) && y->accbits >= 0) o->accbits = (int)y->accbits;
  if (WANT(5) && y->gates) {
    if (!strcmp(y->gates, "exact")) snprintf(gates, 48, "exact");
    else snprintf(gates, 48, "%s:%lld", y->gates, (long long)y->gate_n);
    o->gates = gates;
  }
  if (WANT(6) && y->load) o->load = y->load;
  if (WANT(7) && y->resident >= 0) o->resident = y->resident;
  if (WANT(8) && y->gate_latency >= 0) o->gate_latency = y->gate_latency;
#undef WANT
}

int api_systolic_check_spec(const Spec *sp, Diag *d) {
  const SpecSystolic *y = &sp->systolic;
  if (!y->present) return 0;
  const SrcLoc locs[9] = {y->array_loc, y->alpha_loc, y->wbits_loc, y->abits_loc, y->accbits_loc, y->gates_loc,
                          y->load_loc, y->resident_loc, y->gate_latency_loc};
  int errors = 0;
  for (int k = 0; k < 9; k++) {
    if (!locs[k].file) continue; /* not given */
    SystolicConfig c;
    lstmc_systolic_opts o;
    char gates[48];
    sa_config_default(&c);
    spec_opts(y, k, &o, gates);
    int st = sa_config_apply(&c, &o);
    if (!st) st = sa_config_check(&c);
    if (st) {
      diag_error(d, locs[k], "%s", bare_message());
      errors++;
    }
  }
  return errors ? diag_status(d) : 0;
}

int api_systolic_config(const lstmc_model *m, const lstmc_systolic_opts *o, SystolicConfig *c) {
  lstmc_systolic_opts from_spec;
  char gates[48];
  sa_config_default(c);
  spec_opts(&m->spec->systolic, -1, &from_spec, gates);
  int st = sa_config_apply(c, &from_spec);
  if (!st && o) st = sa_config_apply(c, o);
  return st ? st : sa_config_check(c);
}

int api_target_settings(const lstmc_model *m, int target, const lstmc_systolic_opts *o, SystolicConfig *sc,
                        ExecOptions *eo) {
  eo->target = target;
  if (target != TARGET_SYSTOLIC) return 0;
  /* the array's arithmetic is the point: a model it cannot hold is an error, not a reference run */
  int st = api_systolic_config(m, o, sc);
  if (st) return st;
  eo->systolic = sc;
  eo->allow_fallback = 0;
  return 0;
}

/* ---- sessions ------------------------------------------------------------------------------------------ */

int lstmc_session_systolic_stats(const lstmc_session *s, lstmc_systolic_stats *out) {
  memset(out, 0, sizeof *out);
  SaCycleStats cs;
  int64_t sat = 0;
  int st = sa_exec_stats(s->e, &cs, &sat);
  if (st) return st;
  const SaProgram *p = sa_exec_program(s->e);
  out->rows = p->cfg.rows;
  out->cols = p->cfg.cols;
  out->alpha = p->cfg.alpha;
  out->streams = cs.streams;
  out->tiles = cs.tiles;
  out->cycles_per_token = cs.cycles_per_token;
  out->gen_cycles_per_token = cs.gen_cycles_per_token;
  out->first_token_cycles = cs.first_token_cycles;
  out->busy_cycles = cs.busy;
  out->weight_stall_cycles = cs.weight_stall;
  out->data_stall_cycles = cs.data_stall;
  out->load_cycles = cs.load_cycles;
  out->preload_cycles = cs.preload_cycles;
  out->resident = cs.resident;
  out->macs = cs.macs;
  out->utilization = cs.utilization;
  out->tile_utilization = cs.tile_utilization;
  for (int i = 0; i < p->nproducts; i++) out->may_saturate |= p->products[i].may_saturate;
  out->saturations = sat;
  return 0;
}

int lstmc_session_systolic_report(const lstmc_session *s, int json, char **text) {
  *text = NULL;
  SaCycleStats cs;
  int64_t sat = 0;
  int st = sa_exec_stats(s->e, &cs, &sat);
  if (st) return st;
  StrBuf sb;
  sb_init(&sb);
  sa_cycle_report(sa_exec_program(s->e), &cs, sat, json, &sb);
  if (!(*text = sb_take(&sb))) st = lx_nomem("writing the systolic report");
  sb_free(&sb);
  return st;
}

/* ---- images -------------------------------------------------------------------------------------------- */

struct lstmc_systolic_image {
  Executor *e;
  int64_t vocab;
};

int lstmc_systolic_image_open(const char *dir, lstmc_systolic_image **out) {
  *out = NULL;
  SaProgram *p;
  int st = sa_image_read_dir(dir, &p);
  if (st) return st;
  lstmc_systolic_image *img = lx_calloc(1, sizeof *img);
  if (!img) {
    sa_program_free(p);
    return lx_nomem("opening the systolic images");
  }
  img->vocab = p->vocab;
  if ((st = sa_exec_create_program(p, 1, &img->e))) {
    lx_free(img);
    return st;
  }
  img->e->vt->reset(img->e);
  *out = img;
  return 0;
}

void lstmc_systolic_image_free(lstmc_systolic_image *img) {
  if (!img) return;
  exec_destroy(img->e);
  lx_free(img);
}

int64_t lstmc_systolic_image_vocab_size(const lstmc_systolic_image *img) { return img->vocab; }

void lstmc_systolic_image_reset(lstmc_systolic_image *img) { img->e->vt->reset(img->e); }

int lstmc_systolic_image_step(lstmc_systolic_image *img, int32_t token, float *logits) {
  return img->e->vt->step(img->e, &token, logits);
}
