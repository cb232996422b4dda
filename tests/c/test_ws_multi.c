/* WebSocket dials through the multi (reqivo_multi_add_ws) against a real
 * server (tests/ws_support/server.py, the `websockets` package, port in
 * $REQIVO_WS_PORT) and tests/c/server.py for answers that are no
 * upgrade: 50 dials in flight on the calling thread alone, each then
 * echoing a message (blocking receive, and try_receive on the fd); a
 * subprotocol chosen through the options; a refused handshake with its
 * answer; a 302 not followed; a server that stalls (read timeout); one
 * dial cancelled among many; a multi freed with dials in flight and with
 * connections never collected; a caller's struct without `ws`. */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

static char ws_origin[64];

static long thread_count(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long n = -1;
  if (f == NULL) {
    return -1;
  }
  while (fgets(line, sizeof line, f) != NULL) {
    if (strncmp(line, "Threads:", 8) == 0) {
      n = atol(line + 8);
    }
  }
  fclose(f);
  return n;
}

/* A session whose pool holds 64 connections per host. */
static reqivo_session *wide_session(void) {
  reqivo_error err;
  reqivo_pool_config cfg = reqivo_pool_config_default();
  cfg.max_per_host = 64;
  cfg.max_total = 64;
  reqivo_pool *pool = reqivo_pool_new(&cfg, &err);
  reqivo_session *s = reqivo_session_new(pool, &err);
  reqivo_pool_free(pool);
  return s;
}

/* Adds a dial to origin + path with user_data `user`; CHECKs the add. */
static void add_dial(reqivo_multi *m, reqivo_session *s, const char *origin, const char *path,
                     const reqivo_ws_options *o, const reqivo_cancel *c, uintptr_t user) {
  char url[256];
  reqivo_error err;
  snprintf(url, sizeof url, "%s%s", origin, path);
  int rc = reqivo_multi_add_ws(m, s, url, strlen(url), o, c, (void *)user, &err);
  CHECK_EQ(rc, REQIVO_OK);
}

/* Polls until `want` transfers are collected into done[] (bounded). */
static size_t collect(reqivo_multi *m, reqivo_multi_done *done, size_t want, double limit_ms) {
  size_t got = 0;
  double start = now_ms();
  reqivo_error err;
  while (got < want && now_ms() - start < limit_ms) {
    CHECK_EQ(reqivo_multi_poll(m, 100, &err), REQIVO_OK);
    done[got].struct_size = sizeof(reqivo_multi_done);
    while (got < want && reqivo_multi_next(m, &done[got])) {
      got++;
      if (got < want) {
        done[got].struct_size = sizeof(reqivo_multi_done);
      }
    }
  }
  CHECKF(got == want, "collected %zu of %zu", got, want);
  return got;
}

static void echo_once(reqivo_ws *ws, const char *text) {
  reqivo_error err;
  CHECK_CODE(reqivo_ws_send(ws, REQIVO_WS_TEXT, (const uint8_t *)text, strlen(text), NULL, &err),
             REQIVO_OK);
  const reqivo_ws_message *msg = reqivo_ws_receive(ws, NULL, &err);
  CHECK_OK(err);
  if (CHECK(msg != NULL)) {
    CHECK_EQ(msg->kind, REQIVO_WS_TEXT);
    CHECK(msg->length == strlen(text) && memcmp(msg->data, text, msg->length) == 0);
    reqivo_ws_message_free(msg);
  }
}

/* The same echo, received with try_receive and poll(2) on the fd. */
static void echo_polled(reqivo_ws *ws, const char *text) {
  reqivo_error err;
  CHECK_CODE(reqivo_ws_send(ws, REQIVO_WS_TEXT, (const uint8_t *)text, strlen(text), NULL, &err),
             REQIVO_OK);
  const reqivo_ws_message *msg = NULL;
  double start = now_ms();
  while (msg == NULL && now_ms() - start < 5000) {
    int64_t wait_ms = 0;
    msg = reqivo_ws_try_receive(ws, NULL, &wait_ms, &err);
    CHECK_OK(err);
    if (msg == NULL) {
      struct pollfd p = {.fd = reqivo_ws_fd(ws), .events = POLLIN};
      poll(&p, 1, 200);
    }
  }
  if (CHECK(msg != NULL)) {
    CHECK(msg->length == strlen(text) && memcmp(msg->data, text, msg->length) == 0);
    reqivo_ws_message_free(msg);
  }
}

enum { DIALS = 50 };

/* 50 dials in flight at once on this thread (IP literals: no resolver
 * thread), each connection then echoing; the subprotocol offered in the
 * options is the one chosen. */
static void test_many_dials(void) {
  reqivo_error err;
  reqivo_session *s = wide_session();
  reqivo_multi *m = reqivo_multi_new(&err);
  reqivo_ws_options *o = reqivo_ws_options_new();
  CHECK_CODE(reqivo_ws_options_add_protocol(o, "chat", 4, &err), REQIVO_OK);
  for (uintptr_t i = 0; i < DIALS; i++) {
    add_dial(m, s, ws_origin, "/echo", o, NULL, i + 1);
  }
  reqivo_ws_options_free(o);
  CHECK_EQ(reqivo_multi_in_flight(m), DIALS);
  static reqivo_multi_done done[DIALS];
  size_t got = collect(m, done, DIALS, 15000);
  CHECK_EQ(thread_count(), 1);
  int seen[DIALS + 1] = {0};
  for (size_t i = 0; i < got; i++) {
    reqivo_multi_done *d = &done[i];
    uintptr_t user = (uintptr_t)d->user_data;
    CHECK(user >= 1 && user <= DIALS && !seen[user]);
    seen[user < 1 || user > DIALS ? 0 : user] = 1;
    CHECK_OK(d->error);
    if (!CHECK(d->ws != NULL && d->response != NULL)) {
      continue;
    }
    CHECK_EQ(d->response->status, 101);
    CHECK(reqivo_ws_protocol(d->ws).len == 4 &&
          memcmp(reqivo_ws_protocol(d->ws).ptr, "chat", 4) == 0);
    CHECK_EQ(reqivo_ws_response(d->ws)->status, 101);
    char text[32];
    snprintf(text, sizeof text, "hello %u", (unsigned)user);
    if (i % 2 == 0) {
      echo_once(d->ws, text);
    } else {
      echo_polled(d->ws, text);
    }
    CHECK_CODE(reqivo_ws_close(d->ws, 1000, NULL, 0, &err), REQIVO_OK);
    reqivo_ws_free(d->ws);
    reqivo_response_free(d->response);
  }
  CHECK_EQ(reqivo_multi_in_flight(m), 0);
  reqivo_multi_free(m);
  reqivo_session_free(s);
}

/* A 403 comes back as WS_HANDSHAKE with its answer; a 302 is not
 * followed: it is the refusal. */
static void test_refused(void) {
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  reqivo_multi *m = reqivo_multi_new(&err);
  char http_ws[64];
  snprintf(http_ws, sizeof http_ws, "ws://%s", test_origin + strlen("http://"));
  add_dial(m, s, ws_origin, "/reject", NULL, NULL, 1);
  add_dial(m, s, http_ws, "/redirect", NULL, NULL, 2);
  reqivo_multi_done done[2];
  size_t got = collect(m, done, 2, 5000);
  for (size_t i = 0; i < got; i++) {
    reqivo_multi_done *d = &done[i];
    CHECK(d->ws == NULL);
    if (!CHECK(d->response != NULL)) {
      continue;
    }
    if ((uintptr_t)d->user_data == 1) {
      CHECK_ERR(d->error, REQIVO_ERR_WS_HANDSHAKE, "403");
      CHECK_EQ(d->response->status, 403);
      CHECK(body_is(d->response, "not here\n"));
    } else {
      CHECK_ERR(d->error, REQIVO_ERR_WS_HANDSHAKE, "302");
      CHECK_EQ(d->response->status, 302);
      CHECK_EQ(d->response->redirect_count, 0);
    }
    reqivo_response_free(d->response);
  }
  reqivo_multi_free(m);
  reqivo_session_free(s);
}

/* A server that never answers the handshake: the read timeout ends the
 * dial; one dial cancelled among many ends at once, the others go on. */
static void test_stall_and_cancel(void) {
  reqivo_error err;
  reqivo_session *s = wide_session();
  reqivo_timeout t = reqivo_timeout_default();
  t.read_ms = 600;
  reqivo_session_set_timeout(s, t);
  reqivo_multi *m = reqivo_multi_new(&err);
  char http_ws[64];
  snprintf(http_ws, sizeof http_ws, "ws://%s", test_origin + strlen("http://"));
  reqivo_cancel *c = reqivo_cancel_new();
  for (uintptr_t i = 1; i <= 8; i++) {
    add_dial(m, s, http_ws, "/stall", NULL, i == 5 ? c : NULL, i);
  }
  for (uintptr_t i = 9; i <= 12; i++) {
    add_dial(m, s, ws_origin, "/echo", NULL, NULL, i);
  }
  CHECK_EQ(reqivo_multi_poll(m, 0, &err), REQIVO_OK);
  double start = now_ms();
  reqivo_cancel_trigger(c);
  reqivo_multi_done done[12];
  /* The cancelled dial and the four echo dials come first. */
  size_t got = collect(m, done, 5, 3000);
  CHECKF(now_ms() - start < 500, "cancel and echo took %.0f ms", now_ms() - start);
  got += collect(m, done + got, 7, 5000);
  CHECKF(now_ms() - start >= 500, "stalled dials ended after %.0f ms", now_ms() - start);
  int timed_out = 0, cancelled = 0, open = 0;
  for (size_t i = 0; i < got; i++) {
    reqivo_multi_done *d = &done[i];
    uintptr_t user = (uintptr_t)d->user_data;
    if (user == 5) {
      CHECK_ERR(d->error, REQIVO_ERR_CANCELLED, NULL);
      CHECK(d->response == NULL && d->ws == NULL);
      cancelled++;
    } else if (user <= 8) {
      CHECK_ERR(d->error, REQIVO_ERR_TIMEOUT_READ, NULL);
      CHECK(d->response == NULL && d->ws == NULL);
      timed_out++;
    } else {
      CHECK_OK(d->error);
      if (CHECK(d->ws != NULL)) {
        echo_once(d->ws, "after the cancel");
        reqivo_ws_free(d->ws);
      }
      reqivo_response_free(d->response);
      open++;
    }
  }
  CHECK_EQ(cancelled, 1);
  CHECK_EQ(timed_out, 7);
  CHECK_EQ(open, 4);
  reqivo_cancel_free(c);
  reqivo_multi_free(m);
  reqivo_session_free(s);
}

/* A multi freed with dials half done, and one freed with connections
 * open but never collected: everything closes, nothing leaks (valgrind
 * and ASan runs of this program). */
static void test_free_in_flight(void) {
  reqivo_error err;
  reqivo_session *s = wide_session();
  char http_ws[64];
  snprintf(http_ws, sizeof http_ws, "ws://%s", test_origin + strlen("http://"));
  reqivo_multi *m = reqivo_multi_new(&err);
  for (uintptr_t i = 1; i <= 10; i++) {
    add_dial(m, s, ws_origin, "/echo", NULL, NULL, i);
    add_dial(m, s, http_ws, "/stall", NULL, NULL, 100 + i);
  }
  for (int i = 0; i < 3; i++) {
    CHECK_EQ(reqivo_multi_poll(m, 20, &err), REQIVO_OK);
  }
  CHECK(reqivo_multi_in_flight(m) > 0);
  reqivo_multi_free(m);

  m = reqivo_multi_new(&err);
  for (uintptr_t i = 1; i <= 5; i++) {
    add_dial(m, s, ws_origin, "/echo", NULL, NULL, i);
  }
  double start = now_ms();
  while (reqivo_multi_in_flight(m) > 0 && now_ms() - start < 5000) {
    CHECK_EQ(reqivo_multi_poll(m, 100, &err), REQIVO_OK);
  }
  CHECK_EQ(reqivo_multi_in_flight(m), 0);
  reqivo_multi_free(m); /* five open connections never collected */
  reqivo_session_free(s);
}

/* A caller whose struct ends before `ws` (an older header) gets the dial
 * as failed, its connection closed by the multi; other transfers come
 * through whole. */
static void test_old_struct_size(void) {
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  reqivo_multi *m = reqivo_multi_new(&err);
  add_dial(m, s, ws_origin, "/echo", NULL, NULL, 7);
  reqivo_multi_done d;
  memset(&d, 0xAB, sizeof d);
  reqivo_ws *const poison = d.ws;
  d.struct_size = offsetof(reqivo_multi_done, ws);
  int got = 0;
  double start = now_ms();
  while (!got && now_ms() - start < 5000) {
    CHECK_EQ(reqivo_multi_poll(m, 100, &err), REQIVO_OK);
    got = reqivo_multi_next(m, &d);
  }
  if (CHECK(got)) {
    CHECK_EQ((uintptr_t)d.user_data, 7);
    CHECK_ERR(d.error, REQIVO_ERR_INVALID_ARGUMENT, "struct_size");
    CHECK(d.response == NULL);
    CHECK(d.ws == poison); /* past struct_size: not written */
  }
  d.struct_size = offsetof(reqivo_multi_done, ws) - 1;
  CHECK(!reqivo_multi_next(m, &d));
  reqivo_multi_free(m);
  reqivo_session_free(s);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  const char *port = getenv("REQIVO_WS_PORT");
  if (port == NULL || atoi(port) <= 0) {
    CHECKF(getenv("CI") == NULL, "REQIVO_WS_PORT is not set");
    fprintf(stderr, "test_ws_multi: no WebSocket server (pip install websockets); skipped\n");
    return check_finish("test_ws_multi");
  }
  snprintf(ws_origin, sizeof ws_origin, "ws://127.0.0.1:%d", atoi(port));
  test_many_dials();
  test_refused();
  test_stall_and_cancel();
  test_free_in_flight();
  test_old_struct_size();
  return check_finish("test_ws_multi");
}
