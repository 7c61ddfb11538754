// bench/attention_bench.cpp — softkern's attention kernels (issue #4).
//
//   attention_decode/<isa>/<f32|bf16>/n=<n>/d=128
//       one query, one head, n keys; counters: bytes_per_second (K and V
//       bytes read once per call), roofline = time of the roofline twin / time
//       of the kernel. The twin (roofline_twin/attention_kv) streams exactly
//       the K and V bytes once, summing them as 32-bit words: what any decode
//       kernel must at least move.
//   attention_prefill/<isa>/causal/L=n=<L>/d=128 and
//   peer/pytorch_attention/causal/L=n=<L>/d=128
//       GFLOP/s over the same nominal count, 4 d per visible (query, key)
//       pair (L (L + 1) / 2 pairs): QK^T and PV, 2 flops per multiply-add.
//       PyTorch: softmax(q k^T * scale + mask) v, composed from at::matmul,
//       at::softmax and a precomputed -inf causal mask, one intra-op thread.
//       score_matrix_bytes: the L x n float32 matrix PyTorch materialises
//       (softkern's working set is its fixed tile scratch, O(d)).
//   linear_attention/<isa>/decay/causal/L=<L>/d=128
//       chunked Lightning prefill; tokens per second should stay flat as L
//       grows (time linear in L).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <softkern/softkern.hpp>

#ifdef SOFTKERN_BENCH_HAVE_TORCH
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#endif

namespace softkern_bench {
namespace {

using softkern::Isa;
using softkern::KvType;

constexpr std::size_t kHeadDim = 128;

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using Bytes = std::unique_ptr<unsigned char[], FreeDeleter>;

Bytes AllocateBytes(std::size_t bytes) {
  return Bytes(static_cast<unsigned char*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64)));
}

std::uint16_t ToBf16(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7FFFu + ((u >> 16) & 1u);
  return static_cast<std::uint16_t>(u >> 16);
}

// K and V of one head, n x d, in the requested type, kept between benchmarks
// of the same shape (1 GiB at n = 1 Mi in float32).
struct KvCache {
  std::size_t n = 0;
  KvType type = KvType::kFloat32;
  Bytes k, v;
  std::size_t bytes_each = 0;
};

KvCache& GetCache(std::size_t n, KvType type) {
  static KvCache cache;
  if (cache.n == n && cache.type == type && cache.k) return cache;
  cache = KvCache{};
  const std::size_t elems = n * kHeadDim;
  const std::size_t esize = type == KvType::kFloat32 ? 4 : 2;
  cache.k = AllocateBytes(elems * esize);
  cache.v = AllocateBytes(elems * esize);
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (std::size_t i = 0; i < elems; ++i) {
    const float kf = normal(rng), vf = normal(rng);
    if (type == KvType::kFloat32) {
      std::memcpy(cache.k.get() + 4 * i, &kf, 4);
      std::memcpy(cache.v.get() + 4 * i, &vf, 4);
    } else {
      const std::uint16_t kb = ToBf16(kf), vb = ToBf16(vf);
      std::memcpy(cache.k.get() + 2 * i, &kb, 2);
      std::memcpy(cache.v.get() + 2 * i, &vb, 2);
    }
  }
  cache.n = n;
  cache.type = type;
  cache.bytes_each = elems * esize;
  return cache;
}

// The roofline twin: reads every byte of K and V once, as 32-bit words.
std::uint32_t StreamOnce(const unsigned char* a, const unsigned char* b, std::size_t bytes) {
  const std::size_t words = bytes / 4;
  const auto* wa = reinterpret_cast<const std::uint32_t*>(a);
  const auto* wb = reinterpret_cast<const std::uint32_t*>(b);
  std::uint32_t sum = 0;
#pragma omp simd reduction(+ : sum)
  for (std::size_t i = 0; i < words; ++i) sum += wa[i] + wb[i];
  return sum;
}

double SecondsOf(const std::function<void()>& f, int repetitions) {
  std::vector<double> times;
  for (int r = 0; r < repetitions; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

void BenchTwin(benchmark::State& state, std::size_t n, KvType type) {
  KvCache& c = GetCache(n, type);
  for (auto _ : state) benchmark::DoNotOptimize(StreamOnce(c.k.get(), c.v.get(), c.bytes_each));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * 2 * c.bytes_each));
}

void BenchDecode(benchmark::State& state, Isa isa, std::size_t n, KvType type) {
  KvCache& c = GetCache(n, type);
  std::vector<float> q(kHeadDim), o(kHeadDim);
  std::mt19937 rng(2);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (auto& x : q) x = normal(rng);
  softkern::AttentionTensors t;
  t.queries = 1;
  t.keys = n;
  t.head_dim = kHeadDim;
  t.q = q.data();
  t.k = c.k.get();
  t.v = c.v.get();
  t.kv_type = type;
  t.o = o.data();
  if (!softkern::force_isa(isa).ok()) {
    state.SkipWithError("target not supported");
    return;
  }
  // The twin, timed here, in the same process, just before the kernel.
  volatile std::uint32_t sink = 0;
  const double twin = SecondsOf([&] { sink = sink + StreamOnce(c.k.get(), c.v.get(), c.bytes_each); }, 3);
  double total = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    const softkern::Status s = softkern::attention(t);
    total += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!s.ok()) {
      state.SkipWithError(s.message());
      break;
    }
    benchmark::DoNotOptimize(o.data());
  }
  softkern::reset_isa();
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * 2 * c.bytes_each));
  if (state.iterations() > 0) state.counters["roofline"] = twin / (total / static_cast<double>(state.iterations()));
}

// Prefill: q, k, v [L, d] float32, one head, causal.
struct PrefillData {
  std::size_t L = 0;
  std::vector<float> q, k, v, o;
};

PrefillData& GetPrefill(std::size_t L) {
  static PrefillData p;
  if (p.L == L) return p;
  p.L = L;
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (auto* x : {&p.q, &p.k, &p.v}) {
    x->resize(L * kHeadDim);
    for (auto& e : *x) e = normal(rng);
  }
  p.o.assign(L * kHeadDim, 0.0f);
  return p;
}

double CausalFlops(std::size_t L) {
  return 4.0 * static_cast<double>(kHeadDim) * static_cast<double>(L) * static_cast<double>(L + 1) / 2.0;
}

void BenchPrefill(benchmark::State& state, Isa isa, std::size_t L) {
  PrefillData& p = GetPrefill(L);
  softkern::AttentionTensors t;
  t.queries = L;
  t.keys = L;
  t.head_dim = kHeadDim;
  t.q = p.q.data();
  t.k = p.k.data();
  t.v = p.v.data();
  t.o = p.o.data();
  if (!softkern::force_isa(isa).ok()) {
    state.SkipWithError("target not supported");
    return;
  }
  for (auto _ : state) {
    const softkern::Status s = softkern::attention(t);
    if (!s.ok()) {
      state.SkipWithError(s.message());
      break;
    }
    benchmark::DoNotOptimize(p.o.data());
  }
  softkern::reset_isa();
  state.counters["GFLOP/s"] = benchmark::Counter(CausalFlops(L) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

#ifdef SOFTKERN_BENCH_HAVE_TORCH
void BenchTorchPrefill(benchmark::State& state, std::size_t L) {
  at::set_num_threads(1);
  PrefillData& p = GetPrefill(L);
  const int64_t l = static_cast<int64_t>(L), d = static_cast<int64_t>(kHeadDim);
  const at::Tensor q = at::from_blob(p.q.data(), {l, d}, at::kFloat);
  const at::Tensor k = at::from_blob(p.k.data(), {l, d}, at::kFloat);
  const at::Tensor v = at::from_blob(p.v.data(), {l, d}, at::kFloat);
  const at::Tensor mask = at::full({l, l}, -INFINITY, at::kFloat).triu(1);
  const double scale = 1.0 / std::sqrt(static_cast<double>(kHeadDim));
  auto run = [&] { return at::matmul(at::softmax(at::matmul(q, k.t()) * scale + mask, -1), v); };
  // Check against softkern before timing (both are float32; within 1e-4 absolute on O(1) outputs).
  {
    softkern::AttentionTensors t;
    t.queries = L;
    t.keys = L;
    t.head_dim = kHeadDim;
    t.q = p.q.data();
    t.k = p.k.data();
    t.v = p.v.data();
    t.o = p.o.data();
    if (!softkern::attention(t).ok()) {
      state.SkipWithError("softkern failed");
      return;
    }
    const at::Tensor ref = run().contiguous();
    const float* r = ref.data_ptr<float>();
    float worst = 0;
    for (std::size_t i = 0; i < L * kHeadDim; ++i) worst = std::max(worst, std::fabs(r[i] - p.o[i]));
    state.counters["max_abs_diff"] = worst;
    if (!(worst <= 1e-4f)) {
      state.SkipWithError("pytorch and softkern disagree");
      return;
    }
  }
  for (auto _ : state) {
    at::Tensor out = run();
    benchmark::DoNotOptimize(out.data_ptr<float>());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(CausalFlops(L) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["score_matrix_bytes"] = static_cast<double>(L * L * sizeof(float));
}
#endif

void BenchLinear(benchmark::State& state, Isa isa, std::size_t L) {
  std::vector<float> q(L * kHeadDim), k(L * kHeadDim), v(L * kHeadDim), o(L * kHeadDim);
  std::mt19937 rng(4);
  std::normal_distribution<float> normal(0.0f, 0.3f);
  for (auto* x : {&q, &k, &v})
    for (auto& e : *x) e = normal(rng);
  std::vector<float> S(kHeadDim * kHeadDim);
  const float decay = 0.05f;
  softkern::AttentionTensors t;
  t.queries = L;
  t.keys = L;
  t.head_dim = kHeadDim;
  t.q = q.data();
  t.k = k.data();
  t.v = v.data();
  t.o = o.data();
  softkern::LinearAttentionOptions opt;
  opt.kind = softkern::LinearKind::kDecay;
  opt.decay = &decay;
  if (!softkern::force_isa(isa).ok()) {
    state.SkipWithError("target not supported");
    return;
  }
  for (auto _ : state) {
    std::fill(S.begin(), S.end(), 0.0f);
    const softkern::Status s = softkern::linear_attention(t, S.data(), nullptr, opt);
    if (!s.ok()) {
      state.SkipWithError(s.message());
      break;
    }
    benchmark::DoNotOptimize(o.data());
  }
  softkern::reset_isa();
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * L));
}

std::vector<Isa> Isas() {
  Isa isas[softkern::kIsaCount];
  const std::size_t count = softkern::supported_isas(isas, softkern::kIsaCount);
  return std::vector<Isa>(isas, isas + count);
}

}  // namespace

// Registers every attention benchmark (called from main() in softmax_bench.cpp).
void RegisterAttentionBenchmarks(bool smoke) {
  auto reg = [](const std::string& name, auto&& fn) {
    benchmark::RegisterBenchmark(name.c_str(), fn)->UseRealTime()->Unit(benchmark::kMillisecond);
  };
  const std::vector<Isa> isas = Isas();
  const std::size_t n = smoke ? (std::size_t{1} << 14) : (std::size_t{1} << 20);
  const std::string d = "/d=" + std::to_string(kHeadDim);
  for (KvType type : {KvType::kFloat32, KvType::kBFloat16}) {
    const std::string tn = type == KvType::kFloat32 ? "f32" : "bf16";
    reg("roofline_twin/attention_kv/" + tn + "/n=" + std::to_string(n) + d,
        [=](benchmark::State& s) { BenchTwin(s, n, type); });
    for (Isa isa : isas) {
      reg(std::string("attention_decode/") + softkern::isa_name(isa) + "/" + tn + "/n=" + std::to_string(n) + d,
          [=](benchmark::State& s) { BenchDecode(s, isa, n, type); });
    }
  }
  const std::size_t L = smoke ? 256 : 2048;
  for (Isa isa : isas) {
    reg(std::string("attention_prefill/") + softkern::isa_name(isa) + "/causal/L=n=" + std::to_string(L) + d,
        [=](benchmark::State& s) { BenchPrefill(s, isa, L); });
  }
#ifdef SOFTKERN_BENCH_HAVE_TORCH
  reg("peer/pytorch_attention/causal/L=n=" + std::to_string(L) + d,
      [=](benchmark::State& s) { BenchTorchPrefill(s, L); });
#endif
  const std::vector<std::size_t> lengths =
      smoke ? std::vector<std::size_t>{1024} : std::vector<std::size_t>{4096, 16384, 65536};
  for (std::size_t len : lengths) {
    reg(std::string("linear_attention/") + softkern::isa_name(isas.front()) + "/decay/causal/L=" +
            std::to_string(len) + d,
        [=](benchmark::State& s) { BenchLinear(s, isas.front(), len); });
  }
}

}  // namespace softkern_bench
