/* lit: a small, self-contained runner for test files that carry their commands and expected output, in the
 * manner of LLVM's lit and FileCheck (docs/passes.md, "Writing a pass and its tests").
 *
 *   lit [--lstmc PATH] [--tmp DIR] FILE.test...   runs the RUN: lines of each file; fails at the first that fails
 *   lit filecheck CHECKFILE [--check-prefix P]    matches stdin against the check lines of CHECKFILE
 *   lit not COMMAND [ARGS...]                     succeeds when COMMAND exits with a non-zero status
 *
 * RUN lines run with `bash -o pipefail` in the runner's folder, one after the other, after these
 * substitutions: %s the test file, %S its folder, %t a scratch path for this test (DIR/FOLDER_NAME.tmp), %T the
 * scratch folder, %lstmc the lstmc binary, %lit this program, %% a percent sign; and the commands FileCheck
 * and not (where a command starts) become `lit filecheck` and `lit not`. A RUN line ending in \ continues
 * on the next RUN line.
 *
 * Check lines (any text, then PREFIX: with PREFIX = CHECK unless --check-prefix says otherwise):
 *   CHECK: p       p occurs after the previous match
 *   CHECK-NEXT: p  p occurs on the line after the previous match's
 *   CHECK-SAME: p  p occurs on the previous match's line, after it
 *   CHECK-NOT: p   p does not occur between the previous match and the next (or the end)
 *   CHECK-EMPTY:   the line after the previous match's is empty
 * A pattern is literal text, except {{regex}} (POSIX extended); a run of blanks matches any run of blanks,
 * and blanks at either end are ignored. Unlike FileCheck there are no [[variables]], so `[[0, 3], [1]]`
 * is literal text. The first check that fails is reported with its line, the pattern and the input around
 * the place it applies to, and the exit status is 1. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- small helpers -------------------------------------------------------------------------------- */

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    fprintf(stderr, "lit: out of memory\n");
    exit(2);
  }
  return p;
}

static void *xrealloc(void *p, size_t n) {
  p = realloc(p, n ? n : 1);
  if (!p) {
    fprintf(stderr, "lit: out of memory\n");
    exit(2);
  }
  return p;
}

typedef struct Buf {
  char *s;
  size_t n, cap;
} Buf;

static void buf_add(Buf *b, const char *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    b->cap = (b->n + n + 1) * 2;
    b->s = xrealloc(b->s, b->cap);
  }
  memcpy(b->s + b->n, s, n);
  b->n += n;
  b->s[b->n] = 0;
}

static void buf_puts(Buf *b, const char *s) { buf_add(b, s, strlen(s)); }

static char *read_stream(FILE *f, size_t *len) {
  Buf b = {0};
  char chunk[65536];
  size_t k;
  while ((k = fread(chunk, 1, sizeof chunk, f)) > 0) buf_add(&b, chunk, k);
  if (!b.s) buf_add(&b, "", 0);
  *len = b.n;
  return b.s;
}

static char *read_path(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *s = read_stream(f, len);
  fclose(f);
  return s;
}

/* Lines of a text, without their line ends. */
typedef struct Lines {
  char **v;
  size_t n;
} Lines;

static Lines split_lines(char *text, size_t len) {
  Lines l = {0};
  size_t cap = 0;
  char *p = text, *end = text + len;
  while (p < end) {
    char *nl = memchr(p, '\n', (size_t)(end - p));
    char *e = nl ? nl : end;
    if (l.n == cap) {
      cap = cap ? cap * 2 : 64;
      l.v = xrealloc(l.v, cap * sizeof *l.v);
    }
    *e = 0;
    l.v[l.n++] = p;
    p = e + 1;
  }
  return l;
}

/* ---- FileCheck ------------------------------------------------------------------------------------ */

enum { D_CHECK, D_NEXT, D_SAME, D_NOT, D_EMPTY };
static const char *const dir_suffix[] = {"", "-NEXT", "-SAME", "-NOT", "-EMPTY"};

typedef struct Directive {
  int kind;
  int line;      /* in the check file, from 1 */
  char *pattern; /* as written, blanks trimmed */
  regex_t re;
} Directive;

/* The pattern as an extended regular expression: literal text escaped, {{…}} kept, blank runs as [ \t]+. */
static int compile_pattern(const char *pat, regex_t *re, char *err, size_t errn) {
  Buf b = {0};
  for (const char *p = pat; *p;) {
    if (p[0] == '{' && p[1] == '{') {
      const char *close = strstr(p + 2, "}}");
      if (!close) {
        snprintf(err, errn, "'{{' without '}}'");
        free(b.s);
        return -1;
      }
      buf_puts(&b, "(");
      buf_add(&b, p + 2, (size_t)(close - p - 2));
      buf_puts(&b, ")");
      p = close + 2;
    } else if (*p == ' ' || *p == '\t') {
      while (*p == ' ' || *p == '\t') p++;
      buf_puts(&b, "[ \t]+");
    } else {
      if (strchr(".[]()*+?{}|^$\\", *p)) buf_add(&b, "\\", 1);
      buf_add(&b, p, 1);
      p++;
    }
  }
  if (!b.s) buf_add(&b, "", 0);
  int rc = regcomp(re, b.s, REG_EXTENDED);
  if (rc) regerror(rc, re, err, errn);
  free(b.s);
  return rc ? -1 : 0;
}

static int is_ident(int c) { return isalnum(c) || c == '_' || c == '-'; }

/* Finds PREFIX[-KIND]: in a line. Returns 1 and fills d (pattern not yet compiled), 0 when the line has no
 * directive, -1 (with a message) for PREFIX-SOMETHING: that is not a directive. */
static int parse_directive(const char *line, const char *prefix, Directive *d, char *err, size_t errn) {
  size_t pl = strlen(prefix);
  for (const char *p = strstr(line, prefix); p; p = strstr(p + 1, prefix)) {
    if (p > line && is_ident((unsigned char)p[-1])) continue;
    const char *q = p + pl;
    int kind = -1;
    if (*q == ':') kind = D_CHECK;
    else if (*q == '-') {
      for (int k = 1; k <= D_EMPTY; k++) {
        size_t sl = strlen(dir_suffix[k]);
        if (!strncmp(q, dir_suffix[k], sl) && q[sl] == ':') {
          kind = k;
          q += sl;
          break;
        }
      }
      if (kind < 0) {
        const char *e = q + 1;
        while (isalpha((unsigned char)*e)) e++;
        if (*e == ':' && e > q + 1) {
          snprintf(err, errn, "unknown directive '%.*s' (%s, -NEXT, -SAME, -NOT, -EMPTY)", (int)(e + 1 - p), p, prefix);
          return -1;
        }
        continue;
      }
    } else {
      continue;
    }
    q++; /* the colon */
    while (*q == ' ' || *q == '\t') q++;
    size_t n = strlen(q);
    while (n > 0 && (q[n - 1] == ' ' || q[n - 1] == '\t' || q[n - 1] == '\r')) n--;
    d->kind = kind;
    d->pattern = strndup(q, n);
    return 1;
  }
  return 0;
}

typedef struct Match {
  size_t line, start, end; /* input line; byte range in it */
} Match;

/* First match of d in input line `line` at or after column `from`. */
static int match_in_line(const Directive *d, const Lines *in, size_t line, size_t from, Match *m) {
  const char *s = in->v[line];
  if (from > strlen(s)) return 0;
  regmatch_t rm;
  if (regexec(&d->re, s + from, 1, &rm, from ? REG_NOTBOL : 0)) return 0;
  m->line = line;
  m->start = from + (size_t)rm.rm_so;
  m->end = from + (size_t)rm.rm_eo;
  return 1;
}

static int search(const Directive *d, const Lines *in, size_t line, size_t col, size_t last_line, Match *m) {
  for (size_t l = line; l < in->n && l <= last_line; l++)
    if (match_in_line(d, in, l, l == line ? col : 0, m)) return 1;
  return 0;
}

/* Edits that turn pattern a into the closest substring of b (free start and end in b), for "the closest
 * line" of a check that matched nowhere. */
static size_t distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 400) la = 400;
  if (lb > 1000) lb = 1000;
  size_t *prev = xmalloc((lb + 1) * sizeof *prev), *cur = xmalloc((lb + 1) * sizeof *cur);
  for (size_t j = 0; j <= lb; j++) prev[j] = 0;
  for (size_t i = 1; i <= la; i++) {
    cur[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t c = prev[j - 1] + (a[i - 1] != b[j - 1]);
      if (prev[j] + 1 < c) c = prev[j] + 1;
      if (cur[j - 1] + 1 < c) c = cur[j - 1] + 1;
      cur[j] = c;
    }
    size_t *t = prev;
    prev = cur;
    cur = t;
  }
  size_t r = la;
  for (size_t j = 0; j <= lb; j++)
    if (prev[j] < r) r = prev[j];
  free(prev);
  free(cur);
  return r;
}

static void trimmed(const char *s, char *out, size_t n) {
  while (*s == ' ' || *s == '\t') s++;
  snprintf(out, n, "%s", s);
}

/* The input around line `at` (from 0): two lines before, the line marked with '>', three after. */
static void show_input(const Lines *in, size_t at, const char *what) {
  if (in->n == 0) {
    fprintf(stderr, "  the input is empty\n");
    return;
  }
  if (at >= in->n) at = in->n - 1;
  size_t lo = at >= 2 ? at - 2 : 0, hi = at + 3 < in->n ? at + 3 : in->n - 1;
  fprintf(stderr, "  input lines %zu-%zu ('>' marks %s):\n", lo + 1, hi + 1, what);
  for (size_t l = lo; l <= hi; l++) fprintf(stderr, "  %c %5zu | %.160s\n", l == at ? '>' : ' ', l + 1, in->v[l]);
}

static int check_failed(const char *file, const Directive *d, const char *prefix, const char *why) {
  fprintf(stderr, "%s:%d: error: %s%s: %s\n", file, d->line, prefix, dir_suffix[d->kind], why);
  fprintf(stderr, "  expected: %s\n", d->kind == D_EMPTY ? "an empty line" : d->pattern);
  return 1;
}

/* The line most like the pattern at or after `from`, for a CHECK that matched nowhere. */
static size_t closest_line(const Directive *d, const Lines *in, size_t from) {
  size_t best = from, bestd = (size_t)-1;
  char a[512], b[512];
  trimmed(d->pattern, a, sizeof a);
  for (size_t l = from; l < in->n; l++) {
    trimmed(in->v[l], b, sizeof b);
    size_t dd = distance(a, b);
    if (dd < bestd) {
      bestd = dd;
      best = l;
    }
  }
  return best;
}

/* CHECK-NOTs pending between `from` and `to` (exclusive): the first that occurs fails. */
static int check_nots(const char *file, const char *prefix, const Directive *nots, int nnot, const Lines *in, Match from,
                      Match to, int to_end) {
  for (int k = 0; k < nnot; k++) {
    Match m;
    size_t last = to_end ? in->n : to.line;
    if (!search(&nots[k], in, from.line, from.end, last, &m)) continue;
    if (!to_end && (m.line > to.line || (m.line == to.line && m.end > to.start))) continue;
    check_failed(file, &nots[k], prefix, "found where it must not be");
    show_input(in, m.line, "where it was found");
    return 1;
  }
  return 0;
}

/* The checks in order, the pending CHECK-NOTs collected in nots[] until the next positive match. */
static int match_checks(const char *checkfile, const char *prefix, const Directive *dirs, int nd, const Lines *input,
                        Directive *nots) {
  const Lines in = *input;
  Match prev = {0, 0, 0};
  int have_prev = 0, nnot = 0;
  for (int k = 0; k < nd; k++) {
    const Directive *d = &dirs[k];
    Match m;
    switch (d->kind) {
    case D_NOT: nots[nnot++] = *d; continue;
    case D_CHECK: {
      size_t from = have_prev ? prev.line : 0, col = have_prev ? prev.end : 0;
      if (!search(d, &in, from, col, in.n, &m)) {
        char why[96];
        if (have_prev) snprintf(why, sizeof why, "not found after the previous match (input line %zu)", prev.line + 1);
        else snprintf(why, sizeof why, "not found in the input");
        check_failed(checkfile, d, prefix, why);
        size_t near = closest_line(d, &in, from);
        show_input(&in, near, "the closest line");
        return 1;
      }
      break;
    }
    case D_NEXT:
      if (prev.line + 1 >= in.n || !match_in_line(d, &in, prev.line + 1, 0, &m)) {
        char why[96];
        snprintf(why, sizeof why, "not on input line %zu, the line after the previous match", prev.line + 2);
        check_failed(checkfile, d, prefix, why);
        show_input(&in, prev.line + 1, "the line checked");
        return 1;
      }
      break;
    case D_SAME:
      if (!match_in_line(d, &in, prev.line, prev.end, &m)) {
        char why[96];
        snprintf(why, sizeof why, "not on input line %zu after the previous match", prev.line + 1);
        check_failed(checkfile, d, prefix, why);
        show_input(&in, prev.line, "the line checked");
        return 1;
      }
      break;
    default: /* D_EMPTY */
      if (prev.line + 1 >= in.n || in.v[prev.line + 1][0]) {
        char why[96];
        snprintf(why, sizeof why, "input line %zu, the line after the previous match, is not empty", prev.line + 2);
        check_failed(checkfile, d, prefix, why);
        show_input(&in, prev.line + 1, "the line checked");
        return 1;
      }
      m.line = prev.line + 1;
      m.start = m.end = 0;
      break;
    }
    if (check_nots(checkfile, prefix, nots, nnot, &in, prev, m, 0)) return 1;
    nnot = 0;
    prev = m;
    have_prev = 1;
  }
  return check_nots(checkfile, prefix, nots, nnot, &in, prev, prev, 1);
}

/* Runs the checks over the input lines; 0 when all hold, else 1 after reporting the first that fails. */
static int run_checks(const char *checkfile, const char *prefix, const Directive *dirs, int nd, const Lines *input) {
  const Lines in = *input;
  Directive *nots = xmalloc((size_t)nd * sizeof *nots);
  int st = match_checks(checkfile, prefix, dirs, nd, &in, nots);
  free(nots);
  return st;
}

static int filecheck(int argc, char **argv) {
  const char *checkfile = NULL, *prefix = "CHECK";
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--check-prefix") && i + 1 < argc) prefix = argv[++i];
    else if (!strncmp(argv[i], "--check-prefix=", 15)) prefix = argv[i] + 15;
    else if (!checkfile) checkfile = argv[i];
    else {
      fprintf(stderr, "lit filecheck: unexpected argument '%s'\n", argv[i]);
      return 2;
    }
  }
  if (!checkfile) {
    fprintf(stderr, "usage: lit filecheck CHECKFILE [--check-prefix P] < INPUT\n");
    return 2;
  }
  size_t clen, ilen;
  char *ctext = read_path(checkfile, &clen);
  if (!ctext) {
    fprintf(stderr, "lit filecheck: cannot read %s: %s\n", checkfile, strerror(errno));
    return 2;
  }
  Lines cl = split_lines(ctext, clen);
  Directive *dirs = xmalloc((cl.n + 1) * sizeof *dirs);
  int nd = 0, st = 0;
  for (size_t i = 0; i < cl.n && !st; i++) {
    char err[256];
    Directive d = {0};
    int r = parse_directive(cl.v[i], prefix, &d, err, sizeof err);
    if (r < 0) {
      fprintf(stderr, "%s:%zu: error: %s\n", checkfile, i + 1, err);
      st = 2;
    }
    if (r <= 0) continue;
    d.line = (int)i + 1;
    if (d.kind != D_EMPTY && !d.pattern[0]) {
      fprintf(stderr, "%s:%d: error: %s%s: has no pattern\n", checkfile, d.line, prefix, dir_suffix[d.kind]);
      st = 2;
    } else if (compile_pattern(d.pattern, &d.re, err, sizeof err)) {
      fprintf(stderr, "%s:%d: error: bad pattern: %s\n", checkfile, d.line, err);
      st = 2;
    } else if (nd == 0 && (d.kind == D_NEXT || d.kind == D_SAME || d.kind == D_EMPTY)) {
      fprintf(stderr, "%s:%d: error: %s%s cannot be the first check\n", checkfile, d.line, prefix, dir_suffix[d.kind]);
      regfree(&d.re);
      st = 2;
    } else {
      dirs[nd++] = d;
      continue;
    }
    free(d.pattern);
  }
  if (!st && !nd) {
    fprintf(stderr, "%s: error: no check lines with prefix '%s:'\n", checkfile, prefix);
    st = 2;
  }
  if (!st) {
    char *itext = read_stream(stdin, &ilen);
    Lines in = split_lines(itext, ilen);
    st = run_checks(checkfile, prefix, dirs, nd, &in);
    free(in.v);
    free(itext);
  }
  for (int k = 0; k < nd; k++) {
    regfree(&dirs[k].re);
    free(dirs[k].pattern);
  }
  free(dirs);
  free(cl.v);
  free(ctext);
  return st;
}

/* ---- not ------------------------------------------------------------------------------------------ */

static int run_not(int argc, char **argv) {
  if (argc < 1) {
    fprintf(stderr, "usage: lit not COMMAND [ARGS...]\n");
    return 2;
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) return 2;
  if (pid == 0) {
    execvp(argv[0], argv);
    fprintf(stderr, "lit not: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return 2;
  if (WIFSIGNALED(status)) {
    fprintf(stderr, "lit not: %s was killed by signal %d (a crash is not a failure)\n", argv[0], WTERMSIG(status));
    return 2;
  }
  return WEXITSTATUS(status) == 0 ? 1 : 0;
}

/* ---- the runner ----------------------------------------------------------------------------------- */

typedef struct Subst {
  const char *self, *lstmc, *file, *dir, *tmp, *tmpdir;
} Subst;

static int command_start(const char *cmd, size_t i) {
  while (i > 0 && (cmd[i - 1] == ' ' || cmd[i - 1] == '\t')) i--;
  if (i == 0) return 1;
  char c = cmd[i - 1];
  return c == '|' || c == ';' || c == '&' || c == '(' || c == '!';
}

/* The RUN line with its substitutions made. */
static char *substitute(const char *cmd, const Subst *s) {
  Buf b = {0};
  char quote = 0;
  for (size_t i = 0; cmd[i];) {
    char c = cmd[i];
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '\'' || c == '"') {
      quote = c;
    }
    if (c == '%') {
      const char *rest = cmd + i + 1;
      if (!strncmp(rest, "lstmc", 5)) buf_puts(&b, s->lstmc), i += 6;
      else if (!strncmp(rest, "lit", 3)) buf_puts(&b, s->self), i += 4;
      else if (*rest == 's') buf_puts(&b, s->file), i += 2;
      else if (*rest == 'S') buf_puts(&b, s->dir), i += 2;
      else if (*rest == 't') buf_puts(&b, s->tmp), i += 2;
      else if (*rest == 'T') buf_puts(&b, s->tmpdir), i += 2;
      else if (*rest == '%') buf_puts(&b, "%"), i += 2;
      else buf_add(&b, cmd + i, 1), i++;
      continue;
    }
    if (!quote && command_start(cmd, i) && (!strncmp(cmd + i, "FileCheck", 9) || !strncmp(cmd + i, "not", 3))) {
      int fc = cmd[i] == 'F';
      size_t n = fc ? 9 : 3;
      if (cmd[i + n] == ' ' || cmd[i + n] == '\t' || cmd[i + n] == 0) {
        buf_puts(&b, s->self);
        buf_puts(&b, fc ? " filecheck" : " not");
        i += n;
        continue;
      }
    }
    buf_add(&b, cmd + i, 1);
    i++;
  }
  if (!b.s) buf_add(&b, "", 0);
  return b.s;
}

/* Runs one command with bash -o pipefail; its stdout and stderr together into *out. */
static int run_shell(const char *cmd, char **out, size_t *outlen) {
  int fds[2];
  *out = NULL;
  *outlen = 0;
  if (pipe(fds)) return -1;
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    close(fds[1]);
    execl("/bin/bash", "bash", "-o", "pipefail", "-c", cmd, (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  FILE *f = fdopen(fds[0], "r");
  *out = read_stream(f, outlen);
  fclose(f);
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  return status;
}

static int run_file(const char *path, const Subst *base) {
  size_t len;
  char *text = read_path(path, &len);
  if (!text) {
    fprintf(stderr, "lit: cannot read %s: %s\n", path, strerror(errno));
    return 2;
  }
  Lines lines = split_lines(text, len);
  /* the substitutions of this file */
  Subst s = *base;
  char *dir = xmalloc(strlen(path) + 2);
  strcpy(dir, path);
  char *slash = strrchr(dir, '/');
  if (slash) *slash = 0;
  else strcpy(dir, ".");
  /* %t is named after the file and its folder, so that tests/a/x.test and tests/b/x.test do not share it */
  const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
  const char *folder = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
  char *tmp = xmalloc(strlen(base->tmpdir) + strlen(folder) + strlen(name) + 16);
  sprintf(tmp, "%s/%s_%s.tmp", base->tmpdir, folder, name);
  s.file = path;
  s.dir = dir;
  s.tmp = tmp;
  int runs = 0, status = 0;
  for (size_t i = 0; i < lines.n && !status; i++) {
    char *r = strstr(lines.v[i], "RUN:");
    if (!r) continue;
    size_t first = i;
    Buf cmd = {0};
    for (;;) {
      const char *p = r + 4;
      while (*p == ' ' || *p == '\t') p++;
      size_t n = strlen(p);
      while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r')) n--;
      int more = n > 0 && p[n - 1] == '\\';
      buf_add(&cmd, p, more ? n - 1 : n);
      if (!more) break;
      buf_puts(&cmd, " ");
      if (++i >= lines.n || !(r = strstr(lines.v[i], "RUN:"))) {
        fprintf(stderr, "%s:%zu: error: the RUN line continues (\\) but the next line is not a RUN line\n", path, first + 1);
        status = 1;
        break;
      }
    }
    if (!cmd.s) buf_add(&cmd, "", 0);
    if (!status) {
      runs++;
      char *full = substitute(cmd.s, &s);
      char *out = NULL;
      size_t outlen = 0;
      int rc = run_shell(full, &out, &outlen);
      if (rc < 0 || !WIFEXITED(rc) || WEXITSTATUS(rc) != 0) {
        fprintf(stderr, "FAIL %s: RUN line %zu ", path, first + 1);
        if (rc >= 0 && WIFSIGNALED(rc)) fprintf(stderr, "killed by signal %d\n", WTERMSIG(rc));
        else fprintf(stderr, "exited with status %d\n", rc >= 0 ? WEXITSTATUS(rc) : -1);
        fprintf(stderr, "  RUN: %s\n", cmd.s);
        if (outlen) {
          fprintf(stderr, "its output (stdout and stderr):\n");
          fwrite(out, 1, outlen, stderr);
          if (out[outlen - 1] != '\n') fputc('\n', stderr);
        }
        status = 1;
      }
      free(out);
      free(full);
    }
    free(cmd.s);
  }
  if (!status && !runs) {
    fprintf(stderr, "%s: error: no RUN lines\n", path);
    status = 1;
  }
  if (!status) printf("PASS %s (%d RUN line%s)\n", path, runs, runs == 1 ? "" : "s");
  free(text);
  free(lines.v);
  free(dir);
  free(tmp);
  return status;
}

static const char *abs_self(const char *argv0) {
  static char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n > 0) {
    buf[n] = 0;
    return buf;
  }
  return argv0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "filecheck")) return filecheck(argc - 2, argv + 2);
  if (argc >= 2 && !strcmp(argv[1], "not")) return run_not(argc - 2, argv + 2);
  Subst s = {abs_self(argv[0]), "lstmc", NULL, NULL, NULL, "."};
  int nfiles = 0, status = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--lstmc") && i + 1 < argc) {
      /* absolute, so that RUN lines may change folder (cd %S) */
      static char abs[PATH_MAX];
      s.lstmc = strchr(argv[++i], '/') && realpath(argv[i], abs) ? abs : argv[i];
    }
    else if (!strcmp(argv[i], "--tmp") && i + 1 < argc) s.tmpdir = argv[++i];
    else if (argv[i][0] == '-') {
      fprintf(stderr, "lit: unknown option '%s'\n", argv[i]);
      return 2;
    }
  }
  setenv("LC_ALL", "C", 1);
  if (mkdir(s.tmpdir, 0777) && errno != EEXIST) {
    fprintf(stderr, "lit: cannot create %s: %s\n", s.tmpdir, strerror(errno));
    return 2;
  }
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--lstmc") || !strcmp(argv[i], "--tmp")) {
      i++;
      continue;
    }
    nfiles++;
    if (run_file(argv[i], &s)) status = 1;
  }
  if (!nfiles) {
    fprintf(stderr, "usage: lit [--lstmc PATH] [--tmp DIR] FILE.test...\n       lit filecheck CHECKFILE [--check-prefix P]\n"
                    "       lit not COMMAND [ARGS...]\n");
    return 2;
  }
  return status;
}
