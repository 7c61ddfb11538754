// bench/register.hpp — the bench's families of benchmarks, registered
// from main.cpp after the flags are read.
#ifndef SOFTKERN_BENCH_REGISTER_HPP_
#define SOFTKERN_BENCH_REGISTER_HPP_

#include <cstddef>
#include <memory>
#include <vector>

#include <softkern/softmax.hpp>

#include "peers.hpp"

namespace softkern_bench {

struct SoftmaxConfig {
  bool smoke = false;                          // tiny sizes (CI)
  std::size_t max_size = std::size_t{64} << 20;  // largest row length
  // How every softkern call (and so every twin) writes y.
  softkern::StreamingStores streaming = softkern::StreamingStores::kAuto;
};

// softmax_bench.cpp: cpu_clock, the roofline twins, every algorithm on every
// target, the peers, rows, threads and 16-bit rows.
void RegisterSoftmaxBenchmarks(const SoftmaxConfig& config, const std::vector<std::unique_ptr<PeerSoftmax>>& peers);

// softmax_cost_bench.cpp: the fixed cost of a call and each pass alone.
void RegisterSoftmaxCostBenchmarks(bool smoke);

// attention_bench.cpp: decode, prefill, their twins and peers, linear attention.
void RegisterAttentionBenchmarks(bool smoke);

// serving_bench.cpp: batched decode over paged and quantized K/V, mixed
// prefill and decode, grouped-query decode, against the K/V twin.
void RegisterServingBenchmarks(bool smoke);

// sampling_bench.cpp: sample() against softmax over the same row, a
// softmax-then-sort reference and PyTorch's sort/softmax/multinomial.
void RegisterSamplingBenchmarks(bool smoke);

// training_bench.cpp: softmax and log-softmax backward, cross-entropy forward
// + backward, their 2R1W twins and PyTorch.
void RegisterTrainingBenchmarks(bool smoke);

}  // namespace softkern_bench

#endif  // SOFTKERN_BENCH_REGISTER_HPP_
