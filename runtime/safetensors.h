/* Reading and writing safetensors files (the Hugging Face format PyTorch weights are exchanged in):
 *
 *   8 bytes   N, a little-endian u64: the header length
 *   N bytes   a UTF-8 JSON object: tensor name -> {"dtype": "F32", "shape": [d0, ...],
 *             "data_offsets": [begin, end]}, plus an optional "__metadata__" object of strings
 *   the rest  the byte buffer; data_offsets count from its first byte (file offset 8 + N)
 *
 * The reader trusts nothing in the file: every declared size is checked against the real one before it is
 * used, and each inconsistency is an LSTMC_ERR_FORMAT whose message starts with the file name and names
 * the tensor and the header byte where the problem is ("header byte K" is file offset 8 + K).
 *
 * The writer produces files the reference implementation reads: tensors' bytes are contiguous, with no
 * gaps (its reader rejects gaps), and the header is padded with spaces so that the buffer starts at a
 * multiple of 8. Like the reference writer, it places tensors of larger element size first, so that every
 * tensor starts at a multiple of its element size (relative to the buffer and to the file). Writing is
 * atomic: a temporary file is renamed over the destination only once it is complete and synced. */
#ifndef LSTMC_RUNTIME_SAFETENSORS_H
#define LSTMC_RUNTIME_SAFETENSORS_H
#include <stddef.h>
#include <stdint.h>

#define ST_MAX_DIMS 8
#define ST_MAX_HEADER_BYTES 100000000u /* the reference implementation's limit */

/* Element types, in increasing size (the order the writer sorts by, largest first). */
typedef enum StDtype {
  ST_BOOL, ST_U8, ST_I8, ST_U16, ST_I16, ST_F16, ST_BF16, ST_U32, ST_I32, ST_F32, ST_U64, ST_I64, ST_F64,
  ST_DTYPE_COUNT
} StDtype;

const char *st_dtype_name(int dtype);               /* "F32", ...; "?" when out of range */
size_t st_dtype_size(int dtype);                    /* bytes per element; 0 when out of range */
int st_dtype_parse(const char *name, int *dtype);  /* 0, or -1 when the name is not a dtype above */

typedef struct StTensor {
  char *name;     /* NUL-terminated UTF-8, non-empty, without NUL bytes */
  int dtype;      /* StDtype */
  int ndim;       /* 0 (a scalar) to ST_MAX_DIMS */
  int64_t shape[ST_MAX_DIMS];
  uint64_t nelems;      /* product of shape (1 for a scalar, 0 when a dimension is 0) */
  const uint8_t *data;  /* nbytes bytes inside StFile.buf. NOT necessarily aligned to the element size
                         * (data_offsets in a foreign file may be odd): copy with memcpy before reading
                         * elements. Little-endian, as the format prescribes. */
  size_t nbytes;        /* nelems * st_dtype_size(dtype) */
  uint64_t begin;       /* data_offsets[0] (offset of data from the start of the byte buffer) */
} StTensor;

typedef struct StFile {
  char *path;           /* the name given to the reader */
  uint8_t *buf;         /* the whole file */
  size_t len;
  StTensor *tensors;    /* in header order */
  int ntensors;
  char **meta_keys;     /* "__metadata__" entries, in header order; keys contain no NUL bytes */
  char **meta_values;   /* NUL-terminated, but may contain NUL bytes: see meta_value_lens */
  size_t *meta_value_lens;
  int nmeta;
} StFile;

/* Reads and validates the whole file at path. On success *out owns everything (st_free it). On failure
 * *out is NULL and the status is LSTMC_ERR_IO (cannot open or read), LSTMC_ERR_FORMAT (malformed) or
 * LSTMC_ERR_NOMEM. */
int st_read_file(const char *path, StFile **out);
/* The same for bytes already in memory. The bytes are COPIED (the caller keeps buf); `name` is used in
 * messages and copied into StFile.path. Used by tests and the fuzzer. */
int st_read_buffer(const char *name, const uint8_t *buf, size_t len, StFile **out);
void st_free(StFile *f); /* accepts NULL */

/* The tensor called name, or NULL. */
const StTensor *st_find(const StFile *f, const char *name);
/* The metadata value for key (its length in *len when len is not NULL), or NULL. */
const char *st_meta_get(const StFile *f, const char *key, size_t *len);

typedef struct StWriteTensor {
  const char *name;  /* non-empty, unique, not "__metadata__" */
  int dtype;
  int ndim;
  int64_t shape[ST_MAX_DIMS];
  const void *data;  /* nbytes bytes, little-endian; may be NULL when nbytes is 0 */
  size_t nbytes;     /* must equal the product of shape times st_dtype_size(dtype) */
} StWriteTensor;

/* Writes n tensors and nmeta metadata strings (keys unique) to path, atomically: the data goes to
 * "<path>.tmp.<pid>", which is synced and renamed over path; on any failure the temporary file is removed
 * and an existing file at path is left as it was. Returns LSTMC_OK, LSTMC_ERR_USAGE or LSTMC_ERR_SHAPE for
 * invalid arguments (nothing is created), LSTMC_ERR_IO or LSTMC_ERR_NOMEM. Nothing is borrowed after the
 * call returns. */
int st_write_file(const char *path, const StWriteTensor *t, int n, const char *const *meta_keys,
                  const char *const *meta_values, int nmeta);

#endif
