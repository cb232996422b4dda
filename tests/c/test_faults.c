/* Fault injection from C, so valgrind and ASan watch the error paths:
 * tests/c/server.py's /fault/ routes reset the connection (RST) before the
 * head, inside it, inside the body and while it sits idle in the pool;
 * half-close inside a sized body and at the end of an unframed one;
 * trickle one byte every 100 ms; send 1xx responses without end; send
 * garbage or a second response after a complete one; never read an upload. tests/faults.rs covers every
 * stage; this program takes one case of each kind.
 *
 * Each case checks the result (an error of the right code, or a correct
 * response), a wall-clock hang guard (not a timing assertion), the pool's
 * books (nothing in use, every opened connection closed or idle), and that
 * the next request on the same session works. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

/* Every timeout here is at most 1 s; a call taking 15 s has hung. */
#define HANG_GUARD_MS 15000.0

typedef struct fault_case {
  const char *path;
  const char *method;
  /* Bytes of request body (0: none); large ones cannot fit socket buffers. */
  size_t body_len;
  reqivo_timeout timeout;
  /* The wanted code (0: success with body `want_body`); `alt` is a second
   * acceptable code where the kernel decides (RST as reset or as EOF). */
  uint32_t want;
  uint32_t alt;
  const char *want_body;
  /* Stream the response in small reads instead of buffering it. */
  int stream;
  /* Milliseconds to wait before the next request (faults after a
   * complete response happen while the connection sits idle). */
  long settle_ms;
} fault_case;

static reqivo_timeout timeouts(uint32_t ms, uint32_t total_ms) {
  reqivo_timeout t = {1000, ms, ms, total_ms, 1000};
  return t;
}

/* Opened connections are all closed or idle, nothing in use or waiting. */
static void check_books(reqivo_session *s, const char *path, const char *when,
                        uint64_t want_idle) {
  reqivo_pool *pool = reqivo_session_pool(s);
  reqivo_pool_stats st;
  memset(&st, 0, sizeof st);
  st.struct_size = sizeof st;
  reqivo_pool_get_stats(pool, &st);
  CHECKF(st.in_use == 0 && st.waiting == 0 && st.opened == st.closed + st.idle &&
             st.idle <= want_idle,
         "%s %s: opened %llu closed %llu idle %llu in_use %llu waiting %llu", path, when,
         (unsigned long long)st.opened, (unsigned long long)st.closed,
         (unsigned long long)st.idle, (unsigned long long)st.in_use,
         (unsigned long long)st.waiting);
  reqivo_pool_free(pool);
}

/* Reads a stream to its end in 7-byte pieces; the body, or NULL with err. */
static char *read_stream(reqivo_stream *st, size_t *len, reqivo_error *err) {
  char *body = malloc(4096);
  size_t n = 0;
  uint8_t buf[7];
  /* Bounded: every read returns at least a byte until the end, and no
   * route sends a stream more than a few dozen bytes. */
  for (int i = 0; i < 4096 / 7; i++) {
    int64_t got = reqivo_stream_read(st, buf, sizeof buf, err);
    if (got < 0) {
      free(body);
      return NULL;
    }
    if (got == 0) {
      *len = n;
      return body;
    }
    memcpy(body + n, buf, (size_t)got);
    n += (size_t)got;
  }
  free(body);
  return NULL;
}

static void run_case(const fault_case *c) {
  reqivo_pool_config cfg = reqivo_pool_config_default();
  cfg.max_per_host = 2;
  reqivo_pool *pool = reqivo_pool_new(&cfg, NULL);
  reqivo_session *s = reqivo_session_new(pool, NULL);
  reqivo_pool_free(pool); /* the session keeps it */
  CHECK(s != NULL);
  reqivo_session_set_timeout(s, c->timeout);

  reqivo_error err;
  reqivo_request *r = request_to(c->method, c->path, &err);
  CHECK(r != NULL);
  uint8_t *body = NULL;
  if (c->body_len > 0) {
    body = malloc(c->body_len);
    memset(body, 'u', c->body_len);
    CHECK_CODE(reqivo_request_set_body(r, body, c->body_len, &err), REQIVO_OK);
    free(body); /* copied */
  }
  double start = now_ms();
  const reqivo_response *resp = NULL;
  char *streamed = NULL;
  size_t streamed_len = 0;
  int ok;
  if (c->stream) {
    reqivo_stream *st = reqivo_session_open(s, r, NULL, &err);
    if (st != NULL) {
      streamed = read_stream(st, &streamed_len, &err);
      reqivo_stream_free(st);
    }
    ok = streamed != NULL;
  } else {
    resp = reqivo_session_send(s, r, NULL, &err);
    ok = resp != NULL;
  }
  double took = now_ms() - start;
  CHECKF(took < HANG_GUARD_MS, "%s took %.0f ms", c->path, took);
  if (c->want == 0) {
    CHECKF(ok, "%s: %s: %s", c->path, reqivo_code_name(err.code), err.message);
    if (resp != NULL) {
      CHECKF(resp->status == 200 && body_is(resp, c->want_body), "%s: status %u body \"%.*s\"",
             c->path, resp->status, (int)resp->body_len, (const char *)resp->body);
    }
    if (streamed != NULL) {
      CHECKF(streamed_len == strlen(c->want_body) &&
                 memcmp(streamed, c->want_body, streamed_len) == 0,
             "%s: streamed \"%.*s\"", c->path, (int)streamed_len, streamed);
    }
  } else {
    CHECKF(!ok && (err.code == c->want || (c->alt != 0 && err.code == c->alt)) &&
               err.message[0] != '\0',
           "%s: got %s (%s), want %s or %s", c->path, ok ? "success" : reqivo_code_name(err.code),
           err.message, reqivo_code_name(c->want), reqivo_code_name(c->alt));
  }
  reqivo_response_free(resp);
  free(streamed);
  reqivo_request_free(r);
  check_books(s, c->path, "after the fault", 1);

  if (c->settle_ms > 0) {
    sleep_ms(c->settle_ms);
  }
  /* The session goes on: a correct answer from a good connection, never
   * the leftovers of the broken one. */
  start = now_ms();
  resp = get(s, "/ok", &err);
  CHECKF(now_ms() - start < HANG_GUARD_MS, "%s: next request hung", c->path);
  CHECKF(body_is(resp, "hello\n"), "%s: next request: %s: %s", c->path,
         resp ? "wrong body" : reqivo_code_name(err.code), err.message);
  reqivo_response_free(resp);
  check_books(s, c->path, "after the next request", 1);
  reqivo_session_free(s);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  const reqivo_timeout second = timeouts(1000, 0);
  const fault_case cases[] = {
      {"/fault/reset-before-head", "GET", 0, second, REQIVO_ERR_CONNECTION_CLOSED, 0, NULL, 0, 0},
      {"/fault/reset-mid-head", "GET", 0, second, REQIVO_ERR_CONNECTION_CLOSED, 0, NULL, 0, 0},
      {"/fault/reset-mid-body", "GET", 0, second, REQIVO_ERR_CONNECTION_CLOSED,
       REQIVO_ERR_UNEXPECTED_EOF, NULL, 0, 0},
      {"/fault/reset-mid-body", "GET", 0, second, REQIVO_ERR_CONNECTION_CLOSED,
       REQIVO_ERR_UNEXPECTED_EOF, NULL, 1, 0},
      /* The reset comes while the connection is idle: unnoticed by the
       * fault's own request, and the next one must not be hurt by it. */
      {"/fault/reset-when-idle", "GET", 0, second, 0, 0, "hello\n", 0, 200},
      {"/fault/halfclose-mid-body", "GET", 0, second, REQIVO_ERR_UNEXPECTED_EOF, 0, NULL, 0, 0},
      {"/fault/halfclose-mid-body", "GET", 0, second, REQIVO_ERR_UNEXPECTED_EOF, 0, NULL, 1, 0},
      {"/fault/halfclose-ends-body", "GET", 0, second, 0, 0, "until close", 0, 0},
      /* One byte every 100 ms: inside the 1 s read timeout each time, so
       * the 500 ms total must end it; then a 50 ms read timeout alone. */
      {"/fault/trickle", "GET", 0, timeouts(1000, 500), REQIVO_ERR_TIMEOUT_TOTAL, 0, NULL, 0, 0},
      {"/fault/trickle", "GET", 0, timeouts(1000, 500), REQIVO_ERR_TIMEOUT_TOTAL, 0, NULL, 1, 0},
      {"/fault/trickle", "GET", 0, timeouts(50, 0), REQIVO_ERR_TIMEOUT_READ, 0, NULL, 0, 0},
      /* Interim responses without end count against the head limit. */
      {"/fault/endless-continue", "GET", 0, second, REQIVO_ERR_HEADER_TOO_LARGE, 0, NULL, 0, 0},
      {"/fault/garbage-after", "GET", 0, second, 0, 0, "hello\n", 0, 100},
      {"/fault/extra-response", "GET", 0, second, 0, 0, "hello\n", 0, 100},
      /* Framing to distrust: the connection is closed, never reused. */
      {"/fault/http10-chunked", "GET", 0, second, 0, 0, "hello\n", 0, 0},
      {"/fault/http10-chunked", "GET", 0, second, 0, 0, "hello\n", 1, 0},
      /* 64 MiB cannot sit in the socket buffers of a server that never reads. */
      {"/fault/noread", "PUT", 64u << 20, timeouts(300, 0), REQIVO_ERR_TIMEOUT_WRITE, 0, NULL, 0,
       0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    run_case(&cases[i]);
  }
  return check_finish("test_faults");
}
