// attention_batch (serving.hpp) on every supported target: the identities
// the API promises, tested bit for bit.
//  - paged = dense: each sequence of a batch over a paged cache (block sizes
//    1, 5, 16, 32, 33, 128, 256; default and head-major blocks; blocks
//    shuffled through the pool, shared prefixes) equals attention() over its
//    context gathered into a dense tensor in logical order;
//  - batch = its sequences: a packed dense batch equals attention() on each
//    sequence alone, for decode, chunked prefill and prefill mixed, every
//    score function and option;
//  - any executor = the same executor on each sequence alone: split-KV
//    decode (long contexts), query blocks, in one run, in any task order
//    and thread count;
//  - every rejected call writes nothing.
// Accuracy against a reference is attention()'s (test_attention.cpp): these
// calls are it, sequence by sequence; quantized caches' in
// test_quantized_kv.cpp.
#include <thread>

#include "serving_support.hpp"
#include "test_executors.hpp"

namespace softkern_test {
namespace {

using softkern::AttentionBatch;
using softkern::AttentionOptions;
using softkern::AttentionTensors;
using softkern::ElementType;
using softkern::ScoreFunction;

// A mixed batch: decode steps, a chunk of a prefill with a cached prefix, a
// whole prompt, an empty sequence and one with no queries.
std::vector<SequenceShape> mixed_shapes() {
  return {{1, 37}, {1, 1}, {9, 60}, {33, 33}, {0, 12}, {1, 130}, {0, 0}, {4, 200}};
}

TEST(Serving, PagedEqualsGatheredDense) {
  // Every block size with float32 and int8 (per-key scales walk the table
  // too); the other types at a block size below and one above the kernels'
  // 32-key blocks.
  // Under the boundary sweep: float32 at 1 and 33 and (head-major) 16, one
  // size for int8, bf16 and fp8 E4M3 (each dequantizes and walks the table
  // as the others of its kind).
  const std::vector<std::size_t> all_sizes =
      full_sweep() ? std::vector<std::size_t>{1, 5, 16, 32, 33, 128, 256} : std::vector<std::size_t>{1, 16, 33};
  auto sizes_of = [&](ElementType type) -> std::vector<std::size_t> {
    if (type == ElementType::kFloat32) return all_sizes;
    if (full_sweep()) return type == ElementType::kInt8 ? all_sizes : std::vector<std::size_t>{16, 33};
    if (type == ElementType::kInt8 || type == ElementType::kFloat8E4M3) return {16};
    if (type == ElementType::kBFloat16) return {33};
    return {};
  };
  for_each_supported_isa([&](Isa isa) {
    FailureLog log;
    for (ElementType type : {ElementType::kFloat32, ElementType::kBFloat16, ElementType::kFloat16, ElementType::kInt8,
                             ElementType::kFloat8E4M3, ElementType::kFloat8E5M2}) {
      for (std::size_t bs : sizes_of(type)) {
        for (bool head_major : {false, true}) {
          // Boundary sweep: head-major blocks for float32 at 16 only.
          if (!full_sweep() && head_major && (type != ElementType::kFloat32 || bs != 16)) continue;
          if (!full_sweep() && !head_major && type == ElementType::kFloat32 && bs == 16) continue;
          BatchData x = make_batch(mixed_shapes(), 8, 2, 64, type, 7 + bs);
          x.make_pool(bs, head_major, /*share_prefix=*/true, 100 + bs);
          for (const auto& [name, options] : option_sets(x)) {
            const std::string what = std::string(softkern::isa_name(isa)) + " paged " + type_label(type) +
                                     " block=" + std::to_string(bs) + (head_major ? " head-major " : " ") + name;
            expect_batch_equals_sequences(x, x.paged_batch(), options, nullptr, what, log);
          }
        }
      }
    }
  });
}

TEST(Serving, DenseBatchEqualsSequences) {
  for_each_supported_isa([&](Isa isa) {
    FailureLog log;
    for (ElementType type : {ElementType::kFloat32, ElementType::kBFloat16, ElementType::kInt8, ElementType::kFloat8E4M3}) {
      using Heads = std::tuple<std::size_t, std::size_t, std::size_t>;
      for (const auto& [H, Hk, d] : full_sweep() ? std::vector<Heads>{{8, 2, 64}, {4, 4, 3}, {20, 1, 128}}
                                                 : std::vector<Heads>{{8, 2, 64}}) {
        BatchData x = make_batch(mixed_shapes(), H, Hk, d, type, 3 + d);
        for (const auto& [name, options] : option_sets(x)) {
          const std::string what = std::string(softkern::isa_name(isa)) + " dense " + type_label(type) + " H=" +
                                   std::to_string(H) + "/" + std::to_string(Hk) + " d=" + std::to_string(d) + " " + name;
          expect_batch_equals_sequences(x, x.dense_batch(), options, nullptr, what, log);
        }
      }
    }
  });
}

// A context longer than the L2 holds (K/V of one head beyond PerCoreL2Bytes
// for a 1 MiB L2): rows are prefetched ahead through the block table, and
// the table of the last sequence ends exactly at its last block, so a walk
// past it would read outside it (the sanitizers' run sees that).
TEST(Serving, PagedLongContextWithPrefetch) {
  const std::size_t n = full_sweep() ? 300000 : 140000;
  for_each_supported_isa([&](Isa isa) {
    FailureLog log;
    for (std::size_t bs : full_sweep() ? std::vector<std::size_t>{16, 7} : std::vector<std::size_t>{7}) {
      BatchData x = make_batch({{1, 50}, {2, n}}, 2, 1, 1, ElementType::kFloat32, 11);
      x.make_pool(bs, false, false, 12);
      x.tables.resize(x.table_stride + (n + bs - 1) / bs);
      x.tables.shrink_to_fit();
      AttentionOptions o;
      const std::string what = std::string(softkern::isa_name(isa)) + " long paged block=" + std::to_string(bs);
      expect_batch_equals_sequences(x, x.paged_batch(), o, nullptr, what, log);
      if (full_sweep()) expect_batch_equals_sequences(x, x.paged_batch(), o, &softkern::default_executor(), what + " executor", log);
    }
  });
}

// One long decode sequence (split into KV chunks) among short ones and a
// prefill (query blocks): each sequence equals attention() alone on the same
// kind of executor, and every executor gives the same bits.
TEST(Serving, ExecutorBatchEqualsSequencesAndExecutors) {
  const std::vector<SequenceShape> shapes = full_sweep()
                                                ? std::vector<SequenceShape>{{1, 9000}, {1, 40}, {70, 300}, {1, 8200}, {3, 17}}
                                                : std::vector<SequenceShape>{{1, 40}, {70, 130}, {1, 8200}};
  for_each_supported_isa([&](Isa isa) {
    FailureLog log;
    for (bool paged : {false, true}) {
      if (!full_sweep() && !paged) continue;
      BatchData x = make_batch(shapes, 4, 2, 8, ElementType::kBFloat16, 5);
      if (paged) x.make_pool(16, false, false, 9);
      const AttentionBatch batch = paged ? x.paged_batch() : x.dense_batch();
      for (const auto& [name, options] : option_sets(x)) {
        if (!full_sweep() && options.softcap == 0.0f) continue;
        const std::string what = std::string(softkern::isa_name(isa)) + (paged ? " paged " : " dense ") + name;
        std::vector<std::vector<float>> results;
        for (softkern::Executor* e : {static_cast<softkern::Executor*>(&in_order), static_cast<softkern::Executor*>(&reversed),
                                      static_cast<softkern::Executor*>(&two_threads), &softkern::default_executor()}) {
          if (e == &softkern::default_executor() && e->concurrency() < 2) continue;
          if (!full_sweep() && e != &two_threads) continue;
          expect_batch_equals_sequences(x, batch, options, e, what, log);
          std::vector<float> out(x.rows() * x.H * x.d);
          AttentionBatch b = batch;
          b.o = out.data();
          AttentionOptions o = options;
          o.executor = e;
          ASSERT_TRUE(softkern::attention_batch(b, o).ok());
          results.push_back(out);
        }
        for (std::size_t r = 1; r < results.size(); ++r) {
          if (!bitwise_equal(results[0].data(), results[r].data(), results[0].size())) {
            log.add(what + ": executor " + std::to_string(r) + " gives other bits than executor 0");
          }
        }
      }
    }
  });
}

// Every rejected call: its status code, and not one byte of o or lse written.
TEST(Serving, RejectedCallsWriteNothing) {
  BatchData x = make_batch(mixed_shapes(), 8, 2, 64, ElementType::kFloat32, 1);
  x.make_pool(16, false, false, 2);
  std::vector<std::int32_t> bad_offsets = x.q_off, bad_tables = x.tables;
  const std::vector<RejectedCase> cases = {
      {"null query_offsets", StatusCode::kNullPointer, [](AttentionBatch& b, AttentionOptions&) { b.query_offsets = nullptr; }},
      {"null key_offsets", StatusCode::kNullPointer, [](AttentionBatch& b, AttentionOptions&) { b.key_offsets = nullptr; }},
      {"decreasing query offsets", StatusCode::kBadArgument,
       [&](AttentionBatch& b, AttentionOptions&) {
         bad_offsets = x.q_off;
         bad_offsets[3] = bad_offsets[2] - 1 < 0 ? 0 : bad_offsets[2] - 1;
         bad_offsets[2] += 1;
         b.query_offsets = bad_offsets.data();
       }},
      {"negative key offset", StatusCode::kBadArgument,
       [&](AttentionBatch& b, AttentionOptions&) {
         bad_offsets = x.k_off;
         bad_offsets[0] = -1;
         b.key_offsets = bad_offsets.data();
       }},
      {"block id past the pool", StatusCode::kBadArgument,
       [&](AttentionBatch& b, AttentionOptions&) {
         bad_tables = x.tables;
         bad_tables[x.table_stride * 7 + 3] = static_cast<std::int32_t>(x.num_blocks);
         b.paged.block_tables = bad_tables.data();
       }},
      {"negative block id", StatusCode::kBadArgument,
       [&](AttentionBatch& b, AttentionOptions&) {
         bad_tables = x.tables;
         bad_tables[0] = -1;
         b.paged.block_tables = bad_tables.data();
       }},
      {"block size 0", StatusCode::kBadArgument, [](AttentionBatch& b, AttentionOptions&) { b.paged.block_size = 0; }},
      {"block size 257", StatusCode::kBadArgument, [](AttentionBatch& b, AttentionOptions&) { b.paged.block_size = 257; }},
      {"table stride below the longest context", StatusCode::kBadStride,
       [](AttentionBatch& b, AttentionOptions&) { b.paged.block_table_stride = 2; }},
      {"dense and paged both", StatusCode::kBadArgument,
       [&](AttentionBatch& b, AttentionOptions&) { b.k = kv_pointer(x.kbytes.data(), x.type); }},
      {"pools without tables", StatusCode::kNullPointer,
       [](AttentionBatch& b, AttentionOptions&) { b.paged.block_tables = nullptr; }},
      {"null pool", StatusCode::kNullPointer, [](AttentionBatch& b, AttentionOptions&) { b.paged.v = nullptr; }},
      {"more queries than keys, causal", StatusCode::kBadArgument,
       [&](AttentionBatch& b, AttentionOptions&) {
         bad_offsets = x.k_off;
         for (std::size_t i = 4; i < bad_offsets.size(); ++i) bad_offsets[i] -= 30;  // sequence 3: 33 queries, 3 keys
         b.key_offsets = bad_offsets.data();
       }},
      {"heads not a multiple of kv_heads", StatusCode::kBadArgument, [](AttentionBatch& b, AttentionOptions&) { b.kv_heads = 3; }},
      {"head_dim 257", StatusCode::kBadArgument, [](AttentionBatch& b, AttentionOptions&) { b.head_dim = 257; }},
      {"o rows overlap", StatusCode::kBadStride, [](AttentionBatch& b, AttentionOptions&) { b.o_row_stride = 10; }},
      {"o overlaps q", StatusCode::kOverlap, [](AttentionBatch& b, AttentionOptions&) { b.q = b.o + 1; }},
      {"o overlaps the K pool", StatusCode::kOverlap,
       [](AttentionBatch& b, AttentionOptions&) { b.paged.k = static_cast<const float*>(b.o) + 3; }},
      {"lse overlaps the block tables", StatusCode::kOverlap,
       [](AttentionBatch& b, AttentionOptions&) { b.lse = const_cast<float*>(reinterpret_cast<const float*>(b.paged.block_tables)); }},
      {"lse with sigmoid", StatusCode::kBadArgument,
       [](AttentionBatch&, AttentionOptions& o) { o.score = ScoreFunction::kSigmoid; }},
      {"temperature 0", StatusCode::kBadTemperature, [](AttentionBatch&, AttentionOptions& o) { o.temperature = 0; }},
      {"huge pool stride", StatusCode::kBadStride,
       [](AttentionBatch& b, AttentionOptions&) { b.paged.block_stride = SIZE_MAX / 16; }},
  };
  expect_rejected(x, cases, true);
}

}  // namespace
}  // namespace softkern_test
