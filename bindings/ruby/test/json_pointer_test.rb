# frozen_string_literal: true

require_relative 'test_helper'

# Response#dig_json: RFC 6901 pointers over the parsed body.
class JsonPointerTest < Minitest::Test
  DOC = { 'a' => { 'b/c' => [10, 20, { 'm~n' => 'x' }] }, 'n' => nil, '' => 'empty key', 's' => "caf\u00e9" }.freeze

  def response(body)
    Reqivo::Response.new(status: 200, reason: 'OK', headers: Reqivo::Headers.new([]), body: body.b, url: 'http://x/')
  end

  def test_rfc6901_lookups
    r = response(JSON.generate(DOC))
    assert_equal DOC, r.dig_json('')
    assert_equal 20, r.dig_json('/a/b~1c/1')
    assert_equal 'x', r.dig_json('/a/b~1c/2/m~0n')
    assert_equal 'empty key', r.dig_json('/')
    assert_equal "caf\u00e9", r.dig_json('/s')
    assert_nil r.dig_json('/n')
    assert r.dig_json('/a').frozen?, 'the parsed body is kept, frozen'
  end

  def test_pointers_to_nothing_give_nil
    r = response(JSON.generate(DOC))
    ['/missing', '/a/b~1c/3', '/a/b~1c/-', '/a/b~1c/01', '/a/b~1c/x', '/s/0', '/n/x'].each do |p|
      assert_nil r.dig_json(p), p
    end
  end

  def test_malformed_pointers_raise_usage_error
    r = response('{}')
    ['a', '/~2', '/a~'].each do |p|
      e = assert_raises(Reqivo::UsageError, p) { r.dig_json(p) }
      assert_equal 'REQIVO_ERR_INVALID_JSON_POINTER', e.name
    end
    assert_raises(ArgumentError) { r.dig_json(:a) }
  end

  def test_a_body_that_is_not_json_raises_parser_error
    assert_raises(JSON::ParserError) { response('not json').dig_json('/a') }
  end

  def test_on_a_real_response
    r = Reqivo.get(Web.url('/json'))
    assert_equal 42, r.dig_json('/n')
    assert_equal 3, r.dig_json('/list/2')
  end
end
