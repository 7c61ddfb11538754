// softkern/serving.hpp — attention for serving engines: one call for a batch
// of sequences (decode, chunked prefill and prefill mixed), each over its own
// context in a paged K/V cache (block pools and block tables, as vLLM and
// SGLang keep them) or in one packed dense tensor (FlashAttention's varlen
// layout).
//
//   softkern::AttentionBatch b;                 // 32 sequences decoding one token each
//   b.sequences = 32; b.heads = 32; b.kv_heads = 8; b.head_dim = 128;
//   b.query_offsets = cu_q;                     // int32 [33]: 0, 1, 2, ..., 32
//   b.key_offsets = cu_k;                       // int32 [33]: prefix sums of the context lengths
//   b.q = q; b.o = o;                           // float [32, 32, 128]
//   b.paged.block_size = 16; b.paged.num_blocks = pool_blocks;
//   b.paged.k = k_pool; b.paged.v = v_pool;     // [num_blocks, 16, 8, 128]
//   b.paged.block_tables = tables; b.paged.block_table_stride = max_blocks;
//   softkern::Status s = softkern::attention_batch(b, options);
//
// Every sequence gets exactly what attention() gives it alone, bit for bit
// (same options, its own queries, its context as a dense tensor in logical
// order), with or without an executor: see attention_batch.
#ifndef SOFTKERN_SERVING_HPP_
#define SOFTKERN_SERVING_HPP_

#include <cstddef>
#include <cstdint>

#include "softkern/attention.hpp"
#include "softkern/status.hpp"

namespace softkern {

// Tokens per block of a paged cache: 1 .. kMaxBlockSize.
inline constexpr std::size_t kMaxBlockSize = 256;

// A paged K/V cache (vLLM's layout): K and V each live in a pool of
// `num_blocks` blocks of `block_size` tokens, and each sequence has a block
// table: its logical block i (tokens [i * block_size, (i + 1) * block_size))
// is physical block block_tables[b * block_table_stride + i]. Blocks may
// appear in several tables (a shared prefix); the call only reads them.
//
// Element (block p, slot s, KV head g, c) of a pool is at
//   p * block_stride + s * row_stride + g * head_stride + c   (elements);
// strides left 0 take the default layout [num_blocks, block_size, kv_heads, d]:
// head_stride = d, row_stride = kv_heads * d, block_stride = block_size *
// kv_heads * d. A head-major block [num_blocks, kv_heads, block_size, d] is
// row_stride = d, head_stride = block_size * d.
struct PagedKv {
  std::size_t block_size = 0;  // 1 .. kMaxBlockSize
  std::size_t num_blocks = 0;  // every block id in a table must be below it
  KvPointer k, v;              // the pools, same element type
  std::size_t block_stride = 0, row_stride = 0, head_stride = 0;
  // Quantized pools only (null otherwise), float32, finite and > 0:
  //  - int8: one scale per (slot, KV head), (p, s, g) at p * scale_block_stride
  //    + s * scale_row_stride + g * scale_head_stride, dense [num_blocks,
  //    block_size, kv_heads];
  //  - float8_e4m3, float8_e5m2: one per KV head, g at g * scale_head_stride.
  const float* k_scales = nullptr;
  const float* v_scales = nullptr;
  std::size_t scale_block_stride = 0, scale_row_stride = 0, scale_head_stride = 0;
  // int32 block ids, as vLLM's block_tables [sequences, max_blocks]. A
  // sequence with n keys reads entries [0, ceil(n / block_size)) of its row.
  const std::int32_t* block_tables = nullptr;
  // Entries from one sequence's table to the next; 0 means the blocks of the
  // batch's longest context.
  std::size_t block_table_stride = 0;
};

// A batch of sequences, each with its own queries and context, in one call.
//
// Sequence b's queries are rows [query_offsets[b], query_offsets[b + 1]) of
// q, o and lse (FlashAttention's cu_seqlens_q; 1 row for decode, a chunk for
// chunked prefill, the prompt for prefill). Its context holds
// key_offsets[b + 1] - key_offsets[b] keys (cu_seqlens_k): the tokens
// already cached plus those of its queries, which are the context's last
// positions (queries i of n_q sit at positions n_k - n_q + i, as attention()'s
// kQueriesAtEnd). Both offset arrays hold sequences + 1 int32 values,
// non-decreasing and non-negative.
//
// K and V are either
//  - dense: one packed tensor, sequence b's keys at rows [key_offsets[b],
//    key_offsets[b + 1]) of k and v (strides as AttentionTensors'), or
//  - paged: `paged.block_tables` set (k and v left null), sequence b's
//    block table is row b of the tables.
struct AttentionBatch {
  std::size_t sequences = 0;
  std::size_t heads = 1;     // H, query heads
  std::size_t kv_heads = 1;  // Hk, H a multiple of it
  std::size_t head_dim = 0;  // d, 1..kMaxHeadDim

  const std::int32_t* query_offsets = nullptr;  // [sequences + 1]
  const std::int32_t* key_offsets = nullptr;    // [sequences + 1]

  // Query row r (over the whole batch), head h, element c at
  // r * row_stride + h * head_stride + c; strides 0: dense [rows, H, d].
  const float* q = nullptr;
  std::size_t q_row_stride = 0, q_head_stride = 0;
  float* o = nullptr;
  std::size_t o_row_stride = 0, o_head_stride = 0;
  // Optional (softmax only): log of each row's denominator, (r, h) at
  // r * lse_row_stride + h.
  float* lse = nullptr;
  std::size_t lse_row_stride = 0;

  // Dense K/V: (row j, KV head g, c) at j * kv_row_stride + g * kv_head_stride + c,
  // with the scales of a quantized tensor as AttentionTensors' (int8: per
  // row and KV head, dense [rows, Hk]; fp8: per KV head).
  KvPointer k, v;
  std::size_t kv_row_stride = 0, kv_head_stride = 0;
  const float* k_scales = nullptr;
  const float* v_scales = nullptr;
  std::size_t scale_row_stride = 0, scale_head_stride = 0;
  // Paged K/V (used when paged.block_tables is set).
  PagedKv paged;
};

// o = attention(q, K, V) for every sequence of the batch, with the options
// of attention() applied to each (score function, scale, temperature,
// causal, window, sinks per head, executor). The mask, if given, is indexed
// by the batch's query row and the sequence's own key index: entry (r, h, j)
// at mask[r * mask_row_stride + h * mask_head_stride + j] (mask_row_stride 0
// means the longest context of the batch).
//
// Sequence b's rows are bit-identical to attention() called on sequence b
// alone (its queries, its context as a dense [n, Hk, d] tensor in logical
// order, the same options and a mask advanced to its rows), paged or not:
//  - without an executor the sequences run one after the other on the
//    calling thread, nothing allocated;
//  - with one, the whole batch is cut into tasks by each sequence's shapes
//    alone, exactly as attention() cuts that sequence (KV head x query block,
//    or KV head x KV chunk for long decode, merged by log-sum-exp), and all
//    the tasks go to the executor in one run, longest first: a long
//    sequence among many short ones fills every thread, and the bits do not
//    depend on the executor, the thread count or the rest of the batch.
//
// Rejected calls (offsets decreasing or negative, a block id outside the
// pool, more queries than keys under a causal mask or a window, overlapping
// outputs, and everything attention() rejects) return a Status and write
// nothing.
Status attention_batch(const AttentionBatch& batch, const AttentionOptions& options = {});

// ------------------------------------------------------------ writing caches

// Where a cache writer puts K or V: a mutable pointer to float32, bfloat16,
// float16, std::int8_t, float8_e4m3 or float8_e5m2 elements, with its type.
class KvStorage {
 public:
  constexpr KvStorage() = default;
  constexpr KvStorage(std::nullptr_t) {}
  constexpr KvStorage(float* p) : data_(p), type_(ElementType::kFloat32) {}
  constexpr KvStorage(bfloat16* p) : data_(p), type_(ElementType::kBFloat16) {}
  constexpr KvStorage(float16* p) : data_(p), type_(ElementType::kFloat16) {}
  constexpr KvStorage(std::int8_t* p) : data_(p), type_(ElementType::kInt8) {}
  constexpr KvStorage(float8_e4m3* p) : data_(p), type_(ElementType::kFloat8E4M3) {}
  constexpr KvStorage(float8_e5m2* p) : data_(p), type_(ElementType::kFloat8E5M2) {}

  constexpr void* data() const { return data_; }
  constexpr ElementType type() const { return type_; }

 private:
  void* data_ = nullptr;
  ElementType type_ = ElementType::kFloat32;
};

// New tokens' K (or V) into a cache, converted to the cache's element type
// (vLLM's reshape_and_cache, once for K and once for V). Token t's rows,
// x[t, g, c] at t * x_row_stride + g * x_head_stride + c (float32, bfloat16
// or float16; strides 0: dense [tokens, kv_heads, d]), go to cache row
// slots[t]:
//  - dense cache (block_size 0): row r at r * row_stride;
//  - paged: slot r at (r / block_size) * block_stride + (r % block_size) *
//    row_stride (vLLM's slot = block * block_size + offset);
// then + g * head_stride + c. Strides 0 take [rows, kv_heads, d] (dense) or
// [blocks, block_size, kv_heads, d] (paged), as PagedKv's.
// The codes:
//  - float32, bfloat16, float16: the values, rounded to nearest-even;
//  - int8: per (token, KV head), scale = max(max_c |x| / 127, 2^-126),
//    written to `scales` at the row's place ((r / block_size) *
//    scale_block_stride + (r % block_size) * scale_row_stride + g *
//    scale_head_stride; dense: r * scale_row_stride + g * scale_head_stride;
//    strides 0: [rows, kv_heads]), and codes round(x / scale) (nearest-even,
//    within [-127, 127]);
//  - fp8: x / head_scales[g * scale_head_stride] rounded to nearest-even,
//    saturated to the largest finite code (the per-head scales are the
//    caller's, read only; they are what attention reads as k_scales or
//    v_scales).
// A quantized cache holds finite values: a non-finite input is rejected. A
// negative slot skips its token (vLLM pads with -1); tokens are written in
// order, so a repeated slot keeps the last token's rows. A rejected call
// (slot past cache_rows, a null or overlapping buffer, a bad scale) writes
// nothing.
struct KvAppend {
  std::size_t tokens = 0, kv_heads = 1, head_dim = 0;
  KvPointer x;  // float32, bfloat16 or float16
  std::size_t x_row_stride = 0, x_head_stride = 0;
  const std::int64_t* slots = nullptr;  // [tokens]

  KvStorage cache;
  std::size_t cache_rows = 0;  // rows (slots) the cache holds; every slot must be below it
  std::size_t block_size = 0;  // 0: dense; else tokens per block, 1 .. kMaxBlockSize
  std::size_t block_stride = 0, row_stride = 0, head_stride = 0;
  float* scales = nullptr;              // int8: written
  const float* head_scales = nullptr;   // fp8: read, finite and > 0
  std::size_t scale_block_stride = 0, scale_row_stride = 0, scale_head_stride = 0;
};

Status append_kv(const KvAppend& append);

}  // namespace softkern

#ifdef SOFTKERN_IMPLEMENTATION
#include "softkern/detail/implementation.hpp"
#endif

#endif  // SOFTKERN_SERVING_HPP_
