/* A bump allocator for data that dies together (the AST, IR names and attributes). Freeing the arena frees
 * everything in it, which is why the parser needs no %destructor: a discarded value simply stays in the
 * arena until the parse ends. */
#ifndef LSTMC_SUPPORT_ARENA_H
#define LSTMC_SUPPORT_ARENA_H
#include <stddef.h>

typedef struct ArenaChunk ArenaChunk;
typedef struct Arena {
  ArenaChunk *head;
  int failed; /* set once an allocation failed; later allocations return NULL */
} Arena;

void arena_init(Arena *a);
void arena_free(Arena *a);
/* Zeroed, 16-byte aligned; NULL (and a->failed) when out of memory. */
void *arena_alloc(Arena *a, size_t n);
char *arena_strndup(Arena *a, const char *s, size_t n);
char *arena_strdup(Arena *a, const char *s);

#endif
