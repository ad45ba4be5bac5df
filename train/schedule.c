/* Pass pipelines inside training (see schedule.h): checking the schedule, running a pipeline over the
 * trained weights and taking over what it leaves (values, masks, templates, weight-drop), and building
 * the exported weights from the templates. */
#include "train/schedule.h"

#include <string.h>

#include "frontend/diag.h"
#include "passes/pipeline.h"
#include "support/alloc.h"
#include "support/err.h"
#include "support/strbuf.h"

void schedule_free(Schedule *s) {
  if (s->tmpl)
    for (int i = 0; i < s->nslots; i++) tensor_free(s->tmpl[i]);
  if (s->masks)
    for (int i = 0; i < s->nslots; i++) lx_free(s->masks[i]);
  lx_free(s->tmpl);
  lx_free(s->masks);
  lx_free(s->structural);
  lx_free(s->copies);
  lx_free(s->record);
  memset(s, 0, sizeof *s);
  s->final_entry = -1;
}

static int spec_error(const Spec *spec, SrcLoc loc, const char *msg) {
  return lx_fail(LSTMC_ERR_USAGE, "%s:%d:%d: %s", loc.file ? loc.file : spec->path, loc.line, loc.col, msg);
}

int schedule_init(Schedule *s, const Spec *spec, int nslots, Diag *d) {
  memset(s, 0, sizeof *s);
  s->spec = spec;
  s->nslots = nslots;
  s->final_entry = -1;
  const TrainSpec *ts = &spec->train;
  s->tmpl = lx_calloc((size_t)nslots + 1, sizeof *s->tmpl);
  s->masks = lx_calloc((size_t)nslots + 1, sizeof *s->masks);
  if (!s->tmpl || !s->masks) return lx_nomem("reading the training schedule");
  int total = 0;
  for (int i = 0; i < ts->nschedule; i++) {
    const ScheduleEntry *e = &ts->schedule[i];
    total += e->pipeline ? e->pipeline->npasses : 0;
    if (e->nepochs && e->epochs[e->nepochs - 1] >= s->final_epoch) s->final_epoch = e->epochs[e->nepochs - 1], s->final_entry = i;
  }
  s->structural = lx_calloc((size_t)ts->nschedule + 1, sizeof *s->structural);
  s->copies = lx_calloc((size_t)total + 1, sizeof *s->copies);
  if (!s->structural || !s->copies) return lx_nomem("reading the training schedule");
  diag_add_source(d, spec->path, spec->text, spec->text_len);
  int k = 0;
  for (int i = 0; i < ts->nschedule; i++) {
    const ScheduleEntry *e = &ts->schedule[i];
    int st = pipeline_check(e->pipeline, d);
    if (st) return st;
    AstPipeline *out = &s->structural[i];
    out->loc = e->pipeline->loc;
    AstPass **link = &out->passes;
    for (const AstPass *p = e->pipeline->passes; p; p = p->next) {
      if (!strcmp(p->name, "quantize")) {
        if (i != s->final_entry || p->next) {
          char msg[200];
          snprintf(msg, sizeof msg, "quantize may only end the last prune_at pipeline (epoch %lld): the weights train in float until then",
                   (long long)s->final_epoch);
          return spec_error(spec, p->loc, msg);
        }
        s->copies[k] = *p;
        s->quantize.passes = &s->copies[k++];
        s->quantize.npasses = 1;
        s->quantize.loc = p->loc;
        continue;
      }
      s->copies[k] = *p;
      s->copies[k].next = NULL;
      *link = &s->copies[k++];
      link = &(*link)->next;
      out->npasses++;
    }
  }
  if (ts->qat && !s->quantize.npasses)
    return spec_error(spec, ts->loc, "'qat' trains through the quantizer of the last prune_at pipeline, which must end with quantize{bits=…}");
  return 0;
}

int schedule_due(const Schedule *s, int entry, int64_t epoch) {
  const ScheduleEntry *e = &s->spec->train.schedule[entry];
  for (int i = 0; i < e->nepochs; i++)
    if (e->epochs[i] == epoch) return 1;
  return 0;
}

int schedule_final_done(const Schedule *s, int64_t epoch, int started) {
  return s->final_entry >= 0 && (epoch > s->final_epoch || (epoch == s->final_epoch && started));
}

uint8_t *schedule_mask_of(const Tensor *t, int *oom) {
  *oom = 0;
  if (!t || (t->layout != LX_LAYOUT_MASKED && t->layout != LX_LAYOUT_PACKED)) return NULL;
  uint8_t *m = lx_calloc((size_t)(t->rows * t->cols) + 1, 1);
  if (!m) {
    *oom = 1;
    return NULL;
  }
  for (int64_t r = 0; r < t->rows; r++) {
    uint8_t *row = m + r * t->cols;
    if (t->layout == LX_LAYOUT_MASKED) {
      for (int64_t c = 0; c < t->cols; c++) row[c] = (uint8_t)lx_mask_get(t->mask + r * t->mask_stride, (unsigned long)c);
    } else {
      for (int64_t g = 0; g < t->ngroups; g++) {
        uint8_t sel = t->sel[r * t->ngroups + g];
        if (sel != LX_SEL_EMPTY) row[t->group_cols[t->group_off[g] + sel]] = 1;
      }
    }
  }
  return m;
}

/* An f32 tensor with t's layout, mask, groups and selections, and zero values: the structure alone. */
static Tensor *template_of(const Tensor *t) {
  int packed = t->layout == LX_LAYOUT_PACKED;
  Tensor *x = tensor_new(t->name, t->ndim, t->rows, t->cols, t->layout, LX_ENC_F32, packed ? t->ngroups : 0,
                         packed ? t->group_off[t->ngroups] : 0);
  if (!x) return NULL;
  if (t->mask) memcpy(x->mask, t->mask, (size_t)t->rows * t->mask_stride);
  if (packed) {
    memcpy(x->group_off, t->group_off, ((size_t)t->ngroups + 1) * sizeof(int32_t));
    memcpy(x->group_cols, t->group_cols, (size_t)t->group_off[t->ngroups] * sizeof(int32_t));
    memcpy(x->sel, t->sel, (size_t)(t->rows * t->ngroups));
    x->alpha = t->alpha;
    x->gamma = t->gamma;
    x->block = t->block;
  } else if (tensor_copy_groups(x, t)) {
    tensor_free(x);
    return NULL;
  }
  return x;
}

/* The template filled with values v [rows·cols] (pruned positions are zero in v already). */
static Tensor *template_fill(const Tensor *tmpl, const float *v) {
  Tensor *t = tensor_clone(tmpl);
  if (!t) return NULL;
  if (t->layout != LX_LAYOUT_PACKED) {
    for (int64_t r = 0; r < t->rows; r++) memcpy(t->codes + (size_t)r * t->stride, v + r * t->cols, (size_t)t->cols * sizeof(float));
    return t;
  }
  for (int64_t r = 0; r < t->rows; r++)
    for (int64_t g = 0; g < t->ngroups; g++) {
      uint8_t sel = t->sel[r * t->ngroups + g];
      tensor_set_level(t, r, g, sel == LX_SEL_EMPTY ? 0.0f : v[r * t->cols + t->group_cols[t->group_off[g] + sel]]);
    }
  return t;
}

/* g's master weights as a graph in the current structures: templates filled (masked where only a mask). */
static int structured_copy(const Schedule *s, const Graph *g, uint8_t *const *masks, Graph **out) {
  *out = NULL;
  Graph *c = graph_clone(g);
  if (!c) return lx_nomem("running the training schedule");
  for (int i = 0; i < g->nslots; i++) {
    const float *v = tensor_f32(g->slots[i].t);
    Tensor *t = NULL;
    if (s->tmpl[i]) {
      t = template_fill(s->tmpl[i], v);
    } else if (masks && masks[i]) {
      const Tensor *d = g->slots[i].t;
      t = tensor_new(d->name, 2, d->rows, d->cols, LX_LAYOUT_MASKED, LX_ENC_F32, 0, 0);
      if (t) {
        memcpy(t->codes, d->codes, (size_t)d->rows * d->stride);
        for (int64_t r = 0; r < d->rows; r++)
          for (int64_t col = 0; col < d->cols; col++)
            if (masks[i][r * d->cols + col]) t->mask[r * t->mask_stride + (size_t)(col >> 3)] |= (uint8_t)(1u << (col & 7));
      }
    } else {
      continue;
    }
    if (!t) {
      graph_free(c);
      return lx_nomem("running the training schedule");
    }
    graph_set_tensor(c, i, t);
  }
  *out = c;
  return 0;
}

static int append_record(Schedule *s, const AstPipeline *p) {
  if (!p || !p->npasses) return 0;
  StrBuf sb;
  sb_init(&sb);
  if (s->record && s->record[0]) {
    sb_puts(&sb, s->record);
    sb_putc(&sb, ',');
  }
  pipeline_to_text(p, &sb);
  char *r = sb_take(&sb);
  if (!r) return lx_nomem("recording the training schedule");
  lx_free(s->record);
  s->record = r;
  return 0;
}

int schedule_run(Schedule *s, Graph *g, int entry, Diag *d) {
  uint8_t **masks = s->masks;
  Graph *c;
  int st = structured_copy(s, g, masks, &c);
  if (st) return st;
  diag_add_source(d, s->spec->path, s->spec->text, s->spec->text_len);
  PipelineOptions po;
  memset(&po, 0, sizeof po);
  po.training = 1;
  if ((st = pipeline_run(c, &s->structural[entry], &po, d))) goto done;
  /* take over what the pipeline left: values, structures, masks */
  for (int i = 0; i < g->nslots && !st; i++) {
    const Tensor *t = c->slots[i].t;
    if (tensor_is_dense_f32(t) && !tensor_has_groups(t)) {
      tensor_free(s->tmpl[i]);
      s->tmpl[i] = NULL;
      lx_free(masks[i]);
      masks[i] = NULL;
      memcpy(tensor_f32(g->slots[i].t), t->codes, (size_t)(t->rows * t->cols) * sizeof(float));
      continue;
    }
    float *v = tensor_to_f32(t);
    Tensor *tm = template_of(t);
    int oom = 0;
    uint8_t *m = tm ? schedule_mask_of(tm, &oom) : NULL;
    if (!v || !tm || oom) {
      lx_free(v);
      tensor_free(tm);
      st = lx_nomem("running the training schedule");
      break;
    }
    memcpy(tensor_f32(g->slots[i].t), v, (size_t)(t->rows * t->cols) * sizeof(float));
    lx_free(v);
    tensor_free(s->tmpl[i]);
    s->tmpl[i] = tm;
    lx_free(masks[i]);
    masks[i] = m;
  }
  for (int i = 0; i < g->nnodes && !st; i++) g->nodes[i].weight_drop = c->nodes[i].weight_drop;
  if (!st) st = append_record(s, &s->structural[entry]);
done:
  graph_free(c);
  return st;
}

int schedule_export(const Schedule *s, const Graph *g, int quantize, Diag *d, Graph **out) {
  int st = structured_copy(s, g, NULL, out);
  if (st) return st;
  Graph *e = *out;
  char *record = NULL;
  StrBuf sb;
  sb_init(&sb);
  if (s->record) sb_puts(&sb, s->record);
  if (quantize && s->quantize.npasses) {
    diag_add_source(d, s->spec->path, s->spec->text, s->spec->text_len);
    if ((st = pipeline_run(e, &s->quantize, NULL, d))) goto fail;
    if (sb.len) sb_putc(&sb, ',');
    pipeline_to_text(&s->quantize, &sb);
  }
  if (sb.len) {
    if (!(record = sb_take(&sb))) {
      st = lx_nomem("exporting the trained weights");
      goto fail;
    }
    if ((st = graph_set_pipeline(e, record))) goto fail;
  }
  if ((st = graph_verify(e))) goto fail;
  lx_free(record);
  sb_free(&sb);
  return 0;
fail:
  lx_free(record);
  sb_free(&sb);
  graph_free(e);
  *out = NULL;
  return st;
}

int schedule_adopt_tensor(Schedule *s, Graph *g, int slot) {
  uint8_t **mask = &s->masks[slot];
  Tensor *old = g->slots[slot].t;
  if (tensor_is_dense_f32(old) && !tensor_has_groups(old)) return 0;
  float *v = tensor_to_f32(old);
  Tensor *d = tensor_new_f32(old->name, old->ndim, old->rows, old->cols);
  Tensor *tm = NULL;
  int oom = 0;
  if (old->layout != LX_LAYOUT_DENSE || tensor_has_groups(old)) {
    tm = template_of(old);
    *mask = tm ? schedule_mask_of(tm, &oom) : NULL;
  }
  if (!v || !d || ((old->layout != LX_LAYOUT_DENSE || tensor_has_groups(old)) && !tm) || oom) {
    lx_free(v);
    tensor_free(d);
    tensor_free(tm);
    return lx_nomem("converting weights for training");
  }
  memcpy(tensor_f32(d), v, (size_t)(old->rows * old->cols) * sizeof(float));
  lx_free(v);
  tensor_free(s->tmpl[slot]);
  s->tmpl[slot] = tm;
  if (!s->record && g->pipeline && !(s->record = lx_strdup(g->pipeline))) return lx_nomem("converting weights for training");
  graph_set_tensor(g, slot, d);
  return 0;
}
