/* Conformance with PyTorch: the reference executor against golden vectors made by tests/golden/gen_golden.py
 * with torch.nn.LSTM (float64 from the stored float32 weights). For each golden model: the tokenizer gives
 * the same ids, every per-position log-probability is within 1e-5, the first 8 full log-softmax rows are
 * within 1e-5, and the BPC within 1e-6 relative. AWD-LSTM-named weights give identical results. The
 * same checks then run through the public API (what `lstmc eval` uses). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "codegen/backend.h"
#include "frontend/lower.h"
#include "frontend/spec.h"
#include "ir/vocab.h"
#include "lstmc.h"
#include "runtime/exec.h"
#include "runtime/safetensors.h"
#include "runtime/weights.h"
#include "support/alloc.h"
#include "support/text.h"
#include "testutil.h"

static double read_f64(const StTensor *t, uint64_t i) {
  double d;
  memcpy(&d, t->data + 8 * i, 8);
  return d;
}

static void check_model(const char *name, const char *weights_file) {
  char dir[512], path[600];
  snprintf(dir, sizeof dir, "%s/tests/golden/%s", LSTMC_SOURCE_DIR, name);
  Diag d;
  diag_init(&d);
  Spec *spec = NULL;
  Graph *g = NULL;
  StFile *exp = NULL;
  char *text = NULL;
  int32_t *ids = NULL;
  double *lp = NULL;
  float *logits = NULL;
  Executor *e = NULL;
  snprintf(path, sizeof path, "%s/model.lstm", dir);
  if (!CHECK(spec_load(path, &d, &spec) == 0)) return;
  if (!CHECK(lower_spec(spec, 0, &g) == 0)) goto done;
  snprintf(path, sizeof path, "%s/%s", dir, weights_file);
  if (!CHECK(weights_load(g, path) == 0)) {
    fprintf(stderr, "    %s\n", lstmc_errmsg());
    goto done;
  }
  snprintf(path, sizeof path, "%s/expected.safetensors", dir);
  if (!CHECK(st_read_file(path, &exp) == 0)) goto done;
  const StTensor *tokens = st_find(exp, "tokens"), *logprobs = st_find(exp, "logprobs"), *bpc = st_find(exp, "bpc"),
                 *full = st_find(exp, "full_logprobs");
  if (!CHECK(tokens && logprobs && bpc && full)) goto done;

  size_t len;
  snprintf(path, sizeof path, "%s/text.txt", dir);
  if (!CHECK(read_file(path, &text, &len) == 0)) goto done;
  int64_t n;
  if (!CHECK(vocab_tokenize(g->vocab, text, len, "text.txt", &ids, &n) == 0)) goto done;
  CHECK_INT_EQ(n, (int64_t)tokens->nelems);
  int same = n == (int64_t)tokens->nelems;
  for (int64_t i = 0; same && i < n; i++) {
    int32_t v;
    memcpy(&v, tokens->data + 4 * i, 4);
    same = v == ids[i];
  }
  CHECK(same);

  ExecOptions o = {0};
  o.batch = 1;
  if (!CHECK(exec_create(g, &o, &e) == 0)) goto done;
  e->vt->reset(e);
  lp = lx_malloc((size_t)n * sizeof(double));
  double nll = 0;
  if (!CHECK(exec_score(e, ids, n, &nll, lp) == 0)) goto done;
  double maxdiff = 0;
  for (int64_t t = 0; t + 1 < n; t++) maxdiff = fmax(maxdiff, fabs(lp[t] - read_f64(logprobs, (uint64_t)t)));
  double my_bpc = nll / (double)(n - 1) / log(2.0), want = read_f64(bpc, 0);
  printf("%s (%s): V=%lld N=%lld bpc %.9f (torch %.9f) max |dlogp| %.2e\n", name, weights_file,
         (long long)g->vocab_size, (long long)n, my_bpc, want, maxdiff);
  CHECK(maxdiff <= 1e-5);
  CHECK(fabs(my_bpc - want) <= 1e-6 * fabs(want));

  /* whole rows for the first 8 positions */
  int64_t V = g->vocab_size;
  logits = lx_malloc((size_t)V * sizeof(float));
  double *row = lx_malloc((size_t)V * sizeof(double));
  e->vt->reset(e);
  double rowdiff = 0;
  for (int t = 0; t < 8; t++) {
    e->vt->step(e, &ids[t], logits);
    for (int64_t v = 0; v < V; v++) row[v] = log_softmax_at(logits, V, (int32_t)v);
    for (int64_t v = 0; v < V; v++) rowdiff = fmax(rowdiff, fabs(row[v] - read_f64(full, (uint64_t)(t * V + v))));
  }
  lx_free(row);
  CHECK(rowdiff <= 1e-5);

  /* the public API gives the same BPC */
  lstmc_model *m = NULL;
  lstmc_session *s = NULL;
  lstmc_eval_result r;
  snprintf(path, sizeof path, "%s/model.lstm", dir);
  if (CHECK(lstmc_model_load(path, &m) == 0)) {
    snprintf(path, sizeof path, "%s/%s", dir, weights_file);
    if (CHECK(lstmc_model_load_weights(m, path) == 0) && CHECK(lstmc_session_create(m, NULL, &s) == 0) &&
        CHECK(lstmc_session_eval(s, ids, n, &r) == 0))
      CHECK(fabs(r.bpc - want) <= 1e-6 * fabs(want));
  }
  lstmc_session_free(s);
  lstmc_model_free(m);
done:
  exec_destroy(e);
  lx_free(logits);
  lx_free(lp);
  lx_free(ids);
  lx_free(text);
  st_free(exp);
  graph_free(g);
  spec_free(spec);
}

int main(void) {
  check_model("bytes_tied2", "weights.safetensors");
  check_model("bytes_tied2", "weights_awd.safetensors");
  check_model("chars_untied3", "weights.safetensors");
  check_model("words_untied1", "weights.safetensors");
  return tu_summary("conformance");
}
