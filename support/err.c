/* Thread-local last-error message behind lstmc_errmsg(). */
#include "err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void lx_err_clear(void) { errmsg[0] = 0; }

const char *lstmc_errmsg(void) { return errmsg[0] ? errmsg : "no error"; }

void lx_bug(const char *file, int line, const char *msg) {
  fprintf(stderr, "lstmc: internal error at %s:%d: %s\n", file, line, msg);
  abort();
}
