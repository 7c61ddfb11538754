// A second translation unit that includes softkern headers, to show that any
// number of them can: the headers only declare, and the one implementation
// TU (softkern_impl) defines. A duplicate definition would fail to link.
#include <cmath>
#include <cstdio>
#include <vector>

#include "consumer.h"
#include "softkern/softmax.hpp"

namespace consumer {

int CheckRows() {
  // 3 rows of 10 logits, stored 16 apart; the gaps must stay untouched.
  constexpr std::size_t kRows = 3, kCols = 10, kStride = 16;
  constexpr float kGap = 12345.0f;
  std::vector<float> x(kRows * kStride, kGap), y(kRows * kStride, kGap);
  for (std::size_t r = 0; r < kRows; ++r) {
    for (std::size_t c = 0; c < kCols; ++c) x[r * kStride + c] = 0.25f * static_cast<float>(c) - static_cast<float>(r);
  }

  int failures = 0;
  auto check = [&failures](bool ok, const char* what) {
    if (!ok) {
      ++failures;
      std::fprintf(stderr, "FAILED (rows.cpp): %s\n", what);
    }
  };

  softkern::SoftmaxOptions options;
  options.temperature = 0.5f;
  check(softkern::softmax_rows(x.data(), kStride, y.data(), kStride, kRows, kCols, options).ok(),
        "softmax_rows returns ok");
  for (std::size_t r = 0; r < kRows; ++r) {
    const float* row = &y[r * kStride];
    check(std::fabs(HwySum(row, kCols) - 1.0) <= 1e-5, "each row sums to 1");
    // Logits 0.25 apart at T = 0.5: neighbours differ by a factor e^0.5.
    for (std::size_t c = 1; c < kCols; ++c) {
      check(std::fabs(row[c] / row[c - 1] - std::exp(0.5)) <= 1e-5, "temperature is applied");
    }
    // Every row is the same logits shifted by a constant: the same softmax.
    for (std::size_t c = 0; c < kCols; ++c) check(std::fabs(row[c] - y[c]) <= 1e-6f, "softmax is shift-invariant");
    for (std::size_t c = kCols; c < kStride; ++c) check(row[c] == kGap, "the gap between rows is untouched");
  }

  // A stride shorter than a row is rejected before anything is written.
  std::vector<float> untouched(kRows * kStride, kGap);
  const softkern::Status bad = softkern::softmax_rows(x.data(), kCols - 1, untouched.data(), kStride, kRows, kCols);
  check(bad.code() == softkern::StatusCode::kBadStride, "a short stride is rejected");
  for (float v : untouched) {
    if (v != kGap) {
      check(false, "a rejected call writes nothing");
      break;
    }
  }
  return failures;
}

}  // namespace consumer
