/* Real buffered requests against tests/c/server.py: response fields,
 * header lookup, bodies, what the library puts on the wire (via /echo),
 * keep-alive reuse, redirects, base URL joining, limits and failures. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support.h"

/* The echoed request (head and body) as a NUL-terminated string. */
static const char *echo_text(const reqivo_response *resp) {
  return resp != NULL ? (const char *)resp->body : "";
}

static int str_is(reqivo_str s, const char *text) {
  return s.ptr != NULL && s.len == strlen(text) && memcmp(s.ptr, text, s.len) == 0 &&
         s.ptr[s.len] == '\0';
}

static void test_get_fields(void) {
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  dirty(&err);
  const reqivo_response *resp = get(s, "/ok", &err);
  CHECKF(resp != NULL, "%s", err.message);
  CHECK_OK(err);
  if (resp == NULL) {
    reqivo_session_free(s);
    return;
  }
  char url[128];
  CHECK_EQ(resp->struct_size, sizeof(reqivo_response));
  CHECK_EQ(resp->status, 200);
  CHECK_EQ(resp->http_major, 1);
  CHECK_EQ(resp->http_minor, 1);
  CHECK(str_is(resp->reason, "OK"));
  CHECK(str_is(resp->url, url_to(url, sizeof url, "/ok")));
  CHECK_EQ(resp->flags & REQIVO_RESPONSE_REUSED, 0);
  CHECK_EQ(resp->flags & REQIVO_RESPONSE_TLS, 0);
  CHECK_EQ(resp->redirect_count, 0);
  CHECK(body_is(resp, "hello\n"));
  CHECK(resp->body[resp->body_len] == 0);

  /* Headers in received order, names exactly as received. */
  static const char *want[][2] = {{"Content-Type", "text/plain"},
                                  {"X-Multi", "one"},
                                  {"x-multi", "two"},
                                  {"Content-Length", "6"}};
  CHECK_EQ(resp->header_count, 4);
  for (size_t i = 0; i < 4 && i < resp->header_count; i++) {
    CHECKF(str_is(resp->headers[i].name, want[i][0]), "header %zu name %s", i,
           resp->headers[i].name.ptr);
    CHECKF(str_is(resp->headers[i].value, want[i][1]), "header %zu value %s", i,
           resp->headers[i].value.ptr);
  }

  /* Timings: nanoseconds since the send began, in phase order; no DNS for
   * an IP literal. */
  const reqivo_timings *t = &resp->timings;
  CHECK(t->total_ns > 0);
  CHECK_EQ(t->dns_ns, 0); /* an IP literal is not resolved */
  CHECK_EQ(t->tls_ns, 0);
  CHECK(t->connect_ns > 0);
  CHECK(t->sent_ns >= t->connect_ns);
  CHECK(t->first_byte_ns >= t->sent_ns);
  CHECK(t->total_ns >= t->first_byte_ns);
  CHECK(t->total_ns < 5000000000ULL);

  /* Header lookup: case-insensitive, nth value, `len` bytes of the name. */
  reqivo_str out = {"untouched", 9};
  CHECK(reqivo_response_header(resp, "content-type", 12, 0, &out) && str_is(out, "text/plain"));
  CHECK(reqivo_response_header(resp, "X-MULTI", 7, 0, &out) && str_is(out, "one"));
  CHECK(reqivo_response_header(resp, "x-multi", 7, 1, &out) && str_is(out, "two"));
  CHECK(reqivo_response_header(resp, "X-Multi-and-more", 7, 1, &out) && str_is(out, "two"));
  out.ptr = "untouched";
  out.len = 9;
  CHECK(!reqivo_response_header(resp, "X-Multi", 7, 2, &out));
  CHECK(!reqivo_response_header(resp, "X-Mult", 6, 0, &out));
  CHECK(!reqivo_response_header(resp, "X-Multi2", 8, 0, &out));
  CHECK(!reqivo_response_header(resp, "missing", 7, 0, &out));
  CHECK(!reqivo_response_header(resp, "", 0, 0, &out));
  CHECK(!reqivo_response_header(resp, NULL, 0, 0, &out));
  CHECK(!reqivo_response_header(resp, NULL, 5, 0, &out));
  CHECK(!reqivo_response_header(resp, "X-Multi", 7, (size_t)-1, &out));
  CHECK(str_is(out, "untouched"));
  CHECK(!reqivo_response_header(resp, "X-Multi", 7, 0, NULL));

  /* The response is one self-contained block: it outlives its session. */
  reqivo_session_free(s);
  CHECK(body_is(resp, "hello\n"));
  CHECK(str_is(resp->headers[1].value, "one"));
  reqivo_response_free(resp);
}

static void test_reuse_and_double_send(void) {
  server_counts before;
  if (!CHECK(server_stats(&before) == 0)) {
    return;
  }
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  reqivo_request *r = request_to("GET", "/ok", &err);
  const reqivo_response *a = reqivo_session_send(s, r, NULL, &err);
  CHECKF(a != NULL, "%s", err.message);
  dirty(&err);
  /* The same request again, on the connection the first one left idle. */
  const reqivo_response *b = reqivo_session_send(s, r, NULL, &err);
  CHECKF(b != NULL, "%s", err.message);
  CHECK_OK(err);
  if (a != NULL && b != NULL) {
    CHECK_EQ(a->flags & REQIVO_RESPONSE_REUSED, 0);
    CHECK_EQ(b->flags & REQIVO_RESPONSE_REUSED, REQIVO_RESPONSE_REUSED);
    CHECK(a->timings.connect_ns > 0);
    CHECK_EQ(b->timings.connect_ns, 0); /* no connect on reuse */
    CHECK(b->timings.total_ns > 0);
    CHECK(body_is(a, "hello\n") && body_is(b, "hello\n"));
    CHECK(a->body != b->body); /* two independent responses */
  }
  reqivo_response_free(a);
  reqivo_response_free(b);
  /* A third time through a relative copy: still one connection. */
  const reqivo_response *c = get(s, "/chunked", &err);
  CHECK(c != NULL && (c->flags & REQIVO_RESPONSE_REUSED));
  reqivo_response_free(c);
  reqivo_request_free(r);
  reqivo_session_free(s);

  server_counts d = server_delta(before);
  CHECK_EQ(d.connections, 1);
  CHECK_EQ(d.requests, 3);
}

static void test_post_and_wire(void) {
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  char want[256];

  /* A POST with a body: the request line, Host with its port, default
   * headers and Content-Length, then the body exactly. */
  reqivo_request *r = request_to("POST", "/echo?x=1", &err);
  CHECK_CODE(reqivo_request_set_body(r, (const uint8_t *)"first", 5, &err), REQIVO_OK);
  uint8_t body[] = "hello=world";
  CHECK_CODE(reqivo_request_set_body(r, body, 11, &err), REQIVO_OK); /* replaces */
  body[0] = 'J'; /* the library copied it */
  CHECK_CODE(reqivo_request_add_header(r, "Content-Type", 12, "application/x-www-form-urlencoded",
                                       33, &err),
             REQIVO_OK);
  const reqivo_response *resp = reqivo_session_send(s, r, NULL, &err);
  CHECKF(resp != NULL, "%s", err.message);
  const char *echo = echo_text(resp);
  CHECK(strncmp(echo, "POST /echo?x=1 HTTP/1.1\r\n", 25) == 0);
  snprintf(want, sizeof want, "\r\nHost: %s\r\n", test_origin + strlen("http://"));
  CHECK_CONTAINS(echo, want);
  CHECK_CONTAINS(echo, "\r\nUser-Agent: reqivo/");
  CHECK_CONTAINS(echo, "\r\nAccept: */*\r\n");
  CHECK_CONTAINS(echo, "\r\nConnection: keep-alive\r\n");
  CHECK_CONTAINS(echo, "\r\nContent-Length: 11\r\n");
  CHECK_CONTAINS(echo, "\r\nContent-Type: application/x-www-form-urlencoded\r\n");
  CHECK(strstr(echo, "first") == NULL);
  CHECK(strstr(echo, "Transfer-Encoding") == NULL);
  size_t n = strlen(echo);
  CHECK(n > 15 && strcmp(echo + n - 15, "\r\n\r\nhello=world") == 0);
  reqivo_response_free(resp);
  reqivo_request_free(r);

  /* A binary body with NULs arrives whole. */
  r = request_to("PUT", "/echo", &err);
  const uint8_t bin[] = {'a', 0, 'b', 0, 0xff, '\r', '\n'};
  CHECK_CODE(reqivo_request_set_body(r, bin, sizeof bin, &err), REQIVO_OK);
  resp = reqivo_session_send(s, r, NULL, &err);
  CHECKF(resp != NULL, "%s", err.message);
  if (resp != NULL) {
    CHECK(resp->body_len > sizeof bin &&
          memcmp(resp->body + resp->body_len - sizeof bin, bin, sizeof bin) == 0);
    CHECK_CONTAINS(echo_text(resp), "\r\nContent-Length: 7\r\n");
    CHECK(resp->flags & REQIVO_RESPONSE_REUSED);
  }
  reqivo_response_free(resp);
  reqivo_request_free(r);

  /* A POST without a body says so with Content-Length: 0; an empty body
   * set explicitly too. */
  r = request_to("POST", "/echo", &err);
  resp = reqivo_session_send(s, r, NULL, &err);
  CHECK_CONTAINS(echo_text(resp), "\r\nContent-Length: 0\r\n");
  reqivo_response_free(resp);
  CHECK_CODE(reqivo_request_set_body(r, NULL, 0, &err), REQIVO_OK);
  resp = reqivo_session_send(s, r, NULL, &err);
  CHECK_CONTAINS(echo_text(resp), "\r\nContent-Length: 0\r\n");
  reqivo_response_free(resp);
  reqivo_request_free(r);

  /* A body larger than what goes out with the head in one write. */
  enum { LARGE = 100000 };
  static uint8_t large[LARGE];
  for (size_t i = 0; i < LARGE; i++) {
    large[i] = (uint8_t)(i % 251);
  }
  r = request_to("POST", "/echo", &err);
  CHECK_CODE(reqivo_request_set_body(r, large, LARGE, &err), REQIVO_OK);
  resp = reqivo_session_send(s, r, NULL, &err);
  CHECKF(resp != NULL, "%s", err.message);
  if (resp != NULL) {
    CHECK_CONTAINS(echo_text(resp), "\r\nContent-Length: 100000\r\n");
    CHECK(resp->body_len > LARGE &&
          memcmp(resp->body + resp->body_len - LARGE, large, LARGE) == 0);
  }
  reqivo_response_free(resp);
  reqivo_request_free(r);

  /* Connection: close from the caller replaces keep-alive, and the
   * library does not pool that connection even though the server would
   * keep it open. */
  r = request_to("GET", "/echo", &err);
  CHECK_CODE(reqivo_request_add_header(r, "Connection", 10, "close", 5, &err), REQIVO_OK);
  resp = reqivo_session_send(s, r, NULL, &err);
  CHECK_CONTAINS(echo_text(resp), "\r\nConnection: close\r\n");
  CHECK(strstr(echo_text(resp), "keep-alive") == NULL);
  reqivo_response_free(resp);
  reqivo_request_free(r);
  resp = get(s, "/ok", &err);
  CHECK(resp != NULL && (resp->flags & REQIVO_RESPONSE_REUSED) == 0);
  reqivo_response_free(resp);

  /* A GET has no Content-Length. */
  resp = get(s, "/echo", &err);
  CHECK(strncmp(echo_text(resp), "GET /echo HTTP/1.1\r\n", 20) == 0);
  CHECK(strstr(echo_text(resp), "Content-Length") == NULL);
  reqivo_response_free(resp);
  reqivo_session_free(s);
}

static void test_header_merging(void) {
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  CHECK_CODE(reqivo_session_set_header(s, "X-Default", 9, "a", 1, &err), REQIVO_OK);
  CHECK_CODE(reqivo_session_set_header(s, "X-Session", 9, "1", 1, &err), REQIVO_OK);
  CHECK_CODE(reqivo_session_set_header(s, "x-session", 9, "2", 1, &err), REQIVO_OK);
  CHECK_CODE(reqivo_session_set_header(s, "User-Agent", 10, "tests/1.0", 9, &err), REQIVO_OK);
  /* Refused defaults leave nothing behind. */
  CHECK_CODE(reqivo_session_set_header(s, "X-Evil", 6, "a\r\nX-Injected: 1", 17, &err),
             REQIVO_ERR_INVALID_HEADER);

  reqivo_request *r = request_to("GET", "/echo", &err);
  CHECK_CODE(reqivo_request_add_header(r, "x-default", 9, "b", 1, &err), REQIVO_OK);
  CHECK_CODE(reqivo_request_add_header(r, "X-Rep", 5, "1", 1, &err), REQIVO_OK);
  CHECK_CODE(reqivo_request_add_header(r, "X-Rep", 5, "2", 1, &err), REQIVO_OK);
  CHECK_CODE(reqivo_request_add_header(r, "X-Tab", 5, "a\tb", 3, &err), REQIVO_OK);
  CHECK_CODE(reqivo_request_add_header(r, "X-Smuggle", 9, "1\r\nX-Injected: 2", 17, &err),
             REQIVO_ERR_INVALID_HEADER);
  CHECK_CODE(reqivo_request_add_header(r, "X-Nul", 5, "a\0X-Injected: 3", 16, &err),
             REQIVO_ERR_INVALID_HEADER);
  const reqivo_response *resp = reqivo_session_send(s, r, NULL, &err);
  CHECKF(resp != NULL, "%s", err.message);
  const char *echo = echo_text(resp);
  CHECK_CONTAINS(echo, "\r\nx-default: b\r\n");
  CHECK(strstr(echo, "X-Default: a") == NULL);
  CHECK_CONTAINS(echo, "\r\nx-session: 2\r\n");
  CHECK(strstr(echo, "X-Session: 1") == NULL);
  CHECK_CONTAINS(echo, "\r\nUser-Agent: tests/1.0\r\n");
  CHECK(strstr(echo, "reqivo/") == NULL);
  CHECK_CONTAINS(echo, "\r\nX-Rep: 1\r\nX-Rep: 2\r\n");
  CHECK_CONTAINS(echo, "\r\nX-Tab: a\tb\r\n");
  CHECK(strstr(echo, "Injected") == NULL);
  CHECK(strstr(echo, "X-Evil") == NULL && strstr(echo, "X-Smuggle") == NULL);
  CHECK(strstr(echo, "X-Nul") == NULL);
  /* One request on the wire, nothing after its blank line. */
  const char *end = strstr(echo, "\r\n\r\n");
  CHECK(end != NULL && end[4] == '\0');
  reqivo_response_free(resp);
  reqivo_request_free(r);

  /* One Host on the wire, always: the caller's second Host replaces the
   * first, which replaced the one the library makes. */
  r = request_to("GET", "/echo", &err);
  CHECK_CODE(reqivo_request_add_header(r, "Host", 4, "first.test", 10, &err), REQIVO_OK);
  CHECK_CODE(reqivo_request_add_header(r, "host", 4, "second.test", 11, &err), REQIVO_OK);
  resp = reqivo_session_send(s, r, NULL, &err);
  echo = echo_text(resp);
  CHECK_CONTAINS(echo, "\r\nhost: second.test\r\n");
  CHECK(strstr(echo, "first.test") == NULL && strstr(echo, "Host: 127.0.0.1") == NULL);
  reqivo_response_free(resp);
  reqivo_request_free(r);

  /* Credentials in a redirect's Location are never used, nor shown in
   * the response's URL. */
  resp = get(s, "/redirect-userinfo", &err);
  CHECKF(resp != NULL && resp->status == 200, "%s", err.message);
  CHECK(resp != NULL && strstr(resp->url.ptr, "secret") == NULL && strstr(resp->url.ptr, "user@") == NULL);
  CHECK(resp != NULL && strstr(resp->url.ptr, "/ok") != NULL);
  reqivo_response_free(resp);
  reqivo_session_free(s);
}

static void test_bodies(void) {
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);

  const reqivo_response *resp = get(s, "/chunked", &err);
  CHECKF(resp != NULL, "%s", err.message);
  CHECK(body_is(resp, "hello world\n"));
  reqivo_str te;
  CHECK(reqivo_response_header(resp, "transfer-encoding", 17, 0, &te) && str_is(te, "chunked"));
  /* No trailers: nothing, and no flag. */
  size_t count = 99;
  CHECK(reqivo_response_trailers(resp, &count) == NULL && count == 0);
  CHECK(resp != NULL && (resp->flags & REQIVO_RESPONSE_TRAILERS) == 0);
  reqivo_response_free(resp);

  /* Trailer fields, in order, as received; NUL-terminated like headers. */
  resp = get(s, "/chunked-trailers", &err);
  CHECKF(resp != NULL && body_is(resp, "hello"), "%s", err.message);
  CHECK(resp != NULL && (resp->flags & REQIVO_RESPONSE_TRAILERS) != 0);
  const reqivo_header *tr = reqivo_response_trailers(resp, &count);
  CHECK_EQ(count, 2);
  if (tr != NULL && count == 2) {
    CHECK(str_is(tr[0].name, "X-Checksum") && str_is(tr[0].value, "sha256=abc"));
    CHECK(str_is(tr[1].name, "Server-Timing") && str_is(tr[1].value, "db;dur=53"));
    CHECK(tr[1].value.ptr[tr[1].value.len] == '\0');
  }
  CHECK(reqivo_response_trailers(resp, NULL) == tr);
  CHECK(reqivo_response_trailers(NULL, &count) == NULL && count == 0);
  reqivo_response_free(resp);

  const char *big[] = {"/big", "/big-chunked"};
  for (int k = 0; k < 2; k++) {
    resp = get(s, big[k], &err);
    CHECKF(resp != NULL, "%s: %s", big[k], err.message);
    if (resp != NULL) {
      CHECK_EQ(resp->body_len, 100000);
      size_t bad = 0;
      for (size_t i = 0; i < resp->body_len; i++) {
        bad += resp->body[i] != (uint8_t)(i % 251);
      }
      CHECKF(bad == 0, "%s: %zu bytes differ", big[k], bad);
      CHECK(resp->body[resp->body_len] == 0);
    }
    reqivo_response_free(resp);
  }

  /* 204 and HEAD have no body, and keep the connection usable. */
  resp = get(s, "/nocontent", &err);
  CHECKF(resp != NULL, "%s", err.message);
  if (resp != NULL) {
    CHECK_EQ(resp->status, 204);
    CHECK(str_is(resp->reason, "No Content"));
    CHECK_EQ(resp->body_len, 0);
    CHECK(resp->body != NULL && resp->body[0] == 0);
  }
  reqivo_response_free(resp);
  reqivo_request *r = request_to("HEAD", "/big", &err);
  resp = reqivo_session_send(s, r, NULL, &err);
  CHECKF(resp != NULL, "%s", err.message);
  reqivo_str cl;
  CHECK(resp != NULL && resp->body_len == 0 &&
        reqivo_response_header(resp, "Content-Length", 14, 0, &cl) && str_is(cl, "100000"));
  reqivo_response_free(resp);
  reqivo_request_free(r);
  resp = get(s, "/ok", &err);
  CHECK(resp != NULL && (resp->flags & REQIVO_RESPONSE_REUSED) && body_is(resp, "hello\n"));
  reqivo_response_free(resp);

  /* A 404 is a response, not an error. */
  dirty(&err);
  resp = get(s, "/nope", &err);
  CHECK_OK(err);
  CHECK(resp != NULL && resp->status == 404 && str_is(resp->reason, "Not Found"));
  reqivo_response_free(resp);

  /* HTTP/1.0 without keep-alive: minor version 0, connection not kept. */
  resp = get(s, "/http10", &err);
  CHECKF(resp != NULL, "%s", err.message);
  CHECK(resp != NULL && resp->http_major == 1 && resp->http_minor == 0 && body_is(resp, "ok"));
  reqivo_response_free(resp);
  resp = get(s, "/ok", &err);
  CHECK(resp != NULL && (resp->flags & REQIVO_RESPONSE_REUSED) == 0);
  reqivo_response_free(resp);
  reqivo_session_free(s);
}

static void test_redirects(void) {
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  char url[128];

  const reqivo_response *resp = get(s, "/redirect", &err);
  CHECKF(resp != NULL, "%s", err.message);
  if (resp != NULL) {
    CHECK_EQ(resp->status, 200);
    CHECK_EQ(resp->redirect_count, 1);
    CHECK(str_is(resp->url, url_to(url, sizeof url, "/ok")));
    CHECK(body_is(resp, "hello\n"));
    CHECK(resp->flags & REQIVO_RESPONSE_REUSED); /* the hop reused the connection */
  }
  reqivo_response_free(resp);

  resp = get(s, "/redirect2", &err);
  CHECK(resp != NULL && resp->redirect_count == 2 && resp->status == 200 &&
        str_is(resp->url, url_to(url, sizeof url, "/ok")));
  reqivo_response_free(resp);

  /* A POST answered by 302 goes on as a GET. */
  reqivo_request *r = request_to("POST", "/redirect", &err);
  reqivo_request_set_body(r, (const uint8_t *)"x", 1, &err);
  resp = reqivo_session_send(s, r, NULL, &err);
  CHECK(resp != NULL && resp->status == 200 && resp->redirect_count == 1);
  reqivo_response_free(resp);
  reqivo_request_free(r);

  resp = get(s, "/loop", &err);
  CHECK(resp == NULL);
  CHECK_ERR(err, REQIVO_ERR_REDIRECT_LOOP, "/loop");

  CHECK_CODE(reqivo_session_set_max_redirects(s, 1), REQIVO_OK);
  resp = get(s, "/redirect2", &err);
  CHECK(resp == NULL);
  CHECK_ERR(err, REQIVO_ERR_TOO_MANY_REDIRECTS, "max_redirects");
  dirty(&err);
  resp = get(s, "/redirect", &err);
  CHECK(resp != NULL && resp->redirect_count == 1);
  CHECK_OK(err);
  reqivo_response_free(resp);

  /* 0: the 3xx comes back as it is. */
  CHECK_CODE(reqivo_session_set_max_redirects(s, 0), REQIVO_OK);
  resp = get(s, "/redirect", &err);
  CHECKF(resp != NULL, "%s", err.message);
  reqivo_str loc;
  if (resp != NULL) {
    CHECK_EQ(resp->status, 302);
    CHECK(str_is(resp->reason, "Found"));
    CHECK_EQ(resp->redirect_count, 0);
    CHECK(str_is(resp->url, url_to(url, sizeof url, "/redirect")));
    CHECK(reqivo_response_header(resp, "location", 8, 0, &loc) && str_is(loc, "/ok"));
  }
  reqivo_response_free(resp);
  reqivo_session_free(s);
}

/* One relative request, sent with the session's base URL set to `base`:
 * the request line the server saw and the response's URL. */
static void check_join(reqivo_session *s, const char *base_path, const char *rel,
                       const char *want_path) {
  reqivo_error err;
  char base[160], want_url[160], want_line[192];
  url_to(base, sizeof base, base_path);
  url_to(want_url, sizeof want_url, want_path);
  snprintf(want_line, sizeof want_line, "GET %s HTTP/1.1\r\n", want_path);
  CHECK_CODE(reqivo_session_set_base_url(s, base, strlen(base), &err), REQIVO_OK);
  reqivo_request *r = reqivo_request_new("GET", 3, rel, strlen(rel), &err);
  CHECKF(r != NULL, "relative \"%s\": %s", rel, err.message);
  const reqivo_response *resp = r ? reqivo_session_send(s, r, NULL, &err) : NULL;
  CHECKF(resp != NULL, "base %s + \"%s\": %s", base, rel, err.message);
  if (resp != NULL) {
    CHECKF(strncmp(echo_text(resp), want_line, strlen(want_line)) == 0,
           "base %s + \"%s\": server saw %.40s", base, rel, echo_text(resp));
    CHECKF(str_is(resp->url, want_url), "url %s, want %s", resp->url.ptr, want_url);
  }
  reqivo_response_free(resp);
  reqivo_request_free(r);
}

static void test_base_url_join(void) {
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  check_join(s, "/api/v1/", "echo", "/api/v1/echo");
  check_join(s, "/api/v1", "echo", "/api/echo"); /* after the last "/" */
  check_join(s, "/api/v1/", "/echo", "/echo");
  check_join(s, "/api/v1/", "../echo", "/api/echo");
  check_join(s, "/api/v1/", "echo?q=a%20b", "/api/v1/echo?q=a%20b");
  check_join(s, "/api/v1/echo", "", "/api/v1/echo"); /* the base itself */
  check_join(s, "/api/v1/echo", "?page=2", "/api/v1/echo?page=2");

  /* An absolute URL ignores the base. */
  char url[128];
  url_to(url, sizeof url, "/api/echo");
  CHECK_CODE(reqivo_session_set_base_url(s, "http://127.0.0.1:1/elsewhere/", 29, &err), REQIVO_OK);
  reqivo_request *r = reqivo_request_new("GET", 3, url, strlen(url), &err);
  const reqivo_response *resp = reqivo_session_send(s, r, NULL, &err);
  CHECKF(resp != NULL, "%s", err.message);
  CHECK(strncmp(echo_text(resp), "GET /api/echo HTTP/1.1\r\n", 24) == 0);
  reqivo_response_free(resp);
  reqivo_request_free(r);

  /* A scheme-relative reference takes the base's scheme. */
  char rel[96];
  snprintf(rel, sizeof rel, "//%s/echo", test_origin + strlen("http://"));
  check_join(s, "/api/v1/", rel, "/echo");

  /* The base may carry a query and fragment; a relative path drops them. */
  check_join(s, "/x/y?q=1#frag", "echo", "/x/echo");
  reqivo_session_free(s);
}

static void test_failures(void) {
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);

  /* The server promises 100 bytes and closes after 10. */
  const reqivo_response *resp = get(s, "/close", &err);
  CHECK(resp == NULL);
  CHECK_ERR(err, REQIVO_ERR_UNEXPECTED_EOF, NULL);
  /* The session is fine afterwards, on a new connection. */
  dirty(&err);
  resp = get(s, "/ok", &err);
  CHECK(resp != NULL && body_is(resp, "hello\n"));
  CHECK_OK(err);
  reqivo_response_free(resp);

  /* A port that is bound but not listening refuses the connection. */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof a;
  if (CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
            getsockname(fd, (struct sockaddr *)&a, &alen) == 0)) {
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/ok", ntohs(a.sin_port));
    reqivo_request *r = reqivo_request_new("GET", 3, url, strlen(url), &err);
    resp = reqivo_session_send(s, r, NULL, &err);
    CHECK(resp == NULL);
    CHECK_ERR(err, REQIVO_ERR_CONNECT_REFUSED, "127.0.0.1");
    CHECK_EQ(err.os_error, ECONNREFUSED);
    reqivo_request_free(r);
  }
  if (fd >= 0) {
    close(fd);
  }

  /* Limits. */
  reqivo_limits l = {0, 0, 2, 0};
  CHECK_CODE(reqivo_session_set_limits(s, l), REQIVO_OK);
  resp = get(s, "/ok", &err);
  CHECK(resp == NULL);
  CHECK_ERR(err, REQIVO_ERR_TOO_MANY_HEADERS, NULL);
  reqivo_limits line = {10, 0, 0, 0};
  CHECK_CODE(reqivo_session_set_limits(s, line), REQIVO_OK);
  resp = get(s, "/ok", &err);
  CHECK(resp == NULL);
  CHECK_ERR(err, REQIVO_ERR_HEADER_TOO_LARGE, NULL);
  reqivo_limits body = {0, 0, 0, 1000};
  CHECK_CODE(reqivo_session_set_limits(s, body), REQIVO_OK);
  resp = get(s, "/big", &err);
  CHECK(resp == NULL);
  CHECK_ERR(err, REQIVO_ERR_BODY_TOO_LARGE, NULL);
  resp = get(s, "/big-chunked", &err);
  CHECK(resp == NULL);
  CHECK_ERR(err, REQIVO_ERR_BODY_TOO_LARGE, NULL);
  reqivo_limits exact = {0, 0, 0, 12};
  CHECK_CODE(reqivo_session_set_limits(s, exact), REQIVO_OK);
  resp = get(s, "/chunked", &err); /* exactly 12 bytes: allowed */
  CHECKF(resp != NULL && body_is(resp, "hello world\n"), "%s", err.message);
  reqivo_response_free(resp);
  reqivo_limits zero = {0, 0, 0, 0};
  CHECK_CODE(reqivo_session_set_limits(s, zero), REQIVO_OK);
  resp = get(s, "/big", &err);
  CHECK(resp != NULL && resp->body_len == 100000);
  reqivo_response_free(resp);
  reqivo_session_free(s);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  test_get_fields();
  test_reuse_and_double_send();
  test_post_and_wire();
  test_header_merging();
  test_bodies();
  test_redirects();
  test_base_url_join();
  test_failures();
  return check_finish("test_send");
}
