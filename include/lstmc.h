/* lstmc — public C API.
 *
 * Conventions (as in SQLite and Lua):
 *  - Handles are opaque. Every function that can fail returns an lstmc_status; on failure
 *    lstmc_errmsg() returns one message for the last failure on the calling thread, naming the file and
 *    place where the user's input was wrong.
 *  - Ownership is written beside each function. Destructors accept NULL.
 *  - Nothing here aborts on bad input or on allocation failure.
 */
#ifndef LSTMC_H
#define LSTMC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LSTMC_VERSION "0.1.0"

typedef enum lstmc_status {
  LSTMC_OK = 0,
  LSTMC_ERR_USAGE = 1,       /* bad arguments or options */
  LSTMC_ERR_PARSE = 2,       /* malformed spec or pipeline text */
  LSTMC_ERR_IO = 3,          /* a file could not be read or written */
  LSTMC_ERR_FORMAT = 4,      /* a weights/checkpoint file is malformed or lies about itself */
  LSTMC_ERR_SHAPE = 5,       /* shapes disagree between spec and weights, or between tensors */
  LSTMC_ERR_VALUE = 6,       /* NaN/Inf weights, out-of-range values */
  LSTMC_ERR_DATA = 7,        /* input text cannot be tokenized with the model's vocabulary */
  LSTMC_ERR_NOMEM = 8,       /* out of memory, or a declared size over the memory cap */
  LSTMC_ERR_UNSUPPORTED = 9, /* the executor or pass cannot take this graph or format */
  LSTMC_ERR_NODEVICE = 10,   /* no GPU, or a CUDA library is missing */
  LSTMC_ERR_BACKEND = 11,    /* a code generator, compiler or driver call failed */
  LSTMC_ERR_INTERRUPTED = 12 /* stopped by a signal (state was saved) */
} lstmc_status;

/* The message of the last failure on this thread. Owned by lstmc; valid until the next call. */
const char *lstmc_errmsg(void);
/* A short name for a status ("parse error", ...). Static storage. */
const char *lstmc_status_name(int status);

#ifdef __cplusplus
}
#endif
#endif
