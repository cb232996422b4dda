# frozen_string_literal: true

require_relative 'test_helper'

# Each exception class is raised by the failure it names, and carries the
# library's code, name and message.
class ErrorsTest < Minitest::Test
  def setup
    @s = Reqivo::Session.new(timeout: { connect: 2, read: 2 })
    @servers = []
  end

  def teardown
    @s.close
    @servers.each(&:close)
  end

  def raw(response = nil, &block)
    srv = response ? RawServer.fixed(response) : RawServer.new(&block)
    @servers << srv
    srv
  end

  def test_hierarchy_mirrors_python_reqivo
    assert_operator Reqivo::RequestError, :<, Reqivo::Error
    assert_operator Reqivo::NetworkError, :<, Reqivo::RequestError
    assert_operator Reqivo::TlsError, :<, Reqivo::NetworkError
    assert_operator Reqivo::TimeoutError, :<, Reqivo::RequestError
    assert_operator Reqivo::ConnectTimeout, :<, Reqivo::TimeoutError
    assert_operator Reqivo::ReadTimeout, :<, Reqivo::TimeoutError
    assert_operator Reqivo::InvalidResponseError, :<, Reqivo::ProtocolError
    assert_operator Reqivo::ProtocolError, :<, Reqivo::RequestError
    assert_operator Reqivo::RedirectLoopError, :<, Reqivo::RequestError
    assert_operator Reqivo::TooManyRedirects, :<, Reqivo::RequestError
    assert_operator Reqivo::UsageError, :<, Reqivo::Error
    assert_operator Reqivo::Error, :<, StandardError
  end

  def test_read_timeout
    srv = raw { |s| TestSupport.read_request(s) && sleep(3) }
    s = Reqivo::Session.new(timeout: { read: 0.2 })
    e = nil
    took = TestSupport.elapsed { e = assert_raises(Reqivo::ReadTimeout) { s.get(srv.url) } }
    assert_equal 3002, e.code
    assert_equal 'REQIVO_ERR_TIMEOUT_READ', e.name
    assert_equal 3000, e.code_class
    refute_empty e.message
    assert_operator took, :<, 1.5
  ensure
    s&.close
  end

  def test_total_timeout
    srv = raw { |s| TestSupport.read_request(s) && sleep(3) }
    e = assert_raises(Reqivo::TotalTimeout) { @s.get(srv.url, timeout: { read: 5, total: 0.2 }) }
    assert_equal 'REQIVO_ERR_TIMEOUT_TOTAL', e.name
  end

  def test_connection_refused_is_a_network_error
    e = assert_raises(Reqivo::NetworkError) { @s.get("http://127.0.0.1:#{TestSupport.closed_port}/") }
    assert_equal 'REQIVO_ERR_CONNECT_REFUSED', e.name
    assert_equal 2000, e.code_class
    refute_kind_of Reqivo::TlsError, e
  end

  def test_connect_timeout_when_the_listen_queue_is_full
    # A listener that never accepts, with its queue filled: the kernel drops
    # further SYNs, so connect waits until the connect timeout.
    server = Socket.new(:INET, :STREAM)
    server.bind(Addrinfo.tcp('127.0.0.1', 0))
    server.listen(0)
    port = server.local_address.ip_port
    fillers = []
    8.times do
      c = Socket.new(:INET, :STREAM)
      begin
        c.connect_nonblock(Socket.sockaddr_in(port, '127.0.0.1'))
      rescue IO::WaitWritable, Errno::EINPROGRESS
        nil
      end
      fillers << c
    end
    sleep 0.05
    s = Reqivo::Session.new(timeout: { connect: 0.3 })
    took = TestSupport.elapsed do
      e = assert_raises(Reqivo::ConnectTimeout) { s.get("http://127.0.0.1:#{port}/") }
      assert_equal 'REQIVO_ERR_TIMEOUT_CONNECT', e.name
    end
    assert_operator took, :<, 2
  ensure
    s&.close
    fillers&.each(&:close)
    server&.close
  end

  def test_header_with_crlf_is_a_usage_error_and_nothing_is_sent
    srv = raw("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    e = assert_raises(Reqivo::UsageError) { @s.get(srv.url, headers: { 'X-Bad' => "a\r\nInjected: 1" }) }
    assert_equal 'REQIVO_ERR_INVALID_HEADER', e.name
    assert_equal 1000, e.code_class
    assert_raises(Reqivo::UsageError) { @s.get(srv.url, headers: { 'Bad Name' => 'v' }) }
    sleep 0.05
    assert_equal 0, srv.accepted
  end

  def test_framing_headers_are_refused
    e = assert_raises(Reqivo::UsageError) { @s.post(Web.url('/echo'), body: 'x', headers: { 'Content-Length' => '1' }) }
    assert_equal 'REQIVO_ERR_INVALID_HEADER', e.name
  end

  def test_invalid_url_method_and_scheme
    assert_equal 'REQIVO_ERR_INVALID_URL', assert_raises(Reqivo::UsageError) { @s.get('http://') }.name
    assert_equal 'REQIVO_ERR_INVALID_URL', assert_raises(Reqivo::UsageError) { @s.get('/relative/without/base') }.name
    assert_equal 'REQIVO_ERR_UNSUPPORTED_SCHEME', assert_raises(Reqivo::UsageError) { @s.get('ftp://127.0.0.1/') }.name
    assert_equal 'REQIVO_ERR_INVALID_METHOD', assert_raises(Reqivo::UsageError) { @s.request('BAD METHOD', Web.url('/')) }.name
  end

  def test_malformed_status_line_is_an_invalid_response
    srv = raw("HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n")
    e = assert_raises(Reqivo::InvalidResponseError) { @s.get(srv.url) }
    assert_equal 'REQIVO_ERR_INVALID_STATUS_LINE', e.name
    assert_kind_of Reqivo::ProtocolError, e
  end

  def test_transfer_encoding_with_content_length_is_invalid_framing
    srv = raw("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n")
    e = assert_raises(Reqivo::InvalidResponseError) { @s.get(srv.url) }
    assert_equal 'REQIVO_ERR_INVALID_FRAMING', e.name
  end

  def test_eof_inside_the_body
    srv = raw { |s| TestSupport.read_request(s) && s.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort") }
    e = assert_raises(Reqivo::InvalidResponseError) { @s.get(srv.url) }
    assert_equal 'REQIVO_ERR_UNEXPECTED_EOF', e.name
  end

  def test_limits_are_protocol_errors
    big = "HTTP/1.1 200 OK\r\nX-Big: #{'a' * 3000}\r\nContent-Length: 10\r\n\r\n0123456789"
    srv = raw(big)
    s = Reqivo::Session.new(limits: { max_line_bytes: 1024 })
    e = assert_raises(Reqivo::ProtocolError) { s.get(srv.url) }
    assert_equal 'REQIVO_ERR_HEADER_TOO_LARGE', e.name
    s2 = Reqivo::Session.new(limits: { max_body_bytes: 5 })
    assert_equal 'REQIVO_ERR_BODY_TOO_LARGE', assert_raises(Reqivo::ProtocolError) { s2.get(srv.url) }.name
  ensure
    s&.close
    s2&.close
  end

  def test_explicit_cancel_raises_cancelled
    srv = raw { |s| TestSupport.read_request(s) && sleep(3) }
    token = Reqivo::Cancel.new
    Thread.new { sleep 0.1; token.cancel } # rubocop:disable Style/Semicolon
    e = nil
    took = TestSupport.elapsed { e = assert_raises(Reqivo::Cancelled) { @s.get(srv.url, cancel: token) } }
    assert_equal 'REQIVO_ERR_CANCELLED', e.name
    assert_operator took, :<, 1
    assert_predicate token, :cancelled?
    # a cancelled token stays cancelled
    assert_raises(Reqivo::Cancelled) { @s.get(Web.url('/hello'), cancel: token) }
    assert_equal 200, @s.get(Web.url('/hello')).status
  ensure
    token&.close
  end

  def test_for_code_covers_codes_the_table_lacks
    e = Reqivo::Error.for_code(3999, 'future timeout')
    assert_instance_of Reqivo::TimeoutError, e
    assert_equal 3000, e.code_class
    assert_equal 'REQIVO_ERR_UNKNOWN', e.name
    assert_instance_of Reqivo::Error, Reqivo::Error.for_code(8001, 'x')
  end
end
