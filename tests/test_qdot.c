/* The integer arithmetic of int8 activations (ir/qdot.h), the oracle of every integer kernel: quantization
 * by hand-computed cases (round half to even, clamps, zero and tiny vectors), int32 sums of every layout x
 * integer encoding against an independent float computation from tensor_get, the output's operation order,
 * the checks of act_bits (values, encodings, the int32 bound), and act_bits in weights files: saved, loaded,
 * absent (reads as 0), invalid (an error naming the file and tensor). */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ir/qdot.h"
#include "lstmc.h"
#include "runtime/weights.h"
#include "support/alloc.h"
#include "support/rng.h"
#include "support/text.h"
#include "tensor_gen.h"
#include "testutil.h"

static const char *tmpdir;

static void test_quantize(void) {
  /* amax 127: inv = 1 exactly, so x_c * inv = x_c and the rounding is visible */
  const float x[] = {127.0f, 2.5f, 3.5f, -2.5f, -0.5f, 0.5f, 1.5f, 126.5f, -127.0f, -3.5f, 0.0f, 1.25f};
  const int8_t want[] = {127, 2, 4, -2, 0, 0, 2, 126, -127, -4, 0, 1};
  int8_t q[12];
  float sx = qdot_quantize(x, 12, q);
  CHECK(sx == 1.0f);
  for (int i = 0; i < 12; i++)
    if (!CHECK(q[i] == want[i])) fprintf(stderr, "    x %g: q %d, want %d\n", (double)x[i], q[i], want[i]);
  /* amax 1: inv = 127, s_x = 1/127 (both as float divisions) */
  const float y[] = {1.0f, -0.5f, 0.25f, 0.0039370079f};
  sx = qdot_quantize(y, 4, q);
  CHECK(sx == 1.0f / 127.0f);
  /* -63.5 → -64 (even), 31.75 → 32, 0.0039370079 · 127 = 0.5 exactly in float → 0 (even) */
  CHECK(q[0] == 127 && q[1] == -64 && q[2] == 32 && q[3] == 0);
  /* a zero vector: q = 0, s_x = 0 */
  const float z[] = {0.0f, -0.0f, 0.0f};
  q[0] = q[1] = q[2] = 9;
  CHECK(qdot_quantize(z, 3, q) == 0.0f && q[0] == 0 && q[1] == 0 && q[2] == 0);
  /* amax so small that 127 / amax overflows: nonzero inputs clamp to ±127, zeros stay 0 (0 · inf) */
  const float tiny[] = {1e-45f, 0.0f, -1e-45f};
  sx = qdot_quantize(tiny, 3, q);
  CHECK(isinf(127.0f / 1e-45f));
  CHECK(q[0] == 127 && q[1] == 0 && q[2] == -127 && sx == 1e-45f / 127.0f);
  CHECK(qdot_quantize_one(1000.0f, 1.0f) == 127 && qdot_quantize_one(-1000.0f, 1.0f) == -127);
  CHECK(qdot_quantize_one(NAN, 1.0f) == 0);
  /* step 5: ((float)acc * s_x) * scale, in that order */
  float a = (float)16777217 * 0.1f; /* (float)acc rounds to 2^24 first */
  CHECK(qdot_output(16777217, 0.1f, 3.0f) == a * 3.0f);
  CHECK(qdot_output(-5, 0.25f, 2.0f) == -2.5f);
}

/* Every layout x integer encoding: acc_r · scale_r equals Σ_c w_rc q_c from the decoded matrix (an
 * independent path through tensor_get), rounded: the sums are small enough that float decoding cannot
 * move them by half a level. */
static void test_rows(void) {
  Rng rng;
  rng_seed(&rng, 5);
  static const int encs[4] = {LX_ENC_Q8, LX_ENC_Q4, LX_ENC_TERNARY, LX_ENC_BINARY};
  for (int layout = 0; layout < LX_LAYOUT_COUNT; layout++)
    for (int e = 0; e < 4; e++) {
      Tensor *t = tensor_gen_random("w", 37, 29, layout, encs[e], NULL, &rng);
      if (!CHECK(t != NULL)) return;
      t->act_bits = 8;
      CHECK(qdot_check(t) == 0 && tensor_check(t) == 0);
      int8_t q[29];
      for (int c = 0; c < 29; c++) q[c] = (int8_t)((int)rng_below(&rng, 255) - 127);
      float y[37];
      qdot_matvec(t, q, 0.5f, y);
      int bad = 0;
      for (int64_t r = 0; r < t->rows; r++) {
        int32_t acc = qdot_row(t, r, q);
        double s = 0;
        for (int64_t c = 0; c < t->cols; c++) s += (double)tensor_get(t, r, c) * q[c];
        if (llround(s / t->scale[r]) != acc || y[r] != qdot_output(acc, 0.5f, t->scale[r])) bad++;
      }
      if (!CHECK(bad == 0)) fprintf(stderr, "    %s: %d rows differ\n", format_name(layout, encs[e]), bad);
      tensor_free(t);
    }
}

static void test_check(void) {
  Rng rng;
  rng_seed(&rng, 6);
  Tensor *t = tensor_gen_random("rnns.0.weight_hh_l0", 8, 8, LX_LAYOUT_DENSE, LX_ENC_Q8, NULL, &rng);
  t->act_bits = 3;
  CHECK(tensor_check(t) == LSTMC_ERR_FORMAT);
  CHECK_STR_EQ(lstmc_errmsg(), "tensor 'rnns.0.weight_hh_l0': act_bits is 3; it must be 0 (float activations) or 8 (int8)");
  tensor_free(t);
  t = tensor_gen_random("w", 8, 8, LX_LAYOUT_DENSE, LX_ENC_BF16, NULL, &rng);
  t->act_bits = 8;
  CHECK(qdot_check(t) == LSTMC_ERR_FORMAT);
  CHECK_STR_EQ(lstmc_errmsg(), "tensor 'w': int8 activations (act_bits 8) need a q8, q4, ternary or binary matrix, not dense_bf16");
  tensor_free(t);
  /* the int32 bound: 133144 q8 inputs fit (133144 · 127 · 127 <= 2^31 - 1), one more does not */
  Tensor fake;
  memset(&fake, 0, sizeof fake);
  fake.name = "wide";
  fake.ndim = 2;
  fake.enc = LX_ENC_Q8;
  fake.act_bits = 8;
  fake.nslots = 133144;
  CHECK(qdot_check(&fake) == 0);
  fake.nslots = 133145;
  CHECK(qdot_check(&fake) == LSTMC_ERR_FORMAT);
  CHECK_STR_EQ(lstmc_errmsg(), "tensor 'wide': 133145 inputs per row are too many for int8 activations with 32-bit sums (at most 133144 for q8)");
  fake.enc = LX_ENC_BINARY;
  fake.nslots = 16909320; /* INT32_MAX / 127 */
  CHECK(qdot_check(&fake) == 0);
}

static void test_file(void) {
  static const char *spec = "model t { vocab bytes; embed 8; lstm 12; decoder untied; }";
  Graph *g = tensor_gen_graph(spec, 0);
  if (!CHECK(g != NULL)) return;
  CHECK(weights_init(g, 1) == 0);
  Rng rng;
  rng_seed(&rng, 2);
  int hh = graph_find_slot(g, "rnns.0.weight_hh_l0"), dec = graph_find_slot(g, "decoder.weight");
  graph_set_tensor(g, hh, tensor_gen_random("rnns.0.weight_hh_l0", 48, 12, LX_LAYOUT_PACKED, LX_ENC_Q4, NULL, &rng));
  graph_set_tensor(g, dec, tensor_gen_random("decoder.weight", 256, 12, LX_LAYOUT_DENSE, LX_ENC_Q8, NULL, &rng));
  g->slots[hh].t->act_bits = 8;
  char path[512];
  snprintf(path, sizeof path, "%s/qdot_act.safetensors", tmpdir);
  CHECK(weights_save(g, path, NULL, NULL, 0) == 0);
  Graph *h = tensor_gen_graph(spec, 0);
  if (CHECK(h && weights_load(h, path) == 0)) {
    CHECK(h->slots[hh].t->act_bits == 8);
    CHECK(h->slots[dec].t->act_bits == 0); /* written without the field: float activations */
  }
  graph_free(h);
  /* the metadata names act_bits only where it is set; a file with a bad value is refused */
  size_t n;
  char *bytes = NULL;
  if (CHECK(read_file(path, &bytes, &n) == 0)) {
    /* the header is text after an 8-byte length with zero bytes in it */
    size_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | (unsigned char)bytes[i];
    CHECK(hlen + 8 <= n);
    char *hdr = bytes + 8, save = hdr[hlen];
    hdr[hlen] = 0;
    char *p = strstr(hdr, "act_bits\\\": 8"); /* inside the JSON string of lstmc.formats */
    CHECK(p != NULL && strstr(p + 1, "act_bits") == NULL);
    hdr[hlen] = save;
    if (p) {
      p[12] = '5';
      char bad[512];
      snprintf(bad, sizeof bad, "%s/qdot_act_bad.safetensors", tmpdir);
      FILE *f = fopen(bad, "wb");
      if (CHECK(f != NULL)) {
        fwrite(bytes, 1, n, f);
        fclose(f);
        h = tensor_gen_graph(spec, 0);
        CHECK(weights_load(h, bad) == LSTMC_ERR_FORMAT);
        char want[700];
        snprintf(want, sizeof want, "%s: lstmc.formats: tensor 'rnns.0.weight_hh_l0': act_bits is 5; it must be 0 (float activations) or 8 (int8)", bad);
        CHECK_STR_EQ(lstmc_errmsg(), want);
        graph_free(h);
      }
    }
    lx_free(bytes);
  }
  graph_free(g);
}

int main(int argc, char **argv) {
  tmpdir = argc > 1 ? argv[1] : ".";
  test_quantize();
  test_rows();
  test_check();
  test_file();
  return tu_summary("qdot");
}
