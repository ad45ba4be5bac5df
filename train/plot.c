/* Training curves as SVG or PNG (see plot.h). The layout (ranges, "nice" ticks, where every line and label
 * goes) is computed once and drawn through a Canvas whose two backends either append SVG elements or
 * rasterize: lines by their distance field (antialiased, any width), text from a 5×7 font scaled 2×. */
#include "support/text.h"
#include "train/plot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef LSTMC_HAVE_PNG
#include <png.h>
#endif

#include "frontend/spec.h"
#include "support/alloc.h"
#include "support/err.h"
#include "support/strbuf.h"

/* ---- the log ------------------------------------------------------------------------------------- */

typedef struct Series {
  double *epoch, *train, *valid;
  int n;
} Series;

static void series_free(Series *s) {
  lx_free(s->epoch);
  lx_free(s->train);
  lx_free(s->valid);
}

/* Splits line at commas in place; returns the number of fields (at most max). */
static int split_csv(char *line, char **fields, int max) {
  int n = 0;
  char *p = line;
  while (n < max) {
    fields[n++] = p;
    char *c = strchr(p, ',');
    if (!c) break;
    *c = 0;
    p = c + 1;
  }
  return n;
}

static int read_log(const char *path, Series *s) {
  memset(s, 0, sizeof *s);
  char *text;
  size_t len;
  int st = read_file(path, &text, &len); /* its message names the file */
  if (st) return st;
  int cap = 16, col_e = -1, col_t = -1, col_v = -1, lineno = 0;
  s->epoch = lx_malloc((size_t)cap * sizeof(double));
  s->train = lx_malloc((size_t)cap * sizeof(double));
  s->valid = lx_malloc((size_t)cap * sizeof(double));
  if (!s->epoch || !s->train || !s->valid) {
    st = lx_nomem("reading the log");
    goto done;
  }
  char *save = NULL;
  for (char *line = strtok_r(text, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
    lineno++;
    char *f[32];
    int nf = split_csv(line, f, 32);
    if (lineno == 1) {
      for (int i = 0; i < nf; i++) {
        if (!strcmp(f[i], "epoch")) col_e = i;
        if (!strcmp(f[i], "train_bpc")) col_t = i;
        if (!strcmp(f[i], "valid_bpc")) col_v = i;
      }
      if (col_e < 0 || col_t < 0 || col_v < 0) {
        st = lx_fail(LSTMC_ERR_FORMAT, "%s:1: not a training log: the header needs the columns epoch, train_bpc and valid_bpc", path);
        goto done;
      }
      continue;
    }
    if (nf <= col_e || nf <= col_t || nf <= col_v) {
      st = lx_fail(LSTMC_ERR_FORMAT, "%s:%d: %d fields, fewer than the header's", path, lineno, nf);
      goto done;
    }
    if (s->n == cap) {
      cap *= 2;
      double *a = lx_realloc(s->epoch, (size_t)cap * sizeof(double));
      if (a) s->epoch = a;
      double *b = lx_realloc(s->train, (size_t)cap * sizeof(double));
      if (b) s->train = b;
      double *c = lx_realloc(s->valid, (size_t)cap * sizeof(double));
      if (c) s->valid = c;
      if (!a || !b || !c) {
        st = lx_nomem("reading the log");
        goto done;
      }
    }
    double v[3];
    int cols[3] = {col_e, col_t, col_v};
    for (int k = 0; k < 3; k++) {
      char *end;
      errno = 0;
      v[k] = strtod(f[cols[k]], &end);
      if (end == f[cols[k]] || *end) {
        st = lx_fail(LSTMC_ERR_FORMAT, "%s:%d: '%s' is not a number", path, lineno, f[cols[k]]);
        goto done;
      }
    }
    s->epoch[s->n] = v[0];
    s->train[s->n] = v[1];
    s->valid[s->n] = v[2];
    s->n++;
  }
  if (s->n == 0) st = lx_fail(LSTMC_ERR_FORMAT, "%s: the log has no epochs yet", path);
done:
  lx_free(text);
  if (st) series_free(s);
  return st;
}

/* ---- canvas ---------------------------------------------------------------------------------------- */

typedef struct Rgb {
  unsigned char r, g, b;
} Rgb;

typedef struct Canvas {
  int w, h;
  int svg;
  StrBuf sb;            /* SVG */
  unsigned char *px;    /* PNG: w·h·3 */
} Canvas;

/* The classic 5×7 font (columns, bit 0 at the top; bit 7 is a descender row), ASCII 32..126. */
static const unsigned char font5x7[95][5] = {
    {0x00, 0x00, 0x00, 0x00, 0x00}, {0x00, 0x00, 0x5F, 0x00, 0x00}, {0x00, 0x07, 0x00, 0x07, 0x00},
    {0x14, 0x7F, 0x14, 0x7F, 0x14}, {0x24, 0x2A, 0x7F, 0x2A, 0x12}, {0x23, 0x13, 0x08, 0x64, 0x62},
    {0x36, 0x49, 0x56, 0x20, 0x50}, {0x00, 0x08, 0x07, 0x03, 0x00}, {0x00, 0x1C, 0x22, 0x41, 0x00},
    {0x00, 0x41, 0x22, 0x1C, 0x00}, {0x2A, 0x1C, 0x7F, 0x1C, 0x2A}, {0x08, 0x08, 0x3E, 0x08, 0x08},
    {0x00, 0x80, 0x70, 0x30, 0x00}, {0x08, 0x08, 0x08, 0x08, 0x08}, {0x00, 0x00, 0x60, 0x60, 0x00},
    {0x20, 0x10, 0x08, 0x04, 0x02}, {0x3E, 0x51, 0x49, 0x45, 0x3E}, {0x00, 0x42, 0x7F, 0x40, 0x00},
    {0x72, 0x49, 0x49, 0x49, 0x46}, {0x21, 0x41, 0x49, 0x4D, 0x33}, {0x18, 0x14, 0x12, 0x7F, 0x10},
    {0x27, 0x45, 0x45, 0x45, 0x39}, {0x3C, 0x4A, 0x49, 0x49, 0x31}, {0x41, 0x21, 0x11, 0x09, 0x07},
    {0x36, 0x49, 0x49, 0x49, 0x36}, {0x46, 0x49, 0x49, 0x29, 0x1E}, {0x00, 0x00, 0x14, 0x00, 0x00},
    {0x00, 0x40, 0x34, 0x00, 0x00}, {0x00, 0x08, 0x14, 0x22, 0x41}, {0x14, 0x14, 0x14, 0x14, 0x14},
    {0x00, 0x41, 0x22, 0x14, 0x08}, {0x02, 0x01, 0x59, 0x09, 0x06}, {0x3E, 0x41, 0x5D, 0x59, 0x4E},
    {0x7C, 0x12, 0x11, 0x12, 0x7C}, {0x7F, 0x49, 0x49, 0x49, 0x36}, {0x3E, 0x41, 0x41, 0x41, 0x22},
    {0x7F, 0x41, 0x41, 0x41, 0x3E}, {0x7F, 0x49, 0x49, 0x49, 0x41}, {0x7F, 0x09, 0x09, 0x09, 0x01},
    {0x3E, 0x41, 0x41, 0x51, 0x73}, {0x7F, 0x08, 0x08, 0x08, 0x7F}, {0x00, 0x41, 0x7F, 0x41, 0x00},
    {0x20, 0x40, 0x41, 0x3F, 0x01}, {0x7F, 0x08, 0x14, 0x22, 0x41}, {0x7F, 0x40, 0x40, 0x40, 0x40},
    {0x7F, 0x02, 0x1C, 0x02, 0x7F}, {0x7F, 0x04, 0x08, 0x10, 0x7F}, {0x3E, 0x41, 0x41, 0x41, 0x3E},
    {0x7F, 0x09, 0x09, 0x09, 0x06}, {0x3E, 0x41, 0x51, 0x21, 0x5E}, {0x7F, 0x09, 0x19, 0x29, 0x46},
    {0x26, 0x49, 0x49, 0x49, 0x32}, {0x03, 0x01, 0x7F, 0x01, 0x03}, {0x3F, 0x40, 0x40, 0x40, 0x3F},
    {0x1F, 0x20, 0x40, 0x20, 0x1F}, {0x3F, 0x40, 0x38, 0x40, 0x3F}, {0x63, 0x14, 0x08, 0x14, 0x63},
    {0x03, 0x04, 0x78, 0x04, 0x03}, {0x61, 0x59, 0x49, 0x4D, 0x43}, {0x00, 0x7F, 0x41, 0x41, 0x41},
    {0x02, 0x04, 0x08, 0x10, 0x20}, {0x00, 0x41, 0x41, 0x41, 0x7F}, {0x04, 0x02, 0x01, 0x02, 0x04},
    {0x40, 0x40, 0x40, 0x40, 0x40}, {0x00, 0x03, 0x07, 0x08, 0x00}, {0x20, 0x54, 0x54, 0x78, 0x40},
    {0x7F, 0x28, 0x44, 0x44, 0x38}, {0x38, 0x44, 0x44, 0x44, 0x28}, {0x38, 0x44, 0x44, 0x28, 0x7F},
    {0x38, 0x54, 0x54, 0x54, 0x18}, {0x00, 0x08, 0x7E, 0x09, 0x02}, {0x18, 0xA4, 0xA4, 0x9C, 0x78},
    {0x7F, 0x08, 0x04, 0x04, 0x78}, {0x00, 0x44, 0x7D, 0x40, 0x00}, {0x20, 0x40, 0x40, 0x3D, 0x00},
    {0x7F, 0x10, 0x28, 0x44, 0x00}, {0x00, 0x41, 0x7F, 0x40, 0x00}, {0x7C, 0x04, 0x78, 0x04, 0x78},
    {0x7C, 0x08, 0x04, 0x04, 0x78}, {0x38, 0x44, 0x44, 0x44, 0x38}, {0xFC, 0x18, 0x24, 0x24, 0x18},
    {0x18, 0x24, 0x24, 0x18, 0xFC}, {0x7C, 0x08, 0x04, 0x04, 0x08}, {0x48, 0x54, 0x54, 0x54, 0x24},
    {0x04, 0x04, 0x3F, 0x44, 0x24}, {0x3C, 0x40, 0x40, 0x20, 0x7C}, {0x1C, 0x20, 0x40, 0x20, 0x1C},
    {0x3C, 0x40, 0x30, 0x40, 0x3C}, {0x44, 0x28, 0x10, 0x28, 0x44}, {0x4C, 0x90, 0x90, 0x90, 0x7C},
    {0x44, 0x64, 0x54, 0x4C, 0x44}, {0x00, 0x08, 0x36, 0x41, 0x00}, {0x00, 0x00, 0x77, 0x00, 0x00},
    {0x00, 0x41, 0x36, 0x08, 0x00}, {0x02, 0x01, 0x02, 0x04, 0x02}};

#define FONT_SCALE 2
#define CHAR_W (6 * FONT_SCALE) /* 5 columns and one of space */
#define CHAR_H (8 * FONT_SCALE)

static void hexcolor(Rgb c, char *buf) { snprintf(buf, 8, "#%02x%02x%02x", c.r, c.g, c.b); }

static void blend(Canvas *cv, int x, int y, Rgb c, double a) {
  if (x < 0 || y < 0 || x >= cv->w || y >= cv->h || a <= 0) return;
  if (a > 1) a = 1;
  unsigned char *p = cv->px + ((size_t)y * (size_t)cv->w + (size_t)x) * 3;
  p[0] = (unsigned char)lround(p[0] + (c.r - p[0]) * a);
  p[1] = (unsigned char)lround(p[1] + (c.g - p[1]) * a);
  p[2] = (unsigned char)lround(p[2] + (c.b - p[2]) * a);
}

/* A line of the given width: each pixel is covered by how far its center lies inside the stroke. */
static void cv_line(Canvas *cv, double x0, double y0, double x1, double y1, Rgb c, double width, int dashed) {
  if (cv->svg) {
    char col[8];
    hexcolor(c, col);
    sb_printf(&cv->sb, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\" stroke-width=\"%.2f\"%s/>\n", x0, y0, x1, y1,
              col, width, dashed ? " stroke-dasharray=\"4 4\"" : "");
    return;
  }
  double half = width / 2, dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
  int xa = (int)floor(fmin(x0, x1) - half - 1), xb = (int)ceil(fmax(x0, x1) + half + 1);
  int ya = (int)floor(fmin(y0, y1) - half - 1), yb = (int)ceil(fmax(y0, y1) + half + 1);
  for (int y = ya; y <= yb; y++)
    for (int x = xa; x <= xb; x++) {
      double px = x + 0.5, py = y + 0.5;
      double u = len2 > 0 ? ((px - x0) * dx + (py - y0) * dy) / len2 : 0;
      u = u < 0 ? 0 : u > 1 ? 1 : u;
      if (dashed && fmod(u * sqrt(len2), 8.0) >= 4.0) continue;
      double qx = x0 + u * dx - px, qy = y0 + u * dy - py;
      blend(cv, x, y, c, half + 0.5 - sqrt(qx * qx + qy * qy));
    }
}

static void cv_rect(Canvas *cv, double x, double y, double w, double h, Rgb c) {
  if (cv->svg) {
    char col[8];
    hexcolor(c, col);
    sb_printf(&cv->sb, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\"/>\n", x, y, w, h, col);
    return;
  }
  for (int yy = (int)lround(y); yy < (int)lround(y + h); yy++)
    for (int xx = (int)lround(x); xx < (int)lround(x + w); xx++) blend(cv, xx, yy, c, 1);
}

/* Text with its baseline region starting at y (top of the glyph cell); anchor 0 left, 1 middle, 2 right. */
static void cv_text(Canvas *cv, double x, double y, const char *s, Rgb c, int anchor) {
  double w = (double)strlen(s) * CHAR_W - FONT_SCALE;
  if (cv->svg) {
    char col[8];
    hexcolor(c, col);
    static const char *const anchors[3] = {"start", "middle", "end"};
    sb_printf(&cv->sb, "<text x=\"%.2f\" y=\"%.2f\" fill=\"%s\" font-family=\"sans-serif\" font-size=\"13\" text-anchor=\"%s\">", x,
              y + 12, col, anchors[anchor]);
    for (const char *p = s; *p; p++) {
      if (*p == '<') sb_puts(&cv->sb, "&lt;");
      else if (*p == '&') sb_puts(&cv->sb, "&amp;");
      else sb_putc(&cv->sb, *p);
    }
    sb_puts(&cv->sb, "</text>\n");
    return;
  }
  double x0 = anchor == 0 ? x : anchor == 1 ? x - w / 2 : x - w;
  for (const char *p = s; *p; p++, x0 += CHAR_W) {
    unsigned ch = (unsigned char)*p;
    if (ch < 32 || ch > 126) ch = '?';
    for (int col = 0; col < 5; col++)
      for (int row = 0; row < 8; row++)
        if (font5x7[ch - 32][col] >> row & 1)
          for (int a = 0; a < FONT_SCALE; a++)
            for (int b = 0; b < FONT_SCALE; b++)
              blend(cv, (int)lround(x0) + col * FONT_SCALE + a, (int)lround(y) + row * FONT_SCALE + b, c, 1);
  }
}

/* ---- layout ----------------------------------------------------------------------------------------- */

/* Ticks at multiples of 1, 2 or 5 × 10^k, about `want` of them over [lo, hi]. */
static double nice_step(double lo, double hi, int want) {
  double raw = (hi - lo) / want, p = pow(10, floor(log10(raw))), m = raw / p;
  return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

static void fmt_tick(double v, double step, char *buf, size_t n) {
  int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
  snprintf(buf, n, "%.*f", dec, v);
}

static const Rgb C_BG = {255, 255, 255}, C_AXIS = {40, 40, 40}, C_GRID = {225, 225, 225}, C_TEXT = {20, 20, 20};
/* the series' colors, in order (the first two are a training log's train and valid curves) */
static const Rgb palette[] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40},  {148, 103, 189},
                              {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};
#define NPALETTE ((int)(sizeof palette / sizeof *palette))

static int usable(const PlotChart *c, double x, double y) { return isfinite(x) && isfinite(y) && (!c->logx || x > 0); }

/* Label boxes already drawn, so that a label that would cover one is left out (the CSV has every value). */
typedef struct Boxes {
  double x0[256], y0[256], x1[256], y1[256];
  int n;
} Boxes;

static int box_free(Boxes *b, double x0, double y0, double x1, double y1) {
  for (int i = 0; i < b->n; i++)
    if (x0 < b->x1[i] && b->x0[i] < x1 && y0 < b->y1[i] && b->y0[i] < y1) return 0;
  if (b->n < 256) b->x0[b->n] = x0, b->y0[b->n] = y0, b->x1[b->n] = x1, b->y1[b->n] = y1, b->n++;
  return 1;
}

static void draw(Canvas *cv, const PlotChart *c) {
  const double R = 24, T = 44, Bm = 56;
  double L = 80, pw, ph = cv->h - T - Bm;
  double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
  for (int k = 0; k < c->nseries; k++)
    for (int i = 0; i < c->series[k].n; i++) {
      double x = c->series[k].x[i], y = c->series[k].y[i];
      if (!usable(c, x, y)) continue;
      x = c->logx ? log10(x) : x;
      xlo = fmin(xlo, x), xhi = fmax(xhi, x), ylo = fmin(ylo, y), yhi = fmax(yhi, y);
    }
  if (!isfinite(ylo)) ylo = 0, yhi = 1, xlo = 0, xhi = 1;
  if (yhi - ylo < 1e-9) ylo -= 0.5, yhi += 0.5;
  double pad = (yhi - ylo) * 0.06;
  ylo -= pad, yhi += pad;
  if (xhi - xlo < 1e-9) xlo -= 0.5, xhi += 0.5;
  if (c->logx) {
    double xpad = (xhi - xlo) * 0.04;
    xlo -= xpad, xhi += xpad;
  }
  double ystep = nice_step(ylo, yhi, 6), xstep = nice_step(xlo, xhi, 8);
  if (c->integer_x && xstep < 1) xstep = 1;
  char buf[64];
  /* room on the left for the longest y tick label */
  for (double y = ceil(ylo / ystep) * ystep; y <= yhi + 1e-12; y += ystep) {
    fmt_tick(y, ystep, buf, sizeof buf);
    L = fmax(L, (double)strlen(buf) * CHAR_W + 20);
  }
  pw = cv->w - L - R;
#define PX(x) (L + ((x) - xlo) / (xhi - xlo) * pw)
#define PY(y) (T + ph - ((y) - ylo) / (yhi - ylo) * ph)
  cv_rect(cv, 0, 0, cv->w, cv->h, C_BG);
  for (double y = ceil(ylo / ystep) * ystep; y <= yhi + 1e-12; y += ystep) {
    cv_line(cv, L, PY(y), L + pw, PY(y), C_GRID, 1, 0);
    fmt_tick(y, ystep, buf, sizeof buf);
    cv_text(cv, L - 8, PY(y) - CHAR_H / 2.0 + 2, buf, C_TEXT, 2);
  }
  if (c->logx && xhi - xlo < 1) {
    /* less than a decade: "nice" values, placed on the logarithmic axis, each label clear of the last */
    double vlo = pow(10, xlo), vhi = pow(10, xhi), step = nice_step(vlo, vhi, 6), last_end = -INFINITY;
    for (double v = ceil(vlo / step) * step; v <= vhi; v += step) {
      snprintf(buf, sizeof buf, "%g", v);
      double half = (double)strlen(buf) * CHAR_W / 2;
      if (PX(log10(v)) - half < last_end + CHAR_W) continue;
      last_end = PX(log10(v)) + half;
      cv_line(cv, PX(log10(v)), T, PX(log10(v)), T + ph, C_GRID, 1, 0);
      cv_text(cv, PX(log10(v)), T + ph + 8, buf, C_TEXT, 1);
    }
  } else if (c->logx) {
    /* ticks at 1, 2 and 5 times the powers of ten, the 2 and 5 dropped when they would crowd */
    int dense = xhi - xlo < 3;
    for (double e = floor(xlo); e <= ceil(xhi); e++)
      for (int m = 0; m < 3; m++) {
        static const double mant[3] = {1, 2, 5};
        if (m && !dense) continue;
        double v = mant[m] * pow(10, e), x = log10(v);
        if (x < xlo || x > xhi) continue;
        cv_line(cv, PX(x), T, PX(x), T + ph, C_GRID, 1, 0);
        snprintf(buf, sizeof buf, "%g", v);
        cv_text(cv, PX(x), T + ph + 8, buf, C_TEXT, 1);
      }
  } else {
    for (double x = ceil(xlo / xstep) * xstep; x <= xhi + 1e-12; x += xstep) {
      cv_line(cv, PX(x), T, PX(x), T + ph, C_GRID, 1, 0);
      fmt_tick(x, xstep, buf, sizeof buf);
      cv_text(cv, PX(x), T + ph + 8, buf, C_TEXT, 1);
    }
  }
  cv_line(cv, L, T + ph, L + pw, T + ph, C_AXIS, 1.5, 0);
  cv_line(cv, L, T, L, T + ph, C_AXIS, 1.5, 0);
  cv_text(cv, L + pw / 2, cv->h - 24, c->xlabel ? c->xlabel : "", C_TEXT, 1);
  /* the title on top, the y axis's label below it at the left: a long title does not run into it */
  cv_text(cv, 8, T - 20, c->ylabel ? c->ylabel : "", C_TEXT, 0);
  cv_text(cv, L + pw / 2, 4, c->title ? c->title : "", C_TEXT, 1);
  size_t longest = 5;
  Boxes boxes;
  boxes.n = 0;
  for (int k = 0; k < c->nseries; k++) {
    const PlotSeries *s = &c->series[k];
    Rgb col = palette[k % NPALETTE];
    int prev = -1;
    if (s->name && strlen(s->name) > longest) longest = strlen(s->name);
    for (int i = 0; i < s->n; i++) {
      if (!usable(c, s->x[i], s->y[i])) continue;
      double x = PX(c->logx ? log10(s->x[i]) : s->x[i]), y = PY(s->y[i]);
      if (s->lines && prev >= 0)
        cv_line(cv, PX(c->logx ? log10(s->x[prev]) : s->x[prev]), PY(s->y[prev]), x, y, col, 2.2, 0);
      cv_rect(cv, x - 3, y - 3, 6, 6, col);
      if (s->labels && s->labels[i]) {
        /* beside the point, on its left when it would leave the plot */
        double w = (double)strlen(s->labels[i]) * CHAR_W;
        int left = x + 6 + w > L + pw;
        double bx = left ? x - 6 - w : x + 6, by = y - CHAR_H - 2;
        if (box_free(&boxes, bx, by, bx + w, by + CHAR_H)) cv_text(cv, left ? x - 6 : x + 6, by, s->labels[i], col, left ? 2 : 0);
      }
      prev = i;
    }
  }
  /* legend, top right inside the plot */
  double lw = fmax(120, 44 + (double)longest * CHAR_W);
  for (int k = 0; k < c->nseries; k++) {
    double ly = T + 12 + k * 22, lx = L + pw - lw;
    Rgb col = palette[k % NPALETTE];
    cv_line(cv, lx, ly + 7, lx + 26, ly + 7, col, 2.2, 0);
    cv_text(cv, lx + 34, ly, c->series[k].name ? c->series[k].name : "", C_TEXT, 0);
  }
#undef PX
#undef PY
}

/* ---- output ----------------------------------------------------------------------------------------- */

static int write_svg(Canvas *cv, const char *path) {
  FILE *f = fopen(path, "wb");
  if (!f) return lx_fail(LSTMC_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
  fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n", cv->w, cv->h, cv->w, cv->h);
  fputs(sb_cstr(&cv->sb), f);
  fputs("</svg>\n", f);
  if (fclose(f)) return lx_fail(LSTMC_ERR_IO, "cannot write '%s'", path);
  return 0;
}

#ifdef LSTMC_HAVE_PNG
static int write_png(const Canvas *cv, const char *path) {
  FILE *f = fopen(path, "wb");
  if (!f) return lx_fail(LSTMC_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  if (!png || !info) {
    png_destroy_write_struct(&png, &info);
    fclose(f);
    return lx_nomem("writing a PNG");
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    fclose(f);
    return lx_fail(LSTMC_ERR_IO, "cannot write '%s' (libpng failed)", path);
  }
  png_init_io(png, f);
  png_set_IHDR(png, info, (png_uint_32)cv->w, (png_uint_32)cv->h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < cv->h; y++) png_write_row(png, cv->px + (size_t)y * (size_t)cv->w * 3);
  png_write_end(png, NULL);
  png_destroy_write_struct(&png, &info);
  if (fclose(f)) return lx_fail(LSTMC_ERR_IO, "cannot write '%s'", path);
  return 0;
}
#endif

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && !strcasecmp(s + n - m, suffix);
}

int plot_chart(const PlotChart *c, const char *out_path) {
  int svg = ends_with(out_path, ".svg");
  if (!svg && !ends_with(out_path, ".png"))
    return lx_fail(LSTMC_ERR_USAGE, "plot: '%s': the output must end in .png or .svg", out_path);
#ifndef LSTMC_HAVE_PNG
  if (!svg) return lx_fail(LSTMC_ERR_UNSUPPORTED, "plot: this lstmc was built without libpng; write an .svg instead");
#endif
  Canvas cv = {800, 500, svg, {0}, NULL};
  sb_init(&cv.sb);
  if (!svg && !(cv.px = lx_malloc((size_t)cv.w * (size_t)cv.h * 3))) return lx_nomem("drawing the plot");
  draw(&cv, c);
  int st = 0;
  if (svg) st = cv.sb.failed ? lx_nomem("drawing the plot") : write_svg(&cv, out_path);
#ifdef LSTMC_HAVE_PNG
  else st = write_png(&cv, out_path);
#endif
  sb_free(&cv.sb);
  lx_free(cv.px);
  return st;
}

int plot_log(const char *log_path, const char *out_path, const char *title) {
  if (!ends_with(out_path, ".svg") && !ends_with(out_path, ".png"))
    return lx_fail(LSTMC_ERR_USAGE, "plot: '%s': the output must end in .png or .svg", out_path);
  Series s;
  int st = read_log(log_path, &s);
  if (st) return st;
  const char *base = strrchr(log_path, '/');
  PlotSeries curves[2] = {{"train", s.epoch, s.train, NULL, s.n, 1}, {"valid", s.epoch, s.valid, NULL, s.n, 1}};
  PlotChart chart = {title ? title : base ? base + 1 : log_path, "epoch", "bits per character", 0, 1, curves, 2};
  st = plot_chart(&chart, out_path);
  series_free(&s);
  return st;
}
