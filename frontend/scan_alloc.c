/* Flex's allocations, recorded so that a failure can unwind (frontend/scan_alloc.h). */
#include "frontend/scan_alloc.h"

#include "support/alloc.h"
#include "support/err.h"

/* Replaces the record of old by p (old NULL: a new block; p NULL: a freed one). */
static void track(ScanAllocs *a, void *old, void *p) {
  for (int i = 0; i < a->n; i++)
    if (a->blocks[i] == old) {
      if (p) a->blocks[i] = p;
      else a->blocks[i] = a->blocks[--a->n];
      return;
    }
  if (p) {
    LX_ASSERT(a->n < (int)(sizeof a->blocks / sizeof *a->blocks));
    a->blocks[a->n++] = p;
  }
}

static void out_of_memory(ScanAllocs *a) {
  for (int i = 0; i < a->n; i++) lx_free(a->blocks[i]);
  a->n = 0;
  longjmp(*a->oom, 1);
}

void *scan_alloc(ScanAllocs *a, size_t n) {
  void *p = lx_malloc(n);
  if (!p) out_of_memory(a);
  track(a, NULL, p);
  return p;
}

void *scan_realloc(ScanAllocs *a, void *old, size_t n) {
  void *p = lx_realloc(old, n);
  if (!p) out_of_memory(a);
  track(a, old, p);
  return p;
}

void scan_free(ScanAllocs *a, void *p) {
  if (!p) return;
  track(a, p, NULL);
  lx_free(p);
}
