/* reqivo through its C API: one session (its own pool), one request built
 * once and sent COUNT times; responses freed after each send, or all held
 * (mode hold: the reqivo_response pointers are kept). Streams read into a
 * 64 KiB buffer. Mode ws: one WebSocket (reqivo_ws_connect, deflate
 * offered with no context takeover either way), COUNT binary messages of
 * SIZE bytes with reqivo_ws_send, then reqivo_ws_close, which waits for
 * the server's Close: the server has read every message by then.
 * BENCH_HTTP_VERSION=2 or 1.1 (common.h): reqivo_session_set_http_version
 * with that version, and every response must be of it. */
#include "common.h"

#include "reqivo.h"
#ifdef BENCH_HAVE_TLS_API
#include "reqivo_ca.h"
#endif

static void fail(const char *what, const reqivo_error *err) {
  fprintf(stderr, "reqivo_bench: %s: %s (%u): %s\n", what, reqivo_code_name(err->code), err->code,
          err->message);
  printf("{\"client\":\"reqivo-c\",\"error\":\"%s\",\"code\":%u}\n", reqivo_code_name(err->code), err->code);
  exit(1);
}

static reqivo_request *make(const char *url, int close_hdr) {
  reqivo_error err;
  reqivo_request *r = reqivo_request_new("GET", 3, url, strlen(url), &err);
  if (!r) fail("request_new", &err);
  if (close_hdr && reqivo_request_add_header(r, "Connection", 10, "close", 5, &err) != 0)
    fail("add_header Connection: close", &err);
  return r;
}

/* BENCH_HTTP_VERSION (0: not asked), and the version of the last response. */
static int want_major, seen_major, seen_minor;

static void check_version(const reqivo_response *resp) {
  seen_major = resp->http_major;
  seen_minor = resp->http_minor;
  if (want_major && resp->http_major != want_major) {
    fprintf(stderr, "reqivo_bench: HTTP/%s asked for, the response is HTTP/%u.%u\n", want_major == 2 ? "2" : "1.1",
            resp->http_major, resp->http_minor);
    printf("{\"client\":\"reqivo-c\",\"error\":\"HTTP/%s asked for, the response is HTTP/%u.%u\"}\n",
           want_major == 2 ? "2" : "1.1", resp->http_major, resp->http_minor);
    exit(1);
  }
}

static size_t send1(reqivo_session *s, const reqivo_request *r) {
  reqivo_error err;
  const reqivo_response *resp = reqivo_session_send(s, r, NULL, &err);
  if (!resp) fail("send", &err);
  if (resp->status != 200) { fprintf(stderr, "status %u\n", resp->status); exit(1); }
  check_version(resp);
  size_t n = resp->body_len;
  reqivo_response_free(resp);
  return n;
}

/* Trust the benchmark's CA. With the TLS configuration API (the driver
 * defines BENCH_HAVE_TLS_API when include/reqivo.h has it) the CA is added
 * explicitly; otherwise the library's system roots are expected to honour
 * SSL_CERT_FILE, which the driver points at the CA. */
static void setup_tls(reqivo_session *s) {
#ifdef BENCH_HAVE_TLS_API
  reqivo_error err;
  const char *step = bench_reqivo_trust_ca(s, &err);
  if (step) fail(step, &err);
#else
  (void)s;
#endif
}

/* Appends `v` to `out` as a JSON string body (no quotes added). */
static void json_escape(char *out, size_t cap, const char *v, size_t n) {
  size_t o = strlen(out);
  for (size_t i = 0; i < n && o + 7 < cap; i++) {
    unsigned char c = (unsigned char)v[i];
    if (c == '"' || c == '\\') { out[o++] = '\\'; out[o++] = (char)c; }
    else if (c < 0x20) o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
    else out[o++] = (char)c;
  }
  out[o] = 0;
}

static int run_ws(struct bench_args *a, reqivo_session *s) {
  reqivo_error err;
  uint8_t *msg = malloc(a->size ? a->size : 1);
  if (!msg) { perror("malloc"); exit(1); }
  bench_ws_message(msg, a->size);
  reqivo_ws_options *o = reqivo_ws_options_new();
  /* What gorilla's client offers: no context takeover either way. */
  const char *ctx = getenv("BENCH_WS_CONTEXT_TAKEOVER");
  int takeover = ctx && *ctx == '1';
  if (reqivo_ws_options_set_deflate(o, true, !takeover, !takeover, 0) != 0) {
    fprintf(stderr, "reqivo_bench: set_deflate failed\n");
    exit(1);
  }
  const reqivo_response *refused = NULL;
  reqivo_ws *ws = reqivo_ws_connect(s, a->url, strlen(a->url), o, NULL, &refused, &err);
  reqivo_ws_options_free(o);
  if (!ws) fail("ws_connect", &err);
  char extra[1024] = "\"ws_extensions\":\"";
  const reqivo_response *r = reqivo_ws_response(ws);
  for (size_t i = 0; r && i < r->header_count; i++)
    if (r->headers[i].name.len == 24 && !strncasecmp(r->headers[i].name.ptr, "Sec-WebSocket-Extensions", 24))
      json_escape(extra, sizeof extra - 64, r->headers[i].value.ptr, r->headers[i].value.len);
  for (long i = 0; i < a->warmup; i++)
    if (reqivo_ws_send(ws, REQIVO_WS_BINARY, msg, a->size, NULL, &err) != 0) fail("ws_send (warm-up)", &err);
  struct bench_mark st, en;
  unsigned long long bytes = 0;
  long n = 0;
  bench_mark_start(&st);
  while (bench_more(a, n, st.t)) {
    if (reqivo_ws_send(ws, REQIVO_WS_BINARY, msg, a->size, NULL, &err) != 0) fail("ws_send", &err);
    bytes += a->size;
    n++;
  }
  double sent = bench_now();
  if (reqivo_ws_close(ws, 1000, NULL, 0, &err) != 0) fail("ws_close", &err);
  bench_mark_end(&en);
  size_t el = strlen(extra);
  snprintf(extra + el, sizeof extra - el,
           "\",\"sent_secs\":%.6f,\"warmup\":%ld,\"size\":%zu,\"msg_fnv\":\"%016llx\",\"lib_version\":\"%s\"",
           sent - st.t, a->warmup, a->size, (unsigned long long)bench_fnv1a(msg, a->size), reqivo_version());
  bench_report("reqivo-c", a, n, bytes, &st, &en, extra);
  reqivo_ws_free(ws);
  free(msg);
  return 0;
}

int main(int argc, char **argv) {
  struct bench_args a;
  bench_parse(argc, argv, &a);
  reqivo_error err;
  reqivo_pool *pool = reqivo_pool_new(NULL, &err);
  if (!pool) fail("pool_new", &err);
  reqivo_session *s = reqivo_session_new(pool, &err);
  if (!s) fail("session_new", &err);
  if (!strncmp(a.url, "https:", 6) || !strncmp(a.url, "wss:", 4)) setup_tls(s);
  want_major = bench_http_version();
  if (want_major) {
#ifdef REQIVO_HTTP_VERSION_2
    if (reqivo_session_set_http_version(s, want_major == 2 ? REQIVO_HTTP_VERSION_2 : REQIVO_HTTP_VERSION_1_1, &err))
      fail("set_http_version", &err);
#else
    fprintf(stderr, "reqivo_bench: this reqivo has no reqivo_session_set_http_version\n");
    printf("{\"client\":\"reqivo-c\",\"error\":\"no reqivo_session_set_http_version in this reqivo\"}\n");
    return 1;
#endif
  }
  if (a.mode == MODE_WS) {
    run_ws(&a, s);
    reqivo_session_free(s);
    reqivo_pool_free(pool);
    return 0;
  }
  struct bench_mark st, en;
  unsigned long long bytes = 0;
  long n = 0;
  char extra[512] = "";

  if (a.mode == MODE_STREAM) {
    if (a.warm_url) {
      reqivo_request *w = make(a.warm_url, 0);
      for (int i = 0; i < 3; i++) send1(s, w);
      reqivo_request_free(w);
    }
    reqivo_request *r = make(a.url, 0);
    static uint8_t buf[65536];
    bench_reset_hwm();
    bench_mark_start(&st);
    reqivo_stream *str = reqivo_session_open(s, r, NULL, &err);
    if (!str) fail("open", &err);
    check_version(reqivo_stream_response(str));
    for (;;) {
      int64_t got = reqivo_stream_read(str, buf, sizeof buf, &err);
      if (got < 0) fail("stream_read", &err);
      if (got == 0) break;
      bytes += (unsigned long long)got;
    }
    reqivo_stream_free(str);
    n = 1;
    bench_mark_end(&en);
    reqivo_request_free(r);
  } else if (a.mode == MODE_HOLD) {
    reqivo_request *r = make(a.url, 0);
    for (long i = 0; i < a.warmup; i++) send1(s, r);
    const reqivo_response **kept = malloc((size_t)a.count * sizeof *kept);
    /* touched before the baseline, so only the responses count */
    for (long i = 0; i < a.count; i++) ((void *volatile *)kept)[i] = NULL;
    bench_mark_start(&st);
    for (n = 0; n < a.count; n++) {
      kept[n] = reqivo_session_send(s, r, NULL, &err);
      if (!kept[n]) fail("send", &err);
      bytes += kept[n]->body_len;
    }
    bench_mark_end(&en);
    /* the raw size of one response head, and its header count */
    if (n > 0 && kept[0]) {
      const reqivo_response *k = kept[0];
      size_t head = 9 + 4 + k->reason.len + 2 + 2; /* "HTTP/1.1 " "200 " reason CRLF, final CRLF */
      for (size_t i = 0; i < k->header_count; i++)
        head += k->headers[i].name.len + 2 + k->headers[i].value.len + 2;
      snprintf(extra, sizeof extra, "\"head_bytes\":%zu,\"header_count\":%zu,\"body_bytes\":%zu", head,
               k->header_count, k->body_len);
    }
    for (long i = 0; i < n; i++) reqivo_response_free(kept[i]);
    free(kept);
    reqivo_request_free(r);
  } else {
    reqivo_request *r = make(a.url, a.mode == MODE_NEWCONN);
    long warm = a.mode == MODE_NEWCONN ? (a.warmup < 10 ? a.warmup : 10) : a.warmup;
    for (long i = 0; i < warm; i++) send1(s, r);
    bench_mark_start(&st);
    while (bench_more(&a, n, st.t)) { bytes += send1(s, r); n++; }
    bench_mark_end(&en);
    reqivo_request_free(r);
  }
  reqivo_pool_stats ps;
  memset(&ps, 0, sizeof ps);
  ps.struct_size = sizeof ps;
  reqivo_pool_get_stats(pool, &ps);
  size_t el = strlen(extra);
  snprintf(extra + el, sizeof extra - el,
           "%s\"lib_version\":\"%s\",\"pool_opened\":%llu,\"pool_reused\":%llu,\"http_version\":\"%s\"",
           el ? "," : "", reqivo_version(), (unsigned long long)ps.opened, (unsigned long long)ps.reused,
           bench_version_name(seen_major, seen_minor));
#ifdef REQIVO_HTTP_VERSION_2
  el = strlen(extra);
  snprintf(extra + el, sizeof extra - el, ",\"h2_streams_opened\":%llu,\"h2_connections\":%llu",
           (unsigned long long)ps.streams_opened, (unsigned long long)ps.h2_connections);
#endif
  bench_report("reqivo-c", &a, n, bytes, &st, &en, extra);
  reqivo_session_free(s);
  reqivo_pool_free(pool);
  return 0;
}
