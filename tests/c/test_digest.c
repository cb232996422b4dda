/* HTTP Digest authentication (RFC 7616) against tests/c/digest_peer.py,
 * which checks each answer with Python's hashlib and echoes it as JSON:
 * every algorithm and qop, -sess, RFC 2069, stale=true, userhash, the
 * session's memory of a nonce (answered before any 401, nc raised; shared
 * by threads; a nextnonce taken), a wrong password (one answer, the 401
 * delivered), a body from a callback (never resent; answered at once when
 * the nonce is known), redirects within and out of the origin, hooks and
 * the log seeing each hop, a streamed send, which credentials win, and
 * the same through the multi. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <unistd.h>

#include "support.h"

/* A path unique to this run and test, so the peer's answer counts are ours. */
static const char *path_of(char *out, size_t cap, const char *route, const char *tag) {
  snprintf(out, cap, "%s/t%ld-%s", route, (long)getpid(), tag);
  return out;
}

/* The body as a C string (cut at 4 KiB), in a buffer of the calling thread. */
static const char *body_text(const reqivo_response *resp) {
  static _Thread_local char text[4096];
  size_t n = resp == NULL ? 0 : resp->body_len < sizeof text - 1 ? resp->body_len : sizeof text - 1;
  if (n > 0) {
    memcpy(text, resp->body, n);
  }
  text[n] = '\0';
  return text;
}

static const reqivo_response *send_path(reqivo_session *s, const char *method, const char *path,
                                        const char *body, reqivo_error *err) {
  reqivo_request *r = request_to(method, path, err);
  if (r == NULL) {
    return NULL;
  }
  if (body != NULL) {
    CHECK_CODE(reqivo_request_set_body(r, (const uint8_t *)body, strlen(body), err), REQIVO_OK);
  }
  const reqivo_response *resp = reqivo_session_send(s, r, NULL, err);
  reqivo_request_free(r);
  return resp;
}

static reqivo_session *digest_session(const char *user, const char *pass) {
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  CHECK(s != NULL);
  CHECK_CODE(reqivo_session_set_digest_auth(s, user, strlen(user), pass, strlen(pass), &err),
             REQIVO_OK);
  return s;
}

/* Expects a 200 from the peer with `answers` answers on the path and the
 * given text in its JSON echo. */
static void expect_ok(const reqivo_response *resp, const reqivo_error *err, int answers,
                      const char *text) {
  char want[64];
  CHECKF(resp != NULL, "%s", err->message);
  if (resp == NULL) {
    return;
  }
  CHECKF(resp->status == 200, "status %d: %s", resp->status, body_text(resp));
  snprintf(want, sizeof want, "\"answers\": %d", answers);
  CHECK_CONTAINS(body_text(resp), want);
  if (text != NULL) {
    CHECK_CONTAINS(body_text(resp), text);
  }
}

static void expect_401(const reqivo_response *resp, const reqivo_error *err, int answers) {
  char want[64];
  CHECKF(resp != NULL, "%s", err->message);
  if (resp == NULL) {
    return;
  }
  CHECKF(resp->status == 401, "status %d: %s", resp->status, body_text(resp));
  snprintf(want, sizeof want, "\"answers\": %d", answers);
  CHECK_CONTAINS(body_text(resp), want);
}

typedef struct hop_count {
  int requests;
  int responses;
  int last_status;
} hop_count;

static int32_t count_request(void *userdata, reqivo_hook_request *req) {
  (void)req;
  ((hop_count *)userdata)->requests++;
  return 0;
}

static int32_t count_response(void *userdata, const reqivo_response *resp) {
  hop_count *c = userdata;
  c->responses++;
  c->last_status = resp->status;
  return 0;
}

static void test_algorithms(void) {
  static const struct {
    const char *route;
    const char *method;
    const char *body;
    const char *seen;
  } cases[] = {
      {"/digest/auth/MD5/Mufasa/Circle%20of%20Life", "GET", NULL,
       "algorithm=MD5, qop=auth, nc=00000001"},
      {"/digest/auth/SHA-256/Mufasa/Circle%20of%20Life", "GET", NULL, "algorithm=SHA-256, qop=auth"},
      {"/digest/auth/MD5-sess/u/p", "GET", NULL, "algorithm=MD5-sess, qop=auth"},
      {"/digest/auth/SHA-256-sess/u/p", "GET", NULL, "algorithm=SHA-256-sess, qop=auth"},
      {"/digest/auth/SHA-512-256/u/p", "GET", NULL, "algorithm=SHA-512-256"},
      /* auth preferred when both are offered; auth-int when it is alone. */
      {"/digest/auth,auth-int/MD5/u/p", "GET", NULL, "qop=auth,"},
      {"/digest/auth-int/SHA-256/u/p", "POST", "a body, hashed", "qop=auth-int"},
      {"/digest/auth-int/MD5/u/p", "PUT", NULL, "qop=auth-int"},
      /* RFC 2069: no algorithm named, no qop, nc or cnonce. */
      {"/digest/none/default/u/p", "GET", NULL, "\"nc\": null"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    reqivo_error err;
    char path[256], tag[16];
    snprintf(tag, sizeof tag, "alg%zu", i);
    const char *user = strstr(cases[i].route, "Mufasa") ? "Mufasa" : "u";
    const char *pass = strstr(cases[i].route, "Mufasa") ? "Circle of Life" : "p";
    reqivo_session *s = digest_session(user, pass);
    hop_count hops = {0, 0, 0};
    CHECK_CODE(reqivo_session_set_hooks(s, count_request, count_response, &hops), REQIVO_OK);
    const reqivo_response *resp = send_path(
        s, cases[i].method, path_of(path, sizeof path, cases[i].route, tag), cases[i].body, &err);
    expect_ok(resp, &err, 1, cases[i].seen);
    if (cases[i].body != NULL) {
      CHECK_CONTAINS(body_text(resp), "\"body\": \"a body, hashed\"");
    }
    /* The 401 and the answer are two hops, each seen by the hooks. */
    CHECK_EQ(hops.requests, 2);
    CHECK_EQ(hops.responses, 2);
    CHECK_EQ(hops.last_status, 200);
    CHECK(resp == NULL || resp->redirect_count == 0);
    reqivo_response_free(resp);
    reqivo_session_free(s);
  }
}

/* The session remembers the origin's nonce: the next request answers it at
 * once, with nc 2; a new session has no memory. */
static void test_nonce_memory(void) {
  reqivo_error err;
  char path[256];
  reqivo_session *s = digest_session("u", "p");
  hop_count hops = {0, 0, 0};
  CHECK_CODE(reqivo_session_set_hooks(s, count_request, count_response, &hops), REQIVO_OK);
  const reqivo_response *resp =
      send_path(s, "GET", path_of(path, sizeof path, "/digest/auth/SHA-256/u/p", "mem1"), NULL, &err);
  expect_ok(resp, &err, 1, "\"nc\": \"00000001\"");
  reqivo_response_free(resp);
  hops.requests = hops.responses = 0;
  resp = send_path(s, "GET", path_of(path, sizeof path, "/digest/auth/SHA-256/u/p", "mem2?q=1"),
                   NULL, &err);
  expect_ok(resp, &err, 1, "\"nc\": \"00000002\"");
  CHECK_CONTAINS(body_text(resp), "\"uri\": \"/digest/auth/SHA-256/u/p/t");
  CHECK_CONTAINS(body_text(resp), "mem2?q=1\"");
  CHECK_EQ(hops.responses, 1); /* no 401 this time */
  reqivo_response_free(resp);
  reqivo_session_free(s);

  /* A server that retires each nonce names the next in
   * Authentication-Info: the next request answers with it, nc from 1. */
  s = digest_session("u", "p");
  CHECK_CODE(reqivo_session_set_hooks(s, count_request, count_response, &hops), REQIVO_OK);
  resp = send_path(s, "GET", path_of(path, sizeof path, "/digest/auth/MD5/u/p/nextnonce", "next1"),
                   NULL, &err);
  expect_ok(resp, &err, 1, NULL);
  reqivo_response_free(resp);
  hops.requests = hops.responses = 0;
  resp = send_path(s, "GET", path_of(path, sizeof path, "/digest/auth/MD5/u/p/nextnonce", "next2"),
                   NULL, &err);
  expect_ok(resp, &err, 1, "\"nc\": \"00000001\"");
  CHECK_EQ(hops.responses, 1);
  reqivo_response_free(resp);
  reqivo_session_free(s);
}

typedef struct sharer {
  reqivo_session *s;
  int index;
  int ok;
} sharer;

static void *send_many(void *arg) {
  sharer *sh = arg;
  for (int i = 0; i < 10; i++) {
    reqivo_error err;
    char path[256], tag[32];
    snprintf(tag, sizeof tag, "thread%d-%d", sh->index, i);
    const reqivo_response *resp =
        send_path(sh->s, "GET", path_of(path, sizeof path, "/digest/auth/SHA-256/u/p", tag), NULL, &err);
    sh->ok += resp != NULL && resp->status == 200 && strstr(body_text(resp), "\"answers\": 1");
    reqivo_response_free(resp);
  }
  return NULL;
}

/* Threads sharing a session draw nonce counts from one memory: the peer,
 * which refuses a repeated nc, accepts every answer, each at once. */
static void test_threads_share_the_nonce(void) {
  reqivo_error err;
  char path[256];
  reqivo_session *s = digest_session("u", "p");
  const reqivo_response *resp =
      send_path(s, "GET", path_of(path, sizeof path, "/digest/auth/SHA-256/u/p", "threads"), NULL, &err);
  expect_ok(resp, &err, 1, NULL);
  reqivo_response_free(resp);
  pthread_t threads[4];
  sharer sharers[4];
  for (int i = 0; i < 4; i++) {
    sharers[i] = (sharer){s, i, 0};
    CHECK_EQ(pthread_create(&threads[i], NULL, send_many, &sharers[i]), 0);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(threads[i], NULL);
    CHECK_EQ(sharers[i].ok, 10);
  }
  reqivo_session_free(s);
}

static void test_stale_and_userhash(void) {
  reqivo_error err;
  char path[256];
  reqivo_session *s = digest_session("u", "p");
  /* The first correct answer is refused as stale: answered again with the
   * new nonce, not taken for a wrong password. */
  const reqivo_response *resp =
      send_path(s, "GET", path_of(path, sizeof path, "/digest/auth/MD5/u/p/stale", "st"), NULL, &err);
  expect_ok(resp, &err, 2, NULL);
  reqivo_response_free(resp);
  reqivo_session_free(s);

  s = digest_session("J\xc3\xa4s\xc3\xb8n", "p");
  resp = send_path(s, "GET",
                   path_of(path, sizeof path, "/digest/auth/SHA-256/J%C3%A4s%C3%B8n/p/userhash", "uh"),
                   NULL, &err);
  expect_ok(resp, &err, 1, "userhash=true");
  CHECK(resp == NULL || strstr(body_text(resp), "J\xc3\xa4s") == NULL); /* hashed, never plain */
  reqivo_response_free(resp);
  reqivo_session_free(s);

  /* Without userhash, a non-ASCII name goes as username* (RFC 8187). */
  s = digest_session("J\xc3\xa4s\xc3\xb8n", "p");
  resp = send_path(s, "GET", path_of(path, sizeof path, "/digest/auth/MD5/J%C3%A4s%C3%B8n/p", "ext"),
                   NULL, &err);
  expect_ok(resp, &err, 1, "username*=UTF-8''J%C3%A4s%C3%B8n");
  reqivo_response_free(resp);
  reqivo_session_free(s);
}

/* A wrong password: one answer, then the 401 is the caller's; the session
 * forgets the nonce, so the next request starts without credentials. */
static void test_wrong_password(void) {
  reqivo_error err;
  char path[256];
  reqivo_session *s = digest_session("u", "wrong");
  path_of(path, sizeof path, "/digest/auth/MD5/u/p", "wrong");
  const reqivo_response *resp = send_path(s, "GET", path, NULL, &err);
  expect_401(resp, &err, 1);
  CHECK_CONTAINS(body_text(resp), "wrong response");
  reqivo_response_free(resp);
  resp = send_path(s, "GET", path, NULL, &err);
  expect_401(resp, &err, 2);
  reqivo_response_free(resp);
  reqivo_session_free(s);

}

static int64_t read_once(void *userdata, uint8_t *buf, size_t cap) {
  int *done = userdata;
  if (*done || cap < 5) {
    return 0;
  }
  *done = 1;
  memcpy(buf, "hello", 5);
  return 5;
}

/* A body from a callback cannot be sent twice: the 401 is delivered. */
static void test_body_from_callback(void) {
  reqivo_error err;
  char path[256];
  reqivo_session *s = digest_session("u", "p");
  reqivo_request *r = request_to("POST", path_of(path, sizeof path, "/digest/auth/MD5/u/p", "cb"), &err);
  int done = 0;
  CHECK_CODE(reqivo_request_set_body_callback(r, read_once, &done, 5, &err), REQIVO_OK);
  const reqivo_response *resp = reqivo_session_send(s, r, NULL, &err);
  expect_401(resp, &err, 0);
  CHECK_EQ(done, 1);
  reqivo_response_free(resp);
  reqivo_request_free(r);

  /* Once the session knows the origin's nonce, such a body is answered
   * before any 401: sent once, accepted. */
  resp = send_path(s, "GET", path_of(path, sizeof path, "/digest/auth/MD5/u/p", "cb-first"), NULL, &err);
  expect_ok(resp, &err, 1, NULL);
  reqivo_response_free(resp);
  r = request_to("POST", path_of(path, sizeof path, "/digest/auth/MD5/u/p", "cb-known"), &err);
  done = 0;
  CHECK_CODE(reqivo_request_set_body_callback(r, read_once, &done, 5, &err), REQIVO_OK);
  resp = reqivo_session_send(s, r, NULL, &err);
  expect_ok(resp, &err, 1, "\"body\": \"hello\"");
  reqivo_response_free(resp);
  reqivo_request_free(r);
  reqivo_session_free(s);
}

/* Within the origin a redirect's challenge is answered; at another origin
 * (localhost for 127.0.0.1) it is not, and no Authorization goes there. */
static void test_redirects(void) {
  reqivo_error err;
  char path[256];
  reqivo_session *s = digest_session("u", "p");
  const reqivo_response *resp = send_path(
      s, "GET", path_of(path, sizeof path, "/digest-redirect/same/digest/auth/MD5/u/p", "same"),
      NULL, &err);
  expect_ok(resp, &err, 1, NULL);
  CHECK(resp == NULL || resp->redirect_count == 1);
  reqivo_response_free(resp);

  /* The session now knows 127.0.0.1's nonce: still nothing for localhost. */
  resp = send_path(
      s, "GET", path_of(path, sizeof path, "/digest-redirect/localhost/digest/auth/MD5/u/p", "away"),
      NULL, &err);
  expect_401(resp, &err, 0);
  CHECK(resp == NULL || resp->redirect_count == 1);
  reqivo_response_free(resp);
  reqivo_session_free(s);
}

static void log_line(void *userdata, uint32_t level, const char *message, size_t len) {
  (void)len;
  if (level == REQIVO_LOG_INFO && strstr(message, "-> 401, answering its Digest challenge")) {
    ++*(int *)userdata;
  }
}

/* A streamed send answers as the buffered one does; the log tells of the
 * answer as it tells of a redirect. */
static void test_open_and_log(void) {
  reqivo_error err;
  char path[256];
  int answers_logged = 0;
  reqivo_session *s = digest_session("u", "p");
  CHECK_CODE(reqivo_session_set_logger(s, log_line, &answers_logged, REQIVO_LOG_INFO), REQIVO_OK);
  reqivo_request *r = request_to("GET", path_of(path, sizeof path, "/digest/auth/SHA-256/u/p", "open"), &err);
  reqivo_stream *st = reqivo_session_open(s, r, NULL, &err);
  CHECKF(st != NULL, "%s", err.message);
  if (st != NULL) {
    CHECK_EQ(reqivo_stream_response(st)->status, 200);
    char body[2048];
    size_t got = 0;
    int64_t n;
    while ((n = reqivo_stream_read(st, (uint8_t *)body + got, sizeof body - 1 - got, &err)) > 0) {
      got += (size_t)n;
    }
    body[got] = '\0';
    CHECK_EQ(n, 0);
    CHECK_CONTAINS(body, "\"answers\": 1");
    reqivo_stream_free(st);
  }
  CHECK_EQ(answers_logged, 1);
  reqivo_request_free(r);
  reqivo_session_free(s);
}

/* The last credentials set win; a request's own Authorization turns the
 * digest answer off. */
static void test_which_credentials(void) {
  reqivo_error err;
  char path[256];
  reqivo_session *s = digest_session("u", "p");
  CHECK_CODE(reqivo_session_set_basic_auth(s, "user", 4, "pass", 4, &err), REQIVO_OK);
  const reqivo_response *resp =
      send_path(s, "GET", path_of(path, sizeof path, "/digest/auth/MD5/u/p", "basic"), NULL, &err);
  expect_401(resp, &err, 1);
  reqivo_response_free(resp);

  CHECK_CODE(reqivo_session_set_digest_auth(s, "u", 1, "p", 1, &err), REQIVO_OK);
  resp = send_path(s, "GET", "/echo", NULL, &err);
  CHECK(resp != NULL && strstr(body_text(resp), "Authorization") == NULL);
  reqivo_response_free(resp);
  resp = send_path(s, "GET", path_of(path, sizeof path, "/digest/auth/MD5/u/p", "digest"), NULL, &err);
  expect_ok(resp, &err, 1, NULL);
  reqivo_response_free(resp);

  reqivo_request *r = request_to("GET", path_of(path, sizeof path, "/digest/auth/MD5/u/p", "own"), &err);
  CHECK_CODE(reqivo_request_add_header(r, "Authorization", 13, "Bearer mine", 11, &err), REQIVO_OK);
  resp = reqivo_session_send(s, r, NULL, &err);
  expect_401(resp, &err, 1);
  reqivo_response_free(resp);
  reqivo_request_free(r);

  CHECK_CODE(reqivo_session_set_bearer_token(s, NULL, 0, &err), REQIVO_OK); /* clears both */
  resp = send_path(s, "GET", path_of(path, sizeof path, "/digest/auth/MD5/u/p", "none"), NULL, &err);
  expect_401(resp, &err, 0);
  reqivo_response_free(resp);
  reqivo_session_free(s);
}

/* The multi runs the same chain: answered, refused, not resent. */
static void test_multi(void) {
  reqivo_error err;
  char path[3][256];
  reqivo_session *good = digest_session("u", "p");
  reqivo_session *bad = digest_session("u", "nope");
  reqivo_multi *m = reqivo_multi_new(&err);
  CHECK(m != NULL);
  const char *routes[3] = {"/digest/auth/SHA-256-sess/u/p/stale", "/digest/auth/MD5/u/p",
                           "/digest/auth/MD5/u/p"};
  const char *tags[3] = {"m-ok", "m-bad", "m-cb"};
  int done = 0;
  for (int i = 0; i < 3; i++) {
    reqivo_request *r = request_to(i == 2 ? "POST" : "GET",
                                   path_of(path[i], sizeof path[i], routes[i], tags[i]), &err);
    if (i == 2) {
      CHECK_CODE(reqivo_request_set_body_callback(r, read_once, &done, 5, &err), REQIVO_OK);
    }
    CHECK_EQ(reqivo_multi_add(m, i == 1 ? bad : good, r, NULL, (void *)(uintptr_t)i, &err), 0);
    reqivo_request_free(r);
  }
  int got = 0;
  double until = now_ms() + 20000;
  while (got < 3 && now_ms() < until) {
    CHECK_EQ(reqivo_multi_poll(m, 100, &err), 0);
    reqivo_multi_done d = {.struct_size = sizeof d};
    while (reqivo_multi_next(m, &d)) {
      int i = (int)(uintptr_t)d.user_data;
      got++;
      if (i == 0) {
        expect_ok(d.response, &d.error, 2, "algorithm=SHA-256-sess");
      } else {
        expect_401(d.response, &d.error, i == 1 ? 1 : 0);
      }
      reqivo_response_free(d.response);
    }
  }
  CHECK_EQ(got, 3);
  reqivo_multi_free(m);
  reqivo_session_free(good);
  reqivo_session_free(bad);
}

static void test_bad_input(void) {
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  CHECK_CODE(reqivo_session_set_digest_auth(NULL, "u", 1, "p", 1, &err), REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_CODE(reqivo_session_set_digest_auth(s, NULL, 0, "p", 1, &err), REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_CODE(reqivo_session_set_digest_auth(s, "\xff", 1, "p", 1, &err), REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_CODE(reqivo_session_set_digest_auth(s, "u", 1, NULL, 0, &err), REQIVO_OK);
  reqivo_session_free(s);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  test_algorithms();
  test_nonce_memory();
  test_threads_share_the_nonce();
  test_stale_and_userhash();
  test_wrong_password();
  test_body_from_callback();
  test_redirects();
  test_open_and_log();
  test_which_credentials();
  test_multi();
  test_bad_input();
  return check_finish("test_digest");
}
