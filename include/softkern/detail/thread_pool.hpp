// softkern/detail/thread_pool.hpp — the built-in Executor: a fixed pool of
// std::threads created on first use. Included once, by implementation.hpp.
//
// One job at a time: run() takes a mutex, publishes (task, context, count),
// wakes the workers and works on the job itself; every thread claims indices
// with one atomic fetch_add until none are left, and run() returns when the
// last task has finished and every worker that joined has left the job. Workers sleep on a condition variable
// between jobs, so an idle pool costs nothing.
#ifndef SOFTKERN_DETAIL_THREAD_POOL_HPP_
#define SOFTKERN_DETAIL_THREAD_POOL_HPP_

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>
#include <vector>

#include "softkern/executor.hpp"

namespace softkern {
namespace detail {

class ThreadPool final : public Executor {
 public:
  explicit ThreadPool(std::size_t threads) : concurrency_(threads == 0 ? 1 : threads) {
    for (std::size_t i = 1; i < concurrency_; ++i) workers_.emplace_back([this] { WorkerLoop(); });
  }
  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : workers_) t.join();
  }

  void run(std::size_t count, Task task, void* context) override {
    if (count == 0) return;
    std::lock_guard<std::mutex> one_job_at_a_time(run_mutex_);
    if (workers_.empty() || count == 1) {
      for (std::size_t i = 0; i < count; ++i) task(context, i);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      task_ = task;
      context_ = context;
      count_ = count;
      next_.store(0, std::memory_order_relaxed);
      finished_.store(0, std::memory_order_relaxed);
      ++generation_;
    }
    wake_.notify_all();
    Work(task, context, count);
    // Wait for the tasks other threads claimed, and for every worker that
    // joined this job to leave it, so that none can touch the next one.
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] {
      return finished_.load(std::memory_order_acquire) == count && active_ == 0;
    });
    task_ = nullptr;
  }

  std::size_t concurrency() const override { return concurrency_; }

 private:
  // Claims and runs tasks of the current job until none are left.
  void Work(Task task, void* context, std::size_t count) {
    for (;;) {
      const std::size_t i = next_.fetch_add(1, std::memory_order_relaxed);
      if (i >= count) return;
      task(context, i);
      if (finished_.fetch_add(1, std::memory_order_acq_rel) + 1 == count) {
        std::lock_guard<std::mutex> lock(mutex_);
        done_.notify_all();
      }
    }
  }

  void WorkerLoop() {
    std::size_t seen = 0;
    for (;;) {
      Task task;
      void* context;
      std::size_t count;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || (generation_ != seen && task_ != nullptr); });
        if (stopping_) return;
        seen = generation_;
        task = task_;
        context = context_;
        count = count_;
        ++active_;
      }
      Work(task, context, count);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (--active_ == 0) done_.notify_all();
      }
    }
  }

  const std::size_t concurrency_;
  std::vector<std::thread> workers_;
  std::mutex run_mutex_;  // one job at a time
  std::mutex mutex_;      // guards the job's fields and the condition variables
  std::condition_variable wake_, done_;
  bool stopping_ = false;
  std::size_t generation_ = 0;
  Task task_ = nullptr;
  void* context_ = nullptr;
  std::size_t count_ = 0;
  std::size_t active_ = 0;  // workers inside the current job
  std::atomic<std::size_t> next_{0}, finished_{0};
};

}  // namespace detail

Executor& default_executor() {
  static detail::ThreadPool pool(std::thread::hardware_concurrency());
  return pool;
}

}  // namespace softkern

#endif  // SOFTKERN_DETAIL_THREAD_POOL_HPP_
