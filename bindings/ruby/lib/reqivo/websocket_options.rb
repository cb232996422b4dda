# frozen_string_literal: true

require_relative 'config'
require_relative 'errors'
require_relative 'websocket'

module Reqivo
  class WebSocket
    # The options of Session#websocket as a reqivo_ws_options, which the
    # handshake copies (an FFI::AutoPointer: freed by GC after it).
    module Options
      KEYS = %i[max_frame max_message ping_interval pong_timeout deflate reconnect on_reconnect].freeze

      module_function

      # [options pointer, ReconnectNotifier or nil]. `headers` are
      # [[name, value], ...] pairs; `opts` the other keyword options.
      def build(protocols, headers, opts)
        unknown = opts.keys - KEYS
        raise ArgumentError, "unknown websocket option(s): #{unknown.join(', ')}" unless unknown.empty?

        if (block = opts[:on_reconnect])
          raise ArgumentError, 'on_reconnect must respond to #call' unless block.respond_to?(:call)

          notifier = ReconnectNotifier.new(block)
        end
        o = FFI::AutoPointer.new(Native.reqivo_ws_options_new, Native::FREE[:ws_options])
        texts(o, protocols, headers)
        numbers(o, opts)
        reconnect(o, opts[:reconnect], notifier) if opts[:reconnect]
        [o, notifier]
      end

      def texts(o, protocols, headers)
        err = Native::Error.new
        Array(protocols).each do |p|
          p = p.to_s
          check(Native.reqivo_ws_options_add_protocol(o, p, p.bytesize, err), err)
        end
        headers.each do |name, value|
          check(Native.reqivo_ws_options_add_header(o, name, name.bytesize, value, value.bytesize, err), err)
        end
      end

      def numbers(o, opts)
        if opts[:max_frame] || opts[:max_message]
          check(Native.reqivo_ws_options_set_limits(o, opts[:max_frame] || 0, opts[:max_message] || 0))
        end
        if opts[:ping_interval] || opts[:pong_timeout]
          every = opts[:ping_interval] ? Config.seconds_to_ms(opts[:ping_interval], 'ping_interval') : 0
          pong = opts[:pong_timeout] ? Config.seconds_to_ms(opts[:pong_timeout], 'pong_timeout') : 0
          check(Native.reqivo_ws_options_set_ping(o, every, pong))
        end
        return unless (d = opts[:deflate])

        d = {} if d == true
        raise ArgumentError, "deflate must be true or a Hash, got #{d.inspect}" unless d.is_a?(Hash)

        check(Native.reqivo_ws_options_set_deflate(o, true, d.fetch(:server_no_context_takeover, false),
                                                   d.fetch(:client_no_context_takeover, false),
                                                   d.fetch(:server_max_window_bits, 0)))
      end

      def reconnect(o, spec, notifier)
        raise ArgumentError, "reconnect must be a Hash, got #{spec.inspect}" unless spec.is_a?(Hash)

        initial = Config.seconds_to_ms(spec.fetch(:initial_delay, 0.1), 'reconnect initial_delay')
        max = Config.seconds_to_ms(spec.fetch(:max_delay, 5), 'reconnect max_delay')
        check(Native.reqivo_ws_options_set_reconnect(o, spec.fetch(:attempts), initial, max, notifier&.function, nil))
      end

      # Raises the error of a non-zero code (from `err` when given).
      def check(code, err = nil)
        return if code.zero?

        raise err ? Error.from_native(err) : Error.for_code(code, Native.reqivo_code_name(code))
      end
    end
  end
end
