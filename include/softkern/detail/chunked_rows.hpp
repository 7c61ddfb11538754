// softkern/detail/chunked_rows.hpp — how the training kernels' rows reach
// the kernels once the arguments are checked: a matrix of rows, each a
// reduction over its chunks, a scalar step, a map over its chunks and a
// scalar step after it, on the calling thread or over an executor.
//
// Each row is cut into chunks of kRowChunkElements (a fixed size, whatever
// the executor), whose reduction results merge left to right; so a row's
// results are the same bits whether its chunks run on one thread or on
// several, and whatever the executor. The softmax forward's driver
// (row_driver.hpp) cuts rows the same way for long rows; these families cut
// every row, so that a 128 Ki vocabulary row gets the threads too.
//
// Part of the one expansion (implementation.hpp). Plain C++.
#ifndef SOFTKERN_DETAIL_CHUNKED_ROWS_HPP_
#define SOFTKERN_DETAIL_CHUNKED_ROWS_HPP_

#include <algorithm>
#include <cstddef>
#include <vector>

#include "softkern/detail/fp_env.hpp"
#include "softkern/element_types.hpp"
#include "softkern/executor.hpp"

namespace softkern {
namespace detail {

// 256 KiB of floats: long enough that a chunk's task outweighs handing it to
// a thread, short enough that a 128 Ki vocabulary row makes two.
constexpr std::size_t kRowChunkElements = std::size_t{1} << 16;

inline std::size_t RowChunkCount(std::size_t cols) { return (cols + kRowChunkElements - 1) / kRowChunkElements; }

// A strided matrix of rows of one element type, addressed in bytes. Inputs
// are read through it too (At returns a writable pointer either way).
struct MatrixRows {
  unsigned char* base = nullptr;
  std::size_t stride_bytes = 0, element_bytes = 0, cols = 0;
  MatrixRows() = default;
  MatrixRows(const void* data, std::size_t stride, std::size_t row_length, ElementType type)
      : base(static_cast<unsigned char*>(const_cast<void*>(data))),
        stride_bytes(stride * softkern::element_bytes(type)),
        element_bytes(softkern::element_bytes(type)),
        cols(row_length) {}
  void* At(std::size_t r, std::size_t i) const { return base + r * stride_bytes + i * element_bytes; }
};

// How RunChunkedRows spreads a shape over an executor (a function of the
// shape and the executor's concurrency, never of timing).
enum class RowSpread {
  kSequential,        // the calling thread, rows in order, nothing allocated
  kRowBlocks,         // contiguous blocks of whole rows, one task each
  kChunksAcrossRows,  // every chunk of every row its own task (few, long rows)
};

inline RowSpread SpreadOf(const Executor* executor, std::size_t rows, std::size_t cols) {
  const std::size_t threads = executor != nullptr ? executor->concurrency() : 1;
  const std::size_t chunks = RowChunkCount(cols);
  if (threads <= 1 || rows * chunks <= 1) return RowSpread::kSequential;
  // Enough rows for every thread: whole rows keep a row's second pass in the
  // cache of the core that made its first.
  if (rows >= 2 * threads || chunks == 1) return RowSpread::kRowBlocks;
  return RowSpread::kChunksAcrossRows;
}

// Runs `job` over rows [0, rows) of `cols` elements. The Job (const, shared
// by the threads; each row writes only its own outputs):
//   using Stats, Row;
//   Stats ChunkStats(row, begin, size) const;    the reduction over a chunk
//   void Merge(Stats* into, const Stats&) const; chunks, left to right
//   Row Finish(row, const Stats& merged) const;  the row's constants
//   void ChunkMap(row, begin, size, const Row&) const;
//   void Post(row, const Row&) const;            after the row's maps
// In kSequential, Post runs for the rows in order.
template <class Job>
void RunChunkedRows(Executor* executor, std::size_t rows, std::size_t cols, const Job& job) {
  using Stats = typename Job::Stats;
  using Row = typename Job::Row;
  if (rows == 0 || cols == 0) return;
  const std::size_t chunks = RowChunkCount(cols);
  const auto chunk_size = [cols](std::size_t c) { return std::min(kRowChunkElements, cols - c * kRowChunkElements); };
  const auto whole_row = [&](std::size_t r) {
    Stats stats = job.ChunkStats(r, 0, chunk_size(0));
    for (std::size_t c = 1; c < chunks; ++c) job.Merge(&stats, job.ChunkStats(r, c * kRowChunkElements, chunk_size(c)));
    const Row row = job.Finish(r, stats);
    for (std::size_t c = 0; c < chunks; ++c) job.ChunkMap(r, c * kRowChunkElements, chunk_size(c), row);
    job.Post(r, row);
  };
  const RowSpread spread = SpreadOf(executor, rows, cols);
  if (spread == RowSpread::kSequential) {
    for (std::size_t r = 0; r < rows; ++r) whole_row(r);
    return;
  }
  if (spread == RowSpread::kRowBlocks) {
    // A few blocks per thread, so that uneven progress evens out.
    struct Blocks {
      const decltype(whole_row)* run;
      std::size_t rows, per_task;
    };
    const std::size_t tasks = std::min(rows, 4 * executor->concurrency());
    Blocks blocks{&whole_row, rows, (rows + tasks - 1) / tasks};
    executor->run((rows + blocks.per_task - 1) / blocks.per_task, [](void* context, std::size_t task) {
      const Blocks& b = *static_cast<const Blocks*>(context);
      const ScopedDefaultFpEnv fp_env;  // a worker has its own FP state
      const std::size_t end = std::min(b.rows, (task + 1) * b.per_task);
      for (std::size_t r = task * b.per_task; r < end; ++r) (*b.run)(r);
    }, &blocks);
    return;
  }
  // Few long rows: the reductions of every chunk, the rows' scalar steps,
  // the maps of every chunk, the rows' final steps.
  struct Chunks {
    const Job* job;
    std::size_t chunks, cols;
    std::vector<Stats> stats;
    std::vector<Row> rows;
    std::size_t Begin(std::size_t task) const { return task % chunks * kRowChunkElements; }
    std::size_t Size(std::size_t task) const { return std::min(kRowChunkElements, cols - Begin(task)); }
  };
  Chunks state{&job, chunks, cols, std::vector<Stats>(rows * chunks), std::vector<Row>()};
  executor->run(rows * chunks, [](void* context, std::size_t task) {
    Chunks& s = *static_cast<Chunks*>(context);
    const ScopedDefaultFpEnv fp_env;
    s.stats[task] = s.job->ChunkStats(task / s.chunks, s.Begin(task), s.Size(task));
  }, &state);
  state.rows.reserve(rows);
  for (std::size_t r = 0; r < rows; ++r) {
    Stats merged = state.stats[r * chunks];
    for (std::size_t c = 1; c < chunks; ++c) job.Merge(&merged, state.stats[r * chunks + c]);
    state.rows.push_back(job.Finish(r, merged));
  }
  executor->run(rows * chunks, [](void* context, std::size_t task) {
    const Chunks& s = *static_cast<const Chunks*>(context);
    const ScopedDefaultFpEnv fp_env;
    s.job->ChunkMap(task / s.chunks, s.Begin(task), s.Size(task), s.rows[task / s.chunks]);
  }, &state);
  for (std::size_t r = 0; r < rows; ++r) job.Post(r, state.rows[r]);
}

}  // namespace detail
}  // namespace softkern

#endif  // SOFTKERN_DETAIL_CHUNKED_ROWS_HPP_
