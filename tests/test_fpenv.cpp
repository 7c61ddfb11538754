// Floating-point modes: the results do not depend on the caller's rounding
// mode or on flush-to-zero / denormals-are-zero, bit for bit, and every call
// leaves the caller's floating-point control state as it found it
// (detail/fp_env.hpp sets IEEE defaults for the duration of a call).
#include <cfenv>

#include "support.hpp"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

namespace softkern_test {
namespace {

// The caller-visible control state: the rounding mode plus FTZ/DAZ (x86
// MXCSR control bits, Arm FPCR).
std::uint64_t control_state() {
#if defined(__x86_64__) || defined(_M_X64)
  return _mm_getcsr() & 0xFFC0u;
#elif defined(__aarch64__)
  std::uint64_t fpcr;
  __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
  return fpcr;
#else
  return static_cast<std::uint64_t>(std::fegetround());
#endif
}

// Sets flush-to-zero (results) and denormals-are-zero (inputs) where the
// hardware has them; returns false if it does not.
bool set_flush_modes(bool ftz, bool daz) {
#if defined(__x86_64__) || defined(_M_X64)
  unsigned csr = _mm_getcsr() & ~0x8040u;
  csr |= (ftz ? 0x8000u : 0u) | (daz ? 0x0040u : 0u);
  _mm_setcsr(csr);
  return true;
#elif defined(__aarch64__)
  // Arm has one bit (FZ) for both.
  std::uint64_t fpcr;
  __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
  fpcr = (ftz || daz) ? (fpcr | (1ull << 24)) : (fpcr & ~(1ull << 24));
  __asm__ volatile("msr fpcr, %0" : : "r"(fpcr));
  return true;
#else
  return !ftz && !daz;
#endif
}

struct Mode {
  const char* name;
  int rounding;
  bool ftz, daz;
};
const Mode kModes[] = {
    {"round up", FE_UPWARD, false, false},
    {"round down", FE_DOWNWARD, false, false},
    {"round toward zero", FE_TOWARDZERO, false, false},
    {"flush-to-zero", FE_TONEAREST, true, false},
    {"denormals-are-zero", FE_TONEAREST, false, true},
    {"FTZ + DAZ", FE_TONEAREST, true, true},
    {"FTZ + DAZ + round down", FE_DOWNWARD, true, true},
};

class FloatingPointModes : public IsaAlgorithmTest {};

TEST_P(FloatingPointModes, ResultsIndependentOfTheCallersModesAndModesRestored) {
  FailureLog log;
  // Rows whose results reach the denormal range (wide, outliers), whose
  // inputs are denormal (denormal_steps), and ordinary ones; plus the rows
  // API with a sink and a temperature.
  const Distribution dists[] = {Distribution::kDenormalSteps, Distribution::kWide,
                                Distribution::kHugeOutlier, Distribution::kLogits,
                                Distribution::kMaskedNegInf};
  const NamedOptions variants[] = {option_variants()[0], option_variants()[7]};
  for (int d = -1; d < static_cast<int>(std::size(dists)); ++d) {
    for (std::size_t n : {std::size_t{1}, std::size_t{17}, std::size_t{300}, std::size_t{5000}}) {
      // d = -1: a row whose outputs sweep the denormal range (0 down to
      // -100.7 in steps of 5.3: e^-87.3 is the smallest normal float), which
      // flush-to-zero would zero out.
      std::vector<float> x(n);
      for (std::size_t i = 0; i < n; ++i) x[i] = -5.3f * static_cast<float>(i % 20);
      if (d >= 0) x = make_row(dists[d], n, 40);
      const char* dist_name = d >= 0 ? distribution_name(dists[d]) : "denormal_outputs";
      for (const NamedOptions& variant : variants) {
        const SoftmaxOptions o = with_algorithm(variant.options);
        std::vector<float> want(n), got(n);
        ASSERT_TRUE(softkern::softmax(x.data(), want.data(), n, o).ok());
        for (const Mode& mode : kModes) {
          const std::string what = label() + " " + dist_name + " n=" +
                                   std::to_string(n) + " " + variant.name + " under " + mode.name;
          ASSERT_EQ(std::fesetround(mode.rounding), 0);
          if (!set_flush_modes(mode.ftz, mode.daz)) continue;
          const std::uint64_t before = control_state();
          const Status s = softkern::softmax(x.data(), got.data(), n, o);
          std::vector<float> rows_out(2 * n);
          std::vector<float> x2(2 * n);
          std::copy(x.begin(), x.end(), x2.begin());
          std::copy(x.begin(), x.end(), x2.begin() + static_cast<std::ptrdiff_t>(n));
          const Status s2 = softkern::softmax_rows(x2.data(), n, rows_out.data(), n, 2, n, o);
          const std::uint64_t after = control_state();
          set_flush_modes(false, false);
          std::fesetround(FE_TONEAREST);
          if (!s.ok() || !s2.ok()) {
            log.add(what + ": rejected");
            continue;
          }
          if (after != before) log.add(what + ": the call changed the caller's floating-point modes");
          if (!bitwise_equal(got.data(), want.data(), n))
            log.add(what + ": softmax result differs from the default mode's");
          if (!bitwise_equal(rows_out.data(), want.data(), n) ||
              !bitwise_equal(rows_out.data() + n, want.data(), n))
            log.add(what + ": softmax_rows result differs from the default mode's");
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllIsas, FloatingPointModes,
                         testing::ValuesIn(supported_isa_algorithm_pairs()), pair_test_name);

}  // namespace
}  // namespace softkern_test
