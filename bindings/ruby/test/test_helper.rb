# frozen_string_literal: true

# Shared test support: a WEBrick server (an independent HTTP/1.1
# implementation) and raw TCP servers for exact bytes, all on 127.0.0.1
# and started by the tests. Every wait is bounded.
$LOAD_PATH.unshift File.expand_path('../lib', __dir__)

require 'minitest/autorun'
require 'json'
require 'open3'
require 'socket'
require 'timeout'
require 'webrick'
require 'zlib'
require 'reqivo'

# What the fiber-scheduler tests share (include it in the test class).
module FiberTestSupport
  def now
    TestSupport.now
  end

  def os_threads
    File.read('/proc/self/status')[/^Threads:\s+(\d+)/, 1].to_i
  end

  # Runs the block as an Async task (given the task), bounded; raises what
  # it raised. Its value is dropped: async 1.x's Task#wait raises a value
  # that is an exception, such as assert_raises returns.
  def run_async(limit = 30, &block)
    Async do |task|
      task.with_timeout(limit) { block.call(task) }
      nil
    end.wait
  end

  # Starts a fiber that ticks every 10 ms and records the largest gap
  # between its ticks: [task, {ticks:, max_gap:}].
  def ticker(task)
    stats = { ticks: 0, max_gap: 0.0 }
    last = now
    t = task.async do
      loop do
        sleep 0.01
        at = now
        stats[:max_gap] = [stats[:max_gap], at - last].max
        stats[:ticks] += 1
        last = at
      end
    end
    [t, stats]
  end

  # What a call returns, or the exception it raises. (A task of async 1.x
  # whose value is an exception raises it from Task#wait: tasks return
  # [outcome].)
  def outcome
    yield
  rescue StandardError => e
    e
  end
end

module TestSupport
  module_function

  def now
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end

  # Seconds the block took.
  def elapsed
    t0 = now
    yield
    now - t0
  end

  # A port nothing listens on (bound, then closed).
  def closed_port
    TCPServer.open('127.0.0.1', 0) { |s| s.addr[1] }
  end

  # Reads one request head (up to the blank line) from `sock`, bounded.
  # Returns [head, body] (body per Content-Length), or nil on EOF.
  def read_request(sock, timeout: 5)
    buf = +''
    deadline = now + timeout
    until (i = buf.index("\r\n\r\n"))
      left = deadline - now
      return nil if left <= 0 || !sock.wait_readable(left)

      chunk = sock.read_nonblock(4096, exception: false)
      return nil if chunk.nil?
      next if chunk == :wait_readable

      buf << chunk
    end
    head = buf[0, i]
    body = buf[(i + 4)..]
    len = head[/^content-length:\s*(\d+)/i, 1].to_i
    while body.bytesize < len
      left = deadline - now
      break if left <= 0 || !sock.wait_readable(left)

      chunk = sock.read_nonblock(len - body.bytesize, exception: false)
      break if chunk.nil?
      next if chunk == :wait_readable

      body << chunk
    end
    [head, body]
  end
end

# A TCP server on 127.0.0.1 that hands each connection to a block and
# counts connections; for exact bytes and hostile responses.
class RawServer
  attr_reader :port

  def initialize(&handler)
    @server = TCPServer.new('127.0.0.1', 0)
    @port = @server.addr[1]
    @accepted = 0
    @lock = Mutex.new
    @conns = []
    @acceptor = Thread.new do
      loop do
        sock = @server.accept
        @lock.synchronize do
          @accepted += 1
          @conns << Thread.new(sock) do |s|
            handler.call(s)
          rescue IOError, SystemCallError
            nil
          ensure
            s.close unless s.closed?
          end
        end
      end
    rescue IOError, SystemCallError
      nil
    end
    @acceptor.report_on_exception = false
  end

  def accepted
    @lock.synchronize { @accepted }
  end

  def url(path = '/')
    "http://127.0.0.1:#{@port}#{path}"
  end

  def close
    @server.close unless @server.closed?
    @acceptor.join(2)
    @lock.synchronize { @conns.dup }.each do |t|
      t.kill
      t.join(2)
    end
  end

  # Serves `response` (exact bytes) to every request on each connection
  # (an idle connection is kept for a minute: GC.stress makes clients slow).
  def self.fixed(response)
    new do |s|
      while TestSupport.read_request(s, timeout: 60)
        s.write(response)
      end
    end
  end
end

# tests/c/server.py in another process, started once on first use and
# killed after the run: /hold/MS answers after MS milliseconds with a
# thread per connection (so its threads neither show in this process's
# thread counts nor compete for its GVL), /stats counts connections,
# /pattern-chunked/N sends N bytes. #port is false when it cannot start.
module HoldServer
  SCRIPT = File.expand_path('../../../tests/c/server.py', __dir__)

  def self.port
    return @port unless @port.nil?

    @port = begin
      io = IO.popen(['python3', SCRIPT], 'r')
      port = Integer(Timeout.timeout(20) { io.gets }.to_s.strip)
      Minitest.after_run do
        Process.kill('KILL', io.pid)
        Timeout.timeout(5) { Process.wait(io.pid) }
      rescue StandardError
        nil
      end
      port
    rescue StandardError => e
      warn "tests/c/server.py did not start: #{e.message}"
      false
    end
  end
end

# tests/ws_support/server.py (the `websockets` package) in another process,
# started once on first use: #base is its "ws://127.0.0.1:PORT", or false
# when python3 or the package is missing.
module WsServer
  SCRIPT = File.expand_path('../../../tests/ws_support/server.py', __dir__)

  def self.base
    return @base unless @base.nil?

    @base = if system('python3', '-c', 'import websockets.asyncio.server', out: File::NULL, err: File::NULL)
              io = IO.popen(['python3', SCRIPT], 'r+')
              port = Integer(Timeout.timeout(20) { io.gets }.to_s.strip)
              Minitest.after_run do
                io.close_write
                Timeout.timeout(5) { Process.wait(io.pid) }
              rescue StandardError
                Process.kill('KILL', io.pid)
              end
              "ws://127.0.0.1:#{port}"
            else
              false
            end
  end
end

# One WEBrick server for the whole run, with the routes the tests use.
module Web
  # Handles every method; routes on the path.
  class Servlet < WEBrick::HTTPServlet::AbstractServlet
    %w[GET POST PUT PATCH DELETE HEAD OPTIONS].each do |m|
      define_method("do_#{m}") { |req, res| Web.route(req, res) }
    end
  end

  @hits = Hash.new(0)
  @lock = Mutex.new

  # The text of the /coded/ bodies, and the tools that encode it.
  CODED_TEXT = (1..20_000).map { |i| "line #{i} of a br or zstd body\n" }.join.freeze
  TOOLS = { 'br' => %w[brotli -c -q 6], 'zstd' => %w[zstd -q -c] }.freeze

  class << self
    attr_reader :port

    def url(path = '/')
      "http://127.0.0.1:#{port}#{path}"
    end

    def hits(path)
      @lock.synchronize { @hits[path] }
    end

    def start
      return if @server

      log = WEBrick::Log.new(File::NULL)
      @server = WEBrick::HTTPServer.new(BindAddress: '127.0.0.1', Port: 0, Logger: log,
                                        AccessLog: [], DoNotReverseLookup: true,
                                        MaxClients: 64)
      @port = @server.config[:Port]
      @server.mount('/', Servlet)
      @thread = Thread.new { @server.start }
      Minitest.after_run { @server.shutdown }
    end

    def query(req)
      URI.decode_www_form(req.query_string.to_s)
    end

    def route(req, res)
      @lock.synchronize { @hits[req.path] += 1 }
      q = query(req).to_h
      case req.path
      when '/hello'
        res.content_type = 'text/plain; charset=utf-8'
        res.body = 'hello'
      when '/echo'
        headers = {}
        req.each { |k, v| headers[k.downcase] = v }
        res.content_type = 'application/json'
        res.body = JSON.generate(method: req.request_method, path: req.path,
                                 query: query(req), headers: headers,
                                 body: req.body.to_s)
      when '/json'
        res.content_type = 'application/json'
        res.body = JSON.generate(library: 'reqivo', n: 42, list: [1, 2, 3])
      when '/stall'
        sleep(q.fetch('ms', '500').to_i / 1000.0)
        res.content_type = 'text/plain'
        res.body = 'done'
      when '/redirect'
        res.status = q.fetch('status', '302').to_i
        res['Location'] = q.fetch('to', '/hello')
        res.body = ''
      when '/loop'
        res.status = 302
        res['Location'] = '/loop'
        res.body = ''
      when %r{\A/chain/(\d+)\z}
        n = Regexp.last_match(1).to_i
        res.status = 302
        res['Location'] = n.zero? ? '/hello' : "/chain/#{n - 1}"
        res.body = ''
      when '/latin1'
        res['Content-Type'] = 'text/plain; charset=iso-8859-1'
        res.body = (+"caf\xE9").force_encoding(Encoding::BINARY)
      when '/cookies'
        res.cookies << WEBrick::Cookie.new('a', '1') << WEBrick::Cookie.new('b', '2')
        res.body = 'cookies'
      when '/setcookie'
        # ?name=&value=&max_age=&path= sets one cookie; &to= redirects.
        c = WEBrick::Cookie.new(q.fetch('name', 'k'), q.fetch('value', 'v'))
        c.max_age = q['max_age'].to_i if q['max_age']
        c.path = q['path'] if q['path']
        res.cookies << c
        if q['to']
          res.status = 302
          res['Location'] = q['to']
        end
        res.body = ''
      when '/big'
        n = q.fetch('n', '1048576').to_i
        res.content_type = 'application/octet-stream'
        res.body = Web.pattern(n)
        res.chunked = true if q['chunked']
      when '/gzip', '/deflate', '/badgzip'
        # Content-Encoding as sent; ?n= repeats "hello gzip " n times.
        text = 'hello gzip ' * q.fetch('n', '100').to_i
        res.content_type = 'text/plain'
        res['Content-Encoding'] = req.path == '/deflate' ? 'deflate' : 'gzip'
        res.body = case req.path
                   when '/gzip' then Zlib.gzip(text)
                   when '/deflate' then Zlib::Deflate.deflate(text)
                   else Zlib.gzip(text).tap { |z| z.setbyte(20, z.getbyte(20) ^ 0xff) }.byteslice(0..-9)
                   end
        res.chunked = true if q['chunked']
      when %r{\A/coded/(br|zstd)(/cut|/bomb)?\z}
        # CODED_TEXT in br or zstd, made by the brotli and zstd
        # command-line tools; /cut: the first half of that; /bomb: 64 MiB
        # of zeros.
        coding, variant = Regexp.last_match.captures
        res.content_type = 'text/plain'
        res['Content-Encoding'] = coding
        res.body = Web.coded(coding, variant)
        res.chunked = true if q['chunked']
      when %r{\A/status/(\d+)\z}
        res.status = Regexp.last_match(1).to_i
        res.body = "status #{res.status}"
      else
        res.status = 404
        res.body = 'not found'
      end
    end

    # The /coded/ bodies (made once): see route.
    def coded(coding, variant)
      @lock.synchronize do
        (@coded ||= {})[[coding, variant]] ||= begin
          plain = variant == '/bomb' ? "\0".b * (64 << 20) : CODED_TEXT
          out, status = Open3.capture2(*TOOLS.fetch(coding), stdin_data: plain, binmode: true)
          raise "#{TOOLS[coding].first} failed (Debian package #{TOOLS[coding].first})" unless status.success?

          variant == '/cut' ? out.byteslice(0, out.bytesize / 2) : out
        end
      end
    end

    # n deterministic bytes (all 256 values).
    def pattern(n)
      unit = (0..255).map(&:chr).join.b
      (unit * ((n / 256) + 1)).byteslice(0, n)
    end
  end
end

Web.start
