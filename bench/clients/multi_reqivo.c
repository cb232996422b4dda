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
 * tests/c/test_multi.c sizes it. Arguments, sampling and the JSON line:
 * multi_common.c. */
#include "multi_common.c"

#include "reqivo.h"

#define CLIENT "reqivo-multi"

static void fail_err(const char *what, const reqivo_error *err) {
  mc_fail(CLIENT, "%s: %s (%u, os error %d): %s", what, reqivo_code_name(err->code), err->code,
          err->os_error, err->message);
}

struct tally {
  long collected, ok, failed;
  unsigned long long bytes;
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
    if (d.error.code == 0 && d.response && d.response->status == 200) {
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
  char extra[512];

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
    reqivo_pool_stats ps;
    memset(&ps, 0, sizeof ps);
    ps.struct_size = sizeof ps;
    reqivo_pool_get_stats(pool, &ps);
    snprintf(extra, sizeof extra,
             "\"first_done_secs\":%.3f,\"in_flight_after\":%zu,\"bytes\":%llu,\"pool_opened\":%llu,"
             "\"pool_reused\":%llu,\"lib_version\":\"%s\"",
             first_done, left, t.bytes, (unsigned long long)ps.opened, (unsigned long long)ps.reused,
             reqivo_version());
    mc_report(CLIENT, &a, a.count, t.ok, t.failed, t.first_error, &st, &en, &pk, fds_base, nofile, extra);
  } else {
    /* small: K in flight; each completion adds one. Warm-up, then the
     * measured part (completions counted from the mark), then the K left
     * in flight are drained, not counted. */
    double t0 = mc_now(), deadline = t0 + a.deadline;
    long added = 0;
    for (long i = 0; i < a.concurrency; i++, added++)
      if (reqivo_multi_add(m, s, r, NULL, NULL, &err) != 0) fail_err("multi_add", &err);
    int phase = 0; /* 0 warm-up, 1 measured, 2 draining */
    long counted = 0;
    double phase_end = t0 + a.warmup;
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
    reqivo_pool_stats ps;
    memset(&ps, 0, sizeof ps);
    ps.struct_size = sizeof ps;
    reqivo_pool_get_stats(pool, &ps);
    snprintf(extra, sizeof extra,
             "\"added\":%ld,\"bytes\":%llu,\"pool_opened\":%llu,\"pool_reused\":%llu,\"lib_version\":\"%s\"", added,
             t.bytes, (unsigned long long)ps.opened, (unsigned long long)ps.reused, reqivo_version());
    mc_report(CLIENT, &a, counted, t.ok, t.failed, t.first_error, &st, &en, NULL, fds_base, nofile, extra);
  }
  reqivo_multi_free(m);
  reqivo_request_free(r);
  reqivo_session_free(s);
  reqivo_pool_free(pool);
  return 0;
}
