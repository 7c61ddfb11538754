// Executors (executor.hpp): the built-in pool runs every task exactly once,
// from concurrent callers too; softmax_rows gives the same bits with any
// executor and thread count as without one; a long row split across threads
// (by softmax, or by softmax_rows when there are fewer rows than threads)
// gives the same bits for any executor, within the bound.
#include <atomic>
#include <thread>

#include "support.hpp"

namespace softkern_test {
namespace {

TEST(Executor, DefaultPoolRunsEveryTaskExactlyOnce) {
  softkern::Executor& pool = softkern::default_executor();
  EXPECT_GE(pool.concurrency(), 1u);
  EXPECT_EQ(pool.concurrency(), std::max(1u, std::thread::hardware_concurrency()));
  for (std::size_t count : {0, 1, 2, 3, 17, 1000}) {
    std::vector<std::atomic<int>> hits(count);
    pool.run(count, [](void* c, std::size_t i) {
      (*static_cast<std::vector<std::atomic<int>>*>(c))[i].fetch_add(1);
    }, &hits);
    for (std::size_t i = 0; i < count; ++i) EXPECT_EQ(hits[i].load(), 1) << "task " << i << " of " << count;
  }
}

TEST(Executor, DefaultPoolFromSeveralCallersAtOnce) {
  std::atomic<long> total{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&] {
      for (int k = 0; k < 50; ++k)
        softkern::default_executor().run(37, [](void* c, std::size_t i) {
          static_cast<std::atomic<long>*>(c)->fetch_add(static_cast<long>(i) + 1);
        }, &total);
    });
  }
  for (auto& c : callers) c.join();
  EXPECT_EQ(total.load(), 4L * 50 * (37 * 38 / 2));
}

// A user's executor: one std::thread per task, the crudest pool there is.
auto thread_per_task_executor(std::size_t concurrency) {
  return softkern::make_executor(concurrency, [](std::size_t count, auto&& task) {
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < count; ++i) threads.emplace_back([&task, i] { task(i); });
    for (auto& t : threads) t.join();
  });
}

class ThreadedRows : public IsaAlgorithmTest {};

TEST_P(ThreadedRows, SameBitsWithAnyExecutorAndThreadCount) {
  FailureLog log;
  auto one = thread_per_task_executor(1), three = thread_per_task_executor(3),
       eight = thread_per_task_executor(8);
  softkern::Executor* executors[] = {&softkern::default_executor(), &one, &three, &eight};
  const NamedOptions variants[] = {option_variants()[0], option_variants()[7]};
  for (std::size_t rows : {std::size_t{1}, std::size_t{2}, std::size_t{7}, std::size_t{64}}) {
    for (std::size_t cols : {std::size_t{1}, std::size_t{33}, std::size_t{1000}}) {
      const std::size_t stride = cols + 3;
      std::vector<float> x(rows * stride);
      for (std::size_t r = 0; r < rows; ++r) {
        const std::vector<float> row = make_row(kAllDistributions[r % kDistributionCount], cols, r);
        std::copy(row.begin(), row.end(), x.begin() + static_cast<std::ptrdiff_t>(r * stride));
      }
      for (const NamedOptions& variant : variants) {
        SoftmaxOptions o = with_algorithm(variant.options);
        std::vector<float> want(x.size(), 0.0f);
        ASSERT_TRUE(softkern::softmax_rows(x.data(), stride, want.data(), stride, rows, cols, o).ok());
        for (softkern::Executor* e : executors) {
          o.executor = e;
          const std::string what = label() + " " + variant.name + " rows=" + std::to_string(rows) +
                                   " cols=" + std::to_string(cols) + " concurrency=" +
                                   std::to_string(e->concurrency());
          std::vector<float> got(x.size(), 0.0f);
          ASSERT_TRUE(softkern::softmax_rows(x.data(), stride, got.data(), stride, rows, cols, o).ok());
          if (!bitwise_equal(got.data(), want.data(), got.size())) log.add(what + ": differs from no executor");
          std::vector<float> in_place = x;
          ASSERT_TRUE(softkern::softmax_rows(in_place.data(), stride, in_place.data(), stride, rows, cols, o).ok());
          for (std::size_t r = 0; r < rows; ++r)
            if (!bitwise_equal(in_place.data() + r * stride, want.data() + r * stride, cols))
              log.add(what + ": in place differs at row " + std::to_string(r));
        }
      }
    }
  }
}

// One long row on several threads: cut into fixed chunks of 2^18 elements
// whose stats merge exactly, so the bits do not depend on the executor or its
// thread count, and the result is within the bound (it may differ from the
// one-chunk result by rounding). Special rows keep their semantics. The full
// sweep runs each distribution with both option variants; the boundary sweep
// (support.hpp) one variant per distribution, in turn, so that each
// distribution and each variant still crosses the chunk boundaries.
TEST_P(ThreadedRows, LongRowSplitAcrossThreads) {
  FailureLog log;
  auto two = thread_per_task_executor(2), three = thread_per_task_executor(3);
  // The boundary sweep: two full chunks and a partial third (the fewest that
  // split), on two executors (the built-in pool and 3 threads).
  std::vector<softkern::Executor*> executors = {&softkern::default_executor(), &two, &three};
  if (!full_sweep()) executors.erase(executors.begin() + 1);
  const std::size_t n = (full_sweep() ? 3 : 2) * (std::size_t{1} << 18) + 12345;
  const NamedOptions variants[] = {option_variants()[0], option_variants()[7]};
  const Distribution distributions[] = {Distribution::kLogits, Distribution::kWide,
                                        Distribution::kMaskedNegInf, Distribution::kDominantTail};
  for (std::size_t k = 0; k < std::size(distributions); ++k) {
    const Distribution dist = distributions[k];
    const std::vector<float> x = make_row(dist, n, 60);
    for (std::size_t v = 0; v < std::size(variants); ++v) {
      if (!full_sweep() && v != k % std::size(variants)) continue;
      const NamedOptions& variant = variants[v];
      SoftmaxOptions o = with_algorithm(variant.options);
      const Reference ref = reference_softmax(x.data(), n, o);
      std::vector<float> first;
      for (softkern::Executor* e : executors) {
        o.executor = e;
        for (bool in_place : {false, true}) {
          const std::string what = label() + " " + distribution_name(dist) + " " + variant.name +
                                   " concurrency=" + std::to_string(e->concurrency()) +
                                   (in_place ? " in place" : "");
          std::vector<float> y = x;
          std::vector<float> out(n);
          float* target = in_place ? y.data() : out.data();
          ASSERT_TRUE(softkern::softmax(y.data(), target, n, o).ok());
          const Accuracy acc = check_softmax(x.data(), target, n, o, ref);
          if (!acc.ok()) log.add(what + ": " + acc.first_failure);
          if (first.empty()) first.assign(target, target + n);
          else if (!bitwise_equal(first.data(), target, n)) log.add(what + ": bits differ between executors");
          // softmax_rows with fewer rows than threads cuts each long row the
          // same way: one row gives softmax()'s bits.
          if (!in_place) {
            std::vector<float> via_rows(n);
            ASSERT_TRUE(softkern::softmax_rows(x.data(), n, via_rows.data(), n, 1, n, o).ok());
            if (!bitwise_equal(via_rows.data(), target, n)) log.add(what + ": softmax_rows differs from softmax");
          }
        }
      }
    }
  }
  // Special rows on the threaded path: NaN, +inf, all -inf.
  SoftmaxOptions o = with_algorithm(option_variants()[0].options);
  o.executor = &softkern::default_executor();
  std::vector<float> special(n, 1.0f), y(n);
  special[n - 3] = std::numeric_limits<float>::quiet_NaN();
  ASSERT_TRUE(softkern::softmax(special.data(), y.data(), n, o).ok());
  EXPECT_TRUE(std::isnan(y[0]) && std::isnan(y[n - 1])) << label() << ": a NaN must make the row NaN";
  special[n - 3] = std::numeric_limits<float>::infinity();
  special[7] = std::numeric_limits<float>::infinity();
  ASSERT_TRUE(softkern::softmax(special.data(), y.data(), n, o).ok());
  EXPECT_EQ(y[7], 0.5f);
  EXPECT_EQ(y[n - 3], 0.5f);
  EXPECT_EQ(y[0], 0.0f);
  std::fill(special.begin(), special.end(), -std::numeric_limits<float>::infinity());
  ASSERT_TRUE(softkern::softmax(special.data(), y.data(), n, o).ok());
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_EQ(y[n - 1], 0.0f);
}

INSTANTIATE_TEST_SUITE_P(AllIsas, ThreadedRows, testing::ValuesIn(supported_isa_algorithm_pairs()),
                         pair_test_name);

}  // namespace
}  // namespace softkern_test
