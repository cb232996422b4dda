/* Session credentials (basic, bearer, URL userinfo) and JSON bodies, seen
 * through /echo, which returns the request head and body it received. */
#include <stdio.h>
#include <string.h>

#include "support.h"

static const reqivo_response *echo(reqivo_session *s, reqivo_request *r, reqivo_error *err) {
  const reqivo_response *resp = reqivo_session_send(s, r, NULL, err);
  reqivo_request_free(r);
  return resp;
}

static int has(const reqivo_response *resp, const char *text) {
  return resp != NULL && strstr((const char *)resp->body, text) != NULL;
}

static void test_basic_and_bearer(void) {
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  CHECK_CODE(reqivo_session_set_basic_auth(s, "user", 4, "pass", 4, &err), REQIVO_OK);
  const reqivo_response *resp = echo(s, request_to("GET", "/echo", &err), &err);
  CHECK(has(resp, "Authorization: Basic dXNlcjpwYXNz\r\n"));
  reqivo_response_free(resp);

  CHECK_CODE(reqivo_session_set_basic_auth(s, "a:b", 3, "c", 1, &err), REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, "':'");

  CHECK_CODE(reqivo_session_set_bearer_token(s, "tok-1", 5, &err), REQIVO_OK);
  resp = echo(s, request_to("GET", "/echo", &err), &err);
  CHECK(has(resp, "Authorization: Bearer tok-1\r\n"));
  CHECK(!has(resp, "Basic"));
  reqivo_response_free(resp);

  /* A request's own Authorization wins. */
  reqivo_request *r = request_to("GET", "/echo", &err);
  CHECK_CODE(reqivo_request_add_header(r, "Authorization", 13, "Bearer mine", 11, &err), REQIVO_OK);
  resp = echo(s, r, &err);
  CHECK(has(resp, "Authorization: Bearer mine\r\n"));
  CHECK(!has(resp, "tok-1"));
  reqivo_response_free(resp);

  CHECK_CODE(reqivo_session_set_bearer_token(s, "a b", 3, &err), REQIVO_ERR_INVALID_HEADER);
  CHECK_CODE(reqivo_session_set_bearer_token(s, NULL, 0, &err), REQIVO_OK); /* clears */
  resp = echo(s, request_to("GET", "/echo", &err), &err);
  CHECK(resp != NULL && !has(resp, "Authorization"));
  reqivo_response_free(resp);

  CHECK_CODE(reqivo_session_set_basic_auth(NULL, "u", 1, "p", 1, &err), REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_CODE(reqivo_session_set_basic_auth(s, NULL, 0, "p", 1, &err), REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_CODE(reqivo_session_set_bearer_token(NULL, "t", 1, &err), REQIVO_ERR_INVALID_ARGUMENT);
  reqivo_session_free(s);
}

static void test_url_userinfo(void) {
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  char url[128];
  snprintf(url, sizeof url, "http://user:pass@%s/echo", test_origin + strlen("http://"));
  reqivo_request *r = reqivo_request_new("GET", 3, url, strlen(url), &err);
  const reqivo_response *resp = echo(s, r, &err);
  CHECK(has(resp, "Authorization: Basic dXNlcjpwYXNz\r\n"));
  CHECK(resp != NULL && strstr(resp->url.ptr, "user") == NULL);
  reqivo_response_free(resp);
  reqivo_session_free(s);
}

static void test_json(void) {
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  const char *doc = "{\"library\": \"reqivo\", \"n\": [1, 2.5, true, null]}";
  reqivo_request *r = request_to("POST", "/echo", &err);
  CHECK_CODE(reqivo_request_set_json(r, doc, strlen(doc), &err), REQIVO_OK);
  const char *bad = "{\"a\": 1,\n \"b\": }";
  CHECK_CODE(reqivo_request_set_json(r, bad, strlen(bad), &err), REQIVO_ERR_INVALID_JSON);
  CHECK_ERR(err, REQIVO_ERR_INVALID_JSON, "line 2");
  CHECK_EQ(reqivo_code_class(REQIVO_ERR_INVALID_JSON), 1000);
  const reqivo_response *resp = echo(s, r, &err); /* the valid body stays */
  CHECK(has(resp, "Content-Type: application/json\r\n"));
  CHECK(has(resp, "Content-Length: 48\r\n"));
  CHECK(has(resp, doc));
  reqivo_response_free(resp);
  CHECK_CODE(reqivo_request_set_json(NULL, "1", 1, &err), REQIVO_ERR_INVALID_ARGUMENT);
  reqivo_session_free(s);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  test_basic_and_bearer();
  test_url_userinfo();
  test_json();
  return check_finish("test_auth");
}
