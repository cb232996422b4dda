/* Retries as a session policy (reqivo_session_set_retry), against
 * tests/c/server.py's /retry routes, which count the requests of each key
 * (/retry-count/KEY tells the count): off by default; an always-503 stops
 * at max_attempts; Retry-After in seconds and as an HTTP-date is waited
 * for; a POST is retried only when marked idempotent; a body from a
 * callback is never sent twice; the total timeout bounds the waits; a
 * cancel ends a backoff at once; a refused connect and a connection closed
 * before any answer are retried only when flagged; every attempt reaches
 * the hooks and the log. The multi: a backoff is a timer of the transfer
 * (reqivo_multi_timeout_ms shows it). Time bounds are generous (valgrind). */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support.h"

/* A send that should be quick takes less than this even under valgrind. */
#define SLOW_MS 10000.0

/* Each run of the program uses fresh keys: the server outlives it. */
static char run_tag[32];

static const char *keyed(char *out, size_t cap, const char *fmt, const char *key) {
  char k[96];
  snprintf(k, sizeof k, "%s-%s", key, run_tag);
  snprintf(out, cap, fmt, k);
  return out;
}

/* Requests the server saw for `key`, or -1. */
static long count_of(const char *key) {
  char path[160];
  keyed(path, sizeof path, "/retry-count/%s", key);
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  const reqivo_response *resp = get(s, path, &err);
  long n = -1;
  if (resp != NULL && resp->status == 200) {
    n = strtol((const char *)resp->body, NULL, 10);
  }
  reqivo_response_free(resp);
  reqivo_session_free(s);
  return n;
}

/* A policy with short backoffs, so tests stay quick. */
static reqivo_retry quick(uint32_t attempts, uint32_t flags) {
  reqivo_retry p = reqivo_retry_default();
  p.max_attempts = attempts;
  p.base_backoff_ms = 10;
  p.max_backoff_ms = 50;
  p.flags = flags;
  return p;
}

static reqivo_session *session_with(const reqivo_retry *p) {
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  CHECK(s != NULL);
  CHECK_EQ(reqivo_session_set_retry(s, p, &err), 0);
  CHECK_OK(err);
  return s;
}

/* Sends `method` to the keyed path; the response or NULL with err. */
static const reqivo_response *send_keyed(reqivo_session *s, const char *method, const char *fmt,
                                         const char *key, const reqivo_cancel *c,
                                         reqivo_error *err) {
  char path[160];
  reqivo_request *r = request_to(method, keyed(path, sizeof path, fmt, key), err);
  const reqivo_response *resp = reqivo_session_send(s, r, c, err);
  reqivo_request_free(r);
  return resp;
}

static void test_default_is_off_and_the_default_policy(void) {
  reqivo_retry d = reqivo_retry_default();
  CHECK_EQ(d.struct_size, sizeof(reqivo_retry));
  CHECK_EQ(d.max_attempts, 3);
  CHECK(d.base_backoff_ms > 0 && d.base_backoff_ms <= d.max_backoff_ms);
  CHECK_EQ(d.flags, REQIVO_RETRY_ON_CONNECT_ERROR | REQIVO_RETRY_ON_RESET | REQIVO_RETRY_ON_429 |
                        REQIVO_RETRY_ON_503 | REQIVO_RETRY_AFTER);
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  const reqivo_response *resp = send_keyed(s, "GET", "/retry/%s/1/503", "off", NULL, &err);
  CHECK(resp != NULL && resp->status == 503);
  CHECK_EQ(count_of("off"), 1);
  reqivo_response_free(resp);
  /* NULL turns retries off again after a policy was set. */
  reqivo_retry p = quick(3, REQIVO_RETRY_ON_503);
  CHECK_EQ(reqivo_session_set_retry(s, &p, &err), 0);
  CHECK_EQ(reqivo_session_set_retry(s, NULL, &err), 0);
  resp = send_keyed(s, "GET", "/retry/%s/1/503", "off-again", NULL, &err);
  CHECK(resp != NULL && resp->status == 503);
  CHECK_EQ(count_of("off-again"), 1);
  reqivo_response_free(resp);
  reqivo_session_free(s);
}

struct seen {
  int requests;
  int responses;
  int retry_lines;
  int attempt3_lines;
};

static int32_t on_request(void *ud, reqivo_hook_request *req) {
  (void)req;
  ((struct seen *)ud)->requests++;
  return 0;
}

static int32_t on_response(void *ud, const reqivo_response *resp) {
  (void)resp;
  ((struct seen *)ud)->responses++;
  return 0;
}

static void on_log(void *ud, uint32_t level, const char *msg, size_t len) {
  (void)level;
  char line[1024];
  snprintf(line, sizeof line, "%.*s", (int)len, msg);
  struct seen *seen = ud;
  /* The policy's lines, not those of the one-shot retry of a dead pooled
   * connection. */
  if (strstr(line, "retrying") != NULL && strstr(line, "(attempt") != NULL) {
    seen->retry_lines++;
  }
  if (strstr(line, "attempt 3 of 3") != NULL && strstr(line, " ms") != NULL) {
    seen->attempt3_lines++;
  }
}

static void test_always_503_stops_at_max_attempts_each_attempt_seen(void) {
  reqivo_retry p = quick(3, REQIVO_RETRY_ON_503);
  reqivo_session *s = session_with(&p);
  struct seen seen = {0};
  CHECK_EQ(reqivo_session_set_hooks(s, on_request, on_response, &seen), 0);
  CHECK_EQ(reqivo_session_set_logger(s, on_log, &seen, REQIVO_LOG_INFO), 0);
  reqivo_error err;
  const reqivo_response *resp = send_keyed(s, "GET", "/retry/%s/1000/503", "always", NULL, &err);
  CHECK(resp != NULL && resp->status == 503 && body_is(resp, "busy"));
  CHECK_EQ(count_of("always"), 3);
  CHECK_EQ(seen.requests, 3);
  CHECK_EQ(seen.responses, 3);
  CHECK_EQ(seen.retry_lines, 2);
  CHECK_EQ(seen.attempt3_lines, 1);
  reqivo_response_free(resp);
  /* 429 until the third: the third answer is delivered. Drained 503s
   * left their connection for the next attempt. */
  resp = send_keyed(s, "GET", "/retry/%s/2/429", "twice", NULL, &err);
  CHECK_EQ(reqivo_session_set_hooks(s, NULL, NULL, NULL), 0);
  CHECK(resp != NULL && resp->status == 429);
  CHECK_EQ(count_of("twice"), 1);
  reqivo_response_free(resp);
  p.flags |= REQIVO_RETRY_ON_429;
  CHECK_EQ(reqivo_session_set_retry(s, &p, &err), 0);
  resp = send_keyed(s, "GET", "/retry/%s/2/429", "twice-on", NULL, &err);
  CHECK(resp != NULL && resp->status == 200 && body_is(resp, "done"));
  CHECK_EQ(count_of("twice-on"), 3);
  CHECK(resp != NULL && (resp->flags & REQIVO_RESPONSE_REUSED));
  reqivo_response_free(resp);
  reqivo_session_free(s);
}

static void test_retry_after_seconds_and_date(void) {
  reqivo_retry p = quick(2, REQIVO_RETRY_ON_503 | REQIVO_RETRY_AFTER);
  p.max_backoff_ms = 5000;
  reqivo_session *s = session_with(&p);
  reqivo_error err;
  double t0 = now_ms();
  const reqivo_response *resp = send_keyed(s, "GET", "/retry/%s/1/503/s2", "after-s", NULL, &err);
  double took = now_ms() - t0;
  CHECK(resp != NULL && resp->status == 200);
  CHECKF(took >= 1900 && took < SLOW_MS, "Retry-After: 2 waited %.0f ms", took);
  reqivo_response_free(resp);
  /* An HTTP-date 3 s ahead, to the second: a wait of 2 to 3 s. */
  t0 = now_ms();
  resp = send_keyed(s, "GET", "/retry/%s/1/503/d3", "after-d", NULL, &err);
  took = now_ms() - t0;
  CHECK(resp != NULL && resp->status == 200);
  CHECKF(took >= 1900 && took < SLOW_MS, "Retry-After as a date waited %.0f ms", took);
  reqivo_response_free(resp);
  /* Capped at max_backoff_ms. */
  p.max_backoff_ms = 100;
  CHECK_EQ(reqivo_session_set_retry(s, &p, &err), 0);
  t0 = now_ms();
  resp = send_keyed(s, "GET", "/retry/%s/1/503/s30", "after-cap", NULL, &err);
  took = now_ms() - t0;
  CHECK(resp != NULL && resp->status == 200);
  CHECKF(took < SLOW_MS, "a capped Retry-After waited %.0f ms", took);
  reqivo_response_free(resp);
  reqivo_session_free(s);
}

static void test_post_only_when_marked(void) {
  reqivo_retry p = quick(3, REQIVO_RETRY_ON_503);
  reqivo_session *s = session_with(&p);
  reqivo_error err;
  const reqivo_response *resp = send_keyed(s, "POST", "/retry/%s/1/503", "post", NULL, &err);
  CHECK(resp != NULL && resp->status == 503);
  CHECK_EQ(count_of("post"), 1);
  reqivo_response_free(resp);
  char path[160];
  reqivo_request *r = request_to("POST", keyed(path, sizeof path, "/retry/%s/1/503", "post-m"),
                                 &err);
  CHECK_EQ(reqivo_request_set_body(r, (const uint8_t *)"x=1", 3, &err), 0);
  CHECK_EQ(reqivo_request_set_idempotent(r, true), 0);
  resp = reqivo_session_send(s, r, NULL, &err);
  CHECK(resp != NULL && resp->status == 200);
  CHECK_EQ(count_of("post-m"), 2);
  reqivo_response_free(resp);
  /* Unmarked again. */
  CHECK_EQ(reqivo_request_set_idempotent(r, false), 0);
  reqivo_request_free(r);
  reqivo_session_free(s);
}

struct source {
  int reads;
  int sent;
};

static int64_t read_body(void *ud, uint8_t *buf, size_t cap) {
  struct source *src = ud;
  src->reads++;
  if (src->sent || cap < 5) {
    return 0;
  }
  memcpy(buf, "hello", 5);
  src->sent = 1;
  return 5;
}

static void test_callback_body_never_replayed(void) {
  reqivo_retry p = quick(3, REQIVO_RETRY_ON_503);
  reqivo_session *s = session_with(&p);
  reqivo_error err;
  char path[160];
  reqivo_request *r = request_to("PUT", keyed(path, sizeof path, "/retry/%s/1/503", "cb"), &err);
  struct source src = {0};
  CHECK_EQ(reqivo_request_set_body_callback(r, read_body, &src, 5, &err), 0);
  const reqivo_response *resp = reqivo_session_send(s, r, NULL, &err);
  CHECK(resp != NULL && resp->status == 503);
  CHECK_EQ(count_of("cb"), 1);
  CHECK_EQ(src.sent, 1);
  reqivo_response_free(resp);
  reqivo_request_free(r);
  reqivo_session_free(s);
}

static void test_total_timeout_bounds_the_waits(void) {
  reqivo_retry p = quick(5, REQIVO_RETRY_ON_503 | REQIVO_RETRY_AFTER);
  p.max_backoff_ms = 10000;
  reqivo_session *s = session_with(&p);
  reqivo_timeout t = reqivo_timeout_default();
  t.total_ms = 1000;
  CHECK_EQ(reqivo_session_set_timeout(s, t), 0);
  reqivo_error err;
  /* A 5 s wait would pass the 1 s total: the 503 comes back at once. */
  double t0 = now_ms();
  const reqivo_response *resp =
      send_keyed(s, "GET", "/retry/%s/1000/503/s5", "total", NULL, &err);
  double took = now_ms() - t0;
  CHECK(resp != NULL && resp->status == 503);
  CHECKF(took < 900, "delivered after %.0f ms", took);
  CHECK_EQ(count_of("total"), 1);
  reqivo_response_free(resp);
  /* Backoffs of up to 400 ms: no attempt starts a wait past the total.
   * The jitter may start a last attempt just before the total runs out;
   * that attempt then ends in the total timeout, a right outcome too (a
   * slow machine, or valgrind, makes it likely). */
  p.base_backoff_ms = 400;
  p.max_backoff_ms = 400;
  p.flags = REQIVO_RETRY_ON_503;
  CHECK_EQ(reqivo_session_set_retry(s, &p, &err), 0);
  t0 = now_ms();
  resp = send_keyed(s, "GET", "/retry/%s/1000/503", "total-jitter", NULL, &err);
  took = now_ms() - t0;
  CHECKF((resp != NULL && resp->status == 503) ||
             (resp == NULL && err.code == REQIVO_ERR_TIMEOUT_TOTAL),
         "status %d, error %d", resp ? resp->status : 0, resp ? 0 : (int)err.code);
  CHECKF(took < 1500, "delivered after %.0f ms", took);
  long n = count_of("total-jitter");
  CHECKF(n >= 1 && n <= 5, "%ld attempts", n);
  reqivo_response_free(resp);
  reqivo_session_free(s);
}

struct trigger {
  const reqivo_cancel *c;
  double at_ms;
};

static void *trigger_later(void *arg) {
  struct trigger *t = arg;
  sleep_ms(300);
  t->at_ms = now_ms();
  reqivo_cancel_trigger(t->c);
  return NULL;
}

static void test_cancel_ends_a_backoff(void) {
  reqivo_retry p = quick(3, REQIVO_RETRY_ON_503 | REQIVO_RETRY_AFTER);
  p.max_backoff_ms = 20000;
  reqivo_session *s = session_with(&p);
  reqivo_cancel *c = reqivo_cancel_new();
  struct trigger t = {c, 0};
  pthread_t th;
  if (CHECK(pthread_create(&th, NULL, trigger_later, &t) == 0)) {
    reqivo_error err;
    const reqivo_response *resp =
        send_keyed(s, "GET", "/retry/%s/1000/503/s20", "cancel", c, &err);
    double done = now_ms();
    pthread_join(th, NULL);
    CHECK(resp == NULL);
    CHECK_ERR(err, REQIVO_ERR_CANCELLED, NULL);
    CHECKF(done - t.at_ms < 1000, "returned %.0f ms after the trigger", done - t.at_ms);
    CHECK_EQ(count_of("cancel"), 1);
    reqivo_response_free(resp);
  }
  reqivo_cancel_free(c);
  reqivo_session_free(s);
}

/* A port nothing listens on: bound, then closed. */
static int closed_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = -1;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
      getsockname(fd, (struct sockaddr *)&a, &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

static int retries_logged(uint32_t flags) {
  reqivo_retry p = quick(3, flags);
  reqivo_session *s = session_with(&p);
  struct seen seen = {0};
  CHECK_EQ(reqivo_session_set_logger(s, on_log, &seen, REQIVO_LOG_INFO), 0);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/", closed_port());
  reqivo_error err;
  reqivo_request *r = reqivo_request_new("GET", 3, url, strlen(url), &err);
  const reqivo_response *resp = reqivo_session_send(s, r, NULL, &err);
  CHECK(resp == NULL);
  CHECK_ERR(err, REQIVO_ERR_CONNECT_REFUSED, NULL);
  reqivo_request_free(r);
  reqivo_session_free(s);
  return seen.retry_lines;
}

static void test_connect_error_and_reset_only_when_flagged(void) {
  CHECK_EQ(retries_logged(REQIVO_RETRY_ON_CONNECT_ERROR), 2);
  CHECK_EQ(retries_logged(REQIVO_RETRY_ON_RESET | REQIVO_RETRY_ON_503), 0);
  reqivo_error err;
  reqivo_retry p = quick(3, REQIVO_RETRY_ON_RESET);
  reqivo_session *s = session_with(&p);
  const reqivo_response *resp = send_keyed(s, "GET", "/retry-close/%s/1", "reset", NULL, &err);
  CHECK(resp != NULL && resp->status == 200 && body_is(resp, "done"));
  CHECK_EQ(count_of("reset"), 2);
  reqivo_response_free(resp);
  reqivo_session_free(s);
  p.flags = REQIVO_RETRY_ON_CONNECT_ERROR | REQIVO_RETRY_ON_503;
  s = session_with(&p);
  resp = send_keyed(s, "GET", "/retry-close/%s/1", "no-reset", NULL, &err);
  CHECK(resp == NULL);
  CHECK(err.code == REQIVO_ERR_CONNECTION_CLOSED || err.code == REQIVO_ERR_UNEXPECTED_EOF ||
        err.code == REQIVO_ERR_IO);
  CHECK_EQ(count_of("no-reset"), 1);
  reqivo_session_free(s);
}

/* Drives `m` until `n` transfers are done or SLOW_MS pass; the largest
 * reqivo_multi_timeout_ms seen while one was in flight goes to *max_t. */
static int drive(reqivo_multi *m, reqivo_multi_done *out, int n, int64_t *max_t) {
  int got = 0;
  double until = now_ms() + SLOW_MS;
  reqivo_error err;
  while (got < n && now_ms() < until) {
    int64_t t = reqivo_multi_timeout_ms(m);
    if (t > *max_t) {
      *max_t = t;
    }
    CHECK_EQ(reqivo_multi_poll(m, 200, &err), 0);
    out[got].struct_size = sizeof out[got];
    while (got < n && reqivo_multi_next(m, &out[got])) {
      got++;
      if (got < n) {
        out[got].struct_size = sizeof out[got];
      }
    }
  }
  return got;
}

static void test_multi_backoff_is_a_timer(void) {
  reqivo_retry p = quick(3, REQIVO_RETRY_ON_503 | REQIVO_RETRY_AFTER);
  p.max_backoff_ms = 5000;
  reqivo_session *s = session_with(&p);
  /* Every other timer shorter than the 2 s backoff, so the longest
   * timeout the multi reports is the backoff's. */
  reqivo_timeout t = {1500, 1500, 1500, 0, 1500};
  CHECK_EQ(reqivo_session_set_timeout(s, t), 0);
  reqivo_error err;
  reqivo_multi *m = reqivo_multi_new(&err);
  char path[160];
  reqivo_request *r =
      request_to("GET", keyed(path, sizeof path, "/retry/%s/1/503/s2", "multi"), &err);
  reqivo_request *always =
      request_to("GET", keyed(path, sizeof path, "/retry/%s/1000/429", "multi-always"), &err);
  CHECK_EQ(reqivo_multi_add(m, s, r, NULL, (void *)1, &err), 0);
  CHECK_EQ(reqivo_multi_add(m, s, always, NULL, (void *)2, &err), 0);
  reqivo_multi_done done[2];
  int64_t max_t = -1;
  double t0 = now_ms();
  int got = drive(m, done, 2, &max_t);
  double took = now_ms() - t0;
  if (CHECK_EQ(got, 2)) {
    for (int i = 0; i < 2; i++) {
      const reqivo_response *resp = done[i].response;
      if (done[i].user_data == (void *)1) {
        /* The drained 503 left its connection in the pool for the retry. */
        CHECK(resp != NULL && resp->status == 200 && (resp->flags & REQIVO_RESPONSE_REUSED));
      } else {
        /* 429 is not flagged: delivered at once. */
        CHECK(resp != NULL && resp->status == 429);
      }
      reqivo_response_free(resp);
    }
  }
  CHECKF(took >= 1900 && took < SLOW_MS, "the multi waited %.0f ms", took);
  /* The Retry-After wait was a timer: about 2000 ms, not a poll's slice. */
  CHECKF(max_t > 1500 && max_t <= 2100, "reqivo_multi_timeout_ms at most %lld",
         (long long)max_t);
  CHECK_EQ(count_of("multi"), 2);
  CHECK_EQ(count_of("multi-always"), 1);
  /* Connect errors and resets through the multi too, on a session of
   * its own (no pooled connection to find dead first). */
  struct seen seen = {0};
  p.flags |= REQIVO_RETRY_ON_CONNECT_ERROR | REQIVO_RETRY_ON_RESET;
  reqivo_session *fresh = session_with(&p);
  CHECK_EQ(reqivo_session_set_logger(fresh, on_log, &seen, REQIVO_LOG_INFO), 0);
  reqivo_request *closing =
      request_to("GET", keyed(path, sizeof path, "/retry-close/%s/2", "multi-reset"), &err);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/", closed_port());
  reqivo_request *refused = reqivo_request_new("GET", 3, url, strlen(url), &err);
  CHECK_EQ(reqivo_multi_add(m, fresh, closing, NULL, (void *)3, &err), 0);
  CHECK_EQ(reqivo_multi_add(m, fresh, refused, NULL, (void *)4, &err), 0);
  if (CHECK_EQ(drive(m, done, 2, &max_t), 2)) {
    for (int i = 0; i < 2; i++) {
      if (done[i].user_data == (void *)3) {
        CHECK(done[i].response != NULL && body_is(done[i].response, "done"));
      } else {
        CHECK(done[i].response == NULL);
        CHECK_ERR(done[i].error, REQIVO_ERR_CONNECT_REFUSED, NULL);
      }
      reqivo_response_free(done[i].response);
    }
  }
  CHECK_EQ(count_of("multi-reset"), 3);
  CHECK_EQ(seen.retry_lines, 4);
  reqivo_request_free(closing);
  reqivo_request_free(refused);
  reqivo_request_free(r);
  reqivo_request_free(always);
  reqivo_multi_free(m);
  reqivo_session_free(fresh);
  reqivo_session_free(s);
}

static void test_multi_cancel_ends_a_backoff(void) {
  reqivo_retry p = quick(3, REQIVO_RETRY_ON_503 | REQIVO_RETRY_AFTER);
  p.max_backoff_ms = 20000;
  reqivo_session *s = session_with(&p);
  reqivo_error err;
  reqivo_multi *m = reqivo_multi_new(&err);
  reqivo_cancel *c = reqivo_cancel_new();
  char path[160];
  reqivo_request *r =
      request_to("GET", keyed(path, sizeof path, "/retry/%s/1000/503/s20", "multi-cancel"), &err);
  CHECK_EQ(reqivo_multi_add(m, s, r, c, NULL, &err), 0);
  struct trigger t = {c, 0};
  pthread_t th;
  if (CHECK(pthread_create(&th, NULL, trigger_later, &t) == 0)) {
    reqivo_multi_done done[1];
    int64_t max_t = -1;
    int got = drive(m, done, 1, &max_t);
    double at = now_ms();
    pthread_join(th, NULL);
    if (CHECK_EQ(got, 1)) {
      CHECK(done[0].response == NULL);
      CHECK_ERR(done[0].error, REQIVO_ERR_CANCELLED, NULL);
      CHECKF(at - t.at_ms < 1000, "done %.0f ms after the trigger", at - t.at_ms);
    }
  }
  CHECK_EQ(count_of("multi-cancel"), 1);
  reqivo_request_free(r);
  reqivo_cancel_free(c);
  reqivo_multi_free(m);
  reqivo_session_free(s);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  snprintf(run_tag, sizeof run_tag, "%ld-%d", (long)time(NULL), (int)getpid());
  test_default_is_off_and_the_default_policy();
  test_always_503_stops_at_max_attempts_each_attempt_seen();
  test_retry_after_seconds_and_date();
  test_post_only_when_marked();
  test_callback_body_never_replayed();
  test_total_timeout_bounds_the_waits();
  test_cancel_ends_a_backoff();
  test_connect_error_and_reset_only_when_flagged();
  test_multi_backoff_is_a_timer();
  test_multi_cancel_ends_a_backoff();
  return check_finish("test_retry");
}
