// softkern/detail/attention_softplus-inl.hpp — softplus attention with
// re-weighting, per target: its logarithm and softplus, and the tile that
// runs its three passes over K and one over V.

#if defined(SOFTKERN_DETAIL_ATTENTION_SOFTPLUS_INL_HPP_) == defined(HWY_TARGET_TOGGLE)
#ifdef SOFTKERN_DETAIL_ATTENTION_SOFTPLUS_INL_HPP_
#undef SOFTKERN_DETAIL_ATTENTION_SOFTPLUS_INL_HPP_
#else
#define SOFTKERN_DETAIL_ATTENTION_SOFTPLUS_INL_HPP_
#endif

#include <cmath>
#include <cstddef>

#include <hwy/highway.h>

#include "softkern/detail/attention_block-inl.hpp"
#include "softkern/detail/attention_params.hpp"
#include "softkern/detail/attention_rows-inl.hpp"
#include "softkern/detail/attention_tile-inl.hpp"
#include "softkern/detail/exp-inl.hpp"

HWY_BEFORE_NAMESPACE();
namespace softkern {
namespace detail {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Natural log for x > 0 (denormals included; 0 gives a large negative value,
// callers guard it): x = 2^k m with m in [sqrt(1/2), sqrt(2)), log m =
// 2 atanh(s) = 2 s (1 + s^2/3 + s^4/5 + ...), s = (m - 1)/(m + 1), |s| <=
// 0.172, so seven terms leave a truncation error below 2^-36.
HWY_INLINE VF LogPositive(DF df, VF x) {
  const hn::RebindToSigned<DF> di;
  const auto tiny = hn::Lt(x, hn::Set(df, 0x1p-126f));
  x = hn::IfThenElse(tiny, hn::Mul(x, hn::Set(df, 0x1p64f)), x);
  const auto bits = hn::BitCast(di, x);
  // 0x3F3504F3 is sqrt(1/2): k = floor(log2(x / sqrt(1/2))).
  const auto k = hn::ShiftRight<23>(hn::Sub(bits, hn::Set(di, 0x3F3504F3)));
  const VF m = hn::BitCast(df, hn::Sub(bits, hn::ShiftLeft<23>(k)));
  const VF s = hn::Div(hn::Sub(m, hn::Set(df, 1.0f)), hn::Add(m, hn::Set(df, 1.0f)));
  const VF s2 = hn::Mul(s, s);
  VF poly = hn::MulAdd(s2, hn::Set(df, 1.0f / 13), hn::Set(df, 1.0f / 11));
  poly = hn::MulAdd(poly, s2, hn::Set(df, 1.0f / 9));
  poly = hn::MulAdd(poly, s2, hn::Set(df, 1.0f / 7));
  poly = hn::MulAdd(poly, s2, hn::Set(df, 1.0f / 5));
  poly = hn::MulAdd(poly, s2, hn::Set(df, 1.0f / 3));
  poly = hn::MulAdd(poly, s2, hn::Set(df, 1.0f));
  VF kf = hn::ConvertTo(df, k);
  kf = hn::IfThenElse(tiny, hn::Sub(kf, hn::Set(df, 64.0f)), kf);
  // k ln2 in two parts (k ln2_hi exact for |k| < 2^9).
  const VF log_m = hn::Mul(hn::Add(s, s), poly);
  return hn::MulAdd(kf, hn::Set(df, kLn2Hi), hn::MulAdd(kf, hn::Set(df, kLn2Lo), log_m));
}

// softplus(x) = max(x, 0) + log1p(e^{-|x|}); log1p(e) for e in [0, 1] as
// log(1 + e) * e / ((1 + e) - 1), which cancels the rounding of 1 + e
// (Goldberg), and e itself when 1 + e rounds to 1. -inf gives exactly 0.
HWY_INLINE VF Softplus(DF df, VF x) {
  const VF e = Exp(df, hn::Neg(hn::Abs(x)));
  const VF one = hn::Set(df, 1.0f);
  const VF u = hn::Add(one, e);
  const VF um1 = hn::Sub(u, one);
  const VF log1p = hn::IfThenElse(hn::Eq(um1, hn::Zero(df)), e,
                                  hn::Div(hn::Mul(LogPositive(df, u), e), hn::IfThenElse(hn::Eq(um1, hn::Zero(df)), one, um1)));
  return hn::Add(MaxKeepNaN(df, x, 0.0f), log1p);
}

// Softplus attention with re-weighting (LSSA/LSSAR, Gao et al. 2025), the
// formulas of attention.hpp: three passes over K (sum of a, max of r, the
// weights) and one over V. Invisible keys have score -inf: a = softplus(-inf)
// = 0 and they are forced to r = 0.
HWY_INLINE void SoftplusTile(DF df, const AttentionParams& p, Tile& tile, Scratch& sc, std::size_t dp) {
  const std::size_t N = hn::Lanes(df);
  const std::size_t d = p.head_dim;
  float factor[kTileRows];
  double visible[kTileRows];
  const double log_d = std::log(static_cast<double>(d));
  // fp8's per-head V scale joins the normalisation (K's cancels in k / |k|).
  const double v_factor = KvHeadFactor(p, p.v_scales, tile.kv_head);
  for (std::size_t r = 0; r < tile.rows; ++r) {
    TileRow& row = tile.row[r];
    // N_i: the visible keys, mask included.
    std::size_t count = row.end - row.begin;
    if (const float* mask = MaskRow(p, row)) {
      for (std::size_t j = row.begin; j < row.end; ++j) count -= mask[j] == -kInf;
    }
    visible[r] = static_cast<double>(count);
    const float* q = p.q + row.query * p.q_row_stride + row.head * p.q_head_stride;
    double norm2 = 0.0;
    for (std::size_t c = 0; c < d; ++c) norm2 += static_cast<double>(q[c]) * q[c];
    const double norm = std::fmax(std::sqrt(norm2), 1e-12);
    // q^ scaled by ln d * ln N_i; the K side divides by |k_j|.
    factor[r] = count > 0 ? static_cast<float>(log_d * std::log(visible[r]) / norm) : 0.0f;
    row.a_sum = 0.0;
    row.t_max = 0.0f;
    row.l = 0.0;
  }
  LoadQueries(df, p, tile, sc, dp, factor);
  std::size_t first, last;
  TileKeyRange(tile, &first, &last);
  const VF zero = hn::Zero(df);
  const VF offset = hn::Set(df, p.softplus_offset);
  const VF power = hn::Set(df, p.softplus_power);
  for (int pass = 0; pass < 3; ++pass) {
    if (pass == 1) {
      for (std::size_t r = 0; r < tile.rows; ++r) {
        tile.row[r].t_scale = static_cast<float>(visible[r] / (tile.row[r].a_sum + 1e-8));
      }
    }
    for (std::size_t j0 = first; j0 < last; j0 += kBlockKeys) {
      const std::size_t count = HWY_MIN(kBlockKeys, last - j0);
      const std::size_t padded = RoundUpTo(count, N);
      LoadRows(df, p, false, tile.kv_head, j0, count, dp, sc.kbuf, &sc.k, true);
      for (std::size_t j = 0; j < count; ++j) {
        // Float rows (no widen_in_place). Per-key or per-head scales cancel
        // in k / |k|, so the norms of the loaded values serve.
        const float* k = static_cast<const float*>(sc.k.row[j]);
        double norm2 = 0.0;
        for (std::size_t c = 0; c < d; ++c) norm2 += static_cast<double>(k[c]) * k[c];
        sc.k_inv_norm[j] = static_cast<float>(1.0 / std::fmax(std::sqrt(norm2), 1e-12));
      }
      ScoreBlock(df, p, tile, sc, j0, count, dp, true);
      if (pass == 2) LoadRows(df, p, true, tile.kv_head, j0, count, dp, sc.vbuf, &sc.v, true);
      for (std::size_t r = 0; r < tile.rows; ++r) {
        TileRow& row = tile.row[r];
        if (visible[r] == 0.0) continue;
        float* s = sc.s[r];
        const VF t_scale = hn::Set(df, row.t_scale);
        VF acc = zero;
        for (std::size_t j = 0; j < padded; j += N) {
          const VF x = hn::Load(df, s + j);
          const auto hidden = hn::Eq(x, hn::Set(df, -kInf));
          const VF a = Softplus(df, x);
          if (pass == 0) {
            acc = hn::Add(acc, a);
            continue;
          }
          // r = ReLU(A N - O) before the power; 0 for invisible keys.
          const VF t = hn::IfThenZeroElse(hidden, MaxKeepNaN(df, hn::MulSub(a, t_scale, offset), 0.0f));
          if (pass == 1) {
            acc = hn::IfThenElse(hn::Gt(t, acc), t, acc);
            hn::Store(t, df, s + j);
            continue;
          }
          // (r / r_max)^p = e^{p log(r / r_max)}, exactly 0 for r = 0.
          const VF ratio = hn::Mul(t, hn::Set(df, 1.0f / row.t_max));
          const VF w = hn::IfThenZeroElse(hn::Eq(t, zero),
                                          Exp(df, hn::Mul(power, LogPositive(df, ratio))));
          acc = hn::Add(acc, w);
          hn::Store(w, df, s + j);
        }
        if (pass == 0) {
          row.a_sum += hn::GetLane(hn::SumOfLanes(df, acc));
        } else if (pass == 1) {
          float m = hn::GetLane(hn::MaxOfLanes(df, acc));
          for (std::size_t j = 0; j < count; ++j) {
            if (std::isnan(s[j])) m = kNaN;
          }
          if (!(m <= row.t_max)) row.t_max = m;
          if (std::isnan(row.a_sum)) row.t_max = kNaN;
        } else {
          row.l += hn::GetLane(hn::SumOfLanes(df, acc));
          WeightsTimesVScales(df, sc.v, s, padded);
          AccumulateVRow(df, sc.o[r], 1.0f, s, sc.v.row, sc.v.type, 0, count, dp, r == 0 ? AheadOf(sc.v) : nullptr);
        }
      }
    }
    if (pass == 1) {
      // With every r = 0 the weights are 0 / (0 + 1e-8) = 0: skip pass 3.
      bool any = false;
      for (std::size_t r = 0; r < tile.rows; ++r) any |= !(tile.row[r].t_max == 0.0f);
      if (!any) break;
    }
  }
  for (std::size_t r = 0; r < tile.rows; ++r) {
    const TileRow& row = tile.row[r];
    if (std::isnan(row.t_max) || std::isnan(row.l)) {
      WriteNaNRow(p, row);
      continue;
    }
    if (visible[r] == 0.0 || row.t_max == 0.0f) {
      WriteRow(p, row, sc.o[r], 0.0f);
      continue;
    }
    // W = (r/r_max)^p / (sum (r/r_max)^p + 1e-8 / r_max^p).
    const double eps = std::exp(std::log(1e-8) - p.softplus_power * std::log(static_cast<double>(row.t_max)));
    WriteRow(p, row, sc.o[r], static_cast<float>(v_factor / (row.l + eps)));
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace detail
}  // namespace softkern
HWY_AFTER_NAMESPACE();

#endif  // toggle guard
