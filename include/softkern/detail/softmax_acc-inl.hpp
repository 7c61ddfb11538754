// softkern/detail/softmax_acc-inl.hpp — the accumulators of the softmax
// reductions, per target: what a leaf folds to (the max, the sum of the
// exponentials, the two-pass (mantissa, exponent) pair, the online (max,
// sum) pair), how two leaves' results merge, and the lane reductions.
//
// Re-included once per target (Highway's toggle guard below). Each
// accumulator has Init, Add<kStore> and Merge for FoldLeaf and ReduceLeaves
// (softmax_rows-inl.hpp), FoldLeafOf for ReduceLeaves' leaves and Leaf for
// ReduceTree's.

#if defined(SOFTKERN_DETAIL_SOFTMAX_ACC_INL_HPP_) == defined(HWY_TARGET_TOGGLE)
#ifdef SOFTKERN_DETAIL_SOFTMAX_ACC_INL_HPP_
#undef SOFTKERN_DETAIL_SOFTMAX_ACC_INL_HPP_
#else
#define SOFTKERN_DETAIL_SOFTMAX_ACC_INL_HPP_
#endif

#include <cstddef>
#include <type_traits>

#include <hwy/highway.h>

#include "softkern/detail/exp-inl.hpp"
#include "softkern/detail/row_stats.hpp"
#include "softkern/detail/softmax_exp-inl.hpp"
#include "softkern/detail/softmax_rows-inl.hpp"

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

}  // namespace HWY_NAMESPACE
}  // namespace detail
}  // namespace softkern
HWY_AFTER_NAMESPACE();

#endif  // toggle guard
