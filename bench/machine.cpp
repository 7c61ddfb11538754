// bench/machine.cpp — DescribeMachine: /proc/cpuinfo's CPU, its
// microarchitecture from the CPUID family and model (x86) or the
// implementer and part (Arm), and the results folder's name.
#include "machine.hpp"

#include <benchmark/benchmark.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <softkern/dispatch.hpp>

namespace softkern_bench {
namespace {

// The value of the first "key : value" line of /proc/cpuinfo with this key.
std::string CpuinfoField(const std::string& text, const std::string& key) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string k = line.substr(0, colon);
    while (!k.empty() && std::isspace(static_cast<unsigned char>(k.back()))) k.pop_back();
    if (k != key) continue;
    std::size_t begin = colon + 1;
    while (begin < line.size() && std::isspace(static_cast<unsigned char>(line[begin]))) ++begin;
    return line.substr(begin);
  }
  return "";
}

// AMD: the family names the generation (0x17 Zen to Zen 2, 0x19 Zen 3 and
// Zen 4, 0x1A Zen 5) and the model ranges split a family's generations.
std::string AmdMicroarchitecture(int family, int model) {
  switch (family) {
    case 0x17: return model < 0x30 ? "zen" : "zen2";
    case 0x19:
      if ((model >= 0x10 && model <= 0x1F) || (model >= 0x60 && model <= 0x7F) || (model >= 0xA0 && model <= 0xAF))
        return "zen4";
      return "zen3";
    case 0x1A: return "zen5";
    default: return "";
  }
}

// Intel family 6: one model number per core generation (client and server
// parts of a generation have different numbers).
std::string IntelMicroarchitecture(int family, int model) {
  if (family != 6) return "";
  struct Entry {
    int model;
    const char* name;
  };
  static const Entry kModels[] = {
      {0x3C, "haswell"},       {0x3F, "haswell"},        {0x45, "haswell"},        {0x46, "haswell"},
      {0x3D, "broadwell"},     {0x47, "broadwell"},      {0x4F, "broadwell"},      {0x56, "broadwell"},
      {0x4E, "skylake"},       {0x5E, "skylake"},        {0x55, "skylake-x"},      {0x8E, "kabylake"},
      {0x9E, "kabylake"},      {0xA5, "cometlake"},      {0xA6, "cometlake"},      {0x6A, "icelake"},
      {0x6C, "icelake"},       {0x7D, "icelake"},        {0x7E, "icelake"},        {0x8C, "tigerlake"},
      {0x8D, "tigerlake"},     {0xA7, "rocketlake"},     {0x97, "alderlake"},      {0x9A, "alderlake"},
      {0xB7, "raptorlake"},    {0xBA, "raptorlake"},     {0xBF, "raptorlake"},     {0x8F, "sapphirerapids"},
      {0xCF, "emeraldrapids"}, {0xAD, "graniterapids"},  {0xAE, "graniterapids"},  {0xAA, "meteorlake"},
      {0xAC, "meteorlake"},    {0xC5, "arrowlake"},      {0xC6, "arrowlake"},      {0xBD, "lunarlake"},
  };
  for (const Entry& e : kModels) {
    if (e.model == model) return e.name;
  }
  return "";
}

// Arm: "CPU implementer" 0x41 is Arm Ltd., whose "CPU part" names the core.
std::string ArmMicroarchitecture(const std::string& implementer, const std::string& part) {
  if (std::strtol(implementer.c_str(), nullptr, 0) != 0x41) return "";
  struct Entry {
    long part;
    const char* name;
  };
  static const Entry kParts[] = {
      {0xd03, "cortex-a53"},  {0xd07, "cortex-a57"},  {0xd08, "cortex-a72"},  {0xd0b, "cortex-a76"},
      {0xd0c, "neoverse-n1"}, {0xd40, "neoverse-v1"}, {0xd49, "neoverse-n2"}, {0xd4f, "neoverse-v2"},
  };
  const long p = std::strtol(part.c_str(), nullptr, 0);
  for (const Entry& e : kParts) {
    if (e.part == p) return e.name;
  }
  return "";
}

// "Intel(R) Xeon(R) CPU @ 2.80GHz" -> {"intel", "xeon"}; "AMD EPYC 7B13
// 64-Core Processor" -> {"amd", "epyc", "7b13"}: lower case, trademarks, the
// clock and the words every CPU name has left out, at most five words.
std::vector<std::string> ModelWords(const std::string& cpu_model) {
  std::string text;
  for (std::size_t i = 0; i < cpu_model.size(); ++i) {
    if (cpu_model[i] == '@') break;  // the nominal clock follows
    text += static_cast<char>(std::tolower(static_cast<unsigned char>(cpu_model[i])));
  }
  for (const char* mark : {"(r)", "(tm)"}) {
    for (std::size_t at; (at = text.find(mark)) != std::string::npos;) text.erase(at, std::string(mark).size());
  }
  std::vector<std::string> words;
  std::string word;
  auto flush = [&] {
    const bool filler = word == "cpu" || word == "processor" || word == "with" || word == "core" ||
                        (word.size() > 5 && word.compare(word.size() - 5, 5, "-core") == 0);
    if (!word.empty() && !filler && words.size() < 5) words.push_back(word);
    word.clear();
  };
  for (char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '-') {
      word += c;
    } else {
      flush();
    }
  }
  flush();
  return words;
}

std::string Join(const std::vector<std::string>& words) {
  std::string out;
  for (const std::string& w : words) out += (out.empty() ? "" : "-") + w;
  return out;
}

}  // namespace

Machine DescribeMachine() {
  Machine m;
  std::ifstream file("/proc/cpuinfo");
  std::stringstream buffer;
  buffer << file.rdbuf();
  const std::string cpuinfo = buffer.str();

  m.cpu_model = CpuinfoField(cpuinfo, "model name");
  const std::string vendor_id = CpuinfoField(cpuinfo, "vendor_id");
  if (vendor_id == "AuthenticAMD") m.vendor = "amd";
  if (vendor_id == "GenuineIntel") m.vendor = "intel";
  if (!vendor_id.empty()) {
    m.family = std::atoi(CpuinfoField(cpuinfo, "cpu family").c_str());
    m.model = std::atoi(CpuinfoField(cpuinfo, "model").c_str());
    if (m.vendor == "amd") m.microarchitecture = AmdMicroarchitecture(m.family, m.model);
    if (m.vendor == "intel") m.microarchitecture = IntelMicroarchitecture(m.family, m.model);
  } else {
    const std::string implementer = CpuinfoField(cpuinfo, "CPU implementer");
    if (!implementer.empty()) {
      m.vendor = std::strtol(implementer.c_str(), nullptr, 0) == 0x41 ? "arm" : "aarch64";
      m.microarchitecture = ArmMicroarchitecture(implementer, CpuinfoField(cpuinfo, "CPU part"));
    }
  }

  softkern::Isa isas[softkern::kIsaCount];
  if (softkern::supported_isas(isas, softkern::kIsaCount) > 0) m.best_target = softkern::isa_name(isas[0]);
  m.cpus = std::thread::hardware_concurrency();

  std::vector<std::string> words = ModelWords(m.cpu_model);
  bool has_vendor = false;
  for (const std::string& w : words) has_vendor |= w == m.vendor;
  if (!m.vendor.empty() && !has_vendor) words.insert(words.begin(), m.vendor);
  if (!m.microarchitecture.empty() && Join(words).find(m.microarchitecture) == std::string::npos)
    words.push_back(m.microarchitecture);
  if (words.empty()) words.push_back("cpu");
  if (!m.best_target.empty()) words.push_back(m.best_target);
  words.push_back(std::to_string(m.cpus) + "core");
  m.name = Join(words);
  return m;
}

void AddMachineContext(const Machine& m) {
  benchmark::AddCustomContext("machine", m.name);
  benchmark::AddCustomContext("cpu_model", m.cpu_model.empty() ? "unknown" : m.cpu_model);
  if (m.family >= 0) {
    benchmark::AddCustomContext("cpu_family_model", std::to_string(m.family) + "/" + std::to_string(m.model));
  }
  benchmark::AddCustomContext("cpu_microarchitecture", m.microarchitecture.empty() ? "unknown" : m.microarchitecture);
  softkern::Isa isas[softkern::kIsaCount];
  const std::size_t count = softkern::supported_isas(isas, softkern::kIsaCount);
  std::string targets;
  for (std::size_t i = 0; i < count; ++i) targets += (i ? " " : "") + std::string(softkern::isa_name(isas[i]));
  benchmark::AddCustomContext("softkern_targets", targets);
}

}  // namespace softkern_bench
