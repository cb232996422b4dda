#!/usr/bin/env bash
# Ruby binding tests: builds libreqivo if needed, checks that
# lib/reqivo/codes.rb and native_gen.rb are what tools/gen_bindings.py makes
# from include/reqivo.h, then runs every test/*_test.rb with minitest, bounded
# in time, then test/gem_install_test.sh (the gem built, installed and used
# from outside the tree; REQIVO_GEM_TEST=0 skips it). Extra arguments go to
# minitest (e.g. -v, -n /timeout/).
# Needs: ruby ruby-ffi ruby-minitest ruby-webrick ruby-faraday ruby-async python3
# (Debian).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"

if [ -z "${REQIVO_LIB:-}" ]; then
  # cargo rebuilds only what changed; the tests load this build, not an
  # installed copy that pkg-config might find.
  (cd "$root" && cargo build --release --locked --quiet)
  export REQIVO_LIB="$root/target/release/libreqivo.so"
fi

# Fails with a diff and the command to run (make bindings) when stale.
"${PYTHON:-python3}" "$root/tools/gen_bindings.py" --check ruby

timeout -k 10 "${REQIVO_RUBY_TEST_TIMEOUT:-300}" \
  ruby -Ilib -Itest -e 'Dir.glob("test/*_test.rb").sort.each { |f| require File.expand_path(f) }' -- "$@"

# The gem built, installed into a temporary GEM_HOME and used from outside
# the tree (each of its steps bounded; the first run also builds the
# crate's dependencies for the gem, a few minutes).
if [ "${REQIVO_GEM_TEST:-1}" != 0 ]; then
  timeout -k 10 1800 test/gem_install_test.sh
fi
