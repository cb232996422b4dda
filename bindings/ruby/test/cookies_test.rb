# frozen_string_literal: true

require_relative 'test_helper'
require 'reqivo/faraday'

# The session's cookie jar (RFC 6265, in the library): on by default,
# per session, switchable, cleared, saved and loaded.
class CookiesTest < Minitest::Test
  def sent_cookie(session)
    session.get(Web.url('/echo')).json['headers']['cookie']
  end

  def test_cookies_are_stored_and_sent_by_default
    s = Reqivo::Session.new
    assert_nil sent_cookie(s)
    s.get(Web.url('/cookies'))
    assert_equal 'a=1; b=2', sent_cookie(s).split('; ').sort.join('; ')
    other = Reqivo::Session.new
    assert_nil sent_cookie(other), 'each session has its own jar'
  ensure
    s&.close
    other&.close
  end

  def test_a_cookie_set_on_a_redirect_hop_is_sent_on_the_next
    s = Reqivo::Session.new
    r = s.get(Web.url('/setcookie?name=hop&value=1&to=/echo'))
    assert_equal 1, r.redirect_count
    assert_equal 'hop=1', r.json['headers']['cookie']
  ensure
    s&.close
  end

  def test_path_scoping
    s = Reqivo::Session.new
    s.get(Web.url('/setcookie?name=scoped&value=1&path=/only'))
    assert_nil sent_cookie(s)
  ensure
    s&.close
  end

  def test_cookies_false_stores_and_sends_nothing
    s = Reqivo::Session.new(cookies: false)
    s.get(Web.url('/cookies'))
    assert_nil sent_cookie(s)
    s.cookies = true
    assert_nil sent_cookie(s), 'nothing was stored while off'
    s.get(Web.url('/cookies'))
    refute_nil sent_cookie(s)
    s.cookies = false
    assert_nil sent_cookie(s), 'off: the jar keeps them but sends none'
    s.cookies = true
    refute_nil sent_cookie(s)
    assert_raises(ArgumentError) { s.cookies = 'yes' }
  ensure
    s&.close
  end

  def test_clear_cookies
    s = Reqivo::Session.new
    s.get(Web.url('/cookies'))
    assert_nil s.clear_cookies
    assert_nil sent_cookie(s)
  ensure
    s&.close
  end

  def test_save_and_load_keep_persistent_cookies_only
    s = Reqivo::Session.new
    assert_kind_of String, s.save_cookies
    s.get(Web.url('/setcookie?name=kept&value=yes&max_age=3600'))
    s.get(Web.url('/cookies')) # session cookies: not saved
    text = s.save_cookies
    assert_includes text, 'kept'
    refute_includes text, '"a"'
    t = Reqivo::Session.new
    assert_nil t.load_cookies(text)
    assert_equal 'kept=yes', sent_cookie(t)
    e = assert_raises(Reqivo::UsageError) { t.load_cookies('not a jar') }
    assert_equal 'REQIVO_ERR_INVALID_ARGUMENT', e.name
    assert_equal 'kept=yes', sent_cookie(t), 'a bad text leaves the jar unchanged'
    assert_raises(ArgumentError) { t.load_cookies(nil) }
  ensure
    s&.close
    t&.close
  end

  def test_a_big_jar_is_saved_whole
    s = Reqivo::Session.new
    40.times { |i| s.get(Web.url("/setcookie?name=c#{i}&value=#{'v' * 100}&max_age=3600")) }
    text = s.save_cookies
    t = Reqivo::Session.new
    t.load_cookies(text)
    assert_equal 40, sent_cookie(t).split('; ').size
  ensure
    s&.close
    t&.close
  end

  def test_the_faraday_adapter_leaves_cookies_to_middleware
    c = Faraday.new(url: Web.url('/')) { |f| f.adapter :reqivo }
    c.get('/cookies')
    assert_nil JSON.parse(c.get('/echo').body)['headers']['cookie']
    jar = Faraday.new(url: Web.url('/')) { |f| f.adapter :reqivo, cookies: true }
    jar.get('/cookies')
    refute_nil JSON.parse(jar.get('/echo').body)['headers']['cookie']
  end

  def test_cookie_limits_bound_the_jar_and_prefixes_are_enforced
    s = Reqivo::Session.new
    # Over 4096 bytes: refused by default.
    s.get(Web.url("/setcookie?name=big&value=#{'v' * 5000}"))
    assert_nil sent_cookie(s)
    # A prefix the cookie does not honour: refused.
    s.get(Web.url('/setcookie?name=__Host-x&value=1'))
    assert_nil sent_cookie(s)
    s.set_cookie_limits(per_site: 3)
    5.times { |i| s.get(Web.url("/setcookie?name=c#{i}&value=1")) }
    assert_equal %w[c2=1 c3=1 c4=1], sent_cookie(s).split('; ').sort
    assert_raises(ArgumentError) { s.set_cookie_limits(total: -1) }
  ensure
    s&.close
  end
end
