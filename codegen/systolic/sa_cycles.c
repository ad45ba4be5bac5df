/* Cycles from the schedule. The tile model (validated cell by cell by sa_cellsim.c):
 *
 *  - a tile of a ≤ rows array rows (column groups) and b ≤ cols array columns (outputs) takes n input
 *    vectors (one per stream); vector v enters array row i at T + v + i (the skew), meets cell (i, j) at
 *    T + v + i + j, and its column j leaves the bottom row at T + v + rows − 1 + j into the accumulator.
 *    The last multiply is at T + span − 1 (span = n + a + b − 2); the last output can be read at
 *    T + n + rows + b − 2 (rows not fed pass the partial sums down unchanged);
 *  - registers latch at the end of a cycle: a cell multiplies with the weight, input and partial sum it
 *    holds during the cycle;
 *  - single buffering: the array either loads or multiplies. The tile's a weight rows shift in from the top,
 *    one row per cycle, starting the cycle after the previous tile's last multiply (load ≥ last_mac + 1),
 *    and the tile starts once they are in: T ≥ load + a. A full tile then costs 2·rows + cols − 1 cycles,
 *    what `lstmc report` counts;
 *  - double buffering: the rows shift into shadow registers while the array multiplies, as soon as the
 *    shadows are free and the load port is (load ≥ load_prev + a_prev). A global swap copies every shadow
 *    into its weight register on one clock edge; "swap = S" means the weights hold the new tile from cycle
 *    S on, so the copy reads the shadows during cycle S − 1, which must hold the whole tile by then
 *    (swap ≥ load + a + 1), and the next load may shift on that same edge (load ≥ swap_prev − 1). The
 *    previous tile's last multiply must be done (swap ≥ last_mac + 1); T ≥ swap. A tile's input moves
 *    right only across its b columns;
 *  - resident weights (all tiles fit the cells' weight memories): loaded once before the first token; the
 *    tile index travels with the data, so a tile may start n cycles after the previous one;
 *  - a product's first tile also waits for its input vector: the token's embedding (ready at once when
 *    the tokens are known; after the previous logits in generation), the layer's own h of the previous
 *    token, or the layer below's h of this token — ready gate_latency cycles after the last accumulator of
 *    that layer's two products.
 * Tiles run in program order: per layer W_hh first (its input, the layer's previous h, is ready while the
 * layer below's gates are computed), then W_ih, then the decoder. */
#include <stdio.h>
#include <string.h>

#include "codegen/systolic/systolic.h"
#include "support/alloc.h"
#include "support/err.h"

/* What bounded each tile's start: the previous tile (base), its weights, its input vector. */
typedef struct SchedAux {
  int64_t base, wready, dready;
} SchedAux;

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

static int fits_resident(const SaProgram *p) { return p->cfg.resident > 0 && p->ntiles <= p->cfg.resident; }

static void schedule(const SaProgram *p, int64_t n, int64_t ntokens, int gen, SaTileTime *tt, SchedAux *aux,
                     int64_t *logits) {
  const SystolicConfig *c = &p->cfg;
  int resident = fits_resident(p);
  int64_t A = c->rows, NEVER = INT64_MIN / 4;
  int64_t hready[p->nlayers > 0 ? p->nlayers : 1], pdone[p->nproducts > 0 ? p->nproducts : 1];
  for (int l = 0; l < p->nlayers; l++) hready[l] = 0;
  int first = 1;
  int64_t prev_T = 0, prev_span = 0, prev_swap = 0, prev_load_end = 0, prev_logits = 0;
  for (int64_t t = 0; t < ntokens; t++) {
    for (int i = 0; i < p->nproducts; i++) {
      const SaProduct *pr = &p->products[i];
      int layer = 0, kind = sa_product_input(p, i, &layer);
      int64_t R = kind == SA_IN_TOKEN ? (gen && t > 0 ? prev_logits : 0) : hready[layer];
      int64_t done = R;
      for (int64_t k = pr->first_tile; k < pr->first_tile + pr->ntiles; k++) {
        const SaTile *tile = &p->tiles[k];
        SaTileTime *o = &tt[t * p->ntiles + k];
        SchedAux *x = &aux[t * p->ntiles + k];
        int64_t a = tile->a;
        if (resident) {
          x->base = first ? 0 : prev_T + n;
          x->wready = NEVER;
          o->load = o->swap = -1;
        } else if (c->load == SA_LOAD_SINGLE) {
          x->base = first ? 0 : prev_T + prev_span;
          o->load = x->base;
          o->swap = -1;
          x->wready = o->load + a;
        } else {
          x->base = first ? 0 : prev_T + prev_span;
          o->load = first ? 0 : max64(prev_swap - 1, prev_load_end);
          o->swap = max64(o->load + a + 1, x->base);
          x->wready = o->swap;
          prev_swap = o->swap;
          prev_load_end = o->load + a;
        }
        x->dready = R;
        o->start = max64(max64(x->base, x->wready), x->dready);
        int64_t span = sa_tile_span(a, tile->b, n);
        o->last_mac = o->start + span - 1;
        o->done = o->start + sa_tile_drain(A, tile->b, n);
        done = max64(done, o->done);
        prev_T = o->start;
        prev_span = span;
        first = 0;
      }
      pdone[i] = done;
      if (i == p->dec) prev_logits = done;
      /* a layer's h is ready once both its products are done and the gate unit has run */
      for (int l = 0; l < p->nlayers; l++) {
        const SaLayer *ly = &p->layers[l];
        int last = ly->w_ih > ly->w_hh ? ly->w_ih : ly->w_hh;
        if (i == last) hready[l] = max64(pdone[ly->w_ih], pdone[ly->w_hh]) + c->gate_latency;
      }
    }
    logits[t] = prev_logits;
  }
}

int sa_schedule(const SaProgram *p, int64_t streams, int64_t ntokens, int gen, SaTileTime *times) {
  SchedAux *aux = lx_malloc((size_t)(ntokens * p->ntiles + 1) * sizeof *aux);
  int64_t *logits = lx_malloc((size_t)(ntokens + 1) * sizeof *logits);
  if (aux && logits) schedule(p, streams, ntokens, gen, times, aux, logits);
  lx_free(aux);
  lx_free(logits);
  return aux && logits ? 0 : lx_nomem("scheduling the systolic tiles");
}

/* Tokens simulated to reach the steady state; the last token's start to the one before it is a token. */
#define SA_STATS_TOKENS 6

/* The start of token t (its first tile), or when its logits are ready if it has no tiles. */
static int64_t token_start(const SaProgram *p, const SaTileTime *tt, int64_t t, const int64_t *logits) {
  return p->ntiles ? tt[t * p->ntiles].start : logits[t];
}

int sa_cycle_stats(const SaProgram *p, int64_t n, SaCycleStats *s) {
  memset(s, 0, sizeof *s);
  const int64_t K = SA_STATS_TOKENS, nt = p->ntiles;
  SaTileTime *tt = lx_malloc((size_t)(K * nt + 1) * sizeof *tt);
  SchedAux *aux = lx_malloc((size_t)(K * nt + 1) * sizeof *aux);
  int64_t logits[SA_STATS_TOKENS];
  if (!tt || !aux) {
    lx_free(tt);
    lx_free(aux);
    return lx_nomem("counting the systolic cycles");
  }
  const SystolicConfig *c = &p->cfg;
  int resident = fits_resident(p);
  s->streams = n;
  s->tiles = nt;
  s->cells = (int64_t)c->rows * c->cols;
  s->resident = resident;
  for (int i = 0; i < p->nproducts; i++) s->macs += p->products[i].nnz * n;
  for (int64_t k = 0; k < nt; k++) {
    if (resident) s->preload_cycles += p->tiles[k].a;
    else s->load_cycles += p->tiles[k].a;
  }
  /* generation: every token waits for the previous logits */
  schedule(p, n, K, 1, tt, aux, logits);
  s->gen_cycles_per_token = token_start(p, tt, K - 1, logits) - token_start(p, tt, K - 2, logits);
  if (!nt) s->gen_cycles_per_token = 0;
  /* scoring: the stream's tokens are known */
  schedule(p, n, K, 0, tt, aux, logits);
  s->first_token_cycles = logits[0];
  s->cycles_per_token = nt ? token_start(p, tt, K - 1, logits) - token_start(p, tt, K - 2, logits) : 0;
  /* the split of one steady token: from each tile's start to the next one's */
  for (int64_t k = 0; k < nt; k++) {
    int64_t idx = (K - 2) * nt + k;
    const SaTile *tile = &p->tiles[k];
    int64_t occ = resident ? n : sa_tile_span(tile->a, tile->b, n);
    const SchedAux *x = &aux[idx + 1];
    int64_t next = tt[idx + 1].start;
    s->busy += occ;
    /* the next tile waited past the previous one's occupancy: for weights, then for data */
    int64_t w = x->wready > x->base ? (x->wready < next ? x->wready : next) - x->base : 0;
    s->weight_stall += w;
    s->data_stall += next - x->base - w;
  }
  double cyc = (double)s->cycles_per_token, cells = (double)s->cells;
  s->utilization = cyc > 0 ? (double)s->macs / (cells * cyc) : 0;
  s->tile_utilization = nt ? (double)s->macs / (cells * (double)nt * (double)n) : 0;
  lx_free(tt);
  lx_free(aux);
  return 0;
}

void sa_cycle_report(const SaProgram *p, const SaCycleStats *s, int64_t saturations, int json, StrBuf *out) {
  const SystolicConfig *c = &p->cfg;
  StrBuf cfg;
  sb_init(&cfg);
  sa_config_describe(c, &cfg);
  if (json) {
    sb_puts(out, "{\"array\": ");
    sb_json_string(out, sb_cstr(&cfg), cfg.len);
    sb_printf(out,
              ", \"rows\": %d, \"cols\": %d, \"alpha\": %d, \"streams\": %lld, \"tiles\": %lld, "
              "\"cycles_per_token\": %lld, \"gen_cycles_per_token\": %lld, \"first_token_cycles\": %lld, "
              "\"busy\": %lld, \"weight_stall\": %lld, \"data_stall\": %lld, \"load_cycles\": %lld, "
              "\"preload_cycles\": %lld, \"resident\": %s, \"macs\": %lld, \"utilization\": %.6f, "
              "\"tile_utilization\": %.6f, \"saturations\": %lld, \"kernel\": \"%s\", \"products\": [",
              c->rows, c->cols, c->alpha, (long long)s->streams, (long long)s->tiles, (long long)s->cycles_per_token,
              (long long)s->gen_cycles_per_token, (long long)s->first_token_cycles, (long long)s->busy,
              (long long)s->weight_stall, (long long)s->data_stall, (long long)s->load_cycles,
              (long long)s->preload_cycles, s->resident ? "true" : "false", (long long)s->macs, s->utilization,
              s->tile_utilization, (long long)saturations, sa_kernel_name());
    for (int i = 0; i < p->nproducts; i++) {
      const SaProduct *pr = &p->products[i];
      sb_puts(out, i ? ", {\"name\": " : "{\"name\": ");
      sb_json_string(out, pr->name, strlen(pr->name));
      sb_printf(out,
                ", \"rows\": %lld, \"cols\": %lld, \"groups\": %lld, \"max_group\": %d, \"nnz\": %lld, \"tiles\": %lld, "
                "\"tile_utilization\": %.6f, \"may_saturate\": %s}",
                (long long)pr->rows, (long long)pr->cols, (long long)pr->ngroups, pr->max_group, (long long)pr->nnz,
                (long long)pr->ntiles,
                pr->ntiles ? (double)pr->nnz / ((double)pr->ntiles * (double)s->cells) : 0.0,
                pr->may_saturate ? "true" : "false");
    }
    sb_puts(out, "]}");
  } else {
    sb_printf(out, "systolic array %s\n", sb_cstr(&cfg));
    sb_printf(out, "%-24s %11s %7s %6s %10s %7s %7s %5s\n", "product", "shape", "groups", "alpha", "nnz", "tiles",
              "util", "sat?");
    for (int i = 0; i < p->nproducts; i++) {
      const SaProduct *pr = &p->products[i];
      char shape[40];
      snprintf(shape, sizeof shape, "%lldx%lld", (long long)pr->rows, (long long)pr->cols);
      sb_printf(out, "%-24s %11s %7lld %6d %10lld %7lld %7.4f %5s\n", pr->name, shape, (long long)pr->ngroups,
                pr->max_group, (long long)pr->nnz, (long long)pr->ntiles,
                pr->ntiles ? (double)pr->nnz / ((double)pr->ntiles * (double)s->cells) : 0.0,
                pr->may_saturate ? "yes" : "no");
    }
    if (s->streams > 1) sb_printf(out, "%lld streams: a token of each per step\n", (long long)s->streams);
    sb_printf(out,
              "per %s: %lld cycles (busy %lld, waiting for weights %lld, for inputs %lld), %lld tiles, "
              "utilization %.4f (tiles %.4f)\n",
              s->streams > 1 ? "step" : "token", (long long)s->cycles_per_token, (long long)s->busy, (long long)s->weight_stall,
              (long long)s->data_stall, (long long)s->tiles, s->utilization, s->tile_utilization);
    sb_printf(out, "first token: %lld cycles; generation (each token after the last logits): %lld cycles per token\n",
              (long long)s->first_token_cycles, (long long)s->gen_cycles_per_token);
    if (saturations >= 0) sb_printf(out, "saturations so far: %lld\n", (long long)saturations);
    if (c->resident > 0)
      sb_printf(out, s->resident ? "weights resident: %lld tiles fit %lld per cell, loaded once in %lld cycles\n"
                                 : "weights not resident: %lld tiles do not fit %lld per cell\n",
                (long long)s->tiles, (long long)c->resident, (long long)s->preload_cycles);
  }
  sb_free(&cfg);
}
