/* Shared by the event-driven clients of the multi phases,
 * bench/clients/multi_reqivo.c and multi_curl.c, which #include this file
 * (it is not compiled on its own):
 *
 *   client hold  URL C          C transfers started at once, each on its own
 *                               connection, all in flight together (the
 *                               server holds each request 1 s)
 *   client small URL SECONDSs [K]  K (default 64) transfers kept in flight
 *                               over K kept-alive connections for SECONDS,
 *                               after BENCH_MULTI_WARMUP seconds (default 1)
 *
 * Both print one JSON line. Every wait is bounded: BENCH_MULTI_DEADLINE
 * seconds (default 60) after the start, a run that is not finished prints
 * an error line and exits 1.
 *
 * Peak descriptors and threads: /proc/self/fd and /proc/self/status are
 * read every 100 ms from the first add until the first transfer finishes
 * (while all are in flight), and once more at the end; the CPU time those
 * reads cost (getrusage RUSAGE_THREAD around each) is reported apart
 * ("sample_us") and left out of utime_us/stime_us. */
#include "common.h" /* bench_http_version */

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

enum multi_mode { MULTI_HOLD, MULTI_SMALL };

struct multi_args {
  enum multi_mode mode;
  const char *mode_name;
  const char *url;
  long count;       /* hold: transfers */
  double duration;  /* small: seconds measured */
  long concurrency; /* small: transfers in flight */
  double warmup;    /* small: seconds before the measured part */
  double deadline;  /* seconds after the start, for everything */
};

static double mc_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void mc_parse(int argc, char **argv, struct multi_args *a) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s hold URL COUNT\n       %s small URL SECONDSs [CONCURRENCY]\n", argv[0], argv[0]);
    exit(2);
  }
  memset(a, 0, sizeof *a);
  a->mode_name = argv[1];
  if (!strcmp(argv[1], "hold")) a->mode = MULTI_HOLD;
  else if (!strcmp(argv[1], "small")) a->mode = MULTI_SMALL;
  else { fprintf(stderr, "unknown mode %s\n", argv[1]); exit(2); }
  a->url = argv[2];
  if (a->mode == MULTI_HOLD) {
    a->count = atol(argv[3]);
    if (a->count <= 0) { fprintf(stderr, "COUNT must be positive\n"); exit(2); }
  } else {
    a->duration = atof(argv[3]);
    a->concurrency = argc > 4 ? atol(argv[4]) : 64;
    if (a->duration <= 0 || a->concurrency <= 0) { fprintf(stderr, "bad SECONDS or CONCURRENCY\n"); exit(2); }
  }
  const char *w = getenv("BENCH_MULTI_WARMUP");
  a->warmup = w ? atof(w) : 1.0;
  const char *d = getenv("BENCH_MULTI_DEADLINE");
  a->deadline = d ? atof(d) : 60.0;
}

/* Raises the soft descriptor limit to the hard one; returns the new soft limit. */
static long mc_raise_nofile(void) {
  struct rlimit lim;
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return -1;
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0) getrlimit(RLIMIT_NOFILE, &lim);
  }
  return lim.rlim_cur == RLIM_INFINITY ? -1 : (long)lim.rlim_cur;
}

/* Open descriptors of the process (the directory's own one left out). */
static long mc_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  long n = 0;
  if (!d) return -1;
  while (readdir(d)) n++;
  closedir(d);
  return n - 3; /* ".", ".." and the directory's own descriptor */
}

static long mc_status(const char *field) {
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

static double mc_tv_us(struct timeval tv) { return (double)tv.tv_sec * 1e6 + (double)tv.tv_usec; }

struct mc_peak {
  long fds, threads, samples;
  double cost_u, cost_s; /* CPU time of the samples (user, system) */
  double next;    /* when the next sample is due */
};

/* A sample after the measured part: its cost is not taken off. */
static void mc_sample(struct mc_peak *p);
static void mc_sample_after(struct mc_peak *p) {
  double u = p->cost_u, s = p->cost_s;
  mc_sample(p);
  p->cost_u = u;
  p->cost_s = s;
}

static void mc_sample(struct mc_peak *p) {
  struct rusage a, b;
  getrusage(RUSAGE_THREAD, &a);
  long f = mc_fds(), t = mc_status("Threads");
  getrusage(RUSAGE_THREAD, &b);
  if (f > p->fds) p->fds = f;
  if (t > p->threads) p->threads = t;
  p->samples++;
  p->cost_u += mc_tv_us(b.ru_utime) - mc_tv_us(a.ru_utime);
  p->cost_s += mc_tv_us(b.ru_stime) - mc_tv_us(a.ru_stime);
  p->next = mc_now() + 0.1;
}

/* Milliseconds to wait at most: until the next sample (when sampling) and
 * never more than 100 ms, so that the deadline is checked. */
__attribute__((unused)) static int mc_wait_ms(const struct mc_peak *p, int sampling) {
  if (!sampling) return 100;
  double ms = (p->next - mc_now()) * 1e3;
  if (ms < 0) return 0;
  return ms > 100 ? 100 : (int)ms + 1;
}

struct mc_mark { double t; struct rusage ru; };

static void mc_mark(struct mc_mark *m) {
  m->t = mc_now();
  getrusage(RUSAGE_SELF, &m->ru);
}

static void mc_json_str(char *out, size_t cap, const char *v) {
  size_t o = strlen(out);
  for (; *v && o + 8 < cap; v++) {
    unsigned char c = (unsigned char)*v;
    if (c == '"' || c == '\\') { out[o++] = '\\'; out[o++] = (char)c; }
    else if (c < 0x20) o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
    else out[o++] = (char)c;
  }
  out[o] = 0;
}

/* The error line, and exit 1. */
static void mc_fail(const char *client, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void mc_fail(const char *client, const char *fmt, ...) {
  char msg[512], esc[1100] = "";
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s: %s\n", client, msg);
  mc_json_str(esc, sizeof esc, msg);
  printf("{\"client\":\"%s\",\"error\":\"%s\"}\n", client, esc);
  fflush(stdout);
  exit(1);
}

/* The result line: common fields, then `extra` (JSON members, no braces). */
static void mc_report(const char *client, const struct multi_args *a, long n, long ok, long failed,
                      const char *first_error, const struct mc_mark *s, const struct mc_mark *e,
                      const struct mc_peak *p, long fds_base, long nofile, const char *extra) {
  char err[600] = "";
  mc_json_str(err, sizeof err, first_error ? first_error : "");
  double su = p ? p->cost_u : 0, ss = p ? p->cost_s : 0, sample = su + ss;
  double u = mc_tv_us(e->ru.ru_utime) - mc_tv_us(s->ru.ru_utime) - su;
  double sy = mc_tv_us(e->ru.ru_stime) - mc_tv_us(s->ru.ru_stime) - ss;
  printf("{\"client\":\"%s\",\"mode\":\"%s\",\"n\":%ld,\"ok\":%ld,\"failed\":%ld,\"first_error\":\"%s\","
         "\"secs\":%.6f,\"utime_us\":%.0f,\"stime_us\":%.0f,\"sample_us\":%.0f,\"samples\":%ld,"
         "\"hwm_kb\":%ld,\"rss_kb\":%ld,\"threads_peak\":%ld,\"threads_end\":%ld,\"fds_peak\":%ld,"
         "\"fds_base\":%ld,\"nofile\":%ld,\"concurrency\":%ld",
         client, a->mode_name, n, ok, failed, err, e->t - s->t, u, sy, sample, p ? p->samples : 0,
         mc_status("VmHWM"), mc_status("VmRSS"), p ? p->threads : -1, mc_status("Threads"),
         p ? p->fds : -1, fds_base, nofile, a->mode == MULTI_HOLD ? a->count : a->concurrency);
  if (extra && *extra) printf(",%s", extra);
  printf("}\n");
  fflush(stdout);
}
