/* Connection pools: shared by sessions, counted by reqivo_pool_get_stats
 * and by the server's own connection count, bounded by max_per_host with
 * a pool timeout, and reference-counted by the sessions that use them. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "support.h"

static reqivo_pool_stats pool_stats(const reqivo_pool *p) {
  reqivo_pool_stats st;
  memset(&st, 0, sizeof st);
  st.struct_size = sizeof st;
  reqivo_pool_get_stats(p, &st);
  return st;
}

static void test_shared_by_two_sessions(void) {
  server_counts before;
  if (!CHECK(server_stats(&before) == 0)) {
    return;
  }
  reqivo_error err;
  dirty(&err);
  reqivo_pool *p = reqivo_pool_new(NULL, &err);
  CHECK_OK(err);
  reqivo_session *a = reqivo_session_new(p, &err);
  reqivo_session *b = reqivo_session_new(p, &err);
  CHECK(a != NULL && b != NULL);

  const reqivo_response *ra = get(a, "/ok", &err);
  CHECKF(ra != NULL, "%s", err.message);
  reqivo_pool_stats st = pool_stats(p);
  CHECK_EQ(st.opened, 1);
  CHECK_EQ(st.reused, 0);
  CHECK_EQ(st.idle, 1);
  CHECK_EQ(st.in_use, 0);

  /* The other session takes the connection the first one left idle. */
  const reqivo_response *rb = get(b, "/chunked", &err);
  CHECKF(rb != NULL, "%s", err.message);
  CHECK(ra != NULL && (ra->flags & REQIVO_RESPONSE_REUSED) == 0);
  CHECK(rb != NULL && (rb->flags & REQIVO_RESPONSE_REUSED) != 0);
  st = pool_stats(p);
  CHECK_EQ(st.opened, 1);
  CHECK_EQ(st.reused, 1);
  CHECK_EQ(st.closed, 0);
  CHECK_EQ(st.idle, 1);
  CHECK_EQ(st.in_use, 0);
  CHECK_EQ(st.waiting, 0);
  reqivo_response_free(ra);
  reqivo_response_free(rb);

  /* An HTTP/1.0 answer closes its connection: counted as closed. */
  const reqivo_response *r10 = get(a, "/http10", &err);
  CHECK(r10 != NULL && r10->http_minor == 0);
  reqivo_response_free(r10);
  st = pool_stats(p);
  CHECK_EQ(st.opened, 1);
  CHECK_EQ(st.reused, 2);
  CHECK_EQ(st.closed, 1);
  CHECK_EQ(st.idle, 0);

  /* The sessions keep the pool alive after the caller's reference goes. */
  reqivo_pool_stats kept = pool_stats(p);
  reqivo_pool_free(p);
  const reqivo_response *r = get(b, "/ok", &err);
  CHECKF(r != NULL && body_is(r, "hello\n"), "%s", err.message);
  reqivo_response_free(r);
  r = get(a, "/ok", &err);
  CHECK(r != NULL && (r->flags & REQIVO_RESPONSE_REUSED));
  reqivo_response_free(r);
  CHECK_EQ(kept.opened, 1);
  reqivo_session_free(a);
  reqivo_session_free(b);

  /* The server saw two connections (one replaced the HTTP/1.0 one) and
   * five requests. */
  server_counts d = server_delta(before);
  CHECK_EQ(d.connections, 2);
  CHECK_EQ(d.requests, 5);
}

/* Sessions with their own pools never share connections. */
static void test_separate_pools(void) {
  server_counts before;
  if (!CHECK(server_stats(&before) == 0)) {
    return;
  }
  reqivo_error err;
  reqivo_session *a = reqivo_session_new(NULL, &err);
  reqivo_session *b = reqivo_session_new(NULL, &err);
  for (int i = 0; i < 2; i++) {
    const reqivo_response *ra = get(a, "/ok", &err);
    const reqivo_response *rb = get(b, "/ok", &err);
    CHECK(ra != NULL && rb != NULL);
    CHECK(ra != NULL && (ra->flags & REQIVO_RESPONSE_REUSED) == (i ? REQIVO_RESPONSE_REUSED : 0));
    CHECK(rb != NULL && (rb->flags & REQIVO_RESPONSE_REUSED) == (i ? REQIVO_RESPONSE_REUSED : 0));
    reqivo_response_free(ra);
    reqivo_response_free(rb);
  }
  reqivo_session_free(a);
  reqivo_session_free(b);
  server_counts d = server_delta(before);
  CHECK_EQ(d.connections, 2);
  CHECK_EQ(d.requests, 4);
}

struct waiter {
  reqivo_session *s;
  const reqivo_response *resp;
  reqivo_error err;
  double took_ms;
};

static void *wait_for_slot(void *arg) {
  struct waiter *w = arg;
  double start = now_ms();
  w->resp = get(w->s, "/ok", &w->err);
  w->took_ms = now_ms() - start;
  return NULL;
}

/* max_per_host = 1: a second request waits for the one connection, gives
 * up after pool_ms, and gets it once the first stream is done. */
static void test_limit_and_pool_timeout(void) {
  reqivo_error err;
  reqivo_pool_config cfg = reqivo_pool_config_default();
  cfg.max_per_host = 1;
  cfg.max_total = 1;
  reqivo_pool *p = reqivo_pool_new(&cfg, &err);
  CHECKF(p != NULL, "%s", err.message);
  reqivo_session *a = reqivo_session_new(p, &err);
  reqivo_session *b = reqivo_session_new(p, &err);

  reqivo_request *r = request_to("GET", "/big", &err);
  reqivo_stream *st = reqivo_session_open(a, r, NULL, &err);
  reqivo_request_free(r);
  CHECKF(st != NULL, "%s", err.message);
  CHECK_EQ(pool_stats(p).in_use, 1);

  reqivo_timeout t = reqivo_timeout_default();
  t.pool_ms = 300;
  CHECK_CODE(reqivo_session_set_timeout(b, t), REQIVO_OK);
  double start = now_ms();
  const reqivo_response *resp = get(b, "/ok", &err);
  double took = now_ms() - start;
  CHECK(resp == NULL);
  CHECK_ERR(err, REQIVO_ERR_TIMEOUT_POOL, "127.0.0.1");
  CHECKF(took >= 250 && took < 3000, "pool timeout after %.0f ms", took);
  reqivo_response_free(resp);

  /* Now wait without a short limit on another thread; finish the stream
   * and the waiter gets the connection it freed. */
  t.pool_ms = 10000;
  CHECK_CODE(reqivo_session_set_timeout(b, t), REQIVO_OK);
  struct waiter w;
  memset(&w, 0, sizeof w);
  w.s = b;
  pthread_t th;
  if (CHECK(pthread_create(&th, NULL, wait_for_slot, &w) == 0)) {
    reqivo_pool_stats ps = pool_stats(p);
    for (int i = 0; i < 300 && ps.waiting == 0; i++) { /* at most ~3 s */
      sleep_ms(10);
      ps = pool_stats(p);
    }
    CHECK_EQ(ps.waiting, 1);
    CHECK_EQ(ps.in_use, 1);
    uint8_t buf[8192];
    int64_t n, total = 0;
    while ((n = reqivo_stream_read(st, buf, sizeof buf, &err)) > 0) {
      total += n;
    }
    CHECK_EQ(total, 100000);
    pthread_join(th, NULL);
    CHECKF(w.resp != NULL, "%s", w.err.message);
    CHECK(w.resp != NULL && (w.resp->flags & REQIVO_RESPONSE_REUSED));
    CHECK(w.took_ms < 8000);
    reqivo_response_free(w.resp);
    ps = pool_stats(p);
    CHECK_EQ(ps.waiting, 0);
    CHECK_EQ(ps.opened, 1);
    CHECK_EQ(ps.idle, 1);
  }
  reqivo_stream_free(st);

  /* A stream freed half-way gives its slot back too (closed, not idle):
   * the waiter opens a new connection after waiting for the slot. */
  r = request_to("GET", "/big", &err);
  st = reqivo_session_open(a, r, NULL, &err);
  reqivo_request_free(r);
  CHECK(st != NULL);
  memset(&w, 0, sizeof w);
  w.s = b;
  if (CHECK(pthread_create(&th, NULL, wait_for_slot, &w) == 0)) {
    reqivo_pool_stats ps = pool_stats(p);
    for (int i = 0; i < 300 && ps.waiting == 0; i++) {
      sleep_ms(10);
      ps = pool_stats(p);
    }
    CHECK_EQ(ps.waiting, 1);
    sleep_ms(200);
    reqivo_stream_free(st);
    st = NULL;
    pthread_join(th, NULL);
    CHECKF(w.resp != NULL, "%s", w.err.message);
    if (w.resp != NULL) {
      const reqivo_timings *tm = &w.resp->timings;
      CHECK((w.resp->flags & REQIVO_RESPONSE_REUSED) == 0);
      CHECK(tm->sent_ns >= 200000000ULL); /* the wait counts: since the send began */
      CHECK(tm->connect_ns > 0 && tm->connect_ns <= tm->sent_ns);
      /* Times count from the start of the send, so the pool wait shows. */
      CHECK(tm->connect_ns >= 200000000ULL);
    }
    reqivo_response_free(w.resp);
  }
  reqivo_stream_free(st);
  reqivo_pool_stats ps = pool_stats(p);
  CHECK_EQ(ps.opened, 2);
  CHECK(ps.closed >= 1);
  CHECK_EQ(ps.in_use, 0);

  reqivo_session_free(a);
  reqivo_session_free(b);
  reqivo_pool_free(p);
}

struct worker {
  reqivo_session *s;
  int ok;
};

static void *send_many(void *arg) {
  struct worker *w = arg;
  reqivo_error err;
  for (int i = 0; i < 10; i++) {
    const reqivo_response *resp = get(w->s, (i % 2) ? "/ok" : "/chunked", &err);
    w->ok += resp != NULL && resp->status == 200 && resp->body_len > 0;
    reqivo_response_free(resp);
  }
  return NULL;
}

/* One session used by four threads at once. */
static void test_concurrent_sends(void) {
  reqivo_error err;
  reqivo_pool *p = reqivo_pool_new(NULL, &err);
  reqivo_session *s = reqivo_session_new(p, &err);
  struct worker w[4];
  pthread_t th[4];
  int started = 0;
  for (int i = 0; i < 4; i++) {
    w[i].s = s;
    w[i].ok = 0;
    if (CHECK(pthread_create(&th[i], NULL, send_many, &w[i]) == 0)) {
      started++;
    }
  }
  for (int i = 0; i < started; i++) {
    pthread_join(th[i], NULL);
    CHECK_EQ(w[i].ok, 10);
  }
  reqivo_pool_stats st = pool_stats(p);
  CHECK(st.opened >= 1 && st.opened <= 4);
  CHECK_EQ(st.opened + st.reused, 10 * started);
  CHECK_EQ(st.in_use, 0);
  CHECK_EQ(st.idle, st.opened - st.closed);
  reqivo_session_free(s);
  reqivo_pool_free(p);
}

/* reqivo_pool_close_idle closes idle connections at once (the server sees
 * a new connection afterwards) and leaves one in use alone; the session's
 * own pool is reachable through reqivo_session_pool. */
static void test_close_idle(void) {
  server_counts before;
  if (!CHECK(server_stats(&before) == 0)) {
    return;
  }
  reqivo_error err;
  reqivo_session *a = reqivo_session_new(NULL, &err);
  reqivo_session *b = reqivo_session_new(NULL, &err);
  reqivo_pool *p = reqivo_session_pool(a);
  if (!CHECK(a != NULL && b != NULL && p != NULL)) {
    return;
  }
  CHECK(reqivo_session_pool(NULL) == NULL);
  reqivo_pool_close_idle(NULL); /* ignored */
  reqivo_pool_close_idle(p);    /* nothing idle yet */
  CHECK_EQ(pool_stats(p).closed, 0);

  /* A stream holds one connection while a GET leaves another idle. */
  reqivo_request *r = request_to("GET", "/big", &err);
  reqivo_stream *st = reqivo_session_open(a, r, NULL, &err);
  reqivo_request_free(r);
  CHECKF(st != NULL, "%s", err.message);
  const reqivo_response *resp = get(a, "/ok", &err);
  CHECKF(resp != NULL, "%s", err.message);
  reqivo_response_free(resp);
  reqivo_pool_stats ps = pool_stats(p);
  CHECK_EQ(ps.opened, 2);
  CHECK_EQ(ps.idle, 1);
  CHECK_EQ(ps.in_use, 1);

  reqivo_pool_close_idle(p);
  ps = pool_stats(p);
  CHECK_EQ(ps.idle, 0);
  CHECK_EQ(ps.in_use, 1);
  CHECK_EQ(ps.closed, 1);

  /* The stream still reads to its end; its connection goes back idle. */
  uint8_t buf[8192];
  int64_t n, total = 0;
  while (st != NULL && (n = reqivo_stream_read(st, buf, sizeof buf, &err)) > 0) {
    total += n;
  }
  CHECK_EQ(total, 100000);
  reqivo_stream_free(st);
  ps = pool_stats(p);
  CHECK_EQ(ps.idle, 1);
  CHECK_EQ(ps.in_use, 0);

  /* Freeing the session leaves the reference from reqivo_session_pool
   * usable; a session made on it reuses the idle connection. */
  reqivo_session_free(a);
  reqivo_session *c = reqivo_session_new(p, &err);
  resp = get(c, "/ok", &err);
  CHECKF(resp != NULL && (resp->flags & REQIVO_RESPONSE_REUSED), "%s", err.message);
  reqivo_response_free(resp);
  reqivo_pool_close_idle(p);
  resp = get(c, "/ok", &err);
  CHECKF(resp != NULL && (resp->flags & REQIVO_RESPONSE_REUSED) == 0, "%s", err.message);
  reqivo_response_free(resp);
  ps = pool_stats(p);
  CHECK_EQ(ps.opened, 3);
  CHECK_EQ(ps.closed, 2);
  CHECK_EQ(ps.idle, 1);

  /* Another session's pool is untouched. */
  resp = get(b, "/ok", &err);
  reqivo_response_free(resp);
  reqivo_pool *pb = reqivo_session_pool(b);
  reqivo_pool_close_idle(p);
  CHECK_EQ(pool_stats(pb).idle, 1);
  CHECK_EQ(pool_stats(pb).closed, 0);
  reqivo_pool_free(pb);

  reqivo_session_free(b);
  reqivo_session_free(c);
  reqivo_pool_free(p);
  server_counts d = server_delta(before);
  CHECK_EQ(d.connections, 4);
  CHECK_EQ(d.requests, 5);
}

/* Opens n streams of /big at once on s (n connections in use), then reads
 * each to its end and frees it, so the connections are released one after
 * another. Returns how many streams it opened. */
static int hold_then_release(reqivo_session *s, int n) {
  reqivo_stream *st[16];
  reqivo_error err;
  int opened = 0;
  for (int i = 0; i < n && i < 16; i++) {
    reqivo_request *r = request_to("GET", "/big", &err);
    st[i] = reqivo_session_open(s, r, NULL, &err);
    reqivo_request_free(r);
    if (!CHECKF(st[i] != NULL, "%s", err.message)) {
      break;
    }
    opened++;
  }
  for (int i = 0; i < opened; i++) {
    uint8_t buf[8192];
    int64_t got, total = 0;
    while ((got = reqivo_stream_read(st[i], buf, sizeof buf, &err)) > 0) {
      total += got;
    }
    CHECK_EQ(total, 100000);
    reqivo_stream_free(st[i]);
  }
  return opened;
}

/* max_idle_per_host caps the idle connections apart from max_per_host: of
 * 8 connections in use at once, 2 stay idle and 6 are closed on release. */
static void test_max_idle_per_host(void) {
  reqivo_pool_config def = reqivo_pool_config_default();
  CHECK_EQ(def.struct_size, sizeof def);
  CHECK_EQ(def.max_per_host, 10);
  CHECK_EQ(def.max_total, 100);
  CHECK_EQ(def.max_idle_ms, 30000);
  CHECK_EQ(def.max_idle_per_host, 0); /* as many as max_per_host */

  reqivo_error err;
  reqivo_pool_config cfg = reqivo_pool_config_default();
  cfg.max_idle_per_host = 2;
  reqivo_pool *p = reqivo_pool_new(&cfg, &err);
  CHECKF(p != NULL, "%s", err.message);
  reqivo_session *s = reqivo_session_new(p, &err);
  CHECK_EQ(hold_then_release(s, 8), 8);
  reqivo_pool_stats ps = pool_stats(p);
  CHECK_EQ(ps.opened, 8);
  CHECK_EQ(ps.in_use, 0);
  CHECK_EQ(ps.idle, 2);
  CHECK(ps.closed >= 6);
  /* The two kept serve the next requests. */
  const reqivo_response *resp = get(s, "/ok", &err);
  CHECKF(resp != NULL && (resp->flags & REQIVO_RESPONSE_REUSED), "%s", err.message);
  reqivo_response_free(resp);
  reqivo_session_free(s);
  reqivo_pool_free(p);

  /* REQIVO_NO_LIMIT lifts max_per_host and max_total (12 at once, past
   * the default 10) and the idle cap: all 12 stay idle. */
  cfg = reqivo_pool_config_default();
  cfg.max_per_host = REQIVO_NO_LIMIT;
  cfg.max_total = REQIVO_NO_LIMIT;
  cfg.max_idle_per_host = REQIVO_NO_LIMIT;
  p = reqivo_pool_new(&cfg, &err);
  CHECKF(p != NULL, "%s", err.message);
  s = reqivo_session_new(p, &err);
  reqivo_timeout t = reqivo_timeout_default();
  t.pool_ms = 300; /* a limit of 10 would fail the 11th open fast */
  CHECK_CODE(reqivo_session_set_timeout(s, t), REQIVO_OK);
  CHECK_EQ(hold_then_release(s, 12), 12);
  ps = pool_stats(p);
  CHECK_EQ(ps.opened, 12);
  CHECK_EQ(ps.idle, 12);
  CHECK_EQ(ps.closed, 0);
  reqivo_session_free(s);
  reqivo_pool_free(p);

  /* The default (0) follows a max_per_host the caller raised: nothing
   * beyond it is closed. */
  cfg = reqivo_pool_config_default();
  cfg.max_per_host = 4;
  p = reqivo_pool_new(&cfg, &err);
  CHECKF(p != NULL, "%s", err.message);
  s = reqivo_session_new(p, &err);
  CHECK_EQ(hold_then_release(s, 4), 4);
  ps = pool_stats(p);
  CHECK_EQ(ps.idle, 4);
  CHECK_EQ(ps.closed, 0);
  reqivo_session_free(s);
  reqivo_pool_free(p);
}

/* A caller built against the version before max_idle_per_host passes the
 * smaller struct_size: the field is absent (whatever its bytes hold) and
 * idle connections are bounded by max_per_host alone, as before. */
static void test_old_config_size(void) {
  reqivo_error err;
  reqivo_pool_config cfg = reqivo_pool_config_default();
  cfg.struct_size = (uint32_t)offsetof(reqivo_pool_config, max_idle_per_host);
  CHECK_EQ(cfg.struct_size, 4 * sizeof(uint32_t));
  cfg.max_per_host = 3;
  cfg.max_idle_per_host = 1; /* past the declared size: not read */
  dirty(&err);
  reqivo_pool *p = reqivo_pool_new(&cfg, &err);
  CHECKF(p != NULL, "%s", err.message);
  CHECK_OK(err);
  reqivo_session *s = reqivo_session_new(p, &err);
  CHECK_EQ(hold_then_release(s, 3), 3);
  reqivo_pool_stats ps = pool_stats(p);
  CHECK_EQ(ps.opened, 3);
  CHECK_EQ(ps.idle, 3);
  CHECK_EQ(ps.closed, 0);
  reqivo_session_free(s);
  reqivo_pool_free(p);

  /* Smaller than the first version: refused. */
  cfg.struct_size = 3 * sizeof(uint32_t);
  p = reqivo_pool_new(&cfg, &err);
  CHECK(p == NULL);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, "struct_size");
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  test_shared_by_two_sessions();
  test_separate_pools();
  test_limit_and_pool_timeout();
  test_concurrent_sends();
  test_close_idle();
  test_max_idle_per_host();
  test_old_config_size();
  return check_finish("test_pool");
}
