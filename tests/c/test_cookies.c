/* The session cookie jar from C: stored and sent, scoped by path, kept per
 * session, switched off, cleared, saved and loaded. /echo shows the Cookie
 * header the server received. */
#include <stdio.h>
#include <string.h>

#include "support.h"

/* The Cookie header /echo saw, copied into out ("" when none). */
static void cookie_seen(reqivo_session *s, const char *path, char *out, size_t cap) {
  reqivo_error err;
  out[0] = '\0';
  const reqivo_response *r = get(s, path, &err);
  CHECK(r != NULL && r->status == 200);
  const char *at = r ? strstr((const char *)r->body, "\r\nCookie: ") : NULL;
  if (at != NULL) {
    at += strlen("\r\nCookie: ");
    size_t n = strcspn(at, "\r");
    snprintf(out, cap, "%.*s", (int)n, at);
  }
  reqivo_response_free(r);
}

static void fetch(reqivo_session *s, const char *path) {
  reqivo_error err;
  const reqivo_response *r = get(s, path, &err);
  CHECK(r != NULL && r->status == 200);
  reqivo_response_free(r);
}

/* The jar's limits: a 1 MB cookie is refused by default; past a lowered
 * per-site count the oldest go; 0 keeps a default. */
static void test_limits(void) {
  reqivo_error err;
  char seen[256];
  reqivo_session *s = reqivo_session_new(NULL, &err);
  /* The header limits lifted, so only the jar can refuse it. */
  CHECK_CODE(reqivo_session_set_limits(s, (reqivo_limits){.max_line_bytes = REQIVO_NO_LIMIT,
                                                          .max_header_bytes = REQIVO_NO_LIMIT}),
             REQIVO_OK);
  fetch(s, "/cookie/many/1/1000000");
  cookie_seen(s, "/echo", seen, sizeof seen);
  CHECK_STR_EQ(seen, "");
  fetch(s, "/cookie/many/1/4000");
  cookie_seen(s, "/echo", seen, sizeof seen);
  CHECK_EQ(strlen(seen), sizeof seen - 1); /* 4003 bytes, cut to fit */
  CHECK_CODE(reqivo_session_clear_cookies(s), REQIVO_OK);
  CHECK_CODE(reqivo_session_set_cookie_limits(s, 0, 5, 0), REQIVO_OK);
  fetch(s, "/cookie/many/10/1");
  cookie_seen(s, "/echo", seen, sizeof seen);
  /* c5..c9 stay, in some order. */
  CHECK(strlen(seen) == 5 * 4 + 4 * 2);
  CHECK(strstr(seen, "c0=") == NULL && strstr(seen, "c4=") == NULL && strstr(seen, "c9=v") != NULL);
  /* A lower size limit trims the jar as it is. */
  CHECK_CODE(reqivo_session_set_cookie_limits(s, 1, 0, 0), REQIVO_OK);
  cookie_seen(s, "/echo", seen, sizeof seen);
  CHECK_STR_EQ(seen, "");
  CHECK_CODE(reqivo_session_set_cookie_limits(NULL, 0, 0, 0), REQIVO_ERR_INVALID_ARGUMENT);
  reqivo_session_free(s);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  test_limits();
  reqivo_error err;
  char seen[256];
  reqivo_session *a = reqivo_session_new(NULL, &err);
  reqivo_session *b = reqivo_session_new(NULL, &err);

  fetch(a, "/cookie/session");
  fetch(a, "/cookie/scoped");
  cookie_seen(a, "/echo", seen, sizeof seen);
  CHECK_STR_EQ(seen, "tab=2");
  cookie_seen(a, "/area/echo", seen, sizeof seen);
  CHECK(strstr(seen, "area=3") != NULL && strstr(seen, "tab=2") != NULL);
  cookie_seen(b, "/echo", seen, sizeof seen);
  CHECK_STR_EQ(seen, ""); /* sessions never share a jar */

  /* Off: nothing sent, nothing stored; the jar keeps its contents. */
  CHECK_CODE(reqivo_session_set_cookies(a, false), REQIVO_OK);
  fetch(a, "/cookie/persistent");
  cookie_seen(a, "/echo", seen, sizeof seen);
  CHECK_STR_EQ(seen, "");
  CHECK_CODE(reqivo_session_set_cookies(a, true), REQIVO_OK);
  cookie_seen(a, "/echo", seen, sizeof seen);
  CHECK_STR_EQ(seen, "tab=2");

  /* Save: only persistent cookies; load into another session. */
  fetch(a, "/cookie/persistent");
  size_t need = 0;
  CHECK_CODE(reqivo_session_save_cookies(a, NULL, 0, &need, &err), REQIVO_ERR_BUFFER_TOO_SMALL);
  CHECK(need > 0);
  char text[4096];
  CHECK_CODE(reqivo_session_save_cookies(a, text, sizeof text, &need, &err), REQIVO_OK);
  CHECK_EQ(strlen(text), need);
  CHECK(strstr(text, "keep") != NULL && strstr(text, "tab") == NULL);
  CHECK_CODE(reqivo_session_load_cookies(b, text, strlen(text), &err), REQIVO_OK);
  cookie_seen(b, "/echo", seen, sizeof seen);
  CHECK_STR_EQ(seen, "keep=1");
  CHECK_CODE(reqivo_session_load_cookies(b, "garbage", 7, &err), REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, "cookie");
  cookie_seen(b, "/echo", seen, sizeof seen);
  CHECK_STR_EQ(seen, "keep=1"); /* unchanged by the failed load */

  CHECK_CODE(reqivo_session_clear_cookies(b), REQIVO_OK);
  cookie_seen(b, "/echo", seen, sizeof seen);
  CHECK_STR_EQ(seen, "");

  CHECK_CODE(reqivo_session_set_cookies(NULL, true), REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_CODE(reqivo_session_clear_cookies(NULL), REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_CODE(reqivo_session_save_cookies(NULL, text, sizeof text, &need, &err), REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_CODE(reqivo_session_save_cookies(a, text, sizeof text, NULL, &err), REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_CODE(reqivo_session_load_cookies(a, NULL, 0, &err), REQIVO_ERR_INVALID_ARGUMENT);
  reqivo_session_free(a);
  reqivo_session_free(b);
  return check_finish("test_cookies");
}
