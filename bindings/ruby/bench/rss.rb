# frozen_string_literal: true

# Leak check (not a test): many requests through one session in a loop,
# printing the process's RSS every tenth of the run; a flat line after
# warm-up means nothing leaks per request (responses, requests, tokens,
# error structs).
#
#   ruby -Ilib bench/rss.rb [REQUESTS]     (default 100000)
require 'reqivo'
require_relative 'nginx'

def rss_kib
  File.read('/proc/self/status')[/^VmRSS:\s+(\d+)/, 1].to_i
end

n = Integer(ARGV[0] || 100_000)
step = n / 10
BenchNginx.run('small.json' => '{"ok":true,"n":42}', 'page.html' => 'x' * 16_384) do |base|
  s = Reqivo::Session.new
  samples = []
  took = BenchNginx.timed do
    n.times do |i|
      r = i.even? ? s.get("#{base}/small.json") : s.post("#{base}/page.html", json: { i: i })
      raise "bad status #{r.status}" unless [200, 405].include?(r.status)

      if (i % step).zero?
        GC.start
        samples << rss_kib
      end
    end
  end
  GC.start
  samples << rss_kib
  puts "#{n} requests in #{took.round(1)} s; RSS (KiB) every #{step}: #{samples.join(' ')}"
  puts "growth after the first tenth: #{samples.last - samples[1]} KiB"
  s.close
end
