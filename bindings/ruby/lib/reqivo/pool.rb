# frozen_string_literal: true

require_relative 'handle'

module Reqivo
  # A connection pool (reqivo_pool): thread-safe, shareable by any number of
  # sessions. A session keeps its pool alive, so closing or dropping the
  # Pool object only gives up this reference.
  #
  #   pool = Reqivo::Pool.new(max_per_host: 4)
  #   burst = Reqivo::Pool.new(max_per_host: Reqivo::Config::NO_LIMIT, max_idle_per_host: 8)
  #   a = Reqivo::Session.new(pool: pool)
  #   b = Reqivo::Session.new(pool: pool)
  #   pool.stats  # => #<struct Reqivo::Pool::Stats opened=..., reused=..., ...>
  class Pool
    # Counters since creation (opened, reused, closed) and gauges now
    # (idle, in_use, waiting).
    Stats = Struct.new(:opened, :reused, :closed, :idle, :in_use, :waiting)

    # The limits it was made with (the library's defaults where none was
    # given): connections to one scheme/host/port, and in all, and idle
    # connections kept to one scheme/host/port.
    attr_reader :max_per_host, :max_total, :max_idle_per_host

    # max_per_host: connections to one scheme/host/port, idle or in use
    # (default 10); max_total: connections in all (default 100); max_idle:
    # seconds an idle connection may wait for reuse (default 30);
    # max_idle_per_host: idle connections kept to one scheme/host/port, a
    # connection released beyond them being closed (default: as many as
    # max_per_host). Reqivo::Config::NO_LIMIT lifts any of the three counts.
    def initialize(max_per_host: nil, max_total: nil, max_idle: nil, max_idle_per_host: nil)
      cfg = Native.reqivo_pool_config_default # struct_size set, defaults filled
      cfg[:max_per_host] = count(max_per_host, 'max_per_host') if max_per_host
      cfg[:max_total] = count(max_total, 'max_total') if max_total
      cfg[:max_idle_ms] = Config.seconds_to_ms(max_idle, 'max_idle') if max_idle
      # 0: as many as max_per_host (which bounds idle and in use together).
      cfg[:max_idle_per_host] = max_idle_per_host ? count(max_idle_per_host, 'max_idle_per_host') : 0
      @max_per_host = cfg[:max_per_host]
      @max_total = cfg[:max_total]
      @max_idle_per_host = max_idle_per_host ? cfg[:max_idle_per_host] : @max_per_host
      err = Native::Error.new
      ptr = Native.reqivo_pool_new(cfg, err)
      raise Error.from_native(err) if ptr.null?

      @handle = Handle.new(ptr, Native::FREE[:pool], 'pool')
    end

    # The pool's statistics now (reqivo_pool_get_stats).
    def stats
      out = Native::PoolStats.new
      out[:struct_size] = Native::PoolStats.size
      @handle.use { |ptr| Native.reqivo_pool_get_stats(ptr, out) }
      Stats.new(*Stats.members.map { |m| out[m] })
    end

    # Closes the idle kept-alive connections now instead of when they
    # expire; connections in use finish their responses as usual, and later
    # requests open new ones. Counted in stats.closed.
    def close_idle
      @handle.use { |ptr| Native.reqivo_pool_close_idle(ptr) }
      nil
    end

    # Gives up this reference; sessions on the pool keep working.
    def close
      @handle.close
    end

    def closed?
      @handle.closed?
    end

    # Runs the block with the pool's pointer (kept alive meanwhile).
    def use(&block)
      @handle.use(&block)
    end

    private

    def count(value, what)
      raise ArgumentError, "#{what} must be a positive Integer" unless value.is_a?(Integer) && value.positive? && value <= Config::U32_MAX

      value
    end
  end
end
