# frozen_string_literal: true

require_relative 'cancel'
require_relative 'blocking'
require_relative 'multi'

module Reqivo
  # The requests of one Session#parallel call, all sent through one
  # reqivo_multi driven by the thread that called it:
  #
  #   session.parallel(max_in_flight: 100) do |batch|
  #     urls.each { |u| batch.get(u) { |result| ... } }
  #   end
  #
  # #get, #post, ... and #request take the options of Session#request
  # except cancel: (#cancel ends the whole batch), check them at once
  # (ArgumentError) and queue the request; they return a Batch::Request,
  # whose #result is filled once it is answered. Requests start when the
  # Session#parallel block returns, at most max_in_flight at a time, in the
  # order queued; each request's block then runs on the batch's thread with
  # its result: a Reqivo::Response, or an exception object that is not
  # raised (the class Session#request would raise, or what the request's
  # body IO or progress callable raised). A block may queue more requests.
  #
  # Under the hood: the multi waits in reqivo_multi_poll (attached
  # `blocking: true`, so the GVL is released), inside Blocking.run with the
  # batch's cancel token, which every transfer carries: Timeout.timeout or
  # Thread#raise cancels them all and the poll returns. Finished transfers
  # are collected with reqivo_multi_next and their responses copied and
  # freed inside that same run, before any block runs, so an interrupt or
  # a raising block loses nothing. Each reqivo_request is freed right after
  # reqivo_multi_add (the multi copies it); the multi is freed when the
  # batch ends, however it ends, which closes what is still in flight.
  class Batch
    DEFAULT_MAX_IN_FLIGHT = 200
    CANCELLED = CODES_BY_NAME.fetch('REQIVO_ERR_CANCELLED').code

    # A request queued on a batch, and its result once answered.
    class Request
      # The method and the URL as sent (query parameters appended; relative
      # to the session's base_url if it was given relative).
      attr_reader :method, :url
      # The Reqivo::Response, or the failure as an exception object; nil
      # until answered.
      attr_reader :result

      def initialize(method, url, block)
        @method = method
        @url = url
        @block = block
        @result = nil
        @done = false
      end

      def done?
        @done
      end

      # The Reqivo::Response, nil if none (yet).
      def response
        @result if @result.is_a?(Response)
      end

      # The failure, nil if none (yet).
      def error
        @result if @result.is_a?(Exception)
      end

      def inspect
        state = if !@done then 'queued'
                elsif error then error.class.name
                else result.status
                end
        "#<Reqivo::Batch::Request #{@method} #{@url} #{state}>"
      end

      private

      # Called by the batch, on its thread: keeps the result and runs the
      # request's block (dropped after, with what it holds).
      def answer(result)
        @result = result
        @done = true
        block = @block
        @block = nil
        block&.call(result)
      end
    end

    attr_reader :max_in_flight

    def initialize(session, max_in_flight)
      unless max_in_flight.is_a?(Integer) && max_in_flight.positive?
        raise ArgumentError, "max_in_flight must be a positive Integer, got #{max_in_flight.inspect}"
      end

      @session = session
      @max_in_flight = max_in_flight
      @lock = Mutex.new
      # [Request, Session::Prepared] not yet added; guarded by @lock (other
      # threads may queue).
      @queue = []
      # user_data number => [Request, Callbacks or nil]: added, not yet
      # collected. Only the batch's thread touches it.
      @active = {}
      @next_id = 0
      @cancelled = false
      # :new, then :running (the multi and the token exist), then :over
      # (freed or about to be: nothing may be queued, woken or cancelled).
      # Changes under @lock.
      @state = :new
      @thread = nil
      @multi = nil
      @token = nil
    end

    # get(url, **options), post, ...: #request with that method.
    Session::METHODS.each do |m|
      verb = m.to_s.upcase.freeze
      define_method(m) do |url, params: nil, headers: nil, body: nil, json: nil, timeout: nil, progress: nil,
                           multipart: nil, &block|
        request(verb, url, params: params, headers: headers, body: body, json: json, timeout: timeout,
                           progress: progress, multipart: multipart, &block)
      end
    end

    # Queues a request (options as Session#request, without cancel:) and
    # returns its Batch::Request. The block, if given, is called with the
    # result. Callable from the Session#parallel block, from a request's
    # block and from other threads while the batch runs; raises
    # Reqivo::ClosedError once the batch is over.
    def request(method, url, params: nil, headers: nil, body: nil, json: nil, timeout: nil, progress: nil,
                multipart: nil, &block)
      prep = @session.__send__(:prepare_request, method, url, params, headers, body, json, timeout, progress,
                               multipart)
      req = Request.new(prep.verb, prep.url, block)
      @lock.synchronize do
        raise ClosedError, 'this batch is over: queue requests while Session#parallel runs' if @state == :over

        @queue << [req, prep]
        # Another thread's request: the batch's thread may be waiting.
        Native.reqivo_multi_wakeup(@multi) if @state == :running && !Thread.current.equal?(@thread)
      end
      req
    end

    # Ends the batch's requests: those queued are not sent, those in flight
    # are stopped by the library (within 50 ms); each block gets a
    # Reqivo::Cancelled. Requests queued afterwards get one too. Callable
    # from any thread and from a request's block; does nothing once the
    # batch is over. Returns self.
    def cancel
      @lock.synchronize do
        unless @cancelled || @state == :over
          @cancelled = true
          if @state == :running
            @token.cancel
            Native.reqivo_multi_wakeup(@multi)
          end
        end
      end
      self
    end

    def cancelled?
      @cancelled
    end

    # Transfers in the library now: added and not yet finished
    # (reqivo_multi_in_flight); 0 before and after the run. Any thread.
    def in_flight
      @lock.synchronize { @state == :running ? Native.reqivo_multi_in_flight(@multi) : 0 }
    end

    # Requests queued and not yet added.
    def queued
      @lock.synchronize { @queue.size }
    end

    def inspect
      "#<Reqivo::Batch max_in_flight=#{@max_in_flight} queued=#{queued} in_flight=#{in_flight}" \
        "#{' cancelled' if @cancelled}>"
    end

    private

    # Session#parallel: `s` is the session's pointer (held in use by the
    # caller for the whole run), `hooks` its SessionHooks.
    def run(s, hooks)
      @thread = Thread.current
      hooks.reset_error
      begin
        Thread.handle_interrupt(Object => :never) { start }
        value = yield self
        drive(s, hooks)
        value
      ensure
        Thread.handle_interrupt(Object => :never) { finish }
      end
    end

    # The multi, the cancel token every transfer carries, and the struct
    # reqivo_multi_next fills.
    def start
      token = Cancel::Recycler.checkout
      begin
        ptr = Multi.new_pointer
      rescue Reqivo::Error
        Cancel::Recycler.checkin(token)
        raise
      end
      @done = Native::MultiDone.new
      @lock.synchronize do
        @multi = ptr
        @token = token
        @state = :running
        token.cancel if @cancelled
      end
    end

    # Frees the multi (ending what is in flight) and gives the token back,
    # after which no other thread can reach either.
    def finish
      multi, token = @lock.synchronize do
        @state = :over
        [@multi, @token]
      end
      @multi = @token = nil
      Native.reqivo_multi_free(multi) if multi
      Cancel::Recycler.checkin(token) if token
      @queue.clear
      @active.clear
    end

    def drive(s, hooks)
      loop do
        deliver(start_queued(s))
        if @active.empty?
          # Under the lock: another thread's request is either seen here or
          # refused (the batch is over).
          break if @lock.synchronize { @queue.empty? && (@state = :over) }

          next
        end
        answered = Blocking.run(@token) { wait_and_collect }
        if (hooked = hooks.take_error)
          raise hooked
        end

        deliver(answered)
      end
    end

    # Adds queued requests while there is room (all of them, as failures,
    # once cancelled); returns [request, error, ...] for those that could
    # not be added.
    def start_queued(s)
      failed = []
      while @cancelled || @active.size < @max_in_flight
        req, prep = @lock.synchronize { @queue.shift }
        break if req.nil?

        error = if @cancelled
                  Error.for_code(CANCELLED, 'the batch was cancelled before this request was sent')
                else
                  Thread.handle_interrupt(Object => :never) { add(s, req, prep) }
                end
        failed << req << error if error
      end
      failed
    end

    # Adds one request to the multi; nil, or the error to hand its block.
    def add(s, req, prep)
      native = @session.__send__(:native_request, prep)
      begin
        id = (@next_id += 1)
        err = Native.error_struct
        code = native.use do |r|
          Native.reqivo_multi_add(@multi, s, r, @token.owned_pointer, FFI::Pointer.new(id), err)
        end
        return Error.from_native(err) unless code.zero?

        # The Callbacks of a body IO or progress stay referenced until the
        # transfer comes back: the multi calls them meanwhile.
        @active[id] = [req, native.keep]
        nil
      ensure
        native.close
      end
    rescue Reqivo::Error => e
      e # a request the library refuses (a bad URL): that request's failure
    end

    # Inside Blocking.run: waits for the multi, then takes every finished
    # transfer as [request, result, ...] (responses copied and freed).
    def wait_and_collect
      m = @multi
      err = Native.error_struct
      raise Error.from_native(err) unless Native.reqivo_multi_poll(m, -1, err).zero?

      out = []
      Multi.each_done(m, @done) do |id, result|
        req, keep = @active.delete(id)
        next if req.nil?

        # What a body IO or progress callable raised, rather than the
        # library's "aborted by callback".
        result = keep.error if keep&.error
        out << req << result
      end
      out
    end

    def deliver(pairs)
      pairs.each_slice(2) { |req, result| req.__send__(:answer, result) }
    end
  end
end
