# frozen_string_literal: true

require_relative 'test_helper'
require 'stringio'
require 'tempfile'
require 'digest'

# Streaming request bodies (reqivo_request_set_body_callback) and progress
# callbacks; exceptions in callbacks never cross C and are re-raised.
class UploadTest < Minitest::Test
  def setup
    # Answers with the request head and body it got, exact bytes.
    @srv = RawServer.new do |s|
      while (req = read_any_body(s))
        head, body = req
        framing = head[/^content-length:.*$/i] || head[/^transfer-encoding:.*$/i]
        reply = JSON.generate(framing: framing.to_s.strip.downcase, size: body.bytesize,
                              sha: Digest::SHA256.hexdigest(body))
        s.write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: #{reply.bytesize}\r\n\r\n#{reply}")
      end
    end
    @s = Reqivo::Session.new(timeout: 5)
  end

  def teardown
    @s.close
    @srv.close
  end

  # Reads a request whose body is Content-Length or chunked framed.
  def read_any_body(sock)
    buf = +''
    until (i = buf.index("\r\n\r\n"))
      return nil unless sock.wait_readable(5)

      chunk = sock.read_nonblock(65_536, exception: false)
      return nil if chunk.nil?

      buf << chunk unless chunk == :wait_readable
    end
    head = buf[0, i]
    rest = buf[(i + 4)..]
    fill = lambda do |n|
      while rest.bytesize < n
        return false unless sock.wait_readable(5)

        c = sock.read_nonblock(65_536, exception: false)
        return false if c.nil?

        rest << c unless c == :wait_readable
      end
      true
    end
    if head =~ /^transfer-encoding: *chunked/i
      body = +''
      loop do
        fill.call(1) until rest.include?("\r\n")
        line, rest = rest.split("\r\n", 2)
        size = line.to_i(16)
        fill.call(size + 2)
        body << rest.byteslice(0, size)
        rest = rest.byteslice(size + 2..)
        break if size.zero?
      end
      [head, body]
    else
      n = head[/^content-length: *(\d+)/i, 1].to_i
      fill.call(n)
      [head, rest.byteslice(0, n)]
    end
  end

  def test_a_file_is_streamed_with_content_length
    data = Web.pattern(300_000)
    Tempfile.create('reqivo-up') do |f|
      f.binmode
      f.write(data)
      f.rewind
      r = @s.post(@srv.url('/up'), body: f).json
      assert_equal 'content-length: 300000', r['framing']
      assert_equal Digest::SHA256.hexdigest(data), r['sha']
    end
  end

  def test_a_stringio_counts_from_its_position
    io = StringIO.new('skip:the rest')
    io.read(5)
    r = @s.put(@srv.url('/up'), body: io).json
    assert_equal 'content-length: 8', r['framing']
    assert_equal 8, r['size']
  end

  def test_a_pipe_of_unknown_size_is_sent_chunked
    rd, wr = IO.pipe
    writer = Thread.new do
      5.times { |i| wr.write("part#{i}-" * 1000) }
      wr.close
    end
    r = @s.post(@srv.url('/up'), body: rd).json
    writer.join
    assert_equal 'transfer-encoding: chunked', r['framing']
    assert_equal 5.times.map { |i| "part#{i}-" * 1000 }.join.bytesize, r['size']
  ensure
    rd&.close
  end

  def test_an_object_with_only_read
    src = Class.new do
      def initialize
        @parts = %w[a bb ccc]
      end

      def read(_n)
        @parts.shift
      end
    end
    r = @s.post(@srv.url('/up'), body: src.new).json
    assert_equal 'transfer-encoding: chunked', r['framing']
    assert_equal 6, r['size']
  end

  def test_an_exception_in_the_reader_is_re_raised_not_sent
    bad = Class.new do
      def read(_n)
        raise IOError, 'disk on fire'
      end
    end
    e = assert_raises(IOError) { @s.post(@srv.url('/up'), body: bad.new) }
    assert_equal 'disk on fire', e.message
    assert_equal 'content-length: 2', @s.post(@srv.url('/up'), body: 'ok').json['framing']
  end

  def test_progress_reports_both_directions
    calls = []
    @s.post(@srv.url('/up'), body: 'x' * 10_000, progress: ->(*a) { calls << a })
    refute_empty calls
    assert_equal [10_000, 10_000], calls.map { |c| c[0, 2] }.max
    last = calls.last
    assert_operator last[2], :>, 0
    assert_equal last[2], last[3]
  end

  def test_progress_on_a_stream_download
    seen = []
    body = +''
    @s.stream(:get, Web.url('/big?n=200000'), progress: ->(_s, _st, got, total) { seen << [got, total] }) { |c| body << c }
    assert_equal 200_000, body.bytesize
    assert_equal [200_000, 200_000], seen.last
  end

  def test_an_exception_in_progress_aborts_and_is_re_raised
    stop = Class.new(StandardError)
    assert_raises(stop) { @s.get(Web.url('/big?n=500000'), progress: ->(*) { raise stop }) }
    assert_equal 'hello', @s.get(Web.url('/hello')).body
  end

  def test_a_307_with_a_streamed_body_is_returned_not_followed
    r = @s.post(Web.url('/redirect'), params: { status: 307, to: '/echo' }, body: StringIO.new('once'))
    assert_equal 307, r.status
    assert_predicate r, :redirect_not_followed?
    r2 = @s.post(Web.url('/redirect'), params: { status: 307, to: '/echo' }, body: 'again')
    assert_equal 'again', r2.json['body']
    refute_predicate r2, :redirect_not_followed?
  end
end
