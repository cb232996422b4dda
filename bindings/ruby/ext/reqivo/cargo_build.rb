# frozen_string_literal: true

# The steps of the Makefile extconf.rb writes, run at `gem install`:
#
#   ruby cargo_build.rb build [CARGO]   builds libreqivo from crate/ with
#       `cargo build --release --locked` (nothing without CARGO), then
#       keeps a stripped copy here, as `strip` makes it for `make install`
#       (exported reqivo_* symbols only, no debug info: 3 MB, not 20);
#   ruby cargo_build.rb install DIR     moves that copy into DIR (what
#       RubyGems installs into the gem's lib/ and extension directory);
#       nothing when nothing was built.
#
# A failed cargo build fails the installation, with the way around it.

require 'fileutils'
require 'rbconfig'

NAME = RbConfig::CONFIG['host_os'].match?(/darwin/) ? 'libreqivo.dylib' : 'libreqivo.so'
HERE = __dir__
CRATE = File.join(HERE, 'crate')
BUILT = File.join(HERE, NAME)

def build(cargo)
  return if cargo.nil? || cargo.empty? # extconf.rb said why

  own_target = ENV['CARGO_TARGET_DIR'].nil? || ENV['CARGO_TARGET_DIR'].empty?
  target = own_target ? File.join(CRATE, 'target') : File.expand_path(ENV['CARGO_TARGET_DIR'])
  cmd = [cargo, 'build', '--release', '--locked', '--manifest-path', File.join(CRATE, 'Cargo.toml')]
  puts "reqivo: #{cmd.join(' ')} (CARGO_TARGET_DIR=#{target})"
  $stdout.flush
  # RubyGems sets SOURCE_DATE_EPOCH (to the current time unless given) for
  # reproducible gems. libreqivo embeds no dates, but ring's C build is
  # declared to depend on it, so it would rebuild ring (and what depends on
  # it) each time instead of reusing a CARGO_TARGET_DIR's build.
  env = { 'CARGO_TARGET_DIR' => target, 'SOURCE_DATE_EPOCH' => nil }
  unless system(env, *cmd)
    abort <<~MSG
      reqivo: building libreqivo with cargo failed (output above).
      The gem can use a libreqivo installed on the system instead (from reqivo's
      source: make lib && sudo make install): install it, then install the gem with
        gem install reqivo-#{gem_version}.gem -- --use-system-library
    MSG
  end

  FileUtils.rm_f(BUILT)
  FileUtils.cp(File.join(target, 'release', NAME), BUILT)
  # As `make install` strips the library: the dynamic symbol table (the
  # exported functions) stays. A copy that cannot be stripped works as it is.
  unless system('strip', '--strip-unneeded', '--remove-section=.comment', BUILT, err: File::NULL)
    puts "reqivo: #{BUILT} left unstripped (strip failed or is missing)"
  end
  puts "reqivo: built #{BUILT} (#{File.size(BUILT) / 1024} KiB)"
  # The build directory holds several hundred MB: gone once the library is
  # out, unless it is the caller's CARGO_TARGET_DIR.
  FileUtils.rm_rf(target) if own_target
end

def install(dir)
  return puts('reqivo: nothing built to install') unless File.file?(BUILT)

  FileUtils.mkdir_p(dir)
  FileUtils.mv(BUILT, File.join(dir, NAME)) # RubyGems copies it on into the gem's lib/
  puts "reqivo: installed #{NAME} into the gem"
end

def gem_version
  File.read(File.join(HERE, '..', '..', 'lib', 'reqivo', 'version.rb'))[/VERSION = '([^']+)'/, 1]
rescue SystemCallError
  'VERSION'
end

case ARGV[0]
when 'build' then build(ARGV[1])
when 'install' then install(ARGV.fetch(1))
else abort "usage: ruby #{File.basename(__FILE__)} build [CARGO] | install DIR"
end
