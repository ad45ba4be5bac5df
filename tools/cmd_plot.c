/* `lstmc plot` (lstmc_plot): the curves of a training log as a PNG or an SVG. */
#include "tools/cli.h"

const OptSpec plot_opts[] = {{"o", 1, "output image: .png or .svg"},
                             {"title", 1, "title (default: the log's file name)"},
                             {0}};

int cmd_plot(Args *a) {
  int rc;
  if ((rc = require(a, "o"))) return rc;
  int st = lstmc_plot(a->pos[0], arg_str(a, "o"), arg_str(a, "title"));
  return st ? fail(st) : 0;
}
