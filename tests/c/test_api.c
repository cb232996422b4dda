/* The API surface without real traffic: version, code names and classes,
 * defaults, pool configs and stats, NULL for every pointer argument,
 * invalid URLs, methods and headers, free(NULL), and the error struct's
 * contract (cleared on success, a message naming the problem on failure).
 * The server is asked only to prove that rejected input sent nothing. */
#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "support.h"

#define CODE(c, cls) {c, #c, cls}
static const struct {
  uint32_t code;
  const char *name;
  uint32_t cls;
} CODES[] = {
    CODE(REQIVO_OK, 0),
    CODE(REQIVO_ERR_INVALID_ARGUMENT, 1000),
    CODE(REQIVO_ERR_INVALID_URL, 1000),
    CODE(REQIVO_ERR_UNSUPPORTED_SCHEME, 1000),
    CODE(REQIVO_ERR_INVALID_METHOD, 1000),
    CODE(REQIVO_ERR_INVALID_HEADER, 1000),
    CODE(REQIVO_ERR_INVALID_CONFIG, 1000),
    CODE(REQIVO_ERR_INVALID_JSON, 1000),
    CODE(REQIVO_ERR_INVALID_JSON_POINTER, 1000),
    CODE(REQIVO_ERR_JSON_NOT_FOUND, 1000),
    CODE(REQIVO_ERR_BUFFER_TOO_SMALL, 1000),
    CODE(REQIVO_ERR_DNS, 2000),
    CODE(REQIVO_ERR_CONNECT_REFUSED, 2000),
    CODE(REQIVO_ERR_CONNECTION_CLOSED, 2000),
    CODE(REQIVO_ERR_IO, 2000),
    CODE(REQIVO_ERR_TLS_HANDSHAKE, 2100),
    CODE(REQIVO_ERR_TLS_CERT_UNTRUSTED, 2100),
    CODE(REQIVO_ERR_TLS_HOSTNAME, 2100),
    CODE(REQIVO_ERR_TLS_PIN_MISMATCH, 2100),
    CODE(REQIVO_ERR_TIMEOUT_CONNECT, 3000),
    CODE(REQIVO_ERR_TIMEOUT_READ, 3000),
    CODE(REQIVO_ERR_TIMEOUT_WRITE, 3000),
    CODE(REQIVO_ERR_TIMEOUT_TOTAL, 3000),
    CODE(REQIVO_ERR_TIMEOUT_POOL, 3000),
    CODE(REQIVO_ERR_INVALID_STATUS_LINE, 4000),
    CODE(REQIVO_ERR_INVALID_RESPONSE_HEADER, 4000),
    CODE(REQIVO_ERR_HEADER_TOO_LARGE, 4000),
    CODE(REQIVO_ERR_TOO_MANY_HEADERS, 4000),
    CODE(REQIVO_ERR_BODY_TOO_LARGE, 4000),
    CODE(REQIVO_ERR_INVALID_FRAMING, 4000),
    CODE(REQIVO_ERR_INVALID_CHUNK, 4000),
    CODE(REQIVO_ERR_UNEXPECTED_EOF, 4000),
    CODE(REQIVO_ERR_DECOMPRESSION, 4000),
    CODE(REQIVO_ERR_HTTP2_PROTOCOL, 4000),
    CODE(REQIVO_ERR_HTTP2_REQUIRED, 4000),
    CODE(REQIVO_ERR_TOO_MANY_REDIRECTS, 5000),
    CODE(REQIVO_ERR_REDIRECT_LOOP, 5000),
    CODE(REQIVO_ERR_INVALID_LOCATION, 5000),
    CODE(REQIVO_ERR_CANCELLED, 6000),
    CODE(REQIVO_ERR_ABORTED_BY_CALLBACK, 6000),
    CODE(REQIVO_ERR_PANIC, 9000),
};
#define NCODES (sizeof CODES / sizeof CODES[0])

static void test_version(void) {
  char want[32];
  snprintf(want, sizeof want, "%d.%d.%d", REQIVO_VERSION_MAJOR, REQIVO_VERSION_MINOR,
           REQIVO_VERSION_PATCH);
  CHECK_STR_EQ(reqivo_version(), want);
  CHECK(reqivo_version() == reqivo_version()); /* static, not a fresh allocation */
}

static void test_codes(void) {
  for (size_t i = 0; i < NCODES; i++) {
    CHECK_STR_EQ(reqivo_code_name(CODES[i].code), CODES[i].name);
    CHECKF(reqivo_code_class(CODES[i].code) == CODES[i].cls, "class of %s is %u, want %u",
           CODES[i].name, reqivo_code_class(CODES[i].code), CODES[i].cls);
    CHECK(reqivo_code_name(CODES[i].code) == reqivo_code_name(CODES[i].code));
  }
  const uint32_t unknown[] = {12345, 1, 999, 1000, 1011, 2000, 2100, 2105, 3006,
                              4012, 5004, 6003, 7000, 9000, 9002, UINT32_MAX};
  for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
    CHECKF(strcmp(reqivo_code_name(unknown[i]), "REQIVO_ERR_UNKNOWN") == 0, "code %u named %s",
           unknown[i], reqivo_code_name(unknown[i]));
  }
  /* Classes of numbers that are no code are still their range's base. */
  CHECK_EQ(reqivo_code_class(12345), 12000);
  CHECK_EQ(reqivo_code_class(2150), 2100);
  CHECK_EQ(reqivo_code_class(2099), 2000);
  CHECK_EQ(reqivo_code_class(UINT32_MAX), 4294967000u);
  /* The class constants are what reqivo_code_class returns. */
  CHECK_EQ(reqivo_code_class(REQIVO_ERR_INVALID_URL), REQIVO_CLASS_USAGE);
  CHECK_EQ(reqivo_code_class(REQIVO_ERR_PROXY), REQIVO_CLASS_NETWORK);
  CHECK_EQ(reqivo_code_class(REQIVO_ERR_TLS_HOSTNAME), REQIVO_CLASS_TLS);
  CHECK_EQ(reqivo_code_class(REQIVO_ERR_TIMEOUT_POOL), REQIVO_CLASS_TIMEOUT);
  CHECK_EQ(reqivo_code_class(REQIVO_ERR_INVALID_CHUNK), REQIVO_CLASS_PROTOCOL);
  CHECK_EQ(reqivo_code_class(REQIVO_ERR_TOO_MANY_REDIRECTS), REQIVO_CLASS_REDIRECT);
  CHECK_EQ(reqivo_code_class(REQIVO_ERR_CANCELLED), REQIVO_CLASS_STOPPED);
  CHECK_EQ(reqivo_code_class(REQIVO_ERR_WS_CLOSED), REQIVO_CLASS_WEBSOCKET);
  CHECK_EQ(reqivo_code_class(REQIVO_ERR_PANIC), REQIVO_CLASS_INTERNAL);
}

static void test_defaults(void) {
  reqivo_timeout t = reqivo_timeout_default();
  CHECK_EQ(t.connect_ms, 5000);
  CHECK_EQ(t.read_ms, 5000);
  CHECK_EQ(t.write_ms, 5000);
  CHECK_EQ(t.total_ms, REQIVO_NO_LIMIT);
  CHECK_EQ(t.pool_ms, 5000);

  reqivo_pool_config c = reqivo_pool_config_default();
  CHECK_EQ(c.struct_size, sizeof(reqivo_pool_config));
  CHECK_EQ(c.max_per_host, 10);
  CHECK_EQ(c.max_total, 100);
  CHECK_EQ(c.max_idle_ms, 30000);
}

static void test_pool_config(void) {
  reqivo_error err;
  dirty(&err);
  reqivo_pool *p = reqivo_pool_new(NULL, &err);
  CHECK(p != NULL);
  CHECK_OK(err);
  reqivo_pool_free(p);

  reqivo_pool_config c = reqivo_pool_config_default();
  dirty(&err);
  p = reqivo_pool_new(&c, &err);
  CHECK(p != NULL);
  CHECK_OK(err);
  reqivo_pool_free(p);

  c.struct_size = 0;
  p = reqivo_pool_new(&c, &err);
  CHECK(p == NULL);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, "struct_size");

  /* The first version's size (up to max_idle_ms) is accepted: the fields
   * after it take their defaults (test_pool checks which). Less is not. */
  c.struct_size = sizeof(reqivo_pool_config) - 4;
  dirty(&err);
  p = reqivo_pool_new(&c, &err);
  CHECK(p != NULL);
  CHECK_OK(err);
  reqivo_pool_free(p);
  c.struct_size = sizeof(reqivo_pool_config) - 8;
  p = reqivo_pool_new(&c, &err);
  CHECK(p == NULL);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, "struct_size");

  /* A caller built against a later header passes a larger struct. */
  struct {
    reqivo_pool_config cfg;
    uint32_t later[4];
  } bigger;
  memset(&bigger, 0, sizeof bigger);
  bigger.cfg = reqivo_pool_config_default();
  bigger.cfg.struct_size = sizeof bigger;
  p = reqivo_pool_new(&bigger.cfg, &err);
  CHECK(p != NULL);
  CHECK_OK(err);
  reqivo_pool_free(p);

  c = reqivo_pool_config_default();
  c.max_per_host = 0;
  p = reqivo_pool_new(&c, &err);
  CHECK(p == NULL);
  CHECK_ERR(err, REQIVO_ERR_INVALID_CONFIG, "max_per_host");

  c = reqivo_pool_config_default();
  c.max_total = 0;
  p = reqivo_pool_new(&c, &err);
  CHECK(p == NULL);
  CHECK_ERR(err, REQIVO_ERR_INVALID_CONFIG, "max_total");

  /* Failing without an error struct is still just NULL. */
  p = reqivo_pool_new(&c, NULL);
  CHECK(p == NULL);
  c.struct_size = 0;
  CHECK(reqivo_pool_new(&c, NULL) == NULL);
}

static void test_pool_stats_args(void) {
  reqivo_pool *p = reqivo_pool_new(NULL, NULL);
  CHECK(p != NULL);

  reqivo_pool_stats st;
  memset(&st, 0x5a, sizeof st);
  st.struct_size = sizeof st;
  reqivo_pool_get_stats(NULL, &st); /* does nothing */
  CHECK_EQ(st.opened, 0x5a5a5a5a5a5a5a5aLL);
  reqivo_pool_get_stats(p, NULL); /* does nothing, no crash */
  reqivo_pool_get_stats(NULL, NULL);

  reqivo_pool_get_stats(p, &st);
  CHECK_EQ(st.struct_size, sizeof st);
  CHECK(st.opened == 0 && st.reused == 0 && st.closed == 0);
  CHECK(st.idle == 0 && st.in_use == 0 && st.waiting == 0);

  CHECK(st.streams_opened == 0 && st.streams_active == 0 && st.h2_connections == 0);

  /* 0 means the first version's size: up to `waiting`, nothing after. */
  memset(&st, 0x5a, sizeof st);
  st.struct_size = 0;
  reqivo_pool_get_stats(p, &st);
  CHECK_EQ(st.struct_size, offsetof(reqivo_pool_stats, streams_opened));
  CHECK_EQ(st.waiting, 0);
  CHECK_EQ(st.streams_opened, 0x5a5a5a5a5a5a5a5aLL);

  /* An older, shorter struct: nothing past its end is touched. */
  memset(&st, 0x5a, sizeof st);
  st.struct_size = offsetof(reqivo_pool_stats, reused);
  reqivo_pool_get_stats(p, &st);
  CHECK_EQ(st.struct_size, offsetof(reqivo_pool_stats, reused));
  CHECK_EQ(st.opened, 0);
  CHECK_EQ(st.reused, 0x5a5a5a5a5a5a5a5aLL);
  CHECK_EQ(st.waiting, 0x5a5a5a5a5a5a5a5aLL);

  /* Too small to hold even struct_size: nothing is written. */
  memset(&st, 0x5a, sizeof st);
  st.struct_size = 2;
  reqivo_pool_get_stats(p, &st);
  CHECK_EQ(st.struct_size, 2);
  CHECK_EQ(st.opened, 0x5a5a5a5a5a5a5a5aLL);

  reqivo_pool_free(p);
}

/* Every pointer argument NULL in turn: the documented failure value, an
 * INVALID_ARGUMENT with a message where there is an err, never a crash;
 * and the same with err itself NULL. */
static void test_null_arguments(void) {
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  reqivo_request *r = request_to("GET", "/ok", &err);
  CHECK(s != NULL && r != NULL);
  uint8_t buf[16];
  reqivo_str out = {"untouched", 9};
  reqivo_timeout t = reqivo_timeout_default();
  reqivo_limits l = {0, 0, 0, 0};

  /* Session. */
  CHECK_CODE(reqivo_session_set_base_url(NULL, "http://a/", 9, &err),
             REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, "NULL");
  CHECK_CODE(reqivo_session_set_base_url(s, NULL, 9, &err), REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, "NULL");
  CHECK_CODE(reqivo_session_set_base_url(s, NULL, 0, &err), REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, "NULL");
  CHECK_CODE(reqivo_session_set_base_url(NULL, NULL, 0, NULL), REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_CODE(reqivo_session_set_timeout(NULL, t), REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_CODE(reqivo_session_set_limits(NULL, l), REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_CODE(reqivo_session_set_max_redirects(NULL, 3), REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_CODE(reqivo_session_set_header(NULL, "X-A", 3, "b", 1, &err),
             REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, "NULL");
  CHECK_CODE(reqivo_session_set_header(s, NULL, 3, "b", 1, &err), REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, "NULL");
  CHECK_CODE(reqivo_session_set_header(s, "X-A", 3, NULL, 1, &err),
             REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, "value");
  CHECK_CODE(reqivo_session_set_header(s, "X-A", 3, NULL, 1, NULL),
             REQIVO_ERR_INVALID_ARGUMENT);
  /* NULL with length 0 is the empty string. */
  dirty(&err);
  CHECK_CODE(reqivo_session_set_header(s, "X-Empty", 7, NULL, 0, &err), REQIVO_OK);
  CHECK_OK(err);

  CHECK(reqivo_session_send(NULL, r, NULL, &err) == NULL);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, "NULL");
  CHECK(reqivo_session_send(s, NULL, NULL, &err) == NULL);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, "NULL");
  CHECK(reqivo_session_send(NULL, NULL, NULL, NULL) == NULL);
  CHECK(reqivo_session_open(NULL, r, NULL, &err) == NULL);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, "NULL");
  CHECK(reqivo_session_open(s, NULL, NULL, &err) == NULL);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, "NULL");
  CHECK(reqivo_session_open(NULL, NULL, NULL, NULL) == NULL);

  /* Request. */
  CHECK(reqivo_request_new(NULL, 3, "http://a/", 9, &err) == NULL);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, "NULL");
  CHECK(reqivo_request_new("GET", 3, NULL, 9, &err) == NULL);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, "NULL");
  CHECK(reqivo_request_new(NULL, 0, NULL, 0, NULL) == NULL);
  CHECK_CODE(reqivo_request_add_header(NULL, "X-A", 3, "b", 1, &err),
             REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, "NULL");
  CHECK_CODE(reqivo_request_add_header(r, NULL, 3, "b", 1, &err), REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, "NULL");
  CHECK_CODE(reqivo_request_add_header(r, "X-A", 3, NULL, 1, &err),
             REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, "value");
  CHECK_CODE(reqivo_request_add_header(NULL, NULL, 0, NULL, 0, NULL),
             REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_CODE(reqivo_request_set_body(NULL, buf, 1, &err), REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, "NULL");
  CHECK_CODE(reqivo_request_set_body(r, NULL, 5, &err), REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, "NULL");
  CHECK_CODE(reqivo_request_set_body(NULL, NULL, 0, NULL), REQIVO_ERR_INVALID_ARGUMENT);
  dirty(&err);
  CHECK_CODE(reqivo_request_set_body(r, NULL, 0, &err), REQIVO_OK);
  CHECK_OK(err);
  CHECK_CODE(reqivo_request_set_timeout(NULL, t), REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_CODE(reqivo_request_set_timeout(r, t), REQIVO_OK);

  /* Response and stream. */
  CHECK(!reqivo_response_header(NULL, "a", 1, 0, &out));
  CHECK(out.len == 9 && strcmp(out.ptr, "untouched") == 0);
  CHECK(reqivo_stream_response(NULL) == NULL);
  CHECK_EQ(reqivo_stream_read(NULL, buf, sizeof buf, &err), -1);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, "NULL");
  CHECK_EQ(reqivo_stream_read(NULL, NULL, 0, NULL), -1);

  /* Cancel and pool. */
  reqivo_cancel_trigger(NULL);

  /* Every _free takes NULL. */
  reqivo_pool_free(NULL);
  reqivo_session_free(NULL);
  reqivo_request_free(NULL);
  reqivo_response_free(NULL);
  reqivo_stream_free(NULL);
  reqivo_cancel_free(NULL);
  CHECK(1); /* reached: none of them crashed */

  reqivo_request_free(r);
  reqivo_session_free(s);
}

static void test_base_url(void) {
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  struct {
    const char *url;
    uint32_t code;
    const char *needle;
  } cases[] = {
      {"http://[bad", REQIVO_ERR_INVALID_URL, "http://[bad"},
      {"", REQIVO_ERR_INVALID_URL, "invalid URL"},
      {"ftp://x/", REQIVO_ERR_UNSUPPORTED_SCHEME, "ftp"},
      {"mailto:a@b", REQIVO_ERR_UNSUPPORTED_SCHEME, "mailto"},
      {"relative/path", REQIVO_ERR_INVALID_URL, "relative/path"},
      {"/abs/path", REQIVO_ERR_INVALID_URL, "/abs/path"},
      {"http://", REQIVO_ERR_INVALID_URL, "http://"},
      {"http://127.0.0.1:99999/", REQIVO_ERR_INVALID_URL, "99999"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    CHECKF(reqivo_session_set_base_url(s, cases[i].url, strlen(cases[i].url), &err) ==
               cases[i].code,
           "base URL \"%s\"", cases[i].url);
    CHECK_ERR(err, cases[i].code, cases[i].needle);
  }
  CHECK_CODE(reqivo_session_set_base_url(s, "\xff\xfe", 2, &err), REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, "UTF-8");
  dirty(&err);
  /* Only `len` bytes count: the tail is not part of the URL. */
  CHECK_CODE(reqivo_session_set_base_url(s, "http://127.0.0.1/[garbage", 17, &err), REQIVO_OK);
  CHECK_OK(err);
  reqivo_session_free(s);
}

static void test_request_new(void) {
  reqivo_error err;
  struct {
    const char *method;
    const char *url;
    uint32_t code;
    const char *needle;
  } bad[] = {
      {"GET", "http://[bad", REQIVO_ERR_INVALID_URL, "http://[bad"},
      {"GET", "ftp://x/", REQIVO_ERR_UNSUPPORTED_SCHEME, "ftp"},
      {"GET", "mailto:a@b", REQIVO_ERR_UNSUPPORTED_SCHEME, "mailto"},
      {"GET", "http://", REQIVO_ERR_INVALID_URL, "http://"},
      {"GET", "http://127.0.0.1:99999/", REQIVO_ERR_INVALID_URL, "99999"},
      {"GE T", "http://127.0.0.1/", REQIVO_ERR_INVALID_METHOD, "GE T"},
      {"", "http://127.0.0.1/", REQIVO_ERR_INVALID_METHOD, "method"},
      {"G\r\nX", "http://127.0.0.1/", REQIVO_ERR_INVALID_METHOD, "method"},
      {"GET\n", "http://127.0.0.1/", REQIVO_ERR_INVALID_METHOD, "method"},
      {"CONNECT", "http://127.0.0.1/", REQIVO_ERR_INVALID_METHOD, "CONNECT"},
      {"connect", "http://127.0.0.1/", REQIVO_ERR_INVALID_METHOD, "CONNECT"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    dirty(&err);
    reqivo_request *r = reqivo_request_new(bad[i].method, strlen(bad[i].method), bad[i].url,
                                           strlen(bad[i].url), &err);
    CHECKF(r == NULL, "%s %s was accepted", bad[i].method, bad[i].url);
    CHECK_ERR(err, bad[i].code, bad[i].needle);
    reqivo_request_free(r);
    /* And without an error struct. */
    CHECK(reqivo_request_new(bad[i].method, strlen(bad[i].method), bad[i].url,
                             strlen(bad[i].url), NULL) == NULL);
  }
  /* A NUL inside the given length is part of the method, not its end. */
  CHECK(reqivo_request_new("GET\0X", 5, "http://127.0.0.1/", 17, &err) == NULL);
  CHECK_ERR(err, REQIVO_ERR_INVALID_METHOD, "method");
  CHECK(reqivo_request_new("GET", 3, "\xff", 1, &err) == NULL);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, "UTF-8");

  const char *good[] = {"GET", "get", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS",
                        "X-CUSTOM!#$%&'*+-.^_`|~"};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    dirty(&err);
    reqivo_request *r = reqivo_request_new(good[i], strlen(good[i]), "http://127.0.0.1/", 17, &err);
    CHECKF(r != NULL, "method %s: %s", good[i], err.message);
    CHECK_OK(err);
    reqivo_request_free(r);
  }
  /* Lengths are honoured: "GET" out of "GETXYZ", the URL without its tail. */
  dirty(&err);
  reqivo_request *r = reqivo_request_new("GETXYZ", 3, "http://127.0.0.1/ \r\nX", 17, &err);
  CHECK(r != NULL);
  CHECK_OK(err);
  reqivo_request_free(r);
  /* Relative URLs are accepted here and joined at send time. */
  r = reqivo_request_new("GET", 3, "/ok", 3, &err);
  CHECK(r != NULL);
  CHECK_OK(err);
  reqivo_request_free(r);
}

/* Header validation, for requests and for session defaults. */
static void test_headers(void) {
  reqivo_error err;
  reqivo_request *r = request_to("GET", "/echo", &err);
  reqivo_session *s = reqivo_session_new(NULL, &err);
  CHECK(r != NULL && s != NULL);
  struct {
    const char *name;
    size_t nlen;
    const char *value;
    size_t vlen;
    const char *needle;
  } bad[] = {
      {"X-Bad\r", 6, "v", 1, "X-Bad"},
      {"X-Bad\n", 6, "v", 1, "X-Bad"},
      {"X-Bad\0", 6, "v", 1, "X-Bad"},
      {"X Bad", 5, "v", 1, "X Bad"},
      {"X-Bad:", 6, "v", 1, "X-Bad"},
      {"", 0, "v", 1, "header name"},
      {"X-CR", 4, "a\rb", 3, "X-CR"},
      {"X-LF", 4, "a\nb", 3, "X-LF"},
      {"X-CRLF", 6, "a\r\nX-Injected: 1", 17, "X-CRLF"},
      {"X-NUL", 5, "a\0b", 3, "X-NUL"},
      {"X-Ctl", 5, "a\x01", 2, "X-Ctl"},
      {"X-Del", 5, "a\x7f", 2, "X-Del"},
      {"X-Trail", 7, "a\r\n", 3, "X-Trail"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    dirty(&err);
    CHECKF(reqivo_request_add_header(r, bad[i].name, bad[i].nlen, bad[i].value, bad[i].vlen,
                                     &err) == REQIVO_ERR_INVALID_HEADER,
           "request header case %zu", i);
    CHECK_ERR(err, REQIVO_ERR_INVALID_HEADER, bad[i].needle);
    dirty(&err);
    CHECKF(reqivo_session_set_header(s, bad[i].name, bad[i].nlen, bad[i].value, bad[i].vlen,
                                     &err) == REQIVO_ERR_INVALID_HEADER,
           "session header case %zu", i);
    CHECK_ERR(err, REQIVO_ERR_INVALID_HEADER, bad[i].needle);
    CHECK_CODE(reqivo_request_add_header(r, bad[i].name, bad[i].nlen, bad[i].value, bad[i].vlen,
                                         NULL),
               REQIVO_ERR_INVALID_HEADER);
  }
  /* The library writes the framing headers itself. */
  CHECK_CODE(reqivo_request_add_header(r, "Content-Length", 14, "5", 1, &err),
             REQIVO_ERR_INVALID_HEADER);
  CHECK_ERR(err, REQIVO_ERR_INVALID_HEADER, "Content-Length");
  CHECK_CODE(reqivo_request_add_header(r, "transfer-encoding", 17, "chunked", 7, &err),
             REQIVO_ERR_INVALID_HEADER);
  CHECK_ERR(err, REQIVO_ERR_INVALID_HEADER, "transfer-encoding");
  /* Bindings ask which names those are rather than keep a list. */
  CHECK(reqivo_request_header_is_framing("Content-Length", 14));
  CHECK(reqivo_request_header_is_framing("TRANSFER-ENCODING", 17));
  CHECK(!reqivo_request_header_is_framing("Content-Type", 12));
  CHECK(!reqivo_request_header_is_framing("Content-Length", 7)); /* "Content" */
  CHECK(!reqivo_request_header_is_framing("Host", 4));
  /* The header docs say session headers are validated like request
   * headers, and INVALID_HEADER covers "a header the library sets itself". */
  uint32_t rc = reqivo_session_set_header(s, "Content-Length", 14, "5", 1, &err);
  CHECK(rc != REQIVO_OK && reqivo_code_class(rc) == 1000);
  CHECK_CONTAINS(err.message, "Content-Length");
  CHECK_EQ(rc, REQIVO_ERR_INVALID_HEADER);
  rc = reqivo_session_set_header(s, "Transfer-Encoding", 17, "chunked", 7, &err);
  CHECK(rc != REQIVO_OK && reqivo_code_class(rc) == 1000);
  CHECK_CONTAINS(err.message, "Transfer-Encoding");

  /* Values that are fine: tab, empty, UTF-8 text, the longest token chars. */
  dirty(&err);
  CHECK_CODE(reqivo_request_add_header(r, "X-Tab", 5, "a\tb", 3, &err), REQIVO_OK);
  CHECK_OK(err);
  dirty(&err);
  CHECK_CODE(reqivo_request_add_header(r, "X-Empty", 7, "", 0, &err), REQIVO_OK);
  CHECK_OK(err);
  dirty(&err);
  CHECK_CODE(reqivo_request_add_header(r, "X-Utf8", 6, "caf\xc3\xa9", 5, &err), REQIVO_OK);
  CHECK_OK(err);
  dirty(&err);
  CHECK_CODE(reqivo_session_set_header(s, "X-Tok!#$%&'*+-.^_`|~", 20, "v", 1, &err), REQIVO_OK);
  CHECK_OK(err);
  /* Bytes that are not UTF-8 are refused as an argument error. */
  CHECK_CODE(reqivo_request_add_header(r, "X-Bin", 5, "\xff", 1, &err),
             REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, "UTF-8");

  reqivo_session_free(s);
  reqivo_request_free(r);
}

/* Input the library rejects never reaches the network: the server sees no
 * connection and no request. */
static void test_nothing_sent(void) {
  server_counts before;
  if (!CHECK(server_stats(&before) == 0)) {
    return;
  }
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);

  /* A relative URL without a base URL fails at send time. */
  reqivo_request *r = reqivo_request_new("GET", 3, "/ok", 3, &err);
  CHECK(reqivo_session_send(s, r, NULL, &err) == NULL);
  CHECK_ERR(err, REQIVO_ERR_INVALID_URL, "base URL");
  CHECK(reqivo_session_open(s, r, NULL, &err) == NULL);
  CHECK_ERR(err, REQIVO_ERR_INVALID_URL, "base URL");
  reqivo_request_free(r);

  /* "" is an empty relative reference (the base URL itself); without a
   * base URL it fails the same way, at creation or at send. */
  r = reqivo_request_new("GET", 3, "", 0, &err);
  if (r == NULL) {
    CHECK_ERR(err, REQIVO_ERR_INVALID_URL, NULL);
  } else {
    CHECK(reqivo_session_send(s, r, NULL, &err) == NULL);
    CHECK_ERR(err, REQIVO_ERR_INVALID_URL, "base URL");
  }
  reqivo_request_free(r);

  /* Bad headers are refused when they are given, before any send. */
  r = request_to("GET", "/echo", &err);
  CHECK_CODE(reqivo_request_add_header(r, "X-Smuggle", 9, "1\r\nGET /ok HTTP/1.1", 19, &err),
             REQIVO_ERR_INVALID_HEADER);
  CHECK_CODE(reqivo_session_set_header(s, "X-Smuggle\r\n", 11, "1", 1, &err),
             REQIVO_ERR_INVALID_HEADER);
  reqivo_request_free(r);

  server_counts d = server_delta(before);
  CHECK_EQ(d.connections, 0);
  CHECK_EQ(d.requests, 0);
  reqivo_session_free(s);
}

static void test_cancel_basics(void) {
  reqivo_cancel *c = reqivo_cancel_new();
  CHECK(c != NULL);
  reqivo_cancel_trigger(c);
  reqivo_cancel_trigger(c); /* any number of times */
  reqivo_cancel_free(c);

  reqivo_cancel *a = reqivo_cancel_new();
  reqivo_cancel *b = reqivo_cancel_new();
  CHECK(a != NULL && b != NULL && a != b);
  reqivo_cancel_free(a);
  reqivo_cancel_free(b);
}

/* Setters that take no err: OK on a live session, and the error struct of
 * other calls is cleared on success. */
static void test_setters_and_clearing(void) {
  reqivo_error err;
  dirty(&err);
  reqivo_session *s = reqivo_session_new(NULL, &err);
  CHECK(s != NULL);
  CHECK_OK(err);
  reqivo_pool *p = reqivo_pool_new(NULL, NULL);
  dirty(&err);
  reqivo_session *s2 = reqivo_session_new(p, &err);
  CHECK(s2 != NULL);
  CHECK_OK(err);
  reqivo_pool_free(p);
  reqivo_session_free(s2);

  reqivo_timeout t = {1000, 2000, 3000, 4000, 5000};
  CHECK_CODE(reqivo_session_set_timeout(s, t), REQIVO_OK);
  reqivo_limits l = {100, 1000, 10, 12345};
  CHECK_CODE(reqivo_session_set_limits(s, l), REQIVO_OK);
  reqivo_limits zero = {0, 0, 0, 0};
  CHECK_CODE(reqivo_session_set_limits(s, zero), REQIVO_OK);
  CHECK_CODE(reqivo_session_set_max_redirects(s, 0), REQIVO_OK);
  CHECK_CODE(reqivo_session_set_max_redirects(s, UINT32_MAX), REQIVO_OK);
  dirty(&err);
  CHECK_CODE(reqivo_session_set_base_url(s, "http://127.0.0.1:1/base/", 24, &err), REQIVO_OK);
  CHECK_OK(err);
  dirty(&err);
  CHECK_CODE(reqivo_session_set_header(s, "X-A", 3, "1", 1, &err), REQIVO_OK);
  CHECK_OK(err);
  dirty(&err);
  CHECK_CODE(reqivo_session_set_header(s, "x-a", 3, "2", 1, &err), REQIVO_OK); /* replaces */
  CHECK_OK(err);

  dirty(&err);
  reqivo_request *r = reqivo_request_new("POST", 4, "x", 1, &err);
  CHECK(r != NULL);
  CHECK_OK(err);
  dirty(&err);
  CHECK_CODE(reqivo_request_set_body(r, (const uint8_t *)"abc", 3, &err), REQIVO_OK);
  CHECK_OK(err);
  dirty(&err);
  CHECK_CODE(reqivo_request_add_header(r, "X-B", 3, "1", 1, &err), REQIVO_OK);
  CHECK_OK(err);
  CHECK_CODE(reqivo_request_set_timeout(r, t), REQIVO_OK);
  reqivo_request_free(r);
  reqivo_session_free(s);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  test_version();
  test_codes();
  test_defaults();
  test_pool_config();
  test_pool_stats_args();
  test_null_arguments();
  test_base_url();
  test_request_new();
  test_headers();
  test_nothing_sent();
  test_cancel_basics();
  test_setters_and_clearing();
  return check_finish("test_api");
}
