# frozen_string_literal: true

require 'ffi'
require_relative 'native_gen'

module Reqivo
  # The C API of libreqivo. native_gen.rb, generated from include/reqivo.h
  # by tools/gen_bindings.py, holds the header's constants, one struct class
  # per C struct, the callback types and, in FUNCTIONS, every function,
  # attached (the waiting ones releasing the GVL). What follows is what the
  # header cannot say. Nothing here has Ruby semantics; the classes around
  # it (Session, Response, Pool, Cancel) do.
  module Native
    # [[name, value], ...] from the reqivo_header array `fields` of `count`
    # entries (trailer fields), copied into Ruby strings.
    def self.header_fields(fields, count)
      return [] if fields.null? || count.zero?

      Array.new(count) do |i|
        h = Header.new(fields + (i * Header.size))
        [h[:name][:ptr].get_bytes(0, h[:name][:len]), h[:value][:ptr].get_bytes(0, h[:value][:len])]
      end
    end

    # Functions of include/reqivo.h the Ruby code deliberately does not
    # call (they are attached all the same), each with the reason. The
    # coverage test (test/codes_test.rb) holds lib/ to it: every function is
    # called or listed here, and nothing listed is called, so a new C
    # function is used or given a reason in the same change.
    PENDING = {
      'the session\'s pool: the binding always creates the session on a Reqivo::Pool, ' \
      'which Session#pool returns' => %i[reqivo_session_pool],
      'JSON pointer lookup into a reqivo_response: a Ruby Response is a copy and the ' \
      'reqivo_response is freed as soon as it is copied; Response#dig_json runs the same ' \
      'lookup on that copy with reqivo_json_lookup' => %i[reqivo_response_json],
      'header lookup in a reqivo_response: a Ruby Response copies every field into ' \
      'Reqivo::Headers, whose lookups are Ruby\'s' => %i[reqivo_response_header]
    }.flat_map { |reason, names| names.map { |n| [n, reason] } }.to_h.freeze

    # The functions that may wait (and so release the GVL).
    BLOCKING = FUNCTIONS.select { |f| f[3]&.fetch(:blocking, false) }.map(&:first).freeze

    # The destructors, as callables for Handle / FFI::AutoPointer.
    FREE = %i[cancel multi pool request session stream tls_config ws ws_options].to_h { |n| [n, method(:"reqivo_#{n}_free")] }.freeze

    # This thread's reqivo_error, reused call after call (the library
    # clears it on entry). Read it before the thread's next call.
    def self.error_struct
      Thread.current[:reqivo_error_struct] ||= Error.new
    end
  end
end
