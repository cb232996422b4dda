/* Content decoding: gzip, deflate, br and zstd bodies decoded and flagged,
 * buffered and streamed, from a session and from the multi; bombs held to
 * max_body_bytes; off on request; Accept-Encoding sent only when on. The
 * server's br and zstd bodies are made by the brotli and zstd command-line
 * tools. */
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

/* Chains of codings, encoded by Python's gzip and zlib and the brotli and
 * zstd tools: up to five layers are decoded, buffered and streamed; six are
 * refused with the count; a five-layer bomb stops at the body limit. */
static void test_chains(void) {
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  const char *chains[] = {"/coded/gzip",
                          "/coded/gzip,gzip",
                          "/coded/deflate,gzip",
                          "/coded/gzip,deflate,gzip,deflate,gzip",
                          "/coded/br",
                          "/coded/zstd",
                          "/coded/gzip,br",
                          "/coded/br,zstd,deflate",
                          "/coded/zstd,br,gzip,zstd,br"};
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

/* Reads a stream to its end or its first error, at most cap bytes kept. */
static size_t read_all(reqivo_stream *st, uint8_t *out, size_t cap, reqivo_error *err) {
  size_t len = 0;
  uint8_t buf[4096];
  for (;;) {
    int64_t n = reqivo_stream_read(st, buf, sizeof buf, err);
    if (n <= 0) {
      return len;
    }
    size_t keep = (size_t)n < cap - len ? (size_t)n : cap - len;
    memcpy(out + len, buf, keep);
    len += keep;
  }
}

/* br and zstd bombs (64 MiB of zeros: 52 bytes of br, 2 KiB of zstd) stop
 * at max_body_bytes, buffered and streamed; a body cut inside the coded
 * data is a decompression error. */
static void test_br_zstd_faults(void) {
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  CHECK_CODE(reqivo_session_set_limits(s, (reqivo_limits){.max_body_bytes = 1 << 20}), REQIVO_OK);
  const char *codings[] = {"br", "zstd"};
  static uint8_t out[2 << 20];
  for (size_t i = 0; i < 2; i++) {
    char path[64];
    snprintf(path, sizeof path, "/zeros/%s/64", codings[i]);
    const reqivo_response *resp = get(s, path, &err);
    CHECK(resp == NULL);
    CHECK_ERR(err, REQIVO_ERR_BODY_TOO_LARGE, "max_body_bytes (1048576)");
    reqivo_request *r = request_to("GET", path, &err);
    reqivo_stream *st = reqivo_session_open(s, r, NULL, &err);
    reqivo_request_free(r);
    CHECK(st != NULL);
    if (st != NULL) {
      size_t len = read_all(st, out, sizeof out, &err);
      CHECKF(len <= 1 << 20, "%s: %zu bytes streamed", codings[i], len);
      CHECK_ERR(err, REQIVO_ERR_BODY_TOO_LARGE, "max_body_bytes (1048576)");
      reqivo_stream_free(st);
    }

    snprintf(path, sizeof path, "/coded-cut/%s", codings[i]);
    resp = get(s, path, &err);
    CHECK(resp == NULL);
    CHECK_ERR(err, REQIVO_ERR_DECOMPRESSION, "unexpected end of file");
    CHECKF(strstr(err.message, codings[i]) != NULL, "%s", err.message);
    r = request_to("GET", path, &err);
    st = reqivo_session_open(s, r, NULL, &err);
    reqivo_request_free(r);
    CHECK(st != NULL);
    if (st != NULL) {
      read_all(st, out, sizeof out, &err);
      CHECK_ERR(err, REQIVO_ERR_DECOMPRESSION, "unexpected end of file");
      reqivo_stream_free(st);
    }
  }
  reqivo_session_free(s);
}

/* What a streamed transfer of the multi was given. */
typedef struct {
  uint8_t body[20000];
  size_t len;
  int heads;
  int decompressed;
} kept;

static int32_t keep_data(void *user, const reqivo_response *head, const uint8_t *data, size_t len) {
  kept *k = user;
  if (len == 0) {
    k->heads++;
    k->decompressed = (head->flags & REQIVO_RESPONSE_DECOMPRESSED) != 0;
    return REQIVO_DATA_CONTINUE;
  }
  size_t n = len < sizeof k->body - k->len ? len : sizeof k->body - k->len;
  memcpy(k->body + k->len, data, n);
  k->len += n;
  return REQIVO_DATA_CONTINUE;
}

/* The multi decodes br and zstd bodies, buffered and streamed (through the
 * data callback), and holds a bomb to max_body_bytes. */
static void test_multi(void) {
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  CHECK_CODE(reqivo_session_set_limits(s, (reqivo_limits){.max_body_bytes = 1 << 20}), REQIVO_OK);
  reqivo_multi *m = reqivo_multi_new(&err);
  CHECK(m != NULL);
  if (m == NULL) {
    reqivo_session_free(s);
    return;
  }
  const char *paths[] = {"/coded/br", "/coded/zstd", "/coded/br,zstd", "/zeros/zstd/64", "/zeros/br/64"};
  enum { N = sizeof paths / sizeof paths[0] };
  static kept streamed[N];
  memset(streamed, 0, sizeof streamed);
  for (size_t i = 0; i < N; i++) {
    reqivo_request *r = request_to("GET", paths[i], &err);
    CHECK_EQ(reqivo_multi_add(m, s, r, NULL, (void *)(uintptr_t)(i + 1), &err), 0);
    CHECK_EQ(reqivo_multi_add_streamed(m, s, r, NULL, keep_data, &streamed[i], NULL, &err), 0);
    reqivo_request_free(r);
  }
  int done = 0;
  double until = now_ms() + 20000;
  while (done < 2 * N && now_ms() < until) {
    CHECKF(reqivo_multi_poll(m, 100, &err) == 0, "%s", err.message);
    reqivo_multi_done d = {.struct_size = sizeof d};
    while (reqivo_multi_next(m, &d)) {
      done++;
      uintptr_t user = (uintptr_t)d.user_data;
      int streamed_one = user > N;
      size_t i = streamed_one ? (size_t)((kept *)d.user_data - streamed) : user - 1;
      if (i >= 3) {
        CHECKF(d.error.code == REQIVO_ERR_BODY_TOO_LARGE, "%s: %s", paths[i], d.error.message);
        CHECK(strstr(d.error.message, "max_body_bytes (1048576)") != NULL);
      } else if (streamed_one) {
        CHECKF(d.error.code == 0, "%s streamed: %s", paths[i], d.error.message);
        CHECK(d.response != NULL && (d.response->flags & REQIVO_RESPONSE_DECOMPRESSED) != 0);
        CHECKF(is_text(streamed[i].body, streamed[i].len), "%s streamed: %zu bytes", paths[i],
               streamed[i].len);
        CHECK(streamed[i].heads == 1 && streamed[i].decompressed);
      } else {
        CHECKF(d.error.code == 0, "%s: %s", paths[i], d.error.message);
        CHECK(d.response != NULL && (d.response->flags & REQIVO_RESPONSE_DECOMPRESSED) != 0);
        CHECK(d.response != NULL && is_text(d.response->body, d.response->body_len));
      }
      reqivo_response_free(d.response);
    }
  }
  CHECKF(done == 2 * N, "%d of %d transfers finished", done, 2 * N);
  reqivo_multi_free(m);
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
  test_br_zstd_faults();
  test_multi();
  test_off(s);
  reqivo_session_free(s);
  return check_finish("test_decompress");
}
