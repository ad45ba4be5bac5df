/* lstmc bench: time per token of an executor on a model, after a warm-up and over many repetitions.
 *
 *   gen    one step per repetition (batch streams at once), random tokens: the latency of generation
 *          without sampling; median, p90 and p99 of the step time.
 *   score  one evaluation of --tokens random tokens per repetition (one stream): the time per token when
 *          the whole stream is known, which lets a backend batch the input projections.
 *
 * The model is timed after its pass pipeline (--passes, else the spec's, as eval runs it; --passes '' for
 * the weights as they are). GB/s is effective: the bytes one step reads (lstmc_model_info.step_bytes) times
 * the steps per second. Timings are wall-clock (CLOCK_MONOTONIC). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/cli.h"

const OptSpec bench_opts[] = {{"weights", 1, "weights file"},
                              {"target", 1, "executor: ref (default), cpu, cuda, systolic"},
                              {"mode", 1, "gen (default) or score"},
                              {"batch", 1, "streams stepped together (gen; default 1)"},
                              {"threads", 1, "CPU threads (0 = all cores; default 0)"},
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

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
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

typedef struct Times {
  double *v;
  int n, cap;
} Times;

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

int cmd_bench(Args *a) {
  int rc;
  long long batch, threads, tokens, warmup, reps;
  double seconds;
  uint64_t seed;
  const char *mode = arg_str(a, "mode") ? arg_str(a, "mode") : "gen", *fmt = arg_str(a, "o");
  int score = !strcmp(mode, "score");
  if (!score && strcmp(mode, "gen")) return usage_error("bench: --mode must be gen or score, not '%s'", mode);
  if (fmt && strcmp(fmt, "md") && strcmp(fmt, "csv")) return usage_error("bench: -o must be md or csv, not '%s'", fmt);
  if (fmt && arg_flag(a, "json")) return usage_error("bench: give --json or -o, not both");
  if ((rc = arg_int(a, "batch", 1, 1, 1024, &batch)) || (rc = arg_int(a, "threads", 0, 0, 1024, &threads)) ||
      (rc = arg_int(a, "tokens", 1024, 2, 100000000, &tokens)) ||
      (rc = arg_int(a, "warmup", score ? 1 : 20, 0, 1000000, &warmup)) ||
      (rc = arg_int(a, "reps", score ? 5 : 200, 1, 100000000, &reps)) ||
      (rc = arg_double(a, "seconds", 2, 0, 3600, &seconds)) || (rc = arg_u64(a, "seed", 1, &seed)))
    return rc;
  if (score && batch > 1) return usage_error("bench: --mode score runs one stream (--batch 1)");
  lstmc_systolic_opts sys;
  if ((rc = systolic_opts_from_args(a, &sys))) return rc;
  lstmc_model *m;
  if ((rc = open_model(a, 1, &m))) return rc;
  if ((rc = apply_passes(a, m))) {
    lstmc_model_free(m);
    return rc;
  }
  lstmc_model_info info;
  lstmc_model_get_info(m, &info);
  lstmc_session_opts so = {0};
  so.target = arg_str(a, "target");
  so.threads = (int)threads;
  so.batch = (int)batch;
  so.systolic = &sys;
  lstmc_session *s = NULL;
  int32_t *toks = NULL;
  float *logits = NULL;
  Times t = {0};
  int st = lstmc_session_create(m, &so, &s);
  if (st) {
    rc = fail(st);
    goto done;
  }
  int64_t ntok = score ? tokens : batch;
  toks = malloc((size_t)ntok * sizeof *toks);
  logits = malloc((size_t)batch * (size_t)info.vocab_size * sizeof *logits);
  if (!toks || !logits) {
    rc = usage_error("bench: out of memory");
    goto done;
  }
  uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1; /* a simple LCG is enough for token ids */
  for (int64_t i = 0; i < ntok; i++) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    toks[i] = (int32_t)((x >> 33) % (uint64_t)info.vocab_size);
  }
  double start = now_s();
  for (long long i = 0; !st; i++) {
    double t0 = now_s();
    if (score) {
      lstmc_eval_result r;
      st = lstmc_session_eval(s, toks, ntok, &r);
    } else {
      st = lstmc_session_step_batch(s, toks, logits);
      toks[0] = (toks[0] + 1) % (int32_t)info.vocab_size; /* a different token each step */
    }
    double dt = now_s() - t0;
    if (i < warmup) {
      start = now_s();
      continue;
    }
    if (times_add(&t, score ? dt / (double)(ntok - 1) : dt)) {
      rc = usage_error("bench: out of memory");
      goto done;
    }
    if (t.n >= reps && now_s() - start >= seconds) break;
  }
  if (st) {
    rc = fail(st);
    goto done;
  }
  qsort(t.v, (size_t)t.n, sizeof *t.v, cmp_double);
  double med = quantile(t.v, t.n, 0.5), p90 = quantile(t.v, t.n, 0.9), p99 = quantile(t.v, t.n, 0.99);
  /* per token of each stream: a step serves `batch` tokens */
  double per_tok = score ? med : med / (double)batch, tps = 1.0 / per_tok;
  double gbs = (double)info.step_bytes / med / 1e9; /* med: one step, or one token of the stream */
  const char *target = so.target ? so.target : "ref", *ran = lstmc_session_executor(s);
  char thr[32];
  if (threads) snprintf(thr, sizeof thr, "%lld", threads);
  else snprintf(thr, sizeof thr, "all");
  char *report = NULL;
  if (target_is_systolic(a) && (st = lstmc_session_systolic_report(s, 1, &report))) {
    rc = fail(st);
    goto done;
  }
  if (arg_flag(a, "json")) {
    printf("{\"model\": \"%s\", \"target\": \"%s\", \"executor\": \"%s\", \"mode\": \"%s\", \"batch\": %lld, "
           "\"threads\": \"%s\", \"reps\": %d, \"median_us\": %.3f, \"p90_us\": %.3f, \"p99_us\": %.3f, "
           "\"us_per_token\": %.3f, \"tokens_per_s\": %.1f, \"step_bytes\": %lld, \"gb_per_s\": %.2f",
           info.name, target, ran, mode, batch, thr, t.n, med * 1e6, p90 * 1e6, p99 * 1e6, per_tok * 1e6, tps,
           (long long)info.step_bytes, gbs);
    if (report) printf(", \"systolic\": %s", report);
    printf("}\n");
  } else if (fmt && !strcmp(fmt, "md")) {
    printf("| model | target | mode | batch | threads | median µs | p90 µs | p99 µs | µs/token | tokens/s | GB/s |\n");
    printf("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    printf("| %s | %s%s%s | %s | %lld | %s | %.1f | %.1f | %.1f | %.1f | %.0f | %.1f |\n", info.name, target,
           strcmp(target, ran) ? " (ran on " : "", strcmp(target, ran) ? ran : "", mode, batch, thr, med * 1e6,
           p90 * 1e6, p99 * 1e6, per_tok * 1e6, tps, gbs);
  } else if (fmt) {
    printf("model,target,executor,mode,batch,threads,reps,median_us,p90_us,p99_us,us_per_token,tokens_per_s,step_bytes,gb_per_s\n");
    printf("%s,%s,%s,%s,%lld,%s,%d,%.3f,%.3f,%.3f,%.3f,%.1f,%lld,%.2f\n", info.name, target, ran, mode, batch, thr,
           t.n, med * 1e6, p90 * 1e6, p99 * 1e6, per_tok * 1e6, tps, (long long)info.step_bytes, gbs);
  } else {
    printf("model %s: ", info.name);
    print_count(stdout, info.params);
    printf(" parameters, %.2f MB of weights read per step\n", (double)info.step_bytes / 1e6);
    printf("%s on %s (threads: %s), %s, batch %lld: %d repetitions after %lld warm-up\n", target, ran, thr,
           score ? "scoring" : "generation steps", batch, t.n, warmup);
    printf("per %s: median %.1f µs, p90 %.1f µs, p99 %.1f µs; %.0f tokens/s%s; %.1f GB/s effective\n",
           score ? "token" : "step", med * 1e6, p90 * 1e6, p99 * 1e6, tps,
           score || batch == 1 ? "" : " (all streams)", gbs);
    if (report) print_systolic_summary(s, stdout);
  }
  lstmc_free(report);
done:
  free(t.v);
  free(toks);
  free(logits);
  lstmc_session_free(s);
  lstmc_model_free(m);
  return rc;
}
