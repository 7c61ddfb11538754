// softkern/detail/linear_attention-inl.hpp — linear attention, per target:
// the elu + 1 feature map and the decayed (Lightning) form, non-causal as one
// state, causal in chunks of B tokens (intra-chunk scores, inter-chunk state,
// state update). It shares the K/V row access (attention_rows-inl.hpp) and
// the V accumulation (attention_block-inl.hpp) with the softmax tiles.

#if defined(SOFTKERN_DETAIL_LINEAR_ATTENTION_INL_HPP_) == defined(HWY_TARGET_TOGGLE)
#ifdef SOFTKERN_DETAIL_LINEAR_ATTENTION_INL_HPP_
#undef SOFTKERN_DETAIL_LINEAR_ATTENTION_INL_HPP_
#else
#define SOFTKERN_DETAIL_LINEAR_ATTENTION_INL_HPP_
#endif

#include <cmath>
#include <cstddef>
#include <cstring>

#include <hwy/highway.h>

#include "softkern/detail/attention_block-inl.hpp"
#include "softkern/detail/attention_params.hpp"
#include "softkern/detail/attention_rows-inl.hpp"
#include "softkern/detail/exp-inl.hpp"
#include "softkern/detail/softmax-inl.hpp"

HWY_BEFORE_NAMESPACE();
namespace softkern {
namespace detail {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// a . b over dp floats (a aligned, both padded to whole vectors), two accumulators.
HWY_INLINE float Dot(DF df, const float* a, const float* b, std::size_t dp) {
  const std::size_t N = hn::Lanes(df);
  VF s0 = hn::Zero(df), s1 = hn::Zero(df);
  std::size_t c = 0;
  for (; c + 2 * N <= dp; c += 2 * N) {
    s0 = hn::MulAdd(hn::Load(df, a + c), hn::LoadU(df, b + c), s0);
    s1 = hn::MulAdd(hn::Load(df, a + c + N), hn::LoadU(df, b + c + N), s1);
  }
  if (c < dp) s0 = hn::MulAdd(hn::Load(df, a + c), hn::LoadU(df, b + c), s0);
  return hn::GetLane(hn::SumOfLanes(df, hn::Add(s0, s1)));
}

// phi(x) = elu(x) + 1 = x + 1 for x > 0, e^x otherwise.
HWY_INLINE VF EluPlusOne(DF df, VF x) {
  const VF zero = hn::Zero(df);
  return hn::IfThenElse(hn::Gt(x, zero), hn::Add(x, hn::Set(df, 1.0f)), Exp(df, hn::Min(x, zero)));
}

// y[0, d) = y * a + b * x (y in the caller's memory: whole vectors, then the
// tail through a stack buffer).
HWY_INLINE void ScaleAxpyRow(DF df, float* y, float a, float b, const float* x, std::size_t d) {
  const std::size_t N = hn::Lanes(df);
  const VF va = hn::Set(df, a), vb = hn::Set(df, b);
  std::size_t c = 0;
  for (; c + N <= d; c += N) {
    hn::StoreU(hn::MulAdd(vb, hn::LoadU(df, x + c), hn::Mul(hn::LoadU(df, y + c), va)), df, y + c);
  }
  if (c < d) {
    const VF r = hn::MulAdd(vb, LoadTail(df, x + c, d - c, 0.0f), hn::Mul(LoadTail(df, y + c, d - c, 0.0f), va));
    StoreTail(df, r, y + c, d - c);
  }
}

struct LinearScratch {
  HWY_ALIGN float q[kBlockKeys][kPaddedDim];
  HWY_ALIGN float k[kBlockKeys][kPaddedDim];
  HWY_ALIGN float o[kBlockKeys][kPaddedDim];
  HWY_ALIGN float vbuf[kBlockKeys * kPaddedDim];
  HWY_ALIGN float s[kBlockKeys][kScoreStride];
  HWY_ALIGN float srow[kPaddedDim];
  BlockRows krows, vrows;  // float rows (LoadRows without widen_in_place)
  float den[kBlockKeys];
};

// Rows [j0, j0 + count) of K (through phi for elu+1) into sc.k, zero padded,
// and pointers to V's rows.
HWY_INLINE void LinearLoadKv(DF df, const LinearParams& lp, std::size_t g, std::size_t j0, std::size_t count,
                             std::size_t dp, LinearScratch& sc) {
  const std::size_t N = hn::Lanes(df);
  const std::size_t d = lp.t.head_dim;
  // 16-bit rows are converted straight into sc.k (phi then runs in place);
  // float rows are read where they are and copied through phi.
  LoadRows(df, lp.t, false, g, j0, count, dp, &sc.k[0][0], &sc.krows);
  LoadRows(df, lp.t, true, g, j0, count, dp, sc.vbuf, &sc.vrows);
  for (std::size_t j = 0; j < count; ++j) {
    for (std::size_t c = 0; c < dp; c += N) {
      VF x = hn::LoadU(df, static_cast<const float*>(sc.krows.row[j]) + c);
      if (lp.kind == LinearKind::kEluPlusOne) x = EluPlusOne(df, x);
      hn::Store(x, df, sc.k[j] + c);
    }
    for (std::size_t c = d; c < dp; ++c) sc.k[j][c] = 0.0f;  // phi(0) = 1 in the padding
  }
}

HWY_INLINE void LinearLoadQ(DF df, const LinearParams& lp, std::size_t h, std::size_t i0, std::size_t count,
                            std::size_t dp, LinearScratch& sc) {
  const std::size_t N = hn::Lanes(df);
  const std::size_t d = lp.t.head_dim;
  for (std::size_t i = 0; i < count; ++i) {
    const float* q = lp.t.q + (i0 + i) * lp.t.q_row_stride + h * lp.t.q_head_stride;
    std::memcpy(sc.q[i], q, d * sizeof(float));
    for (std::size_t c = d; c < dp; ++c) sc.q[i][c] = 0.0f;
    if (lp.kind == LinearKind::kEluPlusOne) {
      for (std::size_t c = 0; c < dp; c += N) hn::Store(EluPlusOne(df, hn::Load(df, sc.q[i] + c)), df, sc.q[i] + c);
      for (std::size_t c = d; c < dp; ++c) sc.q[i][c] = 0.0f;
    }
    for (std::size_t c = 0; c < dp; ++c) sc.o[i][c] = 0.0f;
  }
}

HWY_INLINE void WriteLinearRow(const LinearParams& lp, std::size_t i, std::size_t h, const float* o, float mul) {
  float* dst = lp.t.o + i * lp.t.o_row_stride + h * lp.t.o_head_stride;
  for (std::size_t c = 0; c < lp.t.head_dim; ++c) dst[c] = o[c] * mul;
}

// Katharopoulos (elu + 1) and Lightning (decay) linear attention; see
// attention.hpp. The causal forms run in chunks of B tokens [t0, t0 + B):
//   intra-chunk: o_t = sum_{t0 <= u <= t} lambda^{t-u} (q_t.k_u) v_u   (B x B scores)
//   inter-chunk: o_t += lambda^{t-t0+1} q_t^T S,  S the state after token t0 - 1
//   state:       S = lambda^B S + sum_u lambda^{t0+B-1-u} k_u v_u^T
// Every power of lambda has a non-negative exponent (no lambda^{-t}, which
// overflows); elu + 1 is the same with lambda = 1, phi applied to q and k,
// and the normaliser z carried the same way.
HWY_NOINLINE void LinearAttention(const LinearParams& lp) {
  const DF df;
  const std::size_t N = hn::Lanes(df);
  const AttentionParams& t = lp.t;
  const std::size_t d = t.head_dim;
  const std::size_t dp = RoundUpTo(d, N);
  const std::size_t group = t.heads / t.kv_heads;
  const bool elu = lp.kind == LinearKind::kEluPlusOne;
  LinearScratch sc;
  for (std::size_t h = 0; h < t.heads; ++h) {
    const std::size_t g = h / group;
    float* S = lp.state + h * d * d;
    float* z = elu ? lp.normaliser + h * d : nullptr;
    if (!lp.causal) {
      // S = sum_j phi(k_j) v_j^T, z = sum_j phi(k_j), then every query.
      for (std::size_t a = 0; a < d * d; ++a) S[a] = 0.0f;
      for (std::size_t a = 0; a < d; ++a) z[a] = 0.0f;
      for (std::size_t j0 = 0; j0 < t.keys; j0 += kBlockKeys) {
        const std::size_t count = HWY_MIN(kBlockKeys, t.keys - j0);
        LinearLoadKv(df, lp, g, j0, count, dp, sc);
        for (std::size_t a = 0; a < d; ++a) {
          float* row = S + a * d;
          for (std::size_t j = 0; j < count; ++j) ScaleAxpyRow(df, row, 1.0f, sc.k[j][a], static_cast<const float*>(sc.vrows.row[j]), d);
        }
        for (std::size_t j = 0; j < count; ++j) ScaleAxpyRow(df, z, 1.0f, 1.0f, sc.k[j], d);
      }
      for (std::size_t i0 = 0; i0 < t.queries; i0 += kBlockKeys) {
        const std::size_t count = HWY_MIN(kBlockKeys, t.queries - i0);
        LinearLoadQ(df, lp, h, i0, count, dp, sc);
        for (std::size_t a = 0; a < d; ++a) {
          for (std::size_t i = 0; i < count; ++i) ScaleAxpyRow(df, sc.o[i], 1.0f, sc.q[i][a], S + a * d, d);
        }
        for (std::size_t i = 0; i < count; ++i) {
          double den = lp.eps;
          for (std::size_t a = 0; a < d; ++a) den += static_cast<double>(sc.q[i][a]) * z[a];
          WriteLinearRow(lp, i0 + i, h, sc.o[i], static_cast<float>(1.0 / den));
        }
      }
      continue;
    }
    const std::size_t B = lp.chunk;
    // lambda^k for k = 0..B, in double then rounded once.
    float pow_lambda[kBlockKeys + 2];
    const double s_h = elu ? 0.0 : static_cast<double>(lp.decay[h]);
    for (std::size_t k = 0; k <= B + 1; ++k) pow_lambda[k] = static_cast<float>(std::exp(-s_h * static_cast<double>(k)));
    for (std::size_t t0 = 0; t0 < t.queries; t0 += B) {
      const std::size_t count = HWY_MIN(B, t.queries - t0);
      LinearLoadKv(df, lp, g, t0, count, dp, sc);
      LinearLoadQ(df, lp, h, t0, count, dp, sc);
      // Intra-chunk: scores lambda^{i-j} q_i.k_j for j <= i (else 0), o_i = sum_j s_ij v_j.
      for (std::size_t i = 0; i < count; ++i) {
        double den = 0.0;
        for (std::size_t j = 0; j <= i; ++j) {
          sc.s[i][j] = Dot(df, sc.q[i], sc.k[j], dp) * pow_lambda[i - j];
          den += sc.s[i][j];
        }
        sc.den[i] = static_cast<float>(den);
        AccumulateVRow(df, sc.o[i], 1.0f, sc.s[i], sc.vrows.row, ElementType::kFloat32, 0, i + 1, dp);
      }
      // Inter-chunk: o_i += lambda^{i+1} q_i^T S (S after token t0 - 1), one
      // row of S at a time so S is read once per chunk.
      for (std::size_t a = 0; a < d; ++a) {
        const float* row = S + a * d;
        for (std::size_t i = 0; i < count; ++i) {
          const float w = sc.q[i][a] * pow_lambda[i + 1];
          if (w != 0.0f) ScaleAxpyRow(df, sc.o[i], 1.0f, w, row, d);
        }
      }
      if (elu) {
        for (std::size_t i = 0; i < count; ++i) {
          double den = static_cast<double>(sc.den[i]) + lp.eps;
          for (std::size_t a = 0; a < d; ++a) den += static_cast<double>(sc.q[i][a]) * z[a];
          WriteLinearRow(lp, t0 + i, h, sc.o[i], static_cast<float>(1.0 / den));
        }
      } else {
        for (std::size_t i = 0; i < count; ++i) WriteLinearRow(lp, t0 + i, h, sc.o[i], 1.0f);
      }
      // State: S = lambda^count S + sum_j lambda^{count-1-j} k_j v_j^T.
      for (std::size_t a = 0; a < d; ++a) {
        float* row = S + a * d;
        // The row in a padded stack copy, so the update runs on whole vectors.
        std::memcpy(sc.srow, row, d * sizeof(float));
        for (std::size_t c = d; c < dp; ++c) sc.srow[c] = 0.0f;
        float w[kBlockKeys];
        for (std::size_t j = 0; j < count; ++j) w[j] = sc.k[j][a] * pow_lambda[count - 1 - j];
        AccumulateVRow(df, sc.srow, pow_lambda[count], w, sc.vrows.row, ElementType::kFloat32, 0, count, dp);
        std::memcpy(row, sc.srow, d * sizeof(float));
      }
      if (elu) {
        for (std::size_t j = 0; j < count; ++j) ScaleAxpyRow(df, z, 1.0f, 1.0f, sc.k[j], d);
      }
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace detail
}  // namespace softkern
HWY_AFTER_NAMESPACE();

#endif  // toggle guard
