// softkern/detail/attention_impl.hpp — argument checks and public functions
// of attention.hpp. Included at the end of implementation.hpp (after the
// per-target expansion and the dispatcher); every check runs before any
// kernel, so a rejected call writes nothing.
#ifndef SOFTKERN_DETAIL_ATTENTION_IMPL_HPP_
#define SOFTKERN_DETAIL_ATTENTION_IMPL_HPP_

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>

#include "softkern/attention.hpp"
#include "softkern/detail/attention_params.hpp"
#include "softkern/detail/attention_tasks.hpp"
#include "softkern/detail/dispatcher.hpp"
#include "softkern/detail/extents.hpp"
#include "softkern/detail/known_enum.hpp"

namespace softkern {
namespace detail {
namespace {

Status CheckScoreOptions(const AttentionOptions& o, std::size_t head_dim, float* q_scale, float* mask_scale) {
  if (!IsKnown(o.score, kScoreFunctionCount)) return Status(StatusCode::kBadArgument, "attention: unknown ScoreFunction");
  if (!std::isfinite(o.scale)) return Status(StatusCode::kBadArgument, "attention: scale must be finite (0 means 1/sqrt(d))");
  const double scale = o.scale == 0.0f ? 1.0 / std::sqrt(static_cast<double>(head_dim)) : o.scale;
  if (o.score == ScoreFunction::kSoftmax) {
    const float t = o.temperature;
    if (!(t > 0.0f) || !std::isfinite(t)) {
      return Status(StatusCode::kBadTemperature, "attention: temperature must be finite and > 0");
    }
    const double inv_t = 1.0 / static_cast<double>(t);
    if (!(inv_t <= std::numeric_limits<float>::max())) {
      return Status(StatusCode::kBadTemperature, "attention: temperature must be at least 1/FLT_MAX");
    }
    *q_scale = static_cast<float>(scale * inv_t);
    *mask_scale = static_cast<float>(inv_t);
    if (!std::isfinite(*q_scale)) return Status(StatusCode::kBadArgument, "attention: scale / temperature overflows a float");
  } else {
    if (o.temperature != 1.0f) {
      return Status(StatusCode::kBadTemperature, "attention: temperature applies to softmax only (must be 1)");
    }
    if (o.sinks != nullptr) return Status(StatusCode::kBadArgument, "attention: sinks apply to softmax only");
    *q_scale = static_cast<float>(scale);
    *mask_scale = 1.0f;
  }
  if (o.score == ScoreFunction::kSigmoid && !std::isfinite(o.sigmoid_bias)) {
    return Status(StatusCode::kBadArgument, "attention: sigmoid_bias must be finite");
  }
  if (o.score == ScoreFunction::kSoftplus) {
    if (!(o.softplus_power > 0.0f) || !std::isfinite(o.softplus_power)) {
      return Status(StatusCode::kBadArgument, "attention: softplus_power must be finite and > 0");
    }
    if (!std::isfinite(o.softplus_offset)) return Status(StatusCode::kBadArgument, "attention: softplus_offset must be finite");
  }
  return Status::Ok();
}

// Validates the tensors (shared by attention and linear_attention) and fills
// the shape, tensor and position fields of *p.
Status MakeTensorParams(const AttentionTensors& t, bool positions_matter, AttentionParams* p) {
  if (t.heads == 0 || t.kv_heads == 0) return Status(StatusCode::kBadArgument, "attention: heads and kv_heads must be >= 1");
  if (t.heads % t.kv_heads != 0) return Status(StatusCode::kBadArgument, "attention: heads must be a multiple of kv_heads");
  if (t.head_dim == 0 || t.head_dim > kMaxHeadDim) {
    return Status(StatusCode::kBadArgument, "attention: head_dim must be in [1, kMaxHeadDim = 256]");
  }
  const std::size_t d = t.head_dim, H = t.heads, Hk = t.kv_heads, L = t.queries, n = t.keys;
  if (L > 0 && (t.q == nullptr || t.o == nullptr)) return Status(StatusCode::kNullPointer, "attention: q or o is null with queries > 0");
  if (L > 0 && n > 0 && (t.k.data() == nullptr || t.v.data() == nullptr)) {
    return Status(StatusCode::kNullPointer, "attention: k or v is null with keys > 0");
  }
  if (t.k.data() != nullptr && t.v.data() != nullptr && t.k.type() != t.v.type()) {
    return Status(StatusCode::kBadArgument, "attention: k and v have different element types");
  }
  p->queries = L;
  p->keys = n;
  p->heads = H;
  p->kv_heads = Hk;
  p->head_dim = d;
  p->q = t.q;
  p->q_head_stride = t.q_head_stride != 0 ? t.q_head_stride : d;
  p->q_row_stride = t.q_row_stride != 0 ? t.q_row_stride : H * d;
  p->k = t.k.data();
  p->v = t.v.data();
  p->kv_type = t.k.type();
  p->kv_head_stride = t.kv_head_stride != 0 ? t.kv_head_stride : d;
  p->kv_row_stride = t.kv_row_stride != 0 ? t.kv_row_stride : Hk * d;
  const bool quantized = is_quantized(p->kv_type);
  if (!quantized && (t.k_scales != nullptr || t.v_scales != nullptr)) {
    return Status(StatusCode::kBadArgument, "attention: k_scales and v_scales apply to quantized K/V only (pass null)");
  }
  if (quantized && L > 0 && n > 0 && (t.k_scales == nullptr || t.v_scales == nullptr)) {
    return Status(StatusCode::kNullPointer, "attention: quantized K/V need k_scales and v_scales");
  }
  p->k_scales = t.k_scales;
  p->v_scales = t.v_scales;
  p->scale_head_stride = t.scale_head_stride != 0 ? t.scale_head_stride : 1;
  p->scale_row_stride = t.scale_row_stride != 0 ? t.scale_row_stride : Hk;
  p->prefetch_kv = n > PerCoreL2Bytes() / (2 * element_bytes(p->kv_type) * d);  // K and V of one head
  p->o = t.o;
  p->o_head_stride = t.o_head_stride != 0 ? t.o_head_stride : d;
  p->o_row_stride = t.o_row_stride != 0 ? t.o_row_stride : H * d;
  p->lse = t.lse;
  p->lse_row_stride = t.lse_row_stride != 0 ? t.lse_row_stride : H;
  if (H * d / d != H || Hk * d / d != Hk) return Status(StatusCode::kBadStride, "attention: heads * head_dim overflows");
  // Positions.
  std::uint64_t key_end;
  if (__builtin_add_overflow(static_cast<std::uint64_t>(t.key_start), static_cast<std::uint64_t>(n), &key_end)) {
    return Status(StatusCode::kBadArgument, "attention: key_start + keys overflows");
  }
  if (t.query_start == kQueriesAtEnd) {
    if (key_end < L) {
      // Without a causal mask or a window positions do not matter (cross
      // attention may have more queries than keys).
      if (positions_matter) {
        return Status(StatusCode::kBadArgument, "attention: kQueriesAtEnd needs queries <= key_start + keys");
      }
      p->query_start = 0;
    } else {
      p->query_start = key_end - L;
    }
  } else {
    std::uint64_t query_end;
    if (__builtin_add_overflow(static_cast<std::uint64_t>(t.query_start), static_cast<std::uint64_t>(L), &query_end)) {
      return Status(StatusCode::kBadArgument, "attention: query_start + queries overflows");
    }
    p->query_start = t.query_start;
  }
  p->key_start = t.key_start;
  return Status::Ok();
}

// The floats a quantized cache's scales span: int8 [rows, Hk] with the scale
// strides, fp8 [Hk].
bool ScalesExtent(const AttentionParams& p, const float* scales, std::size_t rows, Extent* out) {
  const std::size_t sizes[2] = {rows, p.kv_heads};
  const std::size_t strides[2] = {p.scale_row_stride, p.scale_head_stride};
  if (p.kv_type == ElementType::kInt8) return TensorExtent(scales, sizes, strides, 2, 1, sizeof(float), out);
  return TensorExtent(scales, sizes + 1, strides + 1, 1, 1, sizeof(float), out);
}

// A scale as the cache's codes need it: finite and > 0 (NaN fails both).
bool ScaleIsValid(float s) { return s > 0.0f && s <= std::numeric_limits<float>::max(); }

// The values of every scale the call reads (run after the block ids were
// checked): int8's of each key and KV head, through the block table for a
// paged cache; fp8's of each KV head, whose products with q's scale (and
// 2^8 for E4M3, see KvHeadFactor) must stay finite floats.
Status CheckKvScales(const AttentionParams& p) {
  if (!is_quantized(p.kv_type) || p.queries == 0 || p.keys == 0) return Status::Ok();
  const Status bad(StatusCode::kBadArgument, "attention: a K/V scale is not finite and > 0");
  if (p.kv_type != ElementType::kInt8) {
    const double code_factor = p.kv_type == ElementType::kFloat8E4M3 ? 0x1p8 : 1.0;
    const double flt_max = std::numeric_limits<float>::max();
    for (std::size_t g = 0; g < p.kv_heads; ++g) {
      const float ks = p.k_scales[g * p.scale_head_stride], vs = p.v_scales[g * p.scale_head_stride];
      if (!ScaleIsValid(ks) || !ScaleIsValid(vs)) return bad;
      if (std::fabs(p.q_scale * ks * code_factor) > flt_max || vs * code_factor > flt_max) {
        return Status(StatusCode::kBadArgument, "attention: scale times an fp8 head's scale overflows a float");
      }
    }
    return Status::Ok();
  }
  for (std::size_t j = 0; j < p.keys; ++j) {
    const std::size_t row = p.kv_first_key + j;
    const std::size_t at = p.block_table == nullptr
                               ? row * p.scale_row_stride
                               : static_cast<std::size_t>(p.block_table[row / p.block_size]) * p.scale_block_stride +
                                     (row % p.block_size) * p.scale_row_stride;
    for (std::size_t g = 0; g < p.kv_heads; ++g) {
      if (!ScaleIsValid(p.k_scales[at + g * p.scale_head_stride]) || !ScaleIsValid(p.v_scales[at + g * p.scale_head_stride])) {
        return bad;
      }
    }
  }
  return Status::Ok();
}

// Extents of the tensors and the checks between them. `extra_outputs` are
// further outputs (the linear state) that must not overlap anything.
Status CheckTensorMemory(const AttentionParams& p, const Extent* extra_inputs, int extra_input_count,
                         const Extent* extra_outputs, int extra_output_count) {
  const std::size_t L = p.queries, H = p.heads, Hk = p.kv_heads, n = p.keys, d = p.head_dim;
  if (L == 0) return Status::Ok();
  Extent q, k, v, o, lse;
  const std::size_t qo_sizes[2] = {L, H};
  const std::size_t q_strides[2] = {p.q_row_stride, p.q_head_stride};
  const std::size_t o_strides[2] = {p.o_row_stride, p.o_head_stride};
  const std::size_t kv_sizes[2] = {n, Hk};
  const std::size_t kv_strides[2] = {p.kv_row_stride, p.kv_head_stride};
  const std::size_t lse_strides[2] = {p.lse_row_stride, 1};
  const std::size_t kv_bytes = element_bytes(p.kv_type);
  if (!TensorExtent(p.q, qo_sizes, q_strides, 2, d, sizeof(float), &q) ||
      !TensorExtent(p.o, qo_sizes, o_strides, 2, d, sizeof(float), &o) ||
      (n > 0 && (!TensorExtent(p.k, kv_sizes, kv_strides, 2, d, kv_bytes, &k) ||
                 !TensorExtent(p.v, kv_sizes, kv_strides, 2, d, kv_bytes, &v))) ||
      (p.lse != nullptr && !TensorExtent(p.lse, qo_sizes, lse_strides, 2, 1, sizeof(float), &lse))) {
    return Status(StatusCode::kBadStride, "attention: a tensor's extent (strides x sizes) exceeds PTRDIFF_MAX bytes");
  }
  if (!DistinctElements(qo_sizes, o_strides, 2, d)) {
    return Status(StatusCode::kBadStride, "attention: o's strides make two output elements share an address");
  }
  if (p.lse != nullptr && !DistinctElements(qo_sizes, lse_strides, 2, 1)) {
    return Status(StatusCode::kBadStride, "attention: lse_row_stride must be >= heads (or queries == 1)");
  }
  Extent inputs[12] = {q, k, v};
  int input_count = 3;
  if (p.k_scales != nullptr && n > 0) {
    Extent ks, vs;
    if (!ScalesExtent(p, p.k_scales, n, &ks) || !ScalesExtent(p, p.v_scales, n, &vs)) {
      return Status(StatusCode::kBadStride, "attention: the scales' extent exceeds PTRDIFF_MAX bytes");
    }
    inputs[input_count++] = ks;
    inputs[input_count++] = vs;
  }
  for (int i = 0; i < extra_input_count; ++i) inputs[input_count++] = extra_inputs[i];
  Extent outputs[4] = {o, lse};
  int output_count = 2;
  for (int i = 0; i < extra_output_count; ++i) outputs[output_count++] = extra_outputs[i];
  for (int a = 0; a < output_count; ++a) {
    for (int b = 0; b < input_count; ++b) {
      if (Overlaps(outputs[a], inputs[b])) return Status(StatusCode::kOverlap, "attention: an output overlaps an input");
    }
    for (int b = a + 1; b < output_count; ++b) {
      if (Overlaps(outputs[a], outputs[b])) return Status(StatusCode::kOverlap, "attention: two outputs overlap");
    }
  }
  return Status::Ok();
}

// The option fields of *p (attention and attention_batch): the score
// function's checks and constants, masking, sinks. `default_mask_row_stride`
// is what mask_row_stride 0 means.
Status ApplyOptions(const AttentionOptions& options, std::size_t default_mask_row_stride, AttentionParams* p) {
  if (Status s = CheckScoreOptions(options, p->head_dim, &p->q_scale, &p->mask_scale); !s.ok()) return s;
  if (p->lse != nullptr && options.score != ScoreFunction::kSoftmax) {
    return Status(StatusCode::kBadArgument, "attention: lse is defined for softmax only (pass null)");
  }
  p->causal = options.causal;
  p->window = options.window;
  p->score = options.score;
  p->sinks = options.sinks;
  p->mask = options.mask;
  p->mask_row_stride = options.mask_row_stride != 0 ? options.mask_row_stride : default_mask_row_stride;
  p->mask_head_stride = options.mask_head_stride;
  p->sigmoid_bias = options.sigmoid_bias;
  p->softplus_power = options.softplus_power;
  p->softplus_offset = options.softplus_offset;
  const float c = options.softcap;
  if (!(c >= 0.0f) || !std::isfinite(c)) return Status(StatusCode::kBadArgument, "attention: softcap must be finite and >= 0 (0: none)");
  p->softcap_in = p->softcap_out = 0.0f;
  if (c > 0.0f) {
    if (options.score == ScoreFunction::kSoftplus) {
      return Status(StatusCode::kBadArgument, "attention: softcap applies to softmax and sigmoid");
    }
    const double t = options.score == ScoreFunction::kSoftmax ? options.temperature : 1.0;
    p->softcap_in = static_cast<float>(t / c);
    p->softcap_out = static_cast<float>(c / t);
    if (!(p->softcap_in >= std::numeric_limits<float>::min()) || !std::isfinite(p->softcap_out)) {
      return Status(StatusCode::kBadArgument, "attention: softcap / temperature is outside the float range");
    }
  }
  p->alibi_slopes = options.alibi_slopes;
  return Status::Ok();
}

// The values of the inputs a call must not start with, read once their
// buffers were checked: ALiBi slopes finite, a quantized cache's scales
// (CheckKvScales).
Status CheckInputValues(const AttentionParams& p) {
  if (p.alibi_slopes != nullptr && p.queries > 0) {
    for (std::size_t h = 0; h < p.heads; ++h) {
      if (!std::isfinite(p.alibi_slopes[h])) return Status(StatusCode::kBadArgument, "attention: an ALiBi slope is not finite");
    }
  }
  return CheckKvScales(p);
}

}  // namespace
}  // namespace detail

const char* score_function_name(ScoreFunction score) {
  switch (score) {
    case ScoreFunction::kSoftmax: return "softmax";
    case ScoreFunction::kSigmoid: return "sigmoid";
    case ScoreFunction::kSoftplus: return "softplus";
  }
  return "unknown";
}

Status attention(const AttentionTensors& t, const AttentionOptions& options) {
  const detail::ScopedDefaultFpEnv fp_env;  // IEEE defaults for the call (fp_env.hpp)
  detail::AttentionParams p{};
  if (Status s = detail::MakeTensorParams(t, options.causal || options.window != 0, &p); !s.ok()) return s;
  if (Status s = detail::ApplyOptions(options, t.keys, &p); !s.ok()) return s;
  detail::Extent extra[3];
  int extra_count = 0;
  if (t.queries > 0 && options.mask != nullptr && t.keys > 0) {
    const std::size_t sizes[2] = {t.queries, t.heads};
    const std::size_t strides[2] = {p.mask_row_stride, p.mask_head_stride};
    if (!detail::TensorExtent(options.mask, sizes, strides, 2, t.keys, sizeof(float), &extra[extra_count++])) {
      return Status(StatusCode::kBadStride, "attention: the mask's extent exceeds PTRDIFF_MAX bytes");
    }
  }
  if (t.queries > 0 && options.sinks != nullptr) {
    const std::size_t sizes[1] = {1};
    const std::size_t strides[1] = {1};
    (void)detail::TensorExtent(options.sinks, sizes, strides, 1, t.heads, sizeof(float), &extra[extra_count++]);
  }
  if (t.queries > 0 && options.alibi_slopes != nullptr) {
    const std::size_t sizes[1] = {1};
    const std::size_t strides[1] = {1};
    (void)detail::TensorExtent(options.alibi_slopes, sizes, strides, 1, t.heads, sizeof(float), &extra[extra_count++]);
  }
  if (Status s = detail::CheckTensorMemory(p, extra, extra_count, nullptr, 0); !s.ok()) return s;
  if (Status s = detail::CheckInputValues(p); !s.ok()) return s;
  if (t.queries == 0) return Status::Ok();
  Status status;
  const detail::KernelTable* table = detail::ActiveTable(&status);
  if (table == nullptr) return status;
  if (options.executor != nullptr && options.executor->concurrency() > 1) {
    detail::AttentionBatchOnExecutor(table->attention, &p, 1, options.executor);
  } else {
    table->attention.attention(p);
  }
  return Status::Ok();
}

Status attention_merge(std::size_t splits, std::size_t rows, std::size_t heads, std::size_t head_dim,
                       const float* o_parts, const float* lse_parts, float* o, float* lse,
                       const AttentionOptions& options) {
  const detail::ScopedDefaultFpEnv fp_env;
  if (options.score == ScoreFunction::kSoftplus) {
    return Status(StatusCode::kBadArgument,
                  "attention_merge: softplus partials do not merge (its weights need statistics over all keys)");
  }
  float q_scale, mask_scale;
  if (Status s = detail::CheckScoreOptions(options, head_dim == 0 ? 1 : head_dim, &q_scale, &mask_scale); !s.ok()) return s;
  if (head_dim == 0 || head_dim > kMaxHeadDim) {
    return Status(StatusCode::kBadArgument, "attention_merge: head_dim must be in [1, kMaxHeadDim = 256]");
  }
  if (heads == 0 || rows % heads != 0) {
    return Status(StatusCode::kBadArgument, "attention_merge: rows must be a multiple of heads (>= 1)");
  }
  if (rows == 0) return Status::Ok();
  if (o == nullptr || (splits > 0 && o_parts == nullptr) ||
      (splits > 0 && options.score == ScoreFunction::kSoftmax && lse_parts == nullptr)) {
    return Status(StatusCode::kNullPointer, "attention_merge: o, o_parts or (softmax) lse_parts is null");
  }
  if (lse != nullptr && options.score != ScoreFunction::kSoftmax) {
    return Status(StatusCode::kBadArgument, "attention_merge: lse is defined for softmax only (pass null)");
  }
  const std::size_t one[1] = {1};
  const std::size_t unit[1] = {1};
  std::size_t parts_elems, parts_rows;
  if (__builtin_mul_overflow(splits, rows, &parts_rows) || __builtin_mul_overflow(parts_rows, head_dim, &parts_elems)) {
    return Status(StatusCode::kBadStride, "attention_merge: splits * rows * head_dim overflows");
  }
  detail::Extent o_extent, lse_extent, o_parts_extent, lse_parts_extent, sinks_extent;
  if (!detail::TensorExtent(o, one, unit, 1, rows * head_dim, sizeof(float), &o_extent) ||
      (lse != nullptr && !detail::TensorExtent(lse, one, unit, 1, rows, sizeof(float), &lse_extent)) ||
      (splits > 0 && !detail::TensorExtent(o_parts, one, unit, 1, parts_elems, sizeof(float), &o_parts_extent)) ||
      (splits > 0 && lse_parts != nullptr && options.score == ScoreFunction::kSoftmax &&
       !detail::TensorExtent(lse_parts, one, unit, 1, parts_rows, sizeof(float), &lse_parts_extent)) ||
      (options.sinks != nullptr && !detail::TensorExtent(options.sinks, one, unit, 1, heads, sizeof(float), &sinks_extent))) {
    return Status(StatusCode::kBadStride, "attention_merge: a buffer's size exceeds PTRDIFF_MAX bytes");
  }
  for (const detail::Extent& out : {o_extent, lse_extent}) {
    for (const detail::Extent& in : {o_parts_extent, lse_parts_extent, sinks_extent}) {
      if (detail::Overlaps(out, in)) return Status(StatusCode::kOverlap, "attention_merge: an output overlaps an input");
    }
  }
  if (detail::Overlaps(o_extent, lse_extent)) return Status(StatusCode::kOverlap, "attention_merge: o and lse overlap");
  Status status;
  const detail::KernelTable* table = detail::ActiveTable(&status);
  if (table == nullptr) return status;
  detail::MergeParams m{splits, rows, heads, head_dim, o_parts, lse_parts, o, lse, options.score, options.sinks,
                        mask_scale};
  table->attention.merge(m);
  return Status::Ok();
}

Status linear_attention(const AttentionTensors& tensors, float* state, float* normaliser,
                        const LinearAttentionOptions& options) {
  const detail::ScopedDefaultFpEnv fp_env;
  // Positions, masks and windows do not apply: validate the shapes with the
  // queries placed at 0.
  AttentionTensors t = tensors;
  t.query_start = 0;
  t.key_start = 0;
  detail::LinearParams lp{};
  if (Status s = detail::MakeTensorParams(t, false, &lp.t); !s.ok()) return s;
  if (is_quantized(lp.t.kv_type)) {
    return Status(StatusCode::kBadArgument, "linear_attention: K/V are float32, bfloat16 or float16 (not quantized)");
  }
  if (!detail::IsKnown(options.kind, kLinearKindCount)) {
    return Status(StatusCode::kBadArgument, "linear_attention: unknown LinearKind");
  }
  const bool elu = options.kind == LinearKind::kEluPlusOne;
  if (!elu && !options.causal) return Status(StatusCode::kBadArgument, "linear_attention: kDecay is causal only");
  if (options.causal && t.queries != t.keys) {
    return Status(StatusCode::kBadArgument, "linear_attention: causal needs queries == keys (token i is query i and key i)");
  }
  if (!(options.eps >= 0.0f) || !std::isfinite(options.eps)) {
    return Status(StatusCode::kBadArgument, "linear_attention: eps must be finite and >= 0");
  }
  if (options.chunk > 32) return Status(StatusCode::kBadArgument, "linear_attention: chunk must be in [1, 32] (0 means 32)");
  if (t.lse != nullptr) return Status(StatusCode::kBadArgument, "linear_attention: lse does not apply (pass null)");
  if (t.queries == 0 && (!options.causal || t.keys == 0)) return Status::Ok();
  if (state == nullptr || (elu && normaliser == nullptr)) {
    return Status(StatusCode::kNullPointer, "linear_attention: state (and, for elu+1, normaliser) is null");
  }
  if (!elu) {
    if (options.decay == nullptr) return Status(StatusCode::kNullPointer, "linear_attention: kDecay needs decay[heads]");
    for (std::size_t h = 0; h < t.heads; ++h) {
      if (!(options.decay[h] >= 0.0f) || !std::isfinite(options.decay[h])) {
        return Status(StatusCode::kBadArgument, "linear_attention: decay s_h must be finite and >= 0");
      }
    }
  }
  const std::size_t one[1] = {1}, unit[1] = {1};
  std::size_t state_elems, norm_elems;
  if (__builtin_mul_overflow(t.heads, t.head_dim * t.head_dim, &state_elems) ||
      __builtin_mul_overflow(t.heads, t.head_dim, &norm_elems)) {
    return Status(StatusCode::kBadStride, "linear_attention: the state's size overflows");
  }
  detail::Extent outputs[2], inputs[1];
  int input_count = 0;
  if (!detail::TensorExtent(state, one, unit, 1, state_elems, sizeof(float), &outputs[0]) ||
      (elu && !detail::TensorExtent(normaliser, one, unit, 1, norm_elems, sizeof(float), &outputs[1]))) {
    return Status(StatusCode::kBadStride, "linear_attention: the state exceeds PTRDIFF_MAX bytes");
  }
  if (!elu) {
    (void)detail::TensorExtent(options.decay, one, unit, 1, t.heads, sizeof(float), &inputs[0]);
    input_count = 1;
  }
  if (Status s = detail::CheckTensorMemory(lp.t, inputs, input_count, outputs, elu ? 2 : 1); !s.ok()) return s;
  Status status;
  const detail::KernelTable* table = detail::ActiveTable(&status);
  if (table == nullptr) return status;
  lp.state = state;
  lp.normaliser = elu ? normaliser : nullptr;
  lp.kind = options.kind;
  lp.causal = options.causal;
  lp.eps = options.eps;
  lp.decay = options.decay;
  lp.chunk = options.chunk == 0 ? 32 : options.chunk;
  if (options.executor != nullptr && options.executor->concurrency() > 1 && t.heads > 1) {
    detail::LinearAttentionOnExecutor(table->attention, lp, options.executor);
  } else {
    table->attention.linear(lp);
  }
  return Status::Ok();
}

}  // namespace softkern

#endif  // SOFTKERN_DETAIL_ATTENTION_IMPL_HPP_
