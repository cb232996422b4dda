/* libcurl with one easy handle reused for every request (keep-alive by
 * default). Bodies go into a reused buffer (ka), are dropped (stream), or
 * are copied into one malloc'd buffer each that is kept (hold). newconn:
 * CURLOPT_FRESH_CONNECT + FORBID_REUSE, no TLS session cache.
 * BENCH_HTTP_VERSION=2 (common.h): CURL_HTTP_VERSION_2TLS (HTTP/2 by ALPN
 * over TLS), =1.1: CURL_HTTP_VERSION_1_1; every response's
 * CURLINFO_HTTP_VERSION must then be that version. */
#include "common.h"

#include <curl/curl.h>

struct sink {
  int mode; /* 0 reuse, 1 drop, 2 keep */
  char *buf;
  size_t len, cap;
  CURL *h;
};

static size_t on_data(char *p, size_t sz, size_t nm, void *ud) {
  struct sink *k = ud;
  size_t n = sz * nm;
  if (k->mode == 1) { k->len += n; return n; }
  if (k->len + n > k->cap) {
    size_t want = k->len + n;
    if (k->mode == 2 && k->len == 0) {
      curl_off_t cl = -1;
      curl_easy_getinfo(k->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
      if (cl > 0 && (size_t)cl > want) want = (size_t)cl;
    } else if (want < 2 * k->cap) {
      want = 2 * k->cap;
    }
    k->buf = realloc(k->buf, want);
    k->cap = want;
  }
  memcpy(k->buf + k->len, p, n);
  k->len += n;
  return n;
}

/* BENCH_HTTP_VERSION (0: not asked), and the last response's version
 * (CURLINFO_HTTP_VERSION). */
static int want_major;
static long seen_version;

static const char *version_name(long v) {
  switch (v) {
  case CURL_HTTP_VERSION_1_0: return "1.0";
  case CURL_HTTP_VERSION_1_1: return "1.1";
  case CURL_HTTP_VERSION_2_0: return "2";
  default: return "?";
  }
}

static size_t perform(CURL *h, struct sink *k) {
  k->len = 0;
  CURLcode rc = curl_easy_perform(h);
  if (rc != CURLE_OK) {
    fprintf(stderr, "curl_bench: %s\n", curl_easy_strerror(rc));
    printf("{\"client\":\"curl\",\"error\":\"%s\"}\n", curl_easy_strerror(rc));
    exit(1);
  }
  long code = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
  if (code != 200) { fprintf(stderr, "status %ld\n", code); exit(1); }
  curl_easy_getinfo(h, CURLINFO_HTTP_VERSION, &seen_version);
  if (want_major && seen_version != (want_major == 2 ? CURL_HTTP_VERSION_2_0 : CURL_HTTP_VERSION_1_1)) {
    fprintf(stderr, "curl_bench: HTTP/%s asked for, the response is HTTP/%s\n", want_major == 2 ? "2" : "1.1",
            version_name(seen_version));
    printf("{\"client\":\"curl\",\"error\":\"HTTP/%s asked for, the response is HTTP/%s\"}\n",
           want_major == 2 ? "2" : "1.1", version_name(seen_version));
    exit(1);
  }
  return k->len;
}

int main(int argc, char **argv) {
  struct bench_args a;
  bench_parse(argc, argv, &a);
  curl_global_init(CURL_GLOBAL_ALL);
  CURL *h = curl_easy_init();
  struct sink k = {0};
  k.h = h;
  curl_easy_setopt(h, CURLOPT_URL, a.url);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &k);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  const char *ca = getenv("BENCH_CA");
  if (ca) curl_easy_setopt(h, CURLOPT_CAINFO, ca);
  want_major = bench_http_version();
  if (want_major)
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION,
                     want_major == 2 ? (long)CURL_HTTP_VERSION_2TLS : (long)CURL_HTTP_VERSION_1_1);
  if (a.mode == MODE_NEWCONN) {
    curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_SESSIONID_CACHE, 0L);
  }
  struct bench_mark st, en;
  unsigned long long bytes = 0;
  long n = 0;
  char extra[256];

  if (a.mode == MODE_STREAM) {
    k.mode = 1;
    if (a.warm_url) {
      curl_easy_setopt(h, CURLOPT_URL, a.warm_url);
      for (int i = 0; i < 3; i++) perform(h, &k);
      curl_easy_setopt(h, CURLOPT_URL, a.url);
    }
    bench_reset_hwm();
    bench_mark_start(&st);
    bytes = perform(h, &k);
    n = 1;
    bench_mark_end(&en);
  } else if (a.mode == MODE_HOLD) {
    for (long i = 0; i < a.warmup; i++) perform(h, &k);
    free(k.buf);
    char **kept = malloc((size_t)a.count * sizeof *kept);
    /* touched before the baseline, so only the responses count */
    for (long i = 0; i < a.count; i++) ((void *volatile *)kept)[i] = NULL;
    bench_mark_start(&st);
    for (n = 0; n < a.count; n++) {
      k.mode = 2; k.buf = NULL; k.cap = 0;
      bytes += perform(h, &k);
      kept[n] = k.buf;
    }
    bench_mark_end(&en);
    for (long i = 0; i < n; i++) free(kept[i]);
    free(kept);
    k.buf = NULL;
  } else {
    long warm = a.mode == MODE_NEWCONN ? (a.warmup < 10 ? a.warmup : 10) : a.warmup;
    for (long i = 0; i < warm; i++) perform(h, &k);
    bench_mark_start(&st);
    while (bench_more(&a, n, st.t)) { bytes += perform(h, &k); n++; }
    bench_mark_end(&en);
  }
  curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
  snprintf(extra, sizeof extra, "\"lib_version\":\"libcurl %s %s\",\"http_version\":\"%s\"", v->version,
           v->ssl_version ? v->ssl_version : "", version_name(seen_version));
  bench_report("curl", &a, n, bytes, &st, &en, extra);
  free(k.buf);
  curl_easy_cleanup(h);
  curl_global_cleanup();
  return 0;
}
