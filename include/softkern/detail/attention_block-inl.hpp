// softkern/detail/attention_block-inl.hpp — the loops over one key block
// that every score function shares, per target: the tile's scores against
// the block's K rows (ScoreDots, ScoreBlock: dot products, then -inf for
// invisible keys and the mask added), the block maximum of a row of scores,
// and the weighted sum of the block's V rows into the accumulators
// (AccumulateVTile for a tile's rows, AccumulateVRow for one row). A row's
// scores and output have the same bits whatever tile it is in, so decode
// equals prefill bitwise.

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
#include "softkern/detail/attention_score_bias-inl.hpp"
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

// Register blocking of the micro-kernels, chosen from the register file so
// that the accumulators, the K or V vectors loaded once per step and a
// broadcast weight live in registers without spilling, with at least 8
// independent accumulator chains (FMA latency 4 x 2 FMA pipes):
//  - AVX2 (16 vector registers): q.k 2 rows x 4 keys (8 accumulators, 4 K
//    vectors, q as a memory operand); p.v 4 rows x 2 column vectors (8
//    accumulators, 2 V vectors, 1 broadcast).
//  - AVX-512, NEON, SVE (32): q.k 4 rows x 4 keys (16 + 4); p.v 4 rows x 4
//    column vectors (16 + 4 + 1).
// On the scalar target the compiler, not Highway, decides where a multiply
// and an add fuse (aarch64 contracts a * b + c by default), and it may
// decide differently in differently shaped loops: there every (row, key)
// goes through the one-row loops, so a row's result never depends on the
// tile it is in. Vector targets use explicit fused multiply-adds, and every
// blocked loop gives each (row, key) or (row, column) its own accumulator
// chain in the same order as the one-row loop: the same bits.
#if HWY_TARGET == HWY_SCALAR
constexpr bool kGrouped = false;
#else
constexpr bool kGrouped = true;
#endif
#if HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_SSE4 || HWY_TARGET == HWY_SSSE3
constexpr std::size_t kScoreRows = 2;
constexpr std::size_t kVCols = 2;
#else
constexpr std::size_t kScoreRows = 4;
constexpr std::size_t kVCols = 4;
#endif
constexpr std::size_t kVRows = 4;

// q . k over dp floats for one (row, key): one accumulator, lanes summed by
// SumsOf4 (the tree every score goes through).
template <typename T>
HWY_INLINE float ScoreOne(DF df, const float* q, const T* k, std::size_t dp) {
  const std::size_t N = hn::Lanes(df);
  VF a = hn::Zero(df);
  for (std::size_t c = 0; c < dp; c += N) a = hn::MulAdd(hn::Load(df, q + c), LoadAsFloat(df, k + c), a);
  float sums[4];
  SumsOf4(df, a, a, a, a, sums);
  return sums[0];
}

// s[r][0..3] = q_r . k_0..3 for kScoreRows rows: the micro-kernel of the
// score tile. Each K vector is loaded once for kScoreRows rows, each q vector
// once for 4 keys.
template <typename T>
HWY_INLINE void ScoreRowsBy4Keys(DF df, const float* const* q, const T* const* k, std::size_t dp, float* const* s) {
  const std::size_t N = hn::Lanes(df);
  const T* k0 = k[0];
  const T* k1 = k[1];
  const T* k2 = k[2];
  const T* k3 = k[3];
  VF a00 = hn::Zero(df), a01 = hn::Zero(df), a02 = hn::Zero(df), a03 = hn::Zero(df);
  VF a10 = hn::Zero(df), a11 = hn::Zero(df), a12 = hn::Zero(df), a13 = hn::Zero(df);
  VF a20 = hn::Zero(df), a21 = hn::Zero(df), a22 = hn::Zero(df), a23 = hn::Zero(df);
  VF a30 = hn::Zero(df), a31 = hn::Zero(df), a32 = hn::Zero(df), a33 = hn::Zero(df);
  // Unrolled: the loop's add, compare and branch per 8 (AVX2) or 16 FMAs
  // would take issue slots the FMAs need.
  HWY_UNROLL(4)
  for (std::size_t c = 0; c < dp; c += N) {
    const VF kv0 = LoadAsFloat(df, k0 + c), kv1 = LoadAsFloat(df, k1 + c);
    const VF kv2 = LoadAsFloat(df, k2 + c), kv3 = LoadAsFloat(df, k3 + c);
    VF qv = hn::Load(df, q[0] + c);
    a00 = hn::MulAdd(qv, kv0, a00);
    a01 = hn::MulAdd(qv, kv1, a01);
    a02 = hn::MulAdd(qv, kv2, a02);
    a03 = hn::MulAdd(qv, kv3, a03);
    qv = hn::Load(df, q[1] + c);
    a10 = hn::MulAdd(qv, kv0, a10);
    a11 = hn::MulAdd(qv, kv1, a11);
    a12 = hn::MulAdd(qv, kv2, a12);
    a13 = hn::MulAdd(qv, kv3, a13);
    if constexpr (kScoreRows > 2) {
      qv = hn::Load(df, q[2] + c);
      a20 = hn::MulAdd(qv, kv0, a20);
      a21 = hn::MulAdd(qv, kv1, a21);
      a22 = hn::MulAdd(qv, kv2, a22);
      a23 = hn::MulAdd(qv, kv3, a23);
      qv = hn::Load(df, q[3] + c);
      a30 = hn::MulAdd(qv, kv0, a30);
      a31 = hn::MulAdd(qv, kv1, a31);
      a32 = hn::MulAdd(qv, kv2, a32);
      a33 = hn::MulAdd(qv, kv3, a33);
    }
  }
  SumsOf4(df, a00, a01, a02, a03, s[0]);
  SumsOf4(df, a10, a11, a12, a13, s[1]);
  if constexpr (kScoreRows > 2) {
    SumsOf4(df, a20, a21, a22, a23, s[2]);
    SumsOf4(df, a30, a31, a32, a33, s[3]);
  }
}

// s[r][j] = q'_r . k_j for the tile's rows and keys [jb, je) of the block,
// K rows of type T (float, or 16-bit widened as loaded: the same floats, so
// the same bits either way).
template <typename T>
HWY_INLINE void ScoreDots(DF df, const Tile& tile, Scratch& sc, std::size_t jb, std::size_t je,
                          std::size_t dp) {
  const std::size_t N = hn::Lanes(df);
  const RowsAhead* ahead = AheadOf(sc.k);
  std::size_t r0 = 0;
  // kScoreRows rows by 4 keys at a time (prefill), the block's last keys
  // one (row, key) at a time.
  for (; kGrouped && r0 + kScoreRows <= tile.rows; r0 += kScoreRows) {
    const float* q[4];
    for (std::size_t r = 0; r < 4; ++r) q[r] = sc.q[r0 + (r < kScoreRows ? r : 0)];
    std::size_t j = jb;
    for (; j + 4 <= je; j += 4) {
      if (r0 == 0) {
        for (std::size_t i = 0; i < 4; ++i) PrefetchAhead(ahead, j + i);
      }
      const T* k[4];
      for (std::size_t i = 0; i < 4; ++i) k[i] = static_cast<const T*>(sc.k.row[j + i]);
      float* s[4];
      for (std::size_t r = 0; r < 4; ++r) s[r] = sc.s[r0 + (r < kScoreRows ? r : 0)] + j;
      ScoreRowsBy4Keys(df, q, k, dp, s);
    }
    for (; j < je; ++j) {
      if (r0 == 0) PrefetchAhead(ahead, j);
      for (std::size_t r = 0; r < kScoreRows; ++r) {
        sc.s[r0 + r][j] = ScoreOne(df, q[r], static_cast<const T*>(sc.k.row[j]), dp);
      }
    }
  }
  // The remaining rows (decode: usually all of them) one at a time, four
  // keys at a time: four independent accumulator chains hide the
  // multiply-add latency, and each q vector is loaded once per four keys.
  for (; r0 < tile.rows; ++r0) {
    const float* q0 = sc.q[r0];
    std::size_t j = jb;
    for (; kGrouped && j + 4 <= je; j += 4) {
      const T* k0 = static_cast<const T*>(sc.k.row[j]);
      const T* k1 = static_cast<const T*>(sc.k.row[j + 1]);
      const T* k2 = static_cast<const T*>(sc.k.row[j + 2]);
      const T* k3 = static_cast<const T*>(sc.k.row[j + 3]);
      if (r0 == 0) {
        for (std::size_t i = 0; i < 4; ++i) PrefetchAhead(ahead, j + i);
      }
      VF a0 = hn::Zero(df), a1 = hn::Zero(df), a2 = hn::Zero(df), a3 = hn::Zero(df);
      HWY_UNROLL(4)  // as ScoreRowsBy4Keys' loop
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
      if (r0 == 0) PrefetchAhead(ahead, j);
      sc.s[r0][j] = ScoreOne(df, q0, static_cast<const T*>(sc.k.row[j]), dp);
    }
  }
}

// Scores of the tile's rows against keys j0 .. j0 + count: s[r][j] =
// q'_r . k_j (times 1/|k_j| for softplus, else times int8's scale of key j),
// soft-capped, + (ALiBi bias + mask) * mask_scale; -inf for invisible keys
// and in the padding up to a whole vector.
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
  WithRowType(sc.k.type, [&](auto t) HWY_ATTR { ScoreDots<decltype(t)>(df, tile, sc, jb, je, dp); });
  for (std::size_t r = 0; r < tile.rows; ++r) {
    const TileRow& row = tile.row[r];
    float* s = sc.s[r];
    const std::size_t b = row.begin > j0 ? HWY_MIN(count, row.begin - j0) : 0;
    const std::size_t e = row.end > j0 ? HWY_MIN(count, row.end - j0) : 0;
    if (b < e) {
      if (k_normalised) {
        for (std::size_t j = b; j < e; ++j) s[j] *= sc.k_inv_norm[j];
      } else if (sc.k.scaled) {
        for (std::size_t j = b; j < e; ++j) s[j] *= sc.k.scale[j];
      }
      // Over whole vectors; the lanes outside [b, e) become -inf below.
      if (p.softcap_out != 0.0f) SoftCapRow(df, p, s, padded);
      if (p.alibi_slopes != nullptr) AddAlibiRow(df, p, row, j0, s, padded);
    }
    for (std::size_t j = 0; j < b; ++j) s[j] = -kInf;
    for (std::size_t j = HWY_MAX(b, e); j < padded; ++j) s[j] = -kInf;
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
  LoadRows(df, p, false, tile.kv_head, j0, count, dp, sc.kbuf, &sc.k, true, widen);
  ScoreBlock(df, p, tile, sc, j0, count, dp, false);
  LoadRows(df, p, true, tile.kv_head, j0, count, dp, sc.vbuf, &sc.v, true, widen);
}

// a_c += w v_c for the C column vectors of one row's panel (C = 1, 2 or 4).
template <std::size_t C>
HWY_INLINE void MulAddPanel(DF df, float w, VF v0, VF v1, VF v2, VF v3, VF& a0, VF& a1, VF& a2, VF& a3) {
  const VF vw = hn::Set(df, w);
  a0 = hn::MulAdd(vw, v0, a0);
  if constexpr (C > 1) a1 = hn::MulAdd(vw, v1, a1);
  if constexpr (C > 2) {
    a2 = hn::MulAdd(vw, v2, a2);
    a3 = hn::MulAdd(vw, v3, a3);
  }
}

// a_c *= alpha for the C column vectors of one row's panel.
template <std::size_t C>
HWY_INLINE void ScalePanel(DF df, float alpha, VF& a0, VF& a1, VF& a2, VF& a3) {
  const VF va = hn::Set(df, alpha);
  a0 = hn::Mul(a0, va);
  if constexpr (C > 1) a1 = hn::Mul(a1, va);
  if constexpr (C > 2) {
    a2 = hn::Mul(a2, va);
    a3 = hn::Mul(a3, va);
  }
}

// Columns [c, c + C N) of one row, C = 8, 4 or 1: o = o * alpha + sum_j
// p_j v_j over keys [b, e), skipping zero weights (invisible keys: their V
// is never read into the result). Eight column vectors per pass (d = 128:
// two passes over the block's V rows on AVX2, one on AVX-512) keep eight
// independent chains in flight for one broadcast weight.
template <std::size_t C, typename T>
HWY_INLINE void AccumulateVRowColumns(DF df, float* o, float alpha, const float* pw, const void* const* vrow,
                                      std::size_t b, std::size_t e, std::size_t c, const RowsAhead* ahead) {
  const std::size_t N = hn::Lanes(df);
  const std::size_t step = C > 1 ? N : 0;
  VF a0 = hn::Load(df, o + c), a1 = hn::Load(df, o + c + step), a2 = hn::Load(df, o + c + 2 * step),
     a3 = hn::Load(df, o + c + 3 * step);
  const std::size_t step8 = C > 4 ? N : 0;
  VF a4 = hn::Load(df, o + c + 4 * step8), a5 = hn::Load(df, o + c + 5 * step8), a6 = hn::Load(df, o + c + 6 * step8),
     a7 = hn::Load(df, o + c + 7 * step8);
  if (alpha != 1.0f) {
    ScalePanel<C < 4 ? C : 4>(df, alpha, a0, a1, a2, a3);
    if constexpr (C > 4) ScalePanel<4>(df, alpha, a4, a5, a6, a7);
  }
  for (std::size_t j = b; j < e; ++j) {
    PrefetchAhead(ahead, j);
    if (pw[j] == 0.0f) continue;
    const T* v = static_cast<const T*>(vrow[j]) + c;
    MulAddPanel<C < 4 ? C : 4>(df, pw[j], LoadAsFloat(df, v), LoadAsFloat(df, v + step),
                               LoadAsFloat(df, v + 2 * step), LoadAsFloat(df, v + 3 * step), a0, a1, a2, a3);
    if constexpr (C > 4) {
      MulAddPanel<4>(df, pw[j], LoadAsFloat(df, v + 4 * N), LoadAsFloat(df, v + 5 * N), LoadAsFloat(df, v + 6 * N),
                     LoadAsFloat(df, v + 7 * N), a4, a5, a6, a7);
    }
  }
  hn::Store(a0, df, o + c);
  if constexpr (C > 1) {
    hn::Store(a1, df, o + c + N);
    hn::Store(a2, df, o + c + 2 * N);
    hn::Store(a3, df, o + c + 3 * N);
  }
  if constexpr (C > 4) {
    hn::Store(a4, df, o + c + 4 * N);
    hn::Store(a5, df, o + c + 5 * N);
    hn::Store(a6, df, o + c + 6 * N);
    hn::Store(a7, df, o + c + 7 * N);
  }
}

// o = o * alpha + sum_j p_j v_j over keys [b, e) of the block for one row,
// V rows of type T (see ScoreDots). Prefetches `ahead`'s rows [b, e) on the
// way, if given.
template <typename T>
HWY_INLINE void AccumulateVRowOf(DF df, float* o, float alpha, const float* pw, const void* const* vrow,
                                 std::size_t b, std::size_t e, std::size_t dp, const RowsAhead* ahead) {
  const std::size_t N = hn::Lanes(df);
  std::size_t c = 0;
  for (; c + 8 * N <= dp; c += 8 * N) AccumulateVRowColumns<8, T>(df, o, alpha, pw, vrow, b, e, c, c == 0 ? ahead : nullptr);
  for (; c + 4 * N <= dp; c += 4 * N) AccumulateVRowColumns<4, T>(df, o, alpha, pw, vrow, b, e, c, c == 0 ? ahead : nullptr);
  for (; c < dp; c += N) AccumulateVRowColumns<1, T>(df, o, alpha, pw, vrow, b, e, c, c == 0 ? ahead : nullptr);
}

// AccumulateVRowOf for V rows of `vtype`.
HWY_INLINE void AccumulateVRow(DF df, float* o, float alpha, const float* pw, const void* const* vrow,
                               ElementType vtype, std::size_t b, std::size_t e, std::size_t dp,
                               const RowsAhead* ahead = nullptr) {
  WithRowType(vtype, [&](auto t) HWY_ATTR { AccumulateVRowOf<decltype(t)>(df, o, alpha, pw, vrow, b, e, dp, ahead); });
}

// The p.v micro-kernel: columns [c, c + C N) of kVRows rows, o_r = o_r *
// alpha_r + sum_j p_rj v_j over keys [b, e). Each V vector is loaded once for
// the kVRows rows; a zero weight skips that row's multiply-add (as
// AccumulateVRowOf does, so an invisible key's V never reaches the row, and the
// row gets AccumulateVRowOf's bits). kNoZeroWeights: the caller found no zero
// weight, and the loop runs without the per-row tests.
template <std::size_t C, bool kNoZeroWeights, typename T>
HWY_INLINE void AccumulateVRowsPanel(DF df, float* const* o, const float* alpha, const float* const* pw,
                                     const void* const* vrow, std::size_t b, std::size_t e, std::size_t c,
                                     const RowsAhead* ahead) {
  const std::size_t N = hn::Lanes(df);
  const std::size_t c1 = C > 1 ? c + N : c, c2 = C > 2 ? c + 2 * N : c, c3 = C > 2 ? c + 3 * N : c;
  VF o00 = hn::Load(df, o[0] + c), o01 = hn::Load(df, o[0] + c1), o02 = hn::Load(df, o[0] + c2), o03 = hn::Load(df, o[0] + c3);
  VF o10 = hn::Load(df, o[1] + c), o11 = hn::Load(df, o[1] + c1), o12 = hn::Load(df, o[1] + c2), o13 = hn::Load(df, o[1] + c3);
  VF o20 = hn::Load(df, o[2] + c), o21 = hn::Load(df, o[2] + c1), o22 = hn::Load(df, o[2] + c2), o23 = hn::Load(df, o[2] + c3);
  VF o30 = hn::Load(df, o[3] + c), o31 = hn::Load(df, o[3] + c1), o32 = hn::Load(df, o[3] + c2), o33 = hn::Load(df, o[3] + c3);
  // The online-softmax rescale, once per row and block.
  if (alpha[0] != 1.0f) ScalePanel<C>(df, alpha[0], o00, o01, o02, o03);
  if (alpha[1] != 1.0f) ScalePanel<C>(df, alpha[1], o10, o11, o12, o13);
  if (alpha[2] != 1.0f) ScalePanel<C>(df, alpha[2], o20, o21, o22, o23);
  if (alpha[3] != 1.0f) ScalePanel<C>(df, alpha[3], o30, o31, o32, o33);
  HWY_UNROLL(2)  // as ScoreRowsBy4Keys' loop
  for (std::size_t j = b; j < e; ++j) {
    PrefetchAhead(ahead, j);
    const T* v = static_cast<const T*>(vrow[j]);
    const VF v0 = LoadAsFloat(df, v + c), v1 = LoadAsFloat(df, v + c1);
    const VF v2 = LoadAsFloat(df, v + c2), v3 = LoadAsFloat(df, v + c3);
    if (kNoZeroWeights || pw[0][j] != 0.0f) MulAddPanel<C>(df, pw[0][j], v0, v1, v2, v3, o00, o01, o02, o03);
    if (kNoZeroWeights || pw[1][j] != 0.0f) MulAddPanel<C>(df, pw[1][j], v0, v1, v2, v3, o10, o11, o12, o13);
    if (kNoZeroWeights || pw[2][j] != 0.0f) MulAddPanel<C>(df, pw[2][j], v0, v1, v2, v3, o20, o21, o22, o23);
    if (kNoZeroWeights || pw[3][j] != 0.0f) MulAddPanel<C>(df, pw[3][j], v0, v1, v2, v3, o30, o31, o32, o33);
  }
  hn::Store(o00, df, o[0] + c);
  hn::Store(o10, df, o[1] + c);
  hn::Store(o20, df, o[2] + c);
  hn::Store(o30, df, o[3] + c);
  if constexpr (C > 1) {
    hn::Store(o01, df, o[0] + c1);
    hn::Store(o11, df, o[1] + c1);
    hn::Store(o21, df, o[2] + c1);
    hn::Store(o31, df, o[3] + c1);
  }
  if constexpr (C > 2) {
    hn::Store(o02, df, o[0] + c2);
    hn::Store(o12, df, o[1] + c2);
    hn::Store(o22, df, o[2] + c2);
    hn::Store(o32, df, o[3] + c2);
    hn::Store(o03, df, o[0] + c3);
    hn::Store(o13, df, o[1] + c3);
    hn::Store(o23, df, o[2] + c3);
    hn::Store(o33, df, o[3] + c3);
  }
}

// True if none of the 4 rows' weights pw[r][0, count) is 0 (most blocks
// away from the causal diagonal and the window's edge).
HWY_INLINE bool NoZeroWeights(DF df, const float* const* pw, std::size_t count) {
  const std::size_t N = hn::Lanes(df);
  const VF zero = hn::Zero(df);
  std::size_t j = 0;
  for (; j + N <= count; j += N) {
    const auto any_zero = hn::Or(hn::Or(hn::Eq(hn::Load(df, pw[0] + j), zero), hn::Eq(hn::Load(df, pw[1] + j), zero)),
                                 hn::Or(hn::Eq(hn::Load(df, pw[2] + j), zero), hn::Eq(hn::Load(df, pw[3] + j), zero)));
    if (!hn::AllFalse(df, any_zero)) return false;
  }
  for (; j < count; ++j) {
    if (pw[0][j] == 0.0f || pw[1][j] == 0.0f || pw[2][j] == 0.0f || pw[3][j] == 0.0f) return false;
  }
  return true;
}

// o_r = o_r * alpha_r + sum_j p_rj v_j over the block's `count` keys for
// every row of the tile, weights in sc.s[r]: kVRows rows at a time through
// the panel micro-kernel, the rest one row at a time (AccumulateVRowOf). The
// first rows prefetch the V rows kPrefetchAhead keys ahead.
HWY_INLINE void AccumulateVTile(DF df, const Tile& tile, Scratch& sc, const float* alpha, std::size_t count,
                                std::size_t dp) {
  const std::size_t N = hn::Lanes(df);
  WithRowType(sc.v.type, [&](auto t) HWY_ATTR {
    using T = decltype(t);
    std::size_t r0 = 0;
    for (; kGrouped && r0 + kVRows <= tile.rows; r0 += kVRows) {
      float* o[4] = {sc.o[r0], sc.o[r0 + 1], sc.o[r0 + 2], sc.o[r0 + 3]};
      const float* pw[4] = {sc.s[r0], sc.s[r0 + 1], sc.s[r0 + 2], sc.s[r0 + 3]};
      const bool dense = NoZeroWeights(df, pw, count);
      std::size_t c = 0;
      for (; c + kVCols * N <= dp; c += kVCols * N) {
        const RowsAhead* ahead = r0 == 0 && c == 0 ? AheadOf(sc.v) : nullptr;
        if (dense) {
          AccumulateVRowsPanel<kVCols, true, T>(df, o, alpha + r0, pw, sc.v.row, 0, count, c, ahead);
        } else {
          AccumulateVRowsPanel<kVCols, false, T>(df, o, alpha + r0, pw, sc.v.row, 0, count, c, ahead);
        }
      }
      for (; c < dp; c += N) {
        const RowsAhead* ahead = r0 == 0 && c == 0 ? AheadOf(sc.v) : nullptr;
        if (dense) {
          AccumulateVRowsPanel<1, true, T>(df, o, alpha + r0, pw, sc.v.row, 0, count, c, ahead);
        } else {
          AccumulateVRowsPanel<1, false, T>(df, o, alpha + r0, pw, sc.v.row, 0, count, c, ahead);
        }
      }
    }
    for (; r0 < tile.rows; ++r0) {
      AccumulateVRowOf<T>(df, sc.o[r0], alpha[r0], sc.s[r0], sc.v.row, 0, count, dp, r0 == 0 ? AheadOf(sc.v) : nullptr);
    }
  });
}

// w[0, padded) *= V's per-key scales (int8: the weight of key j times its
// scale multiplies its codes), when the block has them.
HWY_INLINE void WeightsTimesVScales(DF df, const BlockRows& v, float* w, std::size_t padded) {
  if (!v.scaled) return;
  const std::size_t N = hn::Lanes(df);
  for (std::size_t j = 0; j < padded; j += N) hn::Store(hn::Mul(hn::Load(df, w + j), hn::Load(df, v.scale + j)), df, w + j);
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
  // A NaN lane is the result; without one, the lanes' maximum is exact
  // whatever the order, so the target's own reduction serves.
  if (HWY_UNLIKELY(!hn::AllFalse(df, hn::IsNaN(m)))) return kNaN;
  return hn::GetLane(hn::MaxOfLanes(df, m));
}

}  // namespace HWY_NAMESPACE
}  // namespace detail
}  // namespace softkern
HWY_AFTER_NAMESPACE();

#endif  // toggle guard
