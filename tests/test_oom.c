/* Out-of-memory paths: for every allocation N made by the parser, the lowering, the weights loader, the
 * tokenizer, the IR printer and the reference executor, make allocation N fail and check that the failure
 * is reported as LSTMC_ERR_NOMEM (or the operation still succeeds, when the failed allocation had a
 * fallback) and nothing crashes. Under the sanitizer build (make test-asan), LeakSanitizer proves nothing
 * leaks on any of these paths. */
#include <stdio.h>
#include <string.h>

#include "codegen/backend.h"
#include "frontend/lower.h"
#include "frontend/spec.h"
#include "ir/vocab.h"
#include "lstmc.h"
#include "runtime/exec.h"
#include "runtime/weights.h"
#include "support/alloc.h"
#include "support/text.h"
#include "testutil.h"

/* One full pass over the front end and runtime; returns the first failing status (0 if all succeeded). */
static int run_once(const char *dir) {
  char path[600];
  Diag d;
  diag_init(&d); /* silent: no message handler */
  Spec *spec = NULL;
  Graph *g = NULL;
  Executor *e = NULL;
  char *text = NULL;
  int32_t *ids = NULL;
  int64_t n = 0;
  StrBuf sb;
  sb_init(&sb);
  snprintf(path, sizeof path, "%s/model.lstm", dir);
  int st = spec_load(path, &d, &spec);
  if (!st) st = lower_spec(spec, 0, &g);
  snprintf(path, sizeof path, "%s/weights.safetensors", dir);
  if (!st) st = weights_load(g, path);
  snprintf(path, sizeof path, "%s/text.txt", dir);
  size_t len = 0;
  if (!st) st = read_file(path, &text, &len);
  if (!st) st = vocab_tokenize(g->vocab, text, len, "text.txt", &ids, &n);
  if (!st) st = graph_print(g, &sb);
  ExecOptions o = {0};
  o.batch = 1;
  if (!st) st = exec_create(g, &o, &e);
  double nll = 0;
  if (!st) st = exec_score(e, ids, n, &nll, NULL);
  exec_destroy(e);
  sb_free(&sb);
  lx_free(ids);
  lx_free(text);
  graph_free(g);
  spec_free(spec);
  return st;
}

static void sweep(const char *name) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s/tests/golden/%s", LSTMC_SOURCE_DIR, name);
  lx_alloc_fail_after(-1);
  if (!CHECK_INT_EQ(run_once(dir), 0)) return;
  /* count the allocations of a clean run */
  lx_alloc_fail_after(1L << 40);
  run_once(dir);
  long total = lx_alloc_count();
  int wrong = 0, nomem = 0;
  for (long k = 0; k < total; k++) {
    lx_alloc_fail_after(k);
    int st = run_once(dir);
    lx_alloc_fail_after(-1);
    if (st == LSTMC_ERR_NOMEM) nomem++;
    else if (st != 0 && wrong++ < 5)
      fprintf(stderr, "    allocation %ld of %ld failed; status %d: %s\n", k, total, st, lstmc_errmsg());
  }
  printf("%s: %ld allocations, each failed once: %d reported out of memory, %d other statuses\n", name, total, nomem,
         wrong);
  CHECK_INT_EQ(wrong, 0);
  CHECK(nomem > 0);
}

int main(void) {
  sweep("words_untied1");
  sweep("chars_untied3");
  return tu_summary("oom");
}
