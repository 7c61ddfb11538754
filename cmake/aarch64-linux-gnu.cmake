# cmake/aarch64-linux-gnu.cmake — cross-compiles softkern for aarch64 Linux
# with Debian's g++-aarch64-linux-gnu, against the arm64 builds of the
# dependencies from Debian's multiarch packages, and runs what it builds
# under qemu-aarch64 (Debian's qemu-user), so ctest works as on a native
# build. scripts/setup.sh --arm installs all of it; scripts/test_arm.sh uses it:
#
#   cmake -S . -B build-arm -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
#   cmake --build build-arm -j2
#   QEMU_CPU=max,sve-max-vq=4 ctest --test-dir build-arm -LE exhaustive
#
# Where things are on Debian 12 (bookworm):
#  - the cross compiler's own sysroot (glibc, libstdc++, the dynamic loader)
#    is /usr/aarch64-linux-gnu;
#  - the multiarch arm64 packages (libhwy-dev:arm64, libgtest-dev:arm64)
#    install into /usr/lib/aarch64-linux-gnu (libraries and CMake package
#    configs) and share /usr/include with the native ones; the cross compiler
#    searches both already.
# QEMU_CPU in the environment picks the emulated CPU (qemu-user reads it):
# unset, qemu-aarch64 emulates "max" (SVE2 at 512-bit vectors in qemu 7.2);
# cortex-a72 has NEON only; max,sve-max-vq=N caps SVE vectors at N*128 bits.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(SOFTKERN_CROSS_TRIPLE aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${SOFTKERN_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${SOFTKERN_CROSS_TRIPLE}-g++)

# find_package/find_library look in <prefix>/lib/aarch64-linux-gnu (and its
# cmake/ subdirectory, where hwy-config.cmake and GTestConfig.cmake are); the
# amd64 configs in /usr/lib/x86_64-linux-gnu are never considered.
set(CMAKE_LIBRARY_ARCHITECTURE ${SOFTKERN_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH /usr/${SOFTKERN_CROSS_TRIPLE})
# Programs (qemu, python) are the build machine's; libraries, headers and
# packages come from the cross sysroot or from the multiarch directories of /.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

# Every test (add_test with a target as COMMAND, and gtest_discover_tests'
# listing run) goes through the emulator. -L points qemu at the cross
# sysroot, where the aarch64 dynamic loader the binaries were linked for
# lives (/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1, Debian's
# libc6-arm64-cross). The loader's own search path then starts at
# /lib/aarch64-linux-gnu, which qemu falls back to on the host, where the
# multiarch libc6:arm64 (pulled in by libhwy-dev:arm64) has *another build*
# of libc.so.6: a loader of one glibc build with the libc of another, and
# the first pthread_create hangs (seen on bookworm: 2.36-8cross1 vs
# 2.36-9+deb12u14). LD_LIBRARY_PATH, set for the emulated program only (-E),
# makes the loader take libc, libm, libstdc++ and libgcc_s from the same
# sysroot; only libhwy.so.1 comes from the multiarch directory.
find_program(SOFTKERN_QEMU_AARCH64 qemu-aarch64)
if(NOT SOFTKERN_QEMU_AARCH64)
  message(WARNING "qemu-aarch64 not found (Debian: apt-get install qemu-user, or scripts/setup.sh --arm): "
                  "the cross-built tests cannot run here")
  set(SOFTKERN_QEMU_AARCH64 qemu-aarch64)
endif()
set(CMAKE_CROSSCOMPILING_EMULATOR
    "${SOFTKERN_QEMU_AARCH64};-L;/usr/${SOFTKERN_CROSS_TRIPLE};-E;LD_LIBRARY_PATH=/usr/${SOFTKERN_CROSS_TRIPLE}/lib")

# The test list depends on the CPU: the suite instantiates its tests for each
# target the CPU supports (sve and sve2 tests exist only under an SVE CPU).
# So list the tests when ctest runs, under the QEMU_CPU of that run, not once
# at build time (scripts/test_arm.sh also drops the cached lists between runs
# with different CPUs, since CMake reuses them while the binary is unchanged).
set(CMAKE_GTEST_DISCOVER_TESTS_DISCOVERY_MODE PRE_TEST)
