#!/usr/bin/env ruby
# frozen_string_literal: true

# An echo chat over a WebSocket from Ruby: a reader thread prints the
# echoes while the main thread sends (the waiting calls release the GVL),
# then the block's end closes the connection with 1000.
#
#   ruby -Ibindings/ruby/lib examples/ruby/ws_echo.rb ws://127.0.0.1:PORT/chat [MESSAGE...]
require 'reqivo'

abort "usage: #{$PROGRAM_NAME} WS_URL [MESSAGE...]" if ARGV.empty?
url, *messages = ARGV
messages = ['hello from Ruby', 'how is the echo?', 'bye'] if messages.empty?
binary = [0, 1, 2, 3, 0xfe, 0xff].pack('C*')

session = Reqivo::Session.new(timeout: { connect: 2, read: 10 })
begin
  session.websocket(url, protocols: ['chat'], deflate: true) do |ws|
    puts "connected to #{url}: #{ws.response.status}, subprotocol #{ws.protocol.inspect}, " \
         "extensions #{ws.response.headers['sec-websocket-extensions'].inspect}"
    reader = Thread.new do
      (messages.size + 1).times.map do
        m = ws.receive
        puts m.text? ? "  < #{m.data}" : "  < #{m.data.bytesize} #{m.kind} bytes"
        m
      end
    end
    messages.each do |text|
      puts "  > #{text}"
      ws.send(text)
    end
    ws.ping('ping')
    puts "  > ping, then #{binary.bytesize} binary bytes"
    ws.send_binary(binary)
    echoes = reader.value
    unless echoes.map(&:data) == messages + [binary]
      abort "the echo did not match: #{echoes.map(&:data).inspect}"
    end
  end
  puts 'closed with 1000'
rescue Reqivo::WebSocketHandshakeError => e
  abort "the server answered #{e.status} instead of 101: #{e.message}"
ensure
  session.close
end
