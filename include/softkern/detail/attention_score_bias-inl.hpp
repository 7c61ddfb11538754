// softkern/detail/attention_score_bias-inl.hpp — what serving models do to a
// score before the softmax, per target: logit soft-capping (Gemma 2,
// c tanh(s / c)) and ALiBi (Press et al. 2022, -slope_h |query position -
// key position|). Applied to a row of a block's scores by ScoreBlock, the
// same way in every tile, so a row has the same bits in decode and prefill.

#if defined(SOFTKERN_DETAIL_ATTENTION_SCORE_BIAS_INL_HPP_) == defined(HWY_TARGET_TOGGLE)
#ifdef SOFTKERN_DETAIL_ATTENTION_SCORE_BIAS_INL_HPP_
#undef SOFTKERN_DETAIL_ATTENTION_SCORE_BIAS_INL_HPP_
#else
#define SOFTKERN_DETAIL_ATTENTION_SCORE_BIAS_INL_HPP_
#endif

#include <cstddef>
#include <cstdint>

#include <hwy/highway.h>

#include "softkern/detail/attention_params.hpp"
#include "softkern/detail/attention_rows-inl.hpp"
#include "softkern/detail/attention_tile-inl.hpp"
#include "softkern/detail/exp-inl.hpp"

HWY_BEFORE_NAMESPACE();
namespace softkern {
namespace detail {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// tanh(x), a few ulp (docs/attention.md states the bound it adds):
//  - |x| < 1/4: x + x^3 (c3 + x^2 (c5 + x^2 (c7 + x^2 c9))), tanh's Taylor
//    series, whose next term is below 2^-26 |x| there;
//  - beyond: (1 - e) / (1 + e) with e = e^{-2|x|} <= e^{-1/2}, where 1 - e
//    loses at most a factor e / (1 - e) < 1.6 of e's accuracy; the sign
//    restored. e^{-2|x|} underflows to 0 for large |x| (tanh = +-1, +-inf
//    included); NaN stays NaN.
HWY_INLINE VF Tanh(DF df, VF x) {
  const VF t = hn::Abs(x);
  const VF x2 = hn::Mul(x, x);
  VF poly = hn::MulAdd(x2, hn::Set(df, 62.0f / 2835.0f), hn::Set(df, -17.0f / 315.0f));
  poly = hn::MulAdd(poly, x2, hn::Set(df, 2.0f / 15.0f));
  poly = hn::MulAdd(poly, x2, hn::Set(df, -1.0f / 3.0f));
  const VF small = hn::MulAdd(hn::Mul(poly, x2), x, x);
  const VF e = Exp(df, hn::Mul(t, hn::Set(df, -2.0f)));
  const VF one = hn::Set(df, 1.0f);
  const VF large = hn::CopySign(hn::Div(hn::Sub(one, e), hn::Add(one, e)), x);
  const VF y = hn::IfThenElse(hn::Lt(t, hn::Set(df, 0.25f)), small, large);
  return hn::IfThenElse(hn::IsNaN(x), x, y);
}

// s[0, padded) = out * tanh(s * in): soft-capping c tanh(R / c) of a row of
// raw scores R = s T (the scores arrive scaled by 1/T), in = T / c,
// out = c / T (AttentionParams::softcap_in, softcap_out).
HWY_INLINE void SoftCapRow(DF df, const AttentionParams& p, float* s, std::size_t padded) {
  const std::size_t N = hn::Lanes(df);
  const VF in = hn::Set(df, p.softcap_in), out = hn::Set(df, p.softcap_out);
  for (std::size_t j = 0; j < padded; j += N) hn::Store(hn::Mul(out, Tanh(df, hn::Mul(hn::Load(df, s + j), in))), df, s + j);
}

// s[j] += -slope_h |position - key position of j| / T for the row's keys j0
// + j, j in [0, padded). Distances are exact below 2^24 tokens.
HWY_INLINE void AddAlibiRow(DF df, const AttentionParams& p, const TileRow& row, std::size_t j0, float* s,
                            std::size_t padded) {
  const std::size_t N = hn::Lanes(df);
  // Query position minus the position of key j0 (signed: non-causal rows
  // see keys after them).
  const double first = static_cast<double>(row.position) - static_cast<double>(p.key_start + j0);
  const VF base = hn::Set(df, static_cast<float>(first));
  const VF slope = hn::Set(df, static_cast<float>(-static_cast<double>(p.alibi_slopes[row.head]) * p.mask_scale));
  VF j = hn::Iota(df, 0.0f);
  const VF step = hn::Set(df, static_cast<float>(N));
  for (std::size_t c = 0; c < padded; c += N) {
    hn::Store(hn::MulAdd(slope, hn::Abs(hn::Sub(base, j)), hn::Load(df, s + c)), df, s + c);
    j = hn::Add(j, step);
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace detail
}  // namespace softkern
HWY_AFTER_NAMESPACE();

#endif  // toggle guard
