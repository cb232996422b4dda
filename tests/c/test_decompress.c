/* Content decoding: gzip and deflate bodies decoded and flagged, buffered
 * and streamed; off on request; Accept-Encoding sent only when on. */
#include <stdio.h>
#include <string.h>

#include "support.h"

static const char UNIT[] = "reqivo decodes gzip and deflate. ";

/* The body is UNIT repeated 300 times. */
static int is_text(const uint8_t *body, size_t len) {
  size_t u = strlen(UNIT);
  if (len != 300 * u) return 0;
  for (size_t i = 0; i < len; i += u) {
    if (memcmp(body + i, UNIT, u) != 0) return 0;
  }
  return 1;
}

static void test_buffered(reqivo_session *s) {
  reqivo_error err;
  const char *paths[] = {"/gzip", "/deflate"};
  for (size_t i = 0; i < 2; i++) {
    const reqivo_response *resp = get(s, paths[i], &err);
    CHECK(resp != NULL && resp->status == 200);
    CHECK(resp != NULL && (resp->flags & REQIVO_RESPONSE_DECOMPRESSED) != 0);
    CHECK(resp != NULL && is_text(resp->body, resp->body_len));
    reqivo_str ce;
    CHECK(resp != NULL && reqivo_response_header(resp, "content-encoding", 16, 0, &ce));
    reqivo_response_free(resp);
  }
  const reqivo_response *resp = get(s, "/echo", &err);
  CHECK(resp != NULL && strstr((const char *)resp->body, "Accept-Encoding: gzip, deflate, br, zstd\r\n") != NULL);
  reqivo_response_free(resp);
}

static void test_streamed(reqivo_session *s) {
  reqivo_error err;
  reqivo_request *r = request_to("GET", "/gzip", &err);
  reqivo_stream *st = reqivo_session_open(s, r, NULL, &err);
  reqivo_request_free(r);
  CHECK(st != NULL);
  if (st == NULL) return;
  CHECK((reqivo_stream_response(st)->flags & REQIVO_RESPONSE_DECOMPRESSED) != 0);
  static uint8_t out[20000];
  size_t len = 0;
  uint8_t buf[100];
  for (int i = 0; i < 100000; i++) {
    int64_t n = reqivo_stream_read(st, buf, sizeof buf, &err);
    if (n <= 0) {
      CHECK_EQ(n, 0);
      break;
    }
    if (len + (size_t)n > sizeof out) break;
    memcpy(out + len, buf, (size_t)n);
    len += (size_t)n;
  }
  CHECK(is_text(out, len));
  reqivo_stream_free(st);
}

/* Chains of codings, encoded by Python's gzip and zlib: up to five layers
 * are decoded, buffered and streamed; six are refused with the count; a
 * five-layer bomb stops at the body limit. */
static void test_chains(void) {
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  const char *chains[] = {"/coded/gzip", "/coded/gzip,gzip", "/coded/deflate,gzip",
                          "/coded/gzip,deflate,gzip,deflate,gzip"};
  for (size_t i = 0; i < sizeof chains / sizeof chains[0]; i++) {
    const reqivo_response *resp = get(s, chains[i], &err);
    CHECKF(resp != NULL && is_text(resp->body, resp->body_len), "%s: %s", chains[i], err.message);
    CHECK(resp != NULL && (resp->flags & REQIVO_RESPONSE_DECOMPRESSED) != 0);
    reqivo_response_free(resp);
    reqivo_request *r = request_to("GET", chains[i], &err);
    reqivo_stream *st = reqivo_session_open(s, r, NULL, &err);
    reqivo_request_free(r);
    static uint8_t out[20000];
    size_t len = 0;
    for (int n = 1; st != NULL && n > 0 && len < sizeof out;) {
      n = (int)reqivo_stream_read(st, out + len, sizeof out - len < 77 ? sizeof out - len : 77, &err);
      len += n > 0 ? (size_t)n : 0;
    }
    CHECKF(is_text(out, len), "%s streamed: %zu bytes", chains[i], len);
    reqivo_stream_free(st);
  }
  const reqivo_response *resp = get(s, "/coded/gzip,gzip,gzip,gzip,gzip,gzip", &err);
  CHECK(resp == NULL);
  CHECK_ERR(err, REQIVO_ERR_DECOMPRESSION, "6 content codings");
  CHECK_CODE(reqivo_session_set_limits(s, (reqivo_limits){.max_body_bytes = 1 << 20}), REQIVO_OK);
  resp = get(s, "/coded-bomb/5", &err);
  CHECK(resp == NULL);
  CHECK_ERR(err, REQIVO_ERR_BODY_TOO_LARGE, "max_body_bytes (1048576)");
  reqivo_session_free(s);
}

static void test_off(reqivo_session *s) {
  reqivo_error err;
  CHECK_CODE(reqivo_session_set_decompress(s, false), REQIVO_OK);
  const reqivo_response *resp = get(s, "/gzip", &err);
  CHECK(resp != NULL && (resp->flags & REQIVO_RESPONSE_DECOMPRESSED) == 0);
  CHECK(resp != NULL && resp->body_len > 2 && resp->body[0] == 0x1f && resp->body[1] == 0x8b);
  reqivo_response_free(resp);
  resp = get(s, "/echo", &err);
  CHECK(resp != NULL && strstr((const char *)resp->body, "Accept-Encoding") == NULL);
  reqivo_response_free(resp);
  CHECK_CODE(reqivo_session_set_decompress(NULL, true), REQIVO_ERR_INVALID_ARGUMENT);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  test_buffered(s);
  test_streamed(s);
  test_chains();
  test_off(s);
  reqivo_session_free(s);
  return check_finish("test_decompress");
}
