// softkern/detail/attention-inl.hpp — attention kernels, per target.
//
// Re-included once per target, like softmax-inl.hpp (whose row helpers and
// exponential it uses). This file holds the tile loop (Attention), the
// softmax and sigmoid tiles, the split-KV merge and the target's
// AttentionKernels; the parts it builds on each have their own file (see
// docs/layout.md). One tiled loop serves decode and prefill and every score
// function:
//  - A *tile* is up to kTileRows query rows (query i, head h) that read the
//    same KV head: the H/Hk heads of a GQA group, times as many consecutive
//    queries as fit (prefill). Its scaled queries and output accumulators
//    live in stack scratch, O(kTileRows * d) (FlashAttention-2 order: the
//    outer loop runs over query tiles, the inner over key blocks, so memory
//    never grows with L * n).
//  - A *key block* is kBlockKeys keys. Its K and V rows are read once per
//    tile (16-bit rows, and float rows whose length is not a whole number of
//    vectors, are converted into zero-padded float rows first), the tile's
//    scores are formed as dot products, invisible keys (causal, window, -inf
//    mask) get a score of exactly -inf, and the block is folded into each
//    row's state: online softmax (running max m, sum l, output o rescaled by
//    e^{m_old - m_new}), sigmoid (a plain sum), or one of the softplus passes.
//  - Keys whose weight is exactly 0 are skipped in the V accumulation, so an
//    invisible key's V row is never read into the result (NaN included).

#if defined(SOFTKERN_DETAIL_ATTENTION_INL_HPP_) == defined(HWY_TARGET_TOGGLE)
#ifdef SOFTKERN_DETAIL_ATTENTION_INL_HPP_
#undef SOFTKERN_DETAIL_ATTENTION_INL_HPP_
#else
#define SOFTKERN_DETAIL_ATTENTION_INL_HPP_
#endif

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include <hwy/highway.h>

#include "softkern/detail/attention_block-inl.hpp"
#include "softkern/detail/attention_params.hpp"
#include "softkern/detail/attention_rows-inl.hpp"
#include "softkern/detail/attention_softplus-inl.hpp"
#include "softkern/detail/attention_tile-inl.hpp"
#include "softkern/detail/exp-inl.hpp"
#include "softkern/detail/linear_attention-inl.hpp"
#include "softkern/detail/softmax-inl.hpp"

HWY_BEFORE_NAMESPACE();
namespace softkern {
namespace detail {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// sigmoid(x) = 1 / (1 + e^{-x}), from e = e^{-|x|} <= 1 so nothing
// overflows: 1/(1 + e) for x >= 0, e/(1 + e) below. -inf gives exactly 0.
HWY_INLINE VF Sigmoid(DF df, VF x) {
  const VF e = Exp(df, hn::Neg(hn::Abs(x)));
  const VF inv = hn::Div(hn::Set(df, 1.0f), hn::Add(hn::Set(df, 1.0f), e));
  return hn::IfThenElse(hn::Ge(x, hn::Zero(df)), inv, hn::Mul(e, inv));
}

// ------------------------------------------------------------ score functions

// Online softmax over the tile: one pass over the keys.
HWY_INLINE void SoftmaxTile(DF df, const AttentionParams& p, Tile& tile, Scratch& sc, std::size_t dp) {
  const std::size_t N = hn::Lanes(df);
  // fp8's per-head scales: K's into q, V's into the normalisation.
  const float q_factor = static_cast<float>(p.q_scale * KvHeadFactor(p, p.k_scales, tile.kv_head));
  const double v_factor = KvHeadFactor(p, p.v_scales, tile.kv_head);
  float factor[kTileRows];
  for (std::size_t r = 0; r < tile.rows; ++r) {
    TileRow& row = tile.row[r];
    factor[r] = q_factor;
    row.nan_sink = false;
    row.m = -kInf;
    row.l = 0.0;
    if (p.sinks != nullptr) {
      const float sink = p.sinks[row.head];
      if (std::isnan(sink)) {
        row.nan_sink = true;
      } else if (sink != -kInf) {
        // The online state starts at the sink: m = S/T, l = e^0 = 1.
        row.m = sink * p.mask_scale;
        row.l = 1.0;
      }
    }
  }
  LoadQueries(df, p, tile, sc, dp, factor);
  std::size_t first, last;
  TileKeyRange(tile, &first, &last);
  for (std::size_t j0 = first; j0 < last; j0 += kBlockKeys) {
    const std::size_t count = HWY_MIN(kBlockKeys, last - j0);
    const std::size_t padded = RoundUpTo(count, N);
    ScoreBlockAndLoadV(df, p, tile, sc, j0, count, dp);
    float alpha[kTileRows];
    for (std::size_t r = 0; r < tile.rows; ++r) {
      TileRow& row = tile.row[r];
      float* s = sc.s[r];
      const float block_max = RowMaxOf(df, s, padded);
      alpha[r] = 1.0f;
      if (block_max == -kInf) {
        // Nothing visible in this block: weights 0, the row is left as it is.
        for (std::size_t j = 0; j < count; ++j) s[j] = 0.0f;
        continue;
      }
      float m_new = row.m;
      if (!(block_max <= m_new)) m_new = block_max;  // a NaN score too
      // e^{m_old - m_new}; 1 when the max did not move (both -inf included).
      alpha[r] = row.m == m_new ? 1.0f : static_cast<float>(std::exp(static_cast<double>(row.m) - m_new));
      const VF vmax = hn::Set(df, m_new);
      VF sum = hn::Zero(df);
      for (std::size_t j = 0; j < padded; j += N) {
        const VF e = Exp(df, hn::Sub(hn::Load(df, s + j), vmax));
        sum = hn::Add(sum, e);
        hn::Store(e, df, s + j);
      }
      row.l = row.l * alpha[r] + hn::GetLane(hn::SumOfLanes(df, sum));
      row.m = m_new;
      WeightsTimesVScales(df, sc.v, s, padded);
    }
    AccumulateVTile(df, tile, sc, alpha, count, dp);
  }
  for (std::size_t r = 0; r < tile.rows; ++r) {
    const TileRow& row = tile.row[r];
    if (row.nan_sink || std::isnan(row.l)) {
      WriteNaNRow(p, row);
      if (p.lse != nullptr) p.lse[row.query * p.lse_row_stride + row.head] = kNaN;
      continue;
    }
    // l == 0: no visible key and no sink, the output is 0 (not 0/0).
    WriteRow(p, row, sc.o[r], row.l > 0.0 ? static_cast<float>(v_factor / row.l) : 0.0f);
    if (p.lse != nullptr) {
      p.lse[row.query * p.lse_row_stride + row.head] =
          row.l > 0.0 ? static_cast<float>(static_cast<double>(row.m) + std::log(row.l)) : -kInf;
    }
  }
}

// FlashSigmoid: o = sum_j sigmoid(s_j + b) v_j; invisible keys have s = -inf
// and weight exactly 0, and are skipped.
HWY_INLINE void SigmoidTile(DF df, const AttentionParams& p, Tile& tile, Scratch& sc, std::size_t dp) {
  const std::size_t N = hn::Lanes(df);
  const float q_factor = static_cast<float>(p.q_scale * KvHeadFactor(p, p.k_scales, tile.kv_head));
  const float v_factor = static_cast<float>(KvHeadFactor(p, p.v_scales, tile.kv_head));
  float factor[kTileRows];
  for (std::size_t r = 0; r < tile.rows; ++r) factor[r] = q_factor;
  LoadQueries(df, p, tile, sc, dp, factor);
  std::size_t first, last;
  TileKeyRange(tile, &first, &last);
  const VF bias = hn::Set(df, p.sigmoid_bias);
  float ones[kTileRows];
  for (float& a : ones) a = 1.0f;
  for (std::size_t j0 = first; j0 < last; j0 += kBlockKeys) {
    const std::size_t count = HWY_MIN(kBlockKeys, last - j0);
    const std::size_t padded = RoundUpTo(count, N);
    ScoreBlockAndLoadV(df, p, tile, sc, j0, count, dp);
    for (std::size_t r = 0; r < tile.rows; ++r) {
      float* s = sc.s[r];
      for (std::size_t j = 0; j < padded; j += N) {
        hn::Store(Sigmoid(df, hn::Add(hn::Load(df, s + j), bias)), df, s + j);
      }
      WeightsTimesVScales(df, sc.v, s, padded);
    }
    AccumulateVTile(df, tile, sc, ones, count, dp);
  }
  for (std::size_t r = 0; r < tile.rows; ++r) WriteRow(p, tile.row[r], sc.o[r], v_factor);
}

// Tiles: for each KV head, groups of up to kTileRows (query, head) rows that
// read it, queries outer so a tile's rows are neighbours in position.
HWY_NOINLINE void Attention(const AttentionParams& p) {
  const DF df;
  const std::size_t dp = RoundUpTo(p.head_dim, hn::Lanes(df));
  const std::size_t group = p.heads / p.kv_heads;
  const std::size_t heads_per_tile = HWY_MIN(group, kTileRows);
  const std::size_t queries_per_tile = HWY_MAX(std::size_t{1}, kTileRows / group);
  const std::uint64_t query_start = p.query_start;
  Scratch sc;
  Tile tile;
  for (std::size_t g = 0; g < p.kv_heads; ++g) {
    for (std::size_t i0 = 0; i0 < p.queries; i0 += queries_per_tile) {
      const std::size_t i1 = HWY_MIN(p.queries, i0 + queries_per_tile);
      for (std::size_t h0 = g * group; h0 < (g + 1) * group; h0 += heads_per_tile) {
        const std::size_t h1 = HWY_MIN((g + 1) * group, h0 + heads_per_tile);
        tile.rows = 0;
        tile.kv_head = g;
        for (std::size_t i = i0; i < i1; ++i) {
          for (std::size_t h = h0; h < h1; ++h) {
            TileRow& row = tile.row[tile.rows++];
            row.query = i;
            row.head = h;
            row.position = query_start + i;
            VisibleKeys(p, row.position, &row.begin, &row.end);
          }
        }
        switch (p.score) {
          case ScoreFunction::kSigmoid:
            SigmoidTile(df, p, tile, sc, dp);
            break;
          case ScoreFunction::kSoftplus:
            SoftplusTile(df, p, tile, sc, dp);
            break;
          case ScoreFunction::kSoftmax:
          default:
            SoftmaxTile(df, p, tile, sc, dp);
            break;
        }
      }
    }
  }
}

// Split-KV merge (see attention_merge in attention.hpp), in double per row.
HWY_NOINLINE void AttentionMerge(const MergeParams& p) {
  const DF df;
  const std::size_t N = hn::Lanes(df);
  const std::size_t d = p.head_dim;
  HWY_ALIGN float acc[kPaddedDim];
  HWY_ALIGN float part[kPaddedDim];
  const std::size_t dp = RoundUpTo(d, N);
  for (std::size_t r = 0; r < p.rows; ++r) {
    for (std::size_t c = 0; c < dp; ++c) acc[c] = 0.0f;
    double denominator = 1.0;
    bool nan = false;
    double max = -HUGE_VAL;
    if (p.score == ScoreFunction::kSoftmax) {
      double sink = -HUGE_VAL;
      if (p.sinks != nullptr) {
        const float s = p.sinks[r % p.heads];
        nan |= std::isnan(s);
        if (s != -kInf) sink = static_cast<double>(s) * p.inv_temperature;
      }
      max = sink;
      for (std::size_t c = 0; c < p.splits; ++c) {
        const float l = p.lse_parts[c * p.rows + r];
        nan |= std::isnan(l);
        if (l > max) max = l;
      }
      denominator = max == -HUGE_VAL || std::isnan(max) ? 0.0 : std::exp(sink - max);
    }
    for (std::size_t c = 0; c < p.splits; ++c) {
      double w = 1.0;
      if (p.score == ScoreFunction::kSoftmax) {
        const float l = p.lse_parts[c * p.rows + r];
        if (l == -kInf || max == -HUGE_VAL) continue;  // an empty partial
        w = std::exp(static_cast<double>(l) - max);
        denominator += w;
      }
      const float* src = p.o_parts + (c * p.rows + r) * d;
      std::memcpy(part, src, d * sizeof(float));
      for (std::size_t x = d; x < dp; ++x) part[x] = 0.0f;
      const VF vw = hn::Set(df, static_cast<float>(w));
      for (std::size_t x = 0; x < dp; x += N) {
        hn::Store(hn::MulAdd(vw, hn::Load(df, part + x), hn::Load(df, acc + x)), df, acc + x);
      }
    }
    float* dst = p.o + r * d;
    if (nan) {
      for (std::size_t x = 0; x < d; ++x) dst[x] = kNaN;
      if (p.lse != nullptr) p.lse[r] = kNaN;
      continue;
    }
    const float mul = p.score == ScoreFunction::kSoftmax
                          ? (denominator > 0.0 ? static_cast<float>(1.0 / denominator) : 0.0f)
                          : 1.0f;
    for (std::size_t x = 0; x < d; ++x) dst[x] = acc[x] * mul;
    if (p.lse != nullptr) {
      p.lse[r] = denominator > 0.0 ? static_cast<float>(max + std::log(denominator)) : -kInf;
    }
  }
}

inline constexpr AttentionKernels kAttentionKernels = {&Attention, &AttentionMerge, &LinearAttention};

}  // namespace HWY_NAMESPACE
}  // namespace detail
}  // namespace softkern
HWY_AFTER_NAMESPACE();

#endif  // toggle guard
