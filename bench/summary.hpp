// bench/summary.hpp — the end of a run: scripts/bench_summary.py reads the
// JSON and writes summary.md and the charts into the results folder, and
// prints the summary.
//
// The script runs under the python3 found when the bench was configured
// (SOFTKERN_BENCH_PYTHON: Debian's /usr/bin/python3 first, where
// python3-matplotlib installs) from the source tree the bench was built from
// (SOFTKERN_SOURCE_DIR). When either is missing, the bench writes a
// plain-text summary.md itself from the results the progress reporter kept:
// no charts and no compute bound, and a message that says what is missing.
#ifndef SOFTKERN_BENCH_SUMMARY_HPP_
#define SOFTKERN_BENCH_SUMMARY_HPP_

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "machine.hpp"

namespace softkern_bench {

// Returns 0 when a summary was written (by the script, or in plain text
// because python3 or the script is missing) and 1 when the script failed (a
// plain-text summary is written then too). `results`: one run per benchmark
// (ProgressReporter::results()).
int WriteSummary(const std::string& json, const std::string& folder, const Machine& machine,
                 const std::vector<benchmark::BenchmarkReporter::Run>& results);

}  // namespace softkern_bench

#endif  // SOFTKERN_BENCH_SUMMARY_HPP_
