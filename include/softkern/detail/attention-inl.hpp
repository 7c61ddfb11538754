// softkern/detail/attention-inl.hpp — attention kernels, per target.
//
// Re-included once per target, like softmax-inl.hpp (whose row helpers and
// exponential it uses). One tiled loop serves decode and prefill and every
// score function:
//  - A *tile* is up to kTileRows query rows (query i, head h) that read the
//    same KV head: the H/Hk heads of a GQA group, times as many consecutive
//    queries as fit (prefill). Its scaled queries and output accumulators
//    live in stack scratch, O(kTileRows * d) (FlashAttention-2 order: the
//    outer loop runs over query tiles, the inner over key blocks, so memory
//    never grows with L * n).
//  - A *key block* is kBlockKeys keys. Its K and V rows are read once per
//    tile (16-bit rows, and float rows whose length is not a whole number of
//    vectors, are converted into zero-padded float rows first), the tile's
//    scores are formed as dot products, invisible keys (causal, window, -inf
//    mask) get a score of exactly -inf, and the block is folded into each
//    row's state: online softmax (running max m, sum l, output o rescaled by
//    e^{m_old - m_new}), sigmoid (a plain sum), or one of the softplus passes.
//  - Keys whose weight is exactly 0 are skipped in the V accumulation, so an
//    invisible key's V row is never read into the result (NaN included).

#if defined(SOFTKERN_DETAIL_ATTENTION_INL_HPP_) == defined(HWY_TARGET_TOGGLE)
#ifdef SOFTKERN_DETAIL_ATTENTION_INL_HPP_
#undef SOFTKERN_DETAIL_ATTENTION_INL_HPP_
#else
#define SOFTKERN_DETAIL_ATTENTION_INL_HPP_
#endif

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#include <hwy/highway.h>

#include "softkern/detail/attention_params.hpp"
#include "softkern/detail/exp-inl.hpp"
#include "softkern/detail/softmax-inl.hpp"

HWY_BEFORE_NAMESPACE();
namespace softkern {
namespace detail {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Query rows per tile: each K/V block is read once per tile, and the tile's
// accumulators (kTileRows x d floats) stay in L1. 16 rather than 8: causal
// prefill L = n = 2048, d = 128 went from 46 to 54 GFLOP/s on AVX-512 (half
// the passes over K and V).
constexpr std::size_t kTileRows = 16;
// Keys per block: K and V of a block (2 x 32 x 256 floats at most) fit in L1
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

HWY_INLINE void PrefetchRow(const void* p, std::size_t bytes) {
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  for (std::size_t line = 0; line < bytes; line += 64) {
    hwy::Prefetch(reinterpret_cast<const float*>(a + line));
  }
}

// The rows of the next key block, prefetched one row per key while this
// block computes (ScoreBlock for K, AccumulateV for V), so the prefetches
// overlap the arithmetic instead of coming in one burst per block. Only when
// K and V come from beyond the L2 (AttentionParams::prefetch_kv): decode,
// d = 128, float32, Ice Lake Xeon, median ns per key, no prefetch / spread
// prefetch: n = 1 Ki (in L2) 25.8 / 34.9, n = 1 Mi (DRAM) 114 / 104.
struct NextRows {
  const void* row[kBlockKeys];  // nullptr past the last key or without prefetch_kv
  std::size_t bytes = 0;
};

HWY_INLINE void PrefetchNext(const NextRows* next, std::size_t j) {
  if (next != nullptr && next->row[j] != nullptr) PrefetchRow(next->row[j], next->bytes);
}

// Rows j0 .. j0 + count of KV head g of `base` (K or V), each dp readable
// elements (zero beyond d), and returns their type: the tensor's own rows
// when d is a whole number of vectors and they are float32, or 16-bit and
// `widen_in_place` (then the loops widen them as they load them, see
// ScoreDots and WidensKvInPlace); else rows converted to float into buf.
// If `next` is given, it receives the rows of the block after this one.
template <typename T>
HWY_INLINE KvType LoadRowsT(DF df, const AttentionParams& p, const void* base, std::size_t g,
                            std::size_t j0, std::size_t count, std::size_t dp, float* buf,
                            const void** rows, NextRows* next, bool widen_in_place) {
  const T* head = static_cast<const T*>(base) + g * p.kv_head_stride;
  const std::size_t d = p.head_dim;
  if (next != nullptr) {
    next->bytes = d * sizeof(T);
    for (std::size_t j = 0; j < count; ++j) {
      const std::size_t key = j0 + count + j;
      next->row[j] = p.prefetch_kv && key < p.keys ? head + key * p.kv_row_stride : nullptr;
    }
  }
  if (d == dp && (sizeof(T) == sizeof(float) || widen_in_place)) {
    for (std::size_t j = 0; j < count; ++j) rows[j] = head + (j0 + j) * p.kv_row_stride;
    return p.kv_type;
  }
  for (std::size_t j = 0; j < count; ++j) {
    ConvertRow(df, head + (j0 + j) * p.kv_row_stride, d, dp, buf + j * kPaddedDim);
    rows[j] = buf + j * kPaddedDim;
  }
  return KvType::kFloat32;
}

HWY_INLINE KvType LoadRows(DF df, const AttentionParams& p, const void* base, std::size_t g,
                           std::size_t j0, std::size_t count, std::size_t dp, float* buf,
                           const void** rows, NextRows* next = nullptr, bool widen_in_place = false) {
  switch (p.kv_type) {
    case KvType::kBFloat16:
      return LoadRowsT<hwy::bfloat16_t>(df, p, base, g, j0, count, dp, buf, rows, next, widen_in_place);
    case KvType::kFloat16:
      return LoadRowsT<hwy::float16_t>(df, p, base, g, j0, count, dp, buf, rows, next, widen_in_place);
    case KvType::kFloat32:
    default:
      return LoadRowsT<float>(df, p, base, g, j0, count, dp, buf, rows, next, widen_in_place);
  }
}

// Calls f(T()) with T the element type of rows of type `type`.
template <class F>
HWY_INLINE void WithRowType(KvType type, const F& f) {
  switch (type) {
    case KvType::kBFloat16: return f(hwy::bfloat16_t());
    case KvType::kFloat16: return f(hwy::float16_t());
    case KvType::kFloat32:
    default: return f(0.0f);
  }
}

// ------------------------------------------------------------ small math

// Natural log for x > 0 (denormals included; 0 gives a large negative value,
// callers guard it): x = 2^k m with m in [sqrt(1/2), sqrt(2)), log m =
// 2 atanh(s) = 2 s (1 + s^2/3 + s^4/5 + ...), s = (m - 1)/(m + 1), |s| <=
// 0.172, so seven terms leave a truncation error below 2^-36.
HWY_INLINE VF LogPositive(DF df, VF x) {
  const hn::RebindToSigned<DF> di;
  const auto tiny = hn::Lt(x, hn::Set(df, 0x1p-126f));
  x = hn::IfThenElse(tiny, hn::Mul(x, hn::Set(df, 0x1p64f)), x);
  const auto bits = hn::BitCast(di, x);
  // 0x3F3504F3 is sqrt(1/2): k = floor(log2(x / sqrt(1/2))).
  const auto k = hn::ShiftRight<23>(hn::Sub(bits, hn::Set(di, 0x3F3504F3)));
  const VF m = hn::BitCast(df, hn::Sub(bits, hn::ShiftLeft<23>(k)));
  const VF s = hn::Div(hn::Sub(m, hn::Set(df, 1.0f)), hn::Add(m, hn::Set(df, 1.0f)));
  const VF s2 = hn::Mul(s, s);
  VF poly = hn::MulAdd(s2, hn::Set(df, 1.0f / 13), hn::Set(df, 1.0f / 11));
  poly = hn::MulAdd(poly, s2, hn::Set(df, 1.0f / 9));
  poly = hn::MulAdd(poly, s2, hn::Set(df, 1.0f / 7));
  poly = hn::MulAdd(poly, s2, hn::Set(df, 1.0f / 5));
  poly = hn::MulAdd(poly, s2, hn::Set(df, 1.0f / 3));
  poly = hn::MulAdd(poly, s2, hn::Set(df, 1.0f));
  VF kf = hn::ConvertTo(df, k);
  kf = hn::IfThenElse(tiny, hn::Sub(kf, hn::Set(df, 64.0f)), kf);
  // k ln2 in two parts (k ln2_hi exact for |k| < 2^9).
  const VF log_m = hn::Mul(hn::Add(s, s), poly);
  return hn::MulAdd(kf, hn::Set(df, kLn2Hi), hn::MulAdd(kf, hn::Set(df, kLn2Lo), log_m));
}

// softplus(x) = max(x, 0) + log1p(e^{-|x|}); log1p(e) for e in [0, 1] as
// log(1 + e) * e / ((1 + e) - 1), which cancels the rounding of 1 + e
// (Goldberg), and e itself when 1 + e rounds to 1. -inf gives exactly 0.
HWY_INLINE VF Softplus(DF df, VF x) {
  const VF e = Exp(df, hn::Neg(hn::Abs(x)));
  const VF one = hn::Set(df, 1.0f);
  const VF u = hn::Add(one, e);
  const VF um1 = hn::Sub(u, one);
  const VF log1p = hn::IfThenElse(hn::Eq(um1, hn::Zero(df)), e,
                                  hn::Div(hn::Mul(LogPositive(df, u), e), hn::IfThenElse(hn::Eq(um1, hn::Zero(df)), one, um1)));
  return hn::Add(MaxKeepNaN(df, x, 0.0f), log1p);
}

// sigmoid(x) = 1 / (1 + e^{-x}), from e = e^{-|x|} <= 1 so nothing
// overflows: 1/(1 + e) for x >= 0, e/(1 + e) below. -inf gives exactly 0.
HWY_INLINE VF Sigmoid(DF df, VF x) {
  const VF e = Exp(df, hn::Neg(hn::Abs(x)));
  const VF inv = hn::Div(hn::Set(df, 1.0f), hn::Add(hn::Set(df, 1.0f), e));
  return hn::IfThenElse(hn::Ge(x, hn::Zero(df)), inv, hn::Mul(e, inv));
}

// ------------------------------------------------------------ tiles

struct TileRow {
  std::size_t query;   // i
  std::size_t head;    // h
  std::uint64_t position;
  std::size_t begin, end;  // keys [begin, end) pass the causal and window tests
  // Softmax: running max, sum; softplus: per-pass statistics.
  float m;
  double l;
  double a_sum;   // softplus: sum_j a_ij
  float t_scale;  // softplus: N_i / (sum_j a_ij + 1e-8)
  float t_max;    // softplus: max_j r_ij before the power
  bool nan_sink;
};

struct Scratch {
  HWY_ALIGN float q[kTileRows][kPaddedDim];
  HWY_ALIGN float o[kTileRows][kPaddedDim];
  HWY_ALIGN float kbuf[kBlockKeys * kPaddedDim];
  HWY_ALIGN float vbuf[kBlockKeys * kPaddedDim];
  HWY_ALIGN float s[kTileRows][kScoreStride];
  float k_inv_norm[kBlockKeys];
  const void* krow[kBlockKeys];  // rows of ktype (LoadRows)
  const void* vrow[kBlockKeys];  // rows of vtype
  KvType ktype, vtype;
  NextRows knext, vnext;
};

struct Tile {
  std::size_t rows = 0;
  std::size_t kv_head = 0;
  TileRow row[kTileRows];
};

// Decode-shaped tiles (fewer than four query rows) read 16-bit K/V rows in
// place, widened as loaded: a converted copy, stored and loaded again, costs
// more than it saves when each row is used once (bf16 decode, d = 128, 1 Mi
// keys: 85 -> 54 ms on the Ice Lake Xeon); prefill tiles reuse each row for
// up to 16 query rows and convert once.
HWY_INLINE bool WidensKvInPlace(const Tile& tile) { return tile.rows < 4; }

// Keys [begin, end) a query at `position` may see by the causal and window
// tests alone.
HWY_INLINE void VisibleKeys(const AttentionParams& p, std::uint64_t position, std::size_t* begin,
                            std::size_t* end) {
  std::uint64_t lo = 0;  // first visible key position
  if (p.window != 0 && position >= p.window) lo = position - p.window + 1;
  std::uint64_t hi = p.causal ? position + 1 : std::numeric_limits<std::uint64_t>::max();  // past the last
  const std::uint64_t k0 = p.key_start, n = p.keys;
  *begin = static_cast<std::size_t>(lo > k0 ? HWY_MIN(n, lo - k0) : 0);
  *end = static_cast<std::size_t>(hi > k0 ? HWY_MIN(n, hi - k0) : 0);
  if (*end < *begin) *end = *begin;
}

HWY_INLINE const float* MaskRow(const AttentionParams& p, const TileRow& r) {
  return p.mask == nullptr ? nullptr : p.mask + r.query * p.mask_row_stride + r.head * p.mask_head_stride;
}

// a . b over dp floats (a aligned, both padded to whole vectors), two accumulators.
HWY_INLINE float Dot(DF df, const float* a, const float* b, std::size_t dp) {
  const std::size_t N = hn::Lanes(df);
  VF s0 = hn::Zero(df), s1 = hn::Zero(df);
  std::size_t c = 0;
  for (; c + 2 * N <= dp; c += 2 * N) {
    s0 = hn::MulAdd(hn::Load(df, a + c), hn::LoadU(df, b + c), s0);
    s1 = hn::MulAdd(hn::Load(df, a + c + N), hn::LoadU(df, b + c + N), s1);
  }
  if (c < dp) s0 = hn::MulAdd(hn::Load(df, a + c), hn::LoadU(df, b + c), s0);
  return hn::GetLane(hn::SumOfLanes(df, hn::Add(s0, s1)));
}

// Folds a vector whose lane l holds a partial sum of output l % 4 into the
// four outputs: halves added until four lanes remain (fixed-size vectors), or
// through memory (scalable ones, whose length need not be a power of two).
#if HWY_TARGET != HWY_SCALAR
template <class D>
HWY_INLINE void StoreSumsOf4(D d, hn::Vec<D> v, float* out) {
#if HWY_HAVE_SCALABLE
  HWY_ALIGN float lanes[kMaxLanesF];
  hn::Store(v, d, lanes);
  float sum[4] = {lanes[0], lanes[1], lanes[2], lanes[3]};
  for (std::size_t l = 4; l < hn::Lanes(d); ++l) sum[l % 4] += lanes[l];
  for (std::size_t k = 0; k < 4; ++k) out[k] = sum[k];
#else
  if constexpr (hn::MaxLanes(d) <= 4) {
    hn::StoreU(v, d, out);
  } else {
    const hn::Half<D> dh;
    StoreSumsOf4(dh, hn::Add(hn::LowerHalf(dh, v), hn::UpperHalf(dh, v)), out);
  }
#endif
}
#endif  // HWY_TARGET != HWY_SCALAR

// out[k] = the sum of the lanes of a_k, k = 0..3, with fewer shuffles than
// four SumOfLanes: two interleave steps leave partial sums of a_(l % 4) in
// lane l, then StoreSumsOf4 folds them. Each out[k] is a fixed tree over a_k's
// own lanes, the same whichever vectors come with it: a score has the same
// bits computed four keys at a time, four rows at a time, or alone
// (SumsOf4(a, a, a, a)).
HWY_INLINE void SumsOf4(DF df, VF a0, VF a1, VF a2, VF a3, float* out) {
#if HWY_TARGET == HWY_SCALAR
  (void)df;
  out[0] = hn::GetLane(a0);
  out[1] = hn::GetLane(a1);
  out[2] = hn::GetLane(a2);
  out[3] = hn::GetLane(a3);
#else
  const hn::Repartition<std::uint64_t, DF> d64;  // pairs of lanes
  const VF s01 = hn::Add(hn::InterleaveLower(df, a0, a1), hn::InterleaveUpper(df, a0, a1));
  const VF s23 = hn::Add(hn::InterleaveLower(df, a2, a3), hn::InterleaveUpper(df, a2, a3));
  const auto w01 = hn::BitCast(d64, s01), w23 = hn::BitCast(d64, s23);
  const VF s = hn::Add(hn::BitCast(df, hn::InterleaveLower(d64, w01, w23)),
                       hn::BitCast(df, hn::InterleaveUpper(d64, w01, w23)));
  StoreSumsOf4(df, s, out);
#endif
}

// s[r][j] = q'_r . k_j for the tile's rows and keys [jb, je) of the block,
// K rows of type T (float, or 16-bit widened as loaded: the same floats, so
// the same bits either way).
template <typename T>
HWY_INLINE void ScoreDots(DF df, const Tile& tile, Scratch& sc, std::size_t jb, std::size_t je,
                          std::size_t dp) {
  const std::size_t N = hn::Lanes(df);
  // Four rows at a time, so each K vector is loaded once per four rows.
  // On the scalar target the compiler, not Highway, decides where a multiply
  // and an add fuse (aarch64 contracts a * b + c by default), and it may
  // decide differently in differently shaped loops: there every (row, key)
  // goes through the one-row, one-key loop, so a row's scores never depend
  // on the tile it is in. Vector targets use explicit fused multiply-adds.
#if HWY_TARGET == HWY_SCALAR
  constexpr bool kGrouped = false;
#else
  constexpr bool kGrouped = true;
#endif
  std::size_t r0 = 0;
  for (; kGrouped && r0 + 4 <= tile.rows; r0 += 4) {
    const std::size_t r1 = r0 + 1, r2 = r0 + 2, r3 = r0 + 3;
    const float* q0 = sc.q[r0];
    const float* q1 = sc.q[r1];
    const float* q2 = sc.q[r2];
    const float* q3 = sc.q[r3];
    for (std::size_t j = jb; j < je; ++j) {
      if (r0 == 0) PrefetchNext(&sc.knext, j);
      const T* k = static_cast<const T*>(sc.krow[j]);
      VF a0 = hn::Zero(df), a1 = hn::Zero(df), a2 = hn::Zero(df), a3 = hn::Zero(df);
      for (std::size_t c = 0; c < dp; c += N) {
        const VF kv = LoadAsFloat(df, k + c);
        a0 = hn::MulAdd(hn::Load(df, q0 + c), kv, a0);
        a1 = hn::MulAdd(hn::Load(df, q1 + c), kv, a1);
        a2 = hn::MulAdd(hn::Load(df, q2 + c), kv, a2);
        a3 = hn::MulAdd(hn::Load(df, q3 + c), kv, a3);
      }
      float sums[4];
      SumsOf4(df, a0, a1, a2, a3, sums);
      sc.s[r0][j] = sums[0];
      sc.s[r1][j] = sums[1];
      sc.s[r2][j] = sums[2];
      sc.s[r3][j] = sums[3];
    }
  }
  // The remaining rows (decode: usually all of them) one at a time, with the
  // same arithmetic per row as above (one accumulator, lanes summed by SumsOf4),
  // so that a row's scores do not depend on the rows it shares a tile with.
  // Four keys at a time: four independent accumulator chains hide the
  // multiply-add latency, and each q vector is loaded once per four keys.
  for (; r0 < tile.rows; ++r0) {
    const float* q0 = sc.q[r0];
    std::size_t j = jb;
    for (; kGrouped && j + 4 <= je; j += 4) {
      const T* k0 = static_cast<const T*>(sc.krow[j]);
      const T* k1 = static_cast<const T*>(sc.krow[j + 1]);
      const T* k2 = static_cast<const T*>(sc.krow[j + 2]);
      const T* k3 = static_cast<const T*>(sc.krow[j + 3]);
      if (r0 == 0) {
        for (std::size_t i = 0; i < 4; ++i) PrefetchNext(&sc.knext, j + i);
      }
      VF a0 = hn::Zero(df), a1 = hn::Zero(df), a2 = hn::Zero(df), a3 = hn::Zero(df);
      for (std::size_t c = 0; c < dp; c += N) {
        const VF qv = hn::Load(df, q0 + c);
        a0 = hn::MulAdd(qv, LoadAsFloat(df, k0 + c), a0);
        a1 = hn::MulAdd(qv, LoadAsFloat(df, k1 + c), a1);
        a2 = hn::MulAdd(qv, LoadAsFloat(df, k2 + c), a2);
        a3 = hn::MulAdd(qv, LoadAsFloat(df, k3 + c), a3);
      }
      SumsOf4(df, a0, a1, a2, a3, sc.s[r0] + j);
    }
    for (; j < je; ++j) {
      if (r0 == 0) PrefetchNext(&sc.knext, j);
      const T* k = static_cast<const T*>(sc.krow[j]);
      VF a0 = hn::Zero(df);
      for (std::size_t c = 0; c < dp; c += N) a0 = hn::MulAdd(hn::Load(df, q0 + c), LoadAsFloat(df, k + c), a0);
      float sums[4];
      SumsOf4(df, a0, a0, a0, a0, sums);
      sc.s[r0][j] = sums[0];
    }
  }
}

// Scores of the tile's rows against keys j0 .. j0 + count: s[r][j] =
// q'_r . k_j (times 1/|k_j| for softplus) + mask * mask_scale, -inf for
// invisible keys and in the padding up to a whole vector.
HWY_INLINE void ScoreBlock(DF df, const AttentionParams& p, const Tile& tile, Scratch& sc,
                           std::size_t j0, std::size_t count, std::size_t dp, bool k_normalised) {
  const std::size_t N = hn::Lanes(df);
  const std::size_t padded = RoundUpTo(count, N);
  // The rows of a tile see overlapping key ranges: the dot products are
  // formed over the union and the rest masked below.
  std::size_t jb = count, je = 0;
  for (std::size_t r = 0; r < tile.rows; ++r) {
    const std::size_t b = tile.row[r].begin > j0 ? tile.row[r].begin - j0 : 0;
    const std::size_t e = tile.row[r].end > j0 ? HWY_MIN(count, tile.row[r].end - j0) : 0;
    if (b < e) {
      jb = HWY_MIN(jb, b);
      je = HWY_MAX(je, e);
    }
  }
  WithRowType(sc.ktype, [&](auto t) HWY_ATTR { ScoreDots<decltype(t)>(df, tile, sc, jb, je, dp); });
  for (std::size_t r = 0; r < tile.rows; ++r) {
    const TileRow& row = tile.row[r];
    float* s = sc.s[r];
    const std::size_t b = row.begin > j0 ? HWY_MIN(count, row.begin - j0) : 0;
    const std::size_t e = row.end > j0 ? HWY_MIN(count, row.end - j0) : 0;
    for (std::size_t j = 0; j < b; ++j) s[j] = -kInf;
    for (std::size_t j = HWY_MAX(b, e); j < padded; ++j) s[j] = -kInf;
    if (k_normalised) {
      for (std::size_t j = b; j < e; ++j) s[j] *= sc.k_inv_norm[j];
    }
    if (const float* mask = MaskRow(p, row)) {
      for (std::size_t j = b; j < e; ++j) {
        const float mv = mask[j0 + j];
        s[j] = mv == -kInf ? -kInf : s[j] + mv * p.mask_scale;
      }
    }
  }
}

// One key block for the softmax and sigmoid tiles: K's rows, the scores,
// then V's rows.
HWY_INLINE void ScoreBlockAndLoadV(DF df, const AttentionParams& p, const Tile& tile, Scratch& sc,
                                   std::size_t j0, std::size_t count, std::size_t dp) {
  const bool widen = WidensKvInPlace(tile);
  sc.ktype = LoadRows(df, p, p.k, tile.kv_head, j0, count, dp, sc.kbuf, sc.krow, &sc.knext, widen);
  ScoreBlock(df, p, tile, sc, j0, count, dp, false);
  sc.vtype = LoadRows(df, p, p.v, tile.kv_head, j0, count, dp, sc.vbuf, sc.vrow, &sc.vnext, widen);
}

// o_r = o_r * alpha + sum_j p_j v_j over keys [b, e) of the block, skipping
// zero weights (invisible keys: their V is never read into the result), V
// rows of type T (see ScoreDots). Prefetches `next`'s rows [b, e) on the
// way, if given.
template <typename T>
HWY_INLINE void AccumulateVT(DF df, float* o, float alpha, const float* pw, const void* const* vrow,
                             std::size_t b, std::size_t e, std::size_t dp, const NextRows* next) {
  const std::size_t N = hn::Lanes(df);
  const VF va = hn::Set(df, alpha);
  std::size_t c = 0;
  for (; c + 4 * N <= dp; c += 4 * N) {
    VF a0 = hn::Load(df, o + c), a1 = hn::Load(df, o + c + N), a2 = hn::Load(df, o + c + 2 * N),
       a3 = hn::Load(df, o + c + 3 * N);
    if (alpha != 1.0f) {
      a0 = hn::Mul(a0, va);
      a1 = hn::Mul(a1, va);
      a2 = hn::Mul(a2, va);
      a3 = hn::Mul(a3, va);
    }
    for (std::size_t j = b; j < e; ++j) {
      if (c == 0) PrefetchNext(next, j);
      if (pw[j] == 0.0f) continue;
      const VF w = hn::Set(df, pw[j]);
      const T* v = static_cast<const T*>(vrow[j]) + c;
      a0 = hn::MulAdd(w, LoadAsFloat(df, v), a0);
      a1 = hn::MulAdd(w, LoadAsFloat(df, v + N), a1);
      a2 = hn::MulAdd(w, LoadAsFloat(df, v + 2 * N), a2);
      a3 = hn::MulAdd(w, LoadAsFloat(df, v + 3 * N), a3);
    }
    hn::Store(a0, df, o + c);
    hn::Store(a1, df, o + c + N);
    hn::Store(a2, df, o + c + 2 * N);
    hn::Store(a3, df, o + c + 3 * N);
  }
  for (; c < dp; c += N) {
    VF a0 = hn::Load(df, o + c);
    if (alpha != 1.0f) a0 = hn::Mul(a0, va);
    for (std::size_t j = b; j < e; ++j) {
      if (c == 0) PrefetchNext(next, j);  // when dp < 4 vectors
      if (pw[j] == 0.0f) continue;
      a0 = hn::MulAdd(hn::Set(df, pw[j]), LoadAsFloat(df, static_cast<const T*>(vrow[j]) + c), a0);
    }
    hn::Store(a0, df, o + c);
  }
}

HWY_INLINE void AccumulateV(DF df, float* o, float alpha, const float* pw, const void* const* vrow,
                            KvType vtype, std::size_t b, std::size_t e, std::size_t dp,
                            const NextRows* next = nullptr) {
  WithRowType(vtype, [&](auto t) HWY_ATTR { AccumulateVT<decltype(t)>(df, o, alpha, pw, vrow, b, e, dp, next); });
}

HWY_INLINE float RowMaxOf(DF df, const float* s, std::size_t padded) {
  const std::size_t N = hn::Lanes(df);
  // A compare rather than Max: Highway's Max may drop a NaN (the scalar
  // target returns the other operand), and a NaN score must reach the row.
  VF m = hn::Set(df, -kInf);
  for (std::size_t j = 0; j < padded; j += N) {
    const VF x = hn::Load(df, s + j);
    m = hn::IfThenElse(hn::Or(hn::Gt(x, m), hn::IsNaN(x)), x, m);
  }
  HWY_ALIGN float lanes[kMaxLanesF];
  hn::Store(m, df, lanes);
  float max = -kInf;
  for (std::size_t i = 0; i < N; ++i) {
    if (std::isnan(lanes[i])) return lanes[i];
    if (lanes[i] > max) max = lanes[i];
  }
  return max;
}

// Loads the tile's queries into scratch: q * factor, zero padded to dp.
HWY_INLINE void LoadQueries(DF df, const AttentionParams& p, const Tile& tile, Scratch& sc,
                            std::size_t dp, const float* factor) {
  (void)df;
  const std::size_t d = p.head_dim;
  for (std::size_t r = 0; r < tile.rows; ++r) {
    const float* q = p.q + tile.row[r].query * p.q_row_stride + tile.row[r].head * p.q_head_stride;
    for (std::size_t c = 0; c < d; ++c) sc.q[r][c] = q[c] * factor[r];
    for (std::size_t c = d; c < dp; ++c) sc.q[r][c] = 0.0f;
    for (std::size_t c = 0; c < dp; ++c) sc.o[r][c] = 0.0f;
  }
}

// The key blocks any row of the tile may see: [first, last).
HWY_INLINE void TileKeyRange(const Tile& tile, std::size_t* first, std::size_t* last) {
  std::size_t b = std::numeric_limits<std::size_t>::max(), e = 0;
  for (std::size_t r = 0; r < tile.rows; ++r) {
    if (tile.row[r].begin < tile.row[r].end) {
      b = HWY_MIN(b, tile.row[r].begin);
      e = HWY_MAX(e, tile.row[r].end);
    }
  }
  // Blocks start at multiples of kBlockKeys (key indices), whatever the
  // tile: a query row then folds the same blocks in the same order in
  // decode and in prefill, and gets the same bits.
  *first = b < e ? b - b % kBlockKeys : 0;
  *last = b < e ? e : 0;
}

HWY_INLINE void WriteRow(const AttentionParams& p, const TileRow& row, const float* o, float mul) {
  float* dst = p.o + row.query * p.o_row_stride + row.head * p.o_head_stride;
  for (std::size_t c = 0; c < p.head_dim; ++c) dst[c] = o[c] * mul;
}

HWY_INLINE void WriteNaNRow(const AttentionParams& p, const TileRow& row) {
  float* dst = p.o + row.query * p.o_row_stride + row.head * p.o_head_stride;
  for (std::size_t c = 0; c < p.head_dim; ++c) dst[c] = kNaN;
}

// ------------------------------------------------------------ score functions

// Online softmax over the tile: one pass over the keys.
HWY_INLINE void SoftmaxTile(DF df, const AttentionParams& p, Tile& tile, Scratch& sc, std::size_t dp) {
  const std::size_t N = hn::Lanes(df);
  float factor[kTileRows];
  for (std::size_t r = 0; r < tile.rows; ++r) {
    TileRow& row = tile.row[r];
    factor[r] = p.q_scale;
    row.nan_sink = false;
    row.m = -kInf;
    row.l = 0.0;
    if (p.sinks != nullptr) {
      const float sink = p.sinks[row.head];
      if (std::isnan(sink)) {
        row.nan_sink = true;
      } else if (sink != -kInf) {
        // The online state starts at the sink: m = S/T, l = e^0 = 1.
        row.m = sink * p.mask_scale;
        row.l = 1.0;
      }
    }
  }
  LoadQueries(df, p, tile, sc, dp, factor);
  std::size_t first, last;
  TileKeyRange(tile, &first, &last);
  for (std::size_t j0 = first; j0 < last; j0 += kBlockKeys) {
    const std::size_t count = HWY_MIN(kBlockKeys, last - j0);
    const std::size_t padded = RoundUpTo(count, N);
    ScoreBlockAndLoadV(df, p, tile, sc, j0, count, dp);
    for (std::size_t r = 0; r < tile.rows; ++r) {
      TileRow& row = tile.row[r];
      float* s = sc.s[r];
      const float block_max = RowMaxOf(df, s, padded);
      if (block_max == -kInf) continue;  // nothing visible in this block
      float m_new = row.m;
      if (!(block_max <= m_new)) m_new = block_max;  // a NaN score too
      // e^{m_old - m_new}; 1 when the max did not move (both -inf included).
      const float alpha = row.m == m_new ? 1.0f : static_cast<float>(std::exp(static_cast<double>(row.m) - m_new));
      const VF vmax = hn::Set(df, m_new);
      VF sum = hn::Zero(df);
      for (std::size_t j = 0; j < padded; j += N) {
        const VF e = Exp(df, hn::Sub(hn::Load(df, s + j), vmax));
        sum = hn::Add(sum, e);
        hn::Store(e, df, s + j);
      }
      row.l = row.l * alpha + hn::GetLane(hn::SumOfLanes(df, sum));
      row.m = m_new;
      AccumulateV(df, sc.o[r], alpha, s, sc.vrow, sc.vtype, 0, count, dp, r == 0 ? &sc.vnext : nullptr);
    }
  }
  for (std::size_t r = 0; r < tile.rows; ++r) {
    const TileRow& row = tile.row[r];
    if (row.nan_sink || std::isnan(row.l)) {
      WriteNaNRow(p, row);
      if (p.lse != nullptr) p.lse[row.query * p.lse_row_stride + row.head] = kNaN;
      continue;
    }
    // l == 0: no visible key and no sink, the output is 0 (not 0/0).
    WriteRow(p, row, sc.o[r], row.l > 0.0 ? static_cast<float>(1.0 / row.l) : 0.0f);
    if (p.lse != nullptr) {
      p.lse[row.query * p.lse_row_stride + row.head] =
          row.l > 0.0 ? static_cast<float>(static_cast<double>(row.m) + std::log(row.l)) : -kInf;
    }
  }
}

// FlashSigmoid: o = sum_j sigmoid(s_j + b) v_j; invisible keys have s = -inf
// and weight exactly 0, and are skipped.
HWY_INLINE void SigmoidTile(DF df, const AttentionParams& p, Tile& tile, Scratch& sc, std::size_t dp) {
  const std::size_t N = hn::Lanes(df);
  float factor[kTileRows];
  for (std::size_t r = 0; r < tile.rows; ++r) factor[r] = p.q_scale;
  LoadQueries(df, p, tile, sc, dp, factor);
  std::size_t first, last;
  TileKeyRange(tile, &first, &last);
  const VF bias = hn::Set(df, p.sigmoid_bias);
  for (std::size_t j0 = first; j0 < last; j0 += kBlockKeys) {
    const std::size_t count = HWY_MIN(kBlockKeys, last - j0);
    const std::size_t padded = RoundUpTo(count, N);
    ScoreBlockAndLoadV(df, p, tile, sc, j0, count, dp);
    for (std::size_t r = 0; r < tile.rows; ++r) {
      float* s = sc.s[r];
      for (std::size_t j = 0; j < padded; j += N) {
        hn::Store(Sigmoid(df, hn::Add(hn::Load(df, s + j), bias)), df, s + j);
      }
      AccumulateV(df, sc.o[r], 1.0f, s, sc.vrow, sc.vtype, 0, count, dp, r == 0 ? &sc.vnext : nullptr);
    }
  }
  for (std::size_t r = 0; r < tile.rows; ++r) WriteRow(p, tile.row[r], sc.o[r], 1.0f);
}

// Softplus attention with re-weighting (LSSA/LSSAR, Gao et al. 2025), the
// formulas of attention.hpp: three passes over K (sum of a, max of r, the
// weights) and one over V. Invisible keys have score -inf: a = softplus(-inf)
// = 0 and they are forced to r = 0.
HWY_INLINE void SoftplusTile(DF df, const AttentionParams& p, Tile& tile, Scratch& sc, std::size_t dp) {
  const std::size_t N = hn::Lanes(df);
  const std::size_t d = p.head_dim;
  float factor[kTileRows];
  double visible[kTileRows];
  const double log_d = std::log(static_cast<double>(d));
  for (std::size_t r = 0; r < tile.rows; ++r) {
    TileRow& row = tile.row[r];
    // N_i: the visible keys, mask included.
    std::size_t count = row.end - row.begin;
    if (const float* mask = MaskRow(p, row)) {
      for (std::size_t j = row.begin; j < row.end; ++j) count -= mask[j] == -kInf;
    }
    visible[r] = static_cast<double>(count);
    const float* q = p.q + row.query * p.q_row_stride + row.head * p.q_head_stride;
    double norm2 = 0.0;
    for (std::size_t c = 0; c < d; ++c) norm2 += static_cast<double>(q[c]) * q[c];
    const double norm = std::fmax(std::sqrt(norm2), 1e-12);
    // q^ scaled by ln d * ln N_i; the K side divides by |k_j|.
    factor[r] = count > 0 ? static_cast<float>(log_d * std::log(visible[r]) / norm) : 0.0f;
    row.a_sum = 0.0;
    row.t_max = 0.0f;
    row.l = 0.0;
  }
  LoadQueries(df, p, tile, sc, dp, factor);
  std::size_t first, last;
  TileKeyRange(tile, &first, &last);
  const VF zero = hn::Zero(df);
  const VF offset = hn::Set(df, p.softplus_offset);
  const VF power = hn::Set(df, p.softplus_power);
  for (int pass = 0; pass < 3; ++pass) {
    if (pass == 1) {
      for (std::size_t r = 0; r < tile.rows; ++r) {
        tile.row[r].t_scale = static_cast<float>(visible[r] / (tile.row[r].a_sum + 1e-8));
      }
    }
    for (std::size_t j0 = first; j0 < last; j0 += kBlockKeys) {
      const std::size_t count = HWY_MIN(kBlockKeys, last - j0);
      const std::size_t padded = RoundUpTo(count, N);
      sc.ktype = LoadRows(df, p, p.k, tile.kv_head, j0, count, dp, sc.kbuf, sc.krow, &sc.knext);
      for (std::size_t j = 0; j < count; ++j) {
        const float* k = static_cast<const float*>(sc.krow[j]);  // float rows: no widen_in_place
        double norm2 = 0.0;
        for (std::size_t c = 0; c < d; ++c) norm2 += static_cast<double>(k[c]) * k[c];
        sc.k_inv_norm[j] = static_cast<float>(1.0 / std::fmax(std::sqrt(norm2), 1e-12));
      }
      ScoreBlock(df, p, tile, sc, j0, count, dp, true);
      if (pass == 2) sc.vtype = LoadRows(df, p, p.v, tile.kv_head, j0, count, dp, sc.vbuf, sc.vrow, &sc.vnext);
      for (std::size_t r = 0; r < tile.rows; ++r) {
        TileRow& row = tile.row[r];
        if (visible[r] == 0.0) continue;
        float* s = sc.s[r];
        const VF t_scale = hn::Set(df, row.t_scale);
        VF acc = zero;
        for (std::size_t j = 0; j < padded; j += N) {
          const VF x = hn::Load(df, s + j);
          const auto hidden = hn::Eq(x, hn::Set(df, -kInf));
          const VF a = Softplus(df, x);
          if (pass == 0) {
            acc = hn::Add(acc, a);
            continue;
          }
          // r = ReLU(A N - O) before the power; 0 for invisible keys.
          const VF t = hn::IfThenZeroElse(hidden, MaxKeepNaN(df, hn::MulSub(a, t_scale, offset), 0.0f));
          if (pass == 1) {
            acc = hn::IfThenElse(hn::Gt(t, acc), t, acc);
            hn::Store(t, df, s + j);
            continue;
          }
          // (r / r_max)^p = e^{p log(r / r_max)}, exactly 0 for r = 0.
          const VF ratio = hn::Mul(t, hn::Set(df, 1.0f / row.t_max));
          const VF w = hn::IfThenZeroElse(hn::Eq(t, zero),
                                          Exp(df, hn::Mul(power, LogPositive(df, ratio))));
          acc = hn::Add(acc, w);
          hn::Store(w, df, s + j);
        }
        if (pass == 0) {
          row.a_sum += hn::GetLane(hn::SumOfLanes(df, acc));
        } else if (pass == 1) {
          float m = hn::GetLane(hn::MaxOfLanes(df, acc));
          for (std::size_t j = 0; j < count; ++j) {
            if (std::isnan(s[j])) m = kNaN;
          }
          if (!(m <= row.t_max)) row.t_max = m;
          if (std::isnan(row.a_sum)) row.t_max = kNaN;
        } else {
          row.l += hn::GetLane(hn::SumOfLanes(df, acc));
          AccumulateV(df, sc.o[r], 1.0f, s, sc.vrow, sc.vtype, 0, count, dp, r == 0 ? &sc.vnext : nullptr);
        }
      }
    }
    if (pass == 1) {
      // With every r = 0 the weights are 0 / (0 + 1e-8) = 0: skip pass 3.
      bool any = false;
      for (std::size_t r = 0; r < tile.rows; ++r) any |= !(tile.row[r].t_max == 0.0f);
      if (!any) break;
    }
  }
  for (std::size_t r = 0; r < tile.rows; ++r) {
    const TileRow& row = tile.row[r];
    if (std::isnan(row.t_max) || std::isnan(row.l)) {
      WriteNaNRow(p, row);
      continue;
    }
    if (visible[r] == 0.0 || row.t_max == 0.0f) {
      WriteRow(p, row, sc.o[r], 0.0f);
      continue;
    }
    // W = (r/r_max)^p / (sum (r/r_max)^p + 1e-8 / r_max^p).
    const double eps = std::exp(std::log(1e-8) - p.softplus_power * std::log(static_cast<double>(row.t_max)));
    WriteRow(p, row, sc.o[r], static_cast<float>(1.0 / (row.l + eps)));
  }
}

// Tiles: for each KV head, groups of up to kTileRows (query, head) rows that
// read it, queries outer so a tile's rows are neighbours in position.
HWY_NOINLINE void Attention(const AttentionParams& p) {
  const DF df;
  const std::size_t dp = RoundUpTo(p.head_dim, hn::Lanes(df));
  const std::size_t group = p.heads / p.kv_heads;
  const std::size_t heads_per_tile = HWY_MIN(group, kTileRows);
  const std::size_t queries_per_tile = HWY_MAX(std::size_t{1}, kTileRows / group);
  const std::uint64_t query_start = p.query_start;
  Scratch sc;
  Tile tile;
  for (std::size_t g = 0; g < p.kv_heads; ++g) {
    for (std::size_t i0 = 0; i0 < p.queries; i0 += queries_per_tile) {
      const std::size_t i1 = HWY_MIN(p.queries, i0 + queries_per_tile);
      for (std::size_t h0 = g * group; h0 < (g + 1) * group; h0 += heads_per_tile) {
        const std::size_t h1 = HWY_MIN((g + 1) * group, h0 + heads_per_tile);
        tile.rows = 0;
        tile.kv_head = g;
        for (std::size_t i = i0; i < i1; ++i) {
          for (std::size_t h = h0; h < h1; ++h) {
            TileRow& row = tile.row[tile.rows++];
            row.query = i;
            row.head = h;
            row.position = query_start + i;
            VisibleKeys(p, row.position, &row.begin, &row.end);
          }
        }
        switch (p.score) {
          case ScoreFunction::kSigmoid:
            SigmoidTile(df, p, tile, sc, dp);
            break;
          case ScoreFunction::kSoftplus:
            SoftplusTile(df, p, tile, sc, dp);
            break;
          case ScoreFunction::kSoftmax:
          default:
            SoftmaxTile(df, p, tile, sc, dp);
            break;
        }
      }
    }
  }
}

// Split-KV merge (see attention_merge in attention.hpp), in double per row.
HWY_NOINLINE void AttentionMerge(const MergeParams& p) {
  const DF df;
  const std::size_t N = hn::Lanes(df);
  const std::size_t d = p.head_dim;
  HWY_ALIGN float acc[kPaddedDim];
  HWY_ALIGN float part[kPaddedDim];
  const std::size_t dp = RoundUpTo(d, N);
  for (std::size_t r = 0; r < p.rows; ++r) {
    for (std::size_t c = 0; c < dp; ++c) acc[c] = 0.0f;
    double denominator = 1.0;
    bool nan = false;
    double max = -HUGE_VAL;
    if (p.score == ScoreFunction::kSoftmax) {
      double sink = -HUGE_VAL;
      if (p.sinks != nullptr) {
        const float s = p.sinks[r % p.heads];
        nan |= std::isnan(s);
        if (s != -kInf) sink = static_cast<double>(s) * p.inv_temperature;
      }
      max = sink;
      for (std::size_t c = 0; c < p.splits; ++c) {
        const float l = p.lse_parts[c * p.rows + r];
        nan |= std::isnan(l);
        if (l > max) max = l;
      }
      denominator = max == -HUGE_VAL || std::isnan(max) ? 0.0 : std::exp(sink - max);
    }
    for (std::size_t c = 0; c < p.splits; ++c) {
      double w = 1.0;
      if (p.score == ScoreFunction::kSoftmax) {
        const float l = p.lse_parts[c * p.rows + r];
        if (l == -kInf || max == -HUGE_VAL) continue;  // an empty partial
        w = std::exp(static_cast<double>(l) - max);
        denominator += w;
      }
      const float* src = p.o_parts + (c * p.rows + r) * d;
      std::memcpy(part, src, d * sizeof(float));
      for (std::size_t x = d; x < dp; ++x) part[x] = 0.0f;
      const VF vw = hn::Set(df, static_cast<float>(w));
      for (std::size_t x = 0; x < dp; x += N) {
        hn::Store(hn::MulAdd(vw, hn::Load(df, part + x), hn::Load(df, acc + x)), df, acc + x);
      }
    }
    float* dst = p.o + r * d;
    if (nan) {
      for (std::size_t x = 0; x < d; ++x) dst[x] = kNaN;
      if (p.lse != nullptr) p.lse[r] = kNaN;
      continue;
    }
    const float mul = p.score == ScoreFunction::kSoftmax
                          ? (denominator > 0.0 ? static_cast<float>(1.0 / denominator) : 0.0f)
                          : 1.0f;
    for (std::size_t x = 0; x < d; ++x) dst[x] = acc[x] * mul;
    if (p.lse != nullptr) {
      p.lse[r] = denominator > 0.0 ? static_cast<float>(max + std::log(denominator)) : -kInf;
    }
  }
}

// ------------------------------------------------------------ linear attention

// phi(x) = elu(x) + 1 = x + 1 for x > 0, e^x otherwise.
HWY_INLINE VF EluPlusOne(DF df, VF x) {
  const VF zero = hn::Zero(df);
  return hn::IfThenElse(hn::Gt(x, zero), hn::Add(x, hn::Set(df, 1.0f)), Exp(df, hn::Min(x, zero)));
}

// y[0, d) = y * a + b * x (y in the caller's memory: whole vectors, then the
// tail through a stack buffer).
HWY_INLINE void ScaleAxpyRow(DF df, float* y, float a, float b, const float* x, std::size_t d) {
  const std::size_t N = hn::Lanes(df);
  const VF va = hn::Set(df, a), vb = hn::Set(df, b);
  std::size_t c = 0;
  for (; c + N <= d; c += N) {
    hn::StoreU(hn::MulAdd(vb, hn::LoadU(df, x + c), hn::Mul(hn::LoadU(df, y + c), va)), df, y + c);
  }
  if (c < d) {
    const VF r = hn::MulAdd(vb, LoadTail(df, x + c, d - c, 0.0f), hn::Mul(LoadTail(df, y + c, d - c, 0.0f), va));
    StoreTail(df, r, y + c, d - c);
  }
}

struct LinearScratch {
  HWY_ALIGN float q[kBlockKeys][kPaddedDim];
  HWY_ALIGN float k[kBlockKeys][kPaddedDim];
  HWY_ALIGN float o[kBlockKeys][kPaddedDim];
  HWY_ALIGN float vbuf[kBlockKeys * kPaddedDim];
  HWY_ALIGN float s[kBlockKeys][kScoreStride];
  HWY_ALIGN float srow[kPaddedDim];
  const void* krow[kBlockKeys];  // float rows (LoadRows without widen_in_place)
  const void* vrow[kBlockKeys];
  float den[kBlockKeys];
};

// Rows [j0, j0 + count) of K (through phi for elu+1) into sc.k, zero padded,
// and pointers to V's rows.
HWY_INLINE void LinearLoadKv(DF df, const LinearParams& lp, std::size_t g, std::size_t j0, std::size_t count,
                             std::size_t dp, LinearScratch& sc) {
  const std::size_t N = hn::Lanes(df);
  const std::size_t d = lp.t.head_dim;
  // 16-bit rows are converted straight into sc.k (phi then runs in place);
  // float rows are read where they are and copied through phi.
  LoadRows(df, lp.t, lp.t.k, g, j0, count, dp, &sc.k[0][0], sc.krow);
  LoadRows(df, lp.t, lp.t.v, g, j0, count, dp, sc.vbuf, sc.vrow);
  for (std::size_t j = 0; j < count; ++j) {
    for (std::size_t c = 0; c < dp; c += N) {
      VF x = hn::LoadU(df, static_cast<const float*>(sc.krow[j]) + c);
      if (lp.kind == LinearKind::kEluPlusOne) x = EluPlusOne(df, x);
      hn::Store(x, df, sc.k[j] + c);
    }
    for (std::size_t c = d; c < dp; ++c) sc.k[j][c] = 0.0f;  // phi(0) = 1 in the padding
  }
}

HWY_INLINE void LinearLoadQ(DF df, const LinearParams& lp, std::size_t h, std::size_t i0, std::size_t count,
                            std::size_t dp, LinearScratch& sc) {
  const std::size_t N = hn::Lanes(df);
  const std::size_t d = lp.t.head_dim;
  for (std::size_t i = 0; i < count; ++i) {
    const float* q = lp.t.q + (i0 + i) * lp.t.q_row_stride + h * lp.t.q_head_stride;
    std::memcpy(sc.q[i], q, d * sizeof(float));
    for (std::size_t c = d; c < dp; ++c) sc.q[i][c] = 0.0f;
    if (lp.kind == LinearKind::kEluPlusOne) {
      for (std::size_t c = 0; c < dp; c += N) hn::Store(EluPlusOne(df, hn::Load(df, sc.q[i] + c)), df, sc.q[i] + c);
      for (std::size_t c = d; c < dp; ++c) sc.q[i][c] = 0.0f;
    }
    for (std::size_t c = 0; c < dp; ++c) sc.o[i][c] = 0.0f;
  }
}

HWY_INLINE void WriteLinearRow(const LinearParams& lp, std::size_t i, std::size_t h, const float* o, float mul) {
  float* dst = lp.t.o + i * lp.t.o_row_stride + h * lp.t.o_head_stride;
  for (std::size_t c = 0; c < lp.t.head_dim; ++c) dst[c] = o[c] * mul;
}

// Katharopoulos (elu + 1) and Lightning (decay) linear attention; see
// attention.hpp. The causal forms run in chunks of B tokens [t0, t0 + B):
//   intra-chunk: o_t = sum_{t0 <= u <= t} lambda^{t-u} (q_t.k_u) v_u   (B x B scores)
//   inter-chunk: o_t += lambda^{t-t0+1} q_t^T S,  S the state after token t0 - 1
//   state:       S = lambda^B S + sum_u lambda^{t0+B-1-u} k_u v_u^T
// Every power of lambda has a non-negative exponent (no lambda^{-t}, which
// overflows); elu + 1 is the same with lambda = 1, phi applied to q and k,
// and the normaliser z carried the same way.
HWY_NOINLINE void LinearAttention(const LinearParams& lp) {
  const DF df;
  const std::size_t N = hn::Lanes(df);
  const AttentionParams& t = lp.t;
  const std::size_t d = t.head_dim;
  const std::size_t dp = RoundUpTo(d, N);
  const std::size_t group = t.heads / t.kv_heads;
  const bool elu = lp.kind == LinearKind::kEluPlusOne;
  LinearScratch sc;
  for (std::size_t h = 0; h < t.heads; ++h) {
    const std::size_t g = h / group;
    float* S = lp.state + h * d * d;
    float* z = elu ? lp.normaliser + h * d : nullptr;
    if (!lp.causal) {
      // S = sum_j phi(k_j) v_j^T, z = sum_j phi(k_j), then every query.
      for (std::size_t a = 0; a < d * d; ++a) S[a] = 0.0f;
      for (std::size_t a = 0; a < d; ++a) z[a] = 0.0f;
      for (std::size_t j0 = 0; j0 < t.keys; j0 += kBlockKeys) {
        const std::size_t count = HWY_MIN(kBlockKeys, t.keys - j0);
        LinearLoadKv(df, lp, g, j0, count, dp, sc);
        for (std::size_t a = 0; a < d; ++a) {
          float* row = S + a * d;
          for (std::size_t j = 0; j < count; ++j) ScaleAxpyRow(df, row, 1.0f, sc.k[j][a], static_cast<const float*>(sc.vrow[j]), d);
        }
        for (std::size_t j = 0; j < count; ++j) ScaleAxpyRow(df, z, 1.0f, 1.0f, sc.k[j], d);
      }
      for (std::size_t i0 = 0; i0 < t.queries; i0 += kBlockKeys) {
        const std::size_t count = HWY_MIN(kBlockKeys, t.queries - i0);
        LinearLoadQ(df, lp, h, i0, count, dp, sc);
        for (std::size_t a = 0; a < d; ++a) {
          for (std::size_t i = 0; i < count; ++i) ScaleAxpyRow(df, sc.o[i], 1.0f, sc.q[i][a], S + a * d, d);
        }
        for (std::size_t i = 0; i < count; ++i) {
          double den = lp.eps;
          for (std::size_t a = 0; a < d; ++a) den += static_cast<double>(sc.q[i][a]) * z[a];
          WriteLinearRow(lp, i0 + i, h, sc.o[i], static_cast<float>(1.0 / den));
        }
      }
      continue;
    }
    const std::size_t B = lp.chunk;
    // lambda^k for k = 0..B, in double then rounded once.
    float pow_lambda[kBlockKeys + 2];
    const double s_h = elu ? 0.0 : static_cast<double>(lp.decay[h]);
    for (std::size_t k = 0; k <= B + 1; ++k) pow_lambda[k] = static_cast<float>(std::exp(-s_h * static_cast<double>(k)));
    for (std::size_t t0 = 0; t0 < t.queries; t0 += B) {
      const std::size_t count = HWY_MIN(B, t.queries - t0);
      LinearLoadKv(df, lp, g, t0, count, dp, sc);
      LinearLoadQ(df, lp, h, t0, count, dp, sc);
      // Intra-chunk: scores lambda^{i-j} q_i.k_j for j <= i (else 0), o_i = sum_j s_ij v_j.
      for (std::size_t i = 0; i < count; ++i) {
        double den = 0.0;
        for (std::size_t j = 0; j <= i; ++j) {
          sc.s[i][j] = Dot(df, sc.q[i], sc.k[j], dp) * pow_lambda[i - j];
          den += sc.s[i][j];
        }
        sc.den[i] = static_cast<float>(den);
        AccumulateV(df, sc.o[i], 1.0f, sc.s[i], sc.vrow, KvType::kFloat32, 0, i + 1, dp);
      }
      // Inter-chunk: o_i += lambda^{i+1} q_i^T S (S after token t0 - 1), one
      // row of S at a time so S is read once per chunk.
      for (std::size_t a = 0; a < d; ++a) {
        const float* row = S + a * d;
        for (std::size_t i = 0; i < count; ++i) {
          const float w = sc.q[i][a] * pow_lambda[i + 1];
          if (w != 0.0f) ScaleAxpyRow(df, sc.o[i], 1.0f, w, row, d);
        }
      }
      if (elu) {
        for (std::size_t i = 0; i < count; ++i) {
          double den = static_cast<double>(sc.den[i]) + lp.eps;
          for (std::size_t a = 0; a < d; ++a) den += static_cast<double>(sc.q[i][a]) * z[a];
          WriteLinearRow(lp, t0 + i, h, sc.o[i], static_cast<float>(1.0 / den));
        }
      } else {
        for (std::size_t i = 0; i < count; ++i) WriteLinearRow(lp, t0 + i, h, sc.o[i], 1.0f);
      }
      // State: S = lambda^count S + sum_j lambda^{count-1-j} k_j v_j^T.
      for (std::size_t a = 0; a < d; ++a) {
        float* row = S + a * d;
        // The row in a padded stack copy, so the update runs on whole vectors.
        std::memcpy(sc.srow, row, d * sizeof(float));
        for (std::size_t c = d; c < dp; ++c) sc.srow[c] = 0.0f;
        float w[kBlockKeys];
        for (std::size_t j = 0; j < count; ++j) w[j] = sc.k[j][a] * pow_lambda[count - 1 - j];
        AccumulateV(df, sc.srow, pow_lambda[count], w, sc.vrow, KvType::kFloat32, 0, count, dp);
        std::memcpy(row, sc.srow, d * sizeof(float));
      }
      if (elu) {
        for (std::size_t j = 0; j < count; ++j) ScaleAxpyRow(df, z, 1.0f, 1.0f, sc.k[j], d);
      }
    }
  }
}

inline const AttentionTable kAttentionTable = {TargetIsa(), &Attention, &AttentionMerge, &LinearAttention};

}  // namespace HWY_NAMESPACE
}  // namespace detail
}  // namespace softkern
HWY_AFTER_NAMESPACE();

#endif  // toggle guard
