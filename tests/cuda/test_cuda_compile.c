/* `lstmc compile --target cuda` through the public API (lstmc_compile_check, lstmc_model_compile), no GPU
 * needed: the options that need no model are refused before one loads, each with its message; the source,
 * the launch-contract header and the weight images written are exactly what the CUDA backend plans and
 * generates for the architecture named (or, with no GPU and no --arch, for sm_90, said in a note); --verbose
 * reports the plan; PTX goes through NVRTC and the kernel cache (when libnvrtc is present) and a note names
 * the file; every failure sets its message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/cuda/cuda_codegen.h"
#include "codegen/cuda/cuda_compile.h"
#include "codegen/cuda/cuda_plan.h"
#include "api/internal.h"
#include "support/alloc.h"
#include "support/text.h"
#include "testutil.h"

static char tmp[600];

/* Messages lstmc sends during a call, with the count of each kind. */
typedef struct Caught {
  int count[4];
  StrBuf text;
} Caught;

static void catch_message(void *ctx, lstmc_message_kind kind, const char *text) {
  Caught *c = ctx;
  if (kind >= 0 && kind < 4) c->count[kind]++;
  sb_puts(&c->text, text);
}

static int compile_caught(const lstmc_model *m, const lstmc_compile_opts *o, Caught *c) {
  memset(c, 0, sizeof *c);
  sb_init(&c->text);
  lstmc_set_message_handler(catch_message, c);
  int st = lstmc_model_compile(m, o);
  lstmc_set_message_handler(NULL, NULL);
  return st;
}

static void expect_refused(const lstmc_compile_opts *o, int status, const char *msg) {
  CHECK_INT_EQ(lstmc_compile_check(o), status);
  CHECK_STR_EQ(lstmc_errmsg(), msg);
}

static void test_check(void) {
  lstmc_compile_opts o = {.target = "cuda", .output = "x.cu"};
  CHECK_INT_EQ(lstmc_compile_check(&o), 0);
  o.emit = "sass";
  expect_refused(&o, LSTMC_ERR_USAGE, "compile: --emit must be cuda, ptx or cubin, got 'sass'");
  o.emit = "ptx";
  o.arch = "sm_x";
  expect_refused(&o, LSTMC_ERR_USAGE, "compile: --arch must look like sm_90, got 'sm_x'");
  o.arch = "sm_61";
  expect_refused(&o, LSTMC_ERR_USAGE, "compile: lstmc knows no default size for sm_61; give --sms and --smem");
  o.sms = 10;
  o.smem = 49152;
  CHECK_INT_EQ(lstmc_compile_check(&o), 0);
  o.threads = 33;
  expect_refused(&o, LSTMC_ERR_USAGE, "compile: --threads must be a multiple of 32, got 33");
  o.threads = 2048;
  expect_refused(&o, LSTMC_ERR_USAGE, "compile: --threads must be an integer in [32, 1024], got 2048");
  o.threads = 0;
  o.batch = 9;
  expect_refused(&o, LSTMC_ERR_USAGE, "compile: --batch must be an integer in [1, 8], got 9");
  lstmc_compile_opts t = {.target = "ref", .output = "x"};
  expect_refused(&t, LSTMC_ERR_USAGE, "compile: target 'ref' cannot compile ahead of time (only cpu, cuda or systolic can)");
  t.target = "tpu";
  expect_refused(&t, LSTMC_ERR_USAGE, "compile: target 'tpu' cannot compile ahead of time (only cpu, cuda or systolic can)");
}

/* What the backend makes for this graph and device, to compare the files with. */
typedef struct Expected {
  CudaPlan *plan;
  char *src, *hdr;
  uint8_t *blob, *dec;
} Expected;

static int expected_for(const Graph *g, int arch, int batch, Expected *x) {
  memset(x, 0, sizeof *x);
  CudaDeviceInfo info;
  if (!CHECK(cuda_device_defaults(arch, &info))) return -1;
  int st = cuda_plan_build(g, &info, batch, &x->plan);
  if (!st) st = cuda_codegen_source(x->plan, g->name, 0, &x->src);
  if (!st) st = cuda_codegen_header(x->plan, g->name, "LSTMC_CUDA_CHARS_UNTIED3_H", &x->hdr);
  if (!st) st = cuda_plan_pack(x->plan, &x->blob, &x->dec);
  return CHECK_INT_EQ(st, 0) ? 0 : -1;
}

static void expected_free(Expected *x) {
  lx_free(x->src);
  lx_free(x->hdr);
  lx_free(x->blob);
  lx_free(x->dec);
  cuda_plan_free(x->plan);
}

/* 1 when the file holds exactly n bytes of want. */
static int file_is(const char *path, const void *want, size_t n) {
  char *got = NULL;
  size_t len = 0;
  int same = read_file(path, &got, &len) == 0 && len == n && !memcmp(got, want, n);
  lx_free(got);
  return same;
}

static void test_source(const lstmc_model *m) {
  char out[700], hdr[700], blob[700];
  snprintf(out, sizeof out, "%s/aot.cu", tmp);
  snprintf(hdr, sizeof hdr, "%s/aot.h", tmp);
  snprintf(blob, sizeof blob, "%s/aot.bin", tmp);
  Expected x;
  if (expected_for(m->g, 80, 2, &x)) return;
  lstmc_compile_opts o = {.target = "cuda", .output = out, .header = hdr, .blob = blob, .arch = "sm_80", .batch = 2, .verbose = 1};
  Caught c;
  if (CHECK_INT_EQ(compile_caught(m, &o, &c), 0)) {
    CHECK(file_is(out, x.src, strlen(x.src)));
    CHECK(file_is(hdr, x.hdr, strlen(x.hdr)));
    uint8_t *both = lx_malloc(x.plan->blob_bytes + x.plan->dec_bytes);
    memcpy(both, x.blob, x.plan->blob_bytes);
    memcpy(both + x.plan->blob_bytes, x.dec, x.plan->dec_bytes);
    CHECK(file_is(blob, both, x.plan->blob_bytes + x.plan->dec_bytes));
    lx_free(both);
    /* --verbose: the plan, as one report */
    StrBuf plan;
    sb_init(&plan);
    sb_puts(&plan, "lstmc: cuda: ");
    cuda_plan_describe(x.plan, &plan);
    CHECK_STR_EQ(sb_cstr(&c.text), sb_cstr(&plan));
    CHECK_INT_EQ(c.count[LSTMC_MSG_REPORT], 1);
    sb_free(&plan);
  }
  sb_free(&c.text);
  expected_free(&x);

  /* no GPU (the driver named does not exist) and no --arch: planned for sm_90, with a note */
  if (expected_for(m->g, 90, 1, &x)) return;
  lstmc_compile_opts d = {.target = "cuda", .output = out};
  if (CHECK_INT_EQ(compile_caught(m, &d, &c), 0)) {
    CHECK(file_is(out, x.src, strlen(x.src)));
    CHECK_INT_EQ(c.count[LSTMC_MSG_NOTE], 1);
    CHECK_CONTAINS(sb_cstr(&c.text), "lstmc: note: no CUDA driver (libcuda.so.1 not found; tried /nonexistent/libcuda.so.1); "
                                     "planning for sm_90 (H100 SXM)\n");
  }
  sb_free(&c.text);
  expected_free(&x);
}

static void test_ptx(const lstmc_model *m) {
  if (!cuda_nvrtc_supports_arch(80)) {
    printf("no NVRTC for sm_80: PTX not checked\n");
    return;
  }
  char out[700], want[900];
  snprintf(out, sizeof out, "%s/aot.ptx", tmp);
  lstmc_compile_opts o = {.target = "cuda", .emit = "ptx", .output = out, .arch = "sm_80", .no_cache = 1};
  Caught c;
  if (CHECK_INT_EQ(compile_caught(m, &o, &c), 0)) {
    char *ptx = NULL;
    size_t len = 0;
    if (CHECK(read_file(out, &ptx, &len) == 0)) {
      CHECK_CONTAINS(ptx, ".target sm_80");
      CHECK_CONTAINS(ptx, ".entry lx_lstm_b1");
      CHECK(len > 0 && ptx[len - 1] != 0); /* NVRTC's NUL is not written */
      snprintf(want, sizeof want, "lstmc: wrote %s (ptx for sm_80, %zu bytes; compiled)\n", out, len);
      CHECK_STR_EQ(sb_cstr(&c.text), want);
      CHECK_INT_EQ(c.count[LSTMC_MSG_NOTE], 1);
    }
    lx_free(ptx);
  }
  sb_free(&c.text);
}

static void test_failures(const lstmc_model *m, lstmc_model *bare) {
  lstmc_compile_opts o = {.target = "cuda", .output = "/nonexistent/dir/aot.cu", .arch = "sm_90"};
  CHECK_INT_EQ(lstmc_model_compile(m, &o), LSTMC_ERR_IO);
  CHECK_CONTAINS(lstmc_errmsg(), "cannot create '/nonexistent/dir/aot.cu'");
  char out[700];
  snprintf(out, sizeof out, "%s/aot2.cu", tmp);
  o.output = out;
  o.header = "/nonexistent/dir/aot.h";
  CHECK_INT_EQ(lstmc_model_compile(m, &o), LSTMC_ERR_IO);
  CHECK_CONTAINS(lstmc_errmsg(), "cannot create '/nonexistent/dir/aot.h'");
  o.header = NULL;
  o.output = NULL;
  CHECK_INT_EQ(lstmc_model_compile(m, &o), LSTMC_ERR_USAGE);
  CHECK_STR_EQ(lstmc_errmsg(), "compile: no output file (-o)");
  o.output = out;
  CHECK_INT_EQ(lstmc_model_compile(bare, &o), LSTMC_ERR_USAGE);
  CHECK_STR_EQ(lstmc_errmsg(), "the model has no weights loaded");
  o.emit = "sass";
  CHECK_INT_EQ(lstmc_model_compile(m, &o), LSTMC_ERR_USAGE);
  CHECK_STR_EQ(lstmc_errmsg(), "compile: --emit must be cuda, ptx or cubin, got 'sass'");
}

int main(int argc, char **argv) {
  snprintf(tmp, sizeof tmp, "%s", argc > 1 ? argv[1] : ".");
  setenv("LSTMC_CUDA_DRIVER", "/nonexistent/libcuda.so.1", 1); /* no GPU, wherever this runs */
  test_check();
  char spec[600], weights[600];
  snprintf(spec, sizeof spec, "%s/tests/golden/chars_untied3/model.lstm", LSTMC_SOURCE_DIR);
  snprintf(weights, sizeof weights, "%s/tests/golden/chars_untied3/weights.safetensors", LSTMC_SOURCE_DIR);
  lstmc_model *m = NULL, *bare = NULL;
  if (CHECK(lstmc_model_load(spec, &m) == 0 && lstmc_model_load_weights(m, weights) == 0 && lstmc_model_load(spec, &bare) == 0)) {
    test_source(m);
    test_ptx(m);
    test_failures(m, bare);
  }
  lstmc_model_free(m);
  lstmc_model_free(bare);
  return tu_summary("cuda_compile");
}
