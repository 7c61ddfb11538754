// softkern/detail/attention_rows-inl.hpp — how attention reads K and V
// rows, per target: the block geometry (kBlockKeys keys of up to kPaddedDim
// floats), where a key's row is (RowsOf: dense or paged caches), 16-bit to
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
//
// What the loops read for each K/V element type: float32, bf16 and f16 as
// their values; int8 as the integer code (its scale is per key:
// BlockRows::scale); fp8 E5M2 as its value (the upper byte of a binary16);
// fp8 E4M3 as 2^-8 of its value (its bits, moved into binary16 positions,
// with NaN kept), the 2^8 going into the per-head factor (KvHeadFactor).
// Every conversion is exact, so a row has the same floats read in place or
// converted.

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
  return HalfBitsToFloat(bits);
}
HWY_INLINE float ToFloat(std::int8_t x) { return static_cast<float>(x); }
HWY_INLINE float ToFloat(float8_e5m2 x) { return Float8E5M2BitsToFloat(x.bits); }
HWY_INLINE float ToFloat(float8_e4m3 x) { return Float8E4M3BitsToFloat(x.bits) * 0x1p-8f; }

template <typename T>
HWY_INLINE VF LoadAsFloat(DF df, const T* p) {
  const hn::Rebind<T, DF> dh;
  return hn::PromoteTo(df, hn::LoadU(dh, p));
}
HWY_INLINE VF LoadAsFloat(DF df, const float* p) { return hn::LoadU(df, p); }
#if HWY_TARGET == HWY_SCALAR
// Highway 1.0.3's scalar binary16 promotion reads exponent 31 as a normal
// exponent (infinity and NaN become 2^16 and more): the exact conversion.
HWY_INLINE VF LoadAsFloat(DF df, const hwy::float16_t* p) { return hn::Set(df, ToFloat(*p)); }
#endif
HWY_INLINE VF LoadAsFloat(DF df, const std::int8_t* p) {
  const hn::Rebind<std::int8_t, DF> d8;
  const hn::Rebind<std::int32_t, DF> d32;
  return hn::ConvertTo(df, hn::PromoteTo(d32, hn::LoadU(d8, p)));
}
// binary16 bits, widened by the target's half conversion (exactly, NaN and
// infinities included: on the scalar target by HalfBitsToFloat, see above).
HWY_INLINE VF HalfBitsToFloatVec(DF df, hn::Vec<hn::Rebind<std::uint16_t, DF>> bits) {
#if HWY_TARGET == HWY_SCALAR
  return hn::Set(df, HalfBitsToFloat(hn::GetLane(bits)));
#else
  const hn::Rebind<hwy::float16_t, DF> dh;
  return hn::PromoteTo(df, hn::BitCast(dh, bits));
#endif
}
HWY_INLINE VF LoadAsFloat(DF df, const float8_e5m2* p) {
  const hn::Rebind<std::uint8_t, DF> d8;
  const hn::Rebind<std::uint16_t, DF> d16;
  const auto codes = hn::PromoteTo(d16, hn::LoadU(d8, reinterpret_cast<const std::uint8_t*>(p)));
  return HalfBitsToFloatVec(df, hn::ShiftLeft<8>(codes));
}
HWY_INLINE VF LoadAsFloat(DF df, const float8_e4m3* p) {
  const hn::Rebind<std::uint8_t, DF> d8;
  const hn::Rebind<std::uint16_t, DF> d16;
  const auto codes = hn::PromoteTo(d16, hn::LoadU(d8, reinterpret_cast<const std::uint8_t*>(p)));
  // Sign to bit 15, exponent and mantissa to bits 7..13: binary16 bits of
  // 2^-8 times the value (E4M3's bias 7 against binary16's 15), subnormals
  // included; S.1111.111 is NaN.
  const auto bits = hn::Or(hn::ShiftLeft<8>(hn::And(codes, hn::Set(d16, 0x80))),
                           hn::ShiftLeft<7>(hn::And(codes, hn::Set(d16, 0x7F))));
  const auto nan = hn::Eq(hn::And(codes, hn::Set(d16, 0x7F)), hn::Set(d16, 0x7F));
  return HalfBitsToFloatVec(df, hn::IfThenElse(nan, hn::Set(d16, 0x7E00), bits));
}

// dst[0, dp) = src[0, d) as float, zero padded, a vector at a time.
template <typename T>
HWY_INLINE void ConvertRow(DF df, const T* src, std::size_t d, std::size_t dp, float* dst) {
  const std::size_t N = hn::Lanes(df);
  std::size_t c = 0;
  for (; c + N <= d; c += N) hn::StoreU(LoadAsFloat(df, src + c), df, dst + c);
  for (; c < d; ++c) dst[c] = ToFloat(src[c]);
  for (; c < dp; ++c) dst[c] = 0.0f;
}

// The factor a KV head's loaded K (or V) values take to become its values:
// fp8's per-head scale (times 2^8 for E4M3, see above); 1 for the float
// types, and for int8, whose scales are per key (BlockRows::scale). The
// loops fold it into q (K) and into the final normalisation (V), in double,
// rounded once.
HWY_INLINE double KvHeadFactor(const AttentionParams& p, const float* scales, std::size_t g) {
  if (p.kv_type == ElementType::kFloat8E5M2) return static_cast<double>(scales[g * p.scale_head_stride]);
  if (p.kv_type == ElementType::kFloat8E4M3) return static_cast<double>(scales[g * p.scale_head_stride]) * 0x1p8;
  return 1.0;
}

// Prefetches a row into the L2, not the L1 (locality 2: prefetcht1 on x86,
// PRFM PLDL2KEEP on Arm; hwy::Prefetch is the L1 hint). A DRAM miss held in
// one of the L1's few miss buffers for its whole latency starves the demand
// loads of the block being computed; the L2 tracks many more, and its hits
// are short enough for out-of-order execution to hide (measured in
// docs/attention-performance.md, "Decode").
HWY_INLINE void PrefetchRow(const void* p, std::size_t bytes) {
  const char* line = static_cast<const char*>(p);
  std::size_t lines = (bytes + 63) / 64;
  // Straight-line prefetches, eight lines at a time (a d = 128 float32 row is
  // 8 lines): a loop of one line per iteration makes a third of decode's
  // instructions (AVX2).
  for (; lines > 8; lines -= 8, line += 512) {
    for (int i = 0; i < 8; ++i) __builtin_prefetch(line + 64 * i, 0, 2);
  }
  switch (lines) {
    case 8: __builtin_prefetch(line + 448, 0, 2); [[fallthrough]];
    case 7: __builtin_prefetch(line + 384, 0, 2); [[fallthrough]];
    case 6: __builtin_prefetch(line + 320, 0, 2); [[fallthrough]];
    case 5: __builtin_prefetch(line + 256, 0, 2); [[fallthrough]];
    case 4: __builtin_prefetch(line + 192, 0, 2); [[fallthrough]];
    case 3: __builtin_prefetch(line + 128, 0, 2); [[fallthrough]];
    case 2: __builtin_prefetch(line + 64, 0, 2); [[fallthrough]];
    case 1: __builtin_prefetch(line, 0, 2); [[fallthrough]];
    default: break;
  }
}

// How far ahead of its loads a row is prefetched: the row of key j +
// kPrefetchAhead is requested while key j computes, next to its own loads,
// so the requests are spread over the keys rather than issued in a burst per
// block, and far enough ahead to cover a DRAM miss while a GQA group's rows
// compute (docs/attention-performance.md, "Decode").
constexpr std::size_t kPrefetchAhead = 16;

// The rows to prefetch for the keys of one block: while key j0 + j
// computes, the row of key j0 + j + kPrefetchAhead, at source[j +
// kPrefetchAhead] (the block's own rows, then the next kPrefetchAhead; null
// past the last key). bytes is 0 when nothing is prefetched: rows in the L2
// arrive fast enough without it.
struct RowsAhead {
  const void* const* source = nullptr;
  std::size_t bytes = 0;
};

// The prefetch of key j's block (null: none; see AheadOf).
HWY_INLINE void PrefetchAhead(const RowsAhead* ahead, std::size_t j) {
  if (ahead == nullptr) return;
  if (const void* row = ahead->source[j + kPrefetchAhead]) PrefetchRow(row, ahead->bytes);
}

// One key block of K or V as the loops see it (LoadRows).
struct BlockRows {
  // Rows of `type`, dp readable elements each; in place, the array goes on
  // with the kPrefetchAhead rows after the block (RowsAhead::source).
  const void* row[kBlockKeys + kPrefetchAhead];
  const void* source[kBlockKeys + kPrefetchAhead];  // the tensor's rows, when row holds converted copies
  ElementType type;
  // int8: each key's scale (the value is code * scale), zero in the padding
  // up to a whole vector; the loops multiply K's into the scores and V's
  // into the weights.
  bool scaled;
  HWY_ALIGN float scale[kScoreStride];
  RowsAhead ahead;
};

// A block's rows to prefetch, or null when it prefetches nothing: the loops
// test once per block, not once per key.
HWY_INLINE const RowsAhead* AheadOf(const BlockRows& rows) { return rows.ahead.bytes != 0 ? &rows.ahead : nullptr; }

// Where the rows of the call's keys [key, key + count) of one KV head are:
// the one place that knows where a key's row is. `head` is the head's first
// element (the tensor's base + g * its head stride); rows are `row_stride`
// elements apart within a cache block. Dense caches are one block; paged
// caches are runs of consecutive slots, each block found through the table
// (one division per run, and a table entry is read only for blocks the keys
// are in). K and V rows, and int8's per-key scales, are found the same way
// with their own strides.
template <typename T, typename Out>
HWY_INLINE void RowsOf(const AttentionParams& p, const T* head, std::size_t key, std::size_t count,
                       std::size_t row_stride, std::size_t block_stride, Out* out) {
  std::size_t row = p.kv_first_key + key;
  if (p.block_table == nullptr) {
    const T* first = head + row * row_stride;
    for (std::size_t j = 0; j < count; ++j) out[j] = first + j * row_stride;
    return;
  }
  const std::size_t block_size = p.block_size;
  for (std::size_t j = 0; j < count;) {
    const std::size_t slot = row % block_size;
    const std::size_t run = HWY_MIN(block_size - slot, count - j);
    const T* first = head + static_cast<std::size_t>(p.block_table[row / block_size]) * block_stride + slot * row_stride;
    for (std::size_t k = 0; k < run; ++k) out[j + k] = first + k * row_stride;
    j += run;
    row += run;
  }
}

// Keys j0 .. j0 + count of KV head g of `base` (K or V, with `scales` for
// int8) into *out: the tensor's own rows when d is a whole number of vectors
// and they are float32, or of another type and `widen_in_place` (then the
// loops widen them as they load them, see ScoreDots and WidensKvInPlace);
// else rows converted to float into buf, each dp elements, zero beyond d. If
// `prefetch`, out->ahead receives the rows to prefetch while this block
// computes, when the cache is beyond the L2 (AttentionParams::prefetch_kv).
template <typename T>
HWY_INLINE void LoadRowsT(DF df, const AttentionParams& p, const void* base, const float* scales, std::size_t g,
                          std::size_t j0, std::size_t count, std::size_t dp, float* buf, BlockRows* out,
                          bool prefetch, bool widen_in_place) {
  const T* head = static_cast<const T*>(base) + g * p.kv_head_stride;
  const std::size_t d = p.head_dim;
  RowsAhead& ahead = out->ahead;
  ahead.bytes = prefetch && p.prefetch_kv ? d * sizeof(T) : 0;
  const bool in_place = d == dp && (sizeof(T) == sizeof(float) || widen_in_place);
  const void** source = in_place ? out->row : out->source;
  // The block's rows and, when prefetching, the kPrefetchAhead after it
  // (those past the call's last key null).
  const std::size_t extra = ahead.bytes != 0 ? HWY_MIN(kPrefetchAhead, p.keys - (j0 + count)) : 0;
  RowsOf(p, head, j0, count + extra, p.kv_row_stride, p.kv_block_stride, source);
  if (ahead.bytes != 0) {
    for (std::size_t j = count + extra; j < count + kPrefetchAhead; ++j) source[j] = nullptr;
    ahead.source = source;
  }
  out->scaled = p.kv_type == ElementType::kInt8;
  if (out->scaled) {
    const float* at[kBlockKeys];
    RowsOf(p, scales + g * p.scale_head_stride, j0, count, p.scale_row_stride, p.scale_block_stride, at);
    std::size_t j = 0;
    for (; j < count; ++j) out->scale[j] = *at[j];
    for (; j < RoundUpTo(count, hn::Lanes(df)); ++j) out->scale[j] = 0.0f;
  }
  if (in_place) {
    out->type = p.kv_type;
    return;
  }
  for (std::size_t j = 0; j < count; ++j) {
    ConvertRow(df, static_cast<const T*>(source[j]), d, dp, buf + j * kPaddedDim);
    out->row[j] = buf + j * kPaddedDim;
  }
  out->type = ElementType::kFloat32;
}

// Calls f(T()) with T the element type of rows of type `type`.
template <class F>
HWY_INLINE void WithRowType(ElementType type, const F& f) {
  switch (type) {
    case ElementType::kBFloat16: return f(hwy::bfloat16_t());
    case ElementType::kFloat16: return f(hwy::float16_t());
    case ElementType::kInt8: return f(std::int8_t());
    case ElementType::kFloat8E4M3: return f(float8_e4m3());
    case ElementType::kFloat8E5M2: return f(float8_e5m2());
    case ElementType::kFloat32:
    default: return f(0.0f);
  }
}

// LoadRowsT for the call's K/V element type. K: p.k with p.k_scales; V:
// p.v with p.v_scales.
HWY_INLINE void LoadRows(DF df, const AttentionParams& p, bool v, std::size_t g, std::size_t j0, std::size_t count,
                         std::size_t dp, float* buf, BlockRows* out, bool prefetch = false, bool widen_in_place = false) {
  WithRowType(p.kv_type, [&](auto t) HWY_ATTR {
    LoadRowsT<decltype(t)>(df, p, v ? p.v : p.k, v ? p.v_scales : p.k_scales, g, j0, count, dp, buf, out, prefetch,
                           widen_in_place);
  });
}

}  // namespace HWY_NAMESPACE
}  // namespace detail
}  // namespace softkern
HWY_AFTER_NAMESPACE();

#endif  // toggle guard
