// bench/machine.hpp — the machine the bench runs on: its CPU as /proc/cpuinfo
// names it, the CPU's microarchitecture, and a short name for the results
// folder (results/<name>/), e.g. "amd-epyc-zen5-avx512-2core".
//
// These machines are shared VMs that change between sessions; the name keeps
// each machine's results beside the others', and the JSON's context records
// the same fields so that every figure says where it was measured.
#ifndef SOFTKERN_BENCH_MACHINE_HPP_
#define SOFTKERN_BENCH_MACHINE_HPP_

#include <string>

namespace softkern_bench {

struct Machine {
  std::string cpu_model;          // "model name" of /proc/cpuinfo, e.g. "AMD EPYC"
  std::string vendor;             // "amd", "intel", "arm", ... ("" when unknown)
  int family = -1, model = -1;    // x86 CPUID family and model; -1 elsewhere
  std::string microarchitecture;  // "zen5", "icelake", "neoverse-n1", ... ("" when unknown)
  std::string best_target;        // softkern's best target here, e.g. "avx512"
  unsigned cpus = 0;              // logical CPUs (std::thread::hardware_concurrency)
  std::string name;               // the results folder's name
};

// Reads /proc/cpuinfo and softkern's dispatch.
Machine DescribeMachine();

// Records the description in Google Benchmark's context (the JSON's
// "context": cpu_model, cpu_family_model, cpu_microarchitecture,
// softkern_targets, machine), which scripts/bench_summary.py reads.
void AddMachineContext(const Machine& machine);

}  // namespace softkern_bench

#endif  // SOFTKERN_BENCH_MACHINE_HPP_
