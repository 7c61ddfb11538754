// softkern/detail/attention_tasks.hpp — attention and linear attention on an
// Executor. Included by attention_impl.hpp; every function here runs after
// the call was validated, so nothing can fail once the first task starts.
//
// attention() is a batch of one sequence and attention_batch() a batch of
// many: both run here, as one executor run over the tasks of every sequence.
// Each sequence is cut by its own shapes only (never the executor's thread
// count or the other sequences), so a sequence's result is the same bits
// whatever the executor and whatever batch it is in:
//  - prefill (and softplus, and short caches): one task per (KV head, block
//    of kTaskQueries queries). Each task is the serial kernel over its rows,
//    and a row's result does not depend on the rows it shares a tile with,
//    so the bits equal the call without an executor.
//  - decode-shaped softmax and sigmoid calls (at most kSplitKvMaxQueries
//    queries, at least two chunks of keys): flash-decoding. The keys are cut
//    into chunks, one task per (KV head, chunk) computes a partial without
//    sinks (with its log-sum-exp for softmax), and the partials merge on the
//    calling thread as attention_merge() does.
// The tasks of the whole batch are handed out longest first (an estimate
// from the shapes), so one long sequence among many short ones starts early
// and the threads finish together; the order changes no bit.
//  - linear attention: one task per query head (each has its own state).
#ifndef SOFTKERN_DETAIL_ATTENTION_TASKS_HPP_
#define SOFTKERN_DETAIL_ATTENTION_TASKS_HPP_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "softkern/attention.hpp"
#include "softkern/detail/attention_params.hpp"
#include "softkern/detail/fp_env.hpp"
#include "softkern/executor.hpp"

namespace softkern {
namespace detail {
namespace {

// Queries per prefill task: a multiple of every target's query tile, and
// small enough that a causal L = 2048 call gives 32 tasks per KV head.
constexpr std::size_t kTaskQueries = 64;
// Keys per decode chunk: 4096 keys of d = 128 float32 K and V are 4 MiB, a
// task long enough (about 0.5 ms from DRAM) that the merge and the task
// hand-off are noise. Caches beyond kMaxKvChunks chunks take proportionally
// longer chunks (a multiple of kKvChunkKeys), which bounds the partials'
// memory to kMaxKvChunks x rows x d floats.
constexpr std::size_t kKvChunkKeys = 4096;
constexpr std::size_t kMaxKvChunks = 64;
constexpr std::size_t kSplitKvMaxQueries = 16;

// Keys per chunk for a split-KV call over n keys, or 0 when it does not split.
std::size_t KvChunkKeys(const AttentionParams& p) {
  if (p.score == ScoreFunction::kSoftplus || p.queries > kSplitKvMaxQueries || p.keys < 2 * kKvChunkKeys) return 0;
  const std::size_t per_chunk = (p.keys + kMaxKvChunks - 1) / kMaxKvChunks;
  return (per_chunk + kKvChunkKeys - 1) / kKvChunkKeys * kKvChunkKeys;
}

const void* AdvanceKv(const void* base, ElementType type, std::size_t elements) {
  return static_cast<const unsigned char*>(base) + elements * element_bytes(type);
}

// The call restricted to KV head g (its group of query heads), queries
// [i0, i1) and keys [b, e): the same tensors, the positions kept. K and V
// move to head g; the keys move through kv_first_key, which dense and paged
// caches both understand (attention_rows-inl.hpp).
AttentionParams Slice(const AttentionParams& p, std::size_t g, std::size_t i0, std::size_t i1, std::size_t b,
                      std::size_t e) {
  AttentionParams s = p;
  const std::size_t h0 = g * (p.heads / p.kv_heads);
  s.queries = i1 - i0;
  s.keys = e - b;
  s.heads = p.heads / p.kv_heads;
  s.kv_heads = 1;
  s.q = p.q + i0 * p.q_row_stride + h0 * p.q_head_stride;
  if (p.keys > 0) {
    s.k = AdvanceKv(p.k, p.kv_type, g * p.kv_head_stride);
    s.v = AdvanceKv(p.v, p.kv_type, g * p.kv_head_stride);
    if (p.k_scales != nullptr) {
      s.k_scales = p.k_scales + g * p.scale_head_stride;
      s.v_scales = p.v_scales + g * p.scale_head_stride;
    }
    s.kv_first_key = p.kv_first_key + b;
  }
  s.o = p.o + i0 * p.o_row_stride + h0 * p.o_head_stride;
  if (p.lse != nullptr) s.lse = p.lse + i0 * p.lse_row_stride + h0;
  s.query_start = p.query_start + i0;
  s.key_start = p.key_start + b;
  if (p.sinks != nullptr) s.sinks = p.sinks + h0;
  if (p.alibi_slopes != nullptr) s.alibi_slopes = p.alibi_slopes + h0;
  if (p.mask != nullptr) s.mask = p.mask + i0 * p.mask_row_stride + h0 * p.mask_head_stride + b;
  return s;
}

// Runs f(i) for i in [0, count) on the executor, each task in the IEEE
// defaults (a worker thread has its own floating-point state).
template <class F>
void RunTasks(Executor* executor, std::size_t count, const F& f) {
  executor->run(count,
                [](void* context, std::size_t i) {
                  const ScopedDefaultFpEnv task_fp_env;
                  (*static_cast<const F*>(context))(i);
                },
                const_cast<F*>(&f));
}

// How one sequence is cut: split-KV chunks or query blocks, each once per
// KV head.
struct SequenceCut {
  std::size_t chunk_keys = 0;  // keys per split-KV chunk; 0: query blocks
  std::size_t pieces = 0;      // chunks or query blocks
  std::size_t parts = 0;       // split-KV: first partial row of the sequence in the batch's buffers
};

SequenceCut CutOf(const AttentionParams& p) {
  SequenceCut cut;
  cut.chunk_keys = KvChunkKeys(p);
  cut.pieces = cut.chunk_keys != 0 ? (p.keys + cut.chunk_keys - 1) / cut.chunk_keys
                                   : (p.queries + kTaskQueries - 1) / kTaskQueries;
  return cut;
}

// Keys [b, e) and queries [i0, i1) of piece `piece` of a sequence.
void PieceRange(const AttentionParams& p, const SequenceCut& cut, std::size_t piece, std::size_t* i0, std::size_t* i1,
                std::size_t* b, std::size_t* e) {
  if (cut.chunk_keys != 0) {
    *i0 = 0;
    *i1 = p.queries;
    *b = piece * cut.chunk_keys;
    *e = std::min(p.keys, *b + cut.chunk_keys);
  } else {
    *i0 = piece * kTaskQueries;
    *i1 = std::min(p.queries, *i0 + kTaskQueries);
    *b = 0;
    *e = p.keys;
  }
}

// The work of one task, in (query row, key) pairs a tile of the group
// visits: the causal limit of its last query bounds its keys.
double TaskCost(const AttentionParams& p, std::size_t i0, std::size_t i1, std::size_t b, std::size_t e) {
  std::size_t keys = e - b;
  if (p.causal) {
    const std::uint64_t last = p.query_start + i1;  // one past the last query's position
    const std::uint64_t seen = last > p.key_start + b ? last - (p.key_start + b) : 0;
    keys = static_cast<std::size_t>(std::min<std::uint64_t>(keys, seen));
  }
  return static_cast<double>(i1 - i0) * static_cast<double>(keys + kTaskQueries) * static_cast<double>(p.heads / p.kv_heads);
}

// Validated calls of `count` sequences on the executor (concurrency > 1).
void AttentionBatchOnExecutor(const AttentionKernels& kernels, const AttentionParams* seqs, std::size_t count,
                              Executor* executor) {
  std::vector<SequenceCut> cuts(count);
  struct TaskRef {
    std::size_t sequence, piece, kv_head;
    double cost;
  };
  std::vector<TaskRef> tasks;
  std::size_t part_rows = 0;
  for (std::size_t q = 0; q < count; ++q) {
    const AttentionParams& p = seqs[q];
    if (p.queries == 0) continue;
    SequenceCut& cut = cuts[q];
    cut = CutOf(p);
    if (cut.chunk_keys != 0) {
      cut.parts = part_rows;
      part_rows += cut.pieces * p.queries * p.heads;
    }
    for (std::size_t piece = 0; piece < cut.pieces; ++piece) {
      std::size_t i0, i1, b, e;
      PieceRange(p, cut, piece, &i0, &i1, &b, &e);
      const double cost = TaskCost(p, i0, i1, b, e);
      for (std::size_t g = 0; g < p.kv_heads; ++g) tasks.push_back({q, piece, g, cost});
    }
  }
  std::stable_sort(tasks.begin(), tasks.end(), [](const TaskRef& a, const TaskRef& b) { return a.cost > b.cost; });
  std::size_t d_max = 0;
  for (std::size_t q = 0; q < count; ++q) d_max = std::max(d_max, seqs[q].head_dim);
  std::vector<float> o_parts(part_rows * d_max), lse_parts(part_rows);
  RunTasks(executor, tasks.size(), [&](std::size_t t) {
    const TaskRef& task = tasks[t];
    const AttentionParams& p = seqs[task.sequence];
    const SequenceCut& cut = cuts[task.sequence];
    std::size_t i0, i1, b, e;
    PieceRange(p, cut, task.piece, &i0, &i1, &b, &e);
    AttentionParams s = Slice(p, task.kv_head, i0, i1, b, e);
    if (cut.chunk_keys != 0) {
      // Dense [L, H] partials of chunk `piece`; sinks join once, in the merge.
      const std::size_t rows = p.queries * p.heads, group = p.heads / p.kv_heads;
      const std::size_t first = cut.parts + task.piece * rows + task.kv_head * group;
      s.o = o_parts.data() + first * p.head_dim;
      s.o_row_stride = p.heads * p.head_dim;
      s.o_head_stride = p.head_dim;
      s.lse = p.score == ScoreFunction::kSoftmax ? lse_parts.data() + first : nullptr;
      s.lse_row_stride = p.heads;
      s.sinks = nullptr;
    }
    kernels.attention(s);
  });
  // The split sequences' merges, as attention_merge() does them.
  std::vector<float> o, lse;
  for (std::size_t q = 0; q < count; ++q) {
    const AttentionParams& p = seqs[q];
    const SequenceCut& cut = cuts[q];
    if (p.queries == 0 || cut.chunk_keys == 0) continue;
    const std::size_t rows = p.queries * p.heads, d = p.head_dim;
    const bool softmax = p.score == ScoreFunction::kSoftmax;
    o.resize(rows * d);
    lse.resize(rows);
    const MergeParams m{cut.pieces, rows, p.heads, d, o_parts.data() + cut.parts * d,
                        softmax ? lse_parts.data() + cut.parts : nullptr, o.data(),
                        p.lse != nullptr ? lse.data() : nullptr, p.score, p.sinks, p.mask_scale};
    kernels.merge(m);
    for (std::size_t i = 0; i < p.queries; ++i) {
      for (std::size_t h = 0; h < p.heads; ++h) {
        const float* src = o.data() + (i * p.heads + h) * d;
        float* dst = p.o + i * p.o_row_stride + h * p.o_head_stride;
        for (std::size_t c = 0; c < d; ++c) dst[c] = src[c];
        if (p.lse != nullptr) p.lse[i * p.lse_row_stride + h] = lse[i * p.heads + h];
      }
    }
  }
}

// A validated linear attention call on the executor: one task per query head.
void LinearAttentionOnExecutor(const AttentionKernels& kernels, const LinearParams& lp, Executor* executor) {
  const std::size_t d = lp.t.head_dim, group = lp.t.heads / lp.t.kv_heads;
  RunTasks(executor, lp.t.heads, [&](std::size_t h) {
    LinearParams s = lp;
    // Slice keeps the whole group of KV head h / group; narrow it to head h.
    s.t = Slice(lp.t, h / group, 0, lp.t.queries, 0, lp.t.keys);
    s.t.heads = 1;
    s.t.q = lp.t.q + h * lp.t.q_head_stride;
    s.t.o = lp.t.o + h * lp.t.o_head_stride;
    s.state = lp.state + h * d * d;
    if (lp.normaliser != nullptr) s.normaliser = lp.normaliser + h * d;
    if (lp.decay != nullptr) s.decay = lp.decay + h;
    kernels.linear(s);
  });
}

}  // namespace
}  // namespace detail
}  // namespace softkern

#endif  // SOFTKERN_DETAIL_ATTENTION_TASKS_HPP_
