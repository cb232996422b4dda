/* Shared by the C benchmark clients: argument parsing, timing, getrusage,
 * /proc/self/status, the optional LD_PRELOAD malloc counter and the one
 * line of JSON every client prints.
 *
 *   client MODE URL COUNT
 *
 * MODE   ka      COUNT requests on one kept-alive connection, whole body read
 *        newconn COUNT requests, each on a new connection (Connection: close)
 *        stream  one request, body streamed into a 64 KiB buffer and dropped
 *        hold    COUNT responses kept in memory at once
 * WARM_URL (stream only, optional 4th argument): fetched a few times on
 *        the same connection before the stream, so that the library is
 *        initialised when the RSS baseline is taken
 * COUNT  a number of requests, or a duration such as "2s" (ka and newconn)
 *
 * BENCH_WARMUP (default 100) requests run before the measured part.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

enum bench_mode { MODE_KA, MODE_NEWCONN, MODE_STREAM, MODE_HOLD };

struct bench_args {
  enum bench_mode mode;
  const char *mode_name;
  const char *url;
  long count;      /* requests, or 0 when running for a duration */
  double duration; /* seconds, or 0 */
  long warmup;
  const char *warm_url; /* stream: requests made before the stream (same host) */
};

static inline double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void bench_parse(int argc, char **argv, struct bench_args *a) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s ka|newconn|stream|hold URL COUNT|SECONDSs\n", argv[0]);
    exit(2);
  }
  a->mode_name = argv[1];
  if (!strcmp(argv[1], "ka")) a->mode = MODE_KA;
  else if (!strcmp(argv[1], "newconn")) a->mode = MODE_NEWCONN;
  else if (!strcmp(argv[1], "stream")) a->mode = MODE_STREAM;
  else if (!strcmp(argv[1], "hold")) a->mode = MODE_HOLD;
  else { fprintf(stderr, "unknown mode %s\n", argv[1]); exit(2); }
  a->url = argv[2];
  size_t l = strlen(argv[3]);
  if (l > 1 && argv[3][l - 1] == 's') { a->duration = atof(argv[3]); a->count = 0; }
  else { a->count = atol(argv[3]); a->duration = 0; }
  const char *w = getenv("BENCH_WARMUP");
  a->warmup = w ? atol(w) : 100;
  a->warm_url = argc > 4 ? argv[4] : NULL;
}

/* Loop control: returns nonzero while the measured loop should go on. */
static inline int bench_more(const struct bench_args *a, long done, double t0) {
  if (a->duration > 0) return (done & 15) != 0 || bench_now() - t0 < a->duration;
  return done < a->count;
}

static inline long bench_status_kb(const char *field) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long v = -1;
  size_t fl = strlen(field);
  if (!f) return -1;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, field, fl) && line[fl] == ':') { v = atol(line + fl + 1); break; }
  fclose(f);
  return v;
}

/* Resets VmHWM to the current RSS (Linux >= 4.0), so that the peak of the
 * measured part is not hidden by an earlier one. */
static inline void bench_reset_hwm(void) {
  FILE *f = fopen("/proc/self/clear_refs", "w");
  if (f) { fputs("5", f); fclose(f); }
}

/* The LD_PRELOAD counter (bench/malloc_count.c), when loaded. */
typedef void (*malloc_count_fn)(uint64_t out[4]);
static inline void bench_mallocs(uint64_t out[4]) {
  static malloc_count_fn fn;
  static int looked;
  if (!looked) { fn = (malloc_count_fn)dlsym(RTLD_DEFAULT, "malloc_count_get"); looked = 1; }
  if (fn) fn(out); else memset(out, 0, 4 * sizeof(uint64_t));
}

struct bench_mark { double t; struct rusage ru; uint64_t m[4]; long rss_kb, hwm_kb; };

/* Start mark: /proc is read (and allocates) before the counters are taken. */
static inline void bench_mark_start(struct bench_mark *m) {
  m->rss_kb = bench_status_kb("VmRSS");
  m->hwm_kb = bench_status_kb("VmHWM");
  bench_mallocs(m->m);
  getrusage(RUSAGE_SELF, &m->ru);
  m->t = bench_now();
}

/* End mark: the counters are taken before /proc is read. */
static inline void bench_mark_end(struct bench_mark *m) {
  m->t = bench_now();
  getrusage(RUSAGE_SELF, &m->ru);
  bench_mallocs(m->m);
  m->rss_kb = bench_status_kb("VmRSS");
  m->hwm_kb = bench_status_kb("VmHWM");
}

static inline double tv_us(struct timeval tv) { return (double)tv.tv_sec * 1e6 + (double)tv.tv_usec; }

/* Prints the result line; `extra` is appended inside the JSON object. */
static inline void bench_report(const char *client, const struct bench_args *a, long n,
                                unsigned long long bytes, const struct bench_mark *s,
                                const struct bench_mark *e, const char *extra) {
  int counted = dlsym(RTLD_DEFAULT, "malloc_count_get") != NULL;
  printf("{\"client\":\"%s\",\"mode\":\"%s\",\"n\":%ld,\"secs\":%.6f,\"utime_us\":%.0f,"
         "\"stime_us\":%.0f,\"bytes\":%llu,\"rss_before_kb\":%ld,\"rss_after_kb\":%ld,"
         "\"hwm_before_kb\":%ld,\"hwm_after_kb\":%ld,\"minflt\":%ld",
         client, a->mode_name, n, e->t - s->t, tv_us(e->ru.ru_utime) - tv_us(s->ru.ru_utime),
         tv_us(e->ru.ru_stime) - tv_us(s->ru.ru_stime), bytes, s->rss_kb, e->rss_kb, s->hwm_kb,
         e->hwm_kb, e->ru.ru_minflt - s->ru.ru_minflt);
  if (counted)
    printf(",\"mallocs\":%llu,\"reallocs\":%llu,\"frees\":%llu,\"malloc_bytes\":%llu",
           (unsigned long long)(e->m[0] - s->m[0]), (unsigned long long)(e->m[1] - s->m[1]),
           (unsigned long long)(e->m[2] - s->m[2]), (unsigned long long)(e->m[3] - s->m[3]));
  if (extra && *extra) printf(",%s", extra);
  printf("}\n");
  fflush(stdout);
}

#endif
