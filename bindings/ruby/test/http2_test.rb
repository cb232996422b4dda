# frozen_string_literal: true

require_relative 'test_helper'
require_relative 'tls_helper'
require 'digest'
require 'fileutils'
require 'tmpdir'

begin
  require 'async'
rescue LoadError
  nil # the fiber test skips
end

# tests/h2_peer.py (the PyPI `h2` package) in another process, started once
# on first use: #ports is its {"h2c" => port, "tls" => port, "silent" =>
# port, ...}, or false when python3 or the package is missing; #ca_file the CA
# of its TLS certificate (the peer makes its PKI in a temporary directory).
# Killed, and the directory removed, after the run.
module H2Peer
  SCRIPT = File.expand_path('../../../tests/h2_peer.py', __dir__)

  class << self
    attr_reader :ca_file

    def ports
      return @ports unless @ports.nil?

      @ports = system('python3', '-c', 'import h2.connection', out: File::NULL, err: File::NULL) && start
    end

    private

    def start
      dir = Dir.mktmpdir('reqivo-h2-')
      io = IO.popen(['python3', SCRIPT, '--tls', dir], 'r', err: File::NULL)
      Minitest.after_run do
        Process.kill('KILL', io.pid)
        Timeout.timeout(5) { Process.wait(io.pid) }
      rescue StandardError
        nil
      ensure
        FileUtils.rm_rf(dir)
      end
      @ca_file = File.join(dir, 'ca.pem')
      JSON.parse(Timeout.timeout(30) { io.gets }.to_s)
    end
  end
end

# Session.new(http_version: :http2) against a scripted HTTP/2 peer: h2 with
# prior knowledge over cleartext, and by ALPN over TLS.
class Http2Test < Minitest::Test
  include FiberTestSupport

  def setup
    ports = H2Peer.ports or skip 'python3 and its h2 package are needed (tools/install_deps.sh)'
    @base = "http://127.0.0.1:#{ports.fetch('h2c')}"
    @s = Reqivo::Session.new(base_url: @base, http_version: '2', timeout: 10)
  end

  def teardown
    @s&.close
  end

  def test_a_get_over_h2c_is_http2
    r = @s.get('/ok')
    assert_equal 200, r.status
    assert_equal "hello h2\n", r.body
    assert_equal '2', r.http_version
  end

  def test_the_version_keyword_takes_symbols_and_strings_and_nothing_else
    %i[default http1_1 http2].each { |v| Reqivo::Session.new(http_version: v).close }
    %w[1.1 2].each { |v| Reqivo::Session.new(http_version: v).close }
    [:http3, 3, 2, '2.0', 'h2', :'1.1'].each do |bad|
      e = assert_raises(ArgumentError, bad.inspect) { Reqivo::Session.new(http_version: bad) }
      assert_match(/http_version must be/, e.message)
    end
    @s.http_version = :http1_1
    assert_raises(Reqivo::Error, 'HTTP/1.1 again after the setter') { @s.get('/ok') }
  end

  def test_threads_share_one_connection_as_streams
    reset_stats(@s)
    fresh = Reqivo::Session.new(base_url: @base, http_version: :http2, timeout: 10)
    threads = Array.new(8) { |i| Thread.new { fresh.get("/hold/#{300 + i}") } }
    rs = threads.map { |t| Timeout.timeout(30) { t.value } }
    assert_equal [200] * 8, rs.map(&:status)
    assert_equal ["hello h2\n"], rs.map(&:body).uniq
    stats = fresh.get('/stats').json
    assert_equal 1, stats['connections'], stats.inspect
    assert_operator stats['max_concurrent'], :>, 1, stats.inspect
    assert_equal 9, stats['streams'], stats.inspect
  ensure
    fresh&.close
  end

  def test_a_post_body_reaches_the_server
    body = Random.new(7).bytes(300_000)
    echo = @s.post('/echo', body: body, headers: { 'X-Test' => 'yes' }).json
    assert_equal 'POST', echo['method']
    assert_equal '/echo', echo['path']
    assert_equal body.bytesize, echo['body_len']
    assert_equal Digest::SHA256.hexdigest(body), echo['body_sha256']
    assert_includes echo['headers'], %w[x-test yes]
  end

  def test_a_16_mib_download_arrives_whole
    n = 16 << 20
    r = @s.get("/bytes/#{n}")
    assert_equal 200, r.status
    assert_equal n, r.body.bytesize
    pattern = (0...251).to_a.pack('C*')
    expected = (pattern * ((n / 251) + 1)).byteslice(0, n)
    assert r.body == expected, 'byte i is i % 251'
  end

  def test_a_streamed_body_arrives_in_pieces
    size = 0
    r = @s.stream(:get, "/bytes/#{1 << 20}") { |chunk| size += chunk.bytesize }
    assert_equal [200, '2', 1 << 20], [r.status, r.http_version, size]
  end

  def test_trailers_arrive
    r = @s.get('/trailers')
    assert_equal "hello h2\n", r.body
    assert r.trailers?
    assert_equal 'abc', r.trailers['x-checksum']
    assert_equal '0', r.trailers['grpc-status']
  end

  def test_a_reset_stream_raises_the_http2_protocol_error
    e = assert_raises(Reqivo::ProtocolError) { @s.get('/rst/2') }
    assert_equal 'REQIVO_ERR_HTTP2_PROTOCOL', e.name
    assert_equal 200, @s.get('/ok').status, 'the connection goes on'
  end

  def test_http1_1_to_an_h2_only_server_fails_cleanly
    s = Reqivo::Session.new(base_url: @base, timeout: 5)
    # The server's SETTINGS frame is read as a status line.
    e = assert_raises(Reqivo::InvalidResponseError) { s.get('/ok') }
    assert_equal 'REQIVO_ERR_INVALID_STATUS_LINE', e.name
  ensure
    s&.close
  end

  # A batch (the multi, one thread) over HTTP/2: its requests are streams
  # on the session's one connection, open at once.
  def test_parallel_sends_streams_on_one_connection
    reset_stats(@s)
    s = Reqivo::Session.new(base_url: @base, http_version: :http2, timeout: 10)
    rs = s.parallel { |b| Array.new(20) { |i| b.get("/hold/#{300 + i}") } }
    assert_equal [[200, '2']] * 20, rs.map { |r| [r.response.status, r.response.http_version] }
    stats = s.get('/stats').json
    assert_equal 1, stats['connections'], stats.inspect
    assert_operator stats['max_concurrent'], :>, 10, 'the batch\'s streams were open at once'
  ensure
    s&.close
  end

  # Under a fiber scheduler the requests go through the scheduler's multi,
  # with no helper thread: the fibers wait together, on one connection.
  def test_fibers_send_over_http2
    skip 'the async gem is not installed (Debian: ruby-async)' unless defined?(Async::Task)
    reset_stats(@s)
    s = Reqivo::Session.new(base_url: @base, http_version: :http2, timeout: 10)
    rs = []
    threads = nil
    run_async do |task|
      tick, stats = ticker(task)
      before = Thread.list.size
      rs = Array.new(4) { |i| task.async { s.get("/hold/#{400 + i}") } }
      task.sleep 0.1
      threads = Thread.list.size - before
      rs = rs.map(&:wait)
      tick.stop
      assert_operator stats[:ticks], :>=, 10, 'the scheduler ran other fibers meanwhile'
    end
    assert_operator threads, :<=, 1, 'no helper thread per request (4 requests)'
    assert_equal [[200, '2']] * 4, rs.map { |r| [r.status, r.http_version] }
    stats = s.get('/stats').json
    assert_equal 1, stats['connections'], stats.inspect
    assert_operator stats['max_concurrent'], :>, 1, 'the fibers\' streams were open at once'
  ensure
    s&.close
  end

  # A WebSocket stays HTTP/1.1 on an HTTP/2 session, blocking and under a
  # fiber scheduler (dialled through the scheduler's multi).
  def test_a_websocket_dials_http1_1_from_an_http2_session
    ws_base = WsServer.base or skip 'python3 with the websockets package is not available'
    echo = lambda do |ws|
      ws.send('h2 session')
      ws.receive.then { |m| [m.kind, m.data] }
    end
    assert_equal [:text, 'h2 session'], @s.websocket("#{ws_base}/echo") { |ws| echo.(ws) }
    skip 'the async gem is not installed (Debian: ruby-async)' unless defined?(Async::Task)

    got = nil
    run_async { got = @s.websocket("#{ws_base}/echo") { |ws| echo.(ws) } }
    assert_equal [:text, 'h2 session'], got
  end

  # Timeout.timeout cancels the stream inside the library (Reqivo::Blocking);
  # the connection carries the next request.
  def test_an_interrupted_request_leaves_the_connection_working
    reset_stats(@s)
    took = TestSupport.elapsed { assert_raises(Timeout::Error) { Timeout.timeout(0.2) { @s.get('/hold/5000') } } }
    assert_operator took, :<, 2
    assert_equal 200, @s.get('/ok').status
    assert_equal 0, @s.get('/stats').json['connections'], 'no new connection'
  end

  # A stopped fiber cancels its request (a stream of the scheduler's
  # multi); the connection carries the next one.
  def test_a_stopped_fiber_cancels_its_http2_request
    skip 'the async gem is not installed (Debian: ruby-async)' unless defined?(Async::Task)
    reset_stats(@s)
    took = TestSupport.elapsed do
      run_async do |task|
        held = task.async { @s.get('/hold/5000') }
        task.sleep 0.2
        held.stop
      end
    end
    assert_operator took, :<, 2, 'the fiber stopped well before the 5 s hold'
    assert_equal 200, @s.get('/ok').status
    assert_equal 0, @s.get('/stats').json['connections'], 'no new connection'
  end

  def test_h2_over_tls_by_alpn
    s = Reqivo::Session.new(http_version: :http2, tls: { ca_file: H2Peer.ca_file }, timeout: 10)
    r = s.get("https://localhost:#{H2Peer.ports.fetch('tls')}/echo")
    assert_equal [200, '2'], [r.status, r.http_version]
    assert_equal %w[https GET], r.json.values_at('scheme', 'method')
  ensure
    s&.close
  end

  # The default offers h2 then http/1.1: HTTP/2 with the peer's TLS port
  # (blocking, a parallel batch and fibers, all on one connection),
  # HTTP/1.1 with a server that speaks only that.
  def test_default_negotiates_by_alpn
    reset_stats(@s)
    s = Reqivo::Session.new(tls: { ca_file: H2Peer.ca_file, ca_pem: TestPKI.pki[:ca].to_pem }, timeout: 10)
    url = "https://localhost:#{H2Peer.ports.fetch('tls')}/ok"
    r = s.get(url)
    assert_equal [200, '2'], [r.status, r.http_version]
    rs = s.parallel { |b| Array.new(10) { b.get(url) } }
    assert_equal [[200, '2']] * 10, rs.map { |x| [x.response.status, x.response.http_version] }
    if defined?(Async::Task)
      rs = []
      run_async { |task| rs = Array.new(3) { task.async { s.get(url) } }.map(&:wait) }
      assert_equal [[200, '2']] * 3, rs.map { |x| [x.status, x.http_version] }
    end
    assert_equal 1, @s.get('/stats').json['connections'], 'one TLS connection for all'
    srv = TlsServer.new(cert: TestPKI.pki[:server])
    r = s.get(srv.url('/'))
    assert_equal ['hello tls', '1.1'], [r.body, r.http_version]
  ensure
    [s, srv].each { |x| x&.close }
  end

  # The peer's TLS port offers only h2: an HTTP/1.1-only client is let go
  # after the handshake; an HTTP/2 client at an HTTP/1.1-only server is
  # told so.
  def test_tls_without_a_common_protocol_fails_cleanly
    s = Reqivo::Session.new(http_version: :http1_1, tls: { ca_file: H2Peer.ca_file }, timeout: 5)
    assert_raises(Reqivo::RequestError) { s.get("https://localhost:#{H2Peer.ports.fetch('tls')}/ok") }
    srv = TlsServer.new(cert: TestPKI.pki[:server])
    h2 = Reqivo::Session.new(http_version: :http2, tls: { ca_pem: TestPKI.pki[:ca].to_pem }, timeout: 5)
    e = assert_raises(Reqivo::ProtocolError) { h2.get(srv.url('/')) }
    assert_equal 'REQIVO_ERR_HTTP2_REQUIRED', e.name
    h2.http_version = :default
    assert_equal 'hello tls', h2.get(srv.url('/')).body, 'HTTP/1.1 again'
  ensure
    [s, h2, srv].each { |x| x&.close }
  end

  # The HTTP/2 connection's setup (the server's SETTINGS, and its ACK of
  # ours) is bounded by the connect timeout, not the read timeout.
  def test_the_settings_deadline_is_the_connect_timeout
    { 'silent' => /sent no HTTP\/2 SETTINGS/, 'no-ack' => /did not acknowledge/ }.each do |port, says|
      s = Reqivo::Session.new(http_version: :http2, timeout: { connect: 0.3, read: 5 })
      t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      e = assert_raises(Reqivo::ConnectTimeout, port) { s.get("http://127.0.0.1:#{H2Peer.ports.fetch(port)}/ok") }
      took = Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0
      assert_equal 'REQIVO_ERR_TIMEOUT_CONNECT', e.name
      assert_match says, e.message
      assert_operator took, :<, 3, "#{port}: #{took} s"
      s.close
    end
  end

  # A server that refuses the ALPN offer of h2 (alert
  # no_application_protocol) does not speak HTTP/2: not a TLS failure.
  def test_a_refused_alpn_offer_is_http2_required
    s = Reqivo::Session.new(http_version: :http2, timeout: 5)
    e = assert_raises(Reqivo::ProtocolError) { s.get("https://127.0.0.1:#{H2Peer.ports.fetch('alpn-refuse')}/ok") }
    assert_equal 'REQIVO_ERR_HTTP2_REQUIRED', e.name
    assert_match(/refused HTTP\/2/, e.message)
  ensure
    s&.close
  end

  private

  def reset_stats(session)
    assert_equal 0, session.get('/stats/reset').json['connections']
  end
end
