// softkern/detail/training_math-inl.hpp — the elementwise functions of the
// cross-entropy and StableMax kernels, per target: the logit soft-cap
// (cap tanh(x / cap) and its derivative), log1p, and StableMax's s(z).
//
// Re-included once per target (Highway's toggle guard below). Written on
// softkern's own exponential (exp-inl.hpp) rather than Highway's contrib
// math: that header's Exp would be found next to softkern's by
// argument-dependent lookup and make every Exp(d, v) call ambiguous.

#if defined(SOFTKERN_DETAIL_TRAINING_MATH_INL_HPP_) == defined(HWY_TARGET_TOGGLE)
#ifdef SOFTKERN_DETAIL_TRAINING_MATH_INL_HPP_
#undef SOFTKERN_DETAIL_TRAINING_MATH_INL_HPP_
#else
#define SOFTKERN_DETAIL_TRAINING_MATH_INL_HPP_
#endif

#include <hwy/highway.h>

#include "softkern/detail/exp-inl.hpp"
#include "softkern/detail/softmax_rows-inl.hpp"

HWY_BEFORE_NAMESPACE();
namespace softkern {
namespace detail {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// ------------------------------------------------------------------ soft-cap

// tanh(a) / a = 1 - a^2/3 + 2a^4/15 - ... (Taylor series in s = a^2), to
// s^5: for |a| < 1/4 the next term is below 2^-32 relative.
constexpr float kTanhSeries[] = {0x1.000000p+0f,  -0x1.555556p-2f, 0x1.111112p-3f,
                                 -0x1.ba1ba2p-5f, 0x1.664f48p-6f,  -0x1.226e36p-7f};
constexpr float kTanhSeriesBelow = 0.25f;

// v = cap tanh(x / cap) and *derivative = dv/dx = 1 - tanh^2(x / cap).
// Below |a| = 1/4 (a = x / cap) tanh is the series above; from there,
// tanh|a| = (1 - e) / (1 + e) with e = e^{-2|a|} <= 0.61, where 1 - e loses
// at most a few ulp, and 1 - tanh^2 = 4e / (1 + e)^2, which keeps its
// relative accuracy where tanh is close to 1 and 1 - tanh^2 would cancel.
// Within 8 ulp of cap tanh(x / cap) (one division, Exp's 2 ulp and the
// roundings). x = +inf gives cap (derivative 0), NaN stays NaN; -inf is a
// masked class, kept -inf (derivative 1) by the callers' masks, not here.
HWY_INLINE VF Softcap(DF d, VF x, VF cap, VF inv_cap, VF* derivative) {
  const VF one = hn::Set(d, 1.0f);
  const VF a = hn::Mul(x, inv_cap);
  const VF abs_a = hn::Abs(a);
  const VF e = Exp(d, hn::Mul(abs_a, hn::Set(d, -2.0f)));
  const VF inv_one_plus_e = hn::Div(one, hn::Add(one, e));
  const VF tanh_large = hn::Mul(hn::Sub(one, e), inv_one_plus_e);
  const VF derivative_large = hn::Mul(hn::Mul(hn::Set(d, 4.0f), e), hn::Mul(inv_one_plus_e, inv_one_plus_e));
  const VF s = hn::Mul(a, a);
  VF series = hn::Set(d, kTanhSeries[5]);
  for (int k = 4; k >= 0; --k) series = hn::MulAdd(series, s, hn::Set(d, kTanhSeries[k]));
  const VF tanh_small = hn::Mul(abs_a, series);
  const auto small = hn::Lt(abs_a, hn::Set(d, kTanhSeriesBelow));
  const VF tanh_abs = hn::IfThenElse(small, tanh_small, tanh_large);
  *derivative = hn::IfThenElse(small, hn::NegMulAdd(tanh_small, tanh_small, one), derivative_large);
  return hn::Mul(cap, hn::CopySignToAbs(tanh_abs, a));
}

// ---------------------------------------------------------------------- log

// log(1 + a) for finite a >= 0, within 2 ulp: 1 + a = 2^k m with m in
// [sqrt(1/2), sqrt(2)), log m from f = m - 1 and s = f / (2 + f) with the
// classic degree-8 odd series (Lg1..Lg4, as in FreeBSD's logf); the rounding
// of 1 + a comes back as (a - ((1 + a) - 1)) / (1 + a) (Goldberg), so small
// a keeps its relative accuracy.
constexpr float kLogLg1 = 0x1.555554p-1f;
constexpr float kLogLg2 = 0x1.999c26p-2f;
constexpr float kLogLg3 = 0x1.23d3dcp-2f;
constexpr float kLogLg4 = 0x1.f13c4cp-3f;
constexpr float kLn2HiLog = 0x1.62e300p-1f;  // low bits zero: k * it is exact
constexpr float kLn2LoLog = 0x1.2fefa2p-17f;

HWY_INLINE VF Log1pFinite(DF d, VF a) {
  const hn::RebindToSigned<DF> di;
  const VF one = hn::Set(d, 1.0f);
  const VF u = hn::Add(one, a);
  // Rounding of 1 + a, relative to 1 + a (0 once a is beyond 2^24).
  const VF lost = hn::IfThenElseZero(hn::Lt(a, hn::Set(d, 0x1p24f)), hn::Div(hn::Sub(a, hn::Sub(u, one)), u));
  // 1 + a = 2^k m: shift the mantissa range to [sqrt(1/2), sqrt(2)).
  auto bits = hn::Add(hn::BitCast(di, u), hn::Set(di, 0x3f800000 - 0x3f3504f3));
  const VF k = hn::ConvertTo(d, hn::Sub(hn::ShiftRight<23>(bits), hn::Set(di, 0x7f)));
  bits = hn::Add(hn::And(bits, hn::Set(di, 0x007fffff)), hn::Set(di, 0x3f3504f3));
  const VF f = hn::Sub(hn::BitCast(d, bits), one);
  const VF s = hn::Div(f, hn::Add(hn::Set(d, 2.0f), f));
  const VF z = hn::Mul(s, s);
  const VF w = hn::Mul(z, z);
  const VF t1 = hn::Mul(w, hn::MulAdd(w, hn::Set(d, kLogLg4), hn::Set(d, kLogLg2)));
  const VF t2 = hn::Mul(z, hn::MulAdd(w, hn::Set(d, kLogLg3), hn::Set(d, kLogLg1)));
  const VF half_f2 = hn::Mul(hn::Set(d, 0.5f), hn::Mul(f, f));
  // s (f^2/2 + R) + k ln2_lo - f^2/2 + f + k ln2_hi, smallest terms first.
  VF log = hn::MulAdd(s, hn::Add(half_f2, hn::Add(t2, t1)), hn::Mul(k, hn::Set(d, kLn2LoLog)));
  log = hn::Add(hn::Sub(log, half_f2), f);
  log = hn::MulAdd(k, hn::Set(d, kLn2HiLog), hn::Add(log, lost));
  return log;
}

// ---------------------------------------------------------------- StableMax

// s(z) = z + 1 for z >= 0, 1 / (1 - z) below: 1 + |z| or its inverse, one
// rounding each side (two below 0). *inverse = 1 / (1 + |z|), which is
// s'(z) / s(z) on both sides (the gradient uses it). s(-inf) = 0,
// s(+inf) = +inf, NaN stays NaN.
HWY_INLINE VF StableMaxS(DF d, VF z, VF* inverse) {
  const VF one = hn::Set(d, 1.0f);
  const VF den = hn::Add(one, hn::Abs(z));
  *inverse = hn::Div(one, den);
  return hn::IfThenElse(hn::Ge(z, hn::Zero(d)), den, *inverse);
}

// log s(z) = sign(z) log(1 + |z|), for finite z.
HWY_INLINE VF StableMaxLog(DF d, VF z) { return hn::CopySign(Log1pFinite(d, hn::Abs(z)), z); }

}  // namespace HWY_NAMESPACE
}  // namespace detail
}  // namespace softkern
HWY_AFTER_NAMESPACE();

#endif  // toggle guard
