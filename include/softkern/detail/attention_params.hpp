// softkern/detail/attention_params.hpp — a validated attention call, as the
// per-target kernels see it (filled by attention_impl.hpp). Nothing here
// names Highway.
#ifndef SOFTKERN_DETAIL_ATTENTION_PARAMS_HPP_
#define SOFTKERN_DETAIL_ATTENTION_PARAMS_HPP_

#include <cstddef>
#include <cstdint>

#include "softkern/attention.hpp"
#include "softkern/element_types.hpp"

namespace softkern {
namespace detail {

// Every stride resolved (no zeros), positions as 64-bit integers, the score
// scale folded: softmax feeds (q * q_scale).k + mask * mask_scale to the
// exponential, q_scale = scale / T, mask_scale = 1 / T.
struct AttentionParams {
  std::size_t queries, keys, heads, kv_heads, head_dim;
  const float* q;
  std::size_t q_row_stride, q_head_stride;
  const void* k;
  const void* v;
  ElementType kv_type;  // AttentionTensors' KvPointer carries it
  std::size_t kv_row_stride, kv_head_stride;
  // Which cache rows the call's keys are: key j is cache row kv_first_key + j.
  // Dense (block_table null): row r of KV head g at k + r * kv_row_stride +
  // g * kv_head_stride. Paged: row r is slot r % block_size of physical
  // block block_table[r / block_size], at k + block * kv_block_stride +
  // slot * kv_row_stride + g * kv_head_stride. Only attention_rows-inl.hpp
  // reads these.
  std::size_t kv_first_key;
  const std::int32_t* block_table;
  std::size_t block_size, kv_block_stride;
  // Quantized K/V (kv_type int8 or fp8): the value of a code is code *
  // scale. int8: one scale per (row, KV head), at the row's place with the
  // scale strides (paged: scale_block_stride per block); fp8: one per KV
  // head, g * scale_head_stride. Null for float types.
  const float* k_scales;
  const float* v_scales;
  std::size_t scale_row_stride, scale_head_stride, scale_block_stride;
  float* o;
  std::size_t o_row_stride, o_head_stride;
  float* lse;
  std::size_t lse_row_stride;
  std::uint64_t query_start, key_start;
  bool causal;
  std::uint64_t window;  // 0: none
  ScoreFunction score;
  float q_scale;
  float mask_scale;
  const float* sinks;  // softmax: S_h, scaled by mask_scale in the kernel
  const float* mask;
  std::size_t mask_row_stride, mask_head_stride;
  float sigmoid_bias;
  float softplus_power, softplus_offset;
  // Soft-capping of the raw score R = scale q.k: c tanh(R / c), applied to
  // the scores the kernels form (R / T) as softcap_out * tanh(s *
  // softcap_in), softcap_in = T / c, softcap_out = c / T; 0: none.
  float softcap_in, softcap_out;
  // ALiBi: -alibi_slopes[h] |query position - key position| joins the mask
  // (scaled by mask_scale); null: none.
  const float* alibi_slopes;
  // Prefetch K and V rows a few keys ahead of their loads: one KV head's K and V are
  // larger than the per-core L2 (attention_rows-inl.hpp, RowsAhead).
  bool prefetch_kv;
};

struct MergeParams {
  std::size_t splits, rows, heads, head_dim;
  const float* o_parts;
  const float* lse_parts;
  float* o;
  float* lse;
  ScoreFunction score;
  const float* sinks;
  float inv_temperature;
};

struct LinearParams {
  AttentionParams t;  // shapes, tensors and strides (score fields unused)
  float* state;
  float* normaliser;
  LinearKind kind;
  bool causal;
  float eps;
  const float* decay;
  std::size_t chunk;
};

// The attention kernels of one target (attention-inl.hpp), a member of its
// KernelTable (kernel_table.hpp).
struct AttentionKernels {
  void (*attention)(const AttentionParams& params);
  void (*merge)(const MergeParams& params);
  void (*linear)(const LinearParams& params);
};

}  // namespace detail
}  // namespace softkern

#endif  // SOFTKERN_DETAIL_ATTENTION_PARAMS_HPP_
