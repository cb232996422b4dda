# frozen_string_literal: true

# HTTPS test support: a PKI made in memory with Ruby's openssl (nothing
# checked in) and HTTPS servers on 127.0.0.1 (OpenSSL::SSL::SSLSocket over
# a TCPServer, an independent TLS implementation). Every wait is bounded.
require_relative 'test_helper'
require 'openssl'
require 'base64'
require 'zlib'

module TestPKI
  module_function

  def key
    OpenSSL::PKey::EC.generate('prime256v1')
  end

  # A certificate for `cn` with `key`, signed by `issuer` ([cert, key]) or
  # self-signed. `ca` makes a CA; `san` is an OpenSSL subjectAltName value;
  # `usage` the extendedKeyUsage.
  def cert(cn, key, issuer: nil, ca: false, san: nil, usage: nil, not_after: Time.now + 86_400)
    c = OpenSSL::X509::Certificate.new
    c.version = 2
    c.serial = OpenSSL::BN.rand(64)
    c.subject = OpenSSL::X509::Name.parse("/CN=#{cn}")
    c.issuer = issuer ? issuer[0].subject : c.subject
    c.public_key = key
    c.not_before = Time.now - 3600
    c.not_after = not_after
    ef = OpenSSL::X509::ExtensionFactory.new
    ef.subject_certificate = c
    ef.issuer_certificate = issuer ? issuer[0] : c
    if ca
      c.add_extension(ef.create_extension('basicConstraints', 'CA:TRUE', true))
      c.add_extension(ef.create_extension('keyUsage', 'keyCertSign,cRLSign', true))
    else
      c.add_extension(ef.create_extension('basicConstraints', 'CA:FALSE', true))
      c.add_extension(ef.create_extension('keyUsage', 'digitalSignature', true))
      c.add_extension(ef.create_extension('extendedKeyUsage', usage, false)) if usage
      c.add_extension(ef.create_extension('subjectAltName', san, false)) if san
    end
    c.add_extension(ef.create_extension('subjectKeyIdentifier', 'hash', false))
    c.sign(issuer ? issuer[1] : key, OpenSSL::Digest.new('SHA256'))
    c
  end

  # base64 SHA-256 of a certificate's SubjectPublicKeyInfo (an SPKI pin).
  def pin(cert)
    Base64.strict_encode64(OpenSSL::Digest::SHA256.digest(cert.public_key.public_to_der))
  end

  # The PKI every TLS test uses, made once per run.
  def pki
    @pki ||= begin
      ca_key = key
      ca = cert('reqivo Ruby test CA', ca_key, ca: true)
      other_key = key
      other = cert('another CA', other_key, ca: true)
      client_ca_key = key
      client_ca = cert('reqivo Ruby client CA', client_ca_key, ca: true)
      server_key = key
      wrong_key = key
      client_key = key
      {
        ca: ca, other_ca: other, client_ca: client_ca,
        server: [cert('localhost', server_key, issuer: [ca, ca_key], san: 'DNS:localhost,IP:127.0.0.1',
                      usage: 'serverAuth'), server_key],
        wrong: [cert('wrong.example', wrong_key, issuer: [ca, ca_key], san: 'DNS:wrong.example',
                     usage: 'serverAuth'), wrong_key],
        client: [cert('reqivo-client', client_key, issuer: [client_ca, client_ca_key], usage: 'clientAuth'),
                 client_key]
      }.freeze
    end
  end
end

# An HTTPS/1.1 server on 127.0.0.1: each connection gets a thread, a TLS
# handshake and requests until the client closes (keep-alive). Routes:
#   /close      200 "hello tls" with Connection: close
#   /client     200 with the client certificate's subject ("none" without)
#   /big?n=N    200 with N pattern bytes
#   /gzip       200 gzip-encoded "hello gzip" * 100
#   anything    200 "hello tls"
class TlsServer
  attr_reader :port

  # cert: [certificate, key]; client_ca: require a client certificate
  # signed by it; max_version: an OpenSSL::SSL::TLS1_*_VERSION.
  def initialize(cert:, client_ca: nil, max_version: nil)
    ctx = OpenSSL::SSL::SSLContext.new
    ctx.cert, ctx.key = cert
    ctx.max_version = max_version if max_version
    if client_ca
      store = OpenSSL::X509::Store.new
      store.add_cert(client_ca)
      ctx.cert_store = store
      ctx.verify_mode = OpenSSL::SSL::VERIFY_PEER | OpenSSL::SSL::VERIFY_FAIL_IF_NO_PEER_CERT
    end
    ctx.session_cache_mode = OpenSSL::SSL::SSLContext::SESSION_CACHE_SERVER
    ctx.session_id_context = 'reqivo-ruby-test'
    @ctx = ctx
    @tcp = TCPServer.new('127.0.0.1', 0)
    @port = @tcp.addr[1]
    @lock = Mutex.new
    @accepted = 0
    @handshakes = 0
    @conns = []
    @acceptor = Thread.new do
      loop do
        raw = @tcp.accept
        @lock.synchronize do
          @accepted += 1
          @conns << Thread.new(raw) { |r| serve(r) }
        end
      end
    rescue IOError, SystemCallError
      nil
    end
    @acceptor.report_on_exception = false
  end

  def accepted
    @lock.synchronize { @accepted }
  end

  # Handshakes completed.
  def handshakes
    @lock.synchronize { @handshakes }
  end

  def url(path = '/')
    "https://127.0.0.1:#{@port}#{path}"
  end

  def close
    @tcp.close unless @tcp.closed?
    @acceptor.join(2)
    @lock.synchronize { @conns.dup }.each do |t|
      t.kill
      t.join(2)
    end
  end

  private

  def serve(raw)
    raw.setsockopt(Socket::IPPROTO_TCP, Socket::TCP_NODELAY, 1)
    ssl = OpenSSL::SSL::SSLSocket.new(raw, @ctx)
    ssl.sync_close = false
    begin
      Timeout.timeout(10) { ssl.accept }
    rescue OpenSSL::SSL::SSLError, SystemCallError, IOError, Timeout::Error
      return
    end
    @lock.synchronize { @handshakes += 1 }
    while (head = read_head(ssl, raw))
      path = head[/\A\S+ (\S+)/, 1].to_s
      status, headers, body = route(path, ssl)
      head = "HTTP/1.1 #{status}\r\n" + headers.merge('Content-Length' => body.bytesize)
                                               .map { |k, v| "#{k}: #{v}\r\n" }.join
      ssl.write(head + "\r\n", body)
      break if headers['Connection'] == 'close'
    end
  rescue OpenSSL::SSL::SSLError, SystemCallError, IOError
    nil
  ensure
    linger_close(ssl, raw)
  end

  # One request head (the tests send no request bodies over TLS), or nil
  # at EOF or after 30 s. Reads whole TLS records (16 KiB), so nothing is
  # left inside the SSL object while waiting on the socket.
  def read_head(ssl, raw)
    buf = +''
    deadline = TestSupport.now + 30
    until (i = buf.index("\r\n\r\n"))
      chunk = ssl.read_nonblock(16_384, exception: false)
      case chunk
      when nil then return nil
      when :wait_readable, :wait_writable
        left = deadline - TestSupport.now
        ok = left.positive? && (chunk == :wait_readable ? raw.wait_readable(left) : raw.wait_writable(left))
        return nil unless ok
      else buf << chunk
      end
    end
    buf[0, i]
  end

  def route(path, ssl)
    case path
    when '/close' then ['200 OK', { 'Connection' => 'close' }, 'hello tls']
    when '/client' then ['200 OK', {}, ssl.peer_cert&.subject&.to_s || 'none']
    when %r{\A/big\?n=(\d+)\z} then ['200 OK', {}, Web.pattern(Regexp.last_match(1).to_i)]
    when '/gzip' then ['200 OK', { 'Content-Encoding' => 'gzip' }, Zlib.gzip('hello gzip' * 100)]
    else ['200 OK', {}, 'hello tls']
    end
  end

  # Closes TLS, then half-closes and drains what the client still sends,
  # so the kernel does not answer with a reset that destroys an alert in
  # flight.
  def linger_close(ssl, raw)
    begin
      ssl&.stop
    rescue StandardError
      nil
    end
    begin
      raw.shutdown(Socket::SHUT_WR)
      deadline = TestSupport.now + 0.5
      while (left = deadline - TestSupport.now).positive? && raw.wait_readable(left)
        break if raw.read_nonblock(4096, exception: false).nil?
      end
    rescue StandardError
      nil
    end
    raw.close unless raw.closed?
  end
end

# The HTTPS servers the tests share, started on first use, closed after the
# run: :ok (localhost and 127.0.0.1), :wrong (wrong.example only), :mtls
# (requires a client certificate from the client CA), :tls12 (TLS 1.2 at
# most).
module TlsServers
  @lock = Mutex.new

  def self.[](name)
    @lock.synchronize do
      @servers ||= begin
        pki = TestPKI.pki
        s = {
          ok: TlsServer.new(cert: pki[:server]),
          wrong: TlsServer.new(cert: pki[:wrong]),
          mtls: TlsServer.new(cert: pki[:server], client_ca: pki[:client_ca]),
          tls12: TlsServer.new(cert: pki[:server], max_version: OpenSSL::SSL::TLS1_2_VERSION)
        }
        Minitest.after_run { s.each_value(&:close) }
        s
      end
      @servers.fetch(name)
    end
  end
end
