/* Cancellation from another thread, and timeouts: a send or stream read
 * blocked on a silent server ends with REQIVO_ERR_CANCELLED soon after the
 * trigger, whatever it waits on; read and total timeouts end it on time.
 * Time bounds are loose enough for valgrind, and every wait is bounded. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "support.h"

/* The doc promises 50 ms; valgrind slows everything, so allow more. */
#define CANCEL_BOUND_MS 1000

struct trigger {
  const reqivo_cancel *c;
  long delay_ms;
  double at_ms; /* when the trigger fired */
};

static void *trigger_later(void *arg) {
  struct trigger *t = arg;
  sleep_ms(t->delay_ms);
  t->at_ms = now_ms();
  reqivo_cancel_trigger(t->c);
  return NULL;
}

static int start_trigger(pthread_t *th, struct trigger *t, const reqivo_cancel *c, long delay) {
  t->c = c;
  t->delay_ms = delay;
  t->at_ms = 0;
  return CHECK(pthread_create(th, NULL, trigger_later, t) == 0);
}

static void test_cancel_send(void) {
  server_counts before;
  if (!CHECK(server_stats(&before) == 0)) {
    return;
  }
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  reqivo_cancel *c = reqivo_cancel_new();
  CHECK(c != NULL);
  reqivo_request *r = request_to("GET", "/stall", &err);

  pthread_t th;
  struct trigger t;
  if (start_trigger(&th, &t, c, 200)) {
    const reqivo_response *resp = reqivo_session_send(s, r, c, &err);
    double done = now_ms();
    pthread_join(th, NULL);
    CHECK(resp == NULL);
    CHECK_ERR(err, REQIVO_ERR_CANCELLED, "cancel");
    CHECKF(done - t.at_ms < CANCEL_BOUND_MS, "send returned %.0f ms after the trigger",
           done - t.at_ms);
    reqivo_response_free(resp);
  }
  /* The server got the request: the send was waiting for the answer. */
  server_counts d = server_delta(before);
  CHECK_EQ(d.connections, 1);
  CHECK_EQ(d.requests, 1);

  /* Once triggered, the token stops every later send before it starts:
   * nothing reaches the server. */
  if (CHECK(server_stats(&before) == 0)) {
    reqivo_request *ok = request_to("GET", "/ok", &err);
    double start = now_ms();
    CHECK(reqivo_session_send(s, ok, c, &err) == NULL);
    CHECK_ERR(err, REQIVO_ERR_CANCELLED, NULL);
    CHECK(reqivo_session_open(s, ok, c, &err) == NULL);
    CHECK_ERR(err, REQIVO_ERR_CANCELLED, NULL);
    CHECK(now_ms() - start < CANCEL_BOUND_MS);
    /* The same request without the token still works. */
    dirty(&err);
    const reqivo_response *resp = reqivo_session_send(s, ok, NULL, &err);
    CHECK(resp != NULL && body_is(resp, "hello\n"));
    CHECK_OK(err);
    reqivo_response_free(resp);
    reqivo_request_free(ok);
    d = server_delta(before);
    CHECK_EQ(d.requests, 1);
  }
  reqivo_request_free(r);
  reqivo_cancel_free(c);
  reqivo_session_free(s);
}

static void test_cancel_stream_read(void) {
  reqivo_error err, again;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  reqivo_cancel *c = reqivo_cancel_new();
  reqivo_request *r = request_to("GET", "/slow-body", &err);
  reqivo_stream *st = reqivo_session_open(s, r, c, &err);
  CHECKF(st != NULL, "%s", err.message);
  if (st != NULL) {
    uint8_t buf[64];
    int64_t n, total = 0;
    pthread_t th;
    struct trigger t;
    if (start_trigger(&th, &t, c, 200)) {
      while ((n = reqivo_stream_read(st, buf, sizeof buf, &err)) > 0) {
        total += n;
      }
      double done = now_ms();
      pthread_join(th, NULL);
      CHECK_EQ(n, -1);
      CHECK_EQ(total, 5);
      CHECK_ERR(err, REQIVO_ERR_CANCELLED, NULL);
      CHECKF(done - t.at_ms < CANCEL_BOUND_MS, "read returned %.0f ms after the trigger",
             done - t.at_ms);
      CHECK_EQ(reqivo_stream_read(st, buf, sizeof buf, &again), -1);
      CHECK_ERR(again, REQIVO_ERR_CANCELLED, NULL);
    }
  }
  reqivo_stream_free(st);
  reqivo_request_free(r);
  reqivo_cancel_free(c);
  reqivo_session_free(s);
}

/* A send waiting for a pool slot wakes on cancel too. */
struct sender {
  reqivo_session *s;
  const reqivo_cancel *c;
  const reqivo_response *resp;
  reqivo_error err;
  double done_ms;
};

static void *send_ok(void *arg) {
  struct sender *x = arg;
  reqivo_request *r = request_to("GET", "/ok", &x->err);
  x->resp = reqivo_session_send(x->s, r, x->c, &x->err);
  x->done_ms = now_ms();
  reqivo_request_free(r);
  return NULL;
}

static void test_cancel_pool_wait(void) {
  reqivo_error err;
  reqivo_pool_config cfg = reqivo_pool_config_default();
  cfg.max_per_host = 1;
  reqivo_pool *p = reqivo_pool_new(&cfg, &err);
  reqivo_session *s = reqivo_session_new(p, &err);
  reqivo_pool_free(p);
  reqivo_timeout t = reqivo_timeout_default();
  t.pool_ms = 10000;
  CHECK_CODE(reqivo_session_set_timeout(s, t), REQIVO_OK);

  /* Hold the only connection with an unfinished stream. */
  reqivo_request *r = request_to("GET", "/slow-body", &err);
  reqivo_stream *st = reqivo_session_open(s, r, NULL, &err);
  CHECKF(st != NULL, "%s", err.message);
  reqivo_cancel *c = reqivo_cancel_new();
  struct sender x;
  memset(&x, 0, sizeof x);
  x.s = s;
  x.c = c;
  pthread_t th;
  if (CHECK(pthread_create(&th, NULL, send_ok, &x) == 0)) {
    sleep_ms(200);
    double at = now_ms();
    reqivo_cancel_trigger(c);
    pthread_join(th, NULL);
    CHECK(x.resp == NULL);
    CHECK_ERR(x.err, REQIVO_ERR_CANCELLED, NULL);
    CHECKF(x.done_ms - at < CANCEL_BOUND_MS, "pool wait ended %.0f ms after the trigger",
           x.done_ms - at);
    reqivo_response_free(x.resp);
  }
  reqivo_stream_free(st);
  reqivo_request_free(r);
  reqivo_cancel_free(c);
  reqivo_session_free(s);
}

static void *send_stall(void *arg) {
  struct sender *x = arg;
  reqivo_request *r = request_to("GET", "/stall", &x->err);
  x->resp = reqivo_session_send(x->s, r, x->c, &x->err);
  x->done_ms = now_ms();
  reqivo_request_free(r);
  return NULL;
}

/* One token shared by three sends in flight at once, each blocked reading
 * from a silent server on its own connection: one trigger ends them all.
 * (A blocking read is ended by shutting its socket down, and a token
 * watches one socket at a time; the other sends wait in poll on the
 * token's descriptor. Both ways must wake.) */
static void test_cancel_shared_token(void) {
  enum { SENDERS = 3 };
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  reqivo_cancel *c = reqivo_cancel_new();
  server_counts before;
  if (!CHECK(server_stats(&before) == 0)) {
    reqivo_cancel_free(c);
    reqivo_session_free(s);
    return;
  }
  struct sender x[SENDERS];
  pthread_t th[SENDERS];
  int started[SENDERS];
  memset(x, 0, sizeof x);
  for (int i = 0; i < SENDERS; i++) {
    x[i].s = s;
    x[i].c = c;
    started[i] = CHECK(pthread_create(&th[i], NULL, send_stall, &x[i]) == 0);
  }
  /* Every request reached the server (each send is now waiting for its
   * answer) before the trigger; bounded. Each look is a connection of its
   * own, which server_delta counts for all but the latest. */
  server_counts d = server_delta(before);
  long looks = 1;
  for (; looks < 100 && d.requests < SENDERS; looks++) {
    sleep_ms(20);
    d = server_delta(before);
  }
  CHECK_EQ(d.requests, SENDERS);
  CHECK_EQ(d.connections - (looks - 1), SENDERS);
  sleep_ms(50);
  double at = now_ms();
  reqivo_cancel_trigger(c);
  for (int i = 0; i < SENDERS; i++) {
    if (!started[i]) {
      continue;
    }
    pthread_join(th[i], NULL);
    CHECK(x[i].resp == NULL);
    CHECK_ERR(x[i].err, REQIVO_ERR_CANCELLED, NULL);
    CHECKF(x[i].done_ms - at < CANCEL_BOUND_MS, "send %d ended %.0f ms after the trigger", i,
           x[i].done_ms - at);
    reqivo_response_free(x[i].resp);
  }
  reqivo_cancel_free(c);
  reqivo_session_free(s);
}

/* The caller may free its token while a stream still uses it: the stream
 * holds its own reference. One token serves many sends. */
static void test_token_lifetime(void) {
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  reqivo_cancel *c = reqivo_cancel_new();
  reqivo_request *r = request_to("GET", "/big", &err);
  for (int i = 0; i < 3; i++) {
    const reqivo_response *resp = reqivo_session_send(s, r, c, &err);
    CHECKF(resp != NULL && resp->body_len == 100000, "%s", err.message);
    reqivo_response_free(resp);
  }
  reqivo_stream *st = reqivo_session_open(s, r, c, &err);
  reqivo_cancel_free(c);
  CHECKF(st != NULL, "%s", err.message);
  if (st != NULL) {
    uint8_t buf[4096];
    int64_t n, total = 0;
    while ((n = reqivo_stream_read(st, buf, sizeof buf, &err)) > 0) {
      total += n;
    }
    CHECK_EQ(n, 0);
    CHECK_EQ(total, 100000);
  }
  reqivo_stream_free(st);
  reqivo_request_free(r);
  reqivo_session_free(s);
}

static void test_timeouts(void) {
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  reqivo_request *r = request_to("GET", "/stall", &err);

  /* The session's read timeout. */
  reqivo_timeout t = reqivo_timeout_default();
  t.read_ms = 300;
  CHECK_CODE(reqivo_session_set_timeout(s, t), REQIVO_OK);
  double start = now_ms();
  const reqivo_response *resp = reqivo_session_send(s, r, NULL, &err);
  double took = now_ms() - start;
  CHECK(resp == NULL);
  CHECK_ERR(err, REQIVO_ERR_TIMEOUT_READ, "300 ms");
  CHECKF(took >= 250 && took < 3000, "read timeout after %.0f ms", took);

  /* A request's timeouts override the session's. */
  t.read_ms = 60000;
  CHECK_CODE(reqivo_session_set_timeout(s, t), REQIVO_OK);
  reqivo_timeout rt = reqivo_timeout_default();
  rt.read_ms = 200;
  CHECK_CODE(reqivo_request_set_timeout(r, rt), REQIVO_OK);
  start = now_ms();
  resp = reqivo_session_send(s, r, NULL, &err);
  took = now_ms() - start;
  CHECK(resp == NULL);
  CHECK_ERR(err, REQIVO_ERR_TIMEOUT_READ, "200 ms");
  CHECKF(took >= 150 && took < 3000, "read timeout after %.0f ms", took);

  /* The total timeout, shorter than the read timeout, wins. */
  rt.read_ms = 5000;
  rt.total_ms = 400;
  CHECK_CODE(reqivo_request_set_timeout(r, rt), REQIVO_OK);
  start = now_ms();
  resp = reqivo_session_send(s, r, NULL, &err);
  took = now_ms() - start;
  CHECK(resp == NULL);
  CHECK_ERR(err, REQIVO_ERR_TIMEOUT_TOTAL, "400 ms");
  CHECKF(took >= 350 && took < 3000, "total timeout after %.0f ms", took);

  /* The session is still usable afterwards. */
  dirty(&err);
  resp = get(s, "/ok", &err);
  CHECK(resp != NULL && body_is(resp, "hello\n"));
  CHECK_OK(err);
  reqivo_response_free(resp);
  reqivo_request_free(r);
  reqivo_session_free(s);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  test_cancel_send();
  test_cancel_stream_read();
  test_cancel_pool_wait();
  test_cancel_shared_token();
  test_token_lifetime();
  test_timeouts();
  return check_finish("test_cancel");
}
