/* The kernel cache (see cuda_cache.h). An entry file is
 *   "LSTMCKC1" | key (32 bytes) | payload length (u64, little endian) | SHA-256 of the payload | payload
 * so that a truncated, overwritten or foreign file is recognized before its bytes reach the driver. */
#include "codegen/cuda/cuda_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lstmc.h"
#include "support/alloc.h"
#include "support/err.h"
#include "support/sha256.h"

#define ENTRY_MAGIC "LSTMCKC1"
#define HEADER_BYTES (8 + 32 + 8 + 32)

int cuda_cache_dir(char *buf, size_t n) {
  const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
  if (xdg && xdg[0] == '/') snprintf(buf, n, "%s/lstmc/cuda", xdg);
  else if (home && *home) snprintf(buf, n, "%s/.cache/lstmc/cuda", home);
  else return lx_fail(LSTMC_ERR_IO, "no kernel cache folder: neither XDG_CACHE_HOME nor HOME is set");
  return 0;
}

/* Each field is hashed with its length in front, so that no two different field lists hash alike. */
static void hash_field(Sha256 *s, const void *p, size_t n) {
  uint8_t len[8];
  for (int i = 0; i < 8; i++) len[i] = (uint8_t)((uint64_t)n >> (8 * i));
  sha256_update(s, len, 8);
  sha256_update(s, p, n);
}

void cuda_cache_key(const char *source, const char *const *opts, int nopts, const char *arch, int nvrtc_major,
                    int nvrtc_minor, uint8_t key[32]) {
  Sha256 s;
  char ver[64];
  sha256_init(&s);
  hash_field(&s, "lstmc kernel cache v1", 21);
  hash_field(&s, source, strlen(source));
  hash_field(&s, arch, strlen(arch));
  snprintf(ver, sizeof ver, "nvrtc %d.%d", nvrtc_major, nvrtc_minor);
  hash_field(&s, ver, strlen(ver));
  hash_field(&s, LSTMC_VERSION, strlen(LSTMC_VERSION));
  uint8_t n = (uint8_t)nopts;
  hash_field(&s, &n, 1);
  for (int i = 0; i < nopts; i++) hash_field(&s, opts[i], strlen(opts[i]));
  sha256_final(&s, key);
}

void cuda_cache_path(const char *dir, const uint8_t key[32], char *buf, size_t n) {
  char hex[65];
  sha256_hex(key, hex);
  snprintf(buf, n, "%s/%s.bin", dir, hex);
}

/* Reads the whole file; returns 0, -1 when it cannot be read (treated as a miss), or LSTMC_ERR_NOMEM. */
static int read_entry(const char *path, uint8_t **data, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat stt;
  if (fstat(fd, &stt) || stt.st_size < 0 || (uint64_t)stt.st_size > ((uint64_t)1 << 34)) {
    close(fd);
    return -1;
  }
  size_t n = (size_t)stt.st_size, got = 0;
  uint8_t *buf = lx_malloc(n ? n : 1);
  if (!buf) {
    close(fd);
    return lx_nomem("reading a kernel cache entry");
  }
  while (got < n) {
    ssize_t k = read(fd, buf + got, n - got);
    if (k <= 0) break;
    got += (size_t)k;
  }
  close(fd);
  if (got != n) {
    lx_free(buf);
    return -1;
  }
  *data = buf;
  *len = n;
  return 0;
}

int cuda_cache_load(const char *dir, const uint8_t key[32], uint8_t **data, size_t *len, int *result) {
  char path[1024];
  cuda_cache_path(dir, key, path, sizeof path);
  *data = NULL;
  *len = 0;
  *result = CUDA_CACHE_MISS;
  uint8_t *buf = NULL;
  size_t n = 0;
  int rc = read_entry(path, &buf, &n);
  if (rc > 0) return rc;
  if (rc < 0) return 0; /* no entry */
  uint64_t plen = 0;
  if (n >= HEADER_BYTES)
    for (int i = 0; i < 8; i++) plen |= (uint64_t)buf[40 + i] << (8 * i);
  uint8_t digest[32];
  int ok = n >= HEADER_BYTES && !memcmp(buf, ENTRY_MAGIC, 8) && !memcmp(buf + 8, key, 32) &&
           plen == (uint64_t)(n - HEADER_BYTES);
  if (ok) {
    sha256(buf + HEADER_BYTES, (size_t)plen, digest);
    ok = !memcmp(digest, buf + 48, 32);
  }
  if (!ok) {
    lx_free(buf);
    unlink(path); /* a bad entry is replaced by the recompiled one */
    *result = CUDA_CACHE_CORRUPT;
    return 0;
  }
  memmove(buf, buf + HEADER_BYTES, (size_t)plen);
  *data = buf;
  *len = (size_t)plen;
  *result = CUDA_CACHE_HIT;
  return 0;
}

/* mkdir -p */
static int make_dirs(const char *dir) {
  char tmp[1024];
  snprintf(tmp, sizeof tmp, "%s", dir);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(tmp, 0755) && errno != EEXIST) return lx_fail(LSTMC_ERR_IO, "cannot create the kernel cache folder '%s': %s", tmp, strerror(errno));
    *p = '/';
  }
  if (mkdir(tmp, 0755) && errno != EEXIST) return lx_fail(LSTMC_ERR_IO, "cannot create the kernel cache folder '%s': %s", tmp, strerror(errno));
  return 0;
}

static int write_all(int fd, const void *p, size_t n) {
  const uint8_t *b = p;
  while (n > 0) {
    ssize_t k = write(fd, b, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return -1;
    b += k;
    n -= (size_t)k;
  }
  return 0;
}

int cuda_cache_store(const char *dir, const uint8_t key[32], const uint8_t *data, size_t len) {
  int st = make_dirs(dir);
  if (st) return st;
  char path[1024], tmp[1100];
  cuda_cache_path(dir, key, path, sizeof path);
  /* pid and address make the temporary name unique among concurrent writers */
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%lx", path, (long)getpid(), (unsigned long)(uintptr_t)&st);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return lx_fail(LSTMC_ERR_IO, "cannot create the kernel cache entry '%s': %s", tmp, strerror(errno));
  uint8_t header[HEADER_BYTES];
  memcpy(header, ENTRY_MAGIC, 8);
  memcpy(header + 8, key, 32);
  for (int i = 0; i < 8; i++) header[40 + i] = (uint8_t)((uint64_t)len >> (8 * i));
  sha256(data, len, header + 48);
  int ok = !write_all(fd, header, sizeof header) && !write_all(fd, data, len) && !fsync(fd);
  int err = errno;
  if (close(fd)) ok = 0;
  if (ok && rename(tmp, path)) {
    err = errno;
    ok = 0;
  }
  if (!ok) {
    unlink(tmp);
    return lx_fail(LSTMC_ERR_IO, "cannot write the kernel cache entry '%s': %s", path, strerror(err));
  }
  return 0;
}
