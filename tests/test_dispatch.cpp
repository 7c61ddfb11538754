// Runtime dispatch: which targets are compiled in and supported, forcing each
// (and checking, through the kernel table's own answer, that its code runs),
// refusing the ones this CPU lacks, and staying correct while threads switch
// targets under each other. SOFTKERN_ISA is covered by isa_env_probe, one
// process per value (tests/CMakeLists.txt).
#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "support.hpp"

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
    if (softkern::isa_supported(isa)) EXPECT_TRUE(softkern::isa_compiled(isa));
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

// Forcing a target switches the code that runs: dispatched_isa() is answered
// by the kernel table compiled for that target, not by the bookkeeping.
TEST(Dispatch, ForcingEachSupportedTargetRunsIt) {
  const Isa best = softkern::active_isa();
  for (Isa isa : supported_isa_list()) {
    SCOPED_TRACE(softkern::isa_name(isa));
    ASSERT_TRUE(softkern::force_isa(isa).ok());
    EXPECT_EQ(softkern::active_isa(), isa);
    EXPECT_EQ(softkern::dispatched_isa(), isa);
    const std::vector<float> x = make_row(Distribution::kLogits, 777, 1);
    std::vector<float> y(x.size());
    ASSERT_TRUE(softkern::softmax(x.data(), y.data(), x.size()).ok());
    const Reference ref = reference_softmax(x.data(), x.size(), {});
    const Accuracy acc = check_softmax(x.data(), y.data(), x.size(), {}, ref);
    EXPECT_TRUE(acc.ok()) << acc.first_failure;
  }
  softkern::reset_isa();
  EXPECT_EQ(softkern::active_isa(), best);
  EXPECT_EQ(softkern::dispatched_isa(), best);
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
      EXPECT_EQ(softkern::dispatched_isa(), forced_first) << "a refused force changed the target";
    }
    // An out-of-range enumerator is refused too.
    EXPECT_FALSE(softkern::force_isa(static_cast<Isa>(99)).ok());
    EXPECT_EQ(softkern::dispatched_isa(), forced_first);
  }
  softkern::reset_isa();
  // No machine supports every target (x86 lacks NEON, Arm lacks AVX2).
  EXPECT_GT(refused, 0);
}

// StreamingStores::kAuto streams rows from streaming_threshold_bytes() on,
// and only on targets whose vectors are whole cache lines.
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
    const bool whole_lines = isa == Isa::kAvx512 || isa == Isa::kSve || isa == Isa::kSve2;
    EXPECT_EQ(softkern::streams_for(threshold, StreamingStores::kAuto), whole_lines);
  }
}

// Calls from several threads stay correct while another thread keeps forcing
// and resetting targets: every call runs on some whole table, never a mix.
TEST(Dispatch, ConcurrentCallsWhileTargetsSwitch) {
  const std::vector<Isa> isas = supported_isa_list();
  std::atomic<bool> stop{false};
  std::thread switcher([&] {
    for (std::size_t i = 0; !stop.load(); ++i) {
      if (i % (isas.size() + 1) == isas.size())
        softkern::reset_isa();
      else
        (void)softkern::force_isa(isas[i % (isas.size() + 1)]);
      std::this_thread::yield();
    }
  });
  std::atomic<int> bad{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 3; ++t) {
    workers.emplace_back([&, t] {
      const std::vector<float> x = make_row(Distribution::kLogits, 1000 + 17 * t, t);
      const Reference ref = reference_softmax(x.data(), x.size(), {});
      std::vector<float> y(x.size());
      for (int k = 0; k < 300; ++k) {
        SoftmaxOptions o;
        o.algorithm = kAllAlgorithms[k % 5];
        if (!softkern::softmax(x.data(), y.data(), x.size(), o).ok() ||
            !check_softmax(x.data(), y.data(), x.size(), o, ref).ok())
          ++bad;
      }
    });
  }
  for (auto& w : workers) w.join();
  stop = true;
  switcher.join();
  softkern::reset_isa();
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace
}  // namespace softkern_test
