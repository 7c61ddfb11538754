// Sampling's edges (sampling.hpp): rejected calls write nothing; special
// rows (one finite entry, +inf entries, ties, NaN, all -inf); the input is
// never written; 16-bit rows, alignment and filters that keep everything;
// and fixed expected tokens, the same on every architecture.
#include <array>
#include <random>

#include "sampling_reference.hpp"
#include "support.hpp"

namespace softkern_test {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaNf = std::numeric_limits<float>::quiet_NaN();

SampleResult sentinel_result() {
  SampleResult r;
  r.token = 0x5EED;
  r.log_prob = bits_float(kSentinelBits);
  r.kept = 0xDEADBEEF;
  return r;
}
bool is_sentinel(const SampleResult& r) {
  return r.token == 0x5EED && float_bits(r.log_prob) == kSentinelBits && r.kept == 0xDEADBEEF;
}

TEST(SamplingArguments, RejectedCallsWriteNothing) {
  const std::vector<float> x = make_row(Distribution::kLogits, 100, 1);
  const std::int32_t ids[] = {3, 7, 9}, counts[] = {1, 0, 2};
  const std::int32_t unsorted[] = {7, 3, 9}, repeated[] = {3, 3, 9}, outside[] = {3, 7, 100}, negative[] = {-1, 3, 9};
  const std::int32_t bad_counts[] = {1, -1, 2};
  struct Bad {
    const char* what;
    SampleOptions o;
    float uniform;
    StatusCode code;
  };
  std::vector<Bad> cases;
  auto add = [&](const char* what, auto change, StatusCode code, float uniform = 0.5f) {
    SampleOptions o;
    change(o);
    cases.push_back({what, o, uniform, code});
  };
  for (float t : {0.0f, -1.0f, kNaNf, kInf, 1e-31f, 1e31f}) {
    add("temperature", [t](SampleOptions& o) { o.temperature = t; }, StatusCode::kBadTemperature);
  }
  add("greedy with a bad temperature", [](SampleOptions& o) { o.greedy = true; o.temperature = 0.0f; },
      StatusCode::kBadTemperature);
  add("negative top_k", [](SampleOptions& o) { o.top_k = -1; }, StatusCode::kBadArgument);
  for (float p : {0.0f, -0.1f, 1.0001f, kNaNf}) {
    add("top_p", [p](SampleOptions& o) { o.top_p = p; }, StatusCode::kBadArgument);
  }
  for (float m : {-0.01f, 1.01f, kNaNf}) add("min_p", [m](SampleOptions& o) { o.min_p = m; }, StatusCode::kBadArgument);
  for (float r : {0.0f, -1.0f, kInf, kNaNf}) {
    add("repetition", [r](SampleOptions& o) { o.repetition_penalty = r; }, StatusCode::kBadArgument);
  }
  add("presence", [](SampleOptions& o) { o.presence_penalty = kNaNf; }, StatusCode::kBadArgument);
  add("frequency", [](SampleOptions& o) { o.frequency_penalty = -kInf; }, StatusCode::kBadArgument);
  for (float u : {1.0f, -1e-9f, kNaNf, kInf, 2.0f}) {
    add("uniform", [](SampleOptions&) {}, StatusCode::kBadArgument, u);
  }
  add("unsorted ids", [&](SampleOptions& o) { set_tokens(o, {unsorted, counts, 3}); }, StatusCode::kBadArgument);
  add("repeated ids", [&](SampleOptions& o) { set_tokens(o, {repeated, counts, 3}); }, StatusCode::kBadArgument);
  add("id >= n", [&](SampleOptions& o) { set_tokens(o, {outside, counts, 3}); }, StatusCode::kBadArgument);
  add("negative id", [&](SampleOptions& o) { set_tokens(o, {negative, counts, 3}); }, StatusCode::kBadArgument);
  add("negative count", [&](SampleOptions& o) { set_tokens(o, {ids, bad_counts, 3}); }, StatusCode::kBadArgument);
  add("null ids", [&](SampleOptions& o) { set_tokens(o, {nullptr, counts, 3}); }, StatusCode::kNullPointer);
  add("null counts", [&](SampleOptions& o) { set_tokens(o, {ids, nullptr, 3}); }, StatusCode::kNullPointer);
  for (const Bad& b : cases) {
    SampleResult r = sentinel_result();
    const Status s = softkern::sample(x.data(), x.size(), b.uniform, b.o, &r);
    EXPECT_FALSE(s.ok()) << b.what;
    EXPECT_EQ(s.code(), b.code) << b.what << ": " << s.message();
    EXPECT_TRUE(is_sentinel(r)) << b.what << " wrote the result";
    std::array<SampleResult, 2> rows = {sentinel_result(), sentinel_result()};
    const float uniforms[2] = {0.5f, b.uniform};
    const Status rs = softkern::sample_rows(x.data(), 50, 2, 50, uniforms, b.o, rows.data());
    EXPECT_FALSE(rs.ok()) << b.what << " (rows)";
    EXPECT_TRUE(is_sentinel(rows[0]) && is_sentinel(rows[1])) << b.what << " (rows) wrote a result";
  }

  SampleResult r = sentinel_result();
  EXPECT_EQ(softkern::sample(static_cast<const float*>(nullptr), 4, 0.5f, {}, &r).code(), StatusCode::kNullPointer);
  EXPECT_EQ(softkern::sample(x.data(), x.size(), 0.5f, {}, nullptr).code(), StatusCode::kNullPointer);
  EXPECT_EQ(softkern::sample(x.data(), 0, 0.5f, {}, &r).code(), StatusCode::kBadArgument);
  EXPECT_TRUE(is_sentinel(r));
  std::array<SampleResult, 2> rows = {sentinel_result(), sentinel_result()};
  const float uniforms[2] = {0.1f, 0.2f};
  EXPECT_EQ(softkern::sample_rows(x.data(), 40, 2, 50, uniforms, {}, rows.data()).code(), StatusCode::kBadStride);
  EXPECT_EQ(softkern::sample_rows(x.data(), 50, 2, 50, nullptr, {}, rows.data()).code(), StatusCode::kNullPointer);
  const TokenCounts per_row[2] = {{ids, counts, 3}, {}};
  SampleOptions with_tokens;
  set_tokens(with_tokens, {ids, counts, 3});
  EXPECT_EQ(softkern::sample_rows(x.data(), 50, 2, 50, uniforms, with_tokens, rows.data(), per_row).code(),
            StatusCode::kBadArgument);
  EXPECT_TRUE(is_sentinel(rows[0]) && is_sentinel(rows[1]));
  // Results on top of the logits.
  std::vector<float> overlapping(200, 1.0f);
  EXPECT_EQ(softkern::sample_rows(overlapping.data(), 50, 2, 50, uniforms, {},
                                  reinterpret_cast<SampleResult*>(overlapping.data() + 10)).code(),
            StatusCode::kOverlap);
  // rows = 0: a no-op, even with null buffers.
  EXPECT_TRUE(softkern::sample_rows(static_cast<const float*>(nullptr), 0, 0, 50, nullptr, {}, nullptr).ok());
}

// A NaN (or a penalty that makes one) and an all -inf row reject the call,
// on every target and in any row of a batch, with nothing written.
TEST(SamplingArguments, NaNAndEmptyRowsAreErrors) {
  for_each_supported_isa([](Isa) {
    for (std::size_t n : {std::size_t{1}, std::size_t{64}, std::size_t{1000}, std::size_t{70001}}) {
      for (std::size_t at : {std::size_t{0}, n / 2, n - 1}) {
        std::vector<float> x = make_row(Distribution::kLogits, n, 2);
        x[at] = kNaNf;
        SampleResult r = sentinel_result();
        SampleOptions o;
        o.top_k = 5;
        EXPECT_EQ(softkern::sample(x.data(), n, 0.5f, o, &r).code(), StatusCode::kBadArgument) << n << " " << at;
        o.greedy = true;
        EXPECT_EQ(softkern::sample(x.data(), n, 0.5f, o, &r).code(), StatusCode::kBadArgument) << n << " " << at;
        EXPECT_TRUE(is_sentinel(r));
      }
      std::vector<float> masked(n, -kInf);
      SampleResult r = sentinel_result();
      EXPECT_EQ(softkern::sample(masked.data(), n, 0.5f, {}, &r).code(), StatusCode::kBadArgument);
      EXPECT_TRUE(is_sentinel(r));
    }
    // +inf minus an infinite frequency penalty is NaN.
    std::vector<float> x(10, 1.0f);
    x[4] = kInf;
    const std::int32_t id = 4, count = INT32_MAX;
    SampleOptions o;
    o.frequency_penalty = 1e38f;
    set_tokens(o, {&id, &count, 1});
    SampleResult r = sentinel_result();
    EXPECT_EQ(softkern::sample(x.data(), x.size(), 0.5f, o, &r).code(), StatusCode::kBadArgument);
    EXPECT_TRUE(is_sentinel(r));
    // A NaN in the last row of a batch: no row's result is written.
    const std::size_t rows = 5, n = 300;
    std::vector<float> batch(rows * n);
    for (std::size_t i = 0; i < batch.size(); ++i) batch[i] = static_cast<float>(i % 97) * 0.1f;
    batch[rows * n - 3] = kNaNf;
    std::vector<SampleResult> results(rows, sentinel_result());
    const std::vector<float> uniforms(rows, 0.3f);
    SampleOptions threaded;
    threaded.executor = &softkern::default_executor();
    EXPECT_EQ(softkern::sample_rows(batch.data(), n, rows, n, uniforms.data(), threaded, results.data()).code(),
              StatusCode::kBadArgument);
    for (const SampleResult& each : results) EXPECT_TRUE(is_sentinel(each));
  });
}

// -------------------------------------------------------------- specials

std::vector<SampleOptions> some_options() {
  std::vector<SampleOptions> all(6);
  all[1].top_k = 3;
  all[2].top_p = 0.5f;
  all[3].min_p = 0.5f;
  all[4].top_k = 1000;  // radix select
  all[4].top_p = 0.7f;
  all[5].temperature = 0.01f;
  all[5].top_p = 0.99f;
  return all;
}

TEST(SamplingSpecials, OneFiniteEntryIsAlwaysDrawn) {
  for_each_supported_isa([](Isa) {
    for (std::size_t n : {std::size_t{1}, std::size_t{2}, std::size_t{65}, std::size_t{131}, std::size_t{70001}}) {
      for (std::size_t at : {std::size_t{0}, n / 3, n - 1}) {
        std::vector<float> x(n, -kInf);
        x[at] = -3.5f;
        for (const SampleOptions& o : some_options()) {
          for (float u : {0.0f, 0.5f, 0.99999994f}) {
            SampleResult r;
            ASSERT_TRUE(softkern::sample(x.data(), n, u, o, &r).ok());
            EXPECT_EQ(r.token, static_cast<std::int32_t>(at)) << "n=" << n;
            EXPECT_EQ(r.kept, 1u);
            EXPECT_EQ(r.log_prob, 0.0f);
          }
        }
      }
    }
  });
}

// +inf entries share the draw equally: the floor(u * count)-th, in id order.
TEST(SamplingSpecials, InfinitiesShareTheDraw) {
  for_each_supported_isa([](Isa) {
    for (std::size_t n : {std::size_t{7}, std::size_t{200}, std::size_t{70001}}) {
      std::vector<float> x = make_row(Distribution::kLogits, n, 4);
      x[1] = x[n / 2] = x[n - 1] = kInf;
      x[2] = -kInf;
      for (const SampleOptions& o : some_options()) {
        for (float u : {0.0f, 0.3f, 0.34f, 0.9f}) {
          SampleResult r;
          ASSERT_TRUE(softkern::sample(x.data(), n, u, o, &r).ok());
          const std::int32_t want[] = {1, static_cast<std::int32_t>(n / 2), static_cast<std::int32_t>(n - 1)};
          EXPECT_EQ(r.token, want[static_cast<int>(u * 3.0f)]) << "n=" << n << " u=" << u;
          EXPECT_EQ(r.kept, 3u);
          EXPECT_NEAR(r.log_prob, -std::log(3.0f), 1e-6f);
        }
      }
    }
  });
}

// Entries equal at a cut stay together: top-k keeps every tie of the k-th
// value, top-p and min-p never split equal values; greedy takes the lowest id.
TEST(SamplingSpecials, TiesAtTheCutAreKeptTogether) {
  for_each_supported_isa([](Isa) {
    std::vector<float> x(1000);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 10) * 0.1f - 5.0f;
    for (std::size_t i : {40u, 300u, 301u, 777u}) x[i] = 2.0f;  // four tied at the top
    x[500] = 3.0f;
    SampleOptions o;
    o.top_k = 3;
    SampleResult r;
    ASSERT_TRUE(softkern::sample(x.data(), x.size(), 0.5f, o, &r).ok());
    EXPECT_EQ(r.kept, 5u);
    o.top_k = 2;
    ASSERT_TRUE(softkern::sample(x.data(), x.size(), 0.5f, o, &r).ok());
    EXPECT_EQ(r.kept, 5u);
    o.top_k = 1;
    ASSERT_TRUE(softkern::sample(x.data(), x.size(), 0.5f, o, &r).ok());
    EXPECT_EQ(r.kept, 1u);
    EXPECT_EQ(r.token, 500);
    SampleOptions p;
    p.top_p = 0.75f;  // 3.0 holds a third of the mass, with the 2.0s 0.83
    ASSERT_TRUE(softkern::sample(x.data(), x.size(), 0.5f, p, &r).ok());
    EXPECT_EQ(r.kept, 5u);
    SampleOptions m;
    m.min_p = 1.0f;
    x[123] = 3.0f;
    ASSERT_TRUE(softkern::sample(x.data(), x.size(), 0.9f, m, &r).ok());
    EXPECT_EQ(r.kept, 2u);
    EXPECT_EQ(r.token, 500);
    SampleOptions greedy;
    greedy.greedy = true;
    ASSERT_TRUE(softkern::sample(x.data(), x.size(), 0.9f, greedy, &r).ok());
    EXPECT_EQ(r.token, 123);
    // A penalty moves the argmax.
    const std::int32_t id = 123, count = 1;
    set_tokens(greedy, {&id, &count, 1});
    greedy.presence_penalty = 0.5f;
    ASSERT_TRUE(softkern::sample(x.data(), x.size(), 0.9f, greedy, &r).ok());
    EXPECT_EQ(r.token, 500);
  });
}

// Filters at their "none" values keep every finite entry.
TEST(SamplingSpecials, NoFilterKeepsEverything) {
  std::vector<float> x = make_row(Distribution::kMaskedNegInf, 5000, 5);
  std::size_t finite = 0;
  for (float v : x) finite += v > -kInf;
  for_each_supported_isa([&](Isa) {
    for (std::int64_t k : {std::int64_t{0}, std::int64_t{5000}, std::int64_t{1} << 40}) {
      SampleOptions o;
      o.top_k = k;
      SampleResult r;
      ASSERT_TRUE(softkern::sample(x.data(), x.size(), 0.25f, o, &r).ok());
      EXPECT_EQ(r.kept, finite);
    }
  });
}

// The input stays as it was; 16-bit rows give what float rows of the same
// values give; the result does not depend on where the row starts.
TEST(SamplingSpecials, InputsTypesAndAlignment) {
  const std::size_t n = 4100;
  std::vector<float> x = make_row(Distribution::kLogits, n, 6);
  std::vector<softkern::bfloat16> xb(n);
  std::vector<softkern::float16> xh(n);
  std::vector<float> wide_b(n), wide_h(n);
  for (std::size_t i = 0; i < n; ++i) {
    xb[i] = softkern::to_bfloat16(x[i]);
    xh[i] = softkern::to_float16(x[i]);
    wide_b[i] = softkern::to_float(xb[i]);
    wide_h[i] = softkern::to_float(xh[i]);
  }
  std::vector<std::int32_t> ids, counts;
  for (std::int32_t i = 0; i < static_cast<std::int32_t>(n); i += 13) {
    ids.push_back(i);
    counts.push_back(i % 4);
  }
  for_each_supported_isa([&](Isa) {
    for (const SampleOptions& base : some_options()) {
      SampleOptions o = base;
      set_tokens(o, {ids.data(), counts.data(), ids.size()});
      o.repetition_penalty = 1.5f;
      o.frequency_penalty = 0.3f;
      const std::vector<float> before = x;
      SampleResult f, b, h, fb, fh;
      ASSERT_TRUE(softkern::sample(x.data(), n, 0.6f, o, &f).ok());
      EXPECT_TRUE(bitwise_equal(x.data(), before.data(), n)) << "the logits were written";
      ASSERT_TRUE(softkern::sample(xb.data(), n, 0.6f, o, &b).ok());
      ASSERT_TRUE(softkern::sample(wide_b.data(), n, 0.6f, o, &fb).ok());
      ASSERT_TRUE(softkern::sample(xh.data(), n, 0.6f, o, &h).ok());
      ASSERT_TRUE(softkern::sample(wide_h.data(), n, 0.6f, o, &fh).ok());
      EXPECT_TRUE(b.token == fb.token && b.kept == fb.kept && float_bits(b.log_prob) == float_bits(fb.log_prob));
      EXPECT_TRUE(h.token == fh.token && h.kept == fh.kept && float_bits(h.log_prob) == float_bits(fh.log_prob));
      EXPECT_EQ(check_sample(reference_sample(x, o, tokens_of(o)), o, 0.6f, f), "");
      for (std::size_t offset = 1; offset < 16; offset += 5) {
        std::vector<float> shifted(n + offset);
        std::copy(x.begin(), x.end(), shifted.begin() + static_cast<std::ptrdiff_t>(offset));
        SampleResult s;
        ASSERT_TRUE(softkern::sample(shifted.data() + offset, n, 0.6f, o, &s).ok());
        EXPECT_TRUE(s.token == f.token && s.kept == f.kept && float_bits(s.log_prob) == float_bits(f.log_prob))
            << "offset " << offset;
      }
    }
  });
}

// ------------------------------------------------------- fixed expectations

// Rows built with integer arithmetic only (the same floats on every
// architecture), sampled with fixed options and uniforms: the tokens and kept
// counts below were computed once and must come out on every target of every
// architecture (scripts/test_arm.sh runs this under qemu). Set
// SOFTKERN_PRINT_GOLDEN=1 to print the table with this build's tokens.
std::vector<float> integer_logits(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<float> x(n);
  for (float& v : x) v = static_cast<float>(static_cast<int>(rng() % 4001) - 2000) * 0.00125f;
  for (std::size_t i = 0; i < n / 300 + 1; ++i) x[rng() % n] += static_cast<float>(4 + rng() % 6);
  return x;
}

struct Golden {
  std::size_t n;
  std::int64_t top_k;
  float top_p, min_p, temperature;
  bool penalties;
  std::int32_t token[3];
  std::size_t kept;
};

constexpr float kGoldenUniforms[3] = {0.1f, 0.5f, 0.9f};
constexpr Golden kGolden[] = {
    {1000, 50, 0.9f, 0.0f, 0.7f, false, {422, 422, 836}, 2},
    {1000, 0, 1.0f, 0.05f, 1.0f, true, {6, 86, 625}, 3},
    {1000, 0, 0.9f, 0.0f, 1.3f, false, {297, 500, 650}, 261},
    {1000, 600, 0.95f, 0.0f, 1.0f, true, {645, 930, 930}, 163},
    {1000, 0, 1.0f, 0.0f, 1.0f, false, {97, 389, 859}, 1000},
    {70001, 50, 0.9f, 0.0f, 0.7f, false, {57879, 57879, 57879}, 1},
    {70001, 0, 1.0f, 0.05f, 1.0f, true, {5486, 35145, 67977}, 47},
    {70001, 0, 0.9f, 0.0f, 1.3f, false, {6748, 38446, 62891}, 27423},
    {70001, 600, 0.95f, 0.0f, 1.0f, true, {6293, 39358, 67705}, 84},
    {70001, 0, 1.0f, 0.0f, 1.0f, false, {4977, 38710, 65979}, 70001},
};

TEST(SamplingSpecials, SameTokensOnEveryArchitecture) {
  const bool print = std::getenv("SOFTKERN_PRINT_GOLDEN") != nullptr;
  for_each_supported_isa([&](Isa isa) {
    for (std::size_t c = 0; c < std::size(kGolden); ++c) {
      Golden g = kGolden[c];
      const std::vector<float> x = integer_logits(g.n, c);
      std::vector<std::int32_t> ids, counts;
      for (std::size_t i = 5; i < g.n; i += 11) {
        ids.push_back(static_cast<std::int32_t>(i));
        counts.push_back(static_cast<std::int32_t>(i % 3));
      }
      SampleOptions o;
      o.top_k = g.top_k;
      o.top_p = g.top_p;
      o.min_p = g.min_p;
      o.temperature = g.temperature;
      if (g.penalties) {
        set_tokens(o, {ids.data(), counts.data(), ids.size()});
        o.repetition_penalty = 1.25f;
        o.presence_penalty = 0.5f;
        o.frequency_penalty = 0.125f;
      }
      for (int u = 0; u < 3; ++u) {
        SampleResult r;
        ASSERT_TRUE(softkern::sample(x.data(), g.n, kGoldenUniforms[u], o, &r).ok());
        g.token[u] = r.token;
        g.kept = r.kept;
        if (!print) {
          EXPECT_EQ(r.token, kGolden[c].token[u]) << softkern::isa_name(isa) << " case " << c << " u=" << kGoldenUniforms[u];
          EXPECT_EQ(r.kept, kGolden[c].kept) << softkern::isa_name(isa) << " case " << c;
        }
      }
      if (print && isa == supported_isa_list().front()) {
        std::printf("    {%zu, %lld, %#.2gf, %#.2gf, %#.2gf, %s, {%d, %d, %d}, %zu},\n", g.n, static_cast<long long>(g.top_k),
                    g.top_p, g.min_p, g.temperature, g.penalties ? "true" : "false", g.token[0], g.token[1],
                    g.token[2], g.kept);
      }
    }
  });
}

}  // namespace
}  // namespace softkern_test
