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

// The per-core L2 when the OS reports it (1 MiB otherwise): up to it kAuto
// picks three-pass reload (measured crossover: docs/algorithms.md), and beyond it
// attention prefetches the next key block.
std::size_t PerCoreL2Bytes() {
  static const std::size_t bytes = CacheSizeOr(_SC_LEVEL2_CACHE_SIZE, std::size_t{1} << 20);
  return bytes;
}

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
  switch (choice) {
    case StreamingStores::kAlways: return true;
    case StreamingStores::kNever: return false;
    case StreamingStores::kAuto: break;
  }
  if (choice != StreamingStores::kAuto || n < streaming_threshold_bytes() / sizeof(float)) return false;
  Status status;
  const detail::KernelTable* table = detail::ActiveTable(&status);
  // Whole 64-byte lines per vector: AVX-512, and SVE when its run-time
  // vector length is a multiple of 512 bits.
  return table != nullptr && table->vector_bytes() % 64 == 0;
}

Algorithm auto_algorithm(std::size_t n) {
  // On vector targets reload wins while the row is in the per-core cache (it
  // evaluates one exponential per element, two-pass two) and two-pass beyond
  // (fewer bytes). The scalar target is compute-bound at every size, and its
  // two-pass exponential (reduced in double) is the cheaper one: measured
  // crossover between 4 Ki and 16 Ki elements (docs/benchmarks.md). With the
  // folded exponential (softmax_exp-inl.hpp) reload keeps winning past the
  // L2 on every vector target, up to about four times its size: measured
  // crossover between 1 Mi and 4 Mi elements with a 1 MiB L2 on AVX2 and on
  // AVX-512 (Zen 4: at 1 Mi reload 0.35 ns per element, two-pass 0.47; at
  // 4 Mi reload 0.94, two-pass 0.73; docs/compute-bound.md).
  Status status;
  const detail::KernelTable* table = detail::ActiveTable(&status);
  std::size_t reload_max_bytes = detail::PerCoreL2Bytes();
  if (table != nullptr && table->isa == Isa::kScalar) {
    reload_max_bytes = std::size_t{32} << 10;
  } else {
    reload_max_bytes *= 4;
  }
  return n * sizeof(float) <= reload_max_bytes ? Algorithm::kThreePassReload : Algorithm::kTwoPass;
}

}  // namespace softkern

#endif  // SOFTKERN_DETAIL_ALGORITHM_CHOICE_HPP_
