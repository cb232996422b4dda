#!/usr/bin/env ruby
# frozen_string_literal: true

# Writes lib/reqivo/codes.rb from include/reqivo.h (docs/DESIGN.md §3: the
# bindings never hand-copy numbers). Everything it emits is read from the
# header: the REQIVO_ERR_* enumerators with their doc comments, the class
# bases listed in reqivo_code_class's doc comment, the version macros, the
# REQIVO_RESPONSE_* flag bits and the REQIVO_TLS_VERSION_* numbers.
# The only thing written here by hand is which Ruby exception class a code
# raises (ERROR_TYPES below), keyed by name and class, never by number.
#
#   ruby tools/gen_codes.rb [HEADER] [OUTPUT]     (OUTPUT "-" = stdout)
#
# test.sh regenerates into a temp file and fails if codes.rb differs.

ROOT = File.expand_path('..', __dir__)
header_path = ARGV[0] || File.expand_path('../../include/reqivo.h', ROOT)
out_path = ARGV[1] || File.join(ROOT, 'lib/reqivo/codes.rb')

# Exception class per code name (without the REQIVO_ERR_ prefix); codes not
# listed raise the class's type from CLASS_TYPES.
ERROR_TYPES = {
  'PROXY' => 'ProxyError',
  'TIMEOUT_CONNECT' => 'ConnectTimeout',
  'TIMEOUT_READ' => 'ReadTimeout',
  'TIMEOUT_WRITE' => 'WriteTimeout',
  'TIMEOUT_TOTAL' => 'TotalTimeout',
  'TIMEOUT_POOL' => 'PoolTimeout',
  'INVALID_STATUS_LINE' => 'InvalidResponseError',
  'INVALID_RESPONSE_HEADER' => 'InvalidResponseError',
  'INVALID_FRAMING' => 'InvalidResponseError',
  'INVALID_CHUNK' => 'InvalidResponseError',
  'UNEXPECTED_EOF' => 'InvalidResponseError',
  'DECOMPRESSION' => 'InvalidResponseError',
  'TOO_MANY_REDIRECTS' => 'TooManyRedirects',
  'REDIRECT_LOOP' => 'RedirectLoopError',
  'ABORTED_BY_CALLBACK' => 'CallbackError',
  'WS_HANDSHAKE' => 'WebSocketHandshakeError',
  'WS_CLOSED' => 'WebSocketClosed',
  'WS_PROTOCOL' => 'WebSocketProtocolError',
  'WS_INVALID_UTF8' => 'WebSocketProtocolError',
  'WS_MESSAGE_TOO_BIG' => 'WebSocketMessageTooBig',
  'WS_PING_TIMEOUT' => 'WebSocketPingTimeout'
}.freeze

# Exception class per class word as the header's reqivo_code_class doc
# comment names it ("1000 usage, 2000 network, ...").
CLASS_TYPES = {
  'usage' => 'UsageError',
  'network' => 'NetworkError',
  'TLS' => 'TlsError',
  'timeout' => 'TimeoutError',
  'protocol' => 'ProtocolError',
  'redirect' => 'RedirectError',
  'stopped' => 'Cancelled',
  'WebSocket' => 'WebSocketError',
  'internal' => 'InternalError'
}.freeze

def fail!(msg)
  warn "gen_codes: #{msg}"
  exit 1
end

src = File.read(header_path)

enum = src[/enum reqivo_code\b[^{]*\{(.*?)\};/m, 1] or fail!("no `enum reqivo_code` in #{header_path}")
codes = []
doc = []
enum.each_line do |line|
  line = line.strip
  if line.start_with?('/**', '*/')
    doc = [] if line.start_with?('/**')
  elsif line.start_with?('*')
    doc << line.sub(/\A\*\s?/, '')
  elsif (m = line.match(/\A(REQIVO_(?:OK|ERR_[A-Z0-9_]+))\s*=\s*(\d+)\s*,?\z/))
    codes << [Integer(m[2]), m[1], doc.join(' ').strip]
    doc = []
  elsif !line.empty? && !line.start_with?('#')
    fail!("unexpected line in enum reqivo_code: #{line.inspect}")
  end
end
fail!('no REQIVO_ERR_* codes found') if codes.none? { |_, n, _| n.start_with?('REQIVO_ERR_') }
dups = codes.group_by(&:first).select { |_, v| v.size > 1 }
fail!("duplicate numbers: #{dups.keys}") unless dups.empty?

# The class bases, from the doc comment right above reqivo_code_class.
class_doc = src[%r{/\*\*((?:(?!\*/).)*?)\*/\s*uint32_t\s+reqivo_code_class\s*\(}m, 1] or
  fail!('no doc comment on reqivo_code_class')
# It lists them as "<base> <word>" pairs ("1000 usage, 2000 network, ...").
bases = class_doc.gsub(/^\s*\*\s?/, ' ').scan(/\b(\d{4})\s+([A-Za-z]+)/).map { |num, word| [Integer(num), word] }
fail!('no "1000 usage, 2000 network, ..." list in the reqivo_code_class doc comment') if bases.empty?
bases.each { |_, word| CLASS_TYPES.key?(word) or fail!("class word #{word.inspect} has no Ruby type in CLASS_TYPES") }

# A code's class is the largest listed base at or below it within its
# thousand (2104 -> 2100, 2004 -> 2000); 0 for REQIVO_OK.
class_of = lambda do |code|
  next 0 if code.zero?
  base = bases.map(&:first).select { |b| b <= code && b / 1000 == code / 1000 }.max
  base or fail!("code #{code} falls in no class listed by reqivo_code_class")
end

version = %w[MAJOR MINOR PATCH].map do |part|
  src[/#define REQIVO_VERSION_#{part} (\d+)/, 1] or fail!("no REQIVO_VERSION_#{part}")
end.join('.')

flags = src.scan(/#define (REQIVO_RESPONSE_[A-Z0-9_]+) (\d+)/)
tls_versions = src.scan(/#define REQIVO_TLS_VERSION_(\d+)_(\d+) (\d+)/)
fail!('no REQIVO_TLS_VERSION_* macros') if tls_versions.empty?

unknown = ERROR_TYPES.keys - codes.map { |_, n, _| n.delete_prefix('REQIVO_ERR_') }
fail!("ERROR_TYPES names codes the header lacks: #{unknown.join(', ')}") unless unknown.empty?

rows = codes.reject { |c, _, _| c.zero? }.map do |code, name, text|
  short = name.delete_prefix('REQIVO_ERR_')
  cls = class_of.call(code)
  type = ERROR_TYPES[short] || CLASS_TYPES.fetch(bases.find { |b, _| b == cls }[1])
  "    #{code} => Code.new(#{code}, '#{name}', #{cls}, :#{type}, #{text.inspect}),"
end

out = +<<~RUBY
  # frozen_string_literal: true

  # GENERATED by tools/gen_codes.rb from include/reqivo.h -- do not edit.
  # Regenerate with: ruby bindings/ruby/tools/gen_codes.rb

  module Reqivo
    # Version of the header these tables were generated from.
    HEADER_VERSION = '#{version}'

    # One result code: number, name, class (the range base that
    # reqivo_code_class returns), the exception class it raises (a Symbol
    # naming a constant under Reqivo) and the header's description.
    Code = Struct.new(:code, :name, :klass, :error_type, :description)

    # Every REQIVO_ERR_* code in the header, by number.
    CODES = {
  #{rows.join("\n")}
    }.freeze

    # Class base => exception class, from reqivo_code_class's doc comment.
    CLASS_ERROR_TYPES = {
  #{bases.map { |b, w| "    #{b} => :#{CLASS_TYPES.fetch(w)}," }.join("\n")}
    }.freeze

    # REQIVO_RESPONSE_* flag bits of reqivo_response.flags.
    RESPONSE_FLAGS = {
  #{flags.map { |n, v| "    #{n.delete_prefix('REQIVO_RESPONSE_').downcase}: #{v}," }.join("\n")}
    }.freeze

    # REQIVO_TLS_VERSION_* (the wire numbers) by the Ruby name min_version:
    # takes (REQIVO_TLS_VERSION_1_2 -> :tls1_2).
    TLS_VERSIONS = {
  #{tls_versions.map { |maj, min, v| "    tls#{maj}_#{min}: #{v}," }.join("\n")}
    }.freeze
  end
RUBY

if out_path == '-'
  $stdout.write(out)
else
  File.write(out_path, out)
end
