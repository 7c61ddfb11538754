// Runtime dispatch: which targets are compiled in and supported, forcing each
// (and checking, through the kernel table's own answer, that its code runs),
// refusing the ones this CPU lacks. Threads switching targets under each
// other: test_concurrency.cpp. SOFTKERN_ISA is covered by isa_env_probe, one
// process per value (tests/CMakeLists.txt).
#include <cstring>
#include <vector>

#include "softkern/detail/testing.hpp"
#include "support.hpp"

#if defined(__aarch64__) && defined(__linux__)
#include <sys/prctl.h>
#endif

namespace softkern_test {
namespace {

constexpr Isa kAllIsas[] = {Isa::kScalar, Isa::kAvx2, Isa::kAvx512,
                            Isa::kNeon,   Isa::kSve,  Isa::kSve2};

TEST(Dispatch, ScalarIsAlwaysCompiledAndSupported) {
  EXPECT_TRUE(softkern::isa_compiled(Isa::kScalar));
  EXPECT_TRUE(softkern::isa_supported(Isa::kScalar));
}

TEST(Dispatch, SupportedIsasAreCompiledBestFirstAndCounted) {
  const std::vector<Isa> list = supported_isa_list();
  ASSERT_FALSE(list.empty());
  EXPECT_EQ(list.back(), Isa::kScalar) << "scalar is the fallback, so it comes last";
  for (Isa isa : kAllIsas) {
    const bool listed = std::find(list.begin(), list.end(), isa) != list.end();
    EXPECT_EQ(listed, softkern::isa_supported(isa)) << softkern::isa_name(isa);
    if (softkern::isa_supported(isa)) {
      EXPECT_TRUE(softkern::isa_compiled(isa));
    }
  }
  // The default is the first (best) one.
  EXPECT_EQ(softkern::active_isa(), list.front());
  // A short buffer gets the best ones and the full count.
  Isa one = Isa::kSve2;
  EXPECT_EQ(softkern::supported_isas(&one, 1), list.size());
  EXPECT_EQ(one, list.front());
  EXPECT_EQ(softkern::supported_isas(nullptr, 0), list.size());
#if defined(__x86_64__) || defined(_M_X64)
  EXPECT_FALSE(softkern::isa_compiled(Isa::kNeon));
  EXPECT_TRUE(softkern::isa_compiled(Isa::kAvx2));
  EXPECT_TRUE(softkern::isa_compiled(Isa::kAvx512));
#elif defined(__aarch64__)
  EXPECT_FALSE(softkern::isa_compiled(Isa::kAvx2));
  EXPECT_TRUE(softkern::isa_compiled(Isa::kNeon));
#endif
}

TEST(Dispatch, NamesRoundTripAndBadNamesAreRejected) {
  for (Isa isa : kAllIsas) {
    Isa parsed = Isa::kScalar;
    ASSERT_TRUE(softkern::parse_isa(softkern::isa_name(isa), &parsed).ok());
    EXPECT_EQ(parsed, isa);
  }
  Isa parsed = Isa::kScalar;
  EXPECT_TRUE(softkern::parse_isa("AVX2", &parsed).ok());
  EXPECT_EQ(parsed, Isa::kAvx2);
  EXPECT_TRUE(softkern::parse_isa("avx3", &parsed).ok());
  EXPECT_EQ(parsed, Isa::kAvx512);
  for (const char* bad : {"", "avx", "avx5120", "sse4", " avx2", "neon "}) {
    parsed = Isa::kSve2;
    const Status s = softkern::parse_isa(bad, &parsed);
    EXPECT_FALSE(s.ok()) << "'" << bad << "'";
    EXPECT_GT(std::strlen(s.message()), 0u);
    EXPECT_EQ(parsed, Isa::kSve2) << "a failed parse must not write its output";
  }
  EXPECT_FALSE(softkern::parse_isa(nullptr, &parsed).ok());
}

TEST(Dispatch, NoEnvironmentOverrideInThisProcess) {
  ASSERT_EQ(std::getenv("SOFTKERN_ISA"), nullptr) << "run the suite without SOFTKERN_ISA set";
  EXPECT_TRUE(softkern::environment_status().ok());
}

// Bytes per float vector of a target, found without asking softkern: fixed
// on x86, NEON and scalar; on SVE the vector length the kernel gets from the
// hardware, which Linux reports through prctl(PR_SVE_GET_VL) (under qemu:
// sve-max-vq * 16 bytes).
std::size_t expected_vector_bytes(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return 4;
    case Isa::kAvx2: return 32;
    case Isa::kAvx512: return 64;
    case Isa::kNeon: return 16;
    case Isa::kSve:
    case Isa::kSve2: {
#if defined(__aarch64__) && defined(__linux__) && defined(PR_SVE_GET_VL)
      const int vl = prctl(PR_SVE_GET_VL);
      return vl < 0 ? 0 : static_cast<std::size_t>(vl & PR_SVE_VL_LEN_MASK);
#else
      return 0;
#endif
    }
  }
  return 0;
}

// Forcing a target switches the code that runs: the vector width is answered
// by a function compiled for the target (expected_vector_bytes, below, finds
// it without asking softkern).
TEST(Dispatch, ForcingEachSupportedTargetRunsIt) {
  const Isa best = softkern::active_isa();
  for (Isa isa : supported_isa_list()) {
    SCOPED_TRACE(softkern::isa_name(isa));
    ASSERT_TRUE(softkern::force_isa(isa).ok());
    EXPECT_EQ(softkern::active_isa(), isa);
    EXPECT_EQ(softkern::detail::vector_bytes_for_testing(), expected_vector_bytes(isa));
    const std::vector<float> x = make_row(Distribution::kLogits, 777, 1);
    std::vector<float> y(x.size());
    ASSERT_TRUE(softkern::softmax(x.data(), y.data(), x.size()).ok());
    const Reference ref = reference_softmax(x.data(), x.size(), {});
    const Accuracy acc = check_softmax(x.data(), y.data(), x.size(), {}, ref);
    EXPECT_TRUE(acc.ok()) << acc.first_failure;
  }
  softkern::reset_isa();
  EXPECT_EQ(softkern::active_isa(), best);
  EXPECT_EQ(softkern::detail::vector_bytes_for_testing(), expected_vector_bytes(best));
}

TEST(Dispatch, ForcingAnUnsupportedTargetFailsAndChangesNothing) {
  int refused = 0;
  for (Isa forced_first : supported_isa_list()) {
    ASSERT_TRUE(softkern::force_isa(forced_first).ok());
    for (Isa isa : kAllIsas) {
      if (softkern::isa_supported(isa)) continue;
      ++refused;
      const Status s = softkern::force_isa(isa);
      EXPECT_FALSE(s.ok()) << softkern::isa_name(isa);
      EXPECT_EQ(static_cast<int>(s.code()), static_cast<int>(StatusCode::kUnsupportedIsa));
      EXPECT_NE(std::strstr(s.message(), "force_isa"), nullptr) << s.message();
      EXPECT_EQ(softkern::active_isa(), forced_first) << "a refused force changed the target";
    }
    // An out-of-range enumerator is refused too.
    EXPECT_FALSE(softkern::force_isa(static_cast<Isa>(99)).ok());
    EXPECT_EQ(softkern::active_isa(), forced_first);
  }
  softkern::reset_isa();
  // No machine supports every target (x86 lacks NEON, Arm lacks AVX2).
  EXPECT_GT(refused, 0);
}

// StreamingStores::kAuto streams rows from streaming_threshold_bytes() on,
// and only on targets whose vectors are whole cache lines: AVX-512 always,
// SVE when its run-time vector length is a multiple of 64 bytes (so not at
// 128 or 256 bits).
TEST(Dispatch, StreamingChoiceFollowsTheTarget) {
  using softkern::StreamingStores;
  const std::size_t threshold = softkern::streaming_threshold_bytes() / sizeof(float);
  EXPECT_GT(threshold, 0u);
  EXPECT_LE(softkern::streaming_threshold_bytes(), std::size_t{32} << 20);
  for (Isa isa : supported_isa_list()) {
    SCOPED_TRACE(softkern::isa_name(isa));
    ScopedIsa scoped(isa);
    EXPECT_TRUE(softkern::streams_for(1, StreamingStores::kAlways));
    EXPECT_FALSE(softkern::streams_for(threshold * 4, StreamingStores::kNever));
    EXPECT_FALSE(softkern::streams_for(threshold - 1, StreamingStores::kAuto));
    const std::size_t vector_bytes = expected_vector_bytes(isa);
    ASSERT_GT(vector_bytes, 0u);
    const bool whole_lines = vector_bytes % 64 == 0;
    std::printf("[ streaming ] %s: %zu-byte vectors, kAuto streams from %zu elements: %s\n",
                softkern::isa_name(isa), vector_bytes, threshold, whole_lines ? "yes" : "no");
    EXPECT_EQ(softkern::streams_for(threshold, StreamingStores::kAuto), whole_lines);
  }
}

}  // namespace
}  // namespace softkern_test
