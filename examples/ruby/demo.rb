#!/usr/bin/env ruby
# frozen_string_literal: true

# reqivo from Ruby: a GET, a JSON POST and a streamed download against the
# demo server (examples/demo_server.py).
#
#   ruby -Ibindings/ruby/lib examples/ruby/demo.rb http://127.0.0.1:PORT
#
# The first argument is the server's base URL; a URL with a path (as
# `make demo` passes, e.g. .../hello) works too: its origin is used.
require 'digest'
require 'uri'
require 'reqivo'

abort "usage: #{$PROGRAM_NAME} BASE_URL" if ARGV.empty?
origin = URI(ARGV[0])
base = "#{origin.scheme}://#{origin.host}:#{origin.port}/"

session = Reqivo::Session.new(base_url: base, timeout: { connect: 2, read: 5, total: 30 },
                              headers: { 'User-Agent' => "reqivo-ruby/#{Reqivo::VERSION}" })
puts "reqivo #{Reqivo.library_version}, base URL #{base}"

# 1. GET
r = session.get('hello')
puts "GET #{r.url} -> #{r.status} #{r.reason}, #{r.headers['content-type']}: #{r.text.inspect}"

# 2. JSON POST (the response is read on the same kept-alive connection)
r = session.post('echo', json: { library: 'reqivo', binding: 'ruby', list: [1, 2, 3] })
puts "POST #{r.url} -> #{r.status}, reused connection: #{r.reused?}, echo: #{r.json.inspect}"

# 3. Cookie round trip: /login sets a cookie, the session's jar sends it back
session.get('login')
puts "GET whoami after login -> #{session.get('whoami').text.strip}"

# 4. Streamed download: chunks as they arrive, flat memory
digest = Digest::SHA256.new
bytes = 0
chunks = 0
head = session.stream(:get, 'download') do |chunk|
  digest << chunk
  bytes += chunk.bytesize
  chunks += 1
end
puts "STREAM #{head.url} -> #{head.status}, #{bytes} bytes in #{chunks} chunks, sha256 #{digest.hexdigest[0, 16]}..."

stats = session.pool.stats
puts "pool: #{stats.opened} opened, #{stats.reused} reused"
session.close

# 5. HTTP/2, negotiated by default over TLS (make demo serves it): two
# requests, two streams on one connection
if (h2_url = ENV.fetch('REQIVO_DEMO_H2_URL', nil))
  h2 = Reqivo::Session.new(tls: { ca_file: ENV.fetch('REQIVO_DEMO_CA') }, timeout: 10)
  2.times do
    r = h2.get(h2_url)
    puts "GET #{r.url} -> HTTP/#{r.http_version} #{r.status}, reused connection: #{r.reused?}: #{r.text.strip}"
  end
  h2.close
end
