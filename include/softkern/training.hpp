// softkern/training.hpp — what surrounds softmax in a training step: softmax
// and log-softmax backward, and cross-entropy over large vocabularies with
// its gradient, forward and backward in one call.
//
//   // dx = y * (dy - <y, dy>), the gradient of softmax's input given y and dy
//   softkern::Status s = softkern::softmax_backward(y, dy, dx, n);
//   s = softkern::log_softmax_backward(logp, dlogp, dx, n);   // dx = dy - e^y sum(dy)
//
//   softkern::CrossEntropyTensors t;
//   t.rows = tokens; t.vocab = 128256;
//   t.logits = logits;            // float, softkern::bfloat16 or softkern::float16
//   t.targets = labels;           // const int32_t* or const int64_t*
//   t.loss = &loss;               // the mean over non-ignored rows (as PyTorch)
//   t.grad = logits;              // the gradient, written in place over the logits
//   s = softkern::cross_entropy(t);
//
// Memory traffic per element (out of cache): softmax backward reads y and dy
// twice and writes dx once; log-softmax backward reads dy twice and y once;
// cross-entropy reads the logits once (forward only) or twice and writes the
// gradient once (forward and gradient), with no [rows, vocab] intermediate:
// its extra memory is O(rows). Long rows are cut into chunks of a fixed size
// over the executor, so the results are bit-identical whatever the executor.
//
// Semantics, formulas, accuracy and every difference from PyTorch:
// docs/training.md. Rejected calls return a Status and write nothing.
#ifndef SOFTKERN_TRAINING_HPP_
#define SOFTKERN_TRAINING_HPP_

#include <cstddef>
#include <cstdint>

#include "softkern/dispatch.hpp"
#include "softkern/element_types.hpp"
#include "softkern/executor.hpp"
#include "softkern/softmax.hpp"
#include "softkern/status.hpp"

namespace softkern {

// ----------------------------------------------------------- softmax backward

struct SoftmaxBackwardOptions {
  // The forward's temperature: y = softmax(x / T), so dx carries 1/T.
  // Finite and > 0, in [2^-100, 2^100] like SoftmaxOptions::temperature.
  float temperature = 1.0f;
  // The forward had a sink (SoftmaxOptions::has_sink): its probability
  // p_sink = 1 - sum y (log-softmax: 1 - sum e^y) takes part, and its own
  // gradient, dL/dsink = -p_sink <y, dy> / T (log-softmax: -p_sink sum(dy) / T),
  // is written here, one float per row. dx does not change: the sink has no
  // output, so its term of <y, dy> is 0. Null: no sink gradient. A sink shared
  // by several rows (one per head) gets the sum of its rows' values.
  float* sink_grad = nullptr;
  // Where the work may run (executor.hpp); null: the calling thread.
  Executor* executor = nullptr;
};

// dx = (y / T) * (dy - <y, dy>): the gradient with respect to the logits x of
// a loss L given y = softmax(x / T) and dy = dL/dy. dx may be dy or y (in
// place); any other overlap is rejected.
Status softmax_backward(const float* y, const float* dy, float* dx, std::size_t n,
                        const SoftmaxBackwardOptions& options = {});
Status softmax_backward(const bfloat16* y, const bfloat16* dy, bfloat16* dx, std::size_t n,
                        const SoftmaxBackwardOptions& options = {});
Status softmax_backward(const float16* y, const float16* dy, float16* dx, std::size_t n,
                        const SoftmaxBackwardOptions& options = {});

// The same for `rows` rows of `cols` elements, row r at y + r * y_stride (and
// so on; strides in elements, >= cols). In place needs equal strides.
Status softmax_backward_rows(const float* y, std::size_t y_stride, const float* dy, std::size_t dy_stride, float* dx,
                             std::size_t dx_stride, std::size_t rows, std::size_t cols,
                             const SoftmaxBackwardOptions& options = {});
Status softmax_backward_rows(const bfloat16* y, std::size_t y_stride, const bfloat16* dy, std::size_t dy_stride,
                             bfloat16* dx, std::size_t dx_stride, std::size_t rows, std::size_t cols,
                             const SoftmaxBackwardOptions& options = {});
Status softmax_backward_rows(const float16* y, std::size_t y_stride, const float16* dy, std::size_t dy_stride,
                             float16* dx, std::size_t dx_stride, std::size_t rows, std::size_t cols,
                             const SoftmaxBackwardOptions& options = {});

// dx = (dy - e^y * sum(dy)) / T, given y = log_softmax(x / T) and dy = dL/dy.
// The same shapes, strides, in-place rules and options as softmax_backward.
Status log_softmax_backward(const float* y, const float* dy, float* dx, std::size_t n,
                            const SoftmaxBackwardOptions& options = {});
Status log_softmax_backward(const bfloat16* y, const bfloat16* dy, bfloat16* dx, std::size_t n,
                            const SoftmaxBackwardOptions& options = {});
Status log_softmax_backward(const float16* y, const float16* dy, float16* dx, std::size_t n,
                            const SoftmaxBackwardOptions& options = {});
Status log_softmax_backward_rows(const float* y, std::size_t y_stride, const float* dy, std::size_t dy_stride,
                                 float* dx, std::size_t dx_stride, std::size_t rows, std::size_t cols,
                                 const SoftmaxBackwardOptions& options = {});
Status log_softmax_backward_rows(const bfloat16* y, std::size_t y_stride, const bfloat16* dy,
                                 std::size_t dy_stride, bfloat16* dx, std::size_t dx_stride, std::size_t rows,
                                 std::size_t cols, const SoftmaxBackwardOptions& options = {});
Status log_softmax_backward_rows(const float16* y, std::size_t y_stride, const float16* dy, std::size_t dy_stride,
                                 float16* dx, std::size_t dx_stride, std::size_t rows, std::size_t cols,
                                 const SoftmaxBackwardOptions& options = {});

// -------------------------------------------------------------- cross-entropy

// A row pointer of float32, bfloat16 or float16 elements with the type it was
// given: assign a typed pointer (`t.logits = logits;`); a pointer of any
// other type does not compile.
class LogitsPointer {
 public:
  constexpr LogitsPointer() = default;
  constexpr LogitsPointer(std::nullptr_t) {}
  constexpr LogitsPointer(const float* p) : data_(p), type_(ElementType::kFloat32) {}
  constexpr LogitsPointer(const bfloat16* p) : data_(p), type_(ElementType::kBFloat16) {}
  constexpr LogitsPointer(const float16* p) : data_(p), type_(ElementType::kFloat16) {}
  constexpr const void* data() const { return data_; }
  constexpr ElementType type() const { return type_; }

 private:
  const void* data_ = nullptr;
  ElementType type_ = ElementType::kFloat32;
};

// Where the gradient goes: the same three element types, writable.
class GradientPointer {
 public:
  constexpr GradientPointer() = default;
  constexpr GradientPointer(std::nullptr_t) {}
  constexpr GradientPointer(float* p) : data_(p), type_(ElementType::kFloat32) {}
  constexpr GradientPointer(bfloat16* p) : data_(p), type_(ElementType::kBFloat16) {}
  constexpr GradientPointer(float16* p) : data_(p), type_(ElementType::kFloat16) {}
  constexpr void* data() const { return data_; }
  constexpr ElementType type() const { return type_; }

 private:
  void* data_ = nullptr;
  ElementType type_ = ElementType::kFloat32;
};

// The class index of each row: int32 or int64, as the data loader has them.
class TargetsPointer {
 public:
  constexpr TargetsPointer() = default;
  constexpr TargetsPointer(std::nullptr_t) {}
  constexpr TargetsPointer(const std::int32_t* p) : data_(p), wide_(false) {}
  constexpr TargetsPointer(const std::int64_t* p) : data_(p), wide_(true) {}
  constexpr const void* data() const { return data_; }
  constexpr bool is_int64() const { return wide_; }

 private:
  const void* data_ = nullptr;
  bool wide_ = false;
};

// As PyTorch's `reduction`: kMean divides by the sum of the target weights of
// the non-ignored rows (their count without class weights).
enum class Reduction : int {
  kNone = 0,
  kSum,
  kMean,
};
inline constexpr int kReductionCount = 3;

// "none", "sum", "mean".
const char* reduction_name(Reduction reduction);

struct CrossEntropyTensors {
  std::size_t rows = 0;   // N
  std::size_t vocab = 0;  // V, the classes of each row
  LogitsPointer logits;   // [N, V], row r at logits + r * logits_stride
  std::size_t logits_stride = 0;  // elements; 0: vocab
  TargetsPointer targets;         // N class indices in [0, V), or ignore_index
  // Outputs (each may be null):
  float* loss = nullptr;  // kNone: N floats (0 for ignored rows); kSum, kMean: one float
  // log of the row's normaliser, N floats: the log-sum-exp of z (StableMax:
  // log sum s(z)), z the row's logits after soft-cap and temperature. NaN for
  // ignored rows, which are not read.
  float* lse = nullptr;
  // The gradient of the reduced loss with respect to the logits, scaled by
  // grad_output, [N, V] of the logits' element type; may be the logits
  // themselves (in place, same stride). Null: forward only (one read).
  GradientPointer grad;
  std::size_t grad_stride = 0;  // elements; 0: vocab
  // The upstream gradient, as PyTorch's backward(grad_output): one float for
  // kSum and kMean, N floats for kNone. Null: 1.
  const float* grad_output = nullptr;
};

struct CrossEntropyOptions {
  Reduction reduction = Reduction::kMean;
  // Rows whose target is this value get loss 0 and gradient 0 and are not
  // read. Any other target outside [0, V) is rejected (as PyTorch does).
  std::int64_t ignore_index = -100;
  // PyTorch's label_smoothing, in [0, 1]: loss = (1 - eps) nll + eps/V *
  // sum_c w_c (-log p_c) (docs/training.md for the weights and -inf logits).
  float label_smoothing = 0.0f;
  // PaLM's z-loss coefficient, finite and >= 0: adds z_loss * lse^2 per row
  // (never weighted; kMean averages it over the non-ignored rows).
  float z_loss = 0.0f;
  // Soft-cap (Gemma 2): each logit x becomes softcap * tanh(x / softcap)
  // before the temperature. 0: none; otherwise finite and > 0, with kSoftmax
  // (StableMax grows linearly and needs no cap).
  float softcap = 0.0f;
  // z = capped logit / T, T in [2^-8, 2^8] (a finite range: the temperature
  // is folded into the exponential's constants, docs/training.md).
  float temperature = 1.0f;
  // Optional class weights, V finite floats (PyTorch's `weight`).
  const float* class_weights = nullptr;
  // kSoftmax (p = e^z / sum e^z) or kStableMax (p = s(z) / sum s(z)).
  Normaliser normaliser = Normaliser::kSoftmax;
  Executor* executor = nullptr;
};

// The loss of each row (or their reduction), its lse, and optionally the
// gradient, in one call: one read of the logits without a gradient, two
// reads and one write with it.
Status cross_entropy(const CrossEntropyTensors& tensors, const CrossEntropyOptions& options = {});

}  // namespace softkern

#ifdef SOFTKERN_IMPLEMENTATION
#include "softkern/detail/implementation.hpp"
#endif

#endif  // SOFTKERN_TRAINING_HPP_
