# frozen_string_literal: true

require_relative 'test_helper'
require 'reqivo/faraday'

begin
  require 'async'
rescue LoadError
  nil # the fiber scheduler test skips
end

# gzip, deflate, br and zstd bodies: decoded by default
# (Response#decompressed?), untouched with decompress: false, corrupt ones
# and oversize ones refused. The br and zstd bodies are made by the brotli
# and zstd command-line tools (Web.coded).
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

  def test_decompresses_br_and_zstd_buffered_and_streamed
    s = Reqivo::Session.new
    %w[/coded/br /coded/zstd /coded/br?chunked=1 /coded/zstd?chunked=1].each do |path|
      r = s.get(Web.url(path))
      assert r.decompressed?, path
      assert_equal Web::CODED_TEXT, r.body, path
      assert_equal path[%r{/coded/(\w+)}, 1], r.headers['content-encoding'], 'headers stay as received'
      got = +''
      head = s.stream(:get, Web.url(path)) { |c| got << c }
      assert head.decompressed?, path
      assert_equal Web::CODED_TEXT, got, "#{path}, streamed"
    end
  ensure
    s&.close
  end

  def test_decompresses_br_and_zstd_through_the_multi
    s = Reqivo::Session.new(limits: { max_body_bytes: 1 << 20 })
    got = {}
    s.parallel do |batch|
      %w[br zstd].each do |c|
        batch.get(Web.url("/coded/#{c}")) { |r| got[c] = r }
        batch.get(Web.url("/coded/#{c}/bomb")) { |r| got["#{c} bomb"] = r }
      end
    end
    %w[br zstd].each do |c|
      assert got[c].decompressed?, c
      assert_equal Web::CODED_TEXT, got[c].body, c
      assert_instance_of Reqivo::ProtocolError, got["#{c} bomb"]
      assert_equal 'REQIVO_ERR_BODY_TOO_LARGE', got["#{c} bomb"].name
    end
  ensure
    s&.close
  end

  def test_decompresses_br_and_zstd_under_a_fiber_scheduler
    skip 'the async gem is not installed (Debian: ruby-async)' unless defined?(Async::Task)
    s = Reqivo::Session.new
    got = Async do |task|
      task.with_timeout(30) do
        %w[br zstd].map { |c| task.async { s.get(Web.url("/coded/#{c}")) } }.map(&:wait)
      end
    end.wait
    got.each do |r|
      assert r.decompressed?
      assert_equal Web::CODED_TEXT, r.body
    end
  ensure
    s&.close
  end

  def test_decompression_refuses_br_and_zstd_bombs_and_cut_bodies
    s = Reqivo::Session.new(limits: { max_body_bytes: 1 << 20 })
    %w[br zstd].each do |c|
      e = assert_raises(Reqivo::ProtocolError) { s.get(Web.url("/coded/#{c}/bomb")) }
      assert_equal 'REQIVO_ERR_BODY_TOO_LARGE', e.name
      streamed = 0
      e = assert_raises(Reqivo::ProtocolError) do
        s.stream(:get, Web.url("/coded/#{c}/bomb")) { |chunk| streamed += chunk.bytesize }
      end
      assert_equal 'REQIVO_ERR_BODY_TOO_LARGE', e.name
      assert_operator streamed, :<=, 1 << 20
      e = assert_raises(Reqivo::InvalidResponseError) { s.get(Web.url("/coded/#{c}/cut")) }
      assert_equal 'REQIVO_ERR_DECOMPRESSION', e.name
      assert_match(/invalid #{c} body: unexpected end of file/, e.message)
    end
  ensure
    s&.close
  end

  def test_faraday_gets_br_and_zstd_decompressed_without_content_encoding
    c = Faraday.new(url: Web.url('/')) { |f| f.adapter :reqivo }
    %w[br zstd].each do |coding|
      r = c.get("/coded/#{coding}")
      assert_equal Web::CODED_TEXT, r.body, coding
      assert_nil r.headers['content-encoding']
    end
  end
end
