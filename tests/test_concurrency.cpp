// Every public function (softmax, attention, sampling) called from 8 threads at
// once while one more thread keeps forcing and resetting the target: every
// result is checked, so a torn
// dispatch (half one table, half another), a data race on the dispatcher or a
// shared scratch buffer shows up as a wrong answer here and as a report under
// ThreadSanitizer (scripts/test_sanitizers.sh runs this test with TSan).
#include <atomic>
#include <thread>

#include "softkern/attention.hpp"
#include "softkern/detail/testing.hpp"
#include "support.hpp"

namespace softkern_test {
namespace {

constexpr int kWorkers = 8;

struct Case {
  std::vector<float> x;
  SoftmaxOptions options;
  Reference reference;
};

TEST(Concurrency, EveryPublicFunctionFromEightThreadsWhileTargetsSwitch) {
  const std::vector<Isa> isas = supported_isa_list();
  // Rows and options prepared up front (the reference is the slow part).
  std::vector<Case> cases;
  const std::vector<NamedOptions> variants = option_variants();
  for (int k = 0; k < 24; ++k) {
    Case c;
    c.x = make_row(kAllDistributions[k % kDistributionCount], 37 + 211 * static_cast<std::size_t>(k), k);
    c.options = variants[static_cast<std::size_t>(k) % variants.size()].options;
    c.options.algorithm = kAllAlgorithms[k % 5];
    c.reference = reference_softmax(c.x.data(), c.x.size(), c.options);
    cases.push_back(std::move(c));
  }
  const float exp_inputs[] = {-104.5f, -87.5f, -20.0f, -1.0f, 0.0f, 0.5f, 10.0f, 88.0f};

  // Attention: a decode over 300 keys (4 heads sharing 2 KV heads, d = 64)
  // and a causal linear-attention prefill of 16 queries. Their results on
  // each target, computed up front: a call from a worker must give exactly
  // one of them (whichever target it ran on).
  constexpr std::size_t kKeys = 300, kHeads = 4, kKvHeads = 2, kDim = 64, kLinearQueries = 16;
  std::vector<float> q(kLinearQueries * kHeads * kDim), k(kKeys * kKvHeads * kDim), v(k.size());
  {
    std::mt19937 rng(9);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (float& f : q) f = dist(rng);
    for (float& f : k) f = dist(rng);
    for (float& f : v) f = dist(rng);
  }
  auto decode = [&](std::vector<float>* out) {
    softkern::AttentionTensors t;
    t.queries = 1, t.keys = kKeys, t.heads = kHeads, t.kv_heads = kKvHeads, t.head_dim = kDim;
    t.q = q.data(), t.k = k.data(), t.v = v.data();
    out->assign(kHeads * kDim, 0.0f);
    t.o = out->data();
    return softkern::attention(t).ok();
  };
  auto linear = [&](std::vector<float>* out) {
    softkern::AttentionTensors t;
    t.queries = kLinearQueries, t.keys = kLinearQueries, t.heads = kHeads, t.kv_heads = kKvHeads,
    t.head_dim = kDim;
    t.q = q.data(), t.k = k.data(), t.v = v.data();
    out->assign(kLinearQueries * kHeads * kDim, 0.0f);
    t.o = out->data();
    // A fresh sequence: zero state (heads x d x d) and normaliser (heads x d).
    std::vector<float> state(kHeads * kDim * kDim, 0.0f), normaliser(kHeads * kDim, 0.0f);
    return softkern::linear_attention(t, state.data(), normaliser.data()).ok();
  };
  std::vector<std::vector<float>> decode_results, linear_results;
  for (Isa isa : isas) {
    ScopedIsa scoped(isa);
    std::vector<float> out;
    ASSERT_TRUE(decode(&out));
    decode_results.push_back(out);
    ASSERT_TRUE(linear(&out));
    linear_results.push_back(out);
  }
  auto one_of = [](const std::vector<float>& got, const std::vector<std::vector<float>>& allowed) {
    for (const auto& a : allowed)
      if (bitwise_equal(got.data(), a.data(), got.size())) return true;
    return false;
  };

  // Sampling: every target draws the same token, so one answer is right.
  const std::vector<float> logits = make_row(Distribution::kLogits, 5000, 3);
  const std::int32_t penalised[] = {10, 200, 4000}, penalty_counts[] = {2, 0, 1};
  softkern::SampleOptions sample_options;
  sample_options.top_k = 20;
  sample_options.top_p = 0.9f;
  sample_options.token_ids = penalised;
  sample_options.token_counts = penalty_counts;
  sample_options.token_count = 3;
  sample_options.frequency_penalty = 0.5f;
  softkern::SampleResult sample_want;
  ASSERT_TRUE(softkern::sample(logits.data(), logits.size(), 0.37f, sample_options, &sample_want).ok());

  std::atomic<bool> stop{false};
  std::thread switcher([&] {
    for (std::size_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
      if (i % (isas.size() + 1) == isas.size())
        softkern::reset_isa();
      else if (!softkern::force_isa(isas[i % (isas.size() + 1)]).ok())
        std::abort();
      std::this_thread::yield();
    }
  });

  std::atomic<long> failures{0}, calls{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < kWorkers; ++t) {
    workers.emplace_back([&, t] {
      auto fail = [&] { failures.fetch_add(1, std::memory_order_relaxed); };
      for (int iteration = 0; iteration < 60; ++iteration) {
        const Case& c = cases[static_cast<std::size_t>(t * 7 + iteration) % cases.size()];
        const std::size_t n = c.x.size();
        // softmax, out of place and in place.
        std::vector<float> y(n), inplace = c.x;
        if (!softkern::softmax(c.x.data(), y.data(), n, c.options).ok() ||
            !check_softmax(c.x.data(), y.data(), n, c.options, c.reference).ok())
          fail();
        if (!softkern::softmax(inplace.data(), inplace.data(), n, c.options).ok() ||
            !check_softmax(c.x.data(), inplace.data(), n, c.options, c.reference).ok())
          fail();
        // softmax_rows: the same row twice, with a gap.
        std::vector<float> x2(2 * n + 3), y2(2 * n + 3);
        std::copy(c.x.begin(), c.x.end(), x2.begin());
        std::copy(c.x.begin(), c.x.end(), x2.begin() + static_cast<std::ptrdiff_t>(n + 3));
        if (!softkern::softmax_rows(x2.data(), n + 3, y2.data(), n + 3, 2, n, c.options).ok() ||
            !check_softmax(c.x.data(), y2.data(), n, c.options, c.reference).ok() ||
            !check_softmax(c.x.data(), y2.data() + n + 3, n, c.options, c.reference).ok())
          fail();
        // A rejected call is rejected from every thread, writing nothing.
        float untouched[4] = {7, 7, 7, 7};
        SoftmaxOptions bad = c.options;
        bad.temperature = -1.0f;
        if (softkern::softmax(c.x.data(), untouched, 4, bad).ok() || untouched[0] != 7) fail();
        // The exponential.
        float e[8];
        softkern::detail::exp_for_testing(exp_inputs, e, 8);
        for (int i = 0; i < 8; ++i) {
          const float want = static_cast<float>(std::exp(static_cast<long double>(exp_inputs[i])));
          if (ulp_distance(e[i], want) > bound::kExpMaxUlp) fail();
        }
        softkern::SampleResult drawn;
        if (!softkern::sample(logits.data(), logits.size(), 0.37f, sample_options, &drawn).ok() ||
            drawn.token != sample_want.token || drawn.kept != sample_want.kept ||
            float_bits(drawn.log_prob) != float_bits(sample_want.log_prob))
          fail();
        // Attention, decode and linear: the result of one whole target.
        std::vector<float> attention_out;
        if (!decode(&attention_out) || !one_of(attention_out, decode_results)) fail();
        if (!linear(&attention_out) || !one_of(attention_out, linear_results)) fail();
        // Queries: consistent answers whatever the switcher is doing.
        const Algorithm a = softkern::auto_algorithm(n);
        if (a == Algorithm::kAuto) fail();
        (void)softkern::streams_for(n, softkern::StreamingStores::kAuto);
        if (softkern::streaming_threshold_bytes() == 0) fail();
        Isa listed[softkern::kIsaCount];
        if (softkern::supported_isas(listed, softkern::kIsaCount) != isas.size()) fail();
        const Isa active = softkern::active_isa();
        if (!softkern::isa_supported(active) || softkern::detail::vector_bytes_for_testing() == 0) fail();
        Isa parsed;
        if (!softkern::parse_isa(softkern::isa_name(active), &parsed).ok() || parsed != active) fail();
        if (!softkern::isa_compiled(Isa::kScalar)) fail();
        if (std::strlen(softkern::algorithm_name(a)) == 0) fail();
        if (!softkern::environment_status().ok()) fail();
        calls.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (auto& w : workers) w.join();
  stop = true;
  switcher.join();
  softkern::reset_isa();
  EXPECT_EQ(calls.load(), kWorkers * 60);
  EXPECT_EQ(failures.load(), 0) << "wrong results or statuses under concurrent use";
}

}  // namespace
}  // namespace softkern_test
