# frozen_string_literal: true

require 'json'
require_relative 'headers'

module Reqivo
  # A complete response, copied into Ruby objects from the library's
  # fixed-layout reqivo_response (read field by field from the struct, no
  # call per field), which is then freed. Immutable.
  class Response
    # When each phase ended, in seconds since the send began (Float); nil
    # for a phase that did not happen (no DNS for an IP literal, no connect
    # or TLS on a reused connection).
    Timings = Struct.new(:dns, :connect, :tls, :sent, :first_byte, :total)

    attr_reader :status, :reason, :headers, :body, :url, :http_version,
                :redirect_count, :flags

    # Copies a reqivo_response (a pointer to one, or a Native::Response).
    # Does not free it.
    def self.from_native(resp)
      base = resp.is_a?(Native::Response) ? resp.pointer : resp
      f = Layout.read_response(base)
      if f[Layout::STRUCT_SIZE] < Layout::SIZE
        raise InternalError, "reqivo_response is #{f[Layout::STRUCT_SIZE]} bytes, this binding needs #{Layout::SIZE}"
      end

      copy = Layout::Copy.new(base, f)
      new(
        status: f[Layout::STATUS],
        reason: copy.str(f[Layout::REASON_PTR], f[Layout::REASON_LEN]).force_encoding(Encoding::UTF_8),
        http_version: "#{f[Layout::HTTP_MAJOR]}.#{f[Layout::HTTP_MINOR]}",
        flags: f[Layout::FLAGS],
        redirect_count: f[Layout::REDIRECT_COUNT],
        url: copy.str(f[Layout::URL_PTR], f[Layout::URL_LEN]).force_encoding(Encoding::UTF_8),
        headers: Headers.new(copy),
        body: copy.str(f[Layout::BODY], f[Layout::BODY_LEN]),
        timings: f[Layout::TIMINGS],
        tls_version: f[Layout::TLS_VERSION]
      )
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
    end

    # The TLS version of the connection as min_version: names it (:tls1_2,
    # :tls1_3), nil without TLS (a number this binding does not know is
    # returned as is).
    def tls_version
      return nil if @tls_version_number.nil? || @tls_version_number.zero?

      TLS_VERSIONS.key(@tls_version_number) || @tls_version_number
    end

    # A Timings (seconds), made on first use.
    def timings
      return @timings if @timings.nil? || @timings.is_a?(Timings)

      @timings = Timings.new(*@timings.map { |ns| ns.zero? ? nil : ns / 1e9 })
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
      ct = @headers['content-type'] or return nil
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
    # an index past the end or not a number, a step into a scalar). The body
    # is parsed once (JSON::ParserError if it is not JSON) and kept, deeply
    # frozen; a malformed pointer raises Reqivo::UsageError
    # (REQIVO_ERR_INVALID_JSON_POINTER). The same lookups as the C API's
    # reqivo_response_json, done on JSON.parse's result.
    def dig_json(pointer)
      tokens = JsonPointer.parse(pointer)
      @json_doc = JSON.parse(text, freeze: true) unless defined?(@json_doc)
      JsonPointer.resolve(@json_doc, tokens)
    end

    # RFC 6901 pointers over parsed JSON.
    module JsonPointer
      INDEX = /\A(?:0|[1-9][0-9]*)\z/.freeze

      module_function

      # The unescaped reference tokens of `pointer`.
      def parse(pointer)
        raise ArgumentError, "JSON pointer must be a String, got #{pointer.class}" unless pointer.is_a?(String)
        return [] if pointer.empty?

        unless pointer.start_with?('/') && pointer.valid_encoding? && !pointer.match?(/~(?![01])/)
          code = CODES_BY_NAME.fetch('REQIVO_ERR_INVALID_JSON_POINTER').code
          raise Error.for_code(code, "invalid JSON pointer #{pointer.inspect}: it must be empty or start " \
                                     "with '/', and '~' must be followed by '0' or '1'")
        end
        pointer.split('/', -1).drop(1).map { |t| t.gsub('~1', '/').gsub('~0', '~') }
      end

      def resolve(doc, tokens)
        tokens.reduce(doc) do |node, token|
          case node
          when Hash then node.fetch(token) { return nil }
          when Array
            return nil unless token.match?(INDEX) && token.to_i < node.size

            node[token.to_i]
          else return nil
          end
        end
      end
    end

    # One predicate per REQIVO_RESPONSE_* flag of the header (generated
    # table): reused? (the connection had served an earlier request),
    # tls?, decompressed?, redirect_not_followed? (a 307/308 returned
    # because a streamed body cannot be sent again), ...
    RESPONSE_FLAGS.each do |name, bit|
      define_method(:"#{name}?") { (@flags & bit).nonzero? ? true : false }
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
      "#<Reqivo::Response #{@status} #{@reason} #{@url} (#{@body.bytesize} bytes)>"
    end

    # Reads reqivo_response in one copy: the struct's bytes are unpacked
    # with a template built from Native::Response's layout (offsets and
    # types as ffi computed them), so there is no per-field call and no
    # nested struct object per string.
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
      NAMES = FIELDS.map(&:first).freeze
      TEMPLATE = FIELDS.map { |_, off, dir| "@#{off}#{dir}" }.join.freeze
      SIZE = Native::Response.size

      # Index of each scalar in read_response's array: STATUS, URL_PTR, ...
      NAMES.each_with_index { |name, i| const_set(name.upcase, i) }
      # The six reqivo_timings counts, as a slice of that array.
      TIMINGS = (NAMES.index(Native::Timings.members.first)..NAMES.index(Native::Timings.members.last)).freeze

      # reqivo_header is four pointer-sized words with no padding.
      HEADER_WORDS = Native::Header.size / FFI.type_size(:pointer)
      unless flatten(Native::Header).each_with_index.all? { |(_, off, dir), i| dir == 'J' && off == i * FFI.type_size(:pointer) } &&
             HEADER_WORDS == 4
        raise LoadError, 'unexpected reqivo_header layout'
      end

      module_function

      # Every scalar of the struct at `ptr`, in NAMES order.
      def read_response(ptr)
        ptr.get_bytes(0, SIZE).unpack(TEMPLATE)
      end

      # `len` bytes at address `addr`, read through `base` when after it.
      def bytes(base, addr, len)
        return String.new(encoding: Encoding::BINARY) if len.zero?

        off = addr - base.address
        off >= 0 ? base.get_bytes(off, len) : FFI::Pointer.new(addr).get_bytes(0, len)
      end

      # A Ruby copy of one response's bytes. The library puts the struct,
      # the header array and every string in one allocation (DESIGN §4),
      # so this normally reads [struct, last byte) in one get_bytes and
      # cuts strings out of it; if some string lies before the struct or
      # the span is much larger than the bytes in it, each string is read
      # on its own instead. Header fields are cut out when first asked for.
      class Copy
        SLACK = 4096

        attr_reader :header_count

        def initialize(base, f)
          lo = base.address
          @header_count = count = f[HEADER_COUNT]
          @words = count.zero? ? [] : Layout.bytes(base, f[HEADERS], count * Native::Header.size).unpack("J#{count * HEADER_WORDS}")
          spans = [f[URL_PTR], f[URL_LEN], f[REASON_PTR], f[REASON_LEN], f[BODY], f[BODY_LEN],
                   f[HEADERS], count * Native::Header.size]
          hi = lo + SIZE
          total = SIZE
          contiguous = true
          [spans, @words].each do |list|
            i = 0
            while i < list.size
              addr = list[i]
              len = list[i + 1]
              i += 2
              next if len.zero?

              contiguous = false if addr < lo
              e = addr + len
              hi = e if e > hi
              total += len
            end
          end
          if contiguous && hi - lo <= total + total / 4 + SLACK
            @lo = lo
            @blob = base.get_bytes(0, hi - lo)
          else
            @base = base
          end
        end

        def str(addr, len)
          return String.new(encoding: Encoding::BINARY) if len.zero?

          @blob ? @blob.byteslice(addr - @lo, len) : Layout.bytes(@base, addr, len)
        end

        # [[name, value], ...] in received order.
        def header_fields
          w = @words
          Array.new(@header_count) do |i|
            j = i * 4
            [Layout.text_or_binary(str(w[j], w[j + 1])), Layout.text_or_binary(str(w[j + 2], w[j + 3]))]
          end
        end
      end

      def text_or_binary(s)
        s.force_encoding(Encoding::UTF_8)
        s.valid_encoding? ? s : s.force_encoding(Encoding::BINARY)
      end
    end
  end
end
