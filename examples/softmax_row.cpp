// softmax_row — the smallest complete softkern program.
//
//   softmax_row                      softmax of a built-in row of 8 logits
//   softmax_row 1 2 3 -inf           softmax of the numbers given
//   softmax_row -t 0.5 1 2 3         ... at temperature 0.5 (also --temperature)
//   softmax_row --log 1 2 3          log-softmax
//
// Prints the instruction set the kernels run on, the input, the output and
// the sum of the output (with --log, the sum of its exponentials). Exits 0 on
// success; on a rejected call it prints the Status message and exits 1 (try
// `softmax_row -t 0 1 2`); on a bad command line it exits 2. Numbers are
// parsed with strtof, so "inf", "-inf" and "nan" work as inputs.
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include "softkern/softkern.hpp"

namespace {

bool ParseFloat(const char* text, float* value) {
  char* end = nullptr;
  errno = 0;
  *value = std::strtof(text, &end);
  // ERANGE on underflow is fine (the value is 0 or subnormal); on overflow
  // strtof returns +-HUGE_VALF, i.e. +-inf, which is a legitimate logit.
  return end != text && *end == '\0';
}

void PrintRow(const char* label, const std::vector<float>& row) {
  std::printf("%-7s", label);
  for (float v : row) std::printf(" %.6g", static_cast<double>(v));
  std::printf("\n");
}

int Usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s [-t|--temperature T] [--log] [x1 x2 ...]\n", argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  softkern::SoftmaxOptions options;
  std::vector<float> x;
  for (int i = 1; i < argc; ++i) {
    const char* arg = argv[i];
    if (std::strcmp(arg, "-t") == 0 || std::strcmp(arg, "--temperature") == 0) {
      if (i + 1 == argc || !ParseFloat(argv[i + 1], &options.temperature)) return Usage(argv[0]);
      ++i;
    } else if (std::strcmp(arg, "--log") == 0) {
      options.log = true;
    } else if (std::strcmp(arg, "-h") == 0 || std::strcmp(arg, "--help") == 0) {
      Usage(argv[0]);
      return 0;
    } else {
      float v;
      if (!ParseFloat(arg, &v)) {
        std::fprintf(stderr, "not a number: '%s'\n", arg);
        return Usage(argv[0]);
      }
      x.push_back(v);
    }
  }
  if (x.empty()) {
    // The -inf is a masked position: it gets weight exactly 0.
    x = {1.0f, 2.0f, 3.0f, 4.0f, -kInf, 0.5f, -1.0f, 2.5f};
  }

  std::vector<float> y(x.size());
  const softkern::Status status = softkern::softmax(x.data(), y.data(), x.size(), options);
  std::printf("isa:    %s\n", softkern::isa_name(softkern::active_isa()));
  if (!status.ok()) {
    std::fprintf(stderr, "softmax failed: %s\n", status.message());
    return 1;
  }

  // The output sums to 1 up to rounding (for log-softmax: its exponentials do).
  double sum = 0.0;
  for (float v : y) sum += options.log ? std::exp(static_cast<double>(v)) : static_cast<double>(v);
  PrintRow("input:", x);
  PrintRow("output:", y);
  std::printf("sum:    %.9g\n", sum);
  return 0;
}
