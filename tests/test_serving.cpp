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
// calls are it, sequence by sequence.
#include <thread>

#include "serving_support.hpp"

namespace softkern_test {
namespace {

using softkern::AttentionBatch;
using softkern::AttentionOptions;
using softkern::AttentionTensors;
using softkern::ElementType;
using softkern::ScoreFunction;

// The option sets each identity runs with.
std::vector<std::pair<const char*, AttentionOptions>> option_sets(const BatchData& x) {
  std::vector<std::pair<const char*, AttentionOptions>> v;
  AttentionOptions o;
  v.push_back({"softmax", o});
  o.sinks = x.sinks.data();
  o.mask = x.mask.data();
  o.mask_row_stride = x.mask_row_stride;
  o.temperature = 0.7f;
  v.push_back({"softmax_sinks_mask_T0.7", o});
  AttentionOptions w;
  w.window = 11;
  v.push_back({"softmax_window_11", w});
  AttentionOptions s;
  s.score = ScoreFunction::kSigmoid;
  s.mask = x.mask.data();
  s.mask_row_stride = x.mask_row_stride;
  v.push_back({"sigmoid_mask", s});
  AttentionOptions p;
  p.score = ScoreFunction::kSoftplus;
  p.window = 40;
  v.push_back({"softplus_window_40", p});
  return v;
}

// Runs the batch and each sequence alone with `executor`, and compares
// every output and lse bit for bit.
void expect_batch_equals_sequences(const BatchData& x, const AttentionBatch& batch, const AttentionOptions& options,
                                   softkern::Executor* executor, const std::string& what, FailureLog& log) {
  AttentionOptions o = options;
  o.executor = executor;
  const bool with_lse = o.score == ScoreFunction::kSoftmax;
  std::vector<float> out(x.rows() * x.H * x.d), lse(x.rows() * x.H);
  fill_sentinel(out.data(), out.size());
  fill_sentinel(lse.data(), lse.size());
  AttentionBatch b = batch;
  b.o = out.data();
  b.lse = with_lse ? lse.data() : nullptr;
  const Status s = softkern::attention_batch(b, o);
  if (!s.ok()) {
    log.add(what + ": rejected: " + s.message());
    return;
  }
  for (std::size_t q = 0; q < x.sequences(); ++q) {
    std::vector<float> alone(x.queries(q) * x.H * x.d), alone_lse(x.queries(q) * x.H);
    const std::vector<unsigned char> k = x.gathered(q, false), v = x.gathered(q, true);
    AttentionTensors t = x.sequence_tensors(q, k, v, alone.data(), with_lse ? alone_lse.data() : nullptr);
    AttentionOptions oq = o;
    if (o.mask != nullptr) oq.mask = o.mask + x.q_off[q] * o.mask_row_stride;
    const Status sq = softkern::attention(t, oq);
    if (!sq.ok()) {
      log.add(what + ": attention() alone rejected sequence " + std::to_string(q) + ": " + sq.message());
      continue;
    }
    const std::size_t first = x.q_off[q] * x.H * x.d;
    if (!bitwise_equal(alone.data(), out.data() + first, alone.size()) ||
        (with_lse && !bitwise_equal(alone_lse.data(), lse.data() + x.q_off[q] * x.H, alone_lse.size()))) {
      log.add(what + ": sequence " + std::to_string(q) + " (" + std::to_string(x.queries(q)) + " queries, " +
              std::to_string(x.keys(q)) + " keys) differs from attention() alone");
    }
  }
}

// A mixed batch: decode steps, a chunk of a prefill with a cached prefix, a
// whole prompt, an empty sequence and one with no queries.
std::vector<SequenceShape> mixed_shapes() {
  return {{1, 37}, {1, 1}, {9, 60}, {33, 33}, {0, 12}, {1, 130}, {0, 0}, {4, 200}};
}

TEST(Serving, PagedEqualsGatheredDense) {
  const std::vector<std::size_t> block_sizes =
      full_sweep() ? std::vector<std::size_t>{1, 5, 16, 32, 33, 128, 256} : std::vector<std::size_t>{1, 16, 33};
  for_each_supported_isa([&](Isa isa) {
    FailureLog log;
    for (ElementType type : {ElementType::kFloat32, ElementType::kBFloat16, ElementType::kFloat16}) {
      for (std::size_t bs : block_sizes) {
        for (bool head_major : {false, true}) {
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
    for (ElementType type : {ElementType::kFloat32, ElementType::kBFloat16}) {
      for (const auto& [H, Hk, d] : std::vector<std::tuple<std::size_t, std::size_t, std::size_t>>{
               {8, 2, 64}, {4, 4, 3}, {20, 1, 128}}) {
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
    for (std::size_t bs : {16, 7}) {
      BatchData x = make_batch({{1, 50}, {2, n}}, 2, 1, 1, ElementType::kFloat32, 11);
      x.make_pool(bs, false, false, 12);
      x.tables.resize(x.table_stride + (n + bs - 1) / bs);
      x.tables.shrink_to_fit();
      AttentionOptions o;
      const std::string what = std::string(softkern::isa_name(isa)) + " long paged block=" + std::to_string(bs);
      expect_batch_equals_sequences(x, x.paged_batch(), o, nullptr, what, log);
      expect_batch_equals_sequences(x, x.paged_batch(), o, &softkern::default_executor(), what + " executor", log);
    }
  });
}

// Runs the tasks in order on the calling thread, claiming `concurrency`.
auto in_order = softkern::make_executor(2, [](std::size_t count, const auto& task) {
  for (std::size_t i = 0; i < count; ++i) task(i);
});
// Last task first, claiming 7.
auto reversed = softkern::make_executor(7, [](std::size_t count, const auto& task) {
  for (std::size_t i = count; i-- > 0;) task(i);
});
// Two real threads, tasks interleaved.
auto two_threads = softkern::make_executor(2, [](std::size_t count, const auto& task) {
  std::thread other([&] {
    for (std::size_t i = 1; i < count; i += 2) task(i);
  });
  for (std::size_t i = 0; i < count; i += 2) task(i);
  other.join();
});

// One long decode sequence (split into KV chunks) among short ones and a
// prefill (query blocks): each sequence equals attention() alone on the same
// kind of executor, and every executor gives the same bits.
TEST(Serving, ExecutorBatchEqualsSequencesAndExecutors) {
  const std::vector<SequenceShape> shapes = {{1, 9000}, {1, 40}, {70, 300}, {1, 8200}, {3, 17}};
  for_each_supported_isa([&](Isa isa) {
    FailureLog log;
    for (bool paged : {false, true}) {
      BatchData x = make_batch(shapes, 4, 2, 8, ElementType::kBFloat16, 5);
      if (paged) x.make_pool(16, false, false, 9);
      const AttentionBatch batch = paged ? x.paged_batch() : x.dense_batch();
      for (const auto& [name, options] : option_sets(x)) {
        if (!full_sweep() && options.score == ScoreFunction::kSoftplus) continue;
        const std::string what = std::string(softkern::isa_name(isa)) + (paged ? " paged " : " dense ") + name;
        std::vector<std::vector<float>> results;
        for (softkern::Executor* e : {static_cast<softkern::Executor*>(&in_order), static_cast<softkern::Executor*>(&reversed),
                                      static_cast<softkern::Executor*>(&two_threads), &softkern::default_executor()}) {
          if (e == &softkern::default_executor() && e->concurrency() < 2) continue;
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
  struct Case {
    const char* name;
    StatusCode code;
    std::function<void(AttentionBatch&, AttentionOptions&)> edit;
  };
  const std::vector<Case> cases = {
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
  for_each_supported_isa([&](Isa isa) {
    for (const Case& c : cases) {
      std::vector<float> out(x.rows() * x.H * x.d + 64), lse(x.rows() * x.H + 64);
      fill_sentinel(out.data(), out.size());
      fill_sentinel(lse.data(), lse.size());
      AttentionBatch b = x.paged_batch();
      b.o = out.data();
      b.lse = lse.data();
      AttentionOptions o;
      c.edit(b, o);
      const Status s = softkern::attention_batch(b, o);
      EXPECT_EQ(s.code(), c.code) << softkern::isa_name(isa) << " " << c.name << ": " << s.message();
      EXPECT_TRUE(is_sentinel(out.data(), out.size())) << c.name << ": o was written";
      EXPECT_TRUE(is_sentinel(lse.data(), lse.size())) << c.name << ": lse was written";
    }
  });
}

}  // namespace
}  // namespace softkern_test
