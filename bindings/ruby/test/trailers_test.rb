# frozen_string_literal: true

require_relative 'test_helper'

# Trailer fields of a chunked body (RFC 9112 §7.1.2), buffered and streamed.
class TrailersTest < Minitest::Test
  CHUNKED = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n" \
            "5\r\nhello\r\n0\r\nX-Checksum: sha256=abc \r\nServer-Timing: db;dur=53\r\n\r\n"

  def setup
    @srv = RawServer.fixed(CHUNKED)
    @s = Reqivo::Session.new
  end

  def teardown
    @s.close
    @srv.close
  end

  def test_a_response_carries_its_trailers
    r = @s.get(@srv.url)
    assert_equal 'hello', r.body
    assert r.trailers?
    assert_equal [%w[X-Checksum sha256=abc], %w[Server-Timing db;dur=53]], r.trailers.to_a
    assert_equal 'sha256=abc', r.trailers['x-checksum']
    refute Reqivo::Session.new.get(Web.url('/echo')).trailers?, 'none without a trailer section'
  end

  def test_a_stream_has_them_once_read_to_its_end
    st = @s.stream(:get, @srv.url)
    assert_nil st.trailers, 'not before the end'
    assert_equal 'hello', st.read
    assert_equal 'db;dur=53', st.trailers['Server-Timing']
  ensure
    st&.close
  end
end
