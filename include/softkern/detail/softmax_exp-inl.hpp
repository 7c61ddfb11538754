// softkern/detail/softmax_exp-inl.hpp — the exponentials of the softmax
// passes, with everything that is the same for a whole call folded into
// constants, per target.
//
// Re-included once per target (Highway's toggle guard below). The passes
// evaluate e^{v/T} for v = x - max (three-pass, online) or v = x (two-pass).
// ExpFold computes once per call, in double:
//   t  = v (log2 e / T) + (1.5 2^23 + bias)   one FMA: round(v log2e / T) + bias
//                                              lands in t's low bits
//   n  = t - (1.5 2^23 + bias)                 exact
//   r' = v - n (T ln 2)                        one FMA (two for the two-pass)
//   p  = c0' + c1' r' + ... + ck' r'^k         ck' = ck / T^k * scale: the
//        minimax polynomial of e^r in r = r'/T, with 1/T and the caller's
//        scale (1/sum for a final map) folded into its coefficients
//   p 2^{n + bias}: 2^{n + bias} from t's low bits (one shift) and one
//        multiply, or on AVX-512 one vscalefps of p by n, instead of Round,
//        a multiply by 1/T, a multiply by 1/sum and a per-vector test of the
//        exponent's range.
//
// Results below 2^-126 stay exact: the sums and the reload algorithm's stored
// terms are kept scaled by 2^24 (ScaleBits), so that every term down to
// e^{-104} (2^-150, below which e^z rounds to 0) has a normal 2^{n + 24}; the
// scale comes back out in double (sums) or in the final map's folded
// coefficients. f16 rows keep scale 1: their stored terms cannot hold 2^24,
// and anything below 2^-126 is below f16's smallest step (2^-24) anyway.
// vscalefps rounds p 2^n once whatever n is, denormal results included: on
// AVX-512 the scale 2^24 rides in the coefficients instead (the same stored
// terms and sums, on every target), t needs no bias in its low bits and the
// exponent needs no lower bound.
//
// Special values cost one max per vector: v is clamped from below (NaN kept),
// which turns -inf into a term that rounds to exactly 0 in the final multiply
// (and to at most 2^-150 of a sum that is >= 1); a NaN v reaches p, hence the
// sum (the row goes to the three-pass semantics) or the output. The clamp
// stays with vscalefps too: for v = -inf the reduction v - n (T ln2) would be
// -inf + inf = NaN before any scaling could give 0.
//
// Reduction: with a fused multiply-add, v - n (T ln 2) is rounded once; the
// constant's own rounding, |n| ulp(T ln2)/2, is at most u|v/T|/2 relative in
// e^{v/T}. In the three-pass and online passes v/T = z, so this is inside the
// bound's 2|z|u term (tests/support.hpp). The two-pass passes evaluate e^{x/T}
// with no maximum subtracted (|x/T| up to about 2839), where that error would
// not be in proportion to z: they use T ln2 = hi + lo (kTwoConstants).
//
// Temperatures outside [2^-8, 2^8] (FoldsTemperature) would put the folded
// coefficients (ck / T^k, up to k = 5, times 1/sum) outside float's normal
// range: the three-pass passes then use the general exponential (Exp, in
// exp-inl.hpp) and the two-pass and online rows the three-pass path.

#if defined(SOFTKERN_DETAIL_SOFTMAX_EXP_INL_HPP_) == defined(HWY_TARGET_TOGGLE)
#ifdef SOFTKERN_DETAIL_SOFTMAX_EXP_INL_HPP_
#undef SOFTKERN_DETAIL_SOFTMAX_EXP_INL_HPP_
#else
#define SOFTKERN_DETAIL_SOFTMAX_EXP_INL_HPP_
#endif

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <hwy/highway.h>

#include "softkern/detail/exp-inl.hpp"
#include "softkern/detail/softmax_params.hpp"
#include "softkern/detail/row_stats.hpp"
#include "softkern/detail/softmax_rows-inl.hpp"

HWY_BEFORE_NAMESPACE();
namespace softkern {
namespace detail {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Minimax approximations of e^r on [-ln2/2, ln2/2], lowest degree first,
// rounded to float, with their relative error on the interval:
//   degree 5: below 2^-24 (float rows, and every sum);
//   degree 3: 2^-13.7, for f16 rows (unit roundoff 2^-11);
//   degree 2: 2^-9.2, for bf16 rows (unit roundoff 2^-8).
// tests/test_float16.cpp holds the 16-bit outputs to their type's bound with
// this error added (bound::kExpError16).
constexpr float kExpDegree5[] = {1.0f, kExpC1, kExpC2, kExpC3, kExpC4, kExpC5};
constexpr float kExpDegree3[] = {0x1.fff692p-1f, 0x1.000ac2p+0f, 0x1.028a96p-1f, 0x1.5349eep-3f};
constexpr float kExpDegree2[] = {0x1.001d0cp+0f, 0x1.03ce02p+0f, 0x1.fc2b20p-2f};

// The degree of the exponential whose result is rounded straight to T.
template <class T>
constexpr int OutputDegree() {
  if (std::is_same_v<T, hwy::bfloat16_t>) return 2;
  if (std::is_same_v<T, hwy::float16_t>) return 3;
  return 5;
}

// log2 of the scale of the sums and of the reload algorithm's stored terms.
template <class T>
constexpr int ScaleBits() {
  return std::is_same_v<T, hwy::float16_t> ? 0 : 24;
}

// 2^-ScaleBits<T>().
template <class T>
constexpr double InvScale() {
  return ScaleBits<T>() == 24 ? 0x1p-24 : 1.0;
}

// 1.5 * 2^23: adding it rounds a float of magnitude below 2^22 to an integer,
// which then sits in the low bits of the sum.
constexpr float kRoundMagic = 0x1.8p23f;

// How p 2^{n + bias} is formed. AVX-512 has vscalefps: p scaled by 2^n and
// rounded once (denormal results included, 0 far below), on the FP add pipes
// of AMD's cores, where the shift and the multiply of the other form take the
// FMA pipes that the polynomial already fills. Elsewhere 2^{n + bias} comes
// from t's low bits, where t was rounded against kRoundMagic + 127 + bias.
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
constexpr bool kScaleByInstruction = true;
#else
constexpr bool kScaleByInstruction = false;
#endif

// The magic constant t is rounded against for a term p 2^{n + bias} whose
// bias is a call constant: with vscalefps the bias rides in the
// coefficients instead (CoefficientFactor), so n = t - magic is both the
// reduction's n and the exponent.
constexpr float RoundingMagic(int bias) {
  return kScaleByInstruction ? kRoundMagic : kRoundMagic + static_cast<float>(127 + bias);
}
// 2^bias (0 <= bias < 64) with vscalefps, 1 otherwise: the factor the
// coefficients carry.
constexpr double CoefficientFactor(int bias) {
  return kScaleByInstruction ? static_cast<double>(std::uint64_t{1} << bias) : 1.0;
}

// Whether the call's temperature folds into the constants (file comment).
inline bool FoldsTemperature(const RowParams& params) {
  return params.unit_temperature || (params.inv_temperature_f64 >= 0x1p-8 && params.inv_temperature_f64 <= 0x1p8);
}

// The constants of one call's exponential, as floats.
struct ExpFold {
  float clamp = 0;     // v is raised to at least this (NaN kept)
  float log2e_t = 0;   // log2(e) / T
  float ln2_t_hi = 0;  // T ln 2 = ln2_t_hi + ln2_t_lo
  float ln2_t_lo = 0;
  float coefficients[6] = {};  // ck / T^k * scale
};

// z_min: the clamp in units of v/T. scale: what the polynomial's result is
// multiplied by. Only for FoldsTemperature(params).
inline ExpFold MakeExpFold(const RowParams& params, double z_min, int degree, double scale) {
  const double inv_t = params.inv_temperature_f64;
  const double t = params.unit_temperature ? 1.0 : 1.0 / inv_t;
  ExpFold f;
  f.clamp = static_cast<float>(z_min * t);
  f.log2e_t = static_cast<float>(kLog2eDouble * inv_t);
  const double ln2_t = kLn2Double * t;
  f.ln2_t_hi = static_cast<float>(ln2_t);
  f.ln2_t_lo = static_cast<float>(ln2_t - f.ln2_t_hi);
  const float* c = degree == 5 ? kExpDegree5 : degree == 3 ? kExpDegree3 : kExpDegree2;
  double power = scale;
  for (int k = 0; k <= degree; ++k, power *= inv_t) f.coefficients[k] = static_cast<float>(c[k] * power);
  return f;
}

// The clamps, in units of z = v/T. Three-pass and online: 2^{n + 24} is
// normal for n >= -150, i.e. z >= -104 (below, e^z < 2^-150 rounds to 0);
// with scale 1 (f16 rows) 2^n is normal for n >= -126, z >= -86.8. Two-pass:
// x/T >= -2^22, below which a term is 0 next to any term of the row's
// exponent range (row_stats.hpp: kTwoPassMaxExponent).
template <class T>
constexpr double ShiftedClamp() {
  return ScaleBits<T>() == 24 ? -104.0 : -86.8;
}
constexpr double kTwoPassClamp = -4194304.0;  // -2^22

// The folded constants as vectors.
struct ExpVectors {
  StoredVF clamp, log2e_t, ln2_t_hi, ln2_t_lo;
  StoredVF c[6];
  HWY_INLINE ExpVectors(DF d, const ExpFold& f)
      : clamp(d, hn::Set(d, f.clamp)), log2e_t(d, hn::Set(d, f.log2e_t)), ln2_t_hi(d, hn::Set(d, f.ln2_t_hi)),
        ln2_t_lo(d, hn::Set(d, f.ln2_t_lo)) {
    for (int k = 0; k < 6; ++k) c[k] = StoredVF(d, hn::Set(d, f.coefficients[k]));
  }
};

// r' = v - n (T ln2).
template <bool kTwoConstants>
HWY_INLINE VF ReduceArgument(DF d, VF v, VF n, const ExpVectors& k) {
#if HWY_TARGET == HWY_SCALAR
  // No fused multiply-add: n (T ln2) in double, where both forms are exact
  // enough (one rounding, to float, at the end).
  const double ln2_t = static_cast<double>(hn::GetLane(k.ln2_t_hi.Get(d))) + hn::GetLane(k.ln2_t_lo.Get(d));
  const double r = static_cast<double>(hn::GetLane(v)) - static_cast<double>(hn::GetLane(n)) * ln2_t;
  return hn::Set(d, static_cast<float>(r));
#else
  const VF r = hn::NegMulAdd(n, k.ln2_t_hi.Get(d), v);
  return kTwoConstants ? hn::NegMulAdd(n, k.ln2_t_lo.Get(d), r) : r;
#endif
}

// The folded polynomial p of clamped v, *t = v log2e/T + magic (whose low
// bits hold round(v log2e / T) + the bias the caller put in magic) and
// *n = t - magic, the integer of the reduction, exactly.
template <int kDegree, bool kTwoConstants>
HWY_INLINE VF FoldedExpParts(DF d, VF v, VF magic, const ExpVectors& k, VF* t_out, VF* n_out) {
  v = MaxKeepNaN(d, v, k.clamp.Get(d));
  const VF t = hn::MulAdd(v, k.log2e_t.Get(d), magic);
  const VF n = hn::Sub(t, magic);
  const VF r = ReduceArgument<kTwoConstants>(d, v, n, k);
  VF p = k.c[kDegree].Get(d);
  for (int i = kDegree - 1; i >= 0; --i) p = hn::MulAdd(p, r, k.c[i].Get(d));
  *t_out = t;
  *n_out = n;
  return p;
}

// FoldedExpParts without n.
template <int kDegree, bool kTwoConstants>
HWY_INLINE VF FoldedExp(DF d, VF v, VF magic, const ExpVectors& k, VF* t_out) {
  VF n;
  return FoldedExpParts<kDegree, kTwoConstants>(d, v, magic, k, t_out, &n);
}

// 2^j from j + 127 in t's low bits (0 there gives +0).
HWY_INLINE VF Pow2FromLowBits(DF d, VF t) {
  const hn::RebindToSigned<DF> di;
  return hn::BitCast(d, hn::ShiftLeft<23>(hn::BitCast(di, t)));
}

// p 2^{n + bias} for the parts of FoldedExpParts with magic =
// RoundingMagic(bias) and coefficients times CoefficientFactor(bias).
HWY_INLINE VF ScaledTerm(DF d, VF p, VF t, VF n) {
  if (kScaleByInstruction) return MulByPow2(d, p, n);
  return hn::Mul(p, Pow2FromLowBits(d, t));
}

// The constants of ShiftedExp for rows of T.
template <class T>
HWY_INLINE ExpFold ShiftedExpFold(const RowParams& params) {
  return MakeExpFold(params, ShiftedClamp<T>(), 5, CoefficientFactor(ScaleBits<T>()));
}
template <class T>
HWY_INLINE ExpVectors ShiftedExpVectors(DF d, const RowParams& params) {
  return ExpVectors(d, ShiftedExpFold<T>(params));
}

// e^{(x - shift)/T} 2^ScaleBits for x <= shift: the terms of the three-pass
// and online sums (and the reload algorithm's stored terms). Folded: one
// subtract, the clamp, 2 + 5 FMAs, a subtract, and p 2^{n + ScaleBits}: a
// shift and a multiply that the sums fuse with their add, or one vscalefps.
// Either is rounded once (on the shift path 2^{n + ScaleBits} is a normal
// float, by the clamp), and a NaN p stays NaN.
template <class T>
struct ShiftedExp {
  StoredVF shift;
  ExpVectors k;  // ShiftedExpVectors<T>
  HWY_INLINE ShiftedExp(DF d, VF shift_v, const ExpVectors& vectors) : shift(d, shift_v), k(vectors) {}
  // The constants broadcast straight into place (no copy of ExpVectors).
  HWY_INLINE ShiftedExp(DF d, VF shift_v, const ExpFold& fold) : shift(d, shift_v), k(d, fold) {}
  // p, t and n of x.
  HWY_INLINE VF Parts(DF d, VF x, VF* t, VF* n) const {
    const VF magic = hn::Set(d, RoundingMagic(ScaleBits<T>()));
    return FoldedExpParts<5, false>(d, hn::Sub(x, shift.Get(d)), magic, k, t, n);
  }
  HWY_INLINE VF operator()(DF d, VF x) const {
    VF t, n;
    const VF p = Parts(d, x, &t, &n);
    return ScaledTerm(d, p, t, n);
  }
  // sum + the term of x (one FMA on the shift path).
  HWY_INLINE VF Accumulate(DF d, VF x, VF sum) const {
    VF t, n;
    const VF p = Parts(d, x, &t, &n);
    if (kScaleByInstruction) return hn::Add(sum, MulByPow2(d, p, n));
    return hn::MulAdd(p, Pow2FromLowBits(d, t), sum);
  }
};

// e^{(x - max)/T} * scale for x <= max, rounded once: the final map of the
// three-pass and online algorithms, with scale = 1/sum folded into p.
template <class T>
struct ShiftedExpScaled {
  StoredVF shift;
  ExpVectors k;
  HWY_INLINE ShiftedExpScaled(DF d, float max, const RowParams& params, double scale)
      : shift(d, hn::Set(d, max)),
        k(d, MakeExpFold(params, ShiftedClamp<T>(), OutputDegree<T>(),
                         scale * InvScale<T>() * CoefficientFactor(ScaleBits<T>()))) {}
  HWY_INLINE VF operator()(DF d, VF x) const {
    VF t, n;
    const VF magic = hn::Set(d, RoundingMagic(ScaleBits<T>()));
    const VF p = FoldedExpParts<OutputDegree<T>(), false>(d, hn::Sub(x, shift.Get(d)), magic, k, &t, &n);
    return ScaledTerm(d, p, t, n);
  }
};

}  // namespace HWY_NAMESPACE
}  // namespace detail
}  // namespace softkern
HWY_AFTER_NAMESPACE();

#endif  // toggle guard
