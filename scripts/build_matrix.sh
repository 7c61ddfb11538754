#!/usr/bin/env bash
# scripts/build_matrix.sh — builds and runs the examples against an installed
# softkern with each compiler and each set of flags users are likely to build
# with, and prints a table of the results. Exits non-zero if any cell fails.
#
# Each CMake cell configures examples/ as a project of its own (find_package
# against the installed prefix, exactly as a user would), which builds
#   softmax_row   the minimal example, and
#   consumer/app  several TUs including softkern headers, plus a TU with its
#                 own Highway foreach_target.h / HWY_DYNAMIC_DISPATCH kernel,
# and the implementation TU softkern_impl with the cell's flags; then runs
# softmax_row and app (app checks every supported ISA and algorithm against a
# double-precision reference). The pkg-config cell builds the same two
# programs with one plain command line each, as a Make or Meson user would:
#   $CXX -O2 -std=c++17 <sources> $(pkg-config --cflags --libs softkern)
# with PKG_CONFIG_PATH at the prefix's softkern.pc (the kernels then come
# from the installed libsoftkern_impl.a). Compiler warnings are counted per
# cell and shown in the table. Cells run side by side, as many at a time as
# there are cores.
#
#   scripts/build_matrix.sh [--prefix DIR] [--work DIR] [--compilers "g++ clang++-14"]
#                           [--cells "default,pkg-config"] [--keep]
#
#   --prefix DIR   an existing `cmake --install` prefix of softkern; without it
#                  the script configures the source tree (tests, bench and
#                  examples off), builds softkern_impl and installs it itself
#   --work DIR     where the build trees go (default: a temporary directory,
#                  removed at the end unless --keep)
#   --compilers    the C++ compilers to try (default: g++ and clang++-14)
#   --cells        only these cells, by the name in the table's flags column,
#                  comma-separated (default: all: default, -O0 -g,
#                  -march=native, -march=x86-64-v3 (first compiler only),
#                  -fno-exceptions, pkg-config)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
prefix="" work="" keep=0 only=""
compilers=(g++ clang++-14)
while [[ $# -gt 0 ]]; do
  case "$1" in
    --prefix) prefix=$(realpath "$2"); shift 2 ;;
    --work) work=$2; shift 2 ;;
    --compilers) read -r -a compilers <<<"$2"; shift 2 ;;
    --cells) only=",$2,"; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,33p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build_matrix.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done

if [[ -z "$work" ]]; then
  work=$(mktemp -d "${TMPDIR:-/tmp}/softkern-matrix.XXXXXX")
  [[ $keep -eq 1 ]] || trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"
work=$(realpath "$work")
jobs=$(nproc 2>/dev/null || echo 2)

if [[ -z "$prefix" ]]; then
  prefix="$work/prefix"
  echo "build_matrix.sh: installing softkern from $repo into $prefix"
  cmake -S "$repo" -B "$work/softkern" -DSOFTKERN_BUILD_TESTS=OFF -DSOFTKERN_BUILD_BENCH=OFF \
    -DSOFTKERN_BUILD_EXAMPLES=OFF >"$work/softkern.log" 2>&1 \
    && cmake --build "$work/softkern" -j"$jobs" >>"$work/softkern.log" 2>&1 \
    && cmake --install "$work/softkern" --prefix "$prefix" >>"$work/softkern.log" 2>&1 \
    || { cat "$work/softkern.log"; exit 1; }
fi

# The flag sets: label | CMAKE_BUILD_TYPE | CMAKE_CXX_FLAGS. "default" is what
# a user gets from a Release build; -O0 -g has no build type so nothing adds
# -O3 after it (and assertions stay on). "pkg-config" is the build without
# CMake (its flags go on the compiler's command line).
cells=(
  "default|Release|"
  "-O0 -g||-O0 -g"
  "-march=native|Release|-march=native"
  "-march=x86-64-v3|Release|-march=x86-64-v3"
  "-fno-exceptions|Release|-fno-exceptions"
  "pkg-config||-O2"
)
if [[ $(uname -m) != x86_64 ]]; then
  cells=("default|Release|" "-O0 -g||-O0 -g" "-march=native|Release|-march=native" "-fno-exceptions|Release|-fno-exceptions"
         "pkg-config||-O2")
fi

# A -march level the CPU cannot run would build and then die with SIGILL:
# report it as skipped instead.
cpu_flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
cpu_runs() {
  case "$1" in
    *x86-64-v3*) [[ "$cpu_flags" == *" avx2 "* && "$cpu_flags" == *" fma "* && "$cpu_flags" == *" bmi2 "* ]] ;;
    *) return 0 ;;
  esac
}

# The pkg-config cell's build: softmax_row and consumer/app, each from one
# compiler command line, into $dir and $dir/consumer as the CMake cells do.
build_with_pkg_config() {
  local cxx=$1 flags=$2 dir=$3
  mkdir -p "$dir/consumer"
  # shellcheck disable=SC2046,SC2086  # pkg-config's output and $flags are word lists
  "$cxx" $flags -std=c++17 "$repo/examples/softmax_row.cpp" $(pkg-config --cflags --libs softkern) \
      -o "$dir/softmax_row" \
    && "$cxx" $flags -std=c++17 -I"$repo/examples/consumer" "$repo"/examples/consumer/{main,rows,hwy_sum}.cpp \
      $(pkg-config --cflags --libs softkern) -o "$dir/consumer/app"
}

# The folders holding the prefix's softkern.pc, each followed by ':':
# lib/pkgconfig, or lib/<multiarch>/pkgconfig when the prefix is /usr.
softkern_pc_dirs() {
  find "$prefix/lib" "$prefix/lib64" -maxdepth 3 -name softkern.pc -printf '%h:' 2>/dev/null || true
}

# One cell: configure, build, run; leaves its table row in $work/<name>.row
# and what it prints in $work/<name>.out. Always returns 0 (the row says how
# the cell went), so that the cells can run as background jobs.
run_cell() {
  local cxx=$1 label=$2 build_type=$3 flags=$4 name=$5
  local dir="$work/$name" log="$work/$name.log"
  local start=$SECONDS stage=configure built=0 isa=- hwy=- note="" result warnings
  if [[ $label == pkg-config ]]; then
    stage=pkg-config
    local pc_dirs
    pc_dirs=$(softkern_pc_dirs)
    export PKG_CONFIG_PATH="${pc_dirs%:}${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
    {
      echo "PKG_CONFIG_PATH=$PKG_CONFIG_PATH" >"$log"
      pkg-config --cflags --libs softkern >>"$log" 2>&1 \
      && stage=build && build_with_pkg_config "$cxx" "$flags" "$dir" >>"$log" 2>&1 && built=1
    } || true
  else
    cmake -S "$repo/examples" -B "$dir" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_COMPILER="$cxx" \
      -DCMAKE_BUILD_TYPE="$build_type" -DCMAKE_CXX_FLAGS="$flags" >"$log" 2>&1 \
    && stage=build && cmake --build "$dir" -j"$cell_jobs" >>"$log" 2>&1 && built=1 || true
  fi
  {
    [[ $built -eq 1 ]] \
    && stage=softmax_row && "$dir/softmax_row" >>"$log" 2>&1 \
    && "$dir/softmax_row" -t 0.5 --log 3 -inf 1 0 2 >>"$log" 2>&1 \
    && stage=app && "$dir/consumer/app" >>"$log" 2>&1 \
    && stage=ok
  } || true
  local secs=$((SECONDS - start))
  isa=$(sed -n 's/^isa: *//p' "$log" | head -n1)
  hwy=$(sed -n 's/^highway (this program.s own kernel): *//p' "$log" | head -n1)
  warnings=$(grep -cE '(^|: )warning: ' "$log" || true)
  {
    echo "---- $cxx $label"
    if [[ $stage == ok ]]; then
      result=PASS
      note=$(grep -m1 '^consumer:' "$log" | sed 's/^consumer: //')
    else
      result=FAIL note="failed at $stage (log: $log)"
      echo "     FAILED at $stage; first errors:"
      grep -m12 -iE 'error|FAILED|undefined reference|multiple definition|Segmentation|Illegal' "$log" | sed 's/^/     | /' || tail -n 20 "$log" | sed 's/^/     | /'
    fi
    if [[ $warnings -gt 0 ]]; then
      echo "     $warnings compiler warning(s):"
      grep -m6 -E '(^|: )warning: ' "$log" | sed 's/^/     | /'
      note="$warnings warning(s) (log: $log); $note"
    fi
    echo "     $result in ${secs}s"
  } >"$work/$name.out"
  printf '%-12s %-18s %-6s %-9s %-8s %4ss  %s\n' "$cxx" "$label" "$result" "${isa:--}" "${hwy:--}" \
    "$secs" "$note" >"$work/$name.row"
  return 0
}

# Most of a cell's build is the one TU softkern_impl, which the example
# targets wait for: run the cells side by side, one compile job each, as many
# at a time as there are cores, rather than one after the other.
cell_jobs=1
parallel_cells=$jobs
names=() rows=() skipped=0
for cxx in "${compilers[@]}"; do
  if ! command -v "$cxx" >/dev/null; then
    rows+=("$(printf '%-12s %-18s %-6s %-9s %-8s %s' "$cxx" "*" SKIP - - "compiler not installed")")
    skipped=$((skipped + 1))
    continue
  fi
  for cell in "${cells[@]}"; do
    IFS='|' read -r label build_type flags <<<"$cell"
    [[ -z "$only" || "$only" == *",$label,"* ]] || continue
    # -march=x86-64-v3 changes which static target Highway compiles, the
    # same way for both compilers: the first compiler covers it, and the
    # others build the remaining cells (each cell compiles all of softkern).
    # x86-64-v4 is left to -march=native: on an AVX-512 machine native is a
    # superset of it, and elsewhere the level cannot run.
    [[ -n "$only" || "$cxx" == "${compilers[0]}" || "$label" != -march=x86-64-v* ]] || continue
    name="$(basename "$cxx")_$(echo "$label" | tr -c 'A-Za-z0-9.\n' '_' | sed 's/^_*//')"
    if ! cpu_runs "$flags"; then
      rows+=("$(printf '%-12s %-18s %-6s %-9s %-8s %s' "$cxx" "$label" SKIP - - "this CPU cannot run $flags")")
      skipped=$((skipped + 1))
      continue
    fi
    while [[ $(jobs -rp | wc -l) -ge $parallel_cells ]]; do wait -n || true; done
    echo "---- $cxx $label: started"
    run_cell "$cxx" "$label" "$build_type" "$flags" "$name" &
    names+=("$name")
  done
done
wait

passed=0 failed=0 warned=0
for name in "${names[@]}"; do
  cat "$work/$name.out"
  row=$(cat "$work/$name.row")
  rows+=("$row")
  case "$row" in
    *" PASS "*) passed=$((passed + 1)) ;;
    *) failed=$((failed + 1)); keep=1 ;;
  esac
  [[ "$row" != *" warning(s) "* ]] || warned=$((warned + 1))
done

echo
echo "==== build matrix (examples/ against $prefix)"
printf '%-12s %-18s %-6s %-9s %-8s %5s  %s\n' compiler flags result softkern hwy time note
for row in "${rows[@]}"; do echo "$row"; done
if [[ $failed -gt 0 && $keep -eq 1 ]]; then
  trap - EXIT
  echo "build trees and logs kept in $work"
fi
echo "matrix: $passed passed, $failed failed, $skipped skipped, $warned with compiler warnings"
[[ $failed -eq 0 ]]
