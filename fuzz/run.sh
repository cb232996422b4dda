#!/usr/bin/env bash
# Builds the fuzz targets, replays every kept crash (fuzz/regressions) and
# seed (fuzz/corpus), then fuzzes each target for FUZZ_SECONDS (default 300).
#
#   fuzz/run.sh [target...]        all targets when none is named
#
# FUZZ_JOBS sets how many targets fuzz at once (default: the core count).
#
# cargo-fuzz needs nightly-only rustc flags. No toolchain can be downloaded
# on the CI machines, so use nightly where rustup already has it, otherwise
# the stable compiler with RUSTC_BOOTSTRAP=1. AddressSanitizer comes with
# rustc; libfuzzer-sys builds libFuzzer with the system C++ compiler (g++
# will do, clang is not needed).
#
# Inputs the fuzzers find go to fuzz/target/corpus/<target> (not into the
# checked-in seeds); fuzz/differential reads them from there. A crash stops
# the run and is left in fuzz/artifacts/<target>/: fix it, then keep the
# file in fuzz/regressions/<target>/.
set -euo pipefail
cd "$(dirname "$0")"

seconds=${FUZZ_SECONDS:-300}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(response_head chunked response_reader location cookies json_pointer ws_frames h2_response)
fi

if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  fuzz() { cargo +nightly fuzz "$@"; }
  echo "fuzz: using the nightly toolchain"
else
  fuzz() { RUSTC_BOOTSTRAP=1 cargo fuzz "$@"; }
  echo "fuzz: no nightly toolchain; using stable with RUSTC_BOOTSTRAP=1"
fi

# Default build: optimised, with debug assertions, overflow checks and ASan.
fuzz build

# Only directories that exist: libFuzzer refuses a missing one.
dirs_of() {
  local d
  for d in "$@"; do [ -d "$d" ] && echo "$d"; done
  return 0
}

# Replays first, one target at a time: quick, and a failure names its input.
for t in "${targets[@]}"; do
  mkdir -p "target/corpus/$t"
  mapfile -t kept < <(dirs_of "regressions/$t" "corpus/$t")
  # The first directory is where libFuzzer writes what it finds; -runs=0
  # executes every input once and stops.
  echo "fuzz: $t: replaying regressions and seeds"
  fuzz run "$t" "target/corpus/$t" "${kept[@]}" -- -runs=0 >"target/$t.replay.log" 2>&1 || {
    tail -n 40 "target/$t.replay.log"
    echo "fuzz: $t: a kept input fails (log: fuzz/target/$t.replay.log)"
    exit 1
  }
done

# Then FUZZ_JOBS targets fuzz at a time (default: one per core), each for
# the full FUZZ_SECONDS on a core of its own.
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
fuzz_one() { # fuzz_one TARGET: fuzzes, then prints its result line
  local t=$1
  mapfile -t kept < <(dirs_of "regressions/$t" "corpus/$t")
  if fuzz run "$t" "target/corpus/$t" "${kept[@]}" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    >"target/$t.fuzz.log" 2>&1; then
    grep -E '^stat::number_of_executed_units' "target/$t.fuzz.log" | sed "s/^/fuzz: $t: /" || true
  else
    tail -n 60 "target/$t.fuzz.log"
    echo "fuzz: $t: crashed; the input is in fuzz/artifacts/$t/ (log: fuzz/target/$t.fuzz.log)"
    return 1
  fi
}
failed=0
pids=()
for t in "${targets[@]}"; do
  echo "fuzz: $t: fuzzing for ${seconds}s"
  fuzz_one "$t" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$jobs" ]; then
    wait "${pids[0]}" || failed=1
    pids=("${pids[@]:1}")
  fi
done
for pid in "${pids[@]}"; do
  wait "$pid" || failed=1
done
if [ "$failed" -ne 0 ]; then
  echo "fuzz: a target crashed (see above)"
  exit 1
fi
echo "fuzz: ${#targets[@]} target(s) passed (${seconds}s each, $jobs at a time)"
