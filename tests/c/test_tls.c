/* HTTPS: the TLS config builder and config (every function, NULL and bad
 * input), and real handshakes against tests/c/tls_server.py: trusted and
 * untrusted roots, a wrong name, client certificates (SEC1 and PKCS#1
 * keys), pins, a TLS 1.2-only server, keep-alive, resumption, and an
 * https -> http redirect that must drop credentials. run.sh exports
 * REQIVO_TLS_DIR (the PEM files) and REQIVO_TLS_PORTS ("OK MTLS TLS12 WRONG"). */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

static const char *tls_dir;
static int port_ok, port_mtls, port_tls12, port_wrong;

/* The whole file DIR/name, NUL-terminated; *len without the NUL. Exits on failure. */
static char *slurp(const char *name, size_t *len) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", tls_dir, name);
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    fprintf(stderr, "cannot open %s\n", path);
    exit(2);
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
    fprintf(stderr, "cannot read %s\n", path);
    exit(2);
  }
  buf[n] = '\0';
  fclose(f);
  *len = (size_t)n;
  return buf;
}

/* A builder trusting only the test CA. */
static reqivo_tls_config_builder *trusting_test_ca(void) {
  reqivo_error err;
  size_t n;
  char *ca = slurp("ca.pem", &n);
  reqivo_tls_config_builder *b = reqivo_tls_config_builder_new();
  CHECK(b != NULL);
  CHECK_EQ(reqivo_tls_config_builder_use_system_roots(b, false), 0);
  CHECK_EQ(reqivo_tls_config_builder_add_root_pem(b, (const uint8_t *)ca, n, &err), 0);
  CHECK_OK(err);
  free(ca);
  return b;
}

static void set_client_cert(reqivo_tls_config_builder *b, const char *cert, const char *key) {
  reqivo_error err;
  size_t cn, kn;
  char *c = slurp(cert, &cn);
  char *k = slurp(key, &kn);
  CHECK_EQ(reqivo_tls_config_builder_set_client_auth_pem(b, (const uint8_t *)c, cn,
                                                         (const uint8_t *)k, kn, &err),
           0);
  CHECK_OK(err);
  free(c);
  free(k);
}

/* A session using the config built from b; the caller's config reference
 * is freed at once (the session keeps its own). */
static reqivo_session *session_from(reqivo_tls_config_builder *b) {
  reqivo_error err;
  const reqivo_tls_config *cfg = reqivo_tls_config_builder_build(b, &err);
  CHECKF(cfg != NULL, "%s", err.message);
  reqivo_session *s = reqivo_session_new(NULL, &err);
  CHECK(s != NULL);
  CHECK_EQ(reqivo_session_set_tls(s, cfg), 0);
  reqivo_tls_config_free(cfg);
  return s;
}

/* GET https://host:port/path through s. */
static const reqivo_response *get_tls(reqivo_session *s, const char *host, int port,
                                      const char *path, reqivo_error *err) {
  char url[256];
  snprintf(url, sizeof url, "https://%s:%d%s", host, port, path);
  return get_url(s, url, err);
}

/* The request fails with `code` and a message containing `needle`. */
static void expect_failure(reqivo_session *s, const char *host, int port, uint32_t code,
                           const char *needle) {
  reqivo_error err;
  dirty(&err);
  const reqivo_response *r = get_tls(s, host, port, "/", &err);
  CHECK(r == NULL);
  CHECK_ERR(err, code, needle);
  CHECK_EQ(reqivo_code_class(err.code), 2100);
  reqivo_response_free(r);
}

static void test_builder_arguments(void) {
  reqivo_error err;
  reqivo_tls_config_builder_free(NULL);
  reqivo_tls_config_free(NULL);

  dirty(&err);
  CHECK(reqivo_tls_config_builder_build(NULL, &err) == NULL);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, "NULL");
  CHECK_CODE(reqivo_tls_config_builder_add_root_pem(NULL, (const uint8_t *)"x", 1, &err),
             REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_CODE(reqivo_tls_config_builder_use_system_roots(NULL, true), REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_CODE(reqivo_tls_config_builder_set_client_auth_pem(NULL, (const uint8_t *)"x", 1,
                                                           (const uint8_t *)"y", 1, &err),
             REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_CODE(reqivo_tls_config_builder_set_min_version(NULL, REQIVO_TLS_VERSION_1_3, &err),
             REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_CODE(reqivo_tls_config_builder_add_spki_pin_sha256(NULL, "x", 1, &err),
             REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_CODE(reqivo_tls_config_builder_dangerous_disable_verification(NULL),
             REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_CODE(reqivo_session_set_tls(NULL, NULL), REQIVO_ERR_INVALID_ARGUMENT);

  reqivo_tls_config_builder *b = reqivo_tls_config_builder_new();
  CHECK(b != NULL);
  dirty(&err);
  CHECK_CODE(reqivo_tls_config_builder_add_root_pem(b, NULL, 5, &err),
             REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, "pem");
  const char *junk = "not a certificate";
  CHECK_CODE(reqivo_tls_config_builder_add_root_pem(b, (const uint8_t *)junk, strlen(junk), &err),
             REQIVO_ERR_INVALID_CONFIG);
  CHECK_ERR(err, REQIVO_ERR_INVALID_CONFIG, "root certificate PEM #1");
  const char *bad = "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n";
  CHECK_CODE(reqivo_tls_config_builder_add_root_pem(b, (const uint8_t *)bad, strlen(bad), &err),
             REQIVO_ERR_INVALID_CONFIG);
  CHECK_ERR(err, REQIVO_ERR_INVALID_CONFIG, "invalid PEM");

  CHECK_CODE(reqivo_tls_config_builder_add_spki_pin_sha256(b, "AAAA", 4, &err),
             REQIVO_ERR_INVALID_CONFIG);
  CHECK_ERR(err, REQIVO_ERR_INVALID_CONFIG, "SPKI pin #1");
  CHECK_CODE(reqivo_tls_config_builder_add_spki_pin_sha256(b, "*", 1, &err),
             REQIVO_ERR_INVALID_CONFIG);
  CHECK_ERR(err, REQIVO_ERR_INVALID_CONFIG, "not base64");
  CHECK_CODE(reqivo_tls_config_builder_add_spki_pin_sha256(b, NULL, 0, &err),
             REQIVO_ERR_INVALID_ARGUMENT);

  CHECK_CODE(reqivo_tls_config_builder_set_min_version(b, 0x0301, &err),
             REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, "0x0301");
  CHECK_EQ(reqivo_tls_config_builder_set_min_version(b, REQIVO_TLS_VERSION_1_2, &err), 0);
  CHECK_OK(err);

  size_t cn, kn;
  char *cert = slurp("client-ec.pem", &cn);
  char *key = slurp("client-ec.key", &kn);
  char *other_key = slurp("client-rsa.key", &kn);
  CHECK_CODE(reqivo_tls_config_builder_set_client_auth_pem(b, (const uint8_t *)cert, cn, NULL, 0,
                                                           &err),
             REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_CODE(reqivo_tls_config_builder_set_client_auth_pem(b, (const uint8_t *)cert, cn,
                                                           (const uint8_t *)junk, strlen(junk),
                                                           &err),
             REQIVO_ERR_INVALID_CONFIG);
  CHECK_ERR(err, REQIVO_ERR_INVALID_CONFIG, "client private key");
  CHECK_CODE(reqivo_tls_config_builder_set_client_auth_pem(b, (const uint8_t *)junk, strlen(junk),
                                                           (const uint8_t *)key, strlen(key),
                                                           &err),
             REQIVO_ERR_INVALID_CONFIG);
  CHECK_ERR(err, REQIVO_ERR_INVALID_CONFIG, "client certificate chain");
  CHECK_CODE(reqivo_tls_config_builder_set_client_auth_pem(b, (const uint8_t *)cert, cn,
                                                           (const uint8_t *)other_key,
                                                           strlen(other_key), &err),
             REQIVO_ERR_INVALID_CONFIG);
  CHECK_ERR(err, REQIVO_ERR_INVALID_CONFIG, "not the key of the certificate");
  free(cert);
  free(key);
  free(other_key);

  /* No root at all: build fails, and still consumes the builder. */
  CHECK_EQ(reqivo_tls_config_builder_use_system_roots(b, false), 0);
  dirty(&err);
  CHECK(reqivo_tls_config_builder_build(b, &err) == NULL);
  CHECK_ERR(err, REQIVO_ERR_INVALID_CONFIG, "no trusted roots");

  /* A builder never built is freed. */
  reqivo_tls_config_builder *unused = reqivo_tls_config_builder_new();
  CHECK_EQ(reqivo_tls_config_builder_dangerous_disable_verification(unused), 0);
  reqivo_tls_config_builder_free(unused);

  /* The default config again, then a config the session outlives. */
  reqivo_session *s = reqivo_session_new(NULL, &err);
  CHECK_EQ(reqivo_session_set_tls(s, NULL), 0);
  reqivo_tls_config_builder *d = reqivo_tls_config_builder_new();
  const reqivo_tls_config *cfg = reqivo_tls_config_builder_build(d, &err);
  CHECKF(cfg != NULL, "%s", err.message);
  CHECK_EQ(reqivo_session_set_tls(s, cfg), 0);
  reqivo_tls_config_free(cfg);
  reqivo_session_free(s);
}

static void test_trust(void) {
  reqivo_error err;
  reqivo_session *s = session_from(trusting_test_ca());
  dirty(&err);
  const reqivo_response *r = get_tls(s, "127.0.0.1", port_ok, "/", &err);
  CHECKF(r != NULL, "%s", err.message);
  CHECK_OK(err);
  if (r != NULL) {
    CHECK_EQ(r->status, 200);
    CHECK(body_is(r, "hello tls\n"));
    CHECK((r->flags & REQIVO_RESPONSE_TLS) != 0);
    CHECK((r->flags & REQIVO_RESPONSE_TLS_RESUMED) == 0);
    CHECK(r->timings.tls_ns > r->timings.connect_ns);
  }
  reqivo_response_free(r);
  r = get_tls(s, "localhost", port_ok, "/", &err);
  CHECKF(r != NULL && r->status == 200, "%s", err.message);
  reqivo_response_free(r);
  /* Right CA, wrong name. */
  expect_failure(s, "127.0.0.1", port_wrong, REQIVO_ERR_TLS_HOSTNAME, "hostname mismatch");
  reqivo_session_free(s);

  /* The default config (system roots) does not know the test CA. */
  s = reqivo_session_new(NULL, &err);
  expect_failure(s, "127.0.0.1", port_ok, REQIVO_ERR_TLS_CERT_UNTRUSTED, "unknown issuer");
  reqivo_session_free(s);

  /* Verification off: the wrong name is accepted. */
  reqivo_tls_config_builder *b = reqivo_tls_config_builder_new();
  CHECK_EQ(reqivo_tls_config_builder_dangerous_disable_verification(b), 0);
  s = session_from(b);
  r = get_tls(s, "127.0.0.1", port_wrong, "/", &err);
  CHECKF(r != NULL && r->status == 200, "%s", err.message);
  reqivo_response_free(r);
  reqivo_session_free(s);
}

static void test_client_certificates(void) {
  reqivo_error err;
  reqivo_session *s = session_from(trusting_test_ca());
  expect_failure(s, "127.0.0.1", port_mtls, REQIVO_ERR_TLS_HANDSHAKE, "alert");
  reqivo_session_free(s);

  const char *pairs[2][2] = {{"client-ec.pem", "client-ec.key"},
                             {"client-rsa.pem", "client-rsa.key"}};
  for (int i = 0; i < 2; i++) {
    reqivo_tls_config_builder *b = trusting_test_ca();
    set_client_cert(b, pairs[i][0], pairs[i][1]);
    s = session_from(b);
    const reqivo_response *r = get_tls(s, "localhost", port_mtls, "/", &err);
    CHECKF(r != NULL && r->status == 200, "%s: %s", pairs[i][1], err.message);
    reqivo_response_free(r);
    reqivo_session_free(s);
  }
}

static void test_pins(void) {
  reqivo_error err;
  size_t n;
  char *pin = slurp("server.pin", &n);
  char *other = slurp("other.pin", &n);
  char curl_form[128];
  snprintf(curl_form, sizeof curl_form, "sha256//%s", pin);

  reqivo_tls_config_builder *b = trusting_test_ca();
  CHECK_EQ(reqivo_tls_config_builder_add_spki_pin_sha256(b, curl_form, strlen(curl_form), &err),
           0);
  CHECK_OK(err);
  reqivo_session *s = session_from(b);
  const reqivo_response *r = get_tls(s, "127.0.0.1", port_ok, "/", &err);
  CHECKF(r != NULL && r->status == 200, "%s", err.message);
  reqivo_response_free(r);
  reqivo_session_free(s);

  b = trusting_test_ca();
  CHECK_EQ(reqivo_tls_config_builder_add_spki_pin_sha256(b, other, strlen(other), &err), 0);
  s = session_from(b);
  expect_failure(s, "127.0.0.1", port_ok, REQIVO_ERR_TLS_PIN_MISMATCH, pin);
  reqivo_session_free(s);
  free(pin);
  free(other);
}

static void test_versions(void) {
  reqivo_error err;
  reqivo_session *s = session_from(trusting_test_ca());
  const reqivo_response *r = get_tls(s, "127.0.0.1", port_tls12, "/", &err);
  CHECKF(r != NULL && r->status == 200, "%s", err.message);
  CHECK(r != NULL && r->tls_version == REQIVO_TLS_VERSION_1_2);
  reqivo_response_free(r);
  r = get_tls(s, "127.0.0.1", port_ok, "/", &err);
  CHECKF(r != NULL && r->status == 200, "%s", err.message);
  CHECK(r != NULL && r->tls_version == REQIVO_TLS_VERSION_1_3);
  reqivo_response_free(r);
  reqivo_session_free(s);

  reqivo_tls_config_builder *b = trusting_test_ca();
  CHECK_EQ(reqivo_tls_config_builder_set_min_version(b, REQIVO_TLS_VERSION_1_3, &err), 0);
  s = session_from(b);
  expect_failure(s, "127.0.0.1", port_tls12, REQIVO_ERR_TLS_HANDSHAKE, "protocol version");
  reqivo_session_free(s);
}

static void test_keep_alive_and_resumption(void) {
  reqivo_error err;
  reqivo_pool *pool = reqivo_pool_new(NULL, &err);
  reqivo_tls_config_builder *b = trusting_test_ca();
  const reqivo_tls_config *cfg = reqivo_tls_config_builder_build(b, &err);
  reqivo_session *s = reqivo_session_new(pool, &err);
  CHECK_EQ(reqivo_session_set_tls(s, cfg), 0);
  for (int i = 0; i < 20; i++) {
    const reqivo_response *r = get_tls(s, "127.0.0.1", port_ok, "/", &err);
    CHECKF(r != NULL && r->status == 200, "request %d: %s", i, err.message);
    if (r != NULL && i > 0) {
      CHECK((r->flags & REQIVO_RESPONSE_REUSED) != 0);
      CHECK_EQ(r->timings.tls_ns, 0);
    }
    reqivo_response_free(r);
  }
  reqivo_pool_stats st;
  memset(&st, 0, sizeof st);
  st.struct_size = sizeof st;
  reqivo_pool_get_stats(pool, &st);
  CHECK_EQ(st.opened, 1);
  CHECK_EQ(st.reused, 19);

  /* /close ends the connection; a second session on the same config opens
   * a new one, which resumes the session cached by the first. */
  const reqivo_response *r = get_tls(s, "127.0.0.1", port_ok, "/close", &err);
  CHECKF(r != NULL && r->status == 200, "%s", err.message);
  reqivo_response_free(r);
  reqivo_session *s2 = reqivo_session_new(NULL, &err);
  CHECK_EQ(reqivo_session_set_tls(s2, cfg), 0);
  reqivo_tls_config_free(cfg);
  r = get_tls(s2, "127.0.0.1", port_ok, "/", &err);
  CHECKF(r != NULL && r->status == 200, "%s", err.message);
  if (r != NULL) {
    CHECK((r->flags & REQIVO_RESPONSE_REUSED) == 0);
    CHECK((r->flags & REQIVO_RESPONSE_TLS) != 0);
    CHECK((r->flags & REQIVO_RESPONSE_TLS_RESUMED) != 0);
  }
  reqivo_response_free(r);
  reqivo_session_free(s2);
  reqivo_session_free(s);
  reqivo_pool_free(pool);
}

static void test_downgrade_redirect_drops_credentials(void) {
  reqivo_error err;
  reqivo_session *s = session_from(trusting_test_ca());
  CHECK_EQ(reqivo_session_set_header(s, "Authorization", 13, "Bearer secret", 13, &err), 0);
  char url[128];
  snprintf(url, sizeof url, "https://127.0.0.1:%d/redirect-http", port_ok);
  reqivo_request *req = reqivo_request_new("GET", 3, url, strlen(url), &err);
  CHECK_EQ(reqivo_request_add_header(req, "Cookie", 6, "id=1", 4, &err), 0);
  CHECK_EQ(reqivo_request_add_header(req, "Proxy-Authorization", 19, "Basic eDp5", 10, &err), 0);
  const reqivo_response *r = reqivo_session_send(s, req, NULL, &err);
  CHECKF(r != NULL, "%s", err.message);
  if (r != NULL) {
    /* /echo answers with the request head as it arrived over plain HTTP. */
    CHECK_EQ(r->status, 200);
    CHECK_EQ(r->redirect_count, 1);
    CHECK((r->flags & REQIVO_RESPONSE_TLS) == 0);
    CHECK_EQ(r->tls_version, 0);
    CHECK(strstr((const char *)r->body, "GET /echo") != NULL);
    CHECK(strstr((const char *)r->body, "uthorization") == NULL);
    CHECK(strstr((const char *)r->body, "ookie") == NULL);
    CHECK(strstr((const char *)r->body, "secret") == NULL);
  }
  reqivo_response_free(r);
  reqivo_request_free(req);
  reqivo_session_free(s);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  tls_dir = getenv("REQIVO_TLS_DIR");
  const char *ports = getenv("REQIVO_TLS_PORTS");
  if (tls_dir == NULL || ports == NULL ||
      sscanf(ports, "%d %d %d %d", &port_ok, &port_mtls, &port_tls12, &port_wrong) != 4) {
    fprintf(stderr, "REQIVO_TLS_DIR and REQIVO_TLS_PORTS must be set (tests/c/run.sh does)\n");
    return 2;
  }
  test_builder_arguments();
  test_trust();
  test_client_certificates();
  test_pins();
  test_versions();
  test_keep_alive_and_resumption();
  test_downgrade_redirect_drops_credentials();
  return check_finish("test_tls");
}
