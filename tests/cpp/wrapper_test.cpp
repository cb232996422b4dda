// Tests of include/reqivo.hpp against a scripted server in this process,
// and against tests/c/server.py (started here: an HTTP peer that is also a
// proxy) for the proxy, hook, logger and content decoding tests.
// Built with -std=c++17 -Wall -Wextra -Werror and AddressSanitizer.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "reqivo.hpp"

static int failures = 0, checks = 0;
#define CHECK(cond)                                                        \
  do {                                                                     \
    ++checks;                                                              \
    if (!(cond)) {                                                         \
      ++failures;                                                          \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                      \
  } while (0)

// A server that answers each request by path with exact bytes.
class server {
 public:
  server() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr *>(&a), sizeof a);
    listen(fd_, 16);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr *>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~server() {
    stop_ = true;
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }
  int accepted() const { return accepted_; }

 private:
  void run() {
    while (!stop_) {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      ++accepted_;
      std::thread([c] { serve(c); }).detach();
    }
  }
  static void serve(int c) {
    timeval tv{5, 0};  // bounded: a silent client is dropped after 5 s
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string in;
    char buf[4096];
    for (;;) {
      size_t end;
      while ((end = in.find("\r\n\r\n")) == std::string::npos) {
        ssize_t n = recv(c, buf, sizeof buf, 0);
        if (n <= 0) { close(c); return; }
        in.append(buf, static_cast<size_t>(n));
      }
      std::string head = in.substr(0, end);
      in.erase(0, end + 4);
      std::string reply;
      if (head.rfind("GET /hello ", 0) == 0) {
        reply = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Two: a\r\nx-two: b\r\nContent-Length: 5\r\n\r\nhello";
      } else if (head.rfind("GET /chunked ", 0) == 0) {
        reply = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\nX-Sum: 7\r\n\r\n";
      } else if (head.rfind("GET /bad ", 0) == 0) {
        reply = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc";
      } else if (head.rfind("GET /stall ", 0) == 0) {
        std::this_thread::sleep_for(std::chrono::seconds(2));
        close(c);
        return;
      } else {
        reply = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
      }
      send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
    }
  }
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

// tests/c/server.py in a child process ($REQIVO_SERVER_PY, or the path from
// the repository root, where `make test-cpp` runs), also serving on a Unix
// socket of this process's own; it prints its port on its first line.
// Killed when the test ends (it also exits by itself).
class py_server {
 public:
  // script: tests/c/server.py unless given (its first line's number is
  // the port: tests/socks_peer.py prints its relay port first,
  // tests/h2_peer.py a JSON object whose first member is "h2c").
  // with_unix: whether the script takes the Unix socket path as argument.
  explicit py_server(const char *script = nullptr, bool with_unix = true) {
    if (script == nullptr) script = std::getenv("REQIVO_SERVER_PY");
    if (script == nullptr) script = "tests/c/server.py";
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error("pipe");
    static int made = 0;
    unix_path_ = "/tmp/reqivo-cpp-" + std::to_string(getpid()) + "-" + std::to_string(made++) + ".sock";
    unlink(unix_path_.c_str());
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], 1);
      close(fds[0]);
      close(fds[1]);
      execlp("python3", "python3", script, with_unix ? unix_path_.c_str() : nullptr, static_cast<char *>(nullptr));
      _exit(127);
    }
    close(fds[1]);
    out_ = fds[0];
    std::string line;
    pollfd p{out_, POLLIN, 0};
    char c;
    while (line.find('\n') == std::string::npos && poll(&p, 1, 10000) == 1 && read(out_, &c, 1) == 1) line += c;
    const std::size_t colon = line.find(':');  // the JSON's first value
    const std::size_t digit = line.find_first_of("0123456789", colon == std::string::npos ? 0 : colon);
    port_ = digit == std::string::npos ? 0 : std::atoi(line.c_str() + digit);
    if (port_ <= 0) throw std::runtime_error(std::string(script) + " did not start");
  }
  ~py_server() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    close(out_);
    unlink(unix_path_.c_str());
  }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }
  int port() const { return port_; }
  const std::string &unix_path() const { return unix_path_; }

 private:
  std::string unix_path_;
  pid_t pid_ = -1;
  int out_ = -1;
  int port_ = 0;
};

static bool contains(std::string_view hay, std::string_view needle) {
  return hay.find(needle) != std::string_view::npos;
}

struct hook_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Address and host overrides and a Unix socket: the name stays in Host.
static void test_targets(const py_server &py) {
  const std::string port = std::to_string(py.port());
  reqivo::session s;
  s.add_resolve("reqivo.test:" + port + ":127.0.0.1");
  CHECK(contains(s.get("http://reqivo.test:" + port + "/echo").body(), "\r\nHost: reqivo.test:" + port + "\r\n"));
  s.add_connect_to("api.invalid:80:127.0.0.1:" + port);
  CHECK(contains(s.get("http://api.invalid/echo").body(), "\r\nHost: api.invalid\r\n"));
  try {
    s.add_resolve("reqivo.test:80");
    CHECK(!"a malformed entry must throw");
  } catch (const reqivo::usage_error &e) {
    CHECK(e.code() == REQIVO_ERR_INVALID_ARGUMENT);
  }
  reqivo::session over_unix;
  over_unix.set_unix_socket(py.unix_path());
  reqivo::response r = over_unix.get("http://localhost/v1.43/echo");
  CHECK(contains(r.body(), "GET /v1.43/echo HTTP/1.1\r\nHost: localhost\r\n"));
  CHECK(over_unix.get("http://localhost/echo").reused());
}

static void test_proxy(const server &srv, const py_server &py) {
  const std::string proxy = "http://user:p%40ss@" + py.base().substr(7);  // userinfo before 127.0.0.1:port/
  reqivo::session s;
  s.set_proxy(proxy);
  {
    // Forwarded with an absolute-form target and the proxy's credentials
    // (base64 of "user:p@ss"); /echo returns the request head as received.
    reqivo::response r = s.get("http://origin.test/echo?q=1");
    CHECK(r.status() == 200);
    CHECK(contains(r.body(), "GET http://origin.test/echo?q=1 HTTP/1.1\r\n"));
    CHECK(contains(r.body(), "\r\nProxy-Authorization: Basic dXNlcjpwQHNz\r\n"));
    CHECK(contains(r.body(), "\r\nHost: origin.test\r\n"));
  }
  try {
    s.get("https://refuse.test/");
    CHECK(!"a refused CONNECT must throw");
  } catch (const reqivo::proxy_error &e) {
    CHECK(e.code() == REQIVO_ERR_PROXY);
    CHECK(e.error_class() == 2000);
    CHECK(contains(e.what(), "407"));
  }
  try {
    s.get("https://refuse.test/");
    CHECK(!"a refused CONNECT must throw");
  } catch (const reqivo::network_error &e) {  // a proxy_error is a network_error
    CHECK(e.code() == REQIVO_ERR_PROXY);
  }
  // NO_PROXY: the in-process server answers /hello itself; through the
  // proxy (server.py) /hello is a 404.
  s.set_no_proxy("other.example, 127.0.0.1");
  CHECK(s.get(srv.base() + "hello").body() == "hello");
  s.set_no_proxy("127.0.0.0/8");
  CHECK(s.get(srv.base() + "hello").body() == "hello");
  s.set_no_proxy("");
  CHECK(s.get(srv.base() + "hello").status() == 404);
  s.set_proxy("");
  CHECK(s.get(srv.base() + "hello").body() == "hello");
  try {
    s.set_proxy("https://127.0.0.1:1");
    CHECK(!"an https proxy must throw");
  } catch (const reqivo::usage_error &e) {
    CHECK(e.code() == REQIVO_ERR_UNSUPPORTED_SCHEME);
  }
  {
    // SOCKS5: tests/socks_peer.py's relay is sent the name (socks5h) and
    // connects to 127.0.0.1; the target is origin-form, the tunnel kept.
    py_server socks("tests/socks_peer.py");
    reqivo::session via;
    via.set_proxy("socks5h://127.0.0.1:" + std::to_string(socks.port()));
    const std::string url = "http://origin.test:" + std::to_string(py.port()) + "/echo";
    CHECK(contains(via.get(url).body(), "GET /echo HTTP/1.1\r\n"));
    CHECK(via.get(url).reused());
  }
  // The environment only on request.
  setenv("HTTP_PROXY", proxy.c_str(), 1);
  unsetenv("http_proxy");
  unsetenv("NO_PROXY");
  unsetenv("no_proxy");
  {
    reqivo::session plain;
    CHECK(plain.get(srv.base() + "hello").body() == "hello");
    reqivo::session env;
    env.use_env_proxy();
    CHECK(contains(env.get("http://origin.test/echo").body(), "GET http://origin.test/echo HTTP/1.1\r\n"));
  }
  unsetenv("HTTP_PROXY");
  // The public suffix list: /cookie/psl sets a=1 for Domain=example.co.uk
  // and b=2 for Domain=co.uk.
  {
    reqivo::session j;
    j.set_proxy(proxy).set_public_suffix_list("// ===BEGIN ICANN DOMAINS===\ncom\n// ===END ICANN DOMAINS===\n");  // co.uk is no suffix here
    j.get("http://www.example.co.uk/cookie/psl");
    std::string head(j.get("http://www.example.co.uk/echo").body());
    CHECK(contains(head, "a=1") && contains(head, "b=2"));
  }
  {
    reqivo::session j;
    j.set_proxy(proxy).set_public_suffix_list("// ===BEGIN ICANN DOMAINS===\nco.uk\nexample.co.uk\n// ===END ICANN DOMAINS===\n");
    j.get("http://www.example.co.uk/cookie/psl");
    CHECK(!contains(j.get("http://www.example.co.uk/echo").body(), "Cookie:"));
    j.set_public_suffix_list("");  // back to the system's list
  }
}

static void test_hooks(const py_server &py) {
  reqivo::session s;
  s.base_url(py.base()).header("X-Default", "d");
  std::vector<std::string> hops;
  s.on_request([&](reqivo::hook_request &req) {
    hops.push_back(std::string(req.method()) + " " + std::string(req.url()));
    req.set_header("X-Trace", "1").add_header("X-Multi", "a").add_header("X-Multi", "b").remove_header("X-Default");
  });
  {
    std::string head(s.get("echo").body());
    CHECK(contains(head, "\r\nX-Trace: 1\r\n"));
    CHECK(contains(head, "\r\nX-Multi: a\r\nX-Multi: b\r\n"));
    CHECK(!contains(head, "X-Default"));
    CHECK(hops.size() == 1 && hops[0] == "GET " + py.base() + "echo");
  }
  // Each redirect hop: /redirect2 -> /redirect -> /ok.
  std::vector<std::pair<uint16_t, std::string>> heads;
  s.on_response([&](const reqivo::response_view &h) {
    heads.emplace_back(h.status(), std::string(h.url()));
    CHECK(h.header("content-length").has_value());
  });
  hops.clear();
  CHECK(s.get("redirect2").status() == 200);
  CHECK(hops.size() == 3);
  CHECK(heads.size() == 3 && heads[0].first == 301 && heads[1].first == 302 && heads[2].first == 200);
  CHECK(heads.size() == 3 && heads[2].second == py.base() + "ok");

  // A throw in on_request stops the send and comes out of send(); the
  // logger still hears of the failure.
  s.on_request([](reqivo::hook_request &) { throw hook_failure("no"); });
  std::string failure_line;
  s.set_logger([&](reqivo::log_level, std::string_view m) { failure_line = std::string(m); },
               reqivo::log_level::error);
  heads.clear();
  try {
    s.get("ok");
    CHECK(!"a throwing on_request must throw from send");
  } catch (const hook_failure &e) {
    CHECK(std::string(e.what()) == "no");
  }
  CHECK(heads.empty());  // nothing was sent
  CHECK(contains(failure_line, "failed"));
  s.set_logger(nullptr);
  try {
    s.open(reqivo::request("GET", "ok"));
    CHECK(!"a throwing on_request must throw from open");
  } catch (const hook_failure &) {
  }
  // The library's own exceptions thrown inside a hook come out unchanged.
  s.on_request([](reqivo::hook_request &req) { req.remove_header("Host"); });
  try {
    s.get("ok");
    CHECK(!"removing Host must throw");
  } catch (const reqivo::usage_error &e) {
    CHECK(e.code() == REQIVO_ERR_INVALID_HEADER);
  }
  s.on_request(nullptr);
  // A throw in on_response stops at that head.
  s.on_response([](const reqivo::response_view &h) {
    if (h.status() == 302) throw hook_failure("saw 302");
  });
  try {
    s.get("redirect");
    CHECK(!"a throwing on_response must throw");
  } catch (const hook_failure &e) {
    CHECK(std::string(e.what()) == "saw 302");
  }
  s.on_response(nullptr);
  CHECK(s.get("ok").status() == 200);

  // The logger: new and reused connections (debug), redirects (info).
  std::vector<std::pair<reqivo::log_level, std::string>> lines;
  std::mutex lines_lock;
  s.set_logger([&](reqivo::log_level l, std::string_view m) {
    std::lock_guard<std::mutex> g(lines_lock);
    lines.emplace_back(l, std::string(m));
  });
  reqivo::session moved = std::move(s);  // callbacks follow the session
  moved.get("ok");
  moved.get("redirect");
  auto logged = [&](reqivo::log_level l, std::string_view text) {
    for (auto &[lvl, m] : lines)
      if (lvl == l && contains(m, text)) return true;
    return false;
  };
  CHECK(logged(reqivo::log_level::debug, "reused a pooled connection"));
  CHECK(logged(reqivo::log_level::info, "-> 302 "));
  lines.clear();
  moved.set_logger([&](reqivo::log_level l, std::string_view m) { lines.emplace_back(l, std::string(m)); },
                   reqivo::log_level::info);
  moved.get("redirect");
  CHECK(!lines.empty() && !logged(reqivo::log_level::debug, ""));
  {
    reqivo::session fresh;
    fresh.set_logger([&](reqivo::log_level l, std::string_view m) { lines.emplace_back(l, std::string(m)); });
    fresh.get(py.base() + "ok");
    CHECK(logged(reqivo::log_level::debug, "new connection"));
  }
  // A throwing logger cannot stop the send, but its exception is rethrown
  // (the response is freed: ASan would see a leak).
  moved.set_logger([](reqivo::log_level, std::string_view) { throw hook_failure("log"); });
  try {
    moved.get("ok");
    CHECK(!"a throwing logger must throw from send");
  } catch (const hook_failure &e) {
    CHECK(std::string(e.what()) == "log");
  }
  moved.set_logger(nullptr);
  CHECK(moved.get("ok").status() == 200);

  // Several threads: each gets its own callback's exception.
  moved.on_request([](reqivo::hook_request &req) {
    if (contains(req.url(), "fail")) throw hook_failure(std::string(req.url()));
  });
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&, i] {
      std::string path = i % 2 ? "ok?fail" + std::to_string(i) : "ok";
      try {
        moved.get(path);
        ++ok;
      } catch (const hook_failure &e) {
        if (contains(e.what(), path)) ++failed;
      }
    });
  }
  for (auto &t : threads) t.join();
  CHECK(ok == 3 && failed == 3);
}

static_assert(!std::is_copy_constructible_v<reqivo::session>, "handles are move-only");
static_assert(!std::is_copy_constructible_v<reqivo::response>, "responses are move-only");
static_assert(std::is_move_constructible_v<reqivo::response>, "responses move");

/* Each error class maps to its exception type, WebSocket's 7000 included. */
static void error_classes() {
  const struct {
    uint32_t code;
    const char *type;
  } cases[] = {{REQIVO_ERR_INVALID_URL, "usage"},      {REQIVO_ERR_PROXY, "proxy"},
               {REQIVO_ERR_TLS_HOSTNAME, "tls"},       {REQIVO_ERR_TIMEOUT_READ, "timeout"},
               {REQIVO_ERR_INVALID_CHUNK, "protocol"}, {REQIVO_ERR_TOO_MANY_REDIRECTS, "redirect"},
               {REQIVO_ERR_CANCELLED, "cancelled"},    {REQIVO_ERR_WS_CLOSED, "websocket"},
               {REQIVO_ERR_PANIC, "internal"}};
  for (const auto &c : cases) {
    reqivo_error e{c.code, 0, "x"};
    std::string got;
    try {
      reqivo::detail::throw_error(e);
    } catch (const reqivo::usage_error &) {
      got = "usage";
    } catch (const reqivo::proxy_error &) {
      got = "proxy";
    } catch (const reqivo::tls_error &) {
      got = "tls";
    } catch (const reqivo::timeout_error &) {
      got = "timeout";
    } catch (const reqivo::protocol_error &) {
      got = "protocol";
    } catch (const reqivo::redirect_error &) {
      got = "redirect";
    } catch (const reqivo::cancelled_error &) {
      got = "cancelled";
    } catch (const reqivo::websocket_error &) {
      got = "websocket";
    } catch (const reqivo::internal_error &) {
      got = "internal";
    }
    CHECK(got == c.type);
  }
}

// reqivo::multi: transfers in flight on this thread, one failing.
static void test_multi(const server &srv) {
  reqivo::session s;
  reqivo::multi m;
  for (std::uintptr_t i = 0; i < 5; ++i) m.add(s, reqivo::request("GET", srv.base() + "hello"), i);
  m.add(s, reqivo::request("GET", srv.base() + "bad"), 99);
  CHECK(m.in_flight() == 6);
  CHECK(m.fd() >= 0);
  int ok = 0, failed = 0;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (ok + failed < 6 && std::chrono::steady_clock::now() < until) {
    m.poll(100);
    while (auto d = m.next()) {
      if (d->user == 99) {
        try {
          d->take();
          CHECK(!"a failed transfer must throw from take()");
        } catch (const reqivo::protocol_error &e) {
          CHECK(e.code() == REQIVO_ERR_INVALID_FRAMING);
          ++failed;
        }
      } else {
        reqivo::response r = d->take();
        CHECK(r.body() == "hello");
        ++ok;
      }
    }
  }
  CHECK(ok == 5 && failed == 1);
  CHECK(m.in_flight() == 0 && m.timeout_ms() == -1);
  m.wakeup();
  m.poll(-1);  // returns: woken
}

// reqivo::multi::add_ws: a dial the server answers 302 (not followed)
// comes back refused with that answer; a URL that is no WebSocket's is
// refused at the add.
static void test_multi_ws(const py_server &py) {
  reqivo::session s;
  reqivo::multi m;
  m.add_ws(s, "ws://" + py.base().substr(7) + "redirect", 3);
  std::optional<reqivo::multi::done> d;
  for (int i = 0; i < 100 && !d; i++) {
    m.poll(50);
    d = m.next();
  }
  CHECK(d.has_value());
  if (d) {
    CHECK(d->user == 3);
    CHECK(d->error.code == REQIVO_ERR_WS_HANDSHAKE);
    CHECK(d->resp.has_value() && d->resp->status() == 302);
    CHECK(!d->ws);
  }
  bool threw = false;
  try {
    m.add_ws(s, "ftp://127.0.0.1/", 4);
  } catch (const reqivo::error &) {
    threw = true;
  }
  CHECK(threw);
}

// reqivo::multi::add_streamed: /big-chunked (100,000 pattern bytes in
// chunks of 1 to 4,000) piece by piece, paused every 5th piece and resumed.
static void test_multi_streamed(const py_server &py) {
  reqivo::session s;
  reqivo::multi m;
  std::string body;
  int pieces = 0, status = 0;
  bool paused = false;
  uint64_t id = m.add_streamed(s, reqivo::request("GET", py.base() + "big-chunked"), 7,
                               [&](const reqivo_response &head, std::string_view data) {
                                 status = head.status;
                                 if (++pieces % 5 == 0) {
                                   paused = true;
                                   return reqivo::multi::flow::pause;
                                 }
                                 body.append(data);
                                 return reqivo::multi::flow::go_on;
                               });
  m.add_streamed(s, reqivo::request("GET", py.base() + "big"), 8,
                 [](const reqivo_response &, std::string_view) -> reqivo::multi::flow {
                   throw std::runtime_error("a callback that throws aborts its transfer");
                 });
  int finished = 0, resumes = 0;
  bool streamed_ok = false, thrown_aborted = false;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (finished < 2 && std::chrono::steady_clock::now() < until) {
    m.poll(50);
    while (auto d = m.next()) {
      ++finished;
      if (d->user == 7) streamed_ok = d->take().body().empty();
      if (d->user == 8) thrown_aborted = d->error.code == REQIVO_ERR_ABORTED_BY_CALLBACK;
    }
    if (paused) {
      paused = false;
      m.resume(id);
      ++resumes;
    }
  }
  CHECK(finished == 2 && streamed_ok && thrown_aborted && status == 200);
  bool pattern = body.size() == 100000;
  for (std::size_t i = 0; pattern && i < body.size(); ++i) pattern = static_cast<unsigned char>(body[i]) == i % 251;
  CHECK(pattern);
  CHECK(resumes > 3);
}

// br and zstd bodies (made by the brotli and zstd command-line tools in
// tests/c/server.py) decoded for send, open and the multi; a bomb stops at
// max_body_bytes, a body cut short is a decompression error.
static void test_decompress(const py_server &py) {
  std::string text;
  for (int i = 0; i < 300; ++i) text += "reqivo decodes gzip and deflate. ";
  reqivo::session s;
  reqivo::multi m;
  std::string streamed[2];
  for (int i = 0; i < 2; ++i) {
    const std::string url = py.base() + (i == 0 ? "coded/br" : "coded/zstd,gzip,br");
    reqivo::response r = s.get(url);
    CHECK(r.body() == text);
    CHECK((r.raw().flags & REQIVO_RESPONSE_DECOMPRESSED) != 0);
    std::string all;
    s.open(reqivo::request("GET", url)).each([&](std::string_view piece) { all.append(piece); }, 100);
    CHECK(all == text);
    m.add_streamed(s, reqivo::request("GET", url), static_cast<std::uintptr_t>(i),
                   [&streamed, i](const reqivo_response &, std::string_view data) {
                     streamed[i].append(data);
                     return reqivo::multi::flow::go_on;
                   });
  }
  int finished = 0;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (finished < 2 && std::chrono::steady_clock::now() < until) {
    m.poll(50);
    while (auto d = m.next()) {
      ++finished;
      CHECK(d->error.code == REQIVO_OK);
    }
  }
  CHECK(finished == 2 && streamed[0] == text && streamed[1] == text);

  reqivo::limits l;
  l.max_body_bytes = 1 << 20;
  s.limit(l);
  try {
    s.get(py.base() + "zeros/zstd/64");
    CHECK(!"a zstd bomb must throw");
  } catch (const reqivo::protocol_error &e) {
    CHECK(e.code() == REQIVO_ERR_BODY_TOO_LARGE);
  }
  try {
    s.get(py.base() + "coded-cut/br");
    CHECK(!"a br body cut short must throw");
  } catch (const reqivo::protocol_error &e) {
    CHECK(e.code() == REQIVO_ERR_DECOMPRESSION);
    CHECK(contains(e.what(), "unexpected end of file"));
  }
}

// reqivo::multipart: a field and a file posted to /multipart-echo (parsed
// by Python's email package), blocking and through the multi; a missing
// file throws usage_error when added.
static void test_multipart(const py_server &py) {
  char path[] = "/tmp/reqivo-cpp-mp-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  const std::string content(70000, 'z');
  CHECK(write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()));
  close(fd);
  reqivo::request r("POST", py.base() + "multipart-echo");
  {
    reqivo::multipart form;
    form.field("greeting", "hi \"you\"").file("upload", path, "text/x-test");
    r.set_multipart(form);
  }  // the request keeps its own reference
  reqivo::session s;
  reqivo::multi m;
  m.add(s, r, 7);
  std::string bodies[2] = {std::string(s.send(r).body()), {}};
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (bodies[1].empty() && std::chrono::steady_clock::now() < until) {
    m.poll(50);
    while (auto d = m.next()) bodies[1] = std::string(d->take().body());
  }
  const std::string name = std::string(path).substr(5);
  for (const std::string &b : bodies) {
    CHECK(contains(b, "\"name\": \"greeting\", \"filename\": null"));
    CHECK(contains(b, "\"text\": \"hi \\\"you\\\"\""));  // a value goes as is
    CHECK(contains(b, "\"name\": \"upload\", \"filename\": \"" + name + "\", \"content_type\": \"text/x-test\""));
    CHECK(contains(b, "\"size\": 70000"));
    CHECK(contains(b, "\"defects\": 0"));
  }
  unlink(path);
  try {
    reqivo::multipart().file("f", path);
    CHECK(!"a missing file must throw");
  } catch (const reqivo::usage_error &e) {
    CHECK(e.code() == REQIVO_ERR_INVALID_ARGUMENT);
    CHECK(contains(e.what(), path));
  }
}

// HTTP Digest through tests/c/digest_peer.py: the 401 answered, the
// hooks seeing both hops; a wrong password gives the 401 back.
static void test_digest(const py_server &py) {
  reqivo::session s;
  s.base_url(py.base()).digest_auth("Mufasa", "Circle of Life");
  std::vector<uint16_t> statuses;
  s.on_response([&](const reqivo::response_view &h) { statuses.push_back(h.status()); });
  const std::string path = "digest/auth/SHA-256/Mufasa/Circle%20of%20Life/cpp" + std::to_string(getpid());
  {
    auto r = s.get(path);
    CHECK(r.status() == 200);
    CHECK(contains(r.body(), "\"answers\": 1"));
    CHECK(contains(r.body(), "algorithm=SHA-256, qop=auth, nc=00000001"));
    CHECK(statuses.size() == 2 && statuses[0] == 401 && statuses[1] == 200);
  }
  s.digest_auth("Mufasa", "wrong");
  auto r = s.get(path + "-wrong");
  CHECK(r.status() == 401);
  CHECK(contains(r.body(), "\"answers\": 1"));
}

// Retries: an always-503 is tried max_attempts times, a POST only when
// marked idempotent, a bad policy throws; the server counts per key.
static void test_retry(const py_server &py) {
  const std::string tag = std::to_string(getpid());
  auto count = [&](const std::string &key) {
    // Copied while the response (a temporary) lives.
    return std::string(reqivo::session().get(py.base() + "retry-count/" + key + tag).body());
  };
  reqivo::session s;
  CHECK(s.get(py.base() + "retry/off" + tag + "/1/503").status() == 503);
  CHECK(count("off") == "1");
  reqivo::retry_policy p;
  CHECK(p.max_attempts == 3);
  p.base_backoff_ms = 10;
  p.max_backoff_ms = 50;
  s.retry(p);
  CHECK(s.get(py.base() + "retry/always" + tag + "/1000/503").status() == 503);
  CHECK(count("always") == "3");
  CHECK(s.send(reqivo::request("POST", py.base() + "retry/post" + tag + "/1/503")).status() == 503);
  CHECK(count("post") == "1");
  reqivo::request marked("POST", py.base() + "retry/marked" + tag + "/1/503");
  CHECK(s.send(marked.idempotent()).status() == 200);
  CHECK(count("marked") == "2");
  s.no_retry();
  CHECK(s.get(py.base() + "retry/off-again" + tag + "/1/503").status() == 503);
  CHECK(count("off-again") == "1");
  try {
    p.max_attempts = 0;
    s.retry(p);
    CHECK(!"max_attempts 0 must throw");
  } catch (const reqivo::usage_error &e) {
    CHECK(e.code() == REQIVO_ERR_INVALID_CONFIG);
  }
}

// HTTP/2 with prior knowledge against tests/h2_peer.py (the `h2` package):
// a GET answered as 2.0 by the wrapper's session::http_version; a version
// the library does not know throws its usage error.
static void test_http2() {
  py_server h2("tests/h2_peer.py", false);
  reqivo::session s;
  s.http_version(REQIVO_HTTP_VERSION_2);
  auto r = s.get(h2.base() + "ok");
  CHECK(r.status() == 200);
  CHECK(r.body() == "hello h2\n");
  CHECK(r.raw().http_major == 2 && r.raw().http_minor == 0);
  try {
    s.http_version(3);
    CHECK(!"version 3 must throw");
  } catch (const reqivo::usage_error &e) {
    CHECK(e.code() == REQIVO_ERR_INVALID_ARGUMENT);
  }
  CHECK(s.get(h2.base() + "ok").raw().http_major == 2);  // still HTTP/2
}

int main() {
  error_classes();
  server srv;
  reqivo::pool pool;
  reqivo::session s(pool);
  s.base_url(srv.base()).header("X-Client", "cpp");
  test_multi(srv);

  {
    reqivo::response r = s.get("hello");
    CHECK(r.status() == 200);
    CHECK(r.reason() == "OK");
    CHECK(r.body() == "hello");
    CHECK(r.url() == srv.base() + "hello");
    CHECK(r.headers().size() == 4);
    CHECK(r.header("content-type").value_or("") == "text/plain");
    CHECK(r.header("X-TWO", 1).value_or("") == "b");
    CHECK(!r.header("missing"));
    CHECK(!r.reused());
    reqivo::response moved = std::move(r);  // ownership moves, freed once
    CHECK(moved.status() == 200);
  }
  CHECK(s.get("hello").reused());
  CHECK(pool.stats().reused == 1);

  {
    reqivo::response r = s.get("chunked");
    CHECK(r.body() == "abcdefg");
    CHECK(r.trailers().size() == 1);
    for (const reqivo_header &t : r.trailers()) {
      CHECK(reqivo::detail::view(t.name) == "X-Sum" && reqivo::detail::view(t.value) == "7");
    }
    CHECK(s.get("hello").trailers().size() == 0);
  }

  {
    reqivo::stream st = s.open(reqivo::request("GET", "chunked"));
    CHECK(st.status() == 200);
    std::string all;
    std::size_t n = st.each([&](std::string_view piece) { all.append(piece); }, 2);
    CHECK(n == 7 && all == "abcdefg");
  }

  try {
    s.get("bad");
    CHECK(!"a TE+CL response must throw");
  } catch (const reqivo::protocol_error &e) {
    CHECK(e.code() == REQIVO_ERR_INVALID_FRAMING);
    CHECK(std::string(e.name()) == "REQIVO_ERR_INVALID_FRAMING");
    CHECK(e.error_class() == 4000);
  }

  try {
    reqivo::request bad("GET", "hello");
    bad.header("X-Bad", "a\r\nInjected: 1");
    CHECK(!"CR/LF in a header must throw");
  } catch (const reqivo::usage_error &e) {
    CHECK(e.code() == REQIVO_ERR_INVALID_HEADER);
  }

  try {
    reqivo::request r("GET", "stall");
    reqivo::timeouts t;
    t.read_ms = 200;
    r.timeout(t);
    s.send(r);
    CHECK(!"a stalled read must time out");
  } catch (const reqivo::timeout_error &e) {
    CHECK(e.code() == REQIVO_ERR_TIMEOUT_READ);
  }

  {
    reqivo::cancel c;
    std::thread trigger([&c] {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      c.trigger();
    });
    try {
      s.send(reqivo::request("GET", "stall"), &c);
      CHECK(!"a cancelled send must throw");
    } catch (const reqivo::cancelled_error &e) {
      CHECK(e.code() == REQIVO_ERR_CANCELLED);
    }
    trigger.join();
  }

  try {
    reqivo::session plain;
    plain.get("relative/without/base");
    CHECK(!"a relative URL without a base must throw");
  } catch (const reqivo::usage_error &e) {
    CHECK(e.code() == REQIVO_ERR_INVALID_URL);
  }

  {
    py_server py;
    test_proxy(srv, py);
    test_targets(py);
    test_hooks(py);
    test_multi_streamed(py);
    test_multi_ws(py);
    test_decompress(py);
    test_multipart(py);
    test_digest(py);
    test_retry(py);
  }
  test_http2();

  std::printf("cpp-wrapper: %d passed, %d failed\n", checks - failures, failures);
  return failures == 0 ? 0 : 1;
}
