#!/usr/bin/env bash
# The gem as a newcomer gets it, with the commands README.md's Ruby section
# and bindings/ruby/README.md show (each checked to be there, then run):
#   1. bindings/ruby/build_gem.sh writes build/gem/reqivo-VERSION.gem and
#      nothing else into the tree; the gem carries lib/, ext/reqivo and the
#      crate's sources.
#   2. `gem install` with cargo found, into a temporary GEM_HOME: the gem
#      builds libreqivo for itself; from a directory outside the tree, with
#      no REQIVO_LIB, `require "reqivo"` loads the gem and its own copy and
#      makes a request to a server on 127.0.0.1.
#   3. `gem install` with no cargo anywhere (PATH, CARGO_HOME, ~/.cargo):
#      the installation succeeds and says it built nothing; with nothing on
#      the system, require fails with the message naming what was tried and
#      how to install the library; then the system's library is found
#      through pkg-config (a prefix as `make install PREFIX=...` leaves it),
#      the dynamic linker (LD_LIBRARY_PATH) and REQIVO_LIB.
# cargo builds in target/ruby-gem (CARGO_TARGET_DIR), kept between runs:
# the crate inside the gem is a copy at another path, so it gets its own
# build directory; sharing target/ would let it overwrite target/release's
# libreqivo with a build cargo does not track there. The first run builds
# the dependencies (a few minutes on two cores), later ones reqivo alone.
# Every wait is bounded. REQIVO_GEM_TEST=0 skips this test.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)" # bindings/ruby
root="$(cd "$here/../.." && pwd)"
start=$SECONDS
tmp="$(mktemp -d "${TMPDIR:-/tmp}/reqivo-gem-test.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
failed=0
ok() { echo "gem: ok: $1"; }
bad() { echo "gem: FAILED: $1"; failed=1; }

version="$(ruby -e 'require ARGV[0]; print Reqivo::VERSION' "$here/lib/reqivo/version.rb")"
gem_rel="build/gem/reqivo-$version.gem"
BUILD_LINE="bindings/ruby/build_gem.sh"
INSTALL_LINE="gem install $gem_rel"
USE_LINE="ruby -e 'require \"reqivo\"; puts Reqivo.get(\"http://127.0.0.1:8080/\").status'"

ruby_section="$(awk '/^## Ruby/{f=1;next} f&&/^## /{exit} f{print}' "$root/README.md")"
for line in "$BUILD_LINE" "$INSTALL_LINE" "$USE_LINE"; do
  grep -qF -- "$line" <<<"$ruby_section" || bad "README.md's Ruby section does not show: $line"
  grep -qF -- "$line" "$here/README.md" || bad "bindings/ruby/README.md does not show: $line"
done

# The environment of a user outside the tree: no REQIVO_LIB, no load path
# into the checkout, no LD_LIBRARY_PATH; pkg-config sees no .pc files but
# those a case gives it (an installed copy on this machine would otherwise
# be found first).
mkdir -p "$tmp/app" "$tmp/empty"
unset_env=(-u REQIVO_LIB -u RUBYLIB -u RUBYOPT -u LD_LIBRARY_PATH -u PKG_CONFIG_PATH -u BUNDLE_GEMFILE -u GEM_PATH)
clean_env=(env "${unset_env[@]}" PKG_CONFIG_LIBDIR="$tmp/empty")

# What the newcomer runs, adapted to the README's 127.0.0.1:8080: a server on
# a free port in the same process, then the request. Prints the status, the
# library and where reqivo.rb came from.
cat >"$tmp/app/use.rb" <<'RUBY'
require 'socket'
server = TCPServer.new('127.0.0.1', 0)
Thread.new do
  loop do
    c = server.accept
    nil while (line = c.gets) && line != "\r\n"
    c.write "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
    c.close
  end
end
require 'reqivo'
r = Reqivo.get("http://127.0.0.1:#{server.addr[1]}/", timeout: 5)
puts r.status, r.body, Reqivo::Library.path, $LOADED_FEATURES.grep(%r{/reqivo\.rb\z}).first
RUBY
use() { # GEM_HOME [VAR=VALUE...]: runs use.rb from outside the tree
  local home=$1; shift
  (cd "$tmp/app" && "${clean_env[@]}" GEM_HOME="$home" "$@" timeout -k 5 60 ruby use.rb 2>&1)
}

# 1. Build the gem, as the README says, from the checkout's root.
touch "$tmp/mark"
t=$SECONDS
if built="$(cd "$root" && timeout -k 5 120 $BUILD_LINE 2>"$tmp/build.log")" &&
  [ "$built" = "$root/$gem_rel" ] && [ -f "$built" ]; then
  ok "build_gem.sh wrote $gem_rel ($(du -k "$built" | cut -f1) KiB, $((SECONDS - t)) s)"
else
  bad "build_gem.sh"; cat "$tmp/build.log"; exit 1
fi
stray="$(find "$root" -path "$root/build" -prune -o -path "$root/target" -prune -o \
  -name '*.gem' -newer "$tmp/mark" -print)"
if [ -z "$stray" ]; then ok "no .gem left in the tree but $gem_rel"; else bad "stray gems: $stray"; fi
tar -xOf "$built" data.tar.gz | tar -tz >"$tmp/files"
missing=
for f in lib/reqivo.rb lib/reqivo/library.rb ext/reqivo/extconf.rb ext/reqivo/cargo_build.rb \
  ext/reqivo/crate/Cargo.toml ext/reqivo/crate/Cargo.lock ext/reqivo/crate/build.rs \
  ext/reqivo/crate/reqivo.map ext/reqivo/crate/cbindgen.toml ext/reqivo/crate/src/lib.rs \
  ext/reqivo/crate/include/reqivo.h; do
  grep -qxF "$f" "$tmp/files" || missing="$missing $f"
done
if [ -z "$missing" ]; then ok "the gem holds lib/, ext/reqivo and the crate ($(wc -l <"$tmp/files") files)"
else bad "the gem lacks:$missing"; fi

# 2. Installed where cargo is found: the gem builds its own libreqivo.
home_a="$tmp/gems-a"
t=$SECONDS
if (cd "$root" && "${clean_env[@]}" GEM_HOME="$home_a" CARGO_TARGET_DIR="$root/target/ruby-gem" \
  timeout -k 10 1200 $INSTALL_LINE --local --no-document >"$tmp/install-a.log" 2>&1); then
  ok "gem install with cargo ($((SECONDS - t)) s)"
else
  bad "gem install with cargo"; cat "$tmp/install-a.log"
  cat "$home_a"/extensions/*/*/reqivo-"$version"/gem_make.out 2>/dev/null || true
fi
gem_dir="$home_a/gems/reqivo-$version"
own="$gem_dir/lib/reqivo/libreqivo.so"
out="$(use "$home_a")" || true
if [ "$(sed -n 1,2p <<<"$out" | tr '\n' ' ')" = "200 hello " ] && [ "$(sed -n 3p <<<"$out")" = "$own" ] &&
  [ "$(sed -n 4p <<<"$out")" = "$gem_dir/lib/reqivo.rb" ]; then
  ok "from outside the tree, the installed gem loaded its own $(du -k "$own" | cut -f1) KiB libreqivo and made a request"
else
  bad "the gem built with cargo"; echo "$out"
fi

# 3. Installed where there is no cargo at all: PATH directories holding
# cargo are replaced by copies without it, and HOME and CARGO_HOME point to
# empty directories (extconf.rb also looks in ~/.cargo/bin).
path=
for dir in ${PATH//:/ }; do
  if [ -e "$dir/cargo" ]; then
    shadow="$tmp/path$((${#path} + 1))"
    mkdir -p "$shadow"
    ln -s "$dir"/* "$shadow/" 2>/dev/null || true
    rm -f "$shadow/cargo"
    dir=$shadow
  fi
  path="${path:+$path:}$dir"
done
mkdir -p "$tmp/home"
nocargo=(env "${unset_env[@]}" -u CARGO -u CARGO_TARGET_DIR PKG_CONFIG_LIBDIR="$tmp/empty"
  PATH="$path" HOME="$tmp/home" CARGO_HOME="$tmp/home/.cargo")
home_b="$tmp/gems-b"
if "${nocargo[@]}" sh -c 'command -v cargo' >/dev/null; then
  bad "cargo is still on the PATH made without it"
elif (cd "$root" && "${nocargo[@]}" GEM_HOME="$home_b" \
  timeout -k 10 300 $INSTALL_LINE --local --no-document >"$tmp/install-b.log" 2>&1) &&
  grep -qF "cargo was not found" "$home_b"/extensions/*/*/reqivo-"$version"/gem_make.out &&
  [ -z "$(find "$home_b" -name 'libreqivo*')" ]; then
  ok "gem install without cargo succeeded and built nothing"
else
  bad "gem install without cargo"; cat "$tmp/install-b.log"
  cat "$home_b"/extensions/*/*/reqivo-"$version"/gem_make.out 2>/dev/null || true
fi

out="$(use "$home_b")" && status=0 || status=$?
if [ "$(sed -n 3p <<<"$out")" = libreqivo.so.0 ]; then
  echo "gem: skipped the not-found message: this machine has a libreqivo the dynamic linker finds (ldconfig)"
elif [ "$status" != 0 ] &&
  grep -qF 'libreqivo, the C library the reqivo gem runs on, was not found. Looked for:' <<<"$out" &&
  grep -qF '$REQIVO_LIB: not set' <<<"$out" &&
  grep -qF "the copy this gem builds when it is installed: $home_b/gems/reqivo-$version/lib/reqivo/libreqivo.so, absent" <<<"$out" &&
  grep -qF 'make lib && sudo make install' <<<"$out" &&
  grep -qF 'set REQIVO_LIB to the path of a libreqivo.so' <<<"$out" &&
  ! grep -qE 'target/release|cargo build' <<<"$out"; then
  ok "with nothing installed, require says what it tried and how to install the library"
  sed -n '/was not found/,/^See /p' <<<"$out" | sed 's/^.*: libreqivo,/libreqivo,/; s/ (LoadError)$//; s/^/    /'
else
  bad "the message when nothing is found"; echo "$out"
fi

# The system's library, the way each lookup finds it: a prefix as `make
# install PREFIX=...` leaves it (pkg-config), LD_LIBRARY_PATH (the dynamic
# linker, by soname), REQIVO_LIB.
lib="${REQIVO_LIB:-$root/target/release/libreqivo.so}" # test.sh sets it: this checkout's build
prefix="$tmp/prefix"
mkdir -p "$prefix/lib/pkgconfig"
ln -s "$lib" "$prefix/lib/libreqivo.so"
ln -s "$lib" "$prefix/lib/libreqivo.so.0"
printf 'prefix=%s\nlibdir=${prefix}/lib\nincludedir=${prefix}/include\n\nName: reqivo\nDescription: test\nVersion: %s\nLibs: -L${libdir} -lreqivo\nCflags: -I${includedir}\n' \
  "$prefix" "$version" >"$prefix/lib/pkgconfig/reqivo.pc"
for case in "PKG_CONFIG_PATH=$prefix/lib/pkgconfig|$prefix/lib/libreqivo.so" \
  "LD_LIBRARY_PATH=$prefix/lib|libreqivo.so.0" "REQIVO_LIB=$lib|$lib"; do
  var=${case%%|*} want=${case#*|}
  out="$(use "$home_b" "$var")" || true
  if [ "$(sed -n 1,2p <<<"$out" | tr '\n' ' ')" = "200 hello " ] && [ "$(sed -n 3p <<<"$out")" = "$want" ]; then
    ok "without its own copy, the gem found the system's library through ${var%%=*} and made a request"
  else
    bad "the gem with ${var%%=*}"; echo "$out"
  fi
done

echo "gem: $((SECONDS - start)) s"
exit $failed
