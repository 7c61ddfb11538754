#!/usr/bin/env bash
# scripts/test_sanitizers.sh — the test suite under the sanitizers:
#   1. AddressSanitizer + UndefinedBehaviorSanitizer, the whole suite
#      (ctest -LE exhaustive), any report is fatal (-fno-sanitize-recover);
#   2. ThreadSanitizer, the concurrency test (8 threads calling every public
#      function while another forces and resets the target), the dispatch
#      tests, and the tests of work split across threads (softmax rows and
#      long rows, attention, the training kernels' rows and chunks).
# Prints each CTest summary line; exits non-zero on any failure or report.
# clang++-14 by default: under -fsanitize, g++ 12 compiles the translation
# unit that holds every kernel of every target several times slower
# (docs/reliability.md has the times).
#
#   scripts/test_sanitizers.sh [--work DIR] [--compiler g++|clang++-14] [--only asan|tsan]
#                              [--sweep full|boundaries]
#
# --sweep sets SOFTKERN_TEST_SWEEP (tests/support.hpp) for both runs:
# "boundaries" (the default, what CI runs) keeps every test, target,
# algorithm, option and distribution but, of the lengths 0..300, every length
# up to 131 and the leaf boundaries (191-193, 255-257, 300), and fewer option
# variants on the longest rows; "full" runs every sweep at the depth of the
# native suite. scripts/test_full.sh runs it.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work="$repo/build-sanitizers" cxx=clang++-14 only="" sweep=boundaries
while [[ $# -gt 0 ]]; do
  case "$1" in
    --work) work=$2; shift 2 ;;
    --compiler) cxx=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --sweep) sweep=$2; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "test_sanitizers.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
case "$sweep" in
  full|boundaries) export SOFTKERN_TEST_SWEEP=$sweep ;;
  *) echo "test_sanitizers.sh: --sweep takes full or boundaries, not '$sweep'" >&2; exit 2 ;;
esac
jobs=$(nproc 2>/dev/null || echo 2)
common=(-DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSOFTKERN_BUILD_BENCH=OFF
        -DSOFTKERN_BUILD_EXAMPLES=OFF)

asan_line="skipped" tsan_line="skipped"
if [[ "$only" != tsan ]]; then
echo "== ASan + UBSan: whole suite ($cxx, $sweep sweep)"
start=$SECONDS
# With clang the tree also carries libFuzzer's coverage instrumentation and
# the fuzz targets, so that scripts/run_fuzzers.sh --build "$work/asan" reuses
# its softkern_impl (the longest compile of the run) instead of building its own.
asan_flags="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
fuzz_args=()
if [[ "$cxx" == clang* ]]; then
  asan_flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
  fuzz_args=(-DSOFTKERN_BUILD_FUZZERS=ON)
fi
cmake -S "$repo" -B "$work/asan" "${common[@]}" "${fuzz_args[@]}" -DCMAKE_CXX_FLAGS="$asan_flags" \
  >"$work.asan-configure.log" 2>&1 || { cat "$work.asan-configure.log"; exit 1; }
cmake --build "$work/asan" -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$work/asan" -j"$jobs" --output-on-failure -LE "exhaustive|large" | tee "$work.asan.log"
asan_line=$(grep -E '^[0-9]+% tests passed' "$work.asan.log" | tail -n1)
echo "-- ASan + UBSan: ${asan_line} ($((SECONDS - start))s)"
fi

if [[ "$only" != asan ]]; then
echo "== TSan: concurrency, dispatch and threads tests ($cxx, $sweep sweep)"
start=$SECONDS
cmake -S "$repo" -B "$work/tsan" "${common[@]}" \
  -DCMAKE_CXX_FLAGS="-fsanitize=thread -fno-omit-frame-pointer" \
  >"$work.tsan-configure.log" 2>&1 || { cat "$work.tsan-configure.log"; exit 1; }
cmake --build "$work/tsan" -j"$jobs" --target test_concurrency test_dispatch test_threads \
  test_attention_threads test_sampling test_training test_cross_entropy isa_env_probe
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  ctest --test-dir "$work/tsan" -j"$jobs" --output-on-failure \
  -R '^(concurrency|dispatch|threads|attention_threads)\.|^sampling\.Sampling\.(SameToken|RowsEqual)|^training\..*SameBits|^cross_entropy\..*AnyExecutor' \
  | tee "$work.tsan.log"
tsan_line=$(grep -E '^[0-9]+% tests passed' "$work.tsan.log" | tail -n1)
echo "-- TSan: ${tsan_line} ($((SECONDS - start))s)"
fi

echo "sanitizers: ASan+UBSan ${asan_line}; TSan ${tsan_line} ($sweep sweep)"
