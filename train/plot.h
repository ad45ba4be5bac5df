/* `lstmc plot`: draws the curves of a training log (the CSV `lstmc train --log` writes) — training and
 * validation bits per character against the epoch, with axes, ticks, a legend and a title — as an SVG
 * (plain text) or a PNG (rasterized here, antialiased, with a built-in 5×7 bitmap font; written with
 * libpng when the build found it). One drawing routine feeds both through a two-backend canvas. */
#ifndef LSTMC_TRAIN_PLOT_H
#define LSTMC_TRAIN_PLOT_H

/* Reads the CSV at log_path and writes out_path (.png or .svg). title NULL: the log's file name.
 * Returns 0, or LSTMC_ERR_IO / LSTMC_ERR_FORMAT / LSTMC_ERR_USAGE / LSTMC_ERR_UNSUPPORTED (no libpng). */
int plot_log(const char *log_path, const char *out_path, const char *title);

#endif
