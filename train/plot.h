/* Charts as SVG (plain text) or PNG (rasterized here, antialiased, with a built-in 5×7 bitmap font; written
 * with libpng when the build found it): plot_chart draws any series of points with axes, ticks, a legend and
 * a title, through one drawing routine and a two-backend canvas. `lstmc plot` uses it for the curves of a
 * training log (the CSV `lstmc train --log` writes), the systolic sweep for BPC against cycles per token. */
#ifndef LSTMC_TRAIN_PLOT_H
#define LSTMC_TRAIN_PLOT_H

/* A chart: series of points, with lines between them or markers only, on a linear or logarithmic x axis. */
typedef struct PlotSeries {
  const char *name;          /* the legend entry */
  const double *x, *y;       /* n points; a non-finite one (or x ≤ 0 on a logarithmic axis) is skipped */
  const char *const *labels; /* NULL, or a short text beside each point (NULL entries: none) */
  int n;
  int lines;                 /* 1: connect the points in order; 0: markers only */
} PlotSeries;

typedef struct PlotChart {
  const char *title, *xlabel, *ylabel;
  int logx;                  /* logarithmic x axis */
  int integer_x;             /* x ticks at whole numbers at least one apart (epochs) */
  const PlotSeries *series;
  int nseries;
} PlotChart;

/* Draws the chart into out_path (.png or .svg). Returns 0, or LSTMC_ERR_USAGE (another extension),
 * LSTMC_ERR_IO, LSTMC_ERR_UNSUPPORTED (a PNG without libpng) or LSTMC_ERR_NOMEM. */
int plot_chart(const PlotChart *c, const char *out_path);

/* Reads the CSV at log_path and writes out_path (.png or .svg). title NULL: the log's file name.
 * Returns 0, or LSTMC_ERR_IO / LSTMC_ERR_FORMAT / LSTMC_ERR_USAGE / LSTMC_ERR_UNSUPPORTED (no libpng). */
int plot_log(const char *log_path, const char *out_path, const char *title);

#endif
