/* lstmc bench: time per token of an executor on a model, after a warm-up and over many repetitions.
 *
 *   gen    one step per repetition (batch streams at once), random tokens: the latency of generation
 *          without sampling; median, p90 and p99 of the step time.
 *   score  one evaluation of --tokens random tokens per repetition (one stream): the time per token when
 *          the whole stream is known, which lets a backend batch the input projections.
 *
 * The model is timed after its pass pipeline (--passes, else the spec's, as eval runs it; --passes '' for
 * the weights as they are). GB/s is effective: the bytes one step reads (lstmc_model_info.step_bytes) times
 * the steps per second. Timings are wall-clock (CLOCK_MONOTONIC).
 *
 * The command runs in phases, one function each: the options (bench_options), the random tokens
 * (bench_tokens), the timed repetitions (bench_measure), the summary (bench_summarize) and its printing in
 * the format asked for (bench_print). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "support/clock.h"
#include "tools/cli.h"

const OptSpec bench_opts[] = {{"weights", 1, "weights file"},
                              OPT_TARGET,
                              {"mode", 1, "gen (default) or score"},
                              {"batch", 1, "streams stepped together (gen; default 1)"},
                              OPT_THREADS,
                              {"tokens", 1, "score: tokens per evaluation (default 1024)"},
                              {"warmup", 1, "repetitions before timing (default: gen 20, score 1)"},
                              {"reps", 1, "at least this many timed repetitions (default: gen 200, score 5)"},
                              {"seconds", 1, "and at least this long (default 2)"},
                              {"seed", 1, "random tokens' seed (default 1)"},
                              {"json", 0, "print one JSON object"},
                              {"o", 1, "print a table row: md or csv"},
                              PASS_OPTSPECS,
                              SYSTOLIC_OPTSPECS,
                              {0}};

/* What the options ask for. */
typedef struct BenchConfig {
  const char *mode, *format; /* format: NULL (text), "json", "md" or "csv" */
  int score;
  lstmc_session_opts session;
  lstmc_systolic_opts systolic; /* session.systolic points here */
  long long tokens, warmup, reps;
  double seconds;
  uint64_t seed;
} BenchConfig;

/* The timed repetitions: seconds per step (gen) or per token (score). */
typedef struct Times {
  double *v;
  int n, cap;
} Times;

/* What is printed. */
typedef struct BenchSummary {
  double median, p90, p99; /* seconds per step (gen) or per token of the stream (score) */
  double per_token, tokens_per_s, gb_per_s;
  const char *target, *executor;
  char threads[32]; /* "all" or the number */
} BenchSummary;

static int bench_options(const Args *a, BenchConfig *c) {
  memset(c, 0, sizeof *c);
  int rc;
  c->mode = arg_str(a, "mode") ? arg_str(a, "mode") : "gen";
  c->format = arg_str(a, "o");
  c->score = !strcmp(c->mode, "score");
  if (!c->score && strcmp(c->mode, "gen")) return usage_error("bench: --mode must be gen or score, not '%s'", c->mode);
  if (c->format && strcmp(c->format, "md") && strcmp(c->format, "csv"))
    return usage_error("bench: -o must be md or csv, not '%s'", c->format);
  if (c->format && arg_flag(a, "json")) return usage_error("bench: give --json or -o, not both");
  if (arg_flag(a, "json")) c->format = "json";
  if ((rc = session_opts(a, &c->session, &c->systolic)) || (rc = arg_int(a, "tokens", 1024, 2, 100000000, &c->tokens)) ||
      (rc = arg_int(a, "warmup", c->score ? 1 : 20, 0, 1000000, &c->warmup)) ||
      (rc = arg_int(a, "reps", c->score ? 5 : 200, 1, 100000000, &c->reps)) ||
      (rc = arg_double(a, "seconds", 2, 0, 3600, &c->seconds)) || (rc = arg_u64(a, "seed", 1, &c->seed)))
    return rc;
  if (c->score && c->session.batch > 1) return usage_error("bench: --mode score runs one stream (--batch 1)");
  return 0;
}

/* n token ids in [0, V) from the seed: a simple LCG is enough for token ids. */
static void bench_tokens(uint64_t seed, int64_t V, int32_t *toks, int64_t n) {
  uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
  for (int64_t i = 0; i < n; i++) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    toks[i] = (int32_t)((x >> 33) % (uint64_t)V);
  }
}

static int times_add(Times *t, double x) {
  if (t->n == t->cap) {
    int cap = t->cap ? 2 * t->cap : 256;
    double *v = realloc(t->v, (size_t)cap * sizeof *v);
    if (!v) return -1;
    t->v = v;
    t->cap = cap;
  }
  t->v[t->n++] = x;
  return 0;
}

/* Warm-up, then timed repetitions until there are c->reps of them and c->seconds have passed. Returns 0, a
 * status of the session (its message set), or -1 out of memory. */
static int bench_measure(const BenchConfig *c, lstmc_session *s, int32_t *toks, int64_t ntok, int64_t V, float *logits,
                         Times *t) {
  int st = 0;
  double start = now_seconds();
  for (long long i = 0; !st; i++) {
    double t0 = now_seconds();
    if (c->score) {
      lstmc_eval_result r;
      st = lstmc_session_eval(s, toks, ntok, &r);
    } else {
      st = lstmc_session_step_batch(s, toks, logits);
      toks[0] = (toks[0] + 1) % (int32_t)V; /* a different token each step */
    }
    double dt = now_seconds() - t0;
    if (i < c->warmup) {
      start = now_seconds();
      continue;
    }
    if (times_add(t, c->score ? dt / (double)(ntok - 1) : dt)) return -1;
    if (t->n >= c->reps && now_seconds() - start >= c->seconds) break;
  }
  return st;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* The q-quantile of sorted values (nearest rank). */
static double quantile(const double *v, int n, double q) {
  int k = (int)ceil(q * n) - 1;
  return v[k < 0 ? 0 : k >= n ? n - 1 : k];
}

static void bench_summarize(const BenchConfig *c, const lstmc_model_info *info, const lstmc_session *s, Times *t,
                            BenchSummary *r) {
  qsort(t->v, (size_t)t->n, sizeof *t->v, cmp_double);
  r->median = quantile(t->v, t->n, 0.5);
  r->p90 = quantile(t->v, t->n, 0.9);
  r->p99 = quantile(t->v, t->n, 0.99);
  /* per token of each stream: a step serves `batch` tokens */
  int batch = c->session.batch;
  r->per_token = c->score ? r->median : r->median / (double)batch;
  r->tokens_per_s = 1.0 / r->per_token;
  r->gb_per_s = (double)info->step_bytes / r->median / 1e9; /* median: one step, or one token of the stream */
  r->target = c->session.target ? c->session.target : "ref";
  r->executor = lstmc_session_executor(s);
  if (c->session.threads) snprintf(r->threads, sizeof r->threads, "%d", c->session.threads);
  else snprintf(r->threads, sizeof r->threads, "all");
}

/* report: the systolic array's (JSON), or NULL on other targets. */
static void bench_print(const BenchConfig *c, const lstmc_model_info *info, const BenchSummary *r, int reps,
                        const lstmc_session *s, const char *report) {
  long long batch = c->session.batch;
  double us = 1e6;
  if (c->format && !strcmp(c->format, "json")) {
    printf("{\"model\": \"%s\", \"target\": \"%s\", \"executor\": \"%s\", \"mode\": \"%s\", \"batch\": %lld, "
           "\"threads\": \"%s\", \"reps\": %d, \"median_us\": %.3f, \"p90_us\": %.3f, \"p99_us\": %.3f, "
           "\"us_per_token\": %.3f, \"tokens_per_s\": %.1f, \"step_bytes\": %lld, \"gb_per_s\": %.2f",
           info->name, r->target, r->executor, c->mode, batch, r->threads, reps, r->median * us, r->p90 * us, r->p99 * us,
           r->per_token * us, r->tokens_per_s, (long long)info->step_bytes, r->gb_per_s);
    if (report) printf(", \"systolic\": %s", report);
    printf("}\n");
  } else if (c->format && !strcmp(c->format, "md")) {
    int fell_back = strcmp(r->target, r->executor) != 0;
    printf("| model | target | mode | batch | threads | median µs | p90 µs | p99 µs | µs/token | tokens/s | GB/s |\n");
    printf("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    printf("| %s | %s%s%s | %s | %lld | %s | %.1f | %.1f | %.1f | %.1f | %.0f | %.1f |\n", info->name, r->target,
           fell_back ? " (ran on " : "", fell_back ? r->executor : "", c->mode, batch, r->threads, r->median * us,
           r->p90 * us, r->p99 * us, r->per_token * us, r->tokens_per_s, r->gb_per_s);
  } else if (c->format) {
    printf("model,target,executor,mode,batch,threads,reps,median_us,p90_us,p99_us,us_per_token,tokens_per_s,step_bytes,gb_per_s\n");
    printf("%s,%s,%s,%s,%lld,%s,%d,%.3f,%.3f,%.3f,%.3f,%.1f,%lld,%.2f\n", info->name, r->target, r->executor, c->mode,
           batch, r->threads, reps, r->median * us, r->p90 * us, r->p99 * us, r->per_token * us, r->tokens_per_s,
           (long long)info->step_bytes, r->gb_per_s);
  } else {
    printf("model %s: ", info->name);
    print_count(stdout, info->params);
    printf(" parameters, %.2f MB of weights read per step\n", (double)info->step_bytes / 1e6);
    printf("%s on %s (threads: %s), %s, batch %lld: %d repetitions after %lld warm-up\n", r->target, r->executor,
           r->threads, c->score ? "scoring" : "generation steps", batch, reps, c->warmup);
    printf("per %s: median %.1f µs, p90 %.1f µs, p99 %.1f µs; %.0f tokens/s%s; %.1f GB/s effective\n",
           c->score ? "token" : "step", r->median * us, r->p90 * us, r->p99 * us, r->tokens_per_s,
           c->score || batch == 1 ? "" : " (all streams)", r->gb_per_s);
    if (report) print_systolic_summary(s, stdout);
  }
}

int cmd_bench(Args *a) {
  BenchConfig c;
  int rc = bench_options(a, &c);
  lstmc_model *m;
  if (rc || (rc = open_model(a, 1, &m))) return rc;
  if ((rc = apply_passes(a, m))) {
    lstmc_model_free(m);
    return rc;
  }
  lstmc_model_info info;
  lstmc_model_get_info(m, &info);
  lstmc_session *s = NULL;
  int64_t ntok = c.score ? c.tokens : c.session.batch;
  int32_t *toks = malloc((size_t)ntok * sizeof *toks);
  float *logits = malloc((size_t)c.session.batch * (size_t)info.vocab_size * sizeof *logits);
  Times t = {0};
  int st = lstmc_session_create(m, &c.session, &s);
  if (st) {
    rc = fail(st);
  } else if (!toks || !logits) {
    rc = usage_error("bench: out of memory");
  } else {
    bench_tokens(c.seed, info.vocab_size, toks, ntok);
    st = bench_measure(&c, s, toks, ntok, info.vocab_size, logits, &t);
    if (st < 0) rc = usage_error("bench: out of memory");
    else if (st) rc = fail(st);
  }
  char *report = NULL;
  if (!rc && target_is_systolic(a) && (st = lstmc_session_systolic_report(s, 1, &report))) rc = fail(st);
  if (!rc) {
    BenchSummary r;
    bench_summarize(&c, &info, s, &t, &r);
    bench_print(&c, &info, &r, t.n, s, report);
  }
  lstmc_free(report);
  free(t.v);
  free(toks);
  free(logits);
  lstmc_session_free(s);
  lstmc_model_free(m);
  return rc;
}
