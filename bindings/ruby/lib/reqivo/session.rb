# frozen_string_literal: true

require 'json'
require 'uri'
require_relative 'handle'
require_relative 'config'
require_relative 'pool'
require_relative 'cancel'
require_relative 'websocket'
require_relative 'websocket_options'
require_relative 'blocking'
require_relative 'response'
require_relative 'stream'
require_relative 'callbacks'
require_relative 'multipart'
require_relative 'tls'
require_relative 'hooks'
require_relative 'fiber_multi'
require_relative 'retry'

module Reqivo
  # A session (reqivo_session): base URL, default headers, timeouts, limits
  # and redirect policy over a keep-alive connection pool. Thread-safe: any
  # number of threads may send through one session at once, and while one
  # waits on the network the others run (the GVL is released).
  #
  #   s = Reqivo::Session.new(base_url: 'http://127.0.0.1:8080/api/',
  #                           timeout: { connect: 2, read: 5, total: 30 },
  #                           headers: { 'Accept' => 'application/json' })
  #   r = s.get('users', params: { page: 2 })
  #   r.status; r.json
  #   s.post('users', json: { name: 'x' })
  #   s.stream(:get, 'export.csv') { |chunk| io.write(chunk) }
  #
  # A request interrupted by Timeout.timeout, Thread#raise or Thread#kill is
  # cancelled inside the library (see Reqivo::Blocking), so the connection
  # is not left half-read and the session keeps working.
  #
  # Under a fiber scheduler (Fiber.scheduler set and the calling fiber
  # non-blocking, as inside `Async do ... end`), #request (#get, #post,
  # ...), #stream and #websocket block only the calling fiber: requests go
  # through one reqivo_multi per scheduler and wait on its descriptor, a
  # WebSocket's calls on a helper thread (Reqivo::FiberMulti). Results,
  # exceptions, timeouts, hooks and cookies are those of the blocking path;
  # a stopped fiber cancels its request.
  class Session
    METHODS = %i[get post put patch delete head options].freeze
    BUFFER_TOO_SMALL = CODES_BY_NAME.fetch('REQIVO_ERR_BUFFER_TOO_SMALL').code
    # Session.new's http_version: values.
    HTTP_VERSIONS = {
      default: Native::REQIVO_HTTP_VERSION_DEFAULT,
      http1_1: Native::REQIVO_HTTP_VERSION_1_1, '1.1' => Native::REQIVO_HTTP_VERSION_1_1,
      http2: Native::REQIVO_HTTP_VERSION_2, '2' => Native::REQIVO_HTTP_VERSION_2
    }.freeze

    attr_reader :pool, :base_url

    # base_url:      relative request URLs are joined to it (RFC 3986: "a/b"
    #                joins after the last "/" of the base).
    # timeout:       seconds for connect, read, write and pool, or a hash of
    #                connect:/read:/write:/total:/pool: (nil = no limit;
    #                keys left out keep the defaults: 5 s each, no total).
    # headers:       default headers ({name => value}); a request's own
    #                header of the same name replaces them.
    # max_redirects: redirects to follow (0 returns 3xx as is; default 30).
    # pool:          a Reqivo::Pool to share; by default the session makes
    #                its own (reachable as #pool, for #stats).
    # limits:        {max_line_bytes:, max_header_bytes:, max_header_count:,
    #                max_body_bytes:}; 0 or missing = library default,
    #                nil = no limit.
    # auth:          ['user', 'pass'] or { user:, password: } for Basic
    #                (RFC 7617), { bearer: 'token' } for Bearer (RFC 6750);
    #                sent to the origin each request addresses, dropped on
    #                a redirect to another origin. Credentials in a URL
    #                (http://user:pass@host/) are used the same way.
    # digest_auth:   ['user', 'pass']: answer HTTP Digest challenges (RFC
    #                7616; MD5, SHA-256, SHA-512-256 and -sess, qop auth or
    #                auth-int, userhash): a 401 with WWW-Authenticate:
    #                Digest is answered by sending the request again, once
    #                (a wrong password gives the 401 back; a body from an
    #                IO is not sent twice, its 401 is returned too). The
    #                session remembers each origin's nonce and answers
    #                later requests at once. Only to the origin each
    #                request addresses; not with auth: (give one of them);
    #                a request's own Authorization header turns it off.
    # tls:           for https: a Reqivo::TLS::Config (shareable), or a hash
    #                of its options (ca_file:, ca_pem:, ca_path:,
    #                system_roots:, client_cert:, client_key:, min_version:,
    #                pins:, verify:), built for this session alone. nil: the
    #                system's roots, TLS 1.2 minimum. See #tls=.
    # decompress:    true (the default): ask for gzip, deflate, br, zstd
    #                (Accept-Encoding, unless the request sets its own) and
    #                decode such bodies, buffered or streamed
    #                (Response#decompressed?; headers stay as received; the
    #                decoded size counts against max_body_bytes). false:
    #                bodies arrive as sent.
    # cookies:       true (the default): the session's own cookie jar
    #                stores Set-Cookie of every response (redirect hops
    #                included, RFC 6265 scoping) and sends matching cookies;
    #                false: nothing stored or sent. See #save_cookies.
    # proxy:         an HTTP proxy URL, "http://[user:password@]host[:port]"
    #                (a String or URI): http requests are forwarded to it
    #                with absolute-form targets, https requests tunnelled
    #                through CONNECT (TLS stays end to end); credentials go
    #                to the proxy as Proxy-Authorization: Basic. Or a SOCKS5
    #                proxy, "socks5h://[user:password@]host[:port]" (the
    #                proxy resolves names) or "socks5://..." (resolved here,
    #                the address sent), port 1080 by default: http and https
    #                both go through its tunnel, credentials are its
    #                username and password (RFC 1929). A tunnel the proxy
    #                refuses raises Reqivo::ProxyError. See #proxy=.
    # no_proxy:      hosts that bypass the proxy: "a.example,10.0.0.0/8,
    #                host:8080" or an Array of entries (NO_PROXY form).
    # env_proxy:     true: take HTTP_PROXY, HTTPS_PROXY and NO_PROXY from
    #                the environment (and, as curl does, ALL_PROXY for a
    #                scheme without its own), read now (proxy: and no_proxy: given
    #                too win over them). The environment is never read
    #                otherwise.
    # retries:       true (Reqivo::Retry.new: 3 attempts, every outcome), a
    #                Hash of Reqivo::Retry.new's options, or a Reqivo::Retry;
    #                nil or false (the default): nothing is retried. A
    #                request is retried when its method is idempotent or
    #                its headers carry an Idempotency-Key. See #retries=.
    # public_suffix_list: the text of a public suffix list
    #                (publicsuffix.org format) the cookie jar refuses
    #                Domain=<suffix> cookies with; by default the system's.
    # resolve:       address overrides in curl's --resolve form, a String
    #                or an Array: "api.example:443:10.0.0.5,[2001:db8::5]"
    #                sends connections for that host and port there; the
    #                URL, Host, SNI and certificate checks keep the name.
    #                See #add_resolve.
    # connect_to:    host and port overrides in curl's --connect-to form,
    #                "HOST1:PORT1:HOST2:PORT2" (a String or an Array).
    # unix_socket:   a Unix domain socket path every request goes over
    #                (the URL's host in Host), e.g. "/var/run/docker.sock";
    #                "\0name" names an abstract socket (Linux).
    # http_version:  :default (h2 then http/1.1 offered over TLS, HTTP/2
    #                when the server chooses it; HTTP/1.1 over cleartext),
    #                :http1_1 (or "1.1") or :http2 (or "2"): HTTP/2 only,
    #                h2 by ALPN over TLS and with prior knowledge over
    #                cleartext (a server that does not speak it fails the
    #                request); every request to an origin is a stream on
    #                one shared connection, from any number of threads,
    #                and Response#http_version is "2". Threads, #parallel
    #                and fibers under a scheduler all share that connection.
    #                WebSockets stay on HTTP/1.1. See #http_version=.
    def initialize(base_url: nil, timeout: nil, headers: nil, max_redirects: nil,
                   pool: nil, limits: nil, auth: nil, digest_auth: nil, tls: nil, decompress: true,
                   cookies: true, proxy: nil, no_proxy: nil, env_proxy: false, public_suffix_list: nil,
                   resolve: nil, connect_to: nil, unix_socket: nil, retries: nil, http_version: nil)
      raise ArgumentError, "pool must be a Reqivo::Pool, got #{pool.class}" unless pool.nil? || pool.is_a?(Pool)

      @own_pool = pool.nil?
      @pool = pool || Pool.new
      err = Native::Error.new
      ptr = @pool.use { |p| Native.reqivo_session_new(p, err) }
      raise Error.from_native(err) if ptr.null?

      @handle = Handle.new(ptr, Native::FREE[:session], 'session')
      @hooks = SessionHooks.new
      @timeout_ms = Config.timeout_ms(timeout, Config.default_timeout_ms)
      configure(base_url, headers, max_redirects, limits)
      configure_auth(auth) unless auth.nil?
      configure_digest_auth(digest_auth, auth) unless digest_auth.nil?
      self.decompress = decompress unless decompress == true
      self.cookies = cookies unless cookies == true
      self.tls = tls unless tls.nil?
      use_env_proxy if env_proxy
      self.proxy = proxy unless proxy.nil?
      self.no_proxy = no_proxy unless no_proxy.nil?
      self.public_suffix_list = public_suffix_list unless public_suffix_list.nil?
      Array(resolve).each { |entry| add_resolve(entry) }
      Array(connect_to).each { |entry| add_connect_to(entry) }
      self.unix_socket = unix_socket unless unix_socket.nil?
      self.retries = retries unless retries.nil?
      self.http_version = http_version unless http_version.nil?
    rescue StandardError
      close if @handle
      raise
    end

    # get(url, **options), post, ...: #request with that method. The
    # options are spelled out rather than taken as **opts, so that a call
    # without any allocates no Hash.
    METHODS.each do |m|
      verb = m.to_s.upcase.freeze
      define_method(m) do |url, params: nil, headers: nil, body: nil, json: nil, timeout: nil, cancel: nil,
                           progress: nil, multipart: nil|
        request(verb, url, params: params, headers: headers, body: body, json: json, timeout: timeout,
                           cancel: cancel, progress: progress, multipart: multipart)
      end
    end

    # Sends a request and reads the whole response.
    #
    # params:  query parameters ({k => v} or [[k, v]]; array values repeat
    #          the key), URL-encoded and appended to url.
    # headers: {name => value or [values]}.
    # body:    a String (sent as is); an IO or anything with #read
    #          (streamed: Content-Length when its size is known, chunked
    #          otherwise; read once, so a 307/308 redirect is returned, not
    #          followed -- see Response#redirect_not_followed?); or a
    #          Hash/Array (form-encoded, Content-Type
    #          application/x-www-form-urlencoded).
    # json:    any JSON-able object: JSON.generate, Content-Type
    #          application/json unless headers set a JSON type
    #          (application/vnd.api+json is kept, text/plain replaced).
    # timeout: this request's timeouts, same forms as the session's (keys
    #          left out keep the session's values).
    # cancel:  a Reqivo::Cancel; cancelling it raises Reqivo::Cancelled.
    # progress: called as (sent, send_total, received, receive_total) after
    #          each piece of body written or read (totals nil when
    #          unknown); an exception it raises aborts the transfer and is
    #          re-raised here.
    # multipart: a multipart/form-data body from { name => value }: File,
    #          Pathname and Reqivo::Multipart::File values are file parts
    #          streamed from disk, others fields (see Reqivo::Multipart).
    def request(method, url, params: nil, headers: nil, body: nil, json: nil, timeout: nil,
                cancel: nil, progress: nil, multipart: nil)
      req = build_request(method, url, params, headers, body, json, timeout, progress, multipart)
      check_cancel(cancel)
      if (fibers = FiberMulti.current)
        return @handle.use { |s| fibers.request(s, req, cancel, @hooks) }
      end

      result = Blocking.run(cancel) { |token| send_request(req, token, cancel.nil?) }
      req.keep&.raise_stashed
      if (hooked = @hooks.take_error)
        raise hooked
      end
      raise result if result.is_a?(Reqivo::Error)

      result
    ensure
      req&.close
    end

    # Streams a response body. With a block, yields each chunk (binary
    # String) as it arrives, then returns the Response head (body empty);
    # without one, returns an open Reqivo::Stream to read and #close.
    # Same options as #request. The body has no size limit unless
    # limits: max_body_bytes says so.
    def stream(method, url, **opts, &block)
      st = open_stream(method, url, **opts)
      return st unless block

      begin
        st.each(&block)
        st.response
      ensure
        st.close
      end
    end

    # Sends many requests at once from the calling thread, through one
    # reqivo_multi, and returns the block's value once every request queued
    # on the batch has been answered:
    #
    #   session.parallel(max_in_flight: 100) do |batch|
    #     urls.each { |u| batch.get(u) { |result| ... } }   # a Response or a Reqivo::Error
    #     batch.post('items', json: { a: 1 }) { |r| ... }
    #   end
    #
    # The block queues requests on a Reqivo::Batch (same methods and
    # options as the session's, but no cancel:) and may keep the
    # Batch::Request each returns; they are sent once it returns, at most
    # `max_in_flight` at a time (the rest wait in order). Each request's
    # block runs on this thread, between waits, with its Reqivo::Response
    # or its failure as an exception object (the class #get would raise:
    # Reqivo::NetworkError for a refused connection, ...), never raised;
    # it may queue more requests on the batch. The GVL is released while
    # the batch waits. Batch#cancel (any thread) ends what is queued or in
    # flight, each block getting a Reqivo::Cancelled. An exception raised by
    # the block, by a request's block or by a session hook ends the batch
    # (transfers in flight are closed) and propagates, as does
    # Timeout.timeout or Thread#raise.
    #
    # Connections come from the session's pool, so a batch to one host
    # runs at most the pool's max_per_host (default 10) at a time; the
    # others wait for a connection under the pool timeout. Give the session
    # a Pool with room for max_in_flight to run them all at once.
    #
    # A batch waits in reqivo_multi_poll and so holds its thread even under
    # a fiber scheduler; there, run the requests as fibers instead.
    def parallel(max_in_flight: Batch::DEFAULT_MAX_IN_FLIGHT, &block)
      raise ArgumentError, 'parallel needs a block' unless block
      batch = Batch.new(self, max_in_flight)
      @handle.use { |s| batch.__send__(:run, s, @hooks, &block) }
    end

    # Opens a WebSocket (ws:// or wss://, or relative to base_url): the
    # handshake goes through this session (default headers, auth, cookies,
    # TLS, timeouts). With a block, yields the Reqivo::WebSocket, closes it
    # (1000) when the block ends and returns the block's value; without
    # one, returns it open (call #close).
    #
    # protocols:   subprotocols to offer, in order of preference
    #              (WebSocket#protocol is the server's choice).
    # headers:     extra handshake headers, {name => value or [values]}.
    # max_frame:, max_message: largest frame and message accepted, in
    #              bytes (default 16 MiB).
    # ping_interval:, pong_timeout: seconds; keep-alive pings while a
    #              #receive waits, and the deadline for their pongs.
    # deflate:     true, or {server_no_context_takeover:,
    #              client_no_context_takeover:, server_max_window_bits:},
    #              to offer permessage-deflate.
    # reconnect:   {attempts:, initial_delay:, max_delay:} (seconds) to
    #              reconnect after a lost connection.
    # on_reconnect: called as (attempt, error) on each reconnect attempt
    #              (error nil when it worked), on the thread whose call
    #              reconnects; it must not use the WebSocket. What it
    #              raises is raised by that call.
    # cancel:      a Reqivo::Cancel for the handshake.
    #
    # A refusal (not 101) raises Reqivo::WebSocketHandshakeError, whose
    # #status and #response give the server's answer.
    def websocket(url, protocols: nil, headers: nil, cancel: nil, **opts)
      ws = open_websocket(url.to_s, protocols, headers, cancel, opts)
      return ws unless block_given?

      begin
        yield ws
      ensure
        ws.close
      end
    end

    # Sets the TLS configuration of later https requests: a
    # Reqivo::TLS::Config, a hash of its options (a config made for this
    # session, whose reference is given up at once: the session keeps its
    # own), or nil for the default (system roots, TLS 1.2 minimum).
    # Connections made under another config are not reused for them.
    # Callable while other threads send.
    def tls=(spec)
      cfg, made_here = spec.nil? ? [nil, false] : TLS::Config.coerce(spec)
      begin
        @handle.use do |s|
          if cfg
            cfg.use { |c| check_code(Native.reqivo_session_set_tls(s, c)) }
          else
            check_code(Native.reqivo_session_set_tls(s, nil))
          end
        end
      ensure
        cfg.close if made_here
      end
    end

    # Sets the retry policy of later requests (see Reqivo::Retry): true, a
    # Hash, a Reqivo::Retry; nil or false turns retries off.
    def retries=(value)
      policy = Retry.from(value)
      native = policy&.to_native
      err = Native.error_struct
      @handle.use { |s| check(Native.reqivo_session_set_retry(s, native, err), err) }
    end

    # The HTTP versions later requests speak (see Session.new's
    # http_version:): :default, :http1_1 or "1.1", :http2 or "2". Callable
    # while other threads send.
    def http_version=(version)
      code = HTTP_VERSIONS.fetch(version) do
        raise ArgumentError,
              "http_version must be :default, :http1_1 (\"1.1\") or :http2 (\"2\"), got #{version.inspect}"
      end
      err = Native.error_struct
      @handle.use { |s| check(Native.reqivo_session_set_http_version(s, code, err), err) }
    end

    # Turns content decoding of later responses on or off (see
    # Session.new's decompress:). Callable while other threads send.
    def decompress=(on)
      raise ArgumentError, "decompress must be true or false, got #{on.inspect}" unless [true, false].include?(on)

      @handle.use { |s| check_code(Native.reqivo_session_set_decompress(s, on)) }
    end

    # Turns the cookie jar on or off for later requests; off, nothing is
    # stored or sent and the jar keeps its contents.
    def cookies=(on)
      raise ArgumentError, "cookies must be true or false, got #{on.inspect}" unless [true, false].include?(on)

      @handle.use { |s| check_code(Native.reqivo_session_set_cookies(s, on)) }
    end

    # Sets how much the cookie jar holds, for received and loaded cookies:
    # cookie_bytes: (one cookie's name and value, default 4096), per_site:
    # (cookies of one site, its registrable domain, default 180) and total:
    # (default 3000). Past a count the oldest are evicted. Keys left out keep
    # their defaults; nil lifts a limit.
    def set_cookie_limits(cookie_bytes: 0, per_site: 0, total: 0)
      values = { cookie_bytes: cookie_bytes, per_site: per_site, total: total }.transform_values do |v|
        next Config::NO_LIMIT if v.nil?
        raise ArgumentError, "cookie limits must be Integers 1..#{Config::U32_MAX - 1} (or nil), got #{v.inspect}" \
          unless v.is_a?(Integer) && v >= 0 && v < Config::U32_MAX

        v
      end
      @handle.use do |s|
        check_code(Native.reqivo_session_set_cookie_limits(s, values[:cookie_bytes], values[:per_site], values[:total]))
      end
      nil
    end

    # Empties the cookie jar.
    def clear_cookies
      @handle.use { |s| check_code(Native.reqivo_session_clear_cookies(s)) }
      nil
    end

    # The jar's persistent, unexpired cookies (those with Expires or
    # Max-Age) as text, for #load_cookies in a later run.
    def save_cookies
      @handle.use do |s|
        err = Native::Error.new
        len = FFI::MemoryPointer.new(:size_t)
        code = Native.reqivo_session_save_cookies(s, nil, 0, len, err)
        loop do
          raise Error.from_native(err) unless code.zero? || err[:code] == BUFFER_TOO_SMALL

          cap = len.read(:size_t) + 1
          buf = FFI::MemoryPointer.new(:char, cap)
          code = Native.reqivo_session_save_cookies(s, buf, cap, len, err)
          # the jar may have grown between the two calls: ask again
          break buf.read_bytes(len.read(:size_t)).force_encoding(Encoding::UTF_8) if code.zero?
        end
      end
    end

    # Replaces the jar's contents with text from #save_cookies (expired
    # cookies dropped). Raises Reqivo::UsageError for text that is not a
    # saved jar (the jar is then unchanged).
    def load_cookies(text)
      raise ArgumentError, "cookies text must be a String, got #{text.class}" unless text.is_a?(String)

      @handle.use do |s|
        err = Native::Error.new
        check(Native.reqivo_session_load_cookies(s, text, text.bytesize, err), err)
      end
      nil
    end

    # Sends later requests through the HTTP proxy at `url` (see
    # Session.new's proxy:); nil or "" connects directly again. The
    # no_proxy list is kept. Raises Reqivo::UsageError for a URL the
    # library cannot use (an https:// or socks4:// proxy, no host).
    # Callable while other threads send.
    def proxy=(url)
      text = url.nil? ? '' : url.to_s
      set_text(:reqivo_session_set_proxy, text)
    end

    # Sets the hosts that bypass the proxy: a String in the NO_PROXY form
    # (names matching themselves and their subdomains, IPs, CIDR ranges,
    # each optionally with :port, separated by commas or spaces; "*" for
    # every host) or an Array of entries; nil or "" bypasses nothing.
    # Names are not resolved: "localhost" does not match 127.0.0.1.
    def no_proxy=(list)
      text = list.is_a?(Array) ? list.map(&:to_s).join(',') : list.to_s
      set_text(:reqivo_session_set_no_proxy, text)
    end

    # Sends later connections for one host and port to the given addresses
    # instead of what DNS says (curl's --resolve form,
    # "host:port:addr[,addr]..."; "-host:port" removes the entry, "" forgets
    # every address and connect-to override). The addresses race (Happy
    # Eyeballs). Raises Reqivo::UsageError for a malformed entry. Returns
    # self.
    def add_resolve(entry)
      set_text(:reqivo_session_add_resolve, entry.to_s)
      self
    end

    # Sends later connections for a host and port to another host and port
    # (curl's --connect-to form, "HOST1:PORT1:HOST2:PORT2"; an empty part
    # matches any, or keeps the request's own). Returns self.
    def add_connect_to(entry)
      set_text(:reqivo_session_add_connect_to, entry.to_s)
      self
    end

    # Sends every later request over the Unix domain socket at `path` (a
    # String or Pathname; "\0name" is an abstract socket on Linux); nil or
    # "" returns to TCP. Proxies and address overrides do not apply over
    # it; connections are pooled per path.
    def unix_socket=(path)
      set_text(:reqivo_session_set_unix_socket, path.to_s)
    end

    # Replaces the proxy settings with the environment's, read now:
    # HTTP_PROXY for http URLs, HTTPS_PROXY for https URLs, NO_PROXY (each
    # also in lower case; upper case wins). HTTP_PROXY is ignored when
    # REQUEST_METHOD is set (CGI). all_proxy (then ALL_PROXY), as in curl,
    # serves a scheme whose own variable is unset. Unset variables mean no
    # proxy. Raises
    # Reqivo::UsageError naming a variable whose URL is unusable (nothing
    # changes then). Do not call it while another thread changes ENV.
    def use_env_proxy
      @handle.use do |s|
        err = Native::Error.new
        check(Native.reqivo_session_use_env_proxy(s, err), err)
      end
      nil
    end

    # Sets the public suffix list (its text, publicsuffix.org format) the
    # cookie jar uses to refuse cookies for a public suffix (Domain=co.uk);
    # nil or "" goes back to the system's list. Raises Reqivo::UsageError
    # for text that is no list.
    def public_suffix_list=(text)
      set_text(:reqivo_session_set_public_suffix_list, text.to_s)
    end

    # Calls the block with a Reqivo::HookRequest before each hop is sent:
    # the request and each redirect it follows (and a retry on a fresh
    # connection). The block may set, add or remove that hop's headers:
    #
    #   session.on_request { |req| req.headers['X-Trace'] = SecureRandom.hex(8) }
    #
    # An exception raised in the block stops the request, which raises it.
    # Blocks run in the order added, on the thread that sends, possibly on
    # several threads at once. Returns self.
    def on_request(&block)
      raise ArgumentError, 'on_request needs a block' unless block

      install_hooks(@hooks.add_request(block))
    end

    # Calls the block with (status, headers, url) for each response head
    # (redirect hops included) before its body is read; headers is a
    # Reqivo::Headers. An exception raised in the block stops the request,
    # which raises it. Returns self.
    def on_response(&block)
      raise ArgumentError, 'on_response needs a block' unless block

      install_hooks(@hooks.add_response(block))
    end

    # Removes every on_request and on_response block.
    def clear_hooks
      install_hooks(@hooks.clear)
      nil
    end

    # Sends the session's log lines to a Logger (or anything with #add
    # (severity, message, progname) and #level): connections opened and
    # reused (debug), retries and redirects (info), failed requests
    # (error), progname "reqivo". Lines below the logger's level at the
    # time of this call are never formatted. nil turns logging off.
    def logger=(logger)
      if logger.nil?
        set_logger(nil, 0)
      else
        raise ArgumentError, 'logger must respond to #add' unless logger.respond_to?(:add)

        level = logger.respond_to?(:level) ? logger.level.to_i.clamp(0, 3) : 0
        set_logger(->(lvl, msg) { logger.add(LOGGER_SEVERITY.fetch(lvl), msg, 'reqivo') }, level)
      end
      @logger = logger
    end

    attr_reader :logger

    # Calls the block with (level, message) for each log line at `level`
    # and above (:debug, :info, :warn, :error); see #logger=. An exception
    # raised in the block is raised by the request once it is over.
    def on_log(level: :debug, &block)
      raise ArgumentError, 'on_log needs a block' unless block

      min = SessionHooks::LEVELS.index(level) or
        raise ArgumentError, "level must be one of #{SessionHooks::LEVELS.join(', ')}, got #{level.inspect}"
      set_logger(block, min)
      @logger = nil
      self
    end

    # Frees the session (now, or when its last call in flight returns) and
    # its own pool. Idempotent; later calls raise Reqivo::ClosedError.
    def close
      @handle&.close
      @pool.close if @own_pool && @pool
      nil
    end

    def closed?
      @handle.closed?
    end

    def inspect
      "#<Reqivo::Session base_url=#{@base_url.inspect}#{' closed' if closed?}>"
    end

    private

    NO_HEADERS = [].freeze
    # The method names a request most often gets, mapped to what is sent
    # without a new String per request; anything else is upcased.
    VERB_NAMES = METHODS.flat_map { |m| [m, m.to_s, m.to_s.upcase] }.to_h { |k| [k, k.to_s.upcase.freeze] }.freeze
    LOGGER_SEVERITY = { debug: Logger::DEBUG, info: Logger::INFO, warn: Logger::WARN, error: Logger::ERROR }.freeze

    def set_text(function, text)
      @handle.use do |s|
        err = Native::Error.new
        check(Native.public_send(function, s, text, text.bytesize, err), err)
      end
    end

    def install_hooks((on_req, on_resp))
      @handle.use { |s| check_code(Native.reqivo_session_set_hooks(s, on_req, on_resp, nil)) }
      self
    end

    def set_logger(block, min_level)
      @handle.use do |s|
        fn = block && @hooks.log_function(block)
        check_code(Native.reqivo_session_set_logger(s, fn, nil, min_level))
      end
    end

    def configure(base_url, headers, max_redirects, limits)
      err = Native::Error.new
      @handle.use do |s|
        if base_url
          @base_url = base_url.to_s.dup.freeze
          check(Native.reqivo_session_set_base_url(s, @base_url, @base_url.bytesize, err), err)
        end
        each_header(headers) do |name, value|
          check(Native.reqivo_session_set_header(s, name, name.bytesize, value, value.bytesize, err), err)
        end
        unless max_redirects.nil?
          unless max_redirects.is_a?(Integer) && max_redirects >= 0 && max_redirects <= Config::U32_MAX
            raise ArgumentError, "max_redirects must be a non-negative Integer, got #{max_redirects.inspect}"
          end

          check_code(Native.reqivo_session_set_max_redirects(s, max_redirects))
        end
        check_code(Native.reqivo_session_set_limits(s, Config.native_limits(limits))) if limits
        check_code(Native.reqivo_session_set_timeout(s, Config.native_timeout(@timeout_ms)))
      end
    end

    # Inside Blocking.run: the blocking send, then the copy of the response
    # (or the exception to raise, built while the error struct is fresh).
    def send_request(req, token, owned)
      @handle.use do |s|
        req.use do |r|
          use_token(token, owned) do |c|
            err = Native.error_struct
            @hooks.reset_error
            ptr = Native.reqivo_session_send(s, r, c, err)
            next Error.from_native(err) if ptr.null?

            begin
              Response.from_native(ptr)
            ensure
              Native.reqivo_response_free(ptr)
            end
          end
        end
      end
    end

    def open_stream(method, url, params: nil, headers: nil, body: nil, json: nil, timeout: nil,
                    cancel: nil, progress: nil)
      req = build_request(method, url, params, headers, body, json, timeout, progress)
      if (fibers = FiberMulti.current)
        check_cancel(cancel)
        return @handle.use { |s| fibers.open_stream(s, req, cancel, @hooks) }
      end

      token = own_token(cancel)
      owned = !token.equal?(cancel)
      result = Blocking.run(token) do
        @handle.use do |s|
          req.use do |r|
            use_token(token, owned) do |c|
              err = Native.error_struct
              @hooks.reset_error
              ptr = Native.reqivo_session_open(s, r, c, err)
              # The stream keeps the callbacks: progress is called by its reads.
              ptr.null? ? Error.from_native(err) : Stream.new(ptr, token, owned, req.keep)
            end
          end
        end
      end
      if (stashed = req.keep&.error || @hooks.take_error)
        result.close if result.is_a?(Stream)
        raise stashed
      end
      raise result if result.is_a?(Reqivo::Error)

      token = nil # the stream owns it now
      result
    ensure
      req&.close
      Cancel::Recycler.checkin(token) if token && owned
    end

    def open_websocket(url, protocols, headers, cancel, opts)
      options, notifier = WebSocket::Options.build(protocols, normalize_headers(headers), opts)
      if (fibers = FiberMulti.current)
        # Under a fiber scheduler the handshake is a transfer of the
        # scheduler's multi: only this fiber waits.
        check_cancel(cancel)
        ptr = @handle.use { |s| fibers.websocket(s, url, options, cancel, @hooks) }
        return WebSocket.new(ptr, notifier)
      end

      token = own_token(cancel)
      refused = FFI::MemoryPointer.new(:pointer)
      curl = FFI::MemoryPointer.from_string(url) # C memory: the GVL is released during the call
      result = Blocking.run(token) do
        @handle.use do |s|
          token.use do |c|
            err = Native.error_struct
            ptr = Native.reqivo_ws_connect(s, curl, url.bytesize, options, c, refused, err)
            next WebSocket.new(ptr, notifier) unless ptr.null?

            e = Error.from_native(err)
            if (resp = refused.read_pointer) && !resp.null?
              begin
                e.response = Response.from_native(resp) if e.respond_to?(:response=)
              ensure
                Native.reqivo_response_free(resp)
              end
            end
            e
          end
        end
      end
      raise result if result.is_a?(Reqivo::Error)

      result
    ensure
      Cancel::Recycler.checkin(token) if token && !token.equal?(cancel)
    end

    # Yields the pointer of `token`: one of the Recycler's (`owned`) only
    # this call holds, so no use is counted; a caller's may be closed by
    # another thread meanwhile.
    def use_token(token, owned, &block)
      owned ? yield(token.owned_pointer) : token.use(&block)
    end

    def own_token(cancel)
      return Cancel::Recycler.checkout if cancel.nil?

      check_cancel(cancel)
      cancel
    end

    def check_cancel(cancel)
      return if cancel.nil? || cancel.is_a?(Cancel)

      raise ArgumentError, "cancel must be a Reqivo::Cancel, got #{cancel.class}"
    end

    # A request checked and encoded in Ruby but not yet made in the library
    # (a Batch queues these): method and URL as sent, [[name, value]]
    # headers, a String body or an IO (json: the body is JSON text, which
    # the library checks and labels), this request's timeouts in
    # milliseconds (nil: the session's), a progress callable.
    # form: Multipart.parts of a multipart: option.
    Prepared = Struct.new(:verb, :url, :headers, :body, :io, :timeout_ms, :progress, :json, :form)

    def build_request(method, url, params, headers, body, json, timeout, progress = nil, multipart = nil)
      native_request(prepare_request(method, url, params, headers, body, json, timeout, progress, multipart))
    end

    # The Ruby half of a request: every check of the caller's arguments
    # (ArgumentError), nothing in C yet.
    def prepare_request(method, url, params, headers, body, json, timeout, progress, multipart = nil)
      raise ArgumentError, 'pass body: or json:, not both' if body && !json.nil?
      raise ArgumentError, 'pass multipart: without body: or json:' if multipart && (body || !json.nil?)
      raise ArgumentError, 'progress must respond to #call' unless progress.nil? || progress.respond_to?(:call)

      method = VERB_NAMES[method] || method.to_s.upcase
      url = with_params(url.to_s, params)
      headers = normalize_headers(headers)
      body, io, headers = encode_body(body, json, headers) unless body.nil? && json.nil?
      ms = Config.timeout_ms(timeout, @timeout_ms) if timeout
      form = Multipart.parts(multipart) if multipart
      Prepared.new(method, url, headers, body, io, ms, progress, !json.nil?, form)
    end

    # The reqivo_request for a Prepared, as a Handle::Private whose `keep`
    # holds the Callbacks C calls (a body IO, progress) while it is sent.
    # Raises Reqivo::UsageError for what the library refuses (a bad URL).
    def native_request(prep)
      method = prep.verb
      url = prep.url
      body = prep.body
      io = prep.io
      progress = prep.progress
      err = Native.error_struct
      ptr = Native.reqivo_request_new(method, method.bytesize, url, url.bytesize, err)
      raise Error.from_native(err) if ptr.null?

      # Only this call has the new request yet: `ptr` is used as it is.
      req = Handle::Private.new(ptr, Native::FREE[:request], 'request')
      prep.headers.each do |name, value|
        check(Native.reqivo_request_add_header(ptr, name, name.bytesize, value, value.bytesize, err), err)
      end
      if prep.json
        # The library's JSON rule: Content-Type application/json unless
        # headers: named a JSON type (application/vnd.api+json is kept).
        check(Native.reqivo_request_set_json(ptr, body, body.bytesize, err), err)
      elsif body
        check(Native.reqivo_request_set_body(ptr, body, body.bytesize, err), err)
      elsif prep.form
        Multipart.attach(ptr, prep.form, err)
      end
      if io || progress
        req.keep = cbs = Callbacks.new
        check(Native.reqivo_request_set_body_callback(ptr, cbs.body_reader(io), nil, io_size(io), err), err) if io
        check_code(Native.reqivo_request_set_progress(ptr, cbs.progress(progress), nil)) if progress
      end
      check_code(Native.reqivo_request_set_timeout(ptr, Config.native_timeout(prep.timeout_ms))) if prep.timeout_ms
      check_code(Native.reqivo_request_set_idempotent(ptr, true)) if idempotency_key?(prep.headers)
      req
    rescue StandardError
      req&.close
      raise
    end

    # [body String or nil, body IO or nil, headers] for body: or json:.
    def encode_body(body, json, headers)
      if !json.nil?
        body = JSON.generate(json)
      elsif body.is_a?(Hash) || body.is_a?(Array)
        body = URI.encode_www_form(body)
        headers += [['Content-Type', 'application/x-www-form-urlencoded']] unless header?(headers, 'content-type')
      elsif body.respond_to?(:read)
        return [nil, body, headers]
      elsif !body.is_a?(String)
        raise ArgumentError, "body must be a String, IO, Hash or Array, got #{body.class}"
      end
      [body, nil, headers]
    end

    # Bytes left in `io` when that is knowable (a regular file, a
    # StringIO, the unread body of Faraday's multipart middleware, which
    # has #length), else -1 (sent chunked).
    def io_size(io)
      return io.length if !io.respond_to?(:size) && io.respond_to?(:length) && io.respond_to?(:rewind)
      return -1 unless io.respond_to?(:size) && io.respond_to?(:pos)
      return -1 if io.is_a?(File) && !io.stat.file?

      [io.size - io.pos, 0].max
    rescue StandardError
      -1
    end

    def configure_auth(auth)
      err = Native.error_struct
      user, pass, bearer =
        case auth
        when Array
          raise ArgumentError, 'auth: [user, password] takes two strings' unless auth.size == 2

          auth
        when Hash
          unknown = auth.keys - %i[user username password bearer]
          raise ArgumentError, "unknown auth key(s): #{unknown.join(', ')}" unless unknown.empty?

          [auth[:user] || auth[:username], auth[:password], auth[:bearer]]
        else
          raise ArgumentError, "auth must be [user, password], { user:, password: } or { bearer: }, got #{auth.class}"
        end
      @handle.use do |s|
        if bearer
          raise ArgumentError, 'auth: give bearer or user/password, not both' if user

          tok = bearer.to_s
          check(Native.reqivo_session_set_bearer_token(s, tok, tok.bytesize, err), err)
        else
          raise ArgumentError, 'auth: no user given' if user.nil?

          u = user.to_s
          p = pass.to_s
          check(Native.reqivo_session_set_basic_auth(s, u, u.bytesize, p, p.bytesize, err), err)
        end
      end
    end

    def configure_digest_auth(digest_auth, auth)
      raise ArgumentError, 'give auth: or digest_auth:, not both' unless auth.nil?
      unless digest_auth.is_a?(Array) && digest_auth.size == 2
        raise ArgumentError, "digest_auth: [user, password] takes two strings, got #{digest_auth.inspect}"
      end

      err = Native.error_struct
      u, p = digest_auth.map(&:to_s)
      @handle.use { |s| check(Native.reqivo_session_set_digest_auth(s, u, u.bytesize, p, p.bytesize, err), err) }
    end

    def with_params(url, params)
      return url if params.nil? || (params.respond_to?(:empty?) && params.empty?)

      query = params.is_a?(String) ? params : URI.encode_www_form(params)
      url, hash, fragment = url.partition('#')
      sep = if !url.include?('?') then '?'
            elsif url.end_with?('?', '&') then ''
            else '&'
            end
      "#{url}#{sep}#{query}#{hash}#{fragment}"
    end

    # [[name, value], ...] with String names and values; array values
    # repeat. Frozen and shared when there are none.
    def normalize_headers(headers)
      return NO_HEADERS if headers.nil?

      out = []
      each_header(headers) { |n, v| out << [n, v] }
      out
    end

    def each_header(headers)
      return if headers.nil?
      raise ArgumentError, "headers must be a Hash or an Array of pairs, got #{headers.class}" unless headers.respond_to?(:each)

      headers.each do |name, value|
        name = name.to_s
        if value.is_a?(Array)
          value.each { |v| yield name, v.to_s }
        else
          yield name, value.to_s
        end
      end
    end

    def header?(headers, lower)
      headers.any? { |n, _| n.downcase == lower }
    end

    # The request says it may be sent twice (the Idempotency-Key field), so
    # the retry policy may resend it whatever its method.
    def idempotency_key?(headers)
      header?(headers, 'idempotency-key') || header?(headers, 'x-idempotency-key')
    end

    def check(code, err)
      raise Error.from_native(err) unless code.zero?
    end

    def check_code(code)
      raise Error.for_code(code, Native.reqivo_code_name(code)) unless code.zero?
    end
  end
end

# Batch (Session#parallel) builds on Session::METHODS and the request
# plumbing above.
require_relative 'batch'
