// softkern/detail/softmax-inl.hpp — the softmax algorithms, per target.
//
// Re-included once per target. Every algorithm is written once here with
// Highway ops, on the row walking of softmax_rows-inl.hpp (reduction tree,
// map, 16-bit loads and stores), the reductions' accumulators of
// softmax_acc-inl.hpp and the folded exponentials of softmax_exp-inl.hpp;
// the only per-target code is there and in exp-inl.hpp.
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
#include "softkern/detail/softmax_acc-inl.hpp"
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
