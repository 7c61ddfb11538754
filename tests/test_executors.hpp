// tests/test_executors.hpp — executors the thread tests run calls on: in
// order on the calling thread, in reverse with another claimed concurrency,
// and two real threads interleaving the tasks. A result must not depend on
// which one runs it.
#ifndef SOFTKERN_TESTS_TEST_EXECUTORS_HPP_
#define SOFTKERN_TESTS_TEST_EXECUTORS_HPP_

#include <cstddef>
#include <thread>

#include "softkern/executor.hpp"

namespace softkern_test {

// Runs the tasks in order on the calling thread, claiming 2.
inline auto in_order = softkern::make_executor(2, [](std::size_t count, const auto& task) {
  for (std::size_t i = 0; i < count; ++i) task(i);
});
// Last task first, claiming 7: a different order and a different thread count.
inline auto reversed = softkern::make_executor(7, [](std::size_t count, const auto& task) {
  for (std::size_t i = count; i-- > 0;) task(i);
});
// Two real threads, tasks interleaved.
inline auto two_threads = softkern::make_executor(2, [](std::size_t count, const auto& task) {
  std::thread other([&] {
    for (std::size_t i = 1; i < count; i += 2) task(i);
  });
  for (std::size_t i = 0; i < count; i += 2) task(i);
  other.join();
});

}  // namespace softkern_test

#endif  // SOFTKERN_TESTS_TEST_EXECUTORS_HPP_
