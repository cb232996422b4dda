# frozen_string_literal: true

require_relative 'fiber_multi'

module Reqivo
  class WebSocket
    # How WebSocket#receive waits under a fiber scheduler without a helper
    # thread (DESIGN §8): reqivo_ws_try_receive does what can be done now
    # (pings answered, pongs and close frames taken in, a reconnect) and
    # says how long to wait at most (the read timeout, the keep-alive ping
    # or pong deadline: the library's next timer); the fiber then waits
    # for the connection's descriptor with IO#wait_readable, which goes to
    # the scheduler's io_wait, and asks again.
    #
    # The wait is on a duplicate of reqivo_ws_fd: the library may close its
    # descriptor (a #close from another thread, a reconnect) while the
    # fiber waits, and a number it closed could be reused by anything; the
    # duplicate stays ours until the receive ends. A reconnect brings
    # another socket (perhaps under the same number), so after each try
    # the socket is compared by inode, as the Go binding does.
    class FiberWait
      # Raised into a waiting fiber of the same thread by WebSocket#close.
      class Wake < Exception; end # rubocop:disable Lint/InheritException -- not for rescue StandardError

      # A caller's `cancel:` token has no descriptor to wake the fiber: a
      # wait with one lasts at most this long between looks at it.
      CANCEL_POLL_MS = 50

      # The descriptor to wait on (a duplicate of `fd`, made or kept).
      def watch(fd)
        raise Reqivo::InternalError, 'the WebSocket has no descriptor' if fd.negative?

        return @io if @io && @fd == fd && same_socket?(fd)

        close
        lib = IO.for_fd(fd, autoclose: false)
        @io = lib.dup
        @io.autoclose = true
        @fd = fd
        @ino = @io.stat.ino
        @io
      end

      # Waits for the descriptor at most `ms` milliseconds (-1: no limit);
      # returns early when resumed by Scheduler#unblock (`woken` then
      # true). Wake, raised in to end the wait, is the caller's to rescue.
      def wait(ms, woken)
        FiberMulti.wait_readable(@io, ms, woken)
      end

      def close
        @io&.close
        @io = nil
      end

      private

      def same_socket?(fd)
        IO.for_fd(fd, autoclose: false).stat.ino == @ino
      rescue SystemCallError
        false
      end
    end
  end
end
