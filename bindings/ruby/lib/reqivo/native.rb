# frozen_string_literal: true

require 'ffi'
require_relative 'library'

module Reqivo
  # The C API of libreqivo, attached with ffi: one struct class per C struct
  # (exact layouts of include/reqivo.h) and one table, FUNCTIONS, listing
  # every function. Nothing here has Ruby semantics; the classes around it
  # (Session, Response, Pool, Cancel) do.
  module Native
    extend FFI::Library
    ffi_lib Library.path

    # reqivo_error: filled by the library, owned by the caller.
    class Error < FFI::Struct
      layout :code, :uint32,
             :os_error, :int32,
             :message, [:char, 256]
    end

    # reqivo_timeout: milliseconds, 0 = default, REQIVO_NO_LIMIT = no limit;
    # passed by value.
    class Timeout < FFI::Struct
      layout :connect_ms, :uint32,
             :read_ms, :uint32,
             :write_ms, :uint32,
             :total_ms, :uint32,
             :pool_ms, :uint32
    end

    # reqivo_limits: 0 = library default, REQIVO_NO_LIMIT(_64) = no limit;
    # passed by value.
    class Limits < FFI::Struct
      layout :max_line_bytes, :uint32,
             :max_header_bytes, :uint32,
             :max_header_count, :uint32,
             :max_body_bytes, :uint64
    end

    # reqivo_pool_config: starts with struct_size, grows by appending.
    class PoolConfig < FFI::Struct
      layout :struct_size, :uint32,
             :max_per_host, :uint32,
             :max_total, :uint32,
             :max_idle_ms, :uint32
    end

    # reqivo_pool_stats: starts with struct_size, grows by appending.
    class PoolStats < FFI::Struct
      layout :struct_size, :uint32,
             :opened, :uint64,
             :reused, :uint64,
             :closed, :uint64,
             :idle, :uint64,
             :in_use, :uint64,
             :waiting, :uint64
    end

    # reqivo_str: `len` bytes at `ptr` (NUL-terminated past len).
    class Str < FFI::Struct
      layout :ptr, :pointer,
             :len, :size_t
    end

    # reqivo_header.
    class Header < FFI::Struct
      layout :name, Str,
             :value, Str
    end

    # [[name, value], ...] from the reqivo_header array `fields` of `count`
    # entries (trailer fields), copied into Ruby strings.
    def self.header_fields(fields, count)
      return [] if fields.null? || count.zero?

      Array.new(count) do |i|
        h = Header.new(fields + (i * Header.size))
        [h[:name][:ptr].get_bytes(0, h[:name][:len]), h[:value][:ptr].get_bytes(0, h[:value][:len])]
      end
    end

    # reqivo_timings: nanoseconds since the send began, 0 = phase skipped.
    class Timings < FFI::Struct
      layout :dns_ns, :uint64,
             :connect_ns, :uint64,
             :tls_ns, :uint64,
             :sent_ns, :uint64,
             :first_byte_ns, :uint64,
             :total_ns, :uint64
    end

    # reqivo_response: the fixed-layout response, one allocation.
    class Response < FFI::Struct
      layout :struct_size, :uint32,
             :status, :uint16,
             :http_major, :uint8,
             :http_minor, :uint8,
             :flags, :uint32,
             :redirect_count, :uint32,
             :url, Str,
             :reason, Str,
             :headers, :pointer,
             :header_count, :size_t,
             :body, :pointer,
             :body_len, :size_t,
             :timings, Timings,
             :tls_version, :uint16
    end

    # reqivo_ws_message: a received WebSocket message, one allocation.
    class WsMessage < FFI::Struct
      layout :struct_size, :uint32,
             :kind, :uint32,
             :flags, :uint32,
             :close_code, :uint16,
             :data, :pointer,
             :length, :size_t,
             :close_reason, Str
    end

    # reqivo_multi_done: a finished transfer of a multi, filled by
    # reqivo_multi_next (the caller sets struct_size). `response` is NULL
    # when the transfer failed, then `error` says why.
    class MultiDone < FFI::Struct
      layout :struct_size, :uint32,
             :user_data, :pointer,
             :response, :pointer,
             :error, Error
    end

    # reqivo_read_callback: fill `buf` with at most `cap` request body
    # bytes; return the count, 0 at the end, negative to abort.
    callback :reqivo_read_callback, %i[pointer pointer size_t], :int64
    # reqivo_progress_callback: (userdata, sent, send_total, received,
    # receive_total), totals -1 when unknown; non-zero aborts.
    callback :reqivo_progress_callback, %i[pointer uint64 int64 uint64 int64], :int32
    # reqivo_on_request_callback: (userdata, hook request); non-zero aborts.
    callback :reqivo_on_request_callback, %i[pointer pointer], :int32
    # reqivo_on_response_callback: (userdata, response head); non-zero aborts.
    callback :reqivo_on_response_callback, %i[pointer pointer], :int32
    # reqivo_log_callback: (userdata, REQIVO_LOG_* level, message, length).
    callback :reqivo_log_callback, %i[pointer uint32 pointer size_t], :void
    # reqivo_ws_reconnect_callback: (userdata, attempt, code 0 or the
    # failure's); told of each reconnect attempt.
    callback :reqivo_ws_reconnect_callback, %i[pointer uint32 uint32], :void

    # The reqivo_error *err of every function: a Native::Error passed as a
    # plain pointer (ffi reads a Struct's address in C), not Error.by_ref,
    # whose type check is a Ruby method run on every call.
    typedef :pointer, :error_out

    # Opaque handles are plain pointers. Every function of the header, in
    # header order: [name, argument types, return type, options]. The calls
    # that can wait on the network are `blocking: true`, so ffi releases the
    # GVL while they run and other Ruby threads keep going.
    FUNCTIONS = [
      # cancellation
      [:reqivo_cancel_new, [], :pointer],
      [:reqivo_cancel_trigger, [:pointer], :void],
      [:reqivo_cancel_free, [:pointer], :void],
      # configuration
      [:reqivo_timeout_default, [], Timeout.by_value],
      # codes
      [:reqivo_code_name, [:uint32], :string],
      [:reqivo_code_class, [:uint32], :uint32],
      # multi (Reqivo::Batch): adds, wakeups and the in-flight count may come
      # from any thread; poll waits for the network
      [:reqivo_multi_new, [:error_out], :pointer],
      [:reqivo_multi_free, [:pointer], :void],
      [:reqivo_multi_add, %i[pointer pointer pointer pointer pointer error_out], :int],
      [:reqivo_multi_poll, %i[pointer int32 error_out], :int, { blocking: true }],
      [:reqivo_multi_next, %i[pointer pointer], :bool],
      [:reqivo_multi_wakeup, [:pointer], :int],
      [:reqivo_multi_in_flight, [:pointer], :size_t],
      # BEGIN fiber-scheduler multi functions (Reqivo::FiberMulti), attached by
      # hand until the generated signatures replace this block: perform
      # never waits, so none of these releases the GVL. on_data of
      # add_streamed is a reqivo_data_callback passed as an FFI::Function.
      [:reqivo_multi_add_streamed, %i[pointer pointer pointer pointer pointer pointer pointer error_out], :int],
      [:reqivo_multi_resume, %i[pointer uint64 error_out], :int],
      [:reqivo_multi_perform, %i[pointer error_out], :int],
      [:reqivo_multi_fd, [:pointer], :int],
      [:reqivo_multi_timeout_ms, [:pointer], :int64],
      # END fiber-scheduler multi functions
      # pool
      [:reqivo_pool_config_default, [], PoolConfig.by_value],
      [:reqivo_pool_new, [PoolConfig.by_ref, :error_out], :pointer],
      [:reqivo_pool_free, [:pointer], :void],
      [:reqivo_pool_get_stats, [:pointer, PoolStats.by_ref], :void],
      [:reqivo_pool_close_idle, [:pointer], :void],
      # request
      [:reqivo_request_new, %i[pointer size_t pointer size_t error_out], :pointer],
      [:reqivo_request_add_header, %i[pointer pointer size_t pointer size_t error_out], :uint32],
      [:reqivo_request_set_body, %i[pointer pointer size_t error_out], :uint32],
      [:reqivo_request_set_timeout, [:pointer, Timeout.by_value], :uint32],
      [:reqivo_request_set_json, %i[pointer pointer size_t error_out], :uint32],
      [:reqivo_request_set_body_callback, %i[pointer reqivo_read_callback pointer int64 error_out], :uint32],
      [:reqivo_request_set_progress, %i[pointer reqivo_progress_callback pointer], :uint32],
      [:reqivo_request_free, [:pointer], :void],
      # response
      [:reqivo_response_free, [:pointer], :void],
      [:reqivo_response_header, %i[pointer pointer size_t size_t] + [Str.by_ref], :bool],
      [:reqivo_response_trailers, %i[pointer pointer], :pointer],
      # session
      [:reqivo_session_new, [:pointer, :error_out], :pointer],
      [:reqivo_session_free, [:pointer], :void],
      [:reqivo_session_set_base_url, %i[pointer pointer size_t error_out], :uint32],
      [:reqivo_session_set_timeout, [:pointer, Timeout.by_value], :uint32],
      [:reqivo_session_set_limits, [:pointer, Limits.by_value], :uint32],
      [:reqivo_session_set_max_redirects, %i[pointer uint32], :uint32],
      [:reqivo_session_set_header, %i[pointer pointer size_t pointer size_t error_out], :uint32],
      [:reqivo_session_set_basic_auth, %i[pointer pointer size_t pointer size_t error_out], :uint32],
      [:reqivo_session_set_bearer_token, %i[pointer pointer size_t error_out], :uint32],
      [:reqivo_session_set_decompress, %i[pointer bool], :uint32],
      [:reqivo_session_set_cookies, %i[pointer bool], :uint32],
      [:reqivo_session_set_cookie_limits, %i[pointer uint32 uint32 uint32], :uint32],
      [:reqivo_session_clear_cookies, [:pointer], :uint32],
      [:reqivo_session_save_cookies, %i[pointer pointer size_t pointer error_out], :uint32],
      [:reqivo_session_load_cookies, %i[pointer pointer size_t error_out], :uint32],
      [:reqivo_session_set_tls, %i[pointer pointer], :uint32],
      [:reqivo_session_set_public_suffix_list, %i[pointer pointer size_t error_out], :uint32],
      # proxies (set_proxy and use_env_proxy only parse: nothing waits)
      [:reqivo_session_set_proxy, %i[pointer pointer size_t error_out], :uint32],
      [:reqivo_session_set_no_proxy, %i[pointer pointer size_t error_out], :uint32],
      [:reqivo_session_use_env_proxy, [:pointer, :error_out], :uint32],
      # hooks and the session log (the callbacks run inside the blocking sends)
      [:reqivo_session_set_hooks, %i[pointer reqivo_on_request_callback reqivo_on_response_callback pointer], :uint32],
      [:reqivo_hook_request_method, [:pointer], Str.by_value],
      [:reqivo_hook_request_url, [:pointer], Str.by_value],
      [:reqivo_hook_request_set_header, %i[pointer pointer size_t pointer size_t error_out], :uint32],
      [:reqivo_hook_request_add_header, %i[pointer pointer size_t pointer size_t error_out], :uint32],
      [:reqivo_hook_request_remove_header, %i[pointer pointer size_t error_out], :uint32],
      [:reqivo_session_set_logger, %i[pointer reqivo_log_callback pointer uint32], :uint32],
      [:reqivo_session_send, %i[pointer pointer pointer error_out], :pointer, { blocking: true }],
      [:reqivo_session_open, %i[pointer pointer pointer error_out], :pointer, { blocking: true }],
      # stream
      [:reqivo_stream_response, [:pointer], :pointer],
      [:reqivo_stream_trailers, %i[pointer pointer], :pointer],
      [:reqivo_stream_read, %i[pointer pointer size_t error_out], :int64, { blocking: true }],
      [:reqivo_stream_free, [:pointer], :void],
      # TLS configuration (none of these waits on the network)
      [:reqivo_tls_config_builder_new, [], :pointer],
      [:reqivo_tls_config_builder_free, [:pointer], :void],
      [:reqivo_tls_config_builder_add_root_pem, %i[pointer pointer size_t error_out], :uint32],
      [:reqivo_tls_config_builder_use_system_roots, %i[pointer bool], :uint32],
      [:reqivo_tls_config_builder_set_client_auth_pem, %i[pointer pointer size_t pointer size_t error_out], :uint32],
      [:reqivo_tls_config_builder_set_min_version, %i[pointer uint32 error_out], :uint32],
      [:reqivo_tls_config_builder_add_spki_pin_sha256, %i[pointer pointer size_t error_out], :uint32],
      [:reqivo_tls_config_builder_dangerous_disable_verification, [:pointer], :uint32],
      [:reqivo_tls_config_builder_build, [:pointer, :error_out], :pointer],
      [:reqivo_tls_config_free, [:pointer], :void],
      # version
      [:reqivo_version, [], :string],
      # WebSocket: the connection's calls wait on the network; the options'
      # setters only store values
      [:reqivo_ws_connect, %i[pointer pointer size_t pointer pointer pointer error_out], :pointer,
       { blocking: true }],
      [:reqivo_ws_send, %i[pointer uint32 pointer size_t pointer error_out], :uint32, { blocking: true }],
      [:reqivo_ws_send_fragment, %i[pointer uint32 pointer size_t bool pointer error_out], :uint32,
       { blocking: true }],
      [:reqivo_ws_receive, %i[pointer pointer error_out], :pointer, { blocking: true }],
      [:reqivo_ws_ping, %i[pointer pointer size_t pointer error_out], :uint32, { blocking: true }],
      [:reqivo_ws_close, %i[pointer uint16 pointer size_t error_out], :uint32, { blocking: true }],
      [:reqivo_ws_protocol, [:pointer], Str.by_value],
      [:reqivo_ws_response, [:pointer], :pointer],
      [:reqivo_ws_free, [:pointer], :void],
      [:reqivo_ws_message_free, [:pointer], :void],
      [:reqivo_ws_options_new, [], :pointer],
      [:reqivo_ws_options_free, [:pointer], :void],
      [:reqivo_ws_options_add_protocol, %i[pointer pointer size_t error_out], :uint32],
      [:reqivo_ws_options_add_header, %i[pointer pointer size_t pointer size_t error_out], :uint32],
      [:reqivo_ws_options_set_limits, %i[pointer uint64 uint64], :uint32],
      [:reqivo_ws_options_set_ping, %i[pointer uint32 uint32], :uint32],
      [:reqivo_ws_options_set_deflate, %i[pointer bool bool bool uint32], :uint32],
      [:reqivo_ws_options_set_reconnect, %i[pointer uint32 uint32 uint32 reqivo_ws_reconnect_callback pointer], :uint32]
    ].freeze

    FUNCTIONS.each do |name, args, ret, opts|
      attach_function(name, args, ret, **(opts || {}))
    end

    # Functions of include/reqivo.h deliberately not bound yet, with the
    # reason. The test that holds FUNCTIONS to the header accepts these and
    # nothing else, so a new C function is either bound or listed here.
    PENDING = {
      'the session\'s pool: the binding always creates the session on a Reqivo::Pool, ' \
      'which Session#pool returns' => %i[reqivo_session_pool],
      'JSON pointer lookup into a reqivo_response: a Ruby Response is a copy and the ' \
      'reqivo_response is freed as soon as it is copied; Response#dig_json evaluates the same ' \
      'RFC 6901 pointers over JSON.parse (README, "JSON")' => %i[reqivo_response_json reqivo_json_string]
    }.values.flatten.freeze

    # The functions that may wait on the network (and so release the GVL).
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
