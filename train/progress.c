/* Events and the CSV log of a training run (see progress.h). */
#include "train/progress.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "support/alloc.h"
#include "support/clock.h"
#include "support/err.h"
#include "support/strbuf.h"

lstmc_train_event progress_event(const Progress *p, lstmc_train_event_kind kind, const TrainState *s) {
  lstmc_train_event e;
  memset(&e, 0, sizeof e);
  e.kind = kind;
  e.epoch = s->epoch;
  e.epochs = p->epochs;
  e.step = s->step;
  e.elapsed = now_seconds() - p->t_start;
  e.unit = p->unit;
  return e;
}

void progress_emit(const Progress *p, const lstmc_train_event *e) {
  if (p->on_event) p->on_event(e, p->ctx);
}

void progress_count_batch(Progress *p, int64_t tokens, double seconds) {
  p->tokens_run += (double)tokens;
  p->batch_seconds += seconds;
}

double progress_rate(const Progress *p) { return p->batch_seconds > 0 ? p->tokens_run / p->batch_seconds : 0; }

void progress_report_batch(const Progress *p, const TrainState *s, int last) {
  if (!p->on_event) return;
  lstmc_train_event e = progress_event(p, LSTMC_TRAIN_PROGRESS, s);
  /* the loop runs while pos < positions − 2 */
  int64_t total = p->epoch_positions - 2 > 0 ? p->epoch_positions - 2 : 1;
  double frac = (double)s->pos / (double)total;
  if (frac > 1) frac = 1;
  double rate = progress_rate(p);
  double per_epoch = rate > 0 ? (double)(p->epoch_positions * p->batch) / rate : NAN;
  double eta = per_epoch * ((1 - frac) + (double)(p->epochs - s->epoch));
  if (p->max_seconds > 0 && p->max_seconds - s->total_seconds < eta) eta = p->max_seconds - s->total_seconds;
  e.fraction = frac;
  e.loss = s->epoch_tokens ? s->epoch_nll / (double)s->epoch_tokens : NAN;
  e.bpc = e.loss / log(2.0);
  e.tokens_per_s = rate;
  e.eta = eta;
  e.last = last;
  progress_emit(p, &e);
}

int progress_log_epoch(char **text, const EpochSummary *e) {
  StrBuf sb;
  sb_init(&sb);
  sb_puts(&sb, *text);
  sb_printf(&sb, "%lld,%.6f,%.6f,%.6f,%.6g,%.6f,%.3f,%.6f,%.6f,%" PRIu64 ",%.1f\n", (long long)e->epoch, e->train_loss,
            e->train_loss / log(2.0), e->valid_bpc, e->lr, e->sparsity, e->seconds, e->pass_seconds,
            e->seconds > 0 ? e->pass_seconds / e->seconds : 0, e->steps, e->tokens_per_s);
  char *csv = sb_take(&sb);
  if (!csv) return lx_nomem("writing the log");
  lx_free(*text);
  *text = csv;
  return 0;
}

int progress_write_log(const char *path, const char *text) {
  if (!path) return 0;
  FILE *f = fopen(path, "w");
  if (!f) return lx_fail(LSTMC_ERR_IO, "cannot write the log '%s'", path);
  fputs(text, f);
  if (fclose(f)) return lx_fail(LSTMC_ERR_IO, "cannot write the log '%s'", path);
  return 0;
}
