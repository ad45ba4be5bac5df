/* lstmc — the command-line driver, a thin layer over the public API (include/lstmc.h).
 *
 *   lstmc check SPEC [--weights W]
 *   lstmc ir SPEC [--weights W]
 *   lstmc init SPEC [--vocab-from TEXT] [--seed S] -o W.safetensors
 *   lstmc eval SPEC --weights W --data TEXT [--target ref|cpu|cuda] [--json]
 *   lstmc generate SPEC --weights W [--prime STR] [--length N] [--temperature T] [--top-k K] [--seed S]
 *
 * Exit status: 0 success, 1 an error in the inputs (spec, weights, data) or while running, 2 bad usage. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lstmc.h"

/* ---- option parsing ------------------------------------------------------------------------------ */

typedef struct OptSpec {
  const char *name; /* long name without dashes; "o" is -o */
  int takes_value;
  const char *help;
} OptSpec;

#define MAX_OPTS 32
#define MAX_POS 4

typedef struct Args {
  const char *cmd;
  const OptSpec *specs;
  const char *values[MAX_OPTS]; /* NULL: not given; "" for flags given */
  const char *pos[MAX_POS];
  int npos;
} Args;

typedef struct Command {
  const char *name;
  const char *usage;
  const char *summary;
  int npos; /* positional arguments required */
  const OptSpec *opts;
  int (*run)(Args *a);
} Command;

static int usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("lstmc: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputs("\n", stderr);
  va_end(ap);
  return 2;
}

static int fail(int status) {
  fprintf(stderr, "lstmc: error: %s\n", lstmc_errmsg());
  return status == LSTMC_ERR_USAGE ? 2 : 1;
}

static int opt_index(const OptSpec *specs, const char *name) {
  for (int i = 0; specs[i].name; i++)
    if (!strcmp(specs[i].name, name)) return i;
  return -1;
}

static int parse_args(const Command *c, int argc, char **argv, Args *a) {
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

static const char *arg_str(const Args *a, const char *name) {
  int k = opt_index(a->specs, name);
  return k >= 0 ? a->values[k] : NULL;
}

static int arg_flag(const Args *a, const char *name) { return arg_str(a, name) != NULL; }

/* Integer option with a default and a range; returns 0 or prints a usage error and returns 2. */
static int arg_int(const Args *a, const char *name, long long def, long long lo, long long hi, long long *out) {
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

static int arg_u64(const Args *a, const char *name, uint64_t def, uint64_t *out) {
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

static int arg_double(const Args *a, const char *name, double def, double lo, double hi, double *out) {
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

static int require(const Args *a, const char *name) {
  if (arg_str(a, name)) return 0;
  return usage_error("%s: --%s is required", a->cmd, name);
}

/* ---- helpers ------------------------------------------------------------------------------------- */

static int read_whole(const char *path, char **data, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "lstmc: error: cannot open '%s': %s\n", path, strerror(errno));
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

static void print_count(FILE *f, long long n) {
  char digits[32];
  int len = snprintf(digits, sizeof digits, "%lld", n);
  for (int i = 0; i < len; i++) {
    fputc(digits[i], f);
    if (digits[i] != '-' && (len - i - 1) % 3 == 0 && i + 1 < len) fputc(',', f);
  }
}

/* Loads the spec and, when given, the weights. */
static int open_model(const Args *a, int need_weights, lstmc_model **m) {
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

/* ---- commands ------------------------------------------------------------------------------------ */

static const OptSpec check_opts[] = {{"weights", 1, "also load and check these weights"}, {0}};

static int cmd_check(Args *a) {
  lstmc_model *m;
  int rc = open_model(a, 0, &m);
  if (rc) return rc;
  lstmc_model_info info;
  lstmc_model_get_info(m, &info);
  char *ir = NULL;
  printf("%s: ok\n", a->pos[0]);
  printf("model %s: vocab %s", info.name, info.vocab_kind);
  if (info.vocab_size > 0) printf(" (%lld tokens)", (long long)info.vocab_size);
  printf(", %d lstm layer%s\n", info.num_lstm, info.num_lstm == 1 ? "" : "s");
  printf("parameters: ");
  if (info.params >= 0) {
    print_count(stdout, info.params);
  } else {
    print_count(stdout, info.params_fixed);
    printf(" + %lld per vocabulary token (size known once weights are loaded)", (long long)info.params_per_vocab);
  }
  printf("\n");
  if (info.has_weights) printf("weights: %s loaded and checked\n", arg_str(a, "weights"));
  lstmc_free(ir);
  lstmc_model_free(m);
  return 0;
}

static const OptSpec ir_opts[] = {{"weights", 1, "load weights (formats and sizes are printed)"}, {0}};

static int cmd_ir(Args *a) {
  lstmc_model *m;
  int rc = open_model(a, 0, &m);
  if (rc) return rc;
  char *text;
  int st = lstmc_model_ir(m, &text);
  if (st) {
    lstmc_model_free(m);
    return fail(st);
  }
  fputs(text, stdout);
  lstmc_free(text);
  lstmc_model_free(m);
  return 0;
}

static const OptSpec init_opts[] = {{"vocab-from", 1, "text to build the vocabulary from (chars, words)"},
                                    {"seed", 1, "random seed (default 1)"},
                                    {"o", 1, "output weights file (.safetensors)"},
                                    {0}};

static int cmd_init(Args *a) {
  uint64_t seed;
  int rc;
  if ((rc = require(a, "o")) || (rc = arg_u64(a, "seed", 1, &seed))) return rc;
  lstmc_model *m;
  if ((rc = open_model(a, 0, &m))) return rc;
  int st = lstmc_model_init_weights(m, arg_str(a, "vocab-from"), seed);
  if (!st) st = lstmc_model_save_weights(m, arg_str(a, "o"));
  if (st) {
    lstmc_model_free(m);
    return fail(st);
  }
  lstmc_model_info info;
  lstmc_model_get_info(m, &info);
  fprintf(stderr, "lstmc: wrote %s: %lld parameters, vocabulary of %lld tokens (%s), seed %llu\n", arg_str(a, "o"),
          (long long)info.params, (long long)info.vocab_size, info.vocab_kind, (unsigned long long)seed);
  lstmc_model_free(m);
  return 0;
}

static const OptSpec eval_opts[] = {{"weights", 1, "weights file"},
                                    {"data", 1, "text to evaluate"},
                                    {"target", 1, "executor: ref (default), cpu, cuda"},
                                    {"threads", 1, "CPU threads (0 = all cores)"},
                                    {"json", 0, "print one JSON object"},
                                    {0}};

static int cmd_eval(Args *a) {
  int rc;
  long long threads;
  if ((rc = require(a, "data")) || (rc = arg_int(a, "threads", 0, 0, 1024, &threads))) return rc;
  lstmc_model *m;
  if ((rc = open_model(a, 1, &m))) return rc;
  char *text = NULL;
  size_t len = 0;
  int32_t *ids = NULL;
  int64_t n = 0;
  lstmc_session *s = NULL;
  lstmc_eval_result r;
  int st = 0;
  const char *data = arg_str(a, "data");
  if (read_whole(data, &text, &len)) {
    rc = 1;
    goto done;
  }
  lstmc_session_opts so = {0};
  so.target = arg_str(a, "target");
  so.threads = (int)threads;
  if ((st = lstmc_tokenize(m, text, len, data, &ids, &n)) || (st = lstmc_session_create(m, &so, &s)) ||
      (st = lstmc_session_eval(s, ids, n, &r))) {
    rc = fail(st);
    goto done;
  }
  if (arg_flag(a, "json"))
    printf("{\"bpc\": %.17g, \"tokens\": %lld, \"predictions\": %lld, \"nll\": %.17g, \"seconds\": %.6f, "
           "\"tokens_per_s\": %.3f, \"target\": \"%s\"}\n",
           r.bpc, (long long)r.tokens, (long long)r.predictions, r.nll, r.seconds, r.tokens_per_s,
           so.target ? so.target : "ref");
  else
    printf("bpc: %.6f\n", r.bpc);
done:
  lstmc_session_free(s);
  lstmc_free(ids);
  free(text);
  lstmc_model_free(m);
  return rc;
}

static const OptSpec gen_opts[] = {{"weights", 1, "weights file"},
                                   {"prime", 1, "text to start from"},
                                   {"length", 1, "tokens to generate (default 200)"},
                                   {"temperature", 1, "sampling temperature (default 1; 0 = greedy)"},
                                   {"top-k", 1, "sample among the K most likely tokens (default: all)"},
                                   {"seed", 1, "random seed (default 1)"},
                                   {"target", 1, "executor: ref (default), cpu, cuda"},
                                   {"threads", 1, "CPU threads (0 = all cores)"},
                                   {0}};

static void write_text(const char *t, size_t n, void *ctx) {
  (void)ctx;
  fwrite(t, 1, n, stdout);
  if (isatty(STDOUT_FILENO)) fflush(stdout);
}

static int cmd_generate(Args *a) {
  int rc;
  long long length, topk, threads;
  double temp;
  uint64_t seed;
  if ((rc = arg_int(a, "length", 200, 0, LLONG_MAX, &length)) || (rc = arg_int(a, "top-k", 0, 0, INT_MAX, &topk)) ||
      (rc = arg_double(a, "temperature", 1.0, 0, 1e6, &temp)) || (rc = arg_u64(a, "seed", 1, &seed)) ||
      (rc = arg_int(a, "threads", 0, 0, 1024, &threads)))
    return rc;
  lstmc_model *m;
  if ((rc = open_model(a, 1, &m))) return rc;
  lstmc_session_opts so = {0};
  so.target = arg_str(a, "target");
  so.threads = (int)threads;
  lstmc_session *s = NULL;
  int st = lstmc_session_create(m, &so, &s);
  if (!st) {
    const char *prime = arg_str(a, "prime");
    if (prime) fputs(prime, stdout);
    lstmc_gen_opts go = {prime, length, temp, (int)topk, seed, write_text, NULL};
    st = lstmc_session_generate(s, &go, NULL);
    fputc('\n', stdout);
  }
  rc = st ? fail(st) : 0;
  lstmc_session_free(s);
  lstmc_model_free(m);
  return rc;
}

static const Command commands[] = {
    {"check", "lstmc check SPEC [--weights W]", "parse and check a spec; print a summary", 1, check_opts, cmd_check},
    {"ir", "lstmc ir SPEC [--weights W]", "print the IR", 1, ir_opts, cmd_ir},
    {"init", "lstmc init SPEC [--vocab-from TEXT] [--seed S] -o W.safetensors", "random PyTorch-style weights", 1,
     init_opts, cmd_init},
    {"eval", "lstmc eval SPEC --weights W --data TEXT [--target ref|cpu|cuda] [--json]",
     "bits per character over a text (one stream, batch 1)", 1, eval_opts, cmd_eval},
    {"generate",
     "lstmc generate SPEC --weights W [--prime STR] [--length N] [--temperature T] [--top-k K] [--seed S]",
     "sample text", 1, gen_opts, cmd_generate},
};
#define NCOMMANDS ((int)(sizeof commands / sizeof *commands))

static void print_help(FILE *f) {
  fprintf(f, "lstmc %s — a compiler for LSTM language models\n\nusage: lstmc COMMAND [ARGS]\n\ncommands:\n",
          LSTMC_VERSION);
  for (int i = 0; i < NCOMMANDS; i++) fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf(f, "\n'lstmc help COMMAND' shows a command's options.\n");
}

static void print_command_help(const Command *c) {
  printf("usage: %s\n%s\n\noptions:\n", c->usage, c->summary);
  for (int i = 0; c->opts[i].name; i++) {
    char flag[48];
    snprintf(flag, sizeof flag, "%s%s%s", strlen(c->opts[i].name) == 1 ? "-" : "--", c->opts[i].name,
             c->opts[i].takes_value ? " X" : "");
    printf("  %-18s %s\n", flag, c->opts[i].help);
  }
}

int main(int argc, char **argv) {
  if (argc < 2) {
    print_help(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    print_help(stdout);
    return 0;
  }
  if (!strcmp(argv[1], "--version")) {
    printf("lstmc %s\n", LSTMC_VERSION);
    return 0;
  }
  if (!strcmp(argv[1], "help")) {
    if (argc < 3) {
      print_help(stdout);
      return 0;
    }
    for (int i = 0; i < NCOMMANDS; i++)
      if (!strcmp(commands[i].name, argv[2])) {
        print_command_help(&commands[i]);
        return 0;
      }
    return usage_error("help: unknown command '%s'", argv[2]);
  }
  for (int i = 0; i < NCOMMANDS; i++) {
    if (strcmp(commands[i].name, argv[1])) continue;
    Args a;
    int rc = parse_args(&commands[i], argc - 2, argv + 2, &a);
    if (rc) return rc;
    return commands[i].run(&a);
  }
  return usage_error("unknown command '%s' (see 'lstmc --help')", argv[1]);
}
