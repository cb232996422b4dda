# frozen_string_literal: true

# A Faraday adapter on reqivo, so Faraday users switch with one line:
#
#   require 'reqivo/faraday'
#   conn = Faraday.new(url: 'http://127.0.0.1:8080') { |f| f.adapter :reqivo }
#
# Options given to `f.adapter :reqivo, ...` go to Reqivo::Session.new
# (pool:, limits:, headers:, timeout:, tls:, decompress:, cookies:).
# Redirects and cookies are left to Faraday's middleware (the session
# follows no redirect and keeps no cookie unless told to). Faraday's ssl options
# (Faraday.new(ssl: { ca_file:, verify: false, ... })) become the session's
# TLS config for https URLs unless the adapter was given tls: (see
# #tls_options for the mapping). A body the library decompressed is handed
# on without its Content-Encoding and Content-Length, as Net::HTTP does, so
# a gzip middleware does not decode it twice. Faraday's request
# timeouts (timeout, open_timeout, read_timeout, write_timeout) become the
# request's connect/read/write timeouts. Errors become Faraday's:
# Reqivo::TimeoutError -> Faraday::TimeoutError, Reqivo::TlsError ->
# Faraday::SSLError, other network and protocol errors ->
# Faraday::ConnectionFailed (Reqivo::ProxyError, a refused CONNECT, too).
# Faraday's proxy (Faraday.new(proxy: 'http://user:pass@host:port'), or the
# one Faraday itself takes from http_proxy/no_proxy unless
# Faraday.ignore_env_proxy is set) becomes the session's proxy, unless the
# adapter was given proxy:. Written against Faraday 1.x (Debian's
# ruby-faraday); Faraday 2 keeps the same adapter interface.
#
# Parallel mode: `conn.in_parallel { ... }` queues the block's requests on a
# Faraday::Adapter::Reqivo::ParallelManager and sends them together when
# the block ends, through one Session#parallel batch (one reqivo_multi, on
# the calling thread), or under a fiber scheduler as fibers on the
# scheduler's multi. Each response is complete after the block; a request
# that failed gets status 0, an empty body and no headers, and
# `response.env[:reqivo_error]` holds what the sequential adapter would
# have raised (Faraday::TimeoutError, Faraday::ConnectionFailed, ...), as
# Typhoeus' adapter leaves a failed parallel request.
require 'faraday'
require 'reqivo'

module Faraday
  class Adapter
    # Faraday adapter backed by one Reqivo::Session (keep-alive pool) per
    # adapter instance, i.e. per Faraday connection.
    class Reqivo < Faraday::Adapter
      self.supports_parallel = true

      # The manager Faraday's in_parallel uses (Connection#in_parallel asks
      # for one when given none). options: max_in_flight:, see
      # ParallelManager.new.
      def self.setup_parallel_manager(options = {})
        ParallelManager.new(**(options || {}))
      end

      # What the sequential adapter raises for a Reqivo error (and what a
      # failed parallel request's env[:reqivo_error] holds): timeouts as
      # Faraday::TimeoutError, TLS failures as Faraday::SSLError, other
      # network and protocol errors as Faraday::ConnectionFailed, each
      # wrapping the Reqivo error; anything else as it is.
      def self.faraday_error(error)
        case error
        when ::Reqivo::TimeoutError then Faraday::TimeoutError.new(error)
        when ::Reqivo::TlsError then Faraday::SSLError.new(error)
        when ::Reqivo::NetworkError, ::Reqivo::ProtocolError then Faraday::ConnectionFailed.new(error)
        else error
        end
      end

      def initialize(app = nil, opts = {}, &block)
        super(app, opts, &block)
        @session_lock = Mutex.new
      end

      def call(env)
        super
        return queue_parallel(env) if env[:parallel_manager]

        session = reqivo_session(env)
        req = env[:request]
        opts = request_options(env)
        url = env[:url].to_s
        method = env[:method].to_s.upcase

        if req&.stream_response?
          total = 0
          head = session.stream(method, url, **opts) do |chunk|
            total += chunk.bytesize
            req.on_data.call(chunk, total)
          end
          req.on_data.call(+'', 0) if total.zero?
          save_reqivo_response(env, head, +'')
        else
          resp = session.request(method, url, **opts)
          save_reqivo_response(env, resp, resp.body)
        end
        @app.call(env)
      rescue ::Reqivo::TimeoutError, ::Reqivo::NetworkError, ::Reqivo::ProtocolError => e
        raise self.class.faraday_error(e)
      end

      # Closes the session; the adapter makes a new one if used again.
      def close
        s = @session_lock.synchronize do
          s = @session
          @session = nil
          s
        end
        s&.close
      end

      # Faraday's ssl options as a Reqivo::TLS::Config hash:
      # verify (false, or verify_mode OpenSSL::SSL::VERIFY_NONE) -> verify:
      # false; ca_file, ca_path, client_cert, client_key (objects, PEM
      # text or file names) and min_version as they are. cert_store,
      # verify_depth, version, max_version, certificate and private_key have
      # no counterpart and are ignored (TLS 1.3 is always preferred).
      def self.tls_options(ssl)
        return {} if ssl.nil?

        tls = {}
        mode = ssl[:verify_mode]
        tls[:verify] = false if mode.nil? ? ssl[:verify] == false : mode.to_i.zero?
        %i[ca_file ca_path client_cert client_key min_version].each do |k|
          tls[k] = ssl[k] unless ssl[k].nil?
        end
        tls
      end

      # Faraday's ProxyOptions as a proxy URL with percent-encoded
      # credentials, or nil for none.
      def self.proxy_url(proxy)
        return nil if proxy.nil? || proxy.uri.nil?

        uri = proxy.uri.dup
        if uri.userinfo.nil? && proxy.user
          enc = ->(t) { t.to_s.b.gsub(/[^A-Za-z0-9\-._~]/n) { |c| format('%%%02X', c.ord) } }
          uri.userinfo = "#{enc.call(proxy.user)}:#{enc.call(proxy.password)}"
        end
        uri.to_s
      end

      private

      # The adapter's session; for an https URL, its TLS config follows the
      # request's ssl options (rebuilt only when they change).
      def reqivo_session(env)
        configure_session(session_settings(env))
      end

      # What the request needs of the session: [tls, proxy], where tls is
      # nil when the request does not care (http, or the adapter's tls:
      # wins) and proxy is :adapter when the adapter's proxy: wins.
      def session_settings(env)
        opts = @connection_options || {}
        tls = (self.class.tls_options(env[:ssl]) if env[:url]&.scheme == 'https' && !opts.key?(:tls))
        proxy = opts.key?(:proxy) ? :adapter : self.class.proxy_url(env[:request]&.proxy)
        [tls, proxy].freeze
      end

      # The session, made if needed and set up for `settings`
      # (#session_settings).
      def configure_session(settings)
        opts = @connection_options || {}
        tls, proxy = settings
        @session_lock.synchronize do
          @session ||= begin
            s = ::Reqivo::Session.new(**{ max_redirects: 0, cookies: false }.merge(opts))
            @config_block&.call(s)
            @tls = nil
            s
          end
          if tls && tls != @tls
            begin
              @session.tls = tls.empty? ? nil : tls
            rescue ::Reqivo::UsageError, SystemCallError => e
              # PEM, key or pin the library refuses; a file not readable
              raise Faraday::SSLError, e
            end
            @tls = tls
          end
          if !opts.key?(:proxy) && proxy != @proxy
            begin
              @session.proxy = proxy
            rescue ::Reqivo::UsageError => e
              raise Faraday::ConnectionFailed, e # an https:// or socks4 proxy
            end
            @proxy = proxy
          end
          @session
        end
      end

      # The options of Session#request for the request in env.
      def request_options(env)
        { headers: request_headers(env), body: read_body(env), timeout: request_timeout_hash(env[:request]) }
      end

      def request_headers(env)
        # The library sets the framing headers from the body itself and
        # refuses them; it says which names those are.
        (env[:request_headers] || {}).reject do |name, _|
          name = name.to_s
          ::Reqivo::Native.reqivo_request_header_is_framing(name, name.bytesize)
        end
      end

      # A String; an IO, streamed by the session (chunked unless its size
      # is known); a Hash left unencoded by the middleware, form-encoded by
      # the session.
      def read_body(env)
        body = env[:body]
        return body if body.nil? || body.respond_to?(:read) || body.is_a?(Hash) || body.is_a?(Array)

        body.to_s
      end

      # Faraday's timeouts (seconds) as a reqivo timeout hash, or nil.
      def request_timeout_hash(req)
        return nil unless req

        t = {}
        { connect: :open, read: :read, write: :write }.each do |key, type|
          sec = request_timeout(type, req)
          t[key] = sec if sec
        end
        t.empty? ? nil : t
      end

      def save_reqivo_response(env, resp, body)
        decoded = resp.decompressed?
        save_response(env, resp.status, body, nil, resp.reason) do |headers|
          resp.headers.keys.each do |name|
            next if decoded && %w[content-encoding content-length].include?(name.downcase)

            headers[name] = resp.headers[name]
          end
        end
      end

      # Parallel mode, in #call: the request is queued on the manager with
      # what it needs of the session, and its response (not finished yet)
      # handed back. The session is set up now as well, so that a TLS
      # config or proxy it refuses raises here, as it would sequentially.
      def queue_parallel(env)
        manager = env[:parallel_manager]
        unless manager.is_a?(ParallelManager)
          raise ArgumentError, "in_parallel with a #{manager.class}: the reqivo adapter needs a " \
                               'Faraday::Adapter::Reqivo::ParallelManager (setup_parallel_manager)'
        end

        settings = session_settings(env)
        configure_session(settings)
        entry = ParallelManager::Entry.new(self, settings, env, env[:method].to_s.upcase, env[:url].to_s,
                                           request_options(env))
        manager.__send__(:add, entry)
        @app.call(env)
      end

      # Called by the manager's #run with requests of this adapter that
      # need the same of the session; returns once each is finished.
      def run_parallel(manager, settings, entries)
        session = configure_session(settings)
        max = manager.max_in_flight || [session.pool.max_per_host, session.pool.max_total].min
        if ::Reqivo::FiberMulti.scheduled?
          run_parallel_fibers(manager, settings, session, entries, max)
        else
          run_parallel_batch(manager, settings, session, entries, max)
        end
      end

      # One Session#parallel batch on this thread; requests queued while it
      # runs (by a response's on_complete callbacks) join it.
      def run_parallel_batch(manager, settings, session, entries, max)
        sink = nil
        manager.__send__(:serving, self, settings, ->(entry) { sink.call(entry) }) do
          session.parallel(max_in_flight: max) do |batch|
            sink = ->(entry) { queue_on_batch(batch, entry) }
            entries.each(&sink)
          end
        end
      end

      def queue_on_batch(batch, entry)
        batch.request(entry.verb, entry.url, **entry.opts) { |result| finish_parallel(entry.env, result) }
      rescue StandardError => e
        finish_parallel(entry.env, e) # options Session#request refuses: that request's failure
      end

      # Under a fiber scheduler: at most `max` fibers, each sending one
      # request at a time with Session#request (which blocks only its
      # fiber; they share the scheduler's multi), while the calling fiber
      # waits for them. What a response's completion raises stops the
      # others (through their shared cancel token) and is raised here; so
      # does an interrupt of the calling fiber.
      def run_parallel_fibers(manager, settings, session, entries, max)
        workers = 0
        failure = nil
        pending = entries.dup
        done = Thread::Queue.new
        token = ::Reqivo::Cancel.new
        work = lambda do
          while failure.nil? && (entry = pending.shift)
            result = begin
              session.request(entry.verb, entry.url, **entry.opts, cancel: token)
            rescue StandardError => e
              e
            end
            break unless failure.nil?

            begin
              finish_parallel(entry.env, result)
            rescue Exception => e # rubocop:disable Lint/RescueException -- raised by the calling fiber
              failure ||= e
              token.cancel
            end
          end
        ensure
          workers -= 1
          done << true
        end
        spawn = lambda do
          workers += 1
          Fiber.schedule { work.call }
        end
        sink = lambda do |entry|
          pending << entry
          spawn.call if workers < max && failure.nil?
        end
        manager.__send__(:serving, self, settings, sink) do
          [max, pending.size].min.times { spawn.call }
          done.pop until workers.zero?
        end
        raise failure if failure
      ensure
        if workers.positive?
          # Interrupted while the fibers run: they stop and finish nothing.
          failure ||= :interrupted
          token&.cancel
        else
          token&.close
        end
      end

      # A parallel request's outcome into its response, which is finished
      # (running its on_complete callbacks). A failure becomes status 0, an
      # empty body and no headers, with env[:reqivo_error] set. A streamed
      # request (on_data) gets its body in one piece.
      def finish_parallel(env, result)
        if result.is_a?(::Reqivo::Response)
          req = env[:request]
          if req&.stream_response?
            req.on_data.call(result.body, result.body.bytesize)
            save_reqivo_response(env, result, +'')
          else
            save_reqivo_response(env, result, result.body)
          end
        else
          env[:reqivo_error] = self.class.faraday_error(result)
          save_response(env, 0, +'', nil, nil)
        end
        env.response.finish(env)
      end

      # Faraday's parallel manager for the reqivo adapter:
      #
      #   conn.in_parallel { responses = urls.map { |u| conn.get(u) } }
      #   conn.in_parallel(Faraday::Adapter::Reqivo.setup_parallel_manager(max_in_flight: 50)) { ... }
      #
      # Requests made in the block are queued; #run (called by in_parallel
      # when the block ends) sends them and returns once every one is
      # finished. Without a fiber scheduler they go out as one
      # Session#parallel batch through the adapter's session, on the calling
      # thread (one reqivo_multi, no thread per request); under one, as
      # fibers whose Session#request calls share the scheduler's multi.
      # Requests that need the session set up differently (another proxy,
      # other TLS options) or come from another connection's adapter run as
      # another batch, after. A request made while the run is on (from a
      # response's on_complete callback) joins it. One manager serves one
      # in_parallel at a time, on one thread.
      class ParallelManager
        # A queued request: its adapter, what it needs of the adapter's
        # session (see Adapter::Reqivo#session_settings), its env, and the
        # arguments of Session#request.
        Entry = Struct.new(:adapter, :settings, :env, :verb, :url, :opts)

        # Requests in flight at once, or nil: the adapter's pool's
        # max_per_host (or max_total if smaller), so that none waits for a
        # connection under the pool timeout.
        attr_reader :max_in_flight

        def initialize(max_in_flight: nil)
          unless max_in_flight.nil? || (max_in_flight.is_a?(Integer) && max_in_flight.positive?)
            raise ArgumentError, "max_in_flight must be a positive Integer or nil, got #{max_in_flight.inspect}"
          end

          @max_in_flight = max_in_flight
          @lock = Mutex.new
          @queue = []
          # [adapter, settings, sink] while a group runs: requests that fit
          # go to sink.
          @live = nil
          @running = false
        end

        # Requests queued and not yet started.
        def queued
          @lock.synchronize { @queue.size }
        end

        def running?
          @running
        end

        # Sends what was queued and returns nil once every request is
        # finished. What a response's on_complete callback raises (the
        # raise_error middleware, say) ends the run and propagates; the
        # requests not finished by then never are. Called within a run
        # (a nested in_parallel), does nothing: the outer run sends them.
        def run
          return nil if @running

          begin
            @running = true
            while (group = take_group)
              adapter, settings, entries = group
              adapter.__send__(:run_parallel, self, settings, entries)
            end
          ensure
            @running = false
            @lock.synchronize do
              @queue.clear
              @live = nil
            end
          end
          nil
        end

        # Faraday 2's in_parallel calls this with its block: the block
        # queues, then #run. Requests queued by a block that raises are
        # dropped.
        def execute
          yield
          run
        ensure
          @lock.synchronize { @queue.clear } unless @running
        end

        def inspect
          "#<#{self.class.name} max_in_flight=#{@max_in_flight.inspect} queued=#{queued}#{' running' if @running}>"
        end

        private

        def add(entry)
          sink = @lock.synchronize do
            live = @live
            if live && live[0].equal?(entry.adapter) && fits?(live[1], entry.settings)
              live[2]
            else
              @queue << entry
              nil
            end
          end
          sink&.call(entry)
        end

        # Whether a request needing `settings` can go through a session set
        # up for `group`: the same proxy, and the same TLS options unless it
        # needs none.
        def fits?(group, settings)
          settings[1] == group[1] && (settings[0].nil? || settings[0] == group[0])
        end

        # The first queued request and those that fit with it, in order:
        # [adapter, settings, entries], taken off the queue; nil if none.
        def take_group
          @lock.synchronize do
            first = @queue.first
            return nil if first.nil?

            adapter = first.adapter
            tls, proxy = first.settings
            group, rest = @queue.partition do |e|
              etls, eproxy = e.settings
              next false unless e.adapter.equal?(adapter) && eproxy == proxy && (etls.nil? || tls.nil? || etls == tls)

              tls ||= etls # the first TLS options the group needs are its own
              true
            end
            @queue = rest
            [adapter, [tls, proxy].freeze, group]
          end
        end

        # While the block runs, requests that fit go straight to `sink`.
        def serving(adapter, settings, sink)
          @lock.synchronize { @live = [adapter, settings, sink] }
          yield
        ensure
          @lock.synchronize { @live = nil }
        end
      end
    end

    register_middleware reqivo: Faraday::Adapter::Reqivo
  end
end
