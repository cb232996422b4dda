# frozen_string_literal: true

require 'json'
require_relative 'headers'

module Reqivo
  # A complete response, copied into Ruby from the library's fixed-layout
  # reqivo_response, which is then freed. Immutable.
  #
  # A response from the library is copied with one read of its bytes (see
  # Layout::Copy); the status and body are taken at once, everything else
  # (reason, URL, headers, timings, ...) is cut from that copy when first
  # asked for, so a caller that reads only the status and body pays for
  # nothing more. The copy is plain Ruby memory: nothing refers to the
  # C response once from_native has returned. Two threads asking for the
  # same field at once may both build it; they get equal values.
  class Response
    # When each phase ended, in seconds since the send began (Float); nil
    # for a phase that did not happen (no DNS for an IP literal, no connect
    # or TLS on a reused connection).
    Timings = Struct.new(:dns, :connect, :tls, :sent, :first_byte, :total)

    attr_reader :status, :body

    # Copies a reqivo_response (a pointer to one, or a Native::Response).
    # Does not free it.
    def self.from_native(resp)
      base = resp.is_a?(Native::Response) ? resp.pointer : resp
      size = base.get_uint32(Layout::STRUCT_SIZE_AT)
      raise InternalError, "reqivo_response is #{size} bytes, this binding needs #{Layout::SIZE}" if size < Layout::SIZE

      resp = allocate.__send__(:copied, base.get_uint16(Layout::STATUS_AT), Layout::Copy.new(base))
      if (base.get_uint32(Layout::FLAGS_AT) & RESPONSE_FLAGS.fetch(:trailers)).nonzero?
        count = FFI::MemoryPointer.new(:size_t)
        fields = Native.reqivo_response_trailers(base, count)
        resp.instance_variable_set(:@trailer_fields, Native.header_fields(fields, count.read(:size_t)))
      end
      resp
    end

    # timings: a Timings, or the six nanosecond counts of reqivo_timings.
    # tls_version: the REQIVO_TLS_VERSION_* number, 0 without TLS.
    def initialize(status:, reason:, headers:, body:, url:, http_version: '1.1',
                   flags: 0, redirect_count: 0, timings: nil, tls_version: 0)
      @status = status
      @reason = reason
      @headers = headers
      @body = body
      @url = url
      @http_version = http_version
      @flags = flags
      @redirect_count = redirect_count
      @timings = timings
      @tls_version_number = tls_version
      @copy = nil
    end

    # The reason phrase (UTF-8).
    def reason
      @reason || keep(:@reason, @copy&.reason)
    end

    # The trailer fields of a chunked body (RFC 9112 §7.1.2), a
    # Reqivo::Headers; empty when the server sent none.
    def trailers
      Headers.new(@trailer_fields || [])
    end

    # A Reqivo::Headers.
    def headers
      @headers || keep(:@headers, @copy && Headers.new(@copy))
    end

    # The final URL, after redirects (UTF-8).
    def url
      @url || keep(:@url, @copy&.url)
    end

    # "1.1" or "1.0"; "2" for HTTP/2 (RFC 9113 names it without a minor).
    def http_version
      @http_version || keep(:@http_version, @copy&.http_version)
    end

    # The REQIVO_RESPONSE_* bits (see the predicates below).
    def flags
      @flags || keep(:@flags, @copy&.flag_bits)
    end

    # Redirects followed to reach this response.
    def redirect_count
      @redirect_count || keep(:@redirect_count, @copy&.redirect_count)
    end

    # The TLS version of the connection as min_version: names it (:tls1_2,
    # :tls1_3), nil without TLS (a number this binding does not know is
    # returned as is).
    def tls_version
      number = @tls_version_number || keep(:@tls_version_number, @copy&.tls_version_number)
      return nil if number.nil? || number.zero?

      TLS_VERSIONS.key(number) || number
    end

    # A Timings (seconds), made on first use.
    def timings
      t = @timings || keep(:@timings, @copy&.timings_ns)
      return t if t.nil? || t.is_a?(Timings)

      keep(:@timings, Timings.new(*t.map { |ns| ns.zero? ? nil : ns / 1e9 }))
    end

    # The body decoded with the charset of Content-Type (UTF-8 if none or
    # unknown); invalid bytes are kept as they are (check valid_encoding?).
    def text
      @text ||= begin
        enc = charset && (Encoding.find(charset) rescue nil) # rubocop:disable Style/RescueModifier
        s = @body.dup.force_encoding(enc || Encoding::UTF_8)
        s.encode(Encoding::UTF_8) rescue s # rubocop:disable Style/RescueModifier
      end
    end

    # The charset parameter of Content-Type, or nil.
    def charset
      ct = headers['content-type'] or return nil
      ct[/;\s*charset\s*=\s*"?([^";\s]+)"?/i, 1]
    end

    # The body parsed as JSON (JSON::ParserError if it is not). Options go
    # to JSON.parse, e.g. symbolize_names: true.
    def json(**opts)
      JSON.parse(text, **opts)
    end

    # The value at JSON Pointer `pointer` (RFC 6901: "" is the whole body,
    # "/items/0/name" a member of an element, "~1" stands for "/" and "~0"
    # for "~"), or nil when the pointer refers to nothing (a missing member,
    # an index past the end or not a number, a step into a scalar). The
    # library evaluates the pointer (reqivo_json_lookup, the same code as
    # reqivo_response_json) on a copy of the body kept for further
    # lookups; objects and arrays come back parsed and deeply frozen. A body
    # that is not JSON raises JSON::ParserError, a malformed pointer
    # Reqivo::UsageError (REQIVO_ERR_INVALID_JSON_POINTER).
    def dig_json(pointer)
      raise ArgumentError, "JSON pointer must be a String, got #{pointer.class}" unless pointer.is_a?(String)

      copy = @json_copy || keep(:@json_copy, FFI::MemoryPointer.new(:uint8, [@body.bytesize, 1].max)
                                                              .put_bytes(0, @body))
      value = Native::JsonValue.new
      value[:struct_size] = Native::JsonValue.size
      err = Native.error_struct
      case Native.reqivo_json_lookup(copy, @body.bytesize, pointer, pointer.bytesize, value, err)
      when 0 then json_value(value)
      when JSON_NOT_FOUND then nil
      when INVALID_JSON then raise JSON::ParserError, err[:message].to_s
      else raise Error.from_native(err)
      end
    end

    JSON_NOT_FOUND = CODES_BY_NAME.fetch('REQIVO_ERR_JSON_NOT_FOUND').code
    INVALID_JSON = CODES_BY_NAME.fetch('REQIVO_ERR_INVALID_JSON').code
    private_constant :JSON_NOT_FOUND, :INVALID_JSON

    # One predicate per REQIVO_RESPONSE_* flag of the header (generated
    # table): reused? (the connection had served an earlier request),
    # tls?, decompressed?, redirect_not_followed? (a 307/308 returned
    # because a streamed body cannot be sent again), ...
    RESPONSE_FLAGS.each do |name, bit|
      define_method(:"#{name}?") { (flags & bit).nonzero? ? true : false }
    end

    # 2xx.
    def success?
      @status.between?(200, 299)
    end
    alias ok? success?

    # 3xx (returned as is when max_redirects is 0 or redirects are not followed).
    def redirect?
      @status.between?(300, 399)
    end

    def inspect
      "#<Reqivo::Response #{@status} #{reason} #{url} (#{@body.bytesize} bytes)>"
    end

    private

    # A value reqivo_json_lookup found, as Ruby: scalars from the struct,
    # strings decoded by the library, the rest parsed (frozen) from its
    # text (a number past int64 keeps every digit that way).
    def json_value(value)
      case value[:type]
      when Native::REQIVO_JSON_NULL then nil
      when Native::REQIVO_JSON_BOOL then value[:boolean]
      when Native::REQIVO_JSON_INTEGER then value[:integer]
      when Native::REQIVO_JSON_STRING then json_string(value)
      else JSON.parse(value[:raw][:ptr].read_bytes(value[:raw][:len]), freeze: true)
      end
    end

    def json_string(value)
      err = Native.error_struct
      len = FFI::MemoryPointer.new(:size_t)
      Native.reqivo_json_string(value, nil, 0, len, err) # the length
      buf = FFI::MemoryPointer.new(:char, len.read(:size_t) + 1)
      code = Native.reqivo_json_string(value, buf, buf.size, len, err)
      raise Error.from_native(err) unless code.zero?

      buf.read_bytes(len.read(:size_t)).force_encoding(Encoding::UTF_8).freeze
    end

    # A field made on first use, kept for the next (not when the response
    # is frozen, e.g. by Ractor.make_shareable: it is then made each time).
    def keep(ivar, value)
      frozen? ? value : instance_variable_set(ivar, value)
    end

    # from_native's initializer: the status and body now, the rest from
    # `copy` when asked for.
    def copied(status, copy)
      @status = status
      @body = copy.body
      @copy = copy
      self
    end

    # Where reqivo_response's fields are (offsets and types as ffi computed
    # them for Native::Response, so nothing is copied by hand from the
    # header), and the Ruby copy of one response (Copy).
    module Layout
      DIRECTIVES = {
        FFI::Type::UINT8 => 'C', FFI::Type::UINT16 => 'S', FFI::Type::UINT32 => 'L',
        FFI::Type::INT32 => 'l', FFI::Type::UINT64 => 'Q', FFI::Type::INT64 => 'q',
        FFI::Type::POINTER => 'J', FFI.find_type(:size_t) => 'J' # size_t is uintptr_t-sized on every ffi platform
      }.freeze

      # [[flat_name, offset, directive], ...] for every scalar of `struct`;
      # nested structs are flattened as outer_inner (url_ptr, url_len).
      def self.flatten(struct, prefix = nil, base = 0)
        # An instance's #layout reads the class layout without the
        # redefinition warning that Struct.layout gives.
        struct.new.layout.fields.flat_map do |field|
          name = prefix ? :"#{prefix}_#{field.name}" : field.name
          if field.is_a?(FFI::StructLayout::InnerStruct)
            inner = field.type.struct_class
            # timings fields keep their own names (dns_ns, ...)
            flatten(inner, inner == Native::Timings ? nil : name, base + field.offset)
          else
            dir = DIRECTIVES.fetch(field.type) { raise "no unpack directive for #{field.type}" }
            [[name, base + field.offset, dir]]
          end
        end
      end

      FIELDS = flatten(Native::Response).freeze
      SIZE = Native::Response.size
      WORD = FFI.type_size(:pointer)

      # For each scalar: its offset (STATUS_AT, URL_PTR_AT, ...) and the
      # unpack1 template that reads it from a copy of the struct (STATUS_T).
      FIELDS.each do |name, off, dir|
        const_set(:"#{name.upcase}_AT", off)
        const_set(:"#{name.upcase}_T", "@#{off}#{dir}".freeze)
      end
      # The six reqivo_timings counts, in order.
      TIMINGS_T = Native::Timings.members.map { |m| const_get(:"#{m.upcase}_T") }.join.freeze

      # The strings' pointers and lengths and the header array, eight
      # consecutive words, are read with one call.
      SPANS = %i[url_ptr url_len reason_ptr reason_len headers header_count body body_len].freeze
      SPANS_AT = URL_PTR_AT
      unless SPANS.each_with_index.all? { |n, i| FIELDS.include?([n, SPANS_AT + i * WORD, 'J']) }
        raise LoadError, 'unexpected reqivo_response layout'
      end

      # reqivo_header is four pointer-sized words with no padding.
      HEADER_SIZE = Native::Header.size
      HEADER_WORDS = HEADER_SIZE / WORD
      unless flatten(Native::Header).each_with_index.all? { |(_, off, dir), i| dir == 'J' && off == i * WORD } &&
             HEADER_WORDS == 4
        raise LoadError, 'unexpected reqivo_header layout'
      end

      module_function

      # split(n) for the header counts most responses have, made once each.
      SPLIT_MAX = 64
      SPLIT = Hash.new { |h, n| h[n] = split_indexes(n) }

      # The indexes of the addresses, and of the lengths, among the words
      # of `n` headers' strings.
      def split(n)
        n <= SPLIT_MAX ? SPLIT[n] : split_indexes(n)
      end

      def split_indexes(n)
        [(0...n * HEADER_WORDS).step(2).to_a.freeze, (1...n * HEADER_WORDS).step(2).to_a.freeze].freeze
      end

      # `n` pointer-sized words at `off` bytes from `ptr`.
      def words(ptr, off, n)
        WORD == 8 ? ptr.get_array_of_uint64(off, n) : ptr.get_array_of_uint32(off, n)
      end

      # `n` words at address `addr`, read through `base` when after it.
      def words_at(base, addr, n)
        off = addr - base.address
        off >= 0 ? words(base, off, n) : words(FFI::Pointer.new(addr), 0, n)
      end

      # `len` bytes at address `addr`, read through `base` when after it.
      def bytes(base, addr, len)
        return String.new(encoding: Encoding::BINARY) if len.zero?

        off = addr - base.address
        off >= 0 ? base.get_bytes(off, len) : FFI::Pointer.new(addr).get_bytes(0, len)
      end

      def utf8(s)
        s.force_encoding(Encoding::UTF_8)
      end

      def text_or_binary(s)
        s.force_encoding(Encoding::UTF_8)
        s.valid_encoding? ? s : s.force_encoding(Encoding::BINARY)
      end

      # A Ruby copy of one response, taken while the C response lives and
      # read after it is freed. The library puts the struct, the header
      # array and every string in one allocation, struct first (DESIGN §4),
      # so this normally reads [struct, last byte) with one get_bytes, cuts
      # the body out at once and everything else when asked for. If some
      # string lies before the struct, or the span is much larger than the
      # bytes in it, every string is read on its own now instead.
      class Copy
        SLACK = 4096

        attr_reader :body

        def initialize(base)
          lo = base.address
          spans = Layout.words(base, SPANS_AT, SPANS.size)
          count = spans[5]
          words = count.zero? ? [] : Layout.words_at(base, spans[4], count * HEADER_WORDS)
          @lo = lo
          if (hi = extent(lo, spans, words))
            @blob = base.get_bytes(0, hi - lo)
            @body = str(spans[6], spans[7])
          else
            copy_each(base, spans, words)
          end
        end

        def reason
          @reason || Layout.utf8(str(@blob.unpack1(REASON_PTR_T), @blob.unpack1(REASON_LEN_T)))
        end

        def url
          @url || Layout.utf8(str(@blob.unpack1(URL_PTR_T), @blob.unpack1(URL_LEN_T)))
        end

        # [[name, value], ...] in received order.
        def header_fields
          return @fields if @fields

          count = @blob.unpack1(HEADER_COUNT_T)
          return [] if count.zero?

          w = @blob.unpack("@#{@blob.unpack1(HEADERS_T) - @lo}J#{count * HEADER_WORDS}")
          fields(w, count) { |addr, len| str(addr, len) }
        end

        def http_version
          major = @blob.unpack1(HTTP_MAJOR_T)
          major >= 2 ? major.to_s : "#{major}.#{@blob.unpack1(HTTP_MINOR_T)}"
        end

        def flag_bits
          @blob.unpack1(FLAGS_T)
        end

        def redirect_count
          @blob.unpack1(REDIRECT_COUNT_T)
        end

        def tls_version_number
          @blob.unpack1(TLS_VERSION_T)
        end

        # The six reqivo_timings counts (nanoseconds).
        def timings_ns
          @blob.unpack(TIMINGS_T)
        end

        private

        # The end of [lo, end) holding the struct at `lo`, its strings and
        # its header array, or nil when one lies before the struct or the
        # span is much larger than the bytes in it. `spans` is turned into
        # (address, length) pairs. The header strings normally lie between
        # the header array and the body, which one test over all of them
        # shows at C speed (lowest address, highest address plus longest
        # length); only when it fails is each one checked.
        def extent(lo, spans, words)
          spans[5] *= HEADER_SIZE
          hi = scan(spans, lo, lo + SIZE) or return nil
          total = SIZE + spans[1] + spans[3] + spans[5] + spans[7]
          unless words.empty?
            addr_at, len_at = Layout.split(words.size / HEADER_WORDS)
            addrs = words.values_at(*addr_at)
            lens = words.values_at(*len_at)
            total += lens.sum
            unless addrs.min >= lo && addrs.max + lens.max <= hi
              hi = scan(words, lo, hi) or return nil
            end
          end
          hi - lo <= total + total / 4 + SLACK ? hi : nil
        end

        # `hi`, or the end of the last of the (address, length) `pairs` if
        # later; nil if one starts before `lo`. Empty strings are skipped.
        def scan(pairs, lo, hi)
          i = 0
          n = pairs.size
          while i < n
            len = pairs[i + 1]
            if len != 0
              addr = pairs[i]
              return nil if addr < lo

              e = addr + len
              hi = e if e > hi
            end
            i += 2
          end
          hi
        end

        # The rare layout: every string copied now, the struct for the scalars.
        def copy_each(base, spans, words)
          @blob = base.get_bytes(0, SIZE)
          @body = Layout.bytes(base, spans[6], spans[7])
          @reason = Layout.utf8(Layout.bytes(base, spans[2], spans[3]))
          @url = Layout.utf8(Layout.bytes(base, spans[0], spans[1]))
          @fields = fields(words, words.size / HEADER_WORDS) { |addr, len| Layout.bytes(base, addr, len) }
        end

        def fields(w, count)
          Array.new(count) do |i|
            j = i * HEADER_WORDS
            [Layout.text_or_binary(yield(w[j], w[j + 1])), Layout.text_or_binary(yield(w[j + 2], w[j + 3]))]
          end
        end

        def str(addr, len)
          return String.new(encoding: Encoding::BINARY) if len.zero?

          @blob.byteslice(addr - @lo, len)
        end
      end
    end
  end
end
