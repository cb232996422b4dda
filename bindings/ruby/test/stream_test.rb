# frozen_string_literal: true

require_relative 'test_helper'
require 'digest'

# session.stream over reqivo_session_open / reqivo_stream_read.
class StreamTest < Minitest::Test
  def setup
    @s = Reqivo::Session.new(timeout: 5)
  end

  def teardown
    @s.close
    @srv&.close
  end

  def test_chunks_arrive_as_the_server_sends_them
    @srv = RawServer.new do |s|
      while TestSupport.read_request(s)
        s.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        %w[one two three].each do |part|
          s.write("#{part.bytesize.to_s(16)}\r\n#{part}\r\n")
          sleep 0.05
        end
        s.write("0\r\n\r\n")
      end
    end
    chunks = []
    stamps = []
    head = @s.stream(:get, @srv.url('/c')) do |chunk|
      chunks << chunk
      stamps << TestSupport.now
    end
    assert_equal 200, head.status
    assert_equal '', head.body
    assert_equal 'onetwothree', chunks.join
    assert_operator chunks.size, :>=, 2, 'the body came in pieces, not at the end'
    assert_operator stamps.last - stamps.first, :>=, 0.05
    assert chunks.all? { |c| c.encoding == Encoding::BINARY }
    assert_predicate @s.get(@srv.url('/again')), :reused?, 'a fully read stream returns its connection'
  end

  def test_large_download_matches_byte_for_byte
    n = 3 * 1024 * 1024 + 17
    digest = Digest::SHA256.new
    size = 0
    head = @s.stream(:get, Web.url("/big?n=#{n}")) do |chunk|
      digest << chunk
      size += chunk.bytesize
    end
    assert_equal n.to_s, head.headers['content-length']
    assert_equal n, size
    assert_equal Digest::SHA256.hexdigest(Web.pattern(n)), digest.hexdigest
  end

  def test_chunked_download_from_webrick
    n = 200_000
    body = +''
    @s.stream(:get, Web.url("/big?n=#{n}&chunked=1")) { |c| body << c }
    assert_equal Web.pattern(n), body
  end

  def test_stream_object_gives_the_head_first
    st = @s.stream(:get, Web.url('/big?n=100000'))
    assert_instance_of Reqivo::Stream, st
    assert_equal 200, st.response.status
    assert_equal 'application/octet-stream', st.response.headers['Content-Type']
    first = st.read_chunk
    refute_nil first
    rest = st.read
    assert_equal Web.pattern(100_000), first + rest
    assert_predicate st, :eof?
    assert_nil st.read_chunk
  ensure
    st&.close
  end

  def test_closing_early_drops_the_connection_and_the_session_goes_on
    before = @s.pool.stats
    st = @s.stream(:get, Web.url('/big?n=2000000'))
    st.read_chunk
    st.close
    st.close
    assert_predicate st, :closed?
    assert_raises(Reqivo::ClosedError) { st.read_chunk }
    r = @s.get(Web.url('/hello'))
    assert_equal 'hello', r.body
    refute_predicate r, :reused?, 'a half-read connection is never reused'
    assert_equal before.opened + 2, @s.pool.stats.opened
  end

  def test_error_inside_the_stream_is_raised_and_sticks
    @srv = RawServer.new do |s|
      TestSupport.read_request(s)
      s.write("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial")
    end
    st = @s.stream(:get, @srv.url)
    e = assert_raises(Reqivo::InvalidResponseError) { st.each { nil } }
    assert_equal 'REQIVO_ERR_UNEXPECTED_EOF', e.name
    assert_raises(Reqivo::InvalidResponseError) { st.read_chunk }
  ensure
    st&.close
  end

  def test_head_errors_raise_from_stream
    assert_raises(Reqivo::NetworkError) { @s.stream(:get, "http://127.0.0.1:#{TestSupport.closed_port}/") { nil } }
  end

  def test_module_stream
    out = +''
    Reqivo.stream(:get, Web.url('/hello')) { |c| out << c }
    assert_equal 'hello', out
  end
end
