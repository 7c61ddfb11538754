// softkern/detail/sampling_radix.hpp — how a sampling call's passes reach
// the chunks of a row and the rows of a batch (an executor or none), and the
// path for rows whose kept set the candidates cannot hold: top-k and top-p
// by radix select over the keys' bits (three histogram passes of 12, 10 and
// 10 bits, each over the range the previous one chose), then the kept mass
// per chunk and the draw in the chunk and block where the running mass
// crosses uniform times the total. Part of the one expansion
// (implementation.hpp), through sampling_impl.hpp.
#ifndef SOFTKERN_DETAIL_SAMPLING_RADIX_HPP_
#define SOFTKERN_DETAIL_SAMPLING_RADIX_HPP_

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "softkern/detail/fp_env.hpp"
#include "softkern/detail/sampling_params.hpp"
#include "softkern/detail/sampling_select.hpp"
#include "softkern/executor.hpp"
#include "softkern/status.hpp"

namespace softkern {
namespace detail {
namespace {

// A row cut into chunks of kSampleChunk (the last one shorter). Whether the
// chunks run on an executor changes where they run, never what they compute.
class RowChunking {
 public:
  RowChunking(std::size_t n, Executor* executor)
      : n_(n), count_((n + kSampleChunk - 1) / kSampleChunk),
        executor_(executor != nullptr && executor->concurrency() > 1 && count_ > 1 ? executor : nullptr) {}

  bool parallel() const { return executor_ != nullptr; }
  std::size_t count() const { return count_; }
  std::size_t begin(std::size_t c) const { return c * kSampleChunk; }
  std::size_t end(std::size_t c) const { return std::min(n_, (c + 1) * kSampleChunk); }

  // f(c) for every chunk: on the executor (each task in the IEEE defaults:
  // a worker has its own floating-point state), or in order.
  template <class F>
  void ForEach(const F& f) const {
    if (!parallel()) {
      for (std::size_t c = 0; c < count_; ++c) f(c);
      return;
    }
    Run(f);
  }
  template <class F>
  void Run(const F& f) const {
    executor_->run(count_, [](void* context, std::size_t c) {
      const ScopedDefaultFpEnv fp_env;
      (*static_cast<const F*>(context))(c);
    }, const_cast<F*>(&f));
  }

 private:
  std::size_t n_, count_;
  Executor* executor_;
};

// row(r, executor) for r in [0, rows): rows in turn (each cut into chunks on
// the executor, as sample() does) when there is no executor, one row, or
// fewer rows than threads that are long enough to split; otherwise blocks
// of rows, one task each, every row on its task's thread. The first failing
// row's status (by row index) is returned.
template <class Row>
Status RunSampleRows(std::size_t rows, std::size_t n, Executor* executor, const Row& row) {
  if (executor != nullptr && executor->concurrency() <= 1) executor = nullptr;
  const bool rows_in_turn =
      executor == nullptr || rows == 1 || (rows < executor->concurrency() && n >= 2 * kSampleChunk);
  if (rows_in_turn) {
    for (std::size_t r = 0; r < rows; ++r) {
      if (Status s = row(r, executor); !s.ok()) return s;
    }
    return Status::Ok();
  }
  struct Job {
    const Row* row;
    std::vector<Status> statuses;
    std::size_t rows, rows_per_task;
  };
  const std::size_t tasks = std::min(rows, 4 * executor->concurrency());
  Job job{&row, std::vector<Status>(rows), rows, (rows + tasks - 1) / tasks};
  executor->run((rows + job.rows_per_task - 1) / job.rows_per_task, [](void* context, std::size_t task) {
    Job& j = *static_cast<Job*>(context);
    const ScopedDefaultFpEnv fp_env;
    const std::size_t end = std::min(j.rows, (task + 1) * j.rows_per_task);
    for (std::size_t r = task * j.rows_per_task; r < end; ++r) j.statuses[r] = (*j.row)(r, nullptr);
  }, &job);
  for (const Status& s : job.statuses) {
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

// ----------------------------------------------------------- radix select

// A level's range of keys, inclusive, and its buckets: key >> shift.
struct KeyRange {
  std::uint32_t low, high;
  int shift;
  std::uint32_t base() const { return low >> shift; }
  std::size_t buckets() const { return (high >> shift) - base() + 1; }
  // The sub-range of bucket b (an index from base()).
  KeyRange Bucket(std::size_t b, int next_shift) const {
    const std::uint32_t first = (base() + static_cast<std::uint32_t>(b)) << shift;
    const std::uint32_t last = first | ((std::uint32_t{1} << shift) - 1);
    return KeyRange{std::max(low, first), std::min(high, last), next_shift};
  }
};

// Float bounds of a key range: the key 0x7FFFFFFF is -0's, which KeyOf
// folds into +0's; as an upper bound it must not admit +0.
inline float LowOf(std::uint32_t key) { return FloatOfKey(key); }
inline float HighOf(std::uint32_t key) { return FloatOfKey(key == 0x7FFFFFFFu ? key - 1 : key); }

// The row's histogram of one level, merged over the chunks in order: the
// weights are summed per chunk from 0 and the chunks added in chunk order,
// whatever the thread count (counts are exact either way).
inline void RunHistogram(const SamplingKernels& k, const SampleRow& row, const RowChunking& chunking,
                         const KeyRange& range, bool weights, const WeightScale& scale, Histogram* total) {
  HistogramRequest req;
  req.low = LowOf(range.low);
  req.high = HighOf(range.high);
  req.shift = range.shift;
  req.base = range.base();
  req.weights = weights;
  req.scale = scale;
  const std::size_t buckets = range.buckets();
  auto clear = [buckets](Histogram* h) {
    std::memset(h->count, 0, buckets * sizeof(h->count[0]));
    std::fill(h->weight, h->weight + buckets, 0.0);
  };
  auto add = [buckets, total](const Histogram& part) {
    for (std::size_t b = 0; b < buckets; ++b) {
      total->count[b] += part.count[b];
      total->weight[b] += part.weight[b];
    }
  };
  clear(total);
  if (!chunking.parallel()) {
    if (!weights) {
      for (std::size_t c = 0; c < chunking.count(); ++c) k.histogram(row, chunking.begin(c), chunking.end(c), req, total);
      return;
    }
    const std::unique_ptr<Histogram> part(new Histogram);
    for (std::size_t c = 0; c < chunking.count(); ++c) {
      clear(part.get());
      k.histogram(row, chunking.begin(c), chunking.end(c), req, part.get());
      add(*part);
    }
    return;
  }
  std::vector<Histogram> parts(chunking.count());
  chunking.Run([&](std::size_t c) {
    clear(&parts[c]);
    k.histogram(row, chunking.begin(c), chunking.end(c), req, &parts[c]);
  });
  for (const Histogram& part : parts) add(part);
}

constexpr int kLevelShifts[] = {20, 10, 0};

// top-k's cut among x' >= low: the k-th largest, or `low` when at most k
// entries are >= low.
inline float TopKCutByRadix(const SamplingKernels& k, const SampleRow& row, const RowChunking& chunking, float low,
                            std::uint64_t top_k, const WeightScale& scale) {
  const std::unique_ptr<Histogram> h(new Histogram);
  KeyRange range{KeyOf(low), KeyOf(std::numeric_limits<float>::max()), kLevelShifts[0]};
  std::uint64_t need = top_k;
  for (int level = 0; level < 3; ++level) {
    RunHistogram(k, row, chunking, range, false, scale, h.get());
    const std::size_t buckets = range.buckets();
    if (level == 0) {
      std::uint64_t total = 0;
      for (std::size_t b = 0; b < buckets; ++b) total += h->count[b];
      if (total <= top_k) return low;
    }
    std::size_t chosen = 0;
    for (std::size_t b = buckets; b-- > 0;) {
      if (h->count[b] >= need) {
        chosen = b;
        break;
      }
      need -= h->count[b];
    }
    if (level == 2) return FloatOfKey(range.base() + static_cast<std::uint32_t>(chosen));
    range = range.Bucket(chosen, kLevelShifts[level + 1]);
  }
  return low;
}

// top-p's cut among x' >= low: walking the buckets from the top, the cut is
// in the first whose mass brings the mass above it to p times the total
// (all masses from the histograms, in double). When rounding leaves a level
// short of the target, its lowest bucket is kept whole.
inline float TopPCutByRadix(const SamplingKernels& k, const SampleRow& row, const RowChunking& chunking, float low,
                            double top_p, const WeightScale& scale) {
  const std::unique_ptr<Histogram> h(new Histogram);
  KeyRange range{KeyOf(low), KeyOf(std::numeric_limits<float>::max()), kLevelShifts[0]};
  double target = 0.0, above = 0.0;
  bool keep_lowest = false;
  for (int level = 0; level < 3; ++level) {
    RunHistogram(k, row, chunking, range, true, scale, h.get());
    const std::size_t buckets = range.buckets();
    if (level == 0) {
      double total = 0.0;
      for (std::size_t b = buckets; b-- > 0;) total += h->weight[b];
      target = top_p * total;
    }
    std::size_t chosen = buckets, lowest = buckets;
    for (std::size_t b = buckets; b-- > 0;) {
      if (h->count[b] == 0) continue;
      lowest = b;
      if (!keep_lowest && above + h->weight[b] >= target) {
        chosen = b;
        break;
      }
      above += h->weight[b];
    }
    if (chosen == buckets) {
      if (level == 0) return low;
      keep_lowest = true;
      chosen = lowest;
    }
    if (level == 2) return FloatOfKey(range.base() + static_cast<std::uint32_t>(chosen));
    range = range.Bucket(chosen, kLevelShifts[level + 1]);
  }
  return low;
}

// The kept mass of x' >= cut per chunk (the block sums added in double from
// 0 in each chunk), the chunks' in order, and how many entries it holds.
struct RowMass {
  std::vector<double> chunks;
  double total = 0.0;
  std::uint64_t kept = 0;
};

inline RowMass KeptMassOf(const SamplingKernels& k, const SampleRow& row, const RowChunking& chunking, float cut,
                          const WeightScale& scale) {
  RowMass m;
  m.chunks.resize(chunking.count());
  std::vector<std::uint64_t> kept(chunking.count());
  chunking.ForEach([&](std::size_t c) {
    k.kept_mass(row, chunking.begin(c), chunking.end(c), cut, scale, &m.chunks[c], &kept[c]);
  });
  for (std::size_t c = 0; c < chunking.count(); ++c) {
    m.total += m.chunks[c];
    m.kept += kept[c];
  }
  return m;
}

// The draw over the row's entries x' >= cut: the chunk where the running
// mass (added as the total was) crosses uniform times the total, then the
// block inside it, then the entry inside the block.
inline SampleResult DrawOverRow(const SamplingKernels& k, const SampleRow& row, const RowChunking& chunking,
                                float cut, const WeightScale& scale, float uniform) {
  const RowMass mass = KeptMassOf(k, row, chunking, cut, scale);
  const double target = static_cast<double>(uniform) * mass.total;
  double running = 0.0, residual = 0.0;
  std::size_t chunk = chunking.count() - 1;
  for (std::size_t c = 0; c < chunking.count(); ++c) {
    if (running + mass.chunks[c] > target) {
      chunk = c;
      residual = target - running;
      break;
    }
    running += mass.chunks[c];
  }
  float w[kSampleBlock + kMaxVectorFloats];
  const std::size_t block =
      k.find_block(row, chunking.begin(chunk), chunking.end(chunk), cut, scale, &residual, w);
  const std::size_t count = std::min(kSampleBlock, row.n - block);
  std::size_t pick = 0;
  double prefix = 0.0;
  for (std::size_t j = 0; j < count; ++j) {
    prefix += w[j];
    if (w[j] > 0.0f) {
      pick = j;
      if (prefix > residual) break;
    }
  }
  SampleResult r;
  r.token = static_cast<std::int32_t>(block + pick);
  r.log_prob = static_cast<float>(std::log(static_cast<double>(w[pick])) - std::log(mass.total));
  r.kept = static_cast<std::size_t>(mass.kept);
  return r;
}

}  // namespace
}  // namespace detail
}  // namespace softkern

#endif  // SOFTKERN_DETAIL_SAMPLING_RADIX_HPP_
