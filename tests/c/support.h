/* Helpers shared by the C test programs: the scripted server's address,
 * one-call GETs, the server's connection/request counters, a monotonic
 * clock, and checks on reqivo_error. Every program defines
 * _POSIX_C_SOURCE before including this (clock_gettime, nanosleep). */
#ifndef REQIVO_TEST_SUPPORT_H
#define REQIVO_TEST_SUPPORT_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "reqivo.h"

/* "http://127.0.0.1:PORT", from argv[1] or $REQIVO_TEST_PORT. */
static char test_origin[64];

static inline void test_init(int argc, char **argv) {
  const char *port = argc > 1 ? argv[1] : getenv("REQIVO_TEST_PORT");
  if (port == NULL || atoi(port) <= 0 || atoi(port) > 65535) {
    fprintf(stderr, "usage: %s PORT (the port tests/c/server.py printed)\n", argv[0]);
    exit(2);
  }
  snprintf(test_origin, sizeof test_origin, "http://127.0.0.1:%d", atoi(port));
}

/* Writes origin + path into out (cap bytes) and returns out. */
static inline const char *url_to(char *out, size_t cap, const char *path) {
  snprintf(out, cap, "%s%s", test_origin, path);
  return out;
}

static inline double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static inline void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* Builds a request for method + origin + path; NULL (err filled) on error. */
static inline reqivo_request *request_to(const char *method, const char *path,
                                         reqivo_error *err) {
  char url[256];
  url_to(url, sizeof url, path);
  return reqivo_request_new(method, strlen(method), url, strlen(url), err);
}

/* GET origin + path through s; the response, or NULL with err filled. */
static inline const reqivo_response *get(reqivo_session *s, const char *path, reqivo_error *err) {
  reqivo_request *r = request_to("GET", path, err);
  if (r == NULL) {
    return NULL;
  }
  const reqivo_response *resp = reqivo_session_send(s, r, NULL, err);
  reqivo_request_free(r);
  return resp;
}

/* GET url (absolute) through s; the response, or NULL with err filled. */
static inline const reqivo_response *get_url(reqivo_session *s, const char *url,
                                             reqivo_error *err) {
  reqivo_request *r = reqivo_request_new("GET", 3, url, strlen(url), err);
  if (r == NULL) {
    return NULL;
  }
  const reqivo_response *resp = reqivo_session_send(s, r, NULL, err);
  reqivo_request_free(r);
  return resp;
}

/* True when the body of r (tests/c/server.py's /echo: the request head as
 * received) contains needle. */
static inline int echoed(const reqivo_response *r, const char *needle) {
  return r != NULL && r->body != NULL && strstr((const char *)r->body, needle) != NULL;
}

/* True when the response body equals the NUL-terminated text. */
static inline int body_is(const reqivo_response *resp, const char *text) {
  return resp != NULL && resp->body_len == strlen(text) &&
         memcmp(resp->body, text, resp->body_len) == 0;
}

/* The server's counters: connections accepted and requests served other
 * than /stats. Asked over a fresh session with Connection: close, so the
 * question itself adds exactly one connection and no request. Returns 0 on
 * success. */
typedef struct server_counts {
  long connections;
  long requests;
} server_counts;

static inline int server_stats(server_counts *out) {
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  if (s == NULL) {
    return -1;
  }
  reqivo_request *r = request_to("GET", "/stats", &err);
  int rc = -1;
  if (r != NULL && reqivo_request_add_header(r, "Connection", 10, "close", 5, &err) == 0) {
    const reqivo_response *resp = reqivo_session_send(s, r, NULL, &err);
    if (resp != NULL && resp->status == 200 &&
        sscanf((const char *)resp->body, "connections=%ld requests=%ld", &out->connections,
               &out->requests) == 2) {
      rc = 0;
    }
    reqivo_response_free(resp);
  }
  if (rc != 0) {
    fprintf(stderr, "server_stats failed: %s: %s\n", reqivo_code_name(err.code), err.message);
  }
  reqivo_request_free(r);
  reqivo_session_free(s);
  return rc;
}

/* What happened at the server between two server_stats() calls, not
 * counting the second call's own connection. */
static inline server_counts server_delta(server_counts before) {
  server_counts after = {-1000, -1000};
  if (server_stats(&after) != 0) {
    return after;
  }
  server_counts d = {after.connections - before.connections - 1,
                     after.requests - before.requests};
  return d;
}

static inline int check_err_at(const reqivo_error *err, uint32_t code, const char *needle,
                               const char *file, int line, const char *expr) {
  int ok = err->code == code && (needle == NULL || strstr(err->message, needle) != NULL) &&
           (code == 0 ? err->message[0] == '\0' && err->os_error == 0 : err->message[0] != '\0');
  return check_atf(ok, file, line, expr, "got %s (%u) \"%s\", want %s (%u) with \"%s\"",
                   reqivo_code_name(err->code), err->code, err->message,
                   reqivo_code_name(code), code, needle ? needle : "");
}
/* err holds `code` and a message containing `needle` (NULL: any message;
 * for code 0 the message must be empty). */
#define CHECK_ERR(err, code, needle) \
  check_err_at(&(err), (code), (needle), __FILE__, __LINE__, #err " is " #code)
#define CHECK_OK(err) check_err_at(&(err), 0, NULL, __FILE__, __LINE__, #err " is OK")

static inline int check_code_at(uint32_t got, uint32_t want, const char *file, int line,
                                const char *expr) {
  return check_atf(got == want, file, line, expr, "got %s (%u), want %s (%u)",
                   reqivo_code_name(got), (unsigned)got, reqivo_code_name(want), (unsigned)want);
}
/* A returned code equals the wanted one; names both when it does not. The
 * call is evaluated once. */
#define CHECK_CODE(got, want) \
  check_code_at((uint32_t)(got), (uint32_t)(want), __FILE__, __LINE__, #got " == " #want)

/* Fills err with garbage, so a test can see that a call cleared it. */
static inline void dirty(reqivo_error *err) {
  err->code = 4242;
  err->os_error = 99;
  memset(err->message, 'x', sizeof err->message - 1);
  err->message[sizeof err->message - 1] = '\0';
}

/* A TLS config trusting only the tests' CA ($REQIVO_TLS_DIR/ca.pem, made
 * by tests/c/tls_server.py); NULL (and a failed check) without it. The
 * caller frees it with reqivo_tls_config_free. */
static inline const reqivo_tls_config *test_ca_tls(void) {
  char path[512];
  const char *dir = getenv("REQIVO_TLS_DIR");
  snprintf(path, sizeof path, "%s/ca.pem", dir != NULL ? dir : ".");
  FILE *f = fopen(path, "rb");
  CHECKF(f != NULL, "cannot open %s (tests/c/run.sh sets REQIVO_TLS_DIR)", path);
  if (f == NULL) {
    return NULL;
  }
  static char pem[65536];
  size_t n = fread(pem, 1, sizeof pem, f);
  fclose(f);
  reqivo_error err;
  reqivo_tls_config_builder *b = reqivo_tls_config_builder_new();
  reqivo_tls_config_builder_use_system_roots(b, false);
  CHECK_EQ(reqivo_tls_config_builder_add_root_pem(b, (const uint8_t *)pem, n, &err), 0);
  const reqivo_tls_config *cfg = reqivo_tls_config_builder_build(b, &err);
  CHECK_OK(err);
  return cfg;
}

#endif /* REQIVO_TEST_SUPPORT_H */
