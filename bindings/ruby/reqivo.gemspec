# frozen_string_literal: true

require_relative 'lib/reqivo/version'

Gem::Specification.new do |spec|
  spec.name = 'reqivo'
  spec.version = Reqivo::VERSION
  spec.summary = 'HTTP/1.1 client on libreqivo (Rust, C ABI) through ffi'
  spec.description = <<~DESC
    Sessions with keep-alive pooling, HTTPS (custom roots, mutual TLS, pins),
    gzip/deflate decoding, redirects, timeouts, limits, streaming downloads
    and cancellation, from the libreqivo C library. Network waits
    release the GVL; Timeout.timeout and Thread#kill cancel a request inside
    the library. Includes a Faraday adapter (require 'reqivo/faraday').
    Needs libreqivo: $REQIVO_LIB, pkg-config, or the build tree.
  DESC
  spec.authors = ['reqivo contributors']
  spec.licenses = ['MIT', 'Apache-2.0']
  spec.required_ruby_version = '>= 2.7'
  spec.files = Dir[File.join(__dir__, '{lib,tools}/**/*.rb')].map { |f| f.delete_prefix("#{__dir__}/") } +
               %w[README.md reqivo.gemspec]
  spec.require_paths = ['lib']
  spec.add_dependency 'ffi', '~> 1.15'
  spec.add_development_dependency 'faraday', '>= 1.0', '< 3'
  spec.add_development_dependency 'minitest', '~> 5.0'
  spec.add_development_dependency 'webrick', '~> 1.7'
end
