/* The program: a graph's matrices as the array holds them (SaProduct: per output and column group a
 * weight level and a select), cut into tiles in schedule order, with the float parts the array's
 * post-processing needs (scales, biases, the embedding, the gate unit's tables).
 *
 * A matrix packs as column combining left it: a packed tensor keeps its groups and selects; a grouped one
 * without conflicts packs the same way (each row has at most one weight per group); one without groups
 * becomes one group per nonzero column (alpha = 1, as `lstmc report` counts it). A slot whose level is 0
 * becomes empty: the cell holds no weight, which is also how a ternary zero or a pruned weight looks to the
 * array. */
#include <math.h>
#include <string.h>

#include "codegen/systolic/systolic.h"
#include "support/alloc.h"
#include "support/err.h"

static void product_free(SaProduct *pr) {
  lx_free(pr->name);
  lx_free(pr->group_off);
  lx_free(pr->group_cols);
  lx_free(pr->level);
  lx_free(pr->sel);
  lx_free(pr->scale);
  lx_free(pr->kidx);
  lx_free(pr->kw);
  lx_free(pr->kcorr);
}

void sa_program_free(SaProgram *p) {
  if (!p) return;
  for (int i = 0; i < p->nproducts; i++) product_free(&p->products[i]);
  for (int l = 0; l < p->nlayers && p->layers; l++) {
    lx_free(p->layers[l].b_ih);
    lx_free(p->layers[l].b_hh);
  }
  lx_free(p->layers);
  lx_free(p->products);
  lx_free(p->tiles);
  lx_free(p->embed);
  lx_free(p->b_dec);
  lx_free(p->model);
  lx_free(p->pipeline);
  sa_gates_free(&p->gt);
  lx_free(p);
}

/* The level of weight (r, c) of a dense or masked tensor (0 when masked out). */
static int level_at(const Tensor *t, int64_t r, int64_t c) {
  if (t->mask && !lx_mask_get(t->mask + (size_t)r * t->mask_stride, (unsigned long)c)) return 0;
  return (int)lx_decode_level(t->enc, t->codes + (size_t)r * t->stride, (unsigned long)c);
}

/* Bits a weight register needs for levels in [lo, hi]: 1 when every nonzero level is ±1 (the register holds
 * the sign; an empty cell stands for 0), else the two's complement width. */
static int level_bits(int lo, int hi) {
  if (lo >= -1 && hi <= 1) return 1;
  int b = 2;
  while (hi > (1 << (b - 1)) - 1 || lo < -(1 << (b - 1))) b++;
  return b;
}

static int product_fill(const Tensor *t, const SystolicConfig *cfg, SaProduct *pr) {
  if (!lx_enc_has_scale(t->enc))
    return lx_fail(LSTMC_ERR_UNSUPPORTED,
                   "systolic: tensor '%s' is %s; the array multiplies integer levels: quantize it first "
                   "(e.g. quantize{bits=8})",
                   t->name, format_name(t->layout, t->enc));
  int64_t R = t->rows, C = t->cols, G = 0, K = 0;
  /* the groups: the tensor's own, or one per nonzero column */
  int32_t *off = NULL, *cols = NULL;
  if (tensor_has_groups(t)) {
    G = t->ngroups;
    K = t->group_off[G];
    off = lx_malloc(((size_t)G + 1) * sizeof *off);
    cols = lx_malloc(((size_t)K + 1) * sizeof *cols);
    if (off && cols) {
      memcpy(off, t->group_off, ((size_t)G + 1) * sizeof *off);
      memcpy(cols, t->group_cols, (size_t)K * sizeof *cols);
    }
  } else {
    uint8_t *used = lx_calloc((size_t)C + 1, 1);
    off = lx_malloc(((size_t)C + 1) * sizeof *off);
    cols = lx_malloc(((size_t)C + 1) * sizeof *cols);
    if (used && off && cols) {
      for (int64_t r = 0; r < R; r++)
        for (int64_t c = 0; c < C; c++) used[c] |= level_at(t, r, c) != 0;
      for (int64_t c = 0; c < C; c++)
        if (used[c]) {
          off[G] = (int32_t)G;
          cols[G++] = (int32_t)c;
        }
      off[G] = (int32_t)G;
      K = G;
    }
    lx_free(used);
  }
  pr->group_off = off;
  pr->group_cols = cols;
  pr->ngroups = G;
  pr->name = lx_strdup(t->name);
  pr->level = lx_calloc((size_t)(R * G) + 1, 1);
  pr->sel = lx_malloc((size_t)(R * G) + 1);
  pr->scale = lx_malloc((size_t)R * sizeof(float));
  if (!off || !cols || !pr->name || !pr->level || !pr->sel || !pr->scale) return lx_nomem("building the systolic program");
  memset(pr->sel, LX_SEL_EMPTY, (size_t)(R * G));
  memcpy(pr->scale, t->scale, (size_t)R * sizeof(float));
  pr->rows = R;
  pr->cols = C;
  pr->enc = t->enc;
  for (int64_t g = 0; g < G; g++)
    if (off[g + 1] - off[g] > pr->max_group) pr->max_group = off[g + 1] - off[g];
  int lo = 0, hi = 0;
  int64_t conflicts = 0, crow = -1, cgroup = -1;
  for (int64_t r = 0; r < R; r++) {
    const unsigned char *row = t->codes + (size_t)r * t->stride;
    for (int64_t g = 0; g < G; g++) {
      int lv = 0, pos = -1;
      if (t->layout == LX_LAYOUT_PACKED) {
        unsigned s = t->sel[(size_t)r * G + g];
        if (s != LX_SEL_EMPTY) lv = (int)lx_decode_level(t->enc, row, (unsigned long)g), pos = (int)s;
      } else {
        for (int32_t k = off[g]; k < off[g + 1]; k++) {
          int v = level_at(t, r, cols[k]);
          if (!v) continue;
          if (pos >= 0) {
            if (!conflicts) crow = r, cgroup = g;
            conflicts++;
            continue;
          }
          lv = v;
          pos = k - off[g];
        }
      }
      if (lv == 0) continue; /* an empty cell */
      pr->level[r * G + g] = (int8_t)lv;
      pr->sel[r * G + g] = (uint8_t)pos;
      pr->nnz++;
      if (lv > hi) hi = lv;
      if (lv < lo) lo = lv;
    }
  }
  if (conflicts)
    return lx_fail(LSTMC_ERR_UNSUPPORTED,
                   "systolic: tensor '%s' has %lld conflicts in its column groups (row %lld has several weights in "
                   "group %lld); a cell holds one weight: run conflict-prune first",
                   t->name, (long long)conflicts, (long long)crow, (long long)cgroup);
  if (cfg->alpha > 0 && pr->max_group > cfg->alpha)
    return lx_fail(LSTMC_ERR_UNSUPPORTED,
                   "systolic: tensor '%s' has column groups of up to %d columns, but the array's cells multiplex "
                   "alpha = %d inputs",
                   t->name, pr->max_group, cfg->alpha);
  if (level_bits(lo, hi) > cfg->wbits)
    return lx_fail(LSTMC_ERR_UNSUPPORTED,
                   "systolic: tensor '%s' (%s) has weight levels from %d to %d, which need %d-bit weight registers; "
                   "the array has wbits = %d",
                   t->name, format_name(t->layout, t->enc), lo, hi, level_bits(lo, hi), cfg->wbits);
  return 0;
}

/* Fills pr from t; on failure pr is left empty. */
static int product_from_tensor(const Tensor *t, const SystolicConfig *cfg, SaProduct *pr) {
  memset(pr, 0, sizeof *pr);
  int st = product_fill(t, cfg, pr);
  if (st) {
    product_free(pr);
    memset(pr, 0, sizeof *pr);
  }
  return st;
}

static float *copy_bias(const Tensor *t, int *st) {
  if (*st) return NULL;
  if (!tensor_is_dense_f32(t)) {
    *st = lx_fail(LSTMC_ERR_UNSUPPORTED, "systolic: bias '%s' is %s; the array's post-processing adds f32 biases",
                  t->name, format_name(t->layout, t->enc));
    return NULL;
  }
  float *b = lx_malloc((size_t)t->rows * sizeof *b);
  if (!b) *st = lx_nomem("building the systolic program");
  else memcpy(b, tensor_f32(t), (size_t)t->rows * sizeof *b);
  return b;
}

int sa_product_input(const SaProgram *p, int product, int *layer) {
  if (product == p->dec) {
    *layer = p->nlayers - 1;
    return SA_IN_LAYER_BELOW;
  }
  for (int l = 0; l < p->nlayers; l++) {
    if (p->layers[l].w_hh == product) {
      *layer = l;
      return SA_IN_OWN_STATE;
    }
    if (p->layers[l].w_ih == product) {
      *layer = l - 1;
      return l == 0 ? SA_IN_TOKEN : SA_IN_LAYER_BELOW;
    }
  }
  LX_BUG("a product outside the program");
}

int sa_program_finish(SaProgram *p) {
  SystolicConfig *c = &p->cfg;
  if (c->alpha == 0) {
    c->alpha = 1;
    for (int i = 0; i < p->nproducts; i++)
      if (p->products[i].max_group > c->alpha) c->alpha = p->products[i].max_group;
  }
  int64_t n = 0;
  for (int i = 0; i < p->nproducts; i++) {
    SaProduct *pr = &p->products[i];
    pr->row_blocks = (pr->ngroups + c->rows - 1) / c->rows;
    pr->col_blocks = (pr->rows + c->cols - 1) / c->cols;
    pr->first_tile = n;
    pr->ntiles = pr->row_blocks * pr->col_blocks;
    n += pr->ntiles;
  }
  lx_free(p->tiles);
  p->tiles = lx_malloc(((size_t)n + 1) * sizeof *p->tiles);
  if (!p->tiles) return lx_nomem("building the systolic program");
  p->ntiles = n;
  int64_t k = 0, qmax = ((int64_t)1 << (c->abits - 1)) - 1, accmax = ((int64_t)1 << (c->accbits - 1)) - 1;
  for (int i = 0; i < p->nproducts; i++) {
    SaProduct *pr = &p->products[i];
    /* column blocks outer: each block of outputs is finished before the next starts */
    for (int64_t jb = 0; jb < pr->col_blocks; jb++)
      for (int64_t ib = 0; ib < pr->row_blocks; ib++) {
        SaTile *t = &p->tiles[k++];
        t->product = i;
        t->row_block = (int32_t)ib;
        t->col_block = (int32_t)jb;
        t->a = (int32_t)(pr->ngroups - ib * c->rows < c->rows ? pr->ngroups - ib * c->rows : c->rows);
        t->b = (int32_t)(pr->rows - jb * c->cols < c->cols ? pr->rows - jb * c->cols : c->cols);
      }
    /* the largest |sum| any partial sum or accumulator of a row can reach */
    int64_t worst = 0;
    for (int64_t r = 0; r < pr->rows; r++) {
      int64_t s = 0;
      for (int64_t g = 0; g < pr->ngroups; g++) {
        int v = pr->level[r * pr->ngroups + g];
        s += v < 0 ? -v : v;
      }
      if (s > worst) worst = s;
    }
    pr->may_saturate = worst * qmax > accmax;
    int st = sa_kernel_layout(pr, c);
    if (st) return st;
  }
  sa_gates_free(&p->gt);
  return sa_gates_build(&p->gt, c->gates, c->gate_n);
}

int sa_program_build(const Graph *g, const SystolicConfig *cfg, SaProgram **out) {
  *out = NULL;
  int st = sa_config_check(cfg);
  if (st) return st;
  if (!graph_has_weights(g)) return lx_fail(LSTMC_ERR_USAGE, "systolic: the model has no weights loaded");
  SaProgram *p = lx_calloc(1, sizeof *p);
  if (!p) return lx_nomem("building the systolic program");
  p->cfg = *cfg;
  p->nlayers = graph_num_lstm(g);
  p->layers = lx_calloc((size_t)p->nlayers + 1, sizeof *p->layers);
  p->products = lx_calloc((size_t)p->nlayers * 2 + 1, sizeof *p->products);
  p->model = lx_strdup(g->name ? g->name : "");
  p->pipeline = lx_strdup(g->pipeline ? g->pipeline : "");
  p->vocab = g->vocab_size;
  if (!p->layers || !p->products || !p->model || !p->pipeline) {
    sa_program_free(p);
    return lx_nomem("building the systolic program");
  }
  int l = 0;
  for (int i = 0; i < g->nnodes && !st; i++) {
    const Node *nd = &g->nodes[i];
    if (nd->op == OP_EMBED) {
      const Tensor *e = g->slots[nd->w[W_EMBED]].t;
      p->embed_dim = e->cols;
      p->embed = lx_malloc((size_t)(e->rows * e->cols) * sizeof(float) + 1);
      if (!p->embed) st = lx_nomem("building the systolic program");
      for (int64_t r = 0; !st && r < e->rows; r++) tensor_row_to_f32(e, r, p->embed + r * e->cols);
    } else if (nd->op == OP_LSTM) {
      SaLayer *ly = &p->layers[l];
      ly->in = nd->in_dim;
      ly->hidden = nd->out_dim;
      ly->w_hh = p->nproducts;
      if (!(st = product_from_tensor(g->slots[nd->w[W_HH]].t, cfg, &p->products[p->nproducts]))) p->nproducts++;
      ly->w_ih = p->nproducts;
      if (!st && !(st = product_from_tensor(g->slots[nd->w[W_IH]].t, cfg, &p->products[p->nproducts]))) p->nproducts++;
      ly->b_ih = copy_bias(g->slots[nd->w[B_IH]].t, &st);
      ly->b_hh = copy_bias(g->slots[nd->w[B_HH]].t, &st);
      l++;
    } else if (nd->op == OP_DECODER) {
      p->dec = p->nproducts;
      if (!(st = product_from_tensor(g->slots[nd->w[W_DEC]].t, cfg, &p->products[p->nproducts]))) p->nproducts++;
      p->b_dec = copy_bias(g->slots[nd->w[B_DEC]].t, &st);
    }
  }
  if (!st && p->nproducts < 2 * p->nlayers + 1) st = lx_fail(LSTMC_ERR_UNSUPPORTED, "systolic: the model has no decoder");
  if (!st) st = sa_program_finish(p);
  if (st) {
    sa_program_free(p);
    return st;
  }
  *out = p;
  return 0;
}

/* ---- equality (the image round trip) --------------------------------------------------------------- */

static int same_bytes(const void *a, const void *b, size_t n) { return n == 0 || (a && b && !memcmp(a, b, n)); }

static int product_equal(const SaProduct *a, const SaProduct *b) {
  if (strcmp(a->name, b->name) || a->rows != b->rows || a->cols != b->cols || a->ngroups != b->ngroups) return 0;
  size_t G = (size_t)a->ngroups, RG = (size_t)(a->rows * a->ngroups);
  return same_bytes(a->group_off, b->group_off, (G + 1) * sizeof(int32_t)) &&
         same_bytes(a->group_cols, b->group_cols, (size_t)a->group_off[G] * sizeof(int32_t)) &&
         same_bytes(a->level, b->level, RG) && same_bytes(a->sel, b->sel, RG) &&
         same_bytes(a->scale, b->scale, (size_t)a->rows * sizeof(float)) && a->nnz == b->nnz &&
         a->max_group == b->max_group;
}

int sa_program_equal(const SaProgram *a, const SaProgram *b) {
  const SystolicConfig *ca = &a->cfg, *cb = &b->cfg;
  if (ca->rows != cb->rows || ca->cols != cb->cols || ca->alpha != cb->alpha || ca->wbits != cb->wbits ||
      ca->abits != cb->abits || ca->accbits != cb->accbits || ca->gates != cb->gates || ca->gate_n != cb->gate_n ||
      ca->load != cb->load || ca->resident != cb->resident || ca->gate_latency != cb->gate_latency ||
      ca->cell_sim != cb->cell_sim)
    return 0;
  if (strcmp(a->model, b->model) || strcmp(a->pipeline, b->pipeline) ||
      a->vocab != b->vocab || a->embed_dim != b->embed_dim || a->nlayers != b->nlayers || a->dec != b->dec ||
      a->nproducts != b->nproducts || a->ntiles != b->ntiles)
    return 0;
  if (!same_bytes(a->embed, b->embed, (size_t)(a->vocab * a->embed_dim) * sizeof(float)) ||
      !same_bytes(a->b_dec, b->b_dec, (size_t)a->vocab * sizeof(float)) ||
      !same_bytes(a->tiles, b->tiles, (size_t)a->ntiles * sizeof(SaTile)))
    return 0;
  for (int l = 0; l < a->nlayers; l++) {
    const SaLayer *x = &a->layers[l], *y = &b->layers[l];
    size_t n = (size_t)(4 * x->hidden) * sizeof(float);
    if (x->in != y->in || x->hidden != y->hidden || x->w_ih != y->w_ih || x->w_hh != y->w_hh ||
        !same_bytes(x->b_ih, y->b_ih, n) || !same_bytes(x->b_hh, y->b_hh, n))
      return 0;
  }
  for (int i = 0; i < a->nproducts; i++)
    if (!product_equal(&a->products[i], &b->products[i])) return 0;
  size_t npts = a->gt.kind == SA_GATES_PWL ? (size_t)a->gt.n + 1 : (size_t)a->gt.n;
  if (a->gt.kind != b->gt.kind || a->gt.n != b->gt.n) return 0;
  if (a->gt.kind != SA_GATES_EXACT &&
      (!same_bytes(a->gt.sigmoid, b->gt.sigmoid, npts * 2) || !same_bytes(a->gt.tanh, b->gt.tanh, npts * 2)))
    return 0;
  return 1;
}
