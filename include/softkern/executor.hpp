// softkern/executor.hpp — how softkern runs work on several threads.
//
// softkern does not own threads unless asked to. A call runs on the caller's
// thread and allocates nothing, unless its options name an Executor: then
// the call cuts its work into independent tasks (rows of a batch, chunks of a
// long row, blocks of the KV cache) and hands them to the executor.
//
//   softkern::SoftmaxOptions o;
//   o.executor = &softkern::default_executor();     // built-in std::thread pool
//   softkern::softmax_rows(x, ld, y, ld, rows, cols, o);
//
// Bring your own pool by implementing Executor (two functions), or wrap any
// "parallel for" with make_executor():
//
//   auto omp = softkern::make_executor(omp_get_max_threads(),
//       [](std::size_t count, auto&& task) {
//         #pragma omp parallel for schedule(static)
//         for (std::size_t i = 0; i < count; ++i) task(i);
//       });
//   o.executor = &omp;
#ifndef SOFTKERN_EXECUTOR_HPP_
#define SOFTKERN_EXECUTOR_HPP_

#include <cstddef>
#include <utility>

namespace softkern {

class Executor {
 public:
  // Calls task(context, i) once for every i in [0, count), in any order and
  // on any threads, and returns when all calls have returned. Tasks never
  // throw and never call back into the executor.
  using Task = void (*)(void* context, std::size_t index);
  virtual void run(std::size_t count, Task task, void* context) = 0;
  // How many tasks run at once at most; softkern cuts work into about this
  // many pieces (a few more for balance). At least 1.
  virtual std::size_t concurrency() const = 0;

 protected:
  ~Executor() = default;
};

// softkern's own pool: std::hardware_concurrency() threads (the calling
// thread is one of them), created on first use, shared by every caller,
// joined at exit. run() from several threads at once is safe (the calls take
// turns). Its concurrency() is what the machine reports.
Executor& default_executor();

// An Executor over any callable `parallel_for(count, task)` that calls
// task(i) for every i in [0, count) and returns when all are done.
template <class ParallelFor>
class FunctionExecutor final : public Executor {
 public:
  FunctionExecutor(std::size_t concurrency, ParallelFor parallel_for)
      : concurrency_(concurrency == 0 ? 1 : concurrency), parallel_for_(std::move(parallel_for)) {}
  void run(std::size_t count, Task task, void* context) override {
    parallel_for_(count, [task, context](std::size_t i) { task(context, i); });
  }
  std::size_t concurrency() const override { return concurrency_; }

 private:
  std::size_t concurrency_;
  ParallelFor parallel_for_;
};

template <class ParallelFor>
FunctionExecutor<ParallelFor> make_executor(std::size_t concurrency, ParallelFor parallel_for) {
  return FunctionExecutor<ParallelFor>(concurrency, std::move(parallel_for));
}

}  // namespace softkern

#endif  // SOFTKERN_EXECUTOR_HPP_
