// softkern/detail/testing.hpp — hooks for softkern's own tests and tools,
// not part of the API: no public header includes this file. Defined in the
// one expansion (softmax_calls.hpp, dispatcher.hpp), so a program that links
// softkern_impl can call them.
#ifndef SOFTKERN_DETAIL_TESTING_HPP_
#define SOFTKERN_DETAIL_TESTING_HPP_

#include <cstddef>

namespace softkern {
namespace detail {

// softkern's own exponential on the active target, y[i] = e^{x[i]}, for the
// ulp sweep in the tests and the accuracy tool. Its domain is what the
// kernels feed it: x <= 89 (larger gives +inf); x < -104 gives 0; NaN stays NaN.
void exp_for_testing(const float* x, float* y, std::size_t n);

// Bytes per float vector, answered by code compiled for the active target (a
// function in its KernelTable): what forcing a target really switched to.
std::size_t vector_bytes_for_testing();

// One pass of a float32 softmax on the active target, alone, for the bench's
// per-pass rows (bench/softmax_cost_bench.cpp): the same kernel call the
// driver makes (row_driver.hpp), with the totals a pass needs given instead
// of found. Returns the pass's statistic: the max, the sum (the two-pass
// mantissa with `exponent`), or 0 for a map.
enum class SoftmaxPass : int {
  kMax,          // the three-pass max (also the first loop of a two-pass leaf)
  kSum,          // recompute: sum of e^{x - max}
  kSumAndStore,  // reload: sum of e^{x - max}, stored to y
  kTwoPassSum,   // two-pass: the (mantissa, exponent) pair
  kMapExp,       // recompute: y = e^{x - max} / sum
  kMapScale,     // reload: y *= 2^-24 / sum, in place (sum = 2^-24 leaves y as it is)
  kTwoPassMap,   // two-pass: y = e^x / (sum 2^exponent)
};
double softmax_pass_for_testing(SoftmaxPass pass, const float* x, float* y, std::size_t n, float max, double sum,
                                double exponent, double* exponent_out);

}  // namespace detail
}  // namespace softkern

#endif  // SOFTKERN_DETAIL_TESTING_HPP_
