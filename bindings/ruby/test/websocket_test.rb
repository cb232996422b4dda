# frozen_string_literal: true

require_relative 'test_helper'

# Session#websocket against tests/ws_support/server.py (the `websockets`
# package on 127.0.0.1), started once for these tests; skipped when python3
# or the package is missing.
class WebSocketTest < Minitest::Test
  def self.server
    WsServer.base
  end

  def setup
    @base = self.class.server or skip 'python3 with the websockets package is not available'
    @session = Reqivo::Session.new(timeout: 10)
  end

  def teardown
    @session&.close
  end

  def test_block_form_echoes_text
    got = @session.websocket("#{@base}/echo") do |ws|
      ws.send('héllo')
      ws.receive
    end
    assert_equal :text, got.kind
    assert_equal 'héllo', got.data
    assert_equal Encoding::UTF_8, got.data.encoding
    kind, data = got
    assert_equal [:text, 'héllo'], [kind, data]
  end

  def test_binary_and_large_messages
    ws = @session.websocket("#{@base}/echo")
    bin = (0..255).map(&:chr).join.b
    ws.send(bin) # an ASCII-8BIT String goes as binary
    m = ws.receive
    assert_equal [:binary, bin], [m.kind, m.data]
    assert_equal Encoding::BINARY, m.data.encoding
    ws.send_binary('text bytes as binary')
    assert_equal :binary, ws.receive.kind
    big = Random.new(1).bytes(1 << 20)
    ws.send_binary(big)
    assert_equal big, ws.receive.data
    ws.send('')
    assert_equal [:text, ''], ws.receive.to_a.first(2)
    assert_raises(ArgumentError) { ws.send("\xff".dup.force_encoding(Encoding::UTF_8)) }
  ensure
    ws&.close
  end

  def test_fragments_and_ping
    @session.websocket("#{@base}/echo", pong_timeout: 5) do |ws|
      ws.ping('are you there')
      ws.send_fragment('frag')
      ws.send_fragment('men')
      ws.send_fragment('ted', fin: true)
      assert_equal 'fragmented', ws.receive.data
      assert_raises(Reqivo::UsageError) { ws.ping('x' * 126) }
    end
  end

  def test_subprotocol_and_headers
    @session.websocket("#{@base}/headers", protocols: %w[other chat], headers: { 'X-Extra' => 'e' }) do |ws|
      assert_equal 'chat', ws.protocol
      assert_equal 101, ws.response.status
      assert_equal 'e', JSON.parse(ws.receive.data)['x-extra']
    end
    @session.websocket("#{@base}/echo") { |ws| assert_equal '', ws.protocol }
  end

  def test_deflate_option
    # The test server offers no compression: the offer is simply declined.
    @session.websocket("#{@base}/echo", deflate: { server_no_context_takeover: true }) do |ws|
      ws.send('x' * 1000)
      assert_equal 'x' * 1000, ws.receive.data
    end
  end

  def test_server_close_and_our_close_codes
    ws = @session.websocket("#{@base}/close?code=4001&reason=bye")
    ws.send('go')
    m = ws.receive
    assert m.close?
    assert_equal [4001, 'bye'], [m.close_code, m.close_reason]
    e = assert_raises(Reqivo::WebSocketClosed) { ws.receive }
    assert_kind_of Reqivo::WebSocketError, e
    assert_equal 'REQIVO_ERR_WS_CLOSED', e.name
    ws.close

    ws = @session.websocket("#{@base}/echo")
    ws.close(4002, 'done here')
    ws.close # idempotent
    assert ws.closed?
    assert_raises(Reqivo::WebSocketClosed) { ws.send('x') }
    last = @session.websocket("#{@base}/last-close") { |w| w.receive.data }
    assert_equal '4002 done here', last
  end

  def test_refused_handshake_raises_with_the_status
    e = assert_raises(Reqivo::WebSocketHandshakeError) { @session.websocket("#{@base}/reject") }
    assert_kind_of Reqivo::WebSocketError, e
    assert_kind_of Reqivo::Error, e
    assert_equal 403, e.status
    assert_equal "not here\n", e.response.body
    assert_equal 'REQIVO_ERR_WS_HANDSHAKE', e.name
  end

  # Two threads send while one receives: every message comes back whole,
  # and the receiver does not hold the GVL while it waits.
  def test_two_threads_send_while_one_receives
    per_thread = 100
    @session.websocket("#{@base}/echo") do |ws|
      received = Hash.new(0)
      reader = Thread.new do
        (2 * per_thread).times do
          data = ws.receive.data
          raise "mixed message #{data[0, 20].inspect}" unless data == data[0] * data.size

          received[data[0]] += 1
        end
      end
      writers = %w[a b].map do |c|
        Thread.new { per_thread.times { |i| ws.send(c * (1 + (i * 997 % 20_000))) } }
      end
      writers.each { |t| assert t.join(30), 'writer did not finish' }
      assert reader.join(30), 'reader did not finish'
      assert_equal({ 'a' => per_thread, 'b' => per_thread }, received)
    end
  end

  def test_close_wakes_a_blocked_receiver
    ws = @session.websocket("#{@base}/echo")
    result = nil
    reader = Thread.new do
      result = ws.receive
    rescue Reqivo::Error => e
      result = e
    end
    sleep 0.1
    ws.close(1000, 'bye')
    assert reader.join(10), 'the receiver was not woken by close'
    assert(result.is_a?(Reqivo::WebSocketClosed) || (result.is_a?(Reqivo::WebSocket::Message) && result.close?),
           "receiver got #{result.inspect}")
  end

  def test_cancel_and_interrupt_a_receive
    @session.websocket("#{@base}/echo") do |ws|
      c = Reqivo::Cancel.new
      Thread.new { sleep 0.1; c.cancel } # rubocop:disable Style/Semicolon
      assert_raises(Reqivo::Cancelled) { ws.receive(cancel: c) }
      assert_raises(Timeout::Error) { Timeout.timeout(0.2) { ws.receive } }
      ws.send('still here')
      assert_equal 'still here', ws.receive.data
    end
  end

  # Handles and copies survive a collection at every allocation.
  def test_echo_under_gc_stress
    ws = @session.websocket("#{@base}/echo", protocols: ['chat'])
    GC.stress = true
    begin
      ws.send('stressed')
      m = ws.receive
    ensure
      GC.stress = false
    end
    assert_equal 'stressed', m.data
    assert_equal 'chat', ws.protocol
    ws.close
  end

  # A connection dropped mid-frame is replaced; the receive goes on and
  # on_reconnect hears of the attempt.
  def test_reconnect_with_callback
    attempts = Queue.new
    @session.websocket("#{@base}/drop-once?id=ruby-reconnect",
                       reconnect: { attempts: 3, initial_delay: 0.01, max_delay: 0.1 },
                       on_reconnect: ->(attempt, error) { attempts << [attempt, error] }) do |ws|
      assert_equal 'again', ws.receive.data
      assert_equal [1, nil], attempts.pop
      assert attempts.empty?
      ws.send('on the new connection')
      assert_equal 'on the new connection', ws.receive.data
    end
  end

  def test_reconnect_callback_exception_is_raised_by_the_call
    @session.websocket("#{@base}/drop-once?id=ruby-raise",
                       reconnect: { attempts: 3, initial_delay: 0.01, max_delay: 0.1 },
                       on_reconnect: ->(_, _) { raise 'from the callback' }) do |ws|
      e = assert_raises(RuntimeError) { ws.receive }
      assert_equal 'from the callback', e.message
      ws.send('still usable')
      assert_equal 'still usable', ws.receive.data
    end
  end

  # Failures from the server's side raise the 7000-class exceptions.
  def test_server_failures_raise_websocket_errors
    @session.websocket("#{@base}/bad-utf8") do |ws|
      e = assert_raises(Reqivo::WebSocketProtocolError) { ws.receive }
      assert_equal 'REQIVO_ERR_WS_INVALID_UTF8', e.name
    end
    @session.websocket("#{@base}/echo", max_frame: 1024, max_message: 4096) do |ws|
      ws.send_binary('x' * 1024)
      assert_equal 1024, ws.receive.data.bytesize
      ws.send_binary('x' * 2048)
      assert_raises(Reqivo::WebSocketMessageTooBig) { ws.receive }
      assert_raises(Reqivo::WebSocketClosed) { ws.receive }
    end
  end
end
