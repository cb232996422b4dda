# frozen_string_literal: true

require_relative 'test_helper'
require 'logger'
require 'stringio'

# Session#on_request, #on_response, #logger= and #on_log against the
# WEBrick server.
class HooksTest < Minitest::Test
  class HookFailure < StandardError; end

  def setup
    @s = Reqivo::Session.new(timeout: 5, headers: { 'X-Default' => 'd' })
  end

  def teardown
    @s.close
  end

  def echo_headers(path = '/echo')
    @s.get(Web.url(path)).json.fetch('headers')
  end

  def test_on_request_sets_adds_and_removes_headers_the_server_sees
    seen = []
    @s.on_request do |req|
      seen << [req.method, req.url]
      req.headers['X-Trace'] = '1'
      req.headers.add('X-Multi', 'a').add('X-Multi', 'b')
      req.headers.delete('X-Default')
    end
    h = echo_headers
    assert_equal '1', h['x-trace']
    assert_equal 'a, b', h['x-multi']
    refute h.key?('x-default'), 'the hook removed the session default'
    assert_equal [['GET', Web.url('/echo')]], seen
    # Blocks run in the order added: a later one replaces the header.
    @s.on_request { |req| req.headers['X-Trace'] = '2' }
    assert_equal '2', echo_headers['x-trace']
  end

  def test_on_request_runs_for_each_redirect_hop
    urls = []
    @s.on_request do |req|
      urls << req.url
      req.headers['X-Hop'] = urls.size.to_s
    end
    r = @s.get(Web.url('/redirect'), params: { to: '/echo' })
    assert_equal [Web.url('/redirect?to=%2Fecho'), Web.url('/echo')], urls
    assert_equal '2', r.json['headers']['x-hop']
  end

  def test_an_exception_in_on_request_stops_the_request_and_is_raised
    before = Web.hits('/hello')
    lines = []
    @s.on_log(level: :error) { |level, msg| lines << [level, msg] }
    @s.on_request { |_req| raise HookFailure, 'no' }
    e = assert_raises(HookFailure) { @s.get(Web.url('/hello')) }
    assert_equal 'no', e.message
    assert_equal before, Web.hits('/hello'), 'nothing was sent'
    assert(lines.any? { |l, m| l == :error && m.include?('failed') }, "the failure is still logged: #{lines.inspect}")
    # The same for a stream; and the session keeps working once cleared.
    assert_raises(HookFailure) { @s.stream(:get, Web.url('/hello')) { |_| nil } }
    @s.clear_hooks
    assert_equal 'hello', @s.get(Web.url('/hello')).body
  end

  def test_a_bad_header_from_a_hook_raises_usage_error
    @s.on_request { |req| req.headers['X-Bad'] = "a\r\nInjected: 1" }
    e = assert_raises(Reqivo::UsageError) { @s.get(Web.url('/hello')) }
    assert_equal 'REQIVO_ERR_INVALID_HEADER', e.name
    @s.clear_hooks
    @s.on_request { |req| req.headers.delete('Host') }
    assert_raises(Reqivo::UsageError) { @s.get(Web.url('/hello')) }
  end

  def test_a_hook_request_is_dead_after_its_block
    kept = nil
    @s.on_request { |req| kept = req }
    @s.get(Web.url('/hello'))
    assert_raises(Reqivo::UsageError) { kept.headers['X'] = '1' }
    assert_equal 'GET', kept.method
  end

  def test_on_response_sees_every_head_redirect_hops_included
    heads = []
    @s.on_response { |status, headers, url| heads << [status, headers['location'], url] }
    r = @s.get(Web.url('/redirect'), params: { to: '/hello' })
    assert_equal 'hello', r.body
    assert_equal [[302, Web.url('/hello'), Web.url('/redirect?to=%2Fhello')], [200, nil, Web.url('/hello')]], heads
    # Streams too.
    heads.clear
    @s.stream(:get, Web.url('/hello')) { |_| nil }
    assert_equal [[200, nil, Web.url('/hello')]], heads
  end

  def test_an_exception_in_on_response_stops_at_that_head
    @s.on_response { |status, _h, _u| raise HookFailure, "saw #{status}" if status == 302 }
    e = assert_raises(HookFailure) { @s.get(Web.url('/redirect'), params: { to: '/hello' }) }
    assert_equal 'saw 302', e.message
    # The library's own error when nothing was stashed: a callback abort.
    assert_equal 'hello', @s.get(Web.url('/hello')).body
  end

  def test_logger_receives_connect_reuse_and_redirect_lines
    out = StringIO.new
    @s.logger = Logger.new(out, level: Logger::DEBUG)
    @s.get(Web.url('/hello'))
    @s.get(Web.url('/hello'))
    @s.get(Web.url('/redirect'), params: { to: '/hello' })
    log = out.string
    assert_match(/DEBUG -- reqivo: GET #{Regexp.escape(Web.url('/hello'))}: new connection/, log)
    assert_match(/DEBUG -- reqivo: .*reused a pooled connection/, log)
    assert_match(%r{INFO -- reqivo: GET \S+/redirect\S* -> 302 #{Regexp.escape(Web.url('/hello'))}}, log)
    assert_same @s.logger.class, Logger

    # The logger's level bounds what the library formats.
    out.truncate(0)
    out.rewind
    @s.logger = Logger.new(out, level: Logger::INFO)
    @s.get(Web.url('/redirect'), params: { to: '/hello' })
    refute_match(/DEBUG/, out.string)
    assert_match(/INFO -- reqivo: .* -> 302 /, out.string)

    @s.logger = nil
    out.truncate(0)
    @s.get(Web.url('/hello'))
    assert_empty out.string
  end

  def test_on_log_yields_levels_and_messages
    lines = []
    @s.on_log(level: :info) { |level, msg| lines << [level, msg] }
    @s.get(Web.url('/redirect'), params: { to: '/hello' })
    refute_empty lines
    assert(lines.all? { |l, _| %i[info warn error].include?(l) }, lines.inspect)
    assert(lines.any? { |l, m| l == :info && m.include?('-> 302') }, lines.inspect)

    lines.clear
    @s.on_log { |level, msg| lines << [level, msg] }
    assert_raises(Reqivo::NetworkError) { @s.get("http://127.0.0.1:#{TestSupport.closed_port}/") }
    assert(lines.any? { |l, m| l == :error && m.include?('failed') }, lines.inspect)
    assert_raises(ArgumentError) { @s.on_log(level: :trace) { nil } }
  end

  def test_an_exception_in_the_log_block_is_raised_after_the_request
    @s.on_log { |_l, _m| raise HookFailure, 'log' }
    assert_raises(HookFailure) { @s.get(Web.url('/hello')) }
    @s.logger = nil
    assert_equal 'hello', @s.get(Web.url('/hello')).body, 'nothing stale is raised later'
  end

  def test_hooks_run_on_each_sending_thread
    count = Queue.new
    @s.on_request do |req|
      count << Thread.current
      raise HookFailure, 'odd' if req.url.end_with?('odd')
    end
    results = Array.new(6) do |i|
      Thread.new do
        @s.get(Web.url(i.odd? ? '/hello?odd' : '/hello')).body
      rescue HookFailure => e
        e
      end
    end.map(&:value)
    assert_equal 3, results.count('hello')
    assert_equal 3, results.count { |r| r.is_a?(HookFailure) }
    assert_equal 6, count.size
  end

  def test_blocks_are_required
    assert_raises(ArgumentError) { @s.on_request }
    assert_raises(ArgumentError) { @s.on_response }
    assert_raises(ArgumentError) { @s.logger = Object.new }
  end
end
