/* The `key=value` attributes of a weight's line in the IR text (ir/text.h): one table, in printing order,
 * used by the printer (ir/print.c) and the reader (frontend/ir_read.c). */
#include <math.h>
#include <string.h>

#include "ir/text.h"

static int always(const Tensor *t) { return t != NULL; }
static int grouped(const Tensor *t) { return tensor_has_groups(t); }
static int has_cc_params(const Tensor *t) { return tensor_has_groups(t) && (t->alpha || t->gamma != 0 || t->block); }

static void format_int(double v, StrBuf *o) { sb_printf(o, "%lld", (long long)v); }
static void format_ratio(double v, StrBuf *o) { sb_printf(o, "%.4f", v); }

static double get_nnz(const Tensor *t) { return (double)tensor_nnz(t); }

static int64_t weights_of(const Tensor *t) { return t->rows * t->cols; }
static int shown_density(const Tensor *t) {
  int64_t total = weights_of(t);
  return total > 0 && tensor_nnz(t) != total;
}
static double get_density(const Tensor *t) { return (double)tensor_nnz(t) / (double)weights_of(t); }

static double get_groups(const Tensor *t) { return (double)t->ngroups; }

static double get_alpha(const Tensor *t) { return t->alpha; }
static const char *set_alpha(Tensor *t, double v) {
  if (!tensor_has_groups(t)) return "alpha is a parameter of column groups, and this tensor has none";
  if (!(v >= 0 && v <= LX_MAX_ALPHA)) return "alpha must be an integer in [0, 64] (0: unknown)";
  t->alpha = (int)v;
  return NULL;
}

static double get_gamma(const Tensor *t) { return t->gamma; }
static void format_gamma(double v, StrBuf *o) { sb_double_exact(o, v); }
static const char *set_gamma(Tensor *t, double v) {
  if (!tensor_has_groups(t)) return "gamma is a parameter of column groups, and this tensor has none";
  if (!(v >= 0 && v <= 64)) return "gamma must be a number in [0, 64]";
  t->gamma = v;
  return NULL;
}

static double get_block(const Tensor *t) { return t->block; }
static const char *set_block(Tensor *t, double v) {
  if (!tensor_has_groups(t)) return "block is a parameter of column groups, and this tensor has none";
  if (!(v >= 0 && v <= 1073741824.0)) return "block must be an integer in [0, 1073741824] (0: unknown)";
  t->block = (int)v;
  return NULL;
}

static int shown_conflicts(const Tensor *t) { return tensor_has_groups(t) && t->layout != LX_LAYOUT_PACKED; }
static double get_conflicts(const Tensor *t) { return (double)tensor_conflicts(t); }

/* packed: how full the slots are */
static int shown_utilization(const Tensor *t) { return t->layout == LX_LAYOUT_PACKED && t->ngroups > 0 && t->rows > 0; }
static double get_utilization(const Tensor *t) { return (double)tensor_nnz(t) / ((double)t->rows * (double)t->ngroups); }

static double get_bytes(const Tensor *t) { return (double)tensor_bytes(t); }

const TensorAttr tensor_attrs[] = {
    {"nnz", 1, 1, always, get_nnz, format_int, NULL},
    {"density", 1, 0, shown_density, get_density, format_ratio, NULL},
    {"groups", 1, 1, grouped, get_groups, format_int, NULL},
    {"alpha", 0, 1, has_cc_params, get_alpha, format_int, set_alpha},
    {"gamma", 0, 0, has_cc_params, get_gamma, format_gamma, set_gamma},
    {"block", 0, 1, has_cc_params, get_block, format_int, set_block},
    /* grouped but not packed: what conflict-prune will drop */
    {"conflicts", 1, 1, shown_conflicts, get_conflicts, format_int, NULL},
    {"utilization", 1, 0, shown_utilization, get_utilization, format_ratio, NULL},
    {"bytes", 1, 1, always, get_bytes, format_int, NULL},
};
const int ntensor_attrs = (int)(sizeof tensor_attrs / sizeof *tensor_attrs);

const TensorAttr *tensor_attr_find(const char *key) {
  for (int i = 0; i < ntensor_attrs; i++)
    if (!strcmp(tensor_attrs[i].key, key)) return &tensor_attrs[i];
  return NULL;
}
