# frozen_string_literal: true

require_relative 'errors'
require_relative 'response'

module Reqivo
  # What the two users of a reqivo_multi share: Batch (Session#parallel,
  # which waits in reqivo_multi_poll) and FiberMulti (Session calls under a
  # fiber scheduler, which wait on the multi's descriptor). A finished
  # transfer becomes the same Ruby value in both, and the same one the
  # blocking Session#request returns or raises.
  module Multi
    module_function

    # A new reqivo_multi; raises the library's error (no descriptor left).
    def new_pointer
      err = Native.error_struct
      ptr = Native.reqivo_multi_new(err)
      raise Error.from_native(err) if ptr.null?

      ptr
    end

    # Takes every finished transfer of `multi` (reqivo_multi_next into
    # `done`, a Native::MultiDone), or at most `max` of them, and yields
    # its user_data as a number and its result: a Reqivo::Response (the
    # reqivo_response copied, then freed) or the Reqivo::Error
    # Session#request would raise for it. Returns true when it stopped at
    # `max` (more may be waiting).
    def each_done(multi, done, max = nil)
      taken = 0
      loop do
        return true if max && taken == max

        done[:struct_size] = Native::MultiDone.size
        return false unless Native.reqivo_multi_next(multi, done)

        taken += 1
        yield done[:user_data].address, result(done)
      end
    end

    # A WebSocket dial's open connection (reqivo_multi_add_ws), as
    # reqivo_multi_next hands it: `ptr` frees it when dropped unclaimed.
    Dialled = Struct.new(:ptr)

    # The result of the transfer in a filled Native::MultiDone: for a
    # WebSocket dial a Dialled, or the error with the refusal's answer.
    def result(done)
      resp = done[:response]
      ws = done[:ws]
      unless ws.null?
        Native.reqivo_response_free(resp) # the 101: the connection keeps its own
        return Dialled.new(FFI::AutoPointer.new(ws, Native::FREE[:ws]))
      end
      return Error.from_native(done[:error]) if resp.null?

      begin
        response = Response.from_native(resp)
        return response if done[:error][:code].zero?

        e = Error.from_native(done[:error])
        e.response = response if e.respond_to?(:response=)
        e
      ensure
        Native.reqivo_response_free(resp)
      end
    end
  end
end
