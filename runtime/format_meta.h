/* The codec of format metadata: how the format of a weight tensor is described in JSON, one codec for the
 * weights files' metadata key `lstmc.formats` (runtime/weights.c) and the checkpoints' "structure"
 * (train/checkpoint.c). Both are maps from weight names to entries:
 *
 *   {"<weight>": {"format": "cc_q8", "groups": 12, "group_cols": 40, "alpha": 8, "gamma": 0.5, "block": 256}, …}
 *
 *   format              the format name (ir/tensor.h, format_name): the layout and the encoding
 *   groups, group_cols  the number of column groups and of the columns in them: written when the tensor
 *                       has groups, which a packed tensor always has and a dense or masked one may
 *                       ("grouped, not yet packed")
 *   alpha, gamma, block the column-combining parameters that built the groups, written with them; when
 *                       reading they are optional (0 when absent)
 *
 * The tensor data themselves are stored as component tensors beside the entry (weights.h names them).
 *
 * Writing emits the keys in that order and only those that apply, so that a file written again has the
 * bytes an older lstmc gave it. Reading takes what every lstmc wrote: checkpoints up to main 026e24c wrote
 * every key for every structure, with "groups": -1 for one without groups (FORMAT_META_LEGACY_CHECKPOINT).
 *
 * Adding a field to the entries: docs/architecture.md, "Adding a field to a format entry". */
#ifndef LSTMC_RUNTIME_FORMAT_META_H
#define LSTMC_RUNTIME_FORMAT_META_H

#include "ir/graph.h"
#include "support/json.h"
#include "support/strbuf.h"

struct StFile;

/* Reading flags. */
enum {
  /* "groups": -1 means "no groups" (checkpoints written before the shared codec) */
  FORMAT_META_LEGACY_CHECKPOINT = 1,
};

/* Appends t's entry to sb. */
void format_meta_write(StrBuf *sb, const Tensor *t);
/* Appends the member "name": <t's entry> to the map being written in sb; *n counts the members so far
 * (the first opens the map). */
void format_meta_map_add(StrBuf *sb, int *n, const char *name, const Tensor *t);
/* Closes a map of n members ("{}" when n is 0). */
void format_meta_map_end(StrBuf *sb, int n);

/* The map in the metadata key "lstmc.formats" of f: *out is its JSON object (json_free it), or NULL when
 * f has no such key. Errors name the file. */
int format_meta_parse_map(const struct StFile *f, Json **out);

/* Reads `entry`, the member `key` of a map in the file `path` (both for messages), for weight slot s: *out
 * is a new zero-filled tensor named s->name, of s's shape, in the entry's format, with its column groups
 * allocated (group_off[ngroups] set) and their parameters set; the caller fills in the codes, scales, mask,
 * group offsets and columns, and select bytes. flags: FORMAT_META_*. Errors name the path and the key. */
int format_meta_read(const Json *entry, const char *path, const char *key, const WeightSlot *s, int flags, Tensor **out);

#endif
