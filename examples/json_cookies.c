/* A JSON POST with typed lookups into the answer, and a cookie round trip:
 * the server sets a cookie, the session's jar sends it back, and the jar
 * is saved as text a program could keep between runs.
 * Usage: json_cookies URL (any URL of the demo server; its origin is used). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "reqivo.h"

static const reqivo_response *send_request(reqivo_session *s, const char *method,
                                           const char *url, const char *json) {
  reqivo_error err;
  reqivo_request *req = reqivo_request_new(method, strlen(method), url, strlen(url), &err);
  if (req != NULL && json != NULL && reqivo_request_set_json(req, json, strlen(json), &err) != 0) {
    reqivo_request_free(req);
    req = NULL;
  }
  const reqivo_response *resp = req ? reqivo_session_send(s, req, NULL, &err) : NULL;
  reqivo_request_free(req);
  if (resp == NULL) {
    fflush(stdout); /* keep the output in order */
    fprintf(stderr, "%s %s failed: %s: %s\n", method, url, reqivo_code_name(err.code), err.message);
  }
  return resp;
}

/* Prints the value at pointer in resp's JSON body. */
static void show(const reqivo_response *resp, const char *pointer) {
  reqivo_error err;
  reqivo_json_value v;
  memset(&v, 0, sizeof v);
  v.struct_size = sizeof v;
  if (reqivo_response_json(resp, pointer, strlen(pointer), &v, &err) != 0) {
    printf("  %-14s -> %s\n", pointer, reqivo_code_name(err.code));
    return;
  }
  char text[256];
  size_t len;
  switch (v.type) {
  case REQIVO_JSON_STRING:
    if (reqivo_json_string(&v, text, sizeof text, &len, &err) == 0) {
      printf("  %-14s -> string \"%s\"\n", pointer, text);
    }
    break;
  case REQIVO_JSON_INTEGER:
    printf("  %-14s -> integer %" PRId64 "\n", pointer, v.integer);
    break;
  case REQIVO_JSON_BOOL:
    printf("  %-14s -> bool %s\n", pointer, v.boolean ? "true" : "false");
    break;
  default:
    printf("  %-14s -> %.*s\n", pointer, (int)v.raw.len, v.raw.ptr);
  }
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s URL\n", argv[0]);
    return 2;
  }
  /* The origin of the first URL: scheme://host:port */
  char base[256];
  const char *path = strchr(strstr(argv[1], "://") ? strstr(argv[1], "://") + 3 : argv[1], '/');
  snprintf(base, sizeof base, "%.*s", path ? (int)(path - argv[1]) : (int)strlen(argv[1]), argv[1]);
  char url[320];
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  if (s == NULL) {
    return 1;
  }
  int failures = 0;

  /* 1. JSON POST: validated, sent with Content-Type: application/json. */
  snprintf(url, sizeof url, "%s/echo", base);
  const reqivo_response *r =
      send_request(s, "POST", url, "{\"library\": \"reqivo\", \"from\": \"C\", \"n\": 42}");
  if (r != NULL) {
    printf("POST %s -> %u; lookups into the echo:\n", url, r->status);
    show(r, "/method");
    show(r, "/content_type");
    show(r, "/length");
    show(r, "/missing");
    reqivo_response_free(r);
  } else {
    failures++;
  }
  /* Invalid JSON is refused by reqivo_request_set_json, before anything
   * is sent: this refusal is what the demo means to show. */
  const char *bad = "{\"unterminated\": ";
  reqivo_request *req = reqivo_request_new("POST", 4, url, strlen(url), &err);
  if (req != NULL && reqivo_request_set_json(req, bad, strlen(bad), &err) == REQIVO_ERR_INVALID_JSON) {
    printf("POST with the invalid JSON %s is refused before sending, as intended:\n  %s: %s\n", bad,
           reqivo_code_name(err.code), err.message);
  } else {
    printf("invalid JSON was not refused\n");
    failures++;
  }
  reqivo_request_free(req);

  /* 2. Cookie round trip: /login sets it, /whoami shows what came back. */
  snprintf(url, sizeof url, "%s/login", base);
  r = send_request(s, "GET", url, NULL);
  const reqivo_str *set = NULL;
  for (size_t i = 0; r != NULL && i < r->header_count; i++) {
    if (strcmp(r->headers[i].name.ptr, "Set-Cookie") == 0) {
      set = &r->headers[i].value;
    }
  }
  printf("GET %s -> %u, Set-Cookie: %s\n", url, r ? r->status : 0, set ? set->ptr : "(none)");
  failures += r == NULL || set == NULL;
  reqivo_response_free(r);
  snprintf(url, sizeof url, "%s/whoami", base);
  r = send_request(s, "GET", url, NULL);
  if (r != NULL) {
    printf("GET %s -> %u: %.*s", url, r->status, (int)r->body_len, (const char *)r->body);
    failures += strstr((const char *)r->body, "demo_user") == NULL;
    reqivo_response_free(r);
  } else {
    failures++;
  }
  char jar[1024];
  size_t jar_len = 0;
  if (reqivo_session_save_cookies(s, jar, sizeof jar, &jar_len, &err) == 0) {
    printf("saved jar (%zu bytes, persistent cookies only): %s\n", jar_len, jar);
  }
  reqivo_session_free(s);
  return failures == 0 ? 0 : 1;
}
