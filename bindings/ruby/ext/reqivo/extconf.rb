# frozen_string_literal: true

# Run by `gem install` (as for any gem with a native part): writes the
# Makefile RubyGems then runs (`make clean`, `make`, `make install`).
#
# The gem carries libreqivo's Rust sources in crate/ (build_gem.sh puts
# them there). When cargo is found, `make` builds the library from them
# (cargo_build.rb) and `make install` puts it into the gem
# (lib/reqivo/libreqivo.so), where Reqivo::Library looks after $REQIVO_LIB.
# When cargo is not found, or with `gem install reqivo -- --use-system-library`,
# nothing is built and the installation still succeeds: the gem then uses a
# libreqivo installed on the system (pkg-config, the dynamic linker).
#
# cargo is looked for as $CARGO, on the PATH, then in $CARGO_HOME/bin and
# ~/.cargo/bin (rustup's place, often missing from the PATH `gem install`
# runs with, e.g. under sudo). $CARGO_TARGET_DIR, when set, is used (and
# kept) for the build; otherwise the build happens in crate/target, removed
# once the library is installed.

require 'rbconfig'
require 'shellwords'

def find_cargo
  candidates = []
  candidates << ENV['CARGO'] if ENV['CARGO'] && !ENV['CARGO'].empty?
  ENV.fetch('PATH', '').split(File::PATH_SEPARATOR).each do |dir|
    candidates << File.join(dir, 'cargo') unless dir.empty?
  end
  candidates << File.join(ENV['CARGO_HOME'], 'bin', 'cargo') if ENV['CARGO_HOME'] && !ENV['CARGO_HOME'].empty?
  begin
    candidates << File.join(Dir.home, '.cargo', 'bin', 'cargo')
  rescue ArgumentError
    nil # no home directory
  end
  candidates.find { |c| File.file?(c) && File.executable?(c) }
end

crate = File.join(__dir__, 'crate')
cargo = nil
if ARGV.include?('--use-system-library')
  puts 'reqivo: --use-system-library: not building libreqivo; the gem will use the one installed on the system'
elsif !File.file?(File.join(crate, 'Cargo.toml'))
  puts 'reqivo: this gem carries no Rust sources (it was not built with bindings/ruby/build_gem.sh); ' \
       'the gem will use the libreqivo installed on the system'
elsif (cargo = find_cargo)
  puts "reqivo: building libreqivo with #{cargo}"
else
  puts 'reqivo: cargo was not found, so libreqivo is not built into the gem; the gem will use ' \
       'the one installed on the system (from reqivo\'s source: make lib && sudo make install), ' \
       'or $REQIVO_LIB. Install Rust (https://rustup.rs) and reinstall the gem to build it.'
end

File.write('Makefile', <<~MAKE)
  # Written by extconf.rb: builds libreqivo with cargo (when found) and
  # installs it into the gem.
  RUBY = #{RbConfig.ruby.shellescape}
  CARGO = #{cargo ? cargo.shellescape : ''}
  sitearchdir = #{RbConfig::CONFIG['sitearchdir']}

  all:
  \t$(RUBY) cargo_build.rb build $(CARGO)

  install:
  \t$(RUBY) cargo_build.rb install "$(DESTDIR)$(sitearchdir)/reqivo"

  clean:
  \trm -f libreqivo.*

  .PHONY: all install clean
MAKE
