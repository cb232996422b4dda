/*
 * reqivo.hpp: a header-only C++17 wrapper over reqivo.h.
 *
 * RAII, move-only handles (no double free); std::string_view in; a
 * reqivo::response that exposes the library's fixed-layout struct without
 * copying; failures thrown as exceptions that mirror the error classes.
 *
 *   reqivo::session s;
 *   s.base_url("http://127.0.0.1:8080/");
 *   reqivo::response r = s.send(reqivo::request("GET", "hello"));
 *   std::cout << r.status() << " " << r.body() << "\n";
 *
 * Callbacks (on_request, on_response, set_logger) are std::functions; an
 * exception one throws never crosses the C library: it is caught, the
 * send is stopped, and it is rethrown from send()/open() on the caller's
 * thread once the library has returned.
 */
#ifndef REQIVO_HPP
#define REQIVO_HPP

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "reqivo.h"

namespace reqivo {

/* ---- errors --------------------------------------------------------- */

/** Base of every reqivo exception: the code, its name and the message. */
class error : public std::runtime_error {
 public:
  error(uint32_t code, int32_t os_error, const std::string &message)
      : std::runtime_error(std::string(reqivo_code_name(code)) + ": " + message),
        code_(code), os_error_(os_error) {}
  uint32_t code() const noexcept { return code_; }
  /** The code's name, e.g. "REQIVO_ERR_TIMEOUT_READ". */
  const char *name() const noexcept { return reqivo_code_name(code_); }
  /** The class base: 1000, 2000, 2100, 3000, ... (see reqivo_code_class). */
  uint32_t error_class() const noexcept { return reqivo_code_class(code_); }
  int32_t os_error() const noexcept { return os_error_; }

 private:
  uint32_t code_;
  int32_t os_error_;
};

/** 1000: the caller passed something invalid (NULL, bad URL, CR/LF in a header). */
class usage_error : public error { using error::error; };
/** 2000: DNS, refused, closed, I/O. */
class network_error : public error { using error::error; };
/** 2005: the proxy refused the CONNECT tunnel (407 when it wants credentials). */
class proxy_error : public network_error { using network_error::network_error; };
/** 2100: TLS failures, a kind of network error. */
class tls_error : public network_error { using network_error::network_error; };
/** 3000: a connect, read, write, total or pool timeout. */
class timeout_error : public error { using error::error; };
/** 4000: the server broke HTTP/1.1 or a limit. */
class protocol_error : public error { using error::error; };
/** 5000: too many redirects, a loop, a bad Location. */
class redirect_error : public error { using error::error; };
/** 6000: cancelled by the caller or a callback. */
class cancelled_error : public error { using error::error; };
/** 7000: a WebSocket handshake, close or frame failure (the C API's
 * reqivo_ws_*; the wrapper has no WebSocket class yet, but a code of this
 * class thrown through check() lands here, not in internal_error). */
class websocket_error : public error { using error::error; };
/** 9000 and anything unknown: a bug inside the library. */
class internal_error : public error { using error::error; };

namespace detail {

[[noreturn]] inline void throw_error(const reqivo_error &e) {
  const std::string msg(e.message);
  switch (reqivo_code_class(e.code)) {
    case REQIVO_CLASS_USAGE: throw usage_error(e.code, e.os_error, msg);
    case REQIVO_CLASS_NETWORK:
      if (e.code == REQIVO_ERR_PROXY) throw proxy_error(e.code, e.os_error, msg);
      throw network_error(e.code, e.os_error, msg);
    case REQIVO_CLASS_TLS: throw tls_error(e.code, e.os_error, msg);
    case REQIVO_CLASS_TIMEOUT: throw timeout_error(e.code, e.os_error, msg);
    case REQIVO_CLASS_PROTOCOL: throw protocol_error(e.code, e.os_error, msg);
    case REQIVO_CLASS_REDIRECT: throw redirect_error(e.code, e.os_error, msg);
    case REQIVO_CLASS_STOPPED: throw cancelled_error(e.code, e.os_error, msg);
    case REQIVO_CLASS_WEBSOCKET: throw websocket_error(e.code, e.os_error, msg);
    default: throw internal_error(e.code, e.os_error, msg);
  }
}

inline void check(uint32_t code, const reqivo_error &e) {
  if (code != REQIVO_OK) throw_error(e);
}

template <typename T>
T *check_ptr(T *p, const reqivo_error &e) {
  if (p == nullptr) throw_error(e);
  return p;
}

/** A move-only owner of a C handle freed by `Free`. */
template <typename T, void (*Free)(T *)>
class handle {
 public:
  handle() noexcept = default;
  explicit handle(T *p) noexcept : p_(p) {}
  handle(const handle &) = delete;
  handle &operator=(const handle &) = delete;
  handle(handle &&o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  handle &operator=(handle &&o) noexcept {
    if (this != &o) reset(std::exchange(o.p_, nullptr));
    return *this;
  }
  ~handle() { reset(); }
  void reset(T *p = nullptr) noexcept {
    if (p_ != nullptr) Free(p_);
    p_ = p;
  }
  T *get() const noexcept { return p_; }
  T *operator->() const noexcept { return p_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }

 private:
  T *p_ = nullptr;
};

inline void free_response(const reqivo_response *r) { reqivo_response_free(r); }
inline void free_tls_config(const reqivo_tls_config *c) { reqivo_tls_config_free(c); }
inline std::string_view view(reqivo_str s) { return {s.ptr, s.len}; }

}  // namespace detail

/* ---- value types ---------------------------------------------------- */

/** Timeouts in milliseconds; starts at the library defaults. A field set
 * to 0 takes the default (for a request, the session's), REQIVO_NO_LIMIT
 * lifts that limit. */
struct timeouts : reqivo_timeout {
  timeouts() : reqivo_timeout(reqivo_timeout_default()) {}
};

/** Response limits; 0 = library default, REQIVO_NO_LIMIT (REQIVO_NO_LIMIT_64
 * for max_body_bytes) = no limit. */
struct limits : reqivo_limits {
  limits() : reqivo_limits{0, 0, 0, 0} {}
};

/* ---- handles -------------------------------------------------------- */

/** A cancellation token; trigger() from any thread. */
class cancel {
 public:
  cancel() : h_(reqivo_cancel_new()) {
    if (!h_) throw internal_error(REQIVO_ERR_IO, 0, "no file descriptor for a cancel token");
  }
  void trigger() const noexcept { reqivo_cancel_trigger(h_.get()); }
  const reqivo_cancel *get() const noexcept { return h_.get(); }

 private:
  detail::handle<reqivo_cancel, reqivo_cancel_free> h_;
};

/** A connection pool, shareable by sessions. */
class pool {
 public:
  pool() : pool(reqivo_pool_config_default()) {}
  explicit pool(const reqivo_pool_config &cfg) {
    reqivo_error e;
    h_.reset(detail::check_ptr(reqivo_pool_new(&cfg, &e), e));
  }
  reqivo_pool_stats stats() const noexcept {
    reqivo_pool_stats s{};
    s.struct_size = sizeof s;
    reqivo_pool_get_stats(h_.get(), &s);
    return s;
  }
  const reqivo_pool *get() const noexcept { return h_.get(); }

 private:
  detail::handle<reqivo_pool, reqivo_pool_free> h_;
};

/** TLS settings, built once and shared by any number of sessions. */
class tls_config {
 public:
  /** Starts a builder; call the setters, then build(). */
  class builder {
   public:
    builder() : b_(reqivo_tls_config_builder_new()) {
      if (!b_) throw internal_error(REQIVO_ERR_PANIC, 0, "no TLS config builder");
    }
    builder(const builder &) = delete;
    builder &operator=(const builder &) = delete;
    ~builder() { reqivo_tls_config_builder_free(b_); }
    /** Trusts the certificates in `pem`. */
    builder &add_root_pem(std::string_view pem) {
      reqivo_error e;
      detail::check(reqivo_tls_config_builder_add_root_pem(
                        b_, reinterpret_cast<const uint8_t *>(pem.data()), pem.size(), &e), e);
      return *this;
    }
    builder &use_system_roots(bool on) {
      reqivo_tls_config_builder_use_system_roots(b_, on);
      return *this;
    }
    /** REQIVO_TLS_VERSION_1_2 or REQIVO_TLS_VERSION_1_3. */
    builder &min_version(uint32_t version) {
      reqivo_error e;
      detail::check(reqivo_tls_config_builder_set_min_version(b_, version, &e), e);
      return *this;
    }
    builder &add_pin_sha256(std::string_view pin) {
      reqivo_error e;
      detail::check(reqivo_tls_config_builder_add_spki_pin_sha256(b_, pin.data(), pin.size(), &e), e);
      return *this;
    }
    /** Consumes the builder's settings. */
    tls_config build() {
      reqivo_error e;
      const reqivo_tls_config *c = reqivo_tls_config_builder_build(std::exchange(b_, nullptr), &e);
      return tls_config(detail::check_ptr(c, e));
    }

   private:
    reqivo_tls_config_builder *b_;
  };
  const reqivo_tls_config *get() const noexcept { return h_.get(); }

 private:
  explicit tls_config(const reqivo_tls_config *c) noexcept : h_(c) {}
  detail::handle<const reqivo_tls_config, detail::free_tls_config> h_;
};

/** A response: the library's struct, read in place, freed on destruction. */
class response {
 public:
  explicit response(const reqivo_response *r) noexcept : r_(r) {}
  uint16_t status() const noexcept { return r_->status; }
  std::string_view reason() const noexcept { return detail::view(r_->reason); }
  std::string_view url() const noexcept { return detail::view(r_->url); }
  std::string_view body() const noexcept {
    return {reinterpret_cast<const char *>(r_->body), r_->body_len};
  }
  bool reused() const noexcept { return (r_->flags & REQIVO_RESPONSE_REUSED) != 0; }
  uint32_t redirect_count() const noexcept { return r_->redirect_count; }
  const reqivo_timings &timings() const noexcept { return r_->timings; }
  /** Header fields in received order: iterate with for (auto &h : r.headers()). */
  struct header_range {
    const reqivo_header *first, *last;
    const reqivo_header *begin() const noexcept { return first; }
    const reqivo_header *end() const noexcept { return last; }
    std::size_t size() const noexcept { return static_cast<std::size_t>(last - first); }
  };
  header_range headers() const noexcept {
    return {r_->headers, r_->headers + r_->header_count};
  }
  /** The nth value of a header, compared case-insensitively. */
  std::optional<std::string_view> header(std::string_view name, std::size_t nth = 0) const noexcept {
    reqivo_str out;
    if (!reqivo_response_header(r_.get(), name.data(), name.size(), nth, &out)) return std::nullopt;
    return detail::view(out);
  }
  /** Trailer fields of a chunked body, in received order (usually none). */
  header_range trailers() const noexcept {
    std::size_t n = 0;
    const reqivo_header *first = reqivo_response_trailers(r_.get(), &n);
    return {first, first + n};
  }
  /** The whole struct, for fields without an accessor. */
  const reqivo_response &raw() const noexcept { return *r_.get(); }

 private:
  detail::handle<const reqivo_response, detail::free_response> r_;
};

/** A request: method, URL (maybe relative to the session's base URL), headers, body. */
class request {
 public:
  request(std::string_view method, std::string_view url) {
    reqivo_error e;
    h_.reset(detail::check_ptr(reqivo_request_new(method.data(), method.size(), url.data(), url.size(), &e), e));
  }
  request &header(std::string_view name, std::string_view value) {
    reqivo_error e;
    detail::check(reqivo_request_add_header(h_.get(), name.data(), name.size(), value.data(), value.size(), &e), e);
    return *this;
  }
  request &body(std::string_view data) {
    reqivo_error e;
    detail::check(reqivo_request_set_body(h_.get(), reinterpret_cast<const uint8_t *>(data.data()), data.size(), &e), e);
    return *this;
  }
  request &timeout(const reqivo_timeout &t) {
    reqivo_request_set_timeout(h_.get(), t);
    return *this;
  }
  const reqivo_request *get() const noexcept { return h_.get(); }

 private:
  detail::handle<reqivo_request, reqivo_request_free> h_;
};

/** A streamed response: the head now, the body read piece by piece. */
class stream {
 public:
  explicit stream(reqivo_stream *s) noexcept : h_(s) {}
  /** The head (empty body); owned by the stream. */
  const reqivo_response &head() const noexcept { return *reqivo_stream_response(h_.get()); }
  uint16_t status() const noexcept { return head().status; }
  /** Reads up to `cap` bytes; 0 at the end of the body. */
  std::size_t read(void *buf, std::size_t cap) {
    reqivo_error e;
    int64_t n = reqivo_stream_read(h_.get(), static_cast<uint8_t *>(buf), cap, &e);
    if (n < 0) detail::throw_error(e);
    return static_cast<std::size_t>(n);
  }
  /** Calls `sink` with each piece until the body ends; returns the total. */
  std::size_t each(const std::function<void(std::string_view)> &sink, std::size_t piece = 64 * 1024) {
    std::string buf(piece, '\0');
    std::size_t total = 0;
    for (std::size_t n; (n = read(buf.data(), buf.size())) > 0; total += n) sink({buf.data(), n});
    return total;
  }

 private:
  detail::handle<reqivo_stream, reqivo_stream_free> h_;
};

namespace detail {
struct session_callbacks;
}  // namespace detail

/** The request of one hop (the first request or a redirect), handed to
 *  session::on_request callbacks; valid only during the callback. */
class hook_request {
 public:
  std::string_view method() const noexcept { return detail::view(reqivo_hook_request_method(r_)); }
  /** The hop's absolute URL. */
  std::string_view url() const noexcept { return detail::view(reqivo_hook_request_url(r_)); }
  /** Replaces every field `name` with one `name: value` (added when absent). */
  hook_request &set_header(std::string_view name, std::string_view value) {
    reqivo_error e;
    detail::check(reqivo_hook_request_set_header(r_, name.data(), name.size(), value.data(), value.size(), &e), e);
    return *this;
  }
  /** Adds a field, keeping others of the same name. */
  hook_request &add_header(std::string_view name, std::string_view value) {
    reqivo_error e;
    detail::check(reqivo_hook_request_add_header(r_, name.data(), name.size(), value.data(), value.size(), &e), e);
    return *this;
  }
  /** Removes every field `name` (not Host, Content-Length, Transfer-Encoding: usage_error). */
  hook_request &remove_header(std::string_view name) {
    reqivo_error e;
    detail::check(reqivo_hook_request_remove_header(r_, name.data(), name.size(), &e), e);
    return *this;
  }

 private:
  friend struct detail::session_callbacks;
  explicit hook_request(reqivo_hook_request *r) noexcept : r_(r) {}
  hook_request(const hook_request &) = delete;
  hook_request &operator=(const hook_request &) = delete;
  reqivo_hook_request *r_;
};

/** A response head handed to session::on_response callbacks (redirect hops
 *  included); not owned, valid only during the callback. The body is empty. */
class response_view {
 public:
  uint16_t status() const noexcept { return r_->status; }
  std::string_view reason() const noexcept { return detail::view(r_->reason); }
  std::string_view url() const noexcept { return detail::view(r_->url); }
  response::header_range headers() const noexcept { return {r_->headers, r_->headers + r_->header_count}; }
  /** The nth value of a header, compared case-insensitively. */
  std::optional<std::string_view> header(std::string_view name, std::size_t nth = 0) const noexcept {
    reqivo_str out;
    if (!reqivo_response_header(r_, name.data(), name.size(), nth, &out)) return std::nullopt;
    return detail::view(out);
  }
  const reqivo_response &raw() const noexcept { return *r_; }

 private:
  friend struct detail::session_callbacks;
  explicit response_view(const reqivo_response *r) noexcept : r_(r) {}
  response_view(const response_view &) = delete;
  response_view &operator=(const response_view &) = delete;
  const reqivo_response *r_;
};

/** Log levels of session::set_logger (REQIVO_LOG_*). */
enum class log_level : uint32_t {
  debug = REQIVO_LOG_DEBUG,
  info = REQIVO_LOG_INFO,
  warn = REQIVO_LOG_WARN,
  error = REQIVO_LOG_ERROR,
};

namespace detail {

/** One send in progress on this thread: where a callback's exception
 *  waits until the C call has returned. Scopes nest (a callback may send
 *  through another session); a callback finds its own session's scope. */
struct call_scope {
  explicit call_scope(const void *owner) noexcept : owner_(owner), prev_(top()) { top() = this; }
  call_scope(const call_scope &) = delete;
  call_scope &operator=(const call_scope &) = delete;
  ~call_scope() { top() = prev_; }
  /** Rethrows what a callback threw during the call, if anything. */
  void rethrow() {
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  }
  static call_scope *find(const void *owner) noexcept {
    for (call_scope *s = top(); s != nullptr; s = s->prev_)
      if (s->owner_ == owner) return s;
    return nullptr;
  }
  const void *owner_;
  call_scope *prev_;
  std::exception_ptr error_;

 private:
  static call_scope *&top() noexcept {
    static thread_local call_scope *t = nullptr;
    return t;
  }
};

/** A session's callbacks, at a stable address (the library's userdata).
 *  Callbacks are copied out under the lock, so they may be replaced while
 *  other threads send. */
struct session_callbacks {
  std::mutex lock;
  std::function<void(hook_request &)> on_request;
  std::function<void(const response_view &)> on_response;
  std::function<void(log_level, std::string_view)> logger;

  template <typename F>
  F get(F session_callbacks::*field) {
    std::lock_guard<std::mutex> g(lock);
    return this->*field;
  }

  /** Runs `body` for this session's send on this thread: returns 0, or
   *  1 after catching an exception (the first one is kept for the caller's
   *  rethrow). After a failure hooks are not called again (the send is
   *  over), but the logger is (`after_error`): the library logs the failure. */
  template <typename Body>
  int32_t guard(Body &&body, bool after_error = false) noexcept {
    call_scope *scope = call_scope::find(this);
    if (scope == nullptr) return 1;                  // not inside a send of this wrapper: stop
    if (scope->error_ && !after_error) return 1;     // an earlier callback failed
    try {
      body();
      return 0;
    } catch (...) {
      if (!scope->error_) scope->error_ = std::current_exception();
      return 1;
    }
  }

  static int32_t on_request_c(void *ud, reqivo_hook_request *r) noexcept;
  static int32_t on_response_c(void *ud, const reqivo_response *r) noexcept;
  static void log_c(void *ud, uint32_t level, const char *msg, std::size_t len) noexcept;
};

}  // namespace detail

/** A session: base URL, default headers, timeouts, limits, redirects; thread-safe. */
class session {
 public:
  session() { init(nullptr); }
  explicit session(const pool &p) { init(p.get()); }
  session &base_url(std::string_view url) {
    reqivo_error e;
    detail::check(reqivo_session_set_base_url(h_.get(), url.data(), url.size(), &e), e);
    return *this;
  }
  session &header(std::string_view name, std::string_view value) {
    reqivo_error e;
    detail::check(reqivo_session_set_header(h_.get(), name.data(), name.size(), value.data(), value.size(), &e), e);
    return *this;
  }
  session &timeout(const reqivo_timeout &t) {
    reqivo_session_set_timeout(h_.get(), t);
    return *this;
  }
  session &limit(const reqivo_limits &l) {
    reqivo_session_set_limits(h_.get(), l);
    return *this;
  }
  /** Uses `tls` for https; the session keeps its own reference. */
  session &tls(const tls_config &tls) {
    reqivo_session_set_tls(h_.get(), tls.get());
    return *this;
  }
  session &max_redirects(uint32_t n) {
    reqivo_session_set_max_redirects(h_.get(), n);
    return *this;
  }
  /** Sends later requests through the HTTP proxy at `url`
   *  ("http://[user:password@]host[:port]"; credentials go to the proxy as
   *  Proxy-Authorization: Basic); https goes through CONNECT, TLS end to
   *  end. An empty `url` connects directly. A refused tunnel throws
   *  proxy_error from send(). The environment is not read unless
   *  use_env_proxy() is called. */
  session &set_proxy(std::string_view url) {
    reqivo_error e;
    detail::check(reqivo_session_set_proxy(h_.get(), url.data(), url.size(), &e), e);
    return *this;
  }
  /** Hosts that bypass the proxy, NO_PROXY form: "a.example,10.0.0.0/8,host:8080", or "*". */
  session &set_no_proxy(std::string_view list) {
    reqivo_error e;
    detail::check(reqivo_session_set_no_proxy(h_.get(), list.data(), list.size(), &e), e);
    return *this;
  }
  /** Replaces the proxy settings with HTTP_PROXY, HTTPS_PROXY and NO_PROXY, read now. */
  session &use_env_proxy() {
    reqivo_error e;
    detail::check(reqivo_session_use_env_proxy(h_.get(), &e), e);
    return *this;
  }
  /** The public suffix list (publicsuffix.org text) the cookie jar uses;
   *  empty: the system's list. */
  session &set_public_suffix_list(std::string_view text) {
    reqivo_error e;
    detail::check(reqivo_session_set_public_suffix_list(h_.get(), text.data(), text.size(), &e), e);
    return *this;
  }

  /** Calls `cb` before each hop is sent (the request, each redirect); it
   *  may change that hop's headers. A throw stops the send and is rethrown
   *  from send()/open(). Runs on the sending thread, possibly on several
   *  threads at once. An empty function removes it. */
  session &on_request(std::function<void(hook_request &)> cb) {
    {
      std::lock_guard<std::mutex> g(cbs_->lock);
      cbs_->on_request = std::move(cb);
    }
    return install_hooks();
  }
  /** Calls `cb` with each response head (redirect hops included) before
   *  its body is read. A throw stops the send and is rethrown. */
  session &on_response(std::function<void(const response_view &)> cb) {
    {
      std::lock_guard<std::mutex> g(cbs_->lock);
      cbs_->on_response = std::move(cb);
    }
    return install_hooks();
  }
  /** Sends the session's log lines at `min` and above to `cb`: connections
   *  opened and reused (debug), retries and redirects (info), failed sends
   *  (error). An empty function turns logging off. A throw cannot stop the
   *  send; it is rethrown from send()/open() once the call is over. */
  session &set_logger(std::function<void(log_level, std::string_view)> cb, log_level min = log_level::debug) {
    bool on = static_cast<bool>(cb);
    {
      std::lock_guard<std::mutex> g(cbs_->lock);
      cbs_->logger = std::move(cb);
    }
    reqivo_session_set_logger(h_.get(), on ? &detail::session_callbacks::log_c : nullptr, cbs_.get(),
                              static_cast<uint32_t>(min));
    return *this;
  }

  response send(const request &r, const cancel *c = nullptr) {
    reqivo_error e;
    detail::call_scope scope(cbs_.get());
    const reqivo_response *out = reqivo_session_send(h_.get(), r.get(), c ? c->get() : nullptr, &e);
    response resp(out);  // owns it even when a callback's exception wins
    scope.rethrow();
    detail::check_ptr(out, e);
    return resp;
  }
  response get(std::string_view url) { return send(request("GET", url)); }
  /** The C handle, for the multi API and calls without a wrapper. */
  reqivo_session *get() const noexcept { return h_.get(); }
  stream open(const request &r, const cancel *c = nullptr) {
    reqivo_error e;
    detail::call_scope scope(cbs_.get());
    reqivo_stream *out = reqivo_session_open(h_.get(), r.get(), c ? c->get() : nullptr, &e);
    stream st(out);
    scope.rethrow();
    detail::check_ptr(out, e);
    return st;
  }

 private:
  void init(const reqivo_pool *p) {
    reqivo_error e;
    h_.reset(detail::check_ptr(reqivo_session_new(p, &e), e));
  }
  session &install_hooks() {
    bool req, resp;
    {
      std::lock_guard<std::mutex> g(cbs_->lock);
      req = static_cast<bool>(cbs_->on_request);
      resp = static_cast<bool>(cbs_->on_response);
    }
    reqivo_session_set_hooks(h_.get(), req ? &detail::session_callbacks::on_request_c : nullptr,
                             resp ? &detail::session_callbacks::on_response_c : nullptr, cbs_.get());
    return *this;
  }
  // Declared before h_, so destroyed after it: the library never holds a
  // dangling userdata.
  std::unique_ptr<detail::session_callbacks> cbs_ = std::make_unique<detail::session_callbacks>();
  detail::handle<reqivo_session, reqivo_session_free> h_;
};

/** Many transfers in flight on one thread: add requests (from any
 *  thread), then poll() in a loop, or watch fd() and timeout_ms() in your
 *  event loop and call perform() when either fires; next() hands out each
 *  finished transfer. Hooks and loggers of the sessions run inside
 *  poll()/perform(). */
class multi {
 public:
  /** A finished transfer: the value given to add(), and its response or
   *  why it failed. */
  struct done {
    std::uintptr_t user;
    std::optional<response> resp;
    reqivo_error error;
    /** The response; throws the transfer's error if it failed. */
    response take() {
      if (!resp) detail::throw_error(error);
      return std::move(*resp);
    }
  };

  /** What a streamed transfer's callback says after the head or a piece
   *  of body. */
  enum class flow : int32_t {
    go_on = REQIVO_DATA_CONTINUE,
    /** Not taken: offered again after resume(). */
    pause = REQIVO_DATA_PAUSE,
    /** Ends the transfer (REQIVO_ERR_ABORTED_BY_CALLBACK). */
    abort = -1,
  };
  /** Takes a piece of a streamed body; `head` is the response so far
   *  (no body). Called first with empty `data` as soon as the head has
   *  arrived (also when no body follows), then once per piece. Runs inside
   *  poll()/perform(); an exception it throws ends the transfer as abort
   *  does. */
  using data_fn = std::function<flow(const reqivo_response &head, std::string_view data)>;

  multi() {
    reqivo_error e;
    h_.reset(detail::check_ptr(reqivo_multi_new(&e), e));
  }
  /** Queues `r` (copied) on session `s`; `user` comes back with its result. */
  void add(const session &s, const request &r, std::uintptr_t user, const cancel *c = nullptr) {
    reqivo_error e;
    detail::check(static_cast<uint32_t>(reqivo_multi_add(h_.get(), s.get(), r.get(), c ? c->get() : nullptr,
                                                         reinterpret_cast<void *>(user), &e)),
                  e);
  }
  /** Queues `r` with its body handed to `on_data` as it arrives (the
   *  response from next() then has no body); returns the id resume()
   *  takes. Any thread. */
  uint64_t add_streamed(const session &s, const request &r, std::uintptr_t user, data_fn on_data,
                        const cancel *c = nullptr) {
    auto holder = std::make_unique<streamed>(streamed{user, std::move(on_data)});
    reqivo_error e;
    uint64_t id = 0;
    std::lock_guard<std::mutex> g(streams_lock_);
    detail::check(static_cast<uint32_t>(reqivo_multi_add_streamed(h_.get(), s.get(), r.get(),
                                                                  c ? c->get() : nullptr, &streamed::call,
                                                                  holder.get(), &id, &e)),
                  e);
    void *key = holder.get();
    streams_.emplace(key, std::move(holder));
    return id;
  }
  /** Lets streamed transfer `id`, paused by its callback, go on. Any thread. */
  void resume(uint64_t id) const {
    reqivo_error e;
    detail::check(static_cast<uint32_t>(reqivo_multi_resume(h_.get(), id, &e)), e);
  }
  /** Waits up to `timeout_ms` (-1: until something happens), then performs. */
  void poll(int32_t timeout_ms = -1) {
    reqivo_error e;
    detail::check(static_cast<uint32_t>(reqivo_multi_poll(h_.get(), timeout_ms, &e)), e);
  }
  /** Does what can be done now, never waiting. */
  void perform() {
    reqivo_error e;
    detail::check(static_cast<uint32_t>(reqivo_multi_perform(h_.get(), &e)), e);
  }
  /** The next finished transfer, if any. */
  std::optional<done> next() {
    reqivo_multi_done d{};
    d.struct_size = sizeof d;
    if (!reqivo_multi_next(h_.get(), &d)) return std::nullopt;
    done out{reinterpret_cast<std::uintptr_t>(d.user_data), std::nullopt, d.error};
    if (d.response != nullptr) out.resp.emplace(d.response);
    {
      // A streamed transfer's user_data is its callback holder: give back
      // the caller's value and let the holder go.
      std::lock_guard<std::mutex> g(streams_lock_);
      auto it = streams_.find(d.user_data);
      if (it != streams_.end()) {
        out.user = it->second->user;
        streams_.erase(it);
      }
    }
    return out;
  }
  int fd() const noexcept { return reqivo_multi_fd(h_.get()); }
  /** Milliseconds until perform() should run anyway; -1: no timer. */
  int64_t timeout_ms() const noexcept { return reqivo_multi_timeout_ms(h_.get()); }
  /** Ends a poll() in progress; any thread. */
  void wakeup() const { detail::check(static_cast<uint32_t>(reqivo_multi_wakeup(h_.get())), reqivo_error{}); }
  std::size_t in_flight() const noexcept { return reqivo_multi_in_flight(h_.get()); }

 private:
  struct streamed {
    std::uintptr_t user;
    data_fn fn;
    static int32_t call(void *self, const reqivo_response *head, const uint8_t *data, std::size_t len) noexcept {
      try {
        auto *st = static_cast<streamed *>(self);
        return static_cast<int32_t>(st->fn(*head, std::string_view(reinterpret_cast<const char *>(data), len)));
      } catch (...) {
        return static_cast<int32_t>(flow::abort);
      }
    }
  };
  // Declared before h_, so destroyed after it: freeing the multi ends its
  // transfers before their callbacks go.
  std::mutex streams_lock_;
  std::unordered_map<void *, std::unique_ptr<streamed>> streams_;
  detail::handle<reqivo_multi, reqivo_multi_free> h_;
};

namespace detail {

inline int32_t session_callbacks::on_request_c(void *ud, reqivo_hook_request *r) noexcept {
  auto *self = static_cast<session_callbacks *>(ud);
  hook_request req(r);
  return self->guard([&] {
    auto cb = self->get(&session_callbacks::on_request);
    if (cb) cb(req);
  });
}

inline int32_t session_callbacks::on_response_c(void *ud, const reqivo_response *r) noexcept {
  auto *self = static_cast<session_callbacks *>(ud);
  response_view head(r);
  return self->guard([&] {
    auto cb = self->get(&session_callbacks::on_response);
    if (cb) cb(head);
  });
}

inline void session_callbacks::log_c(void *ud, uint32_t level, const char *msg, std::size_t len) noexcept {
  auto *self = static_cast<session_callbacks *>(ud);
  self->guard(
      [&] {
        auto cb = self->get(&session_callbacks::logger);
        if (cb) cb(static_cast<log_level>(level), std::string_view(msg, len));
      },
      true);
}

}  // namespace detail

}  // namespace reqivo

#endif /* REQIVO_HPP */
