// softkern/detail/attention_block-inl.hpp — the loops over one key block
// that every score function shares, per target: the tile's scores against
// the block's K rows (ScoreDots, ScoreBlock: dot products, then -inf for
// invisible keys and the mask added), the block maximum of a row of scores,
// and the weighted sum of the block's V rows into the accumulators
// (AccumulateV). A row's scores and output have the same bits whatever tile
// it is in, so decode equals prefill bitwise.

#if defined(SOFTKERN_DETAIL_ATTENTION_BLOCK_INL_HPP_) == defined(HWY_TARGET_TOGGLE)
#ifdef SOFTKERN_DETAIL_ATTENTION_BLOCK_INL_HPP_
#undef SOFTKERN_DETAIL_ATTENTION_BLOCK_INL_HPP_
#else
#define SOFTKERN_DETAIL_ATTENTION_BLOCK_INL_HPP_
#endif

#include <cmath>
#include <cstddef>
#include <cstdint>

#include <hwy/highway.h>

#include "softkern/detail/attention_params.hpp"
#include "softkern/detail/attention_rows-inl.hpp"
#include "softkern/detail/attention_tile-inl.hpp"

HWY_BEFORE_NAMESPACE();
namespace softkern {
namespace detail {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Folds a vector whose lane l holds a partial sum of output l % 4 into the
// four outputs: halves added until four lanes remain (fixed-size vectors), or
// through memory (scalable ones, whose length need not be a power of two).
#if HWY_TARGET != HWY_SCALAR
template <class D>
HWY_INLINE void StoreSumsOf4(D d, hn::Vec<D> v, float* out) {
#if HWY_HAVE_SCALABLE
  HWY_ALIGN float lanes[kMaxLanesF];
  hn::Store(v, d, lanes);
  float sum[4] = {lanes[0], lanes[1], lanes[2], lanes[3]};
  for (std::size_t l = 4; l < hn::Lanes(d); ++l) sum[l % 4] += lanes[l];
  for (std::size_t k = 0; k < 4; ++k) out[k] = sum[k];
#else
  if constexpr (hn::MaxLanes(d) <= 4) {
    hn::StoreU(v, d, out);
  } else {
    const hn::Half<D> dh;
    StoreSumsOf4(dh, hn::Add(hn::LowerHalf(dh, v), hn::UpperHalf(dh, v)), out);
  }
#endif
}
#endif  // HWY_TARGET != HWY_SCALAR

// out[k] = the sum of the lanes of a_k, k = 0..3, with fewer shuffles than
// four SumOfLanes: two interleave steps leave partial sums of a_(l % 4) in
// lane l, then StoreSumsOf4 folds them. Each out[k] is a fixed tree over a_k's
// own lanes, the same whichever vectors come with it: a score has the same
// bits computed four keys at a time, four rows at a time, or alone
// (SumsOf4(a, a, a, a)).
HWY_INLINE void SumsOf4(DF df, VF a0, VF a1, VF a2, VF a3, float* out) {
#if HWY_TARGET == HWY_SCALAR
  (void)df;
  out[0] = hn::GetLane(a0);
  out[1] = hn::GetLane(a1);
  out[2] = hn::GetLane(a2);
  out[3] = hn::GetLane(a3);
#else
  const hn::Repartition<std::uint64_t, DF> d64;  // pairs of lanes
  const VF s01 = hn::Add(hn::InterleaveLower(df, a0, a1), hn::InterleaveUpper(df, a0, a1));
  const VF s23 = hn::Add(hn::InterleaveLower(df, a2, a3), hn::InterleaveUpper(df, a2, a3));
  const auto w01 = hn::BitCast(d64, s01), w23 = hn::BitCast(d64, s23);
  const VF s = hn::Add(hn::BitCast(df, hn::InterleaveLower(d64, w01, w23)),
                       hn::BitCast(df, hn::InterleaveUpper(d64, w01, w23)));
  StoreSumsOf4(df, s, out);
#endif
}

// s[r][j] = q'_r . k_j for the tile's rows and keys [jb, je) of the block,
// K rows of type T (float, or 16-bit widened as loaded: the same floats, so
// the same bits either way).
template <typename T>
HWY_INLINE void ScoreDots(DF df, const Tile& tile, Scratch& sc, std::size_t jb, std::size_t je,
                          std::size_t dp) {
  const std::size_t N = hn::Lanes(df);
  // Four rows at a time, so each K vector is loaded once per four rows.
  // On the scalar target the compiler, not Highway, decides where a multiply
  // and an add fuse (aarch64 contracts a * b + c by default), and it may
  // decide differently in differently shaped loops: there every (row, key)
  // goes through the one-row, one-key loop, so a row's scores never depend
  // on the tile it is in. Vector targets use explicit fused multiply-adds.
#if HWY_TARGET == HWY_SCALAR
  constexpr bool kGrouped = false;
#else
  constexpr bool kGrouped = true;
#endif
  std::size_t r0 = 0;
  for (; kGrouped && r0 + 4 <= tile.rows; r0 += 4) {
    const std::size_t r1 = r0 + 1, r2 = r0 + 2, r3 = r0 + 3;
    const float* q0 = sc.q[r0];
    const float* q1 = sc.q[r1];
    const float* q2 = sc.q[r2];
    const float* q3 = sc.q[r3];
    for (std::size_t j = jb; j < je; ++j) {
      if (r0 == 0) PrefetchNext(&sc.knext, j);
      const T* k = static_cast<const T*>(sc.krow[j]);
      VF a0 = hn::Zero(df), a1 = hn::Zero(df), a2 = hn::Zero(df), a3 = hn::Zero(df);
      for (std::size_t c = 0; c < dp; c += N) {
        const VF kv = LoadAsFloat(df, k + c);
        a0 = hn::MulAdd(hn::Load(df, q0 + c), kv, a0);
        a1 = hn::MulAdd(hn::Load(df, q1 + c), kv, a1);
        a2 = hn::MulAdd(hn::Load(df, q2 + c), kv, a2);
        a3 = hn::MulAdd(hn::Load(df, q3 + c), kv, a3);
      }
      float sums[4];
      SumsOf4(df, a0, a1, a2, a3, sums);
      sc.s[r0][j] = sums[0];
      sc.s[r1][j] = sums[1];
      sc.s[r2][j] = sums[2];
      sc.s[r3][j] = sums[3];
    }
  }
  // The remaining rows (decode: usually all of them) one at a time, with the
  // same arithmetic per row as above (one accumulator, lanes summed by SumsOf4),
  // so that a row's scores do not depend on the rows it shares a tile with.
  // Four keys at a time: four independent accumulator chains hide the
  // multiply-add latency, and each q vector is loaded once per four keys.
  for (; r0 < tile.rows; ++r0) {
    const float* q0 = sc.q[r0];
    std::size_t j = jb;
    for (; kGrouped && j + 4 <= je; j += 4) {
      const T* k0 = static_cast<const T*>(sc.krow[j]);
      const T* k1 = static_cast<const T*>(sc.krow[j + 1]);
      const T* k2 = static_cast<const T*>(sc.krow[j + 2]);
      const T* k3 = static_cast<const T*>(sc.krow[j + 3]);
      if (r0 == 0) {
        for (std::size_t i = 0; i < 4; ++i) PrefetchNext(&sc.knext, j + i);
      }
      VF a0 = hn::Zero(df), a1 = hn::Zero(df), a2 = hn::Zero(df), a3 = hn::Zero(df);
      for (std::size_t c = 0; c < dp; c += N) {
        const VF qv = hn::Load(df, q0 + c);
        a0 = hn::MulAdd(qv, LoadAsFloat(df, k0 + c), a0);
        a1 = hn::MulAdd(qv, LoadAsFloat(df, k1 + c), a1);
        a2 = hn::MulAdd(qv, LoadAsFloat(df, k2 + c), a2);
        a3 = hn::MulAdd(qv, LoadAsFloat(df, k3 + c), a3);
      }
      SumsOf4(df, a0, a1, a2, a3, sc.s[r0] + j);
    }
    for (; j < je; ++j) {
      if (r0 == 0) PrefetchNext(&sc.knext, j);
      const T* k = static_cast<const T*>(sc.krow[j]);
      VF a0 = hn::Zero(df);
      for (std::size_t c = 0; c < dp; c += N) a0 = hn::MulAdd(hn::Load(df, q0 + c), LoadAsFloat(df, k + c), a0);
      float sums[4];
      SumsOf4(df, a0, a0, a0, a0, sums);
      sc.s[r0][j] = sums[0];
    }
  }
}

// Scores of the tile's rows against keys j0 .. j0 + count: s[r][j] =
// q'_r . k_j (times 1/|k_j| for softplus) + mask * mask_scale, -inf for
// invisible keys and in the padding up to a whole vector.
HWY_INLINE void ScoreBlock(DF df, const AttentionParams& p, const Tile& tile, Scratch& sc,
                           std::size_t j0, std::size_t count, std::size_t dp, bool k_normalised) {
  const std::size_t N = hn::Lanes(df);
  const std::size_t padded = RoundUpTo(count, N);
  // The rows of a tile see overlapping key ranges: the dot products are
  // formed over the union and the rest masked below.
  std::size_t jb = count, je = 0;
  for (std::size_t r = 0; r < tile.rows; ++r) {
    const std::size_t b = tile.row[r].begin > j0 ? tile.row[r].begin - j0 : 0;
    const std::size_t e = tile.row[r].end > j0 ? HWY_MIN(count, tile.row[r].end - j0) : 0;
    if (b < e) {
      jb = HWY_MIN(jb, b);
      je = HWY_MAX(je, e);
    }
  }
  WithRowType(sc.ktype, [&](auto t) HWY_ATTR { ScoreDots<decltype(t)>(df, tile, sc, jb, je, dp); });
  for (std::size_t r = 0; r < tile.rows; ++r) {
    const TileRow& row = tile.row[r];
    float* s = sc.s[r];
    const std::size_t b = row.begin > j0 ? HWY_MIN(count, row.begin - j0) : 0;
    const std::size_t e = row.end > j0 ? HWY_MIN(count, row.end - j0) : 0;
    for (std::size_t j = 0; j < b; ++j) s[j] = -kInf;
    for (std::size_t j = HWY_MAX(b, e); j < padded; ++j) s[j] = -kInf;
    if (k_normalised) {
      for (std::size_t j = b; j < e; ++j) s[j] *= sc.k_inv_norm[j];
    }
    if (const float* mask = MaskRow(p, row)) {
      for (std::size_t j = b; j < e; ++j) {
        const float mv = mask[j0 + j];
        s[j] = mv == -kInf ? -kInf : s[j] + mv * p.mask_scale;
      }
    }
  }
}

// One key block for the softmax and sigmoid tiles: K's rows, the scores,
// then V's rows.
HWY_INLINE void ScoreBlockAndLoadV(DF df, const AttentionParams& p, const Tile& tile, Scratch& sc,
                                   std::size_t j0, std::size_t count, std::size_t dp) {
  const bool widen = WidensKvInPlace(tile);
  sc.ktype = LoadRows(df, p, p.k, tile.kv_head, j0, count, dp, sc.kbuf, sc.krow, &sc.knext, widen);
  ScoreBlock(df, p, tile, sc, j0, count, dp, false);
  sc.vtype = LoadRows(df, p, p.v, tile.kv_head, j0, count, dp, sc.vbuf, sc.vrow, &sc.vnext, widen);
}

// o_r = o_r * alpha + sum_j p_j v_j over keys [b, e) of the block, skipping
// zero weights (invisible keys: their V is never read into the result), V
// rows of type T (see ScoreDots). Prefetches `next`'s rows [b, e) on the
// way, if given.
template <typename T>
HWY_INLINE void AccumulateVT(DF df, float* o, float alpha, const float* pw, const void* const* vrow,
                             std::size_t b, std::size_t e, std::size_t dp, const NextRows* next) {
  const std::size_t N = hn::Lanes(df);
  const VF va = hn::Set(df, alpha);
  std::size_t c = 0;
  for (; c + 4 * N <= dp; c += 4 * N) {
    VF a0 = hn::Load(df, o + c), a1 = hn::Load(df, o + c + N), a2 = hn::Load(df, o + c + 2 * N),
       a3 = hn::Load(df, o + c + 3 * N);
    if (alpha != 1.0f) {
      a0 = hn::Mul(a0, va);
      a1 = hn::Mul(a1, va);
      a2 = hn::Mul(a2, va);
      a3 = hn::Mul(a3, va);
    }
    for (std::size_t j = b; j < e; ++j) {
      if (c == 0) PrefetchNext(next, j);
      if (pw[j] == 0.0f) continue;
      const VF w = hn::Set(df, pw[j]);
      const T* v = static_cast<const T*>(vrow[j]) + c;
      a0 = hn::MulAdd(w, LoadAsFloat(df, v), a0);
      a1 = hn::MulAdd(w, LoadAsFloat(df, v + N), a1);
      a2 = hn::MulAdd(w, LoadAsFloat(df, v + 2 * N), a2);
      a3 = hn::MulAdd(w, LoadAsFloat(df, v + 3 * N), a3);
    }
    hn::Store(a0, df, o + c);
    hn::Store(a1, df, o + c + N);
    hn::Store(a2, df, o + c + 2 * N);
    hn::Store(a3, df, o + c + 3 * N);
  }
  for (; c < dp; c += N) {
    VF a0 = hn::Load(df, o + c);
    if (alpha != 1.0f) a0 = hn::Mul(a0, va);
    for (std::size_t j = b; j < e; ++j) {
      if (c == 0) PrefetchNext(next, j);  // when dp < 4 vectors
      if (pw[j] == 0.0f) continue;
      a0 = hn::MulAdd(hn::Set(df, pw[j]), LoadAsFloat(df, static_cast<const T*>(vrow[j]) + c), a0);
    }
    hn::Store(a0, df, o + c);
  }
}

HWY_INLINE void AccumulateV(DF df, float* o, float alpha, const float* pw, const void* const* vrow,
                            KvType vtype, std::size_t b, std::size_t e, std::size_t dp,
                            const NextRows* next = nullptr) {
  WithRowType(vtype, [&](auto t) HWY_ATTR { AccumulateVT<decltype(t)>(df, o, alpha, pw, vrow, b, e, dp, next); });
}

HWY_INLINE float RowMaxOf(DF df, const float* s, std::size_t padded) {
  const std::size_t N = hn::Lanes(df);
  // A compare rather than Max: Highway's Max may drop a NaN (the scalar
  // target returns the other operand), and a NaN score must reach the row.
  VF m = hn::Set(df, -kInf);
  for (std::size_t j = 0; j < padded; j += N) {
    const VF x = hn::Load(df, s + j);
    m = hn::IfThenElse(hn::Or(hn::Gt(x, m), hn::IsNaN(x)), x, m);
  }
  HWY_ALIGN float lanes[kMaxLanesF];
  hn::Store(m, df, lanes);
  float max = -kInf;
  for (std::size_t i = 0; i < N; ++i) {
    if (std::isnan(lanes[i])) return lanes[i];
    if (lanes[i] > max) max = lanes[i];
  }
  return max;
}

}  // namespace HWY_NAMESPACE
}  // namespace detail
}  // namespace softkern
HWY_AFTER_NAMESPACE();

#endif  // toggle guard
