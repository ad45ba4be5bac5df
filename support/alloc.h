/* Every heap allocation in lstmc goes through these wrappers, so that a test mode can make the Nth
 * allocation fail and prove that each failure is reported and nothing leaks (see tests/test_oom.c).
 * They never abort: callers check for NULL and report LSTMC_ERR_NOMEM. */
#ifndef LSTMC_SUPPORT_ALLOC_H
#define LSTMC_SUPPORT_ALLOC_H
#include <stddef.h>

void *lx_malloc(size_t n);
void *lx_calloc(size_t count, size_t size);
void *lx_realloc(void *p, size_t n);
void lx_free(void *p);
char *lx_strdup(const char *s);
char *lx_strndup(const char *s, size_t n);

/* Multiplies with overflow check: returns 0 and sets *out, or returns -1 on overflow. */
int lx_mul_size(size_t a, size_t b, size_t *out);

/* Failure injection: after lx_alloc_fail_after(n), allocation number n (0-based, counted from this call)
 * and every later one fail until lx_alloc_fail_after(-1). lx_alloc_count() returns allocations since. */
void lx_alloc_fail_after(long n);
long lx_alloc_count(void);

#endif
