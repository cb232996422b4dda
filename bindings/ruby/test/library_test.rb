# frozen_string_literal: true

require_relative 'test_helper'
require 'open3'
require 'tmpdir'
require 'rbconfig'

# The library is found through $REQIVO_LIB, then pkg-config, then the build
# tree. Each case runs in a child Ruby with a controlled environment.
class LibraryTest < Minitest::Test
  LIB = File.expand_path('../lib', __dir__)

  def lookup(env, path: ENV.fetch('PATH'))
    out, status = Open3.capture2e({ 'PATH' => path }.merge(env), RbConfig.ruby, '-I', LIB, '-e',
                                  'require "reqivo/library"; puts Reqivo::Library.path')
    [out.strip, status.success?]
  end

  def test_reqivo_lib_comes_first
    out, ok = lookup({ 'REQIVO_LIB' => Reqivo::Library.path })
    assert ok, out
    assert_equal Reqivo::Library.path, out
  end

  def test_a_missing_reqivo_lib_is_a_load_error
    out, ok = lookup({ 'REQIVO_LIB' => '/nonexistent/libreqivo.so' })
    refute ok
    assert_match(/REQIVO_LIB=.*is not a file/, out)
  end

  def test_pkg_config_libdir_then_build_tree
    Dir.mktmpdir do |dir|
      libdir = File.join(dir, 'lib')
      Dir.mkdir(libdir)
      File.symlink(Reqivo::Library.path, File.join(libdir, Reqivo::Library::NAME))
      bin = File.join(dir, 'bin')
      Dir.mkdir(bin)
      File.write(File.join(bin, 'pkg-config'), "#!/bin/sh\necho #{libdir}\n")
      File.chmod(0o755, File.join(bin, 'pkg-config'))
      out, ok = lookup({ 'REQIVO_LIB' => nil }, path: "#{bin}:#{ENV.fetch('PATH')}")
      assert ok, out
      assert_equal File.join(libdir, Reqivo::Library::NAME), out

      # pkg-config that knows no reqivo: the build tree.
      File.write(File.join(bin, 'pkg-config'), "#!/bin/sh\nexit 1\n")
      out, ok = lookup({ 'REQIVO_LIB' => nil }, path: "#{bin}:#{ENV.fetch('PATH')}")
      build = File.expand_path("../../../target/release/#{Reqivo::Library::NAME}", __dir__)
      if File.file?(build)
        assert ok, out
        assert_equal build, out
      else
        refute ok
        assert_match(/not found; tried/, out)
      end
    end
  end

  def test_the_loaded_library_is_compatible
    assert_equal Reqivo::HEADER_VERSION.split('.').first, Reqivo.library_version.split('.').first
  end
end
