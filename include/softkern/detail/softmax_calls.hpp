// softkern/detail/softmax_calls.hpp — the public functions of softmax.hpp:
// every argument is checked (options, pointers, sizes, strides, overlap)
// before anything is written, then the rows go to the row driver
// (row_driver.hpp) on the active target's kernels (dispatcher.hpp). Part of
// the one expansion (implementation.hpp).
#ifndef SOFTKERN_DETAIL_SOFTMAX_CALLS_HPP_
#define SOFTKERN_DETAIL_SOFTMAX_CALLS_HPP_

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "softkern/detail/algorithm_choice.hpp"
#include "softkern/detail/dispatcher.hpp"
#include "softkern/detail/fp_env.hpp"
#include "softkern/detail/kernel_table.hpp"
#include "softkern/detail/known_enum.hpp"
#include "softkern/detail/row_driver.hpp"
#include "softkern/detail/stablemax_rows.hpp"
#include "softkern/detail/testing.hpp"
#include "softkern/softmax.hpp"
#include "softkern/status.hpp"

namespace softkern {
namespace detail {
namespace {

// [a, a + a_bytes) and [b, b + b_bytes) share a byte.
bool RangesOverlap(const void* a, std::size_t a_bytes, const void* b, std::size_t b_bytes) {
  const auto a0 = reinterpret_cast<std::uintptr_t>(a), b0 = reinterpret_cast<std::uintptr_t>(b);
  return a0 < b0 + b_bytes && b0 < a0 + a_bytes;
}

// `table`: the call's target, looked up once by the caller (null for a bad
// SOFTKERN_ISA, reported after the other checks, as before any lookup).
Status MakeRowParams(const SoftmaxOptions& options, std::size_t n, const KernelTable* table, RowParams* params) {
  const float t = options.temperature;
  if (!(t > 0.0f) || !std::isfinite(t)) {
    return Status(StatusCode::kBadTemperature, "temperature must be finite and > 0");
  }
  const double inv_t = t == 1.0f ? 1.0 : 1.0 / static_cast<double>(t);
  // [2^-100, 2^100]: 1/T is a normal float, and an entry whose difference
  // from the maximum overflows float (|x - M| > FLT_MAX ~ 2^128) has
  // (x - M) / T < -2^28, whose exponential is exactly 0 anyway, so no
  // algorithm loses anything by forming x - M in float.
  if (!(t >= 0x1p-100f && t <= 0x1p100f)) {
    return Status(StatusCode::kBadTemperature, "temperature must be in [2^-100, 2^100] (7.9e-31 to 1.3e30)");
  }
  if (!IsKnown(options.algorithm, kAlgorithmCount)) {
    return Status(StatusCode::kBadArgument, "unknown softmax algorithm");
  }
  if (!IsKnown(options.normaliser, kNormaliserCount)) {
    return Status(StatusCode::kBadArgument, "unknown softmax normaliser");
  }
  params->algorithm = options.algorithm == Algorithm::kAuto ? AutoAlgorithmFor(table, n) : options.algorithm;
  params->inv_temperature = static_cast<float>(inv_t);
  params->inv_temperature_lo = static_cast<float>(inv_t - static_cast<double>(params->inv_temperature));
  params->inv_temperature_f64 = inv_t;
  params->unit_temperature = t == 1.0f;
  params->log = options.log;
  params->has_sink = options.has_sink;
  params->sink = options.sink;
  if (!IsKnown(options.streaming, kStreamingStoresCount)) {
    return Status(StatusCode::kBadArgument, "unknown StreamingStores value");
  }
  params->stream = StreamsFor(table, n, options.streaming);
  return Status::Ok();
}

// Every public entry point sets the IEEE defaults for the whole call
// (ScopedDefaultFpEnv; 1/T is rounded in them too). Reading MXCSR (STMXCSR)
// is the one way to learn whether the caller unmasked an exception, which
// any kernel would then raise (inexact, underflow), so it is read on every
// call; it overlaps with the argument checks.
Status SoftmaxRow(const void* x, void* y, std::size_t n, ElementType type, const SoftmaxOptions& options) {
  const ScopedDefaultFpEnv fp_env;
  // Rows are float32, bfloat16 or float16: quantized K/V codes never reach
  // the softmax kernels.
  if (is_quantized(type)) return Status(StatusCode::kBadArgument, "softmax: rows are float32, bfloat16 or float16");
  Status table_status;
  const KernelTable* table = ActiveTable(&table_status);
  RowParams params;
  if (Status s = MakeRowParams(options, n, table, &params); !s.ok()) return s;
  params.element = type;
  if (type != ElementType::kFloat32) params.stream = false;
  if (n == 0) return Status::Ok();
  if (x == nullptr || y == nullptr) return Status(StatusCode::kNullPointer, "softmax: x or y is null with n > 0");
  const std::size_t bytes = element_bytes(type);
  const std::size_t max_elements = static_cast<std::size_t>(PTRDIFF_MAX) / bytes;
  if (n > max_elements) {
    return Status(StatusCode::kBadStride, "softmax: n * sizeof(element) exceeds PTRDIFF_MAX bytes");
  }
  if (x != y && RangesOverlap(x, n * bytes, y, n * bytes)) {
    return Status(StatusCode::kOverlap, "softmax: x and y overlap without being the same buffer");
  }
  if (table == nullptr) return table_status;
  params.prefetch = PrefetchesFor(n * bytes * (x == y ? 1 : 2));
  if (options.normaliser == Normaliser::kStableMax) {
    RunStableMaxRows(table, x, n, y, n, 1, n, params, options.executor);
  } else {
    RunRow(table, x, y, n, params, options.executor);
  }
  return Status::Ok();
}

Status SoftmaxRows(const void* x, std::size_t x_stride, void* y, std::size_t y_stride, std::size_t rows,
                   std::size_t cols, ElementType type, const SoftmaxOptions& options) {
  const ScopedDefaultFpEnv fp_env;
  if (is_quantized(type)) return Status(StatusCode::kBadArgument, "softmax_rows: rows are float32, bfloat16 or float16");
  Status table_status;
  const KernelTable* table = ActiveTable(&table_status);
  RowParams params;
  if (Status s = MakeRowParams(options, cols, table, &params); !s.ok()) return s;
  params.element = type;
  if (type != ElementType::kFloat32) params.stream = false;
  if (rows == 0 || cols == 0) return Status::Ok();
  if (x == nullptr || y == nullptr) {
    return Status(StatusCode::kNullPointer, "softmax_rows: x or y is null with rows * cols > 0");
  }
  if (x_stride < cols || y_stride < cols) {
    return Status(StatusCode::kBadStride, "softmax_rows: a row stride is smaller than the row length");
  }
  // Extent of each matrix in elements: (rows - 1) * stride + cols, overflow-checked.
  const std::size_t bytes = element_bytes(type);
  const std::size_t max_elements = static_cast<std::size_t>(PTRDIFF_MAX) / bytes;
  if (cols > max_elements) {
    return Status(StatusCode::kBadStride, "softmax_rows: cols * sizeof(element) exceeds PTRDIFF_MAX bytes");
  }
  const std::size_t max_rows_x = (max_elements - cols) / x_stride;
  const std::size_t max_rows_y = (max_elements - cols) / y_stride;
  if (rows - 1 > max_rows_x || rows - 1 > max_rows_y) {
    return Status(StatusCode::kBadStride,
                  "softmax_rows: ((rows - 1) * stride + cols) * sizeof(element) exceeds PTRDIFF_MAX bytes");
  }
  const std::size_t x_extent = (rows - 1) * x_stride + cols;
  const std::size_t y_extent = (rows - 1) * y_stride + cols;
  if (x == y) {
    if (x_stride != y_stride) {
      return Status(StatusCode::kOverlap, "softmax_rows: in place needs equal input and output strides");
    }
  } else if (RangesOverlap(x, x_extent * bytes, y, y_extent * bytes)) {
    return Status(StatusCode::kOverlap, "softmax_rows: x and y overlap without being the same buffer");
  }
  if (table == nullptr) return table_status;
  // The rows' own elements, not the strides' gaps: what the passes touch.
  params.prefetch = PrefetchesFor(rows * cols * bytes * (x == y ? 1 : 2));
  if (options.normaliser == Normaliser::kStableMax) {
    RunStableMaxRows(table, x, x_stride, y, y_stride, rows, cols, params, options.executor);
  } else {
    RunRows(table, x, x_stride, y, y_stride, rows, cols, params, options.executor);
  }
  return Status::Ok();
}

}  // namespace
}  // namespace detail

Status softmax(const float* x, float* y, std::size_t n, const SoftmaxOptions& options) {
  return detail::SoftmaxRow(x, y, n, ElementType::kFloat32, options);
}
Status softmax(const bfloat16* x, bfloat16* y, std::size_t n, const SoftmaxOptions& options) {
  return detail::SoftmaxRow(x, y, n, ElementType::kBFloat16, options);
}
Status softmax(const float16* x, float16* y, std::size_t n, const SoftmaxOptions& options) {
  return detail::SoftmaxRow(x, y, n, ElementType::kFloat16, options);
}

Status softmax_rows(const float* x, std::size_t x_stride, float* y, std::size_t y_stride, std::size_t rows,
                    std::size_t cols, const SoftmaxOptions& options) {
  return detail::SoftmaxRows(x, x_stride, y, y_stride, rows, cols, ElementType::kFloat32, options);
}
Status softmax_rows(const bfloat16* x, std::size_t x_stride, bfloat16* y, std::size_t y_stride, std::size_t rows,
                    std::size_t cols, const SoftmaxOptions& options) {
  return detail::SoftmaxRows(x, x_stride, y, y_stride, rows, cols, ElementType::kBFloat16, options);
}
Status softmax_rows(const float16* x, std::size_t x_stride, float16* y, std::size_t y_stride, std::size_t rows,
                    std::size_t cols, const SoftmaxOptions& options) {
  return detail::SoftmaxRows(x, x_stride, y, y_stride, rows, cols, ElementType::kFloat16, options);
}

namespace detail {
double softmax_pass_for_testing(SoftmaxPass pass, const float* x, float* y, std::size_t n, float max, double sum,
                                double exponent, double* exponent_out) {
  Status status;
  const KernelTable* table = ActiveTable(&status);
  if (table == nullptr) table = GetDispatcher().best;
  const ScopedDefaultFpEnv fp_env;
  RowParams params;
  params.prefetch = PrefetchesFor(n * sizeof(float) * (x == y ? 1 : 2));
  RowStats totals;
  totals.max = max;
  totals.sum = sum;
  totals.exponent = exponent;
  RowStats out;
  switch (pass) {
    case SoftmaxPass::kMax:
      table->softmax.chunk_stats(x, y, n, params, ReducePass::kStats, 0.0f, &out);
      return out.max;
    case SoftmaxPass::kSum:
    case SoftmaxPass::kSumAndStore:
      params.algorithm =
          pass == SoftmaxPass::kSum ? Algorithm::kThreePassRecompute : Algorithm::kThreePassReload;
      table->softmax.chunk_stats(x, y, n, params, ReducePass::kSumGivenMax, max, &out);
      return out.sum;
    case SoftmaxPass::kTwoPassSum:
      params.algorithm = Algorithm::kTwoPass;
      table->softmax.chunk_stats(x, y, n, params, ReducePass::kStats, 0.0f, &out);
      if (exponent_out != nullptr) *exponent_out = out.exponent;
      return out.sum;
    case SoftmaxPass::kMapExp:
      params.algorithm = Algorithm::kThreePassRecompute;
      break;
    case SoftmaxPass::kMapScale:
      params.algorithm = Algorithm::kThreePassReload;
      break;
    case SoftmaxPass::kTwoPassMap:
      params.algorithm = Algorithm::kTwoPass;
      break;
  }
  table->softmax.chunk_map(x, y, n, params, totals);
  return 0.0;
}

void exp_for_testing(const float* x, float* y, std::size_t n) {
  Status status;
  const KernelTable* table = ActiveTable(&status);
  if (table == nullptr) table = GetDispatcher().best;
  const ScopedDefaultFpEnv fp_env;
  table->softmax.exp_array(x, y, n);
}
}  // namespace detail

}  // namespace softkern

#endif  // SOFTKERN_DETAIL_SOFTMAX_CALLS_HPP_
