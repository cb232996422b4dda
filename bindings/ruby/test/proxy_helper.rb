# frozen_string_literal: true

require_relative 'tls_helper'

# A tiny HTTP proxy on 127.0.0.1 for the proxy tests. It records every
# request head it gets; an absolute-form request is answered by the proxy
# itself (200, body = the request line, and any Set-Cookie of the
# `cookies` table for the target's host); CONNECT to refuse.test is
# answered 407; CONNECT to any other host opens a tunnel to 127.0.0.1 on
# the requested port (the TLS test servers) and copies bytes both ways.
class TestProxy
  attr_reader :heads

  def initialize(cookies: {})
    @heads = Queue.new
    @cookies = cookies
    @server = RawServer.new { |sock| serve(sock) }
  end

  def port
    @server.port
  end

  def accepted
    @server.accepted
  end

  # The heads seen so far, as an Array.
  def seen
    out = []
    out << @heads.pop until @heads.empty?
    out
  end

  def close
    @server.close
  end

  private

  def serve(sock)
    while (req = TestSupport.read_request(sock))
      head = req[0]
      @heads << head
      target = head[/\A\S+ (\S+)/, 1]
      if head.start_with?('CONNECT ')
        tunnel(sock, target)
        return
      end
      host = URI(target).host rescue nil # rubocop:disable Style/RescueModifier
      extra = @cookies.fetch(host, []).map { |c| "Set-Cookie: #{c}\r\n" }.join
      body = head.lines.first.chomp
      sock.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n#{extra}Content-Length: #{body.bytesize}\r\n\r\n#{body}")
    end
  end

  def tunnel(sock, authority)
    host, port = authority.split(':')
    if host == 'refuse.test'
      sock.write("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"t\"\r\n" \
                 "Content-Length: 0\r\n\r\n")
      return
    end
    origin = TCPSocket.new('127.0.0.1', Integer(port))
    sock.write("HTTP/1.1 200 Connection established\r\n\r\n")
    pump = Thread.new { IO.copy_stream(origin, sock) rescue nil } # rubocop:disable Style/RescueModifier
    begin
      IO.copy_stream(sock, origin)
    rescue IOError, SystemCallError
      nil
    end
    origin.close_write rescue nil # rubocop:disable Style/RescueModifier
    pump.join(5)
  ensure
    origin&.close
  end
end
