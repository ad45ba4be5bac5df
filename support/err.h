/* The error channel. A failing function records one message in a thread-local buffer and returns a status
 * code (include/lstmc.h); lstmc_errmsg() returns that message. Everything else lstmc has to say —
 * diagnostics with their caret excerpts, warnings, notes, reports asked for — goes to the message handler
 * the caller installs (lstmc_set_message_handler), never to stderr. User errors name the file and place;
 * internal bugs go through LX_BUG, which aborts loudly (the one write to stderr, as the process ends). */
#ifndef LSTMC_SUPPORT_ERR_H
#define LSTMC_SUPPORT_ERR_H
#include <stdarg.h>

#include "lstmc.h"

#if defined(__GNUC__)
#define LX_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LX_PRINTF(a, b)
#endif

/* Records the message and returns status, so that callers write `return lx_fail(LSTMC_ERR_IO, ...)`. */
int lx_fail(int status, const char *fmt, ...) LX_PRINTF(2, 3);
int lx_vfail(int status, const char *fmt, va_list ap);
/* Records an allocation failure ("out of memory while WHAT") and returns LSTMC_ERR_NOMEM. */
int lx_nomem(const char *what);
/* Prefixes the current message with "prefix: " (used to add a file name on the way out). */
void lx_err_prefix(const char *fmt, ...) LX_PRINTF(1, 2);

/* Sends a message (kind: an lstmc_message_kind) to the caller's handler: complete lines, each ending in
 * '\n', exactly as a program would print them. Without a handler nothing happens. */
void lx_message(int kind, const char *fmt, ...) LX_PRINTF(2, 3);
void lx_message_text(int kind, const char *text);
/* 1 when a handler is installed: lets a caller skip building a long text (an IR dump) nobody will read. */
int lx_message_wanted(void);

void lx_bug(const char *file, int line, const char *msg) __attribute__((noreturn));
#define LX_BUG(msg) lx_bug(__FILE__, __LINE__, msg)
#define LX_ASSERT(c) ((c) ? (void)0 : lx_bug(__FILE__, __LINE__, "assertion failed: " #c))

#endif
