# frozen_string_literal: true

require_relative 'test_helper'
require_relative 'tls_helper'
require 'socket'

# SOCKS5 proxies: Debian's microsocks (with a login) as the main peer, and
# the scripted tests/socks_peer.py for what microsocks cannot show (which
# address type it was asked for, a refusal).
class SocksTest < Minitest::Test
  ROOT = File.expand_path('../../..', __dir__)

  def self.microsocks
    @microsocks ||= begin
      bin = ENV.fetch('PATH', '').split(File::PATH_SEPARATOR).map { |d| File.join(d, 'microsocks') }
                .find { |f| File.executable?(f) }
      if bin
        port = TCPServer.open('127.0.0.1', 0) { |s| s.addr[1] }
        pid = Process.spawn(bin, '-i', '127.0.0.1', '-p', port.to_s, '-u', 'us@er', '-P', 'p:w',
                            out: File::NULL, err: File::NULL)
        Minitest.after_run do
          Process.kill('TERM', pid)
          Process.wait(pid)
        end
        100.times do
          break if (TCPSocket.open('127.0.0.1', port).close rescue false) != false

          sleep 0.05
        end
        port
      end
    end
  end

  # The ports of tests/socks_peer.py: relay, refuse5, refuse2, badauth,
  # stall, garbage.
  def self.peer
    @peer ||= begin
      io = IO.popen(['python3', File.join(ROOT, 'tests/socks_peer.py'), '--stdin'], 'r+')
      Minitest.after_run do
        io.close_write
        io.close
      end
      io.gets.split.map(&:to_i)
    end
  end

  def teardown
    @session&.close
  end

  def microsocks_port
    SocksTest.microsocks || skip('microsocks is not installed (make deps-system installs it)')
  end

  def test_http_and_https_through_microsocks_with_a_login
    port = microsocks_port
    %w[socks5 socks5h].each do |scheme|
      @session = Reqivo::Session.new(proxy: "#{scheme}://us%40er:p%3Aw@127.0.0.1:#{port}",
                                     tls: { ca_pem: TestPKI.pki[:ca].to_pem }, timeout: 5)
      2.times do |i|
        r = @session.get(Web.url('/hello'))
        assert_equal 'hello', r.body
        assert_equal i == 1, r.reused?, "#{scheme}: the tunnel is kept"
        r = @session.get(TlsServers[:ok].url('/through'))
        assert_equal 'hello tls', r.body
        assert r.tls?
      end
      @session.close
    end
    @session = Reqivo::Session.new(proxy: "socks5h://us%40er:wrong@127.0.0.1:#{port}", timeout: 5)
    e = assert_raises(Reqivo::ProxyError) { @session.get(Web.url('/hello')) }
    assert_match(/rejected the username and password/, e.message)
  end

  def test_socks5h_sends_the_name_and_socks5_the_address
    relay = SocksTest.peer[0]
    @session = Reqivo::Session.new(proxy: "socks5h://127.0.0.1:#{relay}", timeout: 5)
    assert_equal 'hello', @session.get("http://ruby-origin.test:#{Web.port}/hello").body
    @session.proxy = "socks5://127.0.0.1:#{relay}"
    assert_equal 'hello', @session.get("http://localhost:#{Web.port}/hello").body
    @session.proxy = "socks5h://127.0.0.1:#{relay}"
    seen = @session.get('http://seen.peer/').body
    assert_includes seen, "3 ruby-origin.test #{Web.port}\n"
    assert_includes seen, "1 127.0.0.1 #{Web.port}\n"
  end

  def test_a_refusal_is_a_proxy_error_in_a_send_and_a_batch
    @session = Reqivo::Session.new(proxy: "socks5h://127.0.0.1:#{SocksTest.peer[1]}", timeout: 5)
    e = assert_raises(Reqivo::ProxyError) { @session.get(Web.url('/hello')) }
    assert_match(/connection refused by destination \(5\)/, e.message)
    got = nil
    @session.parallel { |batch| batch.get(Web.url('/hello')) { |r| got = r } }
    assert_kind_of Reqivo::ProxyError, got
    @session.no_proxy = '127.0.0.1'
    assert_equal 'hello', @session.get(Web.url('/hello')).body
  end
end
