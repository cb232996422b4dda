/* reqivo's multi API on one thread, for the multi phases:
 *
 *   multi_reqivo hold URL C     reqivo_multi_add x C (one request, built
 *                               once; the multi copies it), then
 *                               reqivo_multi_poll until every transfer is
 *                               collected with reqivo_multi_next; each
 *                               response is checked (200) and freed
 *   multi_reqivo small URL 5s [K]  K transfers in flight, one added again on
 *                               each completion, over K kept-alive
 *                               connections, for 5 s after a warm-up
 *
 * The session's pool allows C (or K) connections to the host, as
 * tests/c/test_multi.c sizes it.
 *
 * BENCH_HTTP_VERSION=2 (the h2_inflight phase, common.h): the session
 * speaks HTTP/2 (reqivo_session_set_http_version), so the K transfers are
 * streams on one shared connection; =1.1 asks for HTTP/1.1. When a
 * version is asked for, the small mode runs one transfer alone first (the
 * connection is then open, as threads_reqivo does it), and every
 * response must be of that version (`http_major`) or the run fails. The
 * JSON line carries the version seen and the pool's statistics (`opened`,
 * `h2_connections`, `streams_opened`) that run.py checks. BENCH_CA: the CA the session
 * trusts (reqivo_ca.h). Arguments, sampling and the JSON line:
 * multi_common.c. */
#include "multi_common.c"

#include "reqivo.h"
#include "reqivo_ca.h"

#define CLIENT "reqivo-multi"

static void fail_err(const char *what, const reqivo_error *err) {
  mc_fail(CLIENT, "%s: %s (%u, os error %d): %s", what, reqivo_code_name(err->code), err->code,
          err->os_error, err->message);
}

static int want_major; /* BENCH_HTTP_VERSION: 2, 1 (HTTP/1.1) or 0 (not asked) */

struct tally {
  long collected, ok, failed;
  unsigned long long bytes;
  int seen_major, seen_minor; /* the last response's version */
  char first_error[400];
};

/* Takes every finished transfer; returns how many were taken. */
static long drain(reqivo_multi *m, struct tally *t) {
  reqivo_multi_done d;
  long got = 0;
  for (;;) {
    memset(&d, 0, sizeof d);
    d.struct_size = sizeof d;
    if (!reqivo_multi_next(m, &d)) break;
    got++;
    t->collected++;
    if (d.response) {
      t->seen_major = d.response->http_major;
      t->seen_minor = d.response->http_minor;
    }
    if (d.error.code == 0 && d.response && d.response->status == 200 && want_major &&
        d.response->http_major != want_major) {
      t->failed++;
      if (!t->first_error[0])
        snprintf(t->first_error, sizeof t->first_error, "HTTP/%s asked for, the response is HTTP/%u.%u",
                 want_major == 2 ? "2" : "1.1", d.response->http_major, d.response->http_minor);
    } else if (d.error.code == 0 && d.response && d.response->status == 200) {
      t->ok++;
      t->bytes += d.response->body_len;
    } else {
      t->failed++;
      if (!t->first_error[0]) {
        if (d.error.code)
          snprintf(t->first_error, sizeof t->first_error, "%s (%u, os error %d): %s",
                   reqivo_code_name(d.error.code), d.error.code, d.error.os_error, d.error.message);
        else
          snprintf(t->first_error, sizeof t->first_error, "status %u", d.response ? d.response->status : 0);
      }
    }
    if (d.response) reqivo_response_free(d.response);
  }
  return got;
}

/* One transfer alone, polled until collected (or the deadline): the
 * connection is open when the others are added. */
static void first_alone(reqivo_multi *m, reqivo_session *s, const reqivo_request *r, struct tally *t,
                        double deadline) {
  reqivo_error err;
  if (reqivo_multi_add(m, s, r, NULL, NULL, &err) != 0) fail_err("multi_add", &err);
  while (t->collected == 0) {
    if (mc_now() > deadline) mc_fail(CLIENT, "deadline: the first transfer did not finish");
    if (reqivo_multi_poll(m, 100, &err) != 0) fail_err("multi_poll", &err);
    drain(m, t);
  }
  if (t->failed) mc_fail(CLIENT, "the first transfer failed: %s", t->first_error);
}

/* The JSON fields every mode reports about the connections and the
 * version: the pool's statistics and the last response's version. */
static void conn_fields(reqivo_pool *pool, const struct tally *t, char *out, size_t n) {
  reqivo_pool_stats ps;
  memset(&ps, 0, sizeof ps);
  ps.struct_size = sizeof ps;
  reqivo_pool_get_stats(pool, &ps);
  snprintf(out, n,
           "\"pool_opened\":%llu,\"pool_reused\":%llu,\"h2_streams_opened\":%llu,\"h2_connections\":%llu,"
           "\"http_version\":\"%s\",\"lib_version\":\"%s\"",
           (unsigned long long)ps.opened, (unsigned long long)ps.reused, (unsigned long long)ps.streams_opened,
           (unsigned long long)ps.h2_connections, bench_version_name(t->seen_major, t->seen_minor),
           reqivo_version());
}

int main(int argc, char **argv) {
  struct multi_args a;
  mc_parse(argc, argv, &a);
  long nofile = mc_raise_nofile();
  long conns = a.mode == MULTI_HOLD ? a.count : a.concurrency;
  if (nofile >= 0 && conns + 16 > nofile)
    mc_fail(CLIENT, "RLIMIT_NOFILE is %ld (the hard limit): too low for %ld connections", nofile, conns);

  reqivo_error err;
  reqivo_pool_config cfg = reqivo_pool_config_default();
  cfg.max_per_host = (uint32_t)conns;
  cfg.max_total = (uint32_t)conns;
  reqivo_pool *pool = reqivo_pool_new(&cfg, &err);
  if (!pool) fail_err("pool_new", &err);
  reqivo_session *s = reqivo_session_new(pool, &err);
  if (!s) fail_err("session_new", &err);
  const char *step = bench_reqivo_trust_ca(s, &err);
  if (step) fail_err(step, &err);
  want_major = bench_http_version();
  if (want_major &&
      reqivo_session_set_http_version(s, want_major == 2 ? REQIVO_HTTP_VERSION_2 : REQIVO_HTTP_VERSION_1_1, &err) != 0)
    fail_err("set_http_version", &err);
  reqivo_request *r = reqivo_request_new("GET", 3, a.url, strlen(a.url), &err);
  if (!r) fail_err("request_new", &err);
  reqivo_multi *m = reqivo_multi_new(&err);
  if (!m) fail_err("multi_new", &err);

  struct tally t;
  memset(&t, 0, sizeof t);
  struct mc_mark st, en;
  struct mc_peak pk;
  memset(&pk, 0, sizeof pk);
  long fds_base = mc_fds();
  char extra[512], cf[300];

  if (a.mode == MULTI_HOLD) {
    mc_mark(&st);
    double deadline = st.t + a.deadline;
    for (long i = 0; i < a.count; i++)
      if (reqivo_multi_add(m, s, r, NULL, (void *)(uintptr_t)i, &err) != 0) fail_err("multi_add", &err);
    mc_sample(&pk);
    int sampling = 1;
    double first_done = 0;
    while (t.collected < a.count) {
      double now = mc_now();
      if (now > deadline)
        mc_fail(CLIENT, "deadline: %ld of %ld transfers finished after %.0f s (in flight %zu, ok %ld, failed %ld%s%s)",
                t.collected, a.count, a.deadline, reqivo_multi_in_flight(m), t.ok, t.failed,
                t.first_error[0] ? ", first error " : "", t.first_error);
      if (sampling && now >= pk.next) mc_sample(&pk);
      if (reqivo_multi_poll(m, mc_wait_ms(&pk, sampling), &err) != 0) fail_err("multi_poll", &err);
      if (drain(m, &t) > 0 && sampling) {
        sampling = 0;
        first_done = mc_now() - st.t;
      }
    }
    mc_mark(&en);
    mc_sample_after(&pk); /* the end: threads and descriptors once more (connections idle in the pool) */
    size_t left = reqivo_multi_in_flight(m);
    conn_fields(pool, &t, cf, sizeof cf);
    snprintf(extra, sizeof extra, "\"first_done_secs\":%.3f,\"in_flight_after\":%zu,\"bytes\":%llu,%s",
             first_done, left, t.bytes, cf);
    mc_report(CLIENT, &a, a.count, t.ok, t.failed, t.first_error, &st, &en, &pk, fds_base, nofile, extra);
  } else {
    /* small: K in flight; each completion adds one. Warm-up, then the
     * measured part (completions counted from the mark), then the K left
     * in flight are drained, not counted. */
    double t0 = mc_now(), deadline = t0 + a.deadline;
    long added = 0;
    if (want_major) {
      first_alone(m, s, r, &t, deadline);
      added++;
    }
    for (long i = 0; i < a.concurrency; i++, added++)
      if (reqivo_multi_add(m, s, r, NULL, NULL, &err) != 0) fail_err("multi_add", &err);
    int phase = 0; /* 0 warm-up, 1 measured, 2 draining */
    long counted = 0;
    double phase_end = mc_now() + a.warmup; /* after the first transfer, if any */
    while (phase < 2 || reqivo_multi_in_flight(m) > 0) {
      double now = mc_now();
      if (now > deadline)
        mc_fail(CLIENT, "deadline: %.0f s passed (phase %d, in flight %zu, %ld ok, %ld failed%s%s)", a.deadline, phase,
                reqivo_multi_in_flight(m), t.ok, t.failed, t.first_error[0] ? ", first error " : "",
                t.first_error);
      if (phase == 0 && now >= phase_end) {
        phase = 1;
        counted = 0;
        mc_mark(&st);
        phase_end = st.t + a.duration;
      } else if (phase == 1 && now >= phase_end) {
        phase = 2;
        mc_mark(&en);
      }
      if (reqivo_multi_poll(m, 100, &err) != 0) fail_err("multi_poll", &err);
      long got = drain(m, &t);
      if (t.failed) break;
      if (phase == 1) counted += got;
      if (phase < 2)
        for (long i = 0; i < got; i++, added++)
          if (reqivo_multi_add(m, s, r, NULL, NULL, &err) != 0) fail_err("multi_add", &err);
    }
    if (t.failed)
      mc_fail(CLIENT, "%ld transfers failed, first: %s", t.failed, t.first_error);
    if (phase < 2) mc_mark(&en);
    conn_fields(pool, &t, cf, sizeof cf);
    snprintf(extra, sizeof extra, "\"added\":%ld,\"bytes\":%llu,%s", added, t.bytes, cf);
    mc_report(CLIENT, &a, counted, t.ok, t.failed, t.first_error, &st, &en, NULL, fds_base, nofile, extra);
  }
  reqivo_multi_free(m);
  reqivo_request_free(r);
  reqivo_session_free(s);
  reqivo_pool_free(pool);
  return 0;
}
