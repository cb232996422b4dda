/* reqivo's blocking API from many threads at once, for the h2_inflight
 * phase:
 *
 *   threads_reqivo small URL 5s [K]  K threads, each sending its own
 *                               request (built once, same URL) through one
 *                               session again and again, so that K are in
 *                               flight all the time; completions counted
 *                               for 5 s after a warm-up
 *
 * BENCH_HTTP_VERSION=2 (common.h): the session speaks HTTP/2
 * (reqivo_session_set_http_version), every request a stream on one shared
 * connection driven by whichever thread waits; =1.1: HTTP/1.1, a
 * connection per thread. The pool allows K connections to the host either
 * way. Every response must be a 200 of the version asked for, or the run
 * fails. One request is sent before the threads start, so that they find
 * the connection open as libcurl's PIPEWAIT handles and Go's transport do
 * (BENCH_COLD_START=1 leaves it out: the K threads then start together on
 * an empty pool). The main thread only sleeps and takes the marks; CPU is
 * getrusage(RUSAGE_SELF), every thread. Arguments, deadline and the JSON
 * line: multi_common.c. */
#include "multi_common.c"

#include <pthread.h>
#include <stdatomic.h>

#include "reqivo.h"
#include "reqivo_ca.h"

#define CLIENT "threads-reqivo"

static void fail_err(const char *what, const reqivo_error *err) {
  mc_fail(CLIENT, "%s: %s (%u, os error %d): %s", what, reqivo_code_name(err->code), err->code,
          err->os_error, err->message);
}

static reqivo_session *session;
static const char *url;
static int want_major;
static atomic_long done, failed;
static atomic_ullong bytes;
static atomic_int stop;
static atomic_int seen_major, seen_minor;
static pthread_mutex_t error_mu = PTHREAD_MUTEX_INITIALIZER;
static char first_error[400];

static void note_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note_error(const char *fmt, ...) {
  pthread_mutex_lock(&error_mu);
  if (!first_error[0]) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(first_error, sizeof first_error, fmt, ap);
    va_end(ap);
  }
  pthread_mutex_unlock(&error_mu);
  atomic_fetch_add(&failed, 1);
}

/* One send: 1 for a 200 of the version asked for, 0 after noting why not. */
static int send_one(const reqivo_request *r) {
  reqivo_error err;
  const reqivo_response *resp = reqivo_session_send(session, r, NULL, &err);
  if (!resp) {
    note_error("send: %s (%u, os error %d): %s", reqivo_code_name(err.code), err.code, err.os_error, err.message);
    return 0;
  }
  int ok = 1;
  if (resp->status != 200) {
    note_error("status %u", resp->status);
    ok = 0;
  } else if (want_major && resp->http_major != want_major) {
    note_error("HTTP/%s asked for, the response is HTTP/%u.%u", want_major == 2 ? "2" : "1.1", resp->http_major,
               resp->http_minor);
    ok = 0;
  }
  atomic_store_explicit(&seen_major, resp->http_major, memory_order_relaxed);
  atomic_store_explicit(&seen_minor, resp->http_minor, memory_order_relaxed);
  atomic_fetch_add_explicit(&bytes, resp->body_len, memory_order_relaxed);
  reqivo_response_free(resp);
  return ok;
}

static void *worker(void *arg) {
  (void)arg;
  reqivo_error err;
  /* a request is sent by one thread at a time: one each */
  reqivo_request *r = reqivo_request_new("GET", 3, url, strlen(url), &err);
  if (!r) {
    note_error("request_new: %s", err.message);
    return NULL;
  }
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    if (!send_one(r)) break;
    atomic_fetch_add_explicit(&done, 1, memory_order_relaxed);
  }
  reqivo_request_free(r);
  return NULL;
}

/* Sleeps until `until` (absolute, mc_now), in steps of at most 100 ms;
 * stops early when a thread has failed. */
static void sleep_until(double until) {
  for (;;) {
    double left = until - mc_now();
    if (left <= 0 || atomic_load(&failed)) return;
    if (left > 0.1) left = 0.1;
    struct timespec ts = {0, (long)(left * 1e9)};
    nanosleep(&ts, NULL);
  }
}

int main(int argc, char **argv) {
  struct multi_args a;
  mc_parse(argc, argv, &a);
  if (a.mode != MULTI_SMALL) mc_fail(CLIENT, "only the small mode: threads_reqivo small URL SECONDSs [K]");
  long k = a.concurrency;
  long nofile = mc_raise_nofile();
  if (nofile >= 0 && k + 16 > nofile)
    mc_fail(CLIENT, "RLIMIT_NOFILE is %ld (the hard limit): too low for %ld connections", nofile, k);
  url = a.url;
  want_major = bench_http_version();

  reqivo_error err;
  reqivo_pool_config cfg = reqivo_pool_config_default();
  cfg.max_per_host = (uint32_t)k;
  cfg.max_total = (uint32_t)k;
  reqivo_pool *pool = reqivo_pool_new(&cfg, &err);
  if (!pool) fail_err("pool_new", &err);
  session = reqivo_session_new(pool, &err);
  if (!session) fail_err("session_new", &err);
  const char *step = bench_reqivo_trust_ca(session, &err);
  if (step) fail_err(step, &err);
  if (want_major &&
      reqivo_session_set_http_version(session, want_major == 2 ? REQIVO_HTTP_VERSION_2 : REQIVO_HTTP_VERSION_1_1,
                                      &err) != 0)
    fail_err("set_http_version", &err);

  const char *cold = getenv("BENCH_COLD_START");
  if (!(cold && *cold == '1')) {
    reqivo_request *r = reqivo_request_new("GET", 3, url, strlen(url), &err);
    if (!r) fail_err("request_new", &err);
    int ok = send_one(r);
    reqivo_request_free(r);
    if (!ok) mc_fail(CLIENT, "the first request failed: %s", first_error);
  }

  pthread_t *th = calloc((size_t)k, sizeof *th);
  if (!th) mc_fail(CLIENT, "calloc failed");
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 << 10);
  double t0 = mc_now(), deadline = t0 + a.deadline;
  for (long i = 0; i < k; i++)
    if (pthread_create(&th[i], &attr, worker, NULL) != 0) mc_fail(CLIENT, "pthread_create failed at %ld", i);
  pthread_attr_destroy(&attr);

  struct mc_mark st, en;
  sleep_until(t0 + a.warmup);
  long d0 = atomic_load(&done);
  mc_mark(&st);
  sleep_until(st.t + a.duration);
  mc_mark(&en);
  long d1 = atomic_load(&done);
  struct mc_peak pk;
  memset(&pk, 0, sizeof pk);
  mc_sample_after(&pk); /* the threads and descriptors while all are running */
  atomic_store(&stop, 1);
  /* every thread finishes the request it has in flight, within the deadline */
  for (long i = 0; i < k; i++) {
    double left = deadline - mc_now();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (left < 0) left = 0;
    ts.tv_sec += (time_t)left;
    ts.tv_nsec += (long)((left - (double)(long)left) * 1e9);
    if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
    if (pthread_timedjoin_np(th[i], NULL, &ts) != 0)
      mc_fail(CLIENT, "deadline: thread %ld still in a send %.0f s after the start (%ld done, %ld failed%s%s)", i,
              a.deadline, atomic_load(&done), atomic_load(&failed), first_error[0] ? ", first error " : "",
              first_error);
  }
  free(th);
  if (atomic_load(&failed))
    mc_fail(CLIENT, "%ld requests failed, first: %s", atomic_load(&failed), first_error);
  if (en.t - st.t < a.duration * 0.99)
    mc_fail(CLIENT, "the measured part ended early (%.2f s of %.2f s)", en.t - st.t, a.duration);

  reqivo_pool_stats ps;
  memset(&ps, 0, sizeof ps);
  ps.struct_size = sizeof ps;
  reqivo_pool_get_stats(pool, &ps);
  char extra[600];
  snprintf(extra, sizeof extra,
           "\"threads\":%ld,\"total\":%ld,\"bytes\":%llu,\"http_version\":\"%s\",\"cold_start\":%s,"
           "\"pool_opened\":%llu,\"pool_reused\":%llu,\"h2_streams_opened\":%llu,\"h2_connections\":%llu,"
           "\"lib_version\":\"%s\"",
           k, atomic_load(&done), (unsigned long long)atomic_load(&bytes),
           bench_version_name(atomic_load(&seen_major), atomic_load(&seen_minor)),
           cold && *cold == '1' ? "true" : "false", (unsigned long long)ps.opened, (unsigned long long)ps.reused,
           (unsigned long long)ps.streams_opened, (unsigned long long)ps.h2_connections, reqivo_version());
  mc_report(CLIENT, &a, d1 - d0, atomic_load(&done), 0, NULL, &st, &en, &pk, -1, nofile, extra);
  reqivo_session_free(session);
  reqivo_pool_free(pool);
  return 0;
}
