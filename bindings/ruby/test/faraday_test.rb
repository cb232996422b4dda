# frozen_string_literal: true

require_relative 'test_helper'
require 'reqivo/faraday'
require 'stringio'

# Faraday::Adapter::Reqivo: one line switches a Faraday connection to reqivo.
class FaradayTest < Minitest::Test
  def conn(url = Web.url('/'), **opts)
    Faraday.new(url: url, **opts) do |f|
      f.request :url_encoded
      f.adapter :reqivo
    end
  end

  def test_the_adapter_is_registered
    assert_equal Faraday::Adapter::Reqivo, Faraday::Adapter.lookup_middleware(:reqivo)
  end

  def test_get_round_trip
    c = conn
    r = c.get('/echo', { 'q' => 'a b' }, { 'X-Test' => 'yes' })
    assert_equal 200, r.status
    assert_equal 'OK', r.reason_phrase
    echo = JSON.parse(r.body)
    assert_equal 'GET', echo['method']
    assert_equal [['q', 'a b']], echo['query']
    assert_equal 'yes', echo['headers']['x-test']
    assert_equal 'application/json', r.headers['content-type']
    assert_equal 'application/json', r.headers['Content-Type']
  end

  def test_post_round_trip_with_a_body
    c = conn
    r = c.post('/echo', '{"a":1}', 'Content-Type' => 'application/json')
    echo = JSON.parse(r.body)
    assert_equal 'POST', echo['method']
    assert_equal '{"a":1}', echo['body']
    assert_equal 'application/json', echo['headers']['content-type']
    form = JSON.parse(c.post('/echo', { a: '1', b: 'x y' }).body)
    assert_equal 'a=1&b=x+y', form['body']
    assert_equal 'application/x-www-form-urlencoded', form['headers']['content-type']
  end

  def test_an_io_body_is_streamed
    r = conn.post('/echo', StringIO.new('from an io'), 'Content-Type' => 'application/octet-stream')
    assert_equal 'from an io', JSON.parse(r.body)['body']
  end

  def test_put_delete_head
    c = conn
    assert_equal 'PUT', JSON.parse(c.put('/echo', 'x').body)['method']
    assert_equal 'DELETE', JSON.parse(c.delete('/echo').body)['method']
    h = c.head('/hello')
    assert_equal 200, h.status
    assert_equal '', h.body.to_s
  end

  def test_the_connection_is_kept_alive_across_requests
    srv = RawServer.fixed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    c = conn(srv.url)
    3.times { assert_equal 'ok', c.get('/').body }
    assert_equal 1, srv.accepted
  ensure
    srv&.close
  end

  def test_redirects_are_returned_not_followed
    r = conn.get('/redirect')
    assert_equal 302, r.status
    assert_match %r{/hello\z}, r.headers['location']
  end

  def test_streaming_with_on_data
    chunks = []
    r = conn.get('/big?n=300000') do |req|
      req.options.on_data = proc { |chunk, total| chunks << [chunk, total] }
    end
    assert_equal 200, r.status
    assert_equal Web.pattern(300_000), chunks.map(&:first).join
    assert_equal 300_000, chunks.last[1]
  end

  def test_timeout_maps_to_faraday_timeout_error
    c = conn(request: { read_timeout: 0.2 })
    e = assert_raises(Faraday::TimeoutError) { c.get('/stall?ms=1500') }
    assert_kind_of Reqivo::ReadTimeout, e.wrapped_exception
  end

  def test_refused_maps_to_connection_failed
    c = conn("http://127.0.0.1:#{TestSupport.closed_port}/")
    e = assert_raises(Faraday::ConnectionFailed) { c.get('/') }
    assert_kind_of Reqivo::NetworkError, e.wrapped_exception
  end

  def test_invalid_response_maps_to_connection_failed
    srv = RawServer.fixed("HTTP/1.1 2OO OK\r\n\r\n")
    assert_raises(Faraday::ConnectionFailed) { conn(srv.url).get('/') }
  ensure
    srv&.close
  end

  def test_an_unencoded_hash_body_is_form_encoded
    c = Faraday.new(url: Web.url('/')) { |f| f.adapter :reqivo }
    assert_equal 'k=v', JSON.parse(c.post('/echo', { k: 'v' }).body)['body']
  end

  def test_raise_error_middleware_sees_the_status
    c = Faraday.new(url: Web.url('/')) do |f|
      f.response :raise_error
      f.adapter :reqivo
    end
    assert_raises(Faraday::ResourceNotFound) { c.get('/status/404') }
  end
end
