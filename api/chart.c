/* lstmc_chart_write (include/lstmc.h): the public face of train/plot.c's chart drawing. */
#include "lstmc.h"
#include "support/alloc.h"
#include "support/err.h"
#include "train/plot.h"

int lstmc_chart_write(const lstmc_chart *c, const char *path) {
  PlotSeries *s = lx_calloc((size_t)c->nseries + 1, sizeof *s);
  if (!s) return lx_nomem("drawing a chart");
  for (int k = 0; k < c->nseries; k++) {
    const lstmc_chart_series *in = &c->series[k];
    s[k] = (PlotSeries){in->name, in->x, in->y, in->labels, in->n, in->lines};
  }
  PlotChart chart = {c->title, c->xlabel, c->ylabel, c->logx, 0, s, c->nseries};
  int st = plot_chart(&chart, path);
  lx_free(s);
  return st;
}
