# frozen_string_literal: true

require_relative 'test_helper'
require 'reqivo/faraday'

begin
  require 'async'
rescue LoadError
  nil # the scheduler tests skip
end

# Faraday's parallel mode on the reqivo adapter: conn.in_parallel queues the
# block's requests on a Faraday::Adapter::Reqivo::ParallelManager, which
# sends them when the block ends as one Session#parallel batch on the
# calling thread (or, under a fiber scheduler, as fibers on the scheduler's
# multi). Held requests go to tests/c/server.py in another process
# (HoldServer: /hold/MS answers "held" after MS milliseconds), so its
# threads do not show in this process's counts; the 500s come from the
# WEBrick server. Every wait is bounded: the adapter's session has a 10 s
# timeout, the Async runs a with_timeout, the whole file test.sh's limit.
class FaradayParallelTest < Minitest::Test
  def setup
    @port = HoldServer.port or skip 'python3 and tests/c/server.py are needed'
  end

  def teardown
    @conns&.each(&:close) # the adapters' sessions
  end

  def hold_url(path = '/')
    "http://127.0.0.1:#{@port}#{path}"
  end

  # A Faraday connection to the hold server on the reqivo adapter; its
  # session gets `pool` (room for every request of a run by default).
  def conn(pool: Reqivo::Pool.new(max_per_host: 512, max_total: 512), **adapter_opts, &block)
    c = Faraday.new(url: hold_url) do |f|
      block&.call(f)
      f.adapter :reqivo, pool: pool, timeout: 10, **adapter_opts
    end
    (@conns ||= []) << c
    c
  end

  def os_threads
    File.read('/proc/self/status')[/^Threads:\s+(\d+)/, 1].to_i
  end

  def test_the_adapter_supports_parallel_requests
    assert_predicate Faraday::Adapter::Reqivo, :supports_parallel?
    m = Faraday::Adapter::Reqivo.setup_parallel_manager
    assert_instance_of Faraday::Adapter::Reqivo::ParallelManager, m
    assert_respond_to m, :run
    assert_nil m.max_in_flight
    assert_equal 7, Faraday::Adapter::Reqivo.setup_parallel_manager(max_in_flight: 7).max_in_flight
    assert_raises(ArgumentError) { Faraday::Adapter::Reqivo.setup_parallel_manager(max_in_flight: 0) }
  end

  def test_500_held_requests_run_at_once_on_the_calling_thread
    c = conn
    assert_equal 200, c.get('/ok').status # the session and the binding's watchdog thread exist from here on
    # Threads left by earlier tests may end meanwhile, so the check is that
    # no thread appears that was not there before, not that the count holds.
    threads_before = Thread.list
    os_before = os_threads
    started = []
    seen_os = []
    threads_seen = []
    responses = nil
    took = TestSupport.elapsed do
      c.in_parallel do
        responses = Array.new(500) do |i|
          c.get("/hold/200?i=#{i}").on_complete do
            started.concat(Thread.list - threads_before)
            seen_os << os_threads
            threads_seen << Thread.current
          end
        end
        assert c.in_parallel?
        assert responses.none?(&:finished?), 'nothing is sent before the block ends'
      end
    end
    assert_equal 500, responses.size
    responses.each do |r|
      assert_predicate r, :finished?
      assert_equal [200, 'held', '4'], [r.status, r.body, r.headers['content-length']]
      assert_nil r.env[:reqivo_error]
    end
    # One after another would take 500 x 0.2 s = 100 s.
    assert_operator took, :<, 5, "500 requests held 200 ms each took #{took.round(2)} s"
    assert_equal [Thread.current], threads_seen.uniq, 'every response finished on the calling thread'
    assert_empty started.uniq, 'no Ruby thread was started for the run'
    assert_empty Thread.list - threads_before
    assert_operator seen_os.max, :<=, os_before + 2, 'OS threads during the run'
    warn format('faraday in_parallel: 500 requests held 200 ms each took %.2f s; no Ruby thread started, ' \
                'OS threads at most %d (before %d)', took, seen_os.max, os_before)
  end

  def test_a_timeout_a_refusal_and_a_500_in_one_run_each_get_their_own_outcome
    c = conn
    closed = TestSupport.closed_port
    slow = refused = failed = nil
    oks = nil
    took = TestSupport.elapsed do
      c.in_parallel do
        slow = c.get('/hold/3000') { |req| req.options.timeout = 0.3 } # shorter than the hold
        refused = c.get("http://127.0.0.1:#{closed}/")
        failed = c.get(Web.url('/status/500'))
        oks = Array.new(5) { |i| c.get("/hold/100?i=#{i}") }
      end
    end
    assert_operator took, :<, 2.5, 'the timeout did not wait for the hold'

    # A failed request: status 0, empty body, no headers, and what the
    # sequential adapter would raise in env[:reqivo_error].
    assert_equal [0, '', {}], [slow.status, slow.body, slow.headers.to_h]
    assert_instance_of Faraday::TimeoutError, slow.env[:reqivo_error]
    assert_kind_of Reqivo::ReadTimeout, slow.env[:reqivo_error].wrapped_exception
    assert_equal 0, refused.status
    assert_instance_of Faraday::ConnectionFailed, refused.env[:reqivo_error]
    assert_equal 'REQIVO_ERR_CONNECT_REFUSED', refused.env[:reqivo_error].wrapped_exception.name
    # A 500 is a response like any other.
    assert_equal [500, 'status 500'], [failed.status, failed.body]
    assert_nil failed.env[:reqivo_error]
    oks.each { |r| assert_equal [200, 'held'], [r.status, r.body] }

    # The same classes the sequential adapter raises for the same requests.
    e = assert_raises(Faraday::TimeoutError) { c.get('/hold/3000') { |req| req.options.timeout = 0.3 } }
    assert_equal slow.env[:reqivo_error].wrapped_exception.class, e.wrapped_exception.class
    e = assert_raises(Faraday::ConnectionFailed) { c.get("http://127.0.0.1:#{closed}/") }
    assert_equal refused.env[:reqivo_error].wrapped_exception.name, e.wrapped_exception.name
    warn format('faraday in_parallel: a timeout (0.3 s, held 3 s), a refusal, a 500 and 5 successes took %.2f s', took)
  end

  def test_response_middleware_runs_when_each_response_finishes
    c = conn { |f| f.response :raise_error }
    oks = nil
    c.in_parallel { oks = Array.new(3) { c.get('/ok') } }
    assert_equal [200] * 3, oks.map(&:status)

    # raise_error raises from in_parallel, as with Typhoeus; the run ends.
    assert_raises(Faraday::ResourceNotFound) do
      c.in_parallel do
        c.get('/hold/2000')
        c.get(Web.url('/status/404'))
      end
    end
    refute_predicate c, :in_parallel?
    assert_equal 200, c.get('/ok').status
  end

  def test_the_manager_caps_requests_in_flight
    # Default: the session pool's max_per_host (10 here), so no request
    # waits for a connection under the pool timeout.
    c = conn(pool: Reqivo::Pool.new(max_per_host: 10))
    rs = nil
    took = TestSupport.elapsed { c.in_parallel { rs = Array.new(30) { c.get('/hold/300') } } }
    assert_equal [200] * 30, rs.map(&:status)
    assert_operator took, :>=, 0.85, 'three waves of ten'
    assert_operator took, :<, 5

    # An explicit manager: in_parallel(manager).
    m = Faraday::Adapter::Reqivo.setup_parallel_manager(max_in_flight: 5)
    c = conn
    took = TestSupport.elapsed { c.in_parallel(m) { rs = Array.new(20) { c.get('/hold/200') } } }
    assert_equal [200] * 20, rs.map(&:status)
    assert_operator took, :>=, 0.75, 'four waves of five'
    assert_operator took, :<, 5
    assert_equal 0, m.queued
  end

  def test_a_request_made_by_a_completion_joins_the_run
    c = conn
    more = []
    c.in_parallel do
      3.times do
        c.get('/ok').on_complete { more << c.get('/hold/100') }
      end
    end
    assert_equal 3, more.size
    more.each { |r| assert_equal [200, 'held'], [r.status, r.body] }
  end

  def test_on_data_gets_the_body_in_one_piece
    c = conn
    chunks = []
    r = nil
    c.in_parallel do
      r = c.get(Web.url('/big?n=300000')) { |req| req.options.on_data = proc { |chunk, total| chunks << [chunk, total] } }
    end
    assert_equal 200, r.status
    assert_equal [[Web.pattern(300_000), 300_000]], chunks
  end

  def test_bodies_headers_and_methods
    c = conn
    post = put = head = nil
    c.in_parallel do
      post = c.post('/echo', 'a=1', 'X-A' => 'b')
      put = c.put('/echo', 'x')
      head = c.head('/ok')
    end
    assert_match(%r{\APOST /echo HTTP/1.1\r\n}, post.body)
    assert_match(/^X-A: b\r$/i, post.body)
    assert post.body.end_with?("\r\n\r\na=1")
    assert put.body.start_with?('PUT /echo ')
    assert_equal [200, ''], [head.status, head.body.to_s]
  end

  # Faraday 2's in_parallel calls the manager's #execute with its block
  # when it has one; Faraday 1 yields and calls #run.
  def test_execute_and_a_raising_block
    c = conn
    m = Faraday::Adapter::Reqivo.setup_parallel_manager
    rs = nil
    c.instance_variable_set(:@parallel_manager, m) # what Faraday 2's in_parallel does first
    begin
      m.execute { rs = Array.new(3) { c.get('/hold/100') } }
    ensure
      c.instance_variable_set(:@parallel_manager, nil)
    end
    assert_equal [200] * 3, rs.map(&:status)

    # A block that raises: its requests are never sent, not even by the
    # manager's next run.
    c.instance_variable_set(:@parallel_manager, m)
    begin
      assert_raises(KeyError) do
        m.execute do
          c.get('/echo?stale')
          raise KeyError, 'mine'
        end
      end
    ensure
      c.instance_variable_set(:@parallel_manager, nil)
    end
    assert_equal 0, m.queued
  end

  def test_timeout_timeout_ends_a_run
    c = conn
    rs = nil
    took = TestSupport.elapsed do
      assert_raises(Timeout::Error) do
        Timeout.timeout(0.3) { c.in_parallel { rs = Array.new(10) { c.get('/hold/5000') } } }
      end
    end
    assert_operator took, :<, 1.3, 'the held requests were cancelled, not waited for'
    assert rs.none?(&:finished?)
    refute_predicate c, :in_parallel?
    assert_equal 200, c.get('/ok').status
  end

  def test_a_manager_of_another_kind_is_refused
    other = Object.new
    def other.run; end
    c = conn
    c.in_parallel(other) { assert_raises(ArgumentError) { c.get('/ok') } }
  end

  def test_a_connection_without_parallel_mode_is_unchanged
    c = conn
    r = c.get('/ok')
    assert_predicate r, :finished?
    assert_equal 200, r.status
    assert_raises(Faraday::ConnectionFailed) { c.get("http://127.0.0.1:#{TestSupport.closed_port}/") }
  end

  # Runs the block as an Async task, bounded; raises what the block raised.
  def run_async(limit = 30, &block)
    skip 'the async gem is not installed (Debian: ruby-async)' unless defined?(Async::Task)
    Async { |task| task.with_timeout(limit) { block.call(task) } }.wait
  end

  def test_under_a_fiber_scheduler_requests_are_fibers_and_other_fibers_run
    c = conn
    run_async do |task|
      c.get('/ok')
      threads_before = Thread.list
      ticks = 0
      ticker = task.async do
        loop do
          sleep 0.01
          ticks += 1
        end
      end
      rs = nil
      took = TestSupport.elapsed { c.in_parallel { rs = Array.new(200) { |i| c.get("/hold/200?i=#{i}") } } }
      ticker.stop
      assert_equal [[200, 'held']] * 200, rs.map { |r| [r.status, r.body] }
      assert_operator took, :<, 5
      assert_operator ticks, :>=, 5, 'other fibers ran while the requests waited'
      assert_empty Thread.list - threads_before
      warn format('faraday in_parallel under Async: 200 requests held 200 ms each took %.2f s, %d ticks of 10 ms',
                  took, ticks)
    end
  end

  def test_under_a_fiber_scheduler_failures_are_per_request
    c = conn
    run_async do
      slow = refused = failed = ok = nil
      c.in_parallel do
        slow = c.get('/hold/3000') { |req| req.options.timeout = 0.3 }
        refused = c.get("http://127.0.0.1:#{TestSupport.closed_port}/")
        failed = c.get(Web.url('/status/500'))
        ok = c.get('/hold/100')
      end
      assert_instance_of Faraday::TimeoutError, slow.env[:reqivo_error]
      assert_equal 0, slow.status
      assert_instance_of Faraday::ConnectionFailed, refused.env[:reqivo_error]
      assert_equal 500, failed.status
      assert_equal [200, 'held'], [ok.status, ok.body]
    end
  end

  def test_under_a_fiber_scheduler_a_stopped_run_cancels_its_requests
    c = conn
    run_async do |task|
      rs = nil
      took = TestSupport.elapsed do
        assert_raises(Async::TimeoutError) do
          task.with_timeout(0.3) { c.in_parallel { rs = Array.new(10) { c.get('/hold/5000') } } }
        end
      end
      assert_operator took, :<, 1.3
      sleep 0.1 # the request fibers see the cancel and end
      assert rs.none?(&:finished?), 'nothing is finished after the run was stopped'
      assert_equal 200, c.get('/ok').status
    end
  end

  def test_under_a_fiber_scheduler_a_raising_completion_stops_the_others
    c = conn { |f| f.response :raise_error }
    run_async do
      took = TestSupport.elapsed do
        assert_raises(Faraday::ResourceNotFound) do
          c.in_parallel do
            3.times { c.get('/hold/3000') }
            c.get(Web.url('/status/404'))
          end
        end
      end
      assert_operator took, :<, 2, 'the held requests were cancelled, not waited for'
      assert_equal 200, c.get('/ok').status
    end
  end
end
