// softkern/detail/stablemax_rows.hpp — softmax rows with
// Normaliser::kStableMax (softmax.hpp): the sum of s(z) and the map, per
// row, through RunChunkedRows (chunked_rows.hpp) on the active target's
// TrainingKernels; the rows the float passes cannot hold, in double. Also
// StableMax's s and log s in double, which the cross-entropy driver uses
// for a row's target. Part of the one expansion (implementation.hpp),
// reached from softmax_calls.hpp once the arguments are checked.
#ifndef SOFTKERN_DETAIL_STABLEMAX_ROWS_HPP_
#define SOFTKERN_DETAIL_STABLEMAX_ROWS_HPP_

#include <cmath>
#include <cstddef>
#include <limits>

#include "softkern/detail/chunked_rows.hpp"
#include "softkern/detail/kernel_table.hpp"
#include "softkern/detail/row_driver.hpp"
#include "softkern/detail/training_params.hpp"
#include "softkern/executor.hpp"

namespace softkern {
namespace detail {
namespace {

// s(z) = z + 1 (z >= 0), 1 / (1 - z) (z < 0), and log s(z), in double.
inline double StableMaxS(double z) { return z >= 0.0 ? z + 1.0 : 1.0 / (1.0 - z); }
inline double StableMaxLog(double z) { return std::copysign(std::log1p(std::fabs(z)), z); }

// Whether a StableMax sum S (the kernels' float sum, merged in double) lets
// the float map run: S in float's normal range, and no overflow on the way.
// Outside, the row has a NaN or +inf (the reference semantics decide), or
// logits whose z = x / T nears FLT_MAX or is all far below 0 (the double path).
inline bool StableMaxSumIsNormal(double sum) {
  return sum >= static_cast<double>(std::numeric_limits<float>::min()) &&
         sum <= static_cast<double>(std::numeric_limits<float>::max());
}

// Whether the row holds +inf (or a +inf sink): its mass goes to those entries.
inline bool HasPositiveInfinity(const void* x, std::size_t n, const RowParams& params) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  if (params.has_sink && params.sink == kInf) return true;
  for (std::size_t i = 0; i < n; ++i) {
    if (ElementAt(x, i, params.element) == kInf) return true;
  }
  return false;
}

// A StableMax row's LogitStats in double, for the rows whose float sum
// leaves float's normal range: v = x, or softcap tanh(x / softcap) when
// softcap != 0; with `smoothing`, sum w log s(z) and sum w over the entries
// that are not -inf (w = weights[i], or 1 when null).
inline LogitStats StableMaxStatsInDouble(const void* x, std::size_t n, ElementType type, double inv_temperature,
                                         double softcap, const float* weights, bool smoothing) {
  LogitStats stats;
  for (std::size_t i = 0; i < n; ++i) {
    const double xi = ElementAt(x, i, type);
    if (xi == -HUGE_VAL) continue;
    const double z = (softcap != 0.0 ? softcap * std::tanh(xi / softcap) : xi) * inv_temperature;
    stats.sum += StableMaxS(z);
    if (smoothing) {
      const double w = weights != nullptr ? weights[i] : 1.0;
      stats.weighted += w * StableMaxLog(z);
      stats.weight += w;
    }
  }
  stats.nan = std::isnan(stats.sum);
  return stats;
}

struct StableMaxRowsJob {
  using Stats = LogitStats;
  struct Row {
    enum class Mode { kMap, kSpecial, kDouble } mode;
    double sum;
  };
  const KernelTable* table;
  LogitParams params;
  MatrixRows x, y;

  Stats ChunkStats(std::size_t r, std::size_t begin, std::size_t size) const {
    Stats s;
    table->training.logit_stats(x.At(r, begin), nullptr, size, params, &s);
    return s;
  }
  void Merge(Stats* into, const Stats& next) const {
    into->sum += next.sum;
    into->nan |= next.nan;
  }
  Row Finish(std::size_t r, const Stats& merged) const {
    const RowParams& p = params.exp;
    double sum = merged.sum;
    if (p.has_sink) sum += StableMaxS(static_cast<double>(p.sink) * p.inv_temperature_f64);
    if (merged.nan || std::isnan(sum)) return Row{Row::Mode::kSpecial, sum};
    if (StableMaxSumIsNormal(sum)) return Row{Row::Mode::kMap, sum};
    // Outside float's normal range: a +inf (its limit), every entry -inf
    // (zeros), or logits whose z overflows float or whose s(z) all underflow:
    // the double path (Post).
    if (HasPositiveInfinity(x.At(r, 0), x.cols, p)) return Row{Row::Mode::kSpecial, sum};
    const double exact = SumInDouble(r);
    return Row{exact == 0.0 ? Row::Mode::kSpecial : Row::Mode::kDouble, exact};
  }
  // The row's sum of s(z), sink included, in double.
  double SumInDouble(std::size_t r) const {
    const RowParams& p = params.exp;
    double sum = StableMaxStatsInDouble(x.At(r, 0), x.cols, p.element, p.inv_temperature_f64, 0.0, nullptr, false).sum;
    if (p.has_sink) sum += StableMaxS(static_cast<double>(p.sink) * p.inv_temperature_f64);
    return sum;
  }
  void ChunkMap(std::size_t r, std::size_t begin, std::size_t size, const Row& row) const {
    if (row.mode == Row::Mode::kMap)
      table->training.stablemax_map(x.At(r, begin), y.At(r, begin), size, params, row.sum);
  }
  void Post(std::size_t r, const Row& row) const {
    const RowParams& p = params.exp;
    if (row.mode == Row::Mode::kSpecial) return ResolveNonFiniteRow(x.At(r, 0), y.At(r, 0), x.cols, p);
    if (row.mode != Row::Mode::kDouble) return;
    const double sum = row.sum;
    const double log_sum = std::log(sum);
    for (std::size_t i = 0; i < x.cols; ++i) {
      const double xi = ElementAt(x.At(r, 0), i, p.element);
      const double z = xi * p.inv_temperature_f64;
      const double out = p.log ? (xi == -HUGE_VAL ? -HUGE_VAL : StableMaxLog(z) - log_sum) : StableMaxS(z) / sum;
      SetElement(y.At(r, 0), i, p.element, static_cast<float>(out));
    }
  }
};

// Rows [0, rows) of checked StableMax softmax rows.
void RunStableMaxRows(const KernelTable* table, const void* x, std::size_t x_stride, void* y, std::size_t y_stride,
                      std::size_t rows, std::size_t cols, const RowParams& params, Executor* executor) {
  LogitParams logit;
  logit.element = params.element;
  logit.normaliser = Normaliser::kStableMax;
  logit.exp = params;
  const StableMaxRowsJob job{table, logit, MatrixRows(x, x_stride, cols, params.element),
                             MatrixRows(y, y_stride, cols, params.element)};
  RunChunkedRows(executor, rows, cols, job);
}

}  // namespace
}  // namespace detail

const char* normaliser_name(Normaliser normaliser) {
  switch (normaliser) {
    case Normaliser::kSoftmax:
      return "softmax";
    case Normaliser::kStableMax:
      return "stablemax";
  }
  return "unknown";
}

}  // namespace softkern

#endif  // SOFTKERN_DETAIL_STABLEMAX_ROWS_HPP_
