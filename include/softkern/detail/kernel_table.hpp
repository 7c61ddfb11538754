// softkern/detail/kernel_table.hpp — what the dispatcher knows of one target.
//
// Each target's kernels (compiled from the *-inl.hpp files once per target)
// fill one KernelTable; the public functions validate their arguments and then
// call through the table of the active target. Nothing here names Highway.
#ifndef SOFTKERN_DETAIL_KERNEL_TABLE_HPP_
#define SOFTKERN_DETAIL_KERNEL_TABLE_HPP_

#include <cstddef>

#include "softkern/dispatch.hpp"
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
};

struct KernelTable {
  Isa isa;  // filled from HWY_TARGET inside the target's own namespace
  // Bytes per float vector of the code that runs. A function, not a
  // constant: SVE's vector length (128 to 2048 bits) is the hardware's choice
  // and known only at run time.
  std::size_t (*vector_bytes)();
  void (*softmax_row)(const float* x, float* y, std::size_t n, const RowParams& params);
  void (*exp_array)(const float* x, float* y, std::size_t n);
};

}  // namespace detail
}  // namespace softkern

#endif  // SOFTKERN_DETAIL_KERNEL_TABLE_HPP_
