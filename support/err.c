/* The thread-local last-error message behind lstmc_errmsg(), and the process-wide message handler
 * (lstmc_set_message_handler) behind lx_message. */
#include "err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

#define ERRMSG_MAX 2048
static _Thread_local char errmsg[ERRMSG_MAX];

int lx_vfail(int status, const char *fmt, va_list ap) {
  vsnprintf(errmsg, sizeof errmsg, fmt, ap);
  return status;
}

int lx_fail(int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  lx_vfail(status, fmt, ap);
  va_end(ap);
  return status;
}

int lx_nomem(const char *what) { return lx_fail(LSTMC_ERR_NOMEM, "out of memory while %s", what); }

void lx_err_prefix(const char *fmt, ...) {
  char prefix[512], old[ERRMSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  memcpy(old, errmsg, sizeof old);
  old[sizeof old - 1] = 0;
  /* prefix + ": " + old, truncated to the buffer */
  size_t n = strlen(prefix), m = strlen(old);
  if (n > sizeof errmsg - 3) n = sizeof errmsg - 3;
  if (m > sizeof errmsg - 3 - n) m = sizeof errmsg - 3 - n;
  memcpy(errmsg, prefix, n);
  memcpy(errmsg + n, ": ", 2);
  memcpy(errmsg + n + 2, old, m);
  errmsg[n + 2 + m] = 0;
}

const char *lstmc_errmsg(void) { return errmsg[0] ? errmsg : "no error"; }

/* Installed once, before other calls (include/lstmc.h); read by every thread. */
static lstmc_message_fn message_fn;
static void *message_ctx;

void lstmc_set_message_handler(lstmc_message_fn fn, void *ctx) {
  message_fn = fn;
  message_ctx = ctx;
}

int lx_message_wanted(void) { return message_fn != NULL; }

void lx_message_text(int kind, const char *text) {
  if (message_fn) message_fn(message_ctx, (lstmc_message_kind)kind, text);
}

void lx_message(int kind, const char *fmt, ...) {
  if (!message_fn) return;
  char small[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n < sizeof small) {
    lx_message_text(kind, small);
    return;
  }
  char *big = lx_malloc((size_t)n + 1);
  if (!big) {
    lx_message_text(kind, small); /* truncated rather than lost */
    return;
  }
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  lx_message_text(kind, big);
  lx_free(big);
}

void lx_bug(const char *file, int line, const char *msg) {
  fprintf(stderr, "lstmc: internal error at %s:%d: %s\n", file, line, msg);
  abort();
}
