/* The message channel (include/lstmc.h, lstmc_set_message_handler): without a handler lstmc writes nothing
 * to stdout or stderr, whatever happens (diagnostics of a bad spec, pass reports, the note about a recorded
 * pipeline, the reference-fallback warning); with one, each of these arrives as one message of its kind,
 * complete lines ready to print, and a call that fails reports its error before it returns. argv[1]: a
 * folder for temporary files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lstmc.h"
#include "testutil.h"

static char tmp[600];
static int cpu_missing; /* lstmc built without the LLVM CPU backend: no fallback to warn about */

typedef struct Message {
  lstmc_message_kind kind;
  char text[8192];
} Message;

typedef struct Caught {
  Message m[64];
  int n;
} Caught;

static void catch_message(void *ctx, lstmc_message_kind kind, const char *text) {
  Caught *c = ctx;
  if (c->n == 64) return;
  c->m[c->n].kind = kind;
  snprintf(c->m[c->n].text, sizeof c->m[c->n].text, "%s", text);
  c->n++;
}

/* The first message of a kind containing needle, or NULL. */
static const Message *find(const Caught *c, lstmc_message_kind kind, const char *needle) {
  for (int i = 0; i < c->n; i++)
    if (c->m[i].kind == kind && strstr(c->m[i].text, needle)) return &c->m[i];
  return NULL;
}

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (f) {
    fputs(text, f);
    fclose(f);
  }
}

/* Everything that makes lstmc say something besides a status. Returns the number of calls that went as
 * expected. */
static int say_everything(void) {
  int ok = 0;
  char spec[700], weights[700], saved[700], piped[700];
  lstmc_model *m = NULL, *bad = NULL;
  /* two errors in a spec */
  snprintf(spec, sizeof spec, "%s/two_errors.lstm", tmp);
  write_text(spec, "model m { vocab bytes; embed 0; lstm 4; decoder tied; }\nmodel n { vocab bytes; embed 4; lstm 4; decoder tied; }\n");
  ok += lstmc_model_load(spec, &bad) == LSTMC_ERR_PARSE;
  snprintf(spec, sizeof spec, "%s/tests/golden/chars_untied3/model.lstm", LSTMC_SOURCE_DIR);
  snprintf(weights, sizeof weights, "%s/tests/golden/chars_untied3/weights.safetensors", LSTMC_SOURCE_DIR);
  if (lstmc_model_load(spec, &m) || lstmc_model_load_weights(m, weights)) {
    lstmc_model_free(m);
    return ok;
  }
  ok++;
  /* reports, then a pipeline error with its place, then one without */
  lstmc_pass_opts po = {.stats = 1, .time_passes = 1, .print_after = "prune", .source = "--passes"};
  ok += lstmc_model_apply_passes(m, "prune{sparsity=0.5},column-combine", &po) == 0;
  ok += lstmc_model_apply_passes(m, "prune{only=nothing}", NULL) == LSTMC_ERR_USAGE;
  po = (lstmc_pass_opts){.print_after = "prun"};
  ok += lstmc_model_apply_passes(m, "prune", &po) == LSTMC_ERR_USAGE;
  /* weights that record a pipeline: the spec's is not applied again, with a note */
  snprintf(saved, sizeof saved, "%s/recorded.safetensors", tmp);
  snprintf(piped, sizeof piped, "%s/piped.lstm", tmp);
  write_text(piped, "model chars_untied3 { vocab chars; embed 24; lstm 40; lstm 40; lstm 16; decoder untied; }\n"
                    "passes \"quantize\";\n");
  lstmc_model *r = NULL;
  if (!lstmc_model_save_weights(m, saved) && !lstmc_model_load(piped, &r) && !lstmc_model_load_weights(r, saved)) {
    po = (lstmc_pass_opts){.verbose = 1};
    ok += lstmc_model_apply_passes(r, NULL, &po) == 0;
  }
  lstmc_model_free(r);
  /* more streams than the CPU backend steps together: the reference executor, with a warning */
  lstmc_session_opts so = {.target = "cpu", .batch = 65};
  lstmc_session *s = NULL;
  int st = lstmc_session_create(m, &so, &s);
  if (st == 0 && !strcmp(lstmc_session_executor(s), "ref")) ok++;
  if (st == LSTMC_ERR_UNSUPPORTED && strstr(lstmc_errmsg(), "built without")) {
    cpu_missing = 1;
    ok++;
  }
  lstmc_session_free(s);
  lstmc_model_free(m);
  return ok;
}

enum { EXPECTED = 7 };

static void test_silent_by_default(void) {
  char out[700];
  snprintf(out, sizeof out, "%s/silent.txt", tmp);
  fflush(stdout);
  fflush(stderr);
  int saved1 = dup(1), saved2 = dup(2);
  FILE *f = fopen(out, "w");
  if (!CHECK(f && saved1 >= 0 && saved2 >= 0)) return;
  dup2(fileno(f), 1);
  dup2(fileno(f), 2);
  int ok = say_everything();
  fflush(stdout);
  fflush(stderr);
  dup2(saved1, 1);
  dup2(saved2, 2);
  close(saved1);
  close(saved2);
  long size = ftell(f) >= 0 ? (fseek(f, 0, SEEK_END), ftell(f)) : -1;
  fclose(f);
  CHECK_INT_EQ(ok, EXPECTED);
  CHECK_INT_EQ(size, 0);
}

static void test_messages(void) {
  static Caught c;
  memset(&c, 0, sizeof c);
  lstmc_set_message_handler(catch_message, &c);
  int ok = say_everything();
  lstmc_set_message_handler(NULL, NULL);
  CHECK_INT_EQ(ok, EXPECTED);
  for (int i = 0; i < c.n; i++) {
    size_t len = strlen(c.m[i].text);
    if (!CHECK(len > 0 && c.m[i].text[len - 1] == '\n')) fprintf(stderr, "    message %d: %s\n", i, c.m[i].text);
  }
  /* both errors of the spec, each with its line and caret */
  const Message *e = find(&c, LSTMC_MSG_ERROR, "two_errors.lstm:1:30: error:");
  if (CHECK(e)) CHECK_CONTAINS(e->text, "\nmodel m { vocab bytes; embed 0; lstm 4; decoder tied; }\n                             ^\n");
  CHECK(find(&c, LSTMC_MSG_ERROR, "two_errors.lstm:2:1: error: 'model' given twice\n"));
  CHECK(find(&c, LSTMC_MSG_NOTE, "two_errors.lstm:1:1: note: first given here\n"));
  /* the reports asked for */
  CHECK(find(&c, LSTMC_MSG_REPORT, "pass statistics: "));
  CHECK(find(&c, LSTMC_MSG_REPORT, "   1  prune "));
  CHECK(find(&c, LSTMC_MSG_REPORT, "; IR after pass 1 (prune)\nmodel chars_untied3"));
  CHECK(!find(&c, LSTMC_MSG_REPORT, "; IR after pass 2"));
  CHECK(find(&c, LSTMC_MSG_REPORT, "pass timing (seconds):\n   1  prune "));
  /* a pass that cannot take its input: the place; a bad option of the run: "lstmc: error: " */
  CHECK(find(&c, LSTMC_MSG_ERROR, "pipeline:1:1: error: pass 1 (prune): "));
  CHECK(find(&c, LSTMC_MSG_ERROR, "lstmc: error: --print-after: unknown pass 'prun'; did you mean 'prune'?\n"));
  CHECK(find(&c, LSTMC_MSG_NOTE, "lstmc: the weights record the pipeline \"prune{sparsity=0.5},column-combine\"; the "
                                 "spec's pipeline \"quantize\" is not applied again\n"));
  if (!cpu_missing)
    CHECK(find(&c, LSTMC_MSG_WARNING, "lstmc: warning: cpu backend: batch 65 is more than the 64 streams it steps together; "
                                      "running on the reference executor instead\n"));
}

int main(int argc, char **argv) {
  snprintf(tmp, sizeof tmp, "%s", argc > 1 ? argv[1] : ".");
  test_silent_by_default();
  test_messages();
  return tu_summary("api_messages");
}
