/* The systolic-array report. Cost model (Kung, McDanel & Zhang 2019, weight-stationary), for an array of
 * A rows × B columns of cells and a weight matrix of R rows (outputs) × C columns (inputs):
 *  - the matrix is stored transposed: one array row per packed column (a group of combined columns, whose
 *    cell multiplexes the ≤ alpha inputs of its group), one array column per output row;
 *  - packed columns: G, the number of groups; without groups, every column that holds a nonzero (which is
 *    what alpha = 1 gives); "before combining" counts the columns the groups cover (the nonzero columns
 *    when column-combine ran), so before/after is the paper's ratio of alpha = 1 to alpha = α;
 *  - tiles = ⌈packed columns / A⌉ · ⌈R / B⌉, processed one after another; a tile of a ≤ A packed columns
 *    and b ≤ B outputs (the last row and column blocks may be partial) costs
 *    a (shifting its weight rows in, one per cycle, while the array does nothing else) +
 *    a + b − 1 (one input vector skewed through its a rows until the last cell has multiplied; the
 *    partial sums draining through the rows below overlap the next tile's load): batch 1, one timestep.
 *    A full tile costs 2A + B − 1, and a matrix Σ (2a + b − 1) = 2·G·⌈R/B⌉ + R·⌈G/A⌉ − tiles. This is
 *    the systolic target's tile model under single buffering (codegen/systolic/sa_cycles.c, checked cell by
 *    cell), whose per-token cycles are the report's total plus the waits for input vectors that the report
 *    does not count (docs/systolic.md);
 *  - utilization = nonzero weights / (tiles · A · B), the share of cells doing useful work;
 *  - a timestep runs W_ih and W_hh of every lstm and the decoder (the embedding is a row lookup); the
 *    elementwise gate math is not counted. */
#include "passes/report.h"

#include <stdio.h>
#include <string.h>

#include "support/alloc.h"
#include "support/err.h"

typedef struct MatrixCost {
  const char *name, *role;
  int64_t rows, cols, nnz, cols_before, cols_after, tiles_before, tiles_after, cycles_before, cycles_after;
  double utilization;
} MatrixCost;

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* Σ over the tiles of G packed columns × R outputs of (2a + b − 1): each row block's a summed over the
 * column blocks, each column block's b over the row blocks. */
static int64_t tile_cycles(int64_t G, int64_t R, int64_t row_blocks, int64_t col_blocks) {
  return 2 * G * col_blocks + R * row_blocks - row_blocks * col_blocks;
}

static int matrix_cost(const Tensor *t, const char *role, int64_t A, int64_t B, MatrixCost *m) {
  memset(m, 0, sizeof *m);
  m->name = t->name;
  m->role = role;
  m->rows = t->rows;
  m->cols = t->cols;
  m->nnz = tensor_nnz(t);
  if (tensor_has_groups(t)) {
    m->cols_before = t->group_off[t->ngroups];
    m->cols_after = t->ngroups;
  } else {
    float *row = lx_malloc(((size_t)t->cols + 1) * sizeof *row);
    uint8_t *used = lx_calloc((size_t)t->cols + 1, 1);
    if (!row || !used) {
      lx_free(row);
      lx_free(used);
      return lx_nomem("writing the report");
    }
    for (int64_t r = 0; r < t->rows; r++) {
      tensor_row_to_f32(t, r, row);
      for (int64_t c = 0; c < t->cols; c++) used[c] |= row[c] != 0.0f;
    }
    for (int64_t c = 0; c < t->cols; c++) m->cols_before += used[c];
    m->cols_after = m->cols_before;
    lx_free(row);
    lx_free(used);
  }
  int64_t col_tiles = ceil_div(t->rows, B), row_before = ceil_div(m->cols_before, A), row_after = ceil_div(m->cols_after, A);
  m->tiles_before = row_before * col_tiles;
  m->tiles_after = row_after * col_tiles;
  m->cycles_before = tile_cycles(m->cols_before, t->rows, row_before, col_tiles);
  m->cycles_after = tile_cycles(m->cols_after, t->rows, row_after, col_tiles);
  m->utilization = m->tiles_after ? (double)m->nnz / ((double)m->tiles_after * (double)(A * B)) : 0;
  return 0;
}

static double ratio(int64_t a, int64_t b) { return b ? (double)a / (double)b : 0; }

int report_systolic(const Graph *g, int array_rows, int array_cols, int json, StrBuf *out) {
  if (array_rows < 1 || array_cols < 1) return lx_fail(LSTMC_ERR_USAGE, "the array needs at least one row and column");
  if (!graph_has_weights(g)) return lx_fail(LSTMC_ERR_USAGE, "the report needs weights: none are loaded");
  int64_t A = array_rows, B = array_cols;
  MatrixCost *mc = lx_calloc((size_t)g->nnodes * 2 + 1, sizeof *mc);
  if (!mc) return lx_nomem("writing the report");
  int n = 0, st = 0;
  for (int i = 0; i < g->nnodes && !st; i++) {
    const Node *nd = &g->nodes[i];
    if (nd->op == OP_LSTM) {
      if (!(st = matrix_cost(g->slots[nd->w[W_IH]].t, "W_ih", A, B, &mc[n]))) n++;
      if (!st && !(st = matrix_cost(g->slots[nd->w[W_HH]].t, "W_hh", A, B, &mc[n]))) n++;
    } else if (nd->op == OP_DECODER) {
      if (!(st = matrix_cost(g->slots[nd->w[W_DEC]].t, nd->tied ? "decoder (tied)" : "decoder", A, B, &mc[n]))) n++;
    }
  }
  if (st) {
    lx_free(mc);
    return st;
  }
  MatrixCost tot;
  memset(&tot, 0, sizeof tot);
  for (int i = 0; i < n; i++) {
    tot.nnz += mc[i].nnz;
    tot.tiles_before += mc[i].tiles_before;
    tot.tiles_after += mc[i].tiles_after;
    tot.cycles_before += mc[i].cycles_before;
    tot.cycles_after += mc[i].cycles_after;
  }
  tot.utilization = tot.tiles_after ? (double)tot.nnz / ((double)tot.tiles_after * (double)(A * B)) : 0;
  const char *pipeline = g->pipeline ? g->pipeline : "";
  if (json) {
    sb_printf(out, "{\"array\": {\"rows\": %d, \"cols\": %d}, \"cycles_per_tile\": %lld, \"pipeline\": ", array_rows,
              array_cols, (long long)(2 * A + B - 1));
    sb_json_string(out, pipeline, strlen(pipeline));
    sb_puts(out, ", \"matrices\": [");
    for (int i = 0; i < n; i++) {
      const MatrixCost *m = &mc[i];
      sb_puts(out, i ? ", {\"name\": " : "{\"name\": ");
      sb_json_string(out, m->name, strlen(m->name));
      sb_printf(out,
                ", \"role\": \"%s\", \"rows\": %lld, \"cols\": %lld, \"nnz\": %lld, \"cols_before\": %lld, "
                "\"cols_after\": %lld, \"tiles_before\": %lld, \"tiles_after\": %lld, \"tile_ratio\": %.6f, "
                "\"utilization\": %.6f, \"cycles_before\": %lld, \"cycles_after\": %lld}",
                m->role, (long long)m->rows, (long long)m->cols, (long long)m->nnz, (long long)m->cols_before,
                (long long)m->cols_after, (long long)m->tiles_before, (long long)m->tiles_after,
                ratio(m->tiles_after, m->tiles_before), m->utilization, (long long)m->cycles_before,
                (long long)m->cycles_after);
    }
    sb_printf(out,
              "], \"total\": {\"nnz\": %lld, \"tiles_before\": %lld, \"tiles_after\": %lld, \"tile_ratio\": %.6f, "
              "\"utilization\": %.6f, \"cycles_before\": %lld, \"cycles_after\": %lld}}\n",
              (long long)tot.nnz, (long long)tot.tiles_before, (long long)tot.tiles_after,
              ratio(tot.tiles_after, tot.tiles_before), tot.utilization, (long long)tot.cycles_before,
              (long long)tot.cycles_after);
  } else {
    sb_printf(out, "systolic array %dx%d, weight-stationary, %lld cycles per full tile; pipeline: %s\n", array_rows,
              array_cols, (long long)(2 * A + B - 1), pipeline[0] ? pipeline : "(none)");
    sb_printf(out, "%-22s %-15s %11s %10s %14s %8s %8s %7s %7s %14s %14s\n", "matrix", "role", "shape", "nnz",
              "columns", "tiles", "tiles", "ratio", "util", "cycles", "cycles");
    sb_printf(out, "%-22s %-15s %11s %10s %14s %8s %8s %7s %7s %14s %14s\n", "", "", "", "", "before→after", "before",
              "after", "", "", "before", "after");
    for (int i = 0; i < n; i++) {
      const MatrixCost *m = &mc[i];
      char shape[32], cols[40];
      snprintf(shape, sizeof shape, "%lldx%lld", (long long)m->rows, (long long)m->cols);
      snprintf(cols, sizeof cols, "%lld→%lld", (long long)m->cols_before, (long long)m->cols_after);
      sb_printf(out, "%-22s %-15s %11s %10lld %16s %8lld %8lld %7.4f %7.4f %14lld %14lld\n", m->name, m->role, shape,
                (long long)m->nnz, cols, (long long)m->tiles_before, (long long)m->tiles_after,
                ratio(m->tiles_after, m->tiles_before), m->utilization, (long long)m->cycles_before,
                (long long)m->cycles_after);
    }
    sb_printf(out, "%-22s %-15s %11s %10lld %14s %8lld %8lld %7.4f %7.4f %14lld %14lld\n", "total", "", "",
              (long long)tot.nnz, "", (long long)tot.tiles_before, (long long)tot.tiles_after,
              ratio(tot.tiles_after, tot.tiles_before), tot.utilization, (long long)tot.cycles_before,
              (long long)tot.cycles_after);
  }
  lx_free(mc);
  return out->failed ? lx_nomem("writing the report") : 0;
}
