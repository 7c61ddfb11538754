// bench/softmax_twin.hpp — the roofline twins of the softmax algorithms: a
// twin makes exactly the passes of an algorithm over the same bytes (the same
// reads, the same writes, streamed where softkern streams) with trivial
// arithmetic, a sum or a scale instead of exponentials. The time of a twin
// is the memory roofline of that algorithm on that shape.
#ifndef SOFTKERN_BENCH_SOFTMAX_TWIN_HPP_
#define SOFTKERN_BENCH_SOFTMAX_TWIN_HPP_

#include <cstddef>

#include <softkern/softkern.hpp>

namespace softkern_bench {

// The passes an algorithm makes over memory.
enum class Traffic { kTwoReadsOneWrite, kThreeReadsOneWrite, kThreeReadsTwoWrites };

const char* TrafficName(Traffic t);
double TrafficBytesPerElement(Traffic t);
// The traffic of `algorithm` on a row of n (auto: the algorithm it picks).
Traffic TrafficOf(softkern::Algorithm algorithm, std::size_t n);

// The twin of `traffic` over rows x[rows][cols] -> y; the final pass streams
// where softkern's would with `streaming`.
void RooflineTwin(Traffic traffic, const float* x, float* y, std::size_t rows, std::size_t cols,
                  softkern::StreamingStores streaming);

}  // namespace softkern_bench

#endif  // SOFTKERN_BENCH_SOFTMAX_TWIN_HPP_
