// Accuracy of softmax() and softmax_rows() against the long-double reference,
// for every algorithm on every ISA this CPU supports: lengths up to 300 (all
// vector tails), long rows, every alignment, every option, and
// distributions chosen to break naive kernels (overflowing sums, underflowing
// weights, ties, denormal differences, masked entries).
#include <map>

#include "support.hpp"

namespace softkern_test {
namespace {

class SoftmaxAccuracy : public IsaAlgorithmTest {};

// Lengths 0..300 (every one in the full sweep, the boundary lengths in the
// boundary sweep: support.hpp, sweep_lengths) cover every tail size of every
// vector width several times over. The offset rotates with the length (n % 16
// floats from a 64-byte boundary) so the sweep also crosses every alignment.
TEST_P(SoftmaxAccuracy, LengthsUpTo300AllDistributionsAllOptions) {
  FailureLog log;
  Accuracy total;
  for (std::size_t n : sweep_lengths(0, 300)) {
    for (Distribution d : kAllDistributions) {
      const std::vector<float> x = make_row(d, n, /*seed=*/1);
      for (const NamedOptions& variant : option_variants()) {
        const SoftmaxOptions o = with_algorithm(variant.options);
        const Reference ref = reference_softmax(x.data(), n, o);
        const std::string context =
            label() + " dist=" + distribution_name(d) + " seed=1 options=" + variant.name;
        const std::size_t offset = n % 16;
        total.merge(run_softmax_case(x, o, ref, offset, (offset * 7 + 3) % 16, false, context, log));
        total.merge(run_softmax_case(x, o, ref, offset, offset, true, context, log));
      }
    }
  }
  report_accuracy(label() + " lengths 0..300 (" + sweep_name() + ")", total);
}

// Long rows: past every unrolling factor, past L1 and L2 (the auto algorithm
// switches on length), and long enough for the sum's rounding to accumulate.
// The boundary sweep checks 65537 with the plain and the all-options variant
// only (every option is checked at 1000 and 4099).
TEST_P(SoftmaxAccuracy, LongRows) {
  FailureLog log;
  Accuracy total;
  const std::vector<NamedOptions> all_variants = option_variants();
  for (std::size_t n : {std::size_t{1000}, std::size_t{4099}, std::size_t{65537}}) {
    Accuracy per_length;
    const std::vector<NamedOptions> variants =
        full_sweep() || n < 65537 ? all_variants
                                  : std::vector<NamedOptions>{all_variants[0], all_variants[7]};
    for (Distribution d : kAllDistributions) {
      const std::vector<float> x = make_row(d, n, /*seed=*/2);
      for (const NamedOptions& variant : variants) {
        const SoftmaxOptions o = with_algorithm(variant.options);
        const Reference ref = reference_softmax(x.data(), n, o);
        const std::string context =
            label() + " dist=" + distribution_name(d) + " seed=2 options=" + variant.name;
        per_length.merge(run_softmax_case(x, o, ref, 3, 9, false, context, log));
        per_length.merge(run_softmax_case(x, o, ref, 5, 5, true, context, log));
      }
    }
    report_accuracy(label() + " n=" + std::to_string(n), per_length);
    total.merge(per_length);
  }

  // 2^20 elements (4 MiB, beyond L2): a few representative combinations, to
  // keep the suite fast; the reference costs far more than the kernel. The
  // boundary sweep keeps the third, which has every option and a masked row
  // (in place and every option are checked at the other long lengths).
  const std::size_t n = std::size_t{1} << 20;
  struct Combo {
    Distribution d;
    int variant;  // index into option_variants()
    bool in_place;
  };
  const Combo combos[] = {
      {Distribution::kLogits, 0, false},       {Distribution::kWide, 1, true},
      {Distribution::kMaskedNegInf, 7, false}, {Distribution::kNearOverflow, 6, false},
      {Distribution::kLogits, 3, true},
  };
  const std::vector<NamedOptions>& variants = all_variants;
  Accuracy large;
  for (const Combo& c : combos) {
    if (!full_sweep() && &c != &combos[2]) continue;
    const std::vector<float> x = make_row(c.d, n, /*seed=*/3);
    const SoftmaxOptions o = with_algorithm(variants[c.variant].options);
    const Reference ref = reference_softmax(x.data(), n, o);
    const std::string context = label() + " dist=" + distribution_name(c.d) +
                                " seed=3 options=" + variants[c.variant].name;
    large.merge(run_softmax_case(x, o, ref, 1, 0, c.in_place, context, log));
  }
  report_accuracy(label() + " n=1048576", large);
  total.merge(large);
  report_accuracy(label() + " long rows", total);
}

const std::size_t kOffsetLengths[] = {1,  2,  3,   5,   7,   8,   15,  16,  17,   31,  32,
                                      33, 47, 63,  64,  65,  100, 127, 128, 129, 255, 256,
                                      257, 1000, 4099};

// Every offset 0..15 floats from a 64-byte boundary for x and, independently,
// for y (same offset, and a different one), and in place.
TEST_P(SoftmaxAccuracy, AllOffsetsWithinBound) {
  FailureLog log;
  Accuracy total;
  const NamedOptions variants[] = {option_variants()[0], option_variants()[7]};
  for (std::size_t n : kOffsetLengths) {
    for (Distribution d : {Distribution::kLogits, Distribution::kMaskedNegInf}) {
      const std::vector<float> x = make_row(d, n, /*seed=*/4);
      for (const NamedOptions& variant : variants) {
        const SoftmaxOptions o = with_algorithm(variant.options);
        const Reference ref = reference_softmax(x.data(), n, o);
        const std::string context =
            label() + " dist=" + distribution_name(d) + " seed=4 options=" + variant.name;
        for (std::size_t ox = 0; ox < 16; ++ox) {
          total.merge(run_softmax_case(x, o, ref, ox, ox, false, context, log));
          total.merge(run_softmax_case(x, o, ref, ox, (ox + 5) % 16, false, context, log));
          total.merge(run_softmax_case(x, o, ref, ox, ox, true, context, log));
        }
      }
    }
  }
  report_accuracy(label() + " all offsets", total);
}

// DESIGN.md: "Results do not depend on buffer alignment". Taken literally: the
// same row gives the same bits at every offset (a kernel that peels to align
// would change its summation order with the offset and fail this). The same
// holds with streaming (non-temporal) stores, which peel y's head to a vector
// boundary: they change how y is written, never what.
TEST_P(SoftmaxAccuracy, OutputBitwiseIndependentOfAlignmentAndStreaming) {
  FailureLog log;
  const NamedOptions variants[] = {option_variants()[0], option_variants()[7]};
  for (std::size_t n : kOffsetLengths) {
    const std::vector<float> x = make_row(Distribution::kLogits, n, /*seed=*/5);
    for (const NamedOptions& variant : variants) {
      SoftmaxOptions o = with_algorithm(variant.options);
      o.streaming = softkern::StreamingStores::kNever;
      const Reference ref = reference_softmax(x.data(), n, o);
      for (bool in_place : {false, true}) {
        std::vector<float> aligned, shifted;
        run_softmax_case(x, o, ref, 0, 0, in_place, label(), log, &aligned);
        for (auto streaming : {softkern::StreamingStores::kNever, softkern::StreamingStores::kAlways}) {
          o.streaming = streaming;
          const std::string context =
              label() + " dist=logits seed=5 options=" + variant.name +
              (streaming == softkern::StreamingStores::kAlways ? " streaming" : "");
          for (std::size_t ox = 0; ox < 16; ++ox) {
            const std::size_t oy = in_place ? ox : (ox * 3 + 1) % 16;
            run_softmax_case(x, o, ref, ox, oy, in_place, context, log, &shifted);
            if (shifted.size() != aligned.size() ||
                !bitwise_equal(shifted.data(), aligned.data(), n)) {
              std::size_t i = 0;
              while (i < n && float_bits(shifted[i]) == float_bits(aligned[i])) ++i;
              log.add(context + " n=" + std::to_string(n) +
                      (in_place ? " in place" : " out of place") + ": output at x offset " +
                      std::to_string(ox) + ", y offset " + std::to_string(oy) +
                      " differs from aligned, non-streaming at i=" + std::to_string(i) + ": " +
                      (i < n ? hexfloat(shifted[i]) + " vs " + hexfloat(aligned[i]) : ""));
            }
          }
        }
      }
    }
  }
}

// softmax_rows: rows x cols with strides; the gaps between rows (and around
// the block) hold a NaN sentinel, so a read of a gap poisons that row's result
// and a write to a gap is caught directly.
struct RowsShape {
  std::size_t rows, cols, x_stride, y_stride;
};
const RowsShape kRowsShapes[] = {
    {1, 1, 1, 1},       {2, 1, 3, 2},        {3, 5, 8, 5},        {4, 16, 16, 20},
    {7, 17, 19, 33},    {5, 100, 128, 101},  {3, 300, 301, 320},  {4, 1000, 1024, 1000},
    {2, 4099, 4111, 4099}, {300, 3, 4, 7},   {64, 257, 260, 257}, {0, 5, 5, 5},
    {3, 0, 0, 0},
};

void check_rows(const std::string& label, const SoftmaxOptions& o,
                const RowsShape& shape, bool in_place, FailureLog& log, Accuracy& total) {
  const std::size_t rows = shape.rows, cols = shape.cols;
  const std::size_t x_stride = shape.x_stride;
  const std::size_t y_stride = in_place ? shape.x_stride : shape.y_stride;
  const std::size_t x_extent = rows ? (rows - 1) * x_stride + cols : 0;
  const std::size_t y_extent = rows ? (rows - 1) * y_stride + cols : 0;
  std::ostringstream where;
  where << label << " softmax_rows rows=" << rows << " cols=" << cols << " x_stride=" << x_stride
        << " y_stride=" << y_stride << (in_place ? " in place " : " ") << describe(o);

  // Row r uses distribution r % 8 (so masked, tied and overflowing rows sit
  // next to ordinary ones) with seed 100 + r.
  std::vector<std::vector<float>> data(rows);
  for (std::size_t r = 0; r < rows; ++r)
    data[r] = make_row(kAllDistributions[r % kDistributionCount], cols, 100 + r);

  PaddedBuffer xb(x_extent, 7);  // sentinel everywhere, rows copied in below
  for (std::size_t r = 0; r < rows; ++r)
    std::copy(data[r].begin(), data[r].end(), xb.data() + r * x_stride);
  std::unique_ptr<PaddedBuffer> yb;
  float* y = xb.data();
  if (!in_place) {
    yb = std::make_unique<PaddedBuffer>(y_extent, 2);
    y = yb->data();
  }
  const Status s = softkern::softmax_rows(xb.data(), x_stride, y, y_stride, rows, cols, o);
  if (!s.ok()) {
    log.add(where.str() + ": rejected: " + s.message());
    return;
  }
  if (!xb.guards_intact() || (yb && !yb->guards_intact()))
    log.add(where.str() + ": wrote outside the row block");
  for (std::size_t r = 0; r + 1 < rows; ++r) {
    // The gap after row r: untouched in y (and in x, which is y in place).
    if (!is_sentinel(y + r * y_stride + cols, y_stride - cols))
      log.add(where.str() + ": wrote into the gap after row " + std::to_string(r));
    if (!in_place && !is_sentinel(xb.data() + r * x_stride + cols, x_stride - cols))
      log.add(where.str() + ": wrote into the input's gap after row " + std::to_string(r));
  }
  for (std::size_t r = 0; r < rows; ++r) {
    if (!in_place && !bitwise_equal(xb.data() + r * x_stride, data[r].data(), cols))
      log.add(where.str() + ": input row " + std::to_string(r) + " was modified");
    const Reference ref = reference_softmax(data[r].data(), cols, o);
    const Accuracy acc = check_softmax(data[r].data(), y + r * y_stride, cols, o, ref);
    if (!acc.ok())
      log.add(where.str() + " row " + std::to_string(r) + " (dist=" +
              distribution_name(kAllDistributions[r % kDistributionCount]) + " seed=" + std::to_string(100 + r) +
              "): " + acc.first_failure);
    total.merge(acc);
  }
}

TEST_P(SoftmaxAccuracy, RowsOutOfPlaceWithStrides) {
  FailureLog log;
  Accuracy total;
  for (const RowsShape& shape : kRowsShapes)
    for (int v : {0, 3, 5, 7})
      check_rows(label(), with_algorithm(option_variants()[v].options), shape, false, log,
                 total);
  report_accuracy(label() + " rows out of place", total);
}

TEST_P(SoftmaxAccuracy, RowsInPlaceWithEqualStrides) {
  FailureLog log;
  Accuracy total;
  for (const RowsShape& shape : kRowsShapes)
    for (int v : {0, 3, 5, 7})
      check_rows(label(), with_algorithm(option_variants()[v].options), shape, true, log,
                 total);
  report_accuracy(label() + " rows in place", total);
}

INSTANTIATE_TEST_SUITE_P(AllIsas, SoftmaxAccuracy,
                         testing::ValuesIn(supported_isa_algorithm_pairs()), pair_test_name);

// ---------------------------------------------------------------------------
// kAuto: what it picks, and that it really runs what it says it picks.
// ---------------------------------------------------------------------------
class AutoAlgorithm : public IsaTest {
 protected:
  // Lengths n (<= 2^23) where auto_algorithm(n) differs from auto_algorithm(n - 1).
  static std::vector<std::size_t> crossovers() {
    std::vector<std::size_t> out;
    std::size_t lo = 1;
    for (std::size_t hi = 2; hi <= (std::size_t{1} << 23); hi *= 2) {
      std::size_t a = lo, b = hi;  // invariant: answers at a and b differ, or no switch in (lo, hi]
      if (softkern::auto_algorithm(a) != softkern::auto_algorithm(b)) {
        while (b - a > 1) {
          const std::size_t mid = a + (b - a) / 2;
          (softkern::auto_algorithm(mid) == softkern::auto_algorithm(a) ? a : b) = mid;
        }
        out.push_back(b);
      }
      lo = hi;
    }
    return out;
  }
};

TEST_P(AutoAlgorithm, PicksAConcreteAlgorithmForEveryLength) {
  for (std::size_t n = 0; n <= 4096; ++n)
    ASSERT_NE(softkern::auto_algorithm(n), Algorithm::kAuto) << "n=" << n;
  for (std::size_t n = 4096; n <= (std::size_t{1} << 30); n = n * 3 / 2)
    ASSERT_NE(softkern::auto_algorithm(n), Algorithm::kAuto) << "n=" << n;
  std::printf("[ auto ] %s: auto_algorithm(1000)=%s, (65536)=%s, (2^20)=%s, (2^24)=%s; switches at",
              softkern::isa_name(isa()), softkern::algorithm_name(softkern::auto_algorithm(1000)),
              softkern::algorithm_name(softkern::auto_algorithm(65536)),
              softkern::algorithm_name(softkern::auto_algorithm(std::size_t{1} << 20)),
              softkern::algorithm_name(softkern::auto_algorithm(std::size_t{1} << 24)));
  for (std::size_t c : crossovers())
    std::printf(" n=%zu (%s -> %s)", c, softkern::algorithm_name(softkern::auto_algorithm(c - 1)),
                softkern::algorithm_name(softkern::auto_algorithm(c)));
  std::printf("\n");
}

// kAuto's output must be bit-for-bit that of the algorithm auto_algorithm(n)
// names: the answer describes the code that runs, not a guess. Checked on
// short lengths and on both sides of every crossover.
TEST_P(AutoAlgorithm, OutputMatchesTheNamedAlgorithmBitForBit) {
  FailureLog log;
  std::vector<std::size_t> lengths;
  for (std::size_t n = 0; n <= 70; ++n) lengths.push_back(n);
  for (std::size_t n : {255, 1000, 4099, 65537}) lengths.push_back(n);
  for (std::size_t c : crossovers())
    for (std::size_t n : {c - 1, c}) lengths.push_back(n);
  for (std::size_t n : lengths) {
    for (Distribution d : {Distribution::kLogits, Distribution::kMaskedNegInf}) {
      const std::vector<float> x = make_row(d, n, /*seed=*/6);
      for (int v : {0, 7}) {
        SoftmaxOptions automatic = option_variants()[v].options;
        automatic.algorithm = Algorithm::kAuto;
        SoftmaxOptions named = automatic;
        named.algorithm = softkern::auto_algorithm(n);
        std::vector<float> y_auto(n), y_named(n);
        ASSERT_TRUE(softkern::softmax(x.data(), y_auto.data(), n, automatic).ok());
        ASSERT_TRUE(softkern::softmax(x.data(), y_named.data(), n, named).ok());
        if (!bitwise_equal(y_auto.data(), y_named.data(), n))
          log.add(std::string(softkern::isa_name(isa())) + " n=" + std::to_string(n) + " dist=" +
                  distribution_name(d) + " seed=6 " + describe(automatic) +
                  ": kAuto differs from " + softkern::algorithm_name(named.algorithm));
      }
    }
  }
}

// Both sides of each crossover, against the reference.
TEST_P(AutoAlgorithm, CrossoverLengthsWithinBound) {
  FailureLog log;
  Accuracy total;
  for (std::size_t c : crossovers()) {
    for (std::size_t n : {c - 1, c}) {
      const std::vector<float> x = make_row(Distribution::kLogits, n, /*seed=*/7);
      for (int v : {0, 7}) {
        const SoftmaxOptions o = option_variants()[v].options;  // algorithm kAuto
        const Reference ref = reference_softmax(x.data(), n, o);
        total.merge(run_softmax_case(x, o, ref, 1, 2, false,
                                     std::string(softkern::isa_name(isa())) +
                                         "/auto crossover dist=logits seed=7",
                                     log));
      }
    }
  }
  report_accuracy(std::string(softkern::isa_name(isa())) + "/auto crossovers", total);
}

INSTANTIATE_TEST_SUITE_P(AllIsas, AutoAlgorithm, testing::ValuesIn(supported_isa_list()),
                         isa_test_name);

}  // namespace
}  // namespace softkern_test
