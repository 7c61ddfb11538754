// bench/attention_bench.cpp — softkern's attention kernels against the
// machine's two limits and against composed peers. Every name contains
// "attention" or "fma_twin", so --benchmark_filter=attention|fma_twin runs all
// of it; /threads:T is 1 (no executor) or the built-in pool's size
// (AttentionOptions::executor = &default_executor()).
//
//   roofline_twin/attention_kv/<f32|bf16>/n=<n>/d=128/threads:T
//       the memory limit of decode: streams exactly the K and V bytes once
//       (summing 32-bit words), on T threads (halves of the stream).
//   attention_decode/<isa>/<f32|bf16>/n=<n>/d=128/threads:T
//       one query, one head, n keys; bytes_per_second counts K and V once;
//       roofline = time of the twin on T threads / time of the kernel, both
//       timed in this benchmark; roofline_1t = against the one-thread twin.
//   fma_twin/<isa>
//       the compute limit of prefill (fma_twin.hpp): one thread's FMA peak.
//   attention_prefill/<isa>/causal/L=n=<L>/d=<d>/threads:T
//       one head, causal; GFLOP/s over 4 d flops per visible (query, key)
//       pair (L (L + 1) / 2 pairs: q.k and p v, 2 flops per multiply-add);
//       fma_fraction = GFLOP/s / (T x the twin's, measured in this benchmark).
//   attention_prefill_peer/<pytorch|onednn>/causal/L=n=<L>/d=<d>/threads:1
//       the peers of peers.hpp, same tensors, same flop count (they compute
//       the full L x L product, twice the causal flops, as their users'
//       compositions do); checked against softkern before timing
//       (max_abs_diff); intermediate_bytes: the L x L matrices they hold.
//   linear_attention/<isa>/decay/causal/L=<L>/H=4/d=128/threads:T
//       chunked Lightning prefill over 4 heads (threads split by head);
//       tokens per second should stay flat as L grows (time linear in L).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <softkern/softkern.hpp>

#include "fma_twin.hpp"
#include "peers.hpp"
#include "plan.hpp"
#include "register.hpp"

namespace softkern_bench {
namespace {

using softkern::Isa;
using softkern::ElementType;

constexpr std::size_t kDecodeHeadDim = 128;

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

// Null for one thread, else the built-in pool (whose size is what the
// machine reports).
softkern::Executor* ExecutorFor(std::size_t threads) {
  return threads > 1 ? &softkern::default_executor() : nullptr;
}

// K and V of one head, n x d, in the requested type, kept for the whole run
// (1 GiB at n = 1 Mi in float32, half that in bf16): the benchmarks run in
// random order, and regenerating a cache per benchmark would dominate the run.
struct KvCache {
  std::size_t n = 0;
  ElementType type = ElementType::kFloat32;
  Bytes k, v;
  std::size_t bytes_each = 0;
};

KvCache& GetCache(std::size_t n, ElementType type) {
  static std::map<std::pair<std::size_t, int>, KvCache> caches;
  KvCache& cache = caches[{n, static_cast<int>(type)}];
  if (cache.k) return cache;
  const std::size_t elems = n * kDecodeHeadDim;
  const std::size_t esize = type == ElementType::kFloat32 ? 4 : 2;
  cache.k = AllocateBytes(elems * esize);
  cache.v = AllocateBytes(elems * esize);
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (std::size_t i = 0; i < elems; ++i) {
    const float kf = normal(rng), vf = normal(rng);
    if (type == ElementType::kFloat32) {
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

// The roofline twin: reads every byte of [a, a + bytes) and [b, b + bytes)
// once, as 32-bit words.
std::uint32_t StreamOnce(const unsigned char* a, const unsigned char* b, std::size_t bytes) {
  const std::size_t words = bytes / 4;
  const auto* wa = reinterpret_cast<const std::uint32_t*>(a);
  const auto* wb = reinterpret_cast<const std::uint32_t*>(b);
  std::uint32_t sum = 0;
#pragma omp simd reduction(+ : sum)
  for (std::size_t i = 0; i < words; ++i) sum += wa[i] + wb[i];
  return sum;
}

// The twin on `threads` threads: the K and V streams cut into 64 equal
// pieces (whole cache lines), handed to the executor like the kernel's chunks.
std::uint32_t StreamOnceOn(const KvCache& c, std::size_t threads) {
  softkern::Executor* executor = ExecutorFor(threads);
  if (executor == nullptr) return StreamOnce(c.k.get(), c.v.get(), c.bytes_each);
  struct Job {
    const KvCache* c;
    std::size_t piece;
    std::uint32_t sums[64];
  } job{&c, (c.bytes_each / 64 + 63) / 64 * 64, {}};
  executor->run(64,
                [](void* context, std::size_t i) {
                  Job& j = *static_cast<Job*>(context);
                  const std::size_t begin = std::min(j.c->bytes_each, i * j.piece);
                  const std::size_t end = std::min(j.c->bytes_each, begin + j.piece);
                  j.sums[i] = StreamOnce(j.c->k.get() + begin, j.c->v.get() + begin, end - begin);
                },
                &job);
  std::uint32_t sum = 0;
  for (std::uint32_t s : job.sums) sum += s;
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

void BenchKvTwin(benchmark::State& state, std::size_t n, ElementType type, std::size_t threads) {
  KvCache& c = GetCache(n, type);
  for (auto _ : state) benchmark::DoNotOptimize(StreamOnceOn(c, threads));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * 2 * c.bytes_each));
}

void BenchDecode(benchmark::State& state, Isa isa, std::size_t n, ElementType type, std::size_t threads) {
  KvCache& c = GetCache(n, type);
  std::vector<float> q(kDecodeHeadDim), o(kDecodeHeadDim);
  std::mt19937 rng(2);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (auto& x : q) x = normal(rng);
  softkern::AttentionTensors t;
  t.queries = 1;
  t.keys = n;
  t.head_dim = kDecodeHeadDim;
  t.q = q.data();
  if (type == ElementType::kFloat32) {  // the cache's raw bytes, as the type they were filled with
    t.k = reinterpret_cast<const float*>(c.k.get());
    t.v = reinterpret_cast<const float*>(c.v.get());
  } else {
    t.k = reinterpret_cast<const softkern::bfloat16*>(c.k.get());
    t.v = reinterpret_cast<const softkern::bfloat16*>(c.v.get());
  }
  t.o = o.data();
  softkern::AttentionOptions options;
  options.executor = ExecutorFor(threads);
  if (!softkern::force_isa(isa).ok()) {
    state.SkipWithError("target not supported");
    return;
  }
  // The twins, timed here, in the same process, just before the kernel.
  volatile std::uint32_t sink = 0;
  const double twin = SecondsOf([&] { sink = sink + StreamOnceOn(c, threads); }, 3);
  const double twin_1t = threads == 1 ? twin : SecondsOf([&] { sink = sink + StreamOnceOn(c, 1); }, 3);
  // The one-thread twin in this thread's CPU time (median of 3).
  std::vector<double> twin_cpu;
  for (int r = 0; r < 3; ++r) {
    const double c0 = ThreadCpuSeconds();
    sink = sink + StreamOnceOn(c, 1);
    twin_cpu.push_back(ThreadCpuSeconds() - c0);
  }
  std::sort(twin_cpu.begin(), twin_cpu.end());
  double total = 0;
  const double cpu0 = ProcessCpuSeconds();
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    const softkern::Status s = softkern::attention(t, options);
    total += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!s.ok()) {
      state.SkipWithError(s.message());
      break;
    }
    benchmark::DoNotOptimize(o.data());
  }
  softkern::reset_isa();
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * 2 * c.bytes_each));
  if (state.iterations() > 0) {
    const double per_call = total / static_cast<double>(state.iterations());
    state.counters["roofline"] = twin / per_call;
    state.counters["roofline_1t"] = twin_1t / per_call;
    // CPU time of all threads per call against the one-thread twin's: the
    // roofline with the time other processes took left out (one thread).
    if (threads == 1) {
      state.counters["roofline_cpu"] =
          twin_cpu[1] / ((ProcessCpuSeconds() - cpu0) / static_cast<double>(state.iterations()));
    }
  }
}

// Prefill: q, k, v [L, d] float32, one head, causal.
struct PrefillData {
  std::size_t L = 0, d = 0;
  std::vector<float> q, k, v, o;
};

PrefillData& GetPrefill(std::size_t L, std::size_t d) {
  static std::map<std::pair<std::size_t, std::size_t>, PrefillData> shapes;
  PrefillData& p = shapes[{L, d}];
  if (p.L == L && p.d == d) return p;
  p.L = L;
  p.d = d;
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (auto* x : {&p.q, &p.k, &p.v}) {
    x->resize(L * d);
    for (auto& e : *x) e = normal(rng);
  }
  p.o.assign(L * d, 0.0f);
  return p;
}

double CausalFlops(std::size_t L, std::size_t d) {
  return 4.0 * static_cast<double>(d) * static_cast<double>(L) * static_cast<double>(L + 1) / 2.0;
}

softkern::Status SoftkernPrefill(PrefillData& p, softkern::Executor* executor) {
  softkern::AttentionTensors t;
  t.queries = p.L;
  t.keys = p.L;
  t.head_dim = p.d;
  t.q = p.q.data();
  t.k = p.k.data();
  t.v = p.v.data();
  t.o = p.o.data();
  softkern::AttentionOptions options;
  options.executor = executor;
  return softkern::attention(t, options);
}

void BenchFmaTwin(benchmark::State& state, Isa isa) {
  FmaPeak peak;
  for (auto _ : state) peak = FmaPeakFlops(isa);
  if (peak.wall == 0) state.SkipWithError("no FMA twin for this target");
  state.counters["GFLOP/s"] = peak.wall * 1e-9;
  state.counters["GFLOP/s_cpu"] = peak.cpu * 1e-9;
}

void BenchPrefill(benchmark::State& state, Isa isa, std::size_t L, std::size_t d, std::size_t threads) {
  PrefillData& p = GetPrefill(L, d);
  if (!softkern::force_isa(isa).ok()) {
    state.SkipWithError("target not supported");
    return;
  }
  const FmaPeak peak = FmaPeakFlops(isa);  // this run's compute limit, one thread
  double total = 0;
  const double cpu0 = ProcessCpuSeconds();
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    const softkern::Status s = SoftkernPrefill(p, ExecutorFor(threads));
    total += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!s.ok()) {
      state.SkipWithError(s.message());
      break;
    }
    benchmark::DoNotOptimize(p.o.data());
  }
  softkern::reset_isa();
  state.counters["GFLOP/s"] = benchmark::Counter(CausalFlops(L, d) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  const double cpu = ProcessCpuSeconds() - cpu0;
  if (state.iterations() > 0 && peak.wall > 0) {
    const double flops = CausalFlops(L, d) * static_cast<double>(state.iterations());
    state.counters["fma_fraction"] = flops / total / (static_cast<double>(threads) * peak.wall);
    // Per second of CPU time of all threads, against the twin's CPU-time
    // peak: the fraction with the time other processes took left out.
    state.counters["fma_fraction_cpu"] = flops / cpu / peak.cpu;
  }
}

void BenchPeerPrefill(benchmark::State& state, PeerAttention* peer, std::size_t L, std::size_t d) {
  PrefillData& p = GetPrefill(L, d);
  std::string why;
  if (!peer->prepare(L, d, p.q.data(), p.k.data(), p.v.data(), &why)) {
    state.SkipWithError(why.c_str());
    return;
  }
  // Checked against softkern before timing (both float32; within 1e-4
  // absolute on outputs of magnitude about 1).
  if (!SoftkernPrefill(p, nullptr).ok()) {
    state.SkipWithError("softkern failed");
    return;
  }
  std::vector<float> out(L * d);
  peer->run(out.data());
  float worst = 0;
  for (std::size_t i = 0; i < L * d; ++i) worst = std::max(worst, std::fabs(out[i] - p.o[i]));
  state.counters["max_abs_diff"] = worst;
  if (!(worst <= 1e-4f)) {
    state.SkipWithError("the peer and softkern disagree");
    return;
  }
  for (auto _ : state) {
    peer->run(out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(CausalFlops(L, d) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["intermediate_bytes"] = peer->intermediate_bytes();
}

constexpr std::size_t kLinearHeads = 4;

void BenchLinear(benchmark::State& state, Isa isa, std::size_t L, std::size_t threads) {
  const std::size_t d = kDecodeHeadDim, H = kLinearHeads;
  std::vector<float> q(L * H * d), k(L * H * d), v(L * H * d), o(L * H * d);
  std::mt19937 rng(4);
  std::normal_distribution<float> normal(0.0f, 0.3f);
  for (auto* x : {&q, &k, &v})
    for (auto& e : *x) e = normal(rng);
  std::vector<float> S(H * d * d);
  const std::vector<float> decay(H, 0.05f);
  softkern::AttentionTensors t;
  t.queries = L;
  t.keys = L;
  t.heads = H;
  t.kv_heads = H;
  t.head_dim = d;
  t.q = q.data();
  t.k = k.data();
  t.v = v.data();
  t.o = o.data();
  softkern::LinearAttentionOptions opt;
  opt.kind = softkern::LinearKind::kDecay;
  opt.decay = decay.data();
  opt.executor = ExecutorFor(threads);
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

}  // namespace

void RegisterAttentionBenchmarks(bool smoke) {
  auto reg = [](const std::string& name, auto&& fn) { Register(name, fn, benchmark::kMillisecond); };
  const std::vector<Isa> isas = SupportedIsas();
  std::vector<std::size_t> thread_counts = {1};
  if (softkern::default_executor().concurrency() > 1) thread_counts.push_back(softkern::default_executor().concurrency());
  auto tn = [](std::size_t threads) { return "/threads:" + std::to_string(threads); };

  // Peers run one thread; say which BLAS and threading libraries they loaded.
  static std::vector<std::unique_ptr<PeerAttention>> peers = MakeAttentionPeers();
  const std::string libraries = LoadedMathLibraries();
  std::printf("attention peers' libraries: %s\n", libraries.c_str());
  benchmark::AddCustomContext("attention_peer_libraries", libraries);

  const std::size_t n = smoke ? (std::size_t{1} << 14) : (std::size_t{1} << 20);
  const std::string d128 = "/d=" + std::to_string(kDecodeHeadDim);
  for (ElementType type : {ElementType::kFloat32, ElementType::kBFloat16}) {
    const std::string type_name = type == ElementType::kFloat32 ? "f32" : "bf16";
    for (std::size_t threads : thread_counts) {
      reg("roofline_twin/attention_kv/" + type_name + "/n=" + std::to_string(n) + d128 + tn(threads),
          [=](benchmark::State& s) { BenchKvTwin(s, n, type, threads); });
      for (Isa isa : isas) {
        reg(std::string("attention_decode/") + softkern::isa_name(isa) + "/" + type_name + "/n=" +
                std::to_string(n) + d128 + tn(threads),
            [=](benchmark::State& s) { BenchDecode(s, isa, n, type, threads); });
      }
    }
  }

  for (Isa isa : isas) {
    reg(std::string("fma_twin/") + softkern::isa_name(isa), [=](benchmark::State& s) { BenchFmaTwin(s, isa); });
  }
  const std::vector<std::size_t> lengths = smoke ? std::vector<std::size_t>{256} : std::vector<std::size_t>{2048, 8192};
  for (std::size_t L : lengths) {
    for (std::size_t d : {std::size_t{128}, std::size_t{64}}) {
      const std::string shape = "/causal/L=n=" + std::to_string(L) + "/d=" + std::to_string(d);
      for (Isa isa : isas) {
        // The scalar target only at the smallest shape: it is the reference
        // path, and 8192^2 causal pairs take seconds per call there.
        if (isa == Isa::kScalar && L != lengths.front()) continue;
        for (std::size_t threads : thread_counts) {
          reg(std::string("attention_prefill/") + softkern::isa_name(isa) + shape + tn(threads),
              [=](benchmark::State& s) { BenchPrefill(s, isa, L, d, threads); });
        }
      }
      for (const auto& peer : peers) {
        PeerAttention* p = peer.get();
        reg(std::string("attention_prefill_peer/") + p->name() + shape + tn(1),
            [=](benchmark::State& s) { BenchPeerPrefill(s, p, L, d); });
      }
    }
  }

  const std::vector<std::size_t> linear_lengths =
      smoke ? std::vector<std::size_t>{1024} : std::vector<std::size_t>{4096, 16384, 65536};
  for (std::size_t len : linear_lengths) {
    for (std::size_t threads : thread_counts) {
      reg(std::string("linear_attention/") + softkern::isa_name(isas.front()) + "/decay/causal/L=" +
              std::to_string(len) + "/H=" + std::to_string(kLinearHeads) + d128 + tn(threads),
          [=](benchmark::State& s) { BenchLinear(s, isas.front(), len, threads); });
    }
  }
}

}  // namespace softkern_bench
