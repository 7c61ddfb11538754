#!/usr/bin/env bash
# scripts/test_arm.sh — softkern's test suite on aarch64, cross-built with
# Debian's g++-aarch64-linux-gnu (cmake/aarch64-linux-gnu.cmake) and run under
# qemu-aarch64, once per emulated CPU:
#
#   neon      QEMU_CPU=cortex-a72         NEON only (targets: neon, scalar)
#   sve128    QEMU_CPU=max,sve-max-vq=1   the sve2 target at 128-bit vectors
#   sve512    QEMU_CPU=max,sve-max-vq=4   the sve target at 512-bit vectors
#
# Each run is the whole suite (ctest -LE exhaustive), which forces every
# target the emulated CPU reports (getauxval) in turn. The neon run tests the
# neon and scalar targets; each SVE run tests one SVE target, plus everything
# that is not per target (dispatch across all four targets, SOFTKERN_ISA,
# threads, examples). The other targets are left out of a run: the
# per-target tests by name (ctest -E), and the tests that loop over the
# targets themselves (attention) by SOFTKERN_TEST_ISAS (tests/support.hpp).
# The neon and scalar code, and the instructions qemu executes for it, do not
# depend on the emulated CPU model, so repeating them would only add emulated
# time. sve and sve2 are one source compiled twice (Highway ops, with SVE2
# instructions where Highway has them); testing each at one vector length,
# and each length with one of them, covers both targets and both lengths (the
# fewest and the most lanes) at half the emulated time of all four pairs.
# --sve-pairs all runs both targets at both lengths. (qemu-aarch64's default CPU is "max", i.e. SVE2 at 512
# bits; the NEON-only run needs a CPU without SVE.)
# Before each run the script checks that the CPU reports the targets and the
# SVE vector length the run is for, so a qemu that ignored QEMU_CPU could not
# pass silently.
#
#   scripts/test_arm.sh [--build DIR] [--runs "neon sve128 sve512"] [--sweep full|boundaries]
#                       [--sve-pairs one|all] [--no-setup]
#
#   --build DIR   the cross build tree (default: build-arm in the repository)
#   --runs LIST   which of the runs above (default: all three)
#   --sweep S     SOFTKERN_TEST_SWEEP for the runs (tests/support.hpp):
#                 "boundaries" (the default, what CI runs) keeps every target,
#                 algorithm, option and distribution but, of the lengths
#                 0..300, every length up to 131 and the leaf boundaries
#                 (191-193, 255-257, 300), and fewer option variants on the
#                 longest rows; "full" runs every sweep at the depth of the
#                 native suite (every length 0..300, every long row with every
#                 option), at least twice the CPU time. scripts/test_full.sh
#                 runs it.
#   --sve-pairs P "one" (the default, what CI runs): sve2 at 128 bits and sve
#                 at 512; "all": both targets in both SVE runs
#   --no-setup    do not call scripts/setup.sh --arm for missing packages
#
# Prints, per run, the CTest summary line and its wall time, then the worst
# accuracy figures per target from the tests' "[ accuracy ]" and
# "[ exp ulp  ]" lines; the full logs stay in DIR/arm-logs/. Exits non-zero if
# anything fails. SOFTKERN_SKIP_LARGE_ROW=1 is set: the one test that
# softmaxes a real row of 2^31 + 17 elements (8 GiB) is skipped under
# emulation (the 2^31-strided tests of 64-bit indexing still run).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="$repo/build-arm"
runs="neon sve128 sve512"
sweep=boundaries
sve_pairs=one
setup=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --sweep) sweep=$2; shift 2 ;;
    --sve-pairs) sve_pairs=$2; shift 2 ;;
    --no-setup) setup=0; shift ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "test_arm.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
mkdir -p "$build"
build=$(cd "$build" && pwd)
logs="$build/arm-logs"
mkdir -p "$logs"

start=$SECONDS
if [[ $setup -eq 1 ]] && ! "$repo/scripts/setup.sh" --check --arm >/dev/null; then
  "$repo/scripts/setup.sh" --arm --no-optional
fi

# Configure and build: tests and examples (their smoke tests run under qemu
# too); not the bench, whose timings would be qemu's, not Arm's.
echo "test_arm.sh: configuring and building $build"
t0=$SECONDS
cmake -S "$repo" -B "$build" -DCMAKE_TOOLCHAIN_FILE="$repo/cmake/aarch64-linux-gnu.cmake" \
  -DCMAKE_BUILD_TYPE=Release -DSOFTKERN_BUILD_TESTS=ON -DSOFTKERN_BUILD_EXAMPLES=ON \
  -DSOFTKERN_BUILD_BENCH=OFF >"$logs/configure.log" 2>&1 || { cat "$logs/configure.log"; exit 1; }
cmake --build "$build" -j2 >"$logs/build.log" 2>&1 || { tail -n 60 "$logs/build.log"; exit 1; }
echo "test_arm.sh: build done in $((SECONDS - t0))s"

# The same emulator command as the toolchain file (see there why -E).
qemu=(qemu-aarch64 -L /usr/aarch64-linux-gnu -E LD_LIBRARY_PATH=/usr/aarch64-linux-gnu/lib)

# run name -> QEMU_CPU, the targets the suite must see, SVE vector bytes.
cpu_of() {
  case "$1" in
    neon) echo "cortex-a72" ;;
    sve128) echo "max,sve-max-vq=1" ;;
    sve512) echo "max,sve-max-vq=4" ;;
    *) echo "test_arm.sh: unknown run '$1' (neon, sve128, sve512)" >&2; return 1 ;;
  esac
}
targets_of() {
  case "$1" in
    neon) echo "neon scalar" ;;
    *) echo "sve2 sve neon scalar" ;;
  esac
}
# SOFTKERN_TEST_ISAS for the run: the targets the tests that loop over the
# targets run (empty: all the CPU supports).
test_isas_of() {
  case "$1:$sve_pairs" in
    neon:*) echo "" ;;
    sve128:one) echo "sve2" ;;
    sve512:one) echo "sve" ;;
    *) echo "sve2 sve" ;;
  esac
}
# ctest -E for the run: the per-target tests of the targets it leaves out
# (parameterised tests are named .../<isa> or .../<isa>_<algorithm>).
exclude_of() {
  case "$(test_isas_of "$1")" in
    "") echo "^$" ;;
    sve2) echo "/(neon|scalar|sve)(_[a-z0-9_]+)?( |$)" ;;
    sve) echo "/(neon|scalar|sve2)(_[a-z0-9_]+)?( |$)" ;;
    *) echo "/(neon|scalar)(_[a-z0-9_]+)?( |$)" ;;
  esac
}
sve_bytes_of() {
  case "$1" in
    sve128) echo 16 ;;
    sve512) echo 64 ;;
    *) echo "" ;;
  esac
}

export SOFTKERN_SKIP_LARGE_ROW=1
case "$sve_pairs" in
  one|all) ;;
  *) echo "test_arm.sh: --sve-pairs takes one or all, not '$sve_pairs'" >&2; exit 2 ;;
esac
case "$sweep" in
  full|boundaries) export SOFTKERN_TEST_SWEEP=$sweep ;;
  *) echo "test_arm.sh: --sweep takes full or boundaries, not '$sweep'" >&2; exit 2 ;;
esac
echo "test_arm.sh: SOFTKERN_TEST_SWEEP=$sweep"
summary=()
failed=0
for run in $runs; do
  cpu=$(cpu_of "$run")
  export QEMU_CPU=$cpu
  export SOFTKERN_TEST_ISAS
  SOFTKERN_TEST_ISAS=$(test_isas_of "$run")
  echo
  echo "== arm $run: QEMU_CPU=$cpu SOFTKERN_TEST_ISAS='$SOFTKERN_TEST_ISAS'"
  # What the emulated CPU reports, through the library's own detection.
  probe=$("${qemu[@]}" "$build/tests/test_dispatch" --gtest_filter='Dispatch.StreamingChoiceFollowsTheTarget' 2>&1) || {
    echo "$probe"; echo "test_arm.sh: the dispatch probe failed under QEMU_CPU=$cpu"; exit 1; }
  seen=$(sed -n 's/^softkern: targets supported here: \(.*\) (default.*/\1/p' <<<"$probe")
  echo "targets reported: $seen"
  grep '^\[ streaming \]' <<<"$probe" || true
  if [[ "$seen" != "$(targets_of "$run")" ]]; then
    echo "test_arm.sh: expected targets '$(targets_of "$run")' under QEMU_CPU=$cpu, got '$seen'"
    exit 1
  fi
  want_bytes=$(sve_bytes_of "$run")
  if [[ -n "$want_bytes" ]] && ! grep -q "^\[ streaming \] sve: $want_bytes-byte vectors" <<<"$probe"; then
    echo "test_arm.sh: expected $want_bytes-byte SVE vectors under QEMU_CPU=$cpu"
    exit 1
  fi

  # The test lists depend on the CPU (tests exist per supported target), and
  # CMake's PRE_TEST discovery caches them until the binary changes: drop the
  # cache so this run lists its tests under its own CPU.
  rm -f "$build"/tests/*_tests.cmake
  t0=$SECONDS
  set +e
  ctest --test-dir "$build" -j2 --output-on-failure -LE exhaustive -E "$(exclude_of "$run")" \
    >"$logs/ctest-$run.log" 2>&1
  rc=$?
  set -e
  wall=$((SECONDS - t0))
  cp "$build/Testing/Temporary/LastTest.log" "$logs/tests-$run.log" 2>/dev/null || true
  line=$(grep -E '^[0-9]+% tests passed' "$logs/ctest-$run.log" | tail -n1)
  [[ -n "$line" ]] || line="no CTest summary (see $logs/ctest-$run.log)"
  if [[ $rc -ne 0 ]]; then
    failed=1
    # The failures, as CTest lists them, and their output.
    sed -n '/The following tests FAILED/,$p' "$logs/ctest-$run.log"
  fi
  echo "arm $run: $line (wall ${wall}s, $sweep sweep)"
  summary+=("$(printf 'arm %-7s %-18s %s (wall %ss, %s sweep)' "$run" "$cpu" "$line" "$wall" "$sweep")")
done

# Worst figures over every run, per target and algorithm, from test_softmax's
#   [ accuracy ] <isa>/<algorithm> <what>: max element C = a, max row-sum C = c (bounds ...)
# (the same figures as the accuracy table of docs/arm.md), and test_exp's
#   [ exp ulp  ] <what> <isa>: <count> values, max <k> ulp at x = <hex> (bound 2)
echo
echo "== arm accuracy (worst over every test of every run: softmax max element C / max row-sum C, exp max ulp)"
cat "$logs"/tests-*.log 2>/dev/null | awk '
  function upd(arr, key, v) { if (!(key in arr) || v > arr[key]) arr[key] = v }
  /^\[ accuracy \] [a-z0-9]+\/[a-z_]+ / && /max element C = / {
    split($4, p, "/"); isa = p[1]; alg = p[2]
    e = $0; sub(/.*max element C = /, "", e); e += 0
    r = $0; sub(/.*max row-sum C = /, "", r); r += 0
    upd(el, isa "/" alg, e); upd(rs, isa "/" alg, r); upd(el, isa, e); upd(rs, isa, r)
    seen[isa] = 1; algs[alg] = 1
  }
  /^\[ exp ulp  \]/ {
    for (i = 1; i <= NF; ++i) if ($i == "max" && $(i+2) == "ulp") {
      isa = $(i-3); sub(":", "", isa); upd(ulp, isa, $(i+1) + 0); seen[isa] = 1
    }
  }
  END {
    n = split("sve2 sve neon scalar", order, " ")
    m = split("three_pass_recompute three_pass_reload two_pass online auto", alist, " ")
    header = sprintf("%-22s", "algorithm")
    for (k = 1; k <= n; ++k) if (order[k] in seen) header = header sprintf(" %15s", order[k])
    print header
    for (a = 1; a <= m; ++a) {
      if (!(alist[a] in algs)) continue
      line = sprintf("%-22s", alist[a])
      for (k = 1; k <= n; ++k) {
        if (!(order[k] in seen)) continue
        key = order[k] "/" alist[a]
        line = line sprintf(" %15s", (key in el) ? sprintf("%.2f / %.2f", el[key], rs[key]) : "-")
      }
      print line
    }
    for (k = 1; k <= n; ++k) {
      isa = order[k]
      if (!(isa in seen)) continue
      printf "arm accuracy %-6s worst element C %s / row-sum C %s, exp %s ulp\n", isa,
             (isa in el) ? sprintf("%.2f", el[isa]) : "-", (isa in rs) ? sprintf("%.2f", rs[isa]) : "-",
             (isa in ulp) ? ulp[isa] : "-"
    }
  }'

echo
echo "== arm summary"
for line in "${summary[@]}"; do echo "$line"; done
echo "arm total wall time: $((SECONDS - start))s"
exit $failed
