# frozen_string_literal: true

require_relative 'native'

module Reqivo
  # Turns Ruby option values (seconds, hashes) into the C structs.
  module Config
    TIMEOUT_KEYS = %i[connect read write total pool].freeze
    LIMIT_KEYS = %i[max_line_bytes max_header_bytes max_header_count max_body_bytes].freeze
    U32_MAX = 0xFFFF_FFFF
    U64_MAX = 0xFFFF_FFFF_FFFF_FFFF
    # "No limit" in the C structs, where 0 means "the default" (the
    # header's values, through the generated constants).
    NO_LIMIT = Native::REQIVO_NO_LIMIT
    NO_LIMIT_64 = Native::REQIVO_NO_LIMIT_64

    module_function

    # The library's default timeouts as {connect:, read:, write:, total:,
    # pool:} in milliseconds (NO_LIMIT = no limit).
    def default_timeout_ms
      t = Native.reqivo_timeout_default
      TIMEOUT_KEYS.to_h { |k| [k, t[:"#{k}_ms"]] }
    end

    # Milliseconds for `spec` on top of `base` (a hash as above):
    # - nil: base unchanged;
    # - a number of seconds: connect, read, write and pool (total keeps base);
    # - a hash with any of connect:/read:/write:/total:/pool: in seconds,
    #   nil meaning no limit; keys left out keep base.
    def timeout_ms(spec, base)
      case spec
      when nil
        base
      when Numeric
        ms = seconds_to_ms(spec, 'timeout')
        base.merge(connect: ms, read: ms, write: ms, pool: ms)
      when Hash
        unknown = spec.keys - TIMEOUT_KEYS
        raise ArgumentError, "unknown timeout key(s): #{unknown.join(', ')}; use #{TIMEOUT_KEYS.join(', ')}" unless unknown.empty?

        base.merge(spec.to_h { |k, v| [k, v.nil? ? NO_LIMIT : seconds_to_ms(v, "timeout #{k}")] })
      else
        raise ArgumentError, "timeout must be seconds or a hash of #{TIMEOUT_KEYS.join('/')}, got #{spec.inspect}"
      end
    end

    def native_timeout(ms)
      t = Native::Timeout.new
      TIMEOUT_KEYS.each { |k| t[:"#{k}_ms"] = ms.fetch(k) }
      t
    end

    def seconds_to_ms(sec, what)
      raise ArgumentError, "#{what} must be a number of seconds, got #{sec.inspect}" unless sec.is_a?(Numeric)
      raise ArgumentError, "#{what} must be positive (nil means no limit), got #{sec}" unless sec.positive?

      # One below NO_LIMIT: a very long timeout stays a timeout.
      [(sec * 1000).ceil, NO_LIMIT - 1].min
    end

    # reqivo_limits from {max_line_bytes:, max_header_bytes:,
    # max_header_count:, max_body_bytes:}; missing keys take the defaults,
    # nil means no limit.
    def native_limits(spec)
      raise ArgumentError, "limits must be a hash, got #{spec.inspect}" unless spec.is_a?(Hash)

      unknown = spec.keys - LIMIT_KEYS
      raise ArgumentError, "unknown limit(s): #{unknown.join(', ')}; use #{LIMIT_KEYS.join(', ')}" unless unknown.empty?

      l = Native::Limits.new
      spec.each do |k, v|
        v = k == :max_body_bytes ? NO_LIMIT_64 : NO_LIMIT if v.nil?
        raise ArgumentError, "limit #{k} must be a non-negative Integer" unless v.is_a?(Integer) && v >= 0
        raise ArgumentError, "limit #{k} is too large (nil means no limit)" if v > (k == :max_body_bytes ? U64_MAX : U32_MAX)

        l[k] = v
      end
      l
    end
  end
end
