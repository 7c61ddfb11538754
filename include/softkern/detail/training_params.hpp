// softkern/detail/training_params.hpp — the training kernels' side of the
// KernelTable (kernel_table.hpp): a validated softmax-backward,
// cross-entropy or StableMax call as the per-target kernels see it, what
// their reduction passes return, and the entry points. Filled by
// training_impl.hpp, cross_entropy_impl.hpp and stablemax_rows.hpp, driven by
// chunked_rows.hpp. Nothing here names Highway.
#ifndef SOFTKERN_DETAIL_TRAINING_PARAMS_HPP_
#define SOFTKERN_DETAIL_TRAINING_PARAMS_HPP_

#include <cmath>
#include <cstddef>
#include <limits>

#include "softkern/detail/row_stats.hpp"
#include "softkern/detail/softmax_params.hpp"
#include "softkern/element_types.hpp"
#include "softkern/softmax.hpp"

namespace softkern {
namespace detail {

// softmax_backward / log_softmax_backward.
struct BackwardParams {
  ElementType element = ElementType::kFloat32;  // of y, dy and dx
  bool log = false;                             // y is a log-softmax
  // Also sum the probabilities (y, or e^y for log): the sink's gradient.
  bool mass = false;
  float inv_temperature = 1.0f;
};

// What the reduction pass over a chunk of (y, dy) found, lanes merged in
// double; chunks add.
struct BackwardStats {
  double dot = 0.0;   // softmax: <y, dy>; log-softmax: sum dy
  double mass = 0.0;  // with BackwardParams::mass: sum y, or sum e^y
};

// A row of logits as the cross-entropy and StableMax kernels see it: each
// logit x becomes v = softcap tanh(x / softcap) (or x itself), then
// z = v / T; -inf stays -inf (a masked class) whatever the cap.
struct LogitParams {
  ElementType element = ElementType::kFloat32;  // of x (and of the gradient)
  Normaliser normaliser = Normaliser::kSoftmax;
  // The temperature as the folded exponentials take it (softmax_exp-inl.hpp);
  // its algorithm field is unused. Forward StableMax rows also read log,
  // has_sink and sink from it.
  RowParams exp;
  float softcap = 0.0f;  // 0: none
  float inv_softcap = 0.0f;
  // Accumulate the label-smoothing sums (LogitStats::weighted and weight).
  bool smoothing = false;
  // Class weights for the smoothing sums and the gradient (null: all 1),
  // indexed from the start of the row: a chunk at element `begin` of its row
  // reads weights + begin.
  const float* weights = nullptr;
};

// What the reduction pass over a chunk of logits found, lanes merged in
// double (cross_entropy_impl.hpp merges chunks: MergeLogitStats).
struct LogitStats {
  // kSoftmax: the largest v, and sum e^{(v - max)/T} (the online pair).
  float max = -std::numeric_limits<float>::infinity();
  // kStableMax: sum s(z).
  double sum = 0.0;
  // Label smoothing, over the classes whose logit is not -inf: kSoftmax
  // sum w_c v_c; kStableMax sum w_c log s(z_c).
  double weighted = 0.0;
  double weight = 0.0;  // sum w_c over the same classes (their count without weights)
  bool nan = false;     // a NaN was seen
};

// Merges the LogitStats of the next chunk of a row into `into`: the online
// (max, sum) pairs (softmax, at 1/T = inv_temperature) or the sums
// (StableMax), and the smoothing sums.
inline void MergeLogitStats(LogitStats* into, const LogitStats& next, Normaliser normaliser, double inv_temperature) {
  if (normaliser == Normaliser::kSoftmax) {
    RowStats a{into->max, kTwoPassEmptyExponent, into->sum, into->nan};
    MergeOnline(&a, RowStats{next.max, kTwoPassEmptyExponent, next.sum, next.nan}, inv_temperature);
    into->max = a.max;
    into->sum = a.sum;
  } else {
    into->sum += next.sum;
  }
  into->nan |= next.nan || std::isnan(next.sum);
  into->weighted += next.weighted;
  into->weight += next.weight;
}

// The constants of one row's gradient map: dx_i = dcap_i (a p_i - b w_i),
// with w_i = 0 for a -inf logit, p_i the row's probability (kSoftmax:
// e^{(v_i - max)/T} * inv_sum; kStableMax: see stablemax-inl.hpp) and dcap_i
// the soft-cap's derivative (1 without one).
struct LogitGradient {
  float max = 0.0f;
  double inv_sum = 0.0;
  float a = 0.0f;
  float b = 0.0f;
};

// The training kernels of one target (training-inl.hpp).
struct TrainingKernels {
  // Reduction over a chunk of (y, dy).
  void (*backward_stats)(const void* y, const void* dy, std::size_t n, const BackwardParams& params,
                         BackwardStats* out);
  // dx over a chunk, given the row's merged dot (softmax: <y, dy>; log: sum dy).
  void (*backward_map)(const void* y, const void* dy, void* dx, std::size_t n, const BackwardParams& params,
                       double dot);
  // Reduction over a chunk of logits; `weights` is the chunk's own (already
  // offset), null without class weights.
  void (*logit_stats)(const void* x, const float* weights, std::size_t n, const LogitParams& params,
                      LogitStats* out);
  // The cross-entropy gradient over a chunk (without the target's one-hot
  // term, which the driver adds).
  void (*logit_gradient)(const void* x, const float* weights, void* dx, std::size_t n, const LogitParams& params,
                         const LogitGradient& row);
  // Forward StableMax over a chunk: y = s(z) / sum (log: log s(z) - log sum),
  // given the row's sum (sink included).
  void (*stablemax_map)(const void* x, void* y, std::size_t n, const LogitParams& params, double sum);
};

}  // namespace detail
}  // namespace softkern

#endif  // SOFTKERN_DETAIL_TRAINING_PARAMS_HPP_
