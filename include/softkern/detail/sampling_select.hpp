// softkern/detail/sampling_select.hpp — the decisions of a sampling call, in
// plain C++ compiled once for every target: the candidates of the first pass
// and how they are thinned, the cut of top-k and top-p among them, and the
// draw over them (radix select, for when they do not suffice, is in
// sampling_radix.hpp).
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
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#include "softkern/detail/sampling_params.hpp"

namespace softkern {
namespace detail {

constexpr float kLowestFinite = -std::numeric_limits<float>::max();
// Lanes a vector store may write past a buffer's count (SVE's widest vectors).
constexpr std::size_t kMaxVectorFloats = 64;

// Storage of kInline elements in place, more on the heap (a row that needs
// more than the stack holds: many ties at a cut, a flat row under min-p).
template <class T, std::size_t kInline>
class Scratch {
 public:
  explicit Scratch(std::size_t size) : data_(size <= kInline ? inline_ : (heap_.resize(size), heap_.data())) {}
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  T* data() { return data_; }
  T& operator[](std::size_t i) { return data_[i]; }

 private:
  T inline_[kInline];
  std::vector<T> heap_;
  T* data_;
};

// Entries (value, token id) of x' >= threshold, in id order (and possibly
// some below it). The first pass appends whole vectors (lanes past `count`
// are scratch, hence the slack); Thin raises the threshold and drops what
// falls below it; a buffer that stays full grows onto the heap, so every
// entry >= the threshold is always there.
struct CandidateBuffer {
  CandidateBuffer() {}  // leaves the arrays uninitialised (Reset sets what is read)
  CandidateBuffer(const CandidateBuffer&) = delete;
  CandidateBuffer& operator=(const CandidateBuffer&) = delete;

  float* values = inline_values;
  std::uint32_t* ids = inline_ids;
  std::size_t capacity = kCandidateCapacity;  // entries, without the slack
  std::size_t count = 0;
  std::size_t thin_at = 0;                    // the count at which to thin next
  float threshold = kLowestFinite;            // what enters: x' >= threshold (never -inf)
  float top_k_threshold = kLowestFinite;
  float min_p_threshold = kLowestFinite;
  float running_max = -std::numeric_limits<float>::infinity();  // of what was scanned
  // The chunks of a row scanned at once share their thresholds: any chunk's
  // k-th largest (or min-p bound) so far is at or below the row's cut, so
  // each may start from the others'. Which thresholds a chunk saw changes
  // only the entries below the cut it holds, which FinishPool drops.
  std::atomic<float>* shared = nullptr;

  void Reset(const CandidateRule& rule, std::atomic<float>* shared_threshold = nullptr) {
    count = 0;
    threshold = top_k_threshold = min_p_threshold = kLowestFinite;
    running_max = -std::numeric_limits<float>::infinity();
    thin_at = BaseThinAt(rule);
    shared = shared_threshold;
    if (shared != nullptr) threshold = std::max(threshold, shared->load(std::memory_order_relaxed));
  }
  // Takes the shared threshold if higher, and offers this one if higher.
  void ShareThreshold() {
    if (shared == nullptr) return;
    float seen = shared->load(std::memory_order_relaxed);
    while (threshold > seen && !shared->compare_exchange_weak(seen, threshold, std::memory_order_relaxed)) {
    }
    threshold = std::max(threshold, seen);
  }
  // Room for `more` entries past count.
  void Reserve(std::size_t more) {
    if (count + more <= capacity) return;
    const std::size_t grown = std::max(2 * capacity, count + more);
    const bool in_place = values == inline_values;
    heap_values.resize(grown + kMaxVectorFloats);  // keeps what the heap held
    heap_ids.resize(grown + kMaxVectorFloats);
    if (in_place) {
      std::copy(inline_values, inline_values + count, heap_values.data());
      std::copy(inline_ids, inline_ids + count, heap_ids.data());
    }
    values = heap_values.data();
    ids = heap_ids.data();
    capacity = grown;
  }
  // Thinning at 2k (at least k + 128) keeps nth_element short and raises the
  // threshold early; min-p alone thins when the buffer is full.
  static std::size_t BaseThinAt(const CandidateRule& rule) {
    if (rule.top_k <= 0) return kCandidateCapacity - kSampleBlock;
    const std::size_t k = static_cast<std::size_t>(rule.top_k);
    return std::max(2 * k, k + 128);
  }

 private:
  float inline_values[kCandidateCapacity + kMaxVectorFloats];
  std::uint32_t inline_ids[kCandidateCapacity + kMaxVectorFloats];
  std::vector<float> heap_values;
  std::vector<std::uint32_t> heap_ids;
};

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
  Scratch<float, kCandidateCapacity> scratch(count);
  std::copy(values, values + count, scratch.data());
  std::nth_element(scratch.data(), scratch.data() + (k - 1), scratch.data() + count, std::greater<float>());
  return scratch[k - 1];
}

// Raises the threshold to what the rule allows now (the k-th largest entry,
// min-p's bound from the max so far) and drops the entries below it. With
// many ties at the k-th value little goes; the next thinning then waits
// until the buffer has doubled, so that the work stays linear.
inline void Thin(CandidateBuffer* b, const CandidateRule& rule) {
  if (rule.top_k > 0 && b->count > static_cast<std::size_t>(rule.top_k)) {
    b->top_k_threshold =
        std::max(b->top_k_threshold, KthLargest(b->values, b->count, static_cast<std::size_t>(rule.top_k)));
  }
  b->threshold = std::max(b->threshold, std::max(b->top_k_threshold, b->min_p_threshold));
  KeepAtLeast(b, b->threshold);
  b->thin_at = std::max(CandidateBuffer::BaseThinAt(rule), 2 * b->count);
}

// The first pass's bookkeeping after a block whose largest x' is
// `block_max`: min-p's bound from the max so far, thinning, room for the
// next block.
inline void AfterBlock(CandidateBuffer* b, const CandidateRule& rule, float block_max) {
  if (block_max > b->running_max) {
    b->running_max = block_max;
    if (rule.min_p) {
      b->min_p_threshold = std::max(b->min_p_threshold, MinPBound(block_max, rule));
      b->threshold = std::max(b->threshold, b->min_p_threshold);
    }
  }
  if (b->count >= b->thin_at) Thin(b, rule);
  b->ShareThreshold();
  b->Reserve(kSampleBlock);
}

// Adds a chunk's candidates to the row's pool, in chunk order.
inline void Absorb(CandidateBuffer* pool, const CandidateBuffer& chunk, const CandidateRule& rule) {
  AfterBlock(pool, rule, chunk.running_max);
  for (std::size_t i = 0; i < chunk.count; ++i) {
    if (!(chunk.values[i] >= pool->threshold)) continue;
    pool->values[pool->count] = chunk.values[i];
    pool->ids[pool->count] = chunk.ids[i];
    if (++pool->count >= pool->thin_at) Thin(pool, rule);
    pool->Reserve(1);
  }
}

// The pool as a function of the row alone, whatever the thread count and the
// thinning on the way: exactly the entries >= max(the k-th largest, min-p's
// bound from the row's max), in id order. (Every entry >= that is in the
// pool: the thresholds only ever rose to values at or below it.)
inline void FinishPool(CandidateBuffer* pool, const CandidateRule& rule, float max) {
  const std::size_t k = static_cast<std::size_t>(std::max<std::int64_t>(rule.top_k, 0));
  pool->top_k_threshold = k > 0 && pool->count >= k ? KthLargest(pool->values, pool->count, k) : kLowestFinite;
  pool->min_p_threshold = rule.min_p ? MinPBound(max, rule) : kLowestFinite;
  pool->threshold = std::max(pool->top_k_threshold, pool->min_p_threshold);
  KeepAtLeast(pool, pool->threshold);
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

// The sum of weights[0, count) in double, in order.
inline double SumOf(const float* weights, std::size_t count) {
  double total = 0.0;
  for (std::size_t i = 0; i < count; ++i) total += weights[i];
  return total;
}

// The first entry whose running sum (double, in order) exceeds uniform * the
// total; the total is summed the same way, so some entry always does.
inline Drawn DrawFrom(const float* weights, std::size_t count, double uniform) {
  const double total = SumOf(weights, count);
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

// top-p's cut among `count` entries (the kept set so far, or every entry of
// it above some value) with their weights: walking the distinct values from
// the largest, a value is kept while the mass strictly above it is < top_p
// times `total`, the kept set's mass. Mass in double, in (value descending,
// id ascending) order.
inline float TopPCutOf(const float* values, const float* weights, std::size_t count, double top_p, double total) {
  Scratch<std::uint32_t, kCandidateCapacity> order(count);
  for (std::size_t i = 0; i < count; ++i) order[i] = static_cast<std::uint32_t>(i);
  std::sort(order.data(), order.data() + count, [&](std::uint32_t a, std::uint32_t b) {
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
