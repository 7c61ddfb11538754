// softkern/detail/cross_entropy-inl.hpp — the cross-entropy passes over a
// row of logits with the exponential softmax, per target.
//
// Re-included once per target (Highway's toggle guard below).
//  - The reduction is the online algorithm's (softmax-inl.hpp: OnlineAcc, a
//    leaf's max, then its sum of e^{(v - max)/T} with T folded into the
//    exponential), on v = the logit or its soft-capped value, plus, with
//    label smoothing, the sums sum w_c v_c and sum w_c over the classes that
//    are not -inf. One read of the logits.
//  - The gradient map recomputes p_i = e^{(v_i - max)/T} / sum (the softmax
//    map's folded exponential) and writes dcap_i (a p_i - b w_i): one read,
//    one write. The target's one-hot term is the driver's
//    (cross_entropy_impl.hpp), in double, after the map.
// With a soft-cap, a leaf's capped values go to a stack buffer (in L1) that
// both folds of the online reduction and the smoothing sums read, so tanh is
// evaluated once per element per pass.

#if defined(SOFTKERN_DETAIL_CROSS_ENTROPY_INL_HPP_) == defined(HWY_TARGET_TOGGLE)
#ifdef SOFTKERN_DETAIL_CROSS_ENTROPY_INL_HPP_
#undef SOFTKERN_DETAIL_CROSS_ENTROPY_INL_HPP_
#else
#define SOFTKERN_DETAIL_CROSS_ENTROPY_INL_HPP_
#endif

#include <cmath>
#include <cstddef>
#include <type_traits>

#include <hwy/highway.h>

#include "softkern/detail/row_stats.hpp"
#include "softkern/detail/softmax-inl.hpp"
#include "softkern/detail/softmax_exp-inl.hpp"
#include "softkern/detail/softmax_rows-inl.hpp"
#include "softkern/detail/training_math-inl.hpp"
#include "softkern/detail/training_params.hpp"
#include "softkern/detail/training_rows-inl.hpp"

HWY_BEFORE_NAMESPACE();
namespace softkern {
namespace detail {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// The soft-cap's constants, and v = cap tanh(x / cap) with -inf kept -inf.
struct CapVectors {
  StoredVF cap, inv_cap;
  HWY_INLINE CapVectors(DF d, const LogitParams& p)
      : cap(d, hn::Set(d, p.softcap)), inv_cap(d, hn::Set(d, p.inv_softcap)) {}
  HWY_INLINE VF Apply(DF d, VF x, VF* derivative) const {
    const auto masked = hn::Eq(x, hn::Set(d, -kInf));
    const VF v = Softcap(d, x, cap.Get(d), inv_cap.Get(d), derivative);
    return hn::IfThenElse(masked, x, v);
  }
};

// Calls f(cap, smoothing, weights), three std::bool_constant tags, for the
// call's soft-cap, label smoothing and class weights (which only label
// smoothing reads in a pass): the passes' instantiations, chosen once per
// chunk.
template <class F>
HWY_INLINE decltype(auto) WithLogitVariant(const LogitParams& p, const float* weights, const F& f) {
  using Yes = std::true_type;
  using No = std::false_type;
  const bool cap = p.softcap != 0.0f;
  if (!p.smoothing) return cap ? f(Yes(), No(), No()) : f(No(), No(), No());
  if (weights != nullptr) return cap ? f(Yes(), Yes(), Yes()) : f(No(), Yes(), Yes());
  return cap ? f(Yes(), Yes(), No()) : f(No(), Yes(), No());
}

// A gradient map over one chunk: with class weights, the logits and the
// weights in step (MapPair); without, the logits alone (MapRow), w = 0.
template <bool kWeights, class T, class G>
HWY_INLINE void MapLogitGradient(DF d, const T* x, const float* weights, T* dx, std::size_t n, const G& gradient) {
  if constexpr (kWeights) {
    MapPair(d, x, weights, dx, n, gradient);
  } else {
    (void)weights;
    MapRow(d, x, dx, n, /*stream=*/false,
           [SOFTKERN_MAP_CAPTURE](VF x_v) HWY_ATTR { return gradient(x_v, hn::Zero(d)); });
  }
}

// Label smoothing's sums over v[0, n) (weights w, or 1 each when w is
// null): sum w v and sum w over the entries that are not -inf. The tail
// reads -inf, which is left out.
template <class TV>
HWY_INLINE void AddSmoothingSums(DF d, const TV* v, const float* w, std::size_t n, VF& weighted, VF& weight) {
  const std::size_t N = hn::Lanes(d);
  const VF neg_inf = hn::Set(d, -kInf);
  auto add = [&](VF x, VF wx) HWY_ATTR {
    const auto finite = hn::Ne(x, neg_inf);
    weighted = hn::Add(weighted, hn::IfThenElseZero(finite, hn::Mul(wx, x)));
    weight = hn::Add(weight, hn::IfThenElseZero(finite, wx));
  };
  std::size_t i = 0;
  for (; i + N <= n; i += N) add(LoadElements(d, v + i), w != nullptr ? hn::LoadU(d, w + i) : hn::Set(d, 1.0f));
  if (i < n) {
    add(LoadTail(d, v + i, n - i, -kInf), w != nullptr ? LoadTail(d, w + i, n - i, 0.0f) : hn::Set(d, 1.0f));
  }
}

// The reduction over one chunk: the online pair of v per lane, and the
// smoothing sums. TV is what the online folds read: T itself, or float for
// the capped values in the leaf buffer.
template <class T, bool kCap, bool kSmoothing>
struct LogitAcc {
  using TV = std::conditional_t<kCap, float, T>;
  OnlineAcc online;
  CapVectors cap;
  const T* chunk;          // the chunk's first logit: a leaf's offset into the weights
  const float* weights;    // the chunk's weights, or null
  struct State {
    OnlineAcc::State online;
    StoredVF weighted, weight;
  };
  HWY_INLINE State Merge(DF d, const State& a, const State& b) const {
    return State{online.Merge(d, a.online, b.online), StoredVF(d, hn::Add(a.weighted.Get(d), b.weighted.Get(d))),
                 StoredVF(d, hn::Add(a.weight.Get(d), b.weight.Get(d)))};
  }
  HWY_INLINE State Leaf(DF d, const T* x, T* unused, std::size_t n) const {
    (void)unused;
    if constexpr (kCap) {
      HWY_ALIGN float capped[64 * hn::MaxLanes(DF())];
      const std::size_t N = hn::Lanes(d);
      VF derivative = hn::Set(d, 1.0f);
      std::size_t i = 0;
      for (; i + N <= n; i += N) hn::Store(cap.Apply(d, LoadElements(d, x + i), &derivative), d, capped + i);
      if (i < n) hn::Store(cap.Apply(d, LoadTail(d, x + i, n - i, -kInf), &derivative), d, capped + i);
      return LeafOf(d, static_cast<const float*>(capped), x, n);
    } else {
      return LeafOf(d, x, x, n);
    }
  }
  // The leaf's folds over v (the logits, or their capped values); x is the
  // leaf's place in the chunk.
  HWY_INLINE State LeafOf(DF d, const TV* v, const T* x, std::size_t n) const {
    VF weighted = hn::Zero(d), weight = hn::Zero(d);
    if constexpr (kSmoothing) {
      AddSmoothingSums(d, v, weights != nullptr ? weights + (x - chunk) : nullptr, n, weighted, weight);
    }
    return State{online.Leaf(d, v, static_cast<TV*>(nullptr), n), StoredVF(d, weighted), StoredVF(d, weight)};
  }
};

template <class T, bool kCap, bool kSmoothing>
HWY_INLINE LogitStats LogitStatsWith(DF d, const T* x, const float* weights, std::size_t n,
                                     const LogitParams& params) {
  using Acc = LogitAcc<T, kCap, kSmoothing>;
  using TV = typename Acc::TV;
  const Acc acc{OnlineAcc{StoredVF(d, hn::Set(d, params.exp.inv_temperature)), ShiftedExpVectors<TV>(d, params.exp)},
                CapVectors(d, params), x, weights};
  const typename Acc::State state = ReduceTree(d, acc, x, static_cast<T*>(nullptr), n);
  // The lanes' online pairs, merged in double as OnlineStats does.
  HWY_ALIGN float lane_max[hn::MaxLanes(DF())];
  HWY_ALIGN float lane_sum[hn::MaxLanes(DF())];
  hn::Store(state.online.max.Get(d), d, lane_max);
  hn::Store(state.online.sum.Get(d), d, lane_sum);
  RowStats online;
  for (std::size_t i = 0; i < hn::Lanes(d); ++i) {
    const RowStats lane{lane_max[i], kTwoPassEmptyExponent, lane_sum[i] * InvScale<TV>(), std::isnan(lane_sum[i])};
    MergeOnline(&online, lane, params.exp.inv_temperature_f64);
  }
  LogitStats stats;
  stats.max = online.max;
  stats.sum = online.sum;
  stats.nan = online.nan || std::isnan(online.sum);
  if constexpr (kSmoothing) {
    stats.weighted = HorizontalSum(d, state.weighted.Get(d));
    stats.weight = HorizontalSum(d, state.weight.Get(d));
  }
  return stats;
}

template <class T>
HWY_INLINE LogitStats SoftmaxLogitStats(DF d, const T* x, const float* weights, std::size_t n,
                                        const LogitParams& params) {
  return WithLogitVariant(params, weights, [&](auto cap, auto smoothing, auto) HWY_ATTR {
    return LogitStatsWith<T, decltype(cap)::value, decltype(smoothing)::value>(d, x, weights, n, params);
  });
}

// dx = dcap (a p - b w) over one chunk; b w is 0 for -inf logits (and left
// out without label smoothing, where b = 0).
template <bool kCap, bool kSmoothing, bool kWeights, class T>
HWY_INLINE void SoftmaxGradientWith(DF d, const T* x, const float* weights, T* dx, std::size_t n,
                                    const LogitParams& params, const LogitGradient& row) {
  const ShiftedExpScaled<float> exp(d, row.max, params.exp, row.inv_sum);
  const CapVectors cap(d, params);
  const VF a = hn::Set(d, row.a), b = hn::Set(d, row.b);
  const auto gradient = [SOFTKERN_MAP_CAPTURE](VF x_v, VF w) HWY_ATTR {
    VF derivative = hn::Set(d, 1.0f);
    VF v = x_v;
    if constexpr (kCap) v = cap.Apply(d, x_v, &derivative);
    const VF p = exp(d, v);
    VF g;
    if constexpr (kSmoothing) {
      const VF bw = hn::IfThenZeroElse(hn::Eq(v, hn::Set(d, -kInf)), kWeights ? hn::Mul(b, w) : b);
      g = hn::MulSub(p, a, bw);
    } else {
      g = hn::Mul(p, a);
    }
    if constexpr (kCap) g = hn::Mul(g, derivative);
    return g;
  };
  MapLogitGradient<kWeights>(d, x, weights, dx, n, gradient);
}

template <class T>
HWY_INLINE void SoftmaxGradient(DF d, const T* x, const float* weights, T* dx, std::size_t n,
                                const LogitParams& params, const LogitGradient& row) {
  WithLogitVariant(params, weights, [&](auto cap, auto smoothing, auto weighted) HWY_ATTR {
    SoftmaxGradientWith<decltype(cap)::value, decltype(smoothing)::value, decltype(weighted)::value>(
        d, x, weights, dx, n, params, row);
  });
}

}  // namespace HWY_NAMESPACE
}  // namespace detail
}  // namespace softkern
HWY_AFTER_NAMESPACE();

#endif  // toggle guard
