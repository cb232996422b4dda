/* Session hooks and the session log from C: on_request sees each hop and edits its headers,
 * on_response sees each response head (redirect hops included), and a
 * non-zero return from either aborts the send. */
#include <stdio.h>
#include <string.h>

#include "support.h"

struct record {
  int requests, responses;
  char paths[4][64];
  uint16_t statuses[4];
  int abort_request_at;  /* abort the nth request (1-based, 0: never) */
  int abort_response_at; /* likewise for responses */
};

static int32_t on_request(void *userdata, reqivo_hook_request *req) {
  struct record *rec = userdata;
  reqivo_error err;
  reqivo_str url = reqivo_hook_request_url(req);
  reqivo_str method = reqivo_hook_request_method(req);
  CHECK(strcmp(method.ptr, "GET") == 0 && method.len == 3);
  if (rec->requests < 4) {
    snprintf(rec->paths[rec->requests], sizeof rec->paths[0], "%s", url.ptr);
  }
  rec->requests++;
  CHECK_CODE(reqivo_hook_request_set_header(req, "X-Hook", 6, "yes", 3, &err), REQIVO_OK);
  CHECK_CODE(reqivo_hook_request_add_header(req, "X-Multi", 7, "1", 1, &err), REQIVO_OK);
  CHECK_CODE(reqivo_hook_request_add_header(req, "X-Multi", 7, "2", 1, &err), REQIVO_OK);
  CHECK_CODE(reqivo_hook_request_remove_header(req, "User-Agent", 10, &err), REQIVO_OK);
  CHECK_CODE(reqivo_hook_request_remove_header(req, "Host", 4, &err), REQIVO_ERR_INVALID_HEADER);
  CHECK_CODE(reqivo_hook_request_set_header(req, "X-Bad", 5, "a\nb", 3, &err), REQIVO_ERR_INVALID_HEADER);
  return rec->requests == rec->abort_request_at;
}

static int32_t on_response(void *userdata, const reqivo_response *resp) {
  struct record *rec = userdata;
  if (rec->responses < 4) {
    rec->statuses[rec->responses] = resp->status;
  }
  rec->responses++;
  CHECK_EQ(resp->body_len, 0);
  return rec->responses == rec->abort_response_at;
}

struct log_lines {
  int count;
  char text[2048];
  uint32_t max_level;
};

static void on_log(void *userdata, uint32_t level, const char *message, size_t len) {
  struct log_lines *l = userdata;
  l->count++;
  if (level > l->max_level) l->max_level = level;
  CHECK_EQ(strlen(message), len);
  size_t used = strlen(l->text);
  snprintf(l->text + used, sizeof l->text - used, "%u %s\n", level, message);
}

static void test_logger(void) {
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  struct log_lines lines;
  memset(&lines, 0, sizeof lines);
  CHECK_CODE(reqivo_session_set_logger(s, on_log, &lines, REQIVO_LOG_DEBUG), REQIVO_OK);
  const reqivo_response *resp = get(s, "/redirect", &err); /* 302 -> /ok */
  CHECK(resp != NULL);
  reqivo_response_free(resp);
  CHECK(strstr(lines.text, "new connection") != NULL);
  CHECK(strstr(lines.text, "reused a pooled connection") != NULL);
  CHECK(strstr(lines.text, "302") != NULL); /* the redirect, at INFO */
  resp = get(s, "/close", &err); /* closes inside its body */
  CHECK(resp == NULL);
  CHECK(strstr(lines.text, "3 GET failed") != NULL);

  /* Only ERROR and above: a good send logs nothing. */
  memset(&lines, 0, sizeof lines);
  CHECK_CODE(reqivo_session_set_logger(s, on_log, &lines, REQIVO_LOG_ERROR), REQIVO_OK);
  resp = get(s, "/redirect", &err);
  reqivo_response_free(resp);
  CHECK_EQ(lines.count, 0);
  CHECK_CODE(reqivo_session_set_logger(s, on_log, &lines, 7), REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_CODE(reqivo_session_set_logger(s, NULL, NULL, REQIVO_LOG_DEBUG), REQIVO_OK);
  resp = get(s, "/ok", &err);
  reqivo_response_free(resp);
  CHECK_EQ(lines.count, 0);
  CHECK_CODE(reqivo_session_set_logger(NULL, on_log, NULL, 0), REQIVO_ERR_INVALID_ARGUMENT);
  reqivo_session_free(s);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  struct record rec;
  memset(&rec, 0, sizeof rec);
  CHECK_CODE(reqivo_session_set_hooks(s, on_request, on_response, &rec), REQIVO_OK);

  /* /redirect answers 302 to /ok: two hops. */
  const reqivo_response *resp = get(s, "/redirect", &err);
  CHECK(resp != NULL && resp->status == 200);
  reqivo_response_free(resp);
  CHECK_EQ(rec.requests, 2);
  CHECK(strstr(rec.paths[0], "/redirect") != NULL && strstr(rec.paths[1], "/ok") != NULL);
  CHECK_EQ(rec.responses, 2);
  CHECK(rec.statuses[0] == 302 && rec.statuses[1] == 200);

  resp = get(s, "/echo", &err);
  const char *head = resp ? (const char *)resp->body : "";
  CHECK(strstr(head, "X-Hook: yes\r\n") != NULL);
  CHECK(strstr(head, "X-Multi: 1\r\nX-Multi: 2\r\n") != NULL);
  CHECK(strstr(head, "User-Agent") == NULL);
  reqivo_response_free(resp);

  /* Aborts. */
  memset(&rec, 0, sizeof rec);
  rec.abort_request_at = 2;
  resp = get(s, "/redirect", &err);
  CHECK(resp == NULL);
  CHECK_ERR(err, REQIVO_ERR_ABORTED_BY_CALLBACK, "on_request");
  memset(&rec, 0, sizeof rec);
  rec.abort_response_at = 1;
  resp = get(s, "/ok", &err);
  CHECK(resp == NULL);
  CHECK_ERR(err, REQIVO_ERR_ABORTED_BY_CALLBACK, "on_response");

  /* Removing the hooks. */
  CHECK_CODE(reqivo_session_set_hooks(s, NULL, NULL, NULL), REQIVO_OK);
  memset(&rec, 0, sizeof rec);
  resp = get(s, "/ok", &err);
  CHECK(resp != NULL && rec.requests == 0);
  reqivo_response_free(resp);

  /* NULL arguments. */
  CHECK_CODE(reqivo_session_set_hooks(NULL, on_request, NULL, NULL), REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_EQ(reqivo_hook_request_url(NULL).len, 0);
  CHECK_EQ(reqivo_hook_request_method(NULL).len, 0);
  CHECK_CODE(reqivo_hook_request_set_header(NULL, "A", 1, "b", 1, &err), REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_CODE(reqivo_hook_request_add_header(NULL, "A", 1, "b", 1, &err), REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_CODE(reqivo_hook_request_remove_header(NULL, "A", 1, &err), REQIVO_ERR_INVALID_ARGUMENT);
  reqivo_session_free(s);
  test_logger();
  return check_finish("test_hooks");
}
