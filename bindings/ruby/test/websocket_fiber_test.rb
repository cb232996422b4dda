# frozen_string_literal: true

require_relative 'test_helper'
require 'digest'
require 'socket'

begin
  require 'async'
rescue LoadError
  nil # the tests below skip
end

# WebSocket#receive under a fiber scheduler (the async gem, Debian's
# ruby-async) against tests/ws_support/server.py: the fiber waits on the
# connection's descriptor through the scheduler (WebSocket::FiberWait), no
# helper thread. Every wait is bounded: each Async run by with_timeout,
# the whole file by test.sh.
class WebSocketFiberTest < Minitest::Test
  include FiberTestSupport

  def setup
    skip 'the async gem is not installed (Debian: ruby-async)' unless defined?(Async::Task)
    @base = WsServer.base or skip 'python3 with the websockets package is not available'
    @session = Reqivo::Session.new(timeout: 10)
  end

  def teardown
    @session&.close
  end

  # 50 connections each wait in a receive while a fiber ticks: no thread
  # is started for the waits (a helper thread per receive would add 50).
  def test_50_receives_wait_on_the_scheduler_without_threads
    run_async do |task|
      sockets = Array.new(50) { @session.websocket("#{@base}/echo") }
      threads_before = Thread.list.size
      os_before = os_threads
      tick, ticks = ticker(task)
      receivers = sockets.map { |ws| task.async { ws.receive } }
      sleep 0.3
      threads_waiting = Thread.list.size
      os_waiting = os_threads
      ticks_waiting = ticks[:ticks]
      sockets.each_with_index { |ws, i| ws.send("to #{i}") }
      got = receivers.map(&:wait)
      tick.stop
      # At most as many: helper threads of earlier tests may still be ending.
      assert_operator threads_waiting, :<=, threads_before, 'Ruby threads while 50 receives waited'
      assert_operator os_waiting, :<=, os_before, 'OS threads while 50 receives waited'
      assert_equal Array.new(50) { |i| [:text, "to #{i}"] }, got.map { |m| [m.kind, m.data] }
      assert_operator ticks_waiting, :>=, 10, 'the ticking fiber ran while the receives waited'
      assert_operator ticks[:max_gap], :<, 1
      sockets.each(&:close)
    end
  end

  # #close from another fiber wakes the fiber waiting in receive at once:
  # it raises WebSocketClosed, and the connection closes cleanly.
  def test_close_from_another_fiber_wakes_a_waiting_receive
    run_async do |task|
      ws = @session.websocket("#{@base}/echo")
      woke_at = nil
      waiter = task.async do
        # In an Array: async 1.x's Task#wait raises a value that is an exception.
        [outcome { ws.receive }].tap { woke_at = now }
      end
      sleep 0.1
      t0 = now
      ws.close(1000, 'bye')
      result, = waiter.wait
      assert_instance_of Reqivo::WebSocketClosed, result
      assert_operator woke_at - t0, :<, 0.5, 'the waiting receive woke when close began'
      assert_raises(Reqivo::WebSocketClosed) { ws.receive }
    end
    @session.websocket("#{@base}/last-close") do |ws|
      assert_equal '1000 bye', ws.receive.data
    end
  end

  # #close from another thread wakes it through the scheduler's unblock;
  # a caller's cancel token ends a waiting receive too.
  def test_close_from_another_thread_and_cancel_end_a_waiting_receive
    run_async do |task|
      ws = @session.websocket("#{@base}/echo")
      closed_at = nil
      closer = Thread.new do
        sleep 0.2
        closed_at = now
        ws.close
      end
      err = outcome { ws.receive }
      woke = now - closed_at
      assert closer.join(10)
      assert_instance_of Reqivo::WebSocketClosed, err
      assert_operator woke, :<, 0.5, 'the waiting receive woke when close began'

      ws = @session.websocket("#{@base}/echo")
      cancel = Reqivo::Cancel.new
      task.async do
        sleep 0.2
        cancel.cancel
      end
      t0 = now
      assert_raises(Reqivo::Cancelled) { ws.receive(cancel: cancel) }
      assert_operator now - t0, :<, 2
      ws.close
    end
  end

  # The session's read timeout bounds a receive under the scheduler as it
  # does a blocking one, and other fibers run meanwhile.
  def test_receive_timeout_under_the_scheduler
    session = Reqivo::Session.new(timeout: { connect: 5, read: 0.3 })
    run_async do |task|
      ws = session.websocket("#{@base}/echo")
      tick, ticks = ticker(task)
      t0 = now
      err = outcome { ws.receive }
      took = now - t0
      tick.stop
      assert_kind_of Reqivo::TimeoutError, err
      assert_operator took, :>=, 0.25
      assert_operator took, :<, 5
      assert_operator ticks[:ticks], :>=, 10
      ws.close
    end
  ensure
    session&.close
  end

  # A message of 8 MiB comes in many reads (the library says "nothing
  # yet" between them); a fragmented one is put together; keep-alive
  # pings at 50 ms run inside the waits.
  def test_messages_that_arrive_in_pieces
    run_async do |task|
      ws = @session.websocket("#{@base}/echo", ping_interval: 0.05, pong_timeout: 2)
      tick, ticks = ticker(task)
      big = Random.new(7).bytes(8 << 20)
      sender = task.async { ws.send_binary(big) }
      msg = ws.receive
      sender.wait
      assert_equal :binary, msg.kind
      assert_equal big.bytesize, msg.data.bytesize
      assert msg.data == big, 'the 8 MiB message came back whole'

      task.async do
        %w[one two three].each_with_index do |part, i|
          sleep 0.1
          ws.send_fragment(part, fin: i == 2)
        end
      end
      t0 = now
      assert_equal 'onetwothree', ws.receive.data
      assert_operator now - t0, :>=, 0.25
      # Past several ping intervals with no message: the pongs came back.
      sleep 0.3
      ws.send('still here')
      assert_equal 'still here', ws.receive.data
      tick.stop
      assert_operator ticks[:max_gap], :<, 1
      ws.close
    end
  end

  # A peer that completes the handshake and then never answers: the
  # library's ping and pong deadlines (its wait_ms) wake the waiting fiber,
  # so the pong timeout ends the receive long before the read timeout.
  def test_pong_deadline_wakes_a_waiting_receive
    server = TCPServer.new('127.0.0.1', 0)
    peer = Thread.new do
      c = server.accept
      head = +''
      head << c.readpartial(4096) until head.include?("\r\n\r\n")
      key = head[/^sec-websocket-key:\s*(\S+)/i, 1]
      accept = [Digest::SHA1.digest("#{key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11")].pack('m0')
      c.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" \
              "Sec-WebSocket-Accept: #{accept}\r\n\r\n")
      sleep 5 # reads nothing, answers nothing
      c.close
    end
    run_async do
      ws = @session.websocket("ws://127.0.0.1:#{server.addr[1]}/", ping_interval: 0.1, pong_timeout: 0.2)
      t0 = now
      err = outcome { ws.receive }
      assert_kind_of Reqivo::WebSocketPingTimeout, err
      assert_operator now - t0, :<, 3, 'the pong deadline ended the receive (the read timeout is 10 s)'
      ws.close
    end
  ensure
    peer&.kill
    server&.close
  end

  # A reconnect replaces the descriptor: the receive waits on the new one.
  def test_receive_across_a_reconnect
    attempts = []
    run_async do
      ws = @session.websocket("#{@base}/drop-once?id=ruby-fiber-reconnect",
                              reconnect: { attempts: 3, initial_delay: 0.01, max_delay: 0.1 },
                              on_reconnect: ->(attempt, error) { attempts << [attempt, error] })
      assert_equal 'again', ws.receive.data
      ws.send('on the new connection')
      assert_equal 'on the new connection', ws.receive.data
      ws.close
    end
    assert_equal [[1, nil]], attempts
  end

  # A task stopped in a receive ends at once, and the connection still
  # works for the next receive.
  def test_stopping_a_receiving_task
    run_async do |task|
      ws = @session.websocket("#{@base}/echo")
      waiter = task.async { ws.receive }
      sleep 0.05
      assert_operator TestSupport.elapsed { waiter.stop }, :<, 0.1
      ws.send('after the stop')
      assert_equal 'after the stop', ws.receive.data
      ws.close
    end
  end
end
