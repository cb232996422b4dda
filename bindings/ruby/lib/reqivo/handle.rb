# frozen_string_literal: true

module Reqivo
  # A C handle held by an FFI::AutoPointer (freed by GC if forgotten) plus a
  # use count, so that #close never frees memory a call still uses: when
  # another thread closes a session or stream in the middle of a call, the
  # free is deferred to the end of the last #use. (A request, private to
  # one call, has a Handle::Private instead.)
  class Handle
    # Objects C may call into while this handle lives (Callbacks), kept
    # referenced here.
    attr_accessor :keep

    def initialize(ptr, releaser, what)
      raise ArgumentError, "NULL #{what}" if ptr.nil? || ptr.null?

      @ptr = FFI::AutoPointer.new(ptr, releaser)
      @what = what
      @lock = Mutex.new
      @users = 0
      @closed = false
    end

    # Yields the pointer, counted as in use. Raises ClosedError after #close.
    def use
      @lock.synchronize do
        raise ClosedError, "#{@what} is closed" if @closed

        @users += 1
      end
      begin
        yield @ptr
      ensure
        free_now = @lock.synchronize do
          @users -= 1
          @closed && @users.zero?
        end
        release if free_now
      end
    end

    # The pointer, not counted as in use: only for the sole holder of the
    # handle, which no other thread can close meanwhile.
    def pointer
      raise ClosedError, "#{@what} is closed" if @closed

      @ptr
    end

    # Frees the handle now, or when the last call using it ends. Idempotent.
    def close
      free_now = @lock.synchronize do
        next false if @closed

        @closed = true
        @users.zero?
      end
      release if free_now
      nil
    end

    def closed?
      @closed
    end

    private

    def release
      @ptr.free
    end

    # A handle private to one call on one thread (a request: built, sent
    # and closed by one Session#request or #stream, which closes it in an
    # `ensure`). Nothing else can reach it, so it needs no lock, use count
    # or finalizer: a request makes no Mutex and takes no lock for them.
    class Private
      attr_accessor :keep

      def initialize(ptr, releaser, what)
        raise ArgumentError, "NULL #{what}" if ptr.nil? || ptr.null?

        @ptr = ptr
        @releaser = releaser
        @what = what
      end

      def use
        raise ClosedError, "#{@what} is closed" if @ptr.nil?

        yield @ptr
      end

      # Frees the handle. Idempotent.
      def close
        ptr = @ptr
        @ptr = nil
        @releaser.call(ptr) if ptr
        nil
      end
    end
  end
end
