# frozen_string_literal: true

# A Faraday adapter on reqivo, so Faraday users switch with one line:
#
#   require 'reqivo/faraday'
#   conn = Faraday.new(url: 'http://127.0.0.1:8080') { |f| f.adapter :reqivo }
#
# Options given to `f.adapter :reqivo, ...` go to Reqivo::Session.new
# (pool:, limits:, headers:, timeout:). Redirects are left
# to Faraday's middleware (the session follows none). Faraday's request
# timeouts (timeout, open_timeout, read_timeout, write_timeout) become the
# request's connect/read/write timeouts. Errors become Faraday's:
# Reqivo::TimeoutError -> Faraday::TimeoutError, Reqivo::TlsError ->
# Faraday::SSLError, other network and protocol errors ->
# Faraday::ConnectionFailed. Written against Faraday 1.x (Debian's
# ruby-faraday); Faraday 2 keeps the same adapter interface.
require 'faraday'
require 'reqivo'

module Faraday
  class Adapter
    # Faraday adapter backed by one Reqivo::Session (keep-alive pool) per
    # adapter instance, i.e. per Faraday connection.
    class Reqivo < Faraday::Adapter
      # The library sets these from the body itself and refuses them.
      FRAMING_HEADERS = %w[content-length transfer-encoding].freeze

      def initialize(app = nil, opts = {}, &block)
        super(app, opts, &block)
        @session_lock = Mutex.new
      end

      def call(env)
        super
        session = reqivo_session
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

      private

      def reqivo_session
        @session_lock.synchronize do
          @session ||= begin
            opts = { max_redirects: 0 }.merge(@connection_options || {})
            s = ::Reqivo::Session.new(**opts)
            @config_block&.call(s)
            s
          end
        end
      end

      def request_headers(env)
        (env[:request_headers] || {}).reject { |name, _| FRAMING_HEADERS.include?(name.to_s.downcase) }
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
        save_response(env, resp.status, body, nil, resp.reason) do |headers|
          resp.headers.keys.each { |name| headers[name] = resp.headers[name] }
        end
      end
    end

    register_middleware reqivo: Faraday::Adapter::Reqivo
  end
end
