// Out-of-bounds safety: no read or write outside [x, x+n) and [y, y+n), tails
// included (DESIGN.md). Rows are placed so that their last element sits right
// before a page mapped PROT_NONE, or their first element right after one; any
// stray access past either end (a full-vector tail load, an overlapping tail
// that steps back before x) faults and kills the test.
//
// Page granularity cannot see an over-read that stays inside the row's last
// page; the sentinel guards of the accuracy tests cover writes there.
#include <sys/mman.h>
#include <unistd.h>

#include "softkern/detail/testing.hpp"
#include "support.hpp"

namespace softkern_test {
namespace {

// [PROT_NONE page][data pages][PROT_NONE page]
class GuardedRegion {
 public:
  explicit GuardedRegion(std::size_t capacity_floats) {
    page_ = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    data_bytes_ = (capacity_floats * sizeof(float) + page_ - 1) / page_ * page_;
    total_ = data_bytes_ + 2 * page_;
    void* p = mmap(nullptr, total_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) std::abort();
    base_ = static_cast<char*>(p);
    if (mprotect(base_, page_, PROT_NONE) != 0 ||
        mprotect(base_ + page_ + data_bytes_, page_, PROT_NONE) != 0)
      std::abort();
  }
  ~GuardedRegion() { munmap(base_, total_); }
  GuardedRegion(const GuardedRegion&) = delete;
  GuardedRegion& operator=(const GuardedRegion&) = delete;

  // n floats whose last element is the last float before the trailing guard.
  float* ending_at_guard(std::size_t n) {
    return reinterpret_cast<float*>(base_ + page_ + data_bytes_) - n;
  }
  // The first float after the leading guard.
  float* starting_after_guard() { return reinterpret_cast<float*>(base_ + page_); }

 private:
  std::size_t page_, data_bytes_, total_;
  char* base_;
};

enum class Place { kEndsAtGuard, kStartsAfterGuard };
const char* place_name(Place p) {
  return p == Place::kEndsAtGuard ? "ends at guard page" : "starts after guard page";
}

constexpr std::size_t kLargest = std::size_t{1} << 20;

class OutOfBounds : public IsaAlgorithmTest {
 protected:
  GuardedRegion x_region_{kLargest};
  GuardedRegion y_region_{kLargest};

  float* place(GuardedRegion& region, Place p, std::size_t n) {
    return p == Place::kEndsAtGuard ? region.ending_at_guard(n) : region.starting_after_guard();
  }

  // Runs one row at the given placement; checks status, and (when given)
  // the result against the reference.
  void run_row(const std::vector<float>& x, const SoftmaxOptions& o, Place xp, Place yp,
               bool in_place, const Reference* ref, FailureLog& log) {
    const std::size_t n = x.size();
    float* xb = place(x_region_, xp, n);
    float* yb = in_place ? xb : place(y_region_, yp, n);
    std::copy(x.begin(), x.end(), xb);
    std::ostringstream where;
    where << label() << " n=" << n << " " << describe(o) << " x " << place_name(xp);
    if (in_place)
      where << ", in place";
    else
      where << ", y " << place_name(yp);
    const Status s = softkern::softmax(xb, yb, n, o);
    if (!s.ok()) {
      log.add(where.str() + ": rejected: " + s.message());
      return;
    }
    if (ref != nullptr) {
      const Accuracy acc = check_softmax(x.data(), yb, n, o, *ref);
      if (!acc.ok()) log.add(where.str() + ": " + acc.first_failure);
    }
  }

  // The reference is computed once for the six placements.
  void run_all_placements(const std::vector<float>& x, const SoftmaxOptions& o,
                          bool check_result, FailureLog& log) {
    std::unique_ptr<Reference> ref;
    if (check_result) ref = std::make_unique<Reference>(reference_softmax(x.data(), x.size(), o));
    for (Place xp : {Place::kEndsAtGuard, Place::kStartsAfterGuard}) {
      for (Place yp : {Place::kEndsAtGuard, Place::kStartsAfterGuard})
        run_row(x, o, xp, yp, false, ref.get(), log);
      run_row(x, o, xp, xp, true, ref.get(), log);
    }
  }

  static std::vector<NamedOptions> variants() {
    const std::vector<NamedOptions> all = option_variants();
    return {all[0], all[3], all[6], all[7]};  // plain, log, sink 2.5, T=3 + log + sink
  }
};

// Lengths 1..300: every one in the full sweep, the boundary lengths in the
// boundary sweep (support.hpp, sweep_lengths).
TEST_P(OutOfBounds, RowsAgainstUnmappedPagesLengths1To300) {
  FailureLog log;
  for (std::size_t n : sweep_lengths(1, 300)) {
    // Masked entries too: -inf takes other branches in some kernels.
    const std::vector<float> x =
        make_row(n % 2 ? Distribution::kLogits : Distribution::kMaskedNegInf, n, 40);
    for (const NamedOptions& v : variants())
      run_all_placements(x, with_algorithm(v.options), /*check_result=*/true, log);
  }
}

// Rows beyond L2 (2^20 - 1 and 2^20) are run without a result check. The
// boundary sweep runs the rows from 65537 up with the plain options only (the
// options change what is computed, not which addresses are touched; every
// option runs at 1000 and 4099).
TEST_P(OutOfBounds, LongRowsAgainstUnmappedPages) {
  FailureLog log;
  for (std::size_t n : {std::size_t{1000}, std::size_t{4099}, std::size_t{65537}, kLargest - 1,
                        kLargest}) {
    const std::vector<float> x = make_row(Distribution::kLogits, n, 41);
    const std::vector<NamedOptions> all = variants();
    const std::size_t count = full_sweep() || n < 65537 ? all.size() : 1;
    for (std::size_t v = 0; v < count; ++v)
      run_all_placements(x, with_algorithm(all[v].options), /*check_result=*/n <= 65537, log);
  }
}

TEST_P(OutOfBounds, StridedRowBlocksAgainstUnmappedPages) {
  FailureLog log;
  struct Shape {
    std::size_t rows, cols, stride;
  };
  for (const Shape& sh : {Shape{1, 1, 1}, Shape{5, 1, 1}, Shape{3, 5, 8}, Shape{4, 17, 19},
                          Shape{7, 64, 64}, Shape{2, 300, 333}, Shape{3, 1000, 1003}}) {
    // The block's extent ends with the last row's last element, not with a
    // whole stride: the gap after the last row is not part of the buffer.
    const std::size_t extent = (sh.rows - 1) * sh.stride + sh.cols;
    std::vector<float> block(extent);
    for (std::size_t r = 0; r < sh.rows; ++r) {
      const std::vector<float> row = make_row(Distribution::kLogits, sh.cols, 42 + r);
      std::copy(row.begin(), row.end(), block.begin() + r * sh.stride);
    }
    for (const NamedOptions& v : variants()) {
      const SoftmaxOptions o = with_algorithm(v.options);
      for (Place xp : {Place::kEndsAtGuard, Place::kStartsAfterGuard}) {
        for (Place yp : {Place::kEndsAtGuard, Place::kStartsAfterGuard}) {
          for (bool in_place : {false, true}) {
            if (in_place && yp != xp) continue;
            float* xb = place(x_region_, xp, extent);
            float* yb = in_place ? xb : place(y_region_, yp, extent);
            std::copy(block.begin(), block.end(), xb);
            const Status s = softkern::softmax_rows(xb, sh.stride, yb, sh.stride, sh.rows, sh.cols, o);
            std::ostringstream where;
            where << label() << " softmax_rows " << sh.rows << " x " << sh.cols << " stride "
                  << sh.stride << " " << describe(o) << " x " << place_name(xp) << ", "
                  << (in_place ? "in place" : std::string("y ") + place_name(yp));
            if (!s.ok()) {
              log.add(where.str() + ": rejected: " + s.message());
              continue;
            }
            for (std::size_t r = 0; r < sh.rows; ++r) {
              const float* xr = block.data() + r * sh.stride;
              const Reference ref = reference_softmax(xr, sh.cols, o);
              const Accuracy acc = check_softmax(xr, yb + r * sh.stride, sh.cols, o, ref);
              if (!acc.ok())
                log.add(where.str() + " row " + std::to_string(r) + ": " + acc.first_failure);
            }
          }
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllIsas, OutOfBounds, testing::ValuesIn(supported_isa_algorithm_pairs()),
                         pair_test_name);

// The exponential's own tails.
class ExpOutOfBounds : public IsaTest {};

TEST_P(ExpOutOfBounds, ExpForTestingAgainstUnmappedPages) {
  GuardedRegion xr(4096), yr(4096);
  for (std::size_t n : sweep_lengths(1, 300)) {
    std::vector<float> x(n);
    for (std::size_t i = 0; i < n; ++i) x[i] = -20.0f + 0.1f * static_cast<float>(i);
    for (bool x_end : {true, false}) {
      for (bool y_end : {true, false}) {
        float* xb = x_end ? xr.ending_at_guard(n) : xr.starting_after_guard();
        float* yb = y_end ? yr.ending_at_guard(n) : yr.starting_after_guard();
        std::copy(x.begin(), x.end(), xb);
        softkern::detail::exp_for_testing(xb, yb, n);
        for (std::size_t i = 0; i < n; ++i)
          ASSERT_LE(ulp_distance(yb[i], static_cast<float>(std::exp(static_cast<double>(x[i])))),
                    bound::kExpMaxUlp)
              << "n=" << n << " i=" << i << " x=" << x[i];
      }
    }
    // In place.
    float* b = xr.ending_at_guard(n);
    std::copy(x.begin(), x.end(), b);
    softkern::detail::exp_for_testing(b, b, n);
  }
}

INSTANTIATE_TEST_SUITE_P(AllIsas, ExpOutOfBounds, testing::ValuesIn(supported_isa_list()),
                         isa_test_name);

}  // namespace
}  // namespace softkern_test
