# frozen_string_literal: true

require_relative 'lib/reqivo/version'

Gem::Specification.new do |spec|
  spec.name = 'reqivo'
  spec.version = Reqivo::VERSION
  spec.summary = 'HTTP/1.1 client on libreqivo (Rust, C ABI) through ffi'
  spec.description = <<~DESC
    Sessions with keep-alive pooling, HTTPS (custom roots, mutual TLS, pins),
    gzip/deflate decoding, redirects, timeouts, limits, streaming downloads,
    parallel batches on one thread and cancellation, from the libreqivo C
    library. Network waits
    release the GVL; Timeout.timeout and Thread#kill cancel a request inside
    the library. Includes a Faraday adapter (require 'reqivo/faraday').
    Installing the gem builds libreqivo from the Rust sources it carries when
    cargo is found; otherwise it uses the libreqivo installed on the system
    (pkg-config, the dynamic linker) or $REQIVO_LIB.
  DESC
  spec.authors = ['reqivo contributors']
  spec.licenses = ['MIT', 'Apache-2.0']
  spec.required_ruby_version = '>= 2.7'
  # The Ruby code, and the extension step that builds libreqivo at install
  # time (ext/reqivo) from the crate's sources, which bindings/ruby/build_gem.sh
  # copies into ext/reqivo/crate in a staging copy of this directory (they
  # live at the root of the reqivo repository, outside this folder).
  files = Dir.glob(%w[lib/**/*.rb ext/reqivo/*.rb
                      ext/reqivo/crate/{Cargo.toml,Cargo.lock,build.rs,reqivo.map,cbindgen.toml}
                      ext/reqivo/crate/{src,include}/**/*], base: __dir__)
               .select { |f| File.file?(File.join(__dir__, f)) }
  spec.files = files.sort + %w[README.md reqivo.gemspec]
  spec.extensions = ['ext/reqivo/extconf.rb']
  spec.require_paths = ['lib']
  if File.basename($PROGRAM_NAME) == 'gem' && ARGV.first == 'build' && files.none? { |f| f.end_with?('crate/Cargo.toml') }
    warn 'reqivo.gemspec: no Rust sources in ext/reqivo/crate, so this gem cannot build libreqivo ' \
         'when installed; bindings/ruby/build_gem.sh builds the complete gem (into build/gem/)'
  end
  spec.add_dependency 'ffi', '~> 1.15'
  spec.add_development_dependency 'faraday', '>= 1.0', '< 3'
  spec.add_development_dependency 'minitest', '~> 5.0'
  spec.add_development_dependency 'webrick', '~> 1.7'
end
