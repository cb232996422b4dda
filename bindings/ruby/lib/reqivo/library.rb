# frozen_string_literal: true

require 'ffi'
require_relative 'version'

module Reqivo
  # Finds libreqivo, in order:
  #   1. $REQIVO_LIB, a path to the library file;
  #   2. the copy this gem built for itself when it was installed (when
  #      cargo was found then; ext/reqivo), in the gem's lib/reqivo;
  #   3. pkg-config's libdir for `reqivo` (`make install` writes reqivo.pc);
  #   4. the dynamic linker's own search for libreqivo.so.0: LD_LIBRARY_PATH,
  #      ldconfig's cache (/usr/local/lib after `sudo make install`), /usr/lib;
  #   5. only when running from a checkout of reqivo (bindings/ruby/lib),
  #      the checkout's build, target/release.
  # Nothing found: a LoadError naming each place and how to install it.
  module Library
    NAME = "libreqivo.#{FFI::Platform::LIBSUFFIX}"
    # The name the dynamic linker knows an installed copy by (its soname,
    # with the ABI's major version).
    SONAME = if FFI::Platform::IS_MAC
               "libreqivo.#{VERSION.split('.').first}.dylib"
             else
               "#{NAME}.#{VERSION.split('.').first}"
             end
    GEM_ROOT = File.expand_path('../..', __dir__)
    # Where ext/reqivo/extconf.rb's build puts the gem's own copy (RubyGems
    # copies it into the gem's lib/ and into its extension directory).
    OWN_COPY = File.join(__dir__, NAME)

    module_function

    # The path (or, for a copy the dynamic linker finds, the soname) that
    # ffi_lib loads. Raises LoadError naming every place tried.
    def path
      env = ENV['REQIVO_LIB']
      if env && !env.empty?
        return env if File.file?(env)

        raise LoadError, "REQIVO_LIB=#{env} is not a file: point it at libreqivo.so, " \
                         'or unset it to use the copy this gem built or one installed on the system'
      end
      tried = ['$REQIVO_LIB: not set']

      unless checkout_root
        own = own_copies
        found = own.find { |f| File.file?(f) }
        return found if found

        tried << "the copy this gem builds when it is installed: #{own.first}, absent " \
                 '(built only when Rust\'s cargo was found at `gem install` time)'
      end

      dir = pkg_config_libdir
      if dir == :no_pkg_config
        tried << 'pkg-config: not installed'
      elsif dir
        found = [NAME, SONAME].map { |n| File.join(dir, n) }.find { |f| File.file?(f) }
        return found if found

        tried << "pkg-config: reqivo's libdir #{dir} holds no #{NAME}"
      else
        tried << 'pkg-config: knows no reqivo (`pkg-config --variable=libdir reqivo`)'
      end

      name = [SONAME, NAME].find { |n| linker_finds?(n) }
      return name if name

      tried << "the dynamic linker (LD_LIBRARY_PATH, ldconfig's cache, /usr/lib): no #{SONAME}"

      if (root = checkout_root)
        candidate = File.join(root, 'target', 'release', NAME)
        return candidate if File.file?(candidate)

        tried << "this checkout's build: #{candidate}, absent"
      end

      raise LoadError, not_found_message(tried)
    end

    def not_found_message(tried)
      ways = []
      ways << "in this checkout (#{checkout_root}): `make lib` builds it" if checkout_root
      ways << 'from reqivo\'s source (needs Rust, https://rustup.rs): `make lib && sudo make install` ' \
              'installs it into /usr/local, where it is found from then on'
      ways << 'install Rust (https://rustup.rs) and reinstall this gem, which then builds its own copy' unless checkout_root
      ways << 'set REQIVO_LIB to the path of a libreqivo.so'
      "libreqivo, the C library the reqivo gem runs on, was not found. Looked for:\n" +
        tried.map { |t| "  - #{t}\n" }.join +
        "To install it, either:\n" +
        ways.map { |w| "  - #{w}\n" }.join +
        'See "Install the gem" in the reqivo gem\'s README.md.'
    end

    # The gem's own copy: in its lib/reqivo (RubyGems copies what the
    # extension installs there), or in its extension directory when this
    # RubyGems does not copy extensions into lib.
    def own_copies
      copies = [OWN_COPY]
      spec = Gem.loaded_specs['reqivo'] if defined?(Gem) && Gem.respond_to?(:loaded_specs)
      if spec && File.expand_path(spec.full_gem_path) == GEM_ROOT && spec.respond_to?(:extension_dir)
        copies << File.join(spec.extension_dir, 'reqivo', NAME)
      end
      copies
    end

    # The root of the reqivo checkout this code runs from (bindings/ruby/lib
    # inside it), or nil for an installed gem.
    def checkout_root
      return @checkout_root if defined?(@checkout_root)

      root = File.expand_path('../..', GEM_ROOT)
      @checkout_root =
        if GEM_ROOT == File.join(root, 'bindings', 'ruby') && File.file?(File.join(root, 'Cargo.toml')) &&
           File.file?(File.join(root, 'reqivo.map'))
          root
        end
    end

    # Whether the dynamic linker can load NAME by itself (dlopen without a
    # path searches LD_LIBRARY_PATH, ldconfig's cache and the system
    # directories).
    def linker_finds?(name)
      FFI::DynamicLibrary.open(name, FFI::DynamicLibrary::RTLD_LAZY | FFI::DynamicLibrary::RTLD_LOCAL)
      true
    rescue LoadError
      false
    end

    # reqivo's libdir from pkg-config; nil when it knows no reqivo,
    # :no_pkg_config when there is no pkg-config.
    def pkg_config_libdir
      out = IO.popen(%w[pkg-config --variable=libdir reqivo], err: File::NULL, &:read)
      return nil unless $?.success?

      dir = out.strip
      dir.empty? ? nil : dir
    rescue SystemCallError
      :no_pkg_config
    end
  end
end
