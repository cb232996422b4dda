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
 *        ws      URL is ws://...: one WebSocket with permessage-deflate
 *                offered (no context takeover either way, as gorilla's
 *                client offers), COUNT binary messages of SIZE bytes
 *                (bench_ws_message), then the close handshake
 * WARM_URL (stream only, optional 4th argument): fetched a few times on
 *        the same connection before the stream, so that the library is
 *        initialised when the RSS baseline is taken
 * SIZE   (ws only, 4th argument): the message size in bytes
 * COUNT  a number of requests, or a duration such as "2s" (ka and newconn)
 *
 * BENCH_WARMUP (default 100) requests run before the measured part.
 * BENCH_HTTP_VERSION ("2" or "1.1", the h2_* phases): the HTTP version the
 * client asks for (bench_http_version); every response must be of it.
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

enum bench_mode { MODE_KA, MODE_NEWCONN, MODE_STREAM, MODE_HOLD, MODE_WS };

struct bench_args {
  enum bench_mode mode;
  const char *mode_name;
  const char *url;
  long count;      /* requests, or 0 when running for a duration */
  double duration; /* seconds, or 0 */
  long warmup;
  const char *warm_url; /* stream: requests made before the stream (same host) */
  size_t size;          /* ws: message size */
};

static inline double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void bench_parse(int argc, char **argv, struct bench_args *a) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s ka|newconn|stream|hold URL COUNT|SECONDSs [WARM_URL]\n"
                    "       %s ws ws://HOST:PORT/PATH COUNT|SECONDSs SIZE\n", argv[0], argv[0]);
    exit(2);
  }
  a->mode_name = argv[1];
  if (!strcmp(argv[1], "ka")) a->mode = MODE_KA;
  else if (!strcmp(argv[1], "newconn")) a->mode = MODE_NEWCONN;
  else if (!strcmp(argv[1], "stream")) a->mode = MODE_STREAM;
  else if (!strcmp(argv[1], "hold")) a->mode = MODE_HOLD;
  else if (!strcmp(argv[1], "ws")) a->mode = MODE_WS;
  else { fprintf(stderr, "unknown mode %s\n", argv[1]); exit(2); }
  a->url = argv[2];
  size_t l = strlen(argv[3]);
  if (l > 1 && argv[3][l - 1] == 's') { a->duration = atof(argv[3]); a->count = 0; }
  else { a->count = atol(argv[3]); a->duration = 0; }
  const char *w = getenv("BENCH_WARMUP");
  a->warmup = w ? atol(w) : 100;
  a->warm_url = argc > 4 ? argv[4] : NULL;
  a->size = 0;
  if (a->mode == MODE_WS) {
    a->warm_url = NULL;
    a->size = argc > 4 ? (size_t)atol(argv[4]) : 1 << 20;
    const char *ww = getenv("BENCH_WS_WARMUP");
    a->warmup = ww ? atol(ww) : 2;
  }
}

/* The WebSocket phase's message (bench/go/ws.go has the same generator,
 * and the server checks every message it inflates against it): SIZE
 * bytes in segments of 1 to 16 KiB (lengths drawn at random), alternately
 * text-like (words drawn from a fixed list) and random bytes, all from
 * splitmix64 seeded with the size: about half compressible, half not. */
static inline uint64_t bench_splitmix64(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static inline void bench_ws_message(uint8_t *buf, size_t size) {
  static const char *const words[32] = {
      "the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog",
      "reqivo", "websocket", "message", "deflate", "compress", "frame", "server", "client",
      "{\"id\":", "\"name\":", "true,", "false,", "null,", "12345,", "0.5,", "\"value\"",
      "request", "response", "header", "body", "stream", "window", "block", "data"};
  uint64_t s = 0x7265717669766fULL ^ (uint64_t)size;
  size_t pos = 0;
  for (unsigned seg = 0; pos < size; seg++) {
    size_t len = 1024 + (size_t)(bench_splitmix64(&s) % (15 * 1024 + 1));
    size_t end = pos + len < size ? pos + len : size;
    if (seg % 2 == 0) {
      while (pos < end) {
        const char *w = words[bench_splitmix64(&s) % 32];
        for (; *w && pos < end; w++) buf[pos++] = (uint8_t)*w;
        if (pos < end) buf[pos++] = ' ';
      }
    } else {
      while (pos < end) {
        uint64_t r = bench_splitmix64(&s);
        for (int i = 0; i < 8 && pos < end; i++) buf[pos++] = (uint8_t)(r >> (8 * i));
      }
    }
  }
}

/* FNV-1a 64 of the message, printed by every client: the same workload. */
static inline uint64_t bench_fnv1a(const uint8_t *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) { h ^= p[i]; h *= 0x100000001b3ull; }
  return h;
}

/* BENCH_HTTP_VERSION: 2 for "2", 1 for "1.1", 0 when unset (the
 * library's default); anything else is a usage error. */
static inline int bench_http_version(void) {
  const char *v = getenv("BENCH_HTTP_VERSION");
  if (!v || !*v) return 0;
  if (!strcmp(v, "2")) return 2;
  if (!strcmp(v, "1.1")) return 1;
  fprintf(stderr, "BENCH_HTTP_VERSION must be 2 or 1.1, not %s\n", v);
  exit(2);
}

/* The JSON value of a response's version: "2" or "1.1" (HTTP/1.0: "1.0"). */
static inline const char *bench_version_name(int major, int minor) {
  if (major == 2) return "2";
  if (major == 1) return minor ? "1.1" : "1.0";
  return "?";
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
