/* Text helpers used at every level: whole files, and suggestions for misspelled words. */
#ifndef LSTMC_SUPPORT_TEXT_H
#define LSTMC_SUPPORT_TEXT_H
#include <stddef.h>

/* Reads a whole file into memory (NUL-terminated; caller lx_free's). Errors name the file. */
int read_file(const char *path, char **data, size_t *len);
/* Writes a whole file atomically: to a temporary file beside it, synced, then renamed over path, so that a
 * failure never leaves a torn file. Errors name the file. */
int write_file_atomic(const char *path, const void *data, size_t len);
/* Edit distance (a transposition counts as one edit), for "did you mean" suggestions. */
int edit_distance(const char *a, const char *b);
/* The closest of candidates[] to word within a small distance, or NULL. */
const char *closest_word(const char *word, const char *const *candidates, int n);

#endif
