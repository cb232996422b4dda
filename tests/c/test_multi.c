/* The multi API: many transfers in flight on one thread.
 *
 * A thousand requests the server holds, all in flight at once on this
 * thread (the thread count and the descriptor count checked while they
 * are); keep-alive reuse; redirects; a read timeout that ends only the
 * stalled transfer; cancel of one transfer among many; freeing a multi with
 * transfers in flight; an outside loop driving the multi through
 * reqivo_multi_fd and reqivo_multi_timeout_ms with poll(2); adds from eight
 * threads while one thread polls; HTTPS with the tests' CA, straight and
 * through a proxy; a 64 MiB body streamed through a data callback with
 * flat RSS, pauses and resumes; a request body from a read callback. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <poll.h>
#include <pthread.h>
#include <sys/resource.h>

#include "support.h"

/* The number on line `name` (e.g. "Threads:") of /proc/self/status, or -1. */
static long status_field(const char *name) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long n = -1;
  size_t len = strlen(name);
  if (f == NULL) {
    return -1;
  }
  while (fgets(line, sizeof line, f) != NULL) {
    if (strncmp(line, name, len) == 0) {
      n = atol(line + len);
    }
  }
  fclose(f);
  return n;
}

static long thread_count(void) {
  return status_field("Threads:");
}

static long fd_count(void) {
  DIR *d = opendir("/proc/self/fd");
  long n = 0;
  if (d == NULL) {
    return -1;
  }
  while (readdir(d) != NULL) {
    n++;
  }
  closedir(d);
  return n - 3; /* ".", ".." and the directory's own descriptor */
}

static reqivo_session *session_with_pool(uint32_t size) {
  reqivo_error err;
  reqivo_pool_config cfg = reqivo_pool_config_default();
  cfg.max_per_host = size;
  cfg.max_total = size;
  reqivo_pool *pool = reqivo_pool_new(&cfg, &err);
  CHECK_OK(err);
  reqivo_session *s = reqivo_session_new(pool, &err);
  CHECK_OK(err);
  reqivo_pool_free(pool);
  return s;
}

static void add_get(reqivo_multi *m, reqivo_session *s, const char *path,
                    const reqivo_cancel *cancel, uintptr_t user) {
  reqivo_error err;
  reqivo_request *r = request_to("GET", path, &err);
  CHECK_OK(err);
  CHECK_EQ(reqivo_multi_add(m, s, r, cancel, (void *)user, &err), 0);
  CHECK_OK(err);
  reqivo_request_free(r); /* the multi copied it */
}

/* One finished transfer, with its response already checked and freed. */
typedef struct outcome {
  uintptr_t user;
  uint32_t code;
  int status;
  int reused;
  int tls;
  uint32_t redirects;
  char body[16];
} outcome;

static outcome take(const reqivo_multi_done *d) {
  outcome o = {(uintptr_t)d->user_data, d->error.code, 0, 0, 0, 0, {0}};
  if (d->response != NULL) {
    o.status = d->response->status;
    o.reused = (d->response->flags & REQIVO_RESPONSE_REUSED) != 0;
    o.tls = (d->response->flags & REQIVO_RESPONSE_TLS) != 0;
    o.redirects = d->response->redirect_count;
    size_t n = d->response->body_len < sizeof o.body - 1 ? d->response->body_len : sizeof o.body - 1;
    memcpy(o.body, d->response->body, n);
    reqivo_response_free(d->response);
  }
  return o;
}

/* Polls until n transfers finished (or limit_ms passed); fills out[]. */
static int collect(reqivo_multi *m, outcome *out, int n, double limit_ms) {
  int got = 0;
  double until = now_ms() + limit_ms;
  while (got < n && now_ms() < until) {
    reqivo_error err;
    CHECK_EQ(reqivo_multi_poll(m, 100, &err), 0);
    reqivo_multi_done d = {.struct_size = sizeof d};
    while (got < n && reqivo_multi_next(m, &d)) {
      out[got++] = take(&d);
    }
  }
  CHECKF(got == n, "%d of %d transfers finished", got, n);
  return got;
}

enum { MANY = 1000 };

static void test_a_thousand_in_flight_on_one_thread(void) {
  reqivo_error err;
  reqivo_session *s = session_with_pool(MANY);
  reqivo_multi *m = reqivo_multi_new(&err);
  CHECK_OK(err);
  long fds_before = fd_count();
  for (uintptr_t i = 0; i < MANY; i++) {
    add_get(m, s, "/hold/1000", NULL, i);
  }
  CHECK_EQ(reqivo_multi_in_flight(m), MANY);
  /* Let every transfer connect and send, then look while the server holds
   * them all. */
  double until = now_ms() + 700;
  while (now_ms() < until) {
    CHECK_EQ(reqivo_multi_poll(m, 50, &err), 0);
  }
  CHECK_EQ(thread_count(), 1);
  long fds = fd_count() - fds_before;
  CHECKF(fds >= MANY && fds <= MANY + 8, "%ld descriptors for %d transfers", fds, MANY);
  static outcome out[MANY];
  int got = collect(m, out, MANY, 60000);
  static char seen[MANY];
  int ok = 0;
  for (int i = 0; i < got; i++) {
    if (out[i].code == 0 && out[i].status == 200 && strcmp(out[i].body, "held") == 0 &&
        out[i].user < MANY && !seen[out[i].user]) {
      seen[out[i].user] = 1;
      ok++;
    }
  }
  CHECK_EQ(ok, MANY);
  CHECK_EQ(reqivo_multi_in_flight(m), 0);
  reqivo_multi_free(m);
  reqivo_session_free(s);
}

static void test_keep_alive_redirects_and_a_timeout(void) {
  reqivo_error err;
  reqivo_session *s = session_with_pool(10);
  reqivo_multi *m = reqivo_multi_new(&err);
  outcome out[4];
  /* Sequential transfers share one kept-alive connection. */
  for (uintptr_t i = 0; i < 3; i++) {
    add_get(m, s, "/ok", NULL, i);
    collect(m, out, 1, 10000);
    CHECK_EQ(out[0].status, 200);
    CHECK_EQ(out[0].reused, i > 0);
  }
  add_get(m, s, "/redirect2", NULL, 7);
  collect(m, out, 1, 10000);
  CHECK_EQ(out[0].user, 7);
  CHECK_EQ(out[0].status, 200);
  CHECK_EQ(out[0].redirects, 2);
  CHECK_STR_EQ(out[0].body, "hello\n");
  /* A redirect whose server closes the connection is followed on a new
   * one, several at once. */
  server_counts before;
  CHECK_EQ(server_stats(&before), 0);
  for (uintptr_t i = 0; i < 4; i++) {
    add_get(m, s, "/redirect-close", NULL, 20 + i);
  }
  collect(m, out, 4, 10000);
  for (int i = 0; i < 4; i++) {
    CHECK(out[i].code == 0 && out[i].status == 200 && out[i].redirects == 1);
    CHECK_STR_EQ(out[i].body, "hello\n");
  }
  server_counts used = server_delta(before);
  CHECKF(used.connections >= 4 && used.requests == 8, "%ld connections, %ld requests",
         (long)used.connections, (long)used.requests);
  /* A read timeout ends the stalled transfer only. */
  reqivo_timeout t = reqivo_timeout_default();
  t.read_ms = 300;
  reqivo_session_set_timeout(s, t);
  add_get(m, s, "/stall", NULL, 1);
  add_get(m, s, "/hold/100", NULL, 2);
  collect(m, out, 2, 10000);
  for (int i = 0; i < 2; i++) {
    if (out[i].user == 1) {
      CHECK_CODE(out[i].code, REQIVO_ERR_TIMEOUT_READ);
    } else {
      CHECK_EQ(out[i].code, 0);
      CHECK_STR_EQ(out[i].body, "held");
    }
  }
  /* A total timeout ends a transfer whose server never stops trickling
   * (a byte every 100 ms keeps the read timeout from firing), and only it. */
  t.total_ms = 600;
  reqivo_session_set_timeout(s, t);
  add_get(m, s, "/fault/trickle", NULL, 3);
  add_get(m, s, "/hold/100", NULL, 4);
  collect(m, out, 2, 10000);
  for (int i = 0; i < 2; i++) {
    CHECK_CODE(out[i].code, out[i].user == 3 ? REQIVO_ERR_TIMEOUT_TOTAL : REQIVO_OK);
  }
  reqivo_multi_free(m);
  reqivo_session_free(s);
}

static void test_cancel_one_among_many(void) {
  reqivo_error err;
  reqivo_session *s = session_with_pool(20);
  reqivo_multi *m = reqivo_multi_new(&err);
  reqivo_cancel *c = reqivo_cancel_new();
  for (uintptr_t i = 0; i < 10; i++) {
    add_get(m, s, "/hold/1500", i == 4 ? c : NULL, i);
  }
  for (int i = 0; i < 5; i++) {
    CHECK_EQ(reqivo_multi_poll(m, 20, &err), 0);
  }
  double at = now_ms();
  reqivo_cancel_trigger(c);
  outcome out[10];
  collect(m, out, 1, 5000);
  fprintf(stderr, "cancel ended its transfer after %.1f ms\n", now_ms() - at);
  CHECK_EQ(out[0].user, 4);
  CHECK_CODE(out[0].code, REQIVO_ERR_CANCELLED);
  collect(m, out, 9, 10000);
  for (int i = 0; i < 9; i++) {
    CHECK_EQ(out[i].code, 0);
    CHECK(out[i].user != 4);
  }
  reqivo_cancel_free(c);
  reqivo_multi_free(m);
  reqivo_session_free(s);
}

static void test_free_with_transfers_in_flight(void) {
  reqivo_error err;
  reqivo_session *s = session_with_pool(10);
  reqivo_multi *m = reqivo_multi_new(&err);
  for (uintptr_t i = 0; i < 5; i++) {
    add_get(m, s, "/hold/300", NULL, i);
  }
  CHECK_EQ(reqivo_multi_perform(m, &err), 0);
  reqivo_multi_free(m); /* valgrind: nothing leaks */
  /* Their slots are free again: a blocking send gets a connection. */
  const reqivo_response *r = get(s, "/ok", &err);
  CHECK_OK(err);
  CHECK(body_is(r, "hello\n"));
  reqivo_response_free(r);
  reqivo_session_free(s);
}

static void test_an_outside_loop_with_poll(void) {
  reqivo_error err;
  reqivo_session *s = session_with_pool(10);
  reqivo_multi *m = reqivo_multi_new(&err);
  int fd = reqivo_multi_fd(m);
  CHECK(fd >= 0);
  CHECK_EQ(reqivo_multi_timeout_ms(m), -1);
  for (uintptr_t i = 0; i < 5; i++) {
    add_get(m, s, "/hold/200", NULL, i);
  }
  CHECK_EQ(reqivo_multi_timeout_ms(m), 0); /* adds wait for perform */
  int done = 0;
  double until = now_ms() + 10000;
  while (done < 5 && now_ms() < until) {
    int64_t t = reqivo_multi_timeout_ms(m);
    struct pollfd p = {fd, POLLIN, 0};
    poll(&p, 1, t < 0 || t > 1000 ? 1000 : (int)t);
    CHECK_EQ(reqivo_multi_perform(m, &err), 0);
    reqivo_multi_done d = {.struct_size = sizeof d};
    while (reqivo_multi_next(m, &d)) {
      outcome o = take(&d);
      CHECK_EQ(o.code, 0);
      CHECK_STR_EQ(o.body, "held");
      done++;
    }
  }
  CHECK_EQ(done, 5);
  reqivo_multi_free(m);
  reqivo_session_free(s);
}

typedef struct adder {
  reqivo_multi *m;
  reqivo_session *s;
  uintptr_t first;
} adder;

static void *add_from_thread(void *arg) {
  adder *a = arg;
  for (uintptr_t i = 0; i < 25; i++) {
    add_get(a->m, a->s, "/ok", NULL, a->first + i);
  }
  return NULL;
}

static void test_adds_from_eight_threads(void) {
  reqivo_error err;
  reqivo_session *s = session_with_pool(50);
  reqivo_multi *m = reqivo_multi_new(&err);
  pthread_t threads[8];
  adder adders[8];
  for (int i = 0; i < 8; i++) {
    adders[i] = (adder){m, s, (uintptr_t)i * 25};
    pthread_create(&threads[i], NULL, add_from_thread, &adders[i]);
  }
  static outcome out[200];
  int got = collect(m, out, 200, 30000);
  for (int i = 0; i < 8; i++) {
    pthread_join(threads[i], NULL);
  }
  int ok = 0;
  for (int i = 0; i < got; i++) {
    ok += out[i].code == 0 && strcmp(out[i].body, "hello\n") == 0;
  }
  CHECK_EQ(ok, 200);
  /* A wakeup from another thread ends a poll that would wait forever. */
  CHECK_EQ(reqivo_multi_wakeup(m), 0);
  CHECK_EQ(reqivo_multi_poll(m, -1, &err), 0);
  reqivo_multi_free(m);
  reqivo_session_free(s);
}

static void add_url(reqivo_multi *m, reqivo_session *s, const char *url, uintptr_t user) {
  reqivo_error err;
  reqivo_request *r = reqivo_request_new("GET", 3, url, strlen(url), &err);
  CHECK_OK(err);
  CHECK_EQ(reqivo_multi_add(m, s, r, NULL, (void *)user, &err), 0);
  reqivo_request_free(r);
}

/* HTTPS with the tests' own CA (tests/c/tls_server.py), straight and
 * through tests/c/server.py as a proxy (CONNECT tunnels for https, absolute
 * form for http), all in flight together; a refused tunnel ends only its
 * transfer; a second round reuses every connection the first opened. */
static void test_https_and_proxies(void) {
  enum { DIRECT = 40, TUNNELLED = 8, FORWARDED = 8 };
  reqivo_error err;
  const char *ports = getenv("REQIVO_TLS_PORTS");
  int tls_port = 0;
  CHECKF(ports != NULL && sscanf(ports, "%d", &tls_port) == 1, "REQIVO_TLS_PORTS is not set");
  const reqivo_tls_config *tls = test_ca_tls();
  reqivo_session *direct = session_with_pool(DIRECT);
  reqivo_session *proxied = session_with_pool(DIRECT);
  CHECK_CODE(reqivo_session_set_tls(direct, tls), REQIVO_OK);
  CHECK_CODE(reqivo_session_set_tls(proxied, tls), REQIVO_OK);
  reqivo_tls_config_free(tls);
  char url[128];
  snprintf(url, sizeof url, "http://tunnel:user@%s", test_origin + strlen("http://"));
  CHECK_CODE(reqivo_session_set_proxy(proxied, url, strlen(url), &err), REQIVO_OK);

  /* Addresses, not names, so that no resolver thread outlives the test
   * (valgrind reports glibc's per-thread resolver state of a live thread).
   * The CONNECT target is a name: the proxy resolves it. */
  char direct_url[64], tunnel_url[64];
  snprintf(direct_url, sizeof direct_url, "https://127.0.0.1:%d/", tls_port);
  snprintf(tunnel_url, sizeof tunnel_url, "https://localhost:%d/", tls_port);
  reqivo_multi *m = reqivo_multi_new(&err);
  for (int round = 0; round < 2; round++) {
    for (uintptr_t i = 0; i < DIRECT; i++) {
      add_url(m, direct, direct_url, 1000 + i);
    }
    for (uintptr_t i = 0; round == 0 && i < TUNNELLED; i++) {
      add_url(m, proxied, tunnel_url, 2000 + i);
    }
    for (uintptr_t i = 0; round == 0 && i < FORWARDED; i++) {
      add_url(m, proxied, "http://forwarded.test/ok", 3000 + i);
    }
    if (round == 0) {
      add_url(m, proxied, "https://refuse.test/", 4000);
    }
    static outcome out[DIRECT + TUNNELLED + FORWARDED + 1];
    int n = round == 0 ? DIRECT + TUNNELLED + FORWARDED + 1 : DIRECT;
    int got = collect(m, out, n, 30000);
    int tls_ok = 0, plain_ok = 0, reused = 0;
    for (int i = 0; i < got; i++) {
      const outcome *o = &out[i];
      if (o->user == 4000) {
        CHECK_CODE(o->code, REQIVO_ERR_PROXY);
      } else if (o->user >= 3000) {
        plain_ok += o->code == 0 && !o->tls && strcmp(o->body, "hello\n") == 0;
      } else {
        tls_ok += o->code == 0 && o->tls && strcmp(o->body, "hello tls\n") == 0;
        reused += o->user < 2000 && o->reused;
      }
    }
    CHECK_EQ(tls_ok, round == 0 ? DIRECT + TUNNELLED : DIRECT);
    CHECK_EQ(plain_ok, round == 0 ? FORWARDED : 0);
    CHECK(round == 0 || reused > 0);
  }
  /* 80 transfers, at most 40 at a time: the second round ran on the
   * connections the first kept alive. */
  reqivo_pool_stats st = {.struct_size = sizeof st};
  reqivo_pool *pool = reqivo_session_pool(direct);
  reqivo_pool_get_stats(pool, &st);
  reqivo_pool_free(pool);
  CHECKF(st.opened <= DIRECT && st.opened + st.reused == 2 * DIRECT,
         "opened %llu, reused %llu", (unsigned long long)st.opened, (unsigned long long)st.reused);
  reqivo_multi_free(m);
  reqivo_session_free(direct);
  reqivo_session_free(proxied);
}

/* VmRSS of this process in KiB, or -1. */
static long rss_kb(void) {
  return status_field("VmRSS:");
}

/* What a streamed transfer's data callback saw. */
typedef struct streamed {
  reqivo_multi *m;
  uint64_t got;
  uint32_t next_byte; /* the pattern byte expected next: got % 251 */
  int heads, pieces, bad_heads, mismatches, paused, pause_every, pause_at_head;
  int driving_refused; /* perform from inside the callback was refused */
  uint64_t abort_after;
  long rss_peak;
} streamed;

static int32_t on_data(void *user, const reqivo_response *head, const uint8_t *data, size_t len) {
  streamed *st = user;
  if (head == NULL || head->body_len != 0 || (head->status != 200 && head->status != 204)) {
    st->bad_heads++;
  }
  if (len == 0) {
    /* The head's call: first, once, without data. */
    st->bad_heads += st->heads++ != 0 || st->pieces != 0 || data != NULL;
    if (st->pause_at_head) {
      st->paused = 1;
      return REQIVO_DATA_PAUSE;
    }
    return REQIVO_DATA_CONTINUE;
  }
  st->bad_heads += st->heads != 1;
  if (++st->pieces == 1) {
    reqivo_error err;
    st->driving_refused = reqivo_multi_perform(st->m, &err) == REQIVO_ERR_INVALID_ARGUMENT;
  }
  if (st->pause_every > 0 && st->pieces % st->pause_every == 0) {
    st->paused = 1;
    return REQIVO_DATA_PAUSE;
  }
  for (size_t i = 0; i < len; i++) {
    st->mismatches += data[i] != st->next_byte;
    st->next_byte = st->next_byte == 250 ? 0 : st->next_byte + 1;
  }
  st->got += len;
  if (st->pieces % 64 == 0) {
    long rss = rss_kb();
    st->rss_peak = rss > st->rss_peak ? rss : st->rss_peak;
  }
  return st->abort_after != 0 && st->got >= st->abort_after ? -1 : REQIVO_DATA_CONTINUE;
}

/* The callback hears of the head before any body byte, also when no body
 * follows (a 204); pausing there holds the body back until resume. */
static void test_streamed_head_comes_first(void) {
  reqivo_error err;
  reqivo_session *s = session_with_pool(4);
  reqivo_multi *m = reqivo_multi_new(&err);
  streamed held = {.m = m, .pause_at_head = 1}, empty = {.m = m};
  reqivo_request *r = request_to("GET", "/pattern-chunked/100000", &err);
  uint64_t id = 0;
  CHECK_EQ(reqivo_multi_add_streamed(m, s, r, NULL, on_data, &held, &id, &err), 0);
  reqivo_request_free(r);
  r = request_to("GET", "/nocontent", &err);
  CHECK_EQ(reqivo_multi_add_streamed(m, s, r, NULL, on_data, &empty, NULL, &err), 0);
  reqivo_request_free(r);
  int done = 0, resumed = 0, held_ok = 0, empty_ok = 0;
  double until = now_ms() + 10000;
  while (done < 2 && now_ms() < until) {
    CHECKF(reqivo_multi_poll(m, 50, &err) == 0, "%s", err.message);
    reqivo_multi_done d = {.struct_size = sizeof d};
    while (reqivo_multi_next(m, &d)) {
      done++;
      if (d.user_data == &held) {
        held_ok = d.error.code == 0 && d.response->status == 200;
      } else {
        empty_ok = d.error.code == 0 && d.response->status == 204;
      }
      reqivo_response_free(d.response);
    }
    if (held.paused && !resumed) {
      /* Held at the head: nothing of the body has come, and the transfer
       * waits however long the loop takes to resume it. */
      CHECK_EQ(held.got, 0);
      resumed = 1;
      CHECK_EQ(reqivo_multi_resume(m, id, &err), 0);
    }
  }
  CHECKF(done == 2, "%d of 2 transfers finished", done);
  CHECK(held_ok && empty_ok && resumed);
  CHECK_EQ(held.heads, 1);
  CHECK_EQ(held.got, 100000);
  CHECK_EQ(held.mismatches, 0);
  CHECK_EQ(empty.heads, 1);
  CHECK_EQ(empty.pieces, 0);
  CHECK_EQ(held.bad_heads + empty.bad_heads, 0);
  reqivo_multi_free(m);
  reqivo_session_free(s);
}

/* A 64 MiB chunked body through a data callback with flat memory, paused
 * every 40th piece and resumed by this loop, beside a buffered transfer;
 * a callback that aborts ends only its transfer. */
static void test_streamed_64_mib_with_flat_rss(void) {
  enum { MIB64 = 64 << 20 };
  reqivo_error err;
  reqivo_session *s = session_with_pool(4);
  reqivo_multi *m = reqivo_multi_new(&err);
  streamed big = {.m = m, .pause_every = 40}, aborting = {.m = m, .abort_after = 1 << 20};
  char path[64];
  snprintf(path, sizeof path, "/pattern-chunked/%d", MIB64);
  reqivo_request *r = request_to("GET", path, &err);
  uint64_t id = 0, other_id = 0;
  long before = rss_kb();
  big.rss_peak = before;
  CHECK_EQ(reqivo_multi_add_streamed(m, s, r, NULL, on_data, &big, &id, &err), 0);
  CHECK_EQ(reqivo_multi_add_streamed(m, s, r, NULL, on_data, &aborting, &other_id, &err), 0);
  CHECK(id != 0 && other_id != 0 && id != other_id);
  CHECK_CODE(reqivo_multi_add_streamed(m, s, r, NULL, NULL, &big, NULL, &err),
             REQIVO_ERR_INVALID_ARGUMENT);
  reqivo_request_free(r);
  add_get(m, s, "/ok", NULL, 7);
  int done = 0, resumes = 0, big_ok = 0, aborted = 0, plain_ok = 0;
  double until = now_ms() + 60000;
  while (done < 3 && now_ms() < until) {
    CHECKF(reqivo_multi_poll(m, 100, &err) == 0, "%s", err.message);
    reqivo_multi_done d = {.struct_size = sizeof d};
    while (reqivo_multi_next(m, &d)) {
      done++;
      if (d.user_data == &big) {
        big_ok = d.error.code == 0 && d.response->status == 200 && d.response->body_len == 0;
      } else if (d.user_data == &aborting) {
        aborted = d.error.code == REQIVO_ERR_ABORTED_BY_CALLBACK;
      } else {
        plain_ok = d.error.code == 0 && body_is(d.response, "hello\n");
      }
      reqivo_response_free(d.response);
    }
    if (big.paused) {
      big.paused = 0;
      CHECK_EQ(reqivo_multi_resume(m, id, &err), 0);
      resumes++;
    }
  }
  CHECKF(done == 3, "%d of 3 transfers finished", done);
  CHECK(big_ok && aborted && plain_ok);
  CHECK_EQ(big.got, (uint64_t)MIB64);
  CHECK_EQ(big.mismatches, 0);
  CHECK_EQ(big.bad_heads + aborting.bad_heads, 0);
  CHECK(big.driving_refused);
  CHECKF(resumes >= 100, "%d resumes", resumes);
  CHECK(aborting.got >= (1 << 20) && aborting.got < (uint64_t)MIB64);
  /* Flat: the 64 MiB never sit in memory at once. */
  long grew = big.rss_peak - before;
  fprintf(stderr, "streamed 64 MiB: RSS grew %ld KiB at most\n", grew);
  CHECKF(grew < 16 * 1024, "RSS grew %ld KiB while streaming 64 MiB", grew);
  /* A resume for a finished transfer is ignored. */
  CHECK_EQ(reqivo_multi_resume(m, id, &err), 0);
  reqivo_multi_free(m);
  reqivo_session_free(s);
}

struct upload_source {
  size_t left;
};

static int64_t read_upload(void *user, uint8_t *buf, size_t cap) {
  struct upload_source *src = user;
  size_t n = src->left < cap ? src->left : cap;
  n = n > 3000 ? 3000 : n;
  memset(buf, 'u', n);
  src->left -= n;
  return (int64_t)n;
}

/* A request body from a read callback (chunked) goes through the multi;
 * /echo answers with the head and the de-chunked body. */
static void test_upload_from_a_callback(void) {
  reqivo_error err;
  reqivo_session *s = session_with_pool(4);
  reqivo_multi *m = reqivo_multi_new(&err);
  struct upload_source src = {200000};
  reqivo_request *r = request_to("POST", "/echo", &err);
  CHECK_CODE(reqivo_request_set_body_callback(r, read_upload, &src, -1, &err), REQIVO_OK);
  CHECK_EQ(reqivo_multi_add(m, s, r, NULL, (void *)1, &err), 0);
  reqivo_request_free(r);
  reqivo_multi_done d = {.struct_size = sizeof d};
  double until = now_ms() + 10000;
  int got = 0;
  while (!got && now_ms() < until) {
    CHECK_EQ(reqivo_multi_poll(m, 100, &err), 0);
    got = reqivo_multi_next(m, &d);
  }
  CHECK(got && d.error.code == 0);
  if (got && d.response != NULL) {
    const char *b = (const char *)d.response->body;
    size_t n = d.response->body_len;
    CHECK(strstr(b, "Transfer-Encoding: chunked\r\n") != NULL);
    int all_u = n > 200000;
    for (size_t i = n - 200000; all_u && i < n; i++) {
      all_u = b[i] == 'u';
    }
    CHECK(all_u && b[n - 200001] == '\n'); /* the de-chunked body after the head */
    reqivo_response_free(d.response);
  }
  CHECK_EQ(src.left, 0);
  reqivo_multi_free(m);
  reqivo_session_free(s);
}

/* A body source that hands out only what the loop made ready, and
 * returns REQIVO_READ_PAUSE when it has nothing (a pipe that has not
 * filled yet). */
struct paced_source {
  size_t ready, left, paused, calls;
  int waiting; /* paused and not resumed yet */
};

static int64_t read_paced(void *user, uint8_t *buf, size_t cap) {
  struct paced_source *src = user;
  src->calls++;
  if (src->left == 0) {
    return 0;
  }
  if (src->ready == 0) {
    src->paused++;
    src->waiting = 1;
    return REQIVO_READ_PAUSE;
  }
  size_t n = src->ready < cap ? src->ready : cap;
  n = n < src->left ? n : src->left;
  memset(buf, 'p', n);
  src->ready -= n;
  src->left -= n;
  return (int64_t)n;
}

struct echo_sink {
  size_t body_len, trailing_p;
  int heads;
};

static int32_t collect_echo(void *user, const reqivo_response *head, const uint8_t *data,
                            size_t len) {
  (void)head;
  struct echo_sink *sink = user;
  sink->heads += len == 0;
  for (size_t i = 0; i < len; i++) {
    sink->trailing_p = data[i] == 'p' ? sink->trailing_p + 1 : 0;
  }
  sink->body_len += len;
  return REQIVO_DATA_CONTINUE;
}

/* An upload whose source has nothing ready pauses its transfer: nothing is
 * written and the source is not asked again until reqivo_multi_resume,
 * and the body arrives whole (the /echo handler returns it). A transfer
 * without an id, a blocking send and a pause past the total timeout fail
 * with their own errors instead of waiting for ever. */
static void test_upload_paused_until_resumed(void) {
  reqivo_error err;
  reqivo_session *s = session_with_pool(4);
  reqivo_multi *m = reqivo_multi_new(&err);
  struct paced_source src = {.left = 100000};
  struct echo_sink sink = {0};
  reqivo_request *r = request_to("POST", "/echo", &err);
  CHECK_CODE(reqivo_request_set_body_callback(r, read_paced, &src, -1, &err), REQIVO_OK);
  uint64_t id = 0;
  CHECK_EQ(reqivo_multi_add_streamed(m, s, r, NULL, collect_echo, &sink, &id, &err), 0);
  reqivo_request_free(r);
  int done = 0, ok = 0, stray_calls = 0;
  double until = now_ms() + 10000;
  while (!done && now_ms() < until) {
    size_t calls = src.calls;
    int was_waiting = src.waiting;
    CHECKF(reqivo_multi_poll(m, 5, &err) == 0, "%s", err.message);
    /* Paused before this poll: the source was not asked meanwhile. */
    stray_calls += was_waiting && src.calls != calls;
    reqivo_multi_done d = {.struct_size = sizeof d};
    while (reqivo_multi_next(m, &d)) {
      done = 1;
      ok = d.error.code == 0 && d.response != NULL && d.response->status == 200;
      CHECKF(d.error.code == 0, "%s", d.error.message);
      reqivo_response_free(d.response);
    }
    if (was_waiting) {
      src.ready += 7000;
      src.waiting = 0;
      CHECK_EQ(reqivo_multi_resume(m, id, &err), 0);
    }
  }
  CHECK(done && ok);
  CHECK_EQ(src.left, 0);
  CHECKF(src.paused >= 10, "paused %zu times", src.paused);
  CHECK_EQ(stray_calls, 0);
  CHECK_EQ(sink.heads, 1);
  CHECKF(sink.trailing_p == 100000, "the echo ends with %zu of the 100000 bytes", sink.trailing_p);

  /* reqivo_multi_add gives no id to resume with: the pause fails the
   * transfer at once. */
  struct paced_source dry = {.left = 10};
  r = request_to("POST", "/echo", &err);
  CHECK_CODE(reqivo_request_set_body_callback(r, read_paced, &dry, -1, &err), REQIVO_OK);
  CHECK_EQ(reqivo_multi_add(m, s, r, NULL, (void *)2, &err), 0);
  reqivo_multi_done d = {.struct_size = sizeof d};
  outcome o = {0};
  CHECK_EQ(collect(m, &o, 1, 5000), 1);
  CHECK_EQ(o.code, REQIVO_ERR_ABORTED_BY_CALLBACK);
  /* A blocking send cannot wait for a resume either. */
  dry.waiting = 0;
  const reqivo_response *resp = reqivo_session_send(s, r, NULL, &err);
  CHECK(resp == NULL);
  CHECK_EQ(err.code, REQIVO_ERR_ABORTED_BY_CALLBACK);
  CHECKF(strstr(err.message, "REQIVO_READ_PAUSE") != NULL, "%s", err.message);
  reqivo_request_free(r);

  /* A pause nobody resumes ends at the total timeout. */
  struct paced_source stuck = {.left = 10};
  struct echo_sink unused = {0};
  r = request_to("POST", "/echo", &err);
  CHECK_CODE(reqivo_request_set_body_callback(r, read_paced, &stuck, -1, &err), REQIVO_OK);
  reqivo_timeout t = {.total_ms = 200};
  CHECK_CODE(reqivo_request_set_timeout(r, t), REQIVO_OK);
  CHECK_EQ(reqivo_multi_add_streamed(m, s, r, NULL, collect_echo, &unused, NULL, &err), 0);
  reqivo_request_free(r);
  double started = now_ms();
  until = started + 5000;
  int ended = 0;
  while (!ended && now_ms() < until) {
    CHECK_EQ(reqivo_multi_poll(m, 50, &err), 0);
    if (reqivo_multi_next(m, &d)) {
      ended = 1;
      CHECKF(reqivo_code_class(d.error.code) == REQIVO_CLASS_TIMEOUT, "%u %s", d.error.code,
             d.error.message);
      reqivo_response_free(d.response);
    }
  }
  CHECK(ended);
  CHECK_EQ(stuck.paused, 1);
  (void)d;
  reqivo_multi_free(m);
  reqivo_session_free(s);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  struct rlimit lim;
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < 4096 && lim.rlim_max >= 4096) {
    lim.rlim_cur = 4096;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  test_a_thousand_in_flight_on_one_thread();
  test_keep_alive_redirects_and_a_timeout();
  test_cancel_one_among_many();
  test_free_with_transfers_in_flight();
  test_an_outside_loop_with_poll();
  test_adds_from_eight_threads();
  test_https_and_proxies();
  test_streamed_head_comes_first();
  test_streamed_64_mib_with_flat_rss();
  test_upload_from_a_callback();
  test_upload_paused_until_resumed();
  return check_finish("test_multi");
}
