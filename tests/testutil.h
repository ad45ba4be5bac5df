/* The smallest useful harness for the C unit tests: CHECK macros that print file:line and the failing
 * expression (and the values, for the typed ones) and keep going, so one run shows every failure; then
 * `return tu_summary("name");` at the end of main prints the counts and gives the exit status CTest reads.
 * Header-only with internal linkage: each test is one translation unit. */
#ifndef LSTMC_TESTS_TESTUTIL_H
#define LSTMC_TESTS_TESTUTIL_H
#include <stdio.h>
#include <string.h>

static int tu_checks __attribute__((unused));
static int tu_failures __attribute__((unused));

static inline int tu_check(int ok, const char *file, int line, const char *expr) {
  tu_checks++;
  if (!ok) {
    tu_failures++;
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, expr);
  }
  return ok;
}

/* Each evaluates to the truth of the check, so a test can skip what depends on it: if (!CHECK(p)) return;
 * CHECK_INT_EQ evaluates its arguments again to print them when it fails. */
#define CHECK(cond) tu_check(!!(cond), __FILE__, __LINE__, #cond)

#define CHECK_INT_EQ(a, b)                                                                                   \
  (tu_check((long long)(a) == (long long)(b), __FILE__, __LINE__, #a " == " #b) ||                            \
   (fprintf(stderr, "    left:  %lld\n    right: %lld\n", (long long)(a), (long long)(b)), 0))

static inline int tu_check_str(const char *a, const char *b, int contains, const char *file, int line,
                               const char *expr) {
  int ok = a && b && (contains ? strstr(a, b) != NULL : strcmp(a, b) == 0);
  if (!tu_check(ok, file, line, expr))
    fprintf(stderr, "    %s \"%s\"\n    %s \"%s\"\n", contains ? "text:  " : "left:  ", a ? a : "(null)",
            contains ? "wanted:" : "right: ", b ? b : "(null)");
  return ok;
}

#define CHECK_STR_EQ(a, b) tu_check_str((a), (b), 0, __FILE__, __LINE__, #a " equals " #b)
/* hay contains needle (for error messages, which tests pin by their essential words). */
#define CHECK_CONTAINS(hay, needle) tu_check_str((hay), (needle), 1, __FILE__, __LINE__, #hay " contains " #needle)

static inline int tu_summary(const char *name) {
  printf("%s: %d checks, %d failed\n", name, tu_checks, tu_failures);
  return tu_failures ? 1 : 0;
}

#endif
