# frozen_string_literal: true

require_relative 'test_helper'
require 'reqivo/faraday'
require 'digest'
require 'pathname'
require 'tmpdir'

# multipart: bodies, parsed by WEBrick's multipart/form-data parser (not
# ours) on a server of this file's own: blocking, through Session#parallel
# (the multi), and Faraday's multipart middleware through the adapter.
class MultipartTest < Minitest::Test
  # POST /form answers the parts WEBrick parsed as JSON; /redirect answers
  # 307 to /form.
  module FormServer
    class << self
      def url(path)
        start
        "http://127.0.0.1:#{@port}#{path}"
      end

      def start
        return if @server

        log = WEBrick::Log.new(File::NULL)
        @server = WEBrick::HTTPServer.new(BindAddress: '127.0.0.1', Port: 0, Logger: log, AccessLog: [])
        @port = @server.config[:Port]
        @server.mount_proc('/form') { |req, res| answer(req, res) }
        @server.mount_proc('/redirect') do |_req, res|
          res.status = 307
          res['Location'] = '/form'
        end
        Thread.new { @server.start }
        Minitest.after_run { @server.shutdown }
      end

      def answer(req, res)
        boundary = req['content-type'][/boundary=(.+)\z/, 1]
        parts = WEBrick::HTTPUtils.parse_form_data(req.body, boundary).flat_map do |name, data|
          data.enum_for(:each_data).map do |d|
            { name: name, filename: d.filename, type: d['content-type'], size: d.to_s.bytesize,
              sha: Digest::SHA256.hexdigest(d.to_s), text: d.to_s.bytesize < 100 ? d.to_s : nil }
          end
        end
        res.content_type = 'application/json'
        res.body = JSON.generate(chunked: req['transfer-encoding'].to_s, length: req['content-length'],
                                 content_type: req['content-type'], parts: parts)
      end
    end
  end

  def setup
    @dir = Dir.mktmpdir('reqivo-mp')
    @content = Random.new(7).bytes(300_000)
    @path = File.join(@dir, 'photo.jpg')
    File.binwrite(@path, @content)
    @session = Reqivo::Session.new(timeout: 10)
  end

  def teardown
    @session&.close
    FileUtils.rm_rf(@dir)
  end

  def form
    { 'title' => 'hello', 'list' => %w[a b], 'plain' => File.open(@path),
      'typed' => Reqivo::Multipart::File.new(@path, content_type: 'image/jpeg'),
      'path' => Pathname.new(@path) }
  end

  def check(body)
    r = JSON.parse(body)
    assert_match(/\Amultipart\/form-data; boundary=/, r['content_type'])
    assert_equal '', r['chunked']
    parts = r['parts'].to_h { |p| [[p['name'], p['text']], p] }
    assert_equal 6, r['parts'].size
    assert_nil parts[%w[title hello]]['filename']
    assert parts[%w[list a]] && parts[%w[list b]]
    files = r['parts'].select { |p| p['filename'] }
    assert_equal %w[path plain typed], files.map { |p| p['name'] }.sort
    files.each do |f|
      assert_equal 'photo.jpg', f['filename']
      assert_equal Digest::SHA256.hexdigest(@content), f['sha']
      assert_equal(f['name'] == 'typed' ? 'image/jpeg' : 'application/octet-stream', f['type'])
    end
  end

  def test_post_and_redirect
    check(@session.post(FormServer.url('/form'), multipart: form).body)
    r = @session.post(FormServer.url('/redirect'), multipart: form)
    assert_equal 1, r.redirect_count
    check(r.body)
  end

  def test_through_parallel
    bodies = []
    @session.parallel do |batch|
      2.times { batch.post(FormServer.url('/form'), multipart: form) { |r| bodies << r.body } }
    end
    assert_equal 2, bodies.size
    bodies.each { |b| check(b) }
  end

  def test_errors
    e = assert_raises(Reqivo::UsageError) do
      @session.post(FormServer.url('/form'), multipart: { 'f' => Pathname.new(File.join(@dir, 'missing')) })
    end
    assert_includes e.message, 'missing'
    assert_raises(ArgumentError) { @session.post(FormServer.url('/form'), multipart: 'x') }
    assert_raises(ArgumentError) { @session.post(FormServer.url('/form'), multipart: { 'f' => StringIO.new('x') }) }
    assert_raises(ArgumentError) { @session.post(FormServer.url('/form'), multipart: {}, body: 'x') }
    grows = File.join(@dir, 'grows')
    File.write(grows, '12345')
    # The size is checked when sent: a file that changed fails the send.
    assert_raises(Reqivo::NetworkError) do
      @session.post(FormServer.url('/form'), multipart: { 'f' => Pathname.new(grows) }, progress: lambda { |*|
        File.write(grows, '123456789')
      })
    end
  end

  # Faraday's own multipart middleware (Faraday 1.x, multipart-post's
  # UploadIO) makes a composite IO body, which the adapter streams with the
  # length the middleware computed.
  def test_faraday_multipart_middleware
    c = Faraday.new(url: FormServer.url('/')) do |f|
      f.request :multipart
      f.request :url_encoded
      f.adapter :reqivo
    end
    r = c.post('/form', { 'title' => 'hello', 'photo' => Faraday::UploadIO.new(@path, 'image/jpeg') })
    body = JSON.parse(r.body)
    assert_equal '', body['chunked']
    parts = body['parts'].to_h { |p| [p['name'], p] }
    assert_equal 'hello', parts['title']['text']
    assert_equal 'photo.jpg', parts['photo']['filename']
    assert_equal 'image/jpeg', parts['photo']['type']
    assert_equal Digest::SHA256.hexdigest(@content), parts['photo']['sha']
  end
end
