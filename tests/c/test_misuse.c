/* Misuse from C: every exported function called with NULL for each pointer
 * argument, zero lengths, bytes that are not UTF-8 where text is required,
 * lengths of SIZE_MAX, and values outside its enums. Each must answer with
 * a usage error (class 1000, with `err` filled the same whether or not it
 * was given) or its documented no-op, and never crash: valgrind and ASan
 * watch every call.
 *
 * tests/c/run.sh fails when a function declared in include/reqivo.h is
 * never named here, so a new export needs a misuse case before it ships.
 * Functions that can only be reached from inside a callback (the
 * reqivo_hook_request_* family) are misused from an on_request hook. */
#define _POSIX_C_SOURCE 200809L
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "support.h"

/* Not UTF-8: a lone continuation byte and an invalid lead byte. */
static const char BAD_UTF8[] = "\x80\xff\xfe";
#define BAD_LEN 3
/* A buffer with real bytes behind it, passed with lengths that lie. */
static const char SOME[] = "x";

/* The error of the call under test: the macros run each call twice, once
 * with ERR = NULL (which must not crash either) and once with ERR = &E,
 * so every call site names `ERR` as its error argument. */
static reqivo_error E;
static reqivo_error *ERR;

static void usage_code_at(uint32_t with_err, uint32_t without_err, const char *file, int line,
                          const char *expr) {
  int ok = reqivo_code_class(with_err) == 1000 && with_err == without_err && E.code == with_err &&
           E.message[0] != '\0' && E.message[0] != 'x';
  check_atf(ok, file, line, expr, "returned %s (%u) [without err: %s], err %s (%u) \"%s\"",
            reqivo_code_name(with_err), with_err, reqivo_code_name(without_err),
            reqivo_code_name(E.code), E.code, E.message);
}

/* A call returning a code: a 1000-class code, the same in `err`. */
#define MISUSE(call)                                                  \
  do {                                                                \
    ERR = NULL;                                                       \
    uint32_t without_ = (uint32_t)(call);                             \
    dirty(&E);                                                        \
    ERR = &E;                                                         \
    uint32_t with_ = (uint32_t)(call);                                \
    usage_code_at(with_, without_, __FILE__, __LINE__, #call);        \
  } while (0)

static void usage_ptr_at(const void *with_err, const void *without_err, const char *file,
                         int line, const char *expr) {
  int ok = with_err == NULL && without_err == NULL && reqivo_code_class(E.code) == 1000 &&
           E.message[0] != '\0' && E.message[0] != 'x';
  check_atf(ok, file, line, expr, "returned %p [without err: %p], err %s (%u) \"%s\"", with_err,
            without_err, reqivo_code_name(E.code), E.code, E.message);
}

/* A call returning a pointer: NULL, and a 1000-class code in `err`. */
#define MISUSE_NULL(call)                                             \
  do {                                                                \
    ERR = NULL;                                                       \
    const void *without_ = (const void *)(call);                      \
    dirty(&E);                                                        \
    ERR = &E;                                                         \
    const void *with_ = (const void *)(call);                         \
    usage_ptr_at(with_, without_, __FILE__, __LINE__, #call);         \
  } while (0)

/* A call with no error argument that returns a code. */
#define MISUSE_CODE(call)                                                                    \
  check_atf(reqivo_code_class((uint32_t)(call)) == 1000, __FILE__, __LINE__, #call,         \
            "returned %s", reqivo_code_name((uint32_t)(call)))

/* A documented no-op (void, NULL argument ignored): reaching the next
 * line without a crash is the test; counted so the tally shows it ran. */
#define NOOP(call)        \
  do {                    \
    call;                 \
    CHECK(#call != NULL); \
  } while (0)

/* ---------------------------------------------------------------- library */

static void misuse_library(void) {
  /* No pointers in; unknown codes have a name and a class, never NULL. */
  CHECK(reqivo_version() != NULL);
  CHECK_STR_EQ(reqivo_code_name(UINT32_MAX), "REQIVO_ERR_UNKNOWN");
  CHECK_STR_EQ(reqivo_code_name(1000), "REQIVO_ERR_UNKNOWN");
  CHECK_EQ(reqivo_code_class(999), 0);
  reqivo_timeout t = reqivo_timeout_default();
  CHECK_EQ(t.read_ms, 5000);
  reqivo_pool_config c = reqivo_pool_config_default();
  CHECK_EQ(c.struct_size, sizeof c);

  NOOP(reqivo_cancel_trigger(NULL));
  NOOP(reqivo_cancel_free(NULL));
  reqivo_cancel *cancel = reqivo_cancel_new();
  CHECK(cancel != NULL);
  reqivo_cancel_trigger(cancel);
  reqivo_cancel_trigger(cancel); /* twice is fine */
  reqivo_cancel_free(cancel);
}

/* ------------------------------------------------------------------- pool */

static void misuse_pool(void) {
  reqivo_pool_config c = reqivo_pool_config_default();
  c.struct_size = 0;
  MISUSE_NULL(reqivo_pool_new(&c, ERR));
  c.struct_size = 1;
  MISUSE_NULL(reqivo_pool_new(&c, ERR));
  c.struct_size = 12; /* short of the first version (16) */
  MISUSE_NULL(reqivo_pool_new(&c, ERR));
  c = reqivo_pool_config_default();
  c.max_per_host = 0;
  MISUSE_NULL(reqivo_pool_new(&c, ERR));
  c = reqivo_pool_config_default();
  c.max_total = 0;
  MISUSE_NULL(reqivo_pool_new(&c, ERR));

  NOOP(reqivo_pool_free(NULL));
  NOOP(reqivo_pool_close_idle(NULL));
  reqivo_pool_stats st;
  memset(&st, 0x5a, sizeof st);
  st.struct_size = sizeof st;
  reqivo_pool_get_stats(NULL, &st);
  CHECK_EQ(st.opened, 0x5a5a5a5a5a5a5a5aull); /* untouched */
  reqivo_pool *p = reqivo_pool_new(NULL, NULL);
  CHECK(p != NULL);
  NOOP(reqivo_pool_get_stats(p, NULL));
  /* A struct_size too small for even itself: nothing is written. */
  memset(&st, 0x5a, sizeof st);
  st.struct_size = 2;
  reqivo_pool_get_stats(p, &st);
  CHECK_EQ(st.opened, 0x5a5a5a5a5a5a5a5aull);
  reqivo_pool_close_idle(p);
  reqivo_pool_free(p);
}

/* ---------------------------------------------------------------- session */

static int32_t log_sink_calls;
static void log_sink(void *userdata, uint32_t level, const char *message, size_t len) {
  (void)userdata, (void)level, (void)message, (void)len;
  log_sink_calls++;
}

static void misuse_session(reqivo_session *s) {
  NOOP(reqivo_session_free(NULL));
  CHECK(reqivo_session_pool(NULL) == NULL);

  /* set_base_url */
  MISUSE(reqivo_session_set_base_url(NULL, "http://a/", 9, ERR));
  MISUSE(reqivo_session_set_base_url(s, NULL, 9, ERR));
  MISUSE(reqivo_session_set_base_url(s, SOME, 0, ERR));
  MISUSE(reqivo_session_set_base_url(s, BAD_UTF8, BAD_LEN, ERR));
  MISUSE(reqivo_session_set_base_url(s, SOME, SIZE_MAX, ERR));
  MISUSE(reqivo_session_set_base_url(s, "relative/", 9, ERR));
  MISUSE(reqivo_session_set_base_url(s, "ftp://h/", 8, ERR));

  /* Setters without an error argument. */
  MISUSE_CODE(reqivo_session_set_tls(NULL, NULL));
  MISUSE_CODE(reqivo_session_set_timeout(NULL, reqivo_timeout_default()));
  reqivo_limits l = {0, 0, 0, 0};
  MISUSE_CODE(reqivo_session_set_limits(NULL, l));
  MISUSE_CODE(reqivo_session_set_max_redirects(NULL, 3));
  MISUSE_CODE(reqivo_session_set_cookies(NULL, true));
  MISUSE_CODE(reqivo_session_set_cookie_limits(NULL, 0, 0, 0));
  MISUSE_CODE(reqivo_session_clear_cookies(NULL));
  MISUSE_CODE(reqivo_session_set_decompress(NULL, false));
  MISUSE_CODE(reqivo_session_set_hooks(NULL, NULL, NULL, NULL));
  MISUSE_CODE(reqivo_session_set_logger(NULL, log_sink, NULL, REQIVO_LOG_ERROR));

  /* set_retry: a short struct, no attempt, unknown flags; NULL is off. */
  reqivo_retry rp = reqivo_retry_default();
  CHECK_EQ(rp.struct_size, sizeof rp);
  MISUSE(reqivo_session_set_retry(NULL, &rp, ERR));
  rp.struct_size = 16;
  MISUSE(reqivo_session_set_retry(s, &rp, ERR));
  rp = reqivo_retry_default();
  rp.max_attempts = 0;
  MISUSE(reqivo_session_set_retry(s, &rp, ERR));
  rp = reqivo_retry_default();
  rp.flags |= 1u << 20;
  MISUSE(reqivo_session_set_retry(s, &rp, ERR));
  CHECK_EQ(reqivo_session_set_retry(s, NULL, NULL), 0);
  /* set_http_version: NULL, and a version that does not exist. */
  MISUSE(reqivo_session_set_http_version(NULL, REQIVO_HTTP_VERSION_2, ERR));
  MISUSE(reqivo_session_set_http_version(s, 3, ERR));
  CHECK_EQ(reqivo_session_set_http_version(s, REQIVO_HTTP_VERSION_DEFAULT, NULL), 0);
  /* An unknown log level, with and without a callback. */
  MISUSE_CODE(reqivo_session_set_logger(s, log_sink, NULL, REQIVO_LOG_ERROR + 1));
  MISUSE_CODE(reqivo_session_set_logger(s, log_sink, NULL, UINT32_MAX));
  CHECK_CODE(reqivo_session_set_logger(s, NULL, NULL, 0), REQIVO_OK); /* removes */

  /* set_header */
  MISUSE(reqivo_session_set_header(NULL, "A", 1, "b", 1, ERR));
  MISUSE(reqivo_session_set_header(s, NULL, 1, "b", 1, ERR));
  MISUSE(reqivo_session_set_header(s, "A", 1, NULL, 1, ERR));
  MISUSE(reqivo_session_set_header(s, SOME, 0, "b", 1, ERR));
  MISUSE(reqivo_session_set_header(s, BAD_UTF8, BAD_LEN, "b", 1, ERR));
  MISUSE(reqivo_session_set_header(s, "A", 1, BAD_UTF8, BAD_LEN, ERR));
  MISUSE(reqivo_session_set_header(s, SOME, SIZE_MAX, "b", 1, ERR));
  MISUSE(reqivo_session_set_header(s, "A", 1, SOME, SIZE_MAX, ERR));
  MISUSE(reqivo_session_set_header(s, "A", 1, "b\r\nX: y", 7, ERR));
  MISUSE(reqivo_session_set_header(s, "Content-Length", 14, "1", 1, ERR));

  /* basic auth */
  MISUSE(reqivo_session_set_basic_auth(NULL, "u", 1, "p", 1, ERR));
  MISUSE(reqivo_session_set_basic_auth(s, NULL, 1, "p", 1, ERR));
  MISUSE(reqivo_session_set_basic_auth(s, "u", 1, NULL, 1, ERR));
  MISUSE(reqivo_session_set_basic_auth(s, BAD_UTF8, BAD_LEN, "p", 1, ERR));
  MISUSE(reqivo_session_set_basic_auth(s, "u", 1, BAD_UTF8, BAD_LEN, ERR));
  MISUSE(reqivo_session_set_basic_auth(s, SOME, SIZE_MAX, "p", 1, ERR));
  MISUSE(reqivo_session_set_basic_auth(s, "u", 1, SOME, SIZE_MAX, ERR));
  MISUSE(reqivo_session_set_basic_auth(s, "u:v", 3, "p", 1, ERR));

  /* digest auth */
  MISUSE(reqivo_session_set_digest_auth(NULL, "u", 1, "p", 1, ERR));
  MISUSE(reqivo_session_set_digest_auth(s, NULL, 1, "p", 1, ERR));
  MISUSE(reqivo_session_set_digest_auth(s, "u", 1, NULL, 1, ERR));
  MISUSE(reqivo_session_set_digest_auth(s, BAD_UTF8, BAD_LEN, "p", 1, ERR));
  MISUSE(reqivo_session_set_digest_auth(s, "u", 1, BAD_UTF8, BAD_LEN, ERR));
  MISUSE(reqivo_session_set_digest_auth(s, SOME, SIZE_MAX, "p", 1, ERR));
  MISUSE(reqivo_session_set_digest_auth(s, "u", 1, SOME, SIZE_MAX, ERR));

  /* bearer token (empty removes it: not misuse) */
  MISUSE(reqivo_session_set_bearer_token(NULL, "t", 1, ERR));
  MISUSE(reqivo_session_set_bearer_token(s, NULL, 1, ERR));
  MISUSE(reqivo_session_set_bearer_token(s, BAD_UTF8, BAD_LEN, ERR));
  MISUSE(reqivo_session_set_bearer_token(s, SOME, SIZE_MAX, ERR));
  MISUSE(reqivo_session_set_bearer_token(s, "a b", 3, ERR));

  /* cookies: save and load */
  char buf[64];
  size_t n = 0;
  MISUSE(reqivo_session_save_cookies(NULL, buf, sizeof buf, &n, ERR));
  MISUSE(reqivo_session_save_cookies(s, buf, sizeof buf, NULL, ERR));
  MISUSE(reqivo_session_save_cookies(s, NULL, sizeof buf, &n, ERR));
  MISUSE(reqivo_session_save_cookies(s, buf, 0, &n, ERR));
  MISUSE(reqivo_session_load_cookies(NULL, "", 0, ERR));
  MISUSE(reqivo_session_load_cookies(s, NULL, 3, ERR));
  MISUSE(reqivo_session_load_cookies(s, BAD_UTF8, BAD_LEN, ERR));
  MISUSE(reqivo_session_load_cookies(s, SOME, SIZE_MAX, ERR));
  MISUSE(reqivo_session_load_cookies(s, "not a jar", 9, ERR));
  MISUSE(reqivo_session_set_public_suffix_list(NULL, "", 0, ERR));
  MISUSE(reqivo_session_set_public_suffix_list(s, NULL, 3, ERR));
  MISUSE(reqivo_session_set_public_suffix_list(s, BAD_UTF8, BAD_LEN, ERR));
  MISUSE(reqivo_session_set_public_suffix_list(s, SOME, SIZE_MAX, ERR));
  MISUSE(reqivo_session_set_public_suffix_list(s, "co.uk", 5, ERR)); /* no sections */

  /* proxies */
  MISUSE(reqivo_session_set_proxy(NULL, "p.test", 6, ERR));
  MISUSE(reqivo_session_set_proxy(s, NULL, 3, ERR));
  MISUSE(reqivo_session_set_proxy(s, BAD_UTF8, BAD_LEN, ERR));
  MISUSE(reqivo_session_set_proxy(s, SOME, SIZE_MAX, ERR));
  MISUSE(reqivo_session_set_proxy(s, "socks4://p.test", 15, ERR));
  MISUSE(reqivo_session_set_proxy(s, "https://p.test", 14, ERR));
  MISUSE(reqivo_session_set_proxy(s, "socks5h://", 10, ERR)); /* no host */
  MISUSE(reqivo_session_set_proxy(s, "socks5://p.test/path", 20, ERR));
  MISUSE(reqivo_session_set_proxy(s, "http://p.test/path", 18, ERR));
  MISUSE(reqivo_session_set_no_proxy(NULL, "a", 1, ERR));
  MISUSE(reqivo_session_set_no_proxy(s, NULL, 3, ERR));
  MISUSE(reqivo_session_set_no_proxy(s, BAD_UTF8, BAD_LEN, ERR));
  MISUSE(reqivo_session_set_no_proxy(s, SOME, SIZE_MAX, ERR));
  MISUSE(reqivo_session_use_env_proxy(NULL, ERR));

  /* where connections go */
  MISUSE(reqivo_session_add_resolve(NULL, "h:80:127.0.0.1", 14, ERR));
  MISUSE(reqivo_session_add_resolve(s, NULL, 3, ERR));
  MISUSE(reqivo_session_add_resolve(s, BAD_UTF8, BAD_LEN, ERR));
  MISUSE(reqivo_session_add_resolve(s, SOME, SIZE_MAX, ERR));
  MISUSE(reqivo_session_add_resolve(s, "h:80:not-an-ip", 14, ERR));
  MISUSE(reqivo_session_add_connect_to(NULL, "h:80:b:81", 9, ERR));
  MISUSE(reqivo_session_add_connect_to(s, NULL, 3, ERR));
  MISUSE(reqivo_session_add_connect_to(s, BAD_UTF8, BAD_LEN, ERR));
  MISUSE(reqivo_session_add_connect_to(s, "h:80:b", 6, ERR));
  MISUSE(reqivo_session_add_connect_to(s, NULL, 0, ERR)); /* empty is malformed */
  MISUSE(reqivo_session_set_unix_socket(NULL, "/s", 2, ERR));
  MISUSE(reqivo_session_set_unix_socket(s, NULL, 3, ERR));
  MISUSE(reqivo_session_set_unix_socket(s, SOME, SIZE_MAX, ERR));
  MISUSE(reqivo_session_set_unix_socket(s, "/a\0b", 4, ERR));
}

/* ---------------------------------------------------------------- request */

static int64_t never_read(void *userdata, uint8_t *buf, size_t cap) {
  (void)userdata, (void)buf, (void)cap;
  return 0;
}

static void misuse_request(void) {
  char url[128];
  url_to(url, sizeof url, "/ok");
  size_t ulen = strlen(url);
  MISUSE_NULL(reqivo_request_new(NULL, 3, url, ulen, ERR));
  MISUSE_NULL(reqivo_request_new("GET", 3, NULL, ulen, ERR));
  MISUSE_NULL(reqivo_request_new(SOME, 0, url, ulen, ERR));
  MISUSE_NULL(reqivo_request_new(BAD_UTF8, BAD_LEN, url, ulen, ERR));
  MISUSE_NULL(reqivo_request_new("GET", 3, BAD_UTF8, BAD_LEN, ERR));
  MISUSE_NULL(reqivo_request_new(SOME, SIZE_MAX, url, ulen, ERR));
  MISUSE_NULL(reqivo_request_new("GET", 3, SOME, SIZE_MAX, ERR));
  MISUSE_NULL(reqivo_request_new("G T", 3, url, ulen, ERR));
  MISUSE_NULL(reqivo_request_new("CONNECT", 7, url, ulen, ERR));
  MISUSE_NULL(reqivo_request_new("GET", 3, "gopher://h/", 11, ERR));
  MISUSE_NULL(reqivo_request_new("GET", 3, "http://", 7, ERR));

  reqivo_request *r = reqivo_request_new("POST", 4, url, ulen, NULL);
  CHECK(r != NULL);

  MISUSE(reqivo_request_add_header(NULL, "A", 1, "b", 1, ERR));
  MISUSE_CODE(reqivo_request_set_idempotent(NULL, true));
  CHECK(!reqivo_request_header_is_framing(NULL, 14));
  CHECK(!reqivo_request_header_is_framing(NULL, 0));
  CHECK(!reqivo_request_header_is_framing("\xff\xfe", 2));
  MISUSE(reqivo_request_add_header(r, NULL, 1, "b", 1, ERR));
  MISUSE(reqivo_request_add_header(r, "A", 1, NULL, 1, ERR));
  MISUSE(reqivo_request_add_header(r, SOME, 0, "b", 1, ERR));
  MISUSE(reqivo_request_add_header(r, BAD_UTF8, BAD_LEN, "b", 1, ERR));
  MISUSE(reqivo_request_add_header(r, "A", 1, BAD_UTF8, BAD_LEN, ERR));
  MISUSE(reqivo_request_add_header(r, SOME, SIZE_MAX, "b", 1, ERR));
  MISUSE(reqivo_request_add_header(r, "A", 1, SOME, SIZE_MAX, ERR));
  MISUSE(reqivo_request_add_header(r, "A", 1, "b\nc", 3, ERR));
  MISUSE(reqivo_request_add_header(r, "Transfer-Encoding", 17, "chunked", 7, ERR));

  MISUSE(reqivo_request_set_body(NULL, (const uint8_t *)"b", 1, ERR));
  MISUSE(reqivo_request_set_body(r, NULL, 1, ERR));
  MISUSE(reqivo_request_set_body(r, (const uint8_t *)SOME, SIZE_MAX, ERR));

  MISUSE(reqivo_request_set_body_callback(NULL, never_read, NULL, 0, ERR));
  MISUSE(reqivo_request_set_body_callback(r, NULL, NULL, 0, ERR));
  MISUSE(reqivo_request_set_body_callback(r, never_read, NULL, -2, ERR));
  MISUSE(reqivo_request_set_body_callback(r, never_read, NULL, INT64_MIN, ERR));

  MISUSE(reqivo_request_set_json(NULL, "{}", 2, ERR));
  MISUSE(reqivo_request_set_json(r, NULL, 2, ERR));
  MISUSE(reqivo_request_set_json(r, SOME, 0, ERR));
  MISUSE(reqivo_request_set_json(r, BAD_UTF8, BAD_LEN, ERR));
  MISUSE(reqivo_request_set_json(r, SOME, SIZE_MAX, ERR));
  MISUSE(reqivo_request_set_json(r, "{\"a\":", 5, ERR));

  MISUSE_CODE(reqivo_request_set_progress(NULL, NULL, NULL));
  MISUSE_CODE(reqivo_request_set_timeout(NULL, reqivo_timeout_default()));
  NOOP(reqivo_request_free(NULL));
  reqivo_request_free(r);
}

/* Forms: a missing, unreadable or non-regular file is refused when added
 * (REQIVO_ERR_INVALID_ARGUMENT naming it), not when sent. */
static void misuse_multipart(void) {
  reqivo_multipart *mp = reqivo_multipart_new();
  CHECK(mp != NULL);
  MISUSE(reqivo_multipart_add_field(NULL, "a", 1, "b", 1, ERR));
  MISUSE(reqivo_multipart_add_field(mp, NULL, 1, "b", 1, ERR));
  MISUSE(reqivo_multipart_add_field(mp, "a", 1, NULL, 1, ERR));
  MISUSE(reqivo_multipart_add_field(mp, BAD_UTF8, BAD_LEN, "b", 1, ERR));
  MISUSE(reqivo_multipart_add_field(mp, SOME, SIZE_MAX, "b", 1, ERR));
  MISUSE(reqivo_multipart_add_field(mp, "a", 1, SOME, SIZE_MAX, ERR));
  MISUSE(reqivo_multipart_add_file(NULL, "f", 1, "/etc/hostname", 13, NULL, 0, ERR));
  MISUSE(reqivo_multipart_add_file(mp, NULL, 1, "/etc/hostname", 13, NULL, 0, ERR));
  MISUSE(reqivo_multipart_add_file(mp, "f", 1, NULL, 13, NULL, 0, ERR));
  MISUSE(reqivo_multipart_add_file(mp, "f", 1, "/etc/hostname", 13, NULL, 4, ERR));
  MISUSE(reqivo_multipart_add_file(mp, "f", 1, BAD_UTF8, BAD_LEN, NULL, 0, ERR));
  MISUSE(reqivo_multipart_add_file(mp, "f", 1, "/nonexistent/reqivo", 19, NULL, 0, ERR));
  CHECK_ERR(E, REQIVO_ERR_INVALID_ARGUMENT, "/nonexistent/reqivo");
  MISUSE(reqivo_multipart_add_file(mp, "f", 1, "/tmp", 4, NULL, 0, ERR));
  CHECK_ERR(E, REQIVO_ERR_INVALID_ARGUMENT, "not a regular file");
  MISUSE(reqivo_multipart_add_file(mp, "f", 1, "/etc/hostname", 13, "a\r\nb", 4, ERR));
  CHECK_ERR(E, REQIVO_ERR_INVALID_HEADER, "Content-Type");
  reqivo_request *r = request_to("POST", "/ok", NULL);
  MISUSE(reqivo_request_set_multipart(NULL, mp, ERR));
  MISUSE(reqivo_request_set_multipart(r, NULL, ERR));
  reqivo_request_free(r);
  NOOP(reqivo_multipart_free(NULL));
  reqivo_multipart_free(mp);
}

/* ----------------------------------------------------- sending and streams */

static void misuse_send(reqivo_session *s) {
  reqivo_request *r = request_to("GET", "/ok", NULL);
  CHECK(r != NULL);
  MISUSE_NULL(reqivo_session_send(NULL, r, NULL, ERR));
  MISUSE_NULL(reqivo_session_send(s, NULL, NULL, ERR));
  MISUSE_NULL(reqivo_session_open(NULL, r, NULL, ERR));
  MISUSE_NULL(reqivo_session_open(s, NULL, NULL, ERR));
  /* A relative URL needs a base URL, which this session has none of. */
  reqivo_request *rel = reqivo_request_new("GET", 3, "/ok", 3, NULL);
  CHECK(rel != NULL);
  MISUSE_NULL(reqivo_session_send(s, rel, NULL, ERR));
  MISUSE_NULL(reqivo_session_open(s, rel, NULL, ERR));
  reqivo_request_free(rel);
  /* An empty URL is the empty relative reference (RFC 3986 §4.2): accepted
   * when built, refused when sent without a base URL. */
  reqivo_request *empty = reqivo_request_new("GET", 3, SOME, 0, NULL);
  CHECK(empty != NULL);
  MISUSE_NULL(reqivo_session_send(s, empty, NULL, ERR));
  reqivo_request_free(empty);

  NOOP(reqivo_response_free(NULL));
  NOOP(reqivo_stream_free(NULL));
  CHECK(reqivo_stream_response(NULL) == NULL);
  size_t count = 7;
  CHECK(reqivo_stream_trailers(NULL, &count) == NULL && count == 0);
  CHECK(reqivo_stream_trailers(NULL, NULL) == NULL);
  count = 7;
  CHECK(reqivo_response_trailers(NULL, &count) == NULL && count == 0);
  uint8_t buf[16];
  int64_t got;
  ERR = &E;
  dirty(&E);
  got = reqivo_stream_read(NULL, buf, sizeof buf, ERR);
  CHECK(got == -1 && E.code == REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_EQ(reqivo_stream_read(NULL, buf, sizeof buf, NULL), -1);

  reqivo_error err;
  reqivo_stream *st = reqivo_session_open(s, r, NULL, &err);
  CHECK(st != NULL);
  if (st != NULL) {
    dirty(&E);
    got = reqivo_stream_read(st, NULL, sizeof buf, &E);
    CHECK(got == -1 && E.code == REQIVO_ERR_INVALID_ARGUMENT);
    dirty(&E);
    got = reqivo_stream_read(st, buf, 0, &E);
    CHECK(got == -1 && E.code == REQIVO_ERR_INVALID_ARGUMENT);
    CHECK_EQ(reqivo_stream_read(st, buf, 0, NULL), -1);
    /* The stream itself is unaffected by the misuse. */
    got = reqivo_stream_read(st, buf, sizeof buf, &err);
    CHECK_EQ(got, 6);
    CHECK(memcmp(buf, "hello\n", 6) == 0);
    CHECK_EQ(reqivo_stream_read(st, buf, sizeof buf, &err), 0);
    reqivo_stream_free(st);
  }
  reqivo_request_free(r);
}

/* -------------------------------------------------------- response and JSON */

static void misuse_response(reqivo_session *s) {
  reqivo_error err;
  const reqivo_response *resp = get(s, "/json", &err);
  CHECK(resp != NULL);
  if (resp == NULL) {
    return;
  }
  reqivo_str v = {"untouched", 9};
  CHECK(!reqivo_response_header(NULL, "Content-Type", 12, 0, &v));
  CHECK(!reqivo_response_header(resp, NULL, 12, 0, &v));
  CHECK(!reqivo_response_header(resp, "Content-Type", 12, 0, NULL));
  CHECK(!reqivo_response_header(resp, SOME, SIZE_MAX, 0, &v));
  CHECK(!reqivo_response_header(resp, BAD_UTF8, BAD_LEN, 0, &v));
  CHECK(!reqivo_response_header(resp, "Content-Type", 12, SIZE_MAX, &v));
  CHECK(!reqivo_response_header(resp, SOME, 0, 0, &v));
  CHECK(v.len == 9 && strcmp(v.ptr, "untouched") == 0);

  reqivo_json_value jv;
  memset(&jv, 0, sizeof jv);
  jv.struct_size = sizeof jv;
  MISUSE(reqivo_response_json(NULL, "", 0, &jv, ERR));
  MISUSE(reqivo_response_json(resp, "", 0, NULL, ERR));
  MISUSE(reqivo_response_json(resp, NULL, 3, &jv, ERR));
  MISUSE(reqivo_response_json(resp, BAD_UTF8, BAD_LEN, &jv, ERR));
  MISUSE(reqivo_response_json(resp, SOME, SIZE_MAX, &jv, ERR));
  MISUSE(reqivo_response_json(resp, "no-slash", 8, &jv, ERR));
  MISUSE(reqivo_response_json(resp, "/no/such/member", 15, &jv, ERR));
  jv.struct_size = 0;
  MISUSE(reqivo_response_json(resp, "", 0, &jv, ERR));
  MISUSE(reqivo_json_lookup((const uint8_t *)"1", 1, "", 0, &jv, ERR));
  jv.struct_size = sizeof jv;
  MISUSE(reqivo_json_lookup(NULL, 3, "", 0, &jv, ERR));
  MISUSE(reqivo_json_lookup((const uint8_t *)"1", 1, "", 0, NULL, ERR));
  MISUSE(reqivo_json_lookup((const uint8_t *)"1", 1, NULL, 2, &jv, ERR));
  MISUSE(reqivo_json_lookup((const uint8_t *)"1", 1, BAD_UTF8, BAD_LEN, &jv, ERR));
  MISUSE(reqivo_json_lookup((const uint8_t *)"1", SIZE_MAX, "", 0, &jv, ERR));

  /* json_string: a value that is no string, NULL value and length. */
  CHECK_CODE(reqivo_response_json(resp, "", 0, &jv, &err), REQIVO_OK);
  char buf[8];
  size_t n = 0;
  MISUSE(reqivo_json_string(NULL, buf, sizeof buf, &n, ERR));
  MISUSE(reqivo_json_string(&jv, buf, sizeof buf, NULL, ERR));
  MISUSE(reqivo_json_string(&jv, buf, sizeof buf, &n, ERR)); /* the root is an object */
  MISUSE(reqivo_json_string(&jv, NULL, 0, &n, ERR));
  reqivo_response_free(resp);

  /* A body that is not JSON. */
  resp = get(s, "/ok", &err);
  CHECK(resp != NULL);
  MISUSE(reqivo_response_json(resp, "", 0, &jv, ERR));
  reqivo_response_free(resp);
}

/* ------------------------------------------------------------------- hooks */

/* The hook request exists only during the callback, so its misuse runs
 * there; the codes are recorded and checked after the send. */
#define HOOK_CALLS 16
static uint32_t hook_codes[HOOK_CALLS];
static uint32_t hook_codes_noerr[HOOK_CALLS];
static int hook_ncodes;
static int hook_empty_strs;
static int hook_ran;

static int32_t misuse_in_hook(void *userdata, reqivo_hook_request *r) {
  (void)userdata;
  hook_ran++;
  reqivo_str m = reqivo_hook_request_method(NULL);
  reqivo_str u = reqivo_hook_request_url(NULL);
  hook_empty_strs += m.len == 0 && m.ptr != NULL && u.len == 0 && u.ptr != NULL;
  hook_empty_strs += reqivo_hook_request_method(r).len == 3 && reqivo_hook_request_url(r).len > 0;
#define IN_HOOK(call)                                         \
  do {                                                        \
    if (hook_ncodes < HOOK_CALLS) {                           \
      ERR = NULL;                                             \
      hook_codes_noerr[hook_ncodes] = (call);                 \
      ERR = &E;                                               \
      hook_codes[hook_ncodes++] = (call);                     \
    }                                                         \
  } while (0)
  IN_HOOK(reqivo_hook_request_set_header(NULL, "A", 1, "b", 1, ERR));
  IN_HOOK(reqivo_hook_request_set_header(r, NULL, 1, "b", 1, ERR));
  IN_HOOK(reqivo_hook_request_set_header(r, "A", 1, NULL, 1, ERR));
  IN_HOOK(reqivo_hook_request_set_header(r, BAD_UTF8, BAD_LEN, "b", 1, ERR));
  IN_HOOK(reqivo_hook_request_set_header(r, "A", 1, SOME, SIZE_MAX, ERR));
  IN_HOOK(reqivo_hook_request_set_header(r, SOME, 0, "b", 1, ERR));
  IN_HOOK(reqivo_hook_request_add_header(NULL, "A", 1, "b", 1, ERR));
  IN_HOOK(reqivo_hook_request_add_header(r, NULL, 1, "b", 1, ERR));
  IN_HOOK(reqivo_hook_request_add_header(r, "A", 1, BAD_UTF8, BAD_LEN, ERR));
  IN_HOOK(reqivo_hook_request_add_header(r, SOME, SIZE_MAX, "b", 1, ERR));
  IN_HOOK(reqivo_hook_request_add_header(r, "A", 1, "b\r\n", 3, ERR));
  IN_HOOK(reqivo_hook_request_remove_header(NULL, "A", 1, ERR));
  IN_HOOK(reqivo_hook_request_remove_header(r, NULL, 1, ERR));
  IN_HOOK(reqivo_hook_request_remove_header(r, BAD_UTF8, BAD_LEN, ERR));
  IN_HOOK(reqivo_hook_request_remove_header(r, SOME, SIZE_MAX, ERR));
  IN_HOOK(reqivo_hook_request_remove_header(r, "Host", 4, ERR));
#undef IN_HOOK
  return 0;
}

static void misuse_hooks(void) {
  reqivo_session *s = reqivo_session_new(NULL, NULL);
  CHECK(s != NULL);
  CHECK_CODE(reqivo_session_set_hooks(s, misuse_in_hook, NULL, NULL), REQIVO_OK);
  reqivo_error err;
  const reqivo_response *resp = get(s, "/ok", &err);
  CHECKF(body_is(resp, "hello\n"), "%s: %s", reqivo_code_name(err.code), err.message);
  reqivo_response_free(resp);
  CHECK_EQ(hook_ran, 1);
  CHECK_EQ(hook_empty_strs, 2);
  CHECK_EQ(hook_ncodes, HOOK_CALLS);
  for (int i = 0; i < hook_ncodes; i++) {
    CHECKF(reqivo_code_class(hook_codes[i]) == 1000 && hook_codes[i] == hook_codes_noerr[i],
           "hook call %d returned %s (without err: %s)", i, reqivo_code_name(hook_codes[i]),
           reqivo_code_name(hook_codes_noerr[i]));
  }
  reqivo_session_free(s);
}

/* --------------------------------------------------------------------- TLS */

static void misuse_tls(reqivo_session *s) {
  NOOP(reqivo_tls_config_builder_free(NULL));
  NOOP(reqivo_tls_config_free(NULL));
  MISUSE_NULL(reqivo_tls_config_builder_build(NULL, ERR));

  reqivo_tls_config_builder *b = reqivo_tls_config_builder_new();
  CHECK(b != NULL);
  const uint8_t *some = (const uint8_t *)SOME;
  MISUSE(reqivo_tls_config_builder_add_root_pem(NULL, some, 1, ERR));
  MISUSE(reqivo_tls_config_builder_add_root_pem(b, NULL, 1, ERR));
  MISUSE(reqivo_tls_config_builder_add_root_pem(b, some, 0, ERR));
  MISUSE(reqivo_tls_config_builder_add_root_pem(b, some, SIZE_MAX, ERR));
  MISUSE(reqivo_tls_config_builder_add_root_pem(b, (const uint8_t *)BAD_UTF8, BAD_LEN, ERR));
  MISUSE(reqivo_tls_config_builder_add_root_pem(
      b, (const uint8_t *)"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n", 60,
      ERR));

  MISUSE(reqivo_tls_config_builder_set_client_auth_pem(NULL, some, 1, some, 1, ERR));
  MISUSE(reqivo_tls_config_builder_set_client_auth_pem(b, NULL, 1, some, 1, ERR));
  MISUSE(reqivo_tls_config_builder_set_client_auth_pem(b, some, 1, NULL, 1, ERR));
  MISUSE(reqivo_tls_config_builder_set_client_auth_pem(b, some, 0, some, 0, ERR));
  MISUSE(reqivo_tls_config_builder_set_client_auth_pem(b, some, SIZE_MAX, some, 1, ERR));
  MISUSE(reqivo_tls_config_builder_set_client_auth_pem(b, some, 1, some, SIZE_MAX, ERR));

  MISUSE(reqivo_tls_config_builder_set_min_version(NULL, REQIVO_TLS_VERSION_1_2, ERR));
  MISUSE(reqivo_tls_config_builder_set_min_version(b, 0, ERR));
  MISUSE(reqivo_tls_config_builder_set_min_version(b, 0x0302, ERR)); /* TLS 1.1 */
  MISUSE(reqivo_tls_config_builder_set_min_version(b, 0x0305, ERR));
  MISUSE(reqivo_tls_config_builder_set_min_version(b, UINT32_MAX, ERR));

  MISUSE(reqivo_tls_config_builder_add_spki_pin_sha256(NULL, "a", 1, ERR));
  MISUSE(reqivo_tls_config_builder_add_spki_pin_sha256(b, NULL, 1, ERR));
  MISUSE(reqivo_tls_config_builder_add_spki_pin_sha256(b, SOME, 0, ERR));
  MISUSE(reqivo_tls_config_builder_add_spki_pin_sha256(b, BAD_UTF8, BAD_LEN, ERR));
  MISUSE(reqivo_tls_config_builder_add_spki_pin_sha256(b, SOME, SIZE_MAX, ERR));
  MISUSE(reqivo_tls_config_builder_add_spki_pin_sha256(b, "not base64!", 11, ERR));
  MISUSE(reqivo_tls_config_builder_add_spki_pin_sha256(b, "c2hvcnQ=", 8, ERR)); /* 5 bytes */

  MISUSE_CODE(reqivo_tls_config_builder_use_system_roots(NULL, true));
  MISUSE_CODE(reqivo_tls_config_builder_dangerous_disable_verification(NULL));

  /* The misuse above changed nothing: no roots at all is still refused at
   * build (which consumes the builder either way). */
  CHECK_CODE(reqivo_tls_config_builder_use_system_roots(b, false), REQIVO_OK);
  dirty(&E);
  const reqivo_tls_config *c = reqivo_tls_config_builder_build(b, &E);
  CHECK(c == NULL);
  CHECK_ERR(E, REQIVO_ERR_INVALID_CONFIG, NULL);
  reqivo_tls_config_free(c);

  /* A good config still installs, and NULL goes back to the default. */
  b = reqivo_tls_config_builder_new();
  c = reqivo_tls_config_builder_build(b, NULL);
  CHECK(c != NULL);
  CHECK_CODE(reqivo_session_set_tls(s, c), REQIVO_OK);
  CHECK_CODE(reqivo_session_set_tls(s, NULL), REQIVO_OK);
  reqivo_tls_config_free(c);
}

/* -------------------------------------------------------------- websocket */

static void misuse_ws(reqivo_session *s) {
  const reqivo_response *refused = NULL;
  MISUSE_NULL(reqivo_ws_connect(NULL, "ws://127.0.0.1:1/", 18, NULL, NULL, &refused, ERR));
  MISUSE_NULL(reqivo_ws_connect(s, NULL, 3, NULL, NULL, &refused, ERR));
  MISUSE_NULL(reqivo_ws_connect(s, BAD_UTF8, BAD_LEN, NULL, NULL, &refused, ERR));
  MISUSE_NULL(reqivo_ws_connect(s, SOME, SIZE_MAX, NULL, NULL, &refused, ERR));
  MISUSE_NULL(reqivo_ws_connect(s, "ftp://127.0.0.1/", 16, NULL, NULL, &refused, ERR));
  MISUSE_NULL(reqivo_ws_connect(s, "not a url", 9, NULL, NULL, NULL, ERR));
  CHECK(refused == NULL); /* set only when a server answered */

  /* Every call on a connection refuses a NULL one. */
  MISUSE(reqivo_ws_send(NULL, REQIVO_WS_TEXT, (const uint8_t *)"x", 1, NULL, ERR));
  MISUSE(reqivo_ws_send_fragment(NULL, REQIVO_WS_TEXT, (const uint8_t *)"x", 1, true, NULL, ERR));
  MISUSE_NULL(reqivo_ws_receive(NULL, NULL, ERR));
  int64_t wait_ms = 7;
  MISUSE_NULL(reqivo_ws_try_receive(NULL, NULL, &wait_ms, ERR));
  CHECK_EQ(wait_ms, 7); /* untouched on a usage error */
  CHECK_EQ(reqivo_ws_fd(NULL), -1);
  MISUSE(reqivo_ws_ping(NULL, NULL, 0, NULL, ERR));
  MISUSE(reqivo_ws_close(NULL, 1000, NULL, 0, ERR));
  reqivo_str p = reqivo_ws_protocol(NULL);
  CHECK(p.ptr != NULL && p.len == 0);
  CHECK(reqivo_ws_response(NULL) == NULL);
  NOOP(reqivo_ws_free(NULL));
  NOOP(reqivo_ws_message_free(NULL));
  NOOP(reqivo_ws_options_free(NULL));

  /* Options. */
  MISUSE(reqivo_ws_options_add_protocol(NULL, "chat", 4, ERR));
  MISUSE(reqivo_ws_options_add_header(NULL, "X-A", 3, "b", 1, ERR));
  MISUSE_CODE(reqivo_ws_options_set_limits(NULL, 0, 0));
  MISUSE_CODE(reqivo_ws_options_set_ping(NULL, 1000, 1000));
  MISUSE_CODE(reqivo_ws_options_set_deflate(NULL, true, false, false, 0));
  MISUSE_CODE(reqivo_ws_options_set_reconnect(NULL, 3, 10, 100, NULL, NULL));
  reqivo_ws_options *o = reqivo_ws_options_new();
  CHECK(o != NULL);
  MISUSE(reqivo_ws_options_add_protocol(o, NULL, 3, ERR));
  MISUSE(reqivo_ws_options_add_protocol(o, BAD_UTF8, BAD_LEN, ERR));
  MISUSE(reqivo_ws_options_add_protocol(o, SOME, SIZE_MAX, ERR));
  MISUSE(reqivo_ws_options_add_protocol(o, "two words", 9, ERR));
  MISUSE(reqivo_ws_options_add_header(o, NULL, 3, "b", 1, ERR));
  MISUSE(reqivo_ws_options_add_header(o, "X-A", 3, NULL, 1, ERR));
  MISUSE(reqivo_ws_options_add_header(o, "X-A", 3, "a\r\nb", 4, ERR));
  MISUSE(reqivo_ws_options_add_header(o, "bad name", 8, "b", 1, ERR));
  MISUSE(reqivo_ws_options_add_header(o, BAD_UTF8, BAD_LEN, "b", 1, ERR));
  MISUSE(reqivo_ws_options_add_header(o, "X-A", 3, SOME, SIZE_MAX, ERR));
  MISUSE_CODE(reqivo_ws_options_set_deflate(o, true, false, false, 7)); /* window bits 8-15 */
  reqivo_ws_options_free(o);
}

static int32_t discard_data(void *user, const reqivo_response *head, const uint8_t *data,
                            size_t len) {
  (void)user, (void)head, (void)data, (void)len;
  return REQIVO_DATA_CONTINUE;
}

static void misuse_multi(reqivo_session *s) {
  reqivo_multi *m = reqivo_multi_new(NULL);
  CHECK(m != NULL);
  reqivo_request *r = request_to("GET", "/ok", NULL);
  MISUSE(reqivo_multi_add(NULL, s, r, NULL, NULL, ERR));
  MISUSE(reqivo_multi_add(m, NULL, r, NULL, NULL, ERR));
  MISUSE(reqivo_multi_add(m, s, NULL, NULL, NULL, ERR));
  MISUSE(reqivo_multi_add_streamed(NULL, s, r, NULL, discard_data, NULL, NULL, ERR));
  MISUSE(reqivo_multi_add_streamed(m, NULL, r, NULL, discard_data, NULL, NULL, ERR));
  MISUSE(reqivo_multi_add_streamed(m, s, NULL, NULL, discard_data, NULL, NULL, ERR));
  MISUSE(reqivo_multi_add_streamed(m, s, r, NULL, NULL, NULL, NULL, ERR));
  MISUSE(reqivo_multi_add_ws(NULL, s, "ws://127.0.0.1:1/", 17, NULL, NULL, NULL, ERR));
  MISUSE(reqivo_multi_add_ws(m, NULL, "ws://127.0.0.1:1/", 17, NULL, NULL, NULL, ERR));
  MISUSE(reqivo_multi_add_ws(m, s, NULL, 17, NULL, NULL, NULL, ERR));
  MISUSE(reqivo_multi_add_ws(m, s, BAD_UTF8, BAD_LEN, NULL, NULL, NULL, ERR));
  MISUSE(reqivo_multi_add_ws(m, s, SOME, SIZE_MAX, NULL, NULL, NULL, ERR));
  /* Not a WebSocket URL: refused at the add, nothing in flight. */
  CHECK_EQ(reqivo_multi_add_ws(m, s, "ftp://127.0.0.1/", 16, NULL, NULL, NULL, &E),
           REQIVO_ERR_UNSUPPORTED_SCHEME);
  CHECK_EQ(reqivo_multi_add_ws(m, s, "ws://h/#f", 9, NULL, NULL, NULL, &E), REQIVO_ERR_INVALID_URL);
  CHECK_EQ(reqivo_multi_in_flight(m), 0);
  MISUSE(reqivo_multi_resume(NULL, 1, ERR));
  /* An id no transfer has is ignored. */
  CHECK_EQ(reqivo_multi_resume(m, 424242, NULL), 0);
  MISUSE(reqivo_multi_perform(NULL, ERR));
  MISUSE(reqivo_multi_poll(NULL, 0, ERR));
  MISUSE(reqivo_multi_poll(m, -2, ERR));
  MISUSE_CODE(reqivo_multi_wakeup(NULL));
  CHECK_EQ(reqivo_multi_fd(NULL), -1);
  CHECK_EQ(reqivo_multi_timeout_ms(NULL), -1);
  CHECK_EQ(reqivo_multi_in_flight(NULL), 0);
  reqivo_multi_done d = {.struct_size = sizeof d};
  CHECK(!reqivo_multi_next(NULL, &d));
  CHECK(!reqivo_multi_next(m, NULL));
  /* An out struct smaller than the first version's (up to `error`) is
   * refused; nothing is taken. One of the first version's size gets an
   * HTTP transfer whole. */
  CHECK_EQ(reqivo_multi_add(m, s, r, NULL, (void *)9, NULL), 0);
  int done = 0;
  for (int i = 0; i < 100 && !done; i++) {
    reqivo_multi_poll(m, 50, NULL);
    reqivo_multi_done small = {.struct_size = offsetof(reqivo_multi_done, ws) - 1};
    CHECK(!reqivo_multi_next(m, &small));
    d.struct_size = offsetof(reqivo_multi_done, ws);
    d.ws = (reqivo_ws *)&d;
    done = reqivo_multi_next(m, &d);
  }
  CHECK(done && d.user_data == (void *)9 && d.response != NULL && d.error.code == 0);
  CHECK(d.ws == (reqivo_ws *)&d); /* past struct_size: untouched */
  reqivo_response_free(d.response);
  reqivo_request_free(r);
  NOOP(reqivo_multi_free(NULL));
  reqivo_multi_free(m);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  reqivo_session *s = reqivo_session_new(NULL, NULL);
  CHECK(s != NULL);
  misuse_library();
  misuse_pool();
  misuse_session(s);
  misuse_request();
  misuse_multipart();
  misuse_send(s);
  misuse_response(s);
  misuse_hooks();
  misuse_tls(s);
  misuse_ws(s);
  misuse_multi(s);
  /* After all that, the session still works. */
  reqivo_error err;
  const reqivo_response *resp = get(s, "/ok", &err);
  CHECKF(body_is(resp, "hello\n"), "%s: %s", reqivo_code_name(err.code), err.message);
  reqivo_response_free(resp);
  reqivo_session_free(s);
  return check_finish("test_misuse");
}
