// bench/training_bench.cpp — softkern's training kernels against the memory
// system and against PyTorch.
//
// Softmax and log-softmax backward, one long row and a batch, and
// cross-entropy forward + backward at V = 128,256 and 256,000 for N = 8 and
// 64 rows, the gradient in place over the logits or apart; every vector
// target, one thread and all threads (softkern's built-in pool; PyTorch's
// intra-op threads). Counters:
//   bytes_per_second   effective: each input read once, the output written
//                      once (backward 12 B/element, cross-entropy 8);
//   traffic_B_per_elem what the kernel moves: backward 20 (y, dy twice, dx
//                      once), log backward 16 (dy twice, y once, dx once),
//                      cross-entropy 12 (logits twice, gradient once);
//   roofline           time of the roofline twin / time of the kernel. The
//                      twin makes the kernel's passes over the same bytes
//                      with trivial arithmetic, on the same threads, cut the
//                      same way (rows in blocks, or 65536-element chunks of
//                      few long rows, as chunked_rows.hpp does);
//   vs_pytorch         time of PyTorch at the same thread count / time of
//                      the kernel (PyTorch's output checked first);
//   peak_extra_bytes   the most memory the call held beyond its inputs and
//                      outputs (memory_counter.hpp).
// In-place cross-entropy rows run each iteration on the previous one's
// gradient (finite values: the same work).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <softkern/softkern.hpp>
#include <string>
#include <tuple>
#include <vector>

#include "memory_counter.hpp"
#include "plan.hpp"
#include "register.hpp"
#include "training_peers.hpp"

namespace softkern_bench {
namespace {

using softkern::Isa;

struct FreeFloats {
  void operator()(float* p) const { std::free(p); }
};
using Floats = std::unique_ptr<float[], FreeFloats>;

Floats AllocateFloats(std::size_t n) {
  const std::size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
  Floats p(static_cast<float*>(std::aligned_alloc(64, bytes)));
  std::memset(p.get(), 0, bytes);  // fault the pages in now
  return p;
}

// Three arrays of `n` floats: backward's y, dy, dx; cross-entropy's logits,
// gradient and a pristine copy of the logits.
struct Arrays {
  std::size_t n = 0;
  Floats a, b, c;
  std::vector<std::int64_t> targets;
};

Arrays& GetArrays(std::size_t n) {
  static Arrays arrays;
  if (arrays.n >= n) return arrays;
  arrays.a = AllocateFloats(n);
  arrays.b = AllocateFloats(n);
  arrays.c = AllocateFloats(n);
  arrays.n = n;
  return arrays;
}

// Logits ~ N(0, 3^2), their softmax rows in a (log-softmax when `log`),
// dy ~ N(0, 1) in b.
void FillBackward(Arrays& arrays, std::size_t rows, std::size_t cols, bool log) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(cols);
  for (std::size_t r = 0; r < rows; ++r) {
    for (float& v : x) v = 3.0f * normal(rng);
    softkern::SoftmaxOptions o;
    o.log = log;
    (void)softkern::softmax(x.data(), arrays.a.get() + r * cols, cols, o);
  }
  for (std::size_t i = 0; i < rows * cols; ++i) arrays.b[i] = normal(rng);
}

void FillLogits(Arrays& arrays, std::size_t rows, std::size_t vocab) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  for (std::size_t i = 0; i < rows * vocab; ++i) arrays.c[i] = normal(rng);
  arrays.targets.resize(rows);
  for (auto& t : arrays.targets) t = static_cast<std::int64_t>(rng() % vocab);
}

// ---------------------------------------------------------------- the twins

// Rows of `cols` over `threads` threads as softkern cuts them: whole rows in
// blocks when there are at least two per thread, otherwise 65536-element
// chunks (phase one on every chunk, then phase two on every chunk).
constexpr std::size_t kChunk = std::size_t{1} << 16;

template <class Reduce, class Map>
void TwinRows(softkern::Executor* executor, std::size_t rows, std::size_t cols, const Reduce& reduce, const Map& map) {
  const std::size_t threads = executor != nullptr ? executor->concurrency() : 1;
  const std::size_t chunks = (cols + kChunk - 1) / kChunk;
  auto size_of = [&](std::size_t c) { return std::min(kChunk, cols - c * kChunk); };
  auto whole_row = [&](std::size_t r) {
    float total = 0;
    for (std::size_t c = 0; c < chunks; ++c) total += reduce(r, c * kChunk, size_of(c));
    for (std::size_t c = 0; c < chunks; ++c) map(r, c * kChunk, size_of(c), total);
  };
  if (threads <= 1) {
    for (std::size_t r = 0; r < rows; ++r) whole_row(r);
    return;
  }
  using Task = std::function<void(std::size_t)>;
  auto run = [&](std::size_t count, const Task& task) {
    executor->run(
        count, [](void* context, std::size_t i) { (*static_cast<const Task*>(context))(i); }, const_cast<Task*>(&task));
  };
  if (rows >= 2 * threads || chunks == 1) {
    const std::size_t per_task = (rows + 4 * threads - 1) / (4 * threads);
    run((rows + per_task - 1) / per_task, [&](std::size_t t) {
      for (std::size_t r = t * per_task; r < std::min(rows, (t + 1) * per_task); ++r) whole_row(r);
    });
    return;
  }
  std::vector<float> partial(rows * chunks), total(rows, 0.0f);
  run(rows * chunks, [&](std::size_t t) { partial[t] = reduce(t / chunks, t % chunks * kChunk, size_of(t % chunks)); });
  for (std::size_t t = 0; t < rows * chunks; ++t) total[t / chunks] += partial[t];
  run(rows * chunks,
      [&](std::size_t t) { map(t / chunks, t % chunks * kChunk, size_of(t % chunks), total[t / chunks]); });
}

// Softmax backward's passes: sum y dy, then dx = y (dy - s): y and dy read
// twice, dx written once. Log-softmax: sum dy, then dx = dy - y s.
void BackwardTwin(softkern::Executor* executor, bool log, const float* y, const float* dy, float* dx, std::size_t rows,
                  std::size_t cols) {
  TwinRows(
      executor, rows, cols,
      [&](std::size_t r, std::size_t begin, std::size_t n) {
        const float* a = y + r * cols + begin;
        const float* b = dy + r * cols + begin;
        float s = 0.0f;
        if (log) {
#pragma omp simd reduction(+ : s)
          for (std::size_t i = 0; i < n; ++i) s += b[i];
        } else {
#pragma omp simd reduction(+ : s)
          for (std::size_t i = 0; i < n; ++i) s += a[i] * b[i];
        }
        return s;
      },
      [&](std::size_t r, std::size_t begin, std::size_t n, float s) {
        const float* a = y + r * cols + begin;
        const float* b = dy + r * cols + begin;
        float* out = dx + r * cols + begin;
        const float c = 1.0f / (1.0f + std::fabs(s));
        if (log) {
#pragma omp simd
          for (std::size_t i = 0; i < n; ++i) out[i] = b[i] - a[i] * c;
        } else {
#pragma omp simd
          for (std::size_t i = 0; i < n; ++i) out[i] = a[i] * (b[i] - c);
        }
      });
}

// Cross-entropy's passes: sum x, then g = x c: the logits read twice, the
// gradient written once (over the logits when in place).
void CrossEntropyTwin(softkern::Executor* executor, const float* x, float* g, std::size_t rows, std::size_t vocab) {
  TwinRows(
      executor, rows, vocab,
      [&](std::size_t r, std::size_t begin, std::size_t n) {
        const float* a = x + r * vocab + begin;
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (std::size_t i = 0; i < n; ++i) s += a[i];
        return s;
      },
      [&](std::size_t r, std::size_t begin, std::size_t n, float s) {
        const float* a = x + r * vocab + begin;
        float* out = g + r * vocab + begin;
        const float c = 1.0f / (1.0f + std::fabs(s));
#pragma omp simd
        for (std::size_t i = 0; i < n; ++i) out[i] = a[i] * c;
      });
}

// ------------------------------------------------------------------ timing

double Seconds(const std::function<void()>& f) {
  const auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Per-call seconds of the comparators (twins, PyTorch), one entry per
// repetition of their own rows, keyed by what they ran.
using Key = std::tuple<std::string, std::size_t, std::size_t, std::size_t>;  // kind, rows, cols, threads
std::map<Key, std::vector<double>>& ComparatorSeconds() {
  static std::map<Key, std::vector<double>> seconds;
  return seconds;
}

// The median of the comparator's own repetitions; until its row has run,
// 7 calls measured here after 3 warm-up calls (which start PyTorch's
// threads and fault its buffers in).
double ComparatorSecondsFor(const Key& key, const std::function<void()>& call) {
  std::vector<double>& seconds = ComparatorSeconds()[key];
  if (seconds.empty()) {
    for (int i = 0; i < 3; ++i) call();
    for (int i = 0; i < 7; ++i) seconds.push_back(Seconds(call));
  }
  return Median(seconds);
}

softkern::Executor* ExecutorFor(std::size_t threads) { return threads > 1 ? &softkern::default_executor() : nullptr; }

// A benchmark loop over `call`; returns the mean seconds per call.
double Loop(benchmark::State& state, const std::function<void()>& call) {
  double seconds = 0;
  for (auto _ : state) {
    seconds += Seconds(call);
    benchmark::ClobberMemory();
  }
  return seconds / static_cast<double>(state.iterations());
}

void SetElementCounters(benchmark::State& state, std::size_t elements, double effective_bytes, double traffic) {
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * elements));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * elements * effective_bytes));
  state.counters["traffic_B_per_elem"] = traffic;
}

// --------------------------------------------------------------- backward

struct BackwardShape {
  std::size_t rows, cols;
  std::string Name() const { return std::to_string(rows) + "x" + std::to_string(cols); }
};

std::function<void()> BackwardTwinCall(bool log, BackwardShape s, std::size_t threads) {
  return [=] {
    Arrays& a = GetArrays(s.rows * s.cols);
    BackwardTwin(ExecutorFor(threads), log, a.a.get(), a.b.get(), a.c.get(), s.rows, s.cols);
  };
}

std::function<void()> TorchBackwardCall(PeerBackward* peer, bool log, BackwardShape s, std::size_t threads) {
  return [=] {
    Arrays& a = GetArrays(s.rows * s.cols);
    peer->prepare(s.rows, s.cols, log, static_cast<int>(threads));
    peer->run(a.a.get(), a.b.get(), a.c.get());
  };
}

const char* BackwardName(bool log) { return log ? "log_softmax_backward" : "softmax_backward"; }

void BenchBackwardTwin(benchmark::State& state, bool log, BackwardShape s, std::size_t threads) {
  FillBackward(GetArrays(s.rows * s.cols), s.rows, s.cols, log);
  const double seconds = Loop(state, BackwardTwinCall(log, s, threads));
  ComparatorSeconds()[Key{std::string("twin/") + BackwardName(log), s.rows, s.cols, threads}].push_back(seconds);
  SetElementCounters(state, s.rows * s.cols, 12, log ? 16 : 20);
}

void BenchBackwardPeer(benchmark::State& state, PeerBackward* peer, bool log, BackwardShape s, std::size_t threads) {
  Arrays& a = GetArrays(s.rows * s.cols);
  FillBackward(a, s.rows, s.cols, log);
  // Check against softkern first.
  std::vector<float> want(s.rows * s.cols);
  const softkern::Status status =
      log ? softkern::log_softmax_backward_rows(a.a.get(), s.cols, a.b.get(), s.cols, want.data(), s.cols, s.rows,
                                                s.cols)
          : softkern::softmax_backward_rows(a.a.get(), s.cols, a.b.get(), s.cols, want.data(), s.cols, s.rows, s.cols);
  if (!status.ok()) {
    return state.SkipWithError("softkern failed");
  }
  TorchBackwardCall(peer, log, s, threads)();
  double worst = 0, scale = 0;
  for (std::size_t i = 0; i < want.size(); ++i) scale = std::max(scale, static_cast<double>(std::fabs(want[i])));
  for (std::size_t i = 0; i < want.size(); ++i)
    worst = std::max(worst, std::fabs(static_cast<double>(a.c[i]) - want[i]) / scale);
  state.counters["max_rel_diff"] = worst;
  if (!(worst <= 1e-4)) return state.SkipWithError("pytorch differs from softkern");
  peer->prepare(s.rows, s.cols, log, static_cast<int>(threads));
  const std::function<void()> call = [&] { peer->run(a.a.get(), a.b.get(), a.c.get()); };
  const PeakMemory peak;
  const double seconds = Loop(state, call);
  state.counters["peak_extra_bytes"] = static_cast<double>(peak.ExtraBytes());
  ComparatorSeconds()[Key{std::string("pytorch/") + BackwardName(log), s.rows, s.cols, threads}].push_back(seconds);
  SetElementCounters(state, s.rows * s.cols, 12, log ? 16 : 20);
}

void BenchBackward(benchmark::State& state, Isa isa, bool log, BackwardShape s, std::size_t threads,
                   PeerBackward* peer) {
  Arrays& a = GetArrays(s.rows * s.cols);
  FillBackward(a, s.rows, s.cols, log);
  if (!softkern::force_isa(isa).ok()) return state.SkipWithError("target not supported");
  softkern::SoftmaxBackwardOptions o;
  o.executor = ExecutorFor(threads);
  softkern::Status status;
  const std::function<void()> call = [&] {
    status = log ? softkern::log_softmax_backward_rows(a.a.get(), s.cols, a.b.get(), s.cols, a.c.get(), s.cols, s.rows,
                                                       s.cols, o)
                 : softkern::softmax_backward_rows(a.a.get(), s.cols, a.b.get(), s.cols, a.c.get(), s.cols, s.rows,
                                                   s.cols, o);
  };
  const PeakMemory peak;
  const double seconds = Loop(state, call);
  state.counters["peak_extra_bytes"] = static_cast<double>(peak.ExtraBytes());
  softkern::reset_isa();
  if (!status.ok()) return state.SkipWithError(status.message());
  SetElementCounters(state, s.rows * s.cols, 12, log ? 16 : 20);
  state.counters["roofline"] =
      ComparatorSecondsFor(Key{std::string("twin/") + BackwardName(log), s.rows, s.cols, threads},
                           BackwardTwinCall(log, s, threads)) /
      seconds;
  if (peer != nullptr) {
    state.counters["vs_pytorch"] =
        ComparatorSecondsFor(Key{std::string("pytorch/") + BackwardName(log), s.rows, s.cols, threads},
                             TorchBackwardCall(peer, log, s, threads)) /
        seconds;
    FillBackward(a, s.rows, s.cols, log);
  }
}

// ----------------------------------------------------------- cross-entropy

struct CeShape {
  std::size_t rows, vocab;
  bool in_place;
  std::string Name() const {
    return std::string(in_place ? "in_place/" : "apart/") + std::to_string(rows) + "x" + std::to_string(vocab);
  }
};

std::function<void()> CeTwinCall(CeShape s, std::size_t threads) {
  return [=] {
    Arrays& a = GetArrays(s.rows * s.vocab);
    CrossEntropyTwin(ExecutorFor(threads), a.a.get(), s.in_place ? a.a.get() : a.b.get(), s.rows, s.vocab);
  };
}

std::function<void()> TorchCeCall(PeerCrossEntropy* peer, CeShape s, std::size_t threads) {
  return [=] {
    Arrays& a = GetArrays(s.rows * s.vocab);
    peer->prepare(s.rows, s.vocab, a.targets.data(), static_cast<int>(threads));
    float loss;
    peer->run(a.c.get(), &loss, nullptr);
  };
}

// Copies the pristine logits (c) into a.
void ResetLogits(Arrays& a, CeShape s) { std::memcpy(a.a.get(), a.c.get(), s.rows * s.vocab * sizeof(float)); }

softkern::Status SoftkernCe(Arrays& a, CeShape s, softkern::Executor* executor, float* loss, float* grad) {
  softkern::CrossEntropyTensors t;
  t.rows = s.rows;
  t.vocab = s.vocab;
  t.logits = a.a.get();
  t.targets = a.targets.data();
  t.loss = loss;
  t.grad = grad;
  softkern::CrossEntropyOptions o;
  o.executor = executor;
  return softkern::cross_entropy(t, o);
}

void BenchCeTwin(benchmark::State& state, CeShape s, std::size_t threads) {
  Arrays& a = GetArrays(s.rows * s.vocab);
  FillLogits(a, s.rows, s.vocab);
  ResetLogits(a, s);
  const double seconds = Loop(state, CeTwinCall(s, threads));
  ComparatorSeconds()[Key{"twin/cross_entropy/" + s.Name(), s.rows, s.vocab, threads}].push_back(seconds);
  SetElementCounters(state, s.rows * s.vocab, 8, 12);
}

void BenchCePeer(benchmark::State& state, PeerCrossEntropy* peer, CeShape s, std::size_t threads) {
  Arrays& a = GetArrays(s.rows * s.vocab);
  FillLogits(a, s.rows, s.vocab);
  ResetLogits(a, s);
  // Check against softkern first (gradient apart, into b).
  float want_loss = 0, got_loss = 0;
  if (!SoftkernCe(a, s, nullptr, &want_loss, a.b.get()).ok()) return state.SkipWithError("softkern failed");
  std::vector<float> got(s.rows * s.vocab);
  peer->prepare(s.rows, s.vocab, a.targets.data(), static_cast<int>(threads));
  peer->run(a.c.get(), &got_loss, got.data());
  double worst = std::fabs(got_loss - want_loss) / std::fabs(want_loss), scale = 0;
  for (std::size_t i = 0; i < got.size(); ++i) scale = std::max(scale, static_cast<double>(std::fabs(a.b[i])));
  for (std::size_t i = 0; i < got.size(); ++i)
    worst = std::max(worst, std::fabs(static_cast<double>(got[i]) - a.b[i]) / scale);
  state.counters["max_rel_diff"] = worst;
  if (!(worst <= 1e-4)) return state.SkipWithError("pytorch differs from softkern");
  const std::function<void()> call = [&] { peer->run(a.c.get(), &got_loss, nullptr); };
  const PeakMemory peak;
  const double seconds = Loop(state, call);
  state.counters["peak_extra_bytes"] = static_cast<double>(peak.ExtraBytes());
  ComparatorSeconds()[Key{"pytorch/cross_entropy", s.rows, s.vocab, threads}].push_back(seconds);
  SetElementCounters(state, s.rows * s.vocab, 8, 12);
}

void BenchCe(benchmark::State& state, Isa isa, CeShape s, std::size_t threads, PeerCrossEntropy* peer) {
  Arrays& a = GetArrays(s.rows * s.vocab);
  FillLogits(a, s.rows, s.vocab);
  ResetLogits(a, s);
  if (!softkern::force_isa(isa).ok()) return state.SkipWithError("target not supported");
  softkern::Status status;
  float loss = 0;
  const std::function<void()> call = [&] {
    status = SoftkernCe(a, s, ExecutorFor(threads), &loss, s.in_place ? a.a.get() : a.b.get());
  };
  const PeakMemory peak;
  const double seconds = Loop(state, call);
  state.counters["peak_extra_bytes"] = static_cast<double>(peak.ExtraBytes());
  softkern::reset_isa();
  if (!status.ok()) return state.SkipWithError(status.message());
  SetElementCounters(state, s.rows * s.vocab, 8, 12);
  state.counters["roofline"] =
      ComparatorSecondsFor(Key{"twin/cross_entropy/" + s.Name(), s.rows, s.vocab, threads}, CeTwinCall(s, threads)) /
      seconds;
  if (peer != nullptr) {
    state.counters["vs_pytorch"] =
        ComparatorSecondsFor(Key{"pytorch/cross_entropy", s.rows, s.vocab, threads}, TorchCeCall(peer, s, threads)) /
        seconds;
  }
}

// ------------------------------------------------------------ registration

// Every row also reports the fastest repetition ("_min"): on a shared
// machine the median carries other processes' time, the minimum the least
// of it (ratios of minima are what docs/training.md quotes for such runs).
void RegisterWithMin(const std::string& name, std::function<void(benchmark::State&)> fn) {
  Register(name, [fn](benchmark::State& s) { fn(s); }, benchmark::kMicrosecond)
      ->ComputeStatistics("min", [](const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); });
}

}  // namespace

void RegisterTrainingBenchmarks(bool smoke) {
  static const std::unique_ptr<PeerBackward> backward_peer = MakeTorchBackwardPeer();
  static const std::unique_ptr<PeerCrossEntropy> ce_peer = MakeTorchCrossEntropyPeer();
  std::vector<std::size_t> thread_counts = {1};
  if (softkern::default_executor().concurrency() > 1)
    thread_counts.push_back(softkern::default_executor().concurrency());
  const std::vector<Isa> isas = VectorIsas();

  // Backward: a row in L2, a long row out of cache, and a batch of
  // attention-score rows out of cache.
  const std::vector<BackwardShape> backward_shapes =
      smoke ? std::vector<BackwardShape>{{1, 4096}, {4, 70000}}
            : std::vector<BackwardShape>{{1, 65536}, {1, std::size_t{16} << 20}, {4096, 1024}};
  for (bool log : {false, true}) {
    for (const BackwardShape& s : backward_shapes) {
      for (std::size_t threads : thread_counts) {
        const std::string suffix = "/" + s.Name() + "/threads:" + std::to_string(threads);
        RegisterWithMin(std::string("backward_twin/") + BackwardName(log) + suffix,
                 [=](benchmark::State& st) { BenchBackwardTwin(st, log, s, threads); });
        // The twin and PyTorch before softkern: the kernel's ratios then use
        // their own rows' times, measured while softkern's pool sleeps.
        if (backward_peer) {
          RegisterWithMin(std::string("peer/pytorch/") + BackwardName(log) + suffix,
                   [=](benchmark::State& st) { BenchBackwardPeer(st, backward_peer.get(), log, s, threads); });
        }
        for (Isa isa : isas) {
          RegisterWithMin(std::string(BackwardName(log)) + "/" + softkern::isa_name(isa) + suffix,
                   [=](benchmark::State& st) { BenchBackward(st, isa, log, s, threads, backward_peer.get()); });
        }
      }
    }
  }
  // Cross-entropy forward + backward over language-model vocabularies.
  std::vector<CeShape> ce_shapes;
  for (std::size_t vocab : smoke ? std::vector<std::size_t>{1000} : std::vector<std::size_t>{128256, 256000}) {
    for (std::size_t rows : smoke ? std::vector<std::size_t>{3} : std::vector<std::size_t>{8, 64}) {
      for (bool in_place : {false, true}) ce_shapes.push_back(CeShape{rows, vocab, in_place});  // apart first: it has the PyTorch row
    }
  }
  for (const CeShape& s : ce_shapes) {
    for (std::size_t threads : thread_counts) {
      const std::string suffix = "/" + s.Name() + "/threads:" + std::to_string(threads);
      RegisterWithMin("cross_entropy_twin" + suffix, [=](benchmark::State& st) { BenchCeTwin(st, s, threads); });
      if (ce_peer && !s.in_place) {
        const std::string peer_suffix =
            "/" + std::to_string(s.rows) + "x" + std::to_string(s.vocab) + "/threads:" + std::to_string(threads);
        RegisterWithMin("peer/pytorch/cross_entropy" + peer_suffix,
                 [=](benchmark::State& st) { BenchCePeer(st, ce_peer.get(), s, threads); });
      }
      for (Isa isa : isas) {
        RegisterWithMin(std::string("cross_entropy/") + softkern::isa_name(isa) + suffix,
                 [=](benchmark::State& st) { BenchCe(st, isa, s, threads, ce_peer.get()); });
      }
    }
  }
}

#ifndef SOFTKERN_BENCH_HAVE_TORCH
std::unique_ptr<PeerBackward> MakeTorchBackwardPeer() { return nullptr; }
std::unique_ptr<PeerCrossEntropy> MakeTorchCrossEntropyPeer() { return nullptr; }
#endif

}  // namespace softkern_bench
