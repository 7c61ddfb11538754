#!/usr/bin/env bash
# scripts/test_full.sh — the suite with every sweep at full depth
# (SOFTKERN_TEST_SWEEP=full, tests/support.hpp) where CI runs the boundary
# sweep: under qemu-aarch64 (scripts/test_arm.sh, neon, sve128 and sve512
# runs, both SVE targets at both lengths) and under the sanitizers (scripts/test_sanitizers.sh, ASan+UBSan and
# TSan). The full sweep runs every length 0..300 and every long row with every
# distribution and option, as the native suite always does; it takes at least
# twice the CPU time of the boundary sweep CI runs (the NEON run under qemu:
# 804 s against 442 s). Run it by hand after a change to tails, leaves or
# long-row paths, or before a release.
#
#   scripts/test_full.sh [--only arm|sanitizers] [--work DIR]
#
#   --only        one of the two parts (default: both, arm first)
#   --work DIR    where the build trees go (default: build-full in the
#                 repository: DIR/arm, DIR/sanitizers)
#
# Exits non-zero if anything fails; each part prints its own summary.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work="$repo/build-full" only=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --only) only=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "test_full.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
case "$only" in
  ""|arm|sanitizers) ;;
  *) echo "test_full.sh: --only takes arm or sanitizers, not '$only'" >&2; exit 2 ;;
esac
mkdir -p "$work"
start=$SECONDS
if [[ "$only" != sanitizers ]]; then
  "$repo/scripts/test_arm.sh" --sweep full --sve-pairs all --build "$work/arm"
fi
if [[ "$only" != arm ]]; then
  "$repo/scripts/test_sanitizers.sh" --sweep full --work "$work/sanitizers"
fi
echo "test_full.sh: done in $((SECONDS - start))s"
