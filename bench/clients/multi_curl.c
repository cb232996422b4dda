/* libcurl's multi_socket interface (curl_multi_socket_action with
 * CURLMOPT_SOCKETFUNCTION and CURLMOPT_TIMERFUNCTION over epoll, as
 * curl's own ephiperfifo/evhiperfifo examples), for the multi phases:
 *
 *   multi_curl hold URL C       C easy handles added at once; no limit on
 *                               connections per host or in all, no
 *                               pipelining or multiplexing, so each
 *                               transfer has its own connection and all
 *                               are in flight together; bodies dropped
 *   multi_curl small URL 5s [K] K easy handles in flight, each added again
 *                               when it finishes (libcurl keeps their
 *                               connections alive), for 5 s after a
 *                               warm-up
 *
 * BENCH_HTTP_VERSION=2 (the h2_inflight phase): HTTP/2 multiplexing, as
 * libcurl's documentation has it: CURLMOPT_PIPELINING = CURLPIPE_MULTIPLEX,
 * each handle CURL_HTTP_VERSION_2TLS and CURLOPT_PIPEWAIT (wait for the
 * first connection to say whether it multiplexes rather than open more),
 * CURLMOPT_MAX_CONCURRENT_STREAMS at least K; every transfer's
 * CURLINFO_HTTP_VERSION must be HTTP/2, and the connections the transfers
 * opened (CURLINFO_NUM_CONNECTS) are counted.
 *
 * One thread: the URL is an IP literal, so libcurl starts no resolver
 * thread. Arguments, sampling and the JSON line: multi_common.c. */
#include "multi_common.c"

#include <curl/curl.h>
#include <sys/epoll.h>

#define CLIENT "curl-multi"

static int epfd = -1;
static CURLM *multi;
static double timer_at = -1; /* absolute, or -1: no timer */

static int on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp) {
  (void)e;
  (void)userp;
  if (what == CURL_POLL_REMOVE) {
    epoll_ctl(epfd, EPOLL_CTL_DEL, s, NULL); /* fails harmlessly when curl closed it first */
    return 0;
  }
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.data.fd = s;
  ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
  if (socketp) {
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, s, &ev) != 0 && errno == ENOENT) epoll_ctl(epfd, EPOLL_CTL_ADD, s, &ev);
  } else {
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, s, &ev) != 0 && errno == EEXIST) epoll_ctl(epfd, EPOLL_CTL_MOD, s, &ev);
    curl_multi_assign(multi, s, (void *)1);
  }
  return 0;
}

static int on_timer(CURLM *m, long timeout_ms, void *userp) {
  (void)m;
  (void)userp;
  timer_at = timeout_ms < 0 ? -1 : mc_now() + (double)timeout_ms / 1e3;
  return 0;
}

static size_t discard(char *p, size_t sz, size_t nm, void *ud) {
  (void)p;
  *(unsigned long long *)ud += sz * nm;
  return sz * nm;
}

static unsigned long long body_bytes;
static int want_major;      /* BENCH_HTTP_VERSION (0: not asked) */
static long seen_version;   /* CURLINFO_HTTP_VERSION of the last transfer */
static long conns_opened;   /* CURLINFO_NUM_CONNECTS, summed */

static const char *version_name(long v) {
  switch (v) {
  case CURL_HTTP_VERSION_1_0: return "1.0";
  case CURL_HTTP_VERSION_1_1: return "1.1";
  case CURL_HTTP_VERSION_2_0: return "2";
  default: return "?";
  }
}

static CURL *make_easy(const char *url) {
  CURL *h = curl_easy_init();
  if (!h) mc_fail(CLIENT, "curl_easy_init failed");
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &body_bytes);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  const char *ca = getenv("BENCH_CA");
  if (ca) curl_easy_setopt(h, CURLOPT_CAINFO, ca);
  if (want_major == 2) {
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(h, CURLOPT_PIPEWAIT, 1L);
  } else if (want_major == 1) {
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
  }
  return h;
}

struct tally {
  long collected, ok, failed;
  char first_error[400];
};

/* Waits up to wait_ms for socket activity or the timer, and lets curl act. */
static void step(int wait_ms) {
  static struct epoll_event evs[1024];
  int running;
  if (timer_at >= 0) {
    double ms = (timer_at - mc_now()) * 1e3;
    int t = ms <= 0 ? 0 : (int)ms + 1;
    if (t < wait_ms) wait_ms = t;
  }
  int n = epoll_wait(epfd, evs, 1024, wait_ms);
  if (n < 0 && errno != EINTR) mc_fail(CLIENT, "epoll_wait: %s", strerror(errno));
  for (int i = 0; i < n; i++) {
    int mask = 0;
    if (evs[i].events & EPOLLIN) mask |= CURL_CSELECT_IN;
    if (evs[i].events & EPOLLOUT) mask |= CURL_CSELECT_OUT;
    if (evs[i].events & (EPOLLERR | EPOLLHUP)) mask |= CURL_CSELECT_ERR;
    curl_multi_socket_action(multi, evs[i].data.fd, mask, &running);
  }
  if (timer_at >= 0 && mc_now() >= timer_at) {
    timer_at = -1;
    curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
  }
}

/* Takes finished transfers: counts them, then either frees the handle
 * (readd NULL) or adds it again (when *readd). Returns how many finished. */
static long drain(struct tally *t, const int *readd) {
  CURLMsg *msg;
  int left;
  long got = 0;
  while ((msg = curl_multi_info_read(multi, &left))) {
    if (msg->msg != CURLMSG_DONE) continue;
    CURL *h = msg->easy_handle;
    CURLcode rc = msg->data.result;
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    long version = 0, opened = 0;
    curl_easy_getinfo(h, CURLINFO_HTTP_VERSION, &version);
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &opened);
    conns_opened += opened;
    got++;
    t->collected++;
    int version_ok = !want_major || version == (want_major == 2 ? CURL_HTTP_VERSION_2_0 : CURL_HTTP_VERSION_1_1);
    if (rc == CURLE_OK) seen_version = version;
    if (rc == CURLE_OK && code == 200 && !version_ok) {
      t->failed++;
      if (!t->first_error[0])
        snprintf(t->first_error, sizeof t->first_error, "HTTP/%s asked for, the response is HTTP/%s",
                 want_major == 2 ? "2" : "1.1", version_name(version));
    } else if (rc == CURLE_OK && code == 200) {
      t->ok++;
    } else {
      t->failed++;
      if (!t->first_error[0])
        snprintf(t->first_error, sizeof t->first_error, "%s (%d), status %ld", curl_easy_strerror(rc), (int)rc,
                 code);
    }
    curl_multi_remove_handle(multi, h);
    if (readd && *readd) curl_multi_add_handle(multi, h);
    else curl_easy_cleanup(h);
  }
  return got;
}

int main(int argc, char **argv) {
  struct multi_args a;
  mc_parse(argc, argv, &a);
  long nofile = mc_raise_nofile();
  long conns = a.mode == MULTI_HOLD ? a.count : a.concurrency;
  if (nofile >= 0 && conns + 16 > nofile)
    mc_fail(CLIENT, "RLIMIT_NOFILE is %ld (the hard limit): too low for %ld connections", nofile, conns);
  curl_global_init(CURL_GLOBAL_ALL);
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) mc_fail(CLIENT, "epoll_create1: %s", strerror(errno));
  multi = curl_multi_init();
  curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer);
  curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
  curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, 0L);
  want_major = bench_http_version();
  if (want_major == 2) {
    curl_multi_setopt(multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    curl_multi_setopt(multi, CURLMOPT_MAX_CONCURRENT_STREAMS, conns > 100 ? conns : 100L);
  } else {
    curl_multi_setopt(multi, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);
  }
  /* Keep every connection when its transfer ends (the default cache is 4x
   * the handles added, so this changes nothing in practice). */
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, conns);

  struct tally t;
  memset(&t, 0, sizeof t);
  struct mc_mark st, en;
  struct mc_peak pk;
  memset(&pk, 0, sizeof pk);
  long fds_base = mc_fds();
  char extra[512];
  curl_version_info_data *vi = curl_version_info(CURLVERSION_NOW);

  if (a.mode == MULTI_HOLD) {
    mc_mark(&st);
    double deadline = st.t + a.deadline;
    for (long i = 0; i < a.count; i++) {
      CURLMcode mc = curl_multi_add_handle(multi, make_easy(a.url));
      if (mc != CURLM_OK) mc_fail(CLIENT, "curl_multi_add_handle: %s", curl_multi_strerror(mc));
    }
    mc_sample(&pk);
    int sampling = 1;
    double first_done = 0;
    while (t.collected < a.count) {
      double now = mc_now();
      if (now > deadline)
        mc_fail(CLIENT, "deadline: %ld of %ld transfers finished after %.0f s (ok %ld, failed %ld%s%s)", t.collected,
                a.count, a.deadline, t.ok, t.failed, t.first_error[0] ? ", first error " : "", t.first_error);
      if (sampling && now >= pk.next) mc_sample(&pk);
      step(mc_wait_ms(&pk, sampling));
      if (drain(&t, NULL) > 0 && sampling) {
        sampling = 0;
        first_done = mc_now() - st.t;
      }
    }
    mc_mark(&en);
    mc_sample_after(&pk);
    snprintf(extra, sizeof extra, "\"first_done_secs\":%.3f,\"bytes\":%llu,\"lib_version\":\"libcurl %s\"",
             first_done, body_bytes, vi->version);
    mc_report(CLIENT, &a, a.count, t.ok, t.failed, t.first_error, &st, &en, &pk, fds_base, nofile, extra);
  } else {
    double t0 = mc_now(), deadline = t0 + a.deadline;
    for (long i = 0; i < a.concurrency; i++) curl_multi_add_handle(multi, make_easy(a.url));
    int phase = 0, readd = 1;
    long counted = 0, in_flight = a.concurrency;
    double phase_end = t0 + a.warmup;
    for (;;) {
      double now = mc_now();
      if (now > deadline)
        mc_fail(CLIENT, "deadline: %.0f s passed (phase %d, %ld ok, %ld failed%s%s)", a.deadline, phase, t.ok,
                t.failed, t.first_error[0] ? ", first error " : "", t.first_error);
      if (phase == 0 && now >= phase_end) {
        phase = 1;
        counted = 0;
        mc_mark(&st);
        phase_end = st.t + a.duration;
      } else if (phase == 1 && now >= phase_end) {
        phase = 2;
        readd = 0;
        mc_mark(&en);
      }
      if (phase == 2 && in_flight == 0) break;
      step(100);
      long got = drain(&t, &readd);
      if (t.failed) mc_fail(CLIENT, "%ld transfers failed, first: %s", t.failed, t.first_error);
      if (phase == 1) counted += got;
      if (!readd) in_flight -= got; /* draining: nothing added again */
    }
    snprintf(extra, sizeof extra, "\"bytes\":%llu,\"lib_version\":\"libcurl %s\",\"http_version\":\"%s\","
             "\"conns_opened\":%ld", body_bytes, vi->version, version_name(seen_version), conns_opened);
    mc_report(CLIENT, &a, counted, t.ok, t.failed, t.first_error, &st, &en, NULL, fds_base, nofile, extra);
  }
  curl_multi_cleanup(multi);
  curl_global_cleanup();
  return 0;
}
