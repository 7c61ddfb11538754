// bench/softmax_bench.cpp — softkern's softmax against the memory system and
// against the libraries a user would otherwise pick.
//
// For every size (1 Ki to 64 Mi float32 elements in powers of 4, i.e. L1, L2,
// last-level cache and DRAM), every supported target and every algorithm, it
// reports:
//   items_per_second   elements per second;
//   bytes_per_second   effective bandwidth: 8 bytes per element (x read once,
//                      y written once), the least any softmax must move;
//   traffic_B_per_elem the bytes per element the algorithm really moves
//                      (three-pass recompute 16, reload 20, two-pass and
//                      online 12);
//   roofline           time of the roofline twin / time of the kernel. The
//                      twin is a kernel in this binary that makes exactly the
//                      same passes over the same bytes with trivial arithmetic
//                      (a sum instead of exponentials); it runs at the same
//                      size in the same process, just before the kernels.
// Peers (xsimd baseline, oneDNN, XNNPACK, PyTorch) run on the same buffers,
// one thread, after their output has been checked against softkern's;
// softkern_speedup is a peer's time over the fastest explicit softkern
// algorithm's on the best target (median of 7 calls timed in this process).
// The 16-bit rows' vs_f32 is float32 two-pass time over theirs, timed in
// the same row.
// bench/softmax_cost_bench.cpp adds the per-call cost and per-pass rows.
//
// Its flags (--softkern_max_size, --softkern_streaming, --softkern_smoke) are
// read in main.cpp.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <tuple>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <softkern/softkern.hpp>
#include <softkern/detail/float16.hpp>

#include "peers.hpp"
#include "softmax_twin.hpp"
#include "plan.hpp"
#include "register.hpp"

namespace softkern_bench {
namespace {

using softkern::Algorithm;
using softkern::Isa;

// ------------------------------------------------------------------ buffers

struct AlignedFree {
  void operator()(float* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<float[], AlignedFree>;

Buffer Allocate(std::size_t n) {
  const std::size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
  return Buffer(static_cast<float*>(std::aligned_alloc(64, bytes)));
}

struct Buffers {
  std::size_t capacity = 0;
  Buffer x, y, reference;
};

Buffers& GetBuffers() {
  static Buffers buffers;
  return buffers;
}

// Logits uniform in [-10, 10): the typical attention-score range.
void EnsureBuffers(std::size_t n) {
  Buffers& b = GetBuffers();
  if (b.capacity >= n) return;
  b.x = Allocate(n);
  b.y = Allocate(n);
  b.reference = Allocate(n);
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> logits(-10.0f, 10.0f);
  for (std::size_t i = 0; i < n; ++i) b.x[i] = logits(rng);
  std::memset(b.y.get(), 0, n * sizeof(float));  // fault the pages in now, not in the timing
  std::memset(b.reference.get(), 0, n * sizeof(float));
  b.capacity = n;
}

// --softkern_streaming: how every softkern call (and so every twin) writes y.
softkern::StreamingStores g_streaming = softkern::StreamingStores::kAuto;

// Twin seconds per call, one entry per repetition, keyed by (traffic, rows, cols).
using ShapeKey = std::tuple<Traffic, std::size_t, std::size_t>;
std::map<ShapeKey, std::vector<double>>& TwinSeconds() {
  static std::map<ShapeKey, std::vector<double>> seconds;
  return seconds;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double TimeOnce(const std::function<void()>& f) {
  const auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Median twin time; measured here if the twin's own benchmark was filtered out.
double TwinSecondsFor(Traffic traffic, std::size_t rows, std::size_t cols) {
  std::vector<double>& seconds = TwinSeconds()[ShapeKey{traffic, rows, cols}];
  if (seconds.empty()) {
    Buffers& b = GetBuffers();
    RooflineTwin(traffic, b.x.get(), b.y.get(), rows, cols, g_streaming);  // warm-up
    for (int i = 0; i < 7; ++i) {
      seconds.push_back(TimeOnce([&] { RooflineTwin(traffic, b.x.get(), b.y.get(), rows, cols, g_streaming); }));
    }
  }
  return Median(seconds);
}

// Median seconds of one softkern call on float32 rows of the shared buffers
// (7 timings after a warm-up) with `algorithm` on `isa`; 0 if the target or
// a call fails.
double TimeSoftkern(Isa isa, Algorithm algorithm, std::size_t rows, std::size_t cols) {
  EnsureBuffers(rows * cols);
  Buffers& b = GetBuffers();
  softkern::SoftmaxOptions options;
  options.algorithm = algorithm;
  options.streaming = g_streaming;
  if (!softkern::force_isa(isa).ok()) return 0;
  bool ok = true;
  const auto call = [&] { ok &= softkern::softmax_rows(b.x.get(), cols, b.y.get(), cols, rows, cols, options).ok(); };
  call();
  // Enough calls per timing for ~0.2 ms, so that the clock's own cost does not count.
  const std::size_t calls = std::max<std::size_t>(1, (std::size_t{1} << 16) / (rows * cols));
  std::vector<double> seconds;
  for (int i = 0; i < 7; ++i) {
    seconds.push_back(TimeOnce([&] {
                        for (std::size_t c = 0; c < calls; ++c) call();
                      }) /
                      static_cast<double>(calls));
  }
  softkern::reset_isa();
  return ok ? Median(seconds) : 0;
}

// TimeSoftkern measured once per (isa, algorithm, shape) and kept: the
// reference of the peers' ratio counters, timed in the same process as the
// rows that report them.
double SoftkernSecondsFor(Isa isa, Algorithm algorithm, std::size_t rows, std::size_t cols) {
  static std::map<std::tuple<int, int, std::size_t, std::size_t>, double> cache;
  const auto key = std::make_tuple(static_cast<int>(isa), static_cast<int>(algorithm), rows, cols);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  return cache[key] = TimeSoftkern(isa, algorithm, rows, cols);
}

// ---------------------------------------------------------------- benchmarks

// `seconds`: the kernel's own wall time over all iterations of the loop.
void SetCounters(benchmark::State& state, std::size_t rows, std::size_t cols, Traffic traffic,
                 double seconds) {
  const double elements = static_cast<double>(rows * cols);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * elements));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * elements * 8));
  state.counters["traffic_B_per_elem"] = TrafficBytesPerElement(traffic);
  const double kernel_seconds = seconds / static_cast<double>(state.iterations());
  state.counters["roofline"] = TwinSecondsFor(traffic, rows, cols) / kernel_seconds;
}

void BenchTwin(benchmark::State& state, Traffic traffic, std::size_t rows, std::size_t cols) {
  EnsureBuffers(rows * cols);
  Buffers& b = GetBuffers();
  double seconds = 0;
  for (auto _ : state) {
    seconds += TimeOnce([&] { RooflineTwin(traffic, b.x.get(), b.y.get(), rows, cols, g_streaming); });
    benchmark::ClobberMemory();
  }
  TwinSeconds()[ShapeKey{traffic, rows, cols}].push_back(seconds / static_cast<double>(state.iterations()));
  const double elements = static_cast<double>(rows * cols);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * elements));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * elements * 8));
  state.counters["traffic_B_per_elem"] = TrafficBytesPerElement(traffic);
}

void BenchSoftkern(benchmark::State& state, Isa isa, softkern::SoftmaxOptions options, std::size_t rows,
                   std::size_t cols) {
  EnsureBuffers(rows * cols);
  Buffers& b = GetBuffers();
  options.streaming = g_streaming;
  if (!softkern::force_isa(isa).ok()) {
    state.SkipWithError("target not supported");
    return;
  }
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    const softkern::Status s = softkern::softmax_rows(b.x.get(), cols, b.y.get(), cols, rows, cols, options);
    if (!s.ok()) {
      state.SkipWithError(s.message());
      break;
    }
    benchmark::ClobberMemory();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  softkern::reset_isa();
  SetCounters(state, rows, cols, TrafficOf(options.algorithm, cols), seconds);
}

// 16-bit rows (bfloat16 / float16, uint16_t bit patterns passed through
// as_bfloat16 / as_float16): the same softmax over half the bytes.
// Effective bandwidth counts 4 bytes per element (2 read, 2 written).
void BenchSoftkern16(benchmark::State& state, Isa isa, softkern::SoftmaxOptions options,
                     softkern::ElementType type, std::size_t n) {
  // One pair of buffers per type: bf16 and f16 bits of the same logits.
  static std::vector<std::uint16_t> buffers[2][2];
  std::vector<std::uint16_t>& x16 = buffers[type == softkern::ElementType::kBFloat16 ? 0 : 1][0];
  std::vector<std::uint16_t>& y16 = buffers[type == softkern::ElementType::kBFloat16 ? 0 : 1][1];
  if (x16.size() < n) {
    EnsureBuffers(n);
    x16.resize(n);
    y16.resize(n);
    const float* x = GetBuffers().x.get();
    for (std::size_t i = 0; i < n; ++i) {
      std::uint32_t bits;
      std::memcpy(&bits, &x[i], sizeof bits);
      x16[i] = type == softkern::ElementType::kBFloat16 ? static_cast<std::uint16_t>(bits >> 16)
                                                        : softkern::detail::FloatToHalfBits(x[i]);
    }
  }
  if (!softkern::force_isa(isa).ok()) {
    state.SkipWithError("target not supported");
    return;
  }
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    const softkern::Status s =
        type == softkern::ElementType::kBFloat16
            ? softkern::softmax(softkern::as_bfloat16(x16.data()), softkern::as_bfloat16(y16.data()), n, options)
            : softkern::softmax(softkern::as_float16(x16.data()), softkern::as_float16(y16.data()), n, options);
    if (!s.ok()) {
      state.SkipWithError(s.message());
      break;
    }
    benchmark::ClobberMemory();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() /
                         static_cast<double>(state.iterations());
  softkern::reset_isa();
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * n * 4));
  // vs_f32: float32 time of the same algorithm on the same target, timed
  // in this row just after it (median of 7 calls), over this row's. Not
  // kept across rows: out of cache the machine's memory bandwidth moves
  // between the rows of one run.
  state.counters["vs_f32"] = TimeSoftkern(isa, options.algorithm, 1, n) / seconds;
}

// Largest |peer - softkern| relative to softkern's value (outputs >= 1e-30).
double MaxRelativeDifference(const float* a, const float* b, std::size_t n) {
  double worst = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double ref = b[i];
    const double diff = std::fabs(static_cast<double>(a[i]) - ref);
    if (std::isnan(a[i]) != std::isnan(b[i])) return INFINITY;
    if (ref >= 1e-30) worst = std::max(worst, diff / ref);
    else worst = std::max(worst, diff / 1e-30);
  }
  return worst;
}

void BenchPeer(benchmark::State& state, PeerSoftmax* peer, std::size_t rows, std::size_t cols) {
  EnsureBuffers(rows * cols);
  Buffers& b = GetBuffers();
  std::string why;
  if (!peer->prepare(rows, cols, &why)) {
    state.SkipWithError(why.c_str());
    return;
  }
  // Check the peer's output against softkern's before timing it.
  if (!softkern::softmax_rows(b.x.get(), cols, b.reference.get(), cols, rows, cols).ok()) {
    state.SkipWithError("softkern reference failed");
    return;
  }
  peer->run(b.x.get(), b.y.get());
  const double diff = MaxRelativeDifference(b.y.get(), b.reference.get(), rows * cols);
  // The peers sum in float, so their rounding grows with the row: allow
  // 16 sqrt(cols) u (1e-4 at least), which still catches any wrong result.
  const double tolerance = std::max(1e-4, 16.0 * std::sqrt(static_cast<double>(cols)) * 0x1p-24);
  state.counters["max_rel_diff"] = diff;
  if (!(diff <= tolerance)) {
    char message[128];
    std::snprintf(message, sizeof(message), "%s differs from softkern: max relative difference %g",
                  peer->name(), diff);
    state.SkipWithError(message);
    return;
  }
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    peer->run(b.x.get(), b.y.get());
    benchmark::ClobberMemory();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // A peer's roofline is reported against the least traffic any softmax has
  // to move in two passes, the two-pass twin.
  SetCounters(state, rows, cols, Traffic::kTwoReadsOneWrite, seconds);
  state.counters.erase("traffic_B_per_elem");
  // softkern_speedup: this peer's time over the fastest explicit softkern
  // algorithm's on the best target (each the median of 7 calls timed here).
  double best = 0;
  for (Algorithm a : {Algorithm::kThreePassReload, Algorithm::kThreePassRecompute, Algorithm::kTwoPass,
                      Algorithm::kOnline}) {
    const double t = SoftkernSecondsFor(SupportedIsas().front(), a, rows, cols);
    if (t > 0 && (best == 0 || t < best)) best = t;
  }
  if (best > 0) state.counters["softkern_speedup"] = seconds / static_cast<double>(state.iterations()) / best;
}

// ------------------------------------------------------------- registration

constexpr Algorithm kAlgorithms[] = {Algorithm::kThreePassRecompute, Algorithm::kThreePassReload,
                                     Algorithm::kTwoPass, Algorithm::kOnline, Algorithm::kAuto};

void RegisterShape(const std::vector<std::unique_ptr<PeerSoftmax>>& peers, const std::string& prefix,
                   const std::string& shape, std::size_t rows, std::size_t cols, bool variants) {
  auto reg = [](const std::string& name, auto&& fn) { Register(name, fn, benchmark::kMicrosecond); };
  for (Traffic t : {Traffic::kTwoReadsOneWrite, Traffic::kThreeReadsOneWrite, Traffic::kThreeReadsTwoWrites}) {
    reg("roofline_twin/" + std::string(TrafficName(t)) + "/" + shape,
        [=](benchmark::State& s) { BenchTwin(s, t, rows, cols); });
  }
  const std::vector<Isa> isas = SupportedIsas();
  for (Isa isa : isas) {
    for (Algorithm a : kAlgorithms) {
      softkern::SoftmaxOptions options;
      options.algorithm = a;
      reg(prefix + "/" + softkern::isa_name(isa) + "/" + softkern::algorithm_name(a) + "/" + shape,
          [=](benchmark::State& s) { BenchSoftkern(s, isa, options, rows, cols); });
    }
  }
  if (variants) {
    // Temperature, log-softmax and the sink are fused into the same passes:
    // on every vector target they should cost (almost) nothing extra.
    for (Isa isa : isas) {
      if (isa == Isa::kScalar) continue;
      for (Algorithm a : kAlgorithms) {
        const std::string name = prefix + "/" + softkern::isa_name(isa) + "/" + softkern::algorithm_name(a);
        softkern::SoftmaxOptions temperature;
        temperature.algorithm = a;
        temperature.temperature = 0.7f;
        reg(name + "+temperature/" + shape,
            [=](benchmark::State& s) { BenchSoftkern(s, isa, temperature, rows, cols); });
        softkern::SoftmaxOptions log;
        log.algorithm = a;
        log.log = true;
        reg(name + "+log/" + shape, [=](benchmark::State& s) { BenchSoftkern(s, isa, log, rows, cols); });
        softkern::SoftmaxOptions sink;
        sink.algorithm = a;
        sink.has_sink = true;
        sink.sink = 0.5f;
        reg(name + "+sink/" + shape, [=](benchmark::State& s) { BenchSoftkern(s, isa, sink, rows, cols); });
      }
    }
  }
  for (const auto& peer : peers) {
    PeerSoftmax* p = peer.get();
    reg("peer/" + std::string(p->name()) + "/" + shape, [=](benchmark::State& s) { BenchPeer(s, p, rows, cols); });
  }
}

// The core clock, for the instruction-count bound (scripts/instruction_bound.py
// divides its cycles per element by this): a chain of dependent integer adds
// retires one add per cycle on every core this runs on. Timed in CPU time (as
// the script reads the kernels' times): on a shared machine the wall clock
// also counts the time other processes hold the core.
void BenchCpuClock(benchmark::State& state) {
  constexpr std::uint64_t kAdds = std::uint64_t{1} << 22;
  std::uint64_t v = 0;
  for (auto _ : state) {
    for (std::uint64_t i = 0; i < kAdds / 8; ++i) {
#if defined(__x86_64__)
#define SOFTKERN_BENCH_ADD asm volatile("add $1, %0" : "+r"(v))
#elif defined(__aarch64__)
#define SOFTKERN_BENCH_ADD asm volatile("add %0, %0, #1" : "+r"(v))
#else
#define SOFTKERN_BENCH_ADD benchmark::DoNotOptimize(v += 1)
#endif
      SOFTKERN_BENCH_ADD; SOFTKERN_BENCH_ADD; SOFTKERN_BENCH_ADD; SOFTKERN_BENCH_ADD;
      SOFTKERN_BENCH_ADD; SOFTKERN_BENCH_ADD; SOFTKERN_BENCH_ADD; SOFTKERN_BENCH_ADD;
#undef SOFTKERN_BENCH_ADD
    }
  }
  benchmark::DoNotOptimize(v);
  state.counters["GHz"] = benchmark::Counter(static_cast<double>(state.iterations() * kAdds) * 1e-9,
                                             benchmark::Counter::kIsRate);
}

}  // namespace

void RegisterSoftmaxBenchmarks(const SoftmaxConfig& config, const std::vector<std::unique_ptr<PeerSoftmax>>& peers) {
  g_streaming = config.streaming;
  Register("cpu_clock", BenchCpuClock, benchmark::kNanosecond, Clock::kCpu);
  std::vector<std::size_t> sizes;
  if (config.smoke) {
    sizes = {1024, 4096};
  } else {
    for (std::size_t n = 1024; n <= config.max_size; n *= 4) sizes.push_back(n);
  }
  for (std::size_t n : sizes) RegisterShape(peers, "softmax", std::to_string(n), 1, n, true);
  // The attention-score shape: many rows of 1024 (4096 x 1024 = 16 MiB).
  const std::size_t rows = config.smoke ? 8 : 4096;
  RegisterShape(peers, "softmax_rows", std::to_string(rows) + "x1024", rows, 1024, false);
  // Threads (SoftmaxOptions::executor): a 4096 x 4096 batch (64 MiB, beyond
  // what one core's share of the LLC holds) on one thread and on the built-in
  // pool, best target, auto algorithm, side by side.
  const std::size_t batch = config.smoke ? 16 : 4096;
  const Isa best = SupportedIsas().front();
  for (std::size_t threads : {std::size_t{1}, softkern::default_executor().concurrency()}) {
    softkern::SoftmaxOptions options;
    options.executor = threads > 1 ? &softkern::default_executor() : nullptr;
    Register("softmax_rows_threads/" + std::string(softkern::isa_name(best)) + "/auto/" + std::to_string(batch) +
                 "x" + std::to_string(batch) + "/threads:" + std::to_string(threads),
             [=](benchmark::State& s) { BenchSoftkern(s, best, options, batch, batch); }, benchmark::kMicrosecond);
    // One long row (the largest size) cut into chunks across the threads.
    softkern::SoftmaxOptions row_options = options;
    row_options.algorithm = Algorithm::kTwoPass;
    const std::size_t n = config.smoke ? 4 * 1024 * 1024 : config.max_size;
    Register("softmax_threads/" + std::string(softkern::isa_name(best)) + "/two_pass/" + std::to_string(n) +
                 "/threads:" + std::to_string(threads),
             [=](benchmark::State& s) { BenchSoftkern(s, best, row_options, 1, n); }, benchmark::kMicrosecond);
    if (threads == softkern::default_executor().concurrency()) break;  // a 1-CPU machine
  }
  // 16-bit rows, one thread, two-pass, the largest two sizes.
  for (std::size_t n : {config.smoke ? std::size_t{4096} : config.max_size / 4,
                        config.smoke ? std::size_t{16384} : config.max_size}) {
    for (Isa isa : SupportedIsas()) {
      if (isa == Isa::kScalar) continue;
      for (auto [type, name] : {std::pair{softkern::ElementType::kBFloat16, "bf16"},
                                std::pair{softkern::ElementType::kFloat16, "f16"}}) {
        softkern::SoftmaxOptions options;
        options.algorithm = Algorithm::kTwoPass;
        Register("softmax_" + std::string(name) + "/" + softkern::isa_name(isa) + "/two_pass/" + std::to_string(n),
                 [=](benchmark::State& s) { BenchSoftkern16(s, isa, options, type, n); }, benchmark::kMicrosecond);
      }
    }
  }
}

}  // namespace softkern_bench
