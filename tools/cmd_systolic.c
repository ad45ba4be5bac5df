/* The systolic target on the command line: the array's options shared by eval, generate, bench and compile
 * (SYSTOLIC_OPTSPECS), the one-line summary after a run, and `lstmc sweep`, which runs a trained model
 * through column combining at several alpha and gamma and evaluates it on several arrays: a table, a CSV and
 * a plot of BPC against cycles per token — the trade-off column combining is about. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tools/cli.h"

int target_is_systolic(const Args *a) {
  const char *t = arg_str(a, "target");
  return t && !strcmp(t, "systolic");
}

int systolic_opts_from_args(const Args *a, lstmc_systolic_opts *o) {
  lstmc_systolic_opts_init(o);
  long long v;
  int rc;
  const char *array = arg_str(a, "array");
  if (array && parse_array(a->cmd, array, &o->rows, &o->cols)) return 2;
  if ((rc = arg_int(a, "alpha", 0, 1, 64, &v))) return rc;
  o->alpha = (int)v;
  if ((rc = arg_int(a, "wbits", 0, 1, 16, &v))) return rc;
  o->wbits = (int)v;
  if ((rc = arg_int(a, "abits", 0, 2, 16, &v))) return rc;
  o->abits = (int)v;
  if ((rc = arg_int(a, "accbits", 0, 8, 48, &v))) return rc;
  o->accbits = (int)v;
  if ((rc = arg_int(a, "resident", -1, 0, 1 << 30, &v))) return rc;
  o->resident = v;
  if ((rc = arg_int(a, "gate-latency", -1, 0, 1 << 30, &v))) return rc;
  o->gate_latency = v;
  o->gates = arg_str(a, "gates");
  o->load = arg_str(a, "load");
  o->cell_sim = arg_flag(a, "cell-sim");
  int given = array || o->alpha || o->wbits || o->abits || o->accbits || o->resident >= 0 || o->gate_latency >= 0 ||
              o->gates || o->load || o->cell_sim;
  if (given && !target_is_systolic(a) && strcmp(a->cmd, "sweep"))
    return usage_error("%s: the array options (--array, --alpha, …) need --target systolic", a->cmd);
  return 0;
}

void print_systolic_summary(const lstmc_session *s, FILE *f) {
  lstmc_systolic_stats st;
  if (lstmc_session_systolic_stats(s, &st)) return;
  char per[48] = "token";
  if (st.streams > 1) snprintf(per, sizeof per, "step of %lld streams", (long long)st.streams);
  fprintf(f, "systolic %dx%d alpha=%d: %lld cycles per %s (%lld tiles, utilization %.4f), %lld saturations\n",
          st.rows, st.cols, st.alpha, (long long)st.cycles_per_token, per, (long long)st.tiles, st.utilization,
          (long long)st.saturations);
}

/* ---- lstmc sweep ------------------------------------------------------------------------------------------ */

const OptSpec sweep_opts[] = {{"weights", 1, "trained weights (dense: the sweep prunes, combines and quantizes them)"},
                              {"data", 1, "text to evaluate"},
                              {"alphas", 1, "column-combine alphas, comma-separated (default 1,2,4,8,16)"},
                              {"gammas", 1, "column-combine gammas (default 0.5)"},
                              {"arrays", 1, "arrays, ROWSxCOLS comma-separated (default 16x16,32x32,64x64)"},
                              {"sparsity", 1, "prune this share of weights first (default 0.8; 0: no pruning)"},
                              {"bits", 1, "quantize{bits} (default 8)"},
                              {"csv", 1, "write the table as CSV"},
                              {"plot", 1, "draw BPC against cycles per token (.svg or .png)"},
                              {"json", 0, "print the rows as one JSON array"},
                              {"quiet", 0, "no progress on stderr"},
                              SYSTOLIC_OPTSPECS,
                              {0}};

typedef struct SweepRow {
  int alpha;
  double gamma;
  int rows, cols;
  double bpc;
  lstmc_systolic_stats st;
} SweepRow;

/* Splits a comma-separated list; returns the count, or -1 (usage error printed). */
static int split_list(const char *opt, const char *text, char items[][32], int max) {
  int n = 0;
  const char *p = text;
  while (*p) {
    const char *c = strchr(p, ',');
    size_t len = c ? (size_t)(c - p) : strlen(p);
    if (!len || len >= 32 || n == max) {
      usage_error("sweep: --%s must be a comma-separated list of at most %d values, got '%s'", opt, max, text);
      return -1;
    }
    memcpy(items[n], p, len);
    items[n++][len] = 0;
    p += len + (c ? 1 : 0);
    if (c && !*p) {
      usage_error("sweep: --%s ends with a comma: '%s'", opt, text);
      return -1;
    }
  }
  return n;
}

static int parse_number(const char *opt, const char *s, double lo, double hi, int integer, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi || (integer && v != floor(v)))
    return usage_error("sweep: --%s: '%s' is not %s in [%g, %g]", opt, s, integer ? "an integer" : "a number", lo, hi);
  *out = v;
  return 0;
}

/* The model after the sweep's pipeline for (alpha, gamma). */
static int prepared_model(const Args *a, int alpha, double gamma, double sparsity, int bits, lstmc_model **m) {
  int rc = open_model(a, 1, m);
  if (rc) return rc;
  char pipeline[256];
  char prune[64] = "";
  if (sparsity > 0) snprintf(prune, sizeof prune, "prune{sparsity=%g},", sparsity);
  snprintf(pipeline, sizeof pipeline, "%scolumn-combine{alpha=%d,gamma=%g},conflict-prune,quantize{bits=%d}", prune,
           alpha, gamma, bits);
  lstmc_pass_opts po = {0};
  po.source = "sweep pipeline";
  int st = lstmc_model_apply_passes(*m, pipeline, &po);
  if (st) {
    lstmc_model_free(*m);
    *m = NULL;
    return st == LSTMC_ERR_USAGE ? 2 : 1;
  }
  return 0;
}

static void write_csv_row(FILE *f, const SweepRow *r) {
  fprintf(f, "%d,%g,%dx%d,%lld,%lld,%lld,%lld,%.6f,%.6f,%lld,%.6f,%lld\n", r->alpha, r->gamma, r->rows, r->cols,
          (long long)r->st.tiles, (long long)r->st.cycles_per_token, (long long)r->st.gen_cycles_per_token,
          (long long)r->st.first_token_cycles, r->st.utilization, r->st.tile_utilization, (long long)r->st.macs, r->bpc,
          (long long)r->st.saturations);
}

static const char *const csv_header =
    "alpha,gamma,array,tiles,cycles_per_token,gen_cycles_per_token,first_token_cycles,utilization,tile_utilization,"
    "weights,bpc,saturations\n";

static int sweep_plot(const char *path, const SweepRow *rows, int n, char arrays[][32], int narrays, int ngammas) {
  lstmc_chart_series *series = calloc((size_t)narrays, sizeof *series);
  double *x = calloc((size_t)n, sizeof *x), *y = calloc((size_t)n, sizeof *y);
  char(*lab)[32] = calloc((size_t)n, sizeof *lab);
  const char **labels = calloc((size_t)n, sizeof *labels);
  int st = 0;
  if (!series || !x || !y || !lab || !labels) st = LSTMC_ERR_NOMEM;
  for (int k = 0, at = 0; !st && k < narrays; k++) {
    series[k].name = arrays[k];
    series[k].x = x + at;
    series[k].y = y + at;
    series[k].labels = labels + at;
    for (int i = 0; i < n; i++) {
      char name[32];
      snprintf(name, sizeof name, "%dx%d", rows[i].rows, rows[i].cols);
      if (strcmp(name, arrays[k])) continue;
      x[at] = (double)rows[i].st.cycles_per_token;
      y[at] = rows[i].bpc;
      if (ngammas > 1) snprintf(lab[at], sizeof lab[at], "a%d g%g", rows[i].alpha, rows[i].gamma);
      else snprintf(lab[at], sizeof lab[at], "a%d", rows[i].alpha);
      labels[at] = lab[at];
      at++;
      series[k].n++;
    }
  }
  if (!st) {
    lstmc_chart c = {"BPC against cycles per token (a: alpha, g: gamma)", "cycles per token", "bits per character", 1,
                     series, narrays};
    st = lstmc_chart_write(&c, path);
  }
  free(series);
  free(x);
  free(y);
  free(lab);
  free(labels);
  return st;
}

int cmd_sweep(Args *a) {
  int rc;
  char alist[16][32], glist[16][32], arrays[16][32];
  int na, ng, nr;
  double sparsity, bits;
  if ((rc = require(a, "weights")) || (rc = require(a, "data"))) return rc;
  const char *alphas = arg_str(a, "alphas") ? arg_str(a, "alphas") : "1,2,4,8,16";
  const char *gammas = arg_str(a, "gammas") ? arg_str(a, "gammas") : "0.5";
  const char *arr = arg_str(a, "arrays") ? arg_str(a, "arrays") : "16x16,32x32,64x64";
  if ((na = split_list("alphas", alphas, alist, 16)) < 0 || (ng = split_list("gammas", gammas, glist, 16)) < 0 ||
      (nr = split_list("arrays", arr, arrays, 16)) < 0)
    return 2;
  int av[16], ar[16], ac[16];
  double gv[16];
  for (int i = 0; i < na; i++) {
    double v = 0;
    if (parse_number("alphas", alist[i], 1, 64, 1, &v)) return 2;
    av[i] = (int)v;
  }
  for (int i = 0; i < ng; i++)
    if (parse_number("gammas", glist[i], 0, 64, 0, &gv[i])) return 2;
  for (int i = 0; i < nr; i++) {
    if (parse_array("sweep", arrays[i], &ar[i], &ac[i])) return 2;
    snprintf(arrays[i], sizeof arrays[i], "%dx%d", ar[i], ac[i]);
  }
  if ((rc = arg_double(a, "sparsity", 0.8, 0, 1, &sparsity)) || (rc = arg_double(a, "bits", 8, 1, 8, &bits))) return rc;
  if (bits != 8 && bits != 4 && bits != 2 && bits != 1) return usage_error("sweep: --bits must be 8, 4, 2 or 1");
  lstmc_systolic_opts base;
  if ((rc = systolic_opts_from_args(a, &base))) return rc;
  if (arg_str(a, "array")) return usage_error("sweep: give the arrays with --arrays");
  if (arg_str(a, "alpha")) return usage_error("sweep: the cells' alpha follows each column-combine alpha; give --alphas");
  const char *plot = arg_str(a, "plot"), *csvp = arg_str(a, "csv");
  int quiet = arg_flag(a, "quiet");
  char *text = NULL;
  size_t len = 0;
  if (read_whole(arg_str(a, "data"), &text, &len)) return 1;
  SweepRow *rows = calloc((size_t)(na * ng * nr), sizeof *rows);
  FILE *csv = NULL;
  if (!rows) {
    free(text);
    return usage_error("sweep: out of memory");
  }
  if (csvp && !(csv = fopen(csvp, "w"))) {
    fprintf(stderr, "lstmc: error: cannot create '%s': %s\n", csvp, strerror(errno));
    free(text);
    free(rows);
    return 1;
  }
  if (csv) fputs(csv_header, csv);
  int n = 0;
  rc = 0;
  for (int i = 0; i < na && !rc; i++)
    for (int j = 0; j < ng && !rc; j++) {
      lstmc_model *m = NULL;
      if ((rc = prepared_model(a, av[i], gv[j], sparsity, (int)bits, &m))) break;
      int32_t *ids = NULL;
      int64_t nids = 0;
      int st = lstmc_tokenize(m, text, len, arg_str(a, "data"), &ids, &nids);
      double bpc = NAN;
      int exact_for_any_array = 0; /* no accumulator can saturate: the BPC does not depend on the array */
      for (int k = 0; k < nr && !st; k++) {
        lstmc_systolic_opts o = base;
        o.rows = ar[k];
        o.cols = ac[k];
        lstmc_session_opts so = {0};
        so.target = "systolic";
        so.systolic = &o;
        lstmc_session *s = NULL;
        lstmc_eval_result r;
        SweepRow *row = &rows[n];
        if ((st = lstmc_session_create(m, &so, &s))) break;
        if ((st = lstmc_session_systolic_stats(s, &row->st))) {
          lstmc_session_free(s);
          break;
        }
        if (!exact_for_any_array || row->st.may_saturate) {
          if ((st = lstmc_session_eval(s, ids, nids, &r))) {
            lstmc_session_free(s);
            break;
          }
          bpc = r.bpc;
          exact_for_any_array = !row->st.may_saturate;
          lstmc_session_systolic_stats(s, &row->st); /* with the saturations of the run */
        }
        lstmc_session_free(s);
        row->alpha = av[i];
        row->gamma = gv[j];
        row->rows = ar[k];
        row->cols = ac[k];
        row->bpc = bpc;
        if (csv) write_csv_row(csv, row);
        if (!quiet)
          fprintf(stderr, "sweep: alpha %d gamma %g %s: bpc %.4f, %lld cycles per token\n", row->alpha, row->gamma,
                  arrays[k], row->bpc, (long long)row->st.cycles_per_token);
        n++;
      }
      lstmc_free(ids);
      lstmc_model_free(m);
      if (st) rc = fail(st);
    }
  if (csv && fclose(csv) && !rc) {
    fprintf(stderr, "lstmc: error: cannot write '%s'\n", csvp);
    rc = 1;
  }
  if (!rc && arg_flag(a, "json")) {
    printf("[");
    for (int i = 0; i < n; i++) {
      const SweepRow *r = &rows[i];
      printf("%s{\"alpha\": %d, \"gamma\": %g, \"array\": \"%dx%d\", \"tiles\": %lld, \"cycles_per_token\": %lld, "
             "\"gen_cycles_per_token\": %lld, \"first_token_cycles\": %lld, \"utilization\": %.6f, "
             "\"tile_utilization\": %.6f, \"weights\": %lld, \"bpc\": %.6f, \"saturations\": %lld}",
             i ? ",\n " : "", r->alpha, r->gamma, r->rows, r->cols, (long long)r->st.tiles,
             (long long)r->st.cycles_per_token, (long long)r->st.gen_cycles_per_token,
             (long long)r->st.first_token_cycles, r->st.utilization, r->st.tile_utilization, (long long)r->st.macs,
             r->bpc, (long long)r->st.saturations);
    }
    printf("]\n");
  } else if (!rc) {
    printf("| alpha | gamma | array | tiles | cycles/token | gen cycles/token | utilization | weights | bpc |\n");
    printf("| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (int i = 0; i < n; i++) {
      const SweepRow *r = &rows[i];
      printf("| %d | %g | %dx%d | %lld | %lld | %lld | %.4f | %lld | %.6f |\n", r->alpha, r->gamma, r->rows, r->cols,
             (long long)r->st.tiles, (long long)r->st.cycles_per_token, (long long)r->st.gen_cycles_per_token,
             r->st.utilization, (long long)r->st.macs, r->bpc);
    }
  }
  if (!rc && plot) {
    int st = sweep_plot(plot, rows, n, arrays, nr, ng);
    if (st) rc = fail(st);
  }
  free(rows);
  free(text);
  return rc;
}
