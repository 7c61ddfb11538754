// A consumer of an installed softkern: softmax on every target this CPU runs,
// with every algorithm, checked against a double-precision reference. Exits 0
// when every check passes, 1 otherwise.
//
// This TU and rows.cpp both include softkern headers; the kernels themselves
// are compiled once, in the softkern_impl library that find_package(softkern)
// adds to this project. hwy_sum.cpp uses Highway's own dynamic dispatch in the
// same program.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <vector>

#include "consumer.h"
#include "softkern/softkern.hpp"

namespace {

int g_checks = 0;
int g_failures = 0;

void Check(bool ok, const char* what, const char* isa, const char* algorithm, std::size_t n) {
  ++g_checks;
  if (ok) return;
  ++g_failures;
  std::fprintf(stderr, "FAILED: %s (isa %s, algorithm %s, n = %zu)\n", what, isa, algorithm, n);
}

// A reproducible row of logits in about [-8, 8], every 7th entry masked to -inf.
std::vector<float> MakeRow(std::size_t n, std::uint32_t seed) {
  std::vector<float> x(n);
  std::uint32_t state = seed * 2654435761u + 1u;
  for (std::size_t i = 0; i < n; ++i) {
    state = state * 1664525u + 1013904223u;
    x[i] = static_cast<float>(state >> 8) * (16.0f / 16777216.0f) - 8.0f;
    if (i % 7 == 3) x[i] = -std::numeric_limits<float>::infinity();
  }
  return x;
}

std::vector<double> Reference(const std::vector<float>& x) {
  double max = -std::numeric_limits<double>::infinity();
  for (float v : x) max = std::fmax(max, static_cast<double>(v));
  std::vector<double> e(x.size());
  double sum = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) sum += e[i] = std::exp(static_cast<double>(x[i]) - max);
  for (double& v : e) v /= sum;
  return e;
}

// Every output within a small relative error of the reference (a few dozen
// ulps: far looser than the library's bound, tight enough to catch a wrong
// kernel or a miscompilation), and the output sums to 1.
bool MatchesReference(const std::vector<float>& y, const std::vector<double>& ref) {
  for (std::size_t i = 0; i < y.size(); ++i) {
    if (!(std::fabs(static_cast<double>(y[i]) - ref[i]) <= 1e-5 * ref[i] + 1e-30)) return false;
  }
  return std::fabs(consumer::HwySum(y.data(), y.size()) - 1.0) <= 1e-4;
}

}  // namespace

int main() {
  using softkern::Algorithm;
  using softkern::Isa;

  Isa isas[softkern::kIsaCount];
  const std::size_t isa_count = softkern::supported_isas(isas, softkern::kIsaCount);
  std::printf("softkern: active %s; supported:", softkern::isa_name(softkern::active_isa()));
  for (std::size_t i = 0; i < isa_count; ++i) std::printf(" %s", softkern::isa_name(isas[i]));
  std::printf("\nhighway (this program's own kernel): %s\n", consumer::HwySumTarget());

  const std::size_t sizes[] = {1, 2, 7, 8, 15, 16, 17, 100, 1000, 4099};
  for (std::size_t k = 0; k < isa_count; ++k) {
    const char* isa = softkern::isa_name(isas[k]);
    Check(softkern::force_isa(isas[k]).ok(), "force_isa", isa, "-", 0);
    Check(softkern::active_isa() == isas[k], "active_isa follows force_isa", isa, "-", 0);
    for (int a = 0; a < softkern::kAlgorithmCount; ++a) {
      softkern::SoftmaxOptions options;
      options.algorithm = static_cast<Algorithm>(a);
      const char* algorithm = softkern::algorithm_name(options.algorithm);
      for (std::size_t n : sizes) {
        const std::vector<float> x = MakeRow(n, static_cast<std::uint32_t>(n + 31 * a));
        const std::vector<double> ref = Reference(x);
        if (n == 1) {
          // MakeRow(1) is finite; its softmax is exactly 1.
          Check(ref[0] == 1.0, "reference", isa, algorithm, n);
        }
        std::vector<float> y(n, -1.0f);
        Check(softkern::softmax(x.data(), y.data(), n, options).ok(), "softmax returns ok", isa,
              algorithm, n);
        Check(MatchesReference(y, ref), "softmax matches the reference", isa, algorithm, n);
        for (std::size_t i = 3; i < n; i += 7) Check(y[i] == 0.0f, "-inf gets weight 0", isa, algorithm, n);

        std::vector<float> inplace = x;
        Check(softkern::softmax(inplace.data(), inplace.data(), n, options).ok(), "in place returns ok",
              isa, algorithm, n);
        Check(MatchesReference(inplace, ref), "in place matches the reference", isa, algorithm, n);
      }
    }
  }
  softkern::reset_isa();

  // A rejected call says why and writes nothing.
  float y[4] = {7, 7, 7, 7};
  const softkern::Status null_input = softkern::softmax(nullptr, y, 4);
  Check(null_input.code() == softkern::StatusCode::kNullPointer, "null input is rejected", "-", "-", 4);
  Check(y[0] == 7 && y[1] == 7 && y[2] == 7 && y[3] == 7, "a rejected call writes nothing", "-", "-", 4);

  const int row_failures = consumer::CheckRows();
  g_failures += row_failures;

  if (g_failures != 0) {
    std::printf("consumer: FAILED, %d of %d checks failed (+ %d in rows.cpp)\n", g_failures - row_failures,
                g_checks, row_failures);
    return 1;
  }
  std::printf("consumer: all %d checks passed (+ rows.cpp)\n", g_checks);
  return 0;
}
