/* WebSocket from C against a real server (tests/ws_support/server.py, the
 * `websockets` package, port in $REQIVO_WS_PORT): options, connect with a
 * subprotocol, the one-allocation message, text, binary and fragments,
 * ping, one thread sending while another receives, close codes both
 * ways, a refused handshake with its response, a protocol failure, a
 * receive timeout that leaves the connection usable, cancel, NULLs. */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

/* CHECK_CODE (support.h) evaluates its first argument more than once;
 * a call that sends must run exactly once, so it goes through a local. */
#define CODE_IS(call, want)    \
  do {                         \
    uint32_t code_ = (call);   \
    CHECK_CODE(code_, (want)); \
  } while (0)

static char ws_origin[64];

static reqivo_ws *ws_open(reqivo_session *s, const char *path, const reqivo_ws_options *o,
                          reqivo_error *err) {
  char url[256];
  snprintf(url, sizeof url, "%s%s", ws_origin, path);
  return reqivo_ws_connect(s, url, strlen(url), o, NULL, NULL, err);
}

/* Receives one message and checks its kind and bytes; frees it. */
static void expect_message(reqivo_ws *ws, uint32_t kind, const void *data, size_t len) {
  reqivo_error err;
  const reqivo_ws_message *m = reqivo_ws_receive(ws, NULL, &err);
  CHECK_OK(err);
  if (!CHECK(m != NULL)) {
    return;
  }
  CHECK_EQ(m->struct_size, sizeof(reqivo_ws_message));
  CHECK_EQ(m->kind, kind);
  CHECK_EQ(m->flags, 0);
  CHECK_EQ(m->close_code, 0);
  CHECK_EQ(m->close_reason.len, 0);
  CHECK_EQ(m->length, len);
  CHECK(m->length == len && memcmp(m->data, data, len) == 0);
  CHECK(m->data[m->length] == 0);
  reqivo_ws_message_free(m);
}

static void test_options(void) {
  reqivo_error err;
  reqivo_ws_options *o = reqivo_ws_options_new();
  CHECK(o != NULL);
  CODE_IS(reqivo_ws_options_add_protocol(o, "chat", 4, &err), REQIVO_OK);
  CODE_IS(reqivo_ws_options_add_protocol(o, "chat", 4, &err), REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, "offered twice");
  CODE_IS(reqivo_ws_options_add_protocol(o, "a b", 3, &err), REQIVO_ERR_INVALID_ARGUMENT);
  CODE_IS(reqivo_ws_options_add_protocol(NULL, "x", 1, &err), REQIVO_ERR_INVALID_ARGUMENT);
  CODE_IS(reqivo_ws_options_add_header(o, "X-Conn", 6, "c1", 2, &err), REQIVO_OK);
  CODE_IS(reqivo_ws_options_add_header(o, "Sec-WebSocket-Key", 17, "k", 1, &err),
             REQIVO_ERR_INVALID_ARGUMENT);
  CODE_IS(reqivo_ws_options_add_header(o, "X-Bad", 5, "a\r\nb", 4, &err),
             REQIVO_ERR_INVALID_HEADER);
  CODE_IS(reqivo_ws_options_set_limits(o, 0, 0), REQIVO_OK);
  CODE_IS(reqivo_ws_options_set_limits(NULL, 0, 0), REQIVO_ERR_INVALID_ARGUMENT);
  CODE_IS(reqivo_ws_options_set_ping(o, 0, 0), REQIVO_OK);
  CODE_IS(reqivo_ws_options_set_ping(NULL, 0, 0), REQIVO_ERR_INVALID_ARGUMENT);
  CODE_IS(reqivo_ws_options_set_deflate(o, true, true, true, 7), REQIVO_ERR_INVALID_ARGUMENT);
  CODE_IS(reqivo_ws_options_set_deflate(o, true, true, true, 16), REQIVO_ERR_INVALID_ARGUMENT);
  CODE_IS(reqivo_ws_options_set_deflate(o, false, false, false, 0), REQIVO_OK);
  CODE_IS(reqivo_ws_options_set_deflate(NULL, true, false, false, 0), REQIVO_ERR_INVALID_ARGUMENT);
  reqivo_ws_options_free(o);
  reqivo_ws_options_free(NULL);
}

static void test_echo(reqivo_session *s) {
  reqivo_error err;
  reqivo_ws_options *o = reqivo_ws_options_new();
  reqivo_ws_options_add_protocol(o, "x-none", 6, &err);
  reqivo_ws_options_add_protocol(o, "chat", 4, &err);
  reqivo_ws_options_set_ping(o, 50, 2000);
  reqivo_ws *ws = ws_open(s, "/echo", o, &err);
  reqivo_ws_options_free(o); /* the connection keeps its own copy */
  CHECK_OK(err);
  if (!CHECK(ws != NULL)) {
    return;
  }
  reqivo_str p = reqivo_ws_protocol(ws);
  CHECK(p.len == 4 && strcmp(p.ptr, "chat") == 0);
  const reqivo_response *head = reqivo_ws_response(ws);
  CHECK(head != NULL && head->status == 101 && head->body_len == 0);

  CODE_IS(reqivo_ws_send(ws, REQIVO_WS_TEXT, (const uint8_t *)"hello", 5, NULL, &err),
             REQIVO_OK);
  expect_message(ws, REQIVO_WS_TEXT, "hello", 5);
  CODE_IS(reqivo_ws_send(ws, REQIVO_WS_BINARY, NULL, 0, NULL, &err), REQIVO_OK);
  expect_message(ws, REQIVO_WS_BINARY, "", 0);

  size_t big = 1 << 20;
  uint8_t *data = malloc(big);
  for (size_t i = 0; i < big; i++) {
    data[i] = (uint8_t)(i * 7);
  }
  CODE_IS(reqivo_ws_send(ws, REQIVO_WS_BINARY, data, big, NULL, &err), REQIVO_OK);
  expect_message(ws, REQIVO_WS_BINARY, data, big);
  free(data);

  /* "€uro" split inside the euro sign. */
  const char *euro = "\xe2\x82\xac" "uro";
  CODE_IS(reqivo_ws_send_fragment(ws, REQIVO_WS_TEXT, (const uint8_t *)euro, 2, false, NULL,
                                     &err),
             REQIVO_OK);
  CODE_IS(reqivo_ws_send_fragment(ws, REQIVO_WS_TEXT, (const uint8_t *)euro + 2, 4, true,
                                     NULL, &err),
             REQIVO_OK);
  expect_message(ws, REQIVO_WS_TEXT, euro, 6);

  CODE_IS(reqivo_ws_ping(ws, (const uint8_t *)"hi", 2, NULL, &err), REQIVO_OK);
  uint8_t long_ping[126] = {0};
  CODE_IS(reqivo_ws_ping(ws, long_ping, sizeof long_ping, NULL, &err),
             REQIVO_ERR_INVALID_ARGUMENT);
  CODE_IS(reqivo_ws_send(ws, 9, (const uint8_t *)"x", 1, NULL, &err),
             REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, "REQIVO_WS_TEXT");
  CODE_IS(reqivo_ws_send(ws, REQIVO_WS_TEXT, NULL, 3, NULL, &err),
             REQIVO_ERR_INVALID_ARGUMENT);
  CODE_IS(reqivo_ws_send(ws, REQIVO_WS_TEXT, (const uint8_t *)"\xff", 1, NULL, &err),
             REQIVO_ERR_INVALID_ARGUMENT);
  /* The connection is still fine after refused arguments. */
  CODE_IS(reqivo_ws_send(ws, REQIVO_WS_TEXT, (const uint8_t *)"after", 5, NULL, &err),
             REQIVO_OK);
  expect_message(ws, REQIVO_WS_TEXT, "after", 5);

  CODE_IS(reqivo_ws_close(ws, 1005, NULL, 0, &err), REQIVO_ERR_INVALID_ARGUMENT);
  CODE_IS(reqivo_ws_close(ws, 4001, "bye", 3, &err), REQIVO_OK);
  CODE_IS(reqivo_ws_send(ws, REQIVO_WS_TEXT, (const uint8_t *)"x", 1, NULL, &err),
             REQIVO_ERR_WS_CLOSED);
  CHECK(reqivo_code_class(err.code) == 7000);
  CODE_IS(reqivo_ws_close(ws, 1000, NULL, 0, &err), REQIVO_OK);
  reqivo_ws_free(ws);
}

/* permessage-deflate (the server accepts it when offered): negotiated,
 * and a large compressible message and an incompressible one echo back. */
static void test_deflate(reqivo_session *s) {
  reqivo_error err;
  reqivo_ws_options *o = reqivo_ws_options_new();
  CODE_IS(reqivo_ws_options_set_deflate(o, true, true, false, 15), REQIVO_OK);
  reqivo_ws *ws = ws_open(s, "/echo", o, &err);
  reqivo_ws_options_free(o);
  CHECK_OK(err);
  if (!CHECK(ws != NULL)) {
    return;
  }
  reqivo_str ext;
  CHECK(reqivo_response_header(reqivo_ws_response(ws), "sec-websocket-extensions", 24, 0, &ext));
  CHECK(ext.ptr != NULL && strstr(ext.ptr, "permessage-deflate") != NULL);
  size_t n = 100000;
  char *text = malloc(n);
  for (size_t i = 0; i < n; i++) {
    text[i] = (char)('a' + i % 13);
  }
  for (int round = 0; round < 3; round++) {
    CODE_IS(reqivo_ws_send(ws, REQIVO_WS_TEXT, (const uint8_t *)text, n, NULL, &err), REQIVO_OK);
    expect_message(ws, REQIVO_WS_TEXT, text, n);
  }
  uint8_t noise[5000];
  uint32_t x = 2463534242u;
  for (size_t i = 0; i < sizeof noise; i++) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    noise[i] = (uint8_t)x;
  }
  CODE_IS(reqivo_ws_send(ws, REQIVO_WS_BINARY, noise, sizeof noise, NULL, &err), REQIVO_OK);
  expect_message(ws, REQIVO_WS_BINARY, noise, sizeof noise);
  free(text);
  CODE_IS(reqivo_ws_close(ws, 1000, NULL, 0, &err), REQIVO_OK);
  reqivo_ws_free(ws);
}

/* Every size and limit field of the WebSocket options through 0, 1, huge
 * and UINT*_MAX: a connection is made (or refused with a code), a message
 * echoes (or the limit refuses it), and nothing is reserved in proportion
 * to a limit. */
static void test_limit_sweep(reqivo_session *s) {
  const uint64_t u64s[] = {0, 1, 1000000, UINT64_MAX - 1, UINT64_MAX};
  const uint32_t u32s[] = {0, 1, 1000000, UINT32_MAX - 1, UINT32_MAX};
  for (size_t i = 0; i < 5; i++) {
    for (int field = 0; field < 4; field++) {
      reqivo_error err;
      reqivo_ws_options *o = reqivo_ws_options_new();
      uint32_t code = REQIVO_OK;
      if (field == 0) {
        code = reqivo_ws_options_set_limits(o, u64s[i], 0);
      } else if (field == 1) {
        code = reqivo_ws_options_set_limits(o, 0, u64s[i]);
      } else if (field == 2) {
        code = reqivo_ws_options_set_ping(o, u32s[i], u32s[i]);
      } else {
        code = reqivo_ws_options_set_reconnect(o, u32s[i], u32s[i], u32s[i], NULL, NULL);
      }
      CHECKF(code == REQIVO_OK || code == REQIVO_ERR_INVALID_ARGUMENT ||
                 code == REQIVO_ERR_INVALID_CONFIG,
             "field %d = %llu: %s", field, (unsigned long long)u64s[i], reqivo_code_name(code));
      reqivo_ws *ws = ws_open(s, "/echo", o, &err);
      reqivo_ws_options_free(o);
      CHECKF(ws != NULL, "field %d = %llu: %s", field, (unsigned long long)u64s[i], err.message);
      if (ws == NULL) {
        continue;
      }
      code = reqivo_ws_send(ws, REQIVO_WS_TEXT, (const uint8_t *)"sweep", 5, NULL, &err);
      CHECK(code == REQIVO_OK);
      const reqivo_ws_message *m = reqivo_ws_receive(ws, NULL, &err);
      /* A 1-byte limit refuses the 5-byte echo (closing with 1009); a 1 ms
       * pong timeout may pass before the pong. */
      CHECKF(m != NULL || err.code == REQIVO_ERR_WS_MESSAGE_TOO_BIG ||
                 err.code == REQIVO_ERR_WS_PING_TIMEOUT,
             "field %d = %llu: %s", field,
             (unsigned long long)u64s[i], err.message);
      reqivo_ws_message_free(m);
      reqivo_ws_free(ws);
    }
  }
}

static void count_attempt(void *userdata, uint32_t attempt, uint32_t code) {
  uint32_t *log = userdata; /* [calls, last attempt, last code] */
  log[0]++;
  log[1] = attempt;
  log[2] = code;
}

/* The server drops the first connection mid-frame: the receive reconnects
 * (the callback hears of it) and goes on. */
static void test_reconnect(reqivo_session *s) {
  reqivo_error err;
  uint32_t log[3] = {0, 0, 99};
  reqivo_ws_options *o = reqivo_ws_options_new();
  CODE_IS(reqivo_ws_options_set_reconnect(o, 3, 10, 100, count_attempt, log), REQIVO_OK);
  CODE_IS(reqivo_ws_options_set_reconnect(NULL, 3, 10, 100, NULL, NULL),
          REQIVO_ERR_INVALID_ARGUMENT);
  char path[64];
  snprintf(path, sizeof path, "/drop-once?id=c%ld", (long)now_ms());
  reqivo_ws *ws = ws_open(s, path, o, &err);
  reqivo_ws_options_free(o);
  if (!CHECK(ws != NULL)) {
    return;
  }
  expect_message(ws, REQIVO_WS_TEXT, "again", 5);
  CHECK_EQ(log[0], 1);
  CHECK_EQ(log[1], 1);
  CHECK_EQ(log[2], 0);
  CODE_IS(reqivo_ws_send(ws, REQIVO_WS_TEXT, (const uint8_t *)"still", 5, NULL, &err), REQIVO_OK);
  expect_message(ws, REQIVO_WS_TEXT, "still", 5);
  reqivo_ws_close(ws, 1000, NULL, 0, &err);
  reqivo_ws_free(ws);

  /* Off (the default): the same drop is an error. */
  snprintf(path, sizeof path, "/drop-once?id=d%ld", (long)now_ms());
  ws = ws_open(s, path, NULL, &err);
  if (CHECK(ws != NULL)) {
    CHECK(reqivo_ws_receive(ws, NULL, &err) == NULL);
    CHECK_ERR(err, REQIVO_ERR_CONNECTION_CLOSED, "middle of a frame");
    reqivo_ws_free(ws);
  }
}

struct sender {
  reqivo_ws *ws;
  int n;
  uint32_t failures;
};

static void *send_many(void *arg) {
  struct sender *snd = arg;
  reqivo_error err;
  char text[64];
  for (int i = 0; i < snd->n; i++) {
    int len = snprintf(text, sizeof text, "message %d", i);
    if (reqivo_ws_send(snd->ws, REQIVO_WS_TEXT, (const uint8_t *)text, (size_t)len, NULL, &err) !=
        0) {
      snd->failures++;
    }
  }
  return NULL;
}

static void test_threads(reqivo_session *s) {
  reqivo_error err;
  reqivo_ws *ws = ws_open(s, "/echo", NULL, &err);
  if (!CHECK(ws != NULL)) {
    return;
  }
  struct sender snd = {ws, 100, 0};
  pthread_t t;
  CHECK(pthread_create(&t, NULL, send_many, &snd) == 0);
  char text[64];
  for (int i = 0; i < snd.n; i++) {
    int len = snprintf(text, sizeof text, "message %d", i);
    expect_message(ws, REQIVO_WS_TEXT, text, (size_t)len);
  }
  pthread_join(t, NULL);
  CHECK_EQ(snd.failures, 0);
  CODE_IS(reqivo_ws_close(ws, 1000, NULL, 0, &err), REQIVO_OK);
  reqivo_ws_free(ws);
}

static void test_server_close(reqivo_session *s) {
  reqivo_error err;
  reqivo_ws *ws = ws_open(s, "/close?code=4002&reason=done", NULL, &err);
  if (!CHECK(ws != NULL)) {
    return;
  }
  reqivo_ws_send(ws, REQIVO_WS_TEXT, (const uint8_t *)"go", 2, NULL, &err);
  const reqivo_ws_message *m = reqivo_ws_receive(ws, NULL, &err);
  CHECK_OK(err);
  if (CHECK(m != NULL)) {
    CHECK_EQ(m->kind, REQIVO_WS_CLOSE);
    CHECK_EQ(m->close_code, 4002);
    CHECK(m->close_reason.len == 4 && strcmp(m->close_reason.ptr, "done") == 0);
    CHECK(m->length == 4 && memcmp(m->data, "done", 4) == 0);
  }
  reqivo_ws_message_free(m);
  CHECK(reqivo_ws_receive(ws, NULL, &err) == NULL);
  CHECK_ERR(err, REQIVO_ERR_WS_CLOSED, "Close");
  reqivo_ws_free(ws);
}

static void test_failures(reqivo_session *s) {
  reqivo_error err;
  const reqivo_response *refused = (const reqivo_response *)&err; /* must be overwritten */
  char url[256];
  snprintf(url, sizeof url, "%s/reject", ws_origin);
  CHECK(reqivo_ws_connect(s, url, strlen(url), NULL, NULL, &refused, &err) == NULL);
  CHECK_ERR(err, REQIVO_ERR_WS_HANDSHAKE, "403");
  if (CHECK(refused != NULL)) {
    CHECK_EQ(refused->status, 403);
    CHECK(body_is(refused, "not here\n"));
  }
  reqivo_response_free(refused);

  reqivo_ws *ws = ws_open(s, "/bad-utf8", NULL, &err);
  if (CHECK(ws != NULL)) {
    CHECK(reqivo_ws_receive(ws, NULL, &err) == NULL);
    CHECK_ERR(err, REQIVO_ERR_WS_INVALID_UTF8, "UTF-8");
    reqivo_ws_free(ws);
  }

  refused = (const reqivo_response *)&err;
  CHECK(reqivo_ws_connect(s, "ftp://127.0.0.1/", 16, NULL, NULL, &refused, &err) == NULL);
  CHECK_ERR(err, REQIVO_ERR_UNSUPPORTED_SCHEME, "ws://");
  CHECK(refused == NULL);
  CHECK(reqivo_ws_connect(NULL, "ws://h/", 7, NULL, NULL, NULL, &err) == NULL);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, NULL);
  CHECK(reqivo_ws_connect(s, NULL, 0, NULL, NULL, NULL, &err) == NULL);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, NULL);
}

static void test_timeout_and_cancel(void) {
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  reqivo_timeout t = reqivo_timeout_default();
  t.read_ms = 100;
  reqivo_session_set_timeout(s, t);
  reqivo_ws *ws = ws_open(s, "/echo", NULL, &err);
  if (CHECK(ws != NULL)) {
    double start = now_ms();
    CHECK(reqivo_ws_receive(ws, NULL, &err) == NULL);
    CHECK_ERR(err, REQIVO_ERR_TIMEOUT_READ, NULL);
    CHECKF(now_ms() - start < 2000, "took %.0f ms", now_ms() - start);
    reqivo_cancel *c = reqivo_cancel_new();
    reqivo_cancel_trigger(c);
    CHECK(reqivo_ws_receive(ws, c, &err) == NULL);
    CHECK_ERR(err, REQIVO_ERR_CANCELLED, NULL);
    CODE_IS(reqivo_ws_send(ws, REQIVO_WS_TEXT, (const uint8_t *)"x", 1, c, &err),
               REQIVO_ERR_CANCELLED);
    reqivo_cancel_free(c);
    /* Neither left the connection broken. */
    CODE_IS(reqivo_ws_send(ws, REQIVO_WS_TEXT, (const uint8_t *)"ok", 2, NULL, &err),
               REQIVO_OK);
    expect_message(ws, REQIVO_WS_TEXT, "ok", 2);
    reqivo_ws_close(ws, 1000, NULL, 0, &err);
    reqivo_ws_free(ws);
  }
  reqivo_session_free(s);
}

/* Waits up to ms for fd to turn readable; true when it did. */
static int readable_within(int fd, int64_t ms) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  return poll(&p, 1, (int)ms) == 1;
}

/* An outside loop drives a receive with reqivo_ws_try_receive and poll(2)
 * on reqivo_ws_fd: nothing yet is NULL with code 0 and the read timeout
 * as the wait; a message sent is found once the descriptor turns
 * readable, and a big one arrives across several calls; keep-alive pings
 * shorten the wait; the read timeout runs across calls and leaves the
 * connection usable; a triggered token is CANCELLED. */
static void test_try_receive(void) {
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  reqivo_timeout t = reqivo_timeout_default();
  t.read_ms = 300;
  reqivo_session_set_timeout(s, t);
  reqivo_ws *ws = ws_open(s, "/echo", NULL, &err);
  if (!CHECK(ws != NULL)) {
    reqivo_session_free(s);
    return;
  }
  int fd = reqivo_ws_fd(ws);
  CHECK(fd >= 0);
  CHECK_EQ(reqivo_ws_fd(NULL), -1);
  int64_t wait_ms = -2;
  CHECK(reqivo_ws_try_receive(ws, NULL, &wait_ms, &err) == NULL);
  CHECK_OK(err);
  CHECKF(wait_ms > 200 && wait_ms <= 300, "wait %lld ms, the read timeout is 300",
         (long long)wait_ms);

  /* 300 KB: more than one read of the socket. */
  size_t big = 300000;
  uint8_t *data = malloc(big);
  for (size_t i = 0; i < big; i++) {
    data[i] = (uint8_t)(i * 31);
  }
  CODE_IS(reqivo_ws_send(ws, REQIVO_WS_BINARY, data, big, NULL, &err), REQIVO_OK);
  const reqivo_ws_message *m = NULL;
  int calls = 0;
  double until = now_ms() + 5000;
  while (m == NULL && now_ms() < until) {
    m = reqivo_ws_try_receive(ws, NULL, &wait_ms, &err);
    calls++;
    if (m == NULL) {
      if (!CHECK_OK(err)) {
        break;
      }
      readable_within(fd, wait_ms < 0 || wait_ms > 1000 ? 1000 : wait_ms);
    }
  }
  if (CHECK(m != NULL)) {
    CHECK_EQ(m->kind, REQIVO_WS_BINARY);
    CHECK(m->length == big && memcmp(m->data, data, big) == 0);
    reqivo_ws_message_free(m);
  }
  free(data);
  fprintf(stderr, "try_receive: 300 KB echoed in %d calls\n", calls);

  /* Nothing comes: the read timeout counts across calls. */
  double start = now_ms();
  uint32_t code = 0;
  while (code == 0 && now_ms() - start < 5000) {
    m = reqivo_ws_try_receive(ws, NULL, &wait_ms, &err);
    CHECK(m == NULL);
    code = err.code;
    if (code == 0) {
      CHECK(wait_ms >= 0 && wait_ms <= 300);
      readable_within(fd, wait_ms);
    }
  }
  CHECK_EQ(code, REQIVO_ERR_TIMEOUT_READ);
  CHECKF(now_ms() - start >= 250, "timed out after %.0f ms, want the 300 ms read timeout",
         now_ms() - start);

  reqivo_cancel *c = reqivo_cancel_new();
  reqivo_cancel_trigger(c);
  CHECK(reqivo_ws_try_receive(ws, c, &wait_ms, &err) == NULL);
  CHECK_ERR(err, REQIVO_ERR_CANCELLED, NULL);
  reqivo_cancel_free(c);
  /* Still usable; and a NULL wait_ms is allowed. */
  CODE_IS(reqivo_ws_send(ws, REQIVO_WS_TEXT, (const uint8_t *)"ok", 2, NULL, &err), REQIVO_OK);
  CHECK(readable_within(fd, 2000));
  m = NULL;
  for (int i = 0; m == NULL && i < 100; i++) {
    m = reqivo_ws_try_receive(ws, NULL, NULL, &err);
    if (m == NULL) {
      CHECK_OK(err);
      readable_within(fd, 20);
    }
  }
  if (CHECK(m != NULL)) {
    CHECK(m->length == 2 && memcmp(m->data, "ok", 2) == 0);
    reqivo_ws_message_free(m);
  }
  reqivo_ws_close(ws, 1000, NULL, 0, &err);
  reqivo_ws_free(ws);

  /* Keep-alive pings every 50 ms: the wait is the next ping. */
  reqivo_ws_options *o = reqivo_ws_options_new();
  CODE_IS(reqivo_ws_options_set_ping(o, 50, 1000), REQIVO_OK);
  ws = ws_open(s, "/echo", o, &err);
  reqivo_ws_options_free(o);
  if (CHECK(ws != NULL)) {
    CHECK(reqivo_ws_try_receive(ws, NULL, &wait_ms, &err) == NULL);
    CHECK_OK(err);
    CHECKF(wait_ms >= 0 && wait_ms <= 50, "wait %lld ms with pings every 50", (long long)wait_ms);
    reqivo_ws_close(ws, 1000, NULL, 0, &err);
    reqivo_ws_free(ws);
  }
  reqivo_session_free(s);
}

static void test_nulls(void) {
  reqivo_error err;
  reqivo_ws_free(NULL);
  reqivo_ws_message_free(NULL);
  CHECK(reqivo_ws_protocol(NULL).len == 0);
  CHECK(reqivo_ws_response(NULL) == NULL);
  CHECK(reqivo_ws_receive(NULL, NULL, &err) == NULL);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, NULL);
  CHECK(reqivo_ws_try_receive(NULL, NULL, NULL, &err) == NULL);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, NULL);
  CODE_IS(reqivo_ws_send(NULL, REQIVO_WS_TEXT, NULL, 0, NULL, &err),
             REQIVO_ERR_INVALID_ARGUMENT);
  CODE_IS(reqivo_ws_send_fragment(NULL, REQIVO_WS_TEXT, NULL, 0, true, NULL, &err),
             REQIVO_ERR_INVALID_ARGUMENT);
  CODE_IS(reqivo_ws_ping(NULL, NULL, 0, NULL, &err), REQIVO_ERR_INVALID_ARGUMENT);
  CODE_IS(reqivo_ws_close(NULL, 1000, NULL, 0, NULL), REQIVO_ERR_INVALID_ARGUMENT);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  test_options();
  test_nulls();
  const char *port = getenv("REQIVO_WS_PORT");
  if (port == NULL || atoi(port) <= 0) {
    /* CI installs the websockets package; elsewhere it may be missing. */
    CHECKF(getenv("CI") == NULL, "REQIVO_WS_PORT is not set");
    fprintf(stderr, "test_ws: no WebSocket server (pip install websockets); network tests skipped\n");
    return check_finish("test_ws");
  }
  snprintf(ws_origin, sizeof ws_origin, "ws://127.0.0.1:%d", atoi(port));
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  test_echo(s);
  test_deflate(s);
  test_limit_sweep(s);
  test_reconnect(s);
  test_threads(s);
  test_server_close(s);
  test_failures(s);
  reqivo_session_free(s);
  test_timeout_and_cancel();
  test_try_receive();
  return check_finish("test_ws");
}
