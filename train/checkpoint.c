/* Checkpoint files (see checkpoint.h): writing through weights_save_with (atomic), reading back with every
 * size and name checked, so that a file from another run or a damaged one gives one clear error. */
#include "train/checkpoint.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "runtime/format_meta.h"
#include "runtime/weights.h"
#include "support/alloc.h"
#include "support/err.h"
#include "support/json.h"
#include "support/strbuf.h"

#define CKPT_VERSION 1
#define CKPT_KEY "lstmc.checkpoint"

typedef struct Extra {
  StWriteTensor *t;
  char (*names)[192];
  int n, cap;
} Extra;

static void extra_add(Extra *x, const char *name, int dtype, int64_t n, const void *data, size_t elsize) {
  LX_ASSERT(x->n < x->cap);
  snprintf(x->names[x->n], sizeof x->names[x->n], "%s", name);
  StWriteTensor *t = &x->t[x->n++];
  memset(t, 0, sizeof *t);
  t->name = x->names[x->n - 1];
  t->dtype = dtype;
  t->ndim = 1;
  t->shape[0] = n;
  t->data = data;
  t->nbytes = (size_t)n * elsize;
}

static int64_t slot_size(const Graph *g, int s) { return g->slots[s].rows * g->slots[s].cols; }

int ckpt_save(const char *path, const CkptParts *p, const TrainState *s) {
  const Graph *g = p->g;
  int nbuf = optim_num_buffers(p->opt), nl = net_num_lstm(p->net);
  Extra x = {0};
  x.cap = g->nslots * (nbuf + 5) + 2 * nl;
  x.t = lx_calloc((size_t)x.cap + 1, sizeof *x.t);
  x.names = lx_calloc((size_t)x.cap + 1, sizeof *x.names);
  StrBuf meta, structure;
  sb_init(&meta);
  sb_init(&structure);
  int st = 0;
  if (!x.t || !x.names) {
    st = lx_nomem("writing a checkpoint");
    goto done;
  }
  char name[192];
  for (int i = 0; i < g->nslots; i++) {
    for (int k = 0; k < nbuf; k++) {
      snprintf(name, sizeof name, "train.opt.%s.%s", g->slots[i].name, optim_buffer_name(p->opt, k));
      extra_add(&x, name, ST_F32, slot_size(g, i), optim_buffer(p->opt, i, k), sizeof(float));
    }
    if (p->masks && p->masks[i]) {
      snprintf(name, sizeof name, "train.mask.%s", g->slots[i].name);
      extra_add(&x, name, ST_U8, slot_size(g, i), p->masks[i], 1);
    }
  }
  /* the schedule's structures: components as weights.c names them, their parameters in the metadata */
  int nstruct = 0;
  for (int i = 0; i < g->nslots; i++) {
    const Tensor *t = p->sched ? p->sched->tmpl[i] : NULL;
    if (!t) continue;
    format_meta_map_add(&structure, &nstruct, g->slots[i].name, t);
    if (t->mask) {
      snprintf(name, sizeof name, "train.struct.%s.mask", g->slots[i].name);
      extra_add(&x, name, ST_U8, t->rows * (int64_t)t->mask_stride, t->mask, 1);
    }
    if (tensor_has_groups(t)) {
      snprintf(name, sizeof name, "train.struct.%s.group_offsets", g->slots[i].name);
      extra_add(&x, name, ST_I32, t->ngroups + 1, t->group_off, sizeof(int32_t));
      snprintf(name, sizeof name, "train.struct.%s.group_cols", g->slots[i].name);
      extra_add(&x, name, ST_I32, t->group_off[t->ngroups], t->group_cols, sizeof(int32_t));
    }
    if (t->sel) {
      snprintf(name, sizeof name, "train.struct.%s.select", g->slots[i].name);
      extra_add(&x, name, ST_U8, t->rows * t->ngroups, t->sel, 1);
    }
  }
  format_meta_map_end(&structure, nstruct);
  for (int l = 0; l < nl; l++) {
    int64_t n = net_batch(p->net) * net_lstm_hidden(p->net, l);
    snprintf(name, sizeof name, "train.state.h.%d", l);
    extra_add(&x, name, ST_F32, n, net_state_h(p->net, l), sizeof(float));
    snprintf(name, sizeof name, "train.state.c.%d", l);
    extra_add(&x, name, ST_F32, n, net_state_c(p->net, l), sizeof(float));
  }
  float mu = optim_mu_product(p->opt);
  uint32_t mu_bits;
  memcpy(&mu_bits, &mu, 4);
  sb_printf(&meta,
            "{\"version\": %d, \"epoch\": %" PRId64 ", \"pos\": %" PRId64 ", \"step\": %" PRIu64 ", \"rng\": [%" PRIu64
            ", %" PRIu64 ", %" PRIu64 ", %" PRIu64 "], \"opt_steps\": %" PRIu64 ", \"mu_product_bits\": %" PRIu32
            ", \"epoch_nll\": %.17g, \"epoch_tokens\": %" PRId64
            ", \"epoch_seconds\": %.17g, \"epoch_pass_seconds\": %.17g, \"total_seconds\": %.17g, \"data_hash\": \"%016" PRIx64
            "\", \"log\": ",
            CKPT_VERSION, s->epoch, s->pos, s->step, s->seq_rng.s[0], s->seq_rng.s[1], s->seq_rng.s[2], s->seq_rng.s[3],
            optim_steps(p->opt), mu_bits, s->epoch_nll, s->epoch_tokens, s->epoch_seconds, s->epoch_pass_seconds,
            s->total_seconds, p->data_hash);
  sb_json_string(&meta, s->log ? s->log : "", s->log ? strlen(s->log) : 0);
  sb_puts(&meta, ", \"weight_drop\": [");
  int k = 0;
  for (int i = 0; i < g->nnodes; i++)
    if (g->nodes[i].op == OP_LSTM) sb_printf(&meta, "%s%.17g", k++ ? ", " : "", g->nodes[i].weight_drop);
  sb_printf(&meta, "], \"structure\": %s, \"record\": ", sb_cstr(&structure));
  const char *rec = p->sched ? p->sched->record : NULL;
  if (rec) sb_json_string(&meta, rec, strlen(rec));
  else sb_puts(&meta, "null");
  sb_printf(&meta, ", \"fingerprint\": %s}", p->fingerprint);
  if (meta.failed || structure.failed) {
    st = lx_nomem("writing a checkpoint");
    goto done;
  }
  const char *keys[1] = {CKPT_KEY}, *vals[1] = {sb_cstr(&meta)};
  st = weights_save_with(g, path, keys, vals, 1, x.t, x.n);
done:
  lx_free(x.t);
  lx_free(x.names);
  sb_free(&meta);
  sb_free(&structure);
  return st;
}

/* ---- reading ----------------------------------------------------------------------------------------- */

static int parse_meta(const StFile *f, Json **out) {
  size_t len;
  const char *text = st_meta_get(f, CKPT_KEY, &len);
  if (!text)
    return lx_fail(LSTMC_ERR_FORMAT, "%s is not a training checkpoint (it has no '%s' metadata); to start from weights use --init",
                   f->path, CKPT_KEY);
  char err[160];
  int jr = json_parse(text, len, out, err, sizeof err);
  if (jr == JSON_ERR_NOMEM) return lx_nomem("reading a checkpoint");
  if (jr || (*out)->type != JSON_OBJECT) {
    json_free(*out);
    *out = NULL;
    return lx_fail(LSTMC_ERR_FORMAT, "%s: metadata '%s' is not a JSON object%s%s", f->path, CKPT_KEY, jr ? ": " : "", jr ? err : "");
  }
  uint64_t v;
  const Json *ver = json_get(*out, "version");
  if (!ver || json_as_u64(ver, &v) || v != CKPT_VERSION) {
    int st = lx_fail(LSTMC_ERR_FORMAT, "%s: checkpoint format version %s, but this lstmc reads version %d", f->path,
                     ver && ver->type == JSON_NUMBER ? ver->text : "missing", CKPT_VERSION);
    json_free(*out);
    *out = NULL;
    return st;
  }
  return 0;
}

static void value_text(const Json *v, char *buf, size_t n) {
  if (!v) snprintf(buf, n, "(missing)");
  else if (v->type == JSON_STRING || v->type == JSON_NUMBER) json_excerpt(buf, n, v->text, v->text_len);
  else snprintf(buf, n, "(%s)", json_type_name(v->type));
}

static int same_value(const Json *a, const Json *b) {
  if (!a || !b || a->type != b->type) return 0;
  if (a->type == JSON_STRING || a->type == JSON_NUMBER) return a->text_len == b->text_len && !memcmp(a->text, b->text, a->text_len);
  if (a->type == JSON_BOOL) return a->boolean == b->boolean;
  return a->type == JSON_NULL;
}

int ckpt_open(const char *path, Graph *g, const char *fingerprint, StFile **out, uint64_t *data_hash) {
  *out = NULL;
  StFile *f = NULL;
  int st = st_read_file(path, &f);
  return st ? st : ckpt_open_file(f, g, fingerprint, out, data_hash);
}

int ckpt_open_file(StFile *f, Graph *g, const char *fingerprint, StFile **out, uint64_t *data_hash) {
  *out = NULL;
  const char *path = f->path;
  Json *meta = NULL, *mine = NULL;
  int st;
  if ((st = parse_meta(f, &meta))) goto fail;
  if (json_parse(fingerprint, strlen(fingerprint), &mine, NULL, 0)) {
    st = lx_nomem("reading a checkpoint");
    goto fail;
  }
  const Json *theirs = json_get(meta, "fingerprint");
  for (size_t i = 0; i < json_len(mine); i++) {
    const char *key = json_key_at(mine, i, NULL);
    const Json *a = json_at(mine, i), *b = theirs ? json_get(theirs, key) : NULL;
    if (!same_value(a, b)) {
      char was[96], now[96];
      value_text(b, was, sizeof was);
      value_text(a, now, sizeof now);
      st = lx_fail(LSTMC_ERR_SHAPE, "%s was written by a run with another %s: '%s' there, '%s' in this spec (a checkpoint resumes only the run that wrote it)",
                   path, key, was, now);
      goto fail;
    }
  }
  const Json *h = json_get(meta, "data_hash");
  if (!h || h->type != JSON_STRING || sscanf(h->text, "%" SCNx64, data_hash) != 1) {
    st = lx_fail(LSTMC_ERR_FORMAT, "%s: checkpoint metadata has no valid 'data_hash'", path);
    goto fail;
  }
  if ((st = weights_bind_skip(g, f, "train."))) goto fail;
  /* the weight-drop probabilities a prune_at pipeline may have set, before the training net is made */
  const Json *wd = json_get(meta, "weight_drop");
  int k = 0;
  for (int i = 0; i < g->nnodes; i++)
    if (g->nodes[i].op == OP_LSTM) {
      const Json *v = json_at(wd, (size_t)k++);
      double p = json_as_double(v);
      if (!(p >= 0 && p < 1)) {
        st = lx_fail(LSTMC_ERR_FORMAT, "%s: checkpoint metadata 'weight_drop' needs a probability per lstm layer", path);
        goto fail;
      }
      g->nodes[i].weight_drop = p;
    }
  json_free(meta);
  json_free(mine);
  *out = f;
  return 0;
fail:
  json_free(meta);
  json_free(mine);
  st_free(f);
  return st;
}

static int restore_tensor(const StFile *f, const char *name, int dtype, int64_t n, void *dst, size_t elsize, uint8_t *used) {
  const StTensor *t = st_find(f, name);
  if (!t) return lx_fail(LSTMC_ERR_FORMAT, "%s: checkpoint tensor '%s' is missing", f->path, name);
  if (t->dtype != dtype || t->ndim != 1 || (int64_t)t->nelems != n)
    return lx_fail(LSTMC_ERR_SHAPE, "%s: checkpoint tensor '%s' is %s with %llu elements, expected %s with %lld", f->path, name,
                   st_dtype_name(t->dtype), (unsigned long long)t->nelems, st_dtype_name(dtype), (long long)n);
  memcpy(dst, t->data, (size_t)n * elsize);
  if (dtype == ST_F32)
    for (int64_t i = 0; i < n; i++)
      if (!isfinite(((const float *)dst)[i]))
        return lx_fail(LSTMC_ERR_VALUE, "%s: checkpoint tensor '%s' holds %g at element %lld (optimizer and carried state must be finite)",
                       f->path, name, (double)((const float *)dst)[i], (long long)i);
  used[t - f->tensors] = 1;
  return 0;
}

static int get_i64(const StFile *f, const Json *meta, const char *key, int64_t *out) {
  const Json *v = json_get(meta, key);
  if (!v || json_as_i64(v, out)) return lx_fail(LSTMC_ERR_FORMAT, "%s: checkpoint metadata '%s' is missing or not an integer", f->path, key);
  return 0;
}

static int get_u64(const StFile *f, const Json *meta, const char *key, uint64_t *out) {
  const Json *v = json_get(meta, key);
  if (!v || json_as_u64(v, out)) return lx_fail(LSTMC_ERR_FORMAT, "%s: checkpoint metadata '%s' is missing or not an integer", f->path, key);
  return 0;
}

static int get_f64(const StFile *f, const Json *meta, const char *key, double *out) {
  const Json *v = json_get(meta, key);
  if (!v || v->type != JSON_NUMBER) return lx_fail(LSTMC_ERR_FORMAT, "%s: checkpoint metadata '%s' is missing or not a number", f->path, key);
  *out = json_as_double(v);
  return 0;
}

/* One template of the schedule, rebuilt from its format entry (runtime/format_meta.h) and components and
 * checked like any loaded tensor. */
static int restore_structure(const StFile *f, const CkptParts *p, const char *slot_name, const Json *desc, uint8_t *used) {
  const Graph *g = p->g;
  int slot = graph_find_slot(g, slot_name);
  Tensor *t = NULL;
  int st = slot < 0 || !p->sched ? LSTMC_ERR_FORMAT
                                 : format_meta_read(desc, f->path, slot_name, &g->slots[slot], FORMAT_META_LEGACY_CHECKPOINT, &t);
  if (st == LSTMC_ERR_NOMEM) return st;
  if (st || t->enc != LX_ENC_F32) {
    tensor_free(t);
    return lx_fail(LSTMC_ERR_FORMAT, "%s: checkpoint structure of '%s' is malformed", f->path, slot_name);
  }
  const WeightSlot *ws = &g->slots[slot];
  int64_t G = t->ngroups, K = tensor_has_groups(t) ? t->group_off[G] : 0; /* what the entry declared */
  char name[192];
  if (!st && t->mask) {
    snprintf(name, sizeof name, "train.struct.%s.mask", ws->name);
    st = restore_tensor(f, name, ST_U8, t->rows * (int64_t)t->mask_stride, t->mask, 1, used);
  }
  if (!st && tensor_has_groups(t)) {
    snprintf(name, sizeof name, "train.struct.%s.group_offsets", ws->name);
    if (!(st = restore_tensor(f, name, ST_I32, G + 1, t->group_off, sizeof(int32_t), used))) {
      snprintf(name, sizeof name, "train.struct.%s.group_cols", ws->name);
      st = restore_tensor(f, name, ST_I32, K, t->group_cols, sizeof(int32_t), used);
    }
  }
  if (!st && t->sel) {
    snprintf(name, sizeof name, "train.struct.%s.select", ws->name);
    st = restore_tensor(f, name, ST_U8, t->rows * G, t->sel, 1, used);
  }
  if (!st && tensor_has_groups(t) && t->group_off[G] != K)
    st = lx_fail(LSTMC_ERR_FORMAT, "%s: checkpoint structure of '%s': group offsets end at %d, not %lld", f->path, ws->name,
                 t->group_off[G], (long long)K);
  if (!st && (st = tensor_check(t))) lx_err_prefix("%s: checkpoint structure", f->path);
  if (st) {
    tensor_free(t);
    return st;
  }
  tensor_free(p->sched->tmpl[slot]);
  p->sched->tmpl[slot] = t;
  return 0;
}

int ckpt_restore(const StFile *f, const CkptParts *p, TrainState *s) {
  Json *meta = NULL;
  Graph *g = p->g;
  int st = parse_meta(f, &meta);
  if (st) return st;
  uint8_t *used = lx_calloc((size_t)f->ntensors + 1, 1);
  if (!used) {
    json_free(meta);
    return lx_nomem("reading a checkpoint");
  }
  char name[192];
  int nbuf = optim_num_buffers(p->opt);
  for (int i = 0; i < g->nslots && !st; i++) {
    int64_t n = slot_size(g, i);
    for (int k = 0; k < nbuf && !st; k++) {
      snprintf(name, sizeof name, "train.opt.%s.%s", g->slots[i].name, optim_buffer_name(p->opt, k));
      st = restore_tensor(f, name, ST_F32, n, optim_buffer(p->opt, i, k), sizeof(float), used);
    }
    snprintf(name, sizeof name, "train.mask.%s", g->slots[i].name);
    if (!st && st_find(f, name)) {
      lx_free(p->masks[i]);
      if (!(p->masks[i] = lx_malloc((size_t)n))) st = lx_nomem("reading a checkpoint");
      else st = restore_tensor(f, name, ST_U8, n, p->masks[i], 1, used);
    }
  }
  const Json *structure = json_get(meta, "structure"), *record = json_get(meta, "record");
  for (size_t k = 0; k < json_len(structure) && !st; k++) st = restore_structure(f, p, json_key_at(structure, k, NULL), json_at(structure, k), used);
  if (!st && p->sched && record && record->type == JSON_STRING) {
    lx_free(p->sched->record);
    if (!(p->sched->record = lx_strndup(record->text, record->text_len))) st = lx_nomem("reading a checkpoint");
  }
  for (int l = 0; l < net_num_lstm(p->net) && !st; l++) {
    int64_t n = net_batch(p->net) * net_lstm_hidden(p->net, l);
    snprintf(name, sizeof name, "train.state.h.%d", l);
    if (!(st = restore_tensor(f, name, ST_F32, n, net_state_h(p->net, l), sizeof(float), used))) {
      snprintf(name, sizeof name, "train.state.c.%d", l);
      st = restore_tensor(f, name, ST_F32, n, net_state_c(p->net, l), sizeof(float), used);
    }
  }
  for (int i = 0; i < f->ntensors && !st; i++)
    if (!used[i] && !strncmp(f->tensors[i].name, "train.", 6))
      st = lx_fail(LSTMC_ERR_FORMAT, "%s: unexpected checkpoint tensor '%s'", f->path, f->tensors[i].name);
  uint64_t opt_steps = 0, mu_bits = 0;
  const Json *rng = json_get(meta, "rng"), *log = json_get(meta, "log");
  if (!st && (st = get_i64(f, meta, "epoch", &s->epoch)) == 0 && (st = get_i64(f, meta, "pos", &s->pos)) == 0 &&
      (st = get_u64(f, meta, "step", &s->step)) == 0 && (st = get_u64(f, meta, "opt_steps", &opt_steps)) == 0 &&
      (st = get_u64(f, meta, "mu_product_bits", &mu_bits)) == 0 && (st = get_f64(f, meta, "epoch_nll", &s->epoch_nll)) == 0 &&
      (st = get_i64(f, meta, "epoch_tokens", &s->epoch_tokens)) == 0 &&
      (st = get_f64(f, meta, "epoch_seconds", &s->epoch_seconds)) == 0 &&
      (st = get_f64(f, meta, "epoch_pass_seconds", &s->epoch_pass_seconds)) == 0)
    st = get_f64(f, meta, "total_seconds", &s->total_seconds);
  if (!st && (!rng || json_len(rng) != 4 || !log || log->type != JSON_STRING || s->epoch < 1 || s->pos < 0 || mu_bits > UINT32_MAX))
    st = lx_fail(LSTMC_ERR_FORMAT, "%s: checkpoint metadata is inconsistent (rng, log, epoch or position)", f->path);
  for (int k = 0; k < 4 && !st; k++)
    if (json_as_u64(json_at(rng, (size_t)k), &s->seq_rng.s[k]))
      st = lx_fail(LSTMC_ERR_FORMAT, "%s: checkpoint metadata 'rng' must hold 4 integers", f->path);
  if (!st) {
    optim_set_steps(p->opt, opt_steps);
    uint32_t b32 = (uint32_t)mu_bits;
    float mu;
    memcpy(&mu, &b32, 4);
    optim_set_mu_product(p->opt, mu);
    lx_free(s->log);
    if (!(s->log = lx_strndup(log->text, log->text_len))) st = lx_nomem("reading a checkpoint");
  }
  lx_free(used);
  json_free(meta);
  return st;
}
