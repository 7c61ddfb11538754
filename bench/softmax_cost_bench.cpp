// bench/softmax_cost_bench.cpp — what a softmax call costs beyond its passes,
// and what each pass costs alone, against the instruction-count bound.
//
//   softmax_call/<isa>/auto/<n>
//       one call of softkern::softmax on a row of n float32 (n = 1, 16, 64,
//       1024; every row in L1): its whole cost, argument checks, the
//       floating-point environment and the lane merges included.
//       cycles_per_call: the CPU time in core cycles (clock measured
//       in-process, as cpu_clock does); at 1024, per_elem_vs_65536: the CPU
//       time per element over that of a 64 Ki row (the same call, median of
//       7 timed here), the weight of the fixed cost in a short row. CPU
//       time, as the other counters here: on a shared machine the wall
//       clock also counts the time other processes hold the core.
//   softmax_pass/<isa>/<pass>/<n>
//       one pass of a float32 row alone (detail::softmax_pass_for_testing:
//       the kernel call the driver makes), n = 1 Ki to 1 Mi: max, sum_exp
//       (recompute), sum_exp_store (reload), map_exp (recompute), map_scale
//       (reload, in place), two_pass_sum (the leaf's max and sum loops),
//       two_pass_map. cycles_per_elem; scripts/instruction_bound.py --bench
//       reads these rows against each pass's bound.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <ctime>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <softkern/detail/testing.hpp>
#include <softkern/softkern.hpp>

#include "plan.hpp"
#include "register.hpp"

namespace softkern_bench {
namespace {

using softkern::Isa;
using softkern::detail::SoftmaxPass;

double CpuSeconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// The core clock in GHz, once per process: the fastest of seven chains of
// 2^22 dependent integer adds (one per cycle), in CPU time.
double CoreGHz() {
  static const double ghz = [] {
    constexpr std::uint64_t kAdds = std::uint64_t{1} << 22;
    double best = 0;
    for (int rep = 0; rep < 7; ++rep) {
      std::uint64_t v = 0;
      const double start = CpuSeconds();
      for (std::uint64_t i = 0; i < kAdds / 8; ++i) {
#if defined(__x86_64__)
        asm volatile("add $1, %0\n add $1, %0\n add $1, %0\n add $1, %0\n"
                     "add $1, %0\n add $1, %0\n add $1, %0\n add $1, %0" : "+r"(v));
#elif defined(__aarch64__)
        asm volatile("add %0, %0, #1\n add %0, %0, #1\n add %0, %0, #1\n add %0, %0, #1\n"
                     "add %0, %0, #1\n add %0, %0, #1\n add %0, %0, #1\n add %0, %0, #1" : "+r"(v));
#else
        benchmark::DoNotOptimize(v += 8);
#endif
      }
      best = std::max(best, static_cast<double>(kAdds) / (CpuSeconds() - start) * 1e-9);
    }
    return best;
  }();
  return ghz;
}

struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};
using Row = std::unique_ptr<float[], FreeDeleter>;

// Logits uniform in [-10, 10), 64-byte aligned, and an output row; the
// largest size any row here uses, made once.
struct Rows {
  Row x, y;
  std::size_t n = 0;
};
Rows& GetRows(std::size_t n) {
  static Rows rows;
  if (rows.n < n) {
    const std::size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    rows.x.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
    rows.y.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> logits(-10.0f, 10.0f);
    for (std::size_t i = 0; i < n; ++i) rows.x[i] = logits(rng);
    std::fill(rows.y.get(), rows.y.get() + n, 0.0f);
    rows.n = n;
  }
  return rows;
}

// Median CPU seconds of one softmax call on n elements (7 timings of
// enough calls for ~1 ms each), on the target forced by the caller.
double MedianCallSeconds(std::size_t n) {
  Rows& rows = GetRows(n);
  const std::size_t calls = std::max<std::size_t>(1, (std::size_t{1} << 18) / n);
  std::vector<double> seconds;
  for (int rep = 0; rep < 7; ++rep) {
    const double start = CpuSeconds();
    for (std::size_t c = 0; c < calls; ++c) (void)softkern::softmax(rows.x.get(), rows.y.get(), n);
    seconds.push_back((CpuSeconds() - start) / static_cast<double>(calls));
  }
  std::sort(seconds.begin(), seconds.end());
  return seconds[seconds.size() / 2];
}

void BenchCall(benchmark::State& state, Isa isa, std::size_t n) {
  Rows& rows = GetRows(std::max<std::size_t>(n, 65536));
  if (!softkern::force_isa(isa).ok()) {
    state.SkipWithError("target not supported");
    return;
  }
  const double start = CpuSeconds();
  for (auto _ : state) {
    const softkern::Status s = softkern::softmax(rows.x.get(), rows.y.get(), n);
    if (!s.ok()) {
      state.SkipWithError(s.message());
      break;
    }
    benchmark::ClobberMemory();
  }
  const double seconds = (CpuSeconds() - start) / static_cast<double>(state.iterations());
  state.counters["cycles_per_call"] = seconds * 1e9 * CoreGHz();
  if (n == 1024) {
    static double reference[softkern::kIsaCount] = {};
    double& long_row = reference[static_cast<int>(isa)];
    if (long_row == 0) long_row = MedianCallSeconds(65536);
    state.counters["per_elem_vs_65536"] = (seconds / 1024.0) / (long_row / 65536.0);
  }
  softkern::reset_isa();
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
}

struct PassName {
  SoftmaxPass pass;
  const char* name;
};
constexpr PassName kPasses[] = {
    {SoftmaxPass::kMax, "max"},
    {SoftmaxPass::kSum, "sum_exp"},
    {SoftmaxPass::kSumAndStore, "sum_exp_store"},
    {SoftmaxPass::kMapExp, "map_exp"},
    {SoftmaxPass::kMapScale, "map_scale"},
    {SoftmaxPass::kTwoPassSum, "two_pass_sum"},
    {SoftmaxPass::kTwoPassMap, "two_pass_map"},
};

void BenchPass(benchmark::State& state, Isa isa, SoftmaxPass pass, std::size_t n) {
  Rows& rows = GetRows(n);
  if (!softkern::force_isa(isa).ok()) {
    state.SkipWithError("target not supported");
    return;
  }
  float* x = rows.x.get();
  float* y = rows.y.get();
  // The totals each pass is given: those of this row, found by its own
  // passes. The reload map scales y in place by 2^-24 / sum: sum = 2^-24
  // keeps y as it is from one iteration to the next.
  namespace sd = softkern::detail;
  const float max = static_cast<float>(sd::softmax_pass_for_testing(SoftmaxPass::kMax, x, y, n, 0, 0, 0, nullptr));
  double exponent = 0;
  double sum = sd::softmax_pass_for_testing(SoftmaxPass::kSum, x, y, n, max, 0, 0, nullptr);
  if (pass == SoftmaxPass::kMapScale) {
    (void)sd::softmax_pass_for_testing(SoftmaxPass::kSumAndStore, x, y, n, max, 0, 0, nullptr);
    sum = 0x1p-24;
  } else if (pass == SoftmaxPass::kTwoPassMap) {
    sum = sd::softmax_pass_for_testing(SoftmaxPass::kTwoPassSum, x, y, n, 0, 0, 0, &exponent);
  }
  const double start = CpuSeconds();
  for (auto _ : state) {
    benchmark::DoNotOptimize(sd::softmax_pass_for_testing(pass, x, y, n, max, sum, exponent, nullptr));
    benchmark::ClobberMemory();
  }
  const double seconds = (CpuSeconds() - start) / static_cast<double>(state.iterations());
  state.counters["cycles_per_elem"] = seconds * 1e9 * CoreGHz() / static_cast<double>(n);
  softkern::reset_isa();
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
}

}  // namespace

void RegisterSoftmaxCostBenchmarks(bool smoke) {
  for (Isa isa : VectorIsas()) {
    const std::string target = softkern::isa_name(isa);
    for (std::size_t n : {std::size_t{1}, std::size_t{16}, std::size_t{64}, std::size_t{1024}}) {
      Register("softmax_call/" + target + "/auto/" + std::to_string(n),
               [=](benchmark::State& s) { BenchCall(s, isa, n); }, benchmark::kNanosecond);
    }
    const std::size_t largest = smoke ? 4096 : std::size_t{1} << 20;
    for (std::size_t n = 1024; n <= largest; n *= 4) {
      for (const PassName& p : kPasses) {
        const SoftmaxPass pass = p.pass;
        Register("softmax_pass/" + target + "/" + p.name + "/" + std::to_string(n),
                 [=](benchmark::State& s) { BenchPass(s, isa, pass, n); }, benchmark::kMicrosecond);
      }
    }
  }
}

}  // namespace softkern_bench
