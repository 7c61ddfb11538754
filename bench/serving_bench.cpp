// bench/serving_bench.cpp — attention for serving engines (serving.hpp)
// against the memory it must read. Every name starts with "serving", so
// --benchmark_filter=serving runs all of it; /threads:T is 1 (no executor)
// or the built-in pool's size.
//
//   serving_decode/<isa>/<type>/<paged|dense>/B=32/H=32/Hk=8/d=128/block=16/threads:T
//       a decode step of 32 sequences (Llama-3-8B's attention shape), their
//       contexts drawn from [512, 32 Ki] with a fixed seed, K/V float32,
//       bf16, int8 or fp8 (E4M3); paged: block tables over a shuffled pool;
//       dense: the same batch as one packed [keys, Hk, d] tensor.
//       items_per_second: tokens (one per sequence) per second;
//       bytes_per_second: the K and V bytes (and int8's scales) read once;
//       roofline: time of the twin below / time of the call, both timed in
//       this benchmark; vs_dense (paged rows): time of the same batch over
//       the dense tensor / time of the paged call.
//   serving_kv_twin/<type>/<paged|dense>/.../threads:T
//       the roofline twin: reads exactly the batch's K and V bytes, sequence
//       by sequence, block by block in table order (K block, then V block),
//       summing 32-bit words; T threads take whole sequences.
//   serving_mixed/<isa>/bf16/prefill=2048+decode=31/.../threads:T
//       chunked-prefill serving: one sequence prefilling a 2048-token prompt
//       and 31 decoding, one call; items_per_second counts the 2079 query
//       tokens; speedup_vs_1t (T > 1): the one-thread call's time / this one.
//   serving_gqa_decode/<isa>/<bf16|f16>/n=32768/H=32/Hk=8/d=128/threads:T
//       one sequence, head-major cache; roofline against streaming its K and
//       V once; vs_kv_head_loop: time of 8 single-KV-head calls (4 query
//       heads each) / time of the one GQA call; vs_query_head_loop: time of
//       32 single-head calls (each K/V row read once per query head, the
//       loop a caller without GQA support writes) / time of the GQA call.
// The one-head decode rows (n = 1 Mi against the twin) are attention_bench's
// attention_decode rows.
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
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <softkern/softkern.hpp>

#include "plan.hpp"
#include "register.hpp"

namespace softkern_bench {
namespace {

using softkern::ElementType;
using softkern::Isa;

constexpr std::size_t kHeads = 32, kKvHeads = 8, kHeadDim = 128, kBlock = 16, kSequences = 32;
constexpr std::size_t kMinContext = 512, kMaxContext = 32768;

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using Bytes = std::unique_ptr<unsigned char[], FreeDeleter>;

softkern::Executor* ExecutorFor(std::size_t threads) { return threads > 1 ? &softkern::default_executor() : nullptr; }

double Now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

double MedianSeconds(const std::function<void()>& f, int repetitions) {
  std::vector<double> t;
  for (int r = 0; r < repetitions; ++r) {
    const double t0 = Now();
    f();
    t.push_back(Now() - t0);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Random bytes from [0x00, 0x3F] and [0x80, 0xBF]: finite, moderate values
// read as any K/V type (float32, bf16, f16, int8, fp8: no exponent field is
// all ones), so one buffer serves every type's rows.
void FillFinite(unsigned char* p, std::size_t bytes, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::size_t i = 0;
  for (; i + 8 <= bytes; i += 8) {
    std::uint64_t r = rng() & 0xBFBFBFBFBFBFBFBFull;
    std::memcpy(p + i, &r, 8);
  }
  for (; i < bytes; ++i) p[i] = static_cast<unsigned char>(rng() & 0xBF);
}

softkern::KvPointer KvOf(const unsigned char* p, ElementType type) {
  switch (type) {
    case ElementType::kBFloat16: return reinterpret_cast<const softkern::bfloat16*>(p);
    case ElementType::kFloat16: return reinterpret_cast<const softkern::float16*>(p);
    case ElementType::kInt8: return reinterpret_cast<const std::int8_t*>(p);
    case ElementType::kFloat8E4M3: return reinterpret_cast<const softkern::float8_e4m3*>(p);
    default: return reinterpret_cast<const float*>(p);
  }
}

const char* TypeName(ElementType type) {
  switch (type) {
    case ElementType::kBFloat16: return "bf16";
    case ElementType::kFloat16: return "f16";
    case ElementType::kInt8: return "int8";
    case ElementType::kFloat8E4M3: return "fp8_e4m3";
    default: return "f32";
  }
}

// The K and V pools (sized for float32, so every type's rows fit), the
// queries and outputs, int8's per-slot scales and fp8's per-head scales,
// shared by every batch below (4.4 GiB at the default sizes).
struct Pool {
  std::size_t blocks = 0;
  Bytes k, v;
  std::vector<float> slot_scales, head_scales, q, o;
};

Pool& GetPool(std::size_t blocks, std::size_t query_rows) {
  static Pool pool;
  if (pool.blocks >= blocks && pool.q.size() >= query_rows * kHeads * kHeadDim) return pool;
  const std::size_t bytes = blocks * kBlock * kKvHeads * kHeadDim * sizeof(float);
  pool.k = Bytes(static_cast<unsigned char*>(std::aligned_alloc(64, bytes)));
  pool.v = Bytes(static_cast<unsigned char*>(std::aligned_alloc(64, bytes)));
  FillFinite(pool.k.get(), bytes, 1);
  FillFinite(pool.v.get(), bytes, 2);
  pool.slot_scales.assign(blocks * kBlock * kKvHeads, 1.0f / 64);
  pool.head_scales.assign(kKvHeads, 1.0f / 16);
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  pool.q.resize(query_rows * kHeads * kHeadDim);
  for (float& x : pool.q) x = normal(rng);
  pool.o.assign(query_rows * kHeads * kHeadDim, 0.0f);
  pool.blocks = blocks;
  return pool;
}

// A batch: its offsets and block tables (blocks shuffled through the pool,
// as a server's allocator leaves them after a while).
struct Batch {
  std::vector<std::int32_t> q_off, k_off, tables;
  std::size_t table_stride = 0, blocks = 0, query_rows = 0;
};

Batch MakeBatch(const std::vector<std::size_t>& queries, const std::vector<std::size_t>& contexts) {
  Batch b;
  b.q_off.push_back(0);
  b.k_off.push_back(0);
  for (std::size_t s = 0; s < contexts.size(); ++s) {
    b.q_off.push_back(b.q_off.back() + static_cast<std::int32_t>(queries[s]));
    b.k_off.push_back(b.k_off.back() + static_cast<std::int32_t>(contexts[s]));
    b.table_stride = std::max(b.table_stride, (contexts[s] + kBlock - 1) / kBlock);
  }
  b.query_rows = static_cast<std::size_t>(b.q_off.back());
  for (std::size_t c : contexts) b.blocks += (c + kBlock - 1) / kBlock;
  std::vector<std::int32_t> order(b.blocks);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(4);
  std::shuffle(order.begin(), order.end(), rng);
  b.tables.assign(contexts.size() * b.table_stride, 0);
  std::size_t next = 0;
  for (std::size_t s = 0; s < contexts.size(); ++s) {
    for (std::size_t i = 0; i < (contexts[s] + kBlock - 1) / kBlock; ++i) b.tables[s * b.table_stride + i] = order[next++];
  }
  return b;
}

// The decode batch: 32 contexts uniform in [512, 32 Ki], seed 5.
const Batch& DecodeBatch() {
  static const Batch batch = [] {
    std::mt19937_64 rng(5);
    std::uniform_int_distribution<std::size_t> context(kMinContext, kMaxContext);
    std::vector<std::size_t> contexts(kSequences);
    for (std::size_t& c : contexts) c = context(rng);
    return MakeBatch(std::vector<std::size_t>(kSequences, 1), contexts);
  }();
  return batch;
}

// The mixed batch: a 2048-token prompt, then 31 of the decode contexts.
const Batch& MixedBatch() {
  static const Batch batch = [] {
    const Batch& d = DecodeBatch();
    std::vector<std::size_t> queries = {2048}, contexts = {2048};
    for (std::size_t s = 0; s + 1 < kSequences; ++s) {
      queries.push_back(1);
      contexts.push_back(static_cast<std::size_t>(d.k_off[s + 1] - d.k_off[s]));
    }
    return MakeBatch(queries, contexts);
  }();
  return batch;
}

softkern::AttentionBatch BatchCall(const Batch& b, Pool& pool, ElementType type, bool paged) {
  softkern::AttentionBatch a;
  a.sequences = b.q_off.size() - 1;
  a.heads = kHeads;
  a.kv_heads = kKvHeads;
  a.head_dim = kHeadDim;
  a.query_offsets = b.q_off.data();
  a.key_offsets = b.k_off.data();
  a.q = pool.q.data();
  a.o = pool.o.data();
  const bool int8 = type == ElementType::kInt8, fp8 = type == ElementType::kFloat8E4M3;
  const float* scales = int8 ? pool.slot_scales.data() : fp8 ? pool.head_scales.data() : nullptr;
  if (paged) {
    a.paged.block_size = kBlock;
    a.paged.num_blocks = pool.blocks;
    a.paged.k = KvOf(pool.k.get(), type);
    a.paged.v = KvOf(pool.v.get(), type);
    a.paged.block_tables = b.tables.data();
    a.paged.block_table_stride = b.table_stride;
    a.paged.k_scales = a.paged.v_scales = scales;
  } else {
    a.k = KvOf(pool.k.get(), type);
    a.v = KvOf(pool.v.get(), type);
    a.k_scales = a.v_scales = scales;
  }
  return a;
}

// The bytes a decode of the batch reads: K and V of every context once,
// and int8's two scales per (key, KV head).
double KvBytes(const Batch& b, ElementType type) {
  const double keys = static_cast<double>(b.k_off.back());
  double bytes = 2.0 * keys * kKvHeads * kHeadDim * static_cast<double>(softkern::element_bytes(type));
  if (type == ElementType::kInt8) bytes += 2.0 * keys * kKvHeads * sizeof(float);
  return bytes;
}

// The twin: every K and V byte of the batch once, sequence by sequence,
// block by block (paged: in table order), as 32-bit words. T threads take
// whole sequences.
std::uint32_t SumWords(const unsigned char* p, std::size_t bytes) {
  const auto* w = reinterpret_cast<const std::uint32_t*>(p);
  std::uint32_t sum = 0;
#pragma omp simd reduction(+ : sum)
  for (std::size_t i = 0; i < bytes / 4; ++i) sum += w[i];
  return sum;
}

std::uint32_t TwinSequence(const Batch& b, const Pool& pool, ElementType type, bool paged, std::size_t s) {
  const std::size_t row = kKvHeads * kHeadDim * softkern::element_bytes(type);
  const std::size_t keys = static_cast<std::size_t>(b.k_off[s + 1] - b.k_off[s]);
  std::uint32_t sum = 0;
  if (!paged) {
    const std::size_t at = static_cast<std::size_t>(b.k_off[s]) * row;
    return SumWords(pool.k.get() + at, keys * row) + SumWords(pool.v.get() + at, keys * row);
  }
  for (std::size_t i = 0; i * kBlock < keys; ++i) {
    const std::size_t at = static_cast<std::size_t>(b.tables[s * b.table_stride + i]) * kBlock * row;
    const std::size_t bytes = std::min(kBlock, keys - i * kBlock) * row;
    sum += SumWords(pool.k.get() + at, bytes) + SumWords(pool.v.get() + at, bytes);
  }
  return sum;
}

std::uint32_t Twin(const Batch& b, const Pool& pool, ElementType type, bool paged, std::size_t threads) {
  const std::size_t sequences = b.q_off.size() - 1;
  std::vector<std::uint32_t> sums(sequences);
  if (threads <= 1) {
    for (std::size_t s = 0; s < sequences; ++s) sums[s] = TwinSequence(b, pool, type, paged, s);
  } else {
    struct Job {
      const Batch* b;
      const Pool* pool;
      ElementType type;
      bool paged;
      std::uint32_t* sums;
    } job{&b, &pool, type, paged, sums.data()};
    softkern::default_executor().run(
        sequences,
        [](void* c, std::size_t s) {
          const Job& j = *static_cast<Job*>(c);
          j.sums[s] = TwinSequence(*j.b, *j.pool, j.type, j.paged, s);
        },
        &job);
  }
  return std::accumulate(sums.begin(), sums.end(), 0u);
}

void BenchTwin(benchmark::State& state, ElementType type, bool paged, std::size_t threads) {
  const Batch& b = DecodeBatch();
  Pool& pool = GetPool(std::max(DecodeBatch().blocks, MixedBatch().blocks), MixedBatch().query_rows);
  for (auto _ : state) benchmark::DoNotOptimize(Twin(b, pool, type, paged, threads));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * KvBytes(b, type)));
}

bool ForceIsa(benchmark::State& state, Isa isa) {
  if (softkern::force_isa(isa).ok()) return true;
  state.SkipWithError("target not supported");
  return false;
}

// Times the call over the state's iterations (wall time), or skips on error.
double TimeCalls(benchmark::State& state, const std::function<softkern::Status()>& call) {
  double total = 0;
  for (auto _ : state) {
    const double t0 = Now();
    const softkern::Status s = call();
    total += Now() - t0;
    if (!s.ok()) {
      state.SkipWithError(s.message());
      return 0;
    }
  }
  return state.iterations() > 0 ? total / static_cast<double>(state.iterations()) : 0;
}

void BenchDecodeBatch(benchmark::State& state, Isa isa, ElementType type, bool paged, std::size_t threads) {
  const Batch& b = DecodeBatch();
  Pool& pool = GetPool(std::max(DecodeBatch().blocks, MixedBatch().blocks), MixedBatch().query_rows);
  if (!ForceIsa(state, isa)) return;
  softkern::AttentionOptions options;
  options.executor = ExecutorFor(threads);
  const softkern::AttentionBatch call = BatchCall(b, pool, type, paged);
  volatile std::uint32_t sink = 0;
  const double twin = MedianSeconds([&] { sink = sink + Twin(b, pool, type, paged, threads); }, 3);
  double dense = 0;
  if (paged) {
    const softkern::AttentionBatch dense_call = BatchCall(b, pool, type, false);
    dense = MedianSeconds([&] { (void)softkern::attention_batch(dense_call, options); }, 3);
  }
  const double per_call = TimeCalls(state, [&] { return softkern::attention_batch(call, options); });
  softkern::reset_isa();
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kSequences));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * KvBytes(b, type)));
  if (per_call > 0) {
    state.counters["roofline"] = twin / per_call;
    if (paged) state.counters["vs_dense"] = dense / per_call;
  }
}

void BenchMixed(benchmark::State& state, Isa isa, std::size_t threads) {
  const Batch& b = MixedBatch();
  Pool& pool = GetPool(std::max(DecodeBatch().blocks, MixedBatch().blocks), MixedBatch().query_rows);
  if (!ForceIsa(state, isa)) return;
  const softkern::AttentionBatch call = BatchCall(b, pool, ElementType::kBFloat16, true);
  softkern::AttentionOptions options, one_thread;
  options.executor = ExecutorFor(threads);
  const double t1 = threads > 1 ? MedianSeconds([&] { (void)softkern::attention_batch(call, one_thread); }, 3) : 0;
  const double per_call = TimeCalls(state, [&] { return softkern::attention_batch(call, options); });
  softkern::reset_isa();
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * b.query_rows));
  if (per_call > 0 && threads > 1) state.counters["speedup_vs_1t"] = t1 / per_call;
}

// One sequence's head-major cache [Hk, n, d] of 16-bit K and V.
struct GqaCache {
  std::size_t n = 0;
  Bytes k, v;
  std::vector<float> q, o;
};

GqaCache& GetGqaCache(std::size_t n) {
  static GqaCache c;
  if (c.n == n) return c;
  const std::size_t bytes = kKvHeads * n * kHeadDim * 2;
  c.k = Bytes(static_cast<unsigned char*>(std::aligned_alloc(64, bytes)));
  c.v = Bytes(static_cast<unsigned char*>(std::aligned_alloc(64, bytes)));
  FillFinite(c.k.get(), bytes, 6);
  FillFinite(c.v.get(), bytes, 7);
  c.q.assign(kHeads * kHeadDim, 0.25f);
  c.o.assign(kHeads * kHeadDim, 0.0f);
  c.n = n;
  return c;
}

void BenchGqaDecode(benchmark::State& state, Isa isa, ElementType type, std::size_t n, std::size_t threads) {
  GqaCache& c = GetGqaCache(n);
  if (!ForceIsa(state, isa)) return;
  softkern::AttentionTensors t;
  t.keys = n;
  t.heads = kHeads;
  t.kv_heads = kKvHeads;
  t.head_dim = kHeadDim;
  t.q = c.q.data();
  t.o = c.o.data();
  t.k = KvOf(c.k.get(), type);
  t.v = KvOf(c.v.get(), type);
  t.kv_row_stride = kHeadDim;
  t.kv_head_stride = n * kHeadDim;
  softkern::AttentionOptions options;
  options.executor = ExecutorFor(threads);
  // Loops a caller writes: one call per KV head (its 4 query heads), or one
  // per query head (no GQA support).
  auto head_loop = [&](std::size_t heads_per_call) {
    const std::size_t group = kHeads / kKvHeads, head_bytes = n * kHeadDim * 2;
    for (std::size_t h = 0; h < kHeads; h += heads_per_call) {
      softkern::AttentionTensors one = t;
      one.heads = heads_per_call;
      one.kv_heads = 1;
      one.q = c.q.data() + h * kHeadDim;
      one.o = c.o.data() + h * kHeadDim;
      one.k = KvOf(c.k.get() + h / group * head_bytes, type);
      one.v = KvOf(c.v.get() + h / group * head_bytes, type);
      one.kv_head_stride = 0;
      (void)softkern::attention(one, options);
    }
  };
  volatile std::uint32_t sink = 0;
  const std::size_t bytes = kKvHeads * n * kHeadDim * 2;
  const double twin = MedianSeconds([&] { sink = sink + SumWords(c.k.get(), bytes) + SumWords(c.v.get(), bytes); }, 3);
  const double kv_head_loop = MedianSeconds([&] { head_loop(kHeads / kKvHeads); }, 3);
  const double query_head_loop = MedianSeconds([&] { head_loop(1); }, 3);
  const double per_call = TimeCalls(state, [&] { return softkern::attention(t, options); });
  softkern::reset_isa();
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * 2 * bytes));
  if (per_call > 0) {
    state.counters["roofline"] = twin / per_call;
    state.counters["vs_kv_head_loop"] = kv_head_loop / per_call;
    state.counters["vs_query_head_loop"] = query_head_loop / per_call;
  }
}

}  // namespace

void RegisterServingBenchmarks(bool smoke) {
  auto reg = [](const std::string& name, auto&& fn) { Register(name, fn, benchmark::kMillisecond); };
  if (smoke) {
    // The batches hold gigabytes of K/V: the smoke run times one short
    // grouped-query decode, so that the serving code still runs in CI.
    for (Isa isa : VectorIsas()) {
      reg(std::string("serving_gqa_decode/") + softkern::isa_name(isa) + "/bf16/n=1024/H=32/Hk=8/d=128/threads:1",
          [=](benchmark::State& s) { BenchGqaDecode(s, isa, ElementType::kBFloat16, 1024, 1); });
    }
    return;
  }
  std::vector<std::size_t> thread_counts = {1};
  if (softkern::default_executor().concurrency() > 1) thread_counts.push_back(softkern::default_executor().concurrency());
  auto tn = [](std::size_t threads) { return "/threads:" + std::to_string(threads); };
  const std::string shape = "/B=32/H=32/Hk=8/d=128/block=16";
  for (ElementType type : {ElementType::kFloat32, ElementType::kBFloat16, ElementType::kInt8, ElementType::kFloat8E4M3}) {
    for (bool paged : {true, false}) {
      const std::string layout = paged ? "/paged" : "/dense";
      for (std::size_t threads : thread_counts) {
        reg(std::string("serving_kv_twin/") + TypeName(type) + layout + shape + tn(threads),
            [=](benchmark::State& s) { BenchTwin(s, type, paged, threads); });
        for (Isa isa : VectorIsas()) {
          reg(std::string("serving_decode/") + softkern::isa_name(isa) + "/" + TypeName(type) + layout + shape + tn(threads),
              [=](benchmark::State& s) { BenchDecodeBatch(s, isa, type, paged, threads); });
        }
      }
    }
  }
  for (std::size_t threads : thread_counts) {
    for (Isa isa : VectorIsas()) {
      reg(std::string("serving_mixed/") + softkern::isa_name(isa) + "/bf16/prefill=2048+decode=31" + shape + tn(threads),
          [=](benchmark::State& s) { BenchMixed(s, isa, threads); });
      for (ElementType type : {ElementType::kBFloat16, ElementType::kFloat16}) {
        reg(std::string("serving_gqa_decode/") + softkern::isa_name(isa) + "/" + TypeName(type) +
                "/n=32768/H=32/Hk=8/d=128" + tn(threads),
            [=](benchmark::State& s) { BenchGqaDecode(s, isa, type, 32768, threads); });
      }
    }
  }
}

}  // namespace softkern_bench
