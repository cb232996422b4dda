# frozen_string_literal: true

require 'set'
require_relative 'errors'
require_relative 'handle'
require_relative 'blocking'
require_relative 'cancel'
require_relative 'config'
require_relative 'response'
require_relative 'fiber_multi'
require_relative 'websocket_fiber_wait'

module Reqivo
  # An open WebSocket connection (reqivo_ws), from Session#websocket. One
  # thread may #receive while others #send, #send_binary, #ping or #close
  # (senders take turns, a message at a time); the waiting calls release
  # the GVL. Every wait is bounded by the session's timeouts (read for
  # #receive, write for sends) and stops when the thread is interrupted or
  # `cancel:` is cancelled.
  #
  # Under a fiber scheduler (inside `Async do ... end`) #receive waits on
  # the connection's descriptor through the scheduler (FiberWait): a
  # thousand fibers waiting for messages need no thread. Sends and #close
  # run on a helper thread the fiber waits for.
  #
  #   session.websocket('ws://127.0.0.1:8765/chat', protocols: ['chat']) do |ws|
  #     ws.send('hi')             # text (a UTF-8 String)
  #     ws.send_binary("\x00\x01")
  #     msg = ws.receive          # => #<Reqivo::WebSocket::Message kind=:text data="hi">
  #   end                         # closes with 1000
  class WebSocket
    # Message kinds by REQIVO_WS_* number.
    KINDS = WS_KINDS.invert.freeze

    # A received message: kind (:text, :binary or :close), data (a UTF-8
    # String for text, binary otherwise; for :close the reason), and for
    # :close the server's code (1005 when it sent none) and reason.
    Message = Struct.new(:kind, :data, :close_code, :close_reason) do
      def text?
        kind == :text
      end

      def binary?
        kind == :binary
      end

      def close?
        kind == :close
      end

      # [kind, data], for `kind, data = ws.receive`.
      def to_ary
        [kind, data]
      end

      def to_s
        data
      end
    end

    # The subprotocol the server selected ('' when none).
    attr_reader :protocol

    # The server's 101 answer (a Reqivo::Response, body empty).
    attr_reader :response

    # Told of each reconnect attempt: keeps the FFI::Function C calls for
    # as long as the connection lives, and stashes an exception raised by
    # the block for the call that reconnected to raise.
    class ReconnectNotifier
      attr_reader :function

      def initialize(block)
        @block = block
        @error = nil
        @function = FFI::Function.new(:void, %i[pointer uint32 uint32]) do |_userdata, attempt, code|
          err = code.zero? ? nil : Error.for_code(code, 'reconnect attempt failed')
          @block.call(attempt, err)
        rescue Exception => e # rubocop:disable Lint/RescueException -- re-raised by the call
          @error ||= e
        end
      end

      # Raises (once) what the block raised.
      def raise_stashed
        e = @error
        @error = nil
        raise e if e
      end
    end

    # Takes ownership of a reqivo_ws pointer; `notifier` (a
    # ReconnectNotifier or nil) is the reconnect callback C may call.
    def initialize(ptr, notifier = nil)
      @handle = Handle.new(ptr, Native::FREE[:ws], 'WebSocket')
      @handle.keep = notifier
      @read_lock = Mutex.new
      @lock = Mutex.new # guards @closing and @tokens
      @closing = false
      @parked = nil # [fiber, thread, scheduler] of a receive waiting under a scheduler
      @tokens = Set.new.compare_by_identity
      @protocol = Native.reqivo_ws_protocol(ptr).then { |s| s[:ptr].null? ? '' : s[:ptr].read_bytes(s[:len]) }
                        .force_encoding(Encoding::UTF_8)
      r = Native.reqivo_ws_response(ptr)
      @response = r.null? ? nil : Response.from_native(r)
    end

    # Sends a message: text when `data` is a String in UTF-8 (or US-ASCII)
    # encoding, binary otherwise (e.g. an ASCII-8BIT String). Text must be
    # valid UTF-8. Returns self.
    def send(data, cancel: nil)
      data = data.to_str
      text = [Encoding::UTF_8, Encoding::US_ASCII].include?(data.encoding)
      raise ArgumentError, 'text to send is not valid UTF-8' if text && !data.valid_encoding?

      transmit(WS_KINDS.fetch(text ? :text : :binary), data, cancel)
    end
    alias << send

    # Sends `data` (a String, whatever its encoding) as a binary message.
    def send_binary(data, cancel: nil)
      transmit(WS_KINDS.fetch(:binary), data.to_str, cancel)
    end

    # Sends one fragment of a message (kind :text or :binary, the same for
    # every fragment); `fin: true` marks the last.
    def send_fragment(data, kind: :text, fin: false, cancel: nil)
      raise ArgumentError, "kind must be :text or :binary, got #{kind.inspect}" unless %i[text binary].include?(kind)

      code = WS_KINDS.fetch(kind)

      call(cancel) do |ws, c, err|
        buf = bytes(data.to_str)
        Native.reqivo_ws_send_fragment(ws, code, buf, data.bytesize, fin, c, err)
      end
      self
    end

    # Waits for the next message and returns it (a Message). Pings are
    # answered meanwhile. The server's Close comes once, as a :close
    # Message; later calls raise Reqivo::WebSocketClosed.
    #
    # Under a fiber scheduler the fiber waits for the connection's
    # descriptor, not a thread (FiberWait). A `cancel:` triggered meanwhile
    # is seen within FiberWait::CANCEL_POLL_MS; a reconnect's dial, when
    # reconnecting is on, runs within the call on the scheduler's thread.
    def receive(cancel: nil)
      return receive_scheduled(cancel) if FiberMulti.scheduled?

      @read_lock.synchronize do
        call(cancel) do |ws, c, err|
          ptr = Native.reqivo_ws_receive(ws, c, err)
          next Error.from_native(err) if ptr.null?

          begin
            self.class.message_from_native(ptr)
          ensure
            Native.reqivo_ws_message_free(ptr)
          end
        end
      end
    end

    # Sends a ping (up to 125 bytes of payload); its pong is taken in by
    # #receive.
    def ping(data = '', cancel: nil)
      data = data.to_str
      call(cancel) { |ws, c, err| Native.reqivo_ws_ping(ws, bytes(data), data.bytesize, c, err) }
      self
    end

    # Starts the close handshake with `code` and a UTF-8 `reason` (at most
    # 123 bytes), waits (5 s at most) for the server's Close unless another
    # thread is receiving -- that thread is stopped and raises
    # Reqivo::WebSocketClosed (unless it passed its own `cancel:`, when it
    # gets the server's Close) -- and frees the connection. Only the first
    # call does anything.
    def close(code = 1000, reason = '')
      reason = reason.to_s
      parked = @lock.synchronize do
        return nil if @closing

        @closing = true
        @parked.tap { @parked = nil }
      end
      wake(parked) if parked
      return FiberMulti.offload { close_now(code, reason) } if FiberMulti.scheduled?

      close_now(code, reason)
    end

    def closed?
      @lock.synchronize { @closing }
    end

    def inspect
      "#<Reqivo::WebSocket protocol=#{@protocol.inspect}#{' closed' if closed?}>"
    end

    # A Message copied out of a reqivo_ws_message pointer.
    def self.message_from_native(ptr)
      m = Native::WsMessage.new(ptr)
      kind = KINDS.fetch(m[:kind]) { raise InternalError, "unknown message kind #{m[:kind]}" }
      data = m[:length].zero? ? +'' : m[:data].read_bytes(m[:length])
      if kind == :binary
        data.force_encoding(Encoding::BINARY)
      else
        data.force_encoding(Encoding::UTF_8)
      end
      kind == :close ? Message.new(kind, data, m[:close_code], data) : Message.new(kind, data, nil, nil)
    end

    private

    # The close handshake and the free, once #close has claimed them.
    def close_now(code, reason)
      begin
        @handle.use do |ws|
          token = Cancel::Recycler.checkout
          begin
            result = Blocking.run(token) do
              err = Native.error_struct
              rc = Native.reqivo_ws_close(ws, code, reason, reason.bytesize, err)
              rc.zero? ? nil : Error.from_native(err)
            end
            raise result if result
          ensure
            Cancel::Recycler.checkin(token)
          end
        end
      rescue ClosedError
        nil
      ensure
        @lock.synchronize { @tokens.each(&:cancel) }
        @handle.close
      end
      nil
    end

    # #receive under a fiber scheduler: reqivo_ws_try_receive, then a wait
    # on the descriptor for as long as it says, until a message or an
    # error. The descriptor is taken again after each try (a reconnect
    # replaces it).
    def receive_scheduled(cancel)
      waiter = FiberWait.new
      @read_lock.synchronize do
        loop do
          msg, wait_ms, fd = call(cancel, blocking: false) do |ws, c, err|
            try_receive(ws, c, err)
          end
          return msg if msg

          wait_ms = CANCEL_POLL.call(wait_ms) if cancel
          park(waiter, fd, wait_ms)
        end
      end
    ensure
      waiter&.close
    end

    # The shortest wait with a caller's cancel token (-1: none).
    CANCEL_POLL = lambda do |ms|
      ms.negative? ? FiberWait::CANCEL_POLL_MS : [ms, FiberWait::CANCEL_POLL_MS].min
    end
    private_constant :CANCEL_POLL

    # One reqivo_ws_try_receive: [message] or [nil, wait_ms, fd], or an
    # error object. Interrupts wait until the message is copied and freed.
    def try_receive(ws, c, err)
      wait = FFI::MemoryPointer.new(:int64)
      Thread.handle_interrupt(Object => :never) do
        ptr = Native.reqivo_ws_try_receive(ws, c, wait, err)
        next [nil, wait.read_int64, Native.reqivo_ws_fd(ws)] if ptr.null? && err[:code].zero?
        next Error.from_native(err) if ptr.null?

        begin
          [self.class.message_from_native(ptr)]
        ensure
          Native.reqivo_ws_message_free(ptr)
        end
      end
    end

    # Waits for `fd` (at most `ms`), registered so that #close can wake the
    # fiber; raises WebSocketClosed once #close has begun.
    def park(waiter, fd, ms)
      io = waiter.watch(fd)
      me = [Fiber.current, Thread.current, Fiber.scheduler]
      @lock.synchronize do
        raise WebSocketClosed.new('the WebSocket was closed with #close', **CLOSED_FIELDS) if @closing

        @parked = me
      end
      begin
        begin
          waiter.wait(ms, -> { closed? })
        ensure
          @lock.synchronize { @parked = nil if @parked.equal?(me) }
        end
      rescue FiberWait::Wake
        # Raised by #close (which took us out of @parked), during the wait
        # or while this fiber waited for @lock after it.
        nil
      end
      raise WebSocketClosed.new('the WebSocket was closed with #close', **CLOSED_FIELDS) if closed?

      io
    end

    # Wakes the receive parked in `parked` (taken out of @parked, so once):
    # on its own thread by raising FiberWait::Wake in it (it runs at once
    # and raises WebSocketClosed); from another thread through its
    # scheduler's unblock, which is thread-safe, as Thread::Queue uses it.
    # (unblock resumes the fiber later, from the scheduler's loop: should
    # the descriptor wake it first, in that window, the fiber leaves
    # #receive and the late resume ends whatever wait it is in next, as a
    # spurious wake-up would.)
    def wake(parked)
      fiber, thread, scheduler = parked
      return unless fiber.alive?

      if thread.equal?(Thread.current)
        fiber.raise(FiberWait::Wake) unless fiber.equal?(Fiber.current)
      else
        scheduler.unblock(nil, fiber)
      end
    end

    def transmit(kind, data, cancel)
      call(cancel) { |ws, c, err| Native.reqivo_ws_send(ws, kind, bytes(data), data.bytesize, c, err) }
      self
    end

    # A copy of `data` in C memory: the call releases the GVL, and another
    # thread could change the String meanwhile.
    def bytes(data)
      return nil if data.empty?

      FFI::MemoryPointer.new(:uint8, data.bytesize).put_bytes(0, data)
    end

    # Runs one blocking C call with the connection, a cancel token (the
    # caller's or one of our own, triggered by an interrupt or by #close)
    # and this thread's error struct. The block returns a code (0 = done),
    # a result, or a Reqivo::Error; errors are raised.
    #
    # Under a fiber scheduler a blocking call runs on a helper thread the
    # fiber waits for (FiberMulti.offload); one that never waits
    # (`blocking: false`) runs right here, without Blocking's watchdog.
    def call(cancel, blocking: true, &block)
      return FiberMulti.offload { call(cancel, &block) } if blocking && FiberMulti.scheduled?

      raise ArgumentError, "cancel must be a Reqivo::Cancel, got #{cancel.class}" unless cancel.nil? || cancel.is_a?(Cancel)

      token = cancel || Cancel::Recycler.checkout
      @lock.synchronize do
        raise WebSocketClosed.new('the WebSocket was closed with #close', **CLOSED_FIELDS) if @closing

        @tokens << token unless cancel # a caller's token is the caller's to trigger
      end
      begin
        run = proc do
          @handle.use do |ws|
            token.use do |c|
              err = Native.error_struct
              r = yield ws, c, err
              r.is_a?(Integer) ? (r.zero? ? nil : Error.from_native(err)) : r
            end
          end
        end
        result = blocking ? Blocking.run(token, &run) : run.call
      rescue ClosedError
        raise WebSocketClosed.new('the WebSocket was closed with #close', **CLOSED_FIELDS)
      ensure
        @lock.synchronize { @tokens.delete(token) }
        Cancel::Recycler.checkin(token) unless token.equal?(cancel)
      end
      @handle.keep&.raise_stashed
      if result.is_a?(Cancelled) && closed? && !cancel&.cancelled?
        raise WebSocketClosed.new('the WebSocket was closed with #close', **CLOSED_FIELDS)
      end
      raise result if result.is_a?(Reqivo::Error)

      result
    end

    CLOSED_FIELDS = CODES_BY_NAME.fetch('REQIVO_ERR_WS_CLOSED')
                                 .then { |c| { code: c.code, name: c.name, code_class: c.klass } }.freeze
  end
end
