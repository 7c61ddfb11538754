// softkern/detail/training_impl.hpp — the softmax and log-softmax backward
// functions of training.hpp: every argument is checked before anything is
// written, then the rows go to RunChunkedRows (chunked_rows.hpp) on the
// active target's TrainingKernels. Part of the one expansion
// (implementation.hpp), after softmax_calls.hpp, whose temperature check it
// shares.
#ifndef SOFTKERN_DETAIL_TRAINING_IMPL_HPP_
#define SOFTKERN_DETAIL_TRAINING_IMPL_HPP_

#include <cstddef>

#include "softkern/detail/chunked_rows.hpp"
#include "softkern/detail/dispatcher.hpp"
#include "softkern/detail/extents.hpp"
#include "softkern/detail/fp_env.hpp"
#include "softkern/detail/kernel_table.hpp"
#include "softkern/detail/softmax_calls.hpp"
#include "softkern/detail/training_params.hpp"
#include "softkern/training.hpp"

namespace softkern {
namespace detail {
namespace {

// Softmax / log-softmax backward over rows: the reduction (D, and the
// probabilities' sum for the sink), the map, the sink's gradient.
struct BackwardJob {
  using Stats = BackwardStats;
  using Row = BackwardStats;
  const KernelTable* table;
  BackwardParams params;
  MatrixRows y, dy, dx;
  float* sink_grad;
  double inv_temperature;

  Stats ChunkStats(std::size_t r, std::size_t begin, std::size_t size) const {
    Stats s;
    table->training.backward_stats(y.At(r, begin), dy.At(r, begin), size, params, &s);
    return s;
  }
  void Merge(Stats* into, const Stats& next) const {
    into->dot += next.dot;
    into->mass += next.mass;
  }
  Row Finish(std::size_t, const Stats& merged) const { return merged; }
  void ChunkMap(std::size_t r, std::size_t begin, std::size_t size, const Row& row) const {
    table->training.backward_map(y.At(r, begin), dy.At(r, begin), dx.At(r, begin), size, params, row.dot);
  }
  // dL/dsink = -p_sink D / T, p_sink = 1 - (the probabilities' sum).
  void Post(std::size_t r, const Row& row) const {
    if (sink_grad != nullptr) sink_grad[r] = static_cast<float>(-(1.0 - row.mass) * row.dot * inv_temperature);
  }
};

Status SoftmaxBackwardRows(const void* y, std::size_t y_stride, const void* dy, std::size_t dy_stride, void* dx,
                           std::size_t dx_stride, std::size_t rows, std::size_t cols, ElementType type, bool log,
                           const SoftmaxBackwardOptions& options) {
  const ScopedDefaultFpEnv fp_env;
  SoftmaxOptions forward;
  forward.temperature = options.temperature;
  RowParams temperature;
  // Only the temperature's constants are used: no kernel table is needed.
  if (Status s = MakeRowParams(forward, cols, nullptr, &temperature); !s.ok()) return s;
  if (rows == 0 || cols == 0) return Status::Ok();
  if (y == nullptr || dy == nullptr || dx == nullptr) {
    return Status(StatusCode::kNullPointer, "softmax_backward: y, dy or dx is null with rows * cols > 0");
  }
  if (y_stride < cols || dy_stride < cols || dx_stride < cols) {
    return Status(StatusCode::kBadStride, "softmax_backward: a row stride is smaller than the row length");
  }
  const std::size_t bytes = element_bytes(type);
  const std::size_t sizes[1] = {rows};
  Extent ey, edy, edx, esink;
  const std::size_t ys[1] = {y_stride}, dys[1] = {dy_stride}, dxs[1] = {dx_stride}, one[1] = {1};
  if (!TensorExtent(y, sizes, ys, 1, cols, bytes, &ey) || !TensorExtent(dy, sizes, dys, 1, cols, bytes, &edy) ||
      !TensorExtent(dx, sizes, dxs, 1, cols, bytes, &edx) ||
      (options.sink_grad != nullptr && !TensorExtent(options.sink_grad, sizes, one, 1, 1, sizeof(float), &esink))) {
    return Status(StatusCode::kBadStride,
                  "softmax_backward: ((rows - 1) * stride + cols) * sizeof(element) exceeds PTRDIFF_MAX bytes");
  }
  // dx may be y or dy themselves (same stride): each element is read before
  // it is written. Any other overlap with an input is rejected.
  const auto same_rows = [&](const void* p, std::size_t stride) { return p == dx && stride == dx_stride; };
  if ((!same_rows(y, y_stride) && Overlaps(edx, ey)) || (!same_rows(dy, dy_stride) && Overlaps(edx, edy))) {
    return Status(StatusCode::kOverlap,
                  "softmax_backward: dx overlaps y or dy without being the same buffer with the same stride");
  }
  if (options.sink_grad != nullptr && (Overlaps(esink, ey) || Overlaps(esink, edy) || Overlaps(esink, edx))) {
    return Status(StatusCode::kOverlap, "softmax_backward: sink_grad overlaps y, dy or dx");
  }
  Status status;
  const KernelTable* table = ActiveTable(&status);
  if (table == nullptr) return status;
  BackwardParams params;
  params.element = type;
  params.log = log;
  params.mass = options.sink_grad != nullptr;
  params.inv_temperature = temperature.inv_temperature;
  const BackwardJob job{table,
                        params,
                        MatrixRows(y, y_stride, cols, type),
                        MatrixRows(dy, dy_stride, cols, type),
                        MatrixRows(dx, dx_stride, cols, type),
                        options.sink_grad,
                        temperature.inv_temperature_f64};
  RunChunkedRows(options.executor, rows, cols, job);
  return Status::Ok();
}

}  // namespace
}  // namespace detail

Status softmax_backward(const float* y, const float* dy, float* dx, std::size_t n,
                        const SoftmaxBackwardOptions& options) {
  return detail::SoftmaxBackwardRows(y, n, dy, n, dx, n, 1, n, ElementType::kFloat32, false, options);
}
Status softmax_backward_rows(const float* y, std::size_t y_stride, const float* dy, std::size_t dy_stride, float* dx,
                             std::size_t dx_stride, std::size_t rows, std::size_t cols,
                             const SoftmaxBackwardOptions& options) {
  return detail::SoftmaxBackwardRows(y, y_stride, dy, dy_stride, dx, dx_stride, rows, cols, ElementType::kFloat32,
                                     false, options);
}

Status log_softmax_backward(const float* y, const float* dy, float* dx, std::size_t n,
                            const SoftmaxBackwardOptions& options) {
  return detail::SoftmaxBackwardRows(y, n, dy, n, dx, n, 1, n, ElementType::kFloat32, true, options);
}
Status log_softmax_backward_rows(const float* y, std::size_t y_stride, const float* dy, std::size_t dy_stride,
                                 float* dx, std::size_t dx_stride, std::size_t rows, std::size_t cols,
                                 const SoftmaxBackwardOptions& options) {
  return detail::SoftmaxBackwardRows(y, y_stride, dy, dy_stride, dx, dx_stride, rows, cols, ElementType::kFloat32, true,
                                     options);
}

Status softmax_backward(const bfloat16* y, const bfloat16* dy, bfloat16* dx, std::size_t n,
                        const SoftmaxBackwardOptions& options) {
  return detail::SoftmaxBackwardRows(y, n, dy, n, dx, n, 1, n, ElementType::kBFloat16, false, options);
}
Status softmax_backward_rows(const bfloat16* y, std::size_t y_stride, const bfloat16* dy, std::size_t dy_stride,
                             bfloat16* dx, std::size_t dx_stride, std::size_t rows, std::size_t cols,
                             const SoftmaxBackwardOptions& options) {
  return detail::SoftmaxBackwardRows(y, y_stride, dy, dy_stride, dx, dx_stride, rows, cols, ElementType::kBFloat16,
                                     false, options);
}

Status log_softmax_backward(const bfloat16* y, const bfloat16* dy, bfloat16* dx, std::size_t n,
                            const SoftmaxBackwardOptions& options) {
  return detail::SoftmaxBackwardRows(y, n, dy, n, dx, n, 1, n, ElementType::kBFloat16, true, options);
}
Status log_softmax_backward_rows(const bfloat16* y, std::size_t y_stride, const bfloat16* dy, std::size_t dy_stride,
                                 bfloat16* dx, std::size_t dx_stride, std::size_t rows, std::size_t cols,
                                 const SoftmaxBackwardOptions& options) {
  return detail::SoftmaxBackwardRows(y, y_stride, dy, dy_stride, dx, dx_stride, rows, cols, ElementType::kBFloat16,
                                     true, options);
}

Status softmax_backward(const float16* y, const float16* dy, float16* dx, std::size_t n,
                        const SoftmaxBackwardOptions& options) {
  return detail::SoftmaxBackwardRows(y, n, dy, n, dx, n, 1, n, ElementType::kFloat16, false, options);
}
Status softmax_backward_rows(const float16* y, std::size_t y_stride, const float16* dy, std::size_t dy_stride,
                             float16* dx, std::size_t dx_stride, std::size_t rows, std::size_t cols,
                             const SoftmaxBackwardOptions& options) {
  return detail::SoftmaxBackwardRows(y, y_stride, dy, dy_stride, dx, dx_stride, rows, cols, ElementType::kFloat16,
                                     false, options);
}

Status log_softmax_backward(const float16* y, const float16* dy, float16* dx, std::size_t n,
                            const SoftmaxBackwardOptions& options) {
  return detail::SoftmaxBackwardRows(y, n, dy, n, dx, n, 1, n, ElementType::kFloat16, true, options);
}
Status log_softmax_backward_rows(const float16* y, std::size_t y_stride, const float16* dy, std::size_t dy_stride,
                                 float16* dx, std::size_t dx_stride, std::size_t rows, std::size_t cols,
                                 const SoftmaxBackwardOptions& options) {
  return detail::SoftmaxBackwardRows(y, y_stride, dy, dy_stride, dx, dx_stride, rows, cols, ElementType::kFloat16, true,
                                     options);
}

}  // namespace softkern

#endif  // SOFTKERN_DETAIL_TRAINING_IMPL_HPP_
