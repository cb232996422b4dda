/* Streaming downloads: reading in small buffers gives exactly the buffered
 * body, the end and errors are sticky, the connection goes back to the pool
 * only after a complete body, and a stream outlives its session. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

static reqivo_stream *open_path(reqivo_session *s, const char *path, reqivo_error *err) {
  reqivo_request *r = request_to("GET", path, err);
  if (r == NULL) {
    return NULL;
  }
  reqivo_stream *st = reqivo_session_open(s, r, NULL, err);
  reqivo_request_free(r);
  return st;
}

/* Reads the whole body with read sizes cycling through `caps`; returns a
 * malloc'd copy and its length, or NULL on a read error (err filled). */
static uint8_t *read_all(reqivo_stream *st, const size_t *caps, size_t ncaps, size_t *len,
                         reqivo_error *err) {
  size_t cap_total = 1 << 17, n = 0;
  uint8_t *out = malloc(cap_total);
  uint8_t buf[4096];
  size_t over = 0; /* reads that returned more than asked for */
  for (size_t i = 0;; i++) {
    size_t cap = caps[i % ncaps];
    int64_t got = reqivo_stream_read(st, buf, cap, err);
    if (got < 0) {
      CHECK(got == -1);
      free(out);
      return NULL;
    }
    if (got == 0) {
      break;
    }
    over += (size_t)got > cap;
    if (n + (size_t)got > cap_total) {
      CHECK(!"body larger than expected");
      break;
    }
    memcpy(out + n, buf, (size_t)got);
    n += (size_t)got;
  }
  CHECKF(over == 0, "%zu reads returned more bytes than their cap", over);
  *len = n;
  return out;
}

static reqivo_pool_stats pool_stats(const reqivo_pool *p) {
  reqivo_pool_stats st;
  memset(&st, 0, sizeof st);
  st.struct_size = sizeof st;
  reqivo_pool_get_stats(p, &st);
  return st;
}

static void test_small_buffers_equal_full_body(void) {
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  const size_t tiny[] = {1}, mixed[] = {7, 1, 4096, 3, 100, 2};
  const struct {
    const char *path;
    const size_t *caps;
    size_t ncaps;
  } cases[] = {
      {"/big", mixed, 6},         {"/big-chunked", mixed, 6}, {"/big-chunked", tiny, 1},
      {"/chunked", tiny, 1},      {"/ok", tiny, 1},           {"/ok", mixed, 6},
      {"/redirect", mixed, 6},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const reqivo_response *full = get(s, cases[i].path, &err);
    CHECKF(full != NULL, "%s: %s", cases[i].path, err.message);
    reqivo_stream *st = open_path(s, cases[i].path, &err);
    CHECKF(st != NULL, "%s: %s", cases[i].path, err.message);
    if (full == NULL || st == NULL) {
      reqivo_response_free(full);
      reqivo_stream_free(st);
      continue;
    }
    const reqivo_response *head = reqivo_stream_response(st);
    CHECK(head != NULL && head == reqivo_stream_response(st));
    CHECK_EQ(head->struct_size, sizeof(reqivo_response));
    CHECK_EQ(head->status, full->status);
    CHECK_EQ(head->header_count, full->header_count);
    CHECK_EQ(head->redirect_count, full->redirect_count);
    CHECK(head->url.len == full->url.len && strcmp(head->url.ptr, full->url.ptr) == 0);
    CHECK_EQ(head->body_len, 0);
    CHECK(head->timings.total_ns > 0);

    size_t len = 0;
    dirty(&err);
    uint8_t *body = read_all(st, cases[i].caps, cases[i].ncaps, &len, &err);
    CHECKF(body != NULL, "%s: %s", cases[i].path, err.message);
    CHECK_OK(err);
    CHECKF(body != NULL && len == full->body_len && memcmp(body, full->body, len) == 0,
           "%s: streamed %zu bytes, buffered %zu", cases[i].path, len, full->body_len);
    free(body);

    /* The end is sticky. */
    uint8_t b[8];
    for (int k = 0; k < 3; k++) {
      dirty(&err);
      CHECK_EQ(reqivo_stream_read(st, b, sizeof b, &err), 0);
      CHECK_OK(err);
    }
    CHECK_EQ(reqivo_stream_read(st, b, sizeof b, NULL), 0);
    reqivo_stream_free(st);
    reqivo_response_free(full);
  }
  /* The redirect's final URL and count show on the stream's head. */
  reqivo_stream *st = open_path(s, "/redirect", &err);
  if (CHECK(st != NULL)) {
    const reqivo_response *head = reqivo_stream_response(st);
    char url[128];
    CHECK_EQ(head->redirect_count, 1);
    CHECK_STR_EQ(head->url.ptr, url_to(url, sizeof url, "/ok"));
    reqivo_str v;
    CHECK(reqivo_response_header(head, "x-multi", 7, 1, &v) && strcmp(v.ptr, "two") == 0);
  }
  reqivo_stream_free(st);
  reqivo_session_free(s);
}

static void test_connection_return(void) {
  reqivo_error err;
  reqivo_pool *p = reqivo_pool_new(NULL, &err);
  reqivo_session *s = reqivo_session_new(p, &err);
  uint8_t buf[1024];

  /* Read to the end: the connection is idle in the pool even before the
   * stream is freed, and the next request reuses it. */
  reqivo_stream *st = open_path(s, "/big", &err);
  CHECKF(st != NULL, "%s", err.message);
  reqivo_pool_stats ps = pool_stats(p);
  CHECK_EQ(ps.in_use, 1);
  CHECK_EQ(ps.idle, 0);
  int64_t n, total = 0;
  while ((n = reqivo_stream_read(st, buf, sizeof buf, &err)) > 0) {
    total += n;
  }
  CHECK_EQ(n, 0);
  CHECK_EQ(total, 100000);
  ps = pool_stats(p);
  CHECK_EQ(ps.in_use, 0);
  CHECK_EQ(ps.idle, 1);
  reqivo_stream_free(st);
  const reqivo_response *resp = get(s, "/ok", &err);
  CHECK(resp != NULL && (resp->flags & REQIVO_RESPONSE_REUSED));
  reqivo_response_free(resp);

  /* Freed half-way: the connection is closed, not pooled. */
  st = open_path(s, "/big", &err);
  CHECK(st != NULL);
  CHECK((reqivo_stream_response(st)->flags & REQIVO_RESPONSE_REUSED) != 0);
  CHECK(reqivo_stream_read(st, buf, 10, &err) > 0);
  /* A NULL buffer is the caller's mistake, not the stream's: refused, and
   * the stream reads on. */
  CHECK_EQ(reqivo_stream_read(st, NULL, 10, &err), -1);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, "buf");
  CHECK_EQ(reqivo_stream_read(st, NULL, 0, NULL), -1);
  /* A zero-sized read would look like the end of the body: refused too. */
  CHECK_EQ(reqivo_stream_read(st, buf, 0, &err), -1);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, "cap");
  dirty(&err);
  CHECK(reqivo_stream_read(st, buf, 10, &err) > 0);
  CHECK_OK(err);
  ps = pool_stats(p);
  uint64_t closed = ps.closed;
  CHECK_EQ(ps.idle, 0);
  reqivo_stream_free(st);
  ps = pool_stats(p);
  CHECK_EQ(ps.closed, closed + 1);
  CHECK_EQ(ps.idle, 0);
  CHECK_EQ(ps.in_use, 0);
  resp = get(s, "/ok", &err);
  CHECK(resp != NULL && (resp->flags & REQIVO_RESPONSE_REUSED) == 0);
  reqivo_response_free(resp);

  /* No body at all (204, HEAD): done at open, connection already back. */
  st = open_path(s, "/nocontent", &err);
  CHECKF(st != NULL, "%s", err.message);
  ps = pool_stats(p);
  CHECK_EQ(ps.in_use, 0);
  CHECK_EQ(ps.idle, 1);
  CHECK_EQ(reqivo_stream_read(st, buf, sizeof buf, &err), 0);
  CHECK_EQ(reqivo_stream_response(st)->status, 204);
  reqivo_stream_free(st);
  reqivo_request *r = request_to("HEAD", "/big", &err);
  st = reqivo_session_open(s, r, NULL, &err);
  CHECKF(st != NULL, "%s", err.message);
  CHECK_EQ(reqivo_stream_read(st, buf, sizeof buf, &err), 0);
  reqivo_stream_free(st);
  reqivo_request_free(r);

  reqivo_session_free(s);
  reqivo_pool_free(p);
}

static void test_sticky_errors(void) {
  reqivo_error err, again;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  uint8_t buf[64];

  /* Content-Length 100, 10 bytes, then EOF. */
  reqivo_stream *st = open_path(s, "/close", &err);
  CHECKF(st != NULL, "%s", err.message);
  if (st != NULL) {
    CHECK_EQ(reqivo_stream_response(st)->status, 200);
    int64_t n, total = 0;
    while ((n = reqivo_stream_read(st, buf, sizeof buf, &err)) > 0) {
      total += n;
    }
    CHECK_EQ(n, -1);
    CHECK_EQ(total, 10);
    CHECK_ERR(err, REQIVO_ERR_UNEXPECTED_EOF, NULL);
    for (int k = 0; k < 3; k++) {
      dirty(&again);
      CHECK_EQ(reqivo_stream_read(st, buf, sizeof buf, &again), -1);
      CHECK_EQ(again.code, err.code);
      CHECK_STR_EQ(again.message, err.message);
    }
    CHECK_EQ(reqivo_stream_read(st, buf, sizeof buf, NULL), -1);
  }
  reqivo_stream_free(st);

  /* A read timeout: 5 of 10 bytes, then silence. The request's timeout
   * overrides the session's. */
  reqivo_timeout slow = reqivo_timeout_default();
  slow.read_ms = 60000;
  CHECK_CODE(reqivo_session_set_timeout(s, slow), REQIVO_OK);
  reqivo_request *r = request_to("GET", "/slow-body", &err);
  reqivo_timeout t = reqivo_timeout_default();
  t.read_ms = 300;
  CHECK_CODE(reqivo_request_set_timeout(r, t), REQIVO_OK);
  st = reqivo_session_open(s, r, NULL, &err);
  CHECKF(st != NULL, "%s", err.message);
  if (st != NULL) {
    int64_t n, total = 0;
    double start = now_ms();
    while ((n = reqivo_stream_read(st, buf, sizeof buf, &err)) > 0) {
      total += n;
    }
    double took = now_ms() - start;
    CHECK_EQ(n, -1);
    CHECK_EQ(total, 5);
    CHECK_ERR(err, REQIVO_ERR_TIMEOUT_READ, NULL);
    CHECKF(took >= 250 && took < 3000, "timed out after %.0f ms", took);
    start = now_ms();
    CHECK_EQ(reqivo_stream_read(st, buf, sizeof buf, &again), -1);
    CHECK_ERR(again, REQIVO_ERR_TIMEOUT_READ, NULL);
    CHECKF(now_ms() - start < 200, "the repeated error waited %.0f ms", now_ms() - start);
  }
  reqivo_stream_free(st);
  reqivo_request_free(r);

  /* Body limits apply to streams when set (default: unlimited). */
  reqivo_limits l = {0, 0, 0, 1000};
  CHECK_CODE(reqivo_session_set_limits(s, l), REQIVO_OK);
  st = open_path(s, "/big", &err);
  if (st == NULL) {
    /* Content-Length over the limit is known at the head. */
    CHECK_ERR(err, REQIVO_ERR_BODY_TOO_LARGE, NULL);
  } else {
    int64_t n;
    while ((n = reqivo_stream_read(st, buf, sizeof buf, &err)) > 0) {
    }
    CHECK_EQ(n, -1);
    CHECK_ERR(err, REQIVO_ERR_BODY_TOO_LARGE, NULL);
  }
  reqivo_stream_free(st);
  st = open_path(s, "/big-chunked", &err);
  CHECKF(st != NULL, "%s", err.message);
  if (st != NULL) {
    int64_t n, total = 0;
    while ((n = reqivo_stream_read(st, buf, sizeof buf, &err)) > 0) {
      total += n;
    }
    CHECK_EQ(n, -1);
    CHECK_ERR(err, REQIVO_ERR_BODY_TOO_LARGE, NULL);
    CHECKF(total <= 1000, "%lld bytes past a 1000-byte limit", (long long)total);
    CHECK_EQ(reqivo_stream_read(st, buf, sizeof buf, &err), -1);
    CHECK_ERR(err, REQIVO_ERR_BODY_TOO_LARGE, NULL);
  }
  reqivo_stream_free(st);
  reqivo_session_free(s);
}

/* A stream stays valid after its request and session are freed. */
static void test_outlives_session(void) {
  reqivo_error err;
  reqivo_pool *p = reqivo_pool_new(NULL, &err);
  reqivo_session *s = reqivo_session_new(p, &err);
  reqivo_pool_free(p); /* the session holds the pool */
  reqivo_request *r = request_to("GET", "/big-chunked", &err);
  reqivo_stream *st = reqivo_session_open(s, r, NULL, &err);
  CHECKF(st != NULL, "%s", err.message);
  reqivo_request_free(r);
  reqivo_session_free(s);
  if (st != NULL) {
    const size_t caps[] = {999};
    size_t len = 0;
    uint8_t *body = read_all(st, caps, 1, &len, &err);
    CHECKF(body != NULL, "%s", err.message);
    CHECK_EQ(len, 100000);
    size_t bad = 0;
    for (size_t i = 0; body != NULL && i < len; i++) {
      bad += body[i] != (uint8_t)(i % 251);
    }
    CHECK_EQ(bad, 0);
    free(body);
    CHECK_EQ(reqivo_stream_response(st)->status, 200);
  }
  reqivo_stream_free(st);
}

/* A stream's trailer fields come once the body has been read to its end. */
static void test_trailers(void) {
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  reqivo_stream *st = open_path(s, "/chunked-trailers", &err);
  CHECKF(st != NULL, "%s", err.message);
  if (st == NULL) {
    reqivo_session_free(s);
    return;
  }
  size_t count = 99;
  CHECK(reqivo_stream_trailers(st, &count) == NULL && count == 0); /* not yet */
  const size_t caps[] = {2};
  size_t len = 0;
  uint8_t *body = read_all(st, caps, 1, &len, &err);
  CHECK(body != NULL && len == 5 && memcmp(body, "hello", 5) == 0);
  free(body);
  const reqivo_header *tr = reqivo_stream_trailers(st, &count);
  CHECK_EQ(count, 2);
  CHECK(tr != NULL && tr[0].name.len == 10 && memcmp(tr[0].name.ptr, "X-Checksum", 10) == 0);
  CHECK(tr != NULL && strcmp(tr[1].value.ptr, "db;dur=53") == 0);
  CHECK(reqivo_stream_trailers(st, NULL) == tr); /* made once */
  CHECK(reqivo_stream_trailers(NULL, &count) == NULL && count == 0);
  reqivo_stream_free(st);
  reqivo_session_free(s);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  test_trailers();
  test_small_buffers_equal_full_body();
  test_connection_return();
  test_sticky_errors();
  test_outlives_session();
  return check_finish("test_stream");
}
