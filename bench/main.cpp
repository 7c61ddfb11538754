// bench/main.cpp — softkern_bench: reads the flags, registers every
// benchmark, runs them behind a progress line, and ends with the summary.
//
// What a run leaves in the results folder (results/<machine>/ under the
// current directory unless --softkern_out says otherwise):
//   bench.json    Google Benchmark's JSON, with the machine in its context
//                 (--benchmark_out=FILE puts it elsewhere);
//   summary.md    the tables scripts/bench_summary.py prints at the end;
//   *.png         its charts (scripts/plot_bench.py).
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <softkern/softkern.hpp>

#include "machine.hpp"
#include "peers.hpp"
#include "progress_reporter.hpp"
#include "register.hpp"
#include "summary.hpp"

namespace {

void PrintUsage() {
  std::printf(
      "softkern_bench: softkern's softmax and attention against the roofline twins, the FMA twin\n"
      "and the peer libraries. Flags of its own (before Google Benchmark's):\n"
      "  --softkern_out=DIR        results folder for bench.json, summary.md and the charts\n"
      "                            (default: results/<machine>/ under the current directory)\n"
      "  --softkern_raw            print Google Benchmark's line for every result instead of\n"
      "                            the progress line\n"
      "  --softkern_max_size=N     largest softmax row length (default 64 Mi)\n"
      "  --softkern_streaming=auto|always|never\n"
      "                            how the final pass writes y (SoftmaxOptions::streaming); the\n"
      "                            twins follow the same choice\n"
      "  --softkern_smoke          tiny sizes, one short repetition (CI)\n"
      "Added unless given: --benchmark_repetitions=5 --benchmark_report_aggregates_only=true\n"
      "--benchmark_min_time=0.1, and --benchmark_out=<results folder>/bench.json in JSON.\n\n");
  benchmark::PrintDefaultHelp();
}

bool StartsWith(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// mkdir -p; false with errno set when a component cannot be made.
bool MakeDirectories(const std::string& path) {
  for (std::size_t i = 1; i <= path.size(); ++i) {
    if (i < path.size() && path[i] != '/') continue;
    const std::string prefix = path.substr(0, i);
    if (mkdir(prefix.c_str(), 0777) != 0 && errno != EEXIST) return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  // One thread for the peers that use OpenMP (oneDNN): set before they start.
  setenv("OMP_NUM_THREADS", "1", 0);
  softkern_bench::SoftmaxConfig config;
  bool raw = false, list_only = false;
  std::string folder, json, out_format = "json";
  std::vector<char*> args;
  bool has_repetitions = false, has_min_time = false;
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--softkern_smoke") {
      config.smoke = true;
    } else if (arg == "--softkern_raw") {
      raw = true;
    } else if (StartsWith(arg, "--softkern_out=")) {
      folder = arg.substr(std::strlen("--softkern_out="));
    } else if (StartsWith(arg, "--softkern_streaming=")) {
      const std::string v = arg.substr(std::strlen("--softkern_streaming="));
      if (v == "auto") {
        config.streaming = softkern::StreamingStores::kAuto;
      } else if (v == "always") {
        config.streaming = softkern::StreamingStores::kAlways;
      } else if (v == "never") {
        config.streaming = softkern::StreamingStores::kNever;
      } else {
        std::fprintf(stderr, "--softkern_streaming must be auto, always or never\n");
        return 2;
      }
    } else if (StartsWith(arg, "--softkern_max_size=")) {
      config.max_size = std::strtoull(arg.c_str() + std::strlen("--softkern_max_size="), nullptr, 10);
    } else {
      has_repetitions |= StartsWith(arg, "--benchmark_repetitions");
      has_min_time |= StartsWith(arg, "--benchmark_min_time");
      if (StartsWith(arg, "--benchmark_out=")) json = arg.substr(std::strlen("--benchmark_out="));
      if (StartsWith(arg, "--benchmark_out_format=")) out_format = arg.substr(std::strlen("--benchmark_out_format="));
      list_only |= StartsWith(arg, "--benchmark_list_tests") && arg != "--benchmark_list_tests=false";
      args.push_back(argv[i]);
    }
  }

  const softkern_bench::Machine machine = softkern_bench::DescribeMachine();
  if (folder.empty()) folder = "results/" + machine.name;
  // Google Benchmark opens (and empties) the --benchmark_out file even when
  // it only lists the benchmarks: no default file then.
  std::string out_flag, out_format_flag = "--benchmark_out_format=json";
  if (json.empty() && !list_only) {
    json = folder + "/bench.json";
    out_flag = "--benchmark_out=" + json;
    args.insert(args.begin() + 1, out_flag.data());
    args.insert(args.begin() + 1, out_format_flag.data());
  }
  std::string repetitions = config.smoke ? "--benchmark_repetitions=1" : "--benchmark_repetitions=5";
  std::string aggregates = "--benchmark_report_aggregates_only=true";
  std::string min_time = config.smoke ? "--benchmark_min_time=0.001" : "--benchmark_min_time=0.1";
  if (!has_repetitions) {
    args.insert(args.begin() + 1, repetitions.data());
    if (!config.smoke) args.insert(args.begin() + 1, aggregates.data());
  }
  if (!has_min_time) args.insert(args.begin() + 1, min_time.data());
  int new_argc = static_cast<int>(args.size());
  args.push_back(nullptr);

  benchmark::Initialize(&new_argc, args.data(), PrintUsage);
  if (benchmark::ReportUnrecognizedArguments(new_argc, args.data())) return 1;
  if (!list_only && !MakeDirectories(folder)) {
    std::fprintf(stderr, "softkern_bench: cannot create %s: %s\n", folder.c_str(), std::strerror(errno));
    return 1;
  }
  softkern_bench::AddMachineContext(machine);
  const auto peers = softkern_bench::MakePeers();
  std::printf("softkern bench on %s: targets", machine.name.c_str());
  softkern::Isa isas[softkern::kIsaCount];
  const std::size_t isa_count = softkern::supported_isas(isas, softkern::kIsaCount);
  for (std::size_t i = 0; i < isa_count; ++i) std::printf(" %s", softkern::isa_name(isas[i]));
  std::printf("; peers");
  for (const auto& p : peers) std::printf(" %s", p->name());
  std::printf("\n");
  softkern_bench::RegisterSoftmaxBenchmarks(config, peers);
  softkern_bench::RegisterSoftmaxCostBenchmarks(config.smoke);
  softkern_bench::RegisterAttentionBenchmarks(config.smoke);
  softkern_bench::RegisterServingBenchmarks(config.smoke);
  softkern_bench::RegisterSamplingBenchmarks(config.smoke);
  softkern_bench::RegisterTrainingBenchmarks(config.smoke);

  softkern_bench::ProgressReporter reporter(raw);
  const std::size_t matched = benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  if (list_only || matched == 0) return 0;
  if (out_format != "json") {
    std::printf("no summary: it reads the JSON output, and --benchmark_out_format is %s\n", out_format.c_str());
    return 0;
  }
  return softkern_bench::WriteSummary(json, folder, machine, reporter.results());
}
