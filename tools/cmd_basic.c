/* The basic commands: check, ir, init, eval, generate (the last three run the model's pass pipeline, see
 * apply_passes in cmd_passes.c). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/cli.h"


const OptSpec check_opts[] = {{"weights", 1, "also load and check these weights"}, {0}};

int cmd_check(Args *a) {
  lstmc_model *m;
  int rc = open_model(a, 0, &m);
  if (rc) return rc;
  lstmc_model_info info;
  lstmc_model_get_info(m, &info);
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
  lstmc_model_free(m);
  return 0;
}

const OptSpec ir_opts[] = {{"weights", 1, "load weights (formats and sizes are printed)"},
                           {"o", 1, "write the weights after the pipeline (.safetensors), or the IR text with them (.ir)"},
                           {"inline", 1, "print the values of tensors of at most N weights (default 0; in an .ir file 4096)"},
                           PASS_OPTSPECS,
                           {0}};

static int ends_with(const char *s, const char *tail) {
  size_t n = strlen(s), k = strlen(tail);
  return n >= k && !strcmp(s + n - k, tail);
}

int cmd_ir(Args *a) {
  const char *o = arg_str(a, "o");
  int to_ir = o && ends_with(o, ".ir");
  if (!arg_str(a, "weights") && (arg_str(a, "passes") || (o && !to_ir)))
    return usage_error("ir: --passes and -o need --weights");
  long long inline_max;
  int rc = arg_int(a, "inline", 0, 0, LLONG_MAX, &inline_max);
  if (rc) return rc;
  lstmc_model *m;
  if ((rc = open_model(a, 0, &m))) return rc;
  /* the pipeline runs on weights: without them the spec's is only printed */
  if (arg_str(a, "weights") && (rc = apply_passes_inline(a, m, inline_max))) {
    lstmc_model_free(m);
    return rc;
  }
  char *text;
  int st = lstmc_model_ir_text(m, inline_max, &text);
  if (!st && to_ir) st = lstmc_model_write_ir(m, o, arg_str(a, "inline") ? inline_max : IR_INLINE_DEFAULT);
  else if (!st && o) st = lstmc_model_save_weights(m, o);
  if (st) {
    lstmc_free(text);
    lstmc_model_free(m);
    return fail(st);
  }
  fputs(text, stdout);
  if (o) {
    const char *p = lstmc_model_pipeline(m);
    fprintf(stderr, "lstmc: wrote %s (pipeline: %s)\n", o, p && p[0] ? p : "none");
  }
  lstmc_free(text);
  lstmc_model_free(m);
  return 0;
}

const OptSpec init_opts[] = {{"vocab-from", 1, "text to build the vocabulary from (chars, words)"},
                                    {"seed", 1, "random seed (default 1)"},
                                    {"o", 1, "output weights file (.safetensors)"},
                                    {0}};

int cmd_init(Args *a) {
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

const OptSpec eval_opts[] = {{"weights", 1, "weights file"},
                             {"data", 1, "text to evaluate"},
                             OPT_TARGET,
                             OPT_THREADS,
                             {"json", 0, "print one JSON object"},
                             PASS_OPTSPECS,
                             OPT_NO_CACHE,
                             SYSTOLIC_OPTSPECS,
                             {0}};

int cmd_eval(Args *a) {
  int rc;
  lstmc_session_opts so;
  lstmc_systolic_opts sys;
  if ((rc = require(a, "data")) || (rc = session_opts(a, &so, &sys))) return rc;
  lstmc_model *m;
  if ((rc = open_model(a, 1, &m))) return rc;
  if ((rc = apply_passes(a, m))) {
    lstmc_model_free(m);
    return rc;
  }
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
  if ((st = lstmc_tokenize(m, text, len, data, &ids, &n)) || (st = lstmc_session_create(m, &so, &s))) {
    rc = fail(st);
    goto done;
  }
  if (n < 2) {
    fprintf(stderr, "lstmc: error: %s: the text has %lld token%s; evaluation needs at least 2\n", data, (long long)n,
            n == 1 ? "" : "s");
    rc = 1;
    goto done;
  }
  if ((st = lstmc_session_eval(s, ids, n, &r))) {
    rc = fail(st);
    goto done;
  }
  char *report = NULL;
  if (target_is_systolic(a) && (st = lstmc_session_systolic_report(s, arg_flag(a, "json"), &report))) {
    rc = fail(st);
    goto done;
  }
  if (arg_flag(a, "json")) {
    printf("{\"bpc\": %.17g, \"tokens\": %lld, \"predictions\": %lld, \"nll\": %.17g, \"seconds\": %.6f, "
           "\"tokens_per_s\": %.3f, \"target\": \"%s\"",
           r.bpc, (long long)r.tokens, (long long)r.predictions, r.nll, r.seconds, r.tokens_per_s,
           so.target ? so.target : "ref");
    if (report) printf(", \"systolic\": %s", report);
    printf("}\n");
  } else {
    printf("bpc: %.6f\n", r.bpc);
    if (report) print_systolic_summary(s, stdout);
    if (report && arg_flag(a, "verbose")) fputs(report, stderr);
  }
  lstmc_free(report);
done:
  lstmc_session_free(s);
  lstmc_free(ids);
  free(text);
  lstmc_model_free(m);
  return rc;
}

const OptSpec generate_opts[] = {{"weights", 1, "weights file"},
                                 {"prime", 1, "text to start from"},
                                 {"length", 1, "tokens to generate (default 200)"},
                                 {"temperature", 1, "sampling temperature (default 1; 0 = greedy)"},
                                 {"top-k", 1, "sample among the K most likely tokens (default: all)"},
                                 {"seed", 1, "random seed (default 1)"},
                                 OPT_TARGET,
                                 OPT_THREADS,
                                 PASS_OPTSPECS,
                                 OPT_NO_CACHE,
                                 SYSTOLIC_OPTSPECS,
                                 {0}};

static void write_text(const char *t, size_t n, void *ctx) {
  (void)ctx;
  fwrite(t, 1, n, stdout);
  if (isatty(STDOUT_FILENO)) fflush(stdout);
}

int cmd_generate(Args *a) {
  int rc;
  long long length, topk;
  double temp;
  uint64_t seed;
  lstmc_session_opts so;
  lstmc_systolic_opts sys;
  if ((rc = arg_int(a, "length", 200, 0, LLONG_MAX, &length)) || (rc = arg_int(a, "top-k", 0, 0, INT_MAX, &topk)) ||
      (rc = arg_double(a, "temperature", 1.0, 0, 1e6, &temp)) || (rc = arg_u64(a, "seed", 1, &seed)) ||
      (rc = session_opts(a, &so, &sys)))
    return rc;
  lstmc_model *m;
  if ((rc = open_model(a, 1, &m))) return rc;
  if ((rc = apply_passes(a, m))) {
    lstmc_model_free(m);
    return rc;
  }
  lstmc_session *s = NULL;
  int st = lstmc_session_create(m, &so, &s);
  if (!st) {
    const char *prime = arg_str(a, "prime");
    if (prime) fputs(prime, stdout);
    lstmc_gen_opts go = {.prime = prime, .length = length, .temperature = temp, .top_k = (int)topk, .seed = seed, .on_text = write_text};
    st = lstmc_session_generate(s, &go, NULL);
    fputc('\n', stdout);
  }
  rc = st ? fail(st) : 0;
  lstmc_session_free(s);
  lstmc_model_free(m);
  return rc;
}

