/* Diagnostics: formatting, source excerpts with a caret, counting, and the sinks reports go to. */
#include "frontend/diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void to_messages(void *ctx, int kind, const char *text) { lx_message_text(kind, text); }

void diag_init(Diag *d) {
  memset(d, 0, sizeof *d);
  d->sink = to_messages;
}

void diag_set_sink(Diag *d, DiagSink sink, void *ctx) {
  d->sink = sink;
  d->sink_ctx = ctx;
}

void diag_sink_append(void *strbuf, int kind, const char *text) { sb_puts(strbuf, text); }

void diag_add_source(Diag *d, const char *name, const char *text, size_t len) {
  for (int i = 0; i < d->nsources; i++)
    if (!strcmp(d->sources[i].name, name)) {
      d->sources[i].text = text;
      d->sources[i].len = len;
      return;
    }
  if (d->nsources == DIAG_MAX_SOURCES) return;
  d->sources[d->nsources++] = (DiagSource){name, text, len};
}

void diag_remove_source(Diag *d, const char *name) {
  for (int i = 0; i < d->nsources; i++)
    if (!strcmp(d->sources[i].name, name)) {
      d->sources[i] = d->sources[--d->nsources];
      return;
    }
}

static const DiagSource *find_source(const Diag *d, const char *name) {
  if (!name) return NULL;
  for (int i = 0; i < d->nsources; i++)
    if (!strcmp(d->sources[i].name, name)) return &d->sources[i];
  return NULL;
}

/* Appends the source line of loc and a caret line (^ then ~ to the end of the range on that line). */
static void excerpt(const Diag *d, SrcLoc loc, StrBuf *sb) {
  const DiagSource *src = find_source(d, loc.file);
  if (!src || loc.line <= 0) return;
  const char *p = src->text, *end = src->text + src->len;
  for (int line = 1; line < loc.line && p < end; p++)
    if (*p == '\n') line++;
  if (p >= end && loc.line > 1) return;
  const char *eol = p;
  while (eol < end && *eol != '\n') eol++;
  sb_append(sb, p, (size_t)(eol - p));
  sb_putc(sb, '\n');
  int col = loc.col > 0 ? loc.col : 1;
  for (int i = 1; i < col && p + i - 1 < eol; i++) sb_putc(sb, p[i - 1] == '\t' ? '\t' : ' ');
  sb_putc(sb, '^');
  int last = (loc.end_line == loc.line && loc.end_col > col) ? loc.end_col : col;
  if (p + last - 1 > eol) last = (int)(eol - p);
  for (int i = col + 1; i <= last; i++) sb_putc(sb, '~');
  sb_putc(sb, '\n');
}

static void vreport(Diag *d, int msg_kind, const char *kind, SrcLoc loc, const char *fmt, va_list ap) {
  StrBuf msg, full;
  sb_init(&msg);
  sb_init(&full);
  sb_vprintf(&msg, fmt, ap);
  if (loc.file && loc.line > 0) sb_printf(&full, "%s:%d:%d: %s: ", loc.file, loc.line, loc.col, kind);
  else if (loc.file) sb_printf(&full, "%s: %s: ", loc.file, kind);
  else sb_printf(&full, "%s: ", kind);
  sb_puts(&full, sb_cstr(&msg) ? sb_cstr(&msg) : "(out of memory)");
  if (!strcmp(kind, "error") && d->nerrors == 1) {
    const char *line = sb_cstr(&full);
    snprintf(d->first, sizeof d->first, "%s", line ? line : "error");
  }
  sb_putc(&full, '\n');
  excerpt(d, loc, &full);
  const char *text = sb_cstr(&full);
  if (text && d->sink) d->sink(d->sink_ctx, msg_kind, text);
  sb_free(&msg);
  sb_free(&full);
}

void diag_error(Diag *d, SrcLoc loc, const char *fmt, ...) {
  d->nerrors++;
  int max = d->max_errors ? d->max_errors : 50;
  if (d->nerrors > max) {
    if (d->nerrors == max + 1 && d->sink) d->sink(d->sink_ctx, LSTMC_MSG_ERROR, "lstmc: too many errors, stopping here\n");
    return;
  }
  va_list ap;
  va_start(ap, fmt);
  vreport(d, LSTMC_MSG_ERROR, "error", loc, fmt, ap);
  va_end(ap);
}

void diag_note(Diag *d, SrcLoc loc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vreport(d, LSTMC_MSG_NOTE, "note", loc, fmt, ap);
  va_end(ap);
}

int diag_status(const Diag *d) {
  if (!d->nerrors) return 0;
  if (d->nerrors == 1) return lx_fail(LSTMC_ERR_PARSE, "%s", d->first);
  return lx_fail(LSTMC_ERR_PARSE, "%s (and %d more errors)", d->first, d->nerrors - 1);
}
