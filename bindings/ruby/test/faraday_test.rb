# frozen_string_literal: true

require_relative 'proxy_helper'
require 'reqivo/faraday'
require 'tmpdir'
require 'stringio'

# Faraday::Adapter::Reqivo: one line switches a Faraday connection to reqivo.
class FaradayTest < Minitest::Test
  def conn(url = Web.url('/'), **opts)
    Faraday.new(url: url, **opts) do |f|
      f.request :url_encoded
      f.adapter :reqivo
    end
  end

  def test_faradays_proxy_becomes_the_sessions
    proxy = TestProxy.new
    c = conn(Web.url('/'), proxy: { uri: "http://127.0.0.1:#{proxy.port}", user: 'u s', password: 'p@:' })
    r = c.get('http://origin.test/via')
    assert_equal 'GET http://origin.test/via HTTP/1.1', r.body
    assert_includes proxy.seen.first, "Proxy-Authorization: Basic #{['u s:p@:'].pack('m0')}"
    e = assert_raises(Faraday::ConnectionFailed) { c.get('https://refuse.test/') }
    assert_kind_of Reqivo::ProxyError, e.wrapped_exception
  ensure
    proxy&.close
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

  # Framing fields a middleware or the caller set are dropped, not sent
  # and not refused: the library frames the body it sends.
  def test_framing_headers_from_the_caller_are_dropped
    r = conn.post('/echo', 'abc', 'Content-Length' => '999', 'transfer-encoding' => 'chunked')
    echo = JSON.parse(r.body)
    assert_equal 'abc', echo['body']
    assert_equal '3', echo['headers']['content-length']
    assert_nil echo['headers']['transfer-encoding']
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

  def https_conn(server, ssl: nil, **adapter_opts)
    Faraday.new(url: TlsServers[server].url, ssl: ssl) { |f| f.adapter :reqivo, **adapter_opts }
  end

  def test_ssl_ca_file_is_passed_through
    Dir.mktmpdir do |dir|
      File.write(ca = File.join(dir, 'ca.pem'), TestPKI.pki[:ca].to_pem)
      r = https_conn(:ok, ssl: { ca_file: ca }).get('/')
      assert_equal 200, r.status
      assert_equal 'hello tls', r.body
      r = https_conn(:ok, ssl: { ca_path: dir }).get('/')
      assert_equal 200, r.status
    end
  end

  def test_an_untrusted_server_raises_ssl_error
    e = assert_raises(Faraday::SSLError) { https_conn(:ok).get('/') }
    assert_kind_of Reqivo::TlsError, e.wrapped_exception
    assert_equal 'REQIVO_ERR_TLS_CERT_UNTRUSTED', e.wrapped_exception.name
  end

  def test_ssl_verify_false_is_passed_through
    assert_equal 200, https_conn(:wrong, ssl: { verify: false }).get('/').status
    assert_equal 200, https_conn(:wrong, ssl: { verify_mode: OpenSSL::SSL::VERIFY_NONE }).get('/').status
    e = assert_raises(Faraday::SSLError) { https_conn(:wrong, ssl: { ca_file: nil }).get('/') }
    assert_equal 'REQIVO_ERR_TLS_CERT_UNTRUSTED', e.wrapped_exception.name
  end

  def test_changed_ssl_options_take_effect
    c = https_conn(:wrong)
    assert_raises(Faraday::SSLError) { c.get('/') }
    c.ssl.verify = false
    assert_equal 200, c.get('/').status
  end

  def test_ssl_client_certificate_objects_for_mutual_tls
    cert, key = TestPKI.pki[:client]
    pem = TestPKI.pki[:ca].to_pem
    Dir.mktmpdir do |dir|
      File.write(ca = File.join(dir, 'ca.pem'), pem)
      c = https_conn(:mtls, ssl: { ca_file: ca, client_cert: cert, client_key: key, min_version: :TLS1_2 })
      r = c.get('/client')
      assert_equal '/CN=reqivo-client', r.body
      assert_raises(Faraday::SSLError) { https_conn(:mtls, ssl: { ca_file: ca }).get('/client') }
    end
  end

  def test_a_tls_adapter_option_wins_over_ssl
    c = https_conn(:ok, ssl: { verify: false, ca_file: '/nonexistent/ca.pem' },
                        tls: { ca_pem: TestPKI.pki[:ca].to_pem })
    assert_equal 200, c.get('/').status
  end

  def test_an_invalid_tls_config_raises_ssl_error
    e = assert_raises(Faraday::SSLError) { https_conn(:ok, ssl: { ca_file: '/nonexistent/ca.pem' }).get('/') }
    assert_kind_of Errno::ENOENT, e.wrapped_exception
    Dir.mktmpdir do |dir|
      File.write(junk = File.join(dir, 'junk.pem'), 'junk')
      e = assert_raises(Faraday::SSLError) { https_conn(:ok, ssl: { ca_file: junk }).get('/') }
      assert_equal 'REQIVO_ERR_INVALID_CONFIG', e.wrapped_exception.name
    end
  end
end
