/* The memory cap (see limits.h). */
#include "support/limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "support/err.h"

uint64_t lx_mem_cap(void) {
  const char *env = getenv("LSTMC_MEM_CAP");
  if (env && *env) {
    char *end;
    double v = strtod(env, &end);
    double mul = 1;
    switch (*end) {
    case 'k': case 'K': mul = 1e3; end++; break;
    case 'm': case 'M': mul = 1e6; end++; break;
    case 'g': case 'G': mul = 1e9; end++; break;
    case 't': case 'T': mul = 1e12; end++; break;
    default: break;
    }
    if (v > 0 && *end == 0) return (uint64_t)(v * mul);
  }
  long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
  if (pages > 0 && size > 0) return (uint64_t)pages * (uint64_t)size;
  return (uint64_t)1 << 34;
}

void lx_format_bytes(uint64_t b, char *buf, size_t n) {
  const char *units[] = {"bytes", "kB", "MB", "GB", "TB", "PB", "EB"};
  double v = (double)b;
  int u = 0;
  while (v >= 1000 && u < 6) v /= 1000, u++;
  if (u == 0) snprintf(buf, n, "%llu bytes", (unsigned long long)b);
  else snprintf(buf, n, "%.1f %s", v, units[u]);
}

int lx_check_mem(uint64_t bytes, const char *what) {
  uint64_t cap = lx_mem_cap();
  if (bytes <= cap) return 0;
  char need[32], have[32];
  lx_format_bytes(bytes, need, sizeof need);
  lx_format_bytes(cap, have, sizeof have);
  return lx_fail(LSTMC_ERR_NOMEM, "%s needs %s, over the memory cap of %s (set LSTMC_MEM_CAP to change it)", what,
                 need, have);
}
