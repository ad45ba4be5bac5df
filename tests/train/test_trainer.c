/* The trainer end to end (lstmc_train) on a small chars model:
 *   - the validation BPC it reports equals the reference executor's on the weights it wrote (eval_batch 1,
 *     what `lstmc eval` computes; and eval_batch 3, stream by stream);
 *   - a run stopped mid-epoch (--max-steps, or the stop flag as SIGINT sets it) or at an epoch boundary and
 *     resumed — on another number of threads — ends with byte-identical weights and the same log;
 *   - pruning masks (from an --init file in the masked format) survive every step: pruned weights stay
 *     exactly zero, and the masks travel through checkpoints;
 *   - a checkpoint killed mid-write never leaves a torn file: the old one stays intact and loads;
 *   - wrong, corrupt or mismatched checkpoints and bad options give one clear error each;
 *   - the events a run reports, in their order, with the numbers the result and the files hold; nothing is
 *     written to stderr;
 *   - `lstmc plot` writes an SVG and a PNG from the log. */
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "frontend/lower.h"
#include "frontend/spec.h"
#include "ir/vocab.h"
#include "lstmc.h"
#include "runtime/exec.h"
#include "api/internal.h"
#include "runtime/safetensors.h"
#include "runtime/weights.h"
#include "support/alloc.h"
#include "support/rng.h"
#include "support/text.h"
#include "testutil.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

static const char *tmp;
static char spec_path[512], train_path[512], valid_path[512];

static const char *SPEC = "model small {\n"
                          "  vocab chars;\n"
                          "  embed 8 { dropout 0.1; }\n"
                          "  dropout 0.1;\n"
                          "  lstm 24 { weight_drop 0.2; }\n"
                          "  dropout 0.1;\n"
                          "  lstm 8 { weight_drop 0.1; }\n"
                          "  dropout 0.1;\n"
                          "  decoder tied;\n"
                          "}\n"
                          "train {\n"
                          "  bptt 20; batch 4; eval_batch %d; epochs 2; seed 5; clip 0.25; ar 1; tar 1;\n"
                          "  optimizer adam { lr 0.01; weight_decay 1e-5; }\n"
                          "  lr_drop 1;\n"
                          "}\n";

static char *path_in_tmp(const char *name) {
  static char buf[8][512];
  static int k;
  char *p = buf[k++ % 8];
  snprintf(p, 512, "%s/%s", tmp, name);
  return p;
}

static void write_text(const char *path, const char *text, size_t n) {
  FILE *f = fopen(path, "wb");
  CHECK(f && fwrite(text, 1, n, f) == n);
  if (f) fclose(f);
}

static void write_spec(const char *path, int eval_batch, const char *replace_from, const char *replace_to) {
  char text[2048];
  snprintf(text, sizeof text, SPEC, eval_batch);
  if (replace_from) {
    char *at = strstr(text, replace_from);
    LX_ASSERT(at);
    char rest[2048];
    snprintf(rest, sizeof rest, "%s", at + strlen(replace_from));
    snprintf(at, sizeof text - (size_t)(at - text), "%s%s", replace_to, rest);
  }
  write_text(path, text, strlen(text));
}

static lstmc_train_options opts(const char *out) {
  lstmc_train_options o;
  memset(&o, 0, sizeof o);
  o.data = train_path;
  o.valid = valid_path;
  o.out = out;
  o.threads = 1;
  return o;
}

static int same_file(const char *a, const char *b) {
  char *x = NULL, *y = NULL;
  size_t nx = 0, ny = 0;
  int same = read_file(a, &x, &nx) == 0 && read_file(b, &y, &ny) == 0 && nx == ny && !memcmp(x, y, nx);
  lx_free(x);
  lx_free(y);
  return same;
}

/* The log without its timing columns (seconds, pass_seconds, pass_fraction, tokens_per_s). */
static char *log_values(const char *path) {
  char *text = NULL;
  size_t n;
  if (read_file(path, &text, &n)) return NULL;
  StrBuf sb;
  sb_init(&sb);
  char *save = NULL;
  for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    int col = 0;
    for (char *f = line;; col++) {
      char *c = strchr(f, ',');
      if (c) *c = 0;
      if (col != 6 && col != 7 && col != 8 && col != 10) sb_printf(&sb, "%s,", f);
      if (!c) break;
      f = c + 1;
    }
    sb_putc(&sb, '\n');
  }
  lx_free(text);
  return sb_take(&sb);
}

/* ---- validation = the reference executor ------------------------------------------------------------ */

static double ref_bpc(const char *spec, const char *weights, int64_t E) {
  lstmc_model *m = NULL;
  double bpc = NAN;
  if (!CHECK(lstmc_model_load(spec, &m) == 0) || !CHECK(lstmc_model_load_weights(m, weights) == 0)) goto done;
  char *text;
  size_t len;
  int32_t *ids;
  int64_t n;
  CHECK(read_file(valid_path, &text, &len) == 0);
  CHECK(lstmc_tokenize(m, text, len, "valid", &ids, &n) == 0);
  int64_t steps = n / E;
  double nll = 0;
  for (int64_t b = 0; b < E; b++) {
    lstmc_session *s;
    lstmc_eval_result r;
    CHECK(lstmc_session_create(m, NULL, &s) == 0);
    CHECK(lstmc_session_eval(s, ids + b * steps, steps, &r) == 0);
    nll += r.nll;
    lstmc_session_free(s);
  }
  bpc = nll / (double)(E * (steps - 1)) / log(2.0);
  lx_free(ids);
  lx_free(text);
done:
  lstmc_model_free(m);
  return bpc;
}

static void test_eval_matches_reference(void) {
  for (int E = 1; E <= 3; E += 2) {
    char *spec = path_in_tmp("eval.lstm"), *out = path_in_tmp("eval.safetensors");
    write_spec(spec, E, NULL, NULL);
    lstmc_train_options o = opts(out);
    o.epochs = 1;
    lstmc_train_result r;
    if (!CHECK(lstmc_train(spec, &o, &r) == 0)) {
      fprintf(stderr, "    %s\n", lstmc_errmsg());
      continue;
    }
    double want = ref_bpc(spec, out, E);
    if (!CHECK(fabs(r.valid_bpc - want) < 1e-5)) fprintf(stderr, "    eval_batch %d: trainer %.8f, reference %.8f\n", E, r.valid_bpc, want);
    CHECK(r.valid_bpc < 6.0); /* it learned something: uniform over ~60 characters is 5.9 bits */
  }
}

/* ---- resume ------------------------------------------------------------------------------------------ */

static void test_resume(void) {
  char *spec = path_in_tmp("resume.lstm");
  write_spec(spec, 1, NULL, NULL);
  /* the uninterrupted run */
  char full[512], full_log[512];
  snprintf(full, sizeof full, "%s", path_in_tmp("full.safetensors"));
  snprintf(full_log, sizeof full_log, "%s", path_in_tmp("full.csv"));
  lstmc_train_options o = opts(full);
  o.log = full_log;
  lstmc_train_result r;
  if (!CHECK(lstmc_train(spec, &o, &r) == 0)) {
    fprintf(stderr, "    %s\n", lstmc_errmsg());
    return;
  }
  CHECK_INT_EQ(r.epochs_done, 2);
  char *want_log = log_values(full_log);

  /* stopped by --max-steps in the middle of epoch 1, resumed on 3 threads */
  char *out = path_in_tmp("part.safetensors"), *log = path_in_tmp("part.csv");
  o = opts(out);
  o.log = log;
  o.max_steps = 17;
  CHECK(lstmc_train(spec, &o, &r) == 0);
  CHECK_INT_EQ(r.steps, 17);
  char *ckpt = train_checkpoint_path(out);
  o = opts(out);
  o.log = log;
  o.resume = ckpt;
  o.threads = 3;
  CHECK(lstmc_train(spec, &o, &r) == 0);
  CHECK(same_file(full, out));
  char *got_log = log_values(log);
  CHECK_STR_EQ(got_log, want_log);
  lx_free(got_log);

  /* the stop flag (what SIGINT sets): interrupted after the first batch of epoch 2, then resumed */
  volatile sig_atomic_t stop = 0;
  o = opts(out);
  o.epochs = 1;
  CHECK(lstmc_train(spec, &o, &r) == 0); /* epoch 1 only: its checkpoint sits at the epoch boundary */
  o = opts(out);
  o.resume = ckpt;
  o.stop = &stop;
  stop = 1;
  CHECK_INT_EQ(lstmc_train(spec, &o, &r), LSTMC_ERR_INTERRUPTED);
  CHECK(r.interrupted);
  CHECK_CONTAINS(lstmc_errmsg(), "interrupted at epoch 2");
  CHECK_CONTAINS(lstmc_errmsg(), "continue with --resume");
  o.stop = NULL;
  o.threads = 2;
  CHECK(lstmc_train(spec, &o, &r) == 0);
  CHECK(same_file(full, out));

  /* resuming a finished run with more epochs continues it; with the same number it only re-saves */
  o = opts(out);
  o.resume = train_checkpoint_path(full);
  CHECK(lstmc_train(spec, &o, &r) == 0);
  CHECK(same_file(full, out));
  lx_free((void *)o.resume);
  lx_free(want_log);
  lx_free(ckpt);
}

/* ---- masks ------------------------------------------------------------------------------------------- */

static void test_masks_survive(void) {
  char *spec = path_in_tmp("mask.lstm"), *init = path_in_tmp("mask_init.safetensors"), *out = path_in_tmp("mask_out.safetensors");
  write_spec(spec, 1, NULL, NULL);
  /* random weights with a vocabulary from the data, rnns.0.weight_hh_l0 in the masked format, half pruned */
  lstmc_model *m;
  if (!CHECK(lstmc_model_load(spec, &m) == 0)) return;
  char *all = NULL, *va = NULL;
  size_t n = 0, nv = 0;
  if (!CHECK(read_file(train_path, &all, &n) == 0 && read_file(valid_path, &va, &nv) == 0)) {
    lx_free(all);
    lx_free(va);
    lstmc_model_free(m);
    return;
  }
  char *both = lx_malloc(n + nv + 2);
  memcpy(both, all, n);
  both[n] = '\n';
  memcpy(both + n + 1, va, nv);
  char *both_path = path_in_tmp("both.txt");
  write_text(both_path, both, n + nv + 1);
  CHECK(lstmc_model_init_weights(m, both_path, 3) == 0);
  Graph *g = m->g;
  int s = graph_find_slot(g, "rnns.0.weight_hh_l0");
  Tensor *d = g->slots[s].t, *t = tensor_new(d->name, 2, d->rows, d->cols, LX_LAYOUT_MASKED, LX_ENC_F32, 0, 0);
  memcpy(t->codes, d->codes, (size_t)d->rows * d->stride);
  Rng rng;
  rng_seed(&rng, 4);
  for (size_t i = 0; i < (size_t)t->rows * t->mask_stride; i++) t->mask[i] = (uint8_t)rng_below(&rng, 256);
  graph_set_tensor(g, s, t);
  CHECK(lstmc_model_save_weights(m, init) == 0);
  lstmc_train_options o = opts(out);
  o.init = init;
  o.epochs = 1;
  lstmc_train_result r;
  if (CHECK(lstmc_train(spec, &o, &r) == 0)) {
    Graph *h = NULL;
    Spec *sp;
    Diag dg;
    diag_init(&dg);
    CHECK(spec_load(spec, &dg, &sp) == 0 && lower_spec(sp, 0, &h) == 0 && weights_load(h, out) == 0);
    const Tensor *w = h->slots[s].t, *orig = g->slots[s].t;
    int64_t wrong = 0, kept_nonzero = 0, kept = 0;
    for (int64_t r0 = 0; r0 < w->rows; r0++)
      for (int64_t c = 0; c < w->cols; c++) {
        int keep = lx_mask_get(orig->mask + r0 * orig->mask_stride, (unsigned long)c);
        float v = tensor_get(w, r0, c);
        wrong += !keep && v != 0.0f;
        kept += keep;
        kept_nonzero += keep && v != 0.0f;
      }
    CHECK_INT_EQ(wrong, 0);
    CHECK_INT_EQ(kept_nonzero, kept);
    /* the mask is in the checkpoint */
    char *ck = train_checkpoint_path(out);
    StFile *f;
    if (CHECK(st_read_file(ck, &f) == 0)) {
      CHECK(st_find(f, "train.mask.rnns.0.weight_hh_l0") != NULL);
      CHECK(st_find(f, "train.mask.rnns.0.weight_ih_l0") == NULL);
      st_free(f);
    }
    lx_free(ck);
    graph_free(h);
    spec_free(sp);
  }
  lstmc_model_free(m);
  lx_free(all);
  lx_free(va);
  lx_free(both);
}

/* ---- torn writes --------------------------------------------------------------------------------- */

/* A child rewrites a large checkpoint over and over, alternating two versions; the parent kills it at
 * random moments. Whatever moment, the file at the path is a whole checkpoint of one version. */
static void test_kill_mid_write(void) {
  char *spec = path_in_tmp("big.lstm"), *ckpt = path_in_tmp("big.ckpt.safetensors");
  const char *text = "model big { vocab bytes; embed 64; lstm 768; lstm 64; decoder tied; }\n"
                     "train { batch 2; }\n";
  write_text(spec, text, strlen(text));
  Diag dg;
  diag_init(&dg);
  Spec *sp;
  Graph *g;
  if (!CHECK(spec_load(spec, &dg, &sp) == 0) || !CHECK(lower_spec(sp, 0, &g) == 0)) return;
  vocab_free(g->vocab);
  g->vocab = vocab_new_bytes();
  CHECK(weights_init(g, 1) == 0);
  Pool *pool;
  Gemm *gemm;
  Net *net;
  Optim *opt;
  OptimConfig oc;
  CHECK(pool_create(1, &pool) == 0 && gemm_create(pool, &gemm) == 0 && net_create(g, gemm, 2, 1, &net) == 0);
  CHECK(optim_config_from_spec(&sp->train.opt, &oc) == 0);
  int64_t sizes[16];
  for (int i = 0; i < g->nslots; i++) sizes[i] = g->slots[i].rows * g->slots[i].cols;
  CHECK(optim_create(&oc, g->nslots, sizes, &opt) == 0);
  uint8_t *masks[16] = {0};
  CkptParts parts = {g, net, opt, masks, NULL, "{\"model\": \"big\"}", 42};
  TrainState st;
  memset(&st, 0, sizeof st);
  st.epoch = 1;
  st.log = lx_strdup("epoch\n");
  float *w0 = tensor_f32(g->slots[0].t);
  w0[0] = 1.0f;
  CHECK(ckpt_save(ckpt, &parts, &st) == 0); /* version 1 exists before the first kill */
  Rng rng;
  rng_seed(&rng, (uint64_t)time(NULL));
  int torn = 0, seen[3] = {0}, mid_write = 0;
  for (int round = 0; round < 12; round++) {
    pid_t pid = fork();
    if (pid == 0) {
      for (uint64_t k = 0;; k++) {
        w0[0] = (float)(1 + k % 2);
        st.step = 1 + k % 2;
        ckpt_save(ckpt, &parts, &st);
      }
    }
    struct timespec ts = {0, (long)(rng_below(&rng, 60) * 1000000)};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    char tmpfile[600];
    snprintf(tmpfile, sizeof tmpfile, "%s.tmp.%d", ckpt, (int)pid);
    mid_write += unlink(tmpfile) == 0; /* killed while writing: its temporary file is left behind */
    Graph *h = NULL;
    CHECK(lower_spec(sp, 0, &h) == 0);
    StFile *f = NULL;
    uint64_t hash;
    if (ckpt_open(ckpt, h, "{\"model\": \"big\"}", &f, &hash) != 0) {
      torn++;
      fprintf(stderr, "    round %d: %s\n", round, lstmc_errmsg());
    } else {
      float v = tensor_f32(h->slots[0].t)[0];
      seen[v == 1.0f ? 1 : v == 2.0f ? 2 : 0]++;
    }
    st_free(f);
    graph_free(h);
  }
  CHECK_INT_EQ(torn, 0);
  CHECK_INT_EQ(seen[0], 0);
  printf("kill test: 12 kills, %d mid-write; the checkpoint held version 1 %d times, version 2 %d times\n", mid_write, seen[1], seen[2]);
  unlink(ckpt);
  lx_free(st.log);
  optim_free(opt);
  net_free(net);
  gemm_free(gemm);
  pool_free(pool);
  graph_free(g);
  spec_free(sp);
}

static int run_error(const char *spec, lstmc_train_options o, int want_status, const char *want);

/* ---- passes in the loop ------------------------------------------------------------------------------ */

static const char *SCHED = "model sched { vocab chars; embed 8; dropout 0.1; lstm 24 { weight_drop 0.2; } lstm 8; decoder tied; }\n"
                           "train {\n"
                           "  bptt 20; batch 4; epochs 4; seed 3; optimizer adam { lr 0.01; }\n"
                           "  prune_at 2 { weight-drop{p=0.4}, prune{sparsity=0.5} }\n"
                           "  prune_at 3 { prune{sparsity=0.7}, column-combine{alpha=4,gamma=0.5}, conflict-prune%s }\n"
                           "  %s\n"
                           "}\n";

static void write_sched(const char *path, const char *final, const char *qat) {
  char text[1024];
  snprintf(text, sizeof text, SCHED, final, qat);
  write_text(path, text, strlen(text));
}

static Graph *load_weights(const char *spec, const char *path) {
  Diag d;
  diag_init(&d);
  Spec *sp;
  Graph *g = NULL;
  if (!CHECK(spec_load(spec, &d, &sp) == 0)) return NULL;
  if (!CHECK(lower_spec(sp, 0, &g) == 0) || !CHECK(weights_load(g, path) == 0)) {
    fprintf(stderr, "    %s\n", lstmc_errmsg());
    graph_free(g);
    g = NULL;
  }
  spec_free(sp);
  return g;
}

static void test_schedule(void) {
  char *spec = path_in_tmp("sched.lstm"), *out = path_in_tmp("sched.safetensors");
  char full[512], log[512];
  write_sched(spec, ", quantize{bits=8}", "qat;");
  snprintf(full, sizeof full, "%s", path_in_tmp("sched_full.safetensors"));
  snprintf(log, sizeof log, "%s", path_in_tmp("sched.csv"));
  lstmc_train_options o = opts(full);
  o.log = log;
  lstmc_train_result r;
  if (!CHECK(lstmc_train(spec, &o, &r) == 0)) {
    fprintf(stderr, "    %s\n", lstmc_errmsg());
    return;
  }
  /* the final weights: column-packed q8 where combined, masked q8 for the embedding, the pipeline recorded */
  Graph *g = load_weights(spec, full);
  if (g) {
    CHECK_STR_EQ(format_name(g->slots[graph_find_slot(g, "rnns.0.weight_hh_l0")].t->layout, g->slots[graph_find_slot(g, "rnns.0.weight_hh_l0")].t->enc), "cc_q8");
    CHECK_STR_EQ(format_name(g->slots[0].t->layout, g->slots[0].t->enc), "masked_q8");
    CHECK_CONTAINS(g->pipeline, "prune{sparsity=0.5},prune{sparsity=0.7},column-combine{alpha=4,gamma=0.5},conflict-prune,quantize{bits=8}");
    graph_free(g);
  }
  /* what the trainer reports is what the reference executor computes on them */
  double want = ref_bpc(spec, full, 1);
  if (!CHECK(fabs(r.valid_bpc - want) < 1e-5)) fprintf(stderr, "    trainer %.8f, reference %.8f\n", r.valid_bpc, want);
  /* the passes' time is in the log for the epochs that ran one */
  char *text = NULL;
  size_t n;
  if (CHECK(read_file(log, &text, &n) == 0)) {
    int line = 0;
    char *save = NULL;
    for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save), line++) {
      if (line == 0) continue;
      double f[11] = {0};
      sscanf(l, "%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf", &f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6], &f[7], &f[8]);
      CHECK((f[7] > 0) == (line == 2 || line == 3));         /* pass_seconds */
      CHECK(line < 2 || f[5] >= 0.5);                         /* sparsity */
      CHECK(f[8] >= 0 && f[8] < 1 && (f[8] > 0) == (f[7] > 0)); /* pass_fraction */
    }
    lx_free(text);
  }
  /* stopped in epoch 3 (after the last pipeline, under qat) and at the end of epoch 2, resumed: same bytes */
  char *ckpt = train_checkpoint_path(out);
  int64_t stops[2] = {140, 0};
  for (int k = 0; k < 2; k++) {
    o = opts(out);
    if (stops[k]) o.max_steps = stops[k];
    else o.epochs = 2;
    CHECK(lstmc_train(spec, &o, &r) == 0);
    if (!stops[k]) {
      /* at the end of epoch 2: the master weights are zero where the mask says pruned, and p = 0.4 */
      StFile *f;
      if (CHECK(st_read_file(ckpt, &f) == 0)) {
        const StTensor *m = st_find(f, "train.mask.rnns.0.weight_hh_l0"), *w = st_find(f, "rnns.0.weight_hh_l0");
        if (CHECK(m && w && m->nelems == w->nelems)) {
          int64_t bad = 0, pruned = 0;
          for (uint64_t i = 0; i < m->nelems; i++) {
            float v;
            memcpy(&v, w->data + 4 * i, 4);
            pruned += !m->data[i];
            bad += !m->data[i] && v != 0.0f;
          }
          CHECK_INT_EQ(bad, 0);
          CHECK_INT_EQ(pruned, (int64_t)(m->nelems / 2));
        }
        CHECK_CONTAINS(st_meta_get(f, "lstmc.checkpoint", NULL), "\"weight_drop\": [0.40000000000000002, 0.40000000000000002]");
        st_free(f);
      }
    }
    o = opts(out);
    o.resume = ckpt;
    o.threads = 2;
    CHECK(lstmc_train(spec, &o, &r) == 0);
    if (!CHECK(same_file(full, out))) fprintf(stderr, "    resumed from %s differs\n", stops[k] ? "epoch 3" : "the end of epoch 2");
  }
  lx_free(ckpt);

  /* without qat the export still quantizes (post-training), and the report is the exported weights' BPC */
  write_sched(spec, ", quantize{bits=4}", "");
  o = opts(out);
  CHECK(lstmc_train(spec, &o, &r) == 0);
  want = ref_bpc(spec, out, 1);
  CHECK(fabs(r.valid_bpc - want) < 1e-5);

  /* quantize only at the very end; qat needs it */
  char *bad = path_in_tmp("sched_bad.lstm");
  const char *text1 = "model m { vocab chars; embed 8; lstm 8; decoder tied; }\n"
                      "train { prune_at 2 { quantize{bits=8}, prune } prune_at 3 { prune{sparsity=0.6} } }\n";
  write_text(bad, text1, strlen(text1));
  o = opts(out);
  run_error(bad, o, LSTMC_ERR_USAGE, "sched_bad.lstm:2:22: quantize may only end the last prune_at pipeline (epoch 3)");
  const char *text2 = "model m { vocab chars; embed 8; lstm 8; decoder tied; }\ntrain { prune_at 2 { prune } qat; }\n";
  write_text(bad, text2, strlen(text2));
  run_error(bad, o, LSTMC_ERR_USAGE, "'qat' trains through the quantizer of the last prune_at pipeline");
}

/* ---- errors ------------------------------------------------------------------------------------------- */

static int run_error(const char *spec, lstmc_train_options o, int want_status, const char *want) {
  lstmc_train_result r;
  int st = lstmc_train(spec, &o, &r);
  int ok = CHECK_INT_EQ(st, want_status);
  return CHECK_CONTAINS(lstmc_errmsg(), want) && ok;
}

static void test_errors(void) {
  char *spec = path_in_tmp("err.lstm"), *out = path_in_tmp("err.safetensors");
  write_spec(spec, 1, NULL, NULL);
  lstmc_train_options o = opts(out);
  o.epochs = 1;
  lstmc_train_result r;
  CHECK(lstmc_train(spec, &o, &r) == 0);
  char *ckpt = train_checkpoint_path(out);

  o.target = "ref";
  run_error(spec, o, LSTMC_ERR_USAGE, "the reference executor is for inference only");
  o.target = "tpu"; /* --target cuda trains now (tests/cuda/test_cuda_train_run.c; without a driver: cli_nodevice.sh) */
  run_error(spec, o, LSTMC_ERR_USAGE, "unknown target 'tpu' (training runs on cpu or cuda)");
  o.target = NULL;

  o.resume = out;
  run_error(spec, o, LSTMC_ERR_FORMAT, "is not a training checkpoint");
  o.resume = path_in_tmp("missing.safetensors");
  run_error(spec, o, LSTMC_ERR_IO, "missing.safetensors");

  /* a truncated checkpoint */
  char *cut = path_in_tmp("cut.safetensors");
  char *bytes;
  size_t n;
  CHECK(read_file(ckpt, &bytes, &n) == 0);
  write_text(cut, bytes, n / 2);
  lx_free(bytes);
  o.resume = cut;
  run_error(spec, o, LSTMC_ERR_FORMAT, "cut.safetensors");

  /* another model, other settings, other data */
  char *other = path_in_tmp("other.lstm");
  write_spec(other, 1, "lstm 24", "lstm 32");
  lstmc_train_options p = opts(out);
  p.resume = ckpt;
  run_error(other, p, LSTMC_ERR_SHAPE, "was written by a run with another model");
  write_spec(other, 1, "batch 4", "batch 5");
  run_error(other, p, LSTMC_ERR_SHAPE, "another batch: '4' there, '5' in this spec");
  write_spec(other, 1, "lr 0.01", "lr 0.02");
  run_error(other, p, LSTMC_ERR_SHAPE, "another optimizer");
  p = opts(out);
  p.resume = ckpt;
  p.data = valid_path;
  run_error(spec, p, LSTMC_ERR_DATA, "written while training on other data");

  /* settings the optimizer does not take */
  write_spec(other, 1, "weight_decay 1e-5;", "rho 0.9;");
  p = opts(out);
  run_error(other, p, LSTMC_ERR_USAGE, "optimizer 'adam' does not use 'rho'");
  /* no data */
  p = opts(out);
  p.data = NULL;
  run_error(spec, p, LSTMC_ERR_USAGE, "no training data");
  lx_free(ckpt);
}

/* ---- events ------------------------------------------------------------------------------------------ */

#define MAX_EVENTS 4096

typedef struct EventLog {
  int n;
  lstmc_train_event e[MAX_EVENTS];
  char path[MAX_EVENTS][512]; /* e[i].path, copied */
  int stop_at;               /* set *stop at this many PROGRESS events (0: never) */
  int progress;
  volatile sig_atomic_t *stop;
} EventLog;

static void record(const lstmc_train_event *e, void *ctx) {
  EventLog *l = ctx;
  if (l->n == MAX_EVENTS) return;
  l->e[l->n] = *e;
  snprintf(l->path[l->n], sizeof l->path[0], "%s", e->path ? e->path : "");
  l->e[l->n].path = l->e[l->n].model = l->e[l->n].data = l->e[l->n].optimizer = l->e[l->n].kernel = NULL; /* borrowed */
  l->n++;
  if (e->kind == LSTMC_TRAIN_PROGRESS && ++l->progress == l->stop_at) *l->stop = 1;
}

/* Runs lstmc_train with stderr sent to a file; returns the status and how many bytes reached stderr. */
static int train_quietly(const char *spec, lstmc_train_options *o, lstmc_train_result *r, long *stderr_bytes) {
  char *cap = path_in_tmp("stderr.txt");
  fflush(stderr);
  int saved = dup(2), fd = open(cap, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  dup2(fd, 2);
  close(fd);
  int st = lstmc_train(spec, o, r);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  struct stat sb;
  *stderr_bytes = stat(cap, &sb) == 0 ? (long)sb.st_size : -1;
  return st;
}

static void test_events(void) {
  char *spec = path_in_tmp("events.lstm"), *out = path_in_tmp("events.safetensors");
  write_spec(spec, 1, NULL, NULL);
  char *ckpt = train_checkpoint_path(out);
  static EventLog l;
  volatile sig_atomic_t stop = 0;

  /* two whole epochs */
  memset(&l, 0, sizeof l);
  lstmc_train_options o = opts(out);
  o.on_event = record;
  o.ctx = &l;
  lstmc_train_result r;
  long errbytes;
  if (!CHECK(train_quietly(spec, &o, &r, &errbytes) == 0)) return;
  CHECK_INT_EQ(errbytes, 0);
  CHECK(l.n > 6 && l.n < MAX_EVENTS);
  const lstmc_train_event *e = l.e;
  CHECK_INT_EQ(e[0].kind, LSTMC_TRAIN_START);
  CHECK(e[0].tokens > 0 && e[0].streams == 4 && e[0].steps_per_epoch == e[0].tokens / 4 && e[0].threads == 1 && !e[0].resumed);
  CHECK_INT_EQ(e[l.n - 1].kind, LSTMC_TRAIN_DONE);
  CHECK_STR_EQ(l.path[l.n - 1], out);
  CHECK(e[l.n - 1].valid_bpc == r.valid_bpc && e[l.n - 1].step == r.steps && e[l.n - 1].tokens_per_s == r.tokens_per_s);
  int epochs = 0;
  double last_fraction = 0, last_elapsed = 0;
  for (int i = 1; i < l.n - 1; i++) {
    CHECK(e[i].elapsed >= last_elapsed && e[i].epochs == 2 && !strcmp(e[i].unit, "chars"));
    last_elapsed = e[i].elapsed;
    switch (e[i].kind) {
    case LSTMC_TRAIN_PROGRESS:
      /* the fraction grows within an epoch; the report after its last batch says 1 and comes just before EPOCH */
      CHECK(e[i].fraction >= last_fraction && e[i].fraction <= 1 && e[i].epoch == epochs + 1);
      CHECK(e[i].bpc == e[i].loss / log(2.0) && e[i].tokens_per_s > 0);
      CHECK(e[i].last == (e[i + 1].kind == LSTMC_TRAIN_EPOCH));
      if (e[i].last) CHECK(e[i].fraction == 1);
      last_fraction = e[i].fraction;
      break;
    case LSTMC_TRAIN_EPOCH:
      epochs++;
      CHECK_INT_EQ(e[i].epoch, epochs);
      CHECK(e[i].valid_bpc > 0 && e[i].valid_bpc < 6 && e[i].lr == (epochs == 1 ? 0.01 : 0.001) && e[i].sparsity == 0);
      CHECK_INT_EQ(e[i + 1].kind, LSTMC_TRAIN_CHECKPOINT); /* every epoch ends in a checkpoint */
      CHECK_STR_EQ(l.path[i + 1], ckpt);
      last_fraction = 0;
      break;
    case LSTMC_TRAIN_CHECKPOINT: CHECK_INT_EQ(e[i - 1].kind, LSTMC_TRAIN_EPOCH); break;
    default: CHECK(!"an event of another kind");
    }
  }
  CHECK_INT_EQ(epochs, 2);
  CHECK(e[l.n - 3].valid_bpc == r.valid_bpc); /* the last EPOCH's validation is the final one */

  /* stopped by max_steps: LIMIT, the checkpoint, STOPPED with the validation, DONE */
  memset(&l, 0, sizeof l);
  o.max_steps = 5;
  CHECK(train_quietly(spec, &o, &r, &errbytes) == 0);
  CHECK_INT_EQ(errbytes, 0);
  if (CHECK(l.n == 1 + 5 + 4)) {
    static const int want[] = {LSTMC_TRAIN_LIMIT, LSTMC_TRAIN_CHECKPOINT, LSTMC_TRAIN_STOPPED, LSTMC_TRAIN_DONE};
    for (int k = 0; k < 4; k++) CHECK_INT_EQ(e[6 + k].kind, want[k]);
    CHECK(e[6].reason == LSTMC_TRAIN_MAX_STEPS && e[8].reason == LSTMC_TRAIN_MAX_STEPS && e[8].step == 5);
    CHECK(e[8].valid_bpc == r.valid_bpc);
    CHECK_STR_EQ(l.path[8], ckpt);
  }

  /* the stop flag, set during the third batch's report: its checkpoint, INTERRUPTED, and no final weights */
  memset(&l, 0, sizeof l);
  l.stop_at = 3;
  l.stop = &stop;
  o.max_steps = 0;
  o.stop = &stop;
  o.out = path_in_tmp("events_int.safetensors");
  CHECK_INT_EQ(train_quietly(spec, &o, &r, &errbytes), LSTMC_ERR_INTERRUPTED);
  CHECK_INT_EQ(errbytes, 0);
  if (CHECK(l.n == 1 + 3 + 2)) {
    CHECK(e[4].kind == LSTMC_TRAIN_CHECKPOINT && e[5].kind == LSTMC_TRAIN_INTERRUPTED && e[5].step == 3);
    CHECK_STR_EQ(l.path[5], path_in_tmp("events_int.ckpt.safetensors"));
  }
  CHECK(r.interrupted && access(o.out, F_OK) != 0);
  lx_free(ckpt);
}

/* ---- plot ---------------------------------------------------------------------------------------------- */

static void test_plot(void) {
  char *spec = path_in_tmp("plot.lstm"), *out = path_in_tmp("plot.safetensors"), *log = path_in_tmp("plot.csv");
  write_spec(spec, 1, NULL, NULL);
  lstmc_train_options o = opts(out);
  o.log = log;
  o.epochs = 3;
  lstmc_train_result r;
  CHECK(lstmc_train(spec, &o, &r) == 0);
  char *svg = path_in_tmp("curve.svg"), *png = path_in_tmp("curve.png");
  CHECK(lstmc_plot(log, svg, "test") == 0);
  char *text;
  size_t n;
  if (CHECK(read_file(svg, &text, &n) == 0)) {
    CHECK_CONTAINS(text, "<svg");
    CHECK_CONTAINS(text, ">valid</text>");
    CHECK_CONTAINS(text, ">epoch</text>");
    lx_free(text);
  }
#ifdef LSTMC_HAVE_PNG
  CHECK(lstmc_plot(log, png, NULL) == 0);
  if (CHECK(read_file(png, &text, &n) == 0)) {
    CHECK(n > 1000 && !memcmp(text, "\x89PNG\r\n\x1a\n", 8));
    lx_free(text);
  }
#endif
  CHECK_INT_EQ(lstmc_plot(log, path_in_tmp("curve.gif"), NULL), LSTMC_ERR_USAGE);
  CHECK_INT_EQ(lstmc_plot(spec, svg, NULL), LSTMC_ERR_FORMAT);
  CHECK_CONTAINS(lstmc_errmsg(), "not a training log");
}

int main(int argc, char **argv) {
  tmp = argc > 1 ? argv[1] : "/tmp";
  char dir[512];
  snprintf(dir, sizeof dir, "%s/train_trainer", tmp);
  mkdir(dir, 0755);
  tmp = dir;
  char src[512];
  snprintf(src, sizeof src, "%s/examples/data/sample.txt", LSTMC_SOURCE_DIR);
  char *text;
  size_t n;
  if (!CHECK(read_file(src, &text, &n) == 0)) return tu_summary("train_trainer");
  snprintf(train_path, sizeof train_path, "%s/train.txt", tmp);
  snprintf(valid_path, sizeof valid_path, "%s/valid.txt", tmp);
  write_text(train_path, text, n - 1200);
  write_text(valid_path, text + n - 1200, 1200);
  lx_free(text);
  snprintf(spec_path, sizeof spec_path, "%s/small.lstm", tmp);
  test_eval_matches_reference();
  test_resume();
  test_masks_survive();
  test_kill_mid_write();
  test_schedule();
  test_errors();
  test_events();
  test_plot();
  return tu_summary("train_trainer");
}
