// Quantized K/V caches (int8, fp8 E4M3 and E5M2) on every supported target:
//  - every code decodes exactly in the loops, NaN codes included;
//  - a batch over a quantized paged cache against the double-precision
//    reference over the values the cache holds (within attention()'s
//    bound), and against the unquantized values (within the quantization
//    bound docs/serving.md states);
//  - decode = the last prefill row, bit for bit;
//  - rejected calls (bad or missing scales) write nothing;
//  - the fp8 conversions against the OCP formats; append_kv's codes and
//    scales, and its rejected calls.
// The identities shared with the float types (paged = dense, batch =
// sequences) run with the quantized types in test_serving.cpp.
#include <map>

#include "attention_reference.hpp"
#include "serving_support.hpp"

namespace softkern_test {
namespace {

using softkern::AttentionBatch;
using softkern::AttentionOptions;
using softkern::AttentionTensors;
using softkern::ScoreFunction;

// Sequence s of x as a reference Problem (attention_reference.hpp): its
// queries, its context's values (`values`: dense [n, Hk, d]), its mask rows
// and the sinks when the options use them.
Problem problem_of(const BatchData& x, std::size_t s, const std::vector<float>& kv_k, const std::vector<float>& kv_v,
                   const AttentionOptions& o) {
  Problem p;
  p.L = x.queries(s);
  p.n = x.keys(s);
  p.H = x.H;
  p.Hk = x.Hk;
  p.d = x.d;
  p.q.assign(x.q.begin() + x.q_off[s] * x.H * x.d, x.q.begin() + x.q_off[s + 1] * x.H * x.d);
  p.k = kv_k;
  p.v = kv_v;
  if (o.mask != nullptr) {
    for (std::size_t i = 0; i < p.L; ++i)
      for (std::size_t j = 0; j < p.n; ++j) p.mask.push_back(o.mask[(x.q_off[s] + i) * o.mask_row_stride + j]);
  }
  if (o.sinks != nullptr) p.sinks.assign(o.sinks, o.sinks + x.H);
  return p;
}

// Sequence s's original (unquantized) K or V values, dense [n, Hk, d].
std::vector<float> original_values(const BatchData& x, std::size_t s, bool v) {
  const std::vector<float>& all = v ? x.vvalues : x.kvalues;
  const std::size_t row = x.Hk * x.d;
  return std::vector<float>(all.begin() + x.k_off[s] * row, all.begin() + x.k_off[s + 1] * row);
}

const std::vector<ElementType> kQuantizedTypes = {ElementType::kInt8, ElementType::kFloat8E4M3, ElementType::kFloat8E5M2};

// A batch over a quantized paged cache, each sequence against the
// double-precision reference over the values the cache holds (codes times
// scales): within the bound of the float32 call (docs/attention.md).
TEST(QuantizedKv, QuantizedMatchesDequantizedReference) {
  for_each_supported_isa([&](Isa isa) {
    FailureLog log;
    for (ElementType type : kQuantizedTypes) {
      for (std::size_t d : full_sweep() ? std::vector<std::size_t>{64, 128} : std::vector<std::size_t>{128}) {
        BatchData x = make_batch({{1, 300}, {5, 77}, {1, 33}, {3, 3}}, 8, 2, d, type, 21 + d);
        x.make_pool(16, false, false, 22);
        std::map<std::string, double> worst;
        for (const auto& [name, options] : option_sets(x)) {
          const bool softmax = options.score == ScoreFunction::kSoftmax;
          double& w = worst[softkern::score_function_name(options.score)];
          std::vector<float> out(x.rows() * x.H * x.d), lse(x.rows() * x.H);
          AttentionBatch b = x.paged_batch();
          b.o = out.data();
          b.lse = softmax ? lse.data() : nullptr;
          const Status st = softkern::attention_batch(b, options);
          ASSERT_TRUE(st.ok()) << st.message();
          for (std::size_t s = 0; s < x.sequences(); ++s) {
            const Problem p = problem_of(x, s, x.dequantized(s, false), x.dequantized(s, true), options);
            const std::vector<float> o_s(out.begin() + x.q_off[s] * x.H * d, out.begin() + x.q_off[s + 1] * x.H * d);
            const std::vector<float> lse_s(lse.begin() + x.q_off[s] * x.H, lse.begin() + x.q_off[s + 1] * x.H);
            const std::string what = std::string(softkern::isa_name(isa)) + " " + type_label(type) + " d=" +
                                     std::to_string(d) + " " + name + " sequence " + std::to_string(s);
            w = std::max(w, check_output(p, options, o_s, softmax ? &lse_s : nullptr, p.n - p.L, what, log));
          }
        }
        for (const auto& [score, c] : worst) {
          std::printf("[ accuracy ] %s %s d=%zu %s against the dequantized cache: max err/(u kappa) = %.2f\n",
                      softkern::isa_name(isa), type_label(type), d, score.c_str(), c);
        }
      }
    }
  });
}

// Against the cache before quantization (softmax): with Delta_i the largest
// change quantization makes to a score of query i (z' - z, exact), each
// weight moves by at most a factor e^{+-2 Delta_i}, so
//   |o' - o| <= (e^{2 Delta_i} - 1) sum_j w_j |v'_jc| + sum_j w_j |v'_jc - v_jc| + the float bound,
// w the exact weights over the original K. docs/serving.md states it.
TEST(QuantizedKv, QuantizationErrorWithinItsBound) {
  for (ElementType type : kQuantizedTypes) {
    BatchData x = full_sweep() ? make_batch({{1, 500}, {4, 130}}, 4, 2, 128, type, 31)
                               : make_batch({{1, 150}, {2, 40}}, 4, 2, 128, type, 31);
    std::vector<float> out(x.rows() * x.H * x.d);
    AttentionBatch b = x.dense_batch();
    b.o = out.data();
    ASSERT_TRUE(softkern::attention_batch(b).ok());
    double worst_ratio = 0, worst_rel = 0;
    FailureLog log;
    for (std::size_t s = 0; s < x.sequences(); ++s) {
      const std::vector<float> k0 = original_values(x, s, false), v0 = original_values(x, s, true);
      const std::vector<float> k1 = x.dequantized(s, false), v1 = x.dequantized(s, true);
      const std::size_t L = x.queries(s), n = x.keys(s), d = x.d, group = x.H / x.Hk;
      const double scale = 1.0 / std::sqrt(static_cast<double>(d));
      for (std::size_t i = 0; i < L; ++i) {
        const std::size_t visible = n - L + i + 1;
        for (std::size_t h = 0; h < x.H; ++h) {
          const std::size_t g = h / group;
          const float* q = &x.q[((x.q_off[s] + i) * x.H + h) * d];
          std::vector<double> z(visible), w(visible);
          double delta = 0, m = -HUGE_VAL, sum = 0, vmax = 0;
          for (std::size_t j = 0; j < visible; ++j) {
            double a = 0, a1 = 0;
            for (std::size_t c = 0; c < d; ++c) {
              a += static_cast<double>(q[c]) * k0[(j * x.Hk + g) * d + c];
              a1 += static_cast<double>(q[c]) * k1[(j * x.Hk + g) * d + c];
            }
            z[j] = scale * a;
            delta = std::max(delta, std::fabs(scale * (a1 - a)));
            m = std::max(m, z[j]);
          }
          for (std::size_t j = 0; j < visible; ++j) sum += w[j] = std::exp(z[j] - m);
          for (double& wj : w) wj /= sum;
          for (std::size_t c = 0; c < d; ++c) {
            double o0 = 0, mag1 = 0, dv = 0;
            for (std::size_t j = 0; j < visible; ++j) {
              const std::size_t at = (j * x.Hk + g) * d + c;
              o0 += w[j] * v0[at];
              mag1 += w[j] * std::fabs(v1[at]);
              dv += w[j] * std::fabs(static_cast<double>(v1[at]) - v0[at]);
              vmax = std::max(vmax, std::fabs(static_cast<double>(v0[at])));
            }
            const double bound = std::expm1(2 * delta) * mag1 + dv + 0x1p-24 * (kAttnC + 2 * (d + 2) * 10.0 + visible) * mag1;
            const double err = std::fabs(out[((x.q_off[s] + i) * x.H + h) * d + c] - o0);
            if (!(err <= bound)) {
              log.add(std::string(type_label(type)) + ": quantization error " + std::to_string(err) + " > bound " +
                      std::to_string(bound));
            }
            worst_ratio = std::max(worst_ratio, err / bound);
            worst_rel = std::max(worst_rel, err / vmax);
          }
        }
      }
    }
    std::printf("[ accuracy ] %s against the unquantized cache: max |o' - o| / max|v| = %.2e, max err / bound = %.2f\n",
                type_label(type), worst_rel, worst_ratio);
  }
}

// The loops' decoding of every code is exact: with one key, a query's
// output is V's values (weight 1, scale 1), and its lse is its score (l = 1),
// so unit queries read K's values back through the lse. NaN codes (E4M3's
// S.1111.111, E5M2's) reach the output, and make their K row's scores NaN.
TEST(QuantizedKv, EveryCodeDecodesExactly) {
  for_each_supported_isa([&](Isa isa) {
    for (ElementType type : kQuantizedTypes) {
      const std::size_t d = 128, H = 2;  // KV head h holds codes [128 h, 128 h + 128)
      std::vector<unsigned char> codes(H * d), zeros(H * d, 0);
      for (std::size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<unsigned char>(i);
      const std::vector<float> scales(H, 1.0f);
      std::vector<float> q(d * H * d, 0.0f), o(d * H * d), lse(d * H);
      for (std::size_t i = 0; i < d; ++i)
        for (std::size_t h = 0; h < H; ++h) q[(i * H + h) * d + i] = 1.0f;  // query i of head h: unit vector e_i
      AttentionTensors t;
      t.queries = d;
      t.keys = 1;
      t.heads = H;
      t.kv_heads = H;
      t.head_dim = d;
      t.q = q.data();
      t.k_scales = scales.data();
      t.v_scales = scales.data();
      t.o = o.data();
      t.lse = lse.data();
      AttentionOptions opt;
      opt.causal = false;
      opt.scale = 1.0f;
      // V: every code, K zero (weight 1 for the one key).
      t.k = kv_pointer(zeros.data(), type);
      t.v = kv_pointer(codes.data(), type);
      ASSERT_TRUE(softkern::attention(t, opt).ok());
      for (std::size_t h = 0; h < H; ++h) {
        for (std::size_t c = 0; c < d; ++c) {
          const float want = element_value(codes.data(), h * d + c, type), got = o[h * d + c];
          EXPECT_TRUE(std::isnan(want) ? std::isnan(got) : got == want)
              << softkern::isa_name(isa) << " " << type_label(type) << " V code " << h * d + c << ": " << got << " want " << want;
        }
      }
      // K: every code, read back through the lse of unit queries.
      t.k = kv_pointer(codes.data(), type);
      t.v = kv_pointer(zeros.data(), type);
      ASSERT_TRUE(softkern::attention(t, opt).ok());
      for (std::size_t h = 0; h < H; ++h) {
        bool row_has_nan = false;  // a NaN anywhere in the K row makes every score of it NaN
        for (std::size_t c = 0; c < d; ++c) row_has_nan |= std::isnan(element_value(codes.data(), h * d + c, type));
        for (std::size_t c = 0; c < d; ++c) {
          const float want = element_value(codes.data(), h * d + c, type), got = lse[c * H + h];
          EXPECT_TRUE(row_has_nan ? std::isnan(got) : got == want)
              << softkern::isa_name(isa) << " " << type_label(type) << " K code " << h * d + c << ": " << got << " want " << want;
        }
      }
    }
  });
}

// Decode for the newest token equals the last row of the prefill over the
// same quantized keys, bit for bit.
TEST(QuantizedKv, QuantizedDecodeEqualsLastPrefillRow) {
  for_each_supported_isa([&](Isa isa) {
    FailureLog log;
    for (ElementType type : kQuantizedTypes) {
      BatchData x = make_batch({{9, 70}}, 8, 2, 128, type, 41);
      for (const auto& [name, options] : option_sets(x)) {
        const std::vector<unsigned char> k = x.gathered(0, false), v = x.gathered(0, true);
        std::vector<float> all(9 * x.H * x.d), last(x.H * x.d);
        ASSERT_TRUE(softkern::attention(x.sequence_tensors(0, k, v, all.data(), nullptr), options).ok());
        AttentionTensors t = x.sequence_tensors(0, k, v, last.data(), nullptr);
        t.queries = 1;
        t.q += 8 * x.H * x.d;
        AttentionOptions o = options;
        if (o.mask != nullptr) o.mask += 8 * o.mask_row_stride;
        ASSERT_TRUE(softkern::attention(t, o).ok());
        if (!bitwise_equal(last.data(), all.data() + 8 * x.H * x.d, last.size()))
          log.add(std::string(softkern::isa_name(isa)) + " " + type_label(type) + " " + name + ": decode differs from prefill");
      }
    }
  });
}

TEST(QuantizedKv, QuantizedRejectedCallsWriteNothing) {
  BatchData x = make_batch({{1, 40}, {3, 20}}, 4, 2, 64, ElementType::kInt8, 51);
  x.make_pool(16, false, false, 52);
  BatchData f = make_batch({{1, 40}}, 4, 2, 64, ElementType::kFloat8E4M3, 53);
  std::vector<float> bad;
  const float kNaN = std::numeric_limits<float>::quiet_NaN();
  auto with_scale = [&](float value, std::size_t at) {
    return [&, value, at](AttentionBatch& b, AttentionOptions&) {
      bad = x.kpool_scales;
      bad[at] = value;
      b.paged.k_scales = bad.data();
    };
  };
  // Slot 0 of the first block of sequence 0 is read; the pool's spare
  // blocks are NaN and never read (accepted above).
  const std::size_t read_slot = static_cast<std::size_t>(x.tables[0]) * 16 * x.Hk;
  const std::vector<RejectedCase> cases = {
      {"int8 scale NaN", StatusCode::kBadArgument, with_scale(kNaN, read_slot)},
      {"int8 scale 0", StatusCode::kBadArgument, with_scale(0.0f, read_slot + 1)},
      {"int8 scale negative", StatusCode::kBadArgument, with_scale(-1.0f, read_slot)},
      {"int8 scale inf", StatusCode::kBadArgument, with_scale(std::numeric_limits<float>::infinity(), read_slot)},
      {"int8 without scales", StatusCode::kNullPointer, [](AttentionBatch& b, AttentionOptions&) { b.paged.v_scales = nullptr; }},
      {"o overlaps the scales", StatusCode::kOverlap,
       [&](AttentionBatch& b, AttentionOptions&) { b.paged.k_scales = b.o + 1; }},
  };
  expect_rejected(x, cases, false);
  for_each_supported_isa([&](Isa isa) {
    // attention() itself: fp8 head scales, scales with a float cache, and
    // linear attention, which takes no quantized K/V.
    const std::vector<unsigned char> k = f.gathered(0, false), v = f.gathered(0, true);
    std::vector<float> out(f.rows() * f.H * f.d);
    fill_sentinel(out.data(), out.size());
    AttentionTensors t = f.sequence_tensors(0, k, v, out.data(), nullptr);
    std::vector<float> head_scales = f.kscales;
    head_scales[1] = kNaN;
    AttentionTensors t1 = t;
    t1.k_scales = head_scales.data();
    EXPECT_EQ(softkern::attention(t1).code(), StatusCode::kBadArgument);
    head_scales[1] = 1e38f;  // times 2^8 for E4M3 overflows
    EXPECT_EQ(softkern::attention(t1).code(), StatusCode::kBadArgument);
    AttentionTensors t2 = f.sequence_tensors(0, k, v, out.data(), nullptr);
    t2.k_scales = nullptr;
    EXPECT_EQ(softkern::attention(t2).code(), StatusCode::kNullPointer);
    BatchData g = make_batch({{1, 40}}, 4, 2, 64, ElementType::kFloat32, 54);
    const std::vector<unsigned char> gk = g.gathered(0, false), gv = g.gathered(0, true);
    AttentionTensors t3 = g.sequence_tensors(0, gk, gv, out.data(), nullptr);
    t3.k_scales = t3.v_scales = f.kscales.data();
    EXPECT_EQ(softkern::attention(t3).code(), StatusCode::kBadArgument);
    std::vector<float> state(f.H * f.d * f.d), z(f.H * f.d);
    AttentionTensors t4 = t;
    t4.queries = t4.keys = 1;
    EXPECT_EQ(softkern::linear_attention(t4, state.data(), z.data()).code(), StatusCode::kBadArgument);
    EXPECT_TRUE(is_sentinel(out.data(), out.size())) << "attention() wrote after a rejected call";
  });
}

}  // namespace
}  // namespace softkern_test

namespace softkern_test {
namespace {

using softkern::KvAppend;

// The OCP FP8 formats, from their definition: every code decodes to its
// value; every value that is a code encodes to it; every midpoint between
// neighbours rounds to the even one; beyond the largest finite, saturation.
TEST(QuantizedKv, Fp8ConversionsFollowTheFormats) {
  for (std::uint32_t b = 0; b < 256; ++b) {
    const int sign = (b & 0x80) ? -1 : 1;
    // E4M3: bias 7, 3 mantissa bits, S.1111.111 NaN.
    const int e4 = (b >> 3) & 15, m4 = b & 7;
    const float v4 = softkern::to_float(softkern::float8_e4m3{static_cast<std::uint8_t>(b)});
    if (e4 == 15 && m4 == 7) {
      EXPECT_TRUE(std::isnan(v4)) << b;
    } else {
      const double want = sign * (e4 == 0 ? m4 * std::ldexp(1.0, -9) : (8 + m4) * std::ldexp(1.0, e4 - 10));
      EXPECT_EQ(v4, want) << "e4m3 code " << b;
      if (b != 0x80) EXPECT_EQ(softkern::to_float8_e4m3(v4).bits, b) << "e4m3 round trip " << b;  // -0 aside
    }
    // E5M2: bias 15, 2 mantissa bits, binary16's infinities and NaN.
    const int e5 = (b >> 2) & 31, m5 = b & 3;
    const float v5 = softkern::to_float(softkern::float8_e5m2{static_cast<std::uint8_t>(b)});
    if (e5 == 31) {
      EXPECT_TRUE(m5 == 0 ? std::isinf(v5) : std::isnan(v5)) << b;
    } else {
      const double want = sign * (e5 == 0 ? m5 * std::ldexp(1.0, -16) : (4 + m5) * std::ldexp(1.0, e5 - 17));
      EXPECT_EQ(v5, want) << "e5m2 code " << b;
      if (b != 0x80) EXPECT_EQ(softkern::to_float8_e5m2(v5).bits, b) << "e5m2 round trip " << b;
    }
  }
  // Midpoints between neighbouring positive codes round to the even code;
  // just above or below a midpoint, to the nearer one.
  for (std::uint8_t b = 0; b < 0x7E; ++b) {
    const float lo = softkern::to_float(softkern::float8_e4m3{b});
    const float hi = softkern::to_float(softkern::float8_e4m3{static_cast<std::uint8_t>(b + 1)});
    const float mid = 0.5f * (lo + hi);
    EXPECT_EQ(softkern::to_float8_e4m3(mid).bits, (b & 1) ? b + 1 : b) << "e4m3 midpoint above " << int(b);
    EXPECT_EQ(softkern::to_float8_e4m3(std::nextafter(mid, 0.0f)).bits, b);
    EXPECT_EQ(softkern::to_float8_e4m3(std::nextafter(mid, 1e9f)).bits, b + 1);
  }
  for (std::uint8_t b = 0; b < 0x7B; ++b) {
    const float lo = softkern::to_float(softkern::float8_e5m2{b});
    const float hi = softkern::to_float(softkern::float8_e5m2{static_cast<std::uint8_t>(b + 1)});
    const float mid = 0.5f * (lo + hi);
    EXPECT_EQ(softkern::to_float8_e5m2(mid).bits, (b & 1) ? b + 1 : b) << "e5m2 midpoint above " << int(b);
  }
  EXPECT_EQ(softkern::to_float8_e4m3(463.9f).bits, 0x7E);   // 448
  EXPECT_EQ(softkern::to_float8_e4m3(1e30f).bits, 0x7E);    // saturates
  EXPECT_EQ(softkern::to_float8_e4m3(-INFINITY).bits, 0xFE);
  EXPECT_EQ(softkern::to_float8_e5m2(70000.0f).bits, 0x7B);  // 57344
  EXPECT_TRUE(std::isnan(softkern::to_float(softkern::to_float8_e4m3(NAN))));
  EXPECT_TRUE(std::isnan(softkern::to_float(softkern::to_float8_e5m2(NAN))));
}

// append_kv into a paged cache: int8 codes and scales, fp8 codes under
// per-head scales, 16-bit rounding; a negative slot writes nothing, a
// repeated slot keeps its last token.
TEST(QuantizedKv, AppendKvWritesEveryType) {
  const std::size_t tokens = 6, Hk = 2, d = 40, bs = 4, blocks = 5;
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  std::vector<float> x(tokens * Hk * d);
  for (float& v : x) v = normal(rng);
  for (std::size_t c = 0; c < d; ++c) x[(1 * Hk + 0) * d + c] = 0.0f;  // an all-zero row
  x[(2 * Hk + 1) * d + 7] = 900.0f;                                     // an outlier
  const std::vector<std::int64_t> slots = {5, 17, -1, 0, 9, 17};        // token 2 skipped, slot 17 twice
  for (ElementType type : {ElementType::kFloat32, ElementType::kBFloat16, ElementType::kFloat16, ElementType::kInt8,
                           ElementType::kFloat8E4M3, ElementType::kFloat8E5M2}) {
    const std::size_t es = softkern::element_bytes(type);
    std::vector<unsigned char> cache(blocks * bs * Hk * d * es, 0xA5);
    std::vector<float> scales(blocks * bs * Hk, -3.0f);
    const std::vector<float> head_scales = {0.5f, 3.0f};
    KvAppend a;
    a.tokens = tokens;
    a.kv_heads = Hk;
    a.head_dim = d;
    a.x = x.data();
    a.slots = slots.data();
    a.cache = kv_storage(cache.data(), type);
    a.cache_rows = blocks * bs;
    a.block_size = bs;
    if (type == ElementType::kInt8) a.scales = scales.data();
    if (type == ElementType::kFloat8E4M3 || type == ElementType::kFloat8E5M2) a.head_scales = head_scales.data();
    const Status st = softkern::append_kv(a);
    ASSERT_TRUE(st.ok()) << st.message();
    for (std::size_t r = 0; r < blocks * bs; ++r) {
      int token = -1;  // the last token written to slot r
      for (std::size_t t = 0; t < tokens; ++t)
        if (slots[t] == static_cast<std::int64_t>(r)) token = static_cast<int>(t);
      for (std::size_t g = 0; g < Hk; ++g) {
        const std::size_t at = (r * Hk + g) * d;  // default layout [blocks, bs, Hk, d]: slot r's rows
        if (token < 0) {
          for (std::size_t c = 0; c < d * es; ++c) ASSERT_EQ(cache[at * es + c], 0xA5) << type_label(type) << " slot " << r;
          continue;
        }
        const float* row = &x[(token * Hk + g) * d];
        float scale = 1.0f;
        if (type == ElementType::kInt8) {
          float max = 0;
          for (std::size_t c = 0; c < d; ++c) max = std::max(max, std::fabs(row[c]));
          scale = std::max(max / 127.0f, 0x1p-126f);
          ASSERT_EQ(scales[r * Hk + g], scale) << "int8 scale of slot " << r;
        }
        for (std::size_t c = 0; c < d; ++c) {
          float want;
          switch (type) {
            case ElementType::kBFloat16: want = softkern::to_float(softkern::to_bfloat16(row[c])); break;
            case ElementType::kFloat16: want = softkern::to_float(softkern::to_float16(row[c])); break;
            case ElementType::kInt8: want = std::nearbyint(row[c] / scale); break;
            case ElementType::kFloat8E4M3: want = softkern::to_float(softkern::to_float8_e4m3(row[c] / head_scales[g])); break;
            case ElementType::kFloat8E5M2: want = softkern::to_float(softkern::to_float8_e5m2(row[c] / head_scales[g])); break;
            default: want = row[c];
          }
          ASSERT_EQ(element_value(cache.data(), at + c, type), want) << type_label(type) << " slot " << r << " c " << c;
        }
      }
    }
  }
}

TEST(QuantizedKv, AppendKvRejectedCallsWriteNothing) {
  const std::size_t tokens = 3, Hk = 2, d = 16, rows = 8;
  std::vector<float> x(tokens * Hk * d, 1.0f);
  std::vector<std::int64_t> slots = {0, 3, 7};
  std::vector<std::int8_t> cache(rows * Hk * d);
  std::vector<float> scales(rows * Hk), head_scales = {1.0f, 2.0f};
  std::vector<softkern::float8_e4m3> fp8(rows * Hk * d);
  struct Case {
    const char* name;
    StatusCode code;
    std::function<void(KvAppend&)> edit;
  };
  std::vector<float> bad_x = x;
  bad_x[5] = std::numeric_limits<float>::infinity();
  std::vector<std::int64_t> bad_slots = {0, 8, 1};
  const std::vector<Case> cases = {
      {"null x", StatusCode::kNullPointer, [](KvAppend& a) { a.x = nullptr; }},
      {"null slots", StatusCode::kNullPointer, [](KvAppend& a) { a.slots = nullptr; }},
      {"null cache", StatusCode::kNullPointer, [](KvAppend& a) { a.cache = nullptr; }},
      {"int8 without scales", StatusCode::kNullPointer, [](KvAppend& a) { a.scales = nullptr; }},
      {"head scales with int8", StatusCode::kBadArgument, [&](KvAppend& a) { a.head_scales = head_scales.data(); }},
      {"slot past the cache", StatusCode::kBadArgument, [&](KvAppend& a) { a.slots = bad_slots.data(); }},
      {"infinite input", StatusCode::kBadArgument, [&](KvAppend& a) { a.x = bad_x.data(); }},
      {"quantized input", StatusCode::kBadArgument,
       [&](KvAppend& a) { a.x = reinterpret_cast<const std::int8_t*>(bad_x.data()); }},
      {"head_dim 0", StatusCode::kBadArgument, [](KvAppend& a) { a.head_dim = 0; }},
      {"block size 257", StatusCode::kBadArgument, [](KvAppend& a) { a.block_size = 257; }},
      {"cache overlaps x", StatusCode::kOverlap,
       [&](KvAppend& a) { a.x = reinterpret_cast<const float*>(cache.data()); }},
      {"scales overlap the cache", StatusCode::kOverlap,
       [&](KvAppend& a) { a.scales = reinterpret_cast<float*>(cache.data()) + 4; }},
      {"cache rows share addresses", StatusCode::kBadStride, [](KvAppend& a) { a.row_stride = 5; }},
      {"fp8 without head scales", StatusCode::kNullPointer,
       [&](KvAppend& a) {
         a.cache = fp8.data();
         a.scales = nullptr;
       }},
      {"fp8 head scale 0", StatusCode::kBadArgument,
       [&](KvAppend& a) {
         a.cache = fp8.data();
         a.scales = nullptr;
         head_scales[1] = 0.0f;
         a.head_scales = head_scales.data();
       }},
  };
  for (const Case& c : cases) {
    head_scales = {1.0f, 2.0f};
    std::fill(cache.begin(), cache.end(), static_cast<std::int8_t>(0x55));
    std::fill(fp8.begin(), fp8.end(), softkern::float8_e4m3{0x55});
    fill_sentinel(scales.data(), scales.size());
    KvAppend a;
    a.tokens = tokens;
    a.kv_heads = Hk;
    a.head_dim = d;
    a.x = x.data();
    a.slots = slots.data();
    a.cache = cache.data();
    a.cache_rows = rows;
    a.scales = scales.data();
    c.edit(a);
    const Status s = softkern::append_kv(a);
    EXPECT_EQ(s.code(), c.code) << c.name << ": " << s.message();
    EXPECT_TRUE(std::all_of(cache.begin(), cache.end(), [](std::int8_t v) { return v == 0x55; })) << c.name << ": cache written";
    EXPECT_TRUE(std::all_of(fp8.begin(), fp8.end(), [](softkern::float8_e4m3 v) { return v.bits == 0x55; }))
        << c.name << ": fp8 cache written";
    EXPECT_TRUE(is_sentinel(scales.data(), scales.size())) << c.name << ": scales written";
  }
}

}  // namespace
}  // namespace softkern_test
