/* The systolic images: written, read back and run.
 *  - round trip: for every quantized format, packed and not, several arrays and gate units, the program read
 *    back equals the one written, bit for bit, and its executor gives the same logits;
 *  - the public path: a spec and weights on disk, the spec's pipeline, `lstmc_model_compile` with target
 *    systolic, `lstmc_systolic_image_open` and `_step` against a systolic session's logits;
 *  - bad and lying images: a missing file, a truncated one, a changed byte (checksum), and — with the
 *    manifest's checksum updated so that only the meaning is wrong — levels past wbits, a level in an empty
 *    cell, a select past its group, a nonempty padding cell, routing out of range, out of order, in two
 *    groups or differing between column blocks, a non-finite float, a wrong gate table, a tile's cycle or
 *    shape, the product shapes, the format and version; each with the file and place in the message;
 *  - 400 random byte changes with the checksum updated: each read fails with a format error or succeeds
 *    (a change that keeps the image valid), never anything else;
 *  - every allocation of building, running (also cell by cell), writing and reading fails in turn: an
 *    out-of-memory error each time, no crash, no leak (LeakSanitizer in make test-asan). */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codegen/backend.h"
#include "support/sha256.h"
#include "support/text.h"
#include "systest.h"

static char tmpdir[512];

static char *path2(const char *dir, const char *name) {
  static char buf[4][1024];
  static int k;
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
  return buf[k];
}

static void copy_file(const char *from, const char *to) {
  char *d;
  size_t n;
  if (read_file(from, &d, &n)) return;
  FILE *f = fopen(to, "wb");
  if (f) {
    fwrite(d, 1, n, f);
    fclose(f);
  }
  lx_free(d);
}

static const char *const files[] = {"manifest.json", "weights.bin",   "select.bin", "routing.bin",
                                    "scales.bin",    "bias.bin",      "embedding.bin", "gates.bin"};

static void copy_dir(const char *from, const char *to) {
  mkdir(to, 0755);
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
    if (access(path2(from, files[i]), F_OK)) {
      unlink(path2(to, files[i]));
      continue;
    }
    copy_file(path2(from, files[i]), path2(to, files[i]));
  }
}

/* Steps two executors through the same tokens; 1 when every logit is the same float. */
static int same_logits(Executor *a, Executor *b, int64_t V, int steps) {
  float *x = lx_malloc((size_t)V * sizeof *x), *y = lx_malloc((size_t)V * sizeof *y);
  int same = 1;
  a->vt->reset(a);
  b->vt->reset(b);
  for (int s = 0; s < steps; s++) {
    int32_t tok = (int32_t)((s * 7 + 3) % V);
    if (!CHECK(a->vt->step(a, &tok, x) == 0 && b->vt->step(b, &tok, y) == 0)) break;
    same &= !memcmp(x, y, (size_t)V * sizeof *x);
  }
  lx_free(x);
  lx_free(y);
  return same;
}

static void test_round_trip(void) {
  static const int encs[] = {LX_ENC_Q8, LX_ENC_Q4, LX_ENC_TERNARY, LX_ENC_BINARY};
  for (int caseno = 0; caseno < 12; caseno++) {
    int layout = caseno % 3 == 2 ? LX_LAYOUT_MASKED : LX_LAYOUT_PACKED;
    Graph *g = st_graph(caseno % 2 ? st_spec_tied : st_spec2, 13, layout, encs[caseno % 4], 1 + caseno % 4, 300 + caseno);
    if (!g) continue;
    SystolicConfig c = st_config(2 + caseno % 5, 3 + caseno % 3);
    c.gates = caseno % 3;
    c.gate_n = caseno % 3 ? 8 + caseno : 0;
    c.load = caseno % 2;
    c.resident = caseno == 5 ? 1000 : 0;
    c.gate_latency = caseno % 4;
    c.accbits = caseno == 7 ? 12 : 32;
    SaProgram *p = st_program(g, &c), *back = NULL;
    char dir[600];
    snprintf(dir, sizeof dir, "%s/rt%d", tmpdir, caseno);
    if (p && CHECK(sa_image_write(p, dir) == 0)) {
      int st = sa_image_read_dir(dir, &back);
      if (!CHECK_INT_EQ(st, 0)) fprintf(stderr, "    case %d: %s\n", caseno, lstmc_errmsg());
      if (back) {
        CHECK(sa_program_equal(p, back));
        Executor *e1 = NULL, *e2 = NULL;
        ExecOptions o = {0};
        o.target = TARGET_SYSTOLIC;
        o.systolic = &c;
        CHECK(exec_create(g, &o, &e1) == 0);
        CHECK(sa_exec_create_program(back, 1, &e2) == 0); /* takes back */
        back = NULL;
        if (e1 && e2) CHECK(same_logits(e1, e2, 13, 10));
        exec_destroy(e1);
        exec_destroy(e2);
      }
    }
    sa_program_free(back);
    sa_program_free(p);
    graph_free(g);
  }
}

/* Writes text to path. */
static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  if (f) {
    fputs(text, f);
    fclose(f);
  }
}

static void test_public_path(void) {
  char spec[600], weights[600], dir[600];
  snprintf(spec, sizeof spec, "%s/pub.lstm", tmpdir);
  snprintf(weights, sizeof weights, "%s/pub.safetensors", tmpdir);
  snprintf(dir, sizeof dir, "%s/pub_images", tmpdir);
  write_text(spec, "model pub { vocab bytes; embed 16; lstm 24; lstm 16; decoder tied; }\n"
                   "passes \"prune{sparsity=0.6},column-combine{alpha=4,gamma=0.5},conflict-prune,quantize{bits=4}\";\n"
                   "systolic { array 8x16; gates pwl 16; load double; }\n");
  lstmc_model *m = NULL;
  if (!CHECK(lstmc_model_load(spec, &m) == 0) || !CHECK(lstmc_model_init_weights(m, NULL, 5) == 0) ||
      !CHECK(lstmc_model_apply_passes(m, NULL, NULL) == 0)) {
    lstmc_model_free(m);
    return;
  }
  lstmc_compile_opts co;
  memset(&co, 0, sizeof co);
  co.target = "systolic";
  co.output = dir;
  int st = lstmc_model_compile(m, &co);
  if (!CHECK_INT_EQ(st, 0)) fprintf(stderr, "    %s\n", lstmc_errmsg());
  lstmc_session_opts so = {0};
  so.target = "systolic";
  lstmc_session *s = NULL;
  lstmc_systolic_image *img = NULL;
  CHECK(lstmc_session_create(m, &so, &s) == 0);
  st = lstmc_systolic_image_open(dir, &img);
  if (!CHECK_INT_EQ(st, 0)) fprintf(stderr, "    %s\n", lstmc_errmsg());
  if (s && img) {
    CHECK_INT_EQ(lstmc_systolic_image_vocab_size(img), 256);
    lstmc_systolic_stats stats;
    CHECK(lstmc_session_systolic_stats(s, &stats) == 0);
    CHECK(stats.rows == 8 && stats.cols == 16); /* the spec's block */
    float a[256], b[256];
    int same = 1;
    for (int t = 0; t < 20; t++) {
      CHECK(lstmc_session_step(s, (int32_t)(t * 13 % 256), a) == 0);
      CHECK(lstmc_systolic_image_step(img, (int32_t)(t * 13 % 256), b) == 0);
      same &= !memcmp(a, b, sizeof a);
    }
    CHECK(same);
    lstmc_systolic_image_reset(img);
    CHECK_INT_EQ(lstmc_systolic_image_step(img, 300, b), LSTMC_ERR_DATA);
  }
  lstmc_systolic_image_free(img);
  lstmc_session_free(s);
  lstmc_model_free(m);
  /* settings from the call override the spec's */
  lstmc_systolic_opts o;
  lstmc_systolic_opts_init(&o);
  o.rows = 4;
  o.gates = "exact";
  lstmc_model_load(spec, &m);
  lstmc_model_init_weights(m, NULL, 5);
  lstmc_model_apply_passes(m, NULL, NULL);
  so.systolic = &o;
  if (CHECK(lstmc_session_create(m, &so, &s) == 0)) {
    lstmc_systolic_stats stats;
    CHECK(lstmc_session_systolic_stats(s, &stats) == 0);
    CHECK(stats.rows == 4 && stats.cols == 16);
    char *text = NULL;
    CHECK(lstmc_session_systolic_report(s, 0, &text) == 0);
    CHECK_CONTAINS(text, "systolic array 4x16 alpha=4 wbits=8 abits=8 accbits=32 gates=exact load=double");
    lstmc_free(text);
  }
  lstmc_session_free(s);
  /* a float model has no systolic session: no fallback to the reference executor */
  lstmc_model_free(m);
  lstmc_model_load(spec, &m);
  lstmc_model_init_weights(m, NULL, 5);
  so.systolic = NULL;
  CHECK_INT_EQ(lstmc_session_create(m, &so, &s), LSTMC_ERR_UNSUPPORTED);
  CHECK_CONTAINS(lstmc_errmsg(), "the array multiplies integer levels");
  lstmc_model_free(m);
}

/* ---- bad images --------------------------------------------------------------------------------------- */

static char good[600];

/* Replaces the manifest's checksum of `file` with the checksum of its current bytes. */
static void refresh_checksum(const char *dir, const char *file) {
  char *data, *man;
  size_t n, mn;
  if (read_file(path2(dir, file), &data, &n) || read_file(path2(dir, "manifest.json"), &man, &mn)) return;
  uint8_t d[32];
  char hex[65];
  sha256(data, n, d);
  sha256_hex(d, hex);
  char key[64];
  snprintf(key, sizeof key, "\"%s\": {\"bytes\": ", file);
  char *at = strstr(man, key);
  char *sha = at ? strstr(at, "\"sha256\": \"") : NULL;
  if (sha) memcpy(sha + 11, hex, 64);
  FILE *f = fopen(path2(dir, "manifest.json"), "wb");
  if (f) {
    fwrite(man, 1, mn, f);
    fclose(f);
  }
  lx_free(data);
  lx_free(man);
}

/* Overwrites n bytes of `file` in dir at offset `at`; with `refresh`, updates the manifest's checksum. */
static void patch(const char *dir, const char *file, long at, const uint8_t *bytes, size_t n, int refresh) {
  char *data;
  size_t len;
  if (read_file(path2(dir, file), &data, &len)) return;
  if (at >= 0 && (size_t)at + n <= len) memcpy(data + at, bytes, n);
  FILE *f = fopen(path2(dir, file), "wb");
  if (f) {
    fwrite(data, 1, len, f);
    fclose(f);
  }
  lx_free(data);
  if (refresh) refresh_checksum(dir, file);
}

/* Changes byte `at` of `file` in a copy of the good images (to `value`, or flips it when value < 0); with
 * `refresh`, updates the manifest's checksum. Returns the copy's folder. */
static const char *damaged(const char *file, long at, int value, int refresh) {
  static char dir[700];
  snprintf(dir, sizeof dir, "%s/bad", tmpdir);
  copy_dir(good, dir);
  char *data;
  size_t n;
  if (read_file(path2(dir, file), &data, &n)) return dir;
  uint8_t b = at >= 0 && (size_t)at < n ? (uint8_t)(value < 0 ? data[at] ^ 0x5a : value) : 0;
  lx_free(data);
  patch(dir, file, at, &b, 1, refresh);
  return dir;
}

/* The manifest of a copy with `from` replaced by `to` (first occurrence). */
static const char *edited_manifest(const char *from, const char *to) {
  static char dir[700];
  snprintf(dir, sizeof dir, "%s/bad", tmpdir);
  copy_dir(good, dir);
  char *man;
  size_t n;
  if (read_file(path2(dir, "manifest.json"), &man, &n)) return dir;
  char *at = strstr(man, from);
  if (!CHECK(at != NULL)) fprintf(stderr, "    '%s' is not in the manifest\n", from);
  StrBuf sb;
  sb_init(&sb);
  if (at) {
    sb_append(&sb, man, (size_t)(at - man));
    sb_puts(&sb, to);
    sb_puts(&sb, at + strlen(from));
  } else {
    sb_puts(&sb, man);
  }
  write_text(path2(dir, "manifest.json"), sb_cstr(&sb));
  sb_free(&sb);
  lx_free(man);
  return dir;
}

static void expect_bad(const char *dir, int status, const char *words, const char *what) {
  SaProgram *p = NULL;
  int st = sa_image_read_dir(dir, &p);
  if (!CHECK_INT_EQ(st, status) || !CHECK_CONTAINS(lstmc_errmsg(), words)) fprintf(stderr, "    case: %s\n", what);
  CHECK(p == NULL);
  sa_program_free(p);
}

/* The good images: a small packed q4 model on a 3×4 array (several tiles, partial ones too), pwl gates. */
static SaProgram *good_program;

static void make_good(void) {
  snprintf(good, sizeof good, "%s/good", tmpdir);
  Graph *g = st_graph(st_spec2, 13, LX_LAYOUT_PACKED, LX_ENC_Q4, 3, 77);
  SystolicConfig c = st_config(3, 4);
  c.gates = SA_GATES_PWL;
  c.gate_n = 8;
  c.wbits = 4;
  good_program = st_program(g, &c);
  CHECK(good_program && sa_image_write(good_program, good) == 0);
  graph_free(g);
}

static void test_bad_images(void) {
  const int64_t A = 3, B = 4, al = good_program->cfg.alpha;
  /* files */
  {
    static char dir[700];
    snprintf(dir, sizeof dir, "%s/bad", tmpdir);
    copy_dir(good, dir);
    unlink(path2(dir, "select.bin"));
    expect_bad(dir, LSTMC_ERR_IO, "select.bin", "missing file");
  }
  expect_bad(damaged("weights.bin", 5, -1, 0), LSTMC_ERR_FORMAT, "weights.bin: its SHA-256 is", "changed byte");
  {
    const char *dir = damaged("scales.bin", 0, -1, 0);
    if (truncate(path2(dir, "scales.bin"), 5)) perror("truncate");
    expect_bad(dir, LSTMC_ERR_FORMAT, "scales.bin: the file has 5 bytes", "truncated");
  }
  /* the manifest */
  expect_bad(edited_manifest("{", "["), LSTMC_ERR_FORMAT, "manifest.json: byte", "not JSON");
  expect_bad(edited_manifest("lstmc-systolic-images", "other"), LSTMC_ERR_FORMAT, "format is 'other'", "format");
  expect_bad(edited_manifest("\"version\": 1", "\"version\": 2"), LSTMC_ERR_FORMAT, "version 2; this lstmc reads version 1", "version");
  expect_bad(edited_manifest("\"rows\": 3,", "\"rows\": 0,"), LSTMC_ERR_FORMAT, "array: systolic: the array must have", "array rows");
  expect_bad(edited_manifest("\"wbits\": 4", "\"wbits\": \"4\""), LSTMC_ERR_FORMAT, "array.wbits must be an integer", "type");
  expect_bad(edited_manifest("\"hidden\": 5", "\"hidden\": 6"), LSTMC_ERR_FORMAT, "layers[1].input is 5; the layer below gives 6", "layer shapes");
  expect_bad(edited_manifest("\"groups\": ", "\"groups\": 1"), LSTMC_ERR_FORMAT, "products[0]: tiles", "product groups");
  expect_bad(edited_manifest("\"files\": {", "\"files\": {\"x.bin\": {}, "), LSTMC_ERR_FORMAT, "files lists 'x.bin'", "extra file");
  expect_bad(edited_manifest("\"per_token\": ", "\"per_token\": 1"), LSTMC_ERR_FORMAT, "cycles.per_token is", "cycles");
  /* a tile's start one cycle early */
  {
    SaTileTime tt[512];
    CHECK(good_program->ntiles < 512);
    sa_schedule(good_program, 1, 1, 0, tt);
    const SaTile *t = &good_program->tiles[2];
    char from[128], to[128];
    snprintf(from, sizeof from, "[%d, %d, %d, %d, %d, %lld, %lld, %lld, %lld]", t->product, t->row_block, t->col_block, t->a,
             t->b, (long long)tt[2].load, (long long)tt[2].swap, (long long)tt[2].start, (long long)tt[2].done);
    snprintf(to, sizeof to, "[%d, %d, %d, %d, %d, %lld, %lld, %lld, %lld]", t->product, t->row_block, t->col_block, t->a,
             t->b, (long long)tt[2].load, (long long)tt[2].swap, (long long)tt[2].start - 1, (long long)tt[2].done);
    expect_bad(edited_manifest(from, to), LSTMC_ERR_FORMAT, "tiles[2]: start is", "tile start");
  }
  /* cells, with a consistent checksum: the first tile is full (3 rows of product 0's groups) */
  const SaProduct *pr = &good_program->products[0];
  int64_t cell_empty = -1, cell_full = -1;
  for (int64_t i = 0; i < A * B; i++) {
    int64_t r = i % B, g = i / B;
    if (pr->sel[r * pr->ngroups + g] == LX_SEL_EMPTY && cell_empty < 0) cell_empty = i;
    if (pr->sel[r * pr->ngroups + g] != LX_SEL_EMPTY && cell_full < 0) cell_full = i;
  }
  if (CHECK(cell_empty >= 0 && cell_full >= 0)) {
    expect_bad(damaged("weights.bin", cell_empty, 3, 1), LSTMC_ERR_FORMAT, "an empty cell (select 255) holds level 3", "level in empty cell");
    expect_bad(damaged("weights.bin", cell_full, 9, 1), LSTMC_ERR_FORMAT, "level 9 does not fit the weight registers", "level past wbits");
    expect_bad(damaged("weights.bin", cell_full, 0, 1), LSTMC_ERR_FORMAT, "level 0 in a cell that selects", "zero level");
    expect_bad(damaged("select.bin", cell_full, 40, 1), LSTMC_ERR_FORMAT, "select 40 is past the", "select past group");
  }
  /* a padding cell: the last tile of product 1 (W_ih, 20 outputs on 4 columns: full) — use the decoder's
   * last tile, 13 outputs: its last column block has one output */
  const SaProduct *dec = &good_program->products[good_program->dec];
  int64_t last = dec->first_tile + dec->ntiles - 1;
  expect_bad(damaged("select.bin", last * A * B + B - 1, 0, 1), LSTMC_ERR_FORMAT, "is outside the tile and must be empty", "padding");
  /* routing: tile 0, row 0, input 0 */
  expect_bad(damaged("routing.bin", 0, 99, 1), LSTMC_ERR_FORMAT, "routes column 99", "column out of range");
  if (pr->group_off[1] - pr->group_off[0] >= 2 && al >= 2) {
    /* swap the first two columns of group 0: out of order */
    const uint8_t first = (uint8_t)pr->group_cols[0];
    const char *dir = damaged("routing.bin", 0, pr->group_cols[1], 0);
    patch(dir, "routing.bin", 4, &first, 1, 1);
    expect_bad(dir, LSTMC_ERR_FORMAT, "ascending, are expected", "out of order");
  }
  /* row 1's first column = row 0's: one column in two groups */
  expect_bad(damaged("routing.bin", al * 4, pr->group_cols[0], 1), LSTMC_ERR_FORMAT, "is in two groups", "two groups");
  /* the second column block's tile routes its row 0 differently */
  if (pr->row_blocks >= 1 && pr->col_blocks >= 2) {
    int64_t tile = pr->row_blocks; /* (row block 0, column block 1) */
    int other = pr->group_cols[0] == 0 ? 1 : 0;
    int alone = 1;
    for (int32_t k = 0; k < pr->group_off[pr->ngroups]; k++) alone &= pr->group_cols[k] != other;
    expect_bad(damaged("routing.bin", tile * A * al * 4, other, 1), LSTMC_ERR_FORMAT,
               alone ? "differs from the first tile of its row block" : "routing differs", "routing between blocks");
  }
  /* floats */
  {
    /* value 0 of the embedding becomes a NaN: bytes 2 and 3 (little-endian) 0xff, 0x7f */
    static const uint8_t nan_hi[2] = {0xff, 0x7f};
    const char *dir = damaged("embedding.bin", 3, 0x7f, 0);
    patch(dir, "embedding.bin", 2, nan_hi, 2, 1);
    expect_bad(dir, LSTMC_ERR_FORMAT, "the embedding: value 0 is not finite", "NaN embedding");
  }
  expect_bad(damaged("gates.bin", 0, 0x12, 1), LSTMC_ERR_FORMAT, "gates.bin: entry 0 of the sigmoid table", "gate table");
}

/* Random changes with a consistent checksum: a clean error or a valid image, never a crash (ASan runs this). */
static void test_random_damage(void) {
  Rng rng;
  rng_seed(&rng, 2024);
  static const char *const bins[] = {"weights.bin", "select.bin", "routing.bin", "scales.bin", "bias.bin", "embedding.bin", "gates.bin"};
  int ok = 0, refused = 0;
  for (int i = 0; i < 400; i++) {
    const char *file = bins[rng_below(&rng, 7)];
    char *d;
    size_t n;
    if (read_file(path2(good, file), &d, &n)) continue;
    long at = (long)rng_below(&rng, n);
    lx_free(d);
    const char *dir = damaged(file, at, (int)rng_below(&rng, 256), 1);
    SaProgram *p = NULL;
    int st = sa_image_read_dir(dir, &p);
    if (st == 0) ok++;
    else if (CHECK_INT_EQ(st, LSTMC_ERR_FORMAT)) refused++;
    sa_program_free(p);
  }
  printf("random damage: %d read as valid images, %d refused\n", ok, refused);
  CHECK(refused > 100);
}

/* Every allocation of building a program, creating its executor, two steps (one cell by cell), writing the
 * images and reading them back fails in turn: each run ends in LSTMC_ERR_NOMEM or succeeds, nothing crashes,
 * and under the sanitizer build LeakSanitizer finds nothing left behind. */
static int oom_run(const Graph *g, const char *dir, int cell_sim) {
  SystolicConfig c = st_config(3, 4);
  c.gates = SA_GATES_LUT;
  c.gate_n = 8;
  c.cell_sim = cell_sim;
  SaProgram *p = NULL, *back = NULL;
  Executor *e = NULL;
  float logits[13];
  int st = sa_program_build(g, &c, &p);
  if (!st && !cell_sim) st = sa_image_write(p, dir);
  if (!st && !cell_sim) st = sa_image_read_dir(dir, &back);
  if (!st) {
    st = sa_exec_create_program(p, 1, &e);
    p = NULL; /* the executor took it, or freed it */
  }
  for (int32_t t = 0; !st && t < 2; t++) st = e->vt->step(e, &t, logits);
  exec_destroy(e);
  sa_program_free(back);
  sa_program_free(p);
  return st;
}

static void test_out_of_memory(void) {
  Graph *g = st_graph(st_spec2, 13, LX_LAYOUT_PACKED, LX_ENC_Q8, 3, 90);
  if (!g) return;
  char dir[700];
  snprintf(dir, sizeof dir, "%s/oom", tmpdir);
  for (int cell_sim = 0; cell_sim < 2; cell_sim++) {
    lx_alloc_fail_after(-1);
    if (!CHECK_INT_EQ(oom_run(g, dir, cell_sim), 0)) continue;
    int n, bad_status = 0;
    for (n = 0; n < 5000; n++) {
      lx_alloc_fail_after(n);
      int st = oom_run(g, dir, cell_sim);
      lx_alloc_fail_after(-1);
      if (st == 0) break;
      if (st != LSTMC_ERR_NOMEM) {
        bad_status++;
        fprintf(stderr, "    allocation %d: status %d: %s\n", n, st, lstmc_errmsg());
      }
    }
    CHECK_INT_EQ(bad_status, 0);
    CHECK(n > 20 && n < 5000);
    printf("out of memory: %d allocations%s, each failure reported\n", n, cell_sim ? " (cell by cell)" : "");
  }
  graph_free(g);
}

int main(int argc, char **argv) {
  snprintf(tmpdir, sizeof tmpdir, "%s/systolic_image", argc > 1 ? argv[1] : "/tmp");
  mkdir(tmpdir, 0755);
  test_round_trip();
  test_out_of_memory();
  test_public_path();
  make_good();
  if (good_program) {
    test_bad_images();
    test_random_damage();
  }
  sa_program_free(good_program);
  return tu_summary("systolic_image");
}
