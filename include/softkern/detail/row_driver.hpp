// softkern/detail/row_driver.hpp — how rows reach the kernels once the
// arguments are checked: one row through the passes of its algorithm
// (RunRow: chunk_stats / chunk_map of softmax_params.hpp, merged as in
// row_stats.hpp, cut into fixed-size chunks across an executor when long),
// the reference semantics of rows whose maximum is not finite, and a matrix
// of rows spread over an executor (RunRows). Part of the one expansion
// (implementation.hpp).
#ifndef SOFTKERN_DETAIL_ROW_DRIVER_HPP_
#define SOFTKERN_DETAIL_ROW_DRIVER_HPP_

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "softkern/detail/fp_env.hpp"
#include "softkern/detail/kernel_table.hpp"
#include "softkern/detail/row_stats.hpp"
#include "softkern/element_types.hpp"
#include "softkern/executor.hpp"
#include "softkern/softmax.hpp"

namespace softkern {
namespace detail {
namespace {

// RunRow runs one row through the passes of its algorithm (softmax_params.hpp:
// chunk_stats / chunk_map), merging what the passes find (row_stats.hpp).
// Without an executor, or for rows shorter than two chunks, the row is one
// chunk and every pass is one direct call: nothing is allocated. With an
// executor, a long row is cut into chunks of kChunkElements (a fixed size,
// so the result does not depend on the thread count) whose stats merge in
// double; the result then differs from the one-chunk result only by
// rounding, within the same bound.
constexpr std::size_t kChunkElements = std::size_t{1} << 18;  // 1 MiB of floats
// Whether RunRow cuts a row of n elements into chunks (given an executor
// with more than one thread): at least two whole chunks.
constexpr bool SplitsIntoChunks(std::size_t n) { return n >= 2 * kChunkElements; }

// Byte address arithmetic on rows of any element type.
const void* Advance(const void* p, std::size_t elements, std::size_t bytes) {
  return static_cast<const unsigned char*>(p) + elements * bytes;
}
void* Advance(void* p, std::size_t elements, std::size_t bytes) {
  return static_cast<unsigned char*>(p) + elements * bytes;
}

// Element i of a row of `type`, as a float, and back (rounded to nearest-even).
float ElementAt(const void* row, std::size_t i, ElementType type) {
  switch (type) {
    case ElementType::kBFloat16: return to_float(static_cast<const bfloat16*>(row)[i]);
    case ElementType::kFloat16: return to_float(static_cast<const float16*>(row)[i]);
    default: break;  // float32 (rows are never quantized: softmax_calls.hpp)
  }
  return static_cast<const float*>(row)[i];
}

void SetElement(void* row, std::size_t i, ElementType type, float value) {
  switch (type) {
    case ElementType::kBFloat16: static_cast<bfloat16*>(row)[i] = to_bfloat16(value); return;
    case ElementType::kFloat16: static_cast<float16*>(row)[i] = to_float16(value); return;
    default: break;  // float32
  }
  static_cast<float*>(row)[i] = value;
}

// The row's semantics when its maximum is not finite, which is the reference
// behaviour every algorithm defers to: any NaN (or a NaN sink) -> all NaN;
// else +inf entries (and a +inf sink) share the mass; else (everything is
// -inf) all weights are 0.
void ResolveNonFiniteRow(const void* x, void* y, std::size_t n, const RowParams& params) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  const ElementType type = params.element;
  bool any_nan = params.has_sink && std::isnan(params.sink);
  std::size_t pos_inf = params.has_sink && params.sink == kInf ? 1 : 0;
  for (std::size_t i = 0; i < n; ++i) {
    const float xi = ElementAt(x, i, type);
    any_nan |= std::isnan(xi);
    pos_inf += xi == kInf;
  }
  const float zero_weight = params.log ? -kInf : 0.0f;
  if (any_nan) {
    for (std::size_t i = 0; i < n; ++i) SetElement(y, i, type, std::numeric_limits<float>::quiet_NaN());
  } else if (pos_inf > 0) {
    const double share = 1.0 / static_cast<double>(pos_inf);
    const float inf_weight = static_cast<float>(params.log ? std::log(share) : share);
    // In place, y[i] overwrites x[i] only after x[i] was read.
    for (std::size_t i = 0; i < n; ++i) SetElement(y, i, type, ElementAt(x, i, type) == kInf ? inf_weight : zero_weight);
  } else {
    for (std::size_t i = 0; i < n; ++i) SetElement(y, i, type, zero_weight);
  }
}

class RowChunks {
 public:
  RowChunks(const KernelTable* table, const void* x, void* y, std::size_t n, const RowParams& params,
            Executor* executor)
      : table_(table), x_(x), y_(y), n_(n), params_(params), executor_(executor),
        bytes_(element_bytes(params.element)) {
    if (executor != nullptr && executor->concurrency() > 1 && SplitsIntoChunks(n)) {
      count_ = (n + kChunkElements - 1) / kChunkElements;
      stats_.resize(count_);
    }
  }

  // Runs `pass` of the reduction on every chunk; merges with `merge`.
  template <class Merge>
  RowStats Reduce(ReducePass pass, float max, Merge merge) {
    if (count_ == 1) {
      RowStats stats;
      table_->softmax.chunk_stats(x_, y_, n_, params_, pass, max, &stats);
      return stats;
    }
    pass_ = pass;
    max_ = max;
    executor_->run(count_, [](void* self, std::size_t c) {
      RowChunks& r = *static_cast<RowChunks*>(self);
      const ScopedDefaultFpEnv fp_env;  // a worker has its own FP state
      r.table_->softmax.chunk_stats(r.X(c), r.Y(c), r.Size(c), r.params_, r.pass_, r.max_, &r.stats_[c]);
    }, this);
    RowStats merged = stats_[0];
    for (std::size_t c = 1; c < count_; ++c) merge(&merged, stats_[c]);
    return merged;
  }

  void Map(const RowStats& totals) {
    if (count_ == 1) return table_->softmax.chunk_map(x_, y_, n_, params_, totals);
    totals_ = totals;
    executor_->run(count_, [](void* self, std::size_t c) {
      RowChunks& r = *static_cast<RowChunks*>(self);
      const ScopedDefaultFpEnv fp_env;
      r.table_->softmax.chunk_map(r.X(c), r.Y(c), r.Size(c), r.params_, r.totals_);
    }, this);
  }

  // How many chunks the row is cut into (1: no executor, or a short row).
  std::size_t Count() const { return count_; }

  void Fill(float value) {
    // Rare (a NaN row): one thread is fine.
    for (std::size_t i = 0; i < n_; ++i) SetElement(y_, i, params_.element, value);
  }

 private:
  std::size_t Begin(std::size_t c) const { return c * kChunkElements; }
  std::size_t Size(std::size_t c) const { return std::min(kChunkElements, n_ - Begin(c)); }
  const void* X(std::size_t c) const { return static_cast<const unsigned char*>(x_) + Begin(c) * bytes_; }
  void* Y(std::size_t c) const { return static_cast<unsigned char*>(y_) + Begin(c) * bytes_; }

  const KernelTable* table_;
  const void* x_;
  void* y_;
  std::size_t n_;
  const RowParams& params_;
  Executor* executor_;
  std::size_t bytes_;
  std::size_t count_ = 1;
  std::vector<RowStats> stats_;
  ReducePass pass_ = ReducePass::kStats;
  float max_ = 0;
  RowStats totals_;
};

void RunRow(const KernelTable* table, const void* x, void* y, std::size_t n, const RowParams& params,
            Executor* executor) {
  if (n == 0) return;
  RowChunks chunks(table, x, y, n, params, executor);
  if (params.algorithm == Algorithm::kTwoPass) {
    RowStats totals = chunks.Reduce(ReducePass::kStats, 0.0f, MergeTwoPass);
    if (TwoPassTotals(&totals, params)) return chunks.Map(totals);
  } else if (params.algorithm == Algorithm::kOnline) {
    RowStats totals = chunks.Reduce(ReducePass::kStats, 0.0f, [&](RowStats* a, const RowStats& b) {
      MergeOnline(a, b, params.inv_temperature_f64);
    });
    if (OnlineTotals(&totals, params)) return chunks.Map(totals);
  }
  // Three-pass, and the rows the other algorithms leave to its semantics
  // (x is untouched so far): the reload algorithm stores in its second pass.
  // An unsplit reload row is one call (reload_row).
  if (params.algorithm == Algorithm::kThreePassReload && chunks.Count() == 1) {
    switch (table->softmax.reload_row(x, y, n, params)) {
      case RowOutcome::kDone: return;
      case RowOutcome::kMaxNotFinite: return ResolveNonFiniteRow(x, y, n, params);
      case RowOutcome::kNaN: return chunks.Fill(std::numeric_limits<float>::quiet_NaN());
    }
  }
  RowParams three_pass = params;
  if (three_pass.algorithm != Algorithm::kThreePassReload) three_pass.algorithm = Algorithm::kThreePassRecompute;
  RowChunks passes(table, x, y, n, three_pass, executor);
  const float max = MaxWithSink(passes.Reduce(ReducePass::kStats, 0.0f, MergeMax).max, three_pass);
  if (!std::isfinite(max)) return ResolveNonFiniteRow(x, y, n, three_pass);
  RowStats totals = passes.Reduce(ReducePass::kSumGivenMax, max, MergeSum);
  totals.max = max;
  totals.sum += SinkTerm(three_pass, max);
  // x may be gone (reload in place), but a NaN sum with a finite max means a
  // NaN input.
  if (totals.nan || std::isnan(totals.sum)) return passes.Fill(std::numeric_limits<float>::quiet_NaN());
  passes.Map(totals);
}

// Rows [0, rows) of a matrix (row r at x + r * x_stride elements, the same
// for y), each through RunRow.
void RunRows(const KernelTable* table, const void* x, std::size_t x_stride, void* y, std::size_t y_stride,
             std::size_t rows, std::size_t cols, const RowParams& params, Executor* executor) {
  const std::size_t bytes = element_bytes(params.element);
  if (executor != nullptr && executor->concurrency() <= 1) executor = nullptr;
  // Fewer rows than threads: when the rows are long, each row in turn is cut
  // into chunks across the threads (RunRow), exactly as softmax() does, so
  // one long row gets the same speed-up through either entry point.
  const bool rows_in_turn = executor == nullptr || rows == 1 ||
                            (rows < executor->concurrency() && SplitsIntoChunks(cols));
  if (rows_in_turn) {
    for (std::size_t r = 0; r < rows; ++r) {
      RunRow(table, Advance(x, r * x_stride, bytes), Advance(y, r * y_stride, bytes), cols, params, executor);
    }
    return;
  }
  // Contiguous blocks of rows, a few per thread so that uneven progress
  // evens out; each task runs in the IEEE defaults too (a worker thread has
  // its own floating-point state).
  struct Job {
    const KernelTable* table;
    const RowParams* params;
    const void* x;
    void* y;
    std::size_t x_stride, y_stride, rows, cols, rows_per_task, bytes;
  };
  const std::size_t tasks = std::min(rows, 4 * executor->concurrency());
  Job job{table, &params, x, y, x_stride, y_stride, rows, cols, (rows + tasks - 1) / tasks, bytes};
  executor->run((rows + job.rows_per_task - 1) / job.rows_per_task,
                [](void* context, std::size_t task) {
                  const Job& j = *static_cast<const Job*>(context);
                  const ScopedDefaultFpEnv task_fp_env;
                  const std::size_t end = std::min(j.rows, (task + 1) * j.rows_per_task);
                  for (std::size_t r = task * j.rows_per_task; r < end; ++r) {
                    RunRow(j.table, Advance(j.x, r * j.x_stride, j.bytes), Advance(j.y, r * j.y_stride, j.bytes),
                           j.cols, *j.params, nullptr);
                  }
                },
                &job);
}

}  // namespace
}  // namespace detail
}  // namespace softkern

#endif  // SOFTKERN_DETAIL_ROW_DRIVER_HPP_
