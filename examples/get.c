/* A GET through a session: status, headers, timings, and whether the
 * connection was reused. Usage: get URL [URL...] (all through one session).
 * HTTPS URLs are verified against the system's roots, plus the CA in the
 * PEM file named by $REQIVO_DEMO_CA when it is set (make demo sets it). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reqivo.h"

static int fetch(reqivo_session *session, const char *url) {
  reqivo_error err;
  reqivo_request *req = reqivo_request_new("GET", 3, url, strlen(url), &err);
  if (req == NULL) {
    fprintf(stderr, "request: %s (%s)\n", err.message, reqivo_code_name(err.code));
    return 1;
  }
  const reqivo_response *resp = reqivo_session_send(session, req, NULL, &err);
  reqivo_request_free(req);
  if (resp == NULL) {
    fprintf(stderr, "GET %s failed: %s: %s\n", url, reqivo_code_name(err.code), err.message);
    return 1;
  }
  printf("GET %s -> HTTP/%u.%u %u %s\n", resp->url.ptr, resp->http_major, resp->http_minor,
         resp->status, resp->reason.ptr);
  for (size_t i = 0; i < resp->header_count; i++) {
    printf("  %s: %s\n", resp->headers[i].name.ptr, resp->headers[i].value.ptr);
  }
  printf("  %zu body bytes, redirects: %u, connection %s%s\n", resp->body_len,
         resp->redirect_count, (resp->flags & REQIVO_RESPONSE_REUSED) ? "reused" : "new",
         (resp->flags & REQIVO_RESPONSE_TLS) ? ", TLS" : "");
  printf("  timings (us): connect %" PRIu64 ", tls %" PRIu64 ", sent %" PRIu64
         ", first byte %" PRIu64 ", total %" PRIu64 "\n",
         resp->timings.connect_ns / 1000, resp->timings.tls_ns / 1000, resp->timings.sent_ns / 1000,
         resp->timings.first_byte_ns / 1000, resp->timings.total_ns / 1000);
  if (resp->body_len > 0) {
    int shown = resp->body_len > 200 ? 200 : (int)resp->body_len;
    printf("  body: %.*s%s\n", shown, (const char *)resp->body, resp->body_len > 200 ? "..." : "");
  }
  reqivo_response_free(resp);
  return 0;
}

/* Trusts the extra CA in $REQIVO_DEMO_CA, if any. Returns 0 on success. */
static int trust_demo_ca(reqivo_session *session) {
  const char *path = getenv("REQIVO_DEMO_CA");
  if (path == NULL) {
    return 0;
  }
  static char pem[16384];
  FILE *f = fopen(path, "rb");
  size_t len = f ? fread(pem, 1, sizeof pem, f) : 0;
  if (f) fclose(f);
  reqivo_error err;
  reqivo_tls_config_builder *b = reqivo_tls_config_builder_new();
  const reqivo_tls_config *tls = NULL;
  if (b != NULL && reqivo_tls_config_builder_add_root_pem(b, (const uint8_t *)pem, len, &err) == 0) {
    tls = reqivo_tls_config_builder_build(b, &err); /* consumes the builder */
  } else {
    reqivo_tls_config_builder_free(b);
  }
  if (tls == NULL) {
    fprintf(stderr, "demo CA %s: %s\n", path, err.message);
    return 1;
  }
  reqivo_session_set_tls(session, tls); /* the session keeps its own reference */
  reqivo_tls_config_free(tls);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s URL [URL...]\n", argv[0]);
    return 2;
  }
  printf("libreqivo %s\n", reqivo_version());
  reqivo_error err;
  reqivo_session *session = reqivo_session_new(NULL, &err);
  if (session == NULL) {
    fprintf(stderr, "session: %s\n", err.message);
    return 1;
  }
  int failures = trust_demo_ca(session);
  for (int i = 1; i < argc; i++) {
    failures += fetch(session, argv[i]);
  }
  reqivo_session_free(session);
  return failures == 0 ? 0 : 1;
}
