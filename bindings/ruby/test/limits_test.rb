# frozen_string_literal: true

require_relative 'test_helper'
require 'reqivo/faraday'

# Header limits and the one rule of timeouts and limits: the defaults accept
# what curl accepts, a limit names itself when it trips, keys left out keep
# their defaults and nil lifts a limit.
class LimitsTest < Minitest::Test
  def setup
    @servers = []
    @sessions = []
  end

  def teardown
    @sessions.each(&:close)
    @servers.each(&:close)
  end

  def session(**opts)
    s = Reqivo::Session.new(**opts)
    @sessions << s
    s
  end

  # A server answering every request with `fields` fields of `value_len`
  # bytes each and the body "ok".
  def wide(fields, value_len)
    head = +"HTTP/1.1 200 OK\r\n"
    fields.times { |i| head << "X-#{i}: #{'v' * value_len}\r\n" }
    srv = RawServer.fixed("#{head}Content-Length: 2\r\n\r\nok")
    @servers << srv
    srv
  end

  def test_default_limits_accept_what_curl_accepts
    s = session
    [[120, 1], [1, 10_000], [1, 99 * 1024]].each do |fields, len|
      r = s.get(wide(fields, len).url)
      assert_equal 200, r.status
      assert_equal 'ok', r.body
      assert_equal len, r.headers['X-0'].bytesize
      assert_equal fields + 1, r.headers.to_a.size
    end
  end

  def test_past_the_limit_is_refused_with_the_limits_name
    e = assert_raises(Reqivo::ProtocolError) { session.get(wide(1, 100 * 1024).url) }
    assert_equal 'REQIVO_ERR_HEADER_TOO_LARGE', e.name
    assert_includes e.message, 'max_line_bytes (102400)'
    e = assert_raises(Reqivo::ProtocolError) { session(limits: { max_header_count: 50 }).get(wide(120, 1).url) }
    assert_equal 'REQIVO_ERR_TOO_MANY_HEADERS', e.name
    assert_includes e.message, 'max_header_count (50)'
  end

  def test_nil_lifts_a_limit_and_left_out_keys_keep_defaults
    r = session(limits: { max_line_bytes: nil, max_header_bytes: nil }).get(wide(1, 400 * 1024).url)
    assert_equal 400 * 1024, r.headers['X-0'].bytesize
    # Only the count set: the default line limit still holds.
    assert_raises(Reqivo::ProtocolError) { session(limits: { max_header_count: 5 }).get(wide(1, 101 * 1024).url) }
    # The largest count the struct holds reserves nothing up front.
    r = session(limits: { max_header_count: Reqivo::Config::U32_MAX }).get(wide(300, 3).url)
    assert_equal 301, r.headers.to_a.size
  end

  def test_a_request_timeout_given_in_part_keeps_the_sessions_others
    srv = RawServer.new { |s| TestSupport.read_request(s) && sleep(3) }
    @servers << srv
    s = session(timeout: { read: 0.3 })
    # Only total set on the request: the session's 0.3 s read still ends it.
    took = TestSupport.elapsed do
      assert_raises(Reqivo::ReadTimeout) { s.get(srv.url, timeout: { total: 2 }) }
    end
    assert_operator took, :<, 1.5
    # nil lifts the read limit for this request: the total one ends it.
    assert_raises(Reqivo::TotalTimeout) { s.get(srv.url, timeout: { read: nil, total: 0.5 }) }
  end

  # The Faraday adapter: the library's defaults (Faraday sets no header
  # limit of its own), and limits given as adapter options, as Faraday's
  # adapters take their settings; a refusal is Faraday::ConnectionFailed.
  def test_the_faraday_adapter_takes_the_defaults_and_its_options
    srv = wide(120, 1)
    plain = Faraday.new(url: srv.url) { |f| f.adapter :reqivo }
    assert_equal 'ok', plain.get('/').body
    strict = Faraday.new(url: srv.url) { |f| f.adapter :reqivo, limits: { max_header_count: 50 } }
    e = assert_raises(Faraday::ConnectionFailed) { strict.get('/') }
    assert_includes e.message, 'max_header_count (50)'
  end
end
