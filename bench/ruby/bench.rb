# frozen_string_literal: true

# Ruby clients of the benchmark:
#
#   ruby [-I bindings/ruby/lib] bench/ruby/bench.rb reqivo|nethttp MODE URL COUNT [WARM_URL]
#
# reqivo: the binding (Reqivo::Session#get; stream: Session#stream with a
# block). nethttp: Net::HTTP.start once, #get on the kept-alive connection
# (newconn: Net::HTTP.start per request). MODE, COUNT and WARM_URL as for
# the C clients (bench/clients/common.h). Prints one JSON line; CPU from
# Process.clock_gettime per-process CPU split by getrusage (Process.times).
require 'json'
require 'net/http'
require 'uri'
require 'openssl'

impl, mode, url, count, warm_url = ARGV
abort 'usage: bench.rb reqivo|nethttp MODE URL COUNT [WARM_URL]' unless impl && mode && url && count
client = "ruby-#{impl}"
duration = count.end_with?('s') ? count.to_f : nil
n = duration ? nil : Integer(count)
warm = Integer(ENV.fetch('BENCH_WARMUP', '100'))

def status_kb(field)
  File.foreach('/proc/self/status') do |l|
    return l.split[1].to_i if l.start_with?("#{field}:")
  end
  -1
end

begin
  require 'ffi'
  module MallocCount
    extend FFI::Library
    ffi_lib FFI::CURRENT_PROCESS
    attach_function :malloc_count_get, [:pointer], :void
  end
  MC_BUF = FFI::MemoryPointer.new(:uint64, 4)
rescue LoadError, FFI::NotFoundError
  MC_BUF = nil
end

def minflt
  File.read('/proc/self/stat').split(') ', 2)[1].split[7].to_i
end

def mallocs
  return nil unless MC_BUF

  MallocCount.malloc_count_get(MC_BUF)
  MC_BUF.read_array_of_uint64(4)
end

def fail!(client, e)
  warn "bench.rb #{client}: #{e.class}: #{e.message}"
  puts JSON.generate(client: client, error: "#{e.class}: #{e.message}")
  exit 1
end

u = URI(url)
version = nil
case impl
when 'reqivo'
  require 'reqivo'
  version = "reqivo #{Reqivo.library_version} (gem #{Reqivo::VERSION rescue '?'})"
  s = Reqivo::Session.new
  get = lambda do |target, close_conn|
    r = close_conn ? s.get(target, headers: { 'Connection' => 'close' }) : s.get(target)
    raise "status #{r.status}" unless r.status == 200

    r
  end
  stream = lambda do |target|
    total = 0
    s.stream(:get, target) { |chunk| total += chunk.bytesize }
    total
  end
when 'nethttp'
  version = "Net::HTTP #{Net::HTTP::VERSION rescue '?'} on Ruby #{RUBY_VERSION}, #{OpenSSL::OPENSSL_LIBRARY_VERSION}"
  start = lambda do |target|
    h = Net::HTTP.new(target.host, target.port)
    if target.scheme == 'https'
      h.use_ssl = true
      h.ca_file = ENV['BENCH_CA'] if ENV['BENCH_CA']
      h.verify_mode = OpenSSL::SSL::VERIFY_PEER
    end
    h.keep_alive_timeout = 300
    h.start
  end
  conns = {}
  get = lambda do |target, close_conn|
    t = target.is_a?(URI) ? target : URI(target)
    if close_conn
      h = start.call(t)
      begin
        r = h.get(t.request_uri, 'Connection' => 'close')
      ensure
        h.finish
      end
    else
      h = (conns["#{t.host}:#{t.port}"] ||= start.call(t))
      r = h.get(t.request_uri)
    end
    raise "status #{r.code}" unless r.code == '200'

    r
  end
  stream = lambda do |t|
    h = (conns["#{t.host}:#{t.port}"] ||= start.call(t))
    total = 0
    h.request_get(t.request_uri) do |res|
      res.read_body { |chunk| total += chunk.bytesize }
    end
    total
  end
else
  abort "unknown client #{impl}"
end

# Net::HTTP takes the parsed URI (parsed once); reqivo takes the string.
url = URI(url) if impl == 'nethttp'
warm_url = URI(warm_url) if impl == 'nethttp' && warm_url
out = { client: client, mode: mode, lib_version: version }
bytes = 0
done = 0
begin
  case mode
  when 'ka', 'newconn'
    close_conn = mode == 'newconn'
    (close_conn ? [warm, 10].min : warm).times { get.call(url, close_conn) }
    m0 = mallocs
    o0 = GC.stat(:total_allocated_objects)
    f0 = minflt
    t0 = Process.times
    c0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    loop do
      if duration
        break if (done % 16).zero? && Process.clock_gettime(Process::CLOCK_MONOTONIC) - c0 >= duration
      elsif done >= n
        break
      end
      bytes += get.call(url, close_conn).body.bytesize
      done += 1
    end
    c1 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    t1 = Process.times
    f1 = minflt
    o1 = GC.stat(:total_allocated_objects)
    m1 = mallocs
  when 'stream'
    3.times { get.call(warm_url, false) } if warm_url
    GC.start
    File.write('/proc/self/clear_refs', '5') # VmHWM := VmRSS
    out[:rss_before_kb] = status_kb('VmRSS')
    out[:hwm_before_kb] = status_kb('VmHWM')
    m0 = mallocs
    o0 = GC.stat(:total_allocated_objects)
    f0 = minflt
    t0 = Process.times
    c0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    bytes = stream.call(url)
    done = 1
    c1 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    t1 = Process.times
    f1 = minflt
    o1 = GC.stat(:total_allocated_objects)
    m1 = mallocs
  when 'hold'
    warm.times { get.call(url, false) }
    kept = []
    GC.start
    out[:rss_before_kb] = status_kb('VmRSS')
    out[:hwm_before_kb] = status_kb('VmHWM')
    m0 = mallocs
    o0 = GC.stat(:total_allocated_objects)
    f0 = minflt
    t0 = Process.times
    c0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    n.times do
      r = get.call(url, false)
      r.body
      kept << r
      bytes += r.body.bytesize
      done += 1
    end
    c1 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    t1 = Process.times
    f1 = minflt
    o1 = GC.stat(:total_allocated_objects)
    m1 = mallocs
    GC.start
    out[:kept] = kept.size
  else
    abort "unknown mode #{mode}"
  end
rescue StandardError => e
  fail!(client, e)
end

out[:n] = done
out[:secs] = c1 - c0
out[:utime_us] = ((t1.utime - t0.utime) * 1e6).round
out[:stime_us] = ((t1.stime - t0.stime) * 1e6).round
out[:minflt] = f1 - f0
out[:bytes] = bytes
out[:rss_before_kb] ||= -1
out[:hwm_before_kb] ||= -1
out[:rss_after_kb] = status_kb('VmRSS')
out[:hwm_after_kb] = status_kb('VmHWM')
out[:ruby_objects] = o1 - o0
if m0 && m1
  out[:mallocs] = m1[0] - m0[0]
  out[:reallocs] = m1[1] - m0[1]
  out[:frees] = m1[2] - m0[2]
  out[:malloc_bytes] = m1[3] - m0[3]
end
puts JSON.generate(out)
