# frozen_string_literal: true

require_relative 'test_helper'
require 'webrick/httpauth'

# Session digest_auth: against WEBrick's own HTTP Digest implementation
# (WEBrick::HTTPAuth::DigestAuth: MD5 and MD5-sess, qop auth and auth-int,
# opaque, stale nonces), each server counting the requests it gets.
class DigestTest < Minitest::Test
  REALM = 'ruby@reqivo.test'

  # A WEBrick server whose every path asks for Digest credentials
  # (user "Mufasa", password "Circle of Life") under `config`, and answers
  # "welcome USER" to correct ones.
  class Server
    attr_reader :hits

    def initialize(**config)
      db = WEBrick::HTTPAuth::Htdigest.new(File::NULL)
      db.set_passwd(REALM, 'Mufasa', 'Circle of Life')
      auth = WEBrick::HTTPAuth::DigestAuth.new({ Realm: REALM, UserDB: db, Logger: quiet }.merge(config))
      @hits = Hash.new(0)
      @server = WEBrick::HTTPServer.new(BindAddress: '127.0.0.1', Port: 0, Logger: quiet, AccessLog: [])
      @server.mount_proc('/') do |req, res|
        @hits[req.path] += 1
        auth.authenticate(req, res)
        res.body = "welcome #{req.user} #{req.body}"
      end
      @thread = Thread.new { @server.start }
    end

    def quiet
      WEBrick::Log.new(File::NULL)
    end

    def url(path)
      "http://127.0.0.1:#{@server.config[:Port]}#{path}"
    end

    def stop
      @server.shutdown
      @thread.join(5)
    end
  end

  def with_server(**config)
    srv = Server.new(**config)
    yield srv
  ensure
    srv&.stop
  end

  def session(pass = 'Circle of Life')
    s = Reqivo::Session.new(timeout: 5, digest_auth: ['Mufasa', pass])
    yield s
  ensure
    s&.close
  end

  def test_md5_sess_with_opaque
    with_server do |srv| # WEBrick's defaults: MD5-sess, qop auth, opaque
      session do |s|
        r = s.get(srv.url('/a'))
        assert_equal 200, r.status
        assert_equal 'welcome Mufasa ', r.body
        assert_equal 2, srv.hits['/a'] # the 401, then the answer
        assert_equal 200, s.get(srv.url('/b')).status
        assert_equal 1, srv.hits['/b'] # the remembered nonce and opaque
      end
    end
  end

  def test_stale_is_answered_once_more_not_forever
    # A negative NonceExpirePeriod makes every nonce expired: each correct
    # answer gets stale=true and a new nonce. The session answers the
    # first stale once, then gives the 401 back.
    with_server(NonceExpirePeriod: -1) do |srv|
      session do |s|
        assert_equal 401, s.get(srv.url('/stale')).status
        assert_equal 3, srv.hits['/stale'] # none, the answer, the answer to the stale nonce
      end
    end
  end

  def test_md5_nonce_remembered_with_nc_raised
    with_server(Algorithm: 'MD5', UseOpaque: false, CheckNc: true) do |srv|
      session do |s|
        assert_equal 200, s.get(srv.url('/a')).status
        assert_equal 200, s.get(srv.url('/b')).status
        assert_equal 1, srv.hits['/b'] # answered before any 401
      end
    end
  end

  def test_auth_int_hashes_the_body
    with_server(Algorithm: 'MD5', Qop: ['auth-int']) do |srv|
      session do |s|
        # WEBrick hashes the body it reads (and then has none left to echo).
        assert_equal 200, s.post(srv.url('/upload'), body: 'a body to hash').status
        assert_equal 2, srv.hits['/upload']
      end
    end
  end

  def test_wrong_password_gives_the_401_after_one_answer
    with_server do |srv|
      session('nope') do |s|
        assert_equal 401, s.get(srv.url('/wrong')).status
        assert_equal 2, srv.hits['/wrong']
      end
    end
  end

  def test_a_body_from_an_io_is_not_sent_twice
    with_server(Algorithm: 'MD5') do |srv|
      session do |s|
        assert_equal 401, s.post(srv.url('/io'), body: StringIO.new('streamed')).status
        assert_equal 1, srv.hits['/io']
      end
    end
  end

  def test_bad_option_values
    assert_raises(ArgumentError) { Reqivo::Session.new(digest_auth: 'u:p') }
    assert_raises(ArgumentError) { Reqivo::Session.new(digest_auth: %w[u]) }
    assert_raises(ArgumentError) { Reqivo::Session.new(auth: %w[u p], digest_auth: %w[u p]) }
  end
end
