# frozen_string_literal: true

require_relative 'test_helper'
require 'stringio'

begin
  require 'async'
rescue LoadError
  nil # the tests below skip
end

# Session calls under a fiber scheduler (the async gem, Debian's
# ruby-async): each call adds its transfer to the FiberMulti of the
# scheduler's thread and its fiber waits on the multi's descriptor, so the
# other fibers run meanwhile. Held requests go to tests/c/server.py in
# another process (HoldServer). Every wait is bounded: each Async run by
# Async's with_timeout, the whole file by test.sh.
class SchedulerTest < Minitest::Test
  include FiberTestSupport

  def setup
    skip 'the async gem is not installed (Debian: ruby-async)' unless defined?(Async::Task)
    @port = HoldServer.port or skip 'python3 and tests/c/server.py are needed'
    # Room for every request in the pool (the default is 10 per host).
    @session = Reqivo::Session.new(pool: Reqivo::Pool.new(max_per_host: 600, max_total: 600), timeout: 10)
  end

  def teardown
    @session&.close
  end

  def url(path)
    "http://127.0.0.1:#{@port}#{path}"
  end

  def test_500_held_requests_wait_together_while_another_fiber_ticks
    threads_before = os_threads
    threads_peak = threads_before
    results = nil
    took = nil
    ticks = nil
    run_async do |task|
      tick, ticks = ticker(task)
      t0 = now
      tasks = Array.new(500) do |i|
        task.async do
          r = @session.get(url("/hold/200?i=#{i}"))
          # Sampled, not read by all 500: reading /proc is the test's own
          # cost, and it would count in the ticker's gaps.
          threads_peak = [threads_peak, os_threads].max if (i % 25).zero?
          r
        end
      end
      results = tasks.map(&:wait)
      took = now - t0
      tick.stop
    end
    warn format('scheduler: 500 requests held 200 ms each under Async took %.2f s; ticker max gap %.1f ms ' \
                '(%d ticks); OS threads %d before, at most %d during', took, ticks[:max_gap] * 1000,
                ticks[:ticks], threads_before, threads_peak)
    assert_equal 500, results.size
    results.each { |r| assert_equal [200, 'held'], [r.status, r.body] }
    # One after another would take 100 s.
    assert_operator took, :<, 5, '500 requests held 200 ms each'
    # The longest pause is this test's loop that starts the 500 tasks (it
    # never yields) or the library's perform that opens the 500
    # connections, whichever is longer: the driver lets other fibers run
    # between the two (33-55 ms on 2 cores busy with other work).
    assert_operator ticks[:ticks], :>=, 10, 'the ticking fiber kept running'
    assert_operator ticks[:max_gap], :<, 1, 'the ticking fiber kept running'
    # No thread per request: IP literals need no resolver thread either.
    assert_operator threads_peak, :<=, threads_before + 2, 'OS threads during the run'
  end

  def test_errors_are_each_requests_own_and_the_blocking_paths
    refused = "http://127.0.0.1:#{TestSupport.closed_port}/"
    calls = {
      timeout: -> { @session.get(url('/hold/3000'), timeout: { read: 0.2 }) },
      refused: -> { @session.get(refused) },
      status: -> { @session.get(Web.url('/status/500')) },
      ok: -> { @session.get(url('/hold/100')) }
    }
    blocking = calls.transform_values { |c| outcome(&c) }
    fibers = nil
    run_async do |task|
      fibers = calls.transform_values { |c| task.async { [outcome(&c)] } }.transform_values { |t| t.wait.first }
    end
    assert_instance_of Reqivo::ReadTimeout, fibers[:timeout]
    assert_instance_of Reqivo::NetworkError, fibers[:refused]
    %i[timeout refused].each do |k|
      assert_equal [blocking[k].class, blocking[k].name, blocking[k].code_class, blocking[k].os_error],
                   [fibers[k].class, fibers[k].name, fibers[k].code_class, fibers[k].os_error], k.to_s
    end
    assert_equal 'REQIVO_ERR_CONNECT_REFUSED', fibers[:refused].name
    assert_equal [500, 500], [blocking[:status].status, fibers[:status].status]
    assert_equal 'status 500', fibers[:status].body
    assert_equal [200, 'held'], [fibers[:ok].status, fibers[:ok].body]
  end

  def test_hooks_cookies_bodies_and_progress
    @session.on_request { |req| req.headers['X-Fiber'] = 'yes' }
    @session.on_response { |_status, _headers, u| raise KeyError, 'hook' if u.include?('fail') }
    run_async do |task|
      @session.get(Web.url('/setcookie?name=fib&value=1'))
      echoed = @session.post(Web.url('/echo'), body: StringIO.new('from an IO'))
      assert_includes echoed.json['headers']['cookie'], 'fib=1'
      assert_equal 'yes', echoed.json['headers']['x-fiber']
      assert_equal 'from an IO', echoed.json['body']

      # A failing hook stops its own request only, though the others'
      # hooks run in the same performs.
      oks = Array.new(20) { |i| task.async { @session.get(Web.url("/echo?i=#{i}")).status } }
      bad = task.async { [outcome { @session.get(Web.url('/echo?fail=1')) }] }
      assert_equal [200] * 20, oks.map(&:wait)
      assert_instance_of KeyError, bad.wait.first
      assert_equal 'hook', bad.wait.first.message

      # What a progress callable raises, rather than "aborted by callback".
      err = outcome { @session.get(Web.url('/hello'), progress: ->(*) { raise IOError, 'from progress' }) }
      assert_instance_of IOError, err
    end
  ensure
    @session.clear_hooks
  end

  def test_a_large_body_streams_in_pieces_while_another_fiber_ticks
    n = 16 << 20
    unit = (0...251).map(&:chr).join.b
    pattern = unit * ((2 << 20) / 251 + 2)
    got = 0
    pieces = 0
    paused = false
    max_buffered = 0
    trailers = nil
    ticks = nil
    run_async do |task|
      tick, ticks = ticker(task)
      st = @session.stream(:get, url("/pattern-chunked/#{n}"))
      assert_kind_of Reqivo::Stream, st
      assert_equal 200, st.response.status
      transfer = st.instance_variable_get(:@transfer)
      st.each do |chunk|
        flunk "the body differs at #{got}..#{got + chunk.bytesize}" unless chunk == pattern.byteslice(got % 251, chunk.bytesize)
        got += chunk.bytesize
        pieces += 1
        paused ||= transfer.paused
        max_buffered = [max_buffered, transfer.buffered].max
        # A slow reader: the buffer fills and the transfer pauses.
        sleep 0.002 if (pieces % 16).zero?
      end
      trailers = st.trailers
      st.close
      # The block form, and an error on the way (the body stalls).
      size = 0
      head = @session.stream(:get, Web.url('/big?n=300000')) { |c| size += c.bytesize }
      assert_equal [200, '', 300_000], [head.status, head.body, size]
      err = outcome { @session.stream(:get, url('/slow-body'), timeout: { read: 0.3 }) { nil } }
      assert_instance_of Reqivo::ReadTimeout, err
      tick.stop
    end
    assert_equal n, got
    assert_operator pieces, :>, 100
    assert paused, 'the slow reader paused the transfer'
    assert_operator max_buffered, :<=, Reqivo::FiberMulti::HIGH_WATER + (1 << 20), 'bytes buffered at most'
    assert_equal [], trailers.to_a
    assert_operator ticks[:ticks], :>=, 10
    assert_operator ticks[:max_gap], :<, 1
    warn format('scheduler: 16 MiB streamed in %d pieces, paused, at most %d KiB buffered; ticker max gap %.1f ms',
                pieces, max_buffered >> 10, ticks[:max_gap] * 1000)
  end

  def test_a_websocket_receive_leaves_other_fibers_running
    base = WsServer.base or skip 'python3 with the websockets package is not available'
    run_async do |task|
      ws = @session.websocket("#{base}/echo")
      tick, ticks = ticker(task)
      sender = task.async do
        sleep 0.3
        ws.send('late')
      end
      before = ticks[:ticks]
      t0 = now
      msg = ws.receive
      waited = now - t0
      during = ticks[:ticks] - before
      sender.wait
      assert_equal [:text, 'late'], [msg.kind, msg.data]
      assert_operator waited, :>=, 0.25
      assert_operator during, :>=, 5, 'ticks while the receive waited'
      assert_operator ticks[:max_gap], :<, 1

      # A task stopped in a receive ends at once (it waits on the
      # connection's descriptor: no call of the library is in progress).
      waiter = task.async { ws.receive }
      sleep 0.05
      assert_operator TestSupport.elapsed { waiter.stop }, :<, 0.1
      ws.close
      tick.stop
    end
  end

  # Dials under the scheduler are transfers of its multi: 100 at once
  # start no thread, each connection then echoes; a refusal raises with
  # its answer; a dial whose task is stopped ends at once.
  def test_websocket_dials_run_on_the_multi
    base = WsServer.base or skip 'python3 with the websockets package is not available'
    run_async do |task|
      threads_before = os_threads
      threads_peak = threads_before
      sockets = Array.new(100) do |i|
        task.async do
          ws = @session.websocket("#{base}/echo", protocols: ['chat'])
          threads_peak = [threads_peak, os_threads].max if (i % 10).zero?
          ws
        end
      end.map(&:wait)
      assert_operator threads_peak, :<=, threads_before, 'OS threads while 100 dials ran'
      sockets.each { |ws| assert_equal 'chat', ws.protocol }
      sockets.first.send('through the multi')
      msg = sockets.first.receive
      assert_equal [:text, 'through the multi'], [msg.kind, msg.data]
      sockets.each(&:close)

      e = assert_raises(Reqivo::WebSocketHandshakeError) { @session.websocket("#{base}/reject") }
      assert_equal 403, e.status
      assert_equal "not here\n", e.response.body

      dial = task.async { @session.websocket("ws://127.0.0.1:#{@port}/stall") }
      sleep 0.1
      assert_operator TestSupport.elapsed { dial.stop }, :<, 0.1
      assert_equal 0, Reqivo::FiberMulti.current.in_flight
    end
  end

  def test_stopping_a_task_cancels_its_transfer
    run_async do |task|
      multi = nil
      # Alone: the stopped fiber was driving the multi.
      alone = task.async do
        multi = Reqivo::FiberMulti.current
        @session.get(url('/hold/5000'))
      end
      sleep 0.1
      assert_equal 1, multi.in_flight
      assert_operator TestSupport.elapsed { alone.stop }, :<, 0.1
      assert_equal 0, multi.in_flight
      assert_equal 0, multi.pending

      # Beside another request, driving or not.
      waiter = task.async { @session.get(url('/hold/5000')) }
      other = task.async { @session.get(url('/hold/300')) }
      sleep 0.1
      assert_equal 2, multi.in_flight
      assert_operator TestSupport.elapsed { waiter.stop }, :<, 0.1
      t0 = now
      sleep 0.005 while multi.in_flight > 1 && now - t0 < 0.1
      assert_equal 1, multi.in_flight, 'the stopped task\'s transfer left the multi'
      assert_equal [200, 'held'], [other.wait.status, other.wait.body]

      # Async's own timeout.
      err = outcome { task.with_timeout(0.2) { @session.get(url('/hold/5000')) } }
      assert_instance_of Async::TimeoutError, err
      assert_equal 0, multi.in_flight
      assert_equal 0, multi.pending
    end
    assert_equal 0, @session.pool.stats.in_use
  end

  def test_one_multi_per_scheduler_and_none_outside
    assert_nil Reqivo::FiberMulti.current
    first = nil
    run_async do |task|
      first = Reqivo::FiberMulti.current
      assert_same first, task.async { Reqivo::FiberMulti.current }.wait
      # A blocking fiber under the scheduler sends as without one.
      assert_nil Fiber.new(blocking: true) { Reqivo::FiberMulti.current }.resume
      assert_equal 200, Fiber.new(blocking: true) { @session.get(url('/hold/1')).status }.resume
    end
    run_async { refute_same first, Reqivo::FiberMulti.current }
    assert_equal 0, first.in_flight, 'the first scheduler\'s multi was freed'
    assert_equal 200, @session.get(url('/hold/1')).status
  end
end
