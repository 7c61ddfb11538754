#!/usr/bin/env bash
# scripts/run_fuzzers.sh — builds softkern's libFuzzer targets with clang-14
# (AddressSanitizer + UndefinedBehaviorSanitizer) and runs each for a bounded
# time, all of them at the same time (one process each), starting from the
# committed seed corpus (tests/fuzz/corpus/<name>). New inputs go to a scratch
# corpus, not the repository.
#
#   scripts/run_fuzzers.sh [--seconds N] [--work DIR] [--build DIR] [-- extra libFuzzer flags]
#
# --build DIR: an existing clang build tree configured with
# -fsanitize=fuzzer-no-link,address,undefined and -DSOFTKERN_BUILD_FUZZERS=ON
# (scripts/test_sanitizers.sh's ASan tree with clang): only the fuzzers'
# sources are compiled there, softkern_impl is reused.
#
# CI runs it with the default 60 s per fuzzer. To fuzz longer by hand:
#   scripts/run_fuzzers.sh --seconds 3600 -- -jobs=2 -workers=2
# A crash leaves its input as crash-* in the work directory; rerun one with
#   build-fuzz/tests/fuzz/fuzz_softmax crash-...
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=60 work="$repo/build-fuzz" build="" extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run_fuzzers.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
cxx=clang++-14
command -v "$cxx" >/dev/null || { echo "run_fuzzers.sh: $cxx not found (scripts/setup.sh installs it)" >&2; exit 1; }
mkdir -p "$work"
if [[ -z "$build" ]]; then
  build=$work
  cmake -S "$repo" -B "$build" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all" \
    -DSOFTKERN_BUILD_FUZZERS=ON -DSOFTKERN_BUILD_TESTS=OFF -DSOFTKERN_BUILD_BENCH=OFF \
    -DSOFTKERN_BUILD_EXAMPLES=OFF >"$work.configure.log" 2>&1 || { cat "$work.configure.log"; exit 1; }
elif ! grep -q "fuzzer-no-link" "$build/CMakeCache.txt" 2>/dev/null; then
  echo "run_fuzzers.sh: $build is not a build tree configured with -fsanitize=fuzzer-no-link" >&2
  exit 1
fi
fuzzers=()
for src in "$repo"/tests/fuzz/fuzz_*.cpp; do fuzzers+=("$(basename "$src" .cpp)"); done
cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" --target "${fuzzers[@]}"
# The fuzzers run at the same time, one process each (a libFuzzer process
# uses one core): on a machine with as many cores as fuzzers the section
# takes the time of one fuzzer, and each still gets its full time.
echo "== ${fuzzers[*]}: ${seconds}s each, at the same time"
pids=()
for f in "${fuzzers[@]}"; do
  name=${f#fuzz_}
  scratch="$work/corpus-$name"
  mkdir -p "$scratch"
  (cd "$work" && exec "$build/tests/fuzz/$f" -max_total_time="$seconds" -print_final_stats=1 \
     "${extra[@]}" "$scratch" "$repo/tests/fuzz/corpus/$name") >"$work/$f.log" 2>&1 &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" || true; done
summary=() failed=0
for f in "${fuzzers[@]}"; do
  name=${f#fuzz_}
  echo "== $f"
  grep -E "^#[0-9]+.*(DONE|pulse)|stat::|ERROR|SUMMARY|fuzz_" "$work/$f.log" || true
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$f.log" | tail -n1)
  if grep -qE "^==[0-9]+==ERROR|fuzz_$name: |SUMMARY: " "$work/$f.log"; then
    echo "$f: FAILED (see $work/$f.log)"
    failed=1
    continue
  fi
  summary+=("$f: ${runs:-?} executions in ${seconds}s, no failure")
done
printf '%s\n' "${summary[@]}"
exit $failed
