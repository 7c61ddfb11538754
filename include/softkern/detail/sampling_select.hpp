// softkern/detail/sampling_select.hpp — the decisions of a sampling call, in
// plain C++ compiled once for every target: the candidates of the first pass
// and how they are thinned, the cut of top-k and top-p among them, the
// radix-select walk over histograms when they do not suffice, and the draw.
//
// The kept set is always {x' >= cut} (ties are never separated), so every
// filter is a search for one value:
//  - min-p's cut is a formula of the maximum (MinPCut);
//  - top-k's is the k-th largest x', found among the candidates (a superset
//    of everything >= it, collected by the first pass with a threshold that
//    only rises) or by radix select on the key bits;
//  - top-p's is the largest x' whose strictly-greater mass reaches p times
//    the kept mass, found from the candidates' weights in value order or
//    from weight histograms.
// Sums are in double, in an order fixed by the row (index order, value
// order, bucket order, chunk order), never by the thread count.
#ifndef SOFTKERN_DETAIL_SAMPLING_SELECT_HPP_
#define SOFTKERN_DETAIL_SAMPLING_SELECT_HPP_

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>

#include "softkern/detail/sampling_params.hpp"

namespace softkern {
namespace detail {

constexpr float kLowestFinite = -std::numeric_limits<float>::max();
// Lanes a vector store may write past a buffer's count (SVE's widest vectors).
constexpr std::size_t kMaxVectorFloats = 64;

// Entries (value, token id) of the row with x' >= threshold, in id order.
// The first pass appends whole vectors (the lanes past `count` are scratch);
// Thin raises the threshold and drops what falls below it.
struct CandidateBuffer {
  float values[kCandidateCapacity + kMaxVectorFloats];
  std::uint32_t ids[kCandidateCapacity + kMaxVectorFloats];
  std::size_t count = 0;
  float threshold = kLowestFinite;    // what enters: x' >= threshold (never -inf)
  float top_k_threshold = kLowestFinite;
  float min_p_threshold = kLowestFinite;
  bool overflow = false;              // more ties than fit: the candidates are unusable

  void Reset() {
    count = 0;
    threshold = top_k_threshold = min_p_threshold = kLowestFinite;
    overflow = false;
  }
};

// The count at which the first pass thins its buffer: 2k (so that the
// thinning's nth_element runs on few entries and the threshold rises early),
// at least k + 128, and always leaving room for one more block.
inline std::size_t ThinAt(const CandidateRule& rule) {
  const std::size_t full = kCandidateCapacity - kSampleBlock;
  if (rule.top_k <= 0) return full;
  const std::size_t k = static_cast<std::size_t>(rule.top_k);
  return std::min(full, std::max(2 * k, k + 128));
}

// A lower bound of min-p's cut for a row whose maximum is at least `max`:
// the float at or below max + T ln(min_p) (x' >= MinPCut(M) is the exact
// rule only with the row's M; any smaller max gives a smaller bound).
inline float MinPBound(float max, const CandidateRule& rule) {
  const double cut = static_cast<double>(max) + rule.log_min_p_scaled;
  float f = static_cast<float>(cut);
  if (static_cast<double>(f) > cut) f = std::nextafter(f, -std::numeric_limits<float>::infinity());
  return std::max(f, kLowestFinite);
}

// min-p's cut: the smallest float c with c >= M + T ln(min_p) computed in
// double, so that x' >= c exactly when (double)x' >= M + T ln(min_p).
inline float MinPCut(float max, const CandidateRule& rule) {
  if (!rule.min_p) return kLowestFinite;
  const double cut = static_cast<double>(max) + rule.log_min_p_scaled;
  float f = static_cast<float>(cut);
  if (static_cast<double>(f) < cut) f = std::nextafter(f, std::numeric_limits<float>::infinity());
  return std::max(f, kLowestFinite);
}

// Keeps the entries >= threshold, in order.
inline void KeepAtLeast(CandidateBuffer* b, float threshold) {
  std::size_t kept = 0;
  for (std::size_t i = 0; i < b->count; ++i) {
    if (b->values[i] >= threshold) {
      b->values[kept] = b->values[i];
      b->ids[kept] = b->ids[i];
      ++kept;
    }
  }
  b->count = kept;
}

// The k-th largest of values[0, count), count >= k >= 1.
inline float KthLargest(const float* values, std::size_t count, std::size_t k) {
  float scratch[kCandidateCapacity + kMaxVectorFloats];
  std::copy(values, values + count, scratch);
  std::nth_element(scratch, scratch + (k - 1), scratch + count, std::greater<float>());
  return scratch[k - 1];
}

// Raises the threshold to what the rule allows now (the k-th largest entry,
// min-p's bound from the max so far) and drops the entries below it. A
// buffer that stays full (ties) overflows: the call then takes the radix path.
inline void Thin(CandidateBuffer* b, const CandidateRule& rule) {
  if (rule.top_k > 0 && b->count > static_cast<std::size_t>(rule.top_k)) {
    b->top_k_threshold =
        std::max(b->top_k_threshold, KthLargest(b->values, b->count, static_cast<std::size_t>(rule.top_k)));
  }
  b->threshold = std::max(b->top_k_threshold, b->min_p_threshold);
  KeepAtLeast(b, b->threshold);
  if (b->count >= ThinAt(rule)) b->overflow = true;
}

// The first pass's bookkeeping after a block whose max is `block_max`.
inline void AfterBlock(CandidateBuffer* b, const CandidateRule& rule, float running_max) {
  if (rule.min_p) {
    const float bound = MinPBound(running_max, rule);
    if (bound > b->min_p_threshold) {
      b->min_p_threshold = bound;
      b->threshold = std::max(b->threshold, bound);
    }
  }
  if (b->count >= ThinAt(rule)) Thin(b, rule);
}

// Adds a chunk's candidates to the row's pool, in chunk order, with the
// pool's own threshold and thinning; `running_max` is the max of the chunks
// so far. The same sequence runs whatever the thread count.
inline void Absorb(CandidateBuffer* pool, const CandidateBuffer& chunk, const CandidateRule& rule,
                   float running_max) {
  if (pool->overflow) return;
  if (chunk.overflow) {
    pool->overflow = true;
    return;
  }
  AfterBlock(pool, rule, running_max);
  for (std::size_t i = 0; i < chunk.count && !pool->overflow; ++i) {
    if (!(chunk.values[i] >= pool->threshold)) continue;
    pool->values[pool->count] = chunk.values[i];
    pool->ids[pool->count] = chunk.ids[i];
    if (++pool->count >= ThinAt(rule)) Thin(pool, rule);
  }
}

// ------------------------------------------------------------------ draws

// The filters of a validated call, as the selection needs them.
struct Filters {
  CandidateRule rule;       // what the first pass collects
  std::int64_t top_k = 0;   // 0: none
  double top_p = 1.0;       // 1: none
  bool greedy = false;
};

// What a draw over weights in id order returns.
struct Drawn {
  std::size_t index = 0;   // into the weights
  double log_prob = 0.0;
};

// The first entry whose running sum (double, in order) exceeds uniform * the
// total; the total is summed the same way, so some entry always does.
inline Drawn DrawFrom(const float* weights, std::size_t count, double uniform) {
  double total = 0.0;
  for (std::size_t i = 0; i < count; ++i) total += weights[i];
  const double target = uniform * total;
  double running = 0.0;
  std::size_t pick = count - 1;
  for (std::size_t i = 0; i < count; ++i) {
    running += weights[i];
    if (running > target && weights[i] > 0.0f) {
      pick = i;
      break;
    }
  }
  return Drawn{pick, std::log(static_cast<double>(weights[pick])) - std::log(total)};
}

// top-p's cut among `count` entries with their weights: walking the distinct
// values from the largest, a value is kept while the mass strictly above it
// is < p times the total. Mass in double: the total in id order, the groups
// in (value descending, id ascending) order.
inline float TopPCutOf(const float* values, const float* weights, std::size_t count, double top_p) {
  std::uint32_t order[kCandidateCapacity];
  double total = 0.0;
  for (std::size_t i = 0; i < count; ++i) {
    total += weights[i];
    order[i] = static_cast<std::uint32_t>(i);
  }
  std::sort(order, order + count, [&](std::uint32_t a, std::uint32_t b) {
    return values[a] > values[b] || (values[a] == values[b] && a < b);
  });
  const double target = top_p * total;
  double above = 0.0;
  float cut = values[order[0]];
  for (std::size_t i = 0; i < count;) {
    const float v = values[order[i]];
    if (!(above < target)) break;
    cut = v;
    for (; i < count && values[order[i]] == v; ++i) above += weights[order[i]];
  }
  return cut;
}

}  // namespace detail
}  // namespace softkern

#endif  // SOFTKERN_DETAIL_SAMPLING_SELECT_HPP_
