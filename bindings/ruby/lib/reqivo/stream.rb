# frozen_string_literal: true

require_relative 'handle'
require_relative 'blocking'
require_relative 'response'

module Reqivo
  # A response whose body is read piece by piece (reqivo_stream), from
  # Session#stream without a block. One thread at a time; #close it (the
  # connection goes back to the pool only if the body was read to its end).
  #
  #   st = session.stream(:get, '/big')
  #   begin
  #     st.response.status
  #     st.each { |chunk| io.write(chunk) }
  #   ensure
  #     st.close
  #   end
  class Stream
    include Enumerable

    CHUNK = 64 * 1024

    # The head: status, headers, url, timings (body empty).
    attr_reader :response

    # Takes ownership of a reqivo_stream pointer and its cancel token;
    # `callbacks` (a Callbacks or nil) are the request's, which the stream's
    # reads may call.
    def initialize(ptr, token, own_token, callbacks = nil)
      @handle = Handle.new(ptr, Native::FREE[:stream], 'stream')
      @handle.keep = callbacks
      @token = token
      @own_token = own_token
      @buf = FFI::MemoryPointer.new(:uint8, CHUNK)
      @lock = Mutex.new
      @eof = false
      @broken = nil
      # The head is owned by the stream: copy it, never free it.
      @response = @handle.use { |st| Response.from_native(Native.reqivo_stream_response(st)) }
    end

    # The next chunk of the body (binary String, at most 64 KiB), or nil at
    # the end. Raises the library's error (and every later call the same).
    def read_chunk
      @lock.synchronize do
        raise @broken if @broken
        return nil if @eof

        begin
          result = Blocking.run(@token) do
            @handle.use do |st|
              err = Native.error_struct
              n = Native.reqivo_stream_read(st, @buf, CHUNK, err)
              @trailer_fields = stream_trailers(st) if n.zero?
              n.negative? ? Error.from_native(err) : @buf.get_bytes(0, n)
            end
          end
        rescue Exception => e # rubocop:disable Lint/RescueException -- re-raised
          # Interrupted (the token is now triggered) or closed: the stream
          # is unusable from here on.
          @broken = e.is_a?(Reqivo::Error) ? e : Cancelled.new("stream read was interrupted by #{e.class}")
          raise
        end
        if (stashed = @handle.keep&.error)
          @broken = stashed
          raise stashed
        end
        if result.is_a?(Reqivo::Error)
          @broken = result
          raise @broken
        end
        @eof = true if result.empty?
        @eof ? nil : result
      end
    end

    # The fields reqivo_stream_trailers gives for `st`.
    def stream_trailers(st)
      count = FFI::MemoryPointer.new(:size_t)
      Native.header_fields(Native.reqivo_stream_trailers(st, count), count.read(:size_t))
    end
    private :stream_trailers

    # Yields every remaining chunk.
    def each
      return enum_for(:each) unless block_given?

      while (chunk = read_chunk)
        yield chunk
      end
      self
    end

    # The rest of the body as one binary String.
    def read
      out = String.new(encoding: Encoding::BINARY)
      each { |c| out << c }
      out
    end

    def eof?
      @eof
    end

    # The trailer fields of a chunked body once it has been read to its end
    # (a Reqivo::Headers, empty when the server sent none); nil before.
    def trailers
      @eof ? Headers.new(@trailer_fields || []) : nil
    end

    # Frees the stream (now, or when a read still in flight returns).
    # Idempotent.
    def close
      @handle.close
      if @own_token && @token
        Cancel::Recycler.checkin(@token)
        @token = nil
      end
      nil
    end

    def closed?
      @handle.closed?
    end
  end
end
