// softkern/detail/attention_tasks.hpp — attention and linear attention on an
// Executor. Included by attention_impl.hpp; every function here runs after
// the call was validated, so nothing can fail once the first task starts.
//
// The cut reads the shapes only (never the executor's thread count), so a
// result is the same bits whatever the executor:
//  - prefill (and softplus, and short caches): one task per (KV head, block
//    of kTaskQueries queries). Each task is the serial kernel over its rows,
//    and a row's result does not depend on the rows it shares a tile with,
//    so the bits equal the call without an executor.
//  - decode-shaped softmax and sigmoid calls (at most kSplitKvMaxQueries
//    queries, at least two chunks of keys): flash-decoding. The keys are cut
//    into chunks, one task per (KV head, chunk) computes a partial without
//    sinks (with its log-sum-exp for softmax), and the partials merge on the
//    calling thread as attention_merge() does.
//  - linear attention: one task per query head (each has its own state).
#ifndef SOFTKERN_DETAIL_ATTENTION_TASKS_HPP_
#define SOFTKERN_DETAIL_ATTENTION_TASKS_HPP_

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
// [i0, i1) and keys [b, e): the same tensors through advanced pointers, the
// positions kept.
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
    s.k = AdvanceKv(p.k, p.kv_type, g * p.kv_head_stride + b * p.kv_row_stride);
    s.v = AdvanceKv(p.v, p.kv_type, g * p.kv_head_stride + b * p.kv_row_stride);
  }
  s.o = p.o + i0 * p.o_row_stride + h0 * p.o_head_stride;
  if (p.lse != nullptr) s.lse = p.lse + i0 * p.lse_row_stride + h0;
  s.query_start = p.query_start + i0;
  s.key_start = p.key_start + b;
  if (p.sinks != nullptr) s.sinks = p.sinks + h0;
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

// Split-KV decode: partials per (chunk, KV head), merged per row.
void AttentionSplitKv(const AttentionKernels& kernels, const AttentionParams& p, std::size_t chunk_keys,
                      Executor* executor) {
  const std::size_t chunks = (p.keys + chunk_keys - 1) / chunk_keys;
  const std::size_t rows = p.queries * p.heads, d = p.head_dim, group = p.heads / p.kv_heads;
  const bool softmax = p.score == ScoreFunction::kSoftmax;
  std::vector<float> o_parts(chunks * rows * d), lse_parts(softmax ? chunks * rows : 0);
  RunTasks(executor, chunks * p.kv_heads, [&](std::size_t task) {
    const std::size_t c = task / p.kv_heads, g = task % p.kv_heads;
    const std::size_t b = c * chunk_keys, e = b + chunk_keys < p.keys ? b + chunk_keys : p.keys;
    AttentionParams s = Slice(p, g, 0, p.queries, b, e);
    // Dense [L, H] partials of chunk c; sinks join once, in the merge.
    s.o = o_parts.data() + (c * rows + g * group) * d;
    s.o_row_stride = p.heads * d;
    s.o_head_stride = d;
    s.lse = softmax ? lse_parts.data() + c * rows + g * group : nullptr;
    s.lse_row_stride = p.heads;
    s.sinks = nullptr;
    kernels.attention(s);
  });
  std::vector<float> o(rows * d), lse(p.lse != nullptr ? rows : 0);
  const MergeParams m{chunks, rows, p.heads, d, o_parts.data(), softmax ? lse_parts.data() : nullptr,
                      o.data(), p.lse != nullptr ? lse.data() : nullptr, p.score, p.sinks, p.mask_scale};
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

// A validated attention call on the executor (concurrency > 1).
void AttentionOnExecutor(const AttentionKernels& kernels, const AttentionParams& p, Executor* executor) {
  if (const std::size_t chunk_keys = KvChunkKeys(p); chunk_keys != 0) {
    AttentionSplitKv(kernels, p, chunk_keys, executor);
    return;
  }
  const std::size_t blocks = (p.queries + kTaskQueries - 1) / kTaskQueries;
  // Last query blocks first: under a causal mask they see the most keys, and
  // starting them first evens out the threads' finishing times.
  RunTasks(executor, blocks * p.kv_heads, [&](std::size_t task) {
    const std::size_t g = task % p.kv_heads, block = blocks - 1 - task / p.kv_heads;
    const std::size_t i0 = block * kTaskQueries;
    const std::size_t i1 = i0 + kTaskQueries < p.queries ? i0 + kTaskQueries : p.queries;
    kernels.attention(Slice(p, g, i0, i1, 0, p.keys));
  });
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
