// Tests of include/reqivo.hpp against a scripted server in this process.
// Built with -std=c++17 -Wall -Wextra -Werror and AddressSanitizer.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <type_traits>

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
        reply = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n";
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

static_assert(!std::is_copy_constructible_v<reqivo::session>, "handles are move-only");
static_assert(!std::is_copy_constructible_v<reqivo::response>, "responses are move-only");
static_assert(std::is_move_constructible_v<reqivo::response>, "responses move");

int main() {
  server srv;
  reqivo::pool pool;
  reqivo::session s(pool);
  s.base_url(srv.base()).header("X-Client", "cpp");

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

  std::printf("cpp-wrapper: %d passed, %d failed\n", checks - failures, failures);
  return failures == 0 ? 0 : 1;
}
