// bench/progress_reporter.hpp — what the bench prints while it runs.
//
// By default: the part of the bench that is running and how far along the
// whole run is, e.g.
//   [softmax 16 Ki] 120/566 (21%) 2m31s  softmax/avx2/two_pass+log/16384/real_time
// on one line rewritten in place when stdout is a terminal, or one line per
// part (and one a minute within a long part) otherwise: CI logs, pipes. A benchmark that stops with an error gets
// a line of its own. With raw = true it prints Google Benchmark's own lines
// instead (every benchmark, every aggregate; --benchmark_format applies).
//
// Google Benchmark reports a benchmark once its last repetition has run:
// with --benchmark_enable_random_interleaving those come late in the run, and
// so does most of the count.
//
// Either way it keeps one result per benchmark (the median of the
// repetitions, or the single run without repetitions), which the plain-text
// summary reads when python3 is not there.
#ifndef SOFTKERN_BENCH_PROGRESS_REPORTER_HPP_
#define SOFTKERN_BENCH_PROGRESS_REPORTER_HPP_

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstddef>
#include <set>
#include <string>
#include <vector>

namespace softkern_bench {

class ProgressReporter : public benchmark::BenchmarkReporter {
 public:
  explicit ProgressReporter(bool raw);

  bool ReportContext(const Context& context) override;
  void ReportRuns(const std::vector<Run>& runs) override;
  void Finalize() override;

  // One run per benchmark that completed: the median aggregate, or the run
  // itself when there was a single repetition.
  const std::vector<Run>& results() const { return results_; }
  std::size_t errors() const { return errors_; }

 private:
  void Advance();        // moves next_ past the benchmarks already done
  void Show(bool force);
  void ClearLine();

  // With raw = true, Google Benchmark's display reporter (its own static
  // instance, which it keeps for the whole process), else null.
  benchmark::BenchmarkReporter* raw_ = nullptr;
  bool terminal_ = false;
  std::vector<std::string> planned_;  // --benchmark_filter applied to the plan
  std::set<std::string> done_;
  std::size_t next_ = 0;              // first planned benchmark not done yet
  std::string part_;                  // the part last announced
  std::size_t errors_ = 0;
  std::vector<Run> results_;
  std::chrono::steady_clock::time_point start_, last_line_;
};

}  // namespace softkern_bench

#endif  // SOFTKERN_BENCH_PROGRESS_REPORTER_HPP_
