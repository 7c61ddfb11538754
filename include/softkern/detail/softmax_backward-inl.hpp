// softkern/detail/softmax_backward-inl.hpp — softmax and log-softmax
// backward, per target.
//
// Re-included once per target (Highway's toggle guard below). A row is one
// reduction and one map, on the row walking of training_rows-inl.hpp:
//  - softmax:      D = <y, dy>              then dx = (y / T) (dy - D);
//  - log-softmax:  D = sum dy               then dx = (dy - e^y D) / T.
// The reduction reads y and dy (log-softmax: dy alone, or y too when the
// sink's probability is wanted), the map reads both and writes dx: out of
// cache, 2 + 2 reads and 1 write per element for softmax, 1 + 2 and 1 for
// log-softmax. D is accumulated in float over the reduction tree (as the
// softmax sums are) and merged across lanes and chunks in double.

#if defined(SOFTKERN_DETAIL_SOFTMAX_BACKWARD_INL_HPP_) == defined(HWY_TARGET_TOGGLE)
#ifdef SOFTKERN_DETAIL_SOFTMAX_BACKWARD_INL_HPP_
#undef SOFTKERN_DETAIL_SOFTMAX_BACKWARD_INL_HPP_
#else
#define SOFTKERN_DETAIL_SOFTMAX_BACKWARD_INL_HPP_
#endif

#include <cstddef>
#include <type_traits>

#include <hwy/highway.h>

#include "softkern/detail/exp-inl.hpp"
#include "softkern/detail/softmax-inl.hpp"
#include "softkern/detail/softmax_rows-inl.hpp"
#include "softkern/detail/training_params.hpp"
#include "softkern/detail/training_rows-inl.hpp"

HWY_BEFORE_NAMESPACE();
namespace softkern {
namespace detail {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// e^y for a log-probability y, NaN kept: clamped above at Exp's limit (a
// log-probability is <= 0 up to rounding; larger values are the caller's).
HWY_INLINE VF ProbabilityOfLog(DF d, VF y) { return Exp(d, ClampKeepNaN(d, y, -kInf, kExpMaxInput)); }

// The reduction of one row of (y, dy): D per lane, and with kMass the sum of
// the probabilities (y, or e^y for log-softmax) for the sink's gradient.
// The tail is padded with y = 0 (log: -inf, probability 0) and dy = 0.
// Log-softmax without kMass needs dy alone: its leaves walk dy as both rows,
// so y is not read (the second load of each vector is from L1).
template <bool kLog, bool kMass>
struct BackwardAcc {
  static constexpr bool kReadsY = !kLog || kMass;
  static constexpr float kFillA = kLog && kMass ? -kInf : 0.0f;
  static constexpr float kFillB = 0.0f;
  struct Pair {
    StoredVF dot, mass;
  };
  using State = std::conditional_t<kMass, Pair, VF>;
  HWY_INLINE State Init(DF d) const {
    if constexpr (kMass) {
      return Pair{StoredVF(d, hn::Zero(d)), StoredVF(d, hn::Zero(d))};
    } else {
      return hn::Zero(d);
    }
  }
  HWY_INLINE void Add(DF d, State& s, VF y, VF dy) const {
    if constexpr (kMass) {
      const VF p = kLog ? ProbabilityOfLog(d, y) : y;
      const VF dot = kLog ? hn::Add(s.dot.Get(d), dy) : hn::MulAdd(y, dy, s.dot.Get(d));
      s = Pair{StoredVF(d, dot), StoredVF(d, hn::Add(s.mass.Get(d), p))};
    } else {
      s = kLog ? hn::Add(s, dy) : hn::MulAdd(y, dy, s);
    }
  }
  HWY_INLINE State Merge(DF d, const State& a, const State& b) const {
    if constexpr (kMass) {
      return Pair{StoredVF(d, hn::Add(a.dot.Get(d), b.dot.Get(d))),
                  StoredVF(d, hn::Add(a.mass.Get(d), b.mass.Get(d)))};
    } else {
      return hn::Add(a, b);
    }
  }
  // ReduceTree hands a leaf both rows at the same offset (training_rows-inl.hpp).
  template <class T>
  HWY_INLINE State Leaf(DF d, const T* y, T* dy, std::size_t n) const {
    return FoldPair(d, *this, kReadsY ? y : static_cast<const T*>(dy), static_cast<const T*>(dy), n);
  }
};

template <bool kLog, bool kMass, class T>
HWY_INLINE BackwardStats BackwardStatsWith(DF d, const T* y, const T* dy, std::size_t n) {
  const BackwardAcc<kLog, kMass> acc;
  // ReduceTree's second row is a T*; it is only read here.
  const auto state = ReduceTree(d, acc, y, const_cast<T*>(dy), n);
  BackwardStats stats;
  if constexpr (kMass) {
    stats.dot = HorizontalSum(d, state.dot.Get(d));
    stats.mass = HorizontalSum(d, state.mass.Get(d));
  } else {
    stats.dot = HorizontalSum(d, state);
  }
  return stats;
}

template <class T>
HWY_NOINLINE void BackwardStatsOf(const T* y, const T* dy, std::size_t n, const BackwardParams& params,
                                  BackwardStats* out) {
  const DF d;
  if (n == 0) {
    *out = BackwardStats();
    return;
  }
  if (params.log) {
    *out = params.mass ? BackwardStatsWith<true, true>(d, y, dy, n) : BackwardStatsWith<true, false>(d, y, dy, n);
  } else {
    *out = params.mass ? BackwardStatsWith<false, true>(d, y, dy, n) : BackwardStatsWith<false, false>(d, y, dy, n);
  }
}

// dx = y ((dy - D) / T) (softmax) or (dy - e^y D) / T (log-softmax). At
// T = 1 the factor is a multiply by 1, which costs less than a second loop.
template <class T>
HWY_NOINLINE void BackwardMapOf(const T* y, const T* dy, T* dx, std::size_t n, const BackwardParams& params,
                                double dot) {
  const DF d;
  if (n == 0) return;
  const VF vdot = hn::Set(d, static_cast<float>(dot));
  const VF inv_t = hn::Set(d, params.inv_temperature);
  if (params.log) {
    MapPair(d, y, dy, dx, n, [SOFTKERN_MAP_CAPTURE](VF vy, VF vdy) HWY_ATTR {
      return hn::Mul(hn::NegMulAdd(ProbabilityOfLog(d, vy), vdot, vdy), inv_t);
    });
  } else {
    MapPair(d, y, dy, dx, n, [SOFTKERN_MAP_CAPTURE](VF vy, VF vdy) HWY_ATTR {
      // y last: y / T rounded first would lose bits for a subnormal y / T,
      // which (dy - D) then scales up; this way only the product is rounded.
      return hn::Mul(vy, hn::Mul(hn::Sub(vdy, vdot), inv_t));
    });
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace detail
}  // namespace softkern
HWY_AFTER_NAMESPACE();

#endif  // toggle guard
