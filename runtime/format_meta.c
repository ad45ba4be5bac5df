/* The format-metadata codec (see format_meta.h): one writer and one reader of the entries that describe a
 * weight tensor's format, shared by weights files and checkpoints. */
#include "runtime/format_meta.h"

#include <string.h>

#include "runtime/safetensors.h"
#include "support/err.h"

void format_meta_write(StrBuf *sb, const Tensor *t) {
  sb_printf(sb, "{\"format\": \"%s\"", format_name(t->layout, t->enc));
  if (tensor_has_groups(t))
    sb_printf(sb, ", \"groups\": %lld, \"group_cols\": %d, \"alpha\": %d, \"gamma\": %.17g, \"block\": %d",
              (long long)t->ngroups, t->group_off[t->ngroups], t->alpha, t->gamma, t->block);
  sb_putc(sb, '}');
}

void format_meta_map_add(StrBuf *sb, int *n, const char *name, const Tensor *t) {
  sb_puts(sb, (*n)++ ? ", " : "{");
  sb_json_string(sb, name, strlen(name));
  sb_puts(sb, ": ");
  format_meta_write(sb, t);
}

void format_meta_map_end(StrBuf *sb, int n) { sb_puts(sb, n ? "}" : "{}"); }

int format_meta_parse_map(const StFile *f, Json **out) {
  *out = NULL;
  size_t len;
  const char *text = st_meta_get(f, "lstmc.formats", &len);
  if (!text) return 0;
  char err[160];
  int jr = json_parse(text, len, out, err, sizeof err);
  if (jr == JSON_ERR_NOMEM) return lx_nomem("loading weights");
  if (jr || (*out)->type != JSON_OBJECT) {
    json_free(*out);
    *out = NULL;
    return lx_fail(LSTMC_ERR_FORMAT, "%s: metadata 'lstmc.formats' must be a JSON object%s%s", f->path, jr ? ": " : "",
                   jr ? err : "");
  }
  return 0;
}

/* The integer member `field` of an entry, in [lo, hi]: 0 and *out set; 1 when absent; or an error. */
static int int_field(const Json *entry, const char *path, const char *key, const char *field, int64_t lo, int64_t hi,
                     int64_t *out) {
  const Json *v = json_get(entry, field);
  if (!v) return 1;
  if (json_as_i64(v, out) || *out < lo || *out > hi)
    return lx_fail(LSTMC_ERR_FORMAT, "%s: lstmc.formats: '%s'.%s must be an integer in [%lld, %lld]", path, key, field,
                   (long long)lo, (long long)hi);
  return 0;
}

/* The column groups an entry declares: *grouped, and their count and columns (G, K). */
static int read_groups(const Json *entry, const char *path, const char *key, int layout, int64_t cols, int flags,
                       int *grouped, int64_t *G, int64_t *K) {
  const Json *gj = json_get(entry, "groups");
  int64_t legacy;
  if ((flags & FORMAT_META_LEGACY_CHECKPOINT) && gj && !json_as_i64(gj, &legacy) && legacy == -1) gj = NULL;
  /* packed tensors always have groups; dense and masked ones may ("grouped, not yet packed") */
  *grouped = layout == LX_LAYOUT_PACKED || gj;
  *G = *K = 0;
  if (!*grouped) return 0;
  int st;
  if ((st = int_field(entry, path, key, "groups", 0, cols, G)) || (st = int_field(entry, path, key, "group_cols", 0, cols, K))) {
    if (st == 1) return lx_fail(LSTMC_ERR_FORMAT, "%s: lstmc.formats: '%s' needs \"groups\" and \"group_cols\"", path, key);
    return st;
  }
  return 0;
}

int format_meta_read(const Json *entry, const char *path, const char *key, const WeightSlot *s, int flags, Tensor **out) {
  *out = NULL;
  if (entry->type != JSON_OBJECT) return lx_fail(LSTMC_ERR_FORMAT, "%s: lstmc.formats: '%s' must be an object", path, key);
  const Json *fj = json_get(entry, "format");
  int layout, enc;
  if (!fj || fj->type != JSON_STRING || format_parse(fj->text, &layout, &enc))
    return lx_fail(LSTMC_ERR_FORMAT, "%s: lstmc.formats: '%s' has no valid \"format\"", path, key);
  if (s->ndim != 2) return lx_fail(LSTMC_ERR_FORMAT, "%s: '%s' is a bias and must be dense, not %s", path, key, fj->text);
  int grouped, st;
  int64_t G, K, alpha = 0, block = 0;
  if ((st = read_groups(entry, path, key, layout, s->cols, flags, &grouped, &G, &K))) return st;
  if (grouped && (int_field(entry, path, key, "alpha", 0, LX_MAX_ALPHA, &alpha) > 1 ||
                  int_field(entry, path, key, "block", 0, 1 << 30, &block) > 1))
    return LSTMC_ERR_FORMAT;
  int packed = layout == LX_LAYOUT_PACKED;
  Tensor *t = tensor_new(s->name, 2, s->rows, s->cols, layout, enc, packed ? G : 0, packed ? K : 0);
  if (!t) return LSTMC_ERR_NOMEM;
  if (grouped && !packed && tensor_alloc_groups(t, G, K)) {
    tensor_free(t);
    return LSTMC_ERR_NOMEM;
  }
  if (grouped) {
    const Json *gamma = json_get(entry, "gamma");
    t->alpha = (int)alpha;
    t->block = (int)block;
    if (gamma && gamma->type == JSON_NUMBER) t->gamma = gamma->number;
  }
  *out = t;
  return 0;
}
