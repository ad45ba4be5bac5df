/* Weights and vocabularies: every format round-trips through safetensors bit for bit and its reference
 * matvec equals the dense matvec of its decoded matrix; bad weight files give one clear error naming the
 * file and tensor; tokenization errors name the byte offset; generation is deterministic per seed. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "frontend/lower.h"
#include "frontend/spec.h"
#include "ir/vocab.h"
#include "lstmc.h"
#include "runtime/exec.h"
#include "runtime/format_meta.h"
#include "api/internal.h"
#include "runtime/safetensors.h"
#include "runtime/weights.h"
#include "support/alloc.h"
#include "support/rng.h"
#include "tensor_gen.h"
#include "testutil.h"

static const char *tmpdir;

static Graph *make_graph(const char *text, int64_t V) {
  Graph *g = tensor_gen_graph(text, V);
  CHECK(g != NULL);
  return g;
}

static const char *tiny_tied = "model t { vocab bytes; embed 8; lstm 12; lstm 8; decoder tied; }";
static const char *tiny_untied = "model t { vocab bytes; embed 8; lstm 12; lstm 8; decoder untied; }";

static void test_formats_roundtrip(void) {
  Rng rng;
  rng_seed(&rng, 7);
  for (int layout = 0; layout < LX_LAYOUT_COUNT; layout++)
    for (int enc = 0; enc < LX_ENC_COUNT; enc++) {
      Graph *g = make_graph(tiny_untied, 0);
      if (!g) return;
      /* every slot dense random, then rnns.0.weight_hh_l0 and decoder.weight in the format under test */
      CHECK(weights_init(g, 3) == 0);
      int slots[2] = {graph_find_slot(g, "rnns.0.weight_hh_l0"), graph_find_slot(g, "decoder.weight")};
      for (int k = 0; k < 2; k++) {
        WeightSlot *s = &g->slots[slots[k]];
        graph_set_tensor(g, slots[k], tensor_gen_random(s->name, s->rows, s->cols, layout, enc, NULL, &rng));
      }
      char fmt[64], path[512];
      snprintf(fmt, sizeof fmt, "%s", format_name(layout, enc));
      CHECK(tensor_check(g->slots[slots[0]].t) == 0);
      CHECK(graph_verify(g) == 0);
      /* reference matvec = dense matvec of the decoded matrix */
      for (int k = 0; k < 2; k++) {
        const Tensor *t = g->slots[slots[k]].t;
        float x[16];
        double y1[300] = {0}, y2[300] = {0};
        for (int i = 0; i < 16; i++) x[i] = (float)(rng_uniform(&rng) * 2 - 1);
        tensor_matvec_ref(t, x, y1);
        float *dense = tensor_to_f32(t);
        for (int64_t r = 0; r < t->rows; r++)
          for (int64_t c = 0; c < t->cols; c++) y2[r] += (double)dense[r * t->cols + c] * x[c];
        double md = 0;
        for (int64_t r = 0; r < t->rows; r++) md = fmax(md, fabs(y1[r] - y2[r]));
        /* scaled encodings: the matvec scales once per row, the decoded matrix per element (float rounding) */
        if (!CHECK(md < (lx_enc_has_scale(enc) ? 1e-6 : 1e-9))) fprintf(stderr, "    format %s: matvec differs by %g\n", fmt, md);
        for (int64_t r = 0; r < t->rows; r++)
          for (int64_t c = 0; c < t->cols; c++)
            if (tensor_get(t, r, c) != dense[r * t->cols + c]) {
              CHECK(!"tensor_get agrees with tensor_to_f32");
              r = t->rows;
              break;
            }
        lx_free(dense);
      }
      snprintf(path, sizeof path, "%s/fmt_%s.safetensors", tmpdir, fmt);
      if (!CHECK(weights_save(g, path, NULL, NULL, 0) == 0)) fprintf(stderr, "    %s: %s\n", fmt, lstmc_errmsg());
      Graph *h = make_graph(tiny_untied, 0);
      if (CHECK(weights_load(h, path) == 0)) {
        for (int i = 0; i < g->nslots; i++) {
          const Tensor *a = g->slots[i].t, *b = h->slots[i].t;
          int same = a->layout == b->layout && a->enc == b->enc && a->stride == b->stride &&
                     !memcmp(a->codes, b->codes, (size_t)a->rows * a->stride) &&
                     (!a->scale || !memcmp(a->scale, b->scale, (size_t)a->rows * 4)) &&
                     (!a->mask || !memcmp(a->mask, b->mask, (size_t)a->rows * a->mask_stride)) &&
                     (a->layout != LX_LAYOUT_PACKED ||
                      (a->ngroups == b->ngroups && !memcmp(a->group_off, b->group_off, (size_t)(a->ngroups + 1) * 4) &&
                       !memcmp(a->group_cols, b->group_cols, (size_t)a->group_off[a->ngroups] * 4) &&
                       !memcmp(a->sel, b->sel, (size_t)(a->rows * a->ngroups)) && a->alpha == b->alpha &&
                       a->gamma == b->gamma && a->block == b->block));
          if (!CHECK(same)) fprintf(stderr, "    format %s, tensor %s did not round-trip\n", fmt, a->name);
        }
      } else {
        fprintf(stderr, "    %s: %s\n", fmt, lstmc_errmsg());
      }
      graph_free(h);
      graph_free(g);
    }
}

/* Writes a file from a list of tensors (f32 data generated) to test the loader's errors. */
static void write_st(const char *path, StWriteTensor *t, int n, const char *vocab) {
  const char *k[2] = {"lstmc.vocab", "x"}, *v[2] = {vocab, "y"};
  CHECK(st_write_file(path, t, n, k, v, vocab ? 1 : 0) == 0);
}

/* The dense f32 tensors of g as writer descriptors (pointing into g), to be corrupted one at a time. */
static int write_descriptors(const Graph *g, StWriteTensor *t) {
  for (int i = 0; i < g->nslots; i++) {
    const Tensor *x = g->slots[i].t;
    memset(&t[i], 0, sizeof t[i]);
    t[i].name = x->name;
    t[i].dtype = ST_F32;
    t[i].ndim = x->ndim;
    t[i].shape[0] = x->rows;
    t[i].shape[1] = x->cols;
    t[i].data = x->codes;
    t[i].nbytes = (size_t)x->rows * x->stride;
  }
  return g->nslots;
}

static int load_error(const char *spec, const char *path, int want_status, const char *want) {
  Graph *g = make_graph(spec, 0);
  if (!g) return 0;
  int st = weights_load(g, path);
  int ok = CHECK_INT_EQ(st, want_status) && CHECK_CONTAINS(lstmc_errmsg(), want);
  CHECK(!graph_has_weights(g));
  graph_free(g);
  return ok;
}

/* The format-metadata codec: what it writes for a tensor with and without groups, and the checkpoints'
 * old "groups": -1, read as "no groups" only where FORMAT_META_LEGACY_CHECKPOINT allows it. */
static Tensor *read_entry(const char *json, int flags, int want_status, const char *want) {
  Json *j = NULL;
  Tensor *t = NULL;
  WeightSlot s = {.name = "w", .ndim = 2, .rows = 4, .cols = 6};
  if (!CHECK(json_parse(json, strlen(json), &j, NULL, 0) == 0)) return NULL;
  int st = format_meta_read(j, "f.safetensors", "w", &s, flags, &t);
  if (CHECK_INT_EQ(st, want_status) && want) CHECK_STR_EQ(lstmc_errmsg(), want);
  json_free(j);
  return t;
}

static void test_format_meta(void) {
  Tensor *t = read_entry("{\"format\": \"masked\"}", 0, 0, NULL);
  if (CHECK(t)) {
    CHECK(t->layout == LX_LAYOUT_MASKED && t->enc == LX_ENC_F32 && !tensor_has_groups(t) && t->mask);
    StrBuf sb;
    sb_init(&sb);
    format_meta_write(&sb, t);
    CHECK_STR_EQ(sb_cstr(&sb), "{\"format\": \"masked\"}");
    sb_free(&sb);
  }
  tensor_free(t);
  t = read_entry("{\"format\": \"cc_q4\", \"groups\": 3, \"group_cols\": 5, \"alpha\": 2, \"gamma\": 0.25, \"block\": 4}", 0, 0,
                 NULL);
  if (CHECK(t)) {
    CHECK(t->layout == LX_LAYOUT_PACKED && t->enc == LX_ENC_Q4 && t->ngroups == 3 && t->group_off[3] == 5 && t->sel &&
          t->scale && t->alpha == 2 && t->gamma == 0.25 && t->block == 4 && t->nslots == 3);
    StrBuf sb;
    sb_init(&sb);
    int n = 0;
    format_meta_map_add(&sb, &n, "w", t);
    format_meta_map_end(&sb, n);
    CHECK_STR_EQ(sb_cstr(&sb),
                 "{\"w\": {\"format\": \"cc_q4\", \"groups\": 3, \"group_cols\": 5, \"alpha\": 2, \"gamma\": 0.25, \"block\": 4}}");
    sb_free(&sb);
  }
  tensor_free(t);
  /* a checkpoint's structure as main 026e24c wrote it */
  const char *legacy = "{\"format\": \"masked\", \"groups\": -1, \"group_cols\": 0, \"alpha\": 0, \"gamma\": 0, \"block\": 0}";
  t = read_entry(legacy, FORMAT_META_LEGACY_CHECKPOINT, 0, NULL);
  CHECK(t && t->layout == LX_LAYOUT_MASKED && !tensor_has_groups(t));
  tensor_free(t);
  read_entry(legacy, 0, LSTMC_ERR_FORMAT, "f.safetensors: lstmc.formats: 'w'.groups must be an integer in [0, 6]");
  read_entry("{\"format\": \"cc_packed\", \"groups\": -1, \"group_cols\": 0}", FORMAT_META_LEGACY_CHECKPOINT, LSTMC_ERR_FORMAT,
             "f.safetensors: lstmc.formats: 'w'.groups must be an integer in [0, 6]"); /* packed needs groups */
  read_entry("{\"format\": \"cc_packed\"}", 0, LSTMC_ERR_FORMAT, "f.safetensors: lstmc.formats: 'w' needs \"groups\" and \"group_cols\"");
  read_entry("{\"format\": \"masked\", \"groups\": 2, \"group_cols\": 4, \"alpha\": 65}", 0, LSTMC_ERR_FORMAT,
             "f.safetensors: lstmc.formats: 'w'.alpha must be an integer in [0, 64]");
  read_entry("{\"format\": \"cc_q3\"}", 0, LSTMC_ERR_FORMAT, "f.safetensors: lstmc.formats: 'w' has no valid \"format\"");
  read_entry("[1]", 0, LSTMC_ERR_FORMAT, "f.safetensors: lstmc.formats: 'w' must be an object");
}

static void test_bad_weights(void) {
  Graph *g = make_graph(tiny_tied, 0);
  if (!g) return;
  CHECK(weights_init(g, 1) == 0);
  char good[512], path[512];
  snprintf(good, sizeof good, "%s/good.safetensors", tmpdir);
  CHECK(weights_save(g, good, NULL, NULL, 0) == 0);
  /* tensors of the good model as write descriptors, to corrupt one at a time */
  StWriteTensor t[16];
  int n = write_descriptors(g, t);
  snprintf(path, sizeof path, "%s/bad.safetensors", tmpdir);

  write_st(path, t, n - 1, NULL); /* drops decoder.bias */
  load_error(tiny_tied, path, LSTMC_ERR_FORMAT, "tensor 'decoder.bias' is missing");
  load_error(tiny_untied, good, LSTMC_ERR_FORMAT, "tensor 'decoder.weight' is missing (the spec's decoder is untied; is this a tied model?)");

  StWriteTensor extra[17];
  memcpy(extra, t, sizeof(StWriteTensor) * (size_t)n);
  extra[n] = t[n - 1];
  extra[n].name = "rnns.9.weight_ih_l0";
  write_st(path, extra, n + 1, NULL);
  load_error(tiny_tied, path, LSTMC_ERR_FORMAT, "unexpected tensor 'rnns.9.weight_ih_l0'");

  /* a tied spec given a file with a different decoder.weight */
  extra[n] = t[0];
  extra[n].name = "decoder.weight";
  float *other = lx_malloc(t[0].nbytes);
  memcpy(other, t[0].data, t[0].nbytes);
  other[5] += 1;
  extra[n].data = other;
  write_st(path, extra, n + 1, NULL);
  load_error(tiny_tied, path, LSTMC_ERR_SHAPE, "has its own 'decoder.weight', but the spec's decoder is tied");
  /* ... but an identical copy (as AWD-LSTM saves tied models) is accepted */
  extra[n].data = t[0].data;
  write_st(path, extra, n + 1, NULL);
  Graph *h = make_graph(tiny_tied, 0);
  CHECK(weights_load(h, path) == 0);
  graph_free(h);
  lx_free(other);

  StWriteTensor bad[16];
  memcpy(bad, t, sizeof(StWriteTensor) * (size_t)n);
  int hh = graph_find_slot(g, "rnns.0.weight_hh_l0");
  bad[hh].shape[0] = 12;
  bad[hh].shape[1] = 48;
  write_st(path, bad, n, NULL);
  load_error(tiny_tied, path, LSTMC_ERR_SHAPE, "tensor 'rnns.0.weight_hh_l0' has shape [12, 48], but the spec needs [48, 12]");

  memcpy(bad, t, sizeof(StWriteTensor) * (size_t)n);
  bad[hh].dtype = ST_I32;
  write_st(path, bad, n, NULL);
  load_error(tiny_tied, path, LSTMC_ERR_FORMAT, "tensor 'rnns.0.weight_hh_l0' has dtype I32; weights must be F32, F64, F16 or BF16");

  /* NaN and Inf */
  float *nan = lx_malloc(t[hh].nbytes);
  memcpy(nan, t[hh].data, t[hh].nbytes);
  nan[2 * 12 + 5] = NAN;
  memcpy(bad, t, sizeof(StWriteTensor) * (size_t)n);
  bad[hh].data = nan;
  write_st(path, bad, n, NULL);
  load_error(tiny_tied, path, LSTMC_ERR_VALUE, "tensor 'rnns.0.weight_hh_l0' element [2, 5] is NaN");
  nan[2 * 12 + 5] = INFINITY;
  write_st(path, bad, n, NULL);
  load_error(tiny_tied, path, LSTMC_ERR_VALUE, "element [2, 5] is infinite");
  lx_free(nan);

  /* vocabulary problems (chars model) */
  const char *chars_spec = "model c { vocab chars; embed 8; lstm 8; decoder tied; }";
  Graph *c = make_graph(chars_spec, 3);
  CHECK(weights_init(c, 1) == 0);
  StWriteTensor ct[8];
  write_descriptors(c, ct);
  write_st(path, ct, c->nslots, NULL);
  load_error(chars_spec, path, LSTMC_ERR_FORMAT, "no vocabulary (metadata key 'lstmc.vocab'); a chars model needs one");
  write_st(path, ct, c->nslots, "[\"a\", \"b\"");
  load_error(chars_spec, path, LSTMC_ERR_FORMAT, "metadata 'lstmc.vocab' is not valid JSON");
  write_st(path, ct, c->nslots, "[\"a\", \"b\", \"a\"]");
  load_error(chars_spec, path, LSTMC_ERR_FORMAT, "vocabulary token 2 ('a') appears twice");
  write_st(path, ct, c->nslots, "[\"a\", \"b\", \"c\", \"d\"]");
  load_error(chars_spec, path, LSTMC_ERR_SHAPE, "the vocabulary ('lstmc.vocab') has 4 tokens, but 'encoder.weight' has 3 rows");
  write_st(path, ct, c->nslots, "[\"a\", \"b\", \"c\"]");
  Graph *ok = make_graph(chars_spec, 0);
  CHECK(weights_load(ok, path) == 0);
  CHECK_INT_EQ(ok->vocab_size, 3);
  graph_free(ok);
  graph_free(c);
  graph_free(g);

  /* a packed tensor whose select index points outside its group */
  Graph *p = make_graph(tiny_untied, 0);
  Rng rng;
  rng_seed(&rng, 5);
  CHECK(weights_init(p, 2) == 0);
  int slot = graph_find_slot(p, "rnns.1.weight_hh_l0");
  Tensor *pt = tensor_gen_random("rnns.1.weight_hh_l0", 32, 8, LX_LAYOUT_PACKED, LX_ENC_Q8, NULL, &rng);
  graph_set_tensor(p, slot, pt);
  pt->sel[3] = 7; /* row 1, group 0, which holds 2 columns */
  CHECK(weights_save(p, path, NULL, NULL, 0) == 0);
  load_error(tiny_untied, path, LSTMC_ERR_FORMAT, "row 1 selects position 7 of group 0, which has 2 columns");
  graph_free(p);
}

static void test_tokenize(void) {
  Vocab *v = NULL;
  const char *text = "héllo wörld\n";
  CHECK(vocab_build(VOCAB_CHARS, text, strlen(text), "t.txt", &v) == 0);
  CHECK_INT_EQ(v->n, 10); /* h é l o space w ö r d \n */
  int32_t *ids;
  int64_t n;
  CHECK(vocab_tokenize(v, "lol", 3, "x.txt", &ids, &n) == 0);
  CHECK_INT_EQ(n, 3);
  lx_free(ids);
  CHECK_INT_EQ(vocab_tokenize(v, "hollo?", 6, "x.txt", &ids, &n), LSTMC_ERR_DATA);
  CHECK_STR_EQ(lstmc_errmsg(), "x.txt: byte offset 5: token '?' is not in the model's vocabulary (10 tokens, no <unk>)");
  CHECK_INT_EQ(vocab_tokenize(v, "ho\xc3\xa9\xffz", 6, "x.txt", &ids, &n), LSTMC_ERR_DATA);
  CHECK_STR_EQ(lstmc_errmsg(), "x.txt: byte offset 4: invalid UTF-8 (byte 0xff) in a chars model's text");
  CHECK_INT_EQ(vocab_tokenize(v, "h\xe2\x82\xac", 4, "x.txt", &ids, &n), LSTMC_ERR_DATA);
  CHECK_CONTAINS(lstmc_errmsg(), "byte offset 1: token '\xe2\x82\xac' (U+20AC) is not in");
  vocab_free(v);

  /* words: newlines become <eos>; <unk> absorbs unknown words */
  const char *words = "the cat <unk>\nthe dog\n";
  CHECK(vocab_build(VOCAB_WORDS, words, strlen(words), "w.txt", &v) == 0);
  CHECK_INT_EQ(v->n, 5);
  CHECK(v->unk >= 0 && v->eos >= 0);
  CHECK_STR_EQ(v->tokens[0], "<eos>"); /* most frequent first (<eos> and 'the' twice; ties by bytes) */
  CHECK(vocab_tokenize(v, "the bird\n", 9, "x", &ids, &n) == 0);
  CHECK_INT_EQ(n, 3);
  if (n == 3) {
    CHECK_INT_EQ(ids[1], v->unk);
    CHECK_INT_EQ(ids[2], v->eos);
  }
  lx_free(ids);
  vocab_free(v);

  /* bytes: every byte is a token */
  v = vocab_new_bytes();
  CHECK(vocab_tokenize(v, "\xff\x00z", 3, "b", &ids, &n) == 0);
  CHECK_INT_EQ(n, 3);
  if (n == 3) CHECK(ids[0] == 255 && ids[1] == 0 && ids[2] == 'z');
  lx_free(ids);
  vocab_free(v);
}

static void test_generate(void) {
  char spec_path[512], w[512];
  snprintf(spec_path, sizeof spec_path, "%s/gen.lstm", tmpdir);
  FILE *f = fopen(spec_path, "w");
  fputs(tiny_tied, f);
  fclose(f);
  snprintf(w, sizeof w, "%s/gen.safetensors", tmpdir);
  lstmc_model *m;
  if (!CHECK(lstmc_model_load(spec_path, &m) == 0)) return;
  CHECK(lstmc_model_init_weights(m, NULL, 9) == 0);
  CHECK(lstmc_model_save_weights(m, w) == 0);
  lstmc_session *s;
  if (!CHECK(lstmc_session_create(m, NULL, &s) == 0)) return;
  char *a = NULL, *b = NULL, *c = NULL, *greedy = NULL, *top1 = NULL;
  lstmc_gen_opts o = {"ab", 40, 1.0, 0, 42, NULL, NULL};
  CHECK(lstmc_session_generate(s, &o, &a) == 0);
  CHECK(lstmc_session_generate(s, &o, &b) == 0);
  o.seed = 43;
  CHECK(lstmc_session_generate(s, &o, &c) == 0);
  CHECK(a && b && c && !memcmp(a, b, 40));
  CHECK(a && c && memcmp(a, c, 40) != 0);
  o.temperature = 0;
  CHECK(lstmc_session_generate(s, &o, &greedy) == 0);
  o.temperature = 1.0;
  o.top_k = 1;
  o.seed = 1;
  CHECK(lstmc_session_generate(s, &o, &top1) == 0);
  CHECK(greedy && top1 && !memcmp(greedy, top1, 40));
  o.temperature = -1;
  CHECK_INT_EQ(lstmc_session_generate(s, &o, NULL), LSTMC_ERR_USAGE);
  lstmc_free(a);
  lstmc_free(b);
  lstmc_free(c);
  lstmc_free(greedy);
  lstmc_free(top1);
  lstmc_session_free(s);
  lstmc_model_free(m);
}

int main(int argc, char **argv) {
  tmpdir = argc > 1 ? argv[1] : ".";
  test_formats_roundtrip();
  test_format_meta();
  test_bad_weights();
  test_tokenize();
  test_generate();
  return tu_summary("weights");
}
