/* Option parsing and helpers shared by the CLI's commands. */
#include "tools/cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- option parsing ------------------------------------------------------------------------------ */

int usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("lstmc: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputs("\n", stderr);
  va_end(ap);
  return 2;
}

int fail(int status) {
  fprintf(stderr, "lstmc: error: %s\n", lstmc_errmsg());
  return status == LSTMC_ERR_USAGE ? 2 : 1;
}

static int opt_index(const OptSpec *specs, const char *name) {
  for (int i = 0; specs[i].name; i++)
    if (!strcmp(specs[i].name, name)) return i;
  return -1;
}

int parse_args(const Command *c, int argc, char **argv, Args *a) {
  memset(a, 0, sizeof *a);
  a->cmd = c->name;
  a->specs = c->opts;
  for (int i = 0; i < argc; i++) {
    const char *arg = argv[i];
    if (arg[0] == '-' && arg[1] && !(arg[1] >= '0' && arg[1] <= '9')) {
      const char *name = arg + 1;
      if (*name == '-') name++;
      char buf[64];
      const char *eq = strchr(name, '=');
      size_t n = eq ? (size_t)(eq - name) : strlen(name);
      if (n >= sizeof buf) return usage_error("%s: unknown option '%s'", c->name, arg);
      memcpy(buf, name, n);
      buf[n] = 0;
      int k = opt_index(c->opts, buf);
      if (k < 0) return usage_error("%s: unknown option '%s' (see 'lstmc help %s')", c->name, arg, c->name);
      if (c->opts[k].takes_value) {
        if (eq) a->values[k] = eq + 1;
        else if (i + 1 < argc) a->values[k] = argv[++i];
        else return usage_error("%s: option '%s' needs a value", c->name, arg);
      } else {
        if (eq) return usage_error("%s: option '--%s' takes no value", c->name, buf);
        a->values[k] = "";
      }
    } else {
      if (a->npos == MAX_POS || a->npos >= c->npos)
        return usage_error("%s: unexpected argument '%s' (usage: %s)", c->name, arg, c->usage);
      a->pos[a->npos++] = arg;
    }
  }
  if (a->npos < c->npos) return usage_error("%s: missing arguments (usage: %s)", c->name, c->usage);
  return 0;
}

const char *arg_str(const Args *a, const char *name) {
  int k = opt_index(a->specs, name);
  return k >= 0 ? a->values[k] : NULL;
}

int arg_flag(const Args *a, const char *name) { return arg_str(a, name) != NULL; }

/* Integer option with a default and a range; returns 0 or prints a usage error and returns 2. */
int arg_int(const Args *a, const char *name, long long def, long long lo, long long hi, long long *out) {
  const char *s = arg_str(a, name);
  *out = def;
  if (!s) return 0;
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi)
    return usage_error("%s: --%s must be an integer in [%lld, %lld], got '%s'", a->cmd, name, lo, hi, s);
  *out = v;
  return 0;
}

int arg_u64(const Args *a, const char *name, uint64_t def, uint64_t *out) {
  const char *s = arg_str(a, name);
  *out = def;
  if (!s) return 0;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end || s[0] == '-')
    return usage_error("%s: --%s must be a non-negative integer, got '%s'", a->cmd, name, s);
  *out = v;
  return 0;
}

int arg_double(const Args *a, const char *name, double def, double lo, double hi, double *out) {
  const char *s = arg_str(a, name);
  *out = def;
  if (!s) return 0;
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi)
    return usage_error("%s: --%s must be a number in [%g, %g], got '%s'", a->cmd, name, lo, hi, s);
  *out = v;
  return 0;
}

int require(const Args *a, const char *name) {
  if (arg_str(a, name)) return 0;
  return usage_error("%s: --%s is required", a->cmd, name);
}

int session_opts(const Args *a, lstmc_session_opts *so, lstmc_systolic_opts *sys) {
  long long batch, threads;
  int rc;
  if ((rc = arg_int(a, "batch", 1, 1, 1024, &batch)) || (rc = arg_int(a, "threads", 0, 0, 1024, &threads)) ||
      (rc = systolic_opts_from_args(a, sys)))
    return rc;
  *so = (lstmc_session_opts){.target = arg_str(a, "target"),
                             .threads = (int)threads,
                             .no_cache = arg_flag(a, "no-cache"),
                             .verbose = arg_flag(a, "verbose"),
                             .batch = (int)batch,
                             .systolic = sys};
  return 0;
}

/* ---- helpers ------------------------------------------------------------------------------------- */

int read_whole(const char *path, char **data, size_t *len) {
  FILE *f = fopen(path, "rb");
  struct stat sbuf;
  if (!f || (fstat(fileno(f), &sbuf) == 0 && S_ISDIR(sbuf.st_mode))) {
    fprintf(stderr, "lstmc: error: cannot open '%s': %s\n", path, f ? "it is a directory" : strerror(errno));
    if (f) fclose(f);
    return 1;
  }
  size_t cap = 1 << 20, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    size_t k = fread(buf + n, 1, cap - n, f);
    n += k;
    if (n < cap) break;
    char *nb = realloc(buf, cap *= 2);
    if (!nb) free(buf);
    buf = nb;
  }
  int err = ferror(f);
  fclose(f);
  if (!buf || err) {
    free(buf);
    fprintf(stderr, "lstmc: error: cannot read '%s'\n", path);
    return 1;
  }
  *data = buf;
  *len = n;
  return 0;
}

void print_count(FILE *f, long long n) {
  char digits[32];
  int len = snprintf(digits, sizeof digits, "%lld", n);
  for (int i = 0; i < len; i++) {
    fputc(digits[i], f);
    if (digits[i] != '-' && (len - i - 1) % 3 == 0 && i + 1 < len) fputc(',', f);
  }
}

/* Loads the spec and, when given, the weights. */
int open_model(const Args *a, int need_weights, lstmc_model **m) {
  int st = lstmc_model_load(a->pos[0], m);
  if (st) {
    if (st != LSTMC_ERR_PARSE) fprintf(stderr, "lstmc: error: %s\n", lstmc_errmsg());
    return st == LSTMC_ERR_USAGE ? 2 : 1;
  }
  const char *w = arg_str(a, "weights");
  if (need_weights && !w) {
    lstmc_model_free(*m);
    return usage_error("%s: --weights is required", a->cmd);
  }
  if (w && (st = lstmc_model_load_weights(*m, w))) {
    lstmc_model_free(*m);
    return fail(st);
  }
  return 0;
}

int parse_array(const char *cmd, const char *text, int *rows, int *cols) {
  char *end;
  long r = strtol(text, &end, 10), c = 0;
  if (*end == 'x' || *end == 'X') c = strtol(end + 1, &end, 10);
  if (*end || r < 1 || c < 1 || r > 65536 || c > 65536)
    return usage_error("%s: --array must be ROWSxCOLS with sizes in [1, 65536], e.g. 32x32; got '%s'", cmd, text);
  *rows = (int)r;
  *cols = (int)c;
  return 0;
}
