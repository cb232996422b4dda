/* HTTP/2 from C, against the scripted peer on the Python `h2` package
 * (tests/h2_peer.py; tests/c/run.sh starts it and sets REQIVO_H2_PORTS to
 * "H2C TLS SILENT") and tests/c/tls_server.py (a TLS server without h2).
 * Negotiation, prior knowledge over cleartext, and the version the
 * response reports. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

static int h2c_port, tls_port, silent_port, plain_tls_port;

/* A session speaking HTTP/2 only, trusting the tests' CA. */
static reqivo_session *h2_session(void) {
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  CHECK(s != NULL);
  CHECK_EQ(reqivo_session_set_http_version(s, REQIVO_HTTP_VERSION_2, &err), 0);
  const reqivo_tls_config *tls = test_ca_tls();
  CHECK_EQ(reqivo_session_set_tls(s, tls), 0);
  reqivo_tls_config_free(tls);
  return s;
}

static const reqivo_response *fetch(reqivo_session *s, const char *scheme, int port,
                                    const char *path, reqivo_error *err) {
  char url[256];
  snprintf(url, sizeof url, "%s://127.0.0.1:%d%s", scheme, port, path);
  return get_url(s, url, err);
}

/* Prior knowledge over cleartext: HTTP/2.0 reported, keep-alive as streams. */
static void test_prior_knowledge(void) {
  reqivo_session *s = h2_session();
  reqivo_error err;
  for (int i = 0; i < 3; i++) {
    const reqivo_response *r = fetch(s, "http", h2c_port, "/ok", &err);
    CHECK_OK(err);
    CHECK(body_is(r, "hello h2\n"));
    CHECK(r != NULL && r->http_major == 2 && r->http_minor == 0);
    CHECK(r != NULL && ((r->flags & REQIVO_RESPONSE_REUSED) != 0) == (i > 0));
    reqivo_response_free(r);
  }
  reqivo_session_free(s);
}

/* ALPN h2 over TLS; a server that only speaks HTTP/1.1 is refused. */
static void test_alpn(void) {
  reqivo_session *s = h2_session();
  reqivo_error err;
  const reqivo_response *r = fetch(s, "https", tls_port, "/ok", &err);
  CHECK_OK(err);
  CHECK(body_is(r, "hello h2\n"));
  CHECK(r != NULL && r->http_major == 2);
  CHECK(r != NULL && (r->flags & REQIVO_RESPONSE_TLS) != 0 && r->tls_version >= 0x0303);
  reqivo_response_free(r);
  r = fetch(s, "https", plain_tls_port, "/ok", &err);
  CHECK(r == NULL);
  CHECK_CODE(err.code, REQIVO_ERR_HTTP2_REQUIRED);
  reqivo_session_free(s);

  /* The default session keeps HTTP/1.1 with the same server. */
  s = reqivo_session_new(NULL, &err);
  const reqivo_tls_config *tls = test_ca_tls();
  reqivo_session_set_tls(s, tls);
  reqivo_tls_config_free(tls);
  r = fetch(s, "https", plain_tls_port, "/ok", &err);
  CHECK_OK(err);
  CHECK(r != NULL && r->http_major == 1 && r->http_minor == 1);
  reqivo_response_free(r);
  reqivo_session_free(s);
}

/* The multi speaks HTTP/1.1 only so far, and says so. */
static void test_multi_refuses_http2(void) {
  reqivo_session *s = h2_session();
  reqivo_error err;
  reqivo_multi *m = reqivo_multi_new(&err);
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/ok", h2c_port);
  reqivo_request *req = reqivo_request_new("GET", 3, url, strlen(url), &err);
  int rc = reqivo_multi_add(m, s, req, NULL, NULL, &err);
  if (rc == 0) {
    reqivo_multi_done done = {.struct_size = sizeof done};
    int got = 0;
    for (int i = 0; i < 100 && !got; i++) {
      reqivo_multi_poll(m, 100, &err);
      got = reqivo_multi_next(m, &done);
    }
    CHECK(got == 1);
    CHECK(done.response == NULL);
    CHECK_CODE(done.error.code, REQIVO_ERR_HTTP2_REQUIRED);
  } else {
    CHECK_CODE(err.code, REQIVO_ERR_HTTP2_REQUIRED);
  }
  reqivo_request_free(req);
  reqivo_multi_free(m);
  reqivo_session_free(s);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  const char *ports = getenv("REQIVO_H2_PORTS");
  const char *tls_ports = getenv("REQIVO_TLS_PORTS");
  if (ports == NULL || sscanf(ports, "%d %d %d", &h2c_port, &tls_port, &silent_port) != 3 ||
      tls_ports == NULL || sscanf(tls_ports, "%d", &plain_tls_port) != 1) {
    fprintf(stderr, "REQIVO_H2_PORTS and REQIVO_TLS_PORTS must be set (tests/c/run.sh does)\n");
    return 2;
  }
  test_prior_knowledge();
  test_alpn();
  test_multi_refuses_http2();
  return check_finish("test_h2");
}
