// bench/memory_counter.hpp — how many bytes a call allocates beyond what was
// live before it, at its peak: the "peak extra memory" counter of the
// training bench. memory_counter.cpp replaces the global operator new and
// delete (the C++ standard's replaceable allocation functions), which is
// where softkern's drivers and the standard library allocate; a peer with its
// own allocator reports to the same counter (peer_torch_training.cpp wraps
// PyTorch's CPU allocator).
#ifndef SOFTKERN_BENCH_MEMORY_COUNTER_HPP_
#define SOFTKERN_BENCH_MEMORY_COUNTER_HPP_

#include <cstddef>

namespace softkern_bench {

// Records an allocation or a release of `bytes` made outside operator new.
void CountAllocation(std::size_t bytes);
void CountRelease(std::size_t bytes);

// Peak of the live bytes since the last call, above what was live then.
class PeakMemory {
 public:
  PeakMemory();  // starts a new peak
  std::size_t ExtraBytes() const;

 private:
  std::size_t baseline_;
};

}  // namespace softkern_bench

#endif  // SOFTKERN_BENCH_MEMORY_COUNTER_HPP_
