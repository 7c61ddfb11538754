// bench/sampling_bench.cpp — softkern::sample against the ways a token is
// drawn today, on rows of a language model's vocabulary (151,936: Qwen;
// 256,000: Gemma), float32 and bf16, with the filters engines default to:
//   topk50_topp0.9   top-k 50 then top-p 0.9 (vLLM's order);
//   minp0.05         min-p 0.05;
//   topp0.9          top-p 0.9 alone (no top-k or min-p bounds the kept
//                    set, so softkern takes its radix-select path).
//
// Rows (median of the repetitions):
//   sample/<isa>/<type>/<filter>/n=<n>/threads:<t>   softkern::sample, the
//       target forced, one thread or the built-in pool. Counters:
//         vs_sort_reference  time of the sort reference / time of sample
//         vs_pytorch         time of the PyTorch composition / time of sample
//         vs_softmax         time of sample / time of softkern::softmax over
//                            the same row (same target, type and threads)
//   sample_softmax/<isa>/<type>/n=<n>/threads:<t>   that softmax;
//   sample_peer/sort_reference/<type>/<filter>/n=<n>  softmax (std::exp),
//       then std::partial_sort for top-k or std::sort for top-p (the
//       survivors only, for min-p), the filters, the draw: one thread;
//   sample_peer/pytorch/<type>/<filter>/n=<n>  at::sort / at::softmax /
//       at::cumsum / at::multinomial as vLLM's CPU sampler composes them,
//       one intra-op thread (peer_torch_sampling.cpp).
// Each peer's token is checked against softkern's kept set before timing.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <softkern/softkern.hpp>

#include "peers.hpp"
#include "plan.hpp"
#include "register.hpp"

namespace softkern_bench {
namespace {

using softkern::Isa;

struct Filter {
  const char* name;
  std::int64_t top_k;
  float top_p;
  float min_p;
};
constexpr Filter kFilters[] = {{"topk50_topp0.9", 50, 0.9f, 0.0f}, {"minp0.05", 0, 1.0f, 0.05f},
                               {"topp0.9", 0, 0.9f, 0.0f}};

// A model's logits: a normal body (sigma 2.5) and one token in 2000 raised
// by 5 to 12, the few a sampler keeps.
struct Row {
  std::vector<float> f32;
  std::vector<softkern::bfloat16> bf16;
};
const Row& RowOf(std::size_t n) {
  static std::map<std::size_t, Row> rows;
  Row& row = rows[n];
  if (row.f32.empty()) {
    std::mt19937_64 rng(n);
    std::normal_distribution<float> body(0.0f, 2.5f);
    row.f32.resize(n);
    for (float& v : row.f32) v = body(rng);
    for (std::size_t i = 0; i < n / 2000; ++i) row.f32[rng() % n] += 5.0f + static_cast<float>(rng() % 8);
    row.bf16.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      row.bf16[i] = softkern::to_bfloat16(row.f32[i]);
      row.f32[i] = softkern::to_float(row.bf16[i]);  // both types hold the same values
    }
  }
  return row;
}

// Uniforms the timed loops cycle through.
float UniformAt(std::size_t i) {
  static const std::vector<float> uniforms = [] {
    std::mt19937 rng(7);
    std::vector<float> u(64);
    for (float& v : u) v = static_cast<float>(rng() >> 8) * 0x1p-24f;
    return u;
  }();
  return uniforms[i % uniforms.size()];
}

// ------------------------------------------------------- the sort reference

// Softmax with std::exp, then the filters on a sorted index (partial_sort
// for top-k, a full sort for top-p, only the survivors for min-p), then the
// draw in sorted order: what a careful engineer writes without softkern.
class SortReference {
 public:
  std::int64_t Run(const Row& row, bool bf16, std::size_t n, const Filter& f, float uniform) {
    probs_.resize(n);
    order_.resize(n);
    float max = -INFINITY;
    for (std::size_t i = 0; i < n; ++i) max = std::max(max, Logit(row, bf16, i));
    double sum = 0.0;  // a float sum of 256 Ki terms would move top-p's cut
    for (std::size_t i = 0; i < n; ++i) {
      probs_[i] = std::exp(Logit(row, bf16, i) - max);
      sum += probs_[i];
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (std::size_t i = 0; i < n; ++i) probs_[i] *= inv;
    std::size_t count = n;
    auto by_prob = [this](std::uint32_t a, std::uint32_t b) { return probs_[a] > probs_[b]; };
    if (f.min_p > 0.0f) {
      const float threshold = f.min_p * inv;  // the largest probability is 1 / sum
      count = 0;
      for (std::size_t i = 0; i < n; ++i) {
        if (probs_[i] >= threshold) order_[count++] = static_cast<std::uint32_t>(i);
      }
      std::sort(order_.begin(), order_.begin() + count, by_prob);
    } else {
      std::iota(order_.begin(), order_.end(), 0u);
      if (f.top_k > 0 && static_cast<std::size_t>(f.top_k) < n) {
        count = static_cast<std::size_t>(f.top_k);
        std::partial_sort(order_.begin(), order_.begin() + count, order_.end(), by_prob);
      } else if (f.top_p < 1.0f) {
        std::sort(order_.begin(), order_.end(), by_prob);
      }
    }
    double total = 0.0;
    for (std::size_t i = 0; i < count; ++i) total += probs_[order_[i]];
    if (f.top_p < 1.0f) {
      double above = 0.0;
      std::size_t kept = 0;
      while (kept < count && above < f.top_p * total) above += probs_[order_[kept++]];
      count = kept;
      total = above;
    }
    kept_ = count;
    last_kept_ = order_[count - 1];
    const double target = uniform * total;
    double running = 0.0;
    for (std::size_t i = 0; i < count; ++i) {
      running += probs_[order_[i]];
      if (running > target) return order_[i];
    }
    return order_[count - 1];
  }
  std::size_t kept() const { return kept_; }
  // The smallest logit it kept: the cut (it may split equal logits there,
  // where softkern keeps them together).
  std::uint32_t last_kept() const { return last_kept_; }

 private:
  static float Logit(const Row& row, bool bf16, std::size_t i) {
    return bf16 ? softkern::to_float(row.bf16[i]) : row.f32[i];
  }
  std::vector<float> probs_;
  std::vector<std::uint32_t> order_;
  std::size_t kept_ = 0;
  std::uint32_t last_kept_ = 0;
};

// ------------------------------------------------------------ bookkeeping

// Seconds per call of each peer and softmax row, one entry per repetition,
// by row name; measured in place (7 calls) when that row was filtered out.
std::map<std::string, std::vector<double>>& Seconds() {
  static std::map<std::string, std::vector<double>> seconds;
  return seconds;
}
double MedianSeconds(const std::string& key, const std::function<void()>& call) {
  std::vector<double> v = Seconds()[key];
  if (v.empty()) {
    call();
    for (int i = 0; i < 7; ++i) {
      const auto start = std::chrono::steady_clock::now();
      call();
      v.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    Seconds()[key] = v;
  }
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Times the loop; returns the seconds per call.
template <class F>
double TimeLoop(benchmark::State& state, const F& call) {
  std::size_t i = 0;
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    benchmark::DoNotOptimize(call(i++));
    benchmark::ClobberMemory();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  return seconds / static_cast<double>(state.iterations());
}

std::string TypeName(bool bf16) { return bf16 ? "bf16" : "f32"; }
std::string PeerKey(const char* peer, bool bf16, const Filter& f, std::size_t n) {
  return std::string("sample_peer/") + peer + "/" + TypeName(bf16) + "/" + f.name + "/n=" + std::to_string(n);
}
std::string SoftmaxKey(Isa isa, bool bf16, std::size_t n, std::size_t threads) {
  return std::string("sample_softmax/") + softkern::isa_name(isa) + "/" + TypeName(bf16) + "/n=" + std::to_string(n) +
         "/threads:" + std::to_string(threads);
}

softkern::SampleOptions OptionsOf(const Filter& f, std::size_t threads) {
  softkern::SampleOptions o;
  o.top_k = f.top_k;
  o.top_p = f.top_p;
  o.min_p = f.min_p;
  o.executor = threads > 1 ? &softkern::default_executor() : nullptr;
  return o;
}

softkern::Status SampleRow(const Row& row, bool bf16, std::size_t n, float u, const softkern::SampleOptions& o,
                           softkern::SampleResult* r) {
  return bf16 ? softkern::sample(row.bf16.data(), n, u, o, r) : softkern::sample(row.f32.data(), n, u, o, r);
}

// Whether `token` is in softkern's kept set for this row and filter (the kept
// set is the `kept` largest entries, ties included); *cut: its smallest logit.
bool InKeptSet(const Row& row, std::size_t n, const Filter& f, std::int64_t token, float* cut) {
  softkern::SampleResult r;
  if (!SampleRow(row, false, n, 0.5f, OptionsOf(f, 1), &r).ok()) return false;
  std::vector<float> values(row.f32.begin(), row.f32.begin() + static_cast<std::ptrdiff_t>(n));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(r.kept - 1), values.end(),
                   std::greater<float>());
  *cut = values[r.kept - 1];
  return token >= 0 && static_cast<std::size_t>(token) < n && row.f32[static_cast<std::size_t>(token)] >= *cut;
}

// ------------------------------------------------------------- benchmarks

void BenchSortReference(benchmark::State& state, bool bf16, Filter f, std::size_t n) {
  const Row& row = RowOf(n);
  SortReference reference;
  float cut = 0.0f;
  const std::int64_t token = reference.Run(row, bf16, n, f, 0.5f);
  if (!InKeptSet(row, n, f, token, &cut) || row.f32[reference.last_kept()] != cut) {
    state.SkipWithError("the sort reference's token or cut differs from softkern's");
    return;
  }
  Seconds()[PeerKey("sort_reference", bf16, f, n)].push_back(
      TimeLoop(state, [&](std::size_t i) { return reference.Run(row, bf16, n, f, UniformAt(i)); }));
}

void BenchPeer(benchmark::State& state, PeerSampler* peer, bool bf16, Filter f, std::size_t n) {
  const Row& row = RowOf(n);
  const void* logits = bf16 ? static_cast<const void*>(row.bf16.data()) : row.f32.data();
  float cut = 0.0f;
  for (int check = 0; check < 8; ++check) {
    if (!InKeptSet(row, n, f, peer->run(logits, bf16, n, f.top_k, f.top_p, f.min_p), &cut)) {
      state.SkipWithError("the peer drew a token outside softkern's kept set");
      return;
    }
  }
  Seconds()[PeerKey(peer->name(), bf16, f, n)].push_back(
      TimeLoop(state, [&](std::size_t) { return peer->run(logits, bf16, n, f.top_k, f.top_p, f.min_p); }));
}

void BenchSoftmax(benchmark::State& state, Isa isa, bool bf16, std::size_t n, std::size_t threads) {
  const Row& row = RowOf(n);
  static std::vector<float> y;
  static std::vector<softkern::bfloat16> y16;
  y.resize(n);
  y16.resize(n);
  if (!softkern::force_isa(isa).ok()) {
    state.SkipWithError("target not supported");
    return;
  }
  softkern::SoftmaxOptions o;
  o.executor = threads > 1 ? &softkern::default_executor() : nullptr;
  Seconds()[SoftmaxKey(isa, bf16, n, threads)].push_back(TimeLoop(state, [&](std::size_t) {
    return bf16 ? softkern::softmax(row.bf16.data(), y16.data(), n, o).ok()
                : softkern::softmax(row.f32.data(), y.data(), n, o).ok();
  }));
  softkern::reset_isa();
}

void BenchSample(benchmark::State& state, Isa isa, bool bf16, Filter f, std::size_t n, std::size_t threads,
                 PeerSampler* torch) {
  const Row& row = RowOf(n);
  if (!softkern::force_isa(isa).ok()) {
    state.SkipWithError("target not supported");
    return;
  }
  const softkern::SampleOptions o = OptionsOf(f, threads);
  softkern::SampleResult r;
  float cut = 0.0f;
  if (!SampleRow(row, bf16, n, 0.5f, o, &r).ok() || !InKeptSet(row, n, f, r.token, &cut)) {
    state.SkipWithError("sample failed");
    softkern::reset_isa();
    return;
  }
  const double seconds = TimeLoop(state, [&](std::size_t i) {
    softkern::SampleResult out;
    SampleRow(row, bf16, n, UniformAt(i), o, &out).ok();
    return out.token;
  });
  state.counters["kept"] = static_cast<double>(r.kept);
  SortReference reference;
  state.counters["vs_sort_reference"] =
      MedianSeconds(PeerKey("sort_reference", bf16, f, n), [&] { reference.Run(row, bf16, n, f, 0.5f); }) / seconds;
  if (torch != nullptr) {
    const void* logits = bf16 ? static_cast<const void*>(row.bf16.data()) : row.f32.data();
    state.counters["vs_pytorch"] = MedianSeconds(PeerKey(torch->name(), bf16, f, n), [&] {
                                     torch->run(logits, bf16, n, f.top_k, f.top_p, f.min_p);
                                   }) / seconds;
  }
  softkern::SoftmaxOptions so;
  so.executor = o.executor;
  std::vector<float> y(n);
  std::vector<softkern::bfloat16> y16(n);
  state.counters["vs_softmax"] = seconds / MedianSeconds(SoftmaxKey(isa, bf16, n, threads), [&] {
    (bf16 ? softkern::softmax(row.bf16.data(), y16.data(), n, so) : softkern::softmax(row.f32.data(), y.data(), n, so))
        .ok();
  });
  softkern::reset_isa();
}

}  // namespace

void RegisterSamplingBenchmarks(bool smoke) {
  auto reg = [](const std::string& name, auto&& fn) { Register(name, fn, benchmark::kMicrosecond); };
  static std::unique_ptr<PeerSampler> torch;
#ifdef SOFTKERN_BENCH_HAVE_TORCH
  torch = MakeTorchSamplerPeer();
#endif
  const std::vector<Isa> isas = VectorIsas();
  std::vector<std::size_t> thread_counts = {1};
  if (softkern::default_executor().concurrency() > 1) thread_counts.push_back(softkern::default_executor().concurrency());
  const std::vector<std::size_t> sizes = smoke ? std::vector<std::size_t>{4096} : std::vector<std::size_t>{151936, 256000};
  for (std::size_t n : sizes) {
    for (bool bf16 : {false, true}) {
      for (const Filter& f : kFilters) {
        reg(PeerKey("sort_reference", bf16, f, n), [=](benchmark::State& s) { BenchSortReference(s, bf16, f, n); });
        if (torch) reg(PeerKey(torch->name(), bf16, f, n), [=](benchmark::State& s) { BenchPeer(s, torch.get(), bf16, f, n); });
      }
      for (std::size_t threads : thread_counts) {
        for (Isa isa : isas) {
          reg(SoftmaxKey(isa, bf16, n, threads), [=](benchmark::State& s) { BenchSoftmax(s, isa, bf16, n, threads); });
          for (const Filter& f : kFilters) {
            reg(std::string("sample/") + softkern::isa_name(isa) + "/" + TypeName(bf16) + "/" + f.name + "/n=" +
                    std::to_string(n) + "/threads:" + std::to_string(threads),
                [=](benchmark::State& s) { BenchSample(s, isa, bf16, f, n, threads, torch.get()); });
          }
        }
      }
    }
  }
}

}  // namespace softkern_bench
