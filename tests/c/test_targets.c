/* Where connections go: address overrides (curl's --resolve), host and
 * port overrides (--connect-to), Unix domain sockets, and the Happy
 * Eyeballs race between addresses, through reqivo_session_send and the
 * multi. tests/c/server.py serves the same routes on 127.0.0.1 and on the
 * Unix socket at $REQIVO_TEST_UNIX (and the abstract one of that name);
 * /echo shows the request head as it arrived. Addresses that never answer
 * a connect are listeners on other 127.0.0.0/8 addresses whose accept
 * queue is full: the kernel drops their SYNs. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support.h"

static int http_port;
static const char *unix_path;

static void add_resolve(reqivo_session *s, const char *entry) {
  reqivo_error err;
  CHECK_EQ(reqivo_session_add_resolve(s, entry, strlen(entry), &err), 0);
  CHECK_OK(err);
}

static reqivo_session *session_with_connect_timeout(uint32_t ms) {
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  CHECK_OK(err);
  reqivo_timeout t = {0};
  t.connect_ms = ms;
  CHECK_EQ(reqivo_session_set_timeout(s, t), 0);
  return s;
}

/* A listener on ip:port that never accepts, its queue filled by one
 * connection: further connects to it hang until their timeout. Returns
 * the two descriptors to close (listener, filler), or -1s. */
typedef struct stalled {
  int listener;
  int filler;
} stalled;

static stalled stall_at(const char *ip, int port) {
  stalled st = {-1, -1};
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  inet_pton(AF_INET, ip, &a.sin_addr);
  st.listener = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(st.listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  CHECKF(bind(st.listener, (struct sockaddr *)&a, sizeof a) == 0, "bind %s:%d", ip, port);
  CHECK(listen(st.listener, 0) == 0);
  st.filler = socket(AF_INET, SOCK_STREAM, 0);
  CHECK(connect(st.filler, (struct sockaddr *)&a, sizeof a) == 0);
  return st;
}

static void unstall(stalled st) {
  close(st.filler);
  close(st.listener);
}

/* A name the override sends to this server: URL, Host and the request
 * target keep the name; a second request reuses the connection. */
static void test_resolve_keeps_the_name(void) {
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  char entry[128], url[128], host[64];
  snprintf(entry, sizeof entry, "reqivo.test:%d:127.0.0.1", http_port);
  add_resolve(s, entry);
  snprintf(url, sizeof url, "http://reqivo.test:%d/echo", http_port);
  snprintf(host, sizeof host, "Host: reqivo.test:%d\r\n", http_port);
  for (int i = 0; i < 2; i++) {
    const reqivo_response *r = get_url(s, url, &err);
    CHECK_OK(err);
    CHECK(r != NULL && r->status == 200);
    CHECKF(echoed(r, host), "no %s in %s", host, r ? (const char *)r->body : "(none)");
    CHECK(echoed(r, "GET /echo HTTP/1.1\r\n"));
    CHECK(r != NULL && (r->flags & REQIVO_RESPONSE_REUSED) == (i == 1 ? REQIVO_RESPONSE_REUSED : 0));
    reqivo_response_free(r);
  }
  /* Removed, the name is resolved again (and .test never resolves). */
  char removal[64];
  snprintf(removal, sizeof removal, "-reqivo.test:%d", http_port);
  add_resolve(s, removal);
  const reqivo_response *r = get_url(s, url, &err);
  CHECK(r == NULL);
  CHECK_ERR(err, REQIVO_ERR_DNS, "reqivo.test");
  reqivo_session_free(s);
}

/* The certificate of tests/c/tls_server.py's WRONG port is for
 * wrong.example: reached by its name through an override it verifies,
 * so SNI and the name check used the URL's name, not the address. */
static void test_resolve_keeps_tls_names(int wrong_port) {
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  const reqivo_tls_config *tls = test_ca_tls();
  CHECK_EQ(reqivo_session_set_tls(s, tls), 0);
  char entry[128], url[128];
  snprintf(entry, sizeof entry, "wrong.example:%d:127.0.0.1", wrong_port);
  add_resolve(s, entry);
  snprintf(url, sizeof url, "https://wrong.example:%d/ok", wrong_port);
  const reqivo_response *r = get_url(s, url, &err);
  CHECK_OK(err);
  CHECK(r != NULL && r->status == 200 && (r->flags & REQIVO_RESPONSE_TLS));
  reqivo_response_free(r);
  /* The same server by address: the name check fails. */
  snprintf(url, sizeof url, "https://127.0.0.1:%d/ok", wrong_port);
  r = get_url(s, url, &err);
  CHECK(r == NULL);
  CHECK_CODE(err.code, REQIVO_ERR_TLS_HOSTNAME);
  reqivo_tls_config_free(tls);
  reqivo_session_free(s);
}

static void test_connect_to(void) {
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  char entry[128];
  snprintf(entry, sizeof entry, "api.invalid:80:127.0.0.1:%d", http_port);
  CHECK_EQ(reqivo_session_add_connect_to(s, entry, strlen(entry), &err), 0);
  CHECK_OK(err);
  const reqivo_response *r = get_url(s, "http://api.invalid/echo", &err);
  CHECK_OK(err);
  CHECK(echoed(r, "Host: api.invalid\r\n"));
  reqivo_response_free(r);
  /* Only that host and port: another port is not sent there. */
  r = get_url(s, "http://api.invalid:81/echo", &err);
  CHECK(r == NULL);
  CHECK_CODE(err.code, REQIVO_ERR_DNS);
  /* An empty resolve entry forgets the connect-to entries too. */
  CHECK_EQ(reqivo_session_add_resolve(s, NULL, 0, &err), 0);
  r = get_url(s, "http://api.invalid/echo", &err);
  CHECK(r == NULL);
  CHECK_CODE(err.code, REQIVO_ERR_DNS);
  reqivo_session_free(s);
}

/* Every request over the Unix socket, the URL's host in Host, keep-alive
 * per socket; the abstract socket of the same name; a missing socket. */
static void test_unix_socket(void) {
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  CHECK_EQ(reqivo_session_set_unix_socket(s, unix_path, strlen(unix_path), &err), 0);
  CHECK_OK(err);
  reqivo_pool *pool = reqivo_session_pool(s);
  reqivo_pool_stats before = {.struct_size = sizeof before};
  reqivo_pool_get_stats(pool, &before);
  for (int i = 0; i < 3; i++) {
    const reqivo_response *r = get_url(s, "http://localhost/v1.43/containers/echo", &err);
    CHECK_OK(err);
    CHECK(r != NULL && r->status == 200);
    CHECK(echoed(r, "GET /v1.43/containers/echo HTTP/1.1\r\nHost: localhost\r\n"));
    reqivo_response_free(r);
  }
  reqivo_pool_stats after = {.struct_size = sizeof after};
  reqivo_pool_get_stats(pool, &after);
  reqivo_pool_free(pool);
  CHECK_EQ(after.opened - before.opened, 1);
  CHECK_EQ(after.reused - before.reused, 2);
  /* A proxy is not used over a Unix socket. */
  const char *proxy = "http://127.0.0.1:9";
  CHECK_EQ(reqivo_session_set_proxy(s, proxy, strlen(proxy), &err), 0);
  const reqivo_response *r = get_url(s, "http://localhost/ok", &err);
  CHECK_OK(err);
  CHECK(body_is(r, "hello\n"));
  reqivo_response_free(r);

  char abstract_name[256];
  abstract_name[0] = '\0';
  size_t n = strlen(unix_path);
  memcpy(abstract_name + 1, unix_path, n);
  CHECK_EQ(reqivo_session_set_unix_socket(s, abstract_name, n + 1, &err), 0);
  r = get_url(s, "http://docker/echo", &err);
  CHECK_OK(err);
  CHECK(echoed(r, "Host: docker\r\n"));
  reqivo_response_free(r);

  char missing[512];
  snprintf(missing, sizeof missing, "%s.missing", unix_path);
  CHECK_EQ(reqivo_session_set_unix_socket(s, missing, strlen(missing), &err), 0);
  r = get_url(s, "http://localhost/ok", &err);
  CHECK(r == NULL);
  CHECK_ERR(err, REQIVO_ERR_CONNECT_REFUSED, "unix:");
  /* Back to TCP. */
  CHECK_EQ(reqivo_session_set_unix_socket(s, NULL, 0, &err), 0);
  CHECK_EQ(reqivo_session_set_proxy(s, NULL, 0, &err), 0);
  r = get(s, "/ok", &err);
  CHECK_OK(err);
  CHECK(body_is(r, "hello\n"));
  reqivo_response_free(r);
  reqivo_session_free(s);
}

/* Happy Eyeballs: the first address never answers, so the second starts
 * 250 ms later and wins; a refused first address hands over at once;
 * when every address hangs, the connect timeout bounds the whole race. */
static void test_happy_eyeballs(void) {
  reqivo_error err;
  stalled a = stall_at("127.0.0.2", http_port);
  stalled b = stall_at("127.0.0.3", http_port);
  stalled c = stall_at("127.0.0.4", http_port);
  reqivo_session *s = session_with_connect_timeout(5000);
  char entry[160], url[128];
  snprintf(entry, sizeof entry, "eyeballs.test:%d:127.0.0.2,::1,127.0.0.1", http_port);
  add_resolve(s, entry);
  snprintf(url, sizeof url, "http://eyeballs.test:%d/ok", http_port);
  double t0 = now_ms();
  const reqivo_response *r = get_url(s, url, &err);
  double took = now_ms() - t0;
  CHECK_OK(err);
  CHECK(body_is(r, "hello\n"));
  /* ::1 (nothing listens there) is refused at once, then 127.0.0.1. */
  CHECKF(took >= 200 && took < 4000, "took %.0f ms", took);
  reqivo_response_free(r);

  /* Four refused first: no 250 ms wait after any of them (waiting would
   * take a second; the margin holds on a slow machine or under valgrind). */
  snprintf(entry, sizeof entry, "refused.test:%d:::1,127.0.0.5,127.0.0.6,127.0.0.7,127.0.0.1",
           http_port);
  add_resolve(s, entry);
  snprintf(url, sizeof url, "http://refused.test:%d/ok", http_port);
  t0 = now_ms();
  r = get_url(s, url, &err);
  took = now_ms() - t0;
  CHECK_OK(err);
  CHECK(body_is(r, "hello\n"));
  CHECKF(took < 600, "took %.0f ms", took);
  reqivo_response_free(r);
  reqivo_session_free(s);

  /* Three that hang, a 600 ms connect timeout: one timeout for the race,
   * not one per address (that would be 1,800 ms). */
  s = session_with_connect_timeout(600);
  snprintf(entry, sizeof entry, "hang.test:%d:127.0.0.2,127.0.0.3,127.0.0.4", http_port);
  add_resolve(s, entry);
  snprintf(url, sizeof url, "http://hang.test:%d/ok", http_port);
  t0 = now_ms();
  r = get_url(s, url, &err);
  took = now_ms() - t0;
  CHECK(r == NULL);
  CHECK_CODE(err.code, REQIVO_ERR_TIMEOUT_CONNECT);
  CHECKF(took >= 550 && took < 1500, "took %.0f ms", took);
  reqivo_session_free(s);
  unstall(a);
  unstall(b);
  unstall(c);
}

/* The same through the multi: an override, a Unix socket and a race with
 * a hanging first address, all in flight together. */
static void test_multi(void) {
  reqivo_error err;
  stalled a = stall_at("127.0.0.2", http_port);
  reqivo_session *over = session_with_connect_timeout(5000);
  char entry[160], url[3][128];
  snprintf(entry, sizeof entry, "multi.test:%d:127.0.0.2,127.0.0.1", http_port);
  add_resolve(over, entry);
  reqivo_session *unix_s = reqivo_session_new(NULL, &err);
  CHECK_EQ(reqivo_session_set_unix_socket(unix_s, unix_path, strlen(unix_path), &err), 0);
  reqivo_multi *m = reqivo_multi_new(&err);
  CHECK_OK(err);
  snprintf(url[0], sizeof url[0], "http://multi.test:%d/echo", http_port);
  snprintf(url[1], sizeof url[1], "http://localhost/echo");
  snprintf(url[2], sizeof url[2], "http://localhost/echo");
  for (uintptr_t i = 0; i < 3; i++) {
    reqivo_request *r = reqivo_request_new("GET", 3, url[i], strlen(url[i]), &err);
    CHECK_EQ(reqivo_multi_add(m, i == 0 ? over : unix_s, r, NULL, (void *)i, &err), 0);
    reqivo_request_free(r);
  }
  int done = 0;
  double t0 = now_ms(), until = t0 + 10000;
  char host[64];
  snprintf(host, sizeof host, "Host: multi.test:%d\r\n", http_port);
  while (done < 3 && now_ms() < until) {
    CHECK_EQ(reqivo_multi_poll(m, 100, &err), 0);
    reqivo_multi_done d = {.struct_size = sizeof d};
    while (reqivo_multi_next(m, &d)) {
      uintptr_t i = (uintptr_t)d.user_data;
      CHECKF(d.response != NULL, "transfer %u: %s", (unsigned)i, d.error.message);
      CHECK(echoed(d.response, i == 0 ? host : "Host: localhost\r\n"));
      /* The second address started 250 ms after the hanging first, not
       * after its 5 s connect timeout. */
      CHECKF(i != 0 || now_ms() - t0 < 4000, "took %.0f ms", now_ms() - t0);
      reqivo_response_free(d.response);
      done++;
    }
  }
  CHECK_EQ(done, 3);
  reqivo_multi_free(m);
  reqivo_session_free(over);
  reqivo_session_free(unix_s);
  unstall(a);
}

static void test_malformed_entries(void) {
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  const char *bad[] = {"h:80", "h:port:127.0.0.1", "h:80:nope", ":80:127.0.0.1"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    dirty(&err);
    CHECK_CODE(reqivo_session_add_resolve(s, bad[i], strlen(bad[i]), &err),
               REQIVO_ERR_INVALID_ARGUMENT);
    CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, "resolve entry");
  }
  CHECK_CODE(reqivo_session_add_connect_to(s, "a:1:b", 5, &err), REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, "connect-to entry");
  CHECK_CODE(reqivo_session_set_unix_socket(s, "/a\0b", 4, &err), REQIVO_ERR_INVALID_ARGUMENT);
  CHECK_ERR(err, REQIVO_ERR_INVALID_ARGUMENT, "NUL");
  char longest[200];
  memset(longest, 'a', sizeof longest);
  CHECK_CODE(reqivo_session_set_unix_socket(s, longest, sizeof longest, &err),
             REQIVO_ERR_INVALID_ARGUMENT);
  reqivo_session_free(s);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  http_port = atoi(strrchr(test_origin, ':') + 1);
  unix_path = getenv("REQIVO_TEST_UNIX");
  int tls_ports[4];
  const char *ports = getenv("REQIVO_TLS_PORTS");
  if (unix_path == NULL || ports == NULL ||
      sscanf(ports, "%d %d %d %d", &tls_ports[0], &tls_ports[1], &tls_ports[2], &tls_ports[3]) != 4) {
    fprintf(stderr, "REQIVO_TEST_UNIX and REQIVO_TLS_PORTS must be set (tests/c/run.sh does)\n");
    return 2;
  }
  test_resolve_keeps_the_name();
  test_resolve_keeps_tls_names(tls_ports[3]);
  test_connect_to();
  test_unix_socket();
  test_happy_eyeballs();
  test_multi();
  test_malformed_entries();
  return check_finish("test_targets");
}
