/* The IR's text form (ir/print.c, frontend/ir_read.c, runtime/ir_file.c): for every weight format — the 18
 * of ir/layout.h, and dense and masked tensors with column groups attached — random tensors built from the
 * layout's definition (tests/tensor_gen.h, not by the passes) are printed with their values, read back and
 * compared value by value (every code, scale, mask bit, group and selection, and the groups' parameters),
 * and printed again to the same bytes; the same through a file whose tensors are in the safetensors file
 * beside it. Numbers print in the shortest form that reads back exactly (random float bit patterns).
 * Every allocation of the reader failing in turn is reported as out of memory, and leaks nothing (ASan). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/ir_read.h"
#include "ir/text.h"
#include "ir/vocab.h"
#include "runtime/ir_file.h"
#include "runtime/weights.h"
#include "support/alloc.h"
#include "support/rng.h"
#include "support/strbuf.h"
#include "tensor_gen.h"
#include "testutil.h"

static const char *tmpdir;

static const char *const spec_text = "model t { vocab chars; embed 6; lstm 4 { weight_drop 0.25; } dropout 0.1; decoder untied; }";

/* A small chars model with random weights; W_ih and W_hh in the given format. */
static Graph *model_in(int layout, int enc, int grouped, Rng *rng) {
  Graph *g = tensor_gen_graph(spec_text, 0);
  if (!g) return NULL;
  const char *toks[5] = {"a", "b", "\n", "\"q\"", "\xc3\xa9"};
  size_t lens[5] = {1, 1, 1, 3, 2};
  if (vocab_from_tokens(VOCAB_CHARS, toks, lens, 5, &g->vocab)) {
    graph_free(g);
    return NULL;
  }
  graph_set_vocab_size(g, 5);
  if (weights_init(g, 7)) {
    graph_free(g);
    return NULL;
  }
  for (int k = W_IH; k <= W_HH; k++) {
    int s = g->nodes[1].w[k];
    Tensor *t = tensor_gen_random(g->slots[s].name, g->slots[s].rows, g->slots[s].cols, layout, enc, NULL, rng);
    /* q8 levels are -127..127 (ir/layout.h); tensor_gen's random codes include -128 */
    for (size_t i = 0; t && enc == LX_ENC_Q8 && i < (size_t)t->rows * t->stride; i++)
      if (t->codes[i] == 0x80) t->codes[i] = 0x81;
    if (t && grouped) {
      /* groups of consecutive columns over all of them: every nonzero weight is in one */
      int64_t G = (t->cols + 2) / 3;
      if (tensor_alloc_groups(t, G, t->cols)) {
        tensor_free(t);
        t = NULL;
      } else {
        for (int64_t c = 0; c < t->cols; c++) t->group_cols[c] = (int32_t)c;
        for (int64_t i = 0; i < G; i++) t->group_off[i] = (int32_t)(3 * i);
        t->alpha = 3;
        t->gamma = 0.3;
        t->block = 6;
      }
    }
    graph_set_tensor(g, s, t);
  }
  if (graph_set_pipeline(g, "prune{sparsity=0.5},quantize{bits=4,only=rnns.*}")) {
    graph_free(g);
    return NULL;
  }
  return g;
}

/* Same stored values: the level of every slot, scales, mask bits, groups, selections and parameters. */
static int same_tensor(const Tensor *a, const Tensor *b) {
  if (!a || !b) return a == b;
  if (a->ndim != b->ndim || a->rows != b->rows || a->cols != b->cols || a->layout != b->layout || a->enc != b->enc ||
      a->nslots != b->nslots || a->alpha != b->alpha || a->gamma != b->gamma || a->block != b->block ||
      tensor_has_groups(a) != tensor_has_groups(b))
    return 0;
  for (int64_t r = 0; r < a->rows; r++) {
    for (int64_t s = 0; s < a->nslots; s++) {
      float x = lx_decode_level(a->enc, a->codes + r * a->stride, (unsigned long)s);
      float y = lx_decode_level(b->enc, b->codes + r * b->stride, (unsigned long)s);
      if (memcmp(&x, &y, sizeof x)) return 0;
    }
    if (a->scale && memcmp(&a->scale[r], &b->scale[r], sizeof(float))) return 0;
    for (int64_t c = 0; a->mask && c < a->cols; c++)
      if (lx_mask_get(a->mask + r * a->mask_stride, (unsigned long)c) != lx_mask_get(b->mask + r * b->mask_stride, (unsigned long)c))
        return 0;
  }
  if (tensor_has_groups(a)) {
    if (a->ngroups != b->ngroups ||
        memcmp(a->group_off, b->group_off, ((size_t)a->ngroups + 1) * sizeof(int32_t)) ||
        memcmp(a->group_cols, b->group_cols, (size_t)a->group_off[a->ngroups] * sizeof(int32_t)))
      return 0;
  }
  if (a->layout == LX_LAYOUT_PACKED && memcmp(a->sel, b->sel, (size_t)a->rows * (size_t)a->ngroups)) return 0;
  return 1;
}

static int same_graph(const Graph *a, const Graph *b) {
  if (a->nslots != b->nslots || a->nnodes != b->nnodes || strcmp(a->name, b->name) || a->vocab_size != b->vocab_size)
    return 0;
  if (!a->pipeline != !b->pipeline || (a->pipeline && strcmp(a->pipeline, b->pipeline))) return 0;
  for (int i = 0; i < a->nnodes; i++) {
    const Node *x = &a->nodes[i], *y = &b->nodes[i];
    if (x->op != y->op || x->in_dim != y->in_dim || x->out_dim != y->out_dim || x->p != y->p ||
        x->weight_drop != y->weight_drop || x->layer != y->layer || x->tied != y->tied || memcmp(x->w, y->w, sizeof x->w))
      return 0;
  }
  for (int i = 0; i < a->nslots; i++)
    if (strcmp(a->slots[i].name, b->slots[i].name) || !same_tensor(a->slots[i].t, b->slots[i].t)) return 0;
  if (!a->vocab != !b->vocab) return 0;
  for (int64_t i = 0; a->vocab && i < a->vocab->n; i++)
    if (a->vocab->lens[i] != b->vocab->lens[i] || memcmp(a->vocab->tokens[i], b->vocab->tokens[i], a->vocab->lens[i]))
      return 0;
  return 1;
}

static char *print_all(const Graph *g) {
  IrPrintOptions o = {INT64_MAX, NULL};
  StrBuf sb;
  sb_init(&sb);
  graph_print_text(g, &o, &sb);
  return sb_take(&sb);
}

static void round_trip(int layout, int enc, int grouped, Rng *rng) {
  char what[64];
  snprintf(what, sizeof what, "%s%s", format_name(layout, enc), grouped ? " with groups" : "");
  Graph *g = model_in(layout, enc, grouped, rng);
  if (!CHECK(g != NULL)) return;
  if (!CHECK(graph_verify(g) == 0)) fprintf(stderr, "    %s: %s\n", what, lstmc_errmsg());
  char *text = print_all(g);
  Diag d;
  diag_init(&d, stderr);
  Graph *back = NULL;
  if (CHECK(text != NULL) && CHECK(ir_read_text("inline.ir", NULL, text, strlen(text), NULL, &d, &back) == 0)) {
    if (!CHECK(same_graph(g, back))) fprintf(stderr, "    %s: values differ after print and read\n", what);
    char *again = print_all(back);
    if (!CHECK(again && !strcmp(text, again))) fprintf(stderr, "    %s: the second print differs\n", what);
    lx_free(again);
  } else {
    fprintf(stderr, "    %s\n", what);
  }
  graph_free(back);
  /* through a file: every tensor in the safetensors file beside it */
  char path[600];
  snprintf(path, sizeof path, "%s/ir_text_external.ir", tmpdir);
  back = NULL;
  if (CHECK(ir_file_write(g, path, 0) == 0) && CHECK(ir_file_read(path, &d, &back) == 0)) {
    if (!CHECK(same_graph(g, back))) fprintf(stderr, "    %s: values differ after the external round trip\n", what);
  } else {
    fprintf(stderr, "    %s: %s\n", what, lstmc_errmsg());
  }
  graph_free(back);
  lx_free(text);
  graph_free(g);
}

/* Every float bit pattern class prints in a form strtof reads back as the same bits. */
static void shortest_floats(Rng *rng) {
  int bad = 0;
  for (int i = 0; i < 200000; i++) {
    uint32_t u = (uint32_t)rng_u64(rng);
    float f;
    memcpy(&f, &u, 4);
    if (!isfinite(f)) continue;
    StrBuf sb;
    sb_init(&sb);
    sb_float_exact(&sb, f);
    float back = strtof(sb_cstr(&sb), NULL);
    if (memcmp(&back, &f, 4) && bad++ < 3) fprintf(stderr, "    %a printed as %s\n", (double)f, sb_cstr(&sb));
    sb_free(&sb);
  }
  CHECK_INT_EQ(bad, 0);
  StrBuf sb;
  sb_init(&sb);
  sb_float_exact(&sb, 0.1f);
  sb_putc(&sb, ' ');
  sb_float_exact(&sb, -0.0f);
  sb_putc(&sb, ' ');
  sb_double_exact(&sb, 0.05);
  sb_putc(&sb, ' ');
  sb_float_exact(&sb, 1e-5f);
  CHECK_STR_EQ(sb_cstr(&sb), "0.1 -0 0.05 1e-05");
  sb_free(&sb);
}

/* Each allocation of a read failing in turn: out of memory, never a crash or another status. */
static void reader_oom(Rng *rng) {
  Graph *g = model_in(LX_LAYOUT_PACKED, LX_ENC_Q4, 0, rng);
  char *text = g ? print_all(g) : NULL;
  graph_free(g);
  if (!CHECK(text != NULL)) return;
  Diag d;
  diag_init(&d, NULL);
  lx_alloc_fail_after(1L << 40);
  Graph *back = NULL;
  int st = ir_read_text("oom.ir", NULL, text, strlen(text), NULL, &d, &back);
  long total = lx_alloc_count();
  lx_alloc_fail_after(-1);
  graph_free(back);
  CHECK_INT_EQ(st, 0);
  int wrong = 0, nomem = 0;
  for (long k = 0; k < total; k++) {
    diag_init(&d, NULL);
    back = NULL;
    lx_alloc_fail_after(k);
    st = ir_read_text("oom.ir", NULL, text, strlen(text), NULL, &d, &back);
    lx_alloc_fail_after(-1);
    graph_free(back);
    if (st == LSTMC_ERR_NOMEM) nomem++;
    else if (st && wrong++ < 3) fprintf(stderr, "    allocation %ld of %ld: status %d: %s\n", k, total, st, lstmc_errmsg());
  }
  printf("reader: %ld allocations, each failed once: %d out of memory, %d other statuses\n", total, nomem, wrong);
  CHECK_INT_EQ(wrong, 0);
  CHECK(nomem > 0);
  lx_free(text);
}

int main(int argc, char **argv) {
  tmpdir = argc > 1 ? argv[1] : ".";
  Rng rng;
  rng_seed(&rng, 18);
  int n = 0;
  for (int layout = 0; layout < LX_LAYOUT_COUNT; layout++)
    for (int enc = 0; enc < LX_ENC_COUNT; enc++, n++) round_trip(layout, enc, 0, &rng);
  for (int layout = LX_LAYOUT_DENSE; layout <= LX_LAYOUT_MASKED; layout++)
    for (int enc = 0; enc < LX_ENC_COUNT; enc++) round_trip(layout, enc, 1, &rng);
  CHECK_INT_EQ(n, 18);
  shortest_floats(&rng);
  reader_oom(&rng);
  return tu_summary("ir_text");
}
