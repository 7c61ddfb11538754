// softkern/detail/exp-inl.hpp — softkern's exponential, per target.
//
// Re-included once per target (Highway's toggle guard below). Exp is the
// general exponential for z <= 89: attention's score functions, the online
// algorithm's per-leaf rescaling and the softmax passes at temperatures
// outside the folded range use it; the softmax passes otherwise use the
// folded exponentials of softmax_exp-inl.hpp, built from the same polynomial
// and helpers (MaxKeepNaN). A general-purpose exp (std::exp, Highway's Exp)
// handles ranges softmax never sees and costs more; this one is
//   1. Cody-Waite range reduction with two constants: z = n ln2 + r, |r| <= ln2/2,
//   2. a degree-5 minimax polynomial for e^r on that interval,
//   3. exponent reconstruction: e^z = p(r) * 2^n,
// about 1 ulp.

#if defined(SOFTKERN_DETAIL_EXP_INL_HPP_) == defined(HWY_TARGET_TOGGLE)
#ifdef SOFTKERN_DETAIL_EXP_INL_HPP_
#undef SOFTKERN_DETAIL_EXP_INL_HPP_
#else
#define SOFTKERN_DETAIL_EXP_INL_HPP_
#endif

#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace softkern {
namespace detail {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// log2(e), rounded to float.
constexpr float kLog2e = 0x1.715476p+0f;
// ln 2 = kLn2Hi + kLn2Lo with kLn2Hi's low 9 bits zero, so n * kLn2Hi is exact
// for |n| < 2^9 with or without a fused multiply-add (Cody-Waite). Enough for
// the narrow domain, |n| <= 151.
constexpr float kLn2Hi = 0x1.62E400p-1f;
constexpr float kLn2Lo = 0x1.7F7D1Cp-20f;
// Coefficients of the degree-5 minimax approximation of e^r on
// [-ln2/2, ln2/2]: e^r ~ 1 + r*(c1 + r*(c2 + r*(c3 + r*(c4 + r*c5)))),
// relative error below 2^-24 on the interval.
constexpr float kExpC1 = 0x1.FFFFF6p-1f;
constexpr float kExpC2 = 0x1.FFFDC6p-2f;
constexpr float kExpC3 = 0x1.555A80p-3f;
constexpr float kExpC4 = 0x1.573A1Ap-5f;
constexpr float kExpC5 = 0x1.0F9F9Cp-7f;
// Below this e^z < 2^-150 rounds to 0; it also turns -inf into a finite value
// whose exponential is exactly 0, so -inf never meets inf - inf.
constexpr float kExpMinInput = -104.0f;
// Above this e^z overflows to +inf (e^88.72... is FLT_MAX).
constexpr float kExpMaxInput = 89.0f;

// Clamps without losing NaN (Highway's Min/Max may return the non-NaN
// operand, and a NaN must reach the row's sum so the row becomes NaN).
template <class D, class V>
HWY_INLINE V ClampKeepNaN(D d, V v, float lo, float hi) {
  v = hn::IfThenElse(hn::Lt(v, hn::Set(d, lo)), hn::Set(d, lo), v);
  return hn::IfThenElse(hn::Gt(v, hn::Set(d, hi)), hn::Set(d, hi), v);
}

// 2^k for integral k in [-127, 128] (-127 gives +0, 128 gives +inf), by
// building the float's exponent field. Adding k to 0x1.8p23 + 127 puts k + 127
// in the low bits of the sum (the FP add is exact for such k), and the shift
// moves them into the exponent field while shifting the rest of the bits out:
// one add and one shift, where a float-to-int conversion would need range
// fix-ups on AVX2.
constexpr float kPow2Magic = 0x1.8p23f + 127.0f;
template <class D, class V>
HWY_INLINE V Pow2Normal(D d, V k) {
  const hn::RebindToSigned<D> di;
  return hn::BitCast(d, hn::ShiftLeft<23>(hn::BitCast(di, hn::Add(k, hn::Set(d, kPow2Magic)))));
}

// v * 2^e for integral e, rounded once (gradual underflow included), for v
// with |v| >= 2^-62 or v == 0. AVX-512 has the instruction (vscalefps).
// Elsewhere, when every lane's 2^e is a normal float (all the softmax kernels
// see in practice) it is one product by 2^e; otherwise 2^e is split into two
// normal factors: v * 2^e_hi stays normal, so the only rounding is the last
// product.
template <class D, class V>
HWY_INLINE V MulByPow2(D d, V v, V e) {
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  (void)d;
  return V{_mm512_scalef_ps(v.raw, e.raw)};
#else
  const auto normal = hn::And(hn::Ge(e, hn::Set(d, -126.0f)), hn::Le(e, hn::Set(d, 127.0f)));
  if (HWY_LIKELY(hn::AllTrue(d, normal))) return hn::Mul(v, Pow2Normal(d, e));
  const V e_hi = hn::Min(hn::Max(e, hn::Set(d, -64.0f)), hn::Set(d, 64.0f));
  // Below -126 the result is < 2^-188 and rounds to 0 either way.
  const V e_lo = hn::Min(hn::Max(hn::Sub(e, e_hi), hn::Set(d, -126.0f)), hn::Set(d, 64.0f));
  return hn::Mul(hn::Mul(v, Pow2Normal(d, e_hi)), Pow2Normal(d, e_lo));
#endif
}

// v * 2^e for integral e <= 0 where a result below 2^-126 may be flushed to
// zero: the accumulation of the two-pass sum, whose terms below 2^-126 are
// far under the sum's rounding error (the sum is >= 0.7 at its own scale).
template <class D, class V>
HWY_INLINE V MulByPow2Flush(D d, V v, V e) {
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  return MulByPow2(d, v, e);
#else
  // e = -127 gives an all-zero bit pattern: exactly +0.
  return hn::Mul(v, Pow2Normal(d, hn::Max(e, hn::Set(d, -127.0f))));
#endif
}

// e^r for |r| <= ln2/2 (a little beyond is fine).
template <class D, class V>
HWY_INLINE V ExpPolynomial(D d, V r) {
  V q = hn::MulAdd(hn::Set(d, kExpC5), r, hn::Set(d, kExpC4));
  q = hn::MulAdd(q, r, hn::Set(d, kExpC3));
  q = hn::MulAdd(q, r, hn::Set(d, kExpC2));
  q = hn::MulAdd(q, r, hn::Set(d, kExpC1));
  return hn::MulAdd(q, r, hn::Set(d, 1.0f));
}

// max(v, lo) that keeps a NaN v (so that a NaN input reaches the row's sum).
// x86's maxps returns its second operand when either is NaN, so Highway's Max
// does it in one instruction there. Not on Arm: Highway's Max is FMAXNM on
// NEON (aarch64) and SVE, IEEE maxNum, which returns the non-NaN operand (a
// NaN logit would become e^-104 = 0 and vanish from the sum); FMAX, which
// propagates NaN, does it in one instruction instead. Highway's scalar Max
// also returns the non-NaN operand, so the scalar target compares.
template <class D, class V>
HWY_INLINE V MaxKeepNaN(D d, V v, V lo) {
#if HWY_TARGET == HWY_SCALAR
  (void)d;
  return hn::IfThenElse(hn::Lt(v, lo), lo, v);
#elif HWY_TARGET == HWY_NEON
  (void)d;
  return V(vmaxq_f32(lo.raw, v.raw));
#elif HWY_TARGET == HWY_SVE || HWY_TARGET == HWY_SVE2
  (void)d;
  return svmax_f32_x(svptrue_b32(), v, lo);
#else
  (void)d;
  return hn::Max(lo, v);
#endif
}
template <class D, class V>
HWY_INLINE V MaxKeepNaN(D d, V v, float lo) {
  return MaxKeepNaN(d, v, hn::Set(d, lo));
}

// e^z for z <= 89 (what softmax feeds it is <= 0): exactly 0 for z < -104
// and for -inf, NaN kept. Above 89 the result is unspecified (ExpArray clamps).
template <class D, class V>
HWY_INLINE V Exp(D d, V z) {
  z = MaxKeepNaN(d, z, kExpMinInput);
  const V n = hn::Round(hn::Mul(z, hn::Set(d, kLog2e)));
  V r = hn::NegMulAdd(n, hn::Set(d, kLn2Hi), z);
  r = hn::NegMulAdd(n, hn::Set(d, kLn2Lo), r);
  return MulByPow2(d, ExpPolynomial(d, r), n);
}

}  // namespace HWY_NAMESPACE
}  // namespace detail
}  // namespace softkern
HWY_AFTER_NAMESPACE();

#endif  // toggle guard
