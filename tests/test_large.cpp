// Sizes beyond 2^31 elements: every index and extent is 64-bit.
//
//  - Strided views: two rows whose second starts 2^31 + 17 elements after the
//    first (8 GiB of address space reserved with MAP_NORESERVE; only the
//    pages the rows touch are ever allocated), in place and out of place, so
//    any 32-bit index arithmetic lands on the wrong row and fails the check.
//  - One real row of 2^31 + 17 elements (8 GiB, in place) when the machine
//    has the memory, skipped with a message otherwise. Its values repeat with
//    period 1024, so the exact result is known in closed form and checked on
//    a sample of elements and on the whole row's sum.
#include <sys/mman.h>

#include <fstream>

#include "support.hpp"

namespace softkern_test {
namespace {

constexpr std::size_t kBeyond32Bits = (std::size_t{1} << 31) + 17;

// Anonymous memory reserved, not committed: pages appear as they are touched.
class Reservation {
 public:
  explicit Reservation(std::size_t floats) : bytes_(floats * sizeof(float)) {
    void* p = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    data_ = p == MAP_FAILED ? nullptr : static_cast<float*>(p);
  }
  ~Reservation() {
    if (data_ != nullptr) munmap(data_, bytes_);
  }
  float* data() const { return data_; }

 private:
  std::size_t bytes_;
  float* data_;
};

std::size_t available_memory_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  std::size_t kib = 0;
  while (meminfo >> key >> kib) {
    if (key == "MemAvailable:") return kib * 1024;
    meminfo.ignore(256, '\n');
  }
  return 0;
}

class LargeSizes : public IsaAlgorithmTest {};

TEST_P(LargeSizes, StridedRowsBeyond32BitIndices) {
  constexpr std::size_t kCols = 1000;
  const std::size_t stride = kBeyond32Bits;
  const std::size_t extent = stride + kCols;
  Reservation x_space(extent), y_space(extent);
  if (x_space.data() == nullptr || y_space.data() == nullptr)
    GTEST_SKIP() << "cannot reserve 2 x 8 GiB of address space here";
  FailureLog log;
  const NamedOptions variants[] = {option_variants()[0], option_variants()[7]};
  for (const NamedOptions& variant : variants) {
    const SoftmaxOptions o = with_algorithm(variant.options);
    std::vector<float> rows[2] = {make_row(Distribution::kLogits, kCols, 50),
                                  make_row(Distribution::kWide, kCols, 51)};
    const Reference refs[2] = {reference_softmax(rows[0].data(), kCols, o),
                               reference_softmax(rows[1].data(), kCols, o)};
    for (bool in_place : {false, true}) {
      float* x = x_space.data();
      float* y = in_place ? x : y_space.data();
      for (int r = 0; r < 2; ++r) std::copy(rows[r].begin(), rows[r].end(), x + r * stride);
      const Status s = softkern::softmax_rows(x, stride, y, stride, 2, kCols, o);
      ASSERT_TRUE(s.ok()) << s.message();
      for (int r = 0; r < 2; ++r) {
        const Accuracy acc = check_softmax(rows[r].data(), y + r * stride, kCols, o, refs[r]);
        if (!acc.ok())
          log.add(label() + " " + variant.name + (in_place ? " in place" : "") + " row " +
                  std::to_string(r) + " (starts at element " + std::to_string(r * stride) +
                  "): " + acc.first_failure);
      }
    }
  }
}

// One row of 2^31 + 17 elements, in place, checked against the closed form,
// for every algorithm on the best target (the scalar target is slow on it).
// One test fills and checks the same 8 GiB for each algorithm in turn: the
// pages are faulted in once, not once per algorithm (each test is its own
// process under CTest), and the row takes 8 GiB whatever the count.
TEST(LargeRow, RealRowOf2To31Plus17ElementsEveryAlgorithm) {
  const std::size_t n = kBeyond32Bits;
  const std::size_t need = n * sizeof(float) + (std::size_t{1} << 30);
  if (available_memory_bytes() < need)
    GTEST_SKIP() << "needs " << (need >> 20) << " MiB available, this machine has "
                 << (available_memory_bytes() >> 20) << " MiB";
  if (std::getenv("SOFTKERN_SKIP_LARGE_ROW") != nullptr)
    GTEST_SKIP() << "SOFTKERN_SKIP_LARGE_ROW is set";
  constexpr std::size_t kPeriod = 1024;
  auto value = [](std::size_t i) { return static_cast<float>(i % kPeriod) * 0.0123f - 6.0f; };
  std::vector<float> period(kPeriod);
  for (std::size_t k = 0; k < kPeriod; ++k) period[k] = value(k);
  const float max = value(kPeriod - 1);
  // Exact sum: (n / period) full periods plus a partial one.
  long double period_sum = 0, partial_sum = 0;
  for (std::size_t k = 0; k < kPeriod; ++k) {
    const long double e = std::exp(static_cast<long double>(period[k]) - max);
    period_sum += e;
    if (k < n % kPeriod) partial_sum += e;
  }
  const long double total = static_cast<long double>(n / kPeriod) * period_sum + partial_sum;

  std::unique_ptr<float[]> row(new (std::nothrow) float[n]);
  if (!row) GTEST_SKIP() << "allocation of 8 GiB failed";
  const Isa isa = supported_isa_list().front();
  ASSERT_TRUE(softkern::force_isa(isa).ok());
  for (Algorithm algorithm : {Algorithm::kThreePassRecompute, Algorithm::kThreePassReload, Algorithm::kTwoPass,
                              Algorithm::kOnline}) {
    const std::string label = std::string(softkern::isa_name(isa)) + "/" + softkern::algorithm_name(algorithm);
    for (std::size_t i = 0; i < n; ++i) row[i] = value(i);
    SoftmaxOptions o;
    o.algorithm = algorithm;
    const Status s = softkern::softmax(row.get(), row.get(), n, o);
    ASSERT_TRUE(s.ok()) << label << ": " << s.message();
    // Every element against the bound would take minutes; the result depends
    // on i only through i % 1024, so check the first and last periods and
    // every 2^20-th element (4096 samples spread over the whole row).
    const long double u = bound::kUnitRoundoff;
    auto check = [&](std::size_t i) {
      const long double z = static_cast<long double>(value(i)) - max;
      const long double r = std::exp(z) / total;
      const long double err = std::fabs(row[i] - r);
      EXPECT_LE(err, u * (bound::element_c(n) + 2 * std::fabs(z)) * r + bound::kDenormalStep)
          << label << " i=" << i << " y=" << hexfloat(row[i]) << " reference=" << hexfloat(r);
    };
    for (std::size_t i = 0; i < kPeriod; ++i) check(i);
    for (std::size_t i = n - kPeriod; i < n; ++i) check(i);
    for (std::size_t i = 0; i < n; i += std::size_t{1} << 20) check(i);
    long double sum = 0;
    for (std::size_t i = 0; i < n; ++i) sum += row[i];
    EXPECT_LE(std::fabs(sum - 1.0L), u * bound::row_sum_c(n)) << label << ": row sum " << static_cast<double>(sum);
    std::printf("[ large    ] %s n=%zu: row sum - 1 = %.3g u\n", label.c_str(), n,
                static_cast<double>((sum - 1.0L) / u));
  }
  softkern::reset_isa();
}

// The strided views on the best target, each algorithm once.
std::vector<IsaAlgorithm> large_pairs() {
  std::vector<IsaAlgorithm> out;
  for (Algorithm a : {Algorithm::kThreePassRecompute, Algorithm::kThreePassReload,
                      Algorithm::kTwoPass, Algorithm::kOnline})
    out.push_back({supported_isa_list().front(), a});
  return out;
}

INSTANTIATE_TEST_SUITE_P(BestIsa, LargeSizes, testing::ValuesIn(large_pairs()), pair_test_name);

}  // namespace
}  // namespace softkern_test
