// Sampling (sampling.hpp) on every target: the kept set against a sort-based
// reference for every option combination, ties and special values; the
// draws' distribution (chi-square); the same token on every target and
// thread count; argument checks that write nothing.
#include <array>
#include <random>
#include <thread>

#include "sampling_reference.hpp"
#include "support.hpp"

namespace softkern_test {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Logits shaped like a language model's: a normal body and a few tokens far
// above it (the ones a sampler keeps).
std::vector<float> model_logits(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + n);
  std::normal_distribution<float> body(0.0f, 2.0f);
  std::vector<float> x(n);
  for (float& v : x) v = body(rng);
  for (std::size_t i = 0; i < n / 500 + 1; ++i) x[rng() % n] += 6.0f + static_cast<float>(rng() % 8);
  return x;
}

// Penalty lists: every 7th token id, counts 0 (repetition only), 1 and 3.
struct Tokens {
  std::vector<std::int32_t> ids, counts;
  TokenCounts view() const { return TokenCounts{ids.data(), counts.data(), ids.size()}; }
};
Tokens every_seventh(std::size_t n) {
  Tokens t;
  for (std::size_t i = 3; i < n; i += 7) {
    t.ids.push_back(static_cast<std::int32_t>(i));
    t.counts.push_back(static_cast<std::int32_t>(i % 3 == 0 ? 0 : i % 3 == 1 ? 1 : 3));
  }
  return t;
}

std::string describe(const SampleOptions& o) {
  std::ostringstream s;
  s << "T=" << o.temperature << " k=" << o.top_k << " p=" << o.top_p << " min_p=" << o.min_p;
  if (o.token_count) s << " penalties(" << o.repetition_penalty << "," << o.presence_penalty << "," << o.frequency_penalty << ")";
  if (o.greedy) s << " greedy";
  return s.str();
}

// The options every exact-selection sweep runs: the filters alone, in pairs
// and all together, with a temperature on either side of 1, top_k small and
// larger than the candidates' stack buffer, and greedy. The
// boundary sweep (qemu, sanitizers) keeps every filter and path with fewer
// values of each.
std::vector<SampleOptions> option_grid(bool full) {
  std::vector<SampleOptions> grid;
  const std::vector<float> temperatures = full ? std::vector<float>{1.0f, 0.5f, 2.0f} : std::vector<float>{1.0f, 2.0f};
  const std::vector<std::int64_t> ks = full ? std::vector<std::int64_t>{0, 1, 5, 50, 600}
                                            : std::vector<std::int64_t>{0, 1, 50, 600};
  const std::vector<float> ps = full ? std::vector<float>{1.0f, 0.9f, 0.3f} : std::vector<float>{1.0f, 0.3f};
  for (float t : temperatures)
    for (std::int64_t k : ks)
      for (float p : ps)
        for (float m : {0.0f, 0.05f, 1.0f}) {
          SampleOptions o;
          o.temperature = t;
          o.top_k = k;
          o.top_p = p;
          o.min_p = m;
          grid.push_back(o);
        }
  SampleOptions greedy;
  greedy.greedy = true;
  grid.push_back(greedy);
  return grid;
}

// One row and one set of options, on every target, at a few uniforms:
// checked against the reference (computed once).
void check_row(const std::vector<float>& x, SampleOptions o, const std::string& what, FailureLog& log,
               const Tokens* tokens = nullptr) {
  if (tokens != nullptr) {
    set_tokens(o, tokens->view());
    o.repetition_penalty = 1.3f;
    o.presence_penalty = 0.5f;
    o.frequency_penalty = 0.25f;
  }
  const SampleReference ref = reference_sample(x, o, tokens_of(o));
  for_each_supported_isa([&](Isa isa) {
    for (float u : {0.0f, 0.5f, 0.999f}) {
      SampleResult r;
      const Status s = softkern::sample(x.data(), x.size(), u, o, &r);
      const std::string where = std::string(softkern::isa_name(isa)) + " " + what + " n=" +
                                std::to_string(x.size()) + " " + describe(o) + " u=" + std::to_string(u);
      if (ref.error) {
        if (s.ok()) log.add(where + ": accepted a row the reference rejects");
        return;
      }
      if (!s.ok()) {
        log.add(where + ": rejected: " + s.message());
        return;
      }
      const std::string problem = check_sample(ref, o, u, r);
      if (!problem.empty()) log.add(where + ": " + problem);
    }
  });
}

TEST(Sampling, KeptSetMatchesSortReference) {
  const bool full = full_sweep();
  const std::vector<SampleOptions> grid = option_grid(full);
  FailureLog log;
  // Around the block (256) and the vector widths; the boundary sweep keeps
  // the block's edges.
  const std::vector<std::size_t> lengths =
      full ? std::vector<std::size_t>{1, 2, 3, 17, 63, 64, 65, 130, 255, 256, 257, 511, 513, 1000}
           : std::vector<std::size_t>{1, 2, 65, 255, 257, 1000};
  for (std::size_t n : lengths) {
    std::vector<std::pair<std::string, std::vector<float>>> rows = {{"model", model_logits(n, 1)}};
    if (n > 3 && (full || n == 65 || n == 1000)) {
      for (Distribution d : {Distribution::kNarrow, Distribution::kTiesAtMax, Distribution::kMaskedNegInf,
                             Distribution::kHugeOutlier}) {
        rows.push_back({distribution_name(d), make_row(d, n, 7)});
      }
    }
    const Tokens tokens = every_seventh(n);
    for (const auto& [name, x] : rows) {
      for (const SampleOptions& o : grid) {
        check_row(x, o, name, log);
        if (full || n == 1000) check_row(x, o, name + " penalised", log, &tokens);
      }
    }
  }
}

// Rows of several chunks: every path (candidates, candidates on the heap,
// top-p from the largest entries, radix select for top-k beyond
// kFastTopK and for top-p).
TEST(Sampling, LongRowsMatchSortReference) {
  const std::size_t n = 70001;
  const std::vector<float> x = model_logits(n, 3);
  std::vector<float> flat(n);
  std::mt19937 rng(5);
  for (float& v : flat) v = std::uniform_real_distribution<float>(-10.0f, 10.0f)(rng);
  const Tokens tokens = every_seventh(n);
  FailureLog log;
  for (std::int64_t k : {0, 50, 1000, 66000})
    for (float p : {1.0f, 0.9f})
      for (float m : {0.0f, 0.05f}) {
        // The boundary sweep: each path once (candidates for top-k and
        // min-p, the largest entries for top-p, radix select for a large k).
        if (!full_sweep() && !((k == 50 && p == 0.9f && m == 0.0f) || (k == 0 && p == 1.0f && m == 0.05f) ||
                               (k == 0 && p == 0.9f && m == 0.0f) || (k == 1000 && p == 1.0f && m == 0.0f) ||
                               (k == 66000 && p == 0.9f && m == 0.05f)))
          continue;
        SampleOptions o;
        o.top_k = k;
        o.top_p = p;
        o.min_p = m;
        o.temperature = 0.8f;
        check_row(x, o, "model", log);
        check_row(flat, o, "flat", log, &tokens);
      }
}

// Chi-square over draws: the observed counts of each kept token against the
// exact filtered distribution (long double), at a fixed seed. The statistic
// is compared with the chi-square quantile at a false-alarm rate of 1e-6 per
// check (Wilson-Hilferty), so a correct sampler fails one of this test's
// checks with probability below 1e-4 (and, the seed being fixed, never).
double chi_square_quantile(double dof, double z) {
  const double a = 2.0 / (9.0 * dof);
  const double c = 1.0 - a + z * std::sqrt(a);
  return dof * c * c * c;
}

TEST(Sampling, DrawsFollowTheFilteredDistribution) {
  constexpr double kZ = 4.753;  // the standard normal's 1 - 1e-6 quantile
  const std::size_t draws = full_sweep() ? 20000 : 3000;
  std::vector<std::pair<std::vector<float>, SampleOptions>> cases;
  {
    SampleOptions o;
    cases.push_back({model_logits(24, 11), o});
    o.temperature = 1.7f;
    o.top_k = 9;
    cases.push_back({model_logits(24, 12), o});
    SampleOptions p;
    p.top_p = 0.8f;
    p.temperature = 3.0f;
    cases.push_back({model_logits(40, 13), p});
    SampleOptions m;
    m.min_p = 0.02f;
    m.temperature = 2.0f;
    cases.push_back({model_logits(40, 14), m});
    SampleOptions all;
    all.top_k = 12;
    all.top_p = 0.95f;
    all.min_p = 0.01f;
    all.temperature = 4.0f;
    cases.push_back({make_row(Distribution::kLogits, 30, 15), all});
  }
  for_each_supported_isa([&](Isa isa) {
    for (const auto& [x, o] : cases) {
      const SampleReference ref = reference_sample(x, o, tokens_of(o));
      std::vector<std::size_t> ids;
      std::vector<Wide> probs;
      reference_distribution(ref, ref.kept, o.temperature, &ids, &probs);
      std::vector<std::size_t> observed(x.size(), 0);
      std::mt19937_64 rng(2024);
      for (std::size_t i = 0; i < draws; ++i) {
        const float u = static_cast<float>(rng() >> 40) * 0x1p-24f;
        SampleResult r;
        ASSERT_TRUE(softkern::sample(x.data(), x.size(), u, o, &r).ok());
        ++observed[static_cast<std::size_t>(r.token)];
      }
      // Cells with an expected count below 5 are pooled into one.
      double chi2 = 0, pooled_expected = 0, pooled_observed = 0;
      std::size_t cells = 0, kept_observed = 0;
      for (std::size_t i = 0; i < ids.size(); ++i) {
        const double expected = static_cast<double>(probs[i]) * static_cast<double>(draws);
        const double seen = static_cast<double>(observed[ids[i]]);
        kept_observed += observed[ids[i]];
        if (expected < 5.0) {
          pooled_expected += expected;
          pooled_observed += seen;
          continue;
        }
        chi2 += (seen - expected) * (seen - expected) / expected;
        ++cells;
      }
      if (pooled_expected > 0) {
        chi2 += (pooled_observed - pooled_expected) * (pooled_observed - pooled_expected) / std::max(pooled_expected, 1.0);
        ++cells;
      }
      EXPECT_EQ(kept_observed, draws) << "drew tokens outside the kept set: " << describe(o);
      const double limit = cells > 1 ? chi_square_quantile(static_cast<double>(cells - 1), kZ) : 0.0;
      std::printf("[ chi2 ] %s %s: %zu kept, %zu cells, chi2 = %.1f (limit %.1f)\n", softkern::isa_name(isa),
                  describe(o).c_str(), ids.size(), cells, chi2, limit);
      if (cells > 1) EXPECT_LE(chi2, limit) << softkern::isa_name(isa) << " " << describe(o);
    }
  });
}

// ------------------------------------------------------------ determinism

struct Case {
  std::vector<float> x;
  SampleOptions options;
  Tokens tokens;
};

std::vector<Case> determinism_cases(std::size_t n) {
  std::vector<Case> cases;
  auto add = [&](std::vector<float> x, std::int64_t k, float p, float m, bool penalties) {
    Case c;
    c.x = std::move(x);
    c.options.top_k = k;
    c.options.top_p = p;
    c.options.min_p = m;
    c.options.temperature = 0.7f;
    if (penalties) {
      c.tokens = every_seventh(c.x.size());
      c.options.repetition_penalty = 1.2f;
      c.options.frequency_penalty = 0.1f;
    }
    cases.push_back(std::move(c));
  };
  std::vector<float> flat(n);
  std::mt19937 rng(9);
  for (float& v : flat) v = std::uniform_real_distribution<float>(-10.0f, 10.0f)(rng);
  add(model_logits(n, 21), 50, 0.9f, 0.0f, false);   // candidates
  add(model_logits(n, 22), 0, 1.0f, 0.05f, true);    // candidates, min-p
  add(model_logits(n, 23), 0, 0.9f, 0.0f, false);    // radix: top-p alone
  add(flat, 1000, 0.95f, 0.0f, true);                // radix: large k, then top-p
  add(flat, 0, 1.0f, 0.0f, false);                   // no filter: the draw over the row
  return cases;
}

// A user's executor: one std::thread per task.
auto thread_per_task_executor(std::size_t concurrency) {
  return softkern::make_executor(concurrency, [](std::size_t count, auto&& task) {
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < count; ++i) threads.emplace_back([&task, i] { task(i); });
    for (auto& t : threads) t.join();
  });
}

TEST(Sampling, SameTokenOnEveryTargetAndThreadCount) {
  const std::size_t n = 3 * 32768 + 5;  // four chunks, the last of 5
  const std::vector<Case> cases = determinism_cases(n);
  const std::vector<float> uniforms =
      full_sweep() ? std::vector<float>{0.0f, 0.5f, 0.87654f} : std::vector<float>{0.0f, 0.87654f};
  auto three = thread_per_task_executor(3);
  std::vector<softkern::Executor*> executors = {nullptr, &softkern::default_executor()};
  if (full_sweep()) executors.push_back(&three);
  for (std::size_t c = 0; c < cases.size(); ++c) {
    SampleOptions o = cases[c].options;
    set_tokens(o, cases[c].tokens.view());
    std::vector<softkern::bfloat16> x16(n);
    for (std::size_t i = 0; i < n; ++i) x16[i] = softkern::to_bfloat16(cases[c].x[i]);
    for (int type = 0; type < 2; ++type) {
      bool have = false;
      std::vector<SampleResult> want(uniforms.size());
      for_each_supported_isa([&](Isa isa) {
        for (softkern::Executor* e : executors) {
          o.executor = e;
          for (std::size_t u = 0; u < uniforms.size(); ++u) {
            SampleResult r;
            const Status s = type == 0 ? softkern::sample(cases[c].x.data(), n, uniforms[u], o, &r)
                                       : softkern::sample(x16.data(), n, uniforms[u], o, &r);
            ASSERT_TRUE(s.ok()) << s.message();
            if (!have) {
              want[u] = r;
              continue;
            }
            EXPECT_TRUE(r.token == want[u].token && r.kept == want[u].kept &&
                        float_bits(r.log_prob) == float_bits(want[u].log_prob))
                << "case " << c << (type ? " bf16" : " f32") << " " << softkern::isa_name(isa) << " executor "
                << (e ? e->concurrency() : 0) << " u=" << uniforms[u] << ": token " << r.token << " kept " << r.kept
                << " log_prob " << r.log_prob << ", first run: token " << want[u].token << " kept " << want[u].kept
                << " log_prob " << want[u].log_prob;
          }
          have = true;
        }
      });
      if (type == 0) {
        const SampleReference ref = reference_sample(cases[c].x, o, tokens_of(o));
        for (std::size_t u = 0; u < uniforms.size(); ++u) {
          EXPECT_EQ(check_sample(ref, o, uniforms[u], want[u]), "") << "case " << c << " u=" << uniforms[u];
        }
      }
    }
  }
}

// sample_rows gives every row what sample gives it alone, with any executor.
TEST(Sampling, RowsEqualOneByOne) {
  const std::size_t rows = 9, n = 3000, stride = 3011;
  std::vector<float> x(rows * stride, 0.0f), uniforms(rows);
  std::vector<Tokens> tokens(rows);
  std::vector<TokenCounts> views(rows);
  for (std::size_t r = 0; r < rows; ++r) {
    const std::vector<float> row = model_logits(n, 100 + r);
    std::copy(row.begin(), row.end(), x.begin() + static_cast<std::ptrdiff_t>(r * stride));
    uniforms[r] = static_cast<float>(r) / static_cast<float>(rows);
    tokens[r] = every_seventh(n - r);
    views[r] = tokens[r].view();
  }
  auto eight = thread_per_task_executor(8);
  for_each_supported_isa([&](Isa) {
    SampleOptions o;
    o.top_k = 40;
    o.top_p = 0.95f;
    o.repetition_penalty = 1.1f;
    for (softkern::Executor* e : {static_cast<softkern::Executor*>(nullptr), &softkern::default_executor(),
                                  static_cast<softkern::Executor*>(&eight)}) {
      o.executor = e;
      std::vector<SampleResult> got(rows);
      ASSERT_TRUE(softkern::sample_rows(x.data(), stride, rows, n, uniforms.data(), o, got.data(), views.data()).ok());
      for (std::size_t r = 0; r < rows; ++r) {
        SampleOptions one = o;
        set_tokens(one, views[r]);
        SampleResult want;
        ASSERT_TRUE(softkern::sample(x.data() + r * stride, n, uniforms[r], one, &want).ok());
        EXPECT_EQ(got[r].token, want.token) << "row " << r;
        EXPECT_EQ(got[r].kept, want.kept) << "row " << r;
        EXPECT_EQ(float_bits(got[r].log_prob), float_bits(want.log_prob)) << "row " << r;
      }
    }
  });
}

}  // namespace
}  // namespace softkern_test
