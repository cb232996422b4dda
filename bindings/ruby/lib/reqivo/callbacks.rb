# frozen_string_literal: true

module Reqivo
  # The Ruby procs one request hands to the library (a streaming body
  # reader, a progress callback). Kept referenced here, by the request or
  # stream that owns them, for as long as C may call them. Nothing raises
  # through C: an exception in a callback is rescued and stashed, the
  # callback returns the abort value, and the caller re-raises it once the
  # C call has returned (#raise_stashed).
  class Callbacks
    # The exception a callback raised, if any.
    attr_reader :error

    def initialize
      @functions = []
      @error = nil
    end

    def empty?
      @functions.empty?
    end

    # A reqivo_read_callback reading `io` (readpartial, or read(n)).
    def body_reader(io)
      keep(FFI::Function.new(:int64, %i[pointer pointer size_t]) do |_userdata, buf, cap|
        guard(-1) do
          data = read_some(io, cap)
          next 0 if data.nil? || data.empty?

          data = data.byteslice(0, cap) if data.bytesize > cap
          buf.put_bytes(0, data)
          data.bytesize
        end
      end)
    end

    # A reqivo_progress_callback calling block.call(sent, send_total,
    # received, receive_total); totals are nil when unknown.
    def progress(block)
      keep(FFI::Function.new(:int32, %i[pointer uint64 int64 uint64 int64]) do |_userdata, sent, send_total, received, receive_total|
        guard(1) do
          block.call(sent, send_total.negative? ? nil : send_total, received, receive_total.negative? ? nil : receive_total)
          0
        end
      end)
    end

    # Raises the stashed exception, if a callback raised one.
    def raise_stashed
      raise @error if @error
    end

    private

    def keep(function)
      @functions << function
      function
    end

    # Runs a callback body; on an exception stashes it and returns
    # `abort_value` (and keeps returning it: the transfer is over).
    def guard(abort_value)
      return abort_value if @error

      yield
    rescue Exception => e # rubocop:disable Lint/RescueException -- re-raised by the caller
      @error = e
      abort_value
    end

    def read_some(io, cap)
      io.respond_to?(:readpartial) ? io.readpartial(cap) : io.read(cap)
    rescue EOFError
      nil
    end
  end
end
