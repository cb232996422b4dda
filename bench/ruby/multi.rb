# frozen_string_literal: true

# Ruby clients of the multi_hold phase (bench/run.py):
#
#   ruby [-I bindings/ruby/lib] bench/ruby/multi.rb async|parallel|hydra|nethttp-threads hold URL COUNT
#
# async: COUNT Async tasks in one reactor (the async gem), each doing
# Reqivo::Session#get, so the binding's fiber-scheduler path (one
# reqivo_multi driven from the scheduler's io_wait) carries them all, through
# a session whose pool allows COUNT connections. parallel: COUNT GETs queued
# on one Reqivo::Session#parallel(max_in_flight: COUNT) batch (one
# reqivo_multi driven by the calling thread), through a session like async's.
# hydra: Typhoeus::Hydra (libcurl's multi through ethon) with
# max_concurrency COUNT and COUNT requests queued. nethttp-threads: COUNT
# Ruby Threads, each doing one Net::HTTP GET on its own connection (Ruby's
# threads are OS threads). Each checks every answer is a 200. Prints one JSON
# line with the fields of bench/clients/multi_common.c's report; threads and
# descriptors are read every 100 ms until the first answer and once at the
# end (async: by a fiber; nethttp-threads: by the main thread while the
# others run; hydra and parallel, whose thread stays in the library, before
# the run starts and at the first answer), CPU from getrusage
# (Process.times, every thread), peak RSS from VmHWM at the end: the whole
# process's resident high-water mark, the threads' stacks included. hydra
# and parallel queue their requests before the clock starts (the run adds
# them); async and nethttp-threads are timed from the first task or thread
# started.
require 'json'

impl, mode, url, count = ARGV
CLIENTS = {
  'async' => 'ruby-reqivo-async-multi', 'parallel' => 'ruby-reqivo-parallel-multi',
  'hydra' => 'ruby-typhoeus-multi', 'nethttp-threads' => 'ruby-nethttp-threads-multi'
}.freeze
unless CLIENTS.key?(impl) && mode == 'hold' && url && count
  abort "usage: multi.rb #{CLIENTS.keys.join('|')} hold URL COUNT"
end
n = Integer(count)
client = CLIENTS.fetch(impl)

def status(field)
  File.foreach('/proc/self/status') { |l| return l.split[1].to_i if l.start_with?("#{field}:") }
  -1
end

def fds
  Dir.children('/proc/self/fd').size
end

def fail!(client, msg)
  warn "multi.rb #{client}: #{msg}"
  puts JSON.generate(client: client, error: msg)
  exit 1
end

# Every connection needs a descriptor (nethttp-threads: one per thread's
# socket, all open at once): the soft limit up to the hard one.
soft, hard = Process.getrlimit(:NOFILE)
Process.setrlimit(:NOFILE, hard) if soft < hard
nofile = Process.getrlimit(:NOFILE)[0]
fail!(client, "RLIMIT_NOFILE is #{nofile}: too low for #{n} connections") if nofile < n + 16

peak = { threads: 0, fds: 0, samples: 0 }
sample = lambda do
  peak[:threads] = [peak[:threads], status('Threads')].max
  peak[:fds] = [peak[:fds], fds].max
  peak[:samples] += 1
end
ok = 0
failed = 0
first_error = nil
# Called by one thread at a time (nethttp-threads: under a Mutex).
answer = lambda do |code, err|
  if code == 200
    ok += 1
  else
    failed += 1
    first_error ||= err || "status #{code}"
  end
end

begin
  case impl
  when 'async'
    require 'async'
    require 'reqivo'
    version = "reqivo #{Reqivo.library_version} via the Ruby binding under async #{Async::VERSION}, Ruby #{RUBY_VERSION}"
    session = Reqivo::Session.new(pool: Reqivo::Pool.new(max_per_host: n, max_total: n), timeout: 60)
    fds_base = fds
    t0 = Process.times
    c0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    Async do |task|
      first = false
      sampler = task.async do
        until first
          sample.call
          sleep 0.1
        end
      end
      Array.new(n) do
        task.async do
          r = session.get(url)
          answer.call(r.status, nil)
        rescue Reqivo::Error => e
          answer.call(nil, "#{e.class}: #{e.message}")
        ensure
          first = true
        end
      end.each(&:wait)
      sampler.stop
    end
  when 'hydra'
    require 'typhoeus'
    version = "Typhoeus #{Typhoeus::VERSION} (ethon #{Ethon::VERSION}, #{Ethon::Curl.version}), Ruby #{RUBY_VERSION}"
    hydra = Typhoeus::Hydra.new(max_concurrency: n)
    first = false
    n.times do
      req = Typhoeus::Request.new(url, timeout: 60)
      req.on_complete do |r|
        unless first
          sample.call
          first = true
        end
        answer.call(r.code, r.success? ? nil : "#{r.return_code}: #{r.return_message} (HTTP #{r.code})")
      end
      hydra.queue(req)
    end
    fds_base = fds
    t0 = Process.times
    c0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    sample.call
    hydra.run
  when 'parallel'
    require 'reqivo'
    version = "reqivo #{Reqivo.library_version} via the Ruby binding's Session#parallel, Ruby #{RUBY_VERSION}"
    session = Reqivo::Session.new(pool: Reqivo::Pool.new(max_per_host: n, max_total: n), timeout: 60)
    first = false
    fds_base = fds
    t0 = c0 = nil # set when the block has queued every request
    session.parallel(max_in_flight: n) do |batch|
      n.times do
        batch.get(url) do |r|
          unless first
            sample.call
            first = true
          end
          if r.is_a?(Exception)
            answer.call(nil, "#{r.class}: #{r.message}")
          else
            answer.call(r.status, nil)
          end
        end
      end
      # The requests start when this block returns.
      t0 = Process.times
      c0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      sample.call
    end
  when 'nethttp-threads'
    require 'net/http'
    version = "Net::HTTP #{Net::HTTP::VERSION}, a Thread each, Ruby #{RUBY_VERSION}"
    uri = URI(url)
    host = uri.host
    port = uri.port
    path = uri.request_uri
    lock = Mutex.new
    first = false
    fds_base = fds
    t0 = Process.times
    c0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    threads = Array.new(n) do
      Thread.new do
        code, err = begin
          res = Net::HTTP.start(host, port, open_timeout: 60, read_timeout: 60) { |http| http.get(path) }
          [res.code.to_i, nil]
        rescue StandardError => e
          [nil, "#{e.class}: #{e.message}"]
        end
        lock.synchronize do
          answer.call(code, err)
          first = true
        end
      end
    end
    # The main thread samples while the others wait for their answers.
    until first
      sample.call
      sleep 0.1
    end
    threads.each(&:join)
  end
  c1 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  t1 = Process.times
rescue StandardError, LoadError => e
  fail!(client, "#{e.class}: #{e.message}")
end
sample.call # the end

puts JSON.generate(
  client: client, mode: mode, n: n, ok: ok, failed: failed, first_error: first_error.to_s,
  secs: c1 - c0, utime_us: ((t1.utime - t0.utime) * 1e6).round, stime_us: ((t1.stime - t0.stime) * 1e6).round,
  sample_us: 0, samples: peak[:samples], hwm_kb: status('VmHWM'), rss_kb: status('VmRSS'),
  threads_peak: peak[:threads], threads_end: status('Threads'), fds_peak: peak[:fds], fds_base: fds_base,
  nofile: nofile, concurrency: n, lib_version: version
)
