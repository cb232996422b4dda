# frozen_string_literal: true

require_relative 'test_helper'
require 'socket'
require 'tmpdir'

# Where connections go: address and host overrides in curl's forms, and a
# Unix domain socket (WEBrick serving on a UNIXServer).
class TargetsTest < Minitest::Test
  def teardown
    @session&.close
  end

  def echoed_host(response)
    JSON.parse(response.body)['headers']['host']
  end

  def test_resolve_sends_a_name_to_an_address_and_keeps_the_name
    port = Web.port
    @session = Reqivo::Session.new(resolve: "reqivo.test:#{port}:127.0.0.1", timeout: 5)
    r = @session.get("http://reqivo.test:#{port}/echo")
    assert_equal 200, r.status
    assert_equal "reqivo.test:#{port}", echoed_host(r)
    @session.add_resolve("-reqivo.test:#{port}")
    e = assert_raises(Reqivo::NetworkError) { @session.get("http://reqivo.test:#{port}/echo") }
    assert_equal 'REQIVO_ERR_DNS', e.name
  end

  def test_connect_to_sends_a_host_and_port_elsewhere
    @session = Reqivo::Session.new(connect_to: ["api.invalid:80:127.0.0.1:#{Web.port}"], timeout: 5)
    r = @session.get('http://api.invalid/echo')
    assert_equal 'api.invalid', echoed_host(r)
  end

  def test_malformed_entries_raise_usage_errors
    assert_raises(Reqivo::UsageError) { Reqivo::Session.new(resolve: 'host:80') }
    assert_raises(Reqivo::UsageError) { Reqivo::Session.new(connect_to: 'a:1:b') }
    assert_raises(Reqivo::UsageError) { Reqivo::Session.new(unix_socket: "/a\0b") }
  end

  def test_unix_socket_with_keep_alive
    Dir.mktmpdir do |dir|
      path = File.join(dir, 'api.sock')
      server = unix_webrick(path)
      @session = Reqivo::Session.new(unix_socket: path, timeout: 5)
      3.times do |i|
        r = @session.get('http://localhost/v1.43/containers/json')
        assert_equal 'localhost /v1.43/containers/json', r.body
        assert_equal i.positive?, r.reused?
      end
      @session.unix_socket = File.join(dir, 'missing.sock')
      e = assert_raises(Reqivo::NetworkError) { @session.get('http://localhost/') }
      assert_equal 'REQIVO_ERR_CONNECT_REFUSED', e.name
    ensure
      server&.shutdown
    end
  end

  def test_overrides_and_unix_sockets_in_a_parallel_batch
    Dir.mktmpdir do |dir|
      path = File.join(dir, 'batch.sock')
      server = unix_webrick(path)
      port = Web.port
      named = Reqivo::Session.new(resolve: "batch.test:#{port}:127.0.0.1", timeout: 5)
      @session = Reqivo::Session.new(unix_socket: path, timeout: 5)
      hosts = []
      named.parallel { |b| 4.times { b.get("http://batch.test:#{port}/echo") { |r| hosts << echoed_host(r) } } }
      bodies = []
      @session.parallel { |b| 4.times { |i| b.get("http://docker/#{i}") { |r| bodies << r.body } } }
      assert_equal ["batch.test:#{port}"] * 4, hosts
      assert_equal (0..3).map { |i| "docker /#{i}" }, bodies.sort
    ensure
      named&.close
      server&.shutdown
    end
  end

  private

  def unix_webrick(path)
    log = WEBrick::Log.new(File::NULL)
    server = WEBrick::HTTPServer.new(DoNotListen: true, Logger: log, AccessLog: [])
    server.listeners << UNIXServer.new(path)
    server.mount_proc('/') { |req, res| res.body = "#{req.host} #{req.path}" }
    Thread.new { server.start }
    server
  end
end
