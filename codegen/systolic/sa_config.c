/* The array's settings: defaults, ranges, and their text forms (the command line's --gates lut:16, the
 * manifest, the one-line description the CLI prints). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/systolic/systolic.h"
#include "support/err.h"

void sa_config_default(SystolicConfig *c) {
  memset(c, 0, sizeof *c);
  c->rows = c->cols = 32;
  c->alpha = 0;
  c->wbits = 8;
  c->abits = 8;
  c->accbits = 32;
  c->gates = SA_GATES_EXACT;
  c->gate_n = 0;
  c->load = SA_LOAD_SINGLE;
}

int sa_config_check(const SystolicConfig *c) {
  if (c->rows < 1 || c->rows > SA_MAX_DIM || c->cols < 1 || c->cols > SA_MAX_DIM)
    return lx_fail(LSTMC_ERR_USAGE, "systolic: the array must have 1 to %d rows and columns, not %dx%d", SA_MAX_DIM,
                   c->rows, c->cols);
  if (c->alpha < 0 || c->alpha > LX_MAX_ALPHA)
    return lx_fail(LSTMC_ERR_USAGE, "systolic: alpha (inputs per cell) must be in [1, %d], not %d", LX_MAX_ALPHA, c->alpha);
  if (c->wbits < 1 || c->wbits > 16)
    return lx_fail(LSTMC_ERR_USAGE, "systolic: wbits must be in [1, 16], not %d", c->wbits);
  if (c->abits < 2 || c->abits > 16)
    return lx_fail(LSTMC_ERR_USAGE, "systolic: abits must be in [2, 16], not %d", c->abits);
  if (c->accbits < 8 || c->accbits > 48)
    return lx_fail(LSTMC_ERR_USAGE, "systolic: accbits must be in [8, 48], not %d", c->accbits);
  if (c->gates == SA_GATES_LUT ? c->gate_n < 2 || c->gate_n > SA_MAX_GATE_N
      : c->gates == SA_GATES_PWL ? c->gate_n < 1 || c->gate_n > SA_MAX_GATE_N
                                 : c->gates != SA_GATES_EXACT)
    return lx_fail(LSTMC_ERR_USAGE, "systolic: the gate unit must be exact, lut:N (2 ≤ N ≤ %d) or pwl:N (1 ≤ N ≤ %d)",
                   SA_MAX_GATE_N, SA_MAX_GATE_N);
  if (c->load != SA_LOAD_SINGLE && c->load != SA_LOAD_DOUBLE)
    return lx_fail(LSTMC_ERR_USAGE, "systolic: weight loading must be single or double");
  if (c->resident < 0 || c->resident > SA_MAX_CYCLES_SETTING)
    return lx_fail(LSTMC_ERR_USAGE, "systolic: resident (tiles per cell memory) must be in [0, %d], not %lld",
                   SA_MAX_CYCLES_SETTING, (long long)c->resident);
  if (c->gate_latency < 0 || c->gate_latency > SA_MAX_CYCLES_SETTING)
    return lx_fail(LSTMC_ERR_USAGE, "systolic: gate_latency must be in [0, %d] cycles, not %lld", SA_MAX_CYCLES_SETTING,
                   (long long)c->gate_latency);
  return 0;
}

int sa_gates_parse(const char *text, int *kind, int *n) {
  if (!strcmp(text, "exact")) {
    *kind = SA_GATES_EXACT;
    *n = 0;
    return 0;
  }
  int k = !strncmp(text, "lut:", 4) ? SA_GATES_LUT : !strncmp(text, "pwl:", 4) ? SA_GATES_PWL : -1;
  if (k >= 0) {
    char *end;
    errno = 0;
    long v = strtol(text + 4, &end, 10);
    int lo = k == SA_GATES_LUT ? 2 : 1;
    if (!errno && end != text + 4 && !*end && v >= lo && v <= SA_MAX_GATE_N) {
      *kind = k;
      *n = (int)v;
      return 0;
    }
    return lx_fail(LSTMC_ERR_USAGE, "systolic: '%s': %s needs a count in [%d, %d], as in %s:16", text,
                   k == SA_GATES_LUT ? "a lookup table" : "a piecewise-linear unit", lo, SA_MAX_GATE_N,
                   k == SA_GATES_LUT ? "lut" : "pwl");
  }
  return lx_fail(LSTMC_ERR_USAGE, "systolic: the gate unit must be exact, lut:N or pwl:N, not '%s'", text);
}

int sa_load_parse(const char *text, int *load) {
  if (!strcmp(text, "single")) *load = SA_LOAD_SINGLE;
  else if (!strcmp(text, "double")) *load = SA_LOAD_DOUBLE;
  else return lx_fail(LSTMC_ERR_USAGE, "systolic: weight loading must be single or double, not '%s'", text);
  return 0;
}

const char *sa_gates_text(int kind, int n, char *buf, size_t size) {
  if (kind == SA_GATES_EXACT) snprintf(buf, size, "exact");
  else snprintf(buf, size, "%s:%d", kind == SA_GATES_LUT ? "lut" : "pwl", n);
  return buf;
}

const char *sa_load_name(int load) { return load == SA_LOAD_DOUBLE ? "double" : "single"; }

void sa_config_describe(const SystolicConfig *c, StrBuf *out) {
  char g[24];
  sb_printf(out, "%dx%d alpha=%d wbits=%d abits=%d accbits=%d gates=%s load=%s resident=%lld gate_latency=%lld%s",
            c->rows, c->cols, c->alpha, c->wbits, c->abits, c->accbits, sa_gates_text(c->gates, c->gate_n, g, sizeof g),
            sa_load_name(c->load), (long long)c->resident, (long long)c->gate_latency, c->cell_sim ? " cell-sim" : "");
}

int sa_config_apply(SystolicConfig *c, const lstmc_systolic_opts *o) {
  if (o->rows < 0 || o->cols < 0 || o->alpha < 0 || o->wbits < 0 || o->abits < 0 || o->accbits < 0)
    return lx_fail(LSTMC_ERR_USAGE, "systolic: array settings must not be negative");
  int st;
  if (o->rows > 0) c->rows = o->rows;
  if (o->cols > 0) c->cols = o->cols;
  if (o->alpha > 0) c->alpha = o->alpha;
  if (o->wbits > 0) c->wbits = o->wbits;
  if (o->abits > 0) c->abits = o->abits;
  if (o->accbits > 0) c->accbits = o->accbits;
  if (o->gates && (st = sa_gates_parse(o->gates, &c->gates, &c->gate_n))) return st;
  if (o->load && (st = sa_load_parse(o->load, &c->load))) return st;
  if (o->resident >= 0) c->resident = o->resident;
  if (o->gate_latency >= 0) c->gate_latency = o->gate_latency;
  if (o->cell_sim) c->cell_sim = 1;
  return 0;
}
