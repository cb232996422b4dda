# frozen_string_literal: true

require_relative 'test_helper'
require 'stringio'

# Session#parallel: many requests from one thread through one
# reqivo_multi. The held requests go to tests/c/server.py (/hold/MS
# answers after MS milliseconds, a thread per connection, /stats counts
# connections), run in another process so that its threads neither show in
# Thread.list nor compete for this process's GVL; started once, on
# 127.0.0.1, killed after the run. Every wait is bounded.
class ParallelTest < Minitest::Test
  def self.server_port
    HoldServer.port
  end

  def setup
    @port = self.class.server_port or skip 'python3 and tests/c/server.py are needed'
    # Room for every request of a batch in the pool (the default is 10
    # connections per host).
    @session = Reqivo::Session.new(pool: Reqivo::Pool.new(max_per_host: 512, max_total: 512), timeout: 10)
    @session.get(url('/ok')) # the binding's watchdog thread exists from here on
  end

  def teardown
    @session&.close
  end

  def url(path)
    "http://127.0.0.1:#{@port}#{path}"
  end

  def os_threads
    File.read('/proc/self/status')[/^Threads:\s+(\d+)/, 1].to_i
  end

  def open_fds
    Dir.children('/proc/self/fd').size
  end

  # The server's count of accepted connections (/stats opens one more).
  def server_connections
    Reqivo::Session.new(timeout: 5).then do |s|
      s.get(url('/stats')).body[/connections=(\d+)/, 1].to_i
    ensure
      s.close
    end
  end

  def test_200_held_requests_run_at_once_on_the_calling_thread
    # Threads left by earlier tests may end meanwhile, so the check is that
    # no thread appears that was not there before, not that the count holds.
    threads_before = Thread.list
    threads_os = os_threads
    started = []
    seen_threads = []
    seen_os = []
    results = {}
    took = TestSupport.elapsed do
      @session.parallel(max_in_flight: 200) do |batch|
        200.times do |i|
          batch.get(url("/hold/1000?i=#{i}")) do |r|
            results[i] = r
            seen_threads << Thread.list.size
            started.concat(Thread.list - threads_before)
            seen_os << os_threads
            assert_same Thread.main, Thread.current
          end
        end
      end
    end
    assert_equal 200, results.size
    results.each_value do |r|
      assert_instance_of Reqivo::Response, r
      assert_equal [200, 'held'], [r.status, r.body]
    end
    # One after another would take 200 s.
    assert_operator took, :<, 10, "200 requests held 1 s each took #{took.round(2)} s"
    assert_empty started.uniq, 'no Ruby thread was started for the batch'
    assert_empty Thread.list - threads_before
    # IP literals need no resolver thread: the library started none either.
    assert_operator seen_os.max, :<=, threads_os, 'OS threads during the batch'
    warn format('parallel: 200 requests held 1 s each took %.2f s; Ruby threads %d (before %d), OS threads at most %d ' \
                '(before %d)', took, seen_threads.max, threads_before.size, seen_os.max, threads_os)
  end

  def test_500_requests_held_200_ms_take_well_under_a_second
    results = []
    took = TestSupport.elapsed do
      @session.parallel(max_in_flight: 500) do |batch|
        500.times { |i| batch.get(url("/hold/200?i=#{i}")) { |r| results << r } }
      end
    end
    assert_equal 500, results.size
    results.each { |r| assert_equal [200, 'held'], [r.status, r.body] }
    # One after another: 100 s. All at once: 0.2 s and the cost of 500
    # connections; the bound leaves room for a busy machine.
    assert_operator took, :<, 3, "500 requests held 200 ms each took #{took.round(2)} s"
    warn format('parallel: 500 requests held 200 ms each took %.2f s', took)
  end

  def test_a_timeout_a_refusal_and_a_500_in_one_batch
    got = {}
    oks = []
    took = TestSupport.elapsed do
      @session.parallel do |batch|
        batch.get(url('/hold/3000'), timeout: { read: 0.3 }) { |r| got[:slow] = r }
        batch.get("http://127.0.0.1:#{TestSupport.closed_port}/") { |r| got[:refused] = r }
        batch.get(Web.url('/status/500')) { |r| got[:failed] = r }
        5.times { |i| batch.get(url("/hold/100?i=#{i}")) { |r| oks << r } }
      end
    end
    assert_instance_of Reqivo::ReadTimeout, got[:slow]
    assert_instance_of Reqivo::NetworkError, got[:refused]
    assert_equal 'REQIVO_ERR_CONNECT_REFUSED', got[:refused].name
    assert_instance_of Reqivo::Response, got[:failed]
    assert_equal [500, 'status 500'], [got[:failed].status, got[:failed].body]
    assert_equal [[200, 'held']] * 5, oks.map { |r| [r.status, r.body] }
    assert_operator took, :<, 2.5, 'the timeout did not wait for the hold'
    warn format('parallel: a timeout (0.3 s, held 3 s), a refusal, a 500 and 5 successes took %.2f s', took)
  end

  # Pool.new(max_idle_per_host:) reaches the pool: of 8 connections in use
  # at once, 2 stay idle once the batch is done and 6 are closed.
  def test_pool_max_idle_per_host_closes_connections_beyond_it
    pool = Reqivo::Pool.new(max_per_host: Reqivo::Config::NO_LIMIT, max_idle_per_host: 2)
    assert_equal [Reqivo::Config::NO_LIMIT, 2], [pool.max_per_host, pool.max_idle_per_host]
    session = Reqivo::Session.new(pool: pool, timeout: 10)
    bodies = []
    session.parallel(max_in_flight: 8) do |batch|
      8.times { batch.get(url('/hold/200')) { |r| bodies << r.body } }
    end
    assert_equal ['held'] * 8, bodies
    stats = pool.stats
    assert_equal [8, 0, 2, 6], [stats.opened, stats.in_use, stats.idle, stats.closed]
  ensure
    session&.close
  end

  # Without it, as many stay idle as max_per_host allows, as before.
  def test_pool_max_idle_per_host_defaults_to_max_per_host
    pool = Reqivo::Pool.new(max_per_host: 6)
    assert_equal 6, pool.max_idle_per_host
    session = Reqivo::Session.new(pool: pool, timeout: 10)
    session.parallel(max_in_flight: 6) do |batch|
      6.times { batch.get(url('/hold/200')) }
    end
    stats = pool.stats
    assert_equal [6, 6, 0], [stats.opened, stats.idle, stats.closed]
    assert_raises(ArgumentError) { Reqivo::Pool.new(max_idle_per_host: 0) }
    assert_raises(ArgumentError) { Reqivo::Pool.new(max_idle_per_host: -1) }
  ensure
    session&.close
  end

  def test_max_in_flight_caps_the_transfers_in_the_multi
    before = server_connections
    peak = 0
    samples = 0
    done = 0
    sampler = nil
    started = nil
    @session.parallel(max_in_flight: 10) do |batch|
      # Another thread reads reqivo_multi_in_flight all along.
      sampler = Thread.new do
        loop do
          peak = [peak, batch.in_flight].max
          samples += 1
          sleep 0.002
        end
      end
      50.times do
        batch.get(url('/hold/300')) do |r|
          assert_equal 'held', r.body
          peak = [peak, batch.in_flight].max
          done += 1
        end
      end
      started = TestSupport.now # the requests start when this block returns
    end
    took = TestSupport.now - started
    sampler.kill.join(1)
    assert_equal 50, done
    assert_operator samples, :>, 50, 'the sampler ran while the batch waited'
    assert_equal 10, peak, 'transfers in the multi at once'
    # 50 / 10 = 5 waves of 300 ms: the cap held, and the queue kept flowing.
    assert_operator took, :>=, 1.45
    assert_operator took, :<, 5
    # The server saw at most 10 connections for them (kept alive, reused).
    opened = server_connections - before - 1
    assert_operator opened, :<=, 10, 'connections the server accepted for the batch'
  end

  def test_a_refused_connection_is_that_requests_error_object
    got = {}
    @session.parallel do |batch|
      batch.get("http://127.0.0.1:#{TestSupport.closed_port}/") { |r| got[:refused] = r }
      batch.get(url('/ok')) { |r| got[:ok] = r }
    end
    refused = got.fetch(:refused)
    assert_instance_of Reqivo::NetworkError, refused
    assert_equal 'REQIVO_ERR_CONNECT_REFUSED', refused.name
    assert_equal 2000, refused.code_class
    assert_match(/refused/i, refused.message)
    assert_equal 200, got.fetch(:ok).status
  end

  def test_other_threads_run_while_the_batch_waits
    count = 0
    stop = false
    counter = Thread.new { count += 1 until stop }
    sleep 0.01
    c0 = count
    sleep 0.2
    baseline = count - c0 # the counter's rate over 200 ms with the GVL free
    c1 = count
    n = 0
    took = TestSupport.elapsed do
      @session.parallel { |b| 20.times { b.get(url('/hold/500')) { |r| n += 1 if r.status == 200 } } }
    end
    during = count - c1
    stop = true
    counter.join(2)
    assert_equal 20, n
    assert_operator took, :>=, 0.45
    # ~500 ms with the GVL free counts ~2.5x the baseline; a held GVL ~0.
    assert_operator during, :>, baseline, "counter advanced #{during} during the batch vs #{baseline} in 200 ms idle"
  end

  def test_cancel_from_another_thread_ends_queued_and_in_flight_requests
    results = []
    canceller = nil
    cancelled_at = nil
    @session.parallel(max_in_flight: 20) do |batch|
      50.times { batch.get(url('/hold/5000')) { |r| results << r } }
      canceller = Thread.new do
        sleep 0.3
        cancelled_at = TestSupport.now
        batch.cancel
      end
    end
    took = TestSupport.now - cancelled_at
    canceller.join(1)
    assert_operator took, :<, 1, "the batch ended #{took.round(3)} s after the cancel (the server holds 5 s)"
    warn format('parallel: cancel ended 20 requests in flight and 30 queued in %.1f ms', took * 1000)
    assert_equal 50, results.size
    results.each do |r|
      assert_instance_of Reqivo::Cancelled, r
      assert_equal 'REQIVO_ERR_CANCELLED', r.name
    end
    # 20 were stopped by the library, 30 never sent.
    assert_equal 30, results.count { |r| r.message.include?('before this request was sent') }
    assert_equal 0, @session.pool.stats.in_use
    assert_equal 200, @session.get(url('/ok')).status
  end

  def test_cancel_from_a_block_and_requests_queued_after
    results = []
    @session.parallel(max_in_flight: 2) do |batch|
      batch.get(url('/ok')) do |r|
        results << r
        batch.cancel
        batch.get(url('/ok')) { |late| results << late }
      end
      3.times { batch.get(url('/hold/5000')) { |r| results << r } }
      assert_equal 4, batch.queued
    end
    assert_equal 200, results[0].status
    # The hold in flight, the two queued behind it, and the one queued after.
    assert_equal 5, results.size
    results.drop(1).each { |r| assert_kind_of Reqivo::Cancelled, r }
  end

  def test_a_block_may_queue_more_requests
    answered = Hash.new(0)
    visit = nil
    reqs = @session.parallel(max_in_flight: 8) do |batch|
      visit = lambda do |depth|
        batch.get(url("/echo?depth=#{depth}")) do |r|
          assert_equal 200, r.status
          answered[depth] += 1
          3.times { visit.call(depth + 1) } if depth < 4
        end
      end
      [visit.call(0)]
    end
    assert_equal({ 0 => 1, 1 => 3, 2 => 9, 3 => 27, 4 => 81 }, answered)
    # The block's value comes back; a Batch::Request keeps its result.
    assert_equal 1, reqs.size
    assert_predicate reqs[0], :done?
    assert_equal 200, reqs[0].response.status
    assert_includes reqs[0].response.body, 'GET /echo?depth=0 '
    assert_nil reqs[0].error
  end

  def test_an_exception_in_a_block_ends_the_batch_and_propagates
    @session.pool.close_idle
    fds = open_fds
    called = 0
    batch = nil
    took = TestSupport.elapsed do
      err = assert_raises(KeyError) do
        @session.parallel do |b|
          batch = b
          29.times { b.get(url('/hold/5000')) { called += 1 } }
          b.get(url('/ok')) { raise KeyError, 'from the block' }
        end
      end
      assert_equal 'from the block', err.message
    end
    assert_operator took, :<, 2, 'the held requests were not waited for'
    assert_equal 0, called
    assert_equal 0, batch.in_flight
    stats = @session.pool.stats
    assert_equal 0, stats.in_use, 'the transfers in flight were closed with the multi'
    @session.pool.close_idle
    assert_operator open_fds, :<=, fds, 'descriptors left open (the multi, connections)'
    assert_raises(Reqivo::ClosedError) { batch.get(url('/ok')) }
    assert_equal 200, @session.get(url('/ok')).status
  end

  def test_an_exception_in_the_parallel_block_sends_nothing
    before = server_connections
    assert_raises(ArgumentError) do
      @session.parallel do |b|
        b.get(url('/ok')) { flunk 'not sent' }
        raise ArgumentError, 'mine'
      end
    end
    assert_equal before + 1, server_connections # only the /stats request
  end

  def test_timeout_timeout_ends_a_batch
    took = TestSupport.elapsed do
      assert_raises(Timeout::Error) do
        Timeout.timeout(0.3) do
          @session.parallel { |b| 10.times { b.get(url('/hold/5000')) { flunk 'answered' } } }
        end
      end
    end
    assert_operator took, :<, 1.3
    assert_equal 0, @session.pool.stats.in_use
    assert_equal 200, @session.get(url('/ok')).status
  end

  def test_methods_bodies_headers_and_per_request_failures
    got = {}
    @session.parallel do |b|
      b.post(url('/echo'), body: 'x=1', headers: { 'X-A' => 'b' }) { |r| got[:post] = r }
      b.put(url('/echo'), json: { n: 1 }) { |r| got[:put] = r }
      b.request(:delete, url('/echo'), params: { q: 'a b' }) { |r| got[:delete] = r }
      b.get('http://bad host/') { |r| got[:bad] = r }
      b.get(url('/stall'), timeout: { read: 0.2 }) { |r| got[:slow] = r }
    end
    assert_match(/\APOST \/echo HTTP\/1.1\r\n/, got[:post].body)
    assert_match(/^X-A: b\r$/i, got[:post].body)
    assert got[:post].body.end_with?("\r\n\r\nx=1")
    assert_match(/^Content-Type: application\/json\r$/i, got[:put].body)
    assert got[:put].body.end_with?('{"n":1}')
    assert got[:delete].body.start_with?('DELETE /echo?q=a+b ')
    assert_instance_of Reqivo::UsageError, got[:bad]
    assert_instance_of Reqivo::ReadTimeout, got[:slow]
  end

  def test_body_io_progress_and_hooks_run_on_the_batchs_thread
    @session.on_request { |req| req.headers['X-Hook'] = Thread.current.equal?(Thread.main).to_s }
    got = {}
    sent = []
    @session.parallel do |b|
      b.put(url('/echo'), body: StringIO.new('streamed'), progress: ->(s, *) { sent << s }) { |r| got[:io] = r }
      b.get(url('/ok'), progress: ->(*) { raise IOError, 'from progress' }) { |r| got[:progress] = r }
    end
    assert_match(/^X-Hook: true\r$/, got[:io].body)
    assert got[:io].body.end_with?("\r\n\r\nstreamed")
    assert_includes sent, 8
    # What the progress callable raised, in place of the library's
    # "aborted by callback"; the batch went on.
    assert_instance_of IOError, got[:progress]
    assert_equal 'from progress', got[:progress].message

    @session.on_response { |status, *| raise KeyError, 'hook' if status == 200 }
    assert_raises(KeyError) { @session.parallel { |b| 3.times { b.get(url('/ok')) { flunk 'answered' } } } }
  ensure
    @session.clear_hooks
  end

  def test_another_thread_may_queue_while_the_batch_waits
    order = []
    queuer = nil
    @session.parallel do |b|
      b.get(url('/hold/800')) { order << :held }
      queuer = Thread.new do
        sleep 0.1
        b.get(url('/ok')) { order << :ok }
      end
    end
    queuer.join(1)
    # The /ok was added (the waiting poll woken) and answered first.
    assert_equal %i[ok held], order
  end

  def test_arguments_are_checked_when_queued
    @session.parallel do |b|
      assert_raises(ArgumentError) { b.post(url('/echo'), body: 'a', json: 1) }
      assert_raises(ArgumentError) { b.get(url('/ok'), cancel: Reqivo::Cancel.new) }
    end
    assert_raises(ArgumentError) { @session.parallel(max_in_flight: 0) { nil } }
    assert_raises(ArgumentError) { @session.parallel }
  end

  def test_an_empty_batch_returns_the_blocks_value
    assert_equal :nothing, @session.parallel { :nothing }
  end

  def test_the_module_runs_a_batch_on_the_default_session
    reqs = Reqivo.parallel(max_in_flight: 2) { |b| Array.new(3) { b.get(url('/ok')) } }
    assert_equal [200] * 3, reqs.map { |r| r.response.status }
  end
end
