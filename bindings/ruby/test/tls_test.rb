# frozen_string_literal: true

require_relative 'tls_helper'
require 'tmpdir'

# HTTPS through rustls against Ruby's OpenSSL servers on 127.0.0.1, with a
# CA and certificates made in memory: trust, hostname, mutual TLS, pins,
# minimum version, keep-alive and resumption, and the TLS::Config options.
class TlsTest < Minitest::Test
  PKI = TestPKI.pki

  def server(name)
    TlsServers[name]
  end

  def trusting(**opts)
    Reqivo::Session.new(tls: { ca_pem: PKI[:ca].to_pem }.merge(opts), timeout: 5)
  end

  def client_pems
    cert, key = PKI[:client]
    [cert.to_pem, key.to_pem]
  end

  def test_a_trusted_server_works_and_the_response_says_tls
    s = trusting
    r = s.get(server(:ok).url('/'))
    assert_equal 200, r.status
    assert_equal 'hello tls', r.body
    assert r.tls?
    refute r.tls_resumed?
    refute r.reused?
    assert_operator r.timings.tls, :>, r.timings.connect
    assert_equal :tls1_3, r.tls_version
    assert_equal server(:ok).url('/'), r.url
  ensure
    s&.close
  end

  def test_http_responses_are_not_flagged_tls
    r = Reqivo::Session.new.get(Web.url('/hello'))
    refute r.tls?
    assert_nil r.timings.tls
    assert_nil r.tls_version
  end

  def test_ca_file_ca_path_and_a_certificate_object
    Dir.mktmpdir do |dir|
      ca = File.join(dir, 'ca.pem')
      File.write(ca, PKI[:ca].to_pem)
      File.write(File.join(dir, 'notes.txt'), 'not a certificate')
      [{ ca_file: ca }, { ca_file: [ca] }, { ca_path: dir }, { ca_pem: PKI[:ca] }, { ca_pem: [PKI[:other_ca], PKI[:ca]] }].each do |opts|
        s = Reqivo::Session.new(tls: opts, timeout: 5)
        assert_equal 'hello tls', s.get(server(:ok).url).body, opts.inspect
        s.close
      end
    end
  end

  def test_an_untrusted_server_raises_tls_error
    [Reqivo::Session.new(timeout: 5), # the system's roots
     Reqivo::Session.new(tls: { ca_pem: PKI[:other_ca].to_pem }, timeout: 5)].each do |s|
      e = assert_raises(Reqivo::TlsError) { s.get(server(:ok).url) }
      assert_equal 'REQIVO_ERR_TLS_CERT_UNTRUSTED', e.name
      assert_equal 2100, e.code_class
      assert_kind_of Reqivo::NetworkError, e
      assert_match(/issuer|trust/i, e.message)
      s.close
    end
  end

  def test_a_wrong_hostname_raises_tls_error
    s = trusting
    e = assert_raises(Reqivo::TlsError) { s.get(server(:wrong).url) }
    assert_equal 'REQIVO_ERR_TLS_HOSTNAME', e.name
    assert_match(/127\.0\.0\.1/, e.message)
    # the same CA, the right name: the server was not the problem
    assert_equal 200, s.get(server(:ok).url).status
  ensure
    s&.close
  end

  def test_verify_false_accepts_any_certificate
    s = Reqivo::Session.new(tls: { verify: false }, timeout: 5)
    assert_equal 'hello tls', s.get(server(:wrong).url).body
    assert_equal 'hello tls', s.get(server(:ok).url).body
  ensure
    s&.close
  end

  def test_mutual_tls_with_pem_text_files_and_objects
    cert_pem, key_pem = client_pems
    Dir.mktmpdir do |dir|
      File.write(cf = File.join(dir, 'client.pem'), cert_pem)
      File.write(kf = File.join(dir, 'client.key'), key_pem)
      [[cert_pem, key_pem], [cf, kf], PKI[:client], [cert_pem, PKI[:client][1].private_to_pem]].each do |cert, key|
        s = trusting(client_cert: cert, client_key: key)
        r = s.get(server(:mtls).url('/client'))
        assert_equal 200, r.status
        assert_equal '/CN=reqivo-client', r.body
        s.close
      end
    end
  end

  def test_mutual_tls_without_a_client_certificate_raises_tls_error
    s = trusting
    e = assert_raises(Reqivo::TlsError) { s.get(server(:mtls).url('/client')) }
    assert_match(/alert|certificate/i, e.message)
  ensure
    s&.close
  end

  def test_pins
    pin = TestPKI.pin(PKI[:server][0])
    [pin, "sha256//#{pin}"].each do |p|
      s = trusting(pins: [p])
      assert_equal 200, s.get(server(:ok).url).status
      s.close
    end
    s = trusting(pins: [TestPKI.pin(PKI[:client][0])])
    e = assert_raises(Reqivo::TlsError) { s.get(server(:ok).url) }
    assert_equal 'REQIVO_ERR_TLS_PIN_MISMATCH', e.name
    s.close
    # a pin alone, without verification, is still checked
    s = Reqivo::Session.new(tls: { verify: false, pins: [TestPKI.pin(PKI[:wrong][0])] }, timeout: 5)
    assert_equal 200, s.get(server(:wrong).url).status
    assert_raises(Reqivo::TlsError) { s.get(server(:ok).url) }
  ensure
    s&.close
  end

  def test_min_version
    s = trusting
    r = s.get(server(:tls12).url)
    assert_equal 200, r.status
    assert_equal :tls1_2, r.tls_version
    s.close
    [:tls1_3, :TLS1_3, 'TLSv1_3', 'TLSv1.3', OpenSSL::SSL::TLS1_3_VERSION].each do |v|
      s = trusting(min_version: v)
      e = assert_raises(Reqivo::TlsError, v.inspect) { s.get(server(:tls12).url) }
      assert_equal 'REQIVO_ERR_TLS_HANDSHAKE', e.name
      assert_equal 200, s.get(server(:ok).url).status
      s.close
    end
    assert_raises(ArgumentError) { Reqivo::TLS::Config.new(min_version: :tls1_1) }
    assert_raises(ArgumentError) { Reqivo::TLS::Config.new(min_version: 0x0301) }
  ensure
    s&.close
  end

  def test_keep_alive_over_tls
    srv = TlsServer.new(cert: PKI[:server])
    s = trusting
    rs = Array.new(3) { s.get(srv.url) }
    assert_equal ['hello tls'] * 3, rs.map(&:body)
    assert_equal [false, true, true], rs.map(&:reused?)
    assert rs.all?(&:tls?)
    assert_nil rs[1].timings.tls, 'no handshake on a reused connection'
    assert_equal 1, srv.accepted
    assert_equal 1, srv.handshakes
    assert_equal 1, s.pool.stats.opened
  ensure
    s&.close
    srv&.close
  end

  def test_a_new_connection_resumes_the_tls_session
    srv = TlsServer.new(cert: PKI[:server])
    s = trusting
    first = s.get(srv.url('/close'))
    refute first.tls_resumed?
    second = s.get(srv.url('/'))
    refute second.reused?
    assert second.tls?
    assert second.tls_resumed?, 'the second handshake resumes the first'
    assert_equal 2, srv.accepted
  ensure
    s&.close
    srv&.close
  end

  def test_a_config_is_shared_and_outlived_by_its_sessions
    cfg = Reqivo::TLS::Config.new(ca_pem: PKI[:ca].to_pem)
    a = Reqivo::Session.new(tls: cfg, timeout: 5)
    b = Reqivo::Session.new(tls: cfg, timeout: 5)
    cfg.close
    assert cfg.closed?
    assert_raises(Reqivo::ClosedError) { Reqivo::Session.new(tls: cfg) }
    GC.start
    assert_equal 'hello tls', a.get(server(:ok).url).body
    assert_equal 'hello tls', b.get(server(:ok).url).body
    assert_match(/Reqivo::TLS::Config .*closed/, cfg.inspect)
  ensure
    a&.close
    b&.close
  end

  def test_a_hash_config_belongs_to_the_session_alone
    s = trusting
    GC.start # the config made from the hash is freed; the session keeps its reference
    assert_equal 200, s.get(server(:ok).url).status
  ensure
    s&.close
  end

  def test_tls_can_be_changed_on_a_session
    s = Reqivo::Session.new(timeout: 5)
    assert_raises(Reqivo::TlsError) { s.get(server(:ok).url) }
    s.tls = { ca_pem: PKI[:ca].to_pem }
    assert_equal 200, s.get(server(:ok).url).status
    s.tls = nil # back to the default: a connection of the other config is not reused
    assert_raises(Reqivo::TlsError) { s.get(server(:ok).url) }
  ensure
    s&.close
  end

  def test_streaming_over_tls
    s = trusting
    got = +''
    head = s.stream(:get, server(:ok).url('/big?n=200000')) { |c| got << c }
    assert head.tls?
    assert_equal Web.pattern(200_000), got
  ensure
    s&.close
  end

  def test_gzip_over_tls_is_decompressed
    s = trusting
    r = s.get(server(:ok).url('/gzip'))
    assert r.decompressed?
    assert r.tls?
    assert_equal 'hello gzip' * 100, r.body
  ensure
    s&.close
  end

  def test_invalid_configs
    e = assert_raises(Reqivo::UsageError) { Reqivo::TLS::Config.new(ca_pem: 'junk') }
    assert_equal 'REQIVO_ERR_INVALID_CONFIG', e.name
    refute_empty e.message
    e = assert_raises(Reqivo::UsageError) { Reqivo::TLS::Config.new(pins: ['AAAA']) }
    assert_equal 'REQIVO_ERR_INVALID_CONFIG', e.name
    e = assert_raises(Reqivo::UsageError) { Reqivo::TLS::Config.new(system_roots: false) }
    assert_equal 'REQIVO_ERR_INVALID_CONFIG', e.name # nothing trusted
    # a key that is not the certificate's
    e = assert_raises(Reqivo::UsageError) do
      Reqivo::TLS::Config.new(client_cert: PKI[:client][0], client_key: PKI[:server][1])
    end
    assert_equal 'REQIVO_ERR_INVALID_CONFIG', e.name
    assert_raises(ArgumentError) { Reqivo::TLS::Config.new(client_cert: PKI[:client][0]) }
    assert_raises(ArgumentError) { Reqivo::TLS::Config.new(verify: 'no') }
    assert_raises(ArgumentError) { Reqivo::TLS::Config.new(pins: [1]) }
    assert_raises(ArgumentError) { Reqivo::TLS::Config.new(bogus: 1) }
    assert_raises(ArgumentError) { Reqivo::Session.new(tls: 'ca.pem') }
    assert_raises(ArgumentError) { Reqivo::Session.new(tls: { bogus: 1 }) }
    assert_raises(Errno::ENOENT) { Reqivo::TLS::Config.new(ca_file: '/nonexistent/ca.pem') }
    e = assert_raises(Reqivo::UsageError) { Reqivo::Session.new(tls: { ca_pem: 'junk' }) }
    assert_equal 'REQIVO_ERR_INVALID_CONFIG', e.name
  end

  def test_a_session_without_tls_config_refuses_nothing_for_http
    s = Reqivo::Session.new(tls: { ca_pem: PKI[:ca].to_pem })
    assert_equal 'hello', s.get(Web.url('/hello')).body
  ensure
    s&.close
  end
end
