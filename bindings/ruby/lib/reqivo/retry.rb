# frozen_string_literal: true

module Reqivo
  # A session's retry policy (Session.new(retries:), Session#retries=).
  # Only idempotent methods (GET, HEAD, OPTIONS, TRACE, PUT, DELETE) are
  # retried, and requests whose headers carry an Idempotency-Key (or
  # X-Idempotency-Key); a body read from an IO is never sent twice. Each
  # wait is random in [0, min(max_backoff, base_backoff * 2**(attempt-1))]
  # seconds, or a retried 429/503's Retry-After when retry_after is true
  # (capped at max_backoff); a wait that would pass the total timeout is
  # not made: the last response or error comes back at once. Cancel (or
  # Timeout.timeout) ends a wait at once.
  #
  #   Reqivo::Session.new(retries: true)   # Reqivo::Retry.new: 3 attempts, every outcome
  #   Reqivo::Session.new(retries: { max_attempts: 5, base_backoff: 0.2, on: %i[connect_error 503] })
  class Retry
    # The outcomes `on:` may name.
    OUTCOMES = {
      connect_error: Native::REQIVO_RETRY_ON_CONNECT_ERROR,
      reset: Native::REQIVO_RETRY_ON_RESET,
      429 => Native::REQIVO_RETRY_ON_429,
      503 => Native::REQIVO_RETRY_ON_503
    }.freeze

    attr_reader :max_attempts, :base_backoff, :max_backoff, :on, :retry_after

    # max_attempts: attempts in all, the first included (1: no retry).
    # base_backoff, max_backoff: seconds (Numeric).
    # on: the outcomes retried, among OUTCOMES' keys ("503" or :"503" also do).
    # retry_after: honour Retry-After (seconds or an HTTP-date).
    # Defaults: the library's (reqivo_retry_default): 3, 0.1, 10, all, true.
    def initialize(max_attempts: nil, base_backoff: nil, max_backoff: nil, on: nil, retry_after: nil)
      d = Native.reqivo_retry_default
      @max_attempts = max_attempts || d[:max_attempts]
      @base_backoff = base_backoff || (d[:base_backoff_ms] / 1000.0)
      @max_backoff = max_backoff || (d[:max_backoff_ms] / 1000.0)
      @on = (on || OUTCOMES.keys).map { |o| outcome(o) }.uniq.freeze
      @retry_after = retry_after.nil? ? d[:flags].anybits?(Native::REQIVO_RETRY_AFTER) : retry_after
      check
      freeze
    end

    # A Retry from what Session.new(retries:) takes: true, a Hash of
    # #initialize's options, or a Retry. nil and false mean none.
    def self.from(value)
      case value
      when nil, false then nil
      when true then new
      when Hash then new(**value)
      when Retry then value
      else raise ArgumentError, "retries must be true, false, a Hash or a Reqivo::Retry, got #{value.class}"
      end
    end

    # The reqivo_retry for this policy.
    def to_native
      n = Native::Retry.new
      n[:struct_size] = Native::Retry.size
      n[:max_attempts] = @max_attempts
      n[:base_backoff_ms] = ms(@base_backoff, 'base_backoff')
      n[:max_backoff_ms] = ms(@max_backoff, 'max_backoff')
      n[:flags] = @on.sum { |o| OUTCOMES.fetch(o) } | (@retry_after ? Native::REQIVO_RETRY_AFTER : 0)
      n
    end

    private

    def ms(sec, what)
      raise ArgumentError, "#{what} must be seconds (a Numeric, 0 or more), got #{sec.inspect}" unless sec.is_a?(Numeric) && sec >= 0

      [(sec * 1000).ceil, 0xFFFF_FFFF].min
    end

    def outcome(name)
      key = name.to_s.match?(/\A\d+\z/) ? Integer(name.to_s) : name
      raise ArgumentError, "unknown retry outcome #{name.inspect} (#{OUTCOMES.keys.inspect})" unless OUTCOMES.key?(key)

      key
    end

    def check
      unless @max_attempts.is_a?(Integer) && @max_attempts.between?(1, 0xFFFF_FFFF)
        raise ArgumentError, "max_attempts must be an Integer from 1 (no retry), got #{@max_attempts.inspect}"
      end
      raise ArgumentError, 'retry_after must be true or false' unless [true, false].include?(@retry_after)

      to_native # checks the durations
    end
  end
end
