# frozen_string_literal: true

require_relative 'tls_helper'
require 'stringio'

# Lifetimes under GC.stress (a collection at every allocation): handles
# held by AutoPointers, responses copied before the C memory is freed,
# streams, pools and cancel tokens. Small and bounded: GC.stress is slow.
# One test runs under full stress (a major GC at every allocation, ~0.7 s a
# request here); the others use minor-GC stress (flag 0x01), which still
# collects every young object -- the wrappers, pointers and structs a call
# makes -- at every allocation. REQIVO_GC_STRESS=full runs all of them
# under full stress.
class GcTest < Minitest::Test
  MODE = ENV['REQIVO_GC_STRESS'] == 'full' ? true : 0x01

  def setup
    @srv = RawServer.fixed("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-A: 1\r\nx-a: 2\r\n" \
                           "Content-Length: 11\r\n\r\nhello world")
  end

  def teardown
    GC.stress = false
    @srv.close
  end

  def stress(mode = MODE)
    GC.stress = mode
    yield
  ensure
    GC.stress = false
  end

  def test_requests_and_responses_survive_collections
    s = Reqivo::Session.new(timeout: 5, headers: { 'X-S' => 'v' })
    s.get(@srv.url) # the connection, and lazily loaded code, come first
    r = nil
    stress(true) do
      r = s.post(@srv.url('/p'), json: { 'k' => [1, 2] }, params: { q: 1 })
    end
    s = nil # rubocop:disable Lint/UselessAssignment -- dropped for the GC
    GC.start
    assert_equal 200, r.status
    assert_equal 'hello world', r.body
    assert_equal %w[1 2], r.headers.get_all('x-a')
    assert_equal @srv.url('/p?q=1'), r.url
  end

  def test_streams_pools_and_tokens_survive_collections
    chunks = []
    stats = nil
    stress do
      pool = Reqivo::Pool.new(max_per_host: 2)
      s = Reqivo::Session.new(pool: pool)
      st = s.stream(:get, @srv.url)
      chunks << st.read
      st.close
      token = Reqivo::Cancel.new
      chunks << s.get(@srv.url, cancel: token).body
      stats = pool.stats
    end
    assert_equal 'hello world' * 2, chunks.join
    assert_equal 1, stats.opened
  end

  def test_callbacks_stay_referenced_while_c_may_call_them
    echo = RawServer.new do |sock|
      while (req = TestSupport.read_request(sock))
        sock.write("HTTP/1.1 200 OK\r\nContent-Length: #{req[1].bytesize}\r\n\r\n#{req[1]}")
      end
    end
    s = Reqivo::Session.new(timeout: 5)
    ticks = 0
    r = nil
    chunks = []
    stress do
      r = s.post(echo.url, body: StringIO.new('streamed body'), progress: ->(*) { ticks += 1 })
      s.stream(:get, @srv.url, progress: ->(*) { ticks += 1 }) { |c| chunks << c }
    end
    assert_equal 'streamed body', r.body
    assert_equal 'hello world', chunks.join
    assert_operator ticks, :>=, 2
  ensure
    s&.close
    echo&.close
  end

  def test_hooks_and_log_blocks_stay_referenced_while_c_may_call_them
    s = Reqivo::Session.new(timeout: 5)
    seen = []
    # Installed, then every Ruby reference but the session's dropped.
    s.on_request { |req| req.headers['X-Hook'] = 'on' }
    s.on_response { |status, headers, _url| seen << [status, headers['x-a']] }
    s.on_log { |level, _msg| seen << level }
    GC.start
    body = nil
    stress do
      body = s.get(@srv.url).body
      s.stream(:get, @srv.url) { |_| nil }
    end
    assert_equal 'hello world', body
    assert_includes seen, [200, '1, 2']
    assert_includes seen, :debug
    # Replaced blocks stay referenced too (a send in flight may still call them).
    stress do
      s.on_log { |_level, _msg| nil }
      s.on_request { |req| req.headers.add('X-Two', '2') }
      assert_equal 'hello world', s.get(@srv.url).body
    end
  ensure
    s&.close
  end

  def test_forgotten_handles_are_freed_by_the_collector
    stress do
      Reqivo::Session.new.get(@srv.url)
      Reqivo::Session.new.stream(:get, @srv.url) # never read, never closed
      Reqivo::Pool.new
      Reqivo::Cancel.new
    end
    GC.start
    # If a finalizer had freed something twice or too early we would have
    # crashed by now; the library still works.
    assert_equal 'hello world', Reqivo::Session.new.get(@srv.url).body
  end

  def test_tls_configs_survive_collections
    pem = TestPKI.pki[:ca].to_pem
    url = TlsServers[:ok].url
    bodies = []
    stress do
      cfg = Reqivo::TLS::Config.new(ca_pem: pem)
      a = Reqivo::Session.new(tls: cfg, timeout: 5)
      cfg = nil # rubocop:disable Lint/UselessAssignment -- the session keeps its own reference
      b = Reqivo::Session.new(tls: { ca_pem: pem }, timeout: 5)
      Reqivo::TLS::Config.new(ca_pem: pem) # forgotten: freed by the collector
      bodies << a.get(url).body << b.get(url).body
    end
    GC.start
    assert_equal ['hello tls'] * 2, bodies
  end

  # A parallel batch: the multi, its done struct, the queued requests'
  # Ruby halves, a body IO's callbacks while the multi calls them, and the
  # results copied before each response or error struct goes.
  def test_parallel_batches_survive_collections
    s = Reqivo::Session.new(timeout: 5)
    s.get(@srv.url)
    got = []
    stress do
      s.parallel(max_in_flight: 2) do |b|
        3.times { |i| b.get(@srv.url("/#{i}"), headers: { 'X-I' => i.to_s }) { |r| got << r.body } }
        b.put(@srv.url, body: StringIO.new('io')) { |r| got << r.status }
        b.get("http://127.0.0.1:#{TestSupport.closed_port}/") { |r| got << r.name }
      end
    end
    GC.start
    expected = ['hello world'] * 3 + [200, 'REQIVO_ERR_CONNECT_REFUSED']
    assert_equal expected.sort_by(&:to_s), got.sort_by(&:to_s)
  ensure
    s&.close
  end

  def test_errors_are_copied_before_the_struct_goes
    e = nil
    @session = Reqivo::Session.new
    @port = TestSupport.closed_port
    stress do
      e = assert_raises(Reqivo::NetworkError) { @session.get("http://127.0.0.1:#{@port}/") }
    end
    GC.start
    assert_equal 'REQIVO_ERR_CONNECT_REFUSED', e.name
    refute_empty e.message
  end
end
