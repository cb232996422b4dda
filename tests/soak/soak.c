/* The soak: one session sends REQUESTS keep-alive requests (default one
 * million) to nginx through the C API, every 50th as a stream read to its
 * end, and samples its own resident set size (VmRSS) every SAMPLE requests
 * (default 100,000), printing one table row per sample. Fails if any
 * request fails, if the connection is not kept alive (more than a handful
 * opened), or if RSS grows more than 8 MiB from the first sample to the
 * last: memory must be flat once the first requests have warmed the
 * allocator. Run by tests/soak/run.sh (`make soak`).
 *
 * usage: soak PORT [REQUESTS] [SAMPLE] */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "reqivo.h"

#define RSS_SLACK_KIB (8 * 1024)

static long rss_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kib = -1;
  while (f != NULL && fgets(line, sizeof line, f) != NULL) {
    if (strncmp(line, "VmRSS:", 6) == 0) {
      kib = atol(line + 6);
      break;
    }
  }
  if (f != NULL) {
    fclose(f);
  }
  return kib;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int stream_all(reqivo_session *s, const reqivo_request *r, size_t *len, reqivo_error *err) {
  reqivo_stream *st = reqivo_session_open(s, r, NULL, err);
  if (st == NULL) {
    return -1;
  }
  uint8_t buf[4096];
  size_t total = 0;
  int rc = -1;
  /* Bounded: each read returns > 0 bytes until the end of a small body. */
  for (int i = 0; i < 1 << 20; i++) {
    int64_t n = reqivo_stream_read(st, buf, sizeof buf, err);
    if (n < 0) {
      break;
    }
    if (n == 0) {
      rc = 0;
      break;
    }
    total += (size_t)n;
  }
  reqivo_stream_free(st);
  *len = total;
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s PORT [REQUESTS] [SAMPLE]\n", argv[0]);
    return 2;
  }
  long total = argc > 2 ? atol(argv[2]) : 1000000;
  long sample = argc > 3 ? atol(argv[3]) : 100000;
  if (total <= 0 || sample <= 0) {
    fprintf(stderr, "REQUESTS and SAMPLE must be positive\n");
    return 2;
  }
  char url[128];
  int ulen = snprintf(url, sizeof url, "http://127.0.0.1:%d/small.json", atoi(argv[1]));
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  reqivo_request *r = s ? reqivo_request_new("GET", 3, url, (size_t)ulen, &err) : NULL;
  if (r == NULL) {
    fprintf(stderr, "setup failed: %s: %s\n", reqivo_code_name(err.code), err.message);
    return 1;
  }
  reqivo_pool *pool = reqivo_session_pool(s);

  long failures = 0;
  size_t want_len = 0;
  long first_rss = -1, last_rss = -1;
  double start = now_s(), last_t = start;
  printf("%10s %10s %10s %9s %9s %8s %8s\n", "requests", "rss_kib", "growth", "seconds",
         "req/s", "opened", "reused");
  for (long i = 1; i <= total; i++) {
    size_t len = 0;
    int ok;
    if (i % 50 == 0) {
      ok = stream_all(s, r, &len, &err) == 0;
    } else {
      const reqivo_response *resp = reqivo_session_send(s, r, NULL, &err);
      ok = resp != NULL && resp->status == 200;
      len = resp ? resp->body_len : 0;
      reqivo_response_free(resp);
    }
    if (want_len == 0 && ok) {
      want_len = len;
    }
    if (!ok || len != want_len) {
      if (failures++ < 10) {
        fprintf(stderr, "request %ld failed: %s: %s (body %zu bytes)\n", i,
                reqivo_code_name(err.code), err.message, len);
      }
    }
    if (i % sample == 0 || i == total) {
      long rss = rss_kib();
      if (first_rss < 0) {
        first_rss = rss;
      }
      last_rss = rss;
      double t = now_s();
      reqivo_pool_stats st;
      memset(&st, 0, sizeof st);
      st.struct_size = sizeof st;
      reqivo_pool_get_stats(pool, &st);
      long done_in_slice = (i % sample == 0) ? sample : i % sample;
      printf("%10ld %10ld %+10ld %9.1f %9.0f %8llu %8llu\n", i, rss, rss - first_rss, t - start,
             done_in_slice / (t - last_t), (unsigned long long)st.opened,
             (unsigned long long)st.reused);
      fflush(stdout);
      last_t = t;
    }
  }
  reqivo_pool_stats st;
  memset(&st, 0, sizeof st);
  st.struct_size = sizeof st;
  reqivo_pool_get_stats(pool, &st);
  double took = now_s() - start;
  printf("soak: %ld requests in %.1f s (%.0f/s), %ld failed; RSS %ld KiB at the first sample, "
         "%ld KiB at the last (%+ld KiB); %llu connections opened, %llu reuses\n",
         total, took, total / took, failures, first_rss, last_rss, last_rss - first_rss,
         (unsigned long long)st.opened, (unsigned long long)st.reused);
  reqivo_pool_free(pool);
  reqivo_request_free(r);
  reqivo_session_free(s);
  int bad = failures > 0 || st.opened > 5 || last_rss - first_rss > RSS_SLACK_KIB;
  if (bad) {
    printf("soak: FAILED (failures, connections not kept alive, or RSS growth over %d KiB)\n",
           RSS_SLACK_KIB);
  }
  return bad ? 1 : 0;
}
