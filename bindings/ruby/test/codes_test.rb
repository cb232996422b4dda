# frozen_string_literal: true

require_relative 'test_helper'
require 'open3'
require 'tmpdir'

# The generated code table, the function table and the struct layouts agree
# with include/reqivo.h and with the loaded library.
class CodesTest < Minitest::Test
  HEADER = File.expand_path('../../../include/reqivo.h', __dir__)

  def header
    @header ||= File.read(HEADER)
  end

  def test_every_code_in_the_header_is_in_the_ruby_table
    in_header = header.scan(/^\s*(REQIVO_ERR_[A-Z0-9_]+)\s*=\s*(\d+)/).to_h { |n, c| [n, Integer(c)] }
    refute_empty in_header
    missing = in_header.reject { |name, code| Reqivo::CODES[code]&.name == name }
    assert_empty missing, 'codes in include/reqivo.h that lib/reqivo/codes.rb lacks: ' \
                          'run `ruby bindings/ruby/tools/gen_codes.rb`'
    assert_equal in_header.size, Reqivo::CODES.size, 'codes.rb has codes the header does not'
  end

  def test_every_entry_matches_the_library_at_runtime
    Reqivo::CODES.each do |code, info|
      assert_equal code, info.code
      assert_equal info.name, Reqivo::Native.reqivo_code_name(code), "name of #{code}"
      assert_equal info.klass, Reqivo::Native.reqivo_code_class(code), "class of #{code}"
      err = Reqivo::Error.for_code(code, 'm')
      assert_instance_of Reqivo.const_get(info.error_type), err
      assert_kind_of Reqivo.const_get(Reqivo::CLASS_ERROR_TYPES.fetch(info.klass)), err,
                     "#{info.name} raises a subclass of its class's exception"
      assert_equal [code, info.name, info.klass], [err.code, err.name, err.code_class]
    end
    assert_equal 'REQIVO_OK', Reqivo::Native.reqivo_code_name(0)
    assert_equal 0, Reqivo::Native.reqivo_code_class(0)
  end

  def test_class_types_cover_every_class_the_library_names
    Reqivo::CLASS_ERROR_TYPES.each do |base, type|
      assert Reqivo.const_defined?(type, false), "#{type} for class #{base}"
      assert_operator Reqivo.const_get(type), :<=, Reqivo::Error
    end
  end

  def test_generated_file_is_current
    out, status = Open3.capture2e(RbConfig.ruby, File.expand_path('../tools/gen_codes.rb', __dir__), HEADER, '-')
    assert status.success?, out
    assert_equal File.read(File.expand_path('../lib/reqivo/codes.rb', __dir__)), out,
                 'lib/reqivo/codes.rb is stale: run `ruby bindings/ruby/tools/gen_codes.rb`'
  end

  def test_versions_agree
    assert_equal Reqivo::HEADER_VERSION, Reqivo.library_version
    assert_equal Reqivo::HEADER_VERSION, Reqivo::VERSION
  end

  def test_every_header_function_is_attached_or_listed_as_pending
    in_header = header.scan(/\b(reqivo_[a-z0-9_]+)\(/).flatten.uniq.map(&:to_sym)
    attached = Reqivo::Native::FUNCTIONS.map(&:first)
    pending = Reqivo::Native::PENDING
    assert_empty in_header - attached - pending,
                 'functions in include/reqivo.h neither in Reqivo::Native::FUNCTIONS nor in Native::PENDING'
    assert_empty attached - in_header, 'FUNCTIONS has functions the header lacks'
    assert_empty pending - in_header, 'PENDING lists functions the header lacks'
    assert_empty pending & attached, 'PENDING lists functions that are bound'
    assert_equal %i[reqivo_multi_poll reqivo_session_send reqivo_session_open reqivo_stream_read reqivo_ws_connect
                    reqivo_ws_send reqivo_ws_send_fragment reqivo_ws_receive reqivo_ws_ping reqivo_ws_close].sort,
                 Reqivo::Native::BLOCKING.sort
  end

  def test_response_flags_match_the_header
    header.scan(/#define REQIVO_RESPONSE_([A-Z_]+) (\d+)/).each do |name, value|
      assert_equal Integer(value), Reqivo::RESPONSE_FLAGS.fetch(name.downcase.to_sym)
    end
  end

  def test_tls_versions_match_the_header
    in_header = header.scan(/#define REQIVO_TLS_VERSION_(\d+)_(\d+) (\d+)/)
    refute_empty in_header
    assert_equal in_header.to_h { |a, b, v| [:"tls#{a}_#{b}", Integer(v)] }, Reqivo::TLS_VERSIONS
    assert_equal Reqivo::TLS_VERSIONS[:tls1_3], Reqivo::TLS.version_number(:tls1_3)
  end

  STRUCTS = {
    'reqivo_error' => [Reqivo::Native::Error, %w[code os_error message]],
    'reqivo_timeout' => [Reqivo::Native::Timeout, %w[connect_ms read_ms write_ms total_ms pool_ms]],
    'reqivo_limits' => [Reqivo::Native::Limits, %w[max_line_bytes max_header_bytes max_header_count max_body_bytes]],
    'reqivo_pool_config' => [Reqivo::Native::PoolConfig, %w[struct_size max_per_host max_total max_idle_ms]],
    'reqivo_pool_stats' => [Reqivo::Native::PoolStats, %w[struct_size opened reused closed idle in_use waiting]],
    'reqivo_str' => [Reqivo::Native::Str, %w[ptr len]],
    'reqivo_header' => [Reqivo::Native::Header, %w[name value]],
    'reqivo_timings' => [Reqivo::Native::Timings, %w[dns_ns connect_ns tls_ns sent_ns first_byte_ns total_ns]],
    'reqivo_response' => [Reqivo::Native::Response,
                          %w[struct_size status http_major http_minor flags redirect_count url reason
                             headers header_count body body_len timings tls_version]],
    'reqivo_multi_done' => [Reqivo::Native::MultiDone, %w[struct_size user_data response error]]
  }.freeze

  # Compiles a C program against the header that prints sizeof and
  # offsetof of every field, and compares with ffi's layouts.
  def test_struct_layouts_match_the_c_compiler
    cc = ENV.fetch('CC', 'cc')
    skip "no C compiler (#{cc})" unless system(cc, '--version', out: File::NULL, err: File::NULL)

    lines = STRUCTS.flat_map do |c, (_, fields)|
      ["printf(\"#{c} size %zu\\n\", sizeof(#{c}));"] +
        fields.map { |f| "printf(\"#{c} #{f} %zu\\n\", offsetof(#{c}, #{f}));" }
    end
    src = "#include <stdio.h>\n#include <stddef.h>\n#include \"reqivo.h\"\nint main(void) {\n#{lines.join("\n")}\nreturn 0; }\n"
    Dir.mktmpdir do |dir|
      File.write(File.join(dir, 'layout.c'), src)
      exe = File.join(dir, 'layout')
      out, status = Open3.capture2e(cc, '-std=c11', '-I', File.dirname(HEADER), File.join(dir, 'layout.c'), '-o', exe)
      assert status.success?, out
      c = `#{exe}`.lines.to_h { |l| k, v = l.split(/ (?=\d+$)/); [k, Integer(v)] }
      STRUCTS.each do |name, (klass, fields)|
        assert_equal c.fetch("#{name} size"), klass.size, "sizeof(#{name})"
        assert_equal fields.map(&:to_sym), klass.members, "fields of #{name}"
        fields.each do |f|
          assert_equal c.fetch("#{name} #{f}"), klass.offset_of(f.to_sym), "offsetof(#{name}, #{f})"
        end
      end
    end
  end
end
