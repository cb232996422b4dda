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
require 'faraday'
require 'reqivo'

module Faraday
  class Adapter
    # Faraday adapter backed by one Reqivo::Session (keep-alive pool) per
    # adapter instance, i.e. per Faraday connection.
    class Reqivo < Faraday::Adapter
      def initialize(app = nil, opts = {}, &block)
        super(app, opts, &block)
        @session_lock = Mutex.new
      end

      def call(env)
        super
        session = reqivo_session(env)
        req = env[:request]
        opts = {
          headers: request_headers(env),
          body: read_body(env),
          timeout: request_timeout_hash(req)
        }
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
      rescue ::Reqivo::TimeoutError => e
        raise Faraday::TimeoutError, e
      rescue ::Reqivo::TlsError => e
        raise Faraday::SSLError, e
      rescue ::Reqivo::NetworkError, ::Reqivo::ProtocolError => e
        raise Faraday::ConnectionFailed, e
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
        opts = @connection_options || {}
        tls = (self.class.tls_options(env[:ssl]) if env[:url]&.scheme == 'https' && !opts.key?(:tls))
        proxy = self.class.proxy_url(env[:request]&.proxy) unless opts.key?(:proxy)
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
              raise Faraday::ConnectionFailed, e # an https:// or socks proxy
            end
            @proxy = proxy
          end
          @session
        end
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
    end

    register_middleware reqivo: Faraday::Adapter::Reqivo
  end
end
