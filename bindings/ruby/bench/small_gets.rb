# frozen_string_literal: true

# Benchmark (not a test): small GETs over one kept-alive connection,
# reqivo's Ruby binding against Net::HTTP, both against nginx on 127.0.0.1
# (started here from a temp dir). Prints requests/second and the ratio.
#
#   ruby -Ilib bench/small_gets.rb [REQUESTS] [ROUNDS]   (default 10000, 3)
require 'net/http'
require 'reqivo'
require_relative 'nginx'

n = Integer(ARGV[0] || 10_000)
rounds = Integer(ARGV[1] || 3)
BenchNginx.run('small.json' => '{"ok":true,"n":42}') do |base|
  uri = URI("#{base}/small.json")
  url = uri.to_s
  best = Hash.new(Float::INFINITY)
  Net::HTTP.start(uri.host, uri.port) do |http|
    s = Reqivo::Session.new
    200.times { http.get(uri.path).body && s.get(url).body } # warm up both
    rounds.times do
      best['Net::HTTP (keep-alive)'] = [best['Net::HTTP (keep-alive)'], BenchNginx.timed { n.times { http.get(uri.path).body } }].min
      best['reqivo'] = [best['reqivo'], BenchNginx.timed { n.times { s.get(url).body } }].min
    end
    s.close
  end
  base_t = best['Net::HTTP (keep-alive)']
  puts "#{n} small GETs, best of #{rounds} rounds, ruby #{RUBY_VERSION}, libreqivo #{Reqivo.library_version}"
  best.each do |name, secs|
    printf("%-24s %8.0f req/s  %6.1f us/req  x%.2f vs Net::HTTP\n", name, n / secs, secs / n * 1e6, base_t / secs)
  end
end
