/* Proxies and the public suffix list from C. tests/c/server.py is also a
 * proxy: absolute-form requests are served by path whatever the host, and
 * CONNECT opens a tunnel to the TLS peer (refuse.test gets 407). /echo
 * shows the request head as the server received it. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

static int http_port;

static void set_proxy(reqivo_session *s, const char *url) {
  reqivo_error err;
  CHECK_CODE(reqivo_session_set_proxy(s, url, strlen(url), &err), REQIVO_OK);
}

static void test_forwarding_with_credentials_and_keep_alive(void) {
  reqivo_error err;
  char proxy[128];
  snprintf(proxy, sizeof proxy, "http://user:pw@127.0.0.1:%d", http_port);
  reqivo_session *s = reqivo_session_new(NULL, &err);
  set_proxy(s, proxy);

  const reqivo_response *r = get_url(s, "http://origin.test/echo?x=1", &err);
  CHECK(r != NULL && r->status == 200);
  CHECKF(echoed(r, "GET http://origin.test/echo?x=1 HTTP/1.1\r\n"), "%s", r ? (const char *)r->body : "");
  CHECK(echoed(r, "\r\nHost: origin.test\r\n"));
  CHECK(echoed(r, "\r\nProxy-Authorization: Basic dXNlcjpwdw==\r\n")); /* user:pw */
  reqivo_response_free(r);

  /* Another origin, same proxy connection. */
  r = get_url(s, "http://other.test:8080/echo", &err);
  CHECK(r != NULL && r->status == 200);
  CHECK(echoed(r, "GET http://other.test:8080/echo HTTP/1.1\r\n"));
  CHECK(echoed(r, "\r\nHost: other.test:8080\r\n"));
  CHECK(r != NULL && (r->flags & REQIVO_RESPONSE_REUSED));
  reqivo_response_free(r);
  reqivo_pool *pool = reqivo_session_pool(s);
  reqivo_pool_stats st;
  memset(&st, 0, sizeof st);
  st.struct_size = sizeof st;
  reqivo_pool_get_stats(pool, &st);
  CHECK_EQ(st.opened, 1);
  reqivo_pool_free(pool);

  /* An empty URL goes direct again: origin-form target. */
  CHECK_CODE(reqivo_session_set_proxy(s, NULL, 0, &err), REQIVO_OK);
  char direct[128];
  r = get_url(s, url_to(direct, sizeof direct, "/echo"), &err);
  CHECK(echoed(r, "GET /echo HTTP/1.1\r\n"));
  CHECK(!echoed(r, "Proxy-Authorization"));
  reqivo_response_free(r);
  reqivo_session_free(s);
}

static void test_no_proxy(void) {
  reqivo_error err;
  char proxy[64], url[128];
  snprintf(proxy, sizeof proxy, "127.0.0.1:%d", http_port); /* scheme left out */
  reqivo_session *s = reqivo_session_new(NULL, &err);
  set_proxy(s, proxy);
  const char *list = "example.test, 127.0.0.0/8";
  CHECK_CODE(reqivo_session_set_no_proxy(s, list, strlen(list), &err), REQIVO_OK);
  const reqivo_response *r = get_url(s, url_to(url, sizeof url, "/echo"), &err);
  CHECK(echoed(r, "GET /echo HTTP/1.1\r\n")); /* 127.0.0.1 is in 127.0.0.0/8: direct */
  reqivo_response_free(r);
  r = get_url(s, "http://via.test/echo", &err);
  CHECK(echoed(r, "GET http://via.test/echo HTTP/1.1\r\n"));
  reqivo_response_free(r);
  /* example.test and its subdomains bypass the proxy, so their names must
   * resolve, and they do not. */
  r = get_url(s, "http://www.example.test/echo", &err);
  CHECK(r == NULL && reqivo_code_class(err.code) == 2000);
  CHECK_CODE(reqivo_session_set_no_proxy(s, NULL, 0, &err), REQIVO_OK);
  r = get_url(s, url_to(url, sizeof url, "/echo"), &err);
  CHECK(echoed(r, "GET http://127.0.0.1:")); /* the list is empty again */
  reqivo_response_free(r);
  reqivo_session_free(s);
}

static void test_environment(void) {
  reqivo_error err;
  char proxy[64];
  snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", http_port);
  reqivo_session *s = reqivo_session_new(NULL, &err);
  setenv("HTTP_PROXY", proxy, 1);
  setenv("NO_PROXY", "skip.test", 1);
  unsetenv("REQUEST_METHOD");

  /* Not read until asked: env.test does not resolve. */
  const reqivo_response *r = get_url(s, "http://env.test/echo", &err);
  CHECK(r == NULL && err.code == REQIVO_ERR_DNS);
  CHECK_CODE(reqivo_session_use_env_proxy(s, &err), REQIVO_OK);
  r = get_url(s, "http://env.test/echo", &err);
  CHECK(echoed(r, "GET http://env.test/echo HTTP/1.1\r\n"));
  reqivo_response_free(r);
  r = get_url(s, "http://skip.test/echo", &err);
  CHECK(r == NULL && err.code == REQIVO_ERR_DNS); /* NO_PROXY: direct */

  setenv("HTTP_PROXY", "socks4://127.0.0.1:1", 1);
  CHECK_CODE(reqivo_session_use_env_proxy(s, &err), REQIVO_ERR_INVALID_CONFIG);
  CHECK_CONTAINS(err.message, "HTTP_PROXY");
  unsetenv("HTTP_PROXY");
  unsetenv("NO_PROXY");
  reqivo_session_free(s);
}

/* The whole file DIR/ca.pem; *len without the NUL. */
static char *read_ca(size_t *len) {
  char path[512];
  snprintf(path, sizeof path, "%s/ca.pem", getenv("REQIVO_TLS_DIR"));
  FILE *f = fopen(path, "rb");
  CHECK(f != NULL);
  if (f == NULL) {
    exit(2);
  }
  char *buf = calloc(1, 65536);
  *len = fread(buf, 1, 65535, f);
  fclose(f);
  return buf;
}

static void test_connect_tunnel(int tls_port) {
  reqivo_error err;
  size_t ca_len;
  char *ca = read_ca(&ca_len);
  reqivo_tls_config_builder *b = reqivo_tls_config_builder_new();
  CHECK_EQ(reqivo_tls_config_builder_use_system_roots(b, false), 0);
  CHECK_EQ(reqivo_tls_config_builder_add_root_pem(b, (const uint8_t *)ca, ca_len, &err), 0);
  const reqivo_tls_config *tls = reqivo_tls_config_builder_build(b, &err);
  free(ca);
  CHECK(tls != NULL);

  reqivo_session *s = reqivo_session_new(NULL, &err);
  CHECK_CODE(reqivo_session_set_tls(s, tls), REQIVO_OK);
  reqivo_tls_config_free(tls);
  char proxy[64], url[128];
  snprintf(proxy, sizeof proxy, "http://tunnel:user@127.0.0.1:%d", http_port);
  set_proxy(s, proxy);

  snprintf(url, sizeof url, "https://localhost:%d/", tls_port);
  for (int i = 0; i < 2; i++) {
    const reqivo_response *r = get_url(s, url, &err);
    CHECKF(r != NULL && r->status == 200, "%s", err.message);
    if (r != NULL) {
      CHECK(r->flags & REQIVO_RESPONSE_TLS);
      CHECK(r->body_len == 10 && memcmp(r->body, "hello tls\n", 10) == 0);
      CHECK(i == 0 || (r->flags & REQIVO_RESPONSE_REUSED)); /* the tunnel is kept */
    }
    reqivo_response_free(r);
  }

  /* A proxy that refuses the tunnel. */
  const reqivo_response *r = get_url(s, "https://refuse.test/", &err);
  CHECK(r == NULL);
  CHECK_ERR(err, REQIVO_ERR_PROXY, "407");
  CHECK_EQ(reqivo_code_class(REQIVO_ERR_PROXY), 2000);
  reqivo_session_free(s);
}

/* The Cookie header /echo saw through the proxy, copied into out. */
static void cookie_seen(reqivo_session *s, const char *url, char *out, size_t cap) {
  reqivo_error err;
  out[0] = '\0';
  const reqivo_response *r = get_url(s, url, &err);
  CHECK(r != NULL && r->status == 200);
  const char *at = r ? strstr((const char *)r->body, "\r\nCookie: ") : NULL;
  if (at != NULL) {
    at += strlen("\r\nCookie: ");
    snprintf(out, cap, "%.*s", (int)strcspn(at, "\r"), at);
  }
  reqivo_response_free(r);
}

static void test_public_suffix_cookies(void) {
  reqivo_error err;
  char proxy[64], seen[128];
  snprintf(proxy, sizeof proxy, "127.0.0.1:%d", http_port);
  const char *list =
      "// ===BEGIN ICANN DOMAINS===\nuk\nco.uk\n// ===END ICANN DOMAINS===\n";
  const char *system_list = "/usr/share/publicsuffix/public_suffix_list.dat";
  FILE *f = fopen(system_list, "r");
  int have_system_list = f != NULL;
  if (f != NULL) {
    fclose(f);
  }
  /* Once with the caller's list, once with the system's. */
  for (int round = 0; round < 2; round++) {
    reqivo_session *s = reqivo_session_new(NULL, &err);
    set_proxy(s, proxy);
    if (round == 0) {
      CHECK_CODE(reqivo_session_set_public_suffix_list(s, list, strlen(list), &err), REQIVO_OK);
    } else if (!have_system_list) {
      fprintf(stderr, "note: %s missing; system-list round skipped\n", system_list);
      reqivo_session_free(s);
      break;
    }
    cookie_seen(s, "http://www.example.co.uk/cookie/psl", seen, sizeof seen);
    cookie_seen(s, "http://shop.example.co.uk/echo", seen, sizeof seen);
    CHECK_STR_EQ(seen, "a=1"); /* b=2 was for all of co.uk: refused */
    cookie_seen(s, "http://elsewhere.co.uk/echo", seen, sizeof seen);
    CHECK_STR_EQ(seen, "");
    reqivo_session_free(s);
  }

  reqivo_session *s = reqivo_session_new(NULL, &err);
  const char *no_sections = "co.uk\n";
  CHECK_CODE(reqivo_session_set_public_suffix_list(s, no_sections, strlen(no_sections), &err),
             REQIVO_ERR_INVALID_CONFIG);
  CHECK_CONTAINS(err.message, "===BEGIN ICANN DOMAINS===");
  CHECK_CODE(reqivo_session_set_public_suffix_list(s, "\xff", 1, &err),
             REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_CODE(reqivo_session_set_public_suffix_list(s, NULL, 0, &err), REQIVO_OK);
  reqivo_session_free(s);
}

static void test_misuse(void) {
  reqivo_error err;
  CHECK_CODE(reqivo_session_set_proxy(NULL, "x", 1, &err), REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_CODE(reqivo_session_set_no_proxy(NULL, "x", 1, &err), REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_CODE(reqivo_session_use_env_proxy(NULL, &err), REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_CODE(reqivo_session_set_public_suffix_list(NULL, NULL, 0, &err),
             REQIVO_ERR_INVALID_ARGUMENT);
  reqivo_session *s = reqivo_session_new(NULL, &err);
  CHECK_CODE(reqivo_session_set_proxy(s, NULL, 5, &err), REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_CODE(reqivo_session_set_proxy(s, "https://p.test", 14, &err),
             REQIVO_ERR_UNSUPPORTED_SCHEME);
  CHECK_CODE(reqivo_session_set_proxy(s, "http://p.test/x", 15, &err), REQIVO_ERR_INVALID_URL);
  CHECK_CODE(reqivo_session_set_proxy(s, "http://\xff", 8, &err), REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_CODE(reqivo_session_set_no_proxy(s, NULL, 3, &err), REQIVO_ERR_INVALID_ARGUMENT);
  reqivo_session_free(s);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  http_port = atoi(strrchr(test_origin, ':') + 1);
  int tls_port = 0;
  const char *ports = getenv("REQIVO_TLS_PORTS");
  if (getenv("REQIVO_TLS_DIR") == NULL || ports == NULL || sscanf(ports, "%d", &tls_port) != 1) {
    fprintf(stderr, "REQIVO_TLS_DIR and REQIVO_TLS_PORTS must be set (tests/c/run.sh does)\n");
    return 2;
  }
  test_forwarding_with_credentials_and_keep_alive();
  test_no_proxy();
  test_environment();
  test_connect_tunnel(tls_port);
  test_public_suffix_cookies();
  test_misuse();
  return check_finish("test_proxy");
}
