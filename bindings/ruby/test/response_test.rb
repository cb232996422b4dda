# frozen_string_literal: true

require_relative 'test_helper'

# Response.from_native takes the status and body at once and the other
# fields from its copy of the C response's bytes when they are first asked
# for: they must be right long after the C response is freed (and its
# memory reused), and after the collector has moved objects.
class ResponseTest < Minitest::Test
  Native = Reqivo::Native

  def teardown
    @srv&.close
    @session&.close
  end

  # Answers GET /<i> with a response made from i: reason, headers (one of
  # them long) and body all differ per request.
  def numbered_server
    RawServer.new do |sock|
      while (req = TestSupport.read_request(sock, timeout: 60))
        i = req[0][%r{\A\S+ /(\d+)}, 1].to_i
        body = "body #{i} " * i
        sock.write("HTTP/1.1 200 Reason #{i}\r\nX-N: #{i}\r\nX-Long: #{'v' * (100 * i)}\r\nx-n: again\r\n" \
                   "Content-Length: #{body.bytesize}\r\n\r\n#{body}")
      end
    end
  end

  def compact
    GC.start
    GC.compact if GC.respond_to?(:compact)
  rescue NotImplementedError
    nil
  end

  def assert_numbered(i, r)
    assert_equal 200, r.status
    assert_equal "body #{i} " * i, r.body
    assert_equal "Reason #{i}", r.reason
    assert_equal Encoding::UTF_8, r.reason.encoding
    assert_equal @srv.url("/#{i}"), r.url
    assert_equal [['X-N', i.to_s], ['X-Long', 'v' * (100 * i)], ['x-n', 'again'],
                  ['Content-Length', ("body #{i} " * i).bytesize.to_s]], r.headers.to_a
    assert_equal "#{i}, again", r.headers['x-n']
    assert_equal '1.1', r.http_version
    assert_equal 0, r.redirect_count
    assert_nil r.tls_version
    refute_predicate r, :tls?
    assert_kind_of Float, r.timings.total
    assert_operator r.timings.first_byte, :<=, r.timings.total
    assert_equal "#<Reqivo::Response 200 Reason #{i} #{@srv.url("/#{i}")} (#{r.body.bytesize} bytes)>", r.inspect
  end

  def test_fields_read_late_are_those_of_their_own_response
    @srv = numbered_server
    @session = Reqivo::Session.new(timeout: 5)
    rs = (1..6).map { |i| @session.get(@srv.url("/#{i}")) }
    # More responses, made and freed in the memory the first ones had.
    20.times { |i| @session.get(@srv.url("/#{7 + (i % 3)}")).status }
    compact
    rs.each_with_index { |r, k| assert_numbered(k + 1, r) }
    refute_predicate rs[0], :reused?
    assert_predicate rs[1], :reused?
  end

  # Past the header counts whose index tables are kept, and with one long
  # header against a short body (the quick bounds test fails, each string
  # is checked).
  def test_many_headers_and_a_long_one
    names = Array.new(70) { |i| ["X-H#{i}", "v#{i}"] } + [['X-Long', 'L' * 3000]]
    @srv = RawServer.fixed("HTTP/1.1 200 OK\r\n#{names.map { |n, v| "#{n}: #{v}\r\n" }.join}" \
                           "Content-Length: 1\r\n\r\nx")
    @session = Reqivo::Session.new(timeout: 5)
    r = @session.get(@srv.url('/'))
    @session.get(@srv.url('/')).status
    compact
    assert_equal 'x', r.body
    assert_equal names + [%w[Content-Length 1]], r.headers.to_a
  end

  def test_fields_read_late_under_gc_stress
    @srv = numbered_server
    @session = Reqivo::Session.new(timeout: 5)
    @session.get(@srv.url('/1')) # the connection, and lazily loaded code, come first
    r = nil
    begin
      GC.stress = 0x01
      r = @session.get(@srv.url('/3'))
      @session.get(@srv.url('/5'))
    ensure
      GC.stress = false
    end
    compact
    assert_numbered(3, r)
  end

  # A response the library did not make: the struct, header array and
  # strings put where the test says in `buf`, so both ways of copying are
  # taken (one span from the struct, or every string on its own when one
  # lies before the struct).
  def fake_response(buf, at)
    put = lambda do |off, s|
      buf.put_bytes(off, "#{s}\0")
      [buf + off, s.bytesize]
    end
    r = Native::Response.new(buf + at[:struct])
    r[:struct_size] = Native::Response.size
    r[:status] = 203
    r[:http_major] = 1
    r[:http_minor] = 0
    r[:flags] = Reqivo::RESPONSE_FLAGS.fetch(:reused)
    r[:redirect_count] = 2
    r[:url][:ptr], r[:url][:len] = put.call(at[:url], 'http://example.test/a')
    r[:reason][:ptr], r[:reason][:len] = put.call(at[:reason], 'Fake')
    fields = [%w[A 1], ['b-b', 'two words'], ['A', '']]
    headers = buf + at[:headers]
    fields.each_with_index do |(name, value), i|
      h = Native::Header.new(headers + (i * Native::Header.size))
      h[:name][:ptr], h[:name][:len] = put.call(at[:strings] + (i * 32), name)
      h[:value][:ptr], h[:value][:len] = put.call(at[:strings] + (i * 32) + 16, value)
    end
    r[:headers] = headers
    r[:header_count] = fields.size
    r[:body], r[:body_len] = put.call(at[:body], "fake body\0with a NUL")
    r[:timings][:total_ns] = 2_500_000
    r[:timings][:sent_ns] = 1_000
    r[:tls_version] = 0
    r.pointer
  end

  def assert_fake(r)
    assert_equal 203, r.status
    assert_equal "fake body\0with a NUL".b, r.body
    assert_equal 'Fake', r.reason
    assert_equal 'http://example.test/a', r.url
    assert_equal [%w[A 1], ['b-b', 'two words'], ['A', '']], r.headers.to_a
    assert_equal '1, ', r.headers['a']
    assert_equal '1.0', r.http_version
    assert_predicate r, :reused?
    assert_equal 2, r.redirect_count
    assert_in_delta 0.0025, r.timings.total
    assert_in_delta 1e-6, r.timings.sent
    assert_nil r.timings.dns
    assert_nil r.tls_version
  end

  def test_copy_in_one_span
    buf = FFI::MemoryPointer.new(:char, 4096)
    ptr = fake_response(buf, struct: 0, headers: 256, strings: 512, url: 1024, reason: 1100, body: 1200)
    r = Reqivo::Response.from_native(ptr)
    buf.clear # the C response is gone
    assert_fake(r)
  end

  def test_copy_string_by_string_when_one_lies_before_the_struct
    buf = FFI::MemoryPointer.new(:char, 4096)
    ptr = fake_response(buf, struct: 2048, headers: 2304, strings: 0, url: 1024, reason: 3000, body: 3100)
    r = Reqivo::Response.from_native(ptr)
    buf.clear
    assert_fake(r)
  end

  def test_a_frozen_response_still_reads_its_fields
    buf = FFI::MemoryPointer.new(:char, 4096)
    r = Reqivo::Response.from_native(fake_response(buf, struct: 0, headers: 256, strings: 512, url: 1024,
                                                         reason: 1100, body: 1200))
    buf.clear
    r.freeze
    assert_fake(r)
    assert_fake(r)
  end

  def test_built_responses_keep_what_they_were_given
    h = Reqivo::Headers.new([%w[Content-Type text/plain]])
    r = Reqivo::Response.new(status: 201, reason: 'Created', headers: h, body: 'x', url: 'http://x/',
                             flags: Reqivo::RESPONSE_FLAGS.fetch(:tls), timings: [0, 0, 0, 0, 0, 1_000_000_000])
    assert_equal ['Created', 'http://x/', '1.1', 0], [r.reason, r.url, r.http_version, r.redirect_count]
    assert_same h, r.headers
    assert_predicate r, :tls?
    assert_in_delta 1.0, r.timings.total
    assert_nil r.tls_version
    bare = Reqivo::Response.new(status: 200, reason: nil, headers: nil, body: '', url: nil)
    assert_nil bare.reason
    assert_nil bare.headers
    assert_nil bare.timings
  end
end
