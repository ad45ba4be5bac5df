/* Text helpers used at every level: reading a whole file, and "did you mean" suggestions by edit distance. */
#include "support/text.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support/alloc.h"
#include "support/err.h"

int read_file(const char *path, char **data, size_t *len) {
  *data = NULL;
  *len = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return lx_fail(LSTMC_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
  struct stat sbuf;
  if (fstat(fileno(f), &sbuf) == 0 && S_ISDIR(sbuf.st_mode)) {
    fclose(f);
    return lx_fail(LSTMC_ERR_IO, "cannot read '%s': it is a directory", path);
  }
  size_t cap = 1 << 16, n = 0;
  char *buf = lx_malloc(cap + 1);
  if (!buf) {
    fclose(f);
    return lx_nomem("reading a file");
  }
  for (;;) {
    if (n == cap) {
      if (cap > ((size_t)1 << 40)) {
        lx_free(buf);
        fclose(f);
        return lx_fail(LSTMC_ERR_IO, "'%s' is too large", path);
      }
      char *nb = lx_realloc(buf, cap * 2 + 1);
      if (!nb) {
        lx_free(buf);
        fclose(f);
        return lx_nomem("reading a file");
      }
      buf = nb;
      cap *= 2;
    }
    size_t k = fread(buf + n, 1, cap - n, f);
    n += k;
    if (k == 0) break;
  }
  int err = ferror(f);
  fclose(f);
  if (err) {
    lx_free(buf);
    return lx_fail(LSTMC_ERR_IO, "error reading '%s'", path);
  }
  buf[n] = 0;
  *data = buf;
  *len = n;
  return 0;
}

int write_file_atomic(const char *path, const void *data, size_t len) {
  size_t n = strlen(path) + 32;
  char *tmp = lx_malloc(n);
  if (!tmp) return lx_nomem("writing a file");
  snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) {
    int st = lx_fail(LSTMC_ERR_IO, "cannot create '%s': %s", path, strerror(errno));
    lx_free(tmp);
    return st;
  }
  const char *p = data, *step = "write";
  int ok = 1;
  while (ok && len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) ok = 0;
    else {
      p += w;
      len -= (size_t)w;
    }
  }
  if (ok && !(ok = fsync(fd) == 0)) step = "sync";
  if (close(fd) != 0 && ok) {
    ok = 0;
    step = "close";
  }
  if (ok && !(ok = rename(tmp, path) == 0)) step = "rename";
  int e = errno;
  if (!ok) unlink(tmp);
  lx_free(tmp);
  return ok ? 0 : lx_fail(LSTMC_ERR_IO, "cannot write '%s': %s failed: %s", path, step, strerror(e ? e : EIO));
}

int edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 64 || lb > 64) return 1000;
  int d[65][65];
  for (size_t i = 0; i <= la; i++) d[i][0] = (int)i;
  for (size_t j = 0; j <= lb; j++) d[0][j] = (int)j;
  for (size_t i = 1; i <= la; i++)
    for (size_t j = 1; j <= lb; j++) {
      int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
      if (d[i - 1][j] + 1 < c) c = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < c) c = d[i][j - 1] + 1;
      /* a transposition counts as one edit */
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < c) c = d[i - 2][j - 2] + 1;
      d[i][j] = c;
    }
  return d[la][lb];
}

const char *closest_word(const char *word, const char *const *candidates, int n) {
  const char *best = NULL;
  int bestd = 3;
  size_t lw = strlen(word);
  for (int i = 0; i < n; i++) {
    int d = edit_distance(word, candidates[i]);
    int limit = lw <= 3 ? 1 : 2;
    if (d <= limit && d < bestd) {
      bestd = d;
      best = candidates[i];
    }
  }
  return best;
}
