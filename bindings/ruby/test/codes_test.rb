# frozen_string_literal: true

require_relative 'test_helper'
require 'open3'
require 'tmpdir'

# The generated code table, the function table and the struct layouts agree
# with include/reqivo.h and with the loaded library, and lib/ calls every
# function of the header or gives the reason it does not (Native::PENDING).
class CodesTest < Minitest::Test
  HEADER = File.expand_path('../../../include/reqivo.h', __dir__)
  GENERATOR = File.expand_path('../../../tools/gen_bindings.py', __dir__)
  LIB = File.expand_path('../lib', __dir__)

  def header
    @header ||= File.read(HEADER)
  end

  def test_every_code_in_the_header_is_in_the_ruby_table
    in_header = header.scan(/^\s*(REQIVO_ERR_[A-Z0-9_]+)\s*=\s*(\d+)/).to_h { |n, c| [n, Integer(c)] }
    refute_empty in_header
    missing = in_header.reject { |name, code| Reqivo::CODES[code]&.name == name }
    assert_empty missing, 'codes in include/reqivo.h that lib/reqivo/codes.rb lacks: run `make bindings`'
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
    in_header = header.scan(/^#define REQIVO_CLASS_[A-Z0-9_]+ (\d+)$/).flatten.map { |v| Integer(v) }
    refute_empty in_header
    assert_equal in_header.sort, Reqivo::CLASS_ERROR_TYPES.keys.sort, 'REQIVO_CLASS_* against CLASS_ERROR_TYPES'
  end

  def test_generated_files_are_current
    python = ENV.fetch('PYTHON', 'python3')
    skip "no #{python} to run tools/gen_bindings.py" unless system(python, '--version', out: File::NULL, err: File::NULL)

    out, status = Open3.capture2e(python, GENERATOR, '--check', 'ruby')
    assert status.success?, "lib/reqivo/codes.rb or native_gen.rb is stale: run `make bindings`\n#{out}"
  end

  def test_every_define_is_a_native_constant
    in_header = header.scan(/^#define (REQIVO_[A-Z0-9_]+) (-?\d+)$/)
    refute_empty in_header
    in_header.each { |name, v| assert_equal Integer(v), Reqivo::Native.const_get(name), name }
    assert_equal 2**32 - 1, Reqivo::Native::REQIVO_NO_LIMIT
    assert_equal 2**64 - 1, Reqivo::Native::REQIVO_NO_LIMIT_64
  end

  def test_versions_agree
    assert_equal Reqivo::HEADER_VERSION, Reqivo.library_version
    assert_equal Reqivo::HEADER_VERSION, Reqivo::VERSION
  end

  # What lib/ calls: Native.reqivo_* calls, reqivo_* names passed as
  # Symbols (Native.public_send), and the destructors of Native::FREE.
  # (Symbols that name no function, such as thread-local keys, are dropped
  # where this is compared with the header.)
  def used_by_lib
    files = Dir.glob(File.join(LIB, '**', '*.rb')).reject { |f| %w[native.rb native_gen.rb].include?(File.basename(f)) }
    names = files.flat_map { |f| File.read(f).scan(/(?:\bNative\.|(?<![\w:]):)(reqivo_[a-z0-9_]+)\b/).flatten }
    (names.map(&:to_sym) + Reqivo::Native::FREE.values.map(&:name)).uniq
  end

  def test_every_header_function_is_attached_and_used_or_listed_as_pending
    in_header = header.scan(/^[^\s\/*#].*?\b(reqivo_[a-z0-9_]+)\(/).flatten.uniq.map(&:to_sym)
    refute_empty in_header
    attached = Reqivo::Native::FUNCTIONS.map(&:first)
    assert_equal in_header.sort, attached.sort, 'Native::FUNCTIONS against the header: run `make bindings`'
    attached.each { |f| assert_respond_to Reqivo::Native, f }

    pending = Reqivo::Native::PENDING
    used = used_by_lib & in_header
    assert_empty in_header - used - pending.keys,
                 'functions of include/reqivo.h that lib/ neither calls nor lists, with a reason, in Native::PENDING'
    assert_empty pending.keys - in_header, 'Native::PENDING lists functions the header lacks'
    assert_empty pending.keys & used, 'Native::PENDING lists functions lib/ calls: drop them from it'
    pending.each { |f, reason| assert_kind_of String, reason, f; refute_empty reason.strip, f }

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

  def test_websocket_kinds_and_log_levels_match_the_header
    assert_equal header.scan(/#define REQIVO_WS_([A-Z]+) (\d+)/).to_h { |n, v| [n.downcase.to_sym, Integer(v)] },
                 Reqivo::WS_KINDS
    assert_equal Reqivo::WS_KINDS.invert, Reqivo::WebSocket::KINDS
    levels = header.scan(/#define REQIVO_LOG_([A-Z]+) (\d+)/).to_h { |n, v| [n.downcase.to_sym, Integer(v)] }
    assert_equal levels, Reqivo::LOG_LEVELS
    levels.each { |name, n| assert_equal name, Reqivo::SessionHooks::LEVELS[n] }
  end

  # Every struct of the header: its Native class (the name in CamelCase
  # without reqivo_) and its field names, read here with a pattern of the
  # test's own rather than the generator's parser.
  def structs
    header.scan(/^typedef struct (reqivo_\w+) \{(.*?)^\} \1;/m).to_h do |name, body|
      fields = body.gsub(%r{/\*.*?\*/}m, '').scan(/(\w+)(?:\[\d+\])?;/).flatten
      klass = Reqivo::Native.const_get(name.delete_prefix('reqivo_').split('_').map(&:capitalize).join)
      [name, [klass, fields]]
    end
  end

  # Compiles a C program against the header that prints sizeof and
  # offsetof of every field, and compares with ffi's layouts.
  def test_struct_layouts_match_the_c_compiler
    cc = ENV.fetch('CC', 'cc')
    skip "no C compiler (#{cc})" unless system(cc, '--version', out: File::NULL, err: File::NULL)

    all = structs
    assert_operator all.size, :>=, 12
    assert all.key?('reqivo_ws_message')
    lines = all.flat_map do |c, (_, fields)|
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
      all.each do |name, (klass, fields)|
        assert_equal c.fetch("#{name} size"), klass.size, "sizeof(#{name})"
        assert_equal fields.map(&:to_sym), klass.members, "fields of #{name}"
        fields.each do |f|
          assert_equal c.fetch("#{name} #{f}"), klass.offset_of(f.to_sym), "offsetof(#{name}, #{f})"
        end
      end
    end
  end
end
