// softkern/detail/stablemax-inl.hpp — StableMax rows, per target: the sum
// of s(z), the forward map, and the cross-entropy gradient.
//
// Re-included once per target (Highway's toggle guard below). StableMax
// (Prieto et al. 2025) normalises s(z) = z + 1 (z >= 0), 1 / (1 - z) (z < 0)
// instead of e^z: no exponential and no maximum, so a row is one sum and
// one map (2 reads + 1 write), whatever the logits' range. z = x / T.
//  - p_i = s(z_i) / S, S = sum_j s(z_j) (+ s(sink / T) for a forward sink);
//  - log p_i = sign(z_i) log(1 + |z_i|) - log S;
//  - d log S / dz_i = s'(z_i) / S, s' = 1 (z >= 0) or 1 / (1 - z)^2, and
//    d log s(z_i) / dz_i = 1 / (1 + |z_i|): the cross-entropy gradient
//    dx_i = a s'(z_i) - b w_i / (1 + |z_i|), a and b from the driver
//    (cross_entropy_impl.hpp).
// S is summed in float over the reduction tree; rows where it leaves the
// normal float range (|z| near FLT_MAX) are redone in double by the driver.

#if defined(SOFTKERN_DETAIL_STABLEMAX_INL_HPP_) == defined(HWY_TARGET_TOGGLE)
#ifdef SOFTKERN_DETAIL_STABLEMAX_INL_HPP_
#undef SOFTKERN_DETAIL_STABLEMAX_INL_HPP_
#else
#define SOFTKERN_DETAIL_STABLEMAX_INL_HPP_
#endif

#include <hwy/highway.h>

#include <cmath>
#include <cstddef>

#include "softkern/detail/cross_entropy-inl.hpp"
#include "softkern/detail/softmax-inl.hpp"
#include "softkern/detail/softmax_rows-inl.hpp"
#include "softkern/detail/training_math-inl.hpp"
#include "softkern/detail/training_params.hpp"
#include "softkern/detail/training_rows-inl.hpp"

HWY_BEFORE_NAMESPACE();
namespace softkern {
namespace detail {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// z = x / T (StableMax takes no soft-cap: cross_entropy rejects the pair).
struct StableMaxInput {
  StoredVF inv_temperature;
  HWY_INLINE StableMaxInput(DF d, const LogitParams& p) : inv_temperature(d, hn::Set(d, p.exp.inv_temperature)) {}
  HWY_INLINE VF Z(DF d, VF x) const { return hn::Mul(x, inv_temperature.Get(d)); }
};

// The sum of s(z) per lane and, with kSmoothing, sum w log s(z) and sum w
// over the entries that are not -inf. Walks the logits and the weights in
// step (without weights, the logits twice: the second row is not read).
// The tail is padded with -inf, s = 0.
template <bool kSmoothing, bool kWeights>
struct StableMaxAcc {
  static constexpr float kFillA = -kInf;
  static constexpr float kFillB = 0.0f;
  StableMaxInput input;
  struct State {
    StoredVF sum, weighted, weight;
  };
  HWY_INLINE State Init(DF d) const {
    return State{StoredVF(d, hn::Zero(d)), StoredVF(d, hn::Zero(d)), StoredVF(d, hn::Zero(d))};
  }
  HWY_INLINE void Add(DF d, State& s, VF x, VF w) const {
    const VF z = input.Z(d, x);
    VF inverse;
    const VF sum = hn::Add(s.sum.Get(d), StableMaxS(d, z, &inverse));
    if constexpr (kSmoothing) {
      const auto finite = hn::Ne(x, hn::Set(d, -kInf));
      const VF wx = kWeights ? w : hn::Set(d, 1.0f);
      const VF weighted = hn::Add(s.weighted.Get(d), hn::IfThenElseZero(finite, hn::Mul(wx, StableMaxLog(d, z))));
      s = State{StoredVF(d, sum), StoredVF(d, weighted),
                StoredVF(d, hn::Add(s.weight.Get(d), hn::IfThenElseZero(finite, wx)))};
    } else {
      s.sum = StoredVF(d, sum);
    }
  }
  HWY_INLINE State Merge(DF d, const State& a, const State& b) const {
    return State{StoredVF(d, hn::Add(a.sum.Get(d), b.sum.Get(d))),
                 StoredVF(d, hn::Add(a.weighted.Get(d), b.weighted.Get(d))),
                 StoredVF(d, hn::Add(a.weight.Get(d), b.weight.Get(d)))};
  }
};

// ReduceTree's leaf for StableMaxAcc: the leaf's logits and their weights.
template <class T, bool kSmoothing, bool kWeights>
struct StableMaxLeaf {
  using Acc = StableMaxAcc<kSmoothing, kWeights>;
  using State = typename Acc::State;
  Acc acc;
  const T* chunk;
  const float* weights;
  HWY_INLINE State Merge(DF d, const State& a, const State& b) const { return acc.Merge(d, a, b); }
  HWY_INLINE State Leaf(DF d, const T* x, T* unused, std::size_t n) const {
    (void)unused;
    if constexpr (kWeights) {
      return FoldPair(d, acc, x, weights + (x - chunk), n);
    } else {
      return FoldPair(d, acc, x, x, n);
    }
  }
};

template <class T, bool kSmoothing, bool kWeights>
HWY_INLINE LogitStats StableMaxStatsWith(DF d, const T* x, const float* weights, std::size_t n,
                                         const LogitParams& params) {
  const StableMaxLeaf<T, kSmoothing, kWeights> leaf{{StableMaxInput(d, params)}, x, weights};
  const auto state = ReduceTree(d, leaf, x, static_cast<T*>(nullptr), n);
  LogitStats stats;
  stats.sum = HorizontalSum(d, state.sum.Get(d));
  stats.nan = std::isnan(stats.sum);
  if constexpr (kSmoothing) {
    stats.weighted = HorizontalSum(d, state.weighted.Get(d));
    stats.weight = HorizontalSum(d, state.weight.Get(d));
  }
  return stats;
}

template <class T>
HWY_INLINE LogitStats StableMaxStats(DF d, const T* x, const float* weights, std::size_t n,
                                     const LogitParams& params) {
  return WithLogitVariant(params, weights, [&](auto, auto smoothing, auto weighted) HWY_ATTR {
    return StableMaxStatsWith<T, decltype(smoothing)::value, decltype(weighted)::value>(d, x, weights, n, params);
  });
}

// dx = a s'(z) - b w / (1 + |z|) over one chunk (file comment); b w is
// 0 for -inf logits and left out without label smoothing.
template <bool kSmoothing, bool kWeights, class T>
HWY_INLINE void StableMaxGradientWith(DF d, const T* x, const float* weights, T* dx, std::size_t n,
                                      const LogitParams& params, const LogitGradient& row) {
  const StableMaxInput input(d, params);
  const VF a = hn::Set(d, row.a), b = hn::Set(d, row.b);
  const auto gradient = [SOFTKERN_MAP_CAPTURE](VF x_v, VF w) HWY_ATTR {
    const VF z = input.Z(d, x_v);
    VF inverse;
    StableMaxS(d, z, &inverse);
    const VF slope = hn::IfThenElse(hn::Ge(z, hn::Zero(d)), hn::Set(d, 1.0f), hn::Mul(inverse, inverse));
    VF g = hn::Mul(a, slope);
    if constexpr (kSmoothing) {
      const VF bw = hn::IfThenZeroElse(hn::Eq(x_v, hn::Set(d, -kInf)), kWeights ? hn::Mul(b, w) : b);
      g = hn::NegMulAdd(bw, inverse, g);
    }
    return g;
  };
  MapLogitGradient<kWeights>(d, x, weights, dx, n, gradient);
}

template <class T>
HWY_INLINE void StableMaxGradient(DF d, const T* x, const float* weights, T* dx, std::size_t n,
                                  const LogitParams& params, const LogitGradient& row) {
  WithLogitVariant(params, weights, [&](auto, auto smoothing, auto weighted) HWY_ATTR {
    StableMaxGradientWith<decltype(smoothing)::value, decltype(weighted)::value>(d, x, weights, dx, n, params, row);
  });
}

// Forward StableMax (softmax rows with Normaliser::kStableMax): y = s(z) / S,
// log: log s(z) - log S (-inf for a -inf logit). No soft-cap here.
template <class T>
HWY_INLINE void StableMaxMap(DF d, const T* x, T* y, std::size_t n, const LogitParams& params, double sum) {
  const StableMaxInput input(d, params);
  if (params.exp.log) {
    const VF log_sum = hn::Set(d, static_cast<float>(std::log(sum)));
    MapRow(d, x, y, n, params.exp.stream, [SOFTKERN_MAP_CAPTURE](VF x_v) HWY_ATTR {
      const VF z = input.Z(d, x_v);
      const VF log_p = hn::Sub(StableMaxLog(d, z), log_sum);
      return hn::IfThenElse(hn::Eq(x_v, hn::Set(d, -kInf)), x_v, log_p);
    });
  } else {
    const VF inv_sum = hn::Set(d, static_cast<float>(1.0 / sum));
    MapRow(d, x, y, n, params.exp.stream, [SOFTKERN_MAP_CAPTURE](VF x_v) HWY_ATTR {
      VF inverse;
      return hn::Mul(StableMaxS(d, input.Z(d, x_v), &inverse), inv_sum);
    });
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace detail
}  // namespace softkern
HWY_AFTER_NAMESPACE();

#endif  // toggle guard
