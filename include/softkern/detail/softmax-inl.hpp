// softkern/detail/softmax-inl.hpp — the softmax algorithms, per target.
//
// Re-included once per target. Every algorithm is written once here with
// Highway ops, on the row walking of softmax_rows-inl.hpp (reduction tree,
// map, 16-bit loads and stores) and the folded exponentials of
// softmax_exp-inl.hpp; the only per-target code is there and in exp-inl.hpp.
//
//  - Every algorithm is a reduction (one or two passes producing a per-lane
//    max, sum, (mantissa, exponent) pair or (max, sum) pair) and a map.
//  - Special rows (a NaN, an infinity, a row beyond the two-pass exponent
//    range) are detected from the statistic, before anything is written, and
//    resolved by the three-pass path, whose semantics are the reference.

#if defined(SOFTKERN_DETAIL_SOFTMAX_INL_HPP_) == defined(HWY_TARGET_TOGGLE)
#ifdef SOFTKERN_DETAIL_SOFTMAX_INL_HPP_
#undef SOFTKERN_DETAIL_SOFTMAX_INL_HPP_
#else
#define SOFTKERN_DETAIL_SOFTMAX_INL_HPP_
#endif

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <limits>

#include <hwy/cache_control.h>
#include <hwy/highway.h>

#include "softkern/detail/exp-inl.hpp"
#include "softkern/detail/softmax_rows-inl.hpp"
#include "softkern/detail/softmax_exp-inl.hpp"
#include "softkern/detail/softmax_params.hpp"
#include "softkern/detail/float16.hpp"
#include "softkern/detail/row_stats.hpp"

HWY_BEFORE_NAMESPACE();
namespace softkern {
namespace detail {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// ------------------------------------------------------------- accumulators

// Lane-wise maximum. NaN may or may not survive Highway's Max; the sum pass
// that follows turns any NaN into a NaN sum, which is what is checked.
struct MaxAcc {
  using State = VF;
  HWY_INLINE State Init(DF d) const { return hn::Set(d, -kInf); }
  template <bool kStore>
  HWY_INLINE VF Add(DF d, State& s, VF x) const {
    (void)d;
    s = hn::Max(s, x);
    return x;
  }
  HWY_INLINE State Merge(DF d, State a, State b) const {
    (void)d;
    return hn::Max(a, b);
  }
  template <class T>
  HWY_INLINE State Leaf(DF d, const T* x, T* y, std::size_t n) const {
    (void)y;
    return FoldBlock<false>(d, *this, x, y, n);
  }
  template <bool kStore, bool kPrefetch, class T>
  HWY_INLINE State FoldLeafOf(DF d, const T* x, T* y, std::size_t n) const {
    return FoldLeaf<kStore, kPrefetch>(d, *this, x, y, n);
  }
};

// e^{(x - shift)/T} through the general exponential: the three-pass passes
// at temperatures the folded constants cannot hold (FoldsTemperature).
struct GeneralShiftedExp {
  StoredVF shift;
  StoredVF inv_temperature;
  HWY_INLINE VF operator()(DF d, VF x) const {
    return Exp(d, hn::Mul(hn::Sub(x, shift.Get(d)), inv_temperature.Get(d)));
  }
};

// Sum of the terms exp(x) (ShiftedExp<T>: scaled by 2^ScaleBits<T>, or
// GeneralShiftedExp); returns the term (reload stores it) or, with kStoreZ,
// z = (x - shift)/T (log-softmax reload stores the shifted logit and later
// subtracts log(sum)).
template <class E, bool kStoreZ>
struct SumExpAcc {
  E exp;
  StoredVF inv_temperature;
  using State = VF;
  HWY_INLINE State Init(DF d) const { return hn::Zero(d); }
  template <bool kStore>
  HWY_INLINE VF Add(DF d, State& s, VF x) const {
    if constexpr (!kStore && !std::is_same_v<E, GeneralShiftedExp>) {
      s = exp.Accumulate(d, x, s);
      return x;
    } else {
      const VF e = exp(d, x);
      s = hn::Add(s, e);
      if constexpr (kStoreZ) return hn::Mul(hn::Sub(x, exp.shift.Get(d)), inv_temperature.Get(d));
      return e;
    }
  }
  HWY_INLINE State Merge(DF d, State a, State b) const {
    (void)d;
    return hn::Add(a, b);
  }
  template <class T>
  HWY_INLINE State Leaf(DF d, const T* x, T* y, std::size_t n) const {
    return y != nullptr ? FoldBlock<true>(d, *this, x, y, n) : FoldBlock<false>(d, *this, x, y, n);
  }
  template <bool kStore, bool kPrefetch, class T>
  HWY_INLINE State FoldLeafOf(DF d, const T* x, T* y, std::size_t n) const {
    return FoldLeaf<kStore, kPrefetch>(d, *this, x, y, n);
  }
};

// ----------------------------------------------------------------- two-pass

// The two-pass algorithm never subtracts a maximum: it evaluates e^{x/T} as
// p 2^n with the folded constants of softmax_exp-inl.hpp (two-constant
// reduction, clamp at x/T = -2^22), for rows whose exponents stay within
// kTwoPassMaxExponent (row_stats.hpp; other rows take the three-pass path).
constexpr float kTwoPassInitExponent = static_cast<float>(kTwoPassEmptyExponent);
// The lowest exponent a leaf fixes for a lane: keeps 1.5 2^23 + 151 - E below
// 2^24, so that t = x log2e/T + (1.5 2^23 + 151 - E) still rounds to integers
// for a lane that saw only clamped inputs (whose row goes to the three-pass
// path unless another lane has a real term, next to which it is 0).
constexpr float kTwoPassLowestLeafExponent = -2097152.0f;  // -2^21

// Sum of e^{x/T} as a per-lane (mantissa, exponent) pair: sum = m * 2^e.
// Merging (m1, e1) with (m2, e2): e = max(e1, e2), m = m1 * 2^{e1 - e} +
// m2 * 2^{e2 - e}. Both scalings are by 2^{<= 0}, so the pair never overflows
// whatever x is.
//
// Within a leaf the exponent is fixed up front instead of tracked per element
// (which would cost a max and a rescale of the accumulator per vector): each
// lane takes the largest exponent of its elements in the leaf, E = n(max x),
// from a max pass over the leaf, which is in L1 by then; every term p * 2^n
// then enters as p * 2^{n - E + 24}. On the shift path that is one FMA: the
// bias of t is 127 + 24 - E, so the low bits of t are the biased exponent
// n - E + 151 <= 151, raised to at least 0, which gives 2^{...} = +0 for the
// terms below 2^{E - 151} (far under the sum's rounding error: the lane's
// largest term alone is >= 0.7 * 2^24; a NaN p still makes the sum NaN).
// With vscalefps it is p scaled by n - E + 24 = t - (1.5 2^23 + E - 24) and
// an add. The mantissas carry the 2^24 scale until the lanes are merged in
// double.
struct TwoPassAcc {
  ExpVectors k;
  struct State {
    StoredVF m;
    StoredVF e;
  };
  // acc += p * 2^{n - E + 24} for the elements of one leaf, E fixed per lane.
  struct LeafSum {
    const ExpVectors* k;
    StoredVF magic;           // 1.5 2^23 + 127 + 24 - E; with vscalefps 1.5 2^23
    StoredVF exponent_magic;  // with vscalefps: 1.5 2^23 + E - 24
    using State = VF;
    HWY_INLINE State Init(DF d) const { return hn::Zero(d); }
    template <bool kStore>
    HWY_INLINE VF Add(DF d, State& s, VF x) const {
      VF t, n;
      const VF p = FoldedExpParts<5, true>(d, x, magic.Get(d), *k, &t, &n);
      if (kScaleByInstruction) {
        s = hn::Add(s, MulByPow2(d, p, hn::Sub(t, exponent_magic.Get(d))));
      } else {
        s = hn::MulAdd(p, Pow2FromLowBits(d, hn::Max(t, hn::Set(d, kRoundMagic))), s);
      }
      return x;
    }
    HWY_INLINE State Merge(DF d, State a, State b) const {
      (void)d;
      return hn::Add(a, b);
    }
  };
  HWY_INLINE State Merge(DF d, const State& a, const State& b) const {
    const VF a_e = a.e.Get(d), b_e = b.e.Get(d);
    const VF e = hn::Max(a_e, b_e);
    const VF m = hn::Add(MulByPow2Flush(d, a.m.Get(d), hn::Sub(a_e, e)),
                         MulByPow2Flush(d, b.m.Get(d), hn::Sub(b_e, e)));
    return State{StoredVF(d, m), StoredVF(d, e)};
  }
  template <class T>
  HWY_INLINE State Leaf(DF d, const T* x, T* y, std::size_t n) const {
    return FoldLeafOf<false, true>(d, x, y, n);
  }
  // The leaf's max pass (prefetching if asked), then its sum pass over the
  // same elements, in L1 by then.
  template <bool kStore, bool kPrefetch, class T>
  HWY_INLINE State FoldLeafOf(DF d, const T* x, T* y, std::size_t n) const {
    (void)y;
    // A NaN may vanish from the max (x86 maxps): it still reaches the sum,
    // through its own p.
    const VF max =
        MaxKeepNaN(d, FoldLeaf<false, kPrefetch>(d, MaxAcc(), x, static_cast<T*>(nullptr), n), k.clamp.Get(d));
    const VF magic = hn::Set(d, kRoundMagic);
    VF exponent = hn::Sub(hn::MulAdd(max, k.log2e_t.Get(d), magic), magic);
    exponent = MaxKeepNaN(d, exponent, kTwoPassLowestLeafExponent);
    const LeafSum leaf_sum{
        &k,
        StoredVF(d, kScaleByInstruction ? magic : hn::Sub(hn::Set(d, kRoundMagic + 127.0f + 24.0f), exponent)),
        StoredVF(d, hn::Add(hn::Set(d, kRoundMagic - 24.0f), exponent))};
    return State{StoredVF(d, FoldLeaf<false, false>(d, leaf_sum, x, static_cast<T*>(nullptr), n)),
                 StoredVF(d, exponent)};
  }
};

// x/T - L for log-softmax in the two-pass algorithm, where L = L_hi + L_lo is
// the log of the (extended) sum; formed so that cancellation between x/T and
// L loses nothing: for T != 1, x/T = t + c exactly (an error-free product
// plus the product with 1/T's low part), since an error of |x/T| ulps in the
// argument would be |x/T| ulps in the result. An infinite t keeps c = 0.
template <bool kScaled>
HWY_INLINE VF ScaledMinus(DF d, VF x, const RowParams& params, float l_hi, float l_lo) {
#if HWY_TARGET == HWY_SCALAR
  const double z = kScaled ? static_cast<double>(hn::GetLane(x)) * params.inv_temperature_f64
                           : static_cast<double>(hn::GetLane(x));
  return hn::Set(d, static_cast<float>(z - static_cast<double>(l_hi) - static_cast<double>(l_lo)));
#else
  VF t = x, c = hn::Zero(d);
  if (kScaled) {
    const VF inv_t = hn::Set(d, params.inv_temperature);
    t = hn::Mul(x, inv_t);
    c = hn::MulAdd(x, hn::Set(d, params.inv_temperature_lo), hn::MulSub(x, inv_t, t));
    c = hn::IfThenElseZero(hn::IsFinite(t), c);
  }
  return hn::Add(hn::Sub(t, hn::Set(d, l_hi)), hn::Sub(c, hn::Set(d, l_lo)));
#endif
}

// ------------------------------------------------------------------- online

// Online softmax state per lane: running max and the sum of e^{(x - max)/T}
// (scaled by 2^ScaleBits<T>). Milakov & Gimelshein rescale the sum at every
// element; here each lane takes the maximum of a whole leaf first (the leaf
// is in L1 by then) and rescales once per leaf, so the exponential is
// evaluated once per element, not twice.
struct OnlineAcc {
  StoredVF inv_temperature;
  ExpVectors k;  // ShiftedExpVectors<T> of the row's element type
  struct State {
    StoredVF max;
    StoredVF sum;
  };
  HWY_INLINE State Init(DF d) const { return State{StoredVF(d, hn::Set(d, -kInf)), StoredVF(d, hn::Zero(d))}; }
  // e^{(a - b)/T} for a <= b, with a == b (both -inf included) giving 1.
  HWY_INLINE VF Rescale(DF d, VF a, VF b) const {
    return Exp(d, hn::Mul(hn::IfThenZeroElse(hn::Eq(a, b), hn::Sub(a, b)), inv_temperature.Get(d)));
  }
  HWY_INLINE State Merge(DF d, const State& a, const State& b) const {
    const VF a_max = a.max.Get(d), b_max = b.max.Get(d);
    const VF max = hn::Max(a_max, b_max);
    const VF sum = hn::MulAdd(a.sum.Get(d), Rescale(d, a_max, max),
                              hn::Mul(b.sum.Get(d), Rescale(d, b_max, max)));
    return State{StoredVF(d, max), StoredVF(d, sum)};
  }
  template <class T>
  HWY_INLINE State Leaf(DF d, const T* x, T* y, std::size_t n) const {
    return FoldLeafOf<false, true>(d, x, y, n);
  }
  // The leaf's max pass (prefetching if asked), then its sum pass over the
  // same elements, in L1 by then.
  template <bool kStore, bool kPrefetch, class T>
  HWY_INLINE State FoldLeafOf(DF d, const T* x, T* y, std::size_t n) const {
    (void)y;
    const VF max = FoldLeaf<false, kPrefetch>(d, MaxAcc(), x, static_cast<T*>(nullptr), n);
    // A lane that saw only -inf keeps max = -inf and sums against 0 instead,
    // so that -inf - (-inf) never happens.
    const VF shift = hn::IfThenZeroElse(hn::Eq(max, hn::Set(d, -kInf)), max);
    const SumExpAcc<ShiftedExp<T>, false> sum_acc{ShiftedExp<T>(d, shift, k), inv_temperature};
    return State{StoredVF(d, max), StoredVF(d, FoldLeaf<false, false>(d, sum_acc, x, static_cast<T*>(nullptr), n))};
  }
};

// ------------------------------------------------------------ row helpers

HWY_INLINE float HorizontalMax(DF d, VF v) { return hn::GetLane(hn::MaxOfLanes(d, v)); }

HWY_INLINE double HorizontalSum(DF d, VF v) { return SumOfLanesInDouble(d, v); }

// values[0] + ... + values[count - 1] as a tree of independent adds.
inline double PairwiseSum(double* values, std::size_t count) {
  if (count == 0) return 0.0;
  while (count > 1) {
    const std::size_t half = count / 2;
    for (std::size_t i = 0; i < half; ++i) values[i] += values[count - half + i];
    count -= half;
  }
  return values[0];
}

// Stats that send the row to the three-pass path (RunRow: a NaN fails
// TwoPassTotals and OnlineTotals before anything is written): the two-pass
// and online algorithms at temperatures the folded constants cannot hold.
inline RowStats ThreePassPathStats() {
  RowStats stats;
  stats.nan = true;
  return stats;
}

// ------------------------------------------------------------- algorithms
//
// Each algorithm is a reduction (ChunkStats, one or two passes) and a map
// (ChunkMap); RunRow in implementation.hpp merges the chunks' stats
// (row_stats.hpp), adds the sink and sends special rows to the three-pass
// semantics. Traffic per element: three-pass recompute 3 reads + 1 write,
// reload 3 reads + 2 writes, two-pass and online 2 reads + 1 write.

// Dukhan & Ablavatski: the sum of e^{x/T} as a (mantissa, exponent) pair,
// lanes merged in double; no max pass.
template <class T>
HWY_INLINE RowStats TwoPassStats(DF d, const T* x, std::size_t n, const RowParams& params) {
  if (!FoldsTemperature(params)) return ThreePassPathStats();
  const TwoPassAcc acc{ExpVectors(d, MakeExpFold(params, kTwoPassClamp, 5, 1.0))};
  const TwoPassAcc::State state = ReduceLeaves<false>(d, acc, x, static_cast<T*>(nullptr), n, params.prefetch);
  HWY_ALIGN float m[hn::MaxLanes(DF())];
  HWY_ALIGN float e[hn::MaxLanes(DF())];
  hn::Store(state.m.Get(d), d, m);
  hn::Store(state.e.Get(d), d, e);
  // The lanes' pairs merged as MergeTwoPass merges two (exactly, in double),
  // all at once: E = the largest exponent, then each lane's M 2^{e - E}
  // independently, then their sum as a tree. A NaN lane marks the row.
  const std::size_t lanes = hn::Lanes(d);
  RowStats stats;
  double exponent = kTwoPassEmptyExponent;
  for (std::size_t i = 0; i < lanes; ++i) {
    const bool nan = std::isnan(m[i]) || std::isnan(e[i]);
    stats.nan |= nan;
    if (!nan) exponent = std::fmax(exponent, e[i]);
  }
  double terms[hn::MaxLanes(DF())];
  for (std::size_t i = 0; i < lanes; ++i) {
    const bool nan = std::isnan(m[i]) || std::isnan(e[i]);
    terms[i] = nan ? 0.0 : ScaleByPow2(static_cast<double>(m[i]) * 0x1p-24, e[i] - exponent);
  }
  stats.sum = PairwiseSum(terms, lanes);
  stats.exponent = exponent;
  return stats;
}

// y = p 2^{n - E} / M, with 1/M folded into p and, on the shift path,
// 2^{n - E + 24} built from t's low bits (raised to 0, i.e. y = +0, below
// 2^-151) and 2^-24 in p; with vscalefps p scaled by n - E = t - (1.5 2^23 +
// E), rounded once. log: x/T - log(M 2^E).
template <class T>
HWY_INLINE void TwoPassMap(DF d, const T* x, T* y, std::size_t n, const RowParams& params,
                           const RowStats& totals) {
  if (params.log) {
    // log(sum) = log(M) + E ln 2, split into two floats.
    const double log_sum = std::log(totals.sum) + totals.exponent * kLn2Double;
    const float l_hi = static_cast<float>(log_sum);
    const float l_lo = static_cast<float>(log_sum - l_hi);
    if (params.unit_temperature) {
      return MapRow(d, x, y, n, params.stream, params.prefetch,
                    [SOFTKERN_MAP_CAPTURE](VF v) HWY_ATTR { return ScaledMinus<false>(d, v, params, l_hi, l_lo); });
    }
    return MapRow(d, x, y, n, params.stream, params.prefetch,
                  [SOFTKERN_MAP_CAPTURE](VF v) HWY_ATTR { return ScaledMinus<true>(d, v, params, l_hi, l_lo); });
  }
  const double inv_scale = kScaleByInstruction ? 1.0 : 0x1p-24;
  const ExpVectors k(d, MakeExpFold(params, kTwoPassClamp, OutputDegree<T>(), inv_scale / totals.sum));
  const VF magic = hn::Set(d, kScaleByInstruction ? kRoundMagic
                                                  : static_cast<float>(kRoundMagic + 127.0 + 24.0 - totals.exponent));
  const VF exponent_magic = hn::Set(d, static_cast<float>(kRoundMagic + totals.exponent));
  MapRow(d, x, y, n, params.stream, params.prefetch, [SOFTKERN_MAP_CAPTURE](VF v) HWY_ATTR {
    VF t, n_v;
    const VF p = FoldedExpParts<OutputDegree<T>(), true>(d, v, magic, k, &t, &n_v);
    if (kScaleByInstruction) return MulByPow2(d, p, hn::Sub(t, exponent_magic));
    return hn::Mul(p, Pow2FromLowBits(d, hn::Max(t, hn::Set(d, kRoundMagic))));
  });
}

// Milakov & Gimelshein: (max, sum of e^{(x - max)/T}) per lane, merged in
// double.
template <class T>
HWY_INLINE RowStats OnlineStats(DF d, const T* x, std::size_t n, const RowParams& params) {
  if (!FoldsTemperature(params)) return ThreePassPathStats();
  const OnlineAcc acc{StoredVF(d, hn::Set(d, params.inv_temperature)), ShiftedExpVectors<T>(d, params)};
  const OnlineAcc::State state = ReduceLeaves<false>(d, acc, x, static_cast<T*>(nullptr), n, params.prefetch);
  // The lanes merged as two leaves merge (OnlineAcc::Merge), all at once:
  // the largest max M, each lane's sum rescaled by e^{(max - M)/T}, and
  // their sum as a tree in double. A NaN anywhere marks the row.
  const VF lane_max = state.max.Get(d), lane_sum = state.sum.Get(d);
  RowStats stats;
  stats.nan = !hn::AllFalse(d, hn::Or(hn::IsNaN(lane_max), hn::IsNaN(lane_sum)));
  stats.max = HorizontalMax(d, lane_max);
  const VF rescaled = hn::Mul(lane_sum, acc.Rescale(d, lane_max, hn::Set(d, stats.max)));
  stats.sum = SumOfLanesInDouble(d, rescaled) * InvScale<T>();
  return stats;
}

// Three-pass, second pass: sum of e^{(x - max)/T}; reload stores each term
// (log: (x - max)/T) in y as it goes, scaled by 2^ScaleBits<T> when the
// temperature folds.
template <class Acc, class T>
HWY_INLINE double SumWith(DF d, const Acc& acc, const T* x, T* y, std::size_t n, bool prefetch) {
  if (y != nullptr) return HorizontalSum(d, ReduceLeaves<true>(d, acc, x, y, n, prefetch));
  return HorizontalSum(d, ReduceLeaves<false>(d, acc, x, y, n, prefetch));
}

template <class E, bool kStoreZ, class T>
HWY_INLINE double SumOf(DF d, const E& exp, const T* x, T* y, std::size_t n, const RowParams& params) {
  const SumExpAcc<E, kStoreZ> acc{exp, StoredVF(d, hn::Set(d, params.inv_temperature))};
  return SumWith(d, acc, x, y, n, params.prefetch);
}

// The accumulators are built in place (ExpFold broadcast straight into the
// SumExpAcc ReduceLeaves reads), not copied: a short row feels every copy.
template <class T>
HWY_INLINE RowStats SumStats(DF d, const T* x, T* y, std::size_t n, const RowParams& params, float max) {
  const bool reload = params.algorithm == Algorithm::kThreePassReload;
  T* store = reload ? y : static_cast<T*>(nullptr);
  const StoredVF inv_temperature(d, hn::Set(d, params.inv_temperature));
  RowStats stats;
  if (FoldsTemperature(params)) {
    const ExpFold fold = ShiftedExpFold<T>(params);
    const double sum =
        reload && params.log
            ? SumWith(d, SumExpAcc<ShiftedExp<T>, true>{ShiftedExp<T>(d, hn::Set(d, max), fold), inv_temperature},
                      x, store, n, params.prefetch)
            : SumWith(d, SumExpAcc<ShiftedExp<T>, false>{ShiftedExp<T>(d, hn::Set(d, max), fold), inv_temperature},
                      x, store, n, params.prefetch);
    stats.sum = sum * InvScale<T>();
  } else {
    const GeneralShiftedExp exp{StoredVF(d, hn::Set(d, max)), inv_temperature};
    stats.sum = reload && params.log ? SumOf<GeneralShiftedExp, true>(d, exp, x, store, n, params)
                                     : SumOf<GeneralShiftedExp, false>(d, exp, x, store, n, params);
  }
  stats.nan = std::isnan(stats.sum);
  return stats;
}

template <class T>
HWY_NOINLINE void ChunkStatsOf(const T* x, T* y, std::size_t n, const RowParams& params, ReducePass pass,
                               float max, RowStats* out) {
  const DF d;
  if (n == 0) {
    *out = RowStats();
    return;
  }
  switch (params.algorithm) {
    case Algorithm::kTwoPass:
      *out = TwoPassStats(d, x, n, params);
      return;
    case Algorithm::kOnline:
      *out = OnlineStats(d, x, n, params);
      return;
    default:
      if (pass == ReducePass::kStats) {
        RowStats stats;
        stats.max = HorizontalMax(d, ReduceLeaves<false>(d, MaxAcc(), x, static_cast<T*>(nullptr), n, params.prefetch));
        stats.nan = std::isnan(stats.max);
        *out = stats;
      } else {
        *out = SumStats(d, x, y, n, params, max);
      }
      return;
  }
}

// Three-pass reload: y holds e^{(x - max)/T} (scaled as the sum pass left
// it; log: (x - max)/T) from the second pass; scale it in place.
template <class T>
HWY_INLINE void ReloadMap(DF d, T* y, std::size_t n, const RowParams& params, const RowStats& totals) {
  if (params.log) {
    const VF log_sum = hn::Set(d, static_cast<float>(std::log(totals.sum)));
    MapRow(d, y, y, n, params.stream, params.prefetch,
           [SOFTKERN_MAP_CAPTURE](VF z) HWY_ATTR { return hn::Sub(z, log_sum); });
  } else {
    const double inv_scale = FoldsTemperature(params) ? InvScale<T>() : 1.0;
    const VF inv_sum = hn::Set(d, static_cast<float>(inv_scale / totals.sum));
    MapRow(d, y, y, n, params.stream, params.prefetch,
           [SOFTKERN_MAP_CAPTURE](VF e) HWY_ATTR { return hn::Mul(e, inv_sum); });
  }
}

// Three-pass recompute and online: y = e^{(x - max)/T} / sum.
template <class T>
HWY_INLINE void ThreePassMap(DF d, const T* x, T* y, std::size_t n, const RowParams& params,
                             const RowStats& totals) {
  const VF vmax = hn::Set(d, totals.max);
  const VF inv_t = hn::Set(d, params.inv_temperature);
  if (params.log) {
    const VF log_sum = hn::Set(d, static_cast<float>(std::log(totals.sum)));
    MapRow(d, x, y, n, params.stream, params.prefetch, [SOFTKERN_MAP_CAPTURE](VF v) HWY_ATTR {
      return hn::Sub(hn::Mul(hn::Sub(v, vmax), inv_t), log_sum);
    });
  } else if (FoldsTemperature(params)) {
    const ShiftedExpScaled<T> exp(d, totals.max, params, 1.0 / totals.sum);
    MapRow(d, x, y, n, params.stream, params.prefetch, [SOFTKERN_MAP_CAPTURE](VF v) HWY_ATTR { return exp(d, v); });
  } else {
    const VF inv_sum = hn::Set(d, static_cast<float>(1.0 / totals.sum));
    MapRow(d, x, y, n, params.stream, params.prefetch, [SOFTKERN_MAP_CAPTURE](VF v) HWY_ATTR {
      return hn::Mul(Exp(d, hn::Mul(hn::Sub(v, vmax), inv_t)), inv_sum);
    });
  }
}

template <class T>
HWY_NOINLINE void ChunkMapOf(const T* x, T* y, std::size_t n, const RowParams& params,
                             const RowStats& totals) {
  const DF d;
  if (n == 0) return;
  if (params.algorithm == Algorithm::kTwoPass) return TwoPassMap(d, x, y, n, params, totals);
  if (params.algorithm == Algorithm::kThreePassReload) return ReloadMap(d, y, n, params, totals);
  return ThreePassMap(d, x, y, n, params, totals);
}

// Three-pass reload over a whole row (SoftmaxKernels::reload_row): max,
// then the sum storing e^{(x - max)/T}, then y scaled in place; the merges
// RunRow (row_driver.hpp) makes between the passes of one chunk, here.
template <class T>
HWY_NOINLINE RowOutcome ReloadRowOf(const T* x, T* y, std::size_t n, const RowParams& params) {
  const DF d;
  const float max = MaxWithSink(
      HorizontalMax(d, ReduceLeaves<false>(d, MaxAcc(), x, static_cast<T*>(nullptr), n, params.prefetch)), params);
  if (!std::isfinite(max)) return RowOutcome::kMaxNotFinite;
  RowStats totals = SumStats(d, x, y, n, params, max);
  totals.max = max;
  totals.sum += SinkTerm(params, max);
  if (totals.nan || std::isnan(totals.sum)) return RowOutcome::kNaN;
  ReloadMap(d, y, n, params, totals);
  return RowOutcome::kDone;
}

// The table's entry points: the row's element type picks the instantiation.
void ChunkStats(const void* x, void* y, std::size_t n, const RowParams& params, ReducePass pass, float max,
                RowStats* out) {
  switch (params.element) {
    case ElementType::kBFloat16:
      return ChunkStatsOf(static_cast<const hwy::bfloat16_t*>(x), static_cast<hwy::bfloat16_t*>(y), n, params,
                          pass, max, out);
    case ElementType::kFloat16:
      return ChunkStatsOf(static_cast<const hwy::float16_t*>(x), static_cast<hwy::float16_t*>(y), n, params,
                          pass, max, out);
    default:
      return ChunkStatsOf(static_cast<const float*>(x), static_cast<float*>(y), n, params, pass, max, out);
  }
}

void ChunkMap(const void* x, void* y, std::size_t n, const RowParams& params, const RowStats& totals) {
  switch (params.element) {
    case ElementType::kBFloat16:
      return ChunkMapOf(static_cast<const hwy::bfloat16_t*>(x), static_cast<hwy::bfloat16_t*>(y), n, params,
                        totals);
    case ElementType::kFloat16:
      return ChunkMapOf(static_cast<const hwy::float16_t*>(x), static_cast<hwy::float16_t*>(y), n, params,
                        totals);
    default:
      return ChunkMapOf(static_cast<const float*>(x), static_cast<float*>(y), n, params, totals);
  }
}

// softkern::detail::exp_for_testing: e^z over the whole float range, for the
// 2-ulp sweep (test_exp.cpp). For z <= 0 it is the folded exponential of the
// softmax passes at T = 1 with two reduction constants (FoldedExp: the clamp,
// the rounding against a magic bias, the FMA reduction, the degree-5
// polynomial, p 2^{n + 24} from t's low bits with 2^-24 in p, or p 2^n by
// vscalefps, rounded once, denormals included), so that the sweep checks that code to
// 2 ulp; the passes that subtract a maximum drop the second constant, whose
// error is in proportion to |z| (softmax_exp-inl.hpp) and is checked by the
// softmax accuracy tests instead. For z > 0 (which no softmax pass feeds its
// exponential) it is Exp, the general exponential, clamped above so that the
// emulated 2^n of every target overflows to +inf the same way.
HWY_NOINLINE void ExpArray(const float* x, float* y, std::size_t n) {
  const DF d;
  RowParams unit;
  const ExpVectors k(d, MakeExpFold(unit, -104.0, 5, 0x1p-24 * CoefficientFactor(24)));
  MapRow(d, x, y, n, /*stream=*/false, [SOFTKERN_MAP_CAPTURE](VF v) HWY_ATTR {
    VF t, n_v;
    const VF p = FoldedExpParts<5, true>(d, v, hn::Set(d, RoundingMagic(24)), k, &t, &n_v);
    const VF folded = ScaledTerm(d, p, t, n_v);
    return hn::IfThenElse(hn::Gt(v, hn::Zero(d)), Exp(d, ClampKeepNaN(d, v, -kInf, kExpMaxInput)), folded);
  });
}

RowOutcome ReloadRow(const void* x, void* y, std::size_t n, const RowParams& params) {
  switch (params.element) {
    case ElementType::kBFloat16:
      return ReloadRowOf(static_cast<const hwy::bfloat16_t*>(x), static_cast<hwy::bfloat16_t*>(y), n, params);
    case ElementType::kFloat16:
      return ReloadRowOf(static_cast<const hwy::float16_t*>(x), static_cast<hwy::float16_t*>(y), n, params);
    default:
      return ReloadRowOf(static_cast<const float*>(x), static_cast<float*>(y), n, params);
  }
}

inline constexpr SoftmaxKernels kSoftmaxKernels = {&ChunkStats, &ChunkMap, &ExpArray, &ReloadRow};

}  // namespace HWY_NAMESPACE
}  // namespace detail
}  // namespace softkern
HWY_AFTER_NAMESPACE();

#endif  // toggle guard
