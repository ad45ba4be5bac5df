/* A place in a source file, for diagnostics. `file` points to a string owned by whoever parsed it. */
#ifndef LSTMC_SUPPORT_SRCLOC_H
#define LSTMC_SUPPORT_SRCLOC_H

typedef struct SrcLoc {
  const char *file;
  int line, col;         /* 1-based; 0 when unknown */
  int end_line, end_col; /* last column, inclusive */
} SrcLoc;

#endif
