// softkern/detail/softmax_params.hpp — a validated softmax call as the
// per-target kernels see it, what their reduction passes return, and the
// softmax entries of a target's KernelTable (kernel_table.hpp). Filled by
// softmax_calls.hpp, driven by row_driver.hpp. Nothing here names Highway.
#ifndef SOFTKERN_DETAIL_SOFTMAX_PARAMS_HPP_
#define SOFTKERN_DETAIL_SOFTMAX_PARAMS_HPP_

#include <cstddef>
#include <limits>

#include "softkern/softmax.hpp"

namespace softkern {
namespace detail {

// A validated softmax call, as the kernels see it.
struct RowParams {
  Algorithm algorithm = Algorithm::kThreePassRecompute;  // never kAuto here
  // 1/T split into a float and the float of the remainder, so that x * (1/T)
  // can be formed with an error-free product where it matters (two-pass
  // feeds x/T itself, not a difference, to the exponential).
  float inv_temperature = 1.0f;
  float inv_temperature_lo = 0.0f;
  double inv_temperature_f64 = 1.0;
  bool unit_temperature = true;
  bool log = false;
  bool has_sink = false;
  float sink = 0.0f;
  // Write y with non-temporal stores in the final pass (out of place only).
  bool stream = false;
  // Software prefetch in the passes (softmax_rows-inl.hpp: PrefetchAhead):
  // off when everything the call reads and writes fits in the per-core L2.
  bool prefetch = true;
  // What x and y hold (the kernels compute in float whatever it is).
  ElementType element = ElementType::kFloat32;
};

// What a reduction pass over a row or a chunk of one found, its lanes merged
// in double (row_stats.hpp merges chunks and adds the sink).
struct RowStats {
  // Three-pass and online: the largest x (the sink is not included).
  float max = -std::numeric_limits<float>::infinity();
  // Two-pass: the sum is `sum` * 2^exponent; this is the empty sum's exponent.
  double exponent = -6051102.0;
  // Three-pass (second pass): sum of e^{(x - max)/T}. Online: the same,
  // relative to `max`. Two-pass: the mantissa.
  double sum = 0.0;
  // A NaN was seen (a NaN may vanish from a max; this keeps it).
  bool nan = false;
};

// The reduction passes of an algorithm, in the order RunRow (row_driver.hpp)
// runs them.
enum class ReducePass : int {
  // The one pass every algorithm starts with: two-pass -> (mantissa,
  // exponent); online -> (max, sum); three-pass -> max.
  kStats = 0,
  // Three-pass only, given the row's max (sink included) -> sum; reload also
  // stores e^{(x - max)/T} (log: (x - max)/T) in y.
  kSumGivenMax,
};

// What a whole-row kernel did with its row (SoftmaxKernels::reload_row).
enum class RowOutcome : int {
  kDone = 0,
  // The row's maximum (sink included) is not finite; nothing was written.
  kMaxNotFinite,
  // The sum is NaN (a NaN input that the max did not keep); y is partly
  // written and the row's result is all NaN.
  kNaN,
};

// The softmax kernels of one target (softmax-inl.hpp).
struct SoftmaxKernels {
  // A reduction pass of params.algorithm over a chunk [x, x + n) of a row.
  // x and y point at elements of params.element.
  void (*chunk_stats)(const void* x, void* y, std::size_t n, const RowParams& params, ReducePass pass,
                      float max, RowStats* out);
  // The final pass over a chunk, given the row's totals (sink included).
  void (*chunk_map)(const void* x, void* y, std::size_t n, const RowParams& params,
                    const RowStats& totals);
  // softkern's exponential over an array, for the ulp sweep (testing.hpp).
  void (*exp_array)(const float* x, float* y, std::size_t n);
  // A whole row of the three-pass reload algorithm in one call (the passes
  // chunk_stats and chunk_map make, with the row's merges in between, sink
  // included): what an unsplit reload row runs, so that a short row pays one
  // call into the target's code, not three through the dispatch layers.
  RowOutcome (*reload_row)(const void* x, void* y, std::size_t n, const RowParams& params);
};

}  // namespace detail
}  // namespace softkern

#endif  // SOFTKERN_DETAIL_SOFTMAX_PARAMS_HPP_
