/* A growable string. Appends that fail to allocate set `failed` and are then no-ops, so a caller
 * builds a whole text and checks once at the end. */
#ifndef LSTMC_SUPPORT_STRBUF_H
#define LSTMC_SUPPORT_STRBUF_H
#include <stdarg.h>
#include <stddef.h>

#include "err.h"

typedef struct StrBuf {
  char *data; /* NUL-terminated when len > 0 or after sb_cstr */
  size_t len, cap;
  int failed;
} StrBuf;

void sb_init(StrBuf *sb);
void sb_free(StrBuf *sb);
void sb_putc(StrBuf *sb, char c);
void sb_append(StrBuf *sb, const char *s, size_t n);
void sb_puts(StrBuf *sb, const char *s);
void sb_printf(StrBuf *sb, const char *fmt, ...) LX_PRINTF(2, 3);
void sb_vprintf(StrBuf *sb, const char *fmt, va_list ap);
/* Appends s as a JSON string literal (quotes and escapes included); s is UTF-8. */
void sb_json_string(StrBuf *sb, const char *s, size_t n);
/* Returns the text (never NULL unless failed); ownership stays with sb. */
const char *sb_cstr(StrBuf *sb);
/* Hands the buffer to the caller (lx_free it); NULL if any append failed. The StrBuf is reset. */
char *sb_take(StrBuf *sb);

#endif
