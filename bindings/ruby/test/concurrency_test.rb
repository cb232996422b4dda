# frozen_string_literal: true

require_relative 'test_helper'

# The GVL is released while a request waits, and Timeout.timeout /
# Thread#kill cancel a request inside the library without corrupting the
# session.
class ConcurrencyTest < Minitest::Test
  def setup
    @servers = []
  end

  def teardown
    @servers.each(&:close)
  end

  # A server that reads a request, then says nothing for `secs`, then
  # answers; counts connections.
  def stalling(secs)
    srv = RawServer.new do |s|
      while TestSupport.read_request(s)
        sleep secs
        s.write("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlate")
      end
    end
    @servers << srv
    srv
  end

  # Counter increments by a busy Ruby thread while the block runs.
  def count_during
    count = 0
    stop = false
    counter = Thread.new { count += 1 until stop }
    sleep 0.01
    start = count
    yield
    progressed = count - start
    stop = true
    counter.join(2)
    progressed
  end

  def test_other_threads_run_during_a_500ms_stall
    s = Reqivo::Session.new(timeout: 5)
    baseline = count_during { sleep 0.2 } # the counter's rate with the GVL free
    r = nil
    during = count_during { r = s.get(Web.url('/stall?ms=500')) }
    assert_equal 'done', r.body
    # 500 ms of free GVL is ~2.5x the baseline; a held GVL gives ~0.
    assert_operator during, :>, baseline, "counter advanced #{during} during the stall vs #{baseline} in 200 ms idle"
  ensure
    s&.close
  end

  def test_eight_threads_of_200ms_overlap
    s = Reqivo::Session.new(timeout: 5)
    took = TestSupport.elapsed do
      8.times.map { Thread.new { s.get(Web.url('/stall?ms=200')) } }.each do |t|
        assert_equal 'done', t.value.body
      end
    end
    assert_operator took, :<, 0.8, "8 x 200 ms took #{took.round(3)} s (serial would be 1.6 s)"
  ensure
    s&.close
  end

  def test_eight_threads_on_a_stream_each
    s = Reqivo::Session.new(timeout: 5)
    took = TestSupport.elapsed do
      8.times.map do
        Thread.new do
          out = +''
          s.stream(:get, Web.url('/stall?ms=200')) { |c| out << c }
          out
        end
      end.each { |t| assert_equal 'done', t.value }
    end
    assert_operator took, :<, 0.8
  ensure
    s&.close
  end

  def test_timeout_timeout_cancels_a_stalled_request_and_the_session_works_after
    srv = stalling(5)
    s = Reqivo::Session.new(timeout: { read: 10 })
    took = TestSupport.elapsed do
      assert_raises(Timeout::Error) { Timeout.timeout(0.2) { s.get(srv.url('/stall')) } }
    end
    assert_operator took, :<, 0.6, "cancelled after #{took.round(3)} s"
    # The stalled connection was closed, not left in the pool half-read.
    stats = s.pool.stats
    assert_equal 0, stats.in_use
    assert_equal 0, stats.idle
    assert_equal 'hello', s.get(Web.url('/hello')).body
    # Same server again: a fresh connection, and a clean exchange on it.
    fast = RawServer.fixed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    @servers << fast
    assert_equal 'ok', s.get(fast.url).body
    assert_predicate s.get(fast.url), :reused?
  ensure
    s&.close
  end

  def test_the_same_connection_is_not_reused_after_a_cancel
    lock = Mutex.new
    n = 0
    srv = RawServer.new do |sock|
      while TestSupport.read_request(sock)
        first = lock.synchronize { (n += 1) == 1 }
        sleep 2 if first # only the very first request stalls
        sock.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
      end
    end
    @servers << srv
    s = Reqivo::Session.new(timeout: { read: 10 })
    assert_raises(Timeout::Error) { Timeout.timeout(0.2) { s.get(srv.url) } }
    took = TestSupport.elapsed do
      r = s.get(srv.url)
      assert_equal 'ok', r.body
      refute_predicate r, :reused?
    end
    assert_operator took, :<, 1, 'answered on a fresh connection, not after the stalled one'
    assert_equal 2, srv.accepted
  ensure
    s&.close
  end

  def test_thread_kill_cancels_the_request
    srv = stalling(5)
    s = Reqivo::Session.new(timeout: { read: 10 })
    t = Thread.new { s.get(srv.url) }
    sleep 0.2
    took = TestSupport.elapsed do
      t.kill
      assert t.join(1), 'the killed thread ended'
    end
    assert_operator took, :<, 0.5
    assert_equal 0, s.pool.stats.in_use
    assert_equal 'hello', s.get(Web.url('/hello')).body
  ensure
    s&.close
  end

  def test_thread_raise_cancels_and_propagates_the_exception
    srv = stalling(5)
    s = Reqivo::Session.new(timeout: { read: 10 })
    custom = Class.new(StandardError)
    t = Thread.new { s.get(srv.url) }
    t.report_on_exception = false
    sleep 0.2
    t.raise(custom, 'stop')
    assert_raises(custom) { t.join(1) }
    assert_equal 'hello', s.get(Web.url('/hello')).body
  ensure
    s&.close
  end

  def test_timeout_during_a_stream_read
    srv = RawServer.new do |sock|
      TestSupport.read_request(sock)
      sock.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nfirst")
      sleep 5
    end
    @servers << srv
    s = Reqivo::Session.new(timeout: { read: 10 })
    got = +''
    took = TestSupport.elapsed do
      assert_raises(Timeout::Error) do
        Timeout.timeout(0.3) { s.stream(:get, srv.url) { |c| got << c } }
      end
    end
    assert_equal 'first', got
    assert_operator took, :<, 0.8
    assert_equal 0, s.pool.stats.in_use
    assert_equal 'hello', s.get(Web.url('/hello')).body
  ensure
    s&.close
  end

  def test_no_call_stays_registered_and_the_watchdog_is_one_thread
    s = Reqivo::Session.new
    srv = RawServer.fixed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    @servers << srv
    before = Thread.list.size
    4.times.map { Thread.new { 50.times { s.get(srv.url) } } }.each(&:join)
    assert_equal 0, Reqivo::Blocking.in_flight
    assert_equal 'reqivo-watchdog', Reqivo::Blocking.watchdog.name
    assert_equal 1, Thread.list.count { |t| t.name.to_s.start_with?('reqivo') }
    assert_operator Thread.list.size - before, :<=, 4, 'no thread per request (4 are the server side of 4 connections)'
  ensure
    s&.close
  end

  def test_a_deferred_interrupt_still_cancels
    # Inside handle_interrupt(:never) the caller asked to be left alone; the
    # request is still cancelled (Reqivo::Cancelled), and the interrupt
    # comes once the caller's block ends.
    srv = stalling(5)
    s = Reqivo::Session.new(timeout: { read: 10 })
    custom = Class.new(StandardError)
    result = Queue.new
    t = Thread.new do
      Thread.handle_interrupt(Object => :never) do
        s.get(srv.url)
      rescue Reqivo::Cancelled => e
        result << e
      end
    rescue custom => e
      result << e
    end
    sleep 0.2
    t.raise(custom)
    assert t.join(2)
    assert_instance_of Reqivo::Cancelled, result.pop
    assert_instance_of custom, result.pop
  ensure
    s&.close
  end

  # A forked child neither uses the parent's cancel tokens (their file
  # descriptors are shared with the parent) nor counts on its watchdog,
  # though the binding asks for the pid only when its watchdog is missing.
  def test_a_forked_child_starts_afresh
    skip 'no fork here' unless Process.respond_to?(:fork)
    srv = RawServer.fixed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    @servers << srv
    s = Reqivo::Session.new
    s.get(srv.url)
    parent_tokens = Reqivo::Cancel::Recycler.instance_variable_get(:@free).map(&:object_id)
    refute_empty parent_tokens
    parent_watchdog = Reqivo::Blocking.watchdog
    rd, wr = IO.pipe
    pid = fork do
      rd.close
      got = Reqivo::Session.new.get(srv.url).body
      wr.write([got, parent_tokens.include?(Reqivo::Cancel::Recycler.checkout.object_id),
                Reqivo::Blocking.watchdog.equal?(parent_watchdog), Reqivo::Blocking.watching?,
                Reqivo::Blocking.in_flight].inspect)
      wr.close
      exit!(0)
    end
    wr.close
    Process.wait(pid)
    assert_equal '["ok", false, false, true, 0]', rd.read
    assert_equal 'ok', s.get(srv.url).body
  ensure
    s&.close
  end

  def test_close_while_a_request_is_in_flight_defers_the_free
    srv = stalling(0.3)
    s = Reqivo::Session.new(timeout: 5)
    t = Thread.new { s.get(srv.url) }
    sleep 0.1
    s.close
    assert_equal 'late', t.value.body
    assert_raises(Reqivo::ClosedError) { s.get(srv.url) }
  end

  # Threads queued behind a full pool sleep while they wait: 200 of them
  # waiting 2 s cost the process next to no CPU. (Every call carries a
  # cancel token so that Timeout and Thread#kill can stop it; the library
  # used to wake each such waiter every 10 ms to look at its token.)
  def test_threads_waiting_for_a_pool_slot_cost_no_cpu
    srv = stalling(30)
    session = Reqivo::Session.new(pool: Reqivo::Pool.new(max_per_host: 1))
    get = lambda do |path|
      Thread.new do
        session.get(srv.url(path))
      rescue Reqivo::Error => e
        e
      end
    end
    holder = get.call('/hold')
    waiters = Array.new(200) { get.call('/wait') }
    deadline = Time.now + 10
    sleep 0.01 until session.pool.stats.waiting == 200 || Time.now > deadline
    assert_equal 200, session.pool.stats.waiting
    before = Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID)
    sleep 2
    spent = Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID) - before
    warn format('200 threads waiting 2 s on the pool used %.3f s of CPU', spent)
    assert_operator spent, :<, 0.1
  ensure
    (waiters || []).each(&:kill).each { |t| t.join(5) }
    holder&.kill&.join(5)
  end
end
