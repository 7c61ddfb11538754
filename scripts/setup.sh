#!/usr/bin/env bash
# scripts/setup.sh — installs the Debian 12 packages softkern's build, tests,
# bench and examples need. Idempotent: when everything is already installed it
# checks with dpkg-query and returns in well under a second, without touching
# apt. Runs as root, or through sudo when not root.
#
#   scripts/setup.sh            required packages + the bench's optional peers
#   scripts/setup.sh --arm      ... + the aarch64 cross toolchain, qemu-user and
#                               the arm64 Highway/GoogleTest (dpkg multiarch)
#   scripts/setup.sh --check    exit 0 if every required package is installed,
#                               1 otherwise; installs nothing (with --arm: the
#                               arm64 packages count as required)
#   scripts/setup.sh --no-optional   skip the optional bench peers
#
# The optional peers (oneDNN, XNNPACK + pthreadpool, PyTorch) are installed
# when the archive has them; a peer that cannot be installed is reported and
# skipped, never an error. The bench builds its comparisons only for the
# peers it finds. libopenblas0-pthread is among them because Debian's libtorch
# links libblas.so.3, which is the netlib reference BLAS unless an optimised
# BLAS provides that alternative: PyTorch's matmuls then run 30-50x slower
# than on any machine a PyTorch user runs, and the bench's peer would be
# configured to lose.
set -euo pipefail

REQUIRED=(
  build-essential cmake g++ clang-14
  libhwy-dev libgtest-dev libgmock-dev libbenchmark-dev libxsimd-dev
  python3-matplotlib pkgconf
)
OPTIONAL=(libdnnl-dev ocl-icd-opencl-dev opencl-headers libxnnpack-dev libpthreadpool-dev libtorch-dev
  libopenblas0-pthread)
ARM_HOST=(qemu-user g++-aarch64-linux-gnu)
ARM_TARGET=(libhwy-dev:arm64 libgtest-dev:arm64)

want_arm=0 check_only=0 want_optional=1
for arg in "$@"; do
  case "$arg" in
    --arm) want_arm=1 ;;
    --check) check_only=1 ;;
    --no-optional) want_optional=0 ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

export DEBIAN_FRONTEND=noninteractive
if [[ $(id -u) -eq 0 ]]; then
  as_root() { "$@"; }
else
  # sudo drops the environment; pass DEBIAN_FRONTEND through explicitly.
  as_root() { sudo env DEBIAN_FRONTEND=noninteractive "$@"; }
fi

# Prints the packages among "$@" that are not installed. A bare name means the
# native architecture (or an Architecture: all package); name:arch that
# architecture. (Once arm64 is added, a bare dpkg-query name also matches the
# arm64 instance, hence the explicit check of the architecture.)
native_arch=$(dpkg --print-architecture)
missing() {
  local pkg arch status
  for pkg in "$@"; do
    arch=$native_arch
    [[ "$pkg" == *:* ]] && arch=${pkg##*:}
    status=$(dpkg-query -W -f='${db:Status-Status} ${Architecture}\n' "$pkg" 2>/dev/null || true)
    grep -qE "^installed ($arch|all)\$" <<<"$status" || echo "$pkg"
  done
}

updated=0
apt_update() {
  if [[ $updated -eq 0 ]]; then
    echo "setup.sh: apt-get update"
    as_root apt-get update -qq
    updated=1
  fi
}

apt_install() {
  as_root apt-get install -y -qq --no-install-recommends -o Dpkg::Use-Pty=0 "$@"
}

# Installs every package of "$@" that is missing; fails if any cannot be installed.
install_required() {
  local todo
  mapfile -t todo < <(missing "$@")
  [[ ${#todo[@]} -eq 0 ]] && return 0
  echo "setup.sh: installing ${todo[*]}"
  apt_update
  apt_install "${todo[@]}"
}

# Installs what it can of "$@", one package at a time; never fails.
install_optional() {
  local todo pkg
  mapfile -t todo < <(missing "$@")
  [[ ${#todo[@]} -eq 0 ]] && return 0
  apt_update
  for pkg in "${todo[@]}"; do
    echo "setup.sh: installing optional $pkg"
    if ! apt_install "$pkg"; then
      echo "setup.sh: optional package $pkg is not available here; skipped (the bench will leave that peer out)" >&2
    fi
  done
}

setup_arm() {
  install_required "${ARM_HOST[@]}"
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    echo "setup.sh: dpkg --add-architecture arm64"
    as_root dpkg --add-architecture arm64
    updated=0  # the package lists must be fetched again, now with arm64
  fi
  install_required "${ARM_TARGET[@]}"
}

if [[ $check_only -eq 1 ]]; then
  pkgs=("${REQUIRED[@]}")
  if [[ $want_arm -eq 1 ]]; then pkgs+=("${ARM_HOST[@]}" "${ARM_TARGET[@]}"); fi
  mapfile -t todo < <(missing "${pkgs[@]}")
  if [[ ${#todo[@]} -gt 0 ]]; then
    echo "setup.sh: missing: ${todo[*]}"
    exit 1
  fi
  exit 0
fi

install_required "${REQUIRED[@]}"
if [[ $want_optional -eq 1 ]]; then install_optional "${OPTIONAL[@]}"; fi
if [[ $want_arm -eq 1 ]]; then setup_arm; fi
echo "setup.sh: all required packages are installed"
