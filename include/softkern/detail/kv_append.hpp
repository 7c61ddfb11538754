// softkern/detail/kv_append.hpp — append_kv (serving.hpp): new tokens'
// K or V rows into a dense or paged cache, converted or quantized to its
// element type. Plain C++ on the calling thread: it touches only the new
// tokens (a decode step's are a few thousand values per sequence), next to
// attention's reads of whole contexts. Included by serving_impl.hpp, after
// row_driver.hpp (ElementAt reads the float32, bfloat16 or float16 input).
#ifndef SOFTKERN_DETAIL_KV_APPEND_HPP_
#define SOFTKERN_DETAIL_KV_APPEND_HPP_

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "softkern/detail/extents.hpp"
#include "softkern/detail/fp_env.hpp"
#include "softkern/element_types.hpp"
#include "softkern/serving.hpp"

namespace softkern {
namespace detail {
namespace {

// The smallest int8 scale: a row of zeros (or of values below 127 * 2^-126)
// still gets a normal, positive scale.
constexpr float kMinInt8Scale = 0x1p-126f;

// The resolved strides of a KvAppend (0s replaced by the dense layouts).
struct AppendLayout {
  std::size_t x_row, x_head, row, head, block, scale_row, scale_head, scale_block;
  std::size_t bytes;  // per cache element
  // Offset (elements) of cache row r, and of its scales (int8).
  std::size_t RowAt(const KvAppend& a, std::size_t r) const {
    return a.block_size == 0 ? r * row : (r / a.block_size) * block + (r % a.block_size) * row;
  }
  std::size_t ScaleAt(const KvAppend& a, std::size_t r) const {
    return a.block_size == 0 ? r * scale_row : (r / a.block_size) * scale_block + (r % a.block_size) * scale_row;
  }
};

// The cache (or its int8 scales) as extents: dense [rows, Hk] or paged
// [blocks, block_size, Hk], `inner` elements of `bytes` each, and whether
// every element has its own address.
bool CacheExtent(const KvAppend& a, const void* base, std::size_t row, std::size_t head, std::size_t block,
                 std::size_t inner, std::size_t bytes, Extent* out, bool* distinct) {
  if (a.block_size == 0) {
    const std::size_t sizes[2] = {a.cache_rows, a.kv_heads}, strides[2] = {row, head};
    *distinct = DistinctElements(sizes, strides, 2, inner);
    return TensorExtent(base, sizes, strides, 2, inner, bytes, out);
  }
  const std::size_t sizes[3] = {(a.cache_rows + a.block_size - 1) / a.block_size, a.block_size, a.kv_heads};
  const std::size_t strides[3] = {block, row, head};
  *distinct = DistinctElements(sizes, strides, 3, inner);
  return TensorExtent(base, sizes, strides, 3, inner, bytes, out);
}

Status CheckAppend(const KvAppend& a, AppendLayout* l) {
  const std::size_t d = a.head_dim, Hk = a.kv_heads;
  if (Hk == 0 || d == 0 || d > kMaxHeadDim) {
    return Status(StatusCode::kBadArgument, "append_kv: kv_heads must be >= 1 and head_dim in [1, kMaxHeadDim = 256]");
  }
  if (a.x.data() == nullptr || a.slots == nullptr || a.cache.data() == nullptr) {
    return Status(StatusCode::kNullPointer, "append_kv: x, slots or cache is null");
  }
  if (is_quantized(a.x.type())) return Status(StatusCode::kBadArgument, "append_kv: x is float32, bfloat16 or float16");
  if (a.block_size > kMaxBlockSize) return Status(StatusCode::kBadArgument, "append_kv: block_size must be in [0, 256]");
  const ElementType type = a.cache.type();
  const bool int8 = type == ElementType::kInt8, fp8 = is_quantized(type) && !int8;
  if ((int8 && a.scales == nullptr) || (fp8 && a.head_scales == nullptr)) {
    return Status(StatusCode::kNullPointer, "append_kv: an int8 cache needs scales, an fp8 cache head_scales");
  }
  if ((!int8 && a.scales != nullptr) || (!fp8 && a.head_scales != nullptr)) {
    return Status(StatusCode::kBadArgument, "append_kv: scales are for int8 caches, head_scales for fp8 (pass null)");
  }
  l->x_row = a.x_row_stride != 0 ? a.x_row_stride : Hk * d;
  l->x_head = a.x_head_stride != 0 ? a.x_head_stride : d;
  l->head = a.head_stride != 0 ? a.head_stride : d;
  l->row = a.row_stride != 0 ? a.row_stride : Hk * d;
  l->block = a.block_stride != 0 ? a.block_stride : a.block_size * Hk * d;
  l->scale_head = a.scale_head_stride != 0 ? a.scale_head_stride : 1;
  l->scale_row = a.scale_row_stride != 0 ? a.scale_row_stride : Hk;
  l->scale_block = a.scale_block_stride != 0 ? a.scale_block_stride : a.block_size * Hk;
  l->bytes = element_bytes(type);
  for (std::size_t t = 0; t < a.tokens; ++t) {
    if (a.slots[t] >= 0 && static_cast<std::uint64_t>(a.slots[t]) >= a.cache_rows) {
      return Status(StatusCode::kBadArgument, "append_kv: a slot is past cache_rows");
    }
  }
  const std::size_t x_sizes[2] = {a.tokens, Hk}, x_strides[2] = {l->x_row, l->x_head};
  const std::size_t one[1] = {1}, unit[1] = {1};
  Extent x, slots, cache, scales, head_scales;
  bool cache_distinct = true, scales_distinct = true;
  if (!TensorExtent(a.x.data(), x_sizes, x_strides, 2, d, element_bytes(a.x.type()), &x) ||
      !TensorExtent(a.slots, one, unit, 1, a.tokens, sizeof(std::int64_t), &slots) ||
      !CacheExtent(a, a.cache.data(), l->row, l->head, l->block, d, l->bytes, &cache, &cache_distinct) ||
      (int8 && !CacheExtent(a, a.scales, l->scale_row, l->scale_head, l->scale_block, 1, sizeof(float), &scales,
                            &scales_distinct)) ||
      (fp8 && !TensorExtent(a.head_scales, x_sizes + 1, &l->scale_head, 1, 1, sizeof(float), &head_scales))) {
    return Status(StatusCode::kBadStride, "append_kv: a buffer's extent exceeds PTRDIFF_MAX bytes");
  }
  if (!cache_distinct || !scales_distinct) {
    return Status(StatusCode::kBadStride, "append_kv: the cache's strides make two of its elements share an address");
  }
  for (const Extent& out : {cache, scales}) {
    for (const Extent& in : {x, slots, head_scales}) {
      if (Overlaps(out, in)) return Status(StatusCode::kOverlap, "append_kv: the cache overlaps an input");
    }
  }
  if (Overlaps(cache, scales)) return Status(StatusCode::kOverlap, "append_kv: the cache and its scales overlap");
  if (fp8) {
    for (std::size_t g = 0; g < Hk; ++g) {
      const float s = a.head_scales[g * l->scale_head];
      if (!(s > 0.0f) || !(s <= std::numeric_limits<float>::max())) {
        return Status(StatusCode::kBadArgument, "append_kv: a head scale is not finite and > 0");
      }
    }
  }
  if (int8 || fp8) {
    for (std::size_t t = 0; t < a.tokens; ++t) {
      if (a.slots[t] < 0) continue;
      for (std::size_t g = 0; g < Hk; ++g) {
        const void* row = static_cast<const unsigned char*>(a.x.data()) +
                          (t * l->x_row + g * l->x_head) * element_bytes(a.x.type());
        for (std::size_t c = 0; c < d; ++c) {
          if (!std::isfinite(ElementAt(row, c, a.x.type()))) {
            return Status(StatusCode::kBadArgument, "append_kv: a quantized cache holds finite values only");
          }
        }
      }
    }
  }
  return Status::Ok();
}

// One row of d values into `dst` in the cache's type; int8's scale to *scale.
void StoreRow(const KvAppend& a, const void* src, void* dst, float head_scale, float* scale) {
  const std::size_t d = a.head_dim;
  const ElementType in = a.x.type();
  switch (a.cache.type()) {
    case ElementType::kFloat32:
      for (std::size_t c = 0; c < d; ++c) static_cast<float*>(dst)[c] = ElementAt(src, c, in);
      return;
    case ElementType::kBFloat16:
      for (std::size_t c = 0; c < d; ++c) static_cast<bfloat16*>(dst)[c] = to_bfloat16(ElementAt(src, c, in));
      return;
    case ElementType::kFloat16:
      for (std::size_t c = 0; c < d; ++c) static_cast<float16*>(dst)[c] = to_float16(ElementAt(src, c, in));
      return;
    case ElementType::kInt8: {
      float max = 0.0f;
      for (std::size_t c = 0; c < d; ++c) max = std::fmax(max, std::fabs(ElementAt(src, c, in)));
      const float s = std::fmax(max / 127.0f, kMinInt8Scale);
      *scale = s;
      for (std::size_t c = 0; c < d; ++c) {
        const float code = std::nearbyint(ElementAt(src, c, in) / s);  // round-to-nearest-even (ScopedDefaultFpEnv)
        static_cast<std::int8_t*>(dst)[c] = static_cast<std::int8_t>(std::fmin(127.0f, std::fmax(-127.0f, code)));
      }
      return;
    }
    case ElementType::kFloat8E4M3:
      for (std::size_t c = 0; c < d; ++c) static_cast<float8_e4m3*>(dst)[c] = to_float8_e4m3(ElementAt(src, c, in) / head_scale);
      return;
    case ElementType::kFloat8E5M2:
      for (std::size_t c = 0; c < d; ++c) static_cast<float8_e5m2*>(dst)[c] = to_float8_e5m2(ElementAt(src, c, in) / head_scale);
      return;
  }
}

}  // namespace
}  // namespace detail

Status append_kv(const KvAppend& a) {
  const detail::ScopedDefaultFpEnv fp_env;
  if (a.tokens == 0) return Status::Ok();
  detail::AppendLayout l;
  if (Status s = detail::CheckAppend(a, &l); !s.ok()) return s;
  const std::size_t in_bytes = element_bytes(a.x.type());
  const bool fp8 = is_quantized(a.cache.type()) && a.cache.type() != ElementType::kInt8;
  for (std::size_t t = 0; t < a.tokens; ++t) {
    if (a.slots[t] < 0) continue;
    const std::size_t r = static_cast<std::size_t>(a.slots[t]);
    for (std::size_t g = 0; g < a.kv_heads; ++g) {
      const void* src = static_cast<const unsigned char*>(a.x.data()) + (t * l.x_row + g * l.x_head) * in_bytes;
      void* dst = static_cast<unsigned char*>(a.cache.data()) + (l.RowAt(a, r) + g * l.head) * l.bytes;
      float* scale = a.scales != nullptr ? a.scales + l.ScaleAt(a, r) + g * l.scale_head : nullptr;
      detail::StoreRow(a, src, dst, fp8 ? a.head_scales[g * l.scale_head] : 1.0f, scale);
    }
  }
  return Status::Ok();
}

}  // namespace softkern

#endif  // SOFTKERN_DETAIL_KV_APPEND_HPP_
