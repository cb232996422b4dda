# frozen_string_literal: true

module Reqivo
  # A C handle held by an FFI::AutoPointer (freed by GC if forgotten) plus a
  # use count, so that #close never frees memory a call still uses: when
  # another thread closes a session or stream in the middle of a call, the
  # free is deferred to the end of the last #use.
  #
  # `gc: false` is for handles private to one call (a request), which the
  # call always closes in an `ensure`: no finalizer, which saves the cost
  # of registering one per request.
  class Handle
    # Objects C may call into while this handle lives (Callbacks), kept
    # referenced here.
    attr_accessor :keep

    def initialize(ptr, releaser, what, gc: true)
      raise ArgumentError, "NULL #{what}" if ptr.nil? || ptr.null?

      if gc
        @ptr = FFI::AutoPointer.new(ptr, releaser)
      else
        @ptr = ptr
        @releaser = releaser
      end
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
      @releaser ? @releaser.call(@ptr) : @ptr.free
    end
  end
end
