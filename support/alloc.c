/* Allocation wrappers with failure injection for out-of-memory tests. The counters are process-global and
 * not atomic on purpose: failure injection is a single-threaded test mode. */
#include "alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static long fail_after = -1; /* -1: never fail */
static long alloc_count;

void lx_alloc_fail_after(long n) {
  fail_after = n;
  alloc_count = 0;
}

long lx_alloc_count(void) { return alloc_count; }

static int should_fail(void) {
  long k = alloc_count++;
  return fail_after >= 0 && k >= fail_after;
}

void *lx_malloc(size_t n) {
  if (should_fail()) return NULL;
  return malloc(n ? n : 1);
}

void *lx_calloc(size_t count, size_t size) {
  if (should_fail()) return NULL;
  return calloc(count ? count : 1, size ? size : 1);
}

void *lx_realloc(void *p, size_t n) {
  if (should_fail()) return NULL;
  return realloc(p, n ? n : 1);
}

void lx_free(void *p) { free(p); }

char *lx_strndup(const char *s, size_t n) {
  char *d = lx_malloc(n + 1);
  if (!d) return NULL;
  memcpy(d, s, n);
  d[n] = 0;
  return d;
}

char *lx_strdup(const char *s) { return lx_strndup(s, strlen(s)); }

int lx_mul_size(size_t a, size_t b, size_t *out) {
  if (a && b > SIZE_MAX / a) return -1;
  *out = a * b;
  return 0;
}
