/* SOCKS5 proxies (socks5:// and socks5h://) from C, in the blocking send
 * and the multi. The main peer is Debian's microsocks, started here on a
 * free port (with and without a user and password); tests/socks_peer.py
 * plays the proxies microsocks cannot: one that records what it was asked
 * (ATYP, address) and relays to 127.0.0.1, ones that refuse (reply 5 and
 * 2), reject the credentials, stall after the greeting or answer garbage.
 * The origins are tests/c/server.py (/echo shows the request head) and
 * tests/c/tls_server.py. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"

static int http_port, tls_port;
static int ms_port, ms_auth_port; /* microsocks, without and with a login */
/* tests/socks_peer.py's ports, in its order. */
enum { RELAY, REFUSE5, REFUSE2, BADAUTH, STALL, GARBAGE, PEER_MODES };
static int peer[PEER_MODES];

/* ---- helper processes ---- */

static pid_t spawn(char *const argv[], int *stdin_fd, int *stdout_fd) {
  int in[2] = {-1, -1}, out[2] = {-1, -1};
  if ((stdin_fd && pipe(in) != 0) || (stdout_fd && pipe(out) != 0)) {
    return -1;
  }
  pid_t pid = fork();
  if (pid == 0) {
    if (stdin_fd) {
      dup2(in[0], 0);
      close(in[1]);
    }
    if (stdout_fd) {
      dup2(out[1], 1);
      close(out[0]);
    }
    execvp(argv[0], argv);
    _exit(127);
  }
  if (stdin_fd) {
    close(in[0]);
    *stdin_fd = in[1];
  }
  if (stdout_fd) {
    close(out[1]);
    *stdout_fd = out[0];
  }
  return pid;
}

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  bind(fd, (struct sockaddr *)&a, sizeof a);
  getsockname(fd, (struct sockaddr *)&a, &len);
  close(fd);
  return ntohs(a.sin_port);
}

/* Waits (at most 5 s) until something listens on 127.0.0.1:port. */
static int wait_listening(int port) {
  for (int i = 0; i < 100; i++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    if (ok) {
      return 1;
    }
    sleep_ms(50);
  }
  return 0;
}

static pid_t start_microsocks(int *port, const char *user, const char *pass) {
  char p[16];
  *port = free_port();
  snprintf(p, sizeof p, "%d", *port);
  char *argv[] = {"microsocks", "-i", "127.0.0.1", "-p", p, NULL, NULL, NULL, NULL, NULL};
  if (user != NULL) {
    argv[5] = "-u";
    argv[6] = (char *)user;
    argv[7] = "-P";
    argv[8] = (char *)pass;
  }
  pid_t pid = spawn(argv, NULL, NULL);
  CHECKF(pid > 0 && wait_listening(*port), "microsocks did not start on %d", *port);
  return pid;
}

static void stop(pid_t pid) {
  if (pid > 0) {
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
  }
}

/* ---- requests ---- */

static reqivo_session *session_via(const char *proxy) {
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  CHECK_OK(err);
  CHECKF(reqivo_session_set_proxy(s, proxy, strlen(proxy), &err) == REQIVO_OK, "%s: %s", proxy,
         err.message);
  const reqivo_tls_config *tls = test_ca_tls();
  CHECK_CODE(reqivo_session_set_tls(s, tls), REQIVO_OK);
  reqivo_tls_config_free(tls);
  return s;
}

static reqivo_session *session_via_port(const char *fmt, int port) {
  char proxy[256];
  snprintf(proxy, sizeof proxy, fmt, port);
  return session_via(proxy);
}

static uint64_t opened(reqivo_session *s) {
  reqivo_pool *pool = reqivo_session_pool(s);
  reqivo_pool_stats st;
  memset(&st, 0, sizeof st);
  st.struct_size = sizeof st;
  reqivo_pool_get_stats(pool, &st);
  reqivo_pool_free(pool);
  return st.opened;
}

/* Two GETs of /echo on 127.0.0.1 through s: origin-form targets, the
 * second on the same tunnel. */
static void check_http_twice(reqivo_session *s, const char *what) {
  reqivo_error err;
  char url[128], host[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/echo?x=1", http_port);
  snprintf(host, sizeof host, "\r\nHost: 127.0.0.1:%d\r\n", http_port);
  for (int i = 0; i < 2; i++) {
    const reqivo_response *r = get_url(s, url, &err);
    CHECKF(r != NULL && r->status == 200, "%s: %s", what, err.message);
    CHECKF(echoed(r, "GET /echo?x=1 HTTP/1.1\r\n"), "%s: %s", what, r ? (const char *)r->body : "");
    CHECK(echoed(r, host));
    CHECK(!echoed(r, "Proxy-Authorization"));
    CHECKF(r == NULL || i == 0 || (r->flags & REQIVO_RESPONSE_REUSED), "%s: not reused", what);
    reqivo_response_free(r);
  }
  CHECK_EQ(opened(s), 1);
}

/* Two GETs of the TLS peer by name through s: TLS end to end, checked on
 * the origin's name, the tunnel kept. */
static void check_https_twice(reqivo_session *s, const char *host, const char *what) {
  reqivo_error err;
  char url[128];
  snprintf(url, sizeof url, "https://%s:%d/", host, tls_port);
  for (int i = 0; i < 2; i++) {
    const reqivo_response *r = get_url(s, url, &err);
    CHECKF(r != NULL && r->status == 200, "%s: %s", what, err.message);
    if (r != NULL) {
      CHECK(r->flags & REQIVO_RESPONSE_TLS);
      CHECK(r->body_len == 10 && memcmp(r->body, "hello tls\n", 10) == 0);
      CHECKF(i == 0 || (r->flags & REQIVO_RESPONSE_REUSED), "%s: not reused", what);
    }
    reqivo_response_free(r);
  }
}

static void test_microsocks(void) {
  const char *forms[] = {"socks5://127.0.0.1:%d", "socks5h://127.0.0.1:%d"};
  for (int i = 0; i < 2; i++) {
    reqivo_session *s = session_via_port(forms[i], ms_port);
    check_http_twice(s, forms[i]);
    check_https_twice(s, "localhost", forms[i]);
    check_https_twice(s, "127.0.0.1", forms[i]);
    /* http and the two https origins: three tunnels. */
    CHECK_EQ(opened(s), 3);
    reqivo_session_free(s);
  }
}

static void test_microsocks_login(void) {
  reqivo_error err;
  /* Percent-decoded: the user is "us@er", the password "p:ss w". */
  reqivo_session *s = session_via_port("socks5h://us%%40er:p%%3Ass%%20w@127.0.0.1:%d", ms_auth_port);
  check_http_twice(s, "login");
  check_https_twice(s, "localhost", "login");
  reqivo_session_free(s);

  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/echo", http_port);
  s = session_via_port("socks5h://us%%40er:wrong@127.0.0.1:%d", ms_auth_port);
  const reqivo_response *r = get_url(s, url, &err);
  CHECK(r == NULL);
  CHECK_ERR(err, REQIVO_ERR_PROXY, "rejected the username and password");
  reqivo_session_free(s);

  /* Without credentials microsocks accepts no method. */
  s = session_via_port("socks5://127.0.0.1:%d", ms_auth_port);
  r = get_url(s, url, &err);
  CHECK(r == NULL);
  CHECK_ERR(err, REQIVO_ERR_PROXY, "no acceptable method");
  reqivo_session_free(s);
}

/* What the recording relay was asked for so far, into out. */
static void peer_seen(char *out, size_t cap) {
  reqivo_error err;
  out[0] = '\0';
  reqivo_session *s = session_via_port("socks5h://127.0.0.1:%d", peer[RELAY]);
  const reqivo_response *r = get_url(s, "http://seen.peer/", &err);
  CHECKF(r != NULL && r->status == 200, "%s", err.message);
  if (r != NULL) {
    snprintf(out, cap, "%.*s", (int)r->body_len, (const char *)r->body);
  }
  reqivo_response_free(r);
  reqivo_session_free(s);
}

static void test_names_and_addresses(void) {
  reqivo_error err;
  char url[128], line[128], seen[8192];
  /* socks5h: a name only the proxy knows (the relay sends every name to
   * 127.0.0.1) goes as ATYP 3. */
  reqivo_session *s = session_via_port("socks5h://127.0.0.1:%d", peer[RELAY]);
  snprintf(url, sizeof url, "http://origin.test:%d/echo", http_port);
  const reqivo_response *r = get_url(s, url, &err);
  CHECKF(r != NULL && r->status == 200, "%s", err.message);
  snprintf(line, sizeof line, "\r\nHost: origin.test:%d\r\n", http_port);
  CHECK(echoed(r, "GET /echo HTTP/1.1\r\n") && echoed(r, line));
  reqivo_response_free(r);
  reqivo_session_free(s);

  /* socks5: the client resolves localhost and sends 127.0.0.1 (ATYP 1);
   * a name it cannot resolve fails here, with the DNS error. */
  s = session_via_port("socks5://127.0.0.1:%d", peer[RELAY]);
  snprintf(url, sizeof url, "http://localhost:%d/echo", http_port);
  r = get_url(s, url, &err);
  CHECKF(r != NULL && r->status == 200, "%s", err.message);
  CHECK(echoed(r, "Host: localhost:"));
  reqivo_response_free(r);
  snprintf(url, sizeof url, "http://origin.test:%d/echo", http_port);
  r = get_url(s, url, &err);
  CHECK(r == NULL && err.code == REQIVO_ERR_DNS);
  reqivo_session_free(s);

  peer_seen(seen, sizeof seen);
  snprintf(line, sizeof line, "3 origin.test %d\n", http_port);
  CHECKF(strstr(seen, line) != NULL, "seen: %s", seen);
  snprintf(line, sizeof line, "1 127.0.0.1 %d\n", http_port);
  CHECKF(strstr(seen, line) != NULL, "seen: %s", seen);
  CHECKF(strstr(seen, "3 localhost") == NULL, "seen: %s", seen);
}

static void test_refusals(void) {
  reqivo_error err;
  struct {
    int mode;
    const char *proxy, *message;
    uint32_t code;
  } cases[] = {
      {REFUSE5, "socks5h://127.0.0.1:%d", "connection refused by destination (5)", REQIVO_ERR_PROXY},
      {REFUSE2, "socks5://127.0.0.1:%d", "connection not allowed by ruleset (2)", REQIVO_ERR_PROXY},
      {BADAUTH, "socks5://u:p@127.0.0.1:%d", "rejected the username and password", REQIVO_ERR_PROXY},
      {GARBAGE, "socks5h://127.0.0.1:%d", "not a SOCKS5 proxy", REQIVO_ERR_PROXY},
      {STALL, "socks5h://127.0.0.1:%d", "", REQIVO_ERR_TIMEOUT_CONNECT},
  };
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/echo", http_port);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    reqivo_session *s = session_via_port(cases[i].proxy, peer[cases[i].mode]);
    reqivo_timeout t = {0};
    t.connect_ms = 400;
    CHECK_EQ(reqivo_session_set_timeout(s, t), 0);
    double t0 = now_ms();
    const reqivo_response *r = get_url(s, url, &err);
    CHECK(r == NULL);
    CHECK_ERR(err, cases[i].code, cases[i].message);
    CHECK(cases[i].code != REQIVO_ERR_PROXY || strstr(err.message, "SOCKS5 proxy 127.0.0.1:"));
    CHECKF(now_ms() - t0 < 5000, "took %.0f ms", now_ms() - t0);
    reqivo_session_free(s);
  }
}

static void *cancel_later(void *c) {
  sleep_ms(200);
  reqivo_cancel_trigger((const reqivo_cancel *)c);
  return NULL;
}

/* A blocking send waiting on a proxy that stalls after the greeting ends
 * on cancel, long before its 5 s connect timeout. */
static void test_blocking_cancel(void) {
  reqivo_error err;
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/echo", http_port);
  reqivo_session *s = session_via_port("socks5h://127.0.0.1:%d", peer[STALL]);
  reqivo_cancel *c = reqivo_cancel_new();
  reqivo_request *r = reqivo_request_new("GET", 3, url, strlen(url), &err);
  pthread_t t;
  CHECK_EQ(pthread_create(&t, NULL, cancel_later, c), 0);
  double t0 = now_ms();
  const reqivo_response *resp = reqivo_session_send(s, r, c, &err);
  CHECK(resp == NULL);
  CHECK_ERR(err, REQIVO_ERR_CANCELLED, "");
  CHECKF(now_ms() - t0 < 3000, "took %.0f ms", now_ms() - t0);
  pthread_join(t, NULL);
  reqivo_request_free(r);
  reqivo_cancel_free(c);
  reqivo_session_free(s);
}

static void test_no_proxy(void) {
  reqivo_error err;
  char url[128];
  reqivo_session *s = session_via_port("socks5h://127.0.0.1:%d", peer[REFUSE5]);
  snprintf(url, sizeof url, "http://127.0.0.1:%d/echo", http_port);
  const reqivo_response *r = get_url(s, url, &err);
  CHECK(r == NULL && err.code == REQIVO_ERR_PROXY); /* through the refusing proxy */
  CHECK_CODE(reqivo_session_set_no_proxy(s, "127.0.0.1", 9, &err), REQIVO_OK);
  r = get_url(s, url, &err);
  CHECKF(r != NULL && r->status == 200, "%s", err.message); /* direct */
  reqivo_response_free(r);
  reqivo_session_free(s);
}

static void test_environment(void) {
  reqivo_error err;
  char proxy[64], url[128];
  unsetenv("REQUEST_METHOD");
  unsetenv("HTTP_PROXY");
  unsetenv("http_proxy");
  unsetenv("HTTPS_PROXY");
  unsetenv("https_proxy");
  unsetenv("NO_PROXY");
  unsetenv("no_proxy");
  unsetenv("all_proxy");
  /* ALL_PROXY serves both schemes. */
  snprintf(proxy, sizeof proxy, "socks5h://127.0.0.1:%d", ms_port);
  setenv("ALL_PROXY", proxy, 1);
  reqivo_session *s = session_via("");
  CHECK_CODE(reqivo_session_use_env_proxy(s, &err), REQIVO_OK);
  snprintf(url, sizeof url, "http://localhost:%d/echo", http_port);
  const reqivo_response *r = get_url(s, url, &err);
  CHECKF(echoed(r, "GET /echo HTTP/1.1\r\n"), "%s", err.message);
  reqivo_response_free(r);
  check_https_twice(s, "localhost", "ALL_PROXY");
  reqivo_session_free(s);

  /* HTTP_PROXY with a socks5 URL wins over ALL_PROXY for http. */
  snprintf(proxy, sizeof proxy, "socks5h://127.0.0.1:%d", peer[REFUSE2]);
  setenv("HTTP_PROXY", proxy, 1);
  s = session_via("");
  CHECK_CODE(reqivo_session_use_env_proxy(s, &err), REQIVO_OK);
  r = get_url(s, url, &err);
  CHECK(r == NULL);
  CHECK_ERR(err, REQIVO_ERR_PROXY, "(2)");
  reqivo_session_free(s);

  setenv("HTTP_PROXY", "socks4://127.0.0.1:1", 1);
  s = session_via("");
  CHECK_CODE(reqivo_session_use_env_proxy(s, &err), REQIVO_ERR_INVALID_CONFIG);
  CHECK_CONTAINS(err.message, "HTTP_PROXY");
  reqivo_session_free(s);
  unsetenv("HTTP_PROXY");
  unsetenv("ALL_PROXY");
}

/* Runs the transfers of m until n are done (at most 10 s); calls each
 * done one with its user data. */
static int run_multi(reqivo_multi *m, int n, void (*done)(uintptr_t, reqivo_multi_done *)) {
  reqivo_error err;
  int finished = 0;
  double until = now_ms() + 10000;
  while (finished < n && now_ms() < until) {
    CHECK_EQ(reqivo_multi_poll(m, 100, &err), 0);
    reqivo_multi_done d = {.struct_size = sizeof d};
    while (reqivo_multi_next(m, &d)) {
      done((uintptr_t)d.user_data, &d);
      reqivo_response_free(d.response);
      finished++;
    }
  }
  return finished;
}

static void add(reqivo_multi *m, reqivo_session *s, const char *url, const reqivo_cancel *c,
                uintptr_t tag) {
  reqivo_error err;
  reqivo_request *r = reqivo_request_new("GET", 3, url, strlen(url), &err);
  CHECK_EQ(reqivo_multi_add(m, s, r, c, (void *)tag, &err), 0);
  reqivo_request_free(r);
}

static void multi_done(uintptr_t tag, reqivo_multi_done *d) {
  switch (tag) {
  case 0: /* http through socks5, localhost resolved by the client */
  case 1: /* http through socks5h, a name only the proxy knows */
    CHECKF(d->response != NULL && echoed(d->response, "GET /echo HTTP/1.1\r\n"), "%u: %s",
           (unsigned)tag, d->error.message);
    break;
  case 2: /* https through microsocks */
    CHECKF(d->response != NULL && d->response->body_len == 10, "%u: %s", (unsigned)tag,
           d->error.message);
    CHECK(d->response == NULL || (d->response->flags & REQIVO_RESPONSE_TLS));
    break;
  case 3:
    CHECK(d->response == NULL);
    CHECK_ERR(d->error, REQIVO_ERR_PROXY, "connection refused by destination (5)");
    break;
  case 4:
    CHECK(d->response == NULL);
    CHECK_ERR(d->error, REQIVO_ERR_TIMEOUT_CONNECT, "");
    break;
  case 5:
    CHECK(d->response == NULL);
    CHECK_ERR(d->error, REQIVO_ERR_CANCELLED, "");
    break;
  case 6:
    CHECK(d->response == NULL && d->error.code == REQIVO_ERR_DNS);
    break;
  default:
    CHECK(0);
  }
}

/* Returns when its last name was resolved (now_ms). */
static double test_multi(void) {
  reqivo_error err;
  char url[8][128];
  reqivo_session *local = session_via_port("socks5://127.0.0.1:%d", peer[RELAY]);
  reqivo_session *remote = session_via_port("socks5h://127.0.0.1:%d", peer[RELAY]);
  reqivo_session *ms = session_via_port("socks5h://127.0.0.1:%d", ms_port);
  reqivo_session *refuse = session_via_port("socks5://127.0.0.1:%d", peer[REFUSE5]);
  reqivo_session *stall = session_via_port("socks5h://127.0.0.1:%d", peer[STALL]);
  reqivo_timeout t = {0};
  t.connect_ms = 400;
  CHECK_EQ(reqivo_session_set_timeout(stall, t), 0);
  reqivo_session *stall_long = session_via_port("socks5h://127.0.0.1:%d", peer[STALL]);
  reqivo_cancel *cancel = reqivo_cancel_new();
  reqivo_multi *m = reqivo_multi_new(&err);
  CHECK_OK(err);
  snprintf(url[0], sizeof url[0], "http://localhost:%d/echo", http_port);
  snprintf(url[1], sizeof url[1], "http://multi.test:%d/echo", http_port);
  snprintf(url[2], sizeof url[2], "https://localhost:%d/", tls_port);
  snprintf(url[3], sizeof url[3], "http://127.0.0.1:%d/echo", http_port);
  snprintf(url[6], sizeof url[6], "http://multi.test:%d/echo", http_port);
  add(m, local, url[0], NULL, 0);
  add(m, remote, url[1], NULL, 1);
  add(m, ms, url[2], NULL, 2);
  add(m, refuse, url[3], NULL, 3);
  add(m, stall, url[3], NULL, 4);
  add(m, stall_long, url[3], cancel, 5);
  add(m, local, url[6], NULL, 6); /* socks5: the client cannot resolve it */
  /* Everything but the cancelled one ends by itself within the 400 ms
   * connect timeout (the default 5 s for the cancelled one). */
  int n = run_multi(m, 6, multi_done);
  CHECK_EQ(n, 6);
  reqivo_cancel_trigger(cancel);
  CHECK_EQ(run_multi(m, 1, multi_done), 1);
  double resolved = now_ms();

  /* Again on the kept tunnels. */
  add(m, ms, url[2], NULL, 2);
  add(m, remote, url[1], NULL, 1);
  CHECK_EQ(run_multi(m, 2, multi_done), 2);
  CHECK_EQ(opened(ms), 1);
  CHECK_EQ(opened(remote), 1);

  reqivo_multi_free(m);
  reqivo_cancel_free(cancel);
  reqivo_session *all[] = {local, remote, ms, refuse, stall, stall_long};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
    reqivo_session_free(all[i]);
  }
  return resolved;
}

/* The multi resolved names (socks5: the client resolves the origin) on
 * its resolver threads, which end after 10 s idle. Under valgrind a live
 * one at exit shows glibc's per-thread resolver state as lost (see
 * test_multi.c), so there the program waits for them to end. */
static void wait_resolver_threads(double since) {
  const char *preload = getenv("LD_PRELOAD");
  if (preload == NULL || strstr(preload, "vgpreload") == NULL) {
    return;
  }
  double left = since + 11000 - now_ms();
  if (left > 0) {
    sleep_ms((long)left);
  }
}

static void test_misuse(void) {
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  const char *bad[] = {"https://127.0.0.1:1", "socks4://127.0.0.1:1", "socks4a://h"};
  for (size_t i = 0; i < 3; i++) {
    CHECK_CODE(reqivo_session_set_proxy(s, bad[i], strlen(bad[i]), &err),
               REQIVO_ERR_UNSUPPORTED_SCHEME);
  }
  CHECK_CODE(reqivo_session_set_proxy(s, "socks5h://", 10, &err), REQIVO_ERR_INVALID_URL);
  reqivo_session_free(s);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  http_port = atoi(strrchr(test_origin, ':') + 1);
  const char *ports = getenv("REQIVO_TLS_PORTS");
  if (getenv("REQIVO_TLS_DIR") == NULL || ports == NULL || sscanf(ports, "%d", &tls_port) != 1) {
    fprintf(stderr, "REQIVO_TLS_DIR and REQIVO_TLS_PORTS must be set (tests/c/run.sh does)\n");
    return 2;
  }
  if (system("command -v microsocks >/dev/null 2>&1") != 0) {
    /* CI installs it (TEST_APT in the Makefile). */
    printf("test_socks: microsocks is not installed; skipped\n");
    return check_finish("test_socks");
  }
  pid_t ms = start_microsocks(&ms_port, NULL, NULL);
  pid_t ms_auth = start_microsocks(&ms_auth_port, "us@er", "p:ss w");

  char *peer_argv[] = {"python3", "tests/socks_peer.py", "--stdin", NULL};
  int peer_in = -1, peer_out = -1;
  pid_t peer_pid = spawn(peer_argv, &peer_in, &peer_out);
  char line[256] = {0};
  FILE *f = fdopen(peer_out, "r");
  int got = f != NULL && fgets(line, sizeof line, f) != NULL
                ? sscanf(line, "%d %d %d %d %d %d", &peer[0], &peer[1], &peer[2], &peer[3], &peer[4],
                         &peer[5])
                : 0;
  CHECKF(got == PEER_MODES, "tests/socks_peer.py did not start: %s", line);
  if (got == PEER_MODES) {
    double multi_ended = test_multi();
    test_microsocks();
    test_microsocks_login();
    test_names_and_addresses();
    test_refusals();
    test_blocking_cancel();
    test_no_proxy();
    test_environment();
    test_misuse();
    wait_resolver_threads(multi_ended);
  }
  close(peer_in); /* the peer exits */
  if (f != NULL) {
    fclose(f);
  }
  waitpid(peer_pid, NULL, 0);
  stop(ms);
  stop(ms_auth);
  return check_finish("test_socks");
}
