// softkern/detail/attention_tile-inl.hpp — the tile, per target: up to
// kTileRows query rows (query i, head h) that read the same KV head, their
// stack scratch (scaled queries, output accumulators, one key block's rows
// and scores), which keys each row may see (causal, window, mask), and the
// rows written out. The loops over a key block are in attention_block-inl.hpp.

#if defined(SOFTKERN_DETAIL_ATTENTION_TILE_INL_HPP_) == defined(HWY_TARGET_TOGGLE)
#ifdef SOFTKERN_DETAIL_ATTENTION_TILE_INL_HPP_
#undef SOFTKERN_DETAIL_ATTENTION_TILE_INL_HPP_
#else
#define SOFTKERN_DETAIL_ATTENTION_TILE_INL_HPP_
#endif

#include <cstddef>
#include <cstdint>
#include <limits>

#include <hwy/highway.h>

#include "softkern/detail/attention_params.hpp"
#include "softkern/detail/attention_rows-inl.hpp"

HWY_BEFORE_NAMESPACE();
namespace softkern {
namespace detail {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Query rows per tile: each K/V block is read once per tile, and the tile's
// accumulators (kTileRows x d floats) stay in L1. 16 rows make half the
// passes over K and V that 8 do (docs/attention-performance.md, "Micro-kernels").
constexpr std::size_t kTileRows = 16;

struct TileRow {
  std::size_t query;   // i
  std::size_t head;    // h
  std::uint64_t position;
  std::size_t begin, end;  // keys [begin, end) pass the causal and window tests
  // Softmax: running max, sum; softplus: per-pass statistics.
  float m;
  double l;
  double a_sum;   // softplus: sum_j a_ij
  float t_scale;  // softplus: N_i / (sum_j a_ij + 1e-8)
  float t_max;    // softplus: max_j r_ij before the power
  bool nan_sink;
};

struct Scratch {
  HWY_ALIGN float q[kTileRows][kPaddedDim];
  HWY_ALIGN float o[kTileRows][kPaddedDim];
  HWY_ALIGN float kbuf[kBlockKeys * kPaddedDim];
  HWY_ALIGN float vbuf[kBlockKeys * kPaddedDim];
  HWY_ALIGN float s[kTileRows][kScoreStride];
  float k_inv_norm[kBlockKeys];
  BlockRows k, v;  // the block's K and V rows (LoadRows)
};

struct Tile {
  std::size_t rows = 0;
  std::size_t kv_head = 0;
  TileRow row[kTileRows];
};

// Decode-shaped tiles (up to four query rows: one query, or the heads of a
// GQA group of up to 4) read 16-bit K/V rows in place, widened as loaded: a
// converted copy, stored and loaded again, costs more than the widening it
// saves while each row serves at most one or two row groups of the
// micro-kernels (measured in docs/attention-performance.md, "Decode");
// prefill tiles reuse each row for up to 16 query rows and convert once.
HWY_INLINE bool WidensKvInPlace(const Tile& tile) { return tile.rows <= 4; }

// Keys [begin, end) a query at `position` may see by the causal and window
// tests alone.
HWY_INLINE void VisibleKeys(const AttentionParams& p, std::uint64_t position, std::size_t* begin,
                            std::size_t* end) {
  std::uint64_t lo = 0;  // first visible key position
  if (p.window != 0 && position >= p.window) lo = position - p.window + 1;
  std::uint64_t hi = p.causal ? position + 1 : std::numeric_limits<std::uint64_t>::max();  // past the last
  const std::uint64_t k0 = p.key_start, n = p.keys;
  *begin = static_cast<std::size_t>(lo > k0 ? HWY_MIN(n, lo - k0) : 0);
  *end = static_cast<std::size_t>(hi > k0 ? HWY_MIN(n, hi - k0) : 0);
  if (*end < *begin) *end = *begin;
}

HWY_INLINE const float* MaskRow(const AttentionParams& p, const TileRow& r) {
  return p.mask == nullptr ? nullptr : p.mask + r.query * p.mask_row_stride + r.head * p.mask_head_stride;
}

// Loads the tile's queries into scratch: q * factor, zero padded to dp.
HWY_INLINE void LoadQueries(DF df, const AttentionParams& p, const Tile& tile, Scratch& sc,
                            std::size_t dp, const float* factor) {
  (void)df;
  const std::size_t d = p.head_dim;
  for (std::size_t r = 0; r < tile.rows; ++r) {
    const float* q = p.q + tile.row[r].query * p.q_row_stride + tile.row[r].head * p.q_head_stride;
    for (std::size_t c = 0; c < d; ++c) sc.q[r][c] = q[c] * factor[r];
    for (std::size_t c = d; c < dp; ++c) sc.q[r][c] = 0.0f;
    for (std::size_t c = 0; c < dp; ++c) sc.o[r][c] = 0.0f;
  }
}

// The key blocks any row of the tile may see: [first, last).
HWY_INLINE void TileKeyRange(const Tile& tile, std::size_t* first, std::size_t* last) {
  std::size_t b = std::numeric_limits<std::size_t>::max(), e = 0;
  for (std::size_t r = 0; r < tile.rows; ++r) {
    if (tile.row[r].begin < tile.row[r].end) {
      b = HWY_MIN(b, tile.row[r].begin);
      e = HWY_MAX(e, tile.row[r].end);
    }
  }
  // Blocks start at multiples of kBlockKeys (key indices), whatever the
  // tile: a query row then folds the same blocks in the same order in
  // decode and in prefill, and gets the same bits.
  *first = b < e ? b - b % kBlockKeys : 0;
  *last = b < e ? e : 0;
}

HWY_INLINE void WriteRow(const AttentionParams& p, const TileRow& row, const float* o, float mul) {
  float* dst = p.o + row.query * p.o_row_stride + row.head * p.o_head_stride;
  for (std::size_t c = 0; c < p.head_dim; ++c) dst[c] = o[c] * mul;
}

HWY_INLINE void WriteNaNRow(const AttentionParams& p, const TileRow& row) {
  float* dst = p.o + row.query * p.o_row_stride + row.head * p.o_head_stride;
  for (std::size_t c = 0; c < p.head_dim; ++c) dst[c] = kNaN;
}

}  // namespace HWY_NAMESPACE
}  // namespace detail
}  // namespace softkern
HWY_AFTER_NAMESPACE();

#endif  // toggle guard
