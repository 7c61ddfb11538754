// softkern/detail/softmax-inl.hpp — the softmax algorithms, per target.
//
// Re-included once per target. Every algorithm is written once here with
// Highway ops; the only per-target code is in exp-inl.hpp (vscalefps on
// AVX-512), in ExpParts below (fused multiply-add vs. double on the scalar
// target) and in StoredVF (SVE vectors cannot be struct members).
//
// Structure shared by all algorithms:
//  - A *reduction* walks the row once and produces a per-lane statistic (a
//    max, a sum, a (mantissa, exponent) pair, a (max, sum) pair). The row is
//    cut into leaves of 64 vectors (LeafElements); each leaf is folded with four
//    independent accumulators (to hide latency), and leaf results are merged
//    pairwise as a balanced tree. The tree keeps the rounding error of a sum
//    of n terms at O(16 + log n) ulps instead of O(n / lanes), and
//    it is the same merge that splits a row across threads.
//  - A *map* walks the row once more and writes y.
//  - Tails (the last n % lanes elements) go through a small stack buffer, so
//    no target ever touches memory outside [x, x + n) and [y, y + n).
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
#include "softkern/detail/kernel_table.hpp"
#include "softkern/detail/float16.hpp"
#include "softkern/detail/row_stats.hpp"

HWY_BEFORE_NAMESPACE();
namespace softkern {
namespace detail {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;

// How the lambdas given to MapRow capture their vector constants: by value,
// so that they stay in registers while y is stored; SVE vectors are sizeless
// types, which a closure cannot hold by value, so there by reference.
#undef SOFTKERN_MAP_CAPTURE
#if HWY_HAVE_SCALABLE
#define SOFTKERN_MAP_CAPTURE &
#else
#define SOFTKERN_MAP_CAPTURE =
#endif
using VF = hn::Vec<DF>;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
// Elements per leaf of the reduction tree: 64 vectors, so each of FoldBlock's
// four accumulators sums 16 vectors before the pairwise merges take over. The
// leaf is counted in vectors, not elements, so that every target (1 lane on
// scalar, 16 on AVX-512) keeps the same short serial chains and the same
// error bound; 1024 elements on AVX-512 is also where the leaf's data
// (4 KiB) is still in L1 when the merge needs it.
HWY_INLINE std::size_t LeafElements(DF d) { return 64 * hn::Lanes(d); }

// A vector kept in a struct (the accumulators' constants and the pairs of
// vectors the two-pass and online reductions carry). SVE vectors are
// sizeless types: they can be variables, arguments, references and return
// values, but not members of a struct or class. So on SVE (and any other
// scalable target) StoredVF keeps the lanes in memory and loads them when
// asked, which costs an L1 load where a constant is used (and, in the reload
// pass, cannot be hoisted out of the loop: y's stores may alias it); on
// every fixed-width target it holds the vector itself, so the code the
// compiler sees there is what it was before.
#if HWY_HAVE_SCALABLE
class StoredVF {
 public:
  HWY_INLINE StoredVF(DF d, VF v) { hn::Store(v, d, lanes_); }
  HWY_INLINE VF Get(DF d) const { return hn::Load(d, lanes_); }

 private:
  HWY_ALIGN float lanes_[hn::MaxLanes(DF())];
};
#else
class StoredVF {
 public:
  HWY_INLINE StoredVF(DF d, VF v) : v_(v) { (void)d; }
  HWY_INLINE VF Get(DF d) const {
    (void)d;
    return v_;
  }

 private:
  VF v_;
};
#endif

// ---------------------------------------------------------------- row walking

// The row's elements: float, or 16-bit (hwy::bfloat16_t, hwy::float16_t)
// widened to float on load and rounded to nearest-even on store; all the
// arithmetic is float. bf16 is rounded with integer ops on every target
// (Highway 1.0.3's DemoteTo truncates); f16 uses the hardware (F16C on
// AVX2/AVX-512, fcvt on Arm) and, on the scalar target, the exact
// conversions of row_stats.hpp (Highway's scalar f16 emulation truncates and
// mishandles inf/NaN).
template <class T>
using DT = hn::Rebind<T, DF>;

template <class T>
HWY_INLINE VF WidenToFloat(DF d, hn::Vec<DT<T>> v) {
#if HWY_TARGET == HWY_SCALAR
  if constexpr (std::is_same_v<T, hwy::float16_t>) {
    std::uint16_t bits;
    std::memcpy(&bits, &v.raw, sizeof bits);
    return hn::Set(d, HalfBitsToFloat(bits));
  }
#endif
  return hn::PromoteTo(d, v);
}

template <class T>
HWY_INLINE hn::Vec<DT<T>> NarrowFromFloat(DF d, VF v) {
  const DT<T> dt;
  if constexpr (std::is_same_v<T, hwy::bfloat16_t>) {
    const hn::RebindToUnsigned<DF> du;
    const hn::RebindToSigned<DF> di;
    const auto bits = hn::BitCast(du, v);
    const auto lsb = hn::And(hn::ShiftRight<16>(bits), hn::Set(du, 1u));
    auto rounded = hn::ShiftRight<16>(hn::Add(hn::Add(bits, hn::Set(du, 0x7FFFu)), lsb));
    // A NaN must stay a NaN (rounding could carry it into infinity).
    rounded = hn::IfThenElse(hn::RebindMask(du, hn::IsNaN(v)), hn::Set(du, 0x7FC0u), rounded);
    return hn::BitCast(dt, hn::DemoteTo(hn::Rebind<std::uint16_t, DF>(), hn::BitCast(di, rounded)));
  } else {
#if HWY_TARGET == HWY_SCALAR
    const std::uint16_t bits = FloatToHalfBits(hn::GetLane(v));
    hn::Vec<DT<T>> out;
    std::memcpy(&out.raw, &bits, sizeof bits);
    (void)d;
    return out;
#else
    (void)d;
    return hn::DemoteTo(dt, v);
#endif
  }
}

template <class T>
HWY_INLINE VF LoadElements(DF d, const T* p) {
  if constexpr (std::is_same_v<T, float>) {
    return hn::LoadU(d, p);
  } else {
    return WidenToFloat<T>(d, hn::LoadU(DT<T>(), p));
  }
}

template <class T>
HWY_INLINE void StoreElements(DF d, VF v, T* p) {
  if constexpr (std::is_same_v<T, float>) {
    hn::StoreU(v, d, p);
  } else {
    hn::StoreU(NarrowFromFloat<T>(d, v), DT<T>(), p);
  }
}

// The tail (fewer than a vector of elements) through a stack buffer, so no
// target touches memory outside the row; lanes past `count` read `fill`.
template <class T>
HWY_INLINE VF LoadTail(DF d, const T* p, std::size_t count, float fill) {
  HWY_ALIGN float buf[hn::MaxLanes(DF())];
  const std::size_t lanes = hn::Lanes(d);
  for (std::size_t i = 0; i < lanes; ++i) buf[i] = fill;
  if constexpr (std::is_same_v<T, float>) {
    std::memcpy(buf, p, count * sizeof(float));
    return hn::Load(d, buf);
  } else {
    HWY_ALIGN T narrow[hn::MaxLanes(DF())];
    hn::StoreU(NarrowFromFloat<T>(d, hn::Load(d, buf)), DT<T>(), narrow);
    std::memcpy(narrow, p, count * sizeof(T));
    return LoadElements(d, static_cast<const T*>(narrow));
  }
}

template <class T>
HWY_INLINE void StreamElements(DF d, VF v, T* p) {
  if constexpr (std::is_same_v<T, float>) {
    hn::Stream(v, d, p);
  } else {
    StoreElements(d, v, p);  // not reached: 16-bit rows never stream
  }
}

template <class T>
HWY_INLINE void StoreTail(DF d, VF v, T* p, std::size_t count) {
  HWY_ALIGN T buf[hn::MaxLanes(DF())];
  StoreElements(d, v, static_cast<T*>(buf));
  std::memcpy(p, buf, count * sizeof(T));
}

// Software prefetch of the lines kPrefetchBytes ahead of the 4 vectors at p.
// Hardware prefetchers follow a stream, but a pass that computes between its
// loads keeps too few misses in flight to draw the bandwidth a plain copy
// gets; asking early restores that. Prefetches never fault, so running past
// the end of the row is harmless (the address is formed as an integer).
constexpr std::size_t kPrefetchBytes = 4096;
template <class T>
HWY_INLINE void PrefetchAhead(DF d, const T* p) {
  const std::uintptr_t ahead = reinterpret_cast<std::uintptr_t>(p) + kPrefetchBytes;
  for (std::size_t line = 0; line < 4 * hn::Lanes(d) * sizeof(T); line += 64) {
    hwy::Prefetch(reinterpret_cast<const float*>(ahead + line));
  }
}

// Folds x[0, count) into `Acc::State` with four independent accumulators.
// `acc.Add(state, v)` returns the value that kStore stores at the same place
// in `y` (the reload algorithm stores while it sums). The tail is padded with
// -inf, which every accumulator ignores (max) or maps to 0 (exp). Not inlined:
// each pass's inner loop is one named function, which is what
// scripts/instruction_bound.py finds and counts in the disassembly; the call
// is once per leaf of 64 vectors. The accumulator is copied into a local so
// that its constants stay in registers across y's stores.
template <bool kStore, class Acc, class T>
HWY_NOINLINE typename Acc::State FoldBlock(DF d, const Acc& acc_in, const T* x, T* y, std::size_t count) {
  const Acc acc = acc_in;
  const std::size_t N = hn::Lanes(d);
  typename Acc::State s0 = acc.Init(d), s1 = acc.Init(d), s2 = acc.Init(d), s3 = acc.Init(d);
  std::size_t i = 0;
  for (; i + 4 * N <= count; i += 4 * N) {
    PrefetchAhead(d, x + i);
    const VF r0 = acc.Add(d, s0, LoadElements(d, x + i));
    const VF r1 = acc.Add(d, s1, LoadElements(d, x + i + N));
    const VF r2 = acc.Add(d, s2, LoadElements(d, x + i + 2 * N));
    const VF r3 = acc.Add(d, s3, LoadElements(d, x + i + 3 * N));
    if (kStore) {
      StoreElements(d, r0, y + i);
      StoreElements(d, r1, y + i + N);
      StoreElements(d, r2, y + i + 2 * N);
      StoreElements(d, r3, y + i + 3 * N);
    }
  }
  for (; i + N <= count; i += N) {
    const VF r = acc.Add(d, s0, LoadElements(d, x + i));
    if (kStore) StoreElements(d, r, y + i);
  }
  if (i < count) {
    const VF r = acc.Add(d, s1, LoadTail(d, x + i, count - i, -kInf));
    if (kStore) StoreTail(d, r, y + i, count - i);
  }
  return acc.Merge(d, acc.Merge(d, s0, s1), acc.Merge(d, s2, s3));
}

// The reduction tree over x[0, n): leaves of LeafElements(d), merged pairwise.
// `acc.Leaf` folds one leaf (FoldBlock, or two folds for the online algorithm).
template <class Acc, class T>
HWY_NOINLINE typename Acc::State ReduceTree(DF d, const Acc& acc, const T* x, T* y, std::size_t n) {
  const std::size_t leaf = LeafElements(d);
  if (n <= leaf) return acc.Leaf(d, x, y, n);
  const std::size_t half = (n / leaf + 1) / 2 * leaf;
  const typename Acc::State left = ReduceTree(d, acc, x, y, half);
  const typename Acc::State right =
      ReduceTree(d, acc, x + half, y == nullptr ? nullptr : y + half, n - half);
  return acc.Merge(d, left, right);
}

// y[i] = f(x[i]) for i in [0, n), four vectors at a time. f must be
// elementwise, so that the result does not depend on where vectors start.
//
// With `stream`, y is written with non-temporal stores (the final pass of a
// row larger than the last-level cache): a normal store first reads the line
// it writes (read-for-ownership), so streaming saves a third of the final
// pass's traffic, and y does not evict x. Non-temporal stores need aligned
// addresses, so the head up to y's first vector boundary goes through the
// tail path. In place (x == y, and always in the reload algorithm's final
// pass) the lines of y were just read, so there is no read-for-ownership to
// save and a non-temporal store would only evict them: plain stores then.
//
// Not inlined, like FoldBlock (one named function per map); f is copied into
// a local and captures its constants by value, so they stay in registers.
template <class T, class F>
HWY_NOINLINE void MapRow(DF d, const T* x, T* y, std::size_t n, bool stream, const F& f_in) {
  const F f = f_in;
  const std::size_t N = hn::Lanes(d);
  std::size_t i = 0;
  const auto y_address = reinterpret_cast<std::uintptr_t>(y);
  // Streaming stores are for float rows (a 16-bit vector is half a line).
  if (std::is_same_v<T, float> && stream && x != y && y_address % sizeof(float) == 0) {
    const std::size_t misaligned = (y_address / sizeof(float)) % N;
    const std::size_t head = HWY_MIN(n, (N - misaligned) % N);
    if (head != 0) StoreTail(d, f(LoadTail(d, x, head, -kInf)), y, head);
    for (i = head; i + 4 * N <= n; i += 4 * N) {
      PrefetchAhead(d, x + i);
      const VF r0 = f(LoadElements(d, x + i));
      const VF r1 = f(LoadElements(d, x + i + N));
      const VF r2 = f(LoadElements(d, x + i + 2 * N));
      const VF r3 = f(LoadElements(d, x + i + 3 * N));
      StreamElements(d, r0, y + i);
      StreamElements(d, r1, y + i + N);
      StreamElements(d, r2, y + i + 2 * N);
      StreamElements(d, r3, y + i + 3 * N);
    }
    for (; i + N <= n; i += N) StreamElements(d, f(LoadElements(d, x + i)), y + i);
    if (i < n) StoreTail(d, f(LoadTail(d, x + i, n - i, -kInf)), y + i, n - i);
    // Non-temporal stores are weakly ordered: fence them before returning, so
    // that y is visible to whatever the caller (or another thread) does next.
    hwy::FlushStream();
    return;
  }
  for (; i + 4 * N <= n; i += 4 * N) {
    PrefetchAhead(d, x + i);
    const VF r0 = f(LoadElements(d, x + i));
    const VF r1 = f(LoadElements(d, x + i + N));
    const VF r2 = f(LoadElements(d, x + i + 2 * N));
    const VF r3 = f(LoadElements(d, x + i + 3 * N));
    StoreElements(d, r0, y + i);
    StoreElements(d, r1, y + i + N);
    StoreElements(d, r2, y + i + 2 * N);
    StoreElements(d, r3, y + i + 3 * N);
  }
  for (; i + N <= n; i += N) StoreElements(d, f(LoadElements(d, x + i)), y + i);
  if (i < n) StoreTail(d, f(LoadTail(d, x + i, n - i, -kInf)), y + i, n - i);
}

// ------------------------------------------------------------- accumulators

// Lane-wise maximum. NaN may or may not survive Highway's Max; the sum pass
// that follows turns any NaN into a NaN sum, which is what is checked.
struct MaxAcc {
  using State = VF;
  HWY_INLINE State Init(DF d) const { return hn::Set(d, -kInf); }
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
};

// sum of e^{(x - max) / T}; returns e^z (reload stores it) or z (log-softmax
// reload stores the shifted logit and later subtracts log(sum)).
struct SumExpAcc {
  StoredVF max;
  StoredVF inv_temperature;
  bool return_z;
  using State = VF;
  HWY_INLINE State Init(DF d) const { return hn::Zero(d); }
  HWY_INLINE VF Add(DF d, State& s, VF x) const {
    const VF z = hn::Mul(hn::Sub(x, max.Get(d)), inv_temperature.Get(d));
    const VF e = Exp(d, z);
    s = hn::Add(s, e);
    return return_z ? z : e;
  }
  HWY_INLINE State Merge(DF d, State a, State b) const {
    (void)d;
    return hn::Add(a, b);
  }
  template <class T>
  HWY_INLINE State Leaf(DF d, const T* x, T* y, std::size_t n) const {
    return y != nullptr ? FoldBlock<true>(d, *this, x, y, n) : FoldBlock<false>(d, *this, x, y, n);
  }
};

// ---------------------------------------------------- extended exponentials

// The two-pass algorithm never subtracts a maximum, so it evaluates e^{x/T}
// for any x/T as a pair (p, n): e^{x/T} = p * 2^n, p in [0.7, 1.42], n an
// integral float. This needs a range reduction accurate for |n| up to 2^23:
// with a fused multiply-add, n * ln2_hi is formed exactly inside the FMA; the
// scalar target has no FMA and reduces in double precision instead. For
// T != 1, x * (1/T) is formed as an unevaluated sum t + c (error-free product
// plus the product with the low part of 1/T), because an error of |x/T| ulps
// in the argument would be an error of |x/T| ulps in e^{x/T}.
//
// Inputs below kTwoPassMinInput (including -inf) are clamped there: their
// contribution 2^{n - max n} is exactly 0 unless the whole row is down there,
// and such rows are sent to the three-pass path (see TwoPassTotals).
constexpr float kTwoPassMinInput = -4194304.0f;   // -2^22
// round(kTwoPassMinInput * log2 e): the exponent of a clamped input, and the
// starting exponent of an empty sum.
constexpr float kTwoPassInitExponent = static_cast<float>(kTwoPassEmptyExponent);
// ln 2 = kLn2HiFma + kLn2LoFma to 48 bits: kLn2HiFma is ln 2 rounded to float.
constexpr float kLn2HiFma = 0x1.62E430p-1f;
constexpr float kLn2LoFma = -0x1.05C610p-29f;

// Returns p and sets *n (a pointer, not a struct of two vectors: SVE vectors
// cannot be struct members).
template <bool kScaled>
HWY_INLINE VF ExpParts(DF d, VF x, const RowParams& params, VF* n_out) {
#if HWY_TARGET == HWY_SCALAR
  // One lane: reduce in double, where x / T and n * ln2 are exact enough.
  (void)d;
  const float xf = hn::GetLane(x);
  if (std::isnan(xf)) {
    *n_out = x;
    return x;
  }
  double z = kScaled ? static_cast<double>(xf) * params.inv_temperature_f64 : xf;
  if (z < kTwoPassMinInput) z = kTwoPassMinInput;
  const double n = std::nearbyint(z * 1.4426950408889634);
  const float r = static_cast<float>(z - n * 0.6931471805599453);
  *n_out = hn::Set(d, static_cast<float>(n));
  return ExpPolynomial(d, hn::Set(d, r));
#else
  VF t = x, c = hn::Zero(d);
  if (kScaled) {
    const VF inv_t = hn::Set(d, params.inv_temperature);
    t = hn::Mul(x, inv_t);
    // c = (x * inv_t - t) + x * inv_t_lo: the rounding error of t, exactly, plus
    // the low part of 1/T.
    c = hn::MulAdd(x, hn::Set(d, params.inv_temperature_lo), hn::MulSub(x, inv_t, t));
    // A finite input that is clamped keeps no low part: c is up to ulp(t)
    // (2^14 for x/T = -1.5e11), and added to the clamped value's r it would
    // put the polynomial far outside its range, a huge p that 2^{n - E} does
    // not always bring back to 0 (fuzz_softmax: 1.8e-44 for a weight of
    // e^{-1.5e11} on AVX2, whose MulByPow2 clamps the exponent at -190).
    // t = -inf keeps its NaN c: the NaN sends the row to the three-pass path,
    // which gives -inf its exact semantics under a temperature.
    const auto clamped_finite = hn::And(hn::Lt(t, hn::Set(d, kTwoPassMinInput)), hn::Gt(t, hn::Set(d, -kInf)));
    c = hn::IfThenZeroElse(clamped_finite, c);
  }
  t = MaxKeepNaN(d, t, kTwoPassMinInput);
  const VF n = hn::Round(hn::Mul(t, hn::Set(d, kLog2e)));
  VF r = hn::NegMulAdd(n, hn::Set(d, kLn2HiFma), t);
  r = hn::NegMulAdd(n, hn::Set(d, kLn2LoFma), r);
  if (kScaled) r = hn::Add(r, c);
  *n_out = n;
  return ExpPolynomial(d, r);
#endif
}

// x/T - L for log-softmax in the two-pass algorithm, where L = L_hi + L_lo is
// the log of the (extended) sum; formed so that cancellation between x/T and
// L loses nothing.
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
  }
  return hn::Add(hn::Sub(t, hn::Set(d, l_hi)), hn::Sub(c, hn::Set(d, l_lo)));
#endif
}

// Sum of e^{x/T} as a per-lane (mantissa, exponent) pair: sum = m * 2^e.
// Merging (m1, e1) with (m2, e2): e = max(e1, e2), m = m1 * 2^{e1 - e} +
// m2 * 2^{e2 - e}. Both scalings are by 2^{<= 0}, so the pair never overflows
// whatever x is.
//
// Within a leaf the exponent is fixed up front instead of tracked per element
// (which would cost a max and a rescale of the accumulator per vector): each
// lane takes the largest exponent of its elements in the leaf, E = n(max x),
// from a max pass over the leaf, which is in L1 by then; every term p * 2^n
// then enters as p * 2^{n - E} with n - E <= 0, one scale and one add. n(x)
// is monotonic in x, so no term exceeds its lane's 2^E and nothing overflows;
// terms below 2^{E - 126} are flushed, far under the sum's rounding error
// (the lane's largest term alone is >= 0.7 * 2^E).
template <bool kScaled>
struct TwoPassAcc {
  const RowParams* params;
  struct State {
    StoredVF m;
    StoredVF e;
  };
  // acc += p * 2^{n - E} for the elements of one leaf, E fixed per lane.
  struct LeafSum {
    const RowParams* params;
    StoredVF exponent;
    using State = VF;
    HWY_INLINE State Init(DF d) const { return hn::Zero(d); }
    HWY_INLINE VF Add(DF d, State& s, VF x) const {
      VF n;
      const VF p = ExpParts<kScaled>(d, x, *params, &n);
      s = hn::Add(s, MulByPow2Flush(d, p, hn::Sub(n, exponent.Get(d))));
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
    (void)y;
    // A NaN may vanish from the max (x86 maxps): it still reaches the sum,
    // through its own p.
    VF exponent;
    (void)ExpParts<kScaled>(d, FoldBlock<false>(d, MaxAcc(), x, static_cast<T*>(nullptr), n), *params, &exponent);
    const LeafSum leaf_sum{params, StoredVF(d, exponent)};
    return State{StoredVF(d, FoldBlock<false>(d, leaf_sum, x, static_cast<T*>(nullptr), n)), StoredVF(d, exponent)};
  }
};

// Online softmax state per lane: running max and the sum of e^{(x - max)/T}.
// Milakov & Gimelshein rescale the sum at every element; here each lane takes
// the maximum of a whole leaf first (the leaf is in L1 by then) and rescales
// once per leaf, so the exponential is evaluated once per element, not twice.
struct OnlineAcc {
  StoredVF inv_temperature;
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
    (void)y;
    const VF max = FoldBlock<false>(d, MaxAcc(), x, static_cast<T*>(nullptr), n);
    // A lane that saw only -inf keeps max = -inf and sums against 0 instead,
    // so that -inf - (-inf) never happens.
    const VF shift = hn::IfThenZeroElse(hn::Eq(max, hn::Set(d, -kInf)), max);
    const SumExpAcc sum_acc{StoredVF(d, shift), inv_temperature, false};
    return State{StoredVF(d, max), StoredVF(d, FoldBlock<false>(d, sum_acc, x, static_cast<T*>(nullptr), n))};
  }
};

// ------------------------------------------------------------ row helpers

HWY_INLINE float HorizontalMax(DF d, VF v) { return hn::GetLane(hn::MaxOfLanes(d, v)); }

HWY_INLINE double HorizontalSum(DF d, VF v) {
  HWY_ALIGN float lanes[hn::MaxLanes(DF())];
  hn::Store(v, d, lanes);
  double sum = 0.0;
  for (std::size_t i = 0; i < hn::Lanes(d); ++i) sum += lanes[i];
  return sum;
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
template <bool kScaled, class T>
HWY_INLINE RowStats TwoPassStats(DF d, const T* x, std::size_t n, const RowParams& params) {
  const TwoPassAcc<kScaled> acc{&params};
  const typename TwoPassAcc<kScaled>::State state = ReduceTree(d, acc, x, static_cast<T*>(nullptr), n);
  HWY_ALIGN float m[hn::MaxLanes(DF())];
  HWY_ALIGN float e[hn::MaxLanes(DF())];
  hn::Store(state.m.Get(d), d, m);
  hn::Store(state.e.Get(d), d, e);
  RowStats stats;
  for (std::size_t i = 0; i < hn::Lanes(d); ++i) {
    RowStats lane;
    lane.sum = m[i];
    lane.exponent = e[i];
    lane.nan = std::isnan(m[i]) || std::isnan(e[i]);
    if (lane.nan) lane.exponent = kTwoPassInitExponent;  // keep the merge finite; nan is kept
    MergeTwoPass(&stats, lane);
  }
  return stats;
}

// y = p 2^{n - E} / M (log: x/T - log(M 2^E)).
template <bool kScaled, class T>
HWY_INLINE void TwoPassMap(DF d, const T* x, T* y, std::size_t n, const RowParams& params,
                           const RowStats& totals) {
  const VF vexp = hn::Set(d, static_cast<float>(totals.exponent));
  if (params.log) {
    // log(sum) = log(M) + E ln 2, split into two floats.
    const double log_sum = std::log(totals.sum) + totals.exponent * kLn2Double;
    const float l_hi = static_cast<float>(log_sum);
    const float l_lo = static_cast<float>(log_sum - l_hi);
    MapRow(d, x, y, n, params.stream, [SOFTKERN_MAP_CAPTURE](VF v) HWY_ATTR { return ScaledMinus<kScaled>(d, v, params, l_hi, l_lo); });
  } else {
    const VF inv_mantissa = hn::Set(d, static_cast<float>(1.0 / totals.sum));
    MapRow(d, x, y, n, params.stream, [SOFTKERN_MAP_CAPTURE](VF v) HWY_ATTR {
      VF n;
      const VF p = ExpParts<kScaled>(d, v, params, &n);
      return MulByPow2(d, hn::Mul(p, inv_mantissa), hn::Sub(n, vexp));
    });
  }
}

// Milakov & Gimelshein: (max, sum of e^{(x - max)/T}) per lane, merged in
// double.
template <class T>
HWY_INLINE RowStats OnlineStats(DF d, const T* x, std::size_t n, const RowParams& params) {
  const OnlineAcc acc{StoredVF(d, hn::Set(d, params.inv_temperature))};
  const OnlineAcc::State state = ReduceTree(d, acc, x, static_cast<T*>(nullptr), n);
  HWY_ALIGN float lane_max[hn::MaxLanes(DF())];
  HWY_ALIGN float lane_sum[hn::MaxLanes(DF())];
  hn::Store(state.max.Get(d), d, lane_max);
  hn::Store(state.sum.Get(d), d, lane_sum);
  RowStats stats;
  for (std::size_t i = 0; i < hn::Lanes(d); ++i) {
    const RowStats lane{lane_max[i], kTwoPassInitExponent, lane_sum[i], std::isnan(lane_sum[i])};
    MergeOnline(&stats, lane, params.inv_temperature_f64);
  }
  return stats;
}

// Three-pass, second pass: sum of e^{(x - max)/T}; reload stores each term
// (log: (x - max)/T) in y as it goes.
template <class T>
HWY_INLINE RowStats SumStats(DF d, const T* x, T* y, std::size_t n, const RowParams& params,
                             float max) {
  const bool reload = params.algorithm == Algorithm::kThreePassReload;
  const SumExpAcc sum_acc{StoredVF(d, hn::Set(d, max)), StoredVF(d, hn::Set(d, params.inv_temperature)),
                          reload && params.log};
  RowStats stats;
  stats.sum = HorizontalSum(d, ReduceTree(d, sum_acc, x, reload ? y : static_cast<T*>(nullptr), n));
  stats.nan = std::isnan(stats.sum);
  return stats;
}

template <class T>
HWY_NOINLINE void ChunkStatsOf(const T* x, T* y, std::size_t n, const RowParams& params, int phase,
                               float max, RowStats* out) {
  const DF d;
  if (n == 0) {
    *out = RowStats();
    return;
  }
  switch (params.algorithm) {
    case Algorithm::kTwoPass:
      *out = params.unit_temperature ? TwoPassStats<false>(d, x, n, params) : TwoPassStats<true>(d, x, n, params);
      return;
    case Algorithm::kOnline:
      *out = OnlineStats(d, x, n, params);
      return;
    default:
      if (phase == 0) {
        RowStats stats;
        stats.max = HorizontalMax(d, ReduceTree(d, MaxAcc(), x, static_cast<T*>(nullptr), n));
        stats.nan = std::isnan(stats.max);
        *out = stats;
      } else {
        *out = SumStats(d, x, y, n, params, max);
      }
      return;
  }
}

// Three-pass reload: y holds e^{(x - max)/T} (log: (x - max)/T) from the
// second pass; scale it in place.
template <class T>
HWY_INLINE void ReloadMap(DF d, T* y, std::size_t n, const RowParams& params, const RowStats& totals) {
  if (params.log) {
    const VF log_sum = hn::Set(d, static_cast<float>(std::log(totals.sum)));
    MapRow(d, y, y, n, params.stream, [SOFTKERN_MAP_CAPTURE](VF z) HWY_ATTR { return hn::Sub(z, log_sum); });
  } else {
    const VF inv_sum = hn::Set(d, static_cast<float>(1.0 / totals.sum));
    MapRow(d, y, y, n, params.stream, [SOFTKERN_MAP_CAPTURE](VF e) HWY_ATTR { return hn::Mul(e, inv_sum); });
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
    MapRow(d, x, y, n, params.stream, [SOFTKERN_MAP_CAPTURE](VF v) HWY_ATTR {
      return hn::Sub(hn::Mul(hn::Sub(v, vmax), inv_t), log_sum);
    });
  } else {
    const VF inv_sum = hn::Set(d, static_cast<float>(1.0 / totals.sum));
    MapRow(d, x, y, n, params.stream, [SOFTKERN_MAP_CAPTURE](VF v) HWY_ATTR {
      return hn::Mul(Exp(d, hn::Mul(hn::Sub(v, vmax), inv_t)), inv_sum);
    });
  }
}

template <class T>
HWY_NOINLINE void ChunkMapOf(const T* x, T* y, std::size_t n, const RowParams& params,
                             const RowStats& totals) {
  const DF d;
  if (n == 0) return;
  if (params.algorithm == Algorithm::kTwoPass) {
    if (params.unit_temperature) return TwoPassMap<false>(d, x, y, n, params, totals);
    return TwoPassMap<true>(d, x, y, n, params, totals);
  }
  if (params.algorithm == Algorithm::kThreePassReload) return ReloadMap(d, y, n, params, totals);
  return ThreePassMap(d, x, y, n, params, totals);
}

// The table's entry points: the row's element type picks the instantiation.
void ChunkStats(const void* x, void* y, std::size_t n, const RowParams& params, int phase, float max,
                RowStats* out) {
  switch (params.element) {
    case ElementType::kBFloat16:
      return ChunkStatsOf(static_cast<const hwy::bfloat16_t*>(x), static_cast<hwy::bfloat16_t*>(y), n, params,
                          phase, max, out);
    case ElementType::kFloat16:
      return ChunkStatsOf(static_cast<const hwy::float16_t*>(x), static_cast<hwy::float16_t*>(y), n, params,
                          phase, max, out);
    default:
      return ChunkStatsOf(static_cast<const float*>(x), static_cast<float*>(y), n, params, phase, max, out);
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

HWY_NOINLINE void ExpArray(const float* x, float* y, std::size_t n) {
  const DF d;
  // The full domain of the exponential, for the ulp sweep: clamp above so the
  // emulated 2^n of every target overflows to +inf the same way.
  MapRow(d, x, y, n, /*stream=*/false, [&](VF v) HWY_ATTR {
    return Exp(d, ClampKeepNaN(d, v, -kInf, kExpMaxInput));
  });
}

constexpr Isa TargetIsa() {
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  return Isa::kAvx512;
#elif HWY_TARGET == HWY_AVX2
  return Isa::kAvx2;
#elif HWY_TARGET == HWY_NEON
  return Isa::kNeon;
#elif HWY_TARGET == HWY_SVE
  return Isa::kSve;
#elif HWY_TARGET == HWY_SVE2
  return Isa::kSve2;
#else
  return Isa::kScalar;
#endif
}

// Bytes per vector as the kernels use them: hn::Lanes, which on SVE reads
// the vector length of the CPU it runs on. hn::MaxLanes is only Highway's
// compile-time bound (256 bytes on SVE, whatever the hardware has).
HWY_NOINLINE std::size_t VectorBytes() { return hn::Lanes(DF()) * sizeof(float); }

inline const KernelTable kKernelTable = {TargetIsa(), &VectorBytes, &ChunkStats, &ChunkMap, &ExpArray};

}  // namespace HWY_NAMESPACE
}  // namespace detail
}  // namespace softkern
HWY_AFTER_NAMESPACE();

#endif  // toggle guard
