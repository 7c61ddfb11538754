// bench/plan.hpp — the list of benchmarks the bench will run, in order, and
// the part of the bench each belongs to ("softmax 16 Ki", "attention
// prefill", ...). The progress line counts against it.
//
// Every benchmark is registered through Register(), which names it as Google
// Benchmark will (".../real_time" when timed in wall-clock time) and adds it
// to the plan; Planned() applies --benchmark_filter to the plan the way
// Google Benchmark does (an extended POSIX regex searched in the name, a
// leading '-' negates it).
#ifndef SOFTKERN_BENCH_PLAN_HPP_
#define SOFTKERN_BENCH_PLAN_HPP_

#include <benchmark/benchmark.h>

#include <softkern/dispatch.hpp>

#include <string>
#include <utility>
#include <vector>

namespace softkern_bench {

// Which clock a benchmark's time (and its iteration count) is read from.
enum class Clock { kWall, kCpu };

// Adds a benchmark's full name to the plan (what Register does).
void AddToPlan(const std::string& full_name);

template <class Fn>
benchmark::internal::Benchmark* Register(const std::string& name, Fn&& fn, benchmark::TimeUnit unit,
                                         Clock clock = Clock::kWall) {
  benchmark::internal::Benchmark* b = benchmark::RegisterBenchmark(name.c_str(), std::forward<Fn>(fn));
  b->Unit(unit);
  if (clock == Clock::kWall) b->UseRealTime();
  AddToPlan(clock == Clock::kWall ? name + "/real_time" : name);
  return b;
}

// The planned benchmarks that `filter` selects, in registration order (the
// order they run in unless --benchmark_enable_random_interleaving is set).
std::vector<std::string> Planned(const std::string& filter);

// The part of the bench a benchmark belongs to, from its name.
std::string PartOf(const std::string& name);

// The targets this CPU runs, best first (scalar last).
std::vector<softkern::Isa> SupportedIsas();
// The same without scalar (only scalar where nothing else runs): the targets
// the families that compare vector code run on.
std::vector<softkern::Isa> VectorIsas();

// 1024 -> "1 Ki", 16777216 -> "16 Mi", 1000 -> "1000".
std::string HumanCount(unsigned long long n);

}  // namespace softkern_bench

#endif  // SOFTKERN_BENCH_PLAN_HPP_
