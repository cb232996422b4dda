# frozen_string_literal: true

require_relative 'test_helper'
require 'open3'
require 'tmpdir'
require 'fileutils'
require 'rbconfig'

# The library is found through $REQIVO_LIB, then the copy an installed gem
# built for itself, pkg-config, the dynamic linker, and in a checkout the
# build tree. Each case runs in a child Ruby with a controlled environment
# (no LD_LIBRARY_PATH unless given; pkg-config replaced by a script).
# test/gem_install_test.sh does the same with the gem installed.
class LibraryTest < Minitest::Test
  LIB = File.expand_path('../lib', __dir__)
  BUILT = Reqivo::Library.path # REQIVO_LIB from test.sh: this checkout's build

  def lookup(env, path: ENV.fetch('PATH'), lib: LIB, script: 'require "reqivo/library"; puts Reqivo::Library.path')
    out, status = Open3.capture2e({ 'PATH' => path, 'LD_LIBRARY_PATH' => nil }.merge(env),
                                  RbConfig.ruby, '-I', lib, '-e', script)
    [out.strip, status.success?]
  end

  # A bin directory whose pkg-config prints LIBDIR, or knows no reqivo.
  def fake_pkg_config(dir, libdir = nil)
    bin = File.join(dir, 'bin')
    FileUtils.mkdir_p(bin)
    File.write(File.join(bin, 'pkg-config'), libdir ? "#!/bin/sh\necho #{libdir}\n" : "#!/bin/sh\nexit 1\n")
    File.chmod(0o755, File.join(bin, 'pkg-config'))
    "#{bin}:#{ENV.fetch('PATH')}"
  end

  # A libreqivo installed system-wide (ldconfig's cache, e.g. by `make
  # install`, which tests/install/run.sh does for a while) comes before the
  # build tree and means "not found" cannot happen: the lookup then names
  # its soname.
  def system_wide?(out)
    out == Reqivo::Library::SONAME
  end

  def test_reqivo_lib_comes_first
    out, ok = lookup({ 'REQIVO_LIB' => BUILT })
    assert ok, out
    assert_equal BUILT, out
  end

  def test_a_missing_reqivo_lib_is_a_load_error
    out, ok = lookup({ 'REQIVO_LIB' => '/nonexistent/libreqivo.so' })
    refute ok
    assert_match(/REQIVO_LIB=.*is not a file/, out)
  end

  def test_pkg_config_libdir_then_the_dynamic_linker_then_the_build_tree
    Dir.mktmpdir do |dir|
      libdir = File.join(dir, 'lib')
      Dir.mkdir(libdir)
      File.symlink(BUILT, File.join(libdir, Reqivo::Library::NAME))
      out, ok = lookup({ 'REQIVO_LIB' => nil }, path: fake_pkg_config(dir, libdir))
      assert ok, out
      assert_equal File.join(libdir, Reqivo::Library::NAME), out

      # pkg-config that knows no reqivo: the dynamic linker, here through
      # LD_LIBRARY_PATH, by the soname an installed copy has; ffi loads it.
      nopc = fake_pkg_config(dir)
      File.symlink(BUILT, File.join(libdir, Reqivo::Library::SONAME))
      out, ok = lookup({ 'REQIVO_LIB' => nil, 'LD_LIBRARY_PATH' => libdir }, path: nopc,
                       script: 'require "reqivo"; puts Reqivo::Library.path, Reqivo.library_version')
      assert ok, out
      assert_equal [Reqivo::Library::SONAME, Reqivo.library_version], out.lines.map(&:strip)

      # Nothing else: this checkout's build.
      out, ok = lookup({ 'REQIVO_LIB' => nil }, path: nopc)
      build = File.expand_path("../../../target/release/#{Reqivo::Library::NAME}", __dir__)
      if system_wide?(out)
        assert ok, out
      elsif File.file?(build)
        assert ok, out
        assert_equal build, out
      else
        refute ok
        assert_match(/was not found/, out)
      end
    end
  end

  # Outside a checkout (as an installed gem): the gem's own copy first, no
  # build tree, and a message saying how to install the library.
  def test_an_installed_gem_looks_for_its_own_copy_and_says_how_to_install
    Dir.mktmpdir do |dir|
      lib = File.join(dir, 'gem', 'lib')
      FileUtils.mkdir_p(lib)
      FileUtils.cp_r(Dir[File.join(LIB, '*')], lib)
      nopc = fake_pkg_config(dir)
      out, ok = lookup({ 'REQIVO_LIB' => nil }, path: nopc, lib: lib)
      unless system_wide?(out)
        refute ok, out
        own = File.join(lib, 'reqivo', Reqivo::Library::NAME)
        assert_includes out, 'libreqivo, the C library the reqivo gem runs on, was not found'
        assert_includes out, '$REQIVO_LIB: not set'
        assert_includes out, "the copy this gem builds when it is installed: #{own}, absent"
        assert_includes out, 'pkg-config: knows no reqivo'
        assert_includes out, "the dynamic linker (LD_LIBRARY_PATH, ldconfig's cache, /usr/lib): no libreqivo.so.0"
        assert_includes out, '`make lib && sudo make install`'
        assert_includes out, 'set REQIVO_LIB to the path of a libreqivo.so'
        refute_match(/target|cargo build|checkout/, out)
      end

      # The gem's own copy wins over pkg-config.
      File.symlink(BUILT, File.join(lib, 'reqivo', Reqivo::Library::NAME))
      other = File.join(dir, 'other')
      Dir.mkdir(other)
      File.symlink(BUILT, File.join(other, Reqivo::Library::NAME))
      out, ok = lookup({ 'REQIVO_LIB' => nil }, path: fake_pkg_config(File.join(dir, 'pc'), other), lib: lib)
      assert ok, out
      assert_equal File.join(lib, 'reqivo', Reqivo::Library::NAME), out
    end
  end

  def test_the_loaded_library_is_compatible
    assert_equal Reqivo::HEADER_VERSION.split('.').first, Reqivo.library_version.split('.').first
  end
end
