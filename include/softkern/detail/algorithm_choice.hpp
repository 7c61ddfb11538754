// softkern/detail/algorithm_choice.hpp — the choices made from the machine's
// cache sizes and the active target: which algorithm kAuto runs
// (auto_algorithm), whether stores bypass the cache (streams_for), and the
// per-core L2 size that attention's prefetch decision also reads. Part of the
// one expansion (implementation.hpp).
#ifndef SOFTKERN_DETAIL_ALGORITHM_CHOICE_HPP_
#define SOFTKERN_DETAIL_ALGORITHM_CHOICE_HPP_

#include <algorithm>
#include <cstddef>

#include "softkern/detail/dispatcher.hpp"
#include "softkern/detail/kernel_table.hpp"
#include "softkern/softmax.hpp"

#if defined(__linux__)
#include <unistd.h>
#endif

namespace softkern {
namespace detail {
namespace {

// The size of the cache sysconf names (_SC_LEVEL2_CACHE_SIZE, ...), or
// `fallback` when the OS does not report it.
std::size_t CacheSizeOr(int name, std::size_t fallback) {
  long bytes = -1;
#if defined(__linux__)
  bytes = sysconf(name);
#else
  (void)name;
#endif
  return bytes > 0 ? static_cast<std::size_t>(bytes) : fallback;
}

// The per-core L2 when the OS reports it (1 MiB otherwise): kAuto picks
// three-pass reload up to four times it (auto_algorithm), and beyond it
// attention prefetches the next key block.
std::size_t PerCoreL2Bytes() {
  static const std::size_t bytes = CacheSizeOr(_SC_LEVEL2_CACHE_SIZE, std::size_t{1} << 20);
  return bytes;
}

// streams_for and auto_algorithm for the target of `table` (null: a bad
// SOFTKERN_ISA; the call is rejected later), so that a call looks its
// target up once.
bool StreamsFor(const KernelTable* table, std::size_t n, StreamingStores choice) {
  switch (choice) {
    case StreamingStores::kAlways: return true;
    case StreamingStores::kNever: return false;
    case StreamingStores::kAuto: break;
  }
  if (choice != StreamingStores::kAuto || n < streaming_threshold_bytes() / sizeof(float)) return false;
  // Whole 64-byte lines per vector: AVX-512, and SVE when its run-time
  // vector length is a multiple of 512 bits.
  return table != nullptr && table->vector_bytes() % 64 == 0;
}

Algorithm AutoAlgorithmFor(const KernelTable* table, std::size_t n) {
  // Reload evaluates one exponential per element and two-pass two, but
  // two-pass moves fewer bytes. On vector targets reload wins while the row
  // is within about four times the per-core L2 (the L2 plus what the L3
  // returns quickly) and two-pass beyond; the scalar target is compute-bound
  // at every size, and its two-pass exponential (reduced in double) is the
  // cheaper one past 32 KiB. The crossovers are measured per machine in
  // docs/algorithms.md.
  std::size_t reload_max_bytes = PerCoreL2Bytes();
  if (table != nullptr && table->isa == Isa::kScalar) {
    reload_max_bytes = std::size_t{32} << 10;
  } else {
    reload_max_bytes *= 4;
  }
  return n * sizeof(float) <= reload_max_bytes ? Algorithm::kThreePassReload : Algorithm::kTwoPass;
}

// Whether a call that reads and writes `bytes` (x, and y when it is another
// buffer) prefetches in its passes: not when it all fits in the per-core L2.
bool PrefetchesFor(std::size_t bytes) { return bytes > PerCoreL2Bytes(); }

}  // namespace
}  // namespace detail

const char* algorithm_name(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::kAuto: return "auto";
    case Algorithm::kThreePassRecompute: return "three_pass_recompute";
    case Algorithm::kThreePassReload: return "three_pass_reload";
    case Algorithm::kTwoPass: return "two_pass";
    case Algorithm::kOnline: return "online";
  }
  return "unknown";
}

std::size_t streaming_threshold_bytes() {
  constexpr std::size_t k32MiB = std::size_t{32} << 20;
  static const std::size_t bytes = std::min(k32MiB, detail::CacheSizeOr(_SC_LEVEL3_CACHE_SIZE, k32MiB));
  return bytes;
}

bool streams_for(std::size_t n, StreamingStores choice) {
  Status status;
  return detail::StreamsFor(detail::ActiveTable(&status), n, choice);
}

Algorithm auto_algorithm(std::size_t n) {
  Status status;
  return detail::AutoAlgorithmFor(detail::ActiveTable(&status), n);
}

}  // namespace softkern

#endif  // SOFTKERN_DETAIL_ALGORITHM_CHOICE_HPP_
