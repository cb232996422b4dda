# frozen_string_literal: true

require 'ffi'

module Reqivo
  # Finds libreqivo: $REQIVO_LIB, then pkg-config's libdir for `reqivo`,
  # then the build tree this gem sits in (../../target/release).
  module Library
    NAME = "libreqivo.#{FFI::Platform::LIBSUFFIX}"
    GEM_ROOT = File.expand_path('../..', __dir__)

    module_function

    # The path ffi_lib loads. Raises LoadError naming every place tried.
    def path
      tried = []
      env = ENV['REQIVO_LIB']
      if env && !env.empty?
        return env if File.file?(env)

        raise LoadError, "REQIVO_LIB=#{env} is not a file"
      end
      tried << '$REQIVO_LIB (unset)'

      if (dir = pkg_config_libdir)
        candidate = File.join(dir, NAME)
        return candidate if File.file?(candidate)

        tried << candidate
      else
        tried << 'pkg-config reqivo (not found)'
      end

      candidate = File.expand_path("../../target/release/#{NAME}", GEM_ROOT)
      return candidate if File.file?(candidate)

      tried << candidate
      raise LoadError, "#{NAME} not found; tried: #{tried.join(', ')}. " \
                       'Build it with `cargo build --release` or set REQIVO_LIB.'
    end

    def pkg_config_libdir
      out = IO.popen(%w[pkg-config --variable=libdir reqivo], err: File::NULL, &:read)
      return nil unless $?.success?

      dir = out.strip
      dir.empty? ? nil : dir
    rescue SystemCallError
      nil # no pkg-config on this machine
    end
  end
end
