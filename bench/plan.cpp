// bench/plan.cpp — the plan of the run and the parts of the bench.
#include "plan.hpp"

#include <regex.h>

#include <cctype>
#include <string>
#include <vector>

namespace softkern_bench {
namespace {

std::vector<std::string>& PlanList() {
  static std::vector<std::string> plan;
  return plan;
}

std::vector<std::string> Split(const std::string& name) {
  std::vector<std::string> parts;
  std::string part;
  for (char c : name) {
    if (c == '/') {
      parts.push_back(part);
      part.clear();
    } else {
      part += c;
    }
  }
  parts.push_back(part);
  return parts;
}

bool IsNumber(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// A softmax shape: "16384" (one row) or "4096x1024" (rows x columns).
std::string SoftmaxPart(const std::string& shape) {
  if (IsNumber(shape)) return "softmax " + HumanCount(std::stoull(shape));
  return "softmax rows " + shape;
}

}  // namespace

void AddToPlan(const std::string& full_name) { PlanList().push_back(full_name); }

std::vector<std::string> Planned(const std::string& filter) {
  // As Google Benchmark reads --benchmark_filter.
  std::string spec = filter.empty() || filter == "all" ? "." : filter;
  bool negative = false;
  if (spec[0] == '-') {
    negative = true;
    spec.erase(0, 1);
  }
  regex_t re;
  if (regcomp(&re, spec.c_str(), REG_EXTENDED | REG_NOSUB) != 0) return {};
  std::vector<std::string> selected;
  for (const std::string& name : PlanList()) {
    const bool match = regexec(&re, name.c_str(), 0, nullptr, 0) == 0;
    if (match != negative) selected.push_back(name);
  }
  regfree(&re);
  return selected;
}

std::string PartOf(const std::string& name) {
  const std::vector<std::string> p = Split(name);
  const std::string& first = p[0];
  if (first == "cpu_clock") return "cpu clock";
  if (first == "softmax" && p.size() >= 4) return SoftmaxPart(p[3]);
  if (first == "softmax_rows" && p.size() >= 4) return SoftmaxPart(p[3]);
  if (first == "roofline_twin" && p.size() >= 3) {
    return p[1] == "attention_kv" ? "attention decode" : SoftmaxPart(p[2]);
  }
  const std::string& last_word = p.size() >= 3 && first == "peer" ? p[2] : first;
  if (last_word == "softmax_backward" || last_word == "log_softmax_backward" || first == "backward_twin") {
    return "softmax backward";
  }
  if (last_word == "cross_entropy" || first == "cross_entropy_twin") return "cross-entropy";
  if (first == "peer" && p.size() >= 3) return SoftmaxPart(p[2]);
  if (first == "softmax_call" || first == "softmax_pass") return "softmax per call and per pass";
  if (first == "softmax_rows_threads" || first == "softmax_threads") return "softmax threads";
  if (first == "softmax_bf16" || first == "softmax_f16") return "softmax 16-bit rows";
  if (first == "attention_decode") return "attention decode";
  if (first == "fma_twin" || first.rfind("attention_prefill", 0) == 0) return "attention prefill";
  if (first == "linear_attention") return "linear attention";
  if (first.rfind("serving", 0) == 0) return "serving attention";
  if (first == "sample" || first == "sample_peer" || first == "sample_softmax") return "sampling";
  return first;
}

std::vector<softkern::Isa> SupportedIsas() {
  softkern::Isa isas[softkern::kIsaCount];
  const std::size_t count = softkern::supported_isas(isas, softkern::kIsaCount);
  return std::vector<softkern::Isa>(isas, isas + count);
}

std::vector<softkern::Isa> VectorIsas() {
  std::vector<softkern::Isa> out;
  for (softkern::Isa isa : SupportedIsas()) {
    if (isa != softkern::Isa::kScalar) out.push_back(isa);
  }
  if (out.empty()) out = SupportedIsas();
  return out;
}

std::string HumanCount(unsigned long long n) {
  if (n >= (1ull << 20) && n % (1ull << 20) == 0) return std::to_string(n >> 20) + " Mi";
  if (n >= (1ull << 10) && n % (1ull << 10) == 0) return std::to_string(n >> 10) + " Ki";
  return std::to_string(n);
}

}  // namespace softkern_bench
