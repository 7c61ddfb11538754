// softkern/detail/serving_impl.hpp — argument checks and public functions of
// serving.hpp. Included at the end of implementation.hpp, after
// attention_impl.hpp, whose checks it shares: a sequence of a batch is
// validated as the attention() call it is equal to, and the batch's buffers
// once, as a whole, before anything is written.
#ifndef SOFTKERN_DETAIL_SERVING_IMPL_HPP_
#define SOFTKERN_DETAIL_SERVING_IMPL_HPP_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "softkern/attention.hpp"
#include "softkern/detail/attention_impl.hpp"
#include "softkern/detail/attention_params.hpp"
#include "softkern/detail/attention_tasks.hpp"
#include "softkern/detail/extents.hpp"
#include "softkern/detail/kv_append.hpp"
#include "softkern/serving.hpp"

namespace softkern {
namespace detail {
namespace {

// What the whole batch shares, resolved once: the largest offsets and
// context, the block geometry and strides.
struct BatchShape {
  std::size_t query_rows = 0;   // query_offsets[sequences]
  std::size_t key_rows = 0;     // key_offsets[sequences] (dense: rows of k and v)
  std::size_t max_keys = 0;     // the longest context
  std::size_t max_blocks = 0;   // paged: blocks of the longest context
  bool paged = false;
  std::size_t block_stride = 0, row_stride = 0, head_stride = 0, table_stride = 0;
  std::size_t scale_block_stride = 0;  // paged int8
};

Status CheckOffsets(const AttentionBatch& b, BatchShape* shape) {
  if (b.query_offsets == nullptr || b.key_offsets == nullptr) {
    return Status(StatusCode::kNullPointer, "attention_batch: query_offsets or key_offsets is null");
  }
  for (std::size_t s = 0; s <= b.sequences; ++s) {
    if (b.query_offsets[s] < 0 || b.key_offsets[s] < 0) {
      return Status(StatusCode::kBadArgument, "attention_batch: an offset is negative");
    }
    if (s > 0 && (b.query_offsets[s] < b.query_offsets[s - 1] || b.key_offsets[s] < b.key_offsets[s - 1])) {
      return Status(StatusCode::kBadArgument, "attention_batch: offsets must be non-decreasing");
    }
    if (s > 0) {
      const std::size_t keys = static_cast<std::size_t>(b.key_offsets[s] - b.key_offsets[s - 1]);
      if (keys > shape->max_keys) shape->max_keys = keys;
    }
  }
  shape->query_rows = static_cast<std::size_t>(b.query_offsets[b.sequences]);
  shape->key_rows = static_cast<std::size_t>(b.key_offsets[b.sequences]);
  return Status::Ok();
}

Status CheckLayout(const AttentionBatch& b, BatchShape* shape) {
  shape->paged = b.paged.block_tables != nullptr;
  if (!shape->paged) {
    if (b.paged.k.data() != nullptr || b.paged.v.data() != nullptr) {
      return Status(StatusCode::kNullPointer, "attention_batch: paged pools given without block_tables");
    }
    return Status::Ok();
  }
  const PagedKv& pk = b.paged;
  if (b.k.data() != nullptr || b.v.data() != nullptr) {
    return Status(StatusCode::kBadArgument, "attention_batch: k and v must be null with a paged cache (paged.k, paged.v)");
  }
  if (pk.block_size == 0 || pk.block_size > kMaxBlockSize) {
    return Status(StatusCode::kBadArgument, "attention_batch: block_size must be in [1, kMaxBlockSize = 256]");
  }
  const std::size_t d = b.head_dim, Hk = b.kv_heads;
  shape->head_stride = pk.head_stride != 0 ? pk.head_stride : d;
  shape->row_stride = pk.row_stride != 0 ? pk.row_stride : Hk * d;
  if (pk.block_stride != 0) {
    shape->block_stride = pk.block_stride;
  } else if (__builtin_mul_overflow(pk.block_size, Hk * d, &shape->block_stride)) {
    return Status(StatusCode::kBadStride, "attention_batch: block_size * kv_heads * head_dim overflows");
  }
  const std::size_t scale_row_stride = pk.scale_row_stride != 0 ? pk.scale_row_stride : Hk;
  if (pk.scale_block_stride != 0) {
    shape->scale_block_stride = pk.scale_block_stride;
  } else if (__builtin_mul_overflow(pk.block_size, scale_row_stride, &shape->scale_block_stride)) {
    return Status(StatusCode::kBadStride, "attention_batch: block_size * scale_row_stride overflows");
  }
  shape->max_blocks = (shape->max_keys + pk.block_size - 1) / pk.block_size;
  shape->table_stride = pk.block_table_stride != 0 ? pk.block_table_stride : shape->max_blocks;
  if (shape->table_stride < shape->max_blocks) {
    return Status(StatusCode::kBadStride, "attention_batch: block_table_stride is below the blocks of the longest context");
  }
  return Status::Ok();
}

// The attention() call sequence s of the batch is equal to, as kernel
// parameters; options applied. Validates what is the sequence's own
// (positions, shapes, the block ids it reads); the values of its scales and
// slopes are checked after the batch's buffers (CheckInputValues).
Status SequenceParams(const AttentionBatch& b, const AttentionOptions& options, const BatchShape& shape, std::size_t s,
                      AttentionParams* p) {
  const std::size_t row0 = static_cast<std::size_t>(b.query_offsets[s]);
  const std::size_t key0 = static_cast<std::size_t>(b.key_offsets[s]);
  AttentionTensors t;
  t.queries = static_cast<std::size_t>(b.query_offsets[s + 1]) - row0;
  t.keys = static_cast<std::size_t>(b.key_offsets[s + 1]) - key0;
  t.heads = b.heads;
  t.kv_heads = b.kv_heads;
  t.head_dim = b.head_dim;
  t.q = b.q;
  t.q_row_stride = b.q_row_stride;
  t.q_head_stride = b.q_head_stride;
  t.o = b.o;
  t.o_row_stride = b.o_row_stride;
  t.o_head_stride = b.o_head_stride;
  t.lse = b.lse;
  t.lse_row_stride = b.lse_row_stride;
  if (shape.paged) {
    t.k = b.paged.k;
    t.v = b.paged.v;
    t.kv_row_stride = shape.row_stride;
    t.kv_head_stride = shape.head_stride;
    t.k_scales = b.paged.k_scales;
    t.v_scales = b.paged.v_scales;
    t.scale_row_stride = b.paged.scale_row_stride;
    t.scale_head_stride = b.paged.scale_head_stride;
  } else {
    t.k = b.k;
    t.v = b.v;
    t.kv_row_stride = b.kv_row_stride;
    t.kv_head_stride = b.kv_head_stride;
    t.k_scales = b.k_scales;
    t.v_scales = b.v_scales;
    t.scale_row_stride = b.scale_row_stride;
    t.scale_head_stride = b.scale_head_stride;
  }
  *p = AttentionParams{};
  if (Status st = MakeTensorParams(t, options.causal || options.window != 0, p); !st.ok()) return st;
  if (Status st = ApplyOptions(options, shape.max_keys, p); !st.ok()) return st;
  // The sequence's own rows of the batch's tensors.
  if (t.queries > 0) {
    p->q += row0 * p->q_row_stride;
    p->o += row0 * p->o_row_stride;
    if (p->lse != nullptr) p->lse += row0 * p->lse_row_stride;
    if (p->mask != nullptr) p->mask += row0 * p->mask_row_stride;
  }
  if (!shape.paged) {
    p->kv_first_key = key0;
    return Status::Ok();
  }
  p->block_table = b.paged.block_tables + s * shape.table_stride;
  p->block_size = b.paged.block_size;
  p->kv_block_stride = shape.block_stride;
  p->scale_block_stride = shape.scale_block_stride;
  if (t.queries > 0) {
    const std::size_t blocks = (t.keys + p->block_size - 1) / p->block_size;
    for (std::size_t i = 0; i < blocks; ++i) {
      const std::int32_t id = p->block_table[i];
      if (id < 0 || static_cast<std::size_t>(id) >= b.paged.num_blocks) {
        return Status(StatusCode::kBadArgument, "attention_batch: a block id is outside [0, num_blocks)");
      }
    }
  }
  return Status::Ok();
}

// The batch's buffers as a whole: extents, distinct outputs, no output
// overlapping an input.
Status CheckBatchMemory(const AttentionBatch& b, const AttentionOptions& options, const BatchShape& shape,
                        const AttentionParams& any) {
  const std::size_t H = b.heads, Hk = b.kv_heads, d = b.head_dim, rows = shape.query_rows;
  if (rows == 0) return Status::Ok();
  const std::size_t qo_sizes[2] = {rows, H};
  const std::size_t q_strides[2] = {any.q_row_stride, any.q_head_stride};
  const std::size_t o_strides[2] = {any.o_row_stride, any.o_head_stride};
  const std::size_t lse_strides[2] = {any.lse_row_stride, 1};
  Extent q, o, lse, k, v, tables, query_offsets, key_offsets, mask, sinks, alibi, k_scales, v_scales;
  const std::size_t offsets_sizes[1] = {1}, unit[1] = {1};
  bool ok = TensorExtent(b.q, qo_sizes, q_strides, 2, d, sizeof(float), &q) &&
            TensorExtent(b.o, qo_sizes, o_strides, 2, d, sizeof(float), &o) &&
            (b.lse == nullptr || TensorExtent(b.lse, qo_sizes, lse_strides, 2, 1, sizeof(float), &lse)) &&
            TensorExtent(b.query_offsets, offsets_sizes, unit, 1, b.sequences + 1, sizeof(std::int32_t), &query_offsets) &&
            TensorExtent(b.key_offsets, offsets_sizes, unit, 1, b.sequences + 1, sizeof(std::int32_t), &key_offsets);
  const std::size_t kv_bytes = element_bytes(any.kv_type);
  if (shape.paged) {
    const std::size_t pool_sizes[3] = {b.paged.num_blocks, b.paged.block_size, Hk};
    const std::size_t pool_strides[3] = {shape.block_stride, shape.row_stride, shape.head_stride};
    const std::size_t table_sizes[1] = {b.sequences};
    const std::size_t table_strides[1] = {shape.table_stride};
    const std::size_t scale_strides[3] = {shape.scale_block_stride, any.scale_row_stride, any.scale_head_stride};
    const bool int8 = any.kv_type == ElementType::kInt8;
    const int scale_rank = int8 ? 3 : 1;
    const std::size_t* scale_sizes = int8 ? pool_sizes : pool_sizes + 2;
    const std::size_t* scale_step = int8 ? scale_strides : scale_strides + 2;
    ok = ok && (b.paged.k_scales == nullptr ||
                (TensorExtent(b.paged.k_scales, scale_sizes, scale_step, scale_rank, 1, sizeof(float), &k_scales) &&
                 TensorExtent(b.paged.v_scales, scale_sizes, scale_step, scale_rank, 1, sizeof(float), &v_scales)));
    ok = ok && TensorExtent(b.paged.k.data(), pool_sizes, pool_strides, 3, d, kv_bytes, &k) &&
         TensorExtent(b.paged.v.data(), pool_sizes, pool_strides, 3, d, kv_bytes, &v) &&
         (shape.max_blocks == 0 ||
          TensorExtent(b.paged.block_tables, table_sizes, table_strides, 1, shape.max_blocks, sizeof(std::int32_t), &tables));
  } else if (shape.key_rows > 0) {
    const std::size_t kv_sizes[2] = {shape.key_rows, Hk};
    const std::size_t kv_strides[2] = {any.kv_row_stride, any.kv_head_stride};
    ok = ok && TensorExtent(b.k.data(), kv_sizes, kv_strides, 2, d, kv_bytes, &k) &&
         TensorExtent(b.v.data(), kv_sizes, kv_strides, 2, d, kv_bytes, &v) &&
         (b.k_scales == nullptr ||
          (ScalesExtent(any, b.k_scales, shape.key_rows, &k_scales) && ScalesExtent(any, b.v_scales, shape.key_rows, &v_scales)));
  }
  if (options.mask != nullptr && shape.max_keys > 0) {
    const std::size_t mask_strides[2] = {any.mask_row_stride, any.mask_head_stride};
    ok = ok && TensorExtent(options.mask, qo_sizes, mask_strides, 2, shape.max_keys, sizeof(float), &mask);
  }
  if (options.sinks != nullptr) ok = ok && TensorExtent(options.sinks, offsets_sizes, unit, 1, H, sizeof(float), &sinks);
  if (options.alibi_slopes != nullptr) {
    ok = ok && TensorExtent(options.alibi_slopes, offsets_sizes, unit, 1, H, sizeof(float), &alibi);
  }
  if (!ok) return Status(StatusCode::kBadStride, "attention_batch: a tensor's extent (strides x sizes) exceeds PTRDIFF_MAX bytes");
  if (!DistinctElements(qo_sizes, o_strides, 2, d)) {
    return Status(StatusCode::kBadStride, "attention_batch: o's strides make two output elements share an address");
  }
  if (b.lse != nullptr && !DistinctElements(qo_sizes, lse_strides, 2, 1)) {
    return Status(StatusCode::kBadStride, "attention_batch: lse_row_stride must be >= heads (or one query row)");
  }
  const Extent inputs[] = {q, k, v, tables, query_offsets, key_offsets, mask, sinks, alibi, k_scales, v_scales};
  for (const Extent& out : {o, lse}) {
    for (const Extent& in : inputs) {
      if (Overlaps(out, in)) return Status(StatusCode::kOverlap, "attention_batch: an output overlaps an input");
    }
  }
  if (Overlaps(o, lse)) return Status(StatusCode::kOverlap, "attention_batch: o and lse overlap");
  return Status::Ok();
}

}  // namespace
}  // namespace detail

Status attention_batch(const AttentionBatch& b, const AttentionOptions& options) {
  const detail::ScopedDefaultFpEnv fp_env;
  if (b.sequences == 0) return Status::Ok();
  if (b.sequences >= static_cast<std::size_t>(INT32_MAX)) {
    return Status(StatusCode::kBadArgument, "attention_batch: too many sequences");
  }
  detail::BatchShape shape;
  if (Status s = detail::CheckOffsets(b, &shape); !s.ok()) return s;
  if (Status s = detail::CheckLayout(b, &shape); !s.ok()) return s;
  detail::AttentionParams p;
  for (std::size_t s = 0; s < b.sequences; ++s) {
    if (Status st = detail::SequenceParams(b, options, shape, s, &p); !st.ok()) return st;
  }
  if (shape.query_rows == 0) return Status::Ok();
  if (Status s = detail::CheckBatchMemory(b, options, shape, p); !s.ok()) return s;
  // The scales' values, once their buffers are known to be sound.
  for (std::size_t s = 0; s < b.sequences; ++s) {
    (void)detail::SequenceParams(b, options, shape, s, &p);
    if (Status st = detail::CheckInputValues(p); !st.ok()) return st;
  }
  Status status;
  const detail::KernelTable* table = detail::ActiveTable(&status);
  if (table == nullptr) return status;
  if (options.executor != nullptr && options.executor->concurrency() > 1) {
    std::vector<detail::AttentionParams> seqs(b.sequences);
    for (std::size_t s = 0; s < b.sequences; ++s) (void)detail::SequenceParams(b, options, shape, s, &seqs[s]);
    detail::AttentionBatchOnExecutor(table->attention, seqs.data(), seqs.size(), options.executor);
    return Status::Ok();
  }
  for (std::size_t s = 0; s < b.sequences; ++s) {
    (void)detail::SequenceParams(b, options, shape, s, &p);
    if (p.queries > 0) table->attention.attention(p);
  }
  return Status::Ok();
}

}  // namespace softkern

#endif  // SOFTKERN_DETAIL_SERVING_IMPL_HPP_
