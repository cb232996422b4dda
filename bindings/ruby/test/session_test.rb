# frozen_string_literal: true

require_relative 'test_helper'

# Requests, responses, headers, redirects and keep-alive against WEBrick.
class SessionTest < Minitest::Test
  def setup
    @s = Reqivo::Session.new(base_url: Web.url('/'), timeout: 5)
  end

  def teardown
    @s.close
  end

  def test_get_reads_status_reason_headers_body_url
    r = @s.get('hello')
    assert_equal 200, r.status
    assert_equal 'OK', r.reason
    assert_equal '1.1', r.http_version
    assert_equal 'hello', r.body
    assert_equal Encoding::BINARY, r.body.encoding
    assert_equal Web.url('/hello'), r.url
    assert_equal 'text/plain; charset=utf-8', r.headers['content-type']
    assert_equal 'hello', r.text
    assert_equal Encoding::UTF_8, r.text.encoding
    assert_predicate r, :success?
    assert_equal 0, r.redirect_count
  end

  def test_every_method_reaches_the_server_with_its_body
    %i[get post put patch delete options].each do |m|
      body = m == :get ? nil : "payload-#{m}"
      r = @s.public_send(m, 'echo', body: body)
      assert_equal 200, r.status, m
      echo = r.json
      assert_equal m.to_s.upcase, echo['method']
      assert_equal body.to_s, echo['body'], m unless m == :options
    end
  end

  def test_head_has_no_body_and_keeps_the_connection
    r = @s.head('hello')
    assert_equal 200, r.status
    assert_equal '', r.body
    assert_equal '5', r.headers['Content-Length']
    assert_predicate @s.get('hello'), :reused?
  end

  def test_params_are_url_encoded_and_appended
    r = @s.get('echo', params: { q: 'a b&c', list: [1, 2], 'ü' => 'é' })
    assert_equal [['q', 'a b&c'], %w[list 1], %w[list 2], %w[ü é]], r.json['query']
    r = @s.get('echo?x=1', params: [%w[y 2]])
    assert_equal [%w[x 1], %w[y 2]], r.json['query']
  end

  def test_json_body_sets_content_type_and_round_trips
    payload = { 'name' => 'reqivo', 'n' => [1, 2.5, nil, true], 'u' => 'ünïcødé' }
    r = @s.post('echo', json: payload)
    echo = r.json
    assert_equal 'application/json', echo['headers']['content-type']
    assert_equal payload, JSON.parse(echo['body'])
    assert_equal 'reqivo', @s.get('json').json(symbolize_names: true)[:library]
  end

  def test_json_keeps_an_explicit_content_type
    r = @s.post('echo', json: [1], headers: { 'content-type' => 'application/vnd.x+json' })
    assert_equal 'application/vnd.x+json', r.json['headers']['content-type']
  end

  # The library's rule, as from C and Go: a type that is not JSON gives
  # way to application/json, and the library checks the text it sends.
  def test_json_replaces_a_content_type_that_is_not_json
    r = @s.post('echo', json: { a: 1 }, headers: { 'Content-Type' => 'text/plain' })
    assert_equal 'application/json', r.json['headers']['content-type']
    assert_equal({ 'a' => 1 }, JSON.parse(r.json['body']))
  end

  def test_form_body_from_a_hash
    echo = @s.post('echo', body: { a: 1, b: 'x y' }).json
    assert_equal 'application/x-www-form-urlencoded', echo['headers']['content-type']
    assert_equal 'a=1&b=x+y', echo['body']
  end

  def test_binary_body_goes_out_byte_exact
    bytes = Web.pattern(70_000)
    server = RawServer.new do |s|
      while (req = TestSupport.read_request(s))
        body = req[1]
        s.write("HTTP/1.1 200 OK\r\nContent-Length: #{body.bytesize}\r\n\r\n#{body}")
      end
    end
    r = @s.put(server.url('/up'), body: bytes)
    assert_equal bytes, r.body
  ensure
    server&.close
  end

  def test_body_and_json_together_is_an_argument_error
    assert_raises(ArgumentError) { @s.post('echo', body: 'x', json: {}) }
  end

  def test_request_headers_and_session_defaults
    s = Reqivo::Session.new(base_url: Web.url('/'), headers: { 'X-Default' => 'd', 'X-Over' => 'session' })
    h = s.get('echo', headers: { 'X-Over' => 'request', x_sym: :v }).json['headers']
    assert_equal 'd', h['x-default']
    assert_equal 'request', h['x-over']
    assert_equal 'v', h['x_sym']
  ensure
    s&.close
  end

  def test_response_headers_are_case_insensitive_and_keep_repeats
    server = RawServer.fixed("HTTP/1.1 200 OK\r\nX-Multi: one\r\nContent-Length: 2\r\n" \
                             "Set-Cookie: a=1\r\nx-multi: two\r\nSET-COOKIE: b=2\r\n\r\nok")
    h = @s.get(server.url('/')).headers
    assert_equal 'one, two', h['X-MULTI']
    assert_equal %w[one two], h.get_all('x-multi')
    assert_equal %w[a=1 b=2], h.get_all('Set-Cookie')
    assert_equal ['X-Multi', 'Content-Length', 'Set-Cookie', 'x-multi', 'SET-COOKIE'], h.map(&:first)
    assert h.key?('content-length')
    refute h.key?('nope')
    assert_nil h['nope']
    assert_equal 'x', h.fetch('nope', 'x')
    assert_raises(KeyError) { h.fetch('nope') }
    assert_equal '2', h.to_h['content-length']
    assert_equal 5, h.size
  ensure
    server&.close
  end

  def test_text_uses_the_charset_of_content_type
    r = @s.get('latin1')
    assert_equal 'iso-8859-1', r.charset
    assert_equal 'café', r.text
    assert_equal Encoding::UTF_8, r.text.encoding
    assert_equal "caf\xE9".b, r.body
  end

  def test_second_request_reuses_the_connection
    first = @s.get('hello')
    second = @s.get('hello')
    refute_predicate first, :reused?
    assert_predicate second, :reused?
    stats = @s.pool.stats
    assert_equal 1, stats.opened
    assert_operator stats.reused, :>=, 1
    assert_equal 0, stats.in_use
    assert_nil second.timings.connect, 'no connect on a reused connection'
    assert_operator second.timings.total, :>, 0
    assert_operator second.timings.first_byte, :<=, second.timings.total
  end

  def test_redirects_are_followed_and_counted
    r = @s.get('chain/2')
    assert_equal 200, r.status
    assert_equal 3, r.redirect_count
    assert_equal Web.url('/hello'), r.url
    assert_equal 'hello', r.body
  end

  def test_post_303_becomes_get
    echo = @s.post('redirect', params: { status: 303, to: '/echo' }, body: 'x').json
    assert_equal 'GET', echo['method']
  end

  def test_max_redirects_zero_returns_the_3xx
    s = Reqivo::Session.new(base_url: Web.url('/'), max_redirects: 0)
    r = s.get('redirect')
    assert_equal 302, r.status
    assert_predicate r, :redirect?
    assert_match %r{/hello\z}, r.headers['location']
  ensure
    s&.close
  end

  def test_too_many_redirects
    s = Reqivo::Session.new(base_url: Web.url('/'), max_redirects: 2)
    e = assert_raises(Reqivo::TooManyRedirects) { s.get('chain/5') }
    assert_equal 'REQIVO_ERR_TOO_MANY_REDIRECTS', e.name
    assert_kind_of Reqivo::RequestError, e
  ensure
    s&.close
  end

  def test_redirect_loop
    e = assert_raises(Reqivo::RedirectLoopError) { @s.get('loop') }
    assert_equal 5002, e.code
    assert_equal 5000, e.code_class
  end

  def test_per_request_timeout_overrides_the_session
    e = assert_raises(Reqivo::ReadTimeout) { @s.get('stall', params: { ms: 1500 }, timeout: { read: 0.2 }) }
    assert_equal 'REQIVO_ERR_TIMEOUT_READ', e.name
    assert_equal 200, @s.get('hello').status
  end

  def test_module_conveniences_use_a_shared_session
    r = Reqivo.get(Web.url('/hello'))
    assert_equal 'hello', r.body
    assert_predicate Reqivo.get(Web.url('/hello')), :reused?
    assert_equal 'POST', Reqivo.post(Web.url('/echo'), json: { a: 1 }).json['method']
    assert_equal 200, Reqivo.request(:get, Web.url('/hello')).status
  end

  def test_shared_pool_between_sessions
    pool = Reqivo::Pool.new(max_per_host: 2, max_idle: 10)
    a = Reqivo::Session.new(pool: pool)
    b = Reqivo::Session.new(pool: pool)
    a.get(Web.url('/hello'))
    assert_predicate b.get(Web.url('/hello')), :reused?
    assert_equal 1, pool.stats.opened
  ensure
    a&.close
    b&.close
    pool&.close
  end

  def test_basic_auth
    s = Reqivo::Session.new(base_url: Web.url('/'), auth: %w[alice s3cret:x])
    h = s.get('echo').json['headers']
    assert_equal "Basic #{['alice:s3cret:x'].pack('m0')}", h['authorization']
    s2 = Reqivo::Session.new(base_url: Web.url('/'), auth: { user: 'bob', password: 'pw' })
    assert_equal "Basic #{['bob:pw'].pack('m0')}", s2.get('echo').json['headers']['authorization']
    # a request's own Authorization replaces the session's
    assert_equal 'Custom x', s2.get('echo', headers: { 'Authorization' => 'Custom x' }).json['headers']['authorization']
  ensure
    s&.close
    s2&.close
  end

  def test_bearer_auth
    s = Reqivo::Session.new(base_url: Web.url('/'), auth: { bearer: 'tok.en-1' })
    assert_equal 'Bearer tok.en-1', s.get('echo').json['headers']['authorization']
  ensure
    s&.close
  end

  def test_auth_is_not_sent_to_another_origin_on_redirect
    other = RawServer.new do |sock|
      while (req = TestSupport.read_request(sock))
        auth = req[0][/^authorization: *(.*)$/i, 1].to_s.strip
        sock.write("HTTP/1.1 200 OK\r\nContent-Length: #{auth.bytesize}\r\n\r\n#{auth}")
      end
    end
    s = Reqivo::Session.new(base_url: Web.url('/'), auth: %w[u p])
    r = s.get('redirect', params: { to: other.url('/') })
    assert_equal other.url('/'), r.url
    assert_equal '', r.body, 'no Authorization to another origin'
  ensure
    s&.close
    other&.close
  end

  def test_bad_auth_values
    assert_raises(ArgumentError) { Reqivo::Session.new(auth: 'user:pass') }
    assert_raises(ArgumentError) { Reqivo::Session.new(auth: { token: 'x' }) }
    assert_raises(ArgumentError) { Reqivo::Session.new(auth: %w[a b c]) }
    e = assert_raises(Reqivo::UsageError) { Reqivo::Session.new(auth: ['a:b', 'c']) }
    assert_equal 'REQIVO_ERR_INVALID_ARGUMENT', e.name
    assert_raises(Reqivo::UsageError) { Reqivo::Session.new(auth: { bearer: "bad token\r\n" }) }
  end

  def test_pool_close_idle
    s = Reqivo::Session.new
    2.times { s.get(Web.url('/hello')) }
    assert_equal [1, 1], [s.pool.stats.opened, s.pool.stats.idle]
    assert_nil s.pool.close_idle
    st = s.pool.stats
    assert_equal [0, 1], [st.idle, st.closed]
    r = s.get(Web.url('/hello'))
    refute r.reused?, 'a new connection after close_idle'
    assert_equal 2, s.pool.stats.opened
  ensure
    s&.close
  end

  def test_bad_options_are_argument_errors
    assert_raises(ArgumentError) { Reqivo::Session.new(timeout: -1) }
    assert_raises(ArgumentError) { Reqivo::Session.new(timeout: { conect: 1 }) }
    assert_raises(ArgumentError) { Reqivo::Session.new(max_redirects: -1) }
    assert_raises(ArgumentError) { Reqivo::Session.new(limits: { max_body: 1 }) }
    assert_raises(ArgumentError) { Reqivo::Pool.new(max_per_host: 0) }
  end

  def test_closed_session_raises
    s = Reqivo::Session.new
    s.close
    s.close
    assert_predicate s, :closed?
    assert_raises(Reqivo::ClosedError) { s.get(Web.url('/hello')) }
  end
end
