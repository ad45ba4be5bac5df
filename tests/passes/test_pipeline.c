/* The pass manager and the pipeline API: error messages pinned exactly (unknown pass, unknown option, bad
 * values, a duplicate option, every error of a pipeline reported, errors inside a spec's passes string or
 * block, an unknown --print-after name, a pass that cannot take its input), the canonical pipeline text,
 * the registry listing, --stats / --print-after / --time-passes output; the reference executor gives the
 * same BPC for `column-combine,conflict-prune` as for the dense model with the same weights zeroed; and
 * through the public API: the spec's pipeline by default, not applied again to weights that record one,
 * an explicit pipeline appended to the record, and `lstmc ir -o` weights loading back bit for bit; out of
 * memory at every allocation of a pipeline is reported and leaves a valid graph. */
#include <stdlib.h>

#include "codegen/backend.h"
#include "lstmc.h"
#include "passtest.h"
#include "runtime/exec.h"
#include "api/internal.h"

static const char *tmpdir;

/* Checks a pipeline against the registry and returns the captured diagnostics (lx_free them). */
static char *check_text(const char *text, int *status) {
  Arena arena;
  arena_init(&arena);
  StrBuf cap;
  sb_init(&cap);
  Diag d;
  diag_init(&d);
  diag_set_sink(&d, diag_sink_append, &cap);
  diag_add_source(&d, "--passes", text, strlen(text));
  AstPipeline *p = NULL;
  SrcLoc loc = {"--passes", 1, 1, 1, 1};
  int st = parse_pipeline_text(text, strlen(text), loc, &arena, &d, &p);
  if (!st) st = pipeline_check(p, &d);
  *status = st;
  arena_free(&arena);
  char *out = sb_take(&cap);
  return out ? out : lx_strdup("");
}

static void expect_error(const char *text, const char *want) {
  int st;
  char *got = check_text(text, &st);
  CHECK_INT_EQ(st, LSTMC_ERR_PARSE);
  if (!CHECK_STR_EQ(got, want)) fprintf(stderr, "    for pipeline %s\n", text);
  lx_free(got);
}

static void test_check_errors(void) {
  expect_error("prune{sparsity=0.8},colum-combine",
               "--passes:1:21: error: pass 2: unknown pass 'colum-combine'; did you mean 'column-combine'?\n"
               "prune{sparsity=0.8},colum-combine\n                    ^~~~~~~~~~~~~\n");
  expect_error("frobnicate", "--passes:1:1: error: pass 1: unknown pass 'frobnicate' (see 'lstmc --list-passes')\n"
                             "frobnicate\n^~~~~~~~~~\n");
  expect_error("column-combine{alpah=8}",
               "--passes:1:16: error: pass 1 (column-combine): unknown option 'alpah'; did you mean 'alpha'?\n"
               "column-combine{alpah=8}\n               ^~~~~\n");
  expect_error("prune{xyz=1}", "--passes:1:7: error: pass 1 (prune): unknown option 'xyz' (its options are 'sparsity', "
                               "'scope', 'only' or 'skip')\nprune{xyz=1}\n      ^~~\n");
  expect_error("prune{sparsity=1.5}", "--passes:1:16: error: pass 1 (prune): sparsity must be a number in [0, 1], got 1.5\n"
                                      "prune{sparsity=1.5}\n               ^~~\n");
  expect_error("prune{sparsity=high}",
               "--passes:1:16: error: pass 1 (prune): sparsity must be a number in [0, 1], got 'high'\n"
               "prune{sparsity=high}\n               ^~~~\n");
  expect_error("column-combine{alpha=0}",
               "--passes:1:22: error: pass 1 (column-combine): alpha must be an integer in [1, 64], got 0\n"
               "column-combine{alpha=0}\n                     ^\n");
  expect_error("column-combine{alpha=2.5}",
               "--passes:1:22: error: pass 1 (column-combine): alpha must be an integer in [1, 64], got 2.5\n"
               "column-combine{alpha=2.5}\n                     ^~~\n");
  expect_error("quantize{bits=3}", "--passes:1:15: error: pass 1 (quantize): bits must be 8, 4, 2 or 1, got 3\n"
                                   "quantize{bits=3}\n              ^\n");
  expect_error("quantize{rounding=stocastic}",
               "--passes:1:19: error: pass 1 (quantize): rounding must be nearest or stochastic, got 'stocastic'; "
               "did you mean 'stochastic'?\nquantize{rounding=stocastic}\n                  ^~~~~~~~~\n");
  expect_error("prune{only=3}", "--passes:1:12: error: pass 1 (prune): only must be weight-name patterns such as "
                                "rnns.*.weight_hh_l0, got 3\nprune{only=3}\n           ^\n");
  expect_error("prune{sparsity=0.5,sparsity=0.6}",
               "--passes:1:20: error: pass 1 (prune): option 'sparsity' is given twice\n"
               "prune{sparsity=0.5,sparsity=0.6}\n                   ^~~~~~~~\n");
  /* every problem of a pipeline is reported, in order */
  int st;
  char *all = check_text("prun,quantize{bits=16,seed=-1},weight-drop{q=0.5}", &st);
  CHECK_INT_EQ(st, LSTMC_ERR_PARSE);
  CHECK_STR_EQ(lstmc_errmsg(), "--passes:1:1: error: pass 1: unknown pass 'prun'; did you mean 'prune'? (and 3 more errors)");
  const char *want[] = {"pass 1: unknown pass 'prun'", "pass 2 (quantize): bits must be 8, 4, 2 or 1, got 16",
                        "pass 2 (quantize): seed must be an integer in [0, 9007199254740992], got -1",
                        "pass 3 (weight-drop): unknown option 'q'; did you mean 'p'?"};
  const char *at = all;
  for (int i = 0; i < 4 && at; i++) {
    const char *f = strstr(at, want[i]);
    if (!CHECK(f != NULL)) fprintf(stderr, "    missing, in order: %s\n    in: %s\n", want[i], all);
    at = f;
  }
  lx_free(all);
  /* a good pipeline: no diagnostics */
  char *none = check_text("weight-drop,prune{sparsity=0.8,scope=row,skip=\"encoder.weight\"},column-combine{alpha=8,gamma=0.5,"
                          "block=128},conflict-prune,quantize{bits=2,rounding=stochastic,seed=7}", &st);
  CHECK_INT_EQ(st, 0);
  CHECK_STR_EQ(none, "");
  lx_free(none);
}

/* A spec's pipeline is checked when the model loads; errors point into the spec file. */
static void test_spec_pipelines(void) {
  const char *specs[2] = {"model m { vocab bytes; embed 4; lstm 4; decoder tied; }\n"
                          "passes \"prune{sparsity=0.8},conflict-prun\";\n",
                          "model m { vocab bytes; embed 4; lstm 4; decoder tied; }\n"
                          "passes {\n  prune{sparsity=2},\n  conflict-prune\n}\n"};
  const char *want[2] = {"spec.lstm:2:29: error: pass 2: unknown pass 'conflict-prun'; did you mean 'conflict-prune'?\n"
                         "passes \"prune{sparsity=0.8},conflict-prun\";\n                            ^~~~~~~~~~~~~\n",
                         "spec.lstm:3:18: error: pass 1 (prune): sparsity must be a number in [0, 1], got 2\n"
                         "  prune{sparsity=2},\n                 ^\n"};
  for (int i = 0; i < 2; i++) {
    /* the exact diagnostics, with the caret inside the spec */
    StrBuf cap;
    sb_init(&cap);
    Diag d;
    diag_init(&d);
    diag_set_sink(&d, diag_sink_append, &cap);
    Spec *sp = NULL;
    if (CHECK(spec_load_text("spec.lstm", "", specs[i], strlen(specs[i]), &d, &sp) == 0)) {
      CHECK_INT_EQ(pipeline_check(sp->passes, &d), LSTMC_ERR_PARSE);
      CHECK_STR_EQ(sb_cstr(&cap), want[i]);
    }
    spec_free(sp);
    sb_free(&cap);
    /* and lstmc_model_load runs that check: the model does not load (its diagnostics are messages) */
    char path[600];
    snprintf(path, sizeof path, "%s/spec.lstm", tmpdir);
    FILE *f = fopen(path, "w");
    fputs(specs[i], f);
    fclose(f);
    lstmc_model *m = NULL;
    CHECK_INT_EQ(lstmc_model_load(path, &m), LSTMC_ERR_PARSE);
    CHECK(m == NULL);
    char first[256];
    snprintf(first, sizeof first, "%.*s", (int)(strchr(want[i], '\n') - want[i]) - 9, want[i] + 9); /* past "spec.lstm" */
    CHECK_CONTAINS(lstmc_errmsg(), first);
  }
}

static void test_text_and_list(void) {
  Arena arena;
  arena_init(&arena);
  Diag d;
  diag_init(&d);
  AstPipeline *p = NULL;
  const char *text = "prune{ sparsity = 0.80 , scope=row, only=\"rnns.*\" },\n conflict-prune , quantize{bits=1}";
  SrcLoc loc = {"x", 1, 1, 1, 1};
  if (CHECK(parse_pipeline_text(text, strlen(text), loc, &arena, &d, &p) == 0)) {
    StrBuf sb;
    sb_init(&sb);
    pipeline_to_text(p, &sb);
    CHECK_STR_EQ(sb_cstr(&sb), "prune{sparsity=0.80,scope=row,only=\"rnns.*\"},conflict-prune,quantize{bits=1}");
    sb_free(&sb);
  }
  arena_free(&arena);
  StrBuf list;
  sb_init(&list);
  CHECK(pipeline_list(&list) == 0);
  const char *l = sb_cstr(&list);
  for (int i = 0; i < PASS_COUNT; i++) CHECK_CONTAINS(l, pass_table[i].name);
  CHECK_CONTAINS(l, "      sparsity  number in [0, 1], default 0.5: fraction s of the weights pruned\n");
  CHECK_CONTAINS(l, "      bits      8|4|2|1, default 8: 8: q8, 4: q4, 2: ternary, 1: binary\n");
  CHECK_CONTAINS(l, "      p         number in [0, 1): drop probability (default: each layer's weight_drop from the spec)\n");
  sb_free(&list);
}

/* --stats, --print-after, --time-passes, and the print-after name check. */
static void test_outputs(void) {
  Graph *g = pt_graph(pt_untied, 6);
  if (!g) return;
  /* the conflicts conflict-prune will report, counted on a copy */
  Graph *c = graph_clone(g);
  int64_t conflicts = 0;
  if (pt_ok(c, "prune{sparsity=0.7},column-combine{alpha=4}"))
    for (int i = 0; i < c->nslots; i++) conflicts += tensor_conflicts(c->slots[i].t);
  graph_free(c);
  PipelineOptions o = {0};
  o.stats = o.time_passes = o.verify_each = 1;
  o.print_after = "column-combine";
  char *diag = NULL, *text = NULL;
  CHECK_INT_EQ(pt_run_reports(g, "prune{sparsity=0.7},column-combine{alpha=4},conflict-prune,quantize", &o, &text, &diag), 0);
  lx_free(diag);
  CHECK_CONTAINS(text, "pass statistics: 10080 weights in 4 matrices, 10080 nonzero; 41984 bytes before the pipeline\n");
  CHECK_CONTAINS(text, "   #  pass            tensors  weights kept             groups      pruned  utilization        bytes\n");
  CHECK_CONTAINS(text, "   1  prune                 4  3024 (30.00%)                 -        7056            -        43664\n");
  char note[160];
  snprintf(note, sizeof note, "      conflict-prune: %lld conflicts pruned in 3 matrices\n", (long long)conflicts);
  CHECK_CONTAINS(text, note);
  CHECK_CONTAINS(text, "; IR after pass 2 (column-combine)\nmodel u vocab=bytes V=256\n");
  CHECK(!strstr(text, "; IR after pass 3"));
  CHECK_CONTAINS(text, "pass timing (seconds):\n   1  prune ");
  CHECK_CONTAINS(text, "\n      total ");
  /* an unknown --print-after name is a usage error, before anything runs */
  lx_free(text);
  o.print_after = "colum-combine";
  CHECK_INT_EQ(pt_run_opts(g, "prune", &o, NULL), LSTMC_ERR_USAGE);
  CHECK_STR_EQ(lstmc_errmsg(), "--print-after: unknown pass 'colum-combine'; did you mean 'column-combine'?");
  graph_free(g);
}

/* BPC of the conflict-pruned packed model = BPC of the dense model with the same weights zeroed. */
static double bpc_of(const Graph *g, const int32_t *tokens, int64_t n, double *logprobs) {
  ExecOptions eo = {0};
  eo.target = TARGET_REF;
  eo.batch = 1;
  Executor *e;
  double nll = 0;
  if (!CHECK(exec_create(g, &eo, &e) == 0)) return -1;
  e->vt->reset(e);
  CHECK(exec_score(e, tokens, n, &nll, logprobs) == 0);
  exec_destroy(e);
  return nll / (double)(n - 1) / log(2.0);
}

static void test_bpc_identity(void) {
  enum { N = 300 };
  int32_t tokens[N];
  Rng rng;
  rng_seed(&rng, 77);
  for (int i = 0; i < N; i++) tokens[i] = (int32_t)rng_below(&rng, 256);
  double lp1[N], lp2[N];
  for (int variant = 0; variant < 2; variant++) {
    Graph *g = pt_graph(variant ? pt_tied : pt_untied, 12);
    if (!g) return;
    /* dense weights need gamma > 1 to combine at all (two dense columns conflict in every row); pruned,
     * masked weights combine with the usual 0.5 */
    const char *cc = variant ? "column-combine{alpha=4,gamma=0.5}" : "column-combine{alpha=4,gamma=1.5}";
    if (variant) CHECK(pt_ok(g, "prune{sparsity=0.5}"));
    Graph *packed = graph_clone(g), *zeroed = graph_clone(g);
    char pipe[96];
    snprintf(pipe, sizeof pipe, "%s,conflict-prune", cc);
    CHECK(pt_ok(zeroed, cc));
    CHECK(pt_ok(packed, pipe));
    int npacked = 0;
    for (int i = 0; i < zeroed->nslots; i++) {
      Tensor *t = zeroed->slots[i].t;
      if (!tensor_has_groups(t)) continue;
      npacked += packed->slots[i].t->layout == LX_LAYOUT_PACKED;
      Tensor *dense = tensor_new_f32(t->name, 2, t->rows, t->cols);
      float *e = pt_conflict_pruned(t);
      memcpy(tensor_f32(dense), e, (size_t)(t->rows * t->cols) * sizeof *e);
      lx_free(e);
      graph_set_tensor(zeroed, i, dense);
    }
    CHECK_INT_EQ(npacked, variant ? 4 : 3);
    double b1 = bpc_of(packed, tokens, N, lp1), b2 = bpc_of(zeroed, tokens, N, lp2), b0 = bpc_of(g, tokens, N, NULL);
    if (!CHECK(fabs(b1 - b2) <= 1e-9 * b2)) fprintf(stderr, "    bpc %.12f (packed) vs %.12f (dense, zeroed)\n", b1, b2);
    double md = 0;
    for (int i = 0; i < N - 1; i++) md = fmax(md, fabs(lp1[i] - lp2[i]));
    CHECK(md <= 1e-9);
    /* and the pruning did change the model: the test compares something */
    CHECK(fabs(b0 - b1) > 1e-6);
    graph_free(packed);
    graph_free(zeroed);
    graph_free(g);
  }
}

/* The public API: default pipeline, records, and `lstmc ir -o` round trips. */
static lstmc_model *api_model(const char *spec_text, const char *name) {
  char path[600];
  snprintf(path, sizeof path, "%s/%s", tmpdir, name);
  FILE *f = fopen(path, "w");
  fputs(spec_text, f);
  fclose(f);
  lstmc_model *m = NULL;
  CHECK(lstmc_model_load(path, &m) == 0);
  return m;
}

static void test_api(void) {
  const char *spec = "model a { vocab bytes; embed 12; lstm 20 { weight_drop 0.3; } lstm 12; decoder untied; }\n"
                     "passes \"weight-drop,prune{sparsity=0.5},quantize{bits=8}\";\n";
  lstmc_model *m = api_model(spec, "api.lstm");
  if (!m) return;
  CHECK(lstmc_model_init_weights(m, NULL, 5) == 0);
  CHECK(lstmc_model_pipeline(m) == NULL);
  CHECK(lstmc_model_apply_passes(m, NULL, NULL) == 0);
  CHECK_STR_EQ(lstmc_model_pipeline(m), "weight-drop,prune{sparsity=0.5},quantize{bits=8}");
  CHECK_STR_EQ(format_name(pt_slot(m->g, "encoder.weight")->layout, pt_slot(m->g, "encoder.weight")->enc), "masked_q8");
  CHECK(m->g->nodes[2].weight_drop == 0);
  char path[600];
  snprintf(path, sizeof path, "%s/api.safetensors", tmpdir);
  CHECK(lstmc_model_save_weights(m, path) == 0);
  /* loaded weights that record a pipeline do not get the spec's again (quantize would fail on q8) */
  lstmc_model *m2 = api_model(spec, "api.lstm");
  CHECK(lstmc_model_load_weights(m2, path) == 0);
  CHECK_STR_EQ(lstmc_model_pipeline(m2), "weight-drop,prune{sparsity=0.5},quantize{bits=8}");
  CHECK(lstmc_model_apply_passes(m2, NULL, NULL) == 0);
  for (int i = 0; i < m->g->nslots; i++) CHECK(pt_same_tensor(m->g->slots[i].t, m2->g->slots[i].t));
  /* an explicit pipeline still runs, and is appended; "" runs nothing */
  CHECK(lstmc_model_apply_passes(m2, " column-combine{ alpha = 2 }", NULL) == 0); /* recorded canonically */
  CHECK(lstmc_model_apply_passes(m2, "", NULL) == 0);
  CHECK_STR_EQ(lstmc_model_pipeline(m2), "weight-drop,prune{sparsity=0.5},quantize{bits=8},column-combine{alpha=2}");
  CHECK(tensor_has_groups(pt_slot(m2->g, "rnns.1.weight_hh_l0")));
  lstmc_model_free(m2);
  lstmc_model_free(m);

  /* round trips of every layout a pipeline makes, through save and load */
  static const char *const pipelines[] = {
      ("prune{sparsity=0.6},column-combine{alpha=4,only=rnns.0.weight_ih_l0|decoder.weight},"
       "conflict-prune{only=decoder.weight},quantize{bits=2,only=decoder.weight|encoder.weight}"),
      "column-combine{alpha=3,gamma=0.25,block=5},quantize{bits=1,only=rnns.1.*}",
      "prune{sparsity=0.9,scope=row},column-combine,conflict-prune,quantize{bits=4,rounding=stochastic,seed=9}",
      "column-combine{alpha=64,gamma=2},quantize{bits=8,skip=encoder.weight},conflict-prune{skip=rnns.0.*}",
  };
  const char *plain = "model a { vocab bytes; embed 12; lstm 20; lstm 12; decoder untied; }\n";
  for (size_t k = 0; k < sizeof pipelines / sizeof *pipelines; k++) {
    lstmc_model *a = api_model(plain, "rt.lstm");
    if (!a) return;
    CHECK(lstmc_model_init_weights(a, NULL, 100 + k) == 0);
    if (!CHECK(lstmc_model_apply_passes(a, pipelines[k], NULL) == 0)) {
      lstmc_model_free(a);
      continue;
    }
    snprintf(path, sizeof path, "%s/rt%zu.safetensors", tmpdir, k);
    CHECK(lstmc_model_save_weights(a, path) == 0);
    lstmc_model *b = api_model(plain, "rt.lstm");
    if (CHECK(lstmc_model_load_weights(b, path) == 0)) {
      for (int i = 0; i < a->g->nslots; i++)
        if (!CHECK(pt_same_tensor(a->g->slots[i].t, b->g->slots[i].t)))
          fprintf(stderr, "    %s (%s) after %s\n", a->g->slots[i].name,
                  format_name(a->g->slots[i].t->layout, a->g->slots[i].t->enc), pipelines[k]);
      CHECK_STR_EQ(lstmc_model_pipeline(b), pipelines[k]);
    }
    lstmc_model_free(b);
    lstmc_model_free(a);
  }
}

/* Out of memory anywhere in parsing a pipeline's text or running it: every failure is reported
 * (LSTMC_ERR_NOMEM, never an abort), the graph is left whole and verifiable, and (under ASan) nothing
 * leaks. */
static void test_out_of_memory(void) {
  const char *text = "weight-drop,prune{sparsity=0.6},column-combine{alpha=4},conflict-prune,quantize{bits=2}";
  SrcLoc loc = {"--passes", 1, 1, 1, 1};
  Diag d;
  diag_init(&d);
  int parsed = 0, parse_failures = 0;
  for (long n = 0; n < 100000 && !parsed; n++) {
    Arena a;
    arena_init(&a);
    AstPipeline *q = NULL;
    lx_alloc_fail_after(n);
    int st = parse_pipeline_text(text, strlen(text), loc, &a, &d, &q);
    lx_alloc_fail_after(-1);
    if (st == 0) parsed = 1;
    else if (!CHECK_INT_EQ(st, LSTMC_ERR_NOMEM)) fprintf(stderr, "    parse, allocation %ld: %s\n", n, lstmc_errmsg());
    else parse_failures++;
    arena_free(&a);
  }
  CHECK(parsed);
  CHECK(parse_failures > 0);

  Graph *g0 = pt_graph(pt_untied, 40);
  if (!g0) return;
  Arena arena;
  arena_init(&arena);
  AstPipeline *p = NULL;
  CHECK(parse_pipeline_text(text, strlen(text), loc, &arena, &d, &p) == 0);
  PipelineOptions o = {0};
  o.verify_each = 1;
  int done = 0, failures = 0;
  for (long n = 0; n < 100000 && !done && p; n++) {
    Graph *g = graph_clone(g0);
    lx_alloc_fail_after(n);
    int st = pipeline_run_ast(g, p, &o, &d);
    lx_alloc_fail_after(-1);
    if (st == 0) done = 1;
    else if (!CHECK_INT_EQ(st, LSTMC_ERR_NOMEM)) fprintf(stderr, "    allocation %ld: %s\n", n, lstmc_errmsg());
    else failures++;
    CHECK(graph_verify(g) == 0);
    graph_free(g);
  }
  CHECK(done);
  CHECK(failures > 20);
  arena_free(&arena);
  graph_free(g0);
}

int main(int argc, char **argv) {
  tmpdir = argc > 1 ? argv[1] : ".";
  test_check_errors();
  test_spec_pipelines();
  test_text_and_list();
  test_outputs();
  test_bpc_identity();
  test_api();
  test_out_of_memory();
  return tu_summary("passes_pipeline");
}
