#!/usr/bin/env bash
# Builds the reqivo gem: build/gem/reqivo-VERSION.gem (or OUTDIR/...), and
# prints its path. Nothing is written into the source tree but that file.
#
#   bindings/ruby/build_gem.sh [OUTDIR]
#
# The gem holds the Ruby code (lib/), the install-time build step
# (ext/reqivo) and libreqivo's Rust sources (the crate at the repository's
# root: Cargo.toml, Cargo.lock, build.rs, reqivo.map, cbindgen.toml, src/,
# include/), which `gem install` builds with cargo when cargo is found. As
# those live outside this folder, the gem is built from a staging copy in a
# temporary directory. Needs ruby (with its `gem` command); not cargo.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:-$root/build/gem}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

stage="$(mktemp -d "${TMPDIR:-/tmp}/reqivo-gem.XXXXXX")"
trap 'rm -rf "$stage"' EXIT

mkdir -p "$stage/ext/reqivo/crate"
cp -R "$here/lib" "$here/README.md" "$here/reqivo.gemspec" "$stage/"
cp "$here/ext/reqivo/extconf.rb" "$here/ext/reqivo/cargo_build.rb" "$stage/ext/reqivo/"
(cd "$root" && cp -R Cargo.toml Cargo.lock build.rs reqivo.map cbindgen.toml src include "$stage/ext/reqivo/crate/")

(cd "$stage" && gem build --silent reqivo.gemspec)
gem_file="$(cd "$stage" && ls reqivo-*.gem)"
# A rename within one file system, or a copy then a rename: a concurrent
# reader never sees half a gem.
cp "$stage/$gem_file" "$out/.$gem_file.tmp"
mv -f "$out/.$gem_file.tmp" "$out/$gem_file"
echo "$out/$gem_file"
