/* The physical limit: one fixed request written with one write(), the
 * response read with read() into a buffer, minimal Content-Length parsing,
 * no allocation per request (the body lands in a reused buffer). HTTPS
 * through OpenSSL (CA file from $BENCH_CA, no session resumption).
 * Only what the benchmark's nginx sends is handled: Content-Length bodies. */
#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static int tls;
static char host[64], path[512];
static int port;
static SSL_CTX *ctx;

struct conn { int fd; SSL *ssl; };

static void die(const char *what) {
  fprintf(stderr, "raw_bench: %s\n", what);
  ERR_print_errors_fp(stderr);
  exit(1);
}

static void parse_url(const char *url) {
  const char *p;
  if (!strncmp(url, "http://", 7)) { tls = 0; p = url + 7; port = 80; }
  else if (!strncmp(url, "https://", 8)) { tls = 1; p = url + 8; port = 443; }
  else die("bad url");
  const char *slash = strchr(p, '/');
  const char *colon = memchr(p, ':', slash ? (size_t)(slash - p) : strlen(p));
  size_t hl = colon ? (size_t)(colon - p) : (slash ? (size_t)(slash - p) : strlen(p));
  if (hl >= sizeof host) die("host too long");
  memcpy(host, p, hl);
  host[hl] = 0;
  if (colon) port = atoi(colon + 1);
  snprintf(path, sizeof path, "%s", slash ? slash : "/");
}

static void conn_open(struct conn *c) {
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) die("host must be an IPv4 literal");
  c->fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) die("connect");
  c->ssl = NULL;
  if (tls) {
    c->ssl = SSL_new(ctx);
    SSL_set_fd(c->ssl, c->fd);
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), host);
    if (SSL_connect(c->ssl) != 1) die("TLS handshake");
  }
}

static void conn_close(struct conn *c) {
  if (c->ssl) SSL_free(c->ssl);
  close(c->fd);
}

static ssize_t conn_read(struct conn *c, void *b, size_t n) {
  if (c->ssl) { int r = SSL_read(c->ssl, b, (int)n); return r > 0 ? r : -1; }
  return read(c->fd, b, n);
}

static void conn_write(struct conn *c, const char *b, size_t n) {
  if (c->ssl) { if (SSL_write(c->ssl, b, (int)n) != (int)n) die("SSL_write"); return; }
  if (write(c->fd, b, n) != (ssize_t)n) die("write");
}

static char buf[65536];
static char *body;          /* reused body buffer (ka) */
static size_t body_cap;

/* One exchange. sink: 0 = into the reused body buffer, 1 = drop (stream),
 * 2 = into a fresh malloc'd copy returned through *keep (hold). */
static size_t exchange(struct conn *c, const char *req, size_t reqlen, int sink, char **keep) {
  conn_write(c, req, reqlen);
  size_t got = 0;
  char *end = NULL;
  while (!end) {
    ssize_t r = conn_read(c, buf + got, sizeof buf - got);
    if (r <= 0) die("read (head)");
    size_t from = got > 3 ? got - 3 : 0;
    got += (size_t)r;
    end = memmem(buf + from, got - from, "\r\n\r\n", 4);
    if (!end && got == sizeof buf) die("head too large");
  }
  size_t head = (size_t)(end - buf) + 4;
  size_t cl = 0;
  for (char *p = buf; p < buf + head; p++) {
    if ((*p == '\n') && !strncasecmp(p + 1, "content-length:", 15)) { cl = strtoul(p + 16, NULL, 10); break; }
  }
  size_t have = got - head;
  if (sink == 1) {
    while (have < cl) {
      ssize_t r = conn_read(c, buf, sizeof buf);
      if (r <= 0) die("read (body)");
      have += (size_t)r;
    }
    return cl;
  }
  char *dst;
  if (sink == 2) {
    dst = malloc(cl ? cl : 1);
    *keep = dst;
  } else {
    if (cl > body_cap) { body = realloc(body, cl); body_cap = cl; }
    dst = body;
  }
  memcpy(dst, buf + head, have);
  while (have < cl) {
    ssize_t r = conn_read(c, dst + have, cl - have);
    if (r <= 0) die("read (body)");
    have += (size_t)r;
  }
  return cl;
}

int main(int argc, char **argv) {
  struct bench_args a;
  bench_parse(argc, argv, &a);
  parse_url(a.url);
  if (tls) {
    ctx = SSL_CTX_new(TLS_client_method());
    const char *ca = getenv("BENCH_CA");
    if (!ca || SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) die("BENCH_CA");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  }
  char req[1024];
  int close_hdr = a.mode == MODE_NEWCONN;
  size_t reqlen = (size_t)snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s:%d\r\n%s\r\n", path,
                                   host, port, close_hdr ? "Connection: close\r\n" : "");
  struct conn c;
  struct bench_mark s, e;
  unsigned long long bytes = 0;
  long n = 0;
  char extra[256] = "";

  if (a.mode == MODE_NEWCONN) {
    for (long i = 0; i < a.warmup; i++) { conn_open(&c); exchange(&c, req, reqlen, 0, NULL); conn_close(&c); }
    bench_mark_start(&s);
    while (bench_more(&a, n, s.t)) {
      conn_open(&c);
      bytes += exchange(&c, req, reqlen, 0, NULL);
      conn_close(&c);
      n++;
    }
    bench_mark_end(&e);
  } else {
    conn_open(&c);
    if (a.mode == MODE_STREAM) {
      /* a few requests for WARM_URL first (connection set up), then the stream */
      if (a.warm_url) {
        const char *wp = strstr(a.warm_url, "://");
        wp = wp ? strchr(wp + 3, '/') : NULL;
        char wreq[1024];
        size_t wlen = (size_t)snprintf(wreq, sizeof wreq, "GET %s HTTP/1.1\r\nHost: %s:%d\r\n\r\n",
                                       wp ? wp : "/", host, port);
        for (long i = 0; i < 3; i++) exchange(&c, wreq, wlen, 1, NULL);
      }
      bench_reset_hwm();
      bench_mark_start(&s);
      bytes = exchange(&c, req, reqlen, 1, NULL);
      n = 1;
      bench_mark_end(&e);
    } else if (a.mode == MODE_HOLD) {
      for (long i = 0; i < a.warmup; i++) exchange(&c, req, reqlen, 0, NULL);
      char **kept = malloc((size_t)a.count * sizeof *kept);
      /* touched before the baseline, so only the responses count */
      for (long i = 0; i < a.count; i++) ((void *volatile *)kept)[i] = NULL;
      bench_mark_start(&s);
      for (n = 0; n < a.count; n++) bytes += exchange(&c, req, reqlen, 2, &kept[n]);
      bench_mark_end(&e);
      for (long i = 0; i < n; i++) free(kept[i]);
      free(kept);
    } else {
      for (long i = 0; i < a.warmup; i++) exchange(&c, req, reqlen, 0, NULL);
      bench_mark_start(&s);
      while (bench_more(&a, n, s.t)) { bytes += exchange(&c, req, reqlen, 0, NULL); n++; }
      bench_mark_end(&e);
    }
    conn_close(&c);
  }
  bench_report("raw", &a, n, bytes, &s, &e, extra);
  return 0;
}
