/* What a training run reports: events through the caller's callback (lstmc_train_options.on_event; the
 * numbers only — drawing a bar or printing lines is the caller's business) and the CSV log, one line per
 * epoch, kept in the run's state (it travels in checkpoints) and rewritten to --log after every epoch.
 * Memory: nothing is allocated but the log text, which the TrainState owns. */
#ifndef LSTMC_TRAIN_PROGRESS_H
#define LSTMC_TRAIN_PROGRESS_H
#include <stdint.h>

#include "lstmc.h"
#include "train/checkpoint.h"

#define TRAIN_LOG_HEADER \
  "epoch,train_loss,train_bpc,valid_bpc,lr,sparsity,seconds,pass_seconds,pass_fraction,steps,tokens_per_s\n"

typedef struct Progress {
  void (*on_event)(const lstmc_train_event *e, void *ctx); /* NULL: nobody listens */
  void *ctx;
  const char *unit;        /* "chars" or "words" */
  int64_t epochs;          /* in all */
  int64_t epoch_positions; /* tokens per stream: an epoch's data positions */
  int64_t batch;           /* streams */
  double max_seconds;      /* the run's time budget (0: none), for the ETA */
  double t_start;          /* when this call began (now_seconds) */
  double tokens_run;       /* this call's training tokens … */
  double batch_seconds;    /* … and its time in training batches */
} Progress;

/* An event of `kind` with the fields every event has, from the run's state; the rest zero. */
lstmc_train_event progress_event(const Progress *p, lstmc_train_event_kind kind, const TrainState *s);
/* Hands an event to the callback, if there is one. */
void progress_emit(const Progress *p, const lstmc_train_event *e);
/* Counts a training batch: its predictions and seconds. */
void progress_count_batch(Progress *p, int64_t tokens, double seconds);
/* Training tokens per second of this call's batches (0 before the first). */
double progress_rate(const Progress *p);
/* The PROGRESS event after a batch (last: after the epoch's last batch). */
void progress_report_batch(const Progress *p, const TrainState *s, int last);

/* The numbers of one epoch, as its log line and its EPOCH event give them. */
typedef struct EpochSummary {
  int64_t epoch;
  double train_loss; /* mean cross-entropy in nats; NaN without predictions */
  double valid_bpc;
  double lr, sparsity;
  double seconds, pass_seconds;
  uint64_t steps;        /* optimizer steps in all */
  double tokens_per_s;   /* the epoch's training tokens per second of the epoch */
} EpochSummary;

/* Appends the epoch's line to the log text *text (replaced; TRAIN_LOG_HEADER starts it). */
int progress_log_epoch(char **text, const EpochSummary *e);
/* Writes the log text to path (NULL: no log). */
int progress_write_log(const char *path, const char *text);

#endif
