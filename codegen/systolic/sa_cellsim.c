/* The brute-force simulation: every cell of the array, every cycle. It is the check of the tile model
 * (sa_cycles.c) and of the arithmetic's order (sa_arith.c), and as slow as it sounds.
 *
 * Each cell holds a weight register (level, select, and the tile it belongs to), in double buffering a
 * shadow one, an input register (the α-wide bundle of its row's group inputs, tagged with tile and vector)
 * and a partial-sum register. In a cycle every cell with an input multiplies level · input[select] into the
 * partial sum it received from above (a fresh 0 in row 0), saturating; at the end of the cycle the inputs
 * move one cell right (up to the tile's last column), the partial sums one cell down, and the bottom row's sums go into the accumulators
 * (saturating). The load port shifts one weight row into the top of the weight (single) or shadow (double)
 * registers per cycle; a swap copies every shadow into its weight register at once. The feeders put vector v
 * of a tile into row i at start + v + i.
 *
 * Hazards are counted, never hidden: a multiply with a weight of another tile (weights not in yet, or
 * already overwritten), a multiply while the array loads (single buffering), a partial sum of another
 * tile or vector meeting an input, two feeds into one row or two loads at once, and a feed before its input
 * vector was ready (the producing products' last accumulator writes, observed here, plus gate_latency). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/systolic/systolic.h"
#include "support/alloc.h"
#include "support/err.h"

typedef struct Sim {
  const SaProgram *p;
  const SaTileTime *tt;
  SaCellJob *jobs;
  SaCellResult *res;
  int64_t n, A, B, alpha, ntiles, ntok;
  /* registers, [A * B] each (x values [A * B * alpha]) */
  /* tags: the global tile (token · ntiles + k) of an input or partial sum; for a weight or shadow register,
   * global tile · rows + the tile row it holds, so that a weight in the wrong row is caught too */
  int64_t *wtag, *stag, *xtag, *ptag;
  int8_t *wlev, *slev;
  uint8_t *wsel, *ssel;
  int32_t *xvec, *pvec;
  int16_t *xval;
  int64_t *psum;
  /* next-cycle copies of the moving registers */
  int64_t *xtag2, *ptag2;
  int32_t *xvec2, *pvec2;
  int16_t *xval2;
  int64_t *psum2;
  /* per (token, product): accumulator writes still to come and the last one's cycle */
  int64_t *pending, *last_write;
} Sim;

static void hazard(Sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void hazard(Sim *s, const char *fmt, ...) {
  if (s->res->hazards++) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->res->first_hazard, sizeof s->res->first_hazard, fmt, ap);
  va_end(ap);
}

static int64_t input_ready(Sim *s, int64_t t, int prod);

/* When product `prod` of token t was done (its last accumulator write + 1), -1 while it is running. A product
 * without tiles is done when its input is ready. */
static int64_t product_done(Sim *s, int64_t t, int prod) {
  size_t i = (size_t)(t * s->p->nproducts + prod);
  if (!s->p->products[prod].ntiles) return input_ready(s, t, prod);
  return s->pending[i] > 0 ? -1 : s->last_write[i] + 1;
}

/* The time product `prod` of token t may first be fed: -1 while its producers are still running. */
static int64_t input_ready(Sim *s, int64_t t, int prod) {
  const SaProgram *p = s->p;
  int layer = 0, kind = sa_product_input(p, prod, &layer);
  if (kind == SA_IN_TOKEN || (kind == SA_IN_OWN_STATE && t == 0)) return 0;
  int64_t tok = kind == SA_IN_OWN_STATE ? t - 1 : t, ready = 0;
  const SaLayer *ly = &p->layers[layer];
  int32_t ps[2] = {ly->w_ih, ly->w_hh};
  for (int k = 0; k < 2; k++) {
    int64_t d = product_done(s, tok, ps[k]);
    if (d < 0) return -1;
    if (d > ready) ready = d;
  }
  return ready + p->cfg.gate_latency;
}

/* The weight row r_t of tile k (global id gid) as it enters the top of the chain. */
static void load_row(Sim *s, int64_t gid, int64_t k, int64_t rt, int64_t *tag, int8_t *lev, uint8_t *sel) {
  const SaTile *tile = &s->p->tiles[k];
  const SaProduct *pr = &s->p->products[tile->product];
  int64_t g = (int64_t)tile->row_block * s->A + rt;
  for (int64_t j = 0; j < s->B; j++) {
    int64_t r = (int64_t)tile->col_block * s->B + j;
    tag[j] = gid * s->A + rt;
    if (j < tile->b) {
      lev[j] = pr->level[r * pr->ngroups + g];
      sel[j] = pr->sel[r * pr->ngroups + g];
    } else {
      lev[j] = 0;
      sel[j] = LX_SEL_EMPTY;
    }
  }
}

/* Tiles ordered by the time of one of their events (ties by tile). */
typedef struct Keyed {
  int64_t key, tile;
} Keyed;

static int cmp_keyed(const void *a, const void *b) {
  const Keyed *x = a, *y = b;
  return x->key != y->key ? (x->key < y->key ? -1 : 1) : (x->tile > y->tile) - (x->tile < y->tile);
}

/* order[i] = the tile with the i-th smallest key(tile); keys is scratch of n. */
static void sort_tiles(const SaTileTime *tt, int64_t n, int field, Keyed *keys, int64_t *order) {
  for (int64_t g = 0; g < n; g++) {
    keys[g].key = field == 0 ? tt[g].start : field == 1 ? tt[g].load : tt[g].swap;
    keys[g].tile = g;
  }
  qsort(keys, (size_t)n, sizeof *keys, cmp_keyed);
  for (int64_t g = 0; g < n; g++) order[g] = keys[g].tile;
}

static void sim_free(Sim *s) {
  void *bufs[] = {s->wtag, s->stag, s->xtag, s->ptag, s->wlev, s->slev, s->wsel, s->ssel, s->xvec, s->pvec,
                  s->xval, s->psum, s->xtag2, s->ptag2, s->xvec2, s->pvec2, s->xval2, s->psum2, s->pending,
                  s->last_write};
  for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) lx_free(bufs[i]);
}

int sa_cellsim_run(const SaProgram *p, int64_t streams, int ntokens, const SaTileTime *tt, SaCellJob *jobs,
                   void (*on_done)(void *ctx, int64_t token, int product), void *ctx, SaCellResult *res) {
  memset(res, 0, sizeof *res);
  Sim s;
  memset(&s, 0, sizeof s);
  s.p = p;
  s.tt = tt;
  s.jobs = jobs;
  s.res = res;
  s.n = streams;
  s.A = p->cfg.rows;
  s.B = p->cfg.cols;
  s.alpha = p->cfg.alpha;
  s.ntiles = p->ntiles;
  s.ntok = ntokens;
  const SystolicConfig *cfg = &p->cfg;
  size_t cells = (size_t)(s.A * s.B), np = (size_t)p->nproducts * (size_t)ntokens;
  int64_t total = s.ntok * s.ntiles;
  s.wtag = lx_malloc(cells * sizeof(int64_t));
  s.stag = lx_malloc(cells * sizeof(int64_t));
  s.xtag = lx_malloc(cells * sizeof(int64_t));
  s.ptag = lx_malloc(cells * sizeof(int64_t));
  s.xtag2 = lx_malloc(cells * sizeof(int64_t));
  s.ptag2 = lx_malloc(cells * sizeof(int64_t));
  s.wlev = lx_calloc(cells, 1);
  s.slev = lx_calloc(cells, 1);
  s.wsel = lx_malloc(cells);
  s.ssel = lx_malloc(cells);
  s.xvec = lx_calloc(cells, sizeof(int32_t));
  s.pvec = lx_calloc(cells, sizeof(int32_t));
  s.xvec2 = lx_calloc(cells, sizeof(int32_t));
  s.pvec2 = lx_calloc(cells, sizeof(int32_t));
  s.xval = lx_calloc(cells * (size_t)s.alpha, sizeof(int16_t));
  s.xval2 = lx_calloc(cells * (size_t)s.alpha, sizeof(int16_t));
  s.psum = lx_calloc(cells, sizeof(int64_t));
  s.psum2 = lx_calloc(cells, sizeof(int64_t));
  s.pending = lx_calloc(np + 1, sizeof(int64_t));
  s.last_write = lx_calloc(np + 1, sizeof(int64_t));
  res->done = lx_calloc(np + 1, sizeof(int64_t));
  int64_t *by_start = lx_malloc((size_t)(total + 1) * sizeof(int64_t)), *by_load = lx_malloc((size_t)(total + 1) * sizeof(int64_t)),
          *by_swap = lx_malloc((size_t)(total + 1) * sizeof(int64_t));
  Keyed *keys = lx_malloc((size_t)(total + 1) * sizeof(Keyed));
  int ok = s.wtag && s.stag && s.xtag && s.ptag && s.xtag2 && s.ptag2 && s.wlev && s.slev && s.wsel && s.ssel &&
           s.xvec && s.pvec && s.xvec2 && s.pvec2 && s.xval && s.xval2 && s.psum && s.psum2 && s.pending &&
           s.last_write && res->done && by_start && by_load && by_swap && keys;
  if (!ok) {
    sim_free(&s);
    lx_free(res->done);
    res->done = NULL;
    lx_free(by_start);
    lx_free(by_load);
    lx_free(by_swap);
    lx_free(keys);
    return lx_nomem("simulating the array cell by cell");
  }
  for (size_t i = 0; i < cells; i++) {
    s.wtag[i] = s.stag[i] = s.xtag[i] = s.ptag[i] = -1;
    s.wsel[i] = s.ssel[i] = LX_SEL_EMPTY;
  }
  int resident = cfg->resident > 0 && p->ntiles <= cfg->resident;
  /* expected accumulator writes per (token, product); accumulators start at 0 */
  for (int64_t t = 0; t < s.ntok; t++)
    for (int i = 0; i < p->nproducts; i++) {
      const SaProduct *pr = &p->products[i];
      SaCellJob *jb = &jobs[t * p->nproducts + i];
      memset(jb->acc, 0, (size_t)(s.n * pr->rows) * sizeof(int64_t));
      s.pending[t * p->nproducts + i] = pr->ntiles ? s.n * pr->rows * pr->row_blocks : 0;
    }
  sort_tiles(tt, total, 0, keys, by_start);
  sort_tiles(tt, total, 1, keys, by_load);
  sort_tiles(tt, total, 2, keys, by_swap);

  int64_t A = s.A, B = s.B, al = s.alpha, n = s.n;
  int64_t next_feed = 0, feed_lo = 0, next_load = 0, next_swap = 0, drained = 0, expect = 0, lastw = -1;
  for (size_t i = 0; i < np; i++) expect += s.pending[i];
  /* the inputs that enter the array at cycle 0 are placed before the loop; then each iteration computes
   * cycle c and places what enters at c + 1 */
  int64_t *feeding_row = lx_malloc((size_t)A * sizeof(int64_t));
  if (!feeding_row) {
    sim_free(&s);
    lx_free(by_start);
    lx_free(by_load);
    lx_free(by_swap);
    lx_free(keys);
    lx_free(res->done);
    res->done = NULL;
    return lx_nomem("simulating the array cell by cell");
  }
  int64_t horizon = 0; /* the last cycle any event is scheduled */
  for (int64_t g = 0; g < total; g++) {
    const SaTile *tile = &p->tiles[g % s.ntiles];
    int64_t e = tt[g].start + n + A + tile->b + 2;
    if (tt[g].load + tile->a > e) e = tt[g].load + tile->a;
    if (tt[g].swap > e) e = tt[g].swap;
    if (e > horizon) horizon = e;
  }
  /* places the inputs entering at cycle c into column 0 of the next-state registers */
  for (int64_t c = 0; drained < expect && c <= horizon + 1; c++) {
    /* ---- inputs entering column 0 this cycle: the feeders ---- */
    for (int64_t i = 0; i < A; i++) feeding_row[i] = -1;
    while (next_feed < total && tt[by_start[next_feed]].start <= c) next_feed++;
    /* tiles whose feeding window [start, start + n + a − 1) may contain c */
    while (feed_lo < next_feed && tt[by_start[feed_lo]].start + n + A < c) feed_lo++;
    for (int64_t x = feed_lo; x < next_feed; x++) {
      int64_t gid = by_start[x], k = gid % s.ntiles, t = gid / s.ntiles;
      const SaTile *tile = &p->tiles[k];
      const SaProduct *pr = &p->products[tile->product];
      for (int64_t v = 0; v < n; v++) {
        int64_t i = c - tt[gid].start - v;
        if (i < 0 || i >= tile->a) continue;
        if (feeding_row[i] >= 0) {
          hazard(&s, "cycle %lld: row %lld is fed by two tiles at once", (long long)c, (long long)i);
          continue;
        }
        feeding_row[i] = gid;
        int64_t ready = input_ready(&s, t, tile->product);
        if (ready < 0 || c < ready)
          hazard(&s, "cycle %lld: token %lld's %s is fed before its input vector is ready (%s)", (long long)c,
                 (long long)t, pr->name, ready < 0 ? "its producers are still running" : "gate latency");
        size_t cell = (size_t)(i * B);
        s.xtag[cell] = gid;
        s.xvec[cell] = (int32_t)v;
        int64_t g = (int64_t)tile->row_block * A + i;
        int16_t *vals = s.xval + cell * (size_t)al;
        const int16_t *q = s.jobs[t * p->nproducts + tile->product].q + v * pr->cols;
        for (int64_t k2 = 0; k2 < al; k2++)
          vals[k2] = k2 < pr->group_off[g + 1] - pr->group_off[g] ? q[pr->group_cols[pr->group_off[g] + k2]] : 0;
      }
    }
    /* ---- this cycle's loads and swaps ---- */
    while (next_load < total && (tt[by_load[next_load]].load < 0 ||
                                 tt[by_load[next_load]].load + p->tiles[by_load[next_load] % s.ntiles].a <= c))
      next_load++;
    int64_t loading = -1;
    for (int64_t x = next_load; x < total && tt[by_load[x]].load <= c; x++) {
      int64_t gid = by_load[x];
      if (tt[gid].load < 0 || c >= tt[gid].load + p->tiles[gid % s.ntiles].a) continue;
      if (loading >= 0) hazard(&s, "cycle %lld: two tiles load at once", (long long)c);
      else loading = gid;
    }
    int swapping = 0;
    while (next_swap < total && tt[by_swap[next_swap]].swap < c + 1) next_swap++;
    if (next_swap < total && tt[by_swap[next_swap]].swap == c + 1) {
      swapping = 1;
      if (next_swap + 1 < total && tt[by_swap[next_swap + 1]].swap == c + 1)
        hazard(&s, "cycle %lld: two swaps at once", (long long)c);
    }
    /* ---- the cells ---- */
    for (int64_t i = 0; i < A; i++)
      for (int64_t j = 0; j < B; j++) {
        size_t cell = (size_t)(i * B + j);
        int64_t xt = s.xtag[cell];
        int64_t ptag = i == 0 ? -1 : s.ptag[cell];
        int32_t pvec = i == 0 ? 0 : s.pvec[cell];
        int64_t sum = i == 0 ? 0 : s.psum[cell];
        if (xt >= 0) {
          int64_t k = xt % s.ntiles;
          if (loading >= 0 && !resident && cfg->load == SA_LOAD_SINGLE)
            hazard(&s, "cycle %lld: cell (%lld, %lld) multiplies while the array loads weights", (long long)c,
                   (long long)i, (long long)j);
          if (i == 0) {
            ptag = xt;
            pvec = s.xvec[cell];
          } else if (ptag != xt || pvec != s.xvec[cell]) {
            hazard(&s, "cycle %lld: cell (%lld, %lld) meets a partial sum of another tile or vector", (long long)c,
                   (long long)i, (long long)j);
            ptag = xt;
            pvec = s.xvec[cell];
          }
          int8_t lev;
          uint8_t sel;
          if (resident) {
            /* the cell's weight memory holds every tile; the tag picks the entry */
            const SaTile *tile = &p->tiles[k];
            const SaProduct *pr = &p->products[tile->product];
            int64_t r = (int64_t)tile->col_block * B + j, g = (int64_t)tile->row_block * A + i;
            lev = j < tile->b ? pr->level[r * pr->ngroups + g] : 0;
            sel = j < tile->b ? pr->sel[r * pr->ngroups + g] : LX_SEL_EMPTY;
          } else {
            if (s.wtag[cell] != xt * A + i)
              hazard(&s, "cycle %lld: cell (%lld, %lld) holds weight row %lld of tile %lld, not row %lld of tile %lld",
                     (long long)c, (long long)i, (long long)j, (long long)(s.wtag[cell] < 0 ? -1 : s.wtag[cell] % A),
                     (long long)(s.wtag[cell] < 0 ? -1 : s.wtag[cell] / A), (long long)i, (long long)xt);
            lev = s.wlev[cell];
            sel = s.wsel[cell];
          }
          if (sel != LX_SEL_EMPTY) {
            if (sel >= al) hazard(&s, "cycle %lld: cell (%lld, %lld) selects input %d of %lld", (long long)c,
                                  (long long)i, (long long)j, sel, (long long)al);
            else {
              sum = sa_saturate(sum + (int64_t)lev * s.xval[cell * (size_t)al + sel], cfg->accbits, &res->saturations);
              if (lev) res->macs++;
            }
          }
        }
        /* the partial sum moves down (or leaves the array) */
        if (i + 1 < A) {
          size_t below = cell + (size_t)B;
          s.ptag2[below] = ptag;
          s.pvec2[below] = pvec;
          s.psum2[below] = sum;
        } else if (ptag >= 0) {
          int64_t k = ptag % s.ntiles, t = ptag / s.ntiles;
          const SaTile *tile = &p->tiles[k];
          if (j < tile->b) {
            const SaProduct *pr = &p->products[tile->product];
            size_t job = (size_t)(t * p->nproducts + tile->product);
            int64_t *acc = &s.jobs[job].acc[(int64_t)pvec * pr->rows + (int64_t)tile->col_block * B + j];
            *acc = sa_saturate(*acc + sum, cfg->accbits, &res->saturations);
            s.last_write[job] = c;
            drained++;
            lastw = c;
            if (--s.pending[job] == 0 && on_done) on_done(ctx, t, tile->product);
          }
        }
        /* the input moves right, as far as the tile has columns (the cells past them take no part) */
        if (j + 1 < B) {
          size_t right = cell + 1;
          s.xtag2[right] = xt >= 0 && j + 1 < p->tiles[xt % s.ntiles].b ? xt : -1;
          s.xvec2[right] = s.xvec[cell];
          memcpy(s.xval2 + right * (size_t)al, s.xval + cell * (size_t)al, (size_t)al * sizeof(int16_t));
        }
      }
    /* ---- the clock edge ---- */
    for (int64_t i = 0; i < A; i++) {
      size_t row = (size_t)(i * B);
      s.xtag2[row] = -1; /* the feeders fill column 0 at the start of the next cycle */
    }
    for (int64_t j = 0; j < B; j++) s.ptag2[j] = -1;
    int64_t *t1 = s.xtag;
    s.xtag = s.xtag2;
    s.xtag2 = t1;
    int32_t *t2 = s.xvec;
    s.xvec = s.xvec2;
    s.xvec2 = t2;
    int16_t *t3 = s.xval;
    s.xval = s.xval2;
    s.xval2 = t3;
    t1 = s.ptag;
    s.ptag = s.ptag2;
    s.ptag2 = t1;
    t2 = s.pvec;
    s.pvec = s.pvec2;
    s.pvec2 = t2;
    t1 = s.psum;
    s.psum = s.psum2;
    s.psum2 = t1;
    /* the swap reads the shadows before this edge's shift */
    if (swapping) {
      memcpy(s.wtag, s.stag, cells * sizeof(int64_t));
      memcpy(s.wlev, s.slev, cells);
      memcpy(s.wsel, s.ssel, cells);
    }
    if (loading >= 0 && !resident) {
      int single = cfg->load == SA_LOAD_SINGLE;
      int64_t *tag = single ? s.wtag : s.stag;
      int8_t *lev = single ? s.wlev : s.slev;
      uint8_t *sel = single ? s.wsel : s.ssel;
      if (swapping && single) LX_BUG("a swap under single buffering");
      memmove(tag + B, tag, (size_t)((A - 1) * B) * sizeof(int64_t));
      memmove(lev + B, lev, (size_t)((A - 1) * B));
      memmove(sel + B, sel, (size_t)((A - 1) * B));
      int64_t k = loading % s.ntiles;
      load_row(&s, loading, k, p->tiles[k].a - 1 - (c - tt[loading].load), tag, lev, sel);
    }
  }
  if (drained < expect)
    hazard(&s, "the schedule ended with %lld of %lld accumulator writes missing", (long long)(expect - drained),
           (long long)expect);
  res->cycles = lastw + 1;
  for (int64_t t = 0; t < s.ntok; t++)
    for (int i = 0; i < p->nproducts; i++) res->done[t * p->nproducts + i] = product_done(&s, t, i);
  lx_free(feeding_row);
  lx_free(by_start);
  lx_free(by_load);
  lx_free(by_swap);
  lx_free(keys);
  sim_free(&s);
  return 0;
}
