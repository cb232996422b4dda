/* A tiny assertion kit for the C tests: every check counts, a failed one
 * prints file:line and the expression (plus the values where that helps)
 * and the program carries on, so one run shows every failure.
 * check_finish() prints the tally and gives main's exit status. */
#ifndef REQIVO_TEST_CHECK_H
#define REQIVO_TEST_CHECK_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int check_count;
static int check_failures;
static int check_known_bugs;

static inline int check_at(int ok, const char *file, int line, const char *expr) {
  check_count++;
  if (!ok) {
    check_failures++;
    fprintf(stderr, "%s:%d: check failed: %s\n", file, line, expr);
    fflush(stderr);
  }
  return ok;
}

/* Like check_at, with a printf-style note printed under a failure. */
static inline int check_atf(int ok, const char *file, int line, const char *expr,
                            const char *fmt, ...) {
  if (!check_at(ok, file, line, expr)) {
    va_list ap;
    va_start(ap, fmt);
    fputs("    ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stderr);
  }
  return ok;
}

#define CHECK(expr) check_at(!!(expr), __FILE__, __LINE__, #expr)
/* CHECKF(expr, fmt, args...): the note says what was seen instead. */
#define CHECKF(expr, ...) check_atf(!!(expr), __FILE__, __LINE__, #expr, __VA_ARGS__)

static inline int check_eq_at(long long got, long long want, const char *file, int line,
                              const char *expr) {
  return check_atf(got == want, file, line, expr, "got %lld, want %lld", got, want);
}
/* Integers of any width (all fit a long long in these tests); each side is
 * evaluated once. */
#define CHECK_EQ(got, want) \
  check_eq_at((long long)(got), (long long)(want), __FILE__, __LINE__, #got " == " #want)

static inline int check_str_eq(const char *got, const char *want, const char *file, int line,
                               const char *expr) {
  int ok = got != NULL && want != NULL && strcmp(got, want) == 0;
  return check_atf(ok, file, line, expr, "got \"%s\", want \"%s\"", got ? got : "(null)",
                   want ? want : "(null)");
}
#define CHECK_STR_EQ(got, want) check_str_eq((got), (want), __FILE__, __LINE__, #got " == " #want)

static inline int check_contains(const char *hay, const char *needle, const char *file, int line,
                                 const char *expr) {
  int ok = hay != NULL && needle != NULL && strstr(hay, needle) != NULL;
  return check_atf(ok, file, line, expr, "\"%s\" does not contain \"%s\"", hay ? hay : "(null)",
                   needle ? needle : "(null)");
}
#define CHECK_CONTAINS(hay, needle) \
  check_contains((hay), (needle), __FILE__, __LINE__, #hay " contains " #needle)

/* A check that is known to fail because of a reported library bug: a
 * failure is printed as a known bug and does not fail the program; a pass
 * says the bug looks fixed, so the KNOWN_BUG can become a CHECK. */
#define KNOWN_BUG(expr, what)                                                           \
  do {                                                                                  \
    check_count++;                                                                      \
    if (!(expr)) {                                                                      \
      check_known_bugs++;                                                               \
      fprintf(stderr, "%s:%d: known bug (not counted as a failure): %s\n    %s\n",      \
              __FILE__, __LINE__, #expr, what);                                         \
    } else {                                                                            \
      fprintf(stderr, "%s:%d: known bug seems fixed, make it a CHECK: %s\n", __FILE__,  \
              __LINE__, #expr);                                                         \
    }                                                                                   \
  } while (0)

/* Prints "<name>: N checks, M failed[, K known bugs]"; returns main's status. */
static inline int check_finish(const char *name) {
  printf("%s: %d checks, %d failed", name, check_count, check_failures);
  if (check_known_bugs > 0) {
    printf(", %d known bug%s", check_known_bugs, check_known_bugs == 1 ? "" : "s");
  }
  printf("\n");
  fflush(stdout);
  return check_failures == 0 ? 0 : 1;
}

#endif /* REQIVO_TEST_CHECK_H */
