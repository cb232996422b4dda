# frozen_string_literal: true

require 'logger'
require_relative 'codes'
require_relative 'response'

module Reqivo
  # The request of one hop (the first request or a redirect), handed to
  # Session#on_request blocks. Valid only during the block.
  #
  #   session.on_request do |req|
  #     req.headers['X-Trace'] = '1'       # replaces every X-Trace
  #     req.headers.add('Via', 'a')        # keeps other Via fields
  #     req.headers.delete('User-Agent')
  #     req.method; req.url
  #   end
  class HookRequest
    # The hop's header fields, write-only (the library does not hand them
    # out): #[]= replaces a field, #add appends one, #delete removes every
    # field of a name. Host, Content-Length and Transfer-Encoding cannot be
    # removed (Reqivo::UsageError).
    class Headers
      def initialize(req)
        @req = req
      end

      def []=(name, value)
        @req.send(:edit, :reqivo_hook_request_set_header, name, value)
      end

      def add(name, value)
        @req.send(:edit, :reqivo_hook_request_add_header, name, value)
        self
      end

      def delete(name)
        @req.send(:edit, :reqivo_hook_request_remove_header, name, nil)
        nil
      end
    end

    attr_reader :method, :url, :headers

    def initialize(ptr)
      @ptr = ptr
      @method = Native.reqivo_hook_request_method(ptr).then { |s| s[:ptr].read_bytes(s[:len]) }.freeze
      @url = Native.reqivo_hook_request_url(ptr).then { |s| s[:ptr].read_bytes(s[:len]) }
                   .force_encoding(Encoding::UTF_8).freeze
      @headers = Headers.new(self)
    end

    # The pointer is valid during the hook call only: drop it after.
    def invalidate
      @ptr = nil
    end

    def inspect
      "#<Reqivo::HookRequest #{@method} #{@url}>"
    end

    private

    def edit(function, name, value)
      raise UsageError, 'a HookRequest is valid only inside its on_request block' if @ptr.nil?

      name = name.to_s
      err = Native::Error.new
      code = if value.nil?
               Native.public_send(function, @ptr, name, name.bytesize, err)
             else
               value = value.to_s
               Native.public_send(function, @ptr, name, name.bytesize, value, value.bytesize, err)
             end
      raise Error.from_native(err) unless code.zero?
    end
  end

  # A session's hooks and log callback (reqivo_session_set_hooks,
  # reqivo_session_set_logger): the Ruby blocks, the FFI::Functions C
  # calls, and the exception a block raised, per sending thread.
  #
  # The callbacks run on the thread that sends, inside the blocking C call
  # that released the GVL; ffi takes the GVL back to run them. Nothing
  # raises through C: an exception is stashed for its thread, the hook
  # returns the abort value (the library stops the send with
  # REQIVO_ERR_ABORTED_BY_CALLBACK), and Session re-raises it once the C
  # call has returned (#take_error). A log block cannot stop a send; its
  # exception is re-raised after the call all the same.
  class SessionHooks
    # Level symbols by REQIVO_LOG_* number, as the log callback gets them
    # and reqivo_session_set_logger's min_level takes them.
    LEVELS = Array.new(LOG_LEVELS.values.max + 1) { |n| LOG_LEVELS.key(n) }.freeze
    # The fiber-local key of SessionHooks.collecting's sink.
    SINK = :reqivo_hook_sink

    # Runs the block with the exceptions of every session's hooks and log
    # block on this fiber going to `sink` as [SessionHooks, exception],
    # without the rule that a failure skips later hooks: FiberMulti runs
    # many requests' hooks in one reqivo_multi_perform and hands each
    # exception to the request it stopped afterwards, so one request's
    # failing hook must not stop the others'.
    def self.collecting(sink)
      Thread.current[SINK] = sink
      yield
    ensure
      Thread.current[SINK] = nil
    end

    def initialize
      @lock = Mutex.new
      @errors = {}.compare_by_identity
      @on_request = []
      @on_response = []
      @log = nil
      # Every FFI::Function ever handed to C: a send in flight on another
      # thread may still call one that was replaced (the library reads the
      # session's settings once per send), so none is ever released
      # before the session.
      @functions = []
    end

    def on_request?
      !@on_request.empty?
    end

    def on_response?
      !@on_response.empty?
    end

    # Adds a block; returns the [on_request, on_response] C functions to
    # install (nil where no block is registered).
    def add_request(block)
      @lock.synchronize { @on_request = @on_request + [block] }
      functions
    end

    def add_response(block)
      @lock.synchronize { @on_response = @on_response + [block] }
      functions
    end

    def clear
      @lock.synchronize do
        @on_request = []
        @on_response = []
      end
      [nil, nil]
    end

    # The reqivo_log_callback calling block.call(level_symbol, message).
    def log_function(block)
      @log_function ||= keep(FFI::Function.new(:void, %i[pointer uint32 pointer size_t]) do |_ud, level, msg, len|
        # Still called after a hook failed: the library logs that failure.
        guard(nil, after_error: true) do
          text = msg.read_bytes(len).force_encoding(Encoding::UTF_8)
          @log&.call(LEVELS.fetch(level, :error), text)
        end
      end)
      @log = block
      @log_function
    end

    # Forgets what an earlier call on this thread may have left (a log
    # line's exception from a stream read).
    def reset_error
      take_error
      nil
    end

    # The exception a hook raised on this thread during the last call, once.
    # Only this thread stashes its own, so an empty table (every call of a
    # session without failing hooks) needs no lock.
    def take_error
      return nil if @errors.empty?

      @lock.synchronize { @errors.delete(Thread.current) }
    end

    private

    def functions
      [(request_function if on_request?), (response_function if on_response?)]
    end

    def request_function
      @request_function ||= keep(FFI::Function.new(:int32, %i[pointer pointer]) do |_ud, ptr|
        guard(1) do
          req = HookRequest.new(ptr)
          begin
            @on_request.each { |b| b.call(req) }
          ensure
            req.invalidate
          end
          0
        end
      end)
    end

    def response_function
      @response_function ||= keep(FFI::Function.new(:int32, %i[pointer pointer]) do |_ud, ptr|
        guard(1) do
          head = Response.from_native(ptr)
          @on_response.each { |b| b.call(head.status, head.headers, head.url) }
          0
        end
      end)
    end

    def keep(function)
      @functions << function
      function
    end

    # Runs a callback body; on an exception stashes it for this thread and
    # returns `abort_value`. Once one is stashed, hooks are not called
    # again during the call (the send is over) and the first exception is
    # the one raised; `after_error` callbacks (the log) still run.
    def guard(abort_value, after_error: false)
      sink = Thread.current[SINK]
      return guard_into(sink, abort_value) { yield } if sink
      return abort_value if !after_error && @lock.synchronize { @errors.key?(Thread.current) }

      yield
    rescue Exception => e # rubocop:disable Lint/RescueException -- re-raised by the caller
      @lock.synchronize { @errors[Thread.current] ||= e }
      abort_value
    end

    # Inside SessionHooks.collecting: every callback runs, and an exception
    # goes to the sink.
    def guard_into(sink, abort_value)
      yield
    rescue Exception => e # rubocop:disable Lint/RescueException -- re-raised by the caller
      sink << [self, e]
      abort_value
    end
  end
end
