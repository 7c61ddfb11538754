// tests/support.hpp — what every softkern test shares:
//  - the error bound, in one place (namespace bound);
//  - a long-double reference softmax with the exact semantics of softmax.hpp;
//  - a checker that compares a kernel's output with the reference and returns
//    the measured error figures, so tests can print them;
//  - per-ISA / per-algorithm parameterisation (force_isa, reset_isa after);
//  - buffers with sentinel guards, row generators, float bit helpers.
#ifndef SOFTKERN_TESTS_SUPPORT_HPP_
#define SOFTKERN_TESTS_SUPPORT_HPP_

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iterator>
#include <limits>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "softkern/softkern.hpp"

namespace softkern_test {

using softkern::Algorithm;
using softkern::Isa;
using softkern::SoftmaxOptions;
using softkern::Status;
using softkern::StatusCode;

// ============================================================================
// The error bound. Every accuracy assertion in the suite uses these constants
// and nothing else, so this is the one place to read (and to change) what the
// library promises.
//
// u = 2^-24 (float32 unit roundoff); M = max over the row and the sink;
// z_i = (x_i - M) / T; r_i = the exact result (long-double reference);
// S(n) = 18 + 3 ceil(log2(max(1, n / 64))), the summation term.
//
//   softmax:      |y_i - r_i| <= u * (8 + S(n) + 2|z_i|) * r_i + 2^-149
//   log-softmax:  |y_i - r_i| <= u * (8 + S(n) + 2|z_i| + 2|r_i|)   (r_i finite)
//   row sum:      |sum_i y_i - sum_i r_i| <= u * (8 + S(n))         (softmax)
//
// Why this shape: the 2|z_i| term is the exponential's condition number
// (rounding x_i - M and the division by T moves z_i by about u|z_i| each, and
// e^z turns an absolute error in z into a relative one); 8 collects the
// exponential (2 ulp), the final division and roundings; S(n) is the sum's
// rounding: every lane of each of the four accumulators adds at most 16 terms
// per leaf of the reduction tree (each addition rounds by at most u of the
// partial sum, and when one term dominates they all round the same way), two
// levels merge the accumulators, and each level of the tree (one per halving
// of the row down to a leaf) adds at most 3u (an addition, and for the online
// algorithm a rescale by an exponential). 2^-149 (one float denormal step)
// lets results that underflow be rounded in the denormal range. For
// log-softmax the output is z_i - log(S) and both terms are rounded once
// more, hence 2|r_i|.
//
// The bound is a worst case, reached only by adversarial rows (one entry far
// above many equal small ones: Distribution::kDominantTail, found by the
// fuzzer). Typical rows measure 3 to 6 (the test output lines that start with
// "[ accuracy ]" print the measured figure with S(n) taken out).
//
// Special values are exact, not bounded: NaN where the reference is NaN, an
// exact 0 (log: -inf) for -inf entries and the losers of a +inf row, exactly
// (float)(1/k) for each of k +inf entries.
// ============================================================================
namespace bound {
inline constexpr double kUnitRoundoff = 0x1p-24;       // u
inline constexpr long double kDenormalStep = 0x1p-149L;  // smallest float denormal
inline constexpr double kElementC = 8.0;
inline constexpr double kRowSumC = 8.0;
// S(n): the summation term (above).
inline double summation_c(std::size_t n) {
  int levels = 0;
  for (std::size_t leaves = (n + 63) / 64; leaves > 1; leaves = (leaves + 1) / 2) ++levels;
  return 18.0 + 3.0 * levels;
}
inline double element_c(std::size_t n) { return kElementC + summation_c(n); }
inline double row_sum_c(std::size_t n) { return kRowSumC + summation_c(n); }
// softkern::detail::exp_for_testing against the correctly rounded e^x,
// counted on the float grid including denormals.
inline constexpr std::int64_t kExpMaxUlp = 2;
// 16-bit outputs: the final pass evaluates e^z with a polynomial matched to
// the type (softmax_exp-inl.hpp: degree 2 for bf16, 3 for f16), whose
// relative error on its interval is below these (2^-9.18 and 2^-13.71);
// test_float16 adds it once to the two roundings to the type.
inline constexpr double kExpErrorBf16 = 0x1p-9;
inline constexpr double kExpErrorF16 = 0x1p-13;
}  // namespace bound

// ---------------------------------------------------------------------------
// Float bit helpers.
// ---------------------------------------------------------------------------
inline std::uint32_t float_bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
inline float bits_float(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
// Maps floats to integers so that consecutive floats (denormals included) are
// consecutive integers and order is preserved; +0 and -0 both map to 0.
inline std::int64_t ordered_key(float f) {
  const std::uint32_t u = float_bits(f);
  const std::int64_t magnitude = u & 0x7fffffffu;
  return (u & 0x80000000u) ? -magnitude : magnitude;
}
inline float from_ordered_key(std::int64_t key) {
  return key < 0 ? bits_float(static_cast<std::uint32_t>(-key) | 0x80000000u)
                 : bits_float(static_cast<std::uint32_t>(key));
}
inline std::int64_t ulp_distance(float a, float b) {
  const std::int64_t d = ordered_key(a) - ordered_key(b);
  return d < 0 ? -d : d;
}

inline std::string hexfloat(long double v) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%.9Lg (%La)", v, v);
  return buf;
}
inline std::string hexfloat(float v) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%.9g (%a, bits 0x%08x)", static_cast<double>(v),
                static_cast<double>(v), float_bits(v));
  return buf;
}

// ---------------------------------------------------------------------------
// Options.
// ---------------------------------------------------------------------------
inline std::string describe(const SoftmaxOptions& o) {
  std::ostringstream s;
  s << "algorithm=" << softkern::algorithm_name(o.algorithm) << " T=" << o.temperature
    << (o.log ? " log" : "");
  if (o.has_sink) s << " sink=" << o.sink;
  return s.str();
}

struct NamedOptions {
  const char* name;
  SoftmaxOptions options;  // algorithm is filled in by the test
};

inline SoftmaxOptions make_options(float temperature, bool log, bool has_sink, float sink) {
  SoftmaxOptions o;
  o.temperature = temperature;
  o.log = log;
  o.has_sink = has_sink;
  o.sink = sink;
  return o;
}

// The option variants every accuracy test sweeps: plain, both temperature
// directions, log, both sinks, and everything at once.
inline std::vector<NamedOptions> option_variants() {
  return {
      {"plain", make_options(1.0f, false, false, 0.0f)},
      {"temperature_0.25", make_options(0.25f, false, false, 0.0f)},
      {"temperature_3", make_options(3.0f, false, false, 0.0f)},
      {"log", make_options(1.0f, true, false, 0.0f)},
      {"log_temperature_0.25", make_options(0.25f, true, false, 0.0f)},
      {"sink_0", make_options(1.0f, false, true, 0.0f)},
      {"sink_2.5", make_options(1.0f, false, true, 2.5f)},
      {"temperature_3_log_sink_2.5", make_options(3.0f, true, true, 2.5f)},
  };
}

// ---------------------------------------------------------------------------
// The precision of the reference. long double where it is hardware (x87's
// 64-bit significand on x86) or just double; on aarch64 long double is IEEE
// quad, computed in software, which made the reference and the checker most
// of the suite's time (twice the kernels' under qemu). There double is used:
// the reference needs far less than u = 2^-24 of error, and double's 2^-53
// per operation (|z| 2^-53 on e^z, n 2^-53 on a sum of n <= 2^21 terms, both
// below 2^-28 relative, 2^-4 u) keeps the printed figures to their digits.
using Wide = std::conditional_t<std::numeric_limits<long double>::digits <= 64, long double, double>;
inline std::string hexfloat(double v) { return hexfloat(static_cast<long double>(v)); }

// Reference softmax in Wide (long double, or double on aarch64), with the semantics of softmax.hpp.
// ---------------------------------------------------------------------------
struct Reference {
  std::vector<Wide> r;          // the exact result (to ~2^-50 relative)
  std::vector<Wide> z;          // (x_i - M) / T, 0 where not finite (for the bound)
  std::vector<unsigned char> exact;    // special value: the output must equal (float)r exactly
  bool nan_row = false;
  Wide max = 0;                 // M, the maximum over the row and the sink
  Wide sum = 0;                 // sum of r (softmax only)
};

// e^z for the reference. z is Wide; the exponential is taken in double:
// its relative error (< 2^-52, plus |z| * 2^-53 from rounding z to double,
// |z| <= 2^14 here) is at least 2^20 times below float's u, and it is ten times
// faster than expl, which keeps the suite's runtime small. e^z underflows in
// double only for z < -745, where the exact result is far below 2^-149 and the
// bound's absolute term decides anyway.
inline Wide reference_exp(Wide z) {
  return static_cast<Wide>(std::exp(static_cast<double>(z)));
}

inline Reference reference_softmax(const float* x, std::size_t n, const SoftmaxOptions& o) {
  constexpr Wide kInf = std::numeric_limits<Wide>::infinity();
  constexpr Wide kNan = std::numeric_limits<Wide>::quiet_NaN();
  Reference ref;
  ref.r.assign(n, Wide{0});
  ref.z.assign(n, Wide{0});
  ref.exact.assign(n, 0);

  // A NaN anywhere (or a NaN sink) makes the whole row NaN.
  bool nan = o.has_sink && std::isnan(o.sink);
  for (std::size_t i = 0; i < n && !nan; ++i) nan = std::isnan(x[i]);
  if (nan) {
    ref.nan_row = true;
    std::fill(ref.r.begin(), ref.r.end(), kNan);
    std::fill(ref.exact.begin(), ref.exact.end(), 1);
    ref.sum = kNan;
    return ref;
  }

  Wide m = -kInf;
  for (std::size_t i = 0; i < n; ++i) m = std::max<Wide>(m, x[i]);
  if (o.has_sink) m = std::max<Wide>(m, o.sink);
  ref.max = m;

  if (m == kInf) {
    // +inf entries share the mass equally, everything else gets 0: the limit
    // of the function. A +inf sink is one more sharer (and takes no output).
    std::size_t k = 0;
    for (std::size_t i = 0; i < n; ++i) k += (x[i] == kInf);
    const std::size_t sharers = k + ((o.has_sink && o.sink == kInf) ? 1 : 0);
    for (std::size_t i = 0; i < n; ++i) {
      if (x[i] == kInf) {
        ref.r[i] = o.log ? -std::log(static_cast<Wide>(sharers))
                         : Wide{1} / static_cast<Wide>(sharers);
        // 1/k is exact in class (the kernel must give (float)(1/k)); -log k
        // goes through a log and is held to the bound instead.
        ref.exact[i] = o.log ? 0 : 1;
      } else {
        ref.r[i] = o.log ? -kInf : Wide{0};
        ref.exact[i] = 1;
      }
      ref.sum += o.log ? Wide{0} : ref.r[i];
    }
    return ref;
  }
  if (m == -kInf) {
    // Entirely -inf (and no sink, or a -inf sink): a fully masked row gives
    // zeros, not NaN; log-softmax gives -inf.
    std::fill(ref.r.begin(), ref.r.end(), o.log ? -kInf : Wide{0});
    std::fill(ref.exact.begin(), ref.exact.end(), 1);
    ref.sum = 0;
    return ref;
  }

  const Wide t = o.temperature;
  Wide s = 0;  // >= 1: the maximum contributes e^0 unless it is the sink, which does too
  for (std::size_t i = 0; i < n; ++i) {
    if (x[i] == -kInf) continue;
    ref.z[i] = (static_cast<Wide>(x[i]) - m) / t;
    // e^z_i is kept in r until s is known: one exponential per element, not
    // two (the reference is most of the suite's time under qemu).
    ref.r[i] = reference_exp(ref.z[i]);
    s += ref.r[i];
  }
  if (o.has_sink) s += reference_exp((static_cast<Wide>(o.sink) - m) / t);
  const Wide log_s = std::log(s);
  for (std::size_t i = 0; i < n; ++i) {
    if (x[i] == -kInf) {
      ref.r[i] = o.log ? -kInf : Wide{0};  // weight exactly 0
      ref.exact[i] = 1;
    } else {
      ref.r[i] = o.log ? ref.z[i] - log_s : ref.r[i] / s;
    }
    if (!o.log) ref.sum += ref.r[i];
  }
  return ref;
}

// ---------------------------------------------------------------------------
// The checker.
// ---------------------------------------------------------------------------
// Measured figures, in units of u, with the bound's z- and r-terms taken out:
//   softmax:  (|y_i - r_i| - 2^-149) / (u r_i) - 2|z_i|
//   log:      |y_i - r_i| / u - 2|z_i| - 2|r_i|
//   row sum:  |sum y - sum r| / u
// so that a figure <= bound::element_c(n) (row_sum_c(n)) is exactly "within
// the bound". The figures keep the summation term in: they say how much of
// 8 + S(n) a row actually used.
struct Accuracy {
  double element_c = -std::numeric_limits<double>::infinity();
  double row_sum_c = -std::numeric_limits<double>::infinity();
  std::size_t failures = 0;      // elements (or row sums) outside the bound / wrong class
  std::string first_failure;     // description of the first one

  void merge(const Accuracy& other) {
    element_c = std::max(element_c, other.element_c);
    row_sum_c = std::max(row_sum_c, other.row_sum_c);
    if (failures == 0 && other.failures != 0) first_failure = other.first_failure;
    failures += other.failures;
  }
  bool ok() const { return failures == 0; }
};

// Compares y[0..n) with the reference of x[0..n) under options o.
inline Accuracy check_softmax(const float* x, const float* y, std::size_t n,
                              const SoftmaxOptions& o, const Reference& ref,
                              double element_c = -1, double row_sum_c = -1) {
  // Negative: the bound of docs/accuracy.md for a row of n.
  if (element_c < 0) element_c = bound::element_c(n);
  if (row_sum_c < 0) row_sum_c = bound::row_sum_c(n);
  constexpr Wide kFltMax = std::numeric_limits<float>::max();
  const Wide u = bound::kUnitRoundoff;
  const Wide kDenormal = static_cast<Wide>(bound::kDenormalStep);
  Accuracy acc;
  auto fail = [&](std::size_t i, const char* why, Wide limit) {
    if (acc.failures++ == 0) {
      std::ostringstream s;
      s << why << " at i=" << i << " of n=" << n << " (" << describe(o) << "): x[i]="
        << hexfloat(x[i]) << " y[i]=" << hexfloat(y[i]) << " reference=" << hexfloat(ref.r[i])
        << " z=" << static_cast<double>(ref.z[i]) << " allowed |error|="
        << static_cast<double>(limit);
      acc.first_failure = s.str();
    }
  };

  for (std::size_t i = 0; i < n; ++i) {
    const Wide r = ref.r[i];
    const Wide yi = y[i];
    if (ref.exact[i]) {
      const bool match = std::isnan(r) ? std::isnan(yi) : (yi == static_cast<float>(r));
      if (!match) fail(i, "special value mismatch", 0);
      continue;
    }
    const Wide az = std::fabs(ref.z[i]);
    if (!o.log) {
      const Wide limit = u * (element_c + 2 * az) * r + kDenormal;
      const Wide err = std::fabs(yi - r);
      if (!(err <= limit)) fail(i, "softmax element outside the bound", limit);  // NaN fails too
      if (r > 0 && std::isfinite(err)) {
        const Wide c = std::max(Wide{0}, err - kDenormal) / (u * r) - 2 * az;
        acc.element_c = std::max(acc.element_c, static_cast<double>(c));
      }
    } else {
      const Wide limit = u * (element_c + 2 * az + 2 * std::fabs(r));
      // Beyond float's range the exact result rounds to -inf: -inf is right.
      // So it is where x_i - M itself is beyond float's range (x_i <= -3e38
      // with M >= 3e38, say): log-softmax is formed from that float
      // difference, as docs/accuracy.md states.
      if ((r < -kFltMax || ref.max - x[i] > kFltMax) &&
          yi == -std::numeric_limits<Wide>::infinity())
        continue;
      const Wide err = std::fabs(yi - r);
      if (!(err <= limit)) fail(i, "log-softmax element outside the bound", limit);
      if (std::isfinite(err)) {
        const Wide c = err / u - 2 * az - 2 * std::fabs(r);
        acc.element_c = std::max(acc.element_c, static_cast<double>(c));
      }
    }
  }

  if (!o.log && !ref.nan_row && n > 0) {
    Wide sum = 0;
    for (std::size_t i = 0; i < n; ++i) sum += y[i];
    const Wide err = std::fabs(sum - ref.sum);
    if (std::isfinite(err)) acc.row_sum_c = static_cast<double>(err / u);
    if (!(err <= u * row_sum_c)) {
      if (acc.failures++ == 0) {
        std::ostringstream s;
        s << "row sum outside the bound, n=" << n << " (" << describe(o) << "): sum y="
          << hexfloat(sum) << " reference sum=" << hexfloat(ref.sum)
          << " error/u=" << static_cast<double>(err / u) << " > " << row_sum_c;
        acc.first_failure = s.str();
      }
    }
  }
  return acc;
}

// Reports a failing case with everything needed to reproduce it, at most
// kMaxReported times per test (a broken kernel fails thousands of cases; the
// first few say everything), then one line with the count of the rest.
class FailureLog {
 public:
  static constexpr int kMaxReported = 6;
  void add(const std::string& message) {
    if (++count_ <= kMaxReported) ADD_FAILURE() << message;
  }
  long count() const { return count_; }
  ~FailureLog() {
    if (count_ > kMaxReported)
      ADD_FAILURE() << (count_ - kMaxReported) << " more failing cases not shown";
  }

 private:
  long count_ = 0;
};

// Prints the measured figures of one test so they can be quoted, and records
// them in the test's XML/JSON output.
inline void report_accuracy(const std::string& label, const Accuracy& acc) {
  std::printf("[ accuracy ] %s: max element C = %.3f, max row-sum C = %.3f "
              "(bounds 8 + S(n) and 8 + S(n), S(n) >= 18)\n",
              label.c_str(), acc.element_c, acc.row_sum_c);
  std::fflush(stdout);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", acc.element_c);
  testing::Test::RecordProperty("max_element_c", buf);
  std::snprintf(buf, sizeof buf, "%.3f", acc.row_sum_c);
  testing::Test::RecordProperty("max_row_sum_c", buf);
}

// ---------------------------------------------------------------------------
// Row generators. Deterministic: a (distribution, n, seed) triple is a
// complete reproducer.
// ---------------------------------------------------------------------------
enum class Distribution {
  kNarrow,         // every entry equal: all ties, the sum is exactly n
  kWide,           // uniform in [-1000, 1000]: most weights underflow
  kLogits,         // normal-ish, sigma 3, clamped to [-10, 10]: typical model logits
  kHugeOutlier,    // logits plus one entry of 1e4: everything else underflows
  kNearOverflow,   // uniform in [80, 88.7]: e^x near FLT_MAX, a naive sum overflows
  kTiesAtMax,      // logits with about half of the entries tied at the maximum
  kDenormalSteps,  // x_i = (i - n/2) * 1e-40: differences are float denormals
  kMaskedNegInf,   // logits with about a quarter of the entries -inf (attention masks)
  kDominantTail,   // one entry 14.25 above all the others, which are equal: every
                   // term of the sum is ~6.5e-7 of the largest, so a float
                   // accumulator that holds the 1 rounds every small addition
                   // the same way (found by the fuzzer)
};
inline constexpr Distribution kAllDistributions[] = {
    Distribution::kNarrow,       Distribution::kWide,      Distribution::kLogits,
    Distribution::kHugeOutlier,  Distribution::kNearOverflow, Distribution::kTiesAtMax,
    Distribution::kDenormalSteps, Distribution::kMaskedNegInf, Distribution::kDominantTail,
};
inline constexpr std::size_t kDistributionCount = std::size(kAllDistributions);
inline const char* distribution_name(Distribution d) {
  switch (d) {
    case Distribution::kNarrow: return "narrow";
    case Distribution::kWide: return "wide";
    case Distribution::kLogits: return "logits";
    case Distribution::kHugeOutlier: return "huge_outlier";
    case Distribution::kNearOverflow: return "near_overflow";
    case Distribution::kTiesAtMax: return "ties_at_max";
    case Distribution::kDenormalSteps: return "denormal_steps";
    case Distribution::kMaskedNegInf: return "masked_neg_inf";
    case Distribution::kDominantTail: return "dominant_tail";
  }
  return "?";
}

inline std::vector<float> make_row(Distribution d, std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + n * 0xD1B54A32D192ED03ull +
                      static_cast<std::uint64_t>(d));
  auto uniform = [&](double lo, double hi) {
    return static_cast<float>(lo + (hi - lo) * (static_cast<double>(rng() >> 11) * 0x1p-53));
  };
  auto logit = [&] {
    // Sum of 4 uniforms: normal-ish with sigma 3, clamped to +-10.
    double s = 0;
    for (int k = 0; k < 4; ++k) s += static_cast<double>(rng() >> 11) * 0x1p-53 - 0.5;
    return static_cast<float>(std::clamp(s * 3.0 * std::sqrt(3.0), -10.0, 10.0));
  };
  std::vector<float> x(n);
  switch (d) {
    case Distribution::kNarrow: {
      const float v = uniform(-5, 5);
      std::fill(x.begin(), x.end(), v);
      break;
    }
    case Distribution::kWide:
      for (auto& v : x) v = uniform(-1000, 1000);
      break;
    case Distribution::kLogits:
      for (auto& v : x) v = logit();
      break;
    case Distribution::kHugeOutlier:
      for (auto& v : x) v = logit();
      if (n) x[rng() % n] = 1e4f;
      break;
    case Distribution::kNearOverflow:
      for (auto& v : x) v = uniform(80, 88.7);
      break;
    case Distribution::kTiesAtMax: {
      for (auto& v : x) v = logit();
      const float top = 9.5f;
      for (auto& v : x)
        if (rng() & 1) v = top;
      break;
    }
    case Distribution::kDenormalSteps:
      for (std::size_t i = 0; i < n; ++i)
        x[i] = static_cast<float>(static_cast<double>(static_cast<std::int64_t>(i) -
                                                      static_cast<std::int64_t>(n / 2)) *
                                  1e-40);
      break;
    case Distribution::kMaskedNegInf:
      for (auto& v : x) v = (rng() % 4 == 0) ? -std::numeric_limits<float>::infinity() : logit();
      break;
    case Distribution::kDominantTail:
      std::fill(x.begin(), x.end(), -29.0f);
      if (n) x[rng() % n] = -14.75f;
      break;
  }
  return x;
}

// ---------------------------------------------------------------------------
// Buffers: 64-byte-aligned base, a chosen offset in floats, and a zone of
// sentinel floats on both sides that must survive every call.
// ---------------------------------------------------------------------------
// A signalling-NaN bit pattern no kernel produces (arithmetic quiets NaNs).
inline constexpr std::uint32_t kSentinelBits = 0x7fbadbadu;

inline void fill_sentinel(float* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) std::memcpy(p + i, &kSentinelBits, sizeof kSentinelBits);
}
inline bool is_sentinel(const float* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (float_bits(p[i]) != kSentinelBits) return false;
  return true;
}
inline bool bitwise_equal(const float* a, const float* b, std::size_t n) {
  return n == 0 || std::memcmp(a, b, n * sizeof(float)) == 0;
}

class PaddedBuffer {
 public:
  static constexpr std::size_t kGuard = 64;  // floats (256 bytes) of sentinel on each side

  PaddedBuffer(std::size_t n, std::size_t offset) : n_(n), offset_(offset) {
    total_ = kGuard + offset + n + kGuard;
    const std::size_t bytes = (total_ * sizeof(float) + 63) / 64 * 64;
    base_.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
    fill_sentinel(base_.get(), total_);
  }
  float* data() { return base_.get() + kGuard + offset_; }
  const float* data() const { return base_.get() + kGuard + offset_; }
  std::size_t size() const { return n_; }
  // True if nothing outside [data, data + n) was written.
  bool guards_intact() const {
    return is_sentinel(base_.get(), kGuard + offset_) &&
           is_sentinel(base_.get() + kGuard + offset_ + n_, kGuard);
  }

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float, Free> base_;
  std::size_t n_, offset_, total_;
};

// One softmax call on a copy of `x` placed at the given float offsets from a
// 64-byte-aligned base, in place or out of place; checks the status, the
// guard zones, that the input was not written, and the result against `ref`.
// Failures go to `log` with a full reproducer; returns the measured figures.
// The sentinel around and (out of place) inside y is a NaN pattern, so an
// element the kernel forgot to write, or a stray read folded into the row's
// max or sum, shows up as a wrong result too.
inline Accuracy run_softmax_case(const std::vector<float>& x, const SoftmaxOptions& o,
                                 const Reference& ref, std::size_t x_offset,
                                 std::size_t y_offset, bool in_place,
                                 const std::string& context, FailureLog& log,
                                 std::vector<float>* output = nullptr) {
  const std::size_t n = x.size();
  std::ostringstream where;
  where << context << " n=" << n << " " << describe(o);
  if (in_place)
    where << " in place at offset " << x_offset;
  else
    where << " out of place, x offset " << x_offset << ", y offset " << y_offset;

  PaddedBuffer xb(n, x_offset);
  std::copy(x.begin(), x.end(), xb.data());
  std::unique_ptr<PaddedBuffer> yb;
  float* y = xb.data();
  if (!in_place) {
    yb = std::make_unique<PaddedBuffer>(n, y_offset);
    y = yb->data();
  }
  const Status s = softkern::softmax(xb.data(), y, n, o);
  if (!s.ok()) {
    log.add(where.str() + ": rejected: " + s.message());
    return {};
  }
  if (!xb.guards_intact() || (yb && !yb->guards_intact()))
    log.add(where.str() + ": wrote outside [x, x+n) or [y, y+n)");
  if (!in_place && !bitwise_equal(xb.data(), x.data(), n))
    log.add(where.str() + ": the input x was modified");
  Accuracy acc = check_softmax(x.data(), y, n, o, ref);
  if (!acc.ok())
    log.add(where.str() + ": " + std::to_string(acc.failures) + " bad element(s); first: " +
            acc.first_failure);
  if (output) output->assign(y, y + n);
  return acc;
}

// ---------------------------------------------------------------------------
// Sweep depth: the environment variable SOFTKERN_TEST_SWEEP.
//
// Unset, or "full": every sweep at its full depth (every length 0..300, the
// long rows with every distribution and option). The README's test command
// runs this; so does scripts/test_full.sh, under qemu and the sanitizers.
//
// "boundaries": set by scripts/test_arm.sh (qemu) and scripts/test_sanitizers.sh,
// where every instruction is emulated or instrumented and the full sweeps
// cost ten times and more their native time. Every target, algorithm, option,
// distribution and layout still runs; what is left out is lengths that only
// repeat a code path other lengths already take:
//  - short rows (sweep_lengths): every length up to 131, which on every target
//    (vectors of at most 16 floats: AVX-512, SVE at 512 bits) is zero, one
//    and two passes of the four-vector loops, each followed by 0..3 single
//    vectors and every tail length; above that, the leaf boundaries of the
//    targets whose leaves (64 vectors) are shorter than 300 floats (scalar:
//    64, NEON and SVE at 128 bits: 256), which include 2^k - 1, 2^k, 2^k + 1;
//    and the sweep's last length;
//  - long rows: every length (each over leaf boundaries of every target; the
//    threaded row over the chunk boundaries) with every distribution, but
//    the option variants, which change constants folded into the same loops,
//    only at the shorter long lengths (each test says which).
// ---------------------------------------------------------------------------
enum class Sweep { kFull, kBoundaries };

inline Sweep sweep_depth() {
  static const Sweep depth = [] {
    const char* env = std::getenv("SOFTKERN_TEST_SWEEP");
    if (env == nullptr || *env == '\0' || std::strcmp(env, "full") == 0) return Sweep::kFull;
    if (std::strcmp(env, "boundaries") == 0) return Sweep::kBoundaries;
    std::fprintf(stderr, "SOFTKERN_TEST_SWEEP=%s: expected full or boundaries\n", env);
    std::abort();
  }();
  return depth;
}
inline bool full_sweep() { return sweep_depth() == Sweep::kFull; }
inline const char* sweep_name() { return full_sweep() ? "full sweep" : "boundary sweep"; }

// The lengths of [first, last] a sweep runs: all of them (full), or the
// boundary lengths among them (above).
inline std::vector<std::size_t> sweep_lengths(std::size_t first, std::size_t last) {
  constexpr std::size_t kWidestLanes = 16;
  constexpr std::size_t kEveryLengthUpTo = 2 * 4 * kWidestLanes + 3;  // 131
  constexpr std::size_t kLeafBoundaries[] = {191, 192, 193, 255, 256, 257};
  std::vector<std::size_t> lengths;
  for (std::size_t n = first; n <= last; ++n) {
    if (full_sweep() || n <= kEveryLengthUpTo || n == last ||
        std::find(std::begin(kLeafBoundaries), std::end(kLeafBoundaries), n) !=
            std::end(kLeafBoundaries))
      lengths.push_back(n);
  }
  return lengths;
}

// ---------------------------------------------------------------------------
// ISA and algorithm parameterisation.
// ---------------------------------------------------------------------------
inline constexpr Algorithm kAllAlgorithms[] = {
    Algorithm::kAuto, Algorithm::kThreePassRecompute, Algorithm::kThreePassReload,
    Algorithm::kTwoPass, Algorithm::kOnline,
};

// The ISAs are written straight into the vector and the vector is then cut
// to the count, rather than copied from a stack array with the vector's
// range constructor: with that copy inlined into a loop over the list
// (test_dispatch.cpp), g++ 12 at -O2/-O3 loses track of where the
// allocation starts and warns -Wfree-nonheap-object about the vector's own
// deallocation, a false positive.
inline std::vector<Isa> supported_isa_list() {
  std::vector<Isa> isas(softkern::kIsaCount);
  const std::size_t k = softkern::supported_isas(isas.data(), isas.size());
  isas.resize(std::min(k, isas.size()));
  return isas;
}

struct IsaAlgorithm {
  Isa isa;
  Algorithm algorithm;
};
inline std::ostream& operator<<(std::ostream& s, const IsaAlgorithm& p) {
  return s << softkern::isa_name(p.isa) << "/" << softkern::algorithm_name(p.algorithm);
}

inline std::vector<IsaAlgorithm> supported_isa_algorithm_pairs() {
  std::vector<IsaAlgorithm> out;
  for (Isa isa : supported_isa_list())
    for (Algorithm a : kAllAlgorithms) out.push_back({isa, a});
  return out;
}

// Test-name suffixes: "avx2_two_pass", "scalar".
inline std::string pair_test_name(const testing::TestParamInfo<IsaAlgorithm>& info) {
  return std::string(softkern::isa_name(info.param.isa)) + "_" +
         softkern::algorithm_name(info.param.algorithm);
}
inline std::string isa_test_name(const testing::TestParamInfo<Isa>& info) {
  return softkern::isa_name(info.param);
}

// Forces an ISA for a scope; always resets on the way out, failed assertion or not.
class ScopedIsa {
 public:
  explicit ScopedIsa(Isa isa) : status_(softkern::force_isa(isa)) {}
  ~ScopedIsa() { softkern::reset_isa(); }
  ScopedIsa(const ScopedIsa&) = delete;
  ScopedIsa& operator=(const ScopedIsa&) = delete;
  const Status& status() const { return status_; }

 private:
  Status status_;
};

// SOFTKERN_TEST_ISAS, if set, is a list of target names ("sve2 sve"):
// for_each_supported_isa then runs only those of the supported targets.
// scripts/test_arm.sh sets it for its SVE runs, which leave the neon and
// scalar targets to the NEON run (the code qemu runs for them does not
// depend on the emulated CPU); the per-target parameterised tests are left
// out there by name (ctest -E) instead.
inline bool isa_selected_for_test(Isa isa) {
  const char* env = std::getenv("SOFTKERN_TEST_ISAS");
  if (env == nullptr || *env == '\0') return true;
  std::istringstream names(env);
  std::string name;
  while (names >> name) {
    Isa listed;
    if (!softkern::parse_isa(name.c_str(), &listed).ok()) {
      std::fprintf(stderr, "SOFTKERN_TEST_ISAS: unknown target '%s'\n", name.c_str());
      std::abort();
    }
    if (listed == isa) return true;
  }
  return false;
}

// Runs body(isa) once per supported ISA (selected by SOFTKERN_TEST_ISAS, if
// set) with that ISA forced, resetting after.
inline void for_each_supported_isa(const std::function<void(Isa)>& body) {
  for (Isa isa : supported_isa_list()) {
    if (!isa_selected_for_test(isa)) continue;
    SCOPED_TRACE(std::string("isa=") + softkern::isa_name(isa));
    ScopedIsa scoped(isa);
    ASSERT_TRUE(scoped.status().ok()) << scoped.status().message();
    ASSERT_EQ(softkern::active_isa(), isa);
    body(isa);
  }
}

// Fixture for tests parameterised by (ISA, algorithm): the ISA is forced for
// the whole test and reset afterwards.
class IsaAlgorithmTest : public testing::TestWithParam<IsaAlgorithm> {
 protected:
  void SetUp() override {
    const Status s = softkern::force_isa(GetParam().isa);
    ASSERT_TRUE(s.ok()) << s.message();
    ASSERT_EQ(softkern::active_isa(), GetParam().isa);
  }
  void TearDown() override { softkern::reset_isa(); }

  Isa isa() const { return GetParam().isa; }
  Algorithm algorithm() const { return GetParam().algorithm; }
  SoftmaxOptions with_algorithm(SoftmaxOptions o) const {
    o.algorithm = algorithm();
    return o;
  }
  std::string label() const {
    return std::string(softkern::isa_name(isa())) + "/" + softkern::algorithm_name(algorithm());
  }
};

// Fixture for tests parameterised by ISA only.
class IsaTest : public testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    const Status s = softkern::force_isa(GetParam());
    ASSERT_TRUE(s.ok()) << s.message();
    ASSERT_EQ(softkern::active_isa(), GetParam());
  }
  void TearDown() override { softkern::reset_isa(); }
  Isa isa() const { return GetParam(); }
};

}  // namespace softkern_test

#endif  // SOFTKERN_TESTS_SUPPORT_HPP_
