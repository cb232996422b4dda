# frozen_string_literal: true

require 'stringio'
require_relative 'test_helper'

# Retries (Session.new(retries:)) against tests/c/server.py's /retry routes,
# which count the requests of each key.
class RetryTest < Minitest::Test
  def setup
    skip 'tests/c/server.py did not start' unless HoldServer.port
    @tag = "rb#{Process.pid}-#{rand(1 << 30)}"
  end

  def url(path)
    "http://127.0.0.1:#{HoldServer.port}#{path}"
  end

  def count(key)
    Reqivo::Session.new.then { |s| s.get(url("/retry-count/#{key}#{@tag}")).body.to_i.tap { s.close } }
  end

  def quick(**opts)
    { max_attempts: 3, base_backoff: 0.01, max_backoff: 0.05 }.merge(opts)
  end

  def test_off_by_default_and_the_default_policy
    r = Reqivo::Retry.new
    assert_equal 3, r.max_attempts
    assert_equal [:connect_error, :reset, 429, 503], r.on
    assert r.retry_after
    s = Reqivo::Session.new
    assert_equal 503, s.get(url("/retry/off#{@tag}/1/503")).status
    assert_equal 1, count('off')
  ensure
    s&.close
  end

  def test_always_503_stops_at_max_attempts
    s = Reqivo::Session.new(retries: quick(max_attempts: 4))
    r = s.get(url("/retry/always#{@tag}/1000/503"))
    assert_equal 503, r.status
    assert_equal 'busy', r.body
    assert_equal 4, count('always')
    s.retries = false
    assert_equal 503, s.get(url("/retry/off2#{@tag}/1/503")).status
    assert_equal 1, count('off2')
  ensure
    s&.close
  end

  def test_only_the_outcomes_named
    s = Reqivo::Session.new(retries: quick(on: %i[503]))
    assert_equal 429, s.get(url("/retry/r429#{@tag}/1/429")).status
    assert_equal 1, count('r429')
    s.retries = Reqivo::Retry.new(**quick(on: ['429']))
    assert_equal 200, s.get(url("/retry/r429b#{@tag}/1/429")).status
    assert_equal 2, count('r429b')
  ensure
    s&.close
  end

  def test_retry_after_seconds
    s = Reqivo::Session.new(retries: quick(max_backoff: 5))
    t0 = TestSupport.now
    assert_equal 'done', s.get(url("/retry/after#{@tag}/1/503/s1")).body
    took = TestSupport.now - t0
    assert_operator took, :>=, 0.9
    assert_operator took, :<, 10
  ensure
    s&.close
  end

  def test_post_only_with_an_idempotency_key
    s = Reqivo::Session.new(retries: quick)
    assert_equal 503, s.post(url("/retry/post#{@tag}/1/503"), body: 'x').status
    assert_equal 1, count('post')
    r = s.post(url("/retry/keyed#{@tag}/1/503"), body: 'x', headers: { 'Idempotency-Key' => 'k1' })
    assert_equal 200, r.status
    assert_equal 2, count('keyed')
    # A body read from an IO is never sent twice.
    r = s.put(url("/retry/io#{@tag}/1/503"), body: StringIO.new('hello'))
    assert_equal 503, r.status
    assert_equal 1, count('io')
  ensure
    s&.close
  end

  def test_a_refused_connect_fails_as_refused_after_its_retries
    s = Reqivo::Session.new(retries: quick(on: %i[connect_error]))
    e = assert_raises(Reqivo::NetworkError) { s.get("http://127.0.0.1:#{TestSupport.closed_port}/") }
    assert_equal 'REQIVO_ERR_CONNECT_REFUSED', e.name
  ensure
    s&.close
  end

  def test_bad_policies_are_refused
    assert_raises(ArgumentError) { Reqivo::Retry.new(max_attempts: 0) }
    assert_raises(ArgumentError) { Reqivo::Retry.new(on: %i[teapot]) }
    assert_raises(ArgumentError) { Reqivo::Retry.new(base_backoff: -1) }
    assert_raises(ArgumentError) { Reqivo::Session.new(retries: 3) }
  end
end
