// softkern/detail/cross_entropy_impl.hpp — cross_entropy (training.hpp):
// the row job that RunChunkedRows (chunked_rows.hpp) drives over the
// logits: per row, the reduction over its chunks (the log-sum-exp, or
// StableMax's sum, and the label-smoothing sums), then in double the loss,
// the lse and the gradient's constants, then the gradient map over its
// chunks, then the target's own gradient, which the map leaves out, in
// double. Checked and set up by cross_entropy_calls.hpp. Part of the one
// expansion (implementation.hpp).
//
// For a row with target t, classes c, z = v / T (v the logit or its
// soft-capped value), lse = log sum_c e^{z_c} (StableMax: log sum s(z_c)),
// F the classes whose logit is not -inf, w the class weights (1 without):
//   ce  = (1 - eps) w_t (lse - log-numerator_t) + eps/V (W_F lse - sum_F w_c log-numerator_c)
//   zl  = z_loss lse^2
// (log-numerator: z for softmax, log s(z) for StableMax; W_F = sum_F w_c),
// and, with g_ce = grad_output / (kMean: the target weights' sum) and
// g_z = grad_output / (kMean: the non-ignored rows' count),
//   dL/dz_i = K P_i - eps/V g_ce w_i R_i [i in F] - (1 - eps) g_ce w_t R_t [i = t]
//   K = g_ce ((1 - eps) w_t + eps/V W_F) + 2 z_loss g_z lse,
// P_i = p_i and R_i = 1 for softmax; P_i = s'(z_i) / S and R_i = 1/(1 + |z_i|)
// for StableMax; dL/dx_i = dL/dz_i dcap_i / T.
#ifndef SOFTKERN_DETAIL_CROSS_ENTROPY_IMPL_HPP_
#define SOFTKERN_DETAIL_CROSS_ENTROPY_IMPL_HPP_

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#include "softkern/detail/chunked_rows.hpp"
#include "softkern/detail/kernel_table.hpp"
#include "softkern/detail/row_driver.hpp"
#include "softkern/detail/row_stats.hpp"
#include "softkern/detail/stablemax_rows.hpp"
#include "softkern/detail/training_params.hpp"
#include "softkern/training.hpp"

namespace softkern {
namespace detail {
namespace {

// A checked cross-entropy call, the scalars in double.
struct CrossEntropyCall {
  const KernelTable* table;
  LogitParams params;  // params.weights: the whole row's class weights, or null
  MatrixRows logits, grad;
  bool has_grad;
  const void* targets;
  bool targets_int64;
  std::int64_t ignore_index;
  Reduction reduction;
  float* lse;
  const float* grad_output;  // kNone: per row; otherwise one value; null: 1
  double eps, z_loss, inv_temperature, softcap;
  double weight_sum, count;  // of the non-ignored rows' targets: kMean's denominators
  double ce_scale, z_scale;  // kMean: 1 / weight_sum, 1 / count (0 for a 0 denominator); else 1
};

inline std::int64_t TargetAt(const void* targets, bool int64, std::size_t r) {
  return int64 ? static_cast<const std::int64_t*>(targets)[r] : static_cast<const std::int32_t*>(targets)[r];
}

// c * value with 0 * inf = 0: a term whose coefficient is 0 takes no part.
inline double Term(double c, double value) { return c == 0.0 ? 0.0 : c * value; }

struct CrossEntropyJob {
  using Stats = LogitStats;
  struct Row {
    enum class Mode { kNone, kMap, kFill } mode = Mode::kNone;
    float fill = 0.0f;
    LogitGradient gradient;
    bool has_target_grad = false;
    std::size_t target = 0;
    double target_grad = 0.0;
    double ce = 0.0, zl = 0.0;  // the row's loss terms
    bool counted = false;       // not ignored
  };
  const CrossEntropyCall* call;
  float* loss_rows;    // kNone: the loss output
  double* row_losses;  // kSum, kMean over an executor: (ce, zl) per row
  double* running;     // kSum, kMean on the calling thread: (sum ce, sum zl)

  bool Ignored(std::size_t r) const { return TargetAt(call->targets, call->targets_int64, r) == call->ignore_index; }
  const float* Weights(std::size_t begin) const {
    return call->params.weights != nullptr ? call->params.weights + begin : nullptr;
  }
  Stats ChunkStats(std::size_t r, std::size_t begin, std::size_t size) const {
    Stats s;
    if (!Ignored(r))
      call->table->training.logit_stats(call->logits.At(r, begin), Weights(begin), size, call->params, &s);
    return s;
  }
  void Merge(Stats* into, const Stats& next) const {
    MergeLogitStats(into, next, call->params.normaliser, call->params.exp.inv_temperature_f64);
  }

  Row Finish(std::size_t r, const Stats& merged) const;
  void ChunkMap(std::size_t r, std::size_t begin, std::size_t size, const Row& row) const {
    if (row.mode == Row::Mode::kMap) {
      call->table->training.logit_gradient(call->logits.At(r, begin), Weights(begin), call->grad.At(r, begin), size,
                                           call->params, row.gradient);
    } else if (row.mode == Row::Mode::kFill) {
      if (row.fill == 0.0f) {
        std::memset(call->grad.At(r, begin), 0, size * call->grad.element_bytes);
      } else {
        for (std::size_t i = 0; i < size; ++i) SetElement(call->grad.At(r, begin), i, call->params.element, row.fill);
      }
    }
  }
  void Post(std::size_t r, const Row& row) const {
    if (row.has_target_grad) {
      SetElement(call->grad.At(r, 0), row.target, call->params.element, static_cast<float>(row.target_grad));
    }
    if (loss_rows != nullptr) loss_rows[r] = static_cast<float>(row.ce + row.zl);
    if (row_losses != nullptr) {
      row_losses[2 * r] = row.ce;
      row_losses[2 * r + 1] = row.zl;
    } else if (running != nullptr && row.counted) {
      running[0] += row.ce;
      running[1] += row.zl;
    }
  }
};

// The row's scalars: lse, loss terms, the gradient's constants and the
// target's gradient (file comment), special rows first.
CrossEntropyJob::Row CrossEntropyJob::Finish(std::size_t r, const Stats& merged_in) const {
  const CrossEntropyCall& c = *call;
  const LogitParams& p = c.params;
  const bool stablemax = p.normaliser == Normaliser::kStableMax;
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  Row row;
  if (Ignored(r)) {
    if (c.lse != nullptr) c.lse[r] = static_cast<float>(kNaN);
    if (c.has_grad) row.mode = Row::Mode::kFill;
    return row;
  }
  row.counted = true;
  const std::size_t t = static_cast<std::size_t>(TargetAt(c.targets, c.targets_int64, r));
  const float* weights = p.weights;
  const double w_t = weights != nullptr ? weights[t] : 1.0;
  const double g_out = c.grad_output == nullptr          ? 1.0
                       : c.reduction == Reduction::kNone ? c.grad_output[r]
                                                         : c.grad_output[0];
  const double g_ce = g_out * c.ce_scale, g_z = g_out * c.z_scale;
  const double one_hot = (1.0 - c.eps) * w_t;
  const double smooth = c.eps / static_cast<double>(c.logits.cols);
  Stats merged = merged_in;

  // The target: its logit v_t, z_t, dv/dx, the log-numerator.
  const double x_t = ElementAt(c.logits.At(r, 0), t, p.element);
  const bool t_masked = x_t == -HUGE_VAL;
  double v_t = x_t, dcap_t = 1.0;
  if (c.softcap != 0.0 && !t_masked) {
    v_t = c.softcap * std::tanh(x_t / c.softcap);
    const double cosh_t = std::cosh(x_t / c.softcap);
    dcap_t = 1.0 / (cosh_t * cosh_t);
  }
  const double z_t = v_t * c.inv_temperature;

  // lse from the reduction; the special rows.
  double lse;
  bool nan_row = merged.nan;
  if (stablemax) {
    // A sum outside float's normal range: a +inf logit (no cap; NaN, as for
    // softmax), every logit -inf (0), or z near FLT_MAX or all far below 0:
    // redone in double.
    if (!nan_row && !StableMaxSumIsNormal(merged.sum)) {
      RowParams plain = p.exp;  // the temperature's constants only: the element type is the logits'
      plain.element = p.element;
      plain.has_sink = false;
      if (c.softcap == 0.0 && HasPositiveInfinity(c.logits.At(r, 0), c.logits.cols, plain)) {
        nan_row = true;
      } else {
        merged = StableMaxStatsInDouble(c.logits.At(r, 0), c.logits.cols, p.element, c.inv_temperature, c.softcap,
                                        p.weights, p.smoothing);
      }
    }
    lse = std::log(merged.sum);
  } else {
    // A +inf logit (no cap) leaves a NaN in the online sum: NaN, as PyTorch.
    lse = static_cast<double>(merged.max) * c.inv_temperature + std::log(merged.sum);
  }
  if (c.lse != nullptr) c.lse[r] = static_cast<float>(nan_row ? kNaN : lse);
  if (nan_row) {
    row.ce = row.zl = kNaN;
    if (c.has_grad) {
      row.mode = Row::Mode::kFill;
      row.fill = std::numeric_limits<float>::quiet_NaN();
    }
    return row;
  }
  const double log_num_t = stablemax ? (t_masked ? -HUGE_VAL : StableMaxLog(z_t)) : z_t;
  const double smoothing_sum = stablemax ? merged.weighted : merged.weighted * c.inv_temperature;
  if (lse == -HUGE_VAL) {
    // Every logit -inf: no probability anywhere; the target's term is +inf.
    row.ce = Term(one_hot, HUGE_VAL);
    row.zl = Term(c.z_loss, HUGE_VAL);
    if (c.has_grad) {
      row.mode = Row::Mode::kFill;
      row.has_target_grad = true;
      row.target = t;
      row.target_grad = stablemax ? 0.0 : -g_ce * one_hot * c.inv_temperature;
    }
    return row;
  }
  row.ce = Term(one_hot, lse - log_num_t) + smooth * (merged.weight * lse - smoothing_sum);
  row.zl = c.z_loss * lse * lse;
  if (!c.has_grad) return row;

  const double k = g_ce * (one_hot + smooth * merged.weight) + 2.0 * c.z_loss * g_z * lse;
  const double b = g_ce * smooth * c.inv_temperature;
  row.mode = Row::Mode::kMap;
  row.gradient.b = static_cast<float>(b);
  double p_t, r_t;  // the target's P and R (file comment)
  if (stablemax) {
    row.gradient.a = static_cast<float>(k * c.inv_temperature / merged.sum);
    r_t = t_masked ? 0.0 : 1.0 / (1.0 + std::fabs(z_t));
    p_t = (z_t >= 0.0 ? 1.0 : r_t * r_t) / merged.sum;
  } else {
    row.gradient.a = static_cast<float>(k * c.inv_temperature);
    row.gradient.max = merged.max;
    row.gradient.inv_sum = 1.0 / merged.sum;
    r_t = 1.0;
    // Against the row's max and sum, as the map forms every other P: at
    // |max| near 1e30, lse = max / T + log(sum) rounds back to max / T even
    // in double, and exp(z_t - lse) would give the target P = 1.
    p_t = std::exp(z_t - static_cast<double>(merged.max) * c.inv_temperature) / merged.sum;
  }
  const double w_smooth_t = t_masked ? 0.0 : w_t;
  row.has_target_grad = true;
  row.target = t;
  row.target_grad =
      dcap_t * (k * c.inv_temperature * p_t - b * w_smooth_t * r_t - g_ce * one_hot * c.inv_temperature * r_t);
  return row;
}

}  // namespace
}  // namespace detail
}  // namespace softkern

#endif  // SOFTKERN_DETAIL_CROSS_ENTROPY_IMPL_HPP_
