# frozen_string_literal: true

module Reqivo
  # Runs the C calls that wait on the network so that Timeout.timeout,
  # Thread#raise and Thread#kill still stop them.
  #
  # ffi's `blocking: true` releases the GVL, but a thread inside C cannot
  # take an interrupt until the call returns (ffi installs no unblocking
  # function that could stop reqivo), and an interrupt raised as the call
  # returns would drop its result (a response or stream nobody frees). So:
  #
  # 1. The call, and the copy of its result into Ruby objects, run inside
  #    `Thread.handle_interrupt(Object => :never)`: interrupts wait in the
  #    thread's queue until the block ends, and nothing is lost.
  # 2. Meanwhile the call is registered with one watchdog thread, which
  #    every POLL seconds asks each registered thread `pending_interrupt?`
  #    (true once Thread#raise/#kill -- which Timeout uses -- has queued
  #    something) and, if so, triggers that call's reqivo_cancel. The
  #    library returns within 50 ms; the block ends; the interrupt is
  #    raised. The library, not Ruby, unwinds the request, so its
  #    connection is closed cleanly and the session keeps working.
  #
  # The call runs on the caller's own thread: no hand-off per request. The
  # watchdog polls only while calls are in flight (then idles on a
  # condition variable).
  module Blocking
    # Watchdog period: an interrupt reaches the library within POLL, and
    # the library stops within 50 ms more.
    POLL = 0.01
    # Polls with nothing in flight before the watchdog idles (so a steady
    # stream of requests does not signal it every time).
    IDLE_POLLS = 100
    # The mask of run: a constant, so a request does not build the Hash.
    DEFER_INTERRUPTS = { Object => :never }.freeze

    @lock = Mutex.new
    @wake = ConditionVariable.new
    @calls = {}.compare_by_identity
    @watchdog = nil
    @idle = false
    @pid = Process.pid

    class << self
      # Runs the block (the blocking C call and the copy of its result)
      # with `cancel` (a Reqivo::Cancel), cancelling it if the calling
      # thread is interrupted meanwhile. With cancel nil, the block gets a
      # token of Cancel::Recycler, taken as the call registers and given
      # back as it unregisters, under the same lock. Async interrupts are
      # raised after the block, never inside it; the block's own exceptions
      # propagate as usual.
      def run(cancel = nil)
        Thread.handle_interrupt(DEFER_INTERRUPTS) do
          entry = register(cancel)
          begin
            yield entry[1]
          ensure
            unregister(entry, cancel.nil?)
          end
        end
      end

      # Runs the block under the lock of the calls in flight, which also
      # guards Cancel::Recycler's free list.
      def synchronize(&block)
        @lock.synchronize(&block)
      end

      # Calls in flight now (for tests and diagnostics).
      def in_flight
        @lock.synchronize { @calls.size }
      end

      # The watchdog thread, if started.
      def watchdog
        @lock.synchronize { @watchdog }
      end

      # Whether the watchdog runs in this process. Threads do not survive
      # fork, so while this is true the process is the one that started
      # it: a fork check without a system call (here and in
      # Cancel::Recycler.take). Read without the lock; a stale answer only
      # means asking for the pid.
      def watching?
        @watchdog&.alive? || false
      end

      private

      # The call's entry, [thread, token], registered.
      def register(cancel)
        @lock.synchronize do
          if watching?
            @wake.signal if @idle
          else
            # A forked child has no live watchdog (threads do not survive
            # fork): only then is the pid, a system call, worth asking for.
            forget_parent if @pid != Process.pid
            @watchdog = start_watchdog
          end
          # (In a forked child, forget_parent has emptied the free list.)
          entry = [Thread.current, cancel || Cancel::Recycler.take]
          @calls[entry] = true
          entry
        end
      end

      # Under the lock: a call unregisters before its token goes back to
      # the free list, so a token the watchdog triggers still belongs to
      # the call that was interrupted.
      def unregister(entry, recycle)
        @lock.synchronize do
          @calls.delete(entry)
          Cancel::Recycler.give(entry[1]) if recycle
        end
      end

      # In a forked child: the parent's watchdog, calls and tokens stayed
      # behind.
      def forget_parent
        @calls = {}.compare_by_identity
        @watchdog = nil
        @idle = false
        @pid = Process.pid
        Cancel::Recycler.forget_parent
      end

      # Called inside run's handle_interrupt(:never), whose mask a new
      # thread inherits: the watchdog restores :immediate, or it could
      # never be killed (and the process would hang at exit).
      def start_watchdog
        th = Thread.new { Thread.handle_interrupt(Object => :immediate) { watch } }
        th.name = 'reqivo-watchdog'
        th.report_on_exception = false
        th
      end

      def watch
        empty_polls = 0
        loop do
          @lock.synchronize do
            if @calls.empty?
              empty_polls += 1
              if empty_polls > IDLE_POLLS
                @idle = true
                @wake.wait(@lock) while @calls.empty?
                @idle = false
                empty_polls = 0
              end
            end
            # Under the lock: a call unregisters (under it too) before its
            # token goes back to the free list, so a token triggered here
            # still belongs to the call that was interrupted.
            @calls.each_key do |thread, cancel|
              cancel.cancel if !cancel.cancelled? && thread.pending_interrupt?
            rescue StandardError
              nil # a user's token closed under us: that call gets Cancelled or ends anyway
            end
          end
          sleep POLL
        end
      end
    end
  end
end
