# frozen_string_literal: true

require_relative 'test_helper'
require 'reqivo/faraday'

# gzip/deflate bodies: decoded by default (Response#decompressed?),
# untouched with decompress: false, corrupt ones and oversize ones refused.
class DecompressTest < Minitest::Test
  TEXT = 'hello gzip ' * 100

  def test_gzip_and_deflate_are_decoded_by_default
    s = Reqivo::Session.new
    %w[/gzip /deflate /gzip?chunked=1].each do |path|
      r = s.get(Web.url(path))
      assert r.decompressed?, path
      assert_equal TEXT, r.body, path
      assert_equal TEXT, r.text
      assert_match(/gzip|deflate/, r.headers['content-encoding'], 'headers stay as received')
    end
    plain = s.get(Web.url('/hello'))
    refute plain.decompressed?
  ensure
    s&.close
  end

  def test_accept_encoding_is_sent_unless_the_request_has_its_own
    s = Reqivo::Session.new
    assert_equal 'gzip, deflate, br, zstd', s.get(Web.url('/echo')).json['headers']['accept-encoding']
    echo = s.get(Web.url('/echo'), headers: { 'Accept-Encoding' => 'identity' }).json
    assert_equal 'identity', echo['headers']['accept-encoding']
  ensure
    s&.close
  end

  def test_decompress_false_leaves_bodies_as_sent
    s = Reqivo::Session.new(decompress: false)
    r = s.get(Web.url('/gzip'))
    refute r.decompressed?
    assert_equal TEXT, Zlib.gunzip(r.body)
    assert_nil s.get(Web.url('/echo')).json['headers']['accept-encoding']
    s.decompress = true
    assert s.get(Web.url('/gzip')).decompressed?
    assert_raises(ArgumentError) { s.decompress = nil }
    assert_raises(ArgumentError) { Reqivo::Session.new(decompress: 'yes') }
  ensure
    s&.close
  end

  def test_a_streamed_body_is_decoded
    s = Reqivo::Session.new
    got = +''
    head = s.stream(:get, Web.url('/gzip?n=20000')) { |c| got << c }
    assert head.decompressed?
    assert_equal 'hello gzip ' * 20_000, got
  ensure
    s&.close
  end

  def test_a_corrupt_body_raises_invalid_response_error
    e = assert_raises(Reqivo::InvalidResponseError) { Reqivo::Session.new.get(Web.url('/badgzip')) }
    assert_equal 'REQIVO_ERR_DECOMPRESSION', e.name
    assert_match(/gzip/i, e.message)
  end

  def test_the_decoded_size_counts_against_max_body_bytes
    s = Reqivo::Session.new(limits: { max_body_bytes: 10_000 })
    e = assert_raises(Reqivo::ProtocolError) { s.get(Web.url('/gzip?n=5000')) } # 55,000 bytes decoded
    assert_equal 'REQIVO_ERR_BODY_TOO_LARGE', e.name
  ensure
    s&.close
  end

  def test_faraday_gets_the_decoded_body_without_content_encoding
    c = Faraday.new(url: Web.url('/')) { |f| f.adapter :reqivo }
    r = c.get('/gzip')
    assert_equal TEXT, r.body
    assert_nil r.headers['content-encoding']
    assert_nil r.headers['content-length']
    raw = Faraday.new(url: Web.url('/')) { |f| f.adapter :reqivo, decompress: false }.get('/gzip')
    assert_equal 'gzip', raw.headers['content-encoding']
    assert_equal TEXT, Zlib.gunzip(raw.body)
  end
end
