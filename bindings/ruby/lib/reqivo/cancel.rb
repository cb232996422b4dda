# frozen_string_literal: true

require_relative 'handle'

module Reqivo
  # A cancellation token (reqivo_cancel). Pass it as `cancel:` to a request
  # and call #cancel from any thread: the request raises Reqivo::Cancelled
  # within 50 ms. Once cancelled it stays cancelled.
  #
  # Every request also gets a token of its own from a small free list; the
  # binding triggers it when the calling thread is interrupted (Timeout,
  # Thread#kill, Thread#raise) so the library stops, and an untriggered
  # token goes back to the list for the next request.
  class Cancel
    def initialize
      ptr = Native.reqivo_cancel_new
      if ptr.null?
        raise Error.for_code(CODES_BY_NAME.fetch('REQIVO_ERR_IO').code,
                             'reqivo_cancel_new failed: no file descriptor to spare')
      end
      @handle = Handle.new(ptr, Native::FREE[:cancel], 'cancel token')
      @cancelled = false
    end

    # Triggers the token: every send, open and stream read using it stops.
    def cancel
      @cancelled = true
      @handle.use { |ptr| Native.reqivo_cancel_trigger(ptr) }
      self
    end
    alias cancel! cancel

    def cancelled?
      @cancelled
    end

    # Runs the block with the token's pointer (kept alive meanwhile).
    def use(&block)
      @handle.use(&block)
    end

    # The token's pointer, for the one call that holds a token of the
    # Recycler: nobody else can close it meanwhile (the watchdog only
    # triggers it, through #cancel), so no use is counted.
    def owned_pointer
      @handle.pointer
    end

    # Frees the token (requests in flight keep their own reference).
    def close
      @handle.close
    end

    # A free list of untriggered tokens, so a request costs no new token
    # (each holds a file descriptor). Guarded by Blocking's lock, under
    # which Blocking.run takes a request's token and gives it back along
    # with the call's registration (#take, #give); #checkout and #checkin
    # take the lock for tokens that outlive one Blocking.run (a stream's).
    module Recycler
      MAX = 64
      @free = []
      @pid = Process.pid

      class << self
        def checkout
          Blocking.synchronize { take }
        end

        def checkin(tok)
          Blocking.synchronize { give(tok) }
        end

        # A token of the list, or a new one. Under Blocking's lock.
        def take
          # Forked: the parent's tokens (its file descriptors) are not ours
          # to use. Blocking.watching? spares the pid system call.
          forget_parent unless Blocking.watching? || @pid == Process.pid
          @free.pop || Cancel.new
        end

        # Keeps an untriggered token for a later call. Under Blocking's lock.
        def give(tok)
          if tok.cancelled? || @free.size >= MAX
            tok.close
          else
            @free << tok
          end
        end

        def forget_parent
          @free = []
          @pid = Process.pid
        end
      end
    end
  end
end
