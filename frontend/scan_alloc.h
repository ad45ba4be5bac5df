/* Flex's own allocations, for the two lexers (frontend/lexer.l, frontend/ir_lexer.l). Their yyalloc,
 * yyrealloc and yyfree hooks come here: the blocks go through lx_malloc (so that failure injection reaches
 * the lexers) and each live one is recorded, because flex cannot survive an allocation failure (it would
 * exit): on failure every block is freed and the parse is resumed with longjmp at `oom`, where the caller
 * reports out of memory. */
#ifndef LSTMC_FRONTEND_SCAN_ALLOC_H
#define LSTMC_FRONTEND_SCAN_ALLOC_H
#include <setjmp.h>
#include <stddef.h>

typedef struct ScanAllocs {
  void *blocks[16]; /* a scanner holds a few: its state, the buffer stack, the buffer */
  int n;
  jmp_buf *oom;     /* set by the caller before the scanner is made */
} ScanAllocs;

void *scan_alloc(ScanAllocs *a, size_t n);
void *scan_realloc(ScanAllocs *a, void *old, size_t n);
void scan_free(ScanAllocs *a, void *p);

#endif
