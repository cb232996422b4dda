# frozen_string_literal: true

require_relative 'proxy_helper'
require 'base64'

class ProxyTest < Minitest::Test
  def setup
    @proxy = TestProxy.new(cookies: { 'a.shop.test' => ['k=v; Domain=shop.test; Path=/'] })
  end

  def teardown
    @session&.close
    @proxy.close
  end

  def proxy_url(creds = nil)
    "http://#{creds}#{'@' if creds}127.0.0.1:#{@proxy.port}"
  end

  def test_http_is_forwarded_with_an_absolute_target_and_proxy_credentials
    @session = Reqivo::Session.new(proxy: proxy_url('user:p%40ss'), timeout: 5)
    r = @session.get('http://origin.test/path', params: { q: 1 })
    assert_equal 200, r.status
    assert_equal 'GET http://origin.test/path?q=1 HTTP/1.1', r.body
    head = @proxy.seen.first
    assert_match(/^Host: origin\.test\r?$/i, head)
    assert_includes head, "Proxy-Authorization: Basic #{Base64.strict_encode64('user:p@ss')}"
    refute_match(/^Authorization:/i, head)
  end

  def test_https_goes_through_a_connect_tunnel
    tls = TlsServers[:ok]
    @session = Reqivo::Session.new(proxy: proxy_url('u:pw'), tls: { ca_pem: TestPKI.pki[:ca].to_pem }, timeout: 5)
    r = @session.get(tls.url('/through'))
    assert_equal 'hello tls', r.body
    assert r.tls?
    heads = @proxy.seen
    assert_equal 1, heads.size, 'the proxy sees only the CONNECT: the request is inside TLS'
    assert_match(%r{\ACONNECT 127\.0\.0\.1:#{tls.port} HTTP/1\.1\r\n}, heads.first)
    assert_includes heads.first, "Proxy-Authorization: Basic #{Base64.strict_encode64('u:pw')}"
  end

  def test_a_refused_tunnel_raises_proxy_error
    @session = Reqivo::Session.new(proxy: proxy_url, timeout: 5)
    e = assert_raises(Reqivo::ProxyError) { @session.get('https://refuse.test/') }
    assert_kind_of Reqivo::NetworkError, e
    assert_equal 'REQIVO_ERR_PROXY', e.name
    assert_equal 2005, e.code
    assert_includes e.message, '407'
  end

  def test_no_proxy_hosts_are_reached_directly
    @session = Reqivo::Session.new(proxy: proxy_url, no_proxy: 'other.example, 127.0.0.1', timeout: 5)
    assert_equal 'hello', @session.get(Web.url('/hello')).body
    assert_equal 0, @proxy.accepted
    # A list, and CIDR ranges.
    @session.no_proxy = ['other.example', '127.0.0.0/8']
    assert_equal 'hello', @session.get(Web.url('/hello')).body
    assert_equal 0, @proxy.accepted
    # No bypass: through the proxy again.
    @session.no_proxy = nil
    assert_equal "GET #{Web.url('/hello')} HTTP/1.1", @session.get(Web.url('/hello')).body
    assert_equal 1, @proxy.accepted
  end

  def test_setters_switch_the_proxy_on_and_off
    @session = Reqivo::Session.new(timeout: 5)
    assert_equal 'hello', @session.get(Web.url('/hello')).body
    @session.proxy = URI(proxy_url)
    assert_equal "GET #{Web.url('/hello')} HTTP/1.1", @session.get(Web.url('/hello')).body
    @session.proxy = nil
    assert_equal 'hello', @session.get(Web.url('/hello')).body
    assert_equal 1, @proxy.seen.size
  end

  def test_unusable_proxies_are_usage_errors
    @session = Reqivo::Session.new
    e = assert_raises(Reqivo::UsageError) { @session.proxy = 'https://127.0.0.1:1' }
    assert_equal 'REQIVO_ERR_UNSUPPORTED_SCHEME', e.name
    assert_raises(Reqivo::UsageError) { @session.proxy = 'socks4://127.0.0.1:1' }
    assert_raises(Reqivo::UsageError) { Reqivo::Session.new(proxy: 'http://') }
  end

  def test_the_environment_is_read_only_on_request
    with_env('HTTP_PROXY' => proxy_url('env:pw'), 'http_proxy' => nil, 'NO_PROXY' => nil,
             'no_proxy' => nil, 'REQUEST_METHOD' => nil) do
      @session = Reqivo::Session.new(timeout: 5)
      assert_equal 'hello', @session.get(Web.url('/hello')).body, 'no env_proxy: the environment is ignored'
      assert_equal 0, @proxy.accepted

      @session.close
      @session = Reqivo::Session.new(env_proxy: true, timeout: 5)
      assert_equal 'GET http://origin.test/ HTTP/1.1', @session.get('http://origin.test/').body
      assert_includes @proxy.seen.first, "Proxy-Authorization: Basic #{Base64.strict_encode64('env:pw')}"

      # An explicit no_proxy: wins over the environment's.
      @session.close
      @session = Reqivo::Session.new(env_proxy: true, no_proxy: '127.0.0.1', timeout: 5)
      assert_equal 'hello', @session.get(Web.url('/hello')).body
    end
    with_env('HTTP_PROXY' => 'ftp://bad', 'http_proxy' => nil) do
      e = assert_raises(Reqivo::UsageError) { Reqivo::Session.new(env_proxy: true) }
      assert_includes e.message, 'HTTP_PROXY'
    end
  end

  def test_public_suffix_list_refuses_cookies_for_a_suffix
    @session = Reqivo::Session.new(proxy: proxy_url, timeout: 5)
    @session.get('http://a.shop.test/set')
    @session.get('http://a.shop.test/next')
    assert_match(/^Cookie: k=v\r?$/i, @proxy.seen.last, 'shop.test is no public suffix by default')

    @session.close
    @session = Reqivo::Session.new(proxy: proxy_url, public_suffix_list: psl("test", "shop.test"),
                                   timeout: 5)
    @session.get('http://a.shop.test/set')
    @session.get('http://a.shop.test/next')
    refute_match(/^Cookie:/i, @proxy.seen.last, 'Domain=shop.test is a public suffix in the list given')

    @session.public_suffix_list = nil # back to the system's list
    @session.get('http://a.shop.test/set')
    @session.get('http://a.shop.test/next')
    assert_match(/^Cookie: k=v\r?$/i, @proxy.seen.last)
    assert_raises(Reqivo::UsageError) { @session.public_suffix_list = "\xff\xfe".b }
  end

  private

  # A public suffix list with `rules` (the format wants them inside a
  # "===BEGIN ICANN DOMAINS===" section).
  def psl(*rules)
    "// ===BEGIN ICANN DOMAINS===\n#{rules.join("\n")}\n// ===END ICANN DOMAINS===\n"
  end

  def with_env(vars)
    saved = vars.keys.to_h { |k| [k, ENV.fetch(k, nil)] }
    vars.each { |k, v| ENV[k] = v }
    yield
  ensure
    saved.each { |k, v| ENV[k] = v }
  end
end
