/* lstmc_errmsg() is never stale: every public call is made to fail in a few ways, each time after a
 * sentinel message was recorded, and the status and the message must name the problem (a file, an option,
 * a limit), never repeat the sentinel. Then an allocation-failure sweep over a whole session of public
 * calls (load, weights, tokenize, pipeline, IR, report, save, session, eval, generate, CUDA source)
 * makes each allocation fail in turn: every failure must be LSTMC_ERR_NOMEM with an "out of memory"
 * message of its own. argv[1]: a folder for temporary files. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lstmc.h"
#include "support/alloc.h"
#include "support/err.h"
#include "testutil.h"

static char tmp[600];
static const char *const sentinel = "sentinel: an earlier failure";

/* Records the sentinel, so that a call which fails without a message of its own shows it. */
static void stale(void) { lx_fail(LSTMC_ERR_USAGE, "%s", sentinel); }

/* The status and the message of the call just made: `want` must be in the message. */
static int expect(int got, int status, const char *want, const char *what) {
  int ok = CHECK_INT_EQ(got, status);
  ok &= CHECK(strcmp(lstmc_errmsg(), sentinel) != 0);
  ok &= CHECK_CONTAINS(lstmc_errmsg(), want);
  if (!ok) fprintf(stderr, "    in: %s\n", what);
  return ok;
}
#define EXPECT(call, status, want) (stale(), expect((call), (status), (want), #call))

static void golden(char *out, size_t n, const char *model, const char *file) {
  snprintf(out, n, "%s/tests/golden/%s/%s", LSTMC_SOURCE_DIR, model, file);
}

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (f) {
    fputs(text, f);
    fclose(f);
  }
}

static void test_models(void) {
  char path[800], weights[800], text[800];
  lstmc_model *m = (lstmc_model *)1;
  snprintf(path, sizeof path, "%s/no_such.lstm", tmp);
  EXPECT(lstmc_model_load(path, &m), LSTMC_ERR_IO, "no_such.lstm");
  CHECK(m == NULL);
  EXPECT(lstmc_model_load(tmp, &m), LSTMC_ERR_IO, "it is a directory");
  snprintf(path, sizeof path, "%s/broken.lstm", tmp);
  write_text(path, "model m { vocab bytes; embed 4; lstm 4 decoder tied; }\n");
  EXPECT(lstmc_model_load(path, &m), LSTMC_ERR_PARSE, "broken.lstm:1:");
  write_text(path, "model m { vocab bytes; embed 4; lstm 4; decoder tied; }\npasses \"prune,quantise\";\n");
  EXPECT(lstmc_model_load(path, &m), LSTMC_ERR_PARSE, "unknown pass 'quantise'");

  golden(path, sizeof path, "chars_untied3", "model.lstm");
  if (!CHECK(lstmc_model_load(path, &m) == 0)) return;
  snprintf(weights, sizeof weights, "%s/no_such.safetensors", tmp);
  EXPECT(lstmc_model_load_weights(m, weights), LSTMC_ERR_IO, "no_such.safetensors");
  golden(weights, sizeof weights, "chars_untied3", "text.txt");
  EXPECT(lstmc_model_load_weights(m, weights), LSTMC_ERR_FORMAT, "text.txt");
  golden(weights, sizeof weights, "words_untied1", "weights.safetensors");
  EXPECT(lstmc_model_load_weights(m, weights), LSTMC_ERR_SHAPE, "words_untied1/weights.safetensors");

  /* without weights */
  char *s = NULL;
  int32_t *ids = NULL;
  int64_t n = 0;
  snprintf(path, sizeof path, "%s/out.safetensors", tmp);
  EXPECT(lstmc_model_save_weights(m, path), LSTMC_ERR_USAGE, "no weights to save");
  EXPECT(lstmc_tokenize(m, "abc", 3, "x", &ids, &n), LSTMC_ERR_USAGE, "no vocabulary");
  EXPECT(lstmc_model_apply_passes(m, "prune", NULL), LSTMC_ERR_USAGE, "passes need weights");
  EXPECT(lstmc_model_report(m, 32, 32, 0, &s), LSTMC_ERR_USAGE, "none are loaded");
  lstmc_session *ss = NULL;
  EXPECT(lstmc_session_create(m, NULL, &ss), LSTMC_ERR_USAGE, "no weights loaded");
  lstmc_compile_opts co = {.target = "cuda", .output = path};
  EXPECT(lstmc_model_compile(m, &co), LSTMC_ERR_USAGE, "no weights loaded");
  EXPECT(lstmc_model_init_weights(m, NULL, 1), LSTMC_ERR_USAGE, "--vocab-from");
  snprintf(text, sizeof text, "%s/no_such.txt", tmp);
  EXPECT(lstmc_model_init_weights(m, text, 1), LSTMC_ERR_IO, "no_such.txt");
  /* a vocabulary of the wrong size for the spec */
  snprintf(text, sizeof text, "%s/few.txt", tmp);
  write_text(text, "abc");
  snprintf(path, sizeof path, "%s/sized.lstm", tmp);
  write_text(path, "model m { vocab chars 5; embed 4; lstm 4; decoder tied; }\n");
  lstmc_model *sized = NULL;
  if (CHECK(lstmc_model_load(path, &sized) == 0))
    EXPECT(lstmc_model_init_weights(sized, text, 1), LSTMC_ERR_DATA, "few.txt: the text has 3 distinct tokens");
  lstmc_model_free(sized);

  /* with weights */
  golden(weights, sizeof weights, "chars_untied3", "weights.safetensors");
  if (!CHECK(lstmc_model_load_weights(m, weights) == 0)) {
    fprintf(stderr, "    %s\n", lstmc_errmsg());
    lstmc_model_free(m);
    return;
  }
  EXPECT(lstmc_model_save_weights(m, "/nonexistent/dir/w.safetensors"), LSTMC_ERR_IO, "/nonexistent/dir");
  /* weights refused leave the model as it was: its vocabulary, and weights that still run */
  golden(path, sizeof path, "words_untied1", "weights.safetensors");
  EXPECT(lstmc_model_load_weights(m, path), LSTMC_ERR_SHAPE, "words_untied1/weights.safetensors");
  lstmc_model_info info;
  lstmc_model_get_info(m, &info);
  CHECK_INT_EQ(info.vocab_size, 46);
  CHECK(info.has_weights);
  EXPECT(lstmc_tokenize(m, "a\x01", 2, "input.txt", &ids, &n), LSTMC_ERR_DATA, "input.txt: byte offset 1");
  EXPECT(lstmc_model_apply_passes(m, "prune,quantise", NULL), LSTMC_ERR_PARSE, "unknown pass 'quantise'");
  EXPECT(lstmc_model_apply_passes(m, "prune{sparsity=2}", NULL), LSTMC_ERR_PARSE, "sparsity must be a number in [0, 1]");
  lstmc_pass_opts po = {.print_after = "prun"};
  EXPECT(lstmc_model_apply_passes(m, "prune", &po), LSTMC_ERR_USAGE, "--print-after: unknown pass 'prun'");
  EXPECT(lstmc_model_apply_passes(m, "quantize,prune", NULL), LSTMC_ERR_UNSUPPORTED, "pass 2 (prune)");
  EXPECT(lstmc_model_report(m, 0, 32, 0, &s), LSTMC_ERR_USAGE, "at least one row");
  lstmc_compile_opts cpu = {.output = path, .emit = "elf"}; /* NULL target: cpu */
  if (lstmc_compile_check(&cpu) == 0) EXPECT(lstmc_model_compile(m, &cpu), LSTMC_ERR_USAGE, "--emit must be obj, asm or llvm, not 'elf'");
  else EXPECT(lstmc_model_compile(m, &cpu), LSTMC_ERR_UNSUPPORTED, "compile: this lstmc was built without the LLVM CPU backend");
  co.emit = "sass";
  EXPECT(lstmc_model_compile(m, &co), LSTMC_ERR_USAGE, "--emit must be cuda, ptx or cubin, got 'sass'");
  co.emit = NULL;
  co.output = NULL;
  EXPECT(lstmc_model_compile(m, &co), LSTMC_ERR_USAGE, "no output file");
  co.target = "ref";
  EXPECT(lstmc_compile_check(&co), LSTMC_ERR_USAGE, "target 'ref' cannot compile");
  lstmc_model_free(m);
}

static void test_sessions(void) {
  char path[800];
  lstmc_model *m = NULL;
  golden(path, sizeof path, "chars_untied3", "model.lstm");
  if (!CHECK(lstmc_model_load(path, &m) == 0)) return;
  golden(path, sizeof path, "chars_untied3", "weights.safetensors");
  lstmc_session *s = NULL, *b = NULL;
  if (!CHECK(lstmc_model_load_weights(m, path) == 0) || !CHECK(lstmc_session_create(m, NULL, &s) == 0)) {
    lstmc_model_free(m);
    return;
  }
  lstmc_model_info info;
  lstmc_model_get_info(m, &info);
  float *logits = lx_malloc((size_t)info.vocab_size * 2 * sizeof(float));
  lstmc_session_opts so = {.target = "gpu"};
  EXPECT(lstmc_session_create(m, &so, &b), LSTMC_ERR_USAGE, "unknown target 'gpu'");
  so = (lstmc_session_opts){.batch = -2};
  EXPECT(lstmc_session_create(m, &so, &b), LSTMC_ERR_USAGE, "the batch must be positive");
  so = (lstmc_session_opts){.target = "cuda"};
  EXPECT(lstmc_session_create(m, &so, &b), LSTMC_ERR_NODEVICE, "no CUDA driver");
  EXPECT(lstmc_session_step(s, (int32_t)info.vocab_size, logits), LSTMC_ERR_DATA, "outside the vocabulary");
  int32_t two[2] = {0, -1};
  EXPECT(lstmc_session_step_batch(s, &two[1], logits), LSTMC_ERR_DATA, "token id -1");
  EXPECT(lstmc_session_eval(s, two, 1, &(lstmc_eval_result){0}), LSTMC_ERR_DATA, "evaluation needs at least 2");
  EXPECT(lstmc_session_eval(s, two, 2, &(lstmc_eval_result){0}), LSTMC_ERR_DATA, "token id -1 (position 1)");
  lstmc_gen_opts go = {.length = -1};
  EXPECT(lstmc_session_generate(s, &go, NULL), LSTMC_ERR_USAGE, "--length");
  go = (lstmc_gen_opts){.length = 2, .temperature = NAN};
  EXPECT(lstmc_session_generate(s, &go, NULL), LSTMC_ERR_USAGE, "--temperature");
  go = (lstmc_gen_opts){.length = 2, .top_k = -1};
  EXPECT(lstmc_session_generate(s, &go, NULL), LSTMC_ERR_USAGE, "--top-k");
  go = (lstmc_gen_opts){.length = 2, .prime = "a\x01"};
  EXPECT(lstmc_session_generate(s, &go, NULL), LSTMC_ERR_DATA, "--prime: byte offset 1");
  so = (lstmc_session_opts){.batch = 2};
  if (CHECK(lstmc_session_create(m, &so, &b) == 0)) {
    EXPECT(lstmc_session_step(b, 0, logits), LSTMC_ERR_USAGE, "runs one stream");
    EXPECT(lstmc_session_eval(b, two, 2, &(lstmc_eval_result){0}), LSTMC_ERR_USAGE, "runs one stream");
    go = (lstmc_gen_opts){.length = 2};
    EXPECT(lstmc_session_generate(b, &go, NULL), LSTMC_ERR_USAGE, "runs one stream");
  }
  lx_free(logits);
  lstmc_session_free(b);
  lstmc_session_free(s);
  lstmc_model_free(m);
}

static const char *failed_call; /* the call that failed last in session_once */

/* Counts a failure whose message is the sentinel, naming the call; returns st. */
static int step_done(int st, const char *call, int *stale_messages) {
  if (st) failed_call = call;
  if (st && !strcmp(lstmc_errmsg(), sentinel) && (*stale_messages)++ < 5) fprintf(stderr, "    stale message after %s\n", call);
  return st;
}

/* A whole session of public calls on a small model; stops at the first failure and returns its status,
 * having checked that its message is its own. */
static int session_once(const char *dir, int *stale_messages) {
  char path[800], out[800];
  lstmc_model *m = NULL;
  lstmc_session *s = NULL;
  char text[4096], *ir = NULL, *report = NULL, *list = NULL, *gen = NULL;
  int32_t *ids = NULL;
  int64_t n = 0;
  size_t len = 0;
  int st = 0;
  failed_call = NULL;
#define STEP(call) step_done(st = (stale(), (call)), #call, stale_messages)
  snprintf(path, sizeof path, "%s/model.lstm", dir);
  if (STEP(lstmc_model_load(path, &m))) goto done;
  snprintf(path, sizeof path, "%s/weights.safetensors", dir);
  if (STEP(lstmc_model_load_weights(m, path))) goto done;
  snprintf(path, sizeof path, "%s/text.txt", dir);
  FILE *f = fopen(path, "rb");
  if (!CHECK(f != NULL)) goto done;
  len = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  if (STEP(lstmc_tokenize(m, text, len, "text.txt", &ids, &n))) goto done;
  if (STEP(lstmc_model_apply_passes(m, "prune{sparsity=0.5},column-combine{alpha=4},conflict-prune,quantize{bits=8}", NULL))) goto done;
  if (STEP(lstmc_model_ir(m, &ir)) || STEP(lstmc_model_report(m, 16, 16, 1, &report)) || STEP(lstmc_passes_list(&list))) goto done;
  snprintf(out, sizeof out, "%s/sweep.safetensors", tmp);
  if (STEP(lstmc_model_save_weights(m, out))) goto done;
  if (STEP(lstmc_session_create(m, NULL, &s))) goto done;
  lstmc_eval_result r;
  if (STEP(lstmc_session_eval(s, ids, n < 64 ? n : 64, &r))) goto done;
  lstmc_gen_opts go = {.length = 8, .seed = 1};
  if (STEP(lstmc_session_generate(s, &go, &gen))) goto done;
  snprintf(out, sizeof out, "%s/sweep.cu", tmp);
  lstmc_compile_opts co = {.target = "cuda", .output = out, .arch = "sm_80"};
  STEP(lstmc_model_compile(m, &co));
#undef STEP
done:
  lstmc_free(gen);
  lstmc_free(list);
  lstmc_free(report);
  lstmc_free(ir);
  lstmc_free(ids);
  lstmc_session_free(s);
  lstmc_model_free(m);
  return st;
}

static void test_out_of_memory(const char *model) {
  char dir[700];
  snprintf(dir, sizeof dir, "%s/tests/golden/%s", LSTMC_SOURCE_DIR, model);
  int stale_messages = 0;
  lx_alloc_fail_after(-1);
  if (!CHECK_INT_EQ(session_once(dir, &stale_messages), 0)) {
    fprintf(stderr, "    %s\n", lstmc_errmsg());
    return;
  }
  lx_alloc_fail_after(1L << 40);
  session_once(dir, &stale_messages);
  long total = lx_alloc_count();
  int nomem = 0, wrong = 0, unnamed = 0;
  for (long k = 0; k < total; k++) {
    lx_alloc_fail_after(k);
    int st = session_once(dir, &stale_messages);
    lx_alloc_fail_after(-1);
    if (st == LSTMC_ERR_NOMEM && strstr(lstmc_errmsg(), "out of memory")) nomem++;
    else if (st == LSTMC_ERR_NOMEM && unnamed++ < 5)
      fprintf(stderr, "    allocation %ld of %ld, in %s: out of memory, but the message says: %s\n", k, total, failed_call,
              lstmc_errmsg());
    else if (st != 0 && st != LSTMC_ERR_NOMEM && wrong++ < 5)
      fprintf(stderr, "    allocation %ld of %ld, in %s: status %d: %s\n", k, total, failed_call, st, lstmc_errmsg());
  }
  printf("%s: %ld allocations, each failed once: %d reported out of memory\n", model, total, nomem);
  CHECK_INT_EQ(stale_messages, 0);
  CHECK_INT_EQ(wrong, 0);
  CHECK_INT_EQ(unnamed, 0);
  CHECK(nomem > 0);
}

int main(int argc, char **argv) {
  snprintf(tmp, sizeof tmp, "%s", argc > 1 ? argv[1] : ".");
  setenv("LSTMC_CUDA_DRIVER", "/nonexistent/libcuda.so.1", 1); /* no GPU, wherever this runs */
  test_models();
  test_sessions();
  test_out_of_memory("chars_untied3");
  return tu_summary("api_errors");
}
