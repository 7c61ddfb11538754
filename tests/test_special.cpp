// Special values and rejected calls, for every algorithm on every ISA.
//
// Special values (softmax.hpp): -inf gets exactly 0; a fully masked row gives
// zeros (log: -inf); any NaN, sink included, makes the row NaN; +inf entries
// share the mass equally; huge finite values never make a NaN.
// Rejected calls (status.hpp, DESIGN.md): null pointers with n > 0,
// overlapping unequal buffers, bad strides, sizes that overflow, bad
// temperatures: each returns its StatusCode with a message, and writes nothing.
#include <cfloat>

#include "support.hpp"

namespace softkern_test {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNan = std::numeric_limits<float>::quiet_NaN();

class SpecialValues : public IsaAlgorithmTest {
 protected:
  // Checks x against the reference (which encodes the special-value semantics
  // exactly) out of place, misaligned out of place, and in place, with every
  // option variant unless told otherwise. Returns the out-of-place outputs,
  // one per variant, for the explicit checks of each test.
  std::vector<std::vector<float>> check_all_variants(const std::vector<float>& x,
                                                     const std::string& what, FailureLog& log,
                                                     const std::vector<NamedOptions>& variants =
                                                         option_variants()) {
    std::vector<std::vector<float>> outputs;
    for (const NamedOptions& variant : variants) {
      const SoftmaxOptions o = with_algorithm(variant.options);
      const Reference ref = reference_softmax(x.data(), x.size(), o);
      const std::string context = label() + " " + what + " options=" + variant.name;
      std::vector<float> y;
      run_softmax_case(x, o, ref, 0, 0, false, context, log, &y);
      run_softmax_case(x, o, ref, 3, 6, false, context, log);
      run_softmax_case(x, o, ref, 5, 5, true, context, log);
      outputs.push_back(std::move(y));
    }
    return outputs;
  }
};

const std::vector<std::size_t>& special_lengths() {
  static const std::vector<std::size_t> lengths = [] {
    std::vector<std::size_t> v;
    for (std::size_t n = 1; n <= 40; ++n) v.push_back(n);
    for (std::size_t n : {63, 64, 65, 257, 1000, 4099}) v.push_back(n);
    return v;
  }();
  return lengths;
}

TEST_P(SpecialValues, NegInfGetsExactlyZero) {
  FailureLog log;
  const std::vector<NamedOptions> variants = option_variants();
  for (std::size_t n : special_lengths()) {
    std::vector<float> x = make_row(Distribution::kLogits, n, 10);
    // First, middle, last, and every fifth entry (never all of them for n > 1).
    std::vector<std::size_t> masked = {0, n / 2, n - 1};
    for (std::size_t i = 4; i < n; i += 5) masked.push_back(i);
    if (n == 1) masked = {};  // a fully masked row is the next test
    for (std::size_t i : masked) x[i] = -kInf;
    const auto outputs = check_all_variants(x, "-inf at first/middle/last/every 5th, n=" +
                                                   std::to_string(n), log);
    for (std::size_t v = 0; v < variants.size(); ++v)
      for (std::size_t i : masked)
        if (!(outputs[v].size() == n &&
              outputs[v][i] == (variants[v].options.log ? -kInf : 0.0f)))
          log.add(label() + " n=" + std::to_string(n) + " options=" + variants[v].name +
                  ": -inf entry " + std::to_string(i) + " did not get exactly " +
                  (variants[v].options.log ? "-inf" : "0"));
  }
}

TEST_P(SpecialValues, FullyMaskedRowGivesZerosNotNan) {
  FailureLog log;
  const std::vector<NamedOptions> variants = option_variants();
  std::vector<std::size_t> lengths = special_lengths();
  lengths.push_back(65537);
  for (std::size_t n : lengths) {
    const std::vector<float> x(n, -kInf);
    // With a finite sink the row's weights are still exactly 0 (e^-inf / e^sink).
    const auto outputs = check_all_variants(x, "all -inf, n=" + std::to_string(n), log);
    for (std::size_t v = 0; v < variants.size(); ++v) {
      const float expected = variants[v].options.log ? -kInf : 0.0f;
      for (std::size_t i = 0; i < n; ++i)
        if (!(outputs[v].size() == n && outputs[v][i] == expected)) {
          log.add(label() + " all -inf n=" + std::to_string(n) + " options=" + variants[v].name +
                  ": y[" + std::to_string(i) + "] = " +
                  (outputs[v].size() == n ? hexfloat(outputs[v][i]) : std::string("?")) +
                  ", expected " + (variants[v].options.log ? "-inf" : "0"));
          break;
        }
    }
  }
  // A -inf sink is the same as no sink.
  for (std::size_t n : {1, 5, 16, 33}) {
    const std::vector<float> x(n, -kInf);
    check_all_variants(x, "all -inf with -inf sink, n=" + std::to_string(n), log,
                       {{"sink_-inf", make_options(1.0f, false, true, -kInf)},
                        {"log_sink_-inf", make_options(1.0f, true, true, -kInf)}});
  }
}

TEST_P(SpecialValues, AnyNanMakesTheWholeRowNan) {
  FailureLog log;
  const std::vector<NamedOptions> variants = option_variants();
  const float negative_nan = -kNan;
  const float payload_nan = bits_float(0x7fc12345u);
  for (std::size_t n : special_lengths()) {
    for (std::size_t pos : {std::size_t{0}, n / 2, n - 1}) {
      struct Case {
        const char* name;
        std::vector<float> x;
      };
      std::vector<Case> cases;
      std::vector<float> x = make_row(Distribution::kLogits, n, 11);
      x[pos] = kNan;
      cases.push_back({"NaN in logits", x});
      x[pos] = negative_nan;
      cases.push_back({"-NaN in logits", x});
      x[pos] = payload_nan;
      cases.push_back({"NaN with payload in logits", x});
      if (n > 1) {
        x = make_row(Distribution::kLogits, n, 11);
        x[pos] = kNan;
        x[(pos + 1) % n] = kInf;  // +inf must not win over NaN
        cases.push_back({"NaN next to +inf", x});
        x[(pos + 1) % n] = -kInf;
        cases.push_back({"NaN next to -inf", x});
      }
      x.assign(n, -kInf);
      x[pos] = kNan;
      cases.push_back({"NaN in a fully masked row", x});
      x.assign(n, 3e38f);
      x[pos] = kNan;
      cases.push_back({"NaN among 3e38", x});
      for (const Case& c : cases) {
        const std::string what = std::string(c.name) + " at " + std::to_string(pos) +
                                 ", n=" + std::to_string(n);
        const auto outputs = check_all_variants(c.x, what, log);
        for (std::size_t v = 0; v < variants.size(); ++v)
          for (std::size_t i = 0; i < n; ++i)
            if (!(outputs[v].size() == n && std::isnan(outputs[v][i]))) {
              log.add(label() + " " + what + " options=" + variants[v].name + ": y[" +
                      std::to_string(i) + "] is not NaN");
              break;
            }
      }
    }
  }
  // A NaN sink makes a finite row, and a fully masked row, NaN.
  for (std::size_t n : {1, 7, 16, 17, 100, 1000}) {
    const std::vector<NamedOptions> nan_sink = {
        {"sink_NaN", make_options(1.0f, false, true, kNan)},
        {"log_temperature_3_sink_NaN", make_options(3.0f, true, true, kNan)}};
    check_all_variants(make_row(Distribution::kLogits, n, 12), "logits, n=" + std::to_string(n),
                       log, nan_sink);
    check_all_variants(std::vector<float>(n, -kInf), "all -inf, n=" + std::to_string(n), log,
                       nan_sink);
  }
}

TEST_P(SpecialValues, PosInfEntriesShareTheMassEqually) {
  FailureLog log;
  const std::vector<NamedOptions> variants = option_variants();
  for (std::size_t n : special_lengths()) {
    for (std::size_t k : {1, 2, 3, 4, 7}) {
      if (k > n) continue;
      std::vector<float> x = make_row(Distribution::kLogits, n, 13);
      // k +inf entries spread over the row, the last one at the very end, and
      // a -inf and a 3e38 elsewhere when there is room.
      std::vector<std::size_t> inf_at;
      for (std::size_t j = 0; j < k; ++j) inf_at.push_back(n - 1 - j * (n / k));
      for (std::size_t i : inf_at) x[i] = kInf;
      if (n > k + 1) {
        for (std::size_t i = 0; i < n; ++i)
          if (x[i] != kInf) { x[i] = -kInf; break; }
        for (std::size_t i = n; i-- > 0;)
          if (x[i] != kInf && x[i] != -kInf) { x[i] = 3e38f; break; }
      }
      const std::string what =
          std::to_string(k) + " x +inf, n=" + std::to_string(n);
      const auto outputs = check_all_variants(x, what, log);
      for (std::size_t v = 0; v < variants.size(); ++v) {
        if (variants[v].options.log || outputs[v].size() != n) continue;
        for (std::size_t i = 0; i < n; ++i) {
          const float expected = x[i] == kInf ? 1.0f / static_cast<float>(k) : 0.0f;
          if (float_bits(outputs[v][i]) != float_bits(expected) &&
              !(expected == 0 && outputs[v][i] == 0)) {
            log.add(label() + " " + what + " options=" + variants[v].name + ": y[" +
                    std::to_string(i) + "] = " + hexfloat(outputs[v][i]) + ", expected exactly " +
                    hexfloat(expected));
            break;
          }
        }
      }
    }
  }
  // A +inf sink with a finite row takes all the mass: zeros (log: -inf).
  for (std::size_t n : {1, 7, 16, 17, 100, 1000}) {
    check_all_variants(make_row(Distribution::kLogits, n, 14),
                       "+inf sink, logits, n=" + std::to_string(n), log,
                       {{"sink_+inf", make_options(1.0f, false, true, kInf)},
                        {"log_temperature_0.25_sink_+inf", make_options(0.25f, true, true, kInf)}});
  }
}

// +-3e38 and +-FLT_MAX: x - max overflows to -inf, x / T overflows to +-inf,
// e^x overflows; none of it may turn into a NaN, and the results still match
// the reference (equal huge values tie and share the mass).
TEST_P(SpecialValues, HugeFiniteValuesNeverGiveNan) {
  FailureLog log;
  const std::vector<NamedOptions> variants = option_variants();
  for (std::size_t n : special_lengths()) {
    struct Case {
      const char* name;
      std::vector<float> x;
    };
    std::vector<Case> cases;
    std::vector<float> x(n);
    for (std::size_t i = 0; i < n; ++i) {
      const float pattern[] = {3e38f, -3e38f, 0.0f, FLT_MAX, -FLT_MAX, 1.0f, -3e38f};
      x[i] = pattern[i % 7];
    }
    cases.push_back({"+-3e38, +-FLT_MAX, 0, 1 mixed", x});
    cases.push_back({"all 3e38", std::vector<float>(n, 3e38f)});
    cases.push_back({"all -3e38", std::vector<float>(n, -3e38f)});
    cases.push_back({"all -FLT_MAX", std::vector<float>(n, -FLT_MAX)});
    x = make_row(Distribution::kLogits, n, 15);
    x[n / 3] = FLT_MAX;
    cases.push_back({"one FLT_MAX among logits", x});
    x = make_row(Distribution::kLogits, n, 15);
    x[n / 3] = -FLT_MAX;
    cases.push_back({"one -FLT_MAX among logits", x});
    for (std::size_t i = 0; i < n; ++i) x[i] = (i % 2) ? -FLT_MAX : -kInf;
    cases.push_back({"-FLT_MAX and -inf alternating", x});
    for (const Case& c : cases) {
      const std::string what = std::string(c.name) + ", n=" + std::to_string(n);
      const auto outputs = check_all_variants(c.x, what, log);
      for (std::size_t v = 0; v < variants.size(); ++v)
        for (std::size_t i = 0; i < outputs[v].size(); ++i)
          if (std::isnan(outputs[v][i])) {
            log.add(label() + " " + what + " options=" + variants[v].name + ": y[" +
                    std::to_string(i) + "] is NaN");
            break;
          }
    }
  }
}

// Large-magnitude logits (found by fuzz_softmax: log-softmax of a row whose
// maximum was 3314322.5 was off by 2.4e-6). The two-pass algorithm reduces
// x/T by n ln 2 with n = round(x/T log2 e) formed in float, which is off by
// one when x/T log2 e is near a half-integer and large, leaving |r| up to
// 0.52 where the polynomial is only accurate to ln2/2; such rows must take
// the exact path. Rows are B + small steps, so many elements land near the
// half-integers, for B from the ordinary range to beyond 2^22.
TEST_P(SpecialValues, LargeMagnitudeLogits) {
  FailureLog log;
  for (float base : {1000.0f, 2839.0f, 2900.0f, 45000.0f, 1.0e5f, 1.5e6f, 3314322.5f, 4.0e6f,
                     -2900.0f, -1.0e5f, -3.0e6f, -4.19e6f}) {
    for (std::size_t n : {1, 7, 64, 257, 1000}) {
      std::vector<float> x(n);
      for (std::size_t i = 0; i < n; ++i) x[i] = base + static_cast<float>(i % 97) * 0.37f;
      char what[64];
      std::snprintf(what, sizeof what, "base=%.9g n=%zu", static_cast<double>(base), n);
      check_all_variants(x, what, log);
    }
  }
}

// Plain, log and sink variants at temperature t, and t's name for messages.
std::vector<NamedOptions> temperature_variants(float t) {
  return {{"temperature", make_options(t, false, false, 0.0f)},
          {"log_temperature", make_options(t, true, false, 0.0f)},
          {"temperature_sink_2.5", make_options(t, false, true, 2.5f)}};
}

std::string temperature_name(float t) {
  char name[32];
  std::snprintf(name, sizeof name, "%g", static_cast<double>(t));
  return name;
}

// Huge negative logits under a huge temperature (found by fuzz_softmax in
// CI: AVX2 two-pass gave 1.8e-44 for an element whose weight is e^{-1.5e11}).
// x/T below the two-pass clamp (-2^22) must contribute exactly 0, and the
// low part of x/T (as large as ulp(x/T), 2^14 here) must not follow the
// clamped value into the polynomial.
TEST_P(SpecialValues, ClampedLogitsUnderHugeTemperature) {
  FailureLog log;
  for (float t : {6.45636e19f, 1e20f, 3e29f}) {
    const std::string tname = temperature_name(t);
    const std::vector<NamedOptions> variants = temperature_variants(t);
    for (std::size_t n : {1, 2, 5, 16, 17, 100, 296, 1000}) {
      std::vector<float> x = make_row(Distribution::kLogits, n, 17);
      for (std::size_t i = 0; i < n; i += 3) x[i] = -9.62420163e30f * (1.0f + static_cast<float>(i % 7) * 0.01f);
      if (n > 1) x[n - 1] = 1.0f;  // at least one ordinary logit
      check_all_variants(x, "T=" + tname + " n=" + std::to_string(n), log, variants);
    }
  }
}

// Temperature is valid from 2^-100 to 2^100: a tiny one makes softmax an
// argmax with ties sharing, and 0 * inf must not appear; a huge one flattens
// the row. Outside, the call is rejected (RejectedCalls.BadTemperatures).
TEST_P(SpecialValues, ExtremeTemperatures) {
  FailureLog log;
  for (float t : {0x1p-100f, 1e-30f, 1e-10f, 1e30f, 0x1p100f}) {
    const std::string tname = temperature_name(t);
    const std::vector<NamedOptions> variants = temperature_variants(t);
    for (std::size_t n : {1, 2, 5, 16, 17, 100, 1000}) {
      for (Distribution d : {Distribution::kTiesAtMax, Distribution::kLogits,
                             Distribution::kMaskedNegInf}) {
        check_all_variants(make_row(d, n, 16),
                           std::string("T=") + tname + " dist=" + distribution_name(d) +
                               " seed=16, n=" + std::to_string(n),
                           log, variants);
      }
    }
  }
}

TEST_P(SpecialValues, SinkSemantics) {
  FailureLog log;
  for (std::size_t n : {1, 2, 7, 16, 17, 100, 1000}) {
    const std::vector<float> x = make_row(Distribution::kLogits, n, 17);
    const std::string what = "logits seed=17, n=" + std::to_string(n);
    // -inf sink: the same as no sink.
    check_all_variants(x, what, log,
                       {{"sink_-inf", make_options(1.0f, false, true, -kInf)},
                        {"log_sink_-inf", make_options(1.0f, true, true, -kInf)}});
    // A sink far above the row takes (almost) all the mass; one far below
    // takes none; one tied with the maximum takes a share.
    float top = x[0];
    for (float v : x) top = std::max(top, v);
    check_all_variants(x, what, log,
                       {{"sink_1e30", make_options(1.0f, false, true, 1e30f)},
                        {"log_sink_1e30", make_options(1.0f, true, true, 1e30f)},
                        {"sink_-1e4", make_options(1.0f, false, true, -1e4f)},
                        {"sink_FLT_MAX_temperature_0.25", make_options(0.25f, false, true, FLT_MAX)},
                        {"sink_equal_to_max", make_options(1.0f, false, true, top)},
                        {"log_sink_equal_to_max", make_options(1.0f, true, true, top)}});
    // A fully masked row with a finite sink: zeros, not NaN.
    check_all_variants(std::vector<float>(n, -kInf), "all -inf, n=" + std::to_string(n), log,
                       {{"sink_0", make_options(1.0f, false, true, 0.0f)},
                        {"log_sink_-3e38", make_options(1.0f, true, true, -3e38f)}});
  }
}

// n == 0 is a no-op: null pointers are fine, and so is any pointer pair.
TEST_P(SpecialValues, EmptyRowIsANoOpEvenWithNullPointers) {
  for (const NamedOptions& variant : option_variants()) {
    const SoftmaxOptions o = with_algorithm(variant.options);
    SCOPED_TRACE(variant.name);
    Status s = softkern::softmax(static_cast<const float*>(nullptr), nullptr, 0, o);
    EXPECT_TRUE(s.ok()) << s.message();
    float buf[8];
    fill_sentinel(buf, 8);
    s = softkern::softmax(buf + 1, buf, 0, o);  // "overlapping" but empty
    EXPECT_TRUE(s.ok()) << s.message();
    EXPECT_TRUE(is_sentinel(buf, 8));
    s = softkern::softmax_rows(static_cast<const float*>(nullptr), 0, nullptr, 0, 0, 0, o);
    EXPECT_TRUE(s.ok()) << s.message();
    s = softkern::softmax_rows(static_cast<const float*>(nullptr), 5, nullptr, 5, 0, 5, o);  // no rows
    EXPECT_TRUE(s.ok()) << s.message();
    s = softkern::softmax_rows(static_cast<const float*>(nullptr), 0, nullptr, 0, 4, 0, o);  // empty rows
    EXPECT_TRUE(s.ok()) << s.message();
  }
}

// Special rows inside a softmax_rows block stay in their row.
TEST_P(SpecialValues, RowsKeepSpecialValuesToTheirRow) {
  FailureLog log;
  const std::size_t cols = 37, stride = 40;
  std::vector<std::vector<float>> rows;
  rows.push_back(make_row(Distribution::kLogits, cols, 18));
  rows.push_back(std::vector<float>(cols, -kInf));
  rows.push_back(make_row(Distribution::kLogits, cols, 19));
  rows.back()[cols / 2] = kNan;
  rows.push_back(make_row(Distribution::kLogits, cols, 20));
  rows.back()[3] = kInf;
  rows.back()[30] = kInf;
  rows.push_back(std::vector<float>(cols, 3e38f));
  rows.push_back(make_row(Distribution::kWide, cols, 21));
  for (const NamedOptions& variant : option_variants()) {
    const SoftmaxOptions o = with_algorithm(variant.options);
    std::vector<float> x(rows.size() * stride), y(rows.size() * stride);
    fill_sentinel(x.data(), x.size());
    fill_sentinel(y.data(), y.size());
    for (std::size_t r = 0; r < rows.size(); ++r)
      std::copy(rows[r].begin(), rows[r].end(), x.begin() + r * stride);
    const Status s = softkern::softmax_rows(x.data(), stride, y.data(), stride, rows.size(), cols, o);
    ASSERT_TRUE(s.ok()) << s.message();
    for (std::size_t r = 0; r < rows.size(); ++r) {
      const Reference ref = reference_softmax(rows[r].data(), cols, o);
      const Accuracy acc = check_softmax(rows[r].data(), y.data() + r * stride, cols, o, ref);
      if (!acc.ok())
        log.add(label() + " softmax_rows special rows, row " + std::to_string(r) + " options=" +
                variant.name + ": " + acc.first_failure);
      if (r + 1 < rows.size() && !is_sentinel(y.data() + r * stride + cols, stride - cols))
        log.add(label() + " softmax_rows wrote into the gap after row " + std::to_string(r));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllIsas, SpecialValues, testing::ValuesIn(supported_isa_algorithm_pairs()),
                         pair_test_name);

// ---------------------------------------------------------------------------
// Rejected calls.
// ---------------------------------------------------------------------------
class RejectedCalls : public IsaAlgorithmTest {
 protected:
  // The options each rejection is tried with: plain, and everything on.
  std::vector<SoftmaxOptions> options_to_try() const {
    return {with_algorithm(option_variants()[0].options),
            with_algorithm(option_variants()[7].options)};
  }
};

// A copy of a buffer taken before a call, to prove the call wrote nothing.
class Snapshot {
 public:
  Snapshot(const float* p, std::size_t n) : p_(p), copy_(p, p + n) {}
  bool unchanged() const { return bitwise_equal(p_, copy_.data(), copy_.size()); }

 private:
  const float* p_;
  std::vector<float> copy_;
};

void expect_rejected(const Status& s, StatusCode code, const Snapshot& untouched,
                     const std::string& what) {
  EXPECT_FALSE(s.ok()) << what;
  EXPECT_EQ(static_cast<int>(s.code()), static_cast<int>(code))
      << what << ": message \"" << s.message() << "\"";
  ASSERT_NE(s.message(), nullptr) << what;
  EXPECT_GT(std::strlen(s.message()), 0u) << what;
  EXPECT_STRNE(s.message(), "ok") << what;
  EXPECT_TRUE(untouched.unchanged()) << what << ": a rejected call wrote to memory";
}

TEST_P(RejectedCalls, NullPointersWithNonZeroLength) {
  for (const SoftmaxOptions& o : options_to_try()) {
    SCOPED_TRACE(describe(o));
    std::vector<float> x = make_row(Distribution::kLogits, 64, 30), y(64);
    fill_sentinel(y.data(), y.size());
    const Snapshot ys(y.data(), y.size()), xs(x.data(), x.size());
    expect_rejected(softkern::softmax(nullptr, y.data(), 8, o), StatusCode::kNullPointer, ys,
                    "softmax(x = null, n = 8)");
    expect_rejected(softkern::softmax(x.data(), nullptr, 8, o), StatusCode::kNullPointer, xs,
                    "softmax(y = null, n = 8)");
    expect_rejected(softkern::softmax(static_cast<const float*>(nullptr), nullptr, 1, o), StatusCode::kNullPointer, ys,
                    "softmax(null, null, n = 1)");
    expect_rejected(softkern::softmax_rows(nullptr, 8, y.data(), 8, 2, 8, o),
                    StatusCode::kNullPointer, ys, "softmax_rows(x = null, 2 x 8)");
    expect_rejected(softkern::softmax_rows(x.data(), 8, nullptr, 8, 2, 8, o),
                    StatusCode::kNullPointer, xs, "softmax_rows(y = null, 2 x 8)");
  }
}

TEST_P(RejectedCalls, OverlappingUnequalBuffers) {
  for (const SoftmaxOptions& o : options_to_try()) {
    SCOPED_TRACE(describe(o));
    std::vector<float> buf = make_row(Distribution::kLogits, 256, 31);
    const Snapshot all(buf.data(), buf.size());
    float* b = buf.data();
    struct Case {
      std::size_t x_offset, y_offset, n;
    };
    for (const Case& c : {Case{0, 1, 16}, Case{3, 0, 16}, Case{0, 15, 16}, Case{15, 0, 16},
                          Case{0, 8, 16}, Case{8, 0, 16}, Case{0, 99, 100}, Case{1, 0, 2}}) {
      expect_rejected(softkern::softmax(b + c.x_offset, b + c.y_offset, c.n, o),
                      StatusCode::kOverlap, all,
                      "softmax(x = buf + " + std::to_string(c.x_offset) + ", y = buf + " +
                          std::to_string(c.y_offset) + ", n = " + std::to_string(c.n) + ")");
    }
    // Row blocks that overlap. x rows at [0,4) [8,12) [16,20).
    expect_rejected(softkern::softmax_rows(b, 8, b + 5, 8, 3, 4, o), StatusCode::kOverlap, all,
                    "softmax_rows(x = buf, y = buf + 5, 3 x 4, strides 8)");
    expect_rejected(softkern::softmax_rows(b, 8, b + 19, 8, 3, 4, o), StatusCode::kOverlap, all,
                    "softmax_rows(x = buf, y = buf + 19, 3 x 4, strides 8): last element shared");
    expect_rejected(softkern::softmax_rows(b + 10, 8, b, 4, 3, 4, o), StatusCode::kOverlap, all,
                    "softmax_rows(x = buf + 10, y = buf, 3 x 4, strides 8 and 4)");
    // In place requires equal strides: same start, different layout overlaps.
    expect_rejected(softkern::softmax_rows(b, 8, b, 10, 3, 4, o), StatusCode::kOverlap, all,
                    "softmax_rows(x == y, strides 8 and 10)");
  }
}

// The boundary of the overlap check: adjacent buffers do not overlap.
TEST_P(RejectedCalls, AdjacentBuffersAreAccepted) {
  FailureLog log;
  for (const SoftmaxOptions& o : options_to_try()) {
    SCOPED_TRACE(describe(o));
    for (std::size_t n : {1, 16, 37}) {
      std::vector<float> buf(2 * n);
      const std::vector<float> x = make_row(Distribution::kLogits, n, 32);
      const Reference ref = reference_softmax(x.data(), n, o);
      // y right after x, then x right after y.
      for (bool y_after : {true, false}) {
        float* xp = buf.data() + (y_after ? 0 : n);
        float* yp = buf.data() + (y_after ? n : 0);
        std::copy(x.begin(), x.end(), xp);
        const Status s = softkern::softmax(xp, yp, n, o);
        ASSERT_TRUE(s.ok()) << "adjacent buffers, n=" << n << ": " << s.message();
        const Accuracy acc = check_softmax(x.data(), yp, n, o, ref);
        if (!acc.ok()) log.add(label() + " adjacent buffers: " + acc.first_failure);
      }
    }
    // Row blocks that interleave without sharing an element are not tested:
    // rejecting them (extent overlap) and accepting them are both defensible.
    // Adjacent blocks: x rows [0, 20), y rows from 20.
    std::vector<float> buf(64);
    for (std::size_t i = 0; i < 20; ++i) buf[i] = static_cast<float>(i % 7);
    const Status s = softkern::softmax_rows(buf.data(), 8, buf.data() + 20, 8, 3, 4, o);
    EXPECT_TRUE(s.ok()) << "adjacent row blocks: " << s.message();
  }
}

TEST_P(RejectedCalls, StridesSmallerThanTheRow) {
  for (const SoftmaxOptions& o : options_to_try()) {
    SCOPED_TRACE(describe(o));
    std::vector<float> x = make_row(Distribution::kLogits, 64, 33), y(64);
    fill_sentinel(y.data(), y.size());
    const Snapshot ys(y.data(), y.size()), xs(x.data(), x.size());
    expect_rejected(softkern::softmax_rows(x.data(), 7, y.data(), 8, 3, 8, o),
                    StatusCode::kBadStride, ys, "x_stride 7 < cols 8");
    expect_rejected(softkern::softmax_rows(x.data(), 8, y.data(), 7, 3, 8, o),
                    StatusCode::kBadStride, ys, "y_stride 7 < cols 8");
    expect_rejected(softkern::softmax_rows(x.data(), 0, y.data(), 0, 2, 4, o),
                    StatusCode::kBadStride, ys, "strides 0, cols 4");
    expect_rejected(softkern::softmax_rows(x.data(), 3, x.data(), 3, 3, 4, o),
                    StatusCode::kBadStride, xs, "in place, strides 3 < cols 4");
  }
}

// Sizes whose byte extent overflows size_t: rejected from the arithmetic
// alone, before any memory is touched (the dummy buffer is 64 floats; a kernel
// that ran would read far past it and crash).
TEST_P(RejectedCalls, SizesThatOverflow) {
  constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max();
  for (const SoftmaxOptions& o : options_to_try()) {
    SCOPED_TRACE(describe(o));
    std::vector<float> dummy = make_row(Distribution::kLogits, 64, 34), out(64);
    fill_sentinel(out.data(), out.size());
    const Snapshot ds(dummy.data(), dummy.size()), os(out.data(), out.size());
    float* d = dummy.data();
    struct Case {
      std::size_t rows, cols, stride;
      const char* what;
    };
    for (const Case& c : {Case{kMax / 4, 4, 8, "rows * stride overflows size_t"},
                          Case{kMax / 32 + 1, 4, 8, "rows * stride * 4 bytes overflows size_t"},
                          Case{2, kMax / 2, kMax / 2, "cols * 4 bytes overflows size_t"},
                          Case{3, 4, kMax / 2, "stride * (rows - 1) overflows size_t"},
                          Case{kMax, 1, 1, "rows = SIZE_MAX"}}) {
      const std::string what = std::string(c.what) + " (rows=" + std::to_string(c.rows) +
                               " cols=" + std::to_string(c.cols) +
                               " stride=" + std::to_string(c.stride) + ")";
      // In place there is no overlap question: the only fault is the size.
      expect_rejected(softkern::softmax_rows(d, c.stride, d, c.stride, c.rows, c.cols, o),
                      StatusCode::kBadStride, ds, "in place, " + what);
      // Out of place such a block also "overlaps" every other buffer; either
      // code is a true description of the call, so only rejection is pinned.
      const Status s = softkern::softmax_rows(d, c.stride, out.data(), c.stride, c.rows, c.cols, o);
      EXPECT_FALSE(s.ok()) << "out of place, " << what;
      EXPECT_TRUE(s.code() == StatusCode::kBadStride || s.code() == StatusCode::kOverlap)
          << "out of place, " << what << ": code " << static_cast<int>(s.code()) << " \""
          << s.message() << "\"";
      EXPECT_TRUE(os.unchanged() && ds.unchanged()) << "out of place, " << what;
    }
    for (std::size_t n : {kMax, kMax / 2, kMax / 4 + 1}) {
      const std::string what = "softmax n=" + std::to_string(n) + " (n * 4 bytes overflows)";
      expect_rejected(softkern::softmax(d, d, n, o), StatusCode::kBadStride, ds,
                      "in place, " + what);
      const Status s = softkern::softmax(d, out.data(), n, o);
      EXPECT_FALSE(s.ok()) << "out of place, " << what;
      EXPECT_TRUE(s.code() == StatusCode::kBadStride || s.code() == StatusCode::kOverlap)
          << "out of place, " << what << ": code " << static_cast<int>(s.code()) << " \""
          << s.message() << "\"";
      EXPECT_TRUE(os.unchanged() && ds.unchanged()) << "out of place, " << what;
    }
  }
}

// Extents that fit in size_t but exceed PTRDIFF_MAX bytes: no object can be
// that large (pointer arithmetic over it is undefined), so such a call can
// only be a caller's bug. It must be rejected, not run off the end.
TEST_P(RejectedCalls, SizesBeyondPtrdiffMax) {
  const std::size_t beyond = static_cast<std::size_t>(PTRDIFF_MAX) / sizeof(float) + 1;
  for (const SoftmaxOptions& o : options_to_try()) {
    SCOPED_TRACE(describe(o));
    std::vector<float> dummy = make_row(Distribution::kLogits, 64, 35);
    const Snapshot ds(dummy.data(), dummy.size());
    float* d = dummy.data();
    expect_rejected(softkern::softmax(d, d, beyond, o), StatusCode::kBadStride, ds,
                    "in place softmax, n * 4 > PTRDIFF_MAX");
    expect_rejected(softkern::softmax_rows(d, 8, d, 8, beyond / 8 + 1, 4, o),
                    StatusCode::kBadStride, ds, "in place softmax_rows, extent * 4 > PTRDIFF_MAX");
  }
}

TEST_P(RejectedCalls, BadTemperatures) {
  // Positive but outside [2^-100, 2^100] too (the fuzzer found FLT_MAX:
  // x - M overflowed float where (x - M)/T was still finite).
  const float bad[] = {0.0f, -0.0f, -1.0f, -FLT_TRUE_MIN, -FLT_MAX, kNan, -kNan, kInf, -kInf,
                       FLT_TRUE_MIN, 1e-39f, std::nextafter(0x1p-100f, 0.0f),
                       std::nextafter(0x1p100f, kInf), 1e31f, FLT_MAX};
  for (const SoftmaxOptions& base : options_to_try()) {
    for (float t : bad) {
      SoftmaxOptions o = base;
      o.temperature = t;
      const std::string what = "temperature " + hexfloat(t) + ", " + describe(o);
      std::vector<float> x = make_row(Distribution::kLogits, 40, 36), y(40);
      fill_sentinel(y.data(), y.size());
      const Snapshot ys(y.data(), y.size()), xs(x.data(), x.size());
      expect_rejected(softkern::softmax(x.data(), y.data(), 40, o), StatusCode::kBadTemperature, ys,
                      "softmax, " + what);
      expect_rejected(softkern::softmax(x.data(), x.data(), 40, o), StatusCode::kBadTemperature,
                      xs, "softmax in place, " + what);
      expect_rejected(softkern::softmax_rows(x.data(), 10, y.data(), 10, 4, 10, o),
                      StatusCode::kBadTemperature, ys, "softmax_rows, " + what);
    }
  }
}

// Enumerators outside their enum (a cast from a bad integer, a stale ABI):
// kBadArgument, nothing written.
TEST_P(RejectedCalls, UnknownAlgorithmOrStreamingValue) {
  std::vector<float> x = make_row(Distribution::kLogits, 40, 37), y(40);
  fill_sentinel(y.data(), y.size());
  const Snapshot ys(y.data(), y.size()), xs(x.data(), x.size());
  for (int bad : {-1, softkern::kAlgorithmCount, 1000}) {
    SoftmaxOptions o = options_to_try()[0];
    o.algorithm = static_cast<Algorithm>(bad);
    expect_rejected(softkern::softmax(x.data(), y.data(), 40, o), StatusCode::kBadArgument, ys,
                    "algorithm " + std::to_string(bad));
    expect_rejected(softkern::softmax_rows(x.data(), 10, x.data(), 10, 4, 10, o),
                    StatusCode::kBadArgument, xs, "in place softmax_rows, algorithm " + std::to_string(bad));
  }
  for (int bad : {-1, 3, 1000}) {
    SoftmaxOptions o = options_to_try()[0];
    o.streaming = static_cast<softkern::StreamingStores>(bad);
    expect_rejected(softkern::softmax(x.data(), y.data(), 40, o), StatusCode::kBadArgument, ys,
                    "streaming " + std::to_string(bad));
  }
}

INSTANTIATE_TEST_SUITE_P(AllIsas, RejectedCalls, testing::ValuesIn(supported_isa_algorithm_pairs()),
                         pair_test_name);

}  // namespace
}  // namespace softkern_test
