/* Standalone objects (`lstmc compile`): for a byte model with dense weights (examples/tiny.lstm), a chars
 * model with column-packed 8-bit weights, and both with int8 activations (the integer kernels), the object
 * and its header build with the C compiler and link with nothing but libc and libm; its logits are bit for
 * bit the JIT's (same IR, same CPU) and within 1e-4 of the reference executor's (1e-3 with int8
 * activations: tests/cpu/test_cpu_int.c says why); its token texts map back to their ids; and
 * examples/generate_main.c built against it prints exactly what `lstmc generate` prints for the same
 * options, greedy or sampled. --emit asm and --emit llvm write the assembly and the IR.
 *
 * The CPU check: the feature table's comparison on made-up cpuid words and XCR0 values (bits cleared one
 * at a time, register state the OS did not enable), the host's own features all present, and an object
 * compiled for a feature this CPU lacks: its x_cpu_missing() names it and x_new() returns NULL — the
 * program exits normally instead of dying of SIGILL.
 *
 * argv[1]: a temporary folder; argv[2]: the C compiler. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/cpu/cpu.h"
#include "frontend/spec.h"
#include "api/internal.h"
#include "support/alloc.h"
#include "support/text.h"
#include "tensor_gen.h"
#include "testutil.h"

static const char *tmpdir, *cc;

static int run(const char *cmd) {
  int rc = system(cmd);
  if (rc) fprintf(stderr, "    command failed (%d): %s\n", rc, cmd);
  return rc;
}

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (CHECK(f != NULL)) {
    fputs(text, f);
    fclose(f);
  }
}

static char *slurp(const char *path, size_t *len) {
  char *text = NULL;
  size_t n;
  if (!len) len = &n;
  return read_file(path, &text, len) == 0 ? text : NULL;
}

/* Steps the session through ids and returns every logit (caller lx_free's). */
static float *session_logits(lstmc_model *m, const char *target, const int32_t *ids, int n) {
  lstmc_session_opts o = {0};
  o.target = target;
  lstmc_session *s = NULL;
  int64_t V = m->g->vocab_size;
  float *out = lx_malloc((size_t)(n * V) * sizeof *out);
  if (!CHECK(lstmc_session_create(m, &o, &s) == 0) || !out) {
    lx_free(out);
    return NULL;
  }
  for (int i = 0; i < n; i++) CHECK(lstmc_session_step(s, ids[i], out + i * V) == 0);
  lstmc_session_free(s);
  return out;
}

static void collect(const char *text, size_t len, void *ctx) { sb_append(ctx, text, len); }

/* What `lstmc generate` prints: the prime, the generated text (bytes models may generate NUL bytes, so it
 * is collected with its length), a newline. */
static void session_text(lstmc_model *m, const char *target, const lstmc_gen_opts *go, StrBuf *out) {
  lstmc_session_opts o = {0};
  o.target = target;
  lstmc_session *s = NULL;
  lstmc_gen_opts g = *go;
  g.on_text = collect;
  g.ctx = out;
  sb_puts(out, go->prime);
  if (CHECK(lstmc_session_create(m, &o, &s) == 0)) CHECK(lstmc_session_generate(s, &g, NULL) == 0);
  sb_putc(out, '\n');
  lstmc_session_free(s);
}

static void check_object(const char *name, lstmc_model *m, double ref_bound) {
  char dir[600], cmd[4096], path[700];
  snprintf(dir, sizeof dir, "%s/%s", tmpdir, name);
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
  if (run(cmd)) return;
  lstmc_compile_opts co = {0};
  char obj[700], hdr[700];
  snprintf(obj, sizeof obj, "%s/model.o", dir);
  snprintf(hdr, sizeof hdr, "%s/model.h", dir);
  co.output = obj;
  co.header = hdr;
  if (!CHECK(lstmc_model_compile(m, &co) == 0)) {
    fprintf(stderr, "    %s: %s\n", name, lstmc_errmsg());
    return;
  }
  /* only libc and libm */
  snprintf(cmd, sizeof cmd, "'%s' -O2 -I'%s' '%s/tests/cpu/object_logits.c' '%s' -lm -o '%s/logits' && "
           "'%s' -O2 -I'%s' '%s/examples/generate_main.c' '%s' -lm -o '%s/generate'",
           cc, dir, LSTMC_SOURCE_DIR, obj, dir, cc, dir, LSTMC_SOURCE_DIR, obj, dir);
  if (!CHECK(run(cmd) == 0)) return;

  /* logits: the object's, the JIT's and the reference's */
  int32_t ids[7];
  int64_t V = m->g->vocab_size;
  Rng rng;
  rng_seed(&rng, 2);
  int len = snprintf(cmd, sizeof cmd, "'%s/logits'", dir);
  for (int i = 0; i < 7; i++) {
    ids[i] = (int32_t)rng_below(&rng, (uint64_t)V);
    len += snprintf(cmd + len, sizeof cmd - (size_t)len, " %d", ids[i]);
  }
  snprintf(cmd + len, sizeof cmd - (size_t)len, " > '%s/logits.txt'", dir);
  if (!CHECK(run(cmd) == 0)) return;
  snprintf(path, sizeof path, "%s/logits.txt", dir);
  char *text = slurp(path, NULL);
  float *jit = session_logits(m, "cpu", ids, 7), *ref = session_logits(m, "ref", ids, 7);
  if (CHECK(text && jit && ref)) {
    char *p = text;
    int64_t bitwise = 0, k = 0;
    double md = 0;
    for (; k < 7 * V; k++) {
      char *end;
      float v = strtof(p, &end);
      if (end == p) break;
      p = end;
      bitwise += !memcmp(&v, &jit[k], sizeof v);
      md = fmax(md, fabs((double)v - ref[k]));
    }
    CHECK_INT_EQ(k, 7 * V);
    if (!CHECK_INT_EQ(bitwise, 7 * V)) fprintf(stderr, "    %s: %lld of %lld logits differ from the JIT's\n", name, (long long)(7 * V - bitwise), (long long)(7 * V));
    if (!CHECK(md <= ref_bound)) fprintf(stderr, "    %s: logits differ from the reference by %g\n", name, md);
    CHECK_CONTAINS(p, "vocabulary ok");
  }
  lx_free(text);
  lx_free(jit);
  lx_free(ref);

  /* generation: greedy, sampled, sampled from the top k */
  static const struct { double temperature; int top_k; unsigned seed; } cases[] = {{0, 0, 1}, {0.8, 0, 9}, {1.0, 6, 4}};
  for (int c = 0; c < 3; c++) {
    const char *prime = m->g->vocab_kind == VOCAB_CHARS ? "ça " : "The ";
    snprintf(cmd, sizeof cmd, "'%s/generate' --prime '%s' --length 80 --temperature %g --top-k %d --seed %u > '%s/gen.txt'", dir,
             prime, cases[c].temperature, cases[c].top_k, cases[c].seed, dir);
    if (!CHECK(run(cmd) == 0)) continue;
    snprintf(path, sizeof path, "%s/gen.txt", dir);
    size_t n = 0;
    char *got = slurp(path, &n);
    lstmc_gen_opts go = {prime, 80, cases[c].temperature, cases[c].top_k, cases[c].seed, NULL, NULL};
    StrBuf by_jit, by_ref;
    sb_init(&by_jit);
    sb_init(&by_ref);
    session_text(m, "cpu", &go, &by_jit);
    session_text(m, "ref", &go, &by_ref);
    if (!CHECK(got && n == by_jit.len && !memcmp(got, by_jit.data, n)))
      fprintf(stderr, "    %s case %d: the object printed %zu bytes, lstmc generate %zu\n", name, c, n, by_jit.len);
    /* the reference draws the same text from logits this close (int8 activations: not always) */
    if (ref_bound <= 1e-4) CHECK(by_jit.len == by_ref.len && !memcmp(by_jit.data, by_ref.data, by_jit.len));
    sb_free(&by_jit);
    sb_free(&by_ref);
    lx_free(got);
  }

  /* assembly and IR */
  static const char *const emits[2][2] = {{"asm", "model.s"}, {"llvm", "model.ll"}};
  for (int e = 0; e < 2; e++) {
    snprintf(path, sizeof path, "%s/%s", dir, emits[e][1]);
    co.emit = emits[e][0];
    co.output = path;
    co.header = NULL;
    co.name = "model";
    if (!CHECK(lstmc_model_compile(m, &co) == 0)) continue;
    char *s = slurp(path, NULL);
    CHECK(s && strstr(s, "model_step") && strstr(s, "model_sample"));
    lx_free(s);
  }
}

#if defined(__x86_64__)
#include <cpuid.h>
/* The host's cpuid words and XCR0, as the objects read them. */
static void host_cpuid(uint32_t w[CPU_CPUID_WORDS], uint64_t *xcr0) {
  unsigned a, b, c, d, max;
  memset(w, 0, CPU_CPUID_WORDS * sizeof *w);
  __cpuid(0, max, b, c, d);
  __cpuid(1, a, b, c, d);
  w[CPU_CPUID_1_ECX] = c;
  w[CPU_CPUID_1_EDX] = d;
  if (max >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    w[CPU_CPUID_7_EBX] = b;
    w[CPU_CPUID_7_ECX] = c;
    w[CPU_CPUID_7_EDX] = d;
    if (a >= 1) {
      __cpuid_count(7, 1, a, b, c, d);
      w[CPU_CPUID_7_1_EAX] = a;
    }
  }
  __cpuid(0x80000000u, max, b, c, d);
  if (max >= 0x80000001u) {
    __cpuid(0x80000001u, a, b, c, d);
    w[CPU_CPUID_81_ECX] = c;
    w[CPU_CPUID_81_EDX] = d;
  }
  *xcr0 = 0;
  if (w[CPU_CPUID_1_ECX] >> 27 & 1) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    *xcr0 = (uint64_t)hi << 32 | lo;
  }
}
#endif

static void test_feature_table(void) {
  int idx[16];
  int n = cpu_features_required("+avx2,-avx512f,+fma,+no-such-feature,avx,+avx512vnni", idx, 16);
  if (CHECK_INT_EQ(n, 3)) {
    CHECK_STR_EQ(cpu_feature(idx[0])->name, "avx2");
    CHECK_STR_EQ(cpu_feature(idx[1])->name, "fma");
    CHECK_STR_EQ(cpu_feature(idx[2])->name, "avx512vnni");
  }
  uint32_t w[CPU_CPUID_WORDS];
  memset(w, 0xff, sizeof w);
  const char *f = "+sse4.2,+avx2,+fma,+avx512f,+avx512bw,+avx512vnni,+avxvnni,+avx512bf16,+lzcnt";
  CHECK(cpu_features_first_missing(f, w, 0xe7) == NULL);
  w[CPU_CPUID_7_ECX] &= ~(1u << 11);
  CHECK_STR_EQ(cpu_features_first_missing(f, w, 0xe7), "avx512vnni");
  memset(w, 0xff, sizeof w);
  w[CPU_CPUID_7_1_EAX] = 0; /* no leaf 7 subleaf 1 */
  CHECK_STR_EQ(cpu_features_first_missing(f, w, 0xe7), "avxvnni");
  memset(w, 0xff, sizeof w);
  w[CPU_CPUID_81_ECX] = 0;
  CHECK_STR_EQ(cpu_features_first_missing(f, w, 0xe7), "lzcnt");
  memset(w, 0xff, sizeof w);
  CHECK_STR_EQ(cpu_features_first_missing(f, w, 0x7), "avx512f"); /* the OS saves no AVX-512 state */
  CHECK_STR_EQ(cpu_features_first_missing(f, w, 0x3), "avx2");    /* nor the YMM state */
  CHECK(cpu_features_first_missing("+sse4.2,+lzcnt", w, 0x3) == NULL);
  CHECK(cpu_features_first_missing("", w, 0) == NULL);
#if defined(__x86_64__)
  CpuTarget host;
  uint64_t xcr0;
  CHECK(cpu_target_host(&host) == 0);
  host_cpuid(w, &xcr0);
  const char *miss = cpu_features_first_missing(host.features, w, xcr0);
  if (!CHECK(miss == NULL)) fprintf(stderr, "    the host lacks its own feature '%s'\n", miss);
#endif
}

/* An object compiled for a feature this CPU does not have: x_cpu_missing() names it, x_new() is NULL. */
static void test_missing_feature(lstmc_model *m) {
#if defined(__x86_64__)
  uint32_t w[CPU_CPUID_WORDS];
  uint64_t xcr0;
  host_cpuid(w, &xcr0);
  const char *lacking = NULL;
  for (int i = 0; i < cpu_feature_count() && !lacking; i++)
    if (!cpu_feature_present(cpu_feature(i), w, xcr0)) lacking = cpu_feature(i)->name;
  if (!lacking) {
    printf("cpu_object: this CPU has every feature of the table: the missing-feature object is not tried\n");
    return;
  }
  char dir[600], obj[700], hdr[700], prog[700], features[64], cmd[4096];
  snprintf(dir, sizeof dir, "%s/missing", tmpdir);
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
  if (run(cmd)) return;
  snprintf(obj, sizeof obj, "%s/model.o", dir);
  snprintf(hdr, sizeof hdr, "%s/model.h", dir);
  snprintf(prog, sizeof prog, "%s/check.c", dir);
  snprintf(features, sizeof features, "+sse4.2,+%s", lacking);
  lstmc_compile_opts co = {0};
  co.output = obj;
  co.header = hdr;
  co.cpu = "x86-64";
  co.features = features;
  if (!CHECK(lstmc_model_compile(m, &co) == 0)) {
    fprintf(stderr, "    %s\n", lstmc_errmsg());
    return;
  }
  write_text(prog, "#include <stdio.h>\n#include \"model.h\"\n"
                   "int main(void) { const char *f = model_cpu_missing(); model *m = model_new();\n"
                   "  printf(\"missing %s, new %s\\n\", f ? f : \"none\", m ? \"ok\" : \"NULL\"); model_free(m); return 0; }\n");
  snprintf(cmd, sizeof cmd, "'%s' -O2 -I'%s' '%s' '%s' -lm -o '%s/check' && '%s/check' > '%s/out.txt'", cc, dir, prog, obj, dir, dir, dir);
  if (!CHECK(run(cmd) == 0)) return;
  char path[700], want[200];
  snprintf(path, sizeof path, "%s/out.txt", dir);
  snprintf(want, sizeof want, "missing %s, new NULL\n", lacking);
  char *got = slurp(path, NULL);
  CHECK(got && !strcmp(got, want));
  if (got && strcmp(got, want)) fprintf(stderr, "    got '%s', want '%s'\n", got, want);
  lx_free(got);
  char *h = slurp(hdr, NULL);
  CHECK(h && strstr(h, "const char *model_cpu_missing(void);"));
  lx_free(h);
#else
  (void)m;
#endif
}

int main(int argc, char **argv) {
  tmpdir = argc > 1 ? argv[1] : ".";
  cc = argc > 2 ? argv[2] : "cc";
  char path[600];
  test_feature_table();

  /* examples/tiny.lstm with PyTorch-style random weights; then quantized to 4 bits with int8 activations */
  lstmc_model *m;
  snprintf(path, sizeof path, "%s/examples/tiny.lstm", LSTMC_SOURCE_DIR);
  if (CHECK(lstmc_model_load(path, &m) == 0)) {
    CHECK(lstmc_model_init_weights(m, NULL, 3) == 0);
    check_object("tiny", m, 1e-4);
    test_missing_feature(m);
    CHECK(lstmc_model_apply_passes(m, "quantize{bits=4}", NULL) == 0);
    check_object("tiny_q4_int8", m, 1e-3);
    lstmc_model_free(m);
  }

  /* a chars model with column-packed 8-bit weights */
  char spec[600], vocab[600];
  snprintf(spec, sizeof spec, "%s/chars.lstm", tmpdir);
  snprintf(vocab, sizeof vocab, "%s/chars.txt", tmpdir);
  write_text(spec, "model chars { vocab chars; embed 24; lstm 64; lstm 24; decoder tied; }\n");
  write_text(vocab, "ça va, élève? où êtes-vous — naïve façade, «déjà vu» & 42 ½ €.\nThe quick brown fox.\n");
  if (CHECK(lstmc_model_load(spec, &m) == 0)) {
    CHECK(lstmc_model_init_weights(m, vocab, 6) == 0);
    Rng rng;
    rng_seed(&rng, 6);
    TensorGenOpts o = {8, 3, 0, 1};
    CHECK(tensor_gen_weights(m->g, LX_LAYOUT_PACKED, LX_ENC_Q8, &o, 1, &rng) == 0);
    check_object("chars", m, 1e-4);
    for (int i = 0; i < m->g->nslots; i++)
      if (m->g->slots[i].t->enc == LX_ENC_Q8) m->g->slots[i].t->act_bits = 8;
    check_object("chars_int8", m, 1e-3);
    lstmc_model_free(m);
  }
  return tu_summary("cpu_object");
}
