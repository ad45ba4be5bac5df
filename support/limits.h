/* The memory cap: sizes that come from files or specs are checked against it before anything is
 * allocated, so that a file claiming 10^12 weights is an error message, not an allocation attempt.
 * The cap is LSTMC_MEM_CAP (bytes, or with a K/M/G/T suffix) when set, else the machine's physical memory. */
#ifndef LSTMC_SUPPORT_LIMITS_H
#define LSTMC_SUPPORT_LIMITS_H
#include <stddef.h>
#include <stdint.h>

uint64_t lx_mem_cap(void);
/* Returns 0 when `bytes` fits under the cap, else LSTMC_ERR_NOMEM with "WHAT needs N, over the memory cap". */
int lx_check_mem(uint64_t bytes, const char *what);
/* "1.5 GB" style text. */
void lx_format_bytes(uint64_t bytes, char *buf, size_t n);

#endif
