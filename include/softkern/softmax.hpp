// softkern/softmax.hpp — softmax over rows of float32, bfloat16 or float16.
//
//   float x[5] = {1, 2, 3, 4, 5}, y[5];
//   softkern::Status s = softkern::softmax(x, y, 5);
//   if (!s.ok()) std::fprintf(stderr, "%s\n", s.message());
//   s = softkern::softmax(x, y, 5, {.temperature = 0.5f, .log = true});  // C++20
//
// Options are a plain aggregate: `{}`, designated initializers (C++20, in
// declaration order) or a named SoftmaxOptions all work.
//
// Semantics (identical for every algorithm and every target):
//  - n == 0 is a no-op. x == y (in place) is allowed; any other overlap is rejected.
//  - A -inf entry gets weight exactly 0. A row that is entirely -inf (a fully
//    masked row) gives all zeros (log-softmax: all -inf), not NaN.
//  - A NaN anywhere in the row (or a NaN sink) makes the whole row NaN.
//  - +inf entries share the mass equally and every other entry gets 0.
//  - Rejected calls write nothing and return a Status that says why.
#ifndef SOFTKERN_SOFTMAX_HPP_
#define SOFTKERN_SOFTMAX_HPP_

#include <cstddef>

#include "softkern/dispatch.hpp"
#include "softkern/element_types.hpp"
#include "softkern/executor.hpp"
#include "softkern/status.hpp"

namespace softkern {

enum class Algorithm : int {
  // Picks per row length: three-pass reload while the row is within four
  // times the per-core L2 (32 KiB on the scalar target), two-pass beyond
  // (the measured crossover: docs/algorithms.md).
  kAuto = 0,
  // max(x); s = sum exp(x - max); y = exp(x - max) / s.  3 reads + 1 write.
  kThreePassRecompute,
  // max(x); y = exp(x - max), s += y; y *= 1/s.  3 reads + 2 writes.
  kThreePassReload,
  // Dukhan & Ablavatski 2020: sum exp(x) as (mantissa, exponent) pairs, no
  // max pass; y = exp(x) scaled by the inverse pair.  2 reads + 1 write.
  // Rows with a non-finite value or a largest |x/T| beyond about 2839 (where
  // the float range reduction would lose accuracy) read x once more and
  // finish as three-pass recompute (same bound, same semantics).
  kTwoPass,
  // Milakov & Gimelshein 2018: running max and rescaled running sum in one
  // pass; y = exp(x - max) / s.  2 reads + 1 write.
  kOnline,
};
inline constexpr int kAlgorithmCount = 5;

// "auto", "three_pass_recompute", "three_pass_reload", "two_pass", "online".
const char* algorithm_name(Algorithm algorithm);

// How the final pass writes y when it is not in place. Non-temporal
// (streaming) stores skip the read of y's cache lines before they are written
// (a third of the final pass's traffic for a row that does not fit in cache)
// and leave y out of the cache. In place (x == y) they save nothing, and the
// final pass uses plain stores whatever this says.
enum class StreamingStores : int {
  // Stream when the row is at least streaming_threshold_bytes() and the
  // target's vectors are whole 64-byte cache lines (AVX-512, SVE-512): with
  // 32-byte stores the write-combining buffers were measured to make AVX2
  // slower, not faster (docs/algorithms.md, "Streaming stores").
  kAuto = 0,
  kNever,   // y stays in cache (you read it right after)
  kAlways,  // stream on every target (with aligned-down head and tail stores)
};
inline constexpr int kStreamingStoresCount = 3;

// What turns a row of logits into probabilities. Not an Algorithm: the
// algorithms are ways of computing the same exponential softmax, this is a
// different function (its passes are its own: one sum, one map, 2 reads + 1
// write, and SoftmaxOptions::algorithm does not apply).
enum class Normaliser : int {
  // p_i = e^{z_i} / sum_j e^{z_j}, z = x / T.
  kSoftmax = 0,
  // StableMax (Prieto et al. 2025, "Grokking at the edge of numerical
  // stability"): p_i = s(z_i) / sum_j s(z_j), s(z) = z + 1 for z >= 0 and
  // 1 / (1 - z) below. No exponential, no maximum; log: log s(z_i) - log sum.
  // A sink adds s(sink / T) to the denominator. -inf gives 0, +inf entries
  // share the mass, NaN makes the row NaN, as for kSoftmax.
  kStableMax,
};
inline constexpr int kNormaliserCount = 2;

// "softmax", "stablemax".
const char* normaliser_name(Normaliser normaliser);

struct SoftmaxOptions {
  Algorithm algorithm = Algorithm::kAuto;
  // softmax(x / temperature), temperature in [2^-100, 2^100] (other values,
  // NaN included, are rejected). Folded into the exponent's scale, never a
  // separate pass.
  float temperature = 1.0f;
  // Output log(softmax(x / T)) instead of softmax(x / T).
  bool log = false;
  // An extra logit that takes part in the denominator but gets no output:
  // y_i = e^{x_i/T} / (e^{sink/T} + sum_j e^{x_j/T}). sink = 0 gives
  // softmax-off-by-one; -inf is the same as no sink; NaN makes the row NaN.
  bool has_sink = false;
  float sink = 0.0f;
  StreamingStores streaming = StreamingStores::kAuto;
  // Where the work may run (executor.hpp). Null: on the calling thread, with
  // no allocation. softmax_rows splits the rows into contiguous blocks, one
  // task each; every row is computed exactly as it would be alone, so the
  // results are bit-identical whatever the executor and its thread count.
  Executor* executor = nullptr;
  // kSoftmax, or kStableMax (above). Last, so that aggregate and designated
  // initialisers written for the fields before it keep their meaning.
  Normaliser normaliser = Normaliser::kSoftmax;
};

// y[i] = softmax(x)[i] for i in [0, n).
Status softmax(const float* x, float* y, std::size_t n, const SoftmaxOptions& options = {});

// Softmax of each of `rows` rows of `cols` elements; row r starts at
// x + r * x_stride and y + r * y_stride (strides in elements, >= cols).
// In place requires x == y and x_stride == y_stride.
Status softmax_rows(const float* x, std::size_t x_stride, float* y, std::size_t y_stride,
                    std::size_t rows, std::size_t cols, const SoftmaxOptions& options = {});

// The same over 16-bit rows (element_types.hpp): widened to float on load,
// rounded to nearest-even on store, float32 arithmetic and accumulation
// (docs/accuracy.md: the bound per type). n and strides count elements. Every algorithm
// and option is available. Rows held in another 16-bit type go through
// as_bfloat16 / as_float16.
Status softmax(const bfloat16* x, bfloat16* y, std::size_t n, const SoftmaxOptions& options = {});
Status softmax(const float16* x, float16* y, std::size_t n, const SoftmaxOptions& options = {});
Status softmax_rows(const bfloat16* x, std::size_t x_stride, bfloat16* y, std::size_t y_stride, std::size_t rows,
                    std::size_t cols, const SoftmaxOptions& options = {});
Status softmax_rows(const float16* x, std::size_t x_stride, float16* y, std::size_t y_stride, std::size_t rows,
                    std::size_t cols, const SoftmaxOptions& options = {});

// The algorithm kAuto runs for a row of n elements on the active target.
Algorithm auto_algorithm(std::size_t n);

// Row size in bytes from which StreamingStores::kAuto streams: 32 MiB, or the
// last-level cache if the OS reports a smaller one. (A larger reported LLC is
// usually shared by many cores; a row of 32 MiB plus its output already
// crowds what one core gets. Measured: docs/algorithms.md, "Streaming stores".)
std::size_t streaming_threshold_bytes();

// Whether a row of n elements, on the active target, gets streaming stores
// under `choice` (the final pass of an out-of-place call).
bool streams_for(std::size_t n, StreamingStores choice);

}  // namespace softkern

#ifdef SOFTKERN_IMPLEMENTATION
#include "softkern/detail/implementation.hpp"
#endif

#endif  // SOFTKERN_SOFTMAX_HPP_
