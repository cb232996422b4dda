/* Request bodies from a read callback (sized and chunked), progress
 * callbacks, aborts from either, and a 307 that is not followed because the
 * body cannot be sent again. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "support.h"

struct source {
  const char *data;
  size_t len, pos;
  size_t piece;    /* most bytes handed out per call */
  size_t fail_at;  /* return -1 once pos reaches this (0: never) */
  int calls;
};

static int64_t read_source(void *userdata, uint8_t *buf, size_t cap) {
  struct source *src = userdata;
  src->calls++;
  if (src->fail_at != 0 && src->pos >= src->fail_at) {
    return -1;
  }
  size_t n = src->len - src->pos;
  if (n > cap) n = cap;
  if (n > src->piece) n = src->piece;
  memcpy(buf, src->data + src->pos, n);
  src->pos += n;
  return (int64_t)n;
}

struct progress {
  int calls;
  uint64_t sent, received;
  int64_t send_total, receive_total;
  uint64_t abort_after;  /* abort once this many bytes were sent (0: never) */
};

static int32_t on_progress(void *userdata, uint64_t sent, int64_t send_total, uint64_t received,
                           int64_t receive_total) {
  struct progress *p = userdata;
  p->calls++;
  p->sent = sent;
  p->send_total = send_total;
  p->received = received;
  p->receive_total = receive_total;
  return p->abort_after != 0 && sent >= p->abort_after;
}

static const char TEXT[] = "The quick brown fox jumps over the lazy dog. 0123456789";

/* Sends TEXT from a callback to /echo with `size` (-1: chunked) and returns
 * the echoed request (head and decoded body). */
static const reqivo_response *echo_upload(reqivo_session *s, int64_t size, struct source *src,
                                          reqivo_error *err) {
  reqivo_request *r = request_to("POST", "/echo", err);
  if (r == NULL) return NULL;
  CHECK_CODE(reqivo_request_set_body_callback(r, read_source, src, size, err), REQIVO_OK);
  const reqivo_response *resp = reqivo_session_send(s, r, NULL, err);
  reqivo_request_free(r);
  return resp;
}

static int ends_with(const reqivo_response *resp, const char *tail) {
  size_t n = strlen(tail);
  return resp != NULL && resp->body_len >= n &&
         memcmp(resp->body + resp->body_len - n, tail, n) == 0;
}

static void test_sized_and_chunked(reqivo_session *s) {
  reqivo_error err;
  struct source src = {TEXT, strlen(TEXT), 0, 7, 0, 0};
  const reqivo_response *resp = echo_upload(s, (int64_t)strlen(TEXT), &src, &err);
  CHECK(resp != NULL && resp->status == 200);
  CHECK(resp != NULL && strstr((const char *)resp->body, "Content-Length: 55\r\n") != NULL);
  CHECK(resp != NULL && strstr((const char *)resp->body, "Transfer-Encoding") == NULL);
  CHECK(ends_with(resp, TEXT));
  CHECK(src.calls >= 8); /* 55 bytes in pieces of 7 */
  reqivo_response_free(resp);

  struct source chunked = {TEXT, strlen(TEXT), 0, 10, 0, 0};
  resp = echo_upload(s, -1, &chunked, &err);
  CHECK(resp != NULL && resp->status == 200);
  CHECK(resp != NULL && strstr((const char *)resp->body, "Transfer-Encoding: chunked\r\n") != NULL);
  CHECK(resp != NULL && strstr((const char *)resp->body, "Content-Length") == NULL);
  CHECK(ends_with(resp, TEXT));
  reqivo_response_free(resp);
}

static void test_callback_errors(reqivo_session *s) {
  reqivo_error err;
  struct source failing = {TEXT, strlen(TEXT), 0, 5, 20, 0};
  const reqivo_response *resp = echo_upload(s, -1, &failing, &err);
  CHECK(resp == NULL);
  CHECK_ERR(err, REQIVO_ERR_ABORTED_BY_CALLBACK, "callback");

  struct source shorter = {TEXT, 10, 0, 64, 0, 0};
  resp = echo_upload(s, 20, &shorter, &err);
  CHECK(resp == NULL);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, "10 of the 20");

  /* The session is fine afterwards. */
  resp = get(s, "/ok", &err);
  CHECK(resp != NULL && resp->status == 200);
  reqivo_response_free(resp);

  reqivo_request *r = request_to("POST", "/echo", &err);
  CHECK_CODE(reqivo_request_set_body_callback(r, NULL, NULL, -1, &err), REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, "cb");
  CHECK_CODE(reqivo_request_set_body_callback(r, read_source, NULL, -2, &err),
             REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, "-2");
  CHECK_CODE(reqivo_request_set_body_callback(NULL, read_source, NULL, 1, &err),
             REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_CODE(reqivo_request_set_progress(NULL, on_progress, NULL), REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_CODE(reqivo_request_set_progress(r, NULL, NULL), REQIVO_OK);
  reqivo_request_free(r);
}

static void test_progress(reqivo_session *s) {
  reqivo_error err;
  static char big[200000];
  memset(big, 'x', sizeof big);
  struct progress p = {0, 0, 0, 0, 0, 0};
  reqivo_request *r = request_to("POST", "/echo", &err);
  CHECK_CODE(reqivo_request_set_body(r, (const uint8_t *)big, sizeof big, &err), REQIVO_OK);
  CHECK_CODE(reqivo_request_set_progress(r, on_progress, &p), REQIVO_OK);
  const reqivo_response *resp = reqivo_session_send(s, r, NULL, &err);
  CHECK(resp != NULL && resp->status == 200);
  CHECK(p.calls >= 4);
  CHECK_EQ(p.sent, sizeof big);
  CHECK_EQ(p.send_total, (int64_t)sizeof big);
  CHECK(resp != NULL && p.received == resp->body_len);
  CHECK(resp != NULL && p.receive_total == (int64_t)resp->body_len);
  reqivo_response_free(resp);

  /* A non-zero return aborts. */
  struct progress stop = {0, 0, 0, 0, 0, 65536};
  CHECK_CODE(reqivo_request_set_progress(r, on_progress, &stop), REQIVO_OK);
  resp = reqivo_session_send(s, r, NULL, &err);
  CHECK(resp == NULL);
  CHECK_ERR(err, REQIVO_ERR_ABORTED_BY_CALLBACK, "progress");
  reqivo_request_free(r);
}

static void test_redirect_not_followed(reqivo_session *s) {
  reqivo_error err;
  struct source src = {TEXT, strlen(TEXT), 0, 64, 0, 0};
  reqivo_request *r = request_to("POST", "/redirect307", &err);
  CHECK_CODE(reqivo_request_set_body_callback(r, read_source, &src, -1, &err), REQIVO_OK);
  const reqivo_response *resp = reqivo_session_send(s, r, NULL, &err);
  CHECK(resp != NULL && resp->status == 307);
  CHECK(resp != NULL && (resp->flags & REQIVO_RESPONSE_REDIRECT_NOT_FOLLOWED) != 0);
  CHECK(resp != NULL && resp->redirect_count == 0);
  reqivo_response_free(resp);
  reqivo_request_free(r);

  /* An in-memory body is replayed and the redirect followed. */
  r = request_to("POST", "/redirect307", &err);
  CHECK_CODE(reqivo_request_set_body(r, (const uint8_t *)TEXT, strlen(TEXT), &err), REQIVO_OK);
  resp = reqivo_session_send(s, r, NULL, &err);
  CHECK(resp != NULL && resp->status == 200);
  CHECK(resp != NULL && (resp->flags & REQIVO_RESPONSE_REDIRECT_NOT_FOLLOWED) == 0);
  CHECK(ends_with(resp, TEXT));
  reqivo_response_free(resp);
  reqivo_request_free(r);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  test_sized_and_chunked(s);
  test_callback_errors(s);
  test_progress(s);
  test_redirect_not_followed(s);
  reqivo_session_free(s);
  return check_finish("test_upload");
}
