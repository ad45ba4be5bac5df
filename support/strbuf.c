/* Growable strings for printers, diagnostics and JSON writers. */
#include "strbuf.h"

#include <stdio.h>
#include <string.h>

#include "alloc.h"

void sb_init(StrBuf *sb) { memset(sb, 0, sizeof *sb); }

void sb_free(StrBuf *sb) {
  lx_free(sb->data);
  sb_init(sb);
}

static int sb_reserve(StrBuf *sb, size_t extra) {
  if (sb->failed) return -1;
  if (sb->len + extra + 1 <= sb->cap) return 0;
  size_t cap = sb->cap ? sb->cap : 64;
  while (cap < sb->len + extra + 1) {
    if (cap > ((size_t)-1) / 2) {
      sb->failed = 1;
      return -1;
    }
    cap *= 2;
  }
  char *d = lx_realloc(sb->data, cap);
  if (!d) {
    sb->failed = 1;
    return -1;
  }
  sb->data = d;
  sb->cap = cap;
  return 0;
}

void sb_append(StrBuf *sb, const char *s, size_t n) {
  if (sb_reserve(sb, n)) return;
  memcpy(sb->data + sb->len, s, n);
  sb->len += n;
  sb->data[sb->len] = 0;
}

void sb_putc(StrBuf *sb, char c) { sb_append(sb, &c, 1); }
void sb_puts(StrBuf *sb, const char *s) { sb_append(sb, s, strlen(s)); }

void sb_vprintf(StrBuf *sb, const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0 || sb_reserve(sb, (size_t)n)) return;
  vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
  sb->len += (size_t)n;
}

void sb_printf(StrBuf *sb, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  sb_vprintf(sb, fmt, ap);
  va_end(ap);
}

void sb_json_string(StrBuf *sb, const char *s, size_t n) {
  sb_putc(sb, '"');
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    switch (c) {
    case '"': sb_puts(sb, "\\\""); break;
    case '\\': sb_puts(sb, "\\\\"); break;
    case '\n': sb_puts(sb, "\\n"); break;
    case '\r': sb_puts(sb, "\\r"); break;
    case '\t': sb_puts(sb, "\\t"); break;
    case '\b': sb_puts(sb, "\\b"); break;
    case '\f': sb_puts(sb, "\\f"); break;
    default:
      if (c < 0x20) sb_printf(sb, "\\u%04x", c);
      else sb_putc(sb, (char)c);
    }
  }
  sb_putc(sb, '"');
}

const char *sb_cstr(StrBuf *sb) {
  if (sb->failed) return NULL;
  if (!sb->data) sb_append(sb, "", 0);
  return sb->data;
}

char *sb_take(StrBuf *sb) {
  if (sb->failed || !sb_cstr(sb)) {
    sb_free(sb);
    return NULL;
  }
  char *d = sb->data;
  sb_init(sb);
  return d;
}
