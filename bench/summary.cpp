// bench/summary.cpp — runs scripts/bench_summary.py, or writes the
// plain-text summary when it cannot (see summary.hpp).
#include "summary.hpp"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "plan.hpp"

extern char** environ;

namespace softkern_bench {
namespace {

using Run = benchmark::BenchmarkReporter::Run;

std::string SelfPath() {
  char path[4096];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) return "";
  path[n] = '\0';
  return path;
}

// Runs argv[0] with these arguments, its output on ours; its exit status, or
// -1 when it could not be started.
int Spawn(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::fflush(stdout);
  pid_t pid;
  if (posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) return -1;
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::vector<std::string> Split(const std::string& name) {
  std::vector<std::string> parts;
  std::stringstream in(name);
  for (std::string p; std::getline(in, p, '/');) parts.push_back(p);
  return parts;
}

double Seconds(const Run& run) { return run.GetAdjustedRealTime() / benchmark::GetTimeUnitMultiplier(run.time_unit); }

double Counter(const Run& run, const char* name) {
  const auto it = run.counters.find(name);
  return it == run.counters.end() ? -1.0 : it->second.value;
}

// The plain-text summary: per target and size, the fastest explicit softmax
// algorithm, its effective bandwidth (8 bytes per element) and its roofline
// counter; then attention prefill against the FMA twin and decode against
// the K/V twin, as the bench's counters give them.
std::string PlainSummary(const Machine& machine, const std::vector<Run>& results, const std::string& why) {
  std::ostringstream out;
  out << "# softkern bench on " << machine.name << "\n\n"
      << machine.cpu_model << (machine.microarchitecture.empty() ? "" : " (" + machine.microarchitecture + ")")
      << ", " << machine.cpus << " CPUs.\n"
      << "Plain-text summary: " << why << "\n\n";

  // best[target][size] = (seconds, algorithm, roofline)
  struct Best {
    double seconds = 0, roofline = -1;
    std::string algorithm;
  };
  std::map<std::string, std::map<unsigned long long, Best>> best;
  for (const Run& run : results) {
    const std::vector<std::string> p = Split(run.run_name.str());
    if (p.size() < 4 || p[0] != "softmax" || p[2] == "auto" || p[2].find('+') != std::string::npos) continue;
    const unsigned long long n = std::stoull(p[3]);
    Best& b = best[p[1]][n];
    if (b.algorithm.empty() || Seconds(run) < b.seconds) b = Best{Seconds(run), Counter(run, "roofline"), p[2]};
  }
  char line[256];
  if (!best.empty()) {
    out << "Softmax, one row, one thread: the fastest algorithm per size; GB/s counts 8 bytes per\n"
        << "element; memory = its roofline twin's time / its time.\n\n";
    std::snprintf(line, sizeof line, "%-8s %-7s %-22s %8s %7s\n", "target", "size", "best", "GB/s", "memory");
    out << line;
    for (const auto& [target, sizes] : best) {
      for (const auto& [n, b] : sizes) {
        std::snprintf(line, sizeof line, "%-8s %-7s %-22s %8.1f %7.2f\n", target.c_str(), HumanCount(n).c_str(),
                      b.algorithm.c_str(), 8.0 * static_cast<double>(n) / b.seconds * 1e-9, b.roofline);
        out << line;
      }
    }
    out << "\n";
  }
  bool header = false;
  for (const Run& run : results) {
    std::string name = run.run_name.str();
    const std::size_t suffix = name.rfind("/real_time");
    if (suffix != std::string::npos) name.erase(suffix);
    const double fma = Counter(run, "fma_fraction"), roofline = Counter(run, "roofline");
    const bool prefill = name.rfind("attention_prefill/", 0) == 0 && fma >= 0;
    const bool decode = name.rfind("attention_decode/", 0) == 0 && roofline >= 0;
    if (!prefill && !decode) continue;
    if (!header) {
      out << "Attention: prefill's fraction of the FMA twin's flops, decode's of the K/V twin's bandwidth.\n\n";
      header = true;
    }
    std::snprintf(line, sizeof line, "%-48s %s %.2f\n", name.c_str(), prefill ? "of FMA peak" : "of K/V twin",
                  prefill ? fma : roofline);
    out << line;
  }
  return out.str();
}

}  // namespace

int WriteSummary(const std::string& json, const std::string& folder, const Machine& machine,
                 const std::vector<Run>& results) {
  const std::string python = SOFTKERN_BENCH_PYTHON;
  const std::string script = std::string(SOFTKERN_SOURCE_DIR) + "/scripts/bench_summary.py";
  std::string why;
  int status = 0;
  if (python.empty() || access(python.c_str(), X_OK) != 0) {
    why = "python3 was not found (" + (python.empty() ? std::string("none at configure time") : python) +
          "; Debian: scripts/setup.sh installs python3 and python3-matplotlib), so there are no charts and no "
          "compute bound.";
  } else if (access(script.c_str(), R_OK) != 0) {
    why = script + " is not there (the source tree this bench was built from), so there are no charts and no "
          "compute bound.";
  } else {
    status = Spawn({python, script, json, "--out", folder, "--binary", SelfPath()});
    if (status == 0) return 0;
    why = "scripts/bench_summary.py failed (exit status " + std::to_string(status) + ", its messages are above).";
  }
  const std::string text = PlainSummary(machine, results, why);
  std::printf("\n%s", text.c_str());
  const std::string path = folder + "/summary.md";
  std::ofstream(path) << text;
  std::printf("\nwrote %s (plain text) and %s\n", path.c_str(), json.c_str());
  return status == 0 ? 0 : 1;
}

}  // namespace softkern_bench
