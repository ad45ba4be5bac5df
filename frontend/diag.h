/* Diagnostics with a place: `file:line:col: error: message`, then the source line and a caret under the
 * offending text (as chibicc's verror_at and gcc do). A Diag collects any number of errors so that one run
 * reports several; the first message is also recorded for lstmc_errmsg(). */
#ifndef LSTMC_FRONTEND_DIAG_H
#define LSTMC_FRONTEND_DIAG_H
#include <stdio.h>

#include "support/err.h"
#include "support/srcloc.h"
#include "support/strbuf.h"

#define DIAG_MAX_SOURCES 8

typedef struct DiagSource {
  const char *name; /* borrowed */
  const char *text; /* borrowed */
  size_t len;
} DiagSource;

typedef struct Diag {
  FILE *out;        /* where diagnostics go as they come (NULL: nowhere) */
  StrBuf *capture;  /* if set, diagnostics are appended here too */
  int nerrors, nwarnings;
  int max_errors;   /* stop reporting (but keep counting) past this many; 0 = 50 */
  char first[1024]; /* first error, one line, without source excerpt */
  DiagSource sources[DIAG_MAX_SOURCES];
  int nsources;
} Diag;

void diag_init(Diag *d, FILE *out);
/* Registers a source text so that messages about it can quote the line. Both strings are borrowed. */
void diag_add_source(Diag *d, const char *name, const char *text, size_t len);
/* Forgets a source (before its text is freed). */
void diag_remove_source(Diag *d, const char *name);
void diag_error(Diag *d, SrcLoc loc, const char *fmt, ...) LX_PRINTF(3, 4);
void diag_warning(Diag *d, SrcLoc loc, const char *fmt, ...) LX_PRINTF(3, 4);
void diag_note(Diag *d, SrcLoc loc, const char *fmt, ...) LX_PRINTF(3, 4);
/* If errors were reported: records "N errors; first: …" as the error message and returns LSTMC_ERR_PARSE. */
int diag_status(const Diag *d);

#endif
