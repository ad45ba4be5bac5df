/* The kernel cache without a GPU or NVRTC: SHA-256 against FIPS 180-4's examples; keys that change with
 * every input (source, options and their order, architecture, NVRTC version); store and hit; a miss; entries
 * that are damaged (a flipped payload byte, truncation, another key's entry under this name, garbage) are
 * reported CORRUPT and removed; the folder comes from XDG_CACHE_HOME or HOME; a store leaves no temporary
 * file behind and an unwritable folder is an error naming it. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codegen/cuda/cuda_cache.h"
#include "lstmc.h"
#include "support/alloc.h"
#include "support/sha256.h"
#include "testutil.h"

static char dir[600];

static void test_sha256(void) {
  char hex[65];
  uint8_t d[32];
  sha256("abc", 3, d);
  sha256_hex(d, hex);
  CHECK_STR_EQ(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  sha256("", 0, d);
  sha256_hex(d, hex);
  CHECK_STR_EQ(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  sha256(m, strlen(m), d);
  sha256_hex(d, hex);
  CHECK_STR_EQ(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  /* one million 'a', fed in uneven pieces through the incremental interface */
  Sha256 s;
  sha256_init(&s);
  char buf[1000];
  memset(buf, 'a', sizeof buf);
  size_t left = 1000000, k = 1;
  while (left) {
    size_t n = k < left ? k : left;
    sha256_update(&s, buf, n);
    left -= n;
    k = k % 997 + 1;
  }
  sha256_final(&s, d);
  sha256_hex(d, hex);
  CHECK_STR_EQ(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void test_keys(void) {
  const char *o1[] = {"--gpu-architecture=sm_90", "-default-device"}, *o2[] = {"-default-device", "--gpu-architecture=sm_90"},
             *o3[] = {"--gpu-architecture=sm_80", "-default-device"};
  uint8_t base[32], k[32];
  cuda_cache_key("src", o1, 2, "sm_90", 13, 0, base);
  cuda_cache_key("src", o1, 2, "sm_90", 13, 0, k);
  CHECK(!memcmp(base, k, 32)); /* deterministic */
  cuda_cache_key("src ", o1, 2, "sm_90", 13, 0, k);
  CHECK(memcmp(base, k, 32)); /* source */
  cuda_cache_key("src", o2, 2, "sm_90", 13, 0, k);
  CHECK(memcmp(base, k, 32)); /* option order */
  cuda_cache_key("src", o3, 2, "sm_90", 13, 0, k);
  CHECK(memcmp(base, k, 32)); /* options */
  cuda_cache_key("src", o1, 1, "sm_90", 13, 0, k);
  CHECK(memcmp(base, k, 32)); /* fewer options */
  cuda_cache_key("src", o1, 2, "sm_80", 13, 0, k);
  CHECK(memcmp(base, k, 32)); /* architecture */
  cuda_cache_key("src", o1, 2, "sm_90", 13, 1, k);
  CHECK(memcmp(base, k, 32)); /* NVRTC version */
  cuda_cache_key("src", o1, 2, "sm_90", 12, 0, k);
  CHECK(memcmp(base, k, 32));
  /* fields are length-prefixed: moving a character between two fields changes the key */
  const char *a1[] = {"ab", "c"}, *a2[] = {"a", "bc"};
  uint8_t x[32], y[32];
  cuda_cache_key("s", a1, 2, "sm_90", 13, 0, x);
  cuda_cache_key("s", a2, 2, "sm_90", 13, 0, y);
  CHECK(memcmp(x, y, 32));
}

static int count_files(const char *d, const char *containing) {
  DIR *dd = opendir(d);
  int n = 0;
  if (!dd) return -1;
  struct dirent *e;
  while ((e = readdir(dd)))
    if (strstr(e->d_name, containing)) n++;
  closedir(dd);
  return n;
}

static int load_result(const uint8_t key[32], const uint8_t *want, size_t wantlen) {
  uint8_t *data = NULL;
  size_t len = 0;
  int r = -1;
  if (!CHECK(cuda_cache_load(dir, key, &data, &len, &r) == 0)) return -1;
  if (r == CUDA_CACHE_HIT && want) CHECK(len == wantlen && !memcmp(data, want, len));
  if (r != CUDA_CACHE_HIT) CHECK(data == NULL);
  lx_free(data);
  return r;
}

static void write_bytes(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!CHECK(f)) return;
  fwrite(p, 1, n, f);
  fclose(f);
}

static void test_store_load(void) {
  const char *o[] = {"-x"};
  uint8_t k1[32], k2[32];
  cuda_cache_key("kernel one", o, 1, "sm_90", 13, 0, k1);
  cuda_cache_key("kernel two", o, 1, "sm_90", 13, 0, k2);
  uint8_t payload[3000];
  for (size_t i = 0; i < sizeof payload; i++) payload[i] = (uint8_t)(i * 7 + 3);
  CHECK_INT_EQ(load_result(k1, NULL, 0), CUDA_CACHE_MISS); /* the folder does not exist yet */
  CHECK(cuda_cache_store(dir, k1, payload, sizeof payload) == 0);
  CHECK_INT_EQ(load_result(k1, payload, sizeof payload), CUDA_CACHE_HIT);
  CHECK_INT_EQ(load_result(k2, NULL, 0), CUDA_CACHE_MISS);
  CHECK_INT_EQ(count_files(dir, ".tmp."), 0);
  char p1[1024], p2[1024];
  cuda_cache_path(dir, k1, p1, sizeof p1);
  cuda_cache_path(dir, k2, p2, sizeof p2);

  /* a flipped payload byte */
  FILE *f = fopen(p1, "r+b");
  if (CHECK(f)) {
    fseek(f, 80 + 1234, SEEK_SET);
    fputc(payload[1234] ^ 0x40, f);
    fclose(f);
  }
  CHECK_INT_EQ(load_result(k1, NULL, 0), CUDA_CACHE_CORRUPT);
  struct stat st;
  CHECK(stat(p1, &st) != 0); /* removed */
  CHECK_INT_EQ(load_result(k1, NULL, 0), CUDA_CACHE_MISS);

  /* truncated */
  CHECK(cuda_cache_store(dir, k1, payload, sizeof payload) == 0);
  CHECK(truncate(p1, 80 + 100) == 0);
  CHECK_INT_EQ(load_result(k1, NULL, 0), CUDA_CACHE_CORRUPT);

  /* another key's (valid) entry under this key's name */
  CHECK(cuda_cache_store(dir, k2, payload, 100) == 0);
  FILE *src = fopen(p2, "rb");
  uint8_t buf[512];
  size_t n = src ? fread(buf, 1, sizeof buf, src) : 0;
  if (src) fclose(src);
  write_bytes(p1, buf, n);
  CHECK_INT_EQ(load_result(k1, NULL, 0), CUDA_CACHE_CORRUPT);
  CHECK_INT_EQ(load_result(k2, payload, 100), CUDA_CACHE_HIT);

  /* garbage, and an empty file */
  write_bytes(p1, "not a cache entry", 17);
  CHECK_INT_EQ(load_result(k1, NULL, 0), CUDA_CACHE_CORRUPT);
  write_bytes(p1, "", 0);
  CHECK_INT_EQ(load_result(k1, NULL, 0), CUDA_CACHE_CORRUPT);

  /* an empty payload is a valid entry */
  CHECK(cuda_cache_store(dir, k1, payload, 0) == 0);
  CHECK_INT_EQ(load_result(k1, payload, 0), CUDA_CACHE_HIT);
  CHECK_INT_EQ(count_files(dir, ".tmp."), 0);

  /* a folder that cannot be created */
  char bad[700];
  snprintf(bad, sizeof bad, "%s/plainfile", dir);
  write_bytes(bad, "x", 1);
  snprintf(bad, sizeof bad, "%s/plainfile/sub", dir);
  CHECK_INT_EQ(cuda_cache_store(bad, k1, payload, 10), LSTMC_ERR_IO);
  CHECK_CONTAINS(lstmc_errmsg(), "plainfile");
}

static void test_dir(void) {
  char buf[1024];
  setenv("XDG_CACHE_HOME", "/some/cache", 1);
  CHECK(cuda_cache_dir(buf, sizeof buf) == 0);
  CHECK_STR_EQ(buf, "/some/cache/lstmc/cuda");
  setenv("XDG_CACHE_HOME", "relative/ignored", 1); /* the XDG spec: relative paths are invalid */
  setenv("HOME", "/home/someone", 1);
  CHECK(cuda_cache_dir(buf, sizeof buf) == 0);
  CHECK_STR_EQ(buf, "/home/someone/.cache/lstmc/cuda");
  unsetenv("XDG_CACHE_HOME");
  unsetenv("HOME");
  CHECK_INT_EQ(cuda_cache_dir(buf, sizeof buf), LSTMC_ERR_IO);
  CHECK_CONTAINS(lstmc_errmsg(), "HOME");
}

/* Empties the test's cache folder, left by an earlier run. */
static void clear_dir(const char *d) {
  DIR *dd = opendir(d);
  if (!dd) return;
  struct dirent *e;
  char p[1400];
  while ((e = readdir(dd)))
    if (e->d_name[0] != '.') {
      snprintf(p, sizeof p, "%s/%s", d, e->d_name);
      unlink(p);
    }
  closedir(dd);
}

int main(int argc, char **argv) {
  snprintf(dir, sizeof dir, "%s/cache_test/lstmc/cuda", argc > 1 ? argv[1] : ".");
  clear_dir(dir);
  test_sha256();
  test_keys();
  test_store_load();
  test_dir();
  return tu_summary("cuda_cache");
}
