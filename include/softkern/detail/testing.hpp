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

}  // namespace detail
}  // namespace softkern

#endif  // SOFTKERN_DETAIL_TESTING_HPP_
