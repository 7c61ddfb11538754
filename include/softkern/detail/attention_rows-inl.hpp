// softkern/detail/attention_rows-inl.hpp — how attention reads K and V
// rows, per target: the block geometry (kBlockKeys keys of up to kPaddedDim
// floats), where a key's row is (RowWalk: dense or paged caches), 16-bit to
// float conversion, a block's rows in place or converted into a zero-padded
// float buffer (LoadRows), and the prefetch of the rows a few keys ahead.
// Everything that knows the K/V element type, or whether the cache is dense
// or paged, lives here; the loops above it see rows of a type given to them
// (WithRowType).

#if defined(SOFTKERN_DETAIL_ATTENTION_ROWS_INL_HPP_) == defined(HWY_TARGET_TOGGLE)
#ifdef SOFTKERN_DETAIL_ATTENTION_ROWS_INL_HPP_
#undef SOFTKERN_DETAIL_ATTENTION_ROWS_INL_HPP_
#else
#define SOFTKERN_DETAIL_ATTENTION_ROWS_INL_HPP_
#endif

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include <hwy/highway.h>

#include "softkern/detail/attention_params.hpp"
#include "softkern/detail/softmax-inl.hpp"

HWY_BEFORE_NAMESPACE();
namespace softkern {
namespace detail {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Keys per block (of the kernels' key loop, whatever the cache's own
// blocks): K and V of a block (2 x 32 x 256 floats at most) fit in L1
// next to the tile.
constexpr std::size_t kBlockKeys = 32;
constexpr std::size_t kMaxLanesF = hn::MaxLanes(DF());
// A row padded to a whole number of vectors.
constexpr std::size_t kPaddedDim = kMaxHeadDim + kMaxLanesF;
// A block's scores padded to a whole number of vectors (padding is -inf).
constexpr std::size_t kScoreStride = kBlockKeys + kMaxLanesF;

HWY_INLINE std::size_t RoundUpTo(std::size_t x, std::size_t m) { return (x + m - 1) / m * m; }

// ------------------------------------------------------------ conversions

HWY_INLINE float ToFloat(float x) { return x; }
HWY_INLINE float ToFloat(hwy::bfloat16_t x) {
  std::uint16_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  const std::uint32_t u = static_cast<std::uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
HWY_INLINE float ToFloat(hwy::float16_t x) {
  std::uint16_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000u) << 16;
  const std::uint32_t exponent = (bits >> 10) & 0x1Fu;
  const std::uint32_t mantissa = bits & 0x3FFu;
  float f;
  if (exponent == 0) {
    f = std::ldexp(static_cast<float>(mantissa), -24);  // zero and subnormals, exact
    std::uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    u |= sign;
    std::memcpy(&f, &u, sizeof f);
    return f;
  }
  const std::uint32_t u = exponent == 0x1F ? (sign | 0x7F800000u | (mantissa << 13))
                                           : (sign | ((exponent + 112) << 23) | (mantissa << 13));
  std::memcpy(&f, &u, sizeof f);
  return f;
}

template <typename T>
HWY_INLINE VF LoadAsFloat(DF df, const T* p) {
  const hn::Rebind<T, DF> dh;
  return hn::PromoteTo(df, hn::LoadU(dh, p));
}
HWY_INLINE VF LoadAsFloat(DF df, const float* p) { return hn::LoadU(df, p); }

// dst[0, dp) = src[0, d) as float, zero padded. 16-bit types through
// PromoteTo, a vector at a time.
template <typename T>
HWY_INLINE void ConvertRow(DF df, const T* src, std::size_t d, std::size_t dp, float* dst) {
  const std::size_t N = hn::Lanes(df);
  std::size_t c = 0;
  for (; c + N <= d; c += N) hn::StoreU(LoadAsFloat(df, src + c), df, dst + c);
  for (; c < d; ++c) dst[c] = ToFloat(src[c]);
  for (; c < dp; ++c) dst[c] = 0.0f;
}

// Prefetches a row into the L2, not the L1 (locality 2: prefetcht1 on x86,
// PRFM PLDL2KEEP on Arm; hwy::Prefetch is the L1 hint). A DRAM miss held in
// one of the L1's few miss buffers for its whole latency starves the demand
// loads of the block being computed; the L2 tracks many more, and its hits
// are short enough for out-of-order execution to hide (measured in
// docs/attention-performance.md, "Decode").
HWY_INLINE void PrefetchRow(const void* p, std::size_t bytes) {
  const char* line = static_cast<const char*>(p);
  const char* const end = line + bytes;
  // Four lines per iteration: a d = 128 float32 row is 8 lines, and a loop of
  // one line per iteration makes a third of decode's instructions (AVX2).
  for (; line + 256 <= end; line += 256) {
    __builtin_prefetch(line, 0, 2);
    __builtin_prefetch(line + 64, 0, 2);
    __builtin_prefetch(line + 128, 0, 2);
    __builtin_prefetch(line + 192, 0, 2);
  }
  for (; line < end; line += 64) __builtin_prefetch(line, 0, 2);
}

// How far ahead of its loads a row is prefetched: the row of key j +
// kPrefetchAhead is requested while key j computes, next to its own loads,
// so the requests are spread over the keys rather than issued in a burst per
// block, and far enough ahead to cover a DRAM miss while a GQA group's rows
// compute (docs/attention-performance.md, "Decode").
constexpr std::size_t kPrefetchAhead = 16;

// The rows to prefetch for the keys of one block: row[j] is where the row of
// key j0 + j + kPrefetchAhead starts (null past the last key). bytes is 0
// when nothing is prefetched: rows in the L2 arrive fast enough without it.
struct RowsAhead {
  const char* row[kBlockKeys];
  std::size_t bytes = 0;
};

HWY_INLINE void PrefetchAhead(const RowsAhead* ahead, std::size_t j) {
  if (ahead != nullptr && ahead->bytes != 0 && ahead->row[j] != nullptr) PrefetchRow(ahead->row[j], ahead->bytes);
}

// The rows of one KV head in key order, from any key: the one place that
// knows where a key's row is. Dense caches step by the row stride; paged
// caches step through a block's slots and then to the block the table names
// next. A table entry is read only when a row of its block is asked for, so
// a walk never reads past the blocks of the call's keys.
template <typename T>
class RowWalk {
 public:
  // `head` is KV head g of the cache (base + g * kv_head_stride); the walk
  // starts at the call's key `key`.
  HWY_INLINE RowWalk(const AttentionParams& p, const T* head, std::size_t key)
      : head_(head), row_stride_(p.kv_row_stride), block_stride_(p.kv_block_stride), block_size_(p.block_size) {
    const std::size_t row = p.kv_first_key + key;
    if (p.block_table == nullptr) {
      row_ = head + row * p.kv_row_stride;
      left_ = ~std::size_t{0};
      return;
    }
    table_ = p.block_table + row / block_size_;
    const std::size_t slot = row % block_size_;
    row_ = head + static_cast<std::size_t>(*table_) * block_stride_ + slot * row_stride_;
    left_ = block_size_ - slot;
  }
  // The current row; the walk moves to the next key.
  HWY_INLINE const T* Next() {
    if (left_ == 0) {
      ++table_;
      row_ = head_ + static_cast<std::size_t>(*table_) * block_stride_;
      left_ = block_size_;
    }
    const T* row = row_;
    row_ += row_stride_;
    --left_;
    return row;
  }

 private:
  const T* head_;
  const T* row_;
  const std::int32_t* table_ = nullptr;
  std::size_t left_;  // rows left in the current cache block
  std::size_t row_stride_, block_stride_, block_size_;
};

// Rows j0 .. j0 + count of KV head g of `base` (K or V), each dp readable
// elements (zero beyond d), and returns their type: the tensor's own rows
// when d is a whole number of vectors and they are float32, or 16-bit and
// `widen_in_place` (then the loops widen them as they load them, see
// ScoreDots and WidensKvInPlace); else rows converted to float into buf.
// If `ahead` is given, it receives the rows to prefetch while this block
// computes, when the cache is beyond the L2 (AttentionParams::prefetch_kv).
template <typename T>
HWY_INLINE ElementType LoadRowsT(DF df, const AttentionParams& p, const void* base, std::size_t g,
                            std::size_t j0, std::size_t count, std::size_t dp, float* buf,
                            const void** rows, RowsAhead* ahead, bool widen_in_place) {
  const T* head = static_cast<const T*>(base) + g * p.kv_head_stride;
  const std::size_t d = p.head_dim;
  if (ahead != nullptr) {
    ahead->bytes = p.prefetch_kv ? d * sizeof(T) : 0;
    const std::size_t first = j0 + kPrefetchAhead;
    const std::size_t valid = ahead->bytes != 0 && first < p.keys ? HWY_MIN(count, p.keys - first) : 0;
    if (valid != 0) {
      RowWalk<T> walk(p, head, first);
      for (std::size_t j = 0; j < valid; ++j) ahead->row[j] = reinterpret_cast<const char*>(walk.Next());
    }
    for (std::size_t j = valid; j < count; ++j) ahead->row[j] = nullptr;
  }
  RowWalk<T> walk(p, head, j0);
  if (d == dp && (sizeof(T) == sizeof(float) || widen_in_place)) {
    for (std::size_t j = 0; j < count; ++j) rows[j] = walk.Next();
    return p.kv_type;
  }
  for (std::size_t j = 0; j < count; ++j) {
    ConvertRow(df, walk.Next(), d, dp, buf + j * kPaddedDim);
    rows[j] = buf + j * kPaddedDim;
  }
  return ElementType::kFloat32;
}

HWY_INLINE ElementType LoadRows(DF df, const AttentionParams& p, const void* base, std::size_t g,
                           std::size_t j0, std::size_t count, std::size_t dp, float* buf,
                           const void** rows, RowsAhead* ahead = nullptr, bool widen_in_place = false) {
  switch (p.kv_type) {
    case ElementType::kBFloat16:
      return LoadRowsT<hwy::bfloat16_t>(df, p, base, g, j0, count, dp, buf, rows, ahead, widen_in_place);
    case ElementType::kFloat16:
      return LoadRowsT<hwy::float16_t>(df, p, base, g, j0, count, dp, buf, rows, ahead, widen_in_place);
    case ElementType::kFloat32:
    default:
      return LoadRowsT<float>(df, p, base, g, j0, count, dp, buf, rows, ahead, widen_in_place);
  }
}

// Calls f(T()) with T the element type of rows of type `type`.
template <class F>
HWY_INLINE void WithRowType(ElementType type, const F& f) {
  switch (type) {
    case ElementType::kBFloat16: return f(hwy::bfloat16_t());
    case ElementType::kFloat16: return f(hwy::float16_t());
    case ElementType::kFloat32:
    default: return f(0.0f);
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace detail
}  // namespace softkern
HWY_AFTER_NAMESPACE();

#endif  // toggle guard
