# frozen_string_literal: true

require 'io/wait'
require_relative 'cancel'
require_relative 'hooks'
require_relative 'multi'
require_relative 'stream'

module Reqivo
  # Session#request (#get, #post, ...), #stream and #websocket under a
  # fiber scheduler: when Fiber.scheduler is set and the calling fiber is
  # non-blocking (inside `Async do ... end`, for instance), a call does not
  # block its thread; other fibers run while it waits.
  #
  # HTTP goes through one reqivo_multi per scheduler, kept in a thread
  # variable of the scheduler's thread (a new scheduler on that thread gets
  # a new multi; the old one is freed once its last transfer ends, and a
  # multi left behind is freed with its thread). A call adds its transfer
  # (user_data is a number, the key of @transfers) and waits for it:
  #
  # - Whichever waiting fiber finds nobody driving the multi drives it: it
  #   waits for the multi's descriptor with IO#wait_readable, which goes
  #   to the scheduler's io_wait, bounded by reqivo_multi_timeout_ms; then
  #   runs reqivo_multi_perform (which never waits), takes finished
  #   transfers with reqivo_multi_next and wakes the fibers they belong to.
  # - The other fibers wait on a Thread::Queue each (Queue#pop blocks only
  #   the fiber: the scheduler hears of it through block/unblock).
  # - When the driver's own transfer is answered, or the driver is
  #   interrupted, it wakes a fiber still waiting, which drives next.
  #
  # Nothing polls on a timer: only the descriptor (an add, a resume, a
  # cancel, socket activity) and the multi's own deadlines wake the driver.
  # A fiber interrupted while it waits (Async's Task#stop, a timeout of the
  # scheduler's) triggers its transfer's cancel token, as Reqivo::Blocking
  # does for an interrupted thread, and the transfer leaves the multi at
  # once. The multi applies the session's timeouts, redirects, cookies and
  # hooks as the blocking send does; a result becomes the same Response or
  # exception (Reqivo::Multi.result). Hooks, a body IO and progress
  # callables run on whichever fiber drives at the time, inside
  # reqivo_multi_perform: they should not wait.
  #
  # A WebSocket dial is a transfer of the multi (reqivo_multi_add_ws); a
  # receive waits on the connection's own descriptor (WebSocket::FiberWait);
  # the connection's other calls (sends, close) run on a helper thread
  # that the fiber waits for (.offload).
  class FiberMulti
    # reqivo_data_callback's answers; any but the header's two ends the
    # transfer (REQIVO_ERR_ABORTED_BY_CALLBACK).
    DATA_CONTINUE = Native::REQIVO_DATA_CONTINUE
    DATA_PAUSE = Native::REQIVO_DATA_PAUSE
    DATA_ABORT = -1
    ABORTED = CODES_BY_NAME.fetch('REQIVO_ERR_ABORTED_BY_CALLBACK').code
    # A streamed body waiting for its reader pauses its transfer at
    # HIGH_WATER bytes, and the reader resumes it below LOW_WATER.
    HIGH_WATER = 256 * 1024
    LOW_WATER = 64 * 1024
    # The thread variable holding the thread's FiberMulti.
    VAR = :reqivo_fiber_multi

    # One transfer in the multi, and the fiber waiting for it.
    class Transfer
      attr_reader :hooks, :keep, :own_token, :chunks
      attr_accessor :id, :stream_id, :token, :result, :finished, :abandoned, :hook_error, :callback_error,
                    :queue, :woken, :want, :head, :paused, :buffered

      def initialize(hooks, keep, cancel, streamed)
        @hooks = hooks
        @keep = keep
        @own_token = cancel.nil?
        @token = cancel || Cancel::Recycler.checkout
        @finished = false
        @abandoned = false
        @woken = false
        # What the waiting fiber waits for: :result, or for a stream :head
        # and then each :chunk.
        @want = streamed ? :head : :result
        @chunks = streamed ? [] : nil
        @buffered = 0
        @paused = false
      end

      def ready?
        return true if @finished

        case @want
        when :head then !@head.nil?
        when :chunk then !@chunks.empty?
        else false
        end
      end

      # What the call raises rather than its result, in the blocking path's
      # order: a callback's exception, a hook's, then the library's error.
      def failure
        @callback_error || @keep&.error || @hook_error || (@result if @result.is_a?(Exception))
      end
    end

    # A streamed response read under the scheduler (from Session#stream):
    # the body comes from the multi's data callback through a buffer that
    # pauses the transfer while it holds HIGH_WATER bytes. Same interface
    # as Reqivo::Stream; read it on the fiber scheduler's thread.
    class Stream < Reqivo::Stream
      def initialize(multi, transfer) # rubocop:disable Lint/MissingSuper -- no reqivo_stream behind it
        @multi = multi
        @transfer = transfer
        @response = transfer.head
        @eof = false
        @broken = nil
        @closed = false
      end

      def read_chunk
        raise @broken if @broken
        return nil if @eof
        raise(@broken = ClosedError.new('stream is closed')) if @closed

        begin
          got = @multi.next_chunk(@transfer)
        rescue Exception => e # rubocop:disable Lint/RescueException -- re-raised
          @broken = Cancelled.new("stream read was interrupted by #{e.class}")
          raise
        end
        raise(@broken = got) if got.is_a?(Exception)

        @eof = true if got.nil?
        got
      end

      def trailers
        @eof ? @transfer.result.trailers : nil
      end

      # Ends the transfer if it is still running and drops what is
      # buffered. Idempotent.
      def close
        return nil if @closed

        @closed = true
        @multi.abandon(@transfer, false)
        nil
      end

      def closed?
        @closed
      end
    end

    class << self
      # Whether the calling fiber runs under a fiber scheduler.
      def scheduled?
        !Fiber.scheduler.nil? && Fiber.blocking? == false
      end

      # The FiberMulti of this thread's scheduler, made on first use; nil
      # when the calling fiber does not run under a scheduler.
      def current
        scheduler = Fiber.scheduler
        return nil if scheduler.nil? || Fiber.blocking? != false

        th = Thread.current
        fm = th.thread_variable_get(VAR)
        return fm if fm&.serves?(scheduler)

        # A forked child's copy is the parent's: left alone, never freed.
        fm.retire if fm && fm.pid == Process.pid
        fm = new(scheduler)
        th.thread_variable_set(VAR, fm)
        fm
      end

      # Waits under the scheduler until `io` turns readable, at most `ms`
      # milliseconds (-1: no limit); true when it did. async 1.x's io_wait
      # rescues Async::TimeoutError, so the timeout of an enclosing
      # Task#with_timeout that fires during this wait comes back as "timed
      # out"; such an answer before `ms` is raised again, unless `woken`
      # (a callable) says the fiber was woken on purpose (Scheduler#unblock).
      def wait_readable(io, ms, woken = nil)
        limit = ms.negative? ? nil : ms / 1000.0
        t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        return true if io.wait_readable(limit)
        return false unless limit.nil? || Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0 < limit - 0.001
        return false unless defined?(::Async::Scheduler) && Fiber.scheduler.is_a?(::Async::Scheduler)
        return false if woken&.call

        raise ::Async::TimeoutError, 'execution expired'
      end

      # Runs the block on a helper thread (a blocking call: the thread has
      # no scheduler) and returns its value; the calling fiber waits with
      # Thread#value, which yields to the scheduler. A fiber interrupted
      # while it waits kills the helper, whose blocking call stops as a
      # Timeout stops one (Reqivo::Blocking) and whose ensure clauses
      # release what it holds.
      def offload
        helper = Thread.new do
          Thread.current.report_on_exception = false
          yield
        end
        begin
          helper.value
        ensure
          helper.kill if helper.alive?
        end
      end
    end

    attr_reader :pid

    def initialize(scheduler)
      @scheduler_id = scheduler.object_id # never reused, unlike an address
      @pid = Process.pid
      @thread = Thread.current
      @multi = FFI::AutoPointer.new(Multi.new_pointer, Native::FREE[:multi])
      @io = IO.for_fd(Native.reqivo_multi_fd(@multi), autoclose: false)
      @done = Native::MultiDone.new
      @transfers = {}
      @next_id = 0
      @leader = nil # the Transfer whose fiber drives the multi now
      @performing = false
      @backlog = false # finished transfers left for the next round
      @added = 0 # transfers added since the last perform
      @waiting = {} # Transfer => true: fibers waiting on their queue, in order
      @unclaimed = nil # SessionHooks => [exception]: log-block failures for a later answer
      @retired = false
      @freed = false
      @on_data = FFI::Function.new(:int32, %i[pointer pointer pointer size_t]) do |ud, head, data, len|
        on_data(ud.address, head, data, len)
      end
    end

    def serves?(scheduler)
      !@retired && @scheduler_id == scheduler.object_id && @pid == Process.pid
    end

    # Transfers in the multi now (reqivo_multi_in_flight).
    def in_flight
      @freed ? 0 : Native.reqivo_multi_in_flight(@multi)
    end

    # Requests whose fiber waits or whose stream is open.
    def pending
      @transfers.size
    end

    def inspect
      "#<Reqivo::FiberMulti transfers=#{@transfers.size} waiting=#{@waiting.size}#{' retired' if @retired}>"
    end

    # Sends `req` (Session#native_request's) through the session pointer
    # `s` and returns the Response, or raises what Session#request would.
    def request(s, req, cancel, hooks)
      t = Transfer.new(hooks, req.keep, cancel, false)
      add(t) { |ud, c, err| req.use { |r| Native.reqivo_multi_add(@multi, s, r, c, ud, err) } }
      wait(t)
      failure = t.failure
      raise failure if failure

      t.result
    end

    # Sends `req` with its body streamed and returns a FiberMulti::Stream
    # once the head is in, or raises what Session#stream would.
    def open_stream(s, req, cancel, hooks)
      t = Transfer.new(hooks, req.keep, cancel, true)
      stream_id = FFI::MemoryPointer.new(:uint64)
      add(t) do |ud, c, err|
        req.use { |r| Native.reqivo_multi_add_streamed(@multi, s, r, c, @on_data, ud, stream_id, err) }
      end
      t.stream_id = stream_id.read(:uint64)
      wait(t)
      failure = t.keep&.error || t.hook_error || (t.failure if t.head.nil?)
      if failure
        abandon(t, false)
        raise failure
      end
      Stream.new(self, t)
    end

    # Dials a WebSocket (Session#open_websocket's) through the multi:
    # returns the reqivo_ws pointer, or raises what the blocking dial
    # would (a refusal with its response).
    def websocket(s, url, options, cancel, hooks)
      t = Transfer.new(hooks, nil, cancel, false)
      curl = FFI::MemoryPointer.from_string(url)
      add(t) { |ud, c, err| Native.reqivo_multi_add_ws(@multi, s, curl, url.bytesize, options, c, ud, err) }
      wait(t)
      failure = t.failure
      raise failure if failure

      ptr = t.result.ptr
      ptr.autorelease = false
      FFI::Pointer.new(ptr.address)
    end

    # The next piece of a streamed body (at most Stream::CHUNK bytes), nil
    # at its end, or the failure as an exception object (not raised).
    def next_chunk(t)
      t.want = :chunk
      wait(t)
      return take_chunk(t) unless t.chunks.empty?

      t.failure
    end

    # Stops and forgets a transfer whose fiber was interrupted
    # (`interrupted`) or whose stream was closed. An interrupt triggers the
    # transfer's token, the caller's too (as Reqivo::Blocking does); a
    # close triggers only a token of our own, and a transfer on the
    # caller's token ends at its next piece of body instead. When nobody
    # drives the multi, a perform takes the transfer out at once.
    def abandon(t, interrupted)
      return if t.finished || t.abandoned

      t.abandoned = true
      t.chunks&.clear
      t.buffered = 0
      tok = t.token
      if tok && (interrupted || t.own_token)
        begin
          tok.cancel
        rescue ClosedError
          nil # the caller closed its own token meanwhile
        end
      end
      Native.reqivo_multi_resume(@multi, t.stream_id, nil) if t.stream_id && !@freed
      return if @freed || @leader || @performing || !Thread.current.equal?(@thread)

      perform
      hand_over
    end

    # The thread's scheduler was replaced: free the multi once nothing uses
    # it any more.
    def retire
      @retired = true
      free if @transfers.empty? && @leader.nil? && !@performing
    end

    private

    # Adds transfer `t`: the block makes the C call with the user_data
    # pointer, the token's pointer and the error struct, and returns its
    # code. Raises the library's error.
    def add(t)
      raise ThreadError, 'a FiberMulti is used on the thread of its scheduler only' unless Thread.current.equal?(@thread)

      id = (@next_id += 1)
      err = Native.error_struct
      code = Thread.handle_interrupt(Object => :never) do
        ud = FFI::Pointer.new(id)
        c = if t.own_token
              yield(ud, t.token.owned_pointer, err)
            else
              t.token.use { |tp| yield(ud, tp, err) }
            end
        if c.zero?
          t.id = id
          @transfers[id] = t
          @added += 1
        end
        c
      end
      return if code.zero?

      error = Error.from_native(err)
      release_token(t)
      raise error
    end

    # Waits until `t` is ready; an interrupt abandons it and propagates.
    def wait(t)
      await(t)
    rescue Exception # rubocop:disable Lint/RescueException -- re-raised
      abandon(t, true)
      raise
    end

    def await(t)
      until t.ready?
        if @leader.nil? && !@performing
          drive(t)
        else
          sleep_on(t)
        end
      end
    ensure
      hand_over
    end

    # Drives the multi until `t` is ready.
    def drive(t)
      @leader = t
      until t.ready?
        if @backlog
          # Finished transfers are still waiting to be taken: let the
          # fibers woken so far, and every other, run first.
          Kernel.sleep(0)
        else
          ms = Native.reqivo_multi_timeout_ms(@multi)
          wait_readable(ms) unless ms.zero?
        end
        # Many transfers added since the last perform (fibers started in a
        # loop that did not yield) make a long perform that starts them
        # all: let the other fibers run between that loop and it, so the
        # two pauses do not add up.
        Kernel.sleep(0) if @added >= ADDS_BEFORE_YIELD
        perform
      end
    ensure
      @leader = nil
    end

    # Waits for the multi's descriptor, at most `ms` milliseconds (-1: no
    # limit).
    def wait_readable(ms)
      FiberMulti.wait_readable(@io, ms)
    end

    def sleep_on(t)
      q = (t.queue ||= Thread::Queue.new)
      @waiting[t] = true
      begin
        q.pop
      ensure
        @waiting.delete(t)
        t.woken = false
      end
    end

    def wake(t)
      return if t.woken || !@waiting.key?(t)

      t.woken = true
      t.queue.push(true)
    end

    # Nobody drives: wakes the first waiting fiber not woken yet (it is not
    # ready: a fiber is woken as soon as it is), which drives next.
    def hand_over
      return if @leader || @performing || @waiting.empty?

      @waiting.each_key do |w|
        next if w.woken

        wake(w)
        return
      end
    end

    # Finished transfers taken out per perform: copying a response costs
    # about 0.1 ms of Ruby, so 500 finishing together would hold the
    # thread for 50 ms; in rounds of this many, other fibers run between.
    DONE_PER_ROUND = 64
    # Transfers added since the last perform above which the driver lets
    # the other fibers run before performing (see #drive).
    ADDS_BEFORE_YIELD = 64

    # One reqivo_multi_perform, then the finished transfers (at most
    # DONE_PER_ROUND) taken out and their fibers woken. Interrupts from
    # other threads wait until the responses are copied and freed.
    def perform
      sink = []
      finished = []
      @performing = true
      @added = 0
      Thread.handle_interrupt(Object => :never) do
        SessionHooks.collecting(sink) do
          err = Native.error_struct
          raise Error.from_native(err) unless Native.reqivo_multi_perform(@multi, err).zero?
        end
        @backlog = Multi.each_done(@multi, @done, DONE_PER_ROUND) do |id, result|
          next unless (t = @transfers.delete(id))

          t.result = result
          t.finished = true
          release_token(t)
          finished << t
        end
      end
      give_hook_errors(finished, sink) unless sink.empty? && @unclaimed.nil?
      finished.each { |t| wake(t) }
      free if @retired && @transfers.empty?
    ensure
      @performing = false
    end

    # Hands the exceptions the session hooks raised during a perform to the
    # requests they stopped: a request that ended "aborted by callback"
    # (not by its own body IO or progress) takes the first of its session's.
    # What is left (a log block's exception) goes to the next request of
    # that session to be answered, now or later.
    def give_hook_errors(finished, sink)
      finished.each do |t|
        next unless t.result.is_a?(Reqivo::Error) && t.result.code == ABORTED && !t.keep&.error && !t.callback_error

        i = sink.index { |hooks, _| hooks.equal?(t.hooks) }
        t.hook_error = sink.delete_at(i)[1] if i
      end
      sink.each { |hooks, e| ((@unclaimed ||= {})[hooks] ||= []) << e }
      return if @unclaimed.nil?

      finished.each do |t|
        next if t.hook_error || t.abandoned || !(list = @unclaimed[t.hooks])

        t.hook_error = list.shift
        @unclaimed.delete(t.hooks) if list.empty?
      end
      @unclaimed = nil if @unclaimed.empty?
    end

    # reqivo_data_callback of every streamed transfer, on the driving
    # fiber: the head (len 0), then each piece of body into the transfer's
    # buffer, or a pause while it is full.
    def on_data(id, head, data, len)
      t = @transfers[id]
      return DATA_ABORT if t.nil? || t.abandoned

      if len.zero?
        t.head ||= Response.from_native(head)
      elsif t.buffered >= HIGH_WATER
        t.paused = true
        return DATA_PAUSE
      else
        t.chunks << data.read_bytes(len)
        t.buffered += len
      end
      wake(t)
      DATA_CONTINUE
    rescue Exception => e # rubocop:disable Lint/RescueException -- raised by the stream's reader
      t.callback_error ||= e if t
      DATA_ABORT
    end

    # Up to Stream::CHUNK bytes of what is buffered; resumes a paused
    # transfer once less than LOW_WATER is left.
    def take_chunk(t)
      chunk = t.chunks.shift
      while (nxt = t.chunks.first) && chunk.bytesize + nxt.bytesize <= Reqivo::Stream::CHUNK
        chunk << t.chunks.shift
      end
      t.buffered -= chunk.bytesize
      if t.paused && t.buffered < LOW_WATER
        t.paused = false
        Native.reqivo_multi_resume(@multi, t.stream_id, nil) unless t.finished || @freed
      end
      chunk
    end

    # A token of our own goes back to the free list (closed if triggered);
    # the multi keeps its own reference while the transfer runs.
    def release_token(t)
      tok = t.token
      t.token = nil
      Cancel::Recycler.checkin(tok) if tok && t.own_token
    end

    def free
      return if @freed

      @freed = true
      @multi.free
      @io = nil
    end
  end
end
