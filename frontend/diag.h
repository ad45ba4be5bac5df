/* Diagnostics with a place: `file:line:col: error: message`, then the source line and a caret under the
 * offending text (as chibicc's verror_at and gcc do). A Diag collects any number of errors so that one run
 * reports several; the first message is also recorded for lstmc_errmsg(). Each report goes, as one
 * complete text, to the Diag's sink: by default lstmc's message channel (lstmc_set_message_handler). */
#ifndef LSTMC_FRONTEND_DIAG_H
#define LSTMC_FRONTEND_DIAG_H
#include "support/err.h"
#include "support/srcloc.h"
#include "support/strbuf.h"

#define DIAG_MAX_SOURCES 8

typedef struct DiagSource {
  const char *name; /* borrowed */
  const char *text; /* borrowed */
  size_t len;
} DiagSource;

/* Receives one report (kind: an lstmc_message_kind), the message line and its excerpt, '\n'-terminated. */
typedef void (*DiagSink)(void *ctx, int kind, const char *text);

typedef struct Diag {
  DiagSink sink;    /* NULL: reports go nowhere (but are counted) */
  void *sink_ctx;
  int nerrors;
  int max_errors;   /* stop reporting (but keep counting) past this many; 0 = 50 */
  char first[1024]; /* first error, one line, without source excerpt */
  DiagSource sources[DIAG_MAX_SOURCES];
  int nsources;
} Diag;

/* A Diag reporting to lstmc's message channel. */
void diag_init(Diag *d);
/* Sends d's reports to sink (NULL: nowhere) instead. */
void diag_set_sink(Diag *d, DiagSink sink, void *ctx);
/* A sink that appends each report to the StrBuf ctx (tests, captured diagnostics). */
void diag_sink_append(void *strbuf, int kind, const char *text);
/* Registers a source text so that messages about it can quote the line. Both strings are borrowed. */
void diag_add_source(Diag *d, const char *name, const char *text, size_t len);
/* Forgets a source (before its text is freed). */
void diag_remove_source(Diag *d, const char *name);
void diag_error(Diag *d, SrcLoc loc, const char *fmt, ...) LX_PRINTF(3, 4);
void diag_note(Diag *d, SrcLoc loc, const char *fmt, ...) LX_PRINTF(3, 4);
/* If errors were reported: records "N errors; first: …" as the error message and returns LSTMC_ERR_PARSE. */
int diag_status(const Diag *d);

#endif
