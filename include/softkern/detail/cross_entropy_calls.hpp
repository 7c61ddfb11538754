// softkern/detail/cross_entropy_calls.hpp — the public cross_entropy of
// training.hpp: every option, pointer, stride, overlap and target is checked
// before anything is written; then the rows run as CrossEntropyJob
// (cross_entropy_impl.hpp) and the reduction is made in double, rows in
// order (the same bits whatever the executor). Part of the one expansion
// (implementation.hpp), after softmax_calls.hpp, whose temperature check it
// shares.
#ifndef SOFTKERN_DETAIL_CROSS_ENTROPY_CALLS_HPP_
#define SOFTKERN_DETAIL_CROSS_ENTROPY_CALLS_HPP_

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "softkern/detail/chunked_rows.hpp"
#include "softkern/detail/cross_entropy_impl.hpp"
#include "softkern/detail/dispatcher.hpp"
#include "softkern/detail/extents.hpp"
#include "softkern/detail/fp_env.hpp"
#include "softkern/detail/known_enum.hpp"
#include "softkern/detail/softmax_calls.hpp"
#include "softkern/training.hpp"

namespace softkern {
namespace detail {
namespace {

Status CheckCrossEntropyOptions(const CrossEntropyOptions& o, std::size_t vocab, CrossEntropyCall* call) {
  if (!IsKnown(o.reduction, kReductionCount))
    return Status(StatusCode::kBadArgument, "cross_entropy: unknown Reduction");
  if (!IsKnown(o.normaliser, kNormaliserCount)) {
    return Status(StatusCode::kBadArgument, "cross_entropy: unknown Normaliser");
  }
  SoftmaxOptions forward;
  forward.temperature = o.temperature;
  // Only the temperature's constants are used: no kernel table is needed.
  if (Status s = MakeRowParams(forward, vocab, nullptr, &call->params.exp); !s.ok()) return s;
  if (!(o.temperature >= 0x1p-8f && o.temperature <= 0x1p8f)) {
    return Status(StatusCode::kBadTemperature, "cross_entropy: temperature must be in [2^-8, 2^8] (1/256 to 256)");
  }
  if (!(o.label_smoothing >= 0.0f && o.label_smoothing <= 1.0f)) {
    return Status(StatusCode::kBadArgument, "cross_entropy: label_smoothing must be in [0, 1]");
  }
  if (!(o.z_loss >= 0.0f) || !std::isfinite(o.z_loss)) {
    return Status(StatusCode::kBadArgument, "cross_entropy: z_loss must be finite and >= 0");
  }
  if (!(o.softcap >= 0.0f) || !std::isfinite(o.softcap)) {
    return Status(StatusCode::kBadArgument, "cross_entropy: softcap must be finite and > 0 (0: none)");
  }
  if (o.softcap != 0.0f && o.normaliser == Normaliser::kStableMax) {
    return Status(StatusCode::kBadArgument, "cross_entropy: softcap applies to Normaliser::kSoftmax only");
  }
  if (o.class_weights != nullptr) {
    for (std::size_t c = 0; c < vocab; ++c) {
      if (!std::isfinite(o.class_weights[c])) {
        return Status(StatusCode::kBadArgument, "cross_entropy: class_weights holds a NaN or an infinity");
      }
    }
  }
  LogitParams& p = call->params;
  p.normaliser = o.normaliser;
  p.softcap = o.softcap;
  p.inv_softcap = o.softcap != 0.0f ? static_cast<float>(1.0 / o.softcap) : 0.0f;
  p.smoothing = o.label_smoothing != 0.0f;
  p.weights = o.class_weights;
  call->reduction = o.reduction;
  call->ignore_index = o.ignore_index;
  call->eps = o.label_smoothing;
  call->z_loss = o.z_loss;
  call->softcap = o.softcap;
  call->inv_temperature = p.exp.inv_temperature_f64;
  return Status::Ok();
}

// Extents, overlaps and targets; fills the tensor fields of *call and the
// mean's denominators.
Status CheckCrossEntropyTensors(const CrossEntropyTensors& t, const CrossEntropyOptions& o, CrossEntropyCall* call) {
  const std::size_t N = t.rows, V = t.vocab;
  const bool has_grad = t.grad.data() != nullptr;
  const std::size_t logits_stride = t.logits_stride != 0 ? t.logits_stride : V;
  const std::size_t grad_stride = t.grad_stride != 0 ? t.grad_stride : V;
  if (N > 0 && t.targets.data() == nullptr) return Status(StatusCode::kNullPointer, "cross_entropy: targets is null");
  if (N > 0 && V > 0 && t.logits.data() == nullptr)
    return Status(StatusCode::kNullPointer, "cross_entropy: logits is null");
  if (logits_stride < V || grad_stride < V) {
    return Status(StatusCode::kBadStride, "cross_entropy: a row stride is smaller than vocab");
  }
  if (has_grad && t.grad.type() != t.logits.type()) {
    return Status(StatusCode::kBadArgument, "cross_entropy: grad must have the logits' element type");
  }
  const bool in_place = has_grad && t.grad.data() == t.logits.data();
  if (in_place && grad_stride != logits_stride) {
    return Status(StatusCode::kOverlap, "cross_entropy: in place (grad == logits) needs equal strides");
  }
  const std::size_t loss_count = o.reduction == Reduction::kNone ? N : 1;
  const std::size_t grad_output_count = o.reduction == Reduction::kNone ? N : 1;
  const std::size_t bytes = element_bytes(t.logits.type());
  const std::size_t rows[1] = {N}, one_row[1] = {1}, ls[1] = {logits_stride}, gs[1] = {grad_stride}, unit[1] = {1};
  Extent logits, grad, targets, weights, grad_output, loss, lse;
  const bool fits = (V == 0 || (TensorExtent(t.logits.data(), rows, ls, 1, V, bytes, &logits) &&
                                (!has_grad || TensorExtent(t.grad.data(), rows, gs, 1, V, bytes, &grad)))) &&
                    TensorExtent(t.targets.data(), rows, unit, 1, 1, t.targets.is_int64() ? 8 : 4, &targets) &&
                    (o.class_weights == nullptr || V == 0 ||
                     TensorExtent(o.class_weights, one_row, unit, 1, V, sizeof(float), &weights)) &&
                    (t.grad_output == nullptr || !has_grad || grad_output_count == 0 ||
                     TensorExtent(t.grad_output, one_row, unit, 1, grad_output_count, sizeof(float), &grad_output)) &&
                    (t.loss == nullptr || loss_count == 0 ||
                     TensorExtent(t.loss, one_row, unit, 1, loss_count, sizeof(float), &loss)) &&
                    (t.lse == nullptr || TensorExtent(t.lse, rows, unit, 1, 1, sizeof(float), &lse));
  if (!fits) return Status(StatusCode::kBadStride, "cross_entropy: a tensor's extent exceeds PTRDIFF_MAX bytes");
  // Outputs overlap no input (but grad may be the logits, in place) and no
  // other output.
  const Extent inputs[4] = {in_place ? Extent{} : logits, targets, weights, grad_output};
  const Extent outputs[3] = {grad, loss, lse};
  for (int a = 0; a < 3; ++a) {
    for (const Extent& in : inputs) {
      if (Overlaps(outputs[a], in)) return Status(StatusCode::kOverlap, "cross_entropy: an output overlaps an input");
    }
    for (int b = a + 1; b < 3; ++b) {
      if (Overlaps(outputs[a], outputs[b])) return Status(StatusCode::kOverlap, "cross_entropy: two outputs overlap");
    }
  }
  if (in_place && (Overlaps(loss, logits) || Overlaps(lse, logits))) {
    return Status(StatusCode::kOverlap, "cross_entropy: an output overlaps an input");
  }
  // Targets, and the mean's denominators (in row order, in double).
  double weight_sum = 0.0, count = 0.0;
  for (std::size_t r = 0; r < N; ++r) {
    const std::int64_t target = TargetAt(t.targets.data(), t.targets.is_int64(), r);
    if (target == o.ignore_index) continue;
    if (target < 0 || static_cast<std::uint64_t>(target) >= V) {
      return Status(StatusCode::kBadArgument, "cross_entropy: a target is outside [0, vocab) and not ignore_index");
    }
    weight_sum += o.class_weights != nullptr ? o.class_weights[target] : 1.0;
    count += 1.0;
  }
  const bool mean = o.reduction == Reduction::kMean;
  call->weight_sum = weight_sum;
  call->count = count;
  call->ce_scale = !mean ? 1.0 : weight_sum != 0.0 ? 1.0 / weight_sum : 0.0;
  call->z_scale = !mean ? 1.0 : count != 0.0 ? 1.0 / count : 0.0;
  call->params.element = t.logits.type();
  call->logits = MatrixRows(t.logits.data(), logits_stride, V, t.logits.type());
  call->grad = MatrixRows(t.grad.data(), grad_stride, V, t.logits.type());
  call->has_grad = has_grad;
  call->targets = t.targets.data();
  call->targets_int64 = t.targets.is_int64();
  call->lse = t.lse;
  call->grad_output = has_grad ? t.grad_output : nullptr;  // read only for the gradient
  return Status::Ok();
}

}  // namespace
}  // namespace detail

const char* reduction_name(Reduction reduction) {
  switch (reduction) {
    case Reduction::kNone:
      return "none";
    case Reduction::kSum:
      return "sum";
    case Reduction::kMean:
      return "mean";
  }
  return "unknown";
}

Status cross_entropy(const CrossEntropyTensors& t, const CrossEntropyOptions& options) {
  const detail::ScopedDefaultFpEnv fp_env;
  detail::CrossEntropyCall call{};
  if (Status s = detail::CheckCrossEntropyOptions(options, t.vocab, &call); !s.ok()) return s;
  if (Status s = detail::CheckCrossEntropyTensors(t, options, &call); !s.ok()) return s;
  Status status;
  call.table = detail::ActiveTable(&status);
  if (call.table == nullptr) return status;
  // Per-row losses when rows finish out of order (an executor); otherwise
  // running sums, rows in order: the same additions either way.
  const bool reduced = options.reduction != Reduction::kNone;
  const bool in_order = detail::SpreadOf(options.executor, t.rows, t.vocab) == detail::RowSpread::kSequential;
  std::vector<double> row_losses(reduced && t.loss != nullptr && !in_order ? 2 * t.rows : 0);
  double running[2] = {0.0, 0.0};
  const detail::CrossEntropyJob job{&call, reduced ? nullptr : t.loss, row_losses.empty() ? nullptr : row_losses.data(),
                                    reduced && t.loss != nullptr && in_order ? running : nullptr};
  if (t.vocab == 0) {
    // Every target is ignore_index (checked): nothing to read.
    for (std::size_t r = 0; r < t.rows; ++r) job.Post(r, job.Finish(r, detail::LogitStats()));
  } else {
    detail::RunChunkedRows(options.executor, t.rows, t.vocab, job);
  }
  if (!reduced || t.loss == nullptr) return Status::Ok();
  for (std::size_t r = 0; r < row_losses.size() / 2; ++r) {
    running[0] += row_losses[2 * r];
    running[1] += row_losses[2 * r + 1];
  }
  // kMean: ce over the target weights' sum, the z-loss over the count; a
  // mean over nothing is 0.
  const bool mean = options.reduction == Reduction::kMean;
  const double ce = !mean ? running[0] : call.weight_sum != 0.0 ? running[0] / call.weight_sum : 0.0;
  const double zl = !mean ? running[1] : call.count != 0.0 ? running[1] / call.count : 0.0;
  *t.loss = static_cast<float>(ce + zl);
  return Status::Ok();
}

}  // namespace softkern

#endif  // SOFTKERN_DETAIL_CROSS_ENTROPY_CALLS_HPP_
