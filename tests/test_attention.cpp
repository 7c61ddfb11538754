// Attention (attention.hpp) on every supported target, against a
// double-precision reference that materialises the scores, within the bound
// of attention_reference.hpp (docs/attention.md, "Accuracy"). The measured
// figures (err / (u kappa), the bound's terms taken out) are printed as
// "[ accuracy ]" lines.
#include <sys/mman.h>
#include <unistd.h>

#include <cfloat>
#include <map>

#include "attention_reference.hpp"

namespace softkern_test {
namespace {

using softkern::AttentionOptions;
using softkern::AttentionTensors;
using softkern::ElementType;
using softkern::KvPointer;
using softkern::ScoreFunction;

TEST(Attention, HalfConversionRoundTrips) {
  // Every half converts to float and back to itself (NaNs aside); the
  // kernels' own f16 decoding is checked through the f16 cases of the sweeps.
  for (std::uint32_t b = 0; b < 0x10000u; ++b) {
    const auto h = static_cast<std::uint16_t>(b);
    if (((h >> 10) & 0x1F) == 31 && (h & 0x3FF)) continue;
    ASSERT_EQ(to_f16(from_f16(h)), h) << std::hex << b;
  }
  EXPECT_EQ(to_f16(65520.0f), 0x7C00u);
  EXPECT_EQ(to_f16(65519.0f), 0x7BFFu);
  EXPECT_EQ(from_f16(0x3C00u), 1.0f);
}

struct Variant {
  const char* name;
  AttentionOptions options;
  bool mask = false;
  bool sinks = false;
  bool lse = false;
  bool alibi = false;
};

// ALiBi slopes for up to 32 heads: the geometric 2^(-8 h / H) of Press et
// al. for H = 8, repeated.
const std::vector<float>& alibi_slopes() {
  static const std::vector<float> slopes = [] {
    std::vector<float> v(32);
    for (std::size_t h = 0; h < v.size(); ++h) v[h] = std::ldexp(1.0f, -static_cast<int>(h % 8 + 1));
    return v;
  }();
  return slopes;
}

std::vector<Variant> softmax_variants() {
  std::vector<Variant> v;
  AttentionOptions o;
  v.push_back({"plain", o, false, false, true});
  o.temperature = 0.5f;
  v.push_back({"temperature_0.5", o, false, false, true});
  o.temperature = 2.0f;
  v.push_back({"temperature_2_sinks", o, false, true, true});
  o.temperature = 1.0f;
  v.push_back({"sinks_mask", o, true, true, true});
  o.window = 7;
  v.push_back({"window_7_mask", o, true, false, true});
  o.window = 0;
  o.scale = 0.3f;
  v.push_back({"scale_0.3_sinks", o, false, true, false});
  AttentionOptions c;
  c.softcap = 2.5f;
  c.temperature = 0.8f;
  v.push_back({"softcap_2.5_alibi_sinks_T0.8", c, false, true, true, true});
  c.softcap = 0.0f;
  c.temperature = 1.0f;
  c.window = 13;
  v.push_back({"alibi_window_13_mask", c, true, false, true, true});
  return v;
}

std::vector<Variant> other_variants() {
  std::vector<Variant> v;
  AttentionOptions o;
  o.score = ScoreFunction::kSigmoid;
  v.push_back({"sigmoid", o});
  o.sigmoid_bias = -2.0f;
  o.window = 5;
  v.push_back({"sigmoid_b-2_window_5_mask", o, true});
  AttentionOptions s;
  s.score = ScoreFunction::kSoftplus;
  v.push_back({"softplus", s});
  s.softplus_power = 3.0f;
  s.softplus_offset = 0.5f;
  v.push_back({"softplus_p3_O0.5_mask", s, true});
  s.softplus_power = 15.0f;
  s.softplus_offset = 1.0f;
  s.window = 9;
  v.push_back({"softplus_window_9", s});
  AttentionOptions g;
  g.score = ScoreFunction::kSigmoid;
  g.softcap = 5.0f;
  v.push_back({"sigmoid_softcap_5_alibi", g, false, false, false, true});
  AttentionOptions f;
  f.score = ScoreFunction::kSoftplus;
  v.push_back({"softplus_alibi", f, false, false, false, true});
  return v;
}

void add_mask_and_sinks(Problem& p, const Variant& v, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  p.mask.clear();
  p.sinks.clear();
  if (v.mask) {
    p.mask.resize(p.L * p.n);
    std::uniform_real_distribution<float> u(-2.0f, 2.0f);
    for (auto& m : p.mask) m = (rng() % 5 == 0) ? -kInf : u(rng);
  }
  if (v.sinks) {
    p.sinks.resize(p.H);
    std::uniform_real_distribution<float> u(-1.0f, 3.0f);
    for (auto& s : p.sinks) s = u(rng);
    if (p.H > 1) p.sinks[1] = 0.0f;  // softmax-off-by-one
  }
}

AttentionOptions options_for(const Problem& p, const Variant& v) {
  AttentionOptions o = v.options;
  if (v.alibi) o.alibi_slopes = alibi_slopes().data();
  if (!p.mask.empty()) o.mask = p.mask.data();
  if (!p.sinks.empty()) o.sinks = p.sinks.data();
  return o;
}

struct Shape {
  std::size_t L, n, H, Hk, d;
};

const char* type_name(ElementType t) {
  return t == ElementType::kFloat32 ? "f32" : t == ElementType::kBFloat16 ? "bf16" : "f16";
}

void sweep(const std::vector<Shape>& shapes, const std::vector<Variant>& variants, bool causal,
           const std::string& label) {
  for_each_supported_isa([&](Isa isa) {
    FailureLog log;
    std::map<std::string, double> worst;
    for (const Shape& s : shapes) {
      for (Layout layout : {Layout::kTokenMajor, Layout::kHeadMajor}) {
        for (ElementType type : {ElementType::kFloat32, ElementType::kBFloat16, ElementType::kFloat16}) {
          Problem p = make_problem(s.L, s.n, s.H, s.Hk, s.d, layout, type, s.n + s.d);
          for (const Variant& v : variants) {
            // The score modifiers change the scores, not the K/V loads: under
            // the boundary sweep, float32 K/V only.
            if (!full_sweep() && v.alibi && type != ElementType::kFloat32) continue;
            add_mask_and_sinks(p, v, s.L * 7 + s.n);
            AttentionOptions o = options_for(p, v);
            o.causal = causal;
            std::vector<float> out(p.L * p.H * p.d, -1.0f), lse(p.L * p.H, -1.0f);
            AttentionTensors t = tensors_of(p, out.data(), v.lse ? lse.data() : nullptr);
            std::ostringstream what;
            what << softkern::isa_name(isa) << " " << label << " L=" << s.L << " n=" << s.n << " H=" << s.H
                 << " Hk=" << s.Hk << " d=" << s.d << " " << (layout == Layout::kTokenMajor ? "[n,Hk,d]" : "[Hk,n,d]")
                 << " " << type_name(type) << " " << v.name << (causal ? " causal" : " non-causal");
            const Status st = softkern::attention(t, o);
            if (!st.ok()) {
              log.add(what.str() + ": rejected: " + st.message());
              continue;
            }
            const double c = check_output(p, o, out, v.lse ? &lse : nullptr, resolved_query_start(p, t), what.str(), log);
            std::string key = std::string(softkern::score_function_name(o.score)) + "/" + type_name(type);
            worst[key] = std::max(worst[key], c);
          }
        }
      }
    }
    for (const auto& [key, c] : worst) {
      std::printf("[ accuracy ] %s %s %s: max err/(u kappa) = %.2f\n", softkern::isa_name(isa), label.c_str(),
                  key.c_str(), c);
    }
  });
}

// Decode: one query per head, GQA groups of 1, 4 and 20 (more than a tile's
// 16 rows), head dims that are and are not whole vectors.
TEST(Attention, DecodeSoftmaxMatchesReference) {
  sweep({{1, 1, 1, 1, 64}, {1, 33, 8, 2, 128}, {1, 200, 4, 4, 80}, {1, 100, 20, 1, 256}, {1, 70, 2, 1, 3}},
        softmax_variants(), true, "decode");
}

TEST(Attention, DecodeSigmoidSoftplusMatchReference) {
  sweep({{1, 1, 1, 1, 64}, {1, 33, 8, 2, 128}, {1, 200, 4, 4, 80}, {1, 100, 20, 1, 256}}, other_variants(), true,
        "decode");
}

TEST(Attention, PrefillMatchesReference) {
  std::vector<Variant> all = softmax_variants();
  for (const Variant& v : other_variants()) all.push_back(v);
  // L < n: a cached prefix of n - L tokens.
  sweep({{17, 17, 2, 1, 64}, {40, 45, 4, 2, 128}, {9, 70, 3, 3, 96}}, all, true, "prefill");
  sweep({{13, 29, 2, 2, 64}}, all, false, "prefill");
}

// The decode result for the newest token is, bit for bit, the last row of a
// prefill over the same keys (key blocks are aligned to key indices, so each
// query row folds the same blocks in the same order).
TEST(Attention, DecodeEqualsLastPrefillRow) {
  std::vector<Variant> all = softmax_variants();
  for (const Variant& v : other_variants()) all.push_back(v);
  for_each_supported_isa([&](Isa isa) {
    FailureLog log;
    for (std::size_t L : {1, 5, 33}) {
      Problem p = make_problem(L, 100, 4, 2, 128, Layout::kTokenMajor, ElementType::kFloat32, 3);
      for (const Variant& v : all) {
        add_mask_and_sinks(p, v, 11);
        const AttentionOptions o = options_for(p, v);
        std::vector<float> out(p.L * p.H * p.d), last(p.H * p.d);
        ASSERT_TRUE(softkern::attention(tensors_of(p, out.data()), o).ok());
        AttentionTensors t = tensors_of(p, last.data());
        t.queries = 1;
        t.q = p.q.data() + (L - 1) * p.H * p.d;
        AttentionOptions od = o;
        if (o.mask != nullptr) od.mask = o.mask + (L - 1) * p.n;
        ASSERT_TRUE(softkern::attention(t, od).ok());
        if (!bitwise_equal(last.data(), out.data() + (L - 1) * p.H * p.d, p.H * p.d))
          log.add(std::string(softkern::isa_name(isa)) + " " + v.name + " L=" + std::to_string(L) +
                  ": decode differs from the last prefill row");
      }
    }
  });
}

// Split-KV: chunks computed independently (positions through key_start),
// merged, equal the unsplit result within the bound, and the reference.
TEST(Attention, SplitMergeEqualsUnsplit) {
  for_each_supported_isa([&](Isa isa) {
    FailureLog log;
    for (ScoreFunction score : {ScoreFunction::kSoftmax, ScoreFunction::kSigmoid}) {
      for (bool sinks : {false, true}) {
        if (sinks && score != ScoreFunction::kSoftmax) continue;
        for (std::size_t splits : {1, 2, 3, 7}) {
          Problem p = make_problem(1, 1000, 8, 2, 128, Layout::kHeadMajor, ElementType::kFloat32, splits);
          Variant v{"split", AttentionOptions{}, false, sinks, true};
          v.options.score = score;
          v.options.window = 900;
          add_mask_and_sinks(p, v, 5);
          AttentionOptions o = options_for(p, v);
          const bool softmax = score == ScoreFunction::kSoftmax;
          std::vector<float> whole(p.H * p.d), whole_lse(p.H);
          ASSERT_TRUE(softkern::attention(tensors_of(p, whole.data(), softmax ? whole_lse.data() : nullptr), o).ok());
          const std::size_t rows = p.H;
          std::vector<float> parts(splits * rows * p.d), parts_lse(splits * rows);
          AttentionOptions po = o;
          po.sinks = nullptr;  // sinks are added once, by the merge
          for (std::size_t c = 0; c < splits; ++c) {
            const std::size_t b = p.n * c / splits, e = p.n * (c + 1) / splits;
            AttentionTensors t = tensors_of(p, parts.data() + c * rows * p.d, softmax ? parts_lse.data() + c * rows : nullptr);
            t.k = p.k.data() + b * p.kv_row_stride();
            t.v = p.v.data() + b * p.kv_row_stride();
            t.keys = e - b;
            t.key_start = b;
            t.query_start = p.n - 1;
            ASSERT_TRUE(softkern::attention(t, po).ok());
          }
          std::vector<float> merged(rows * p.d), merged_lse(rows);
          const Status s = softkern::attention_merge(splits, rows, p.H, p.d, parts.data(),
                                                     softmax ? parts_lse.data() : nullptr, merged.data(),
                                                     softmax ? merged_lse.data() : nullptr, o);
          ASSERT_TRUE(s.ok()) << s.message();
          const std::string what = std::string(softkern::isa_name(isa)) + " " + softkern::score_function_name(score) +
                                   (sinks ? " sinks" : "") + " splits=" + std::to_string(splits);
          check_output(p, o, merged, softmax ? &merged_lse : nullptr, p.n - 1, what + " merged", log);
          // Against the unsplit result: both are within the bound of the reference.
          for (std::size_t h = 0; h < p.H; ++h) {
            const RefRow r = reference_row(p, o, 0, h, p.n - 1);
            for (std::size_t c = 0; c < p.d; ++c) {
              const double diff = std::fabs(merged[h * p.d + c] - whole[h * p.d + c]);
              if (!(diff <= 2 * 0x1p-24 * bound_factor(p, o, r) * r.kappa[c] + 0x1p-125))
                log.add(what + ": merged differs from unsplit beyond twice the bound");
            }
          }
        }
      }
    }
  });
}

// Invisible keys (mask -inf, the causal future, outside the window) get
// weight exactly 0: replacing their K and V by NaN changes no bit.
TEST(Attention, MaskedKeysGetExactlyZeroWeight) {
  std::vector<Variant> all = softmax_variants();
  for (const Variant& v : other_variants()) all.push_back(v);
  for_each_supported_isa([&](Isa isa) {
    FailureLog log;
    for (const Variant& v0 : all) {
      Variant v = v0;
      v.mask = true;
      v.options.window = 6;
      Problem p = make_problem(10, 40, 2, 1, 64, Layout::kTokenMajor, ElementType::kFloat32, 17);
      add_mask_and_sinks(p, v, 23);
      const AttentionOptions o = options_for(p, v);
      std::vector<float> clean(p.L * p.H * p.d), poisoned(p.L * p.H * p.d);
      ASSERT_TRUE(softkern::attention(tensors_of(p, clean.data()), o).ok());
      // Poison every key no query row sees... per query row: run decode-style
      // one row at a time so that a key hidden from this row may be visible to others.
      for (std::size_t i = 0; i < p.L; ++i) {
        Problem row = p;
        row.L = 1;
        row.q.assign(p.q.begin() + i * p.H * p.d, p.q.begin() + (i + 1) * p.H * p.d);
        if (!p.mask.empty()) row.mask.assign(p.mask.begin() + i * p.n, p.mask.begin() + (i + 1) * p.n);
        const std::uint64_t qpos = p.n - p.L + i;
        for (std::size_t j = 0; j < p.n; ++j) {
          if (key_visible(v.options, qpos, j, row.mask.empty() ? 0.0f : row.mask[j])) continue;
          for (std::size_t c = 0; c < p.d; ++c) row.set_kv(j, 0, c, std::nanf(""), std::nanf(""));
        }
        AttentionTensors t = tensors_of(row, poisoned.data() + i * p.H * p.d);
        t.query_start = qpos;
        AttentionOptions ro = o;
        if (!row.mask.empty()) ro.mask = row.mask.data();
        ASSERT_TRUE(softkern::attention(t, ro).ok());
      }
      if (!bitwise_equal(clean.data(), poisoned.data(), clean.size()))
        log.add(std::string(softkern::isa_name(isa)) + " " + v.name + ": NaN in an invisible key's K/V changed the output");
    }
  });
}

// A query that sees no key gives zeros (not NaN), lse -inf; with a sink,
// zeros and lse = S/T.
TEST(Attention, FullyMaskedQueryGivesZeros) {
  std::vector<Variant> all = softmax_variants();
  for (const Variant& v : other_variants()) all.push_back(v);
  for_each_supported_isa([&](Isa isa) {
    FailureLog log;
    for (const Variant& v0 : all) {
      for (int how = 0; how < 3; ++how) {
        Variant v = v0;
        Problem p = make_problem(3, 50, 4, 2, 64, Layout::kTokenMajor, ElementType::kFloat32, 29);
        add_mask_and_sinks(p, v, 31);
        AttentionOptions o = options_for(p, v);
        std::vector<float> mask(p.L * p.n, -kInf);
        AttentionTensors t = tensors_of(p, nullptr);
        std::vector<float> out(p.L * p.H * p.d, 1.0f), lse(p.L * p.H, 1.0f);
        t.o = out.data();
        if (o.score == ScoreFunction::kSoftmax) t.lse = lse.data();
        if (how == 0) {
          o.mask = mask.data();  // every key masked
        } else if (how == 1) {
          t.key_start = 100;  // every key in the future of the queries
          t.query_start = 0;
        } else {
          t.keys = 0;  // no keys at all
          t.query_start = 0;
        }
        const Status s = softkern::attention(t, o);
        ASSERT_TRUE(s.ok()) << s.message();
        for (float y : out)
          if (y != 0.0f) {
            log.add(std::string(softkern::isa_name(isa)) + " " + v.name + " how=" + std::to_string(how) +
                    ": fully masked query gave " + std::to_string(y));
            break;
          }
        if (t.lse != nullptr) {
          for (std::size_t i = 0; i < p.L; ++i)
            for (std::size_t h = 0; h < p.H; ++h) {
              const float want = p.sinks.empty() ? -kInf : p.sinks[h] / o.temperature;
              if (std::fabs(lse[i * p.H + h] - want) > 1e-6f * std::fabs(want) && lse[i * p.H + h] != want)
                log.add(std::string(v.name) + ": lse of a fully masked query");
            }
        }
      }
    }
  });
}

TEST(Attention, NanSinkMakesHeadNan) {
  Problem p = make_problem(1, 20, 2, 1, 64, Layout::kTokenMajor, ElementType::kFloat32, 1);
  p.sinks = {std::nanf(""), 0.0f};
  AttentionOptions o;
  o.sinks = p.sinks.data();
  std::vector<float> out(p.H * p.d);
  ASSERT_TRUE(softkern::attention(tensors_of(p, out.data()), o).ok());
  for (std::size_t c = 0; c < p.d; ++c) {
    EXPECT_TRUE(std::isnan(out[c]));
    EXPECT_FALSE(std::isnan(out[p.d + c]));
  }
}

// A NaN in a query, in a visible key's V row, or in a visible mask entry
// makes that query's output NaN (and only that query's), for every score
// function.
TEST(Attention, NanPropagatesToItsQueryOnly) {
  std::vector<Variant> all = softmax_variants();
  for (const Variant& v : other_variants()) all.push_back(v);
  for_each_supported_isa([&](Isa isa) {
    FailureLog log;
    for (const Variant& v0 : all) {
      for (int where = 0; where < 3; ++where) {
        Variant v = v0;
        v.options.window = 0;
        if (where == 2) v.mask = true;
        Problem p = make_problem(4, 40, 2, 2, 64, Layout::kTokenMajor, ElementType::kFloat32, 41);
        add_mask_and_sinks(p, v, 43);
        std::size_t bad_query = 2, bad_head = 1;
        if (where == 0) {
          p.q[(bad_query * p.H + bad_head) * p.d + 5] = std::nanf("");
        } else if (where == 1) {
          // Key 39 is visible to query 3 only (causal, prefix 36); head 1's KV head is 1.
          p.set_kv(39, 1, 7, p.kf(39, 1, 7), std::nanf(""));
          bad_query = 3;
          if (!p.mask.empty()) p.mask[3 * p.n + 39] = 0.0f;
        } else {
          p.mask[bad_query * p.n + 3] = std::nanf("");
        }
        const AttentionOptions o = options_for(p, v);
        std::vector<float> out(p.L * p.H * p.d);
        ASSERT_TRUE(softkern::attention(tensors_of(p, out.data()), o).ok());
        for (std::size_t i = 0; i < p.L; ++i)
          for (std::size_t h = 0; h < p.H; ++h) {
            const bool hit = i == bad_query && (where == 2 || h == bad_head);
            bool any_nan = false, all_nan = true;
            for (std::size_t c = 0; c < p.d; ++c) {
              const bool nan = std::isnan(out[(i * p.H + h) * p.d + c]);
              any_nan |= nan;
              all_nan &= nan;
            }
            // A NaN in one V column reaches that column; a NaN score reaches all.
            // (Softplus's re-weighting gives many visible keys a weight of
            // exactly 0, and a key of weight 0 is skipped: its NaN may not show.)
            const bool weight_may_be_zero = where == 1 && o.score == ScoreFunction::kSoftplus;
            const bool ok = hit ? (weight_may_be_zero || (where == 1 ? any_nan : all_nan)) : !any_nan;
            if (!ok)
              log.add(std::string(softkern::isa_name(isa)) + " " + v.name + " where=" + std::to_string(where) +
                      " query " + std::to_string(i) + " head " + std::to_string(h) +
                      (hit ? ": expected NaN" : ": unexpected NaN"));
          }
      }
    }
  });
}

// Every rejected call: the status code, and not one byte of o or lse written.
TEST(Attention, RejectedCallsWriteNothing) {
  Problem p = make_problem(4, 30, 4, 2, 64, Layout::kTokenMajor, ElementType::kFloat32, 2);
  std::vector<float> sinks(p.H, 0.0f);
  std::vector<float> nan_slopes(p.H, 0.5f);
  nan_slopes[p.H - 1] = std::nanf("");
  struct Case {
    const char* name;
    StatusCode code;
    std::function<void(AttentionTensors&, AttentionOptions&)> edit;
  };
  float* o_base = nullptr;
  const std::vector<Case> cases = {
      {"null q", StatusCode::kNullPointer, [](AttentionTensors& t, AttentionOptions&) { t.q = nullptr; }},
      {"null k", StatusCode::kNullPointer, [](AttentionTensors& t, AttentionOptions&) { t.k = nullptr; }},
      {"null v", StatusCode::kNullPointer, [](AttentionTensors& t, AttentionOptions&) { t.v = nullptr; }},
      {"heads not a multiple of kv_heads", StatusCode::kBadArgument,
       [](AttentionTensors& t, AttentionOptions&) { t.kv_heads = 3; }},
      {"kv_heads 0", StatusCode::kBadArgument, [](AttentionTensors& t, AttentionOptions&) { t.kv_heads = 0; }},
      {"head_dim 0", StatusCode::kBadArgument, [](AttentionTensors& t, AttentionOptions&) { t.head_dim = 0; }},
      {"head_dim 257", StatusCode::kBadArgument, [](AttentionTensors& t, AttentionOptions&) { t.head_dim = 257; }},
      {"o rows overlap", StatusCode::kBadStride, [](AttentionTensors& t, AttentionOptions&) { t.o_row_stride = 10; }},
      {"o heads overlap", StatusCode::kBadStride, [](AttentionTensors& t, AttentionOptions&) { t.o_head_stride = 63; }},
      {"lse rows overlap", StatusCode::kBadStride, [](AttentionTensors& t, AttentionOptions&) { t.lse_row_stride = 2; }},
      {"huge kv stride", StatusCode::kBadStride,
       [](AttentionTensors& t, AttentionOptions&) { t.kv_row_stride = SIZE_MAX / 8; }},
      {"o overlaps q", StatusCode::kOverlap,
       [](AttentionTensors& t, AttentionOptions&) { t.q = t.o + 1; }},
      {"o overlaps lse", StatusCode::kOverlap, [](AttentionTensors& t, AttentionOptions&) { t.lse = t.o + 5; }},
      {"k and v of different types", StatusCode::kBadArgument,
       [](AttentionTensors& t, AttentionOptions&) {
         t.v = softkern::as_bfloat16(static_cast<const std::uint16_t*>(t.v.data()));
       }},
      {"unknown score", StatusCode::kBadArgument,
       [](AttentionTensors&, AttentionOptions& o) { o.score = static_cast<ScoreFunction>(9); }},
      {"temperature 0", StatusCode::kBadTemperature, [](AttentionTensors&, AttentionOptions& o) { o.temperature = 0; }},
      {"temperature NaN", StatusCode::kBadTemperature,
       [](AttentionTensors&, AttentionOptions& o) { o.temperature = std::nanf(""); }},
      {"temperature with sigmoid", StatusCode::kBadTemperature,
       [](AttentionTensors&, AttentionOptions& o) {
         o.score = ScoreFunction::kSigmoid;
         o.temperature = 2;
       }},
      {"lse with sigmoid", StatusCode::kBadArgument,
       [](AttentionTensors&, AttentionOptions& o) { o.score = ScoreFunction::kSigmoid; }},
      {"sinks with softplus", StatusCode::kBadArgument,
       [&](AttentionTensors& t, AttentionOptions& o) {
         t.lse = nullptr;
         o.score = ScoreFunction::kSoftplus;
         o.sinks = sinks.data();
       }},
      {"scale inf", StatusCode::kBadArgument, [](AttentionTensors&, AttentionOptions& o) { o.scale = kInf; }},
      {"softcap negative", StatusCode::kBadArgument, [](AttentionTensors&, AttentionOptions& o) { o.softcap = -1.0f; }},
      {"softcap NaN", StatusCode::kBadArgument, [](AttentionTensors&, AttentionOptions& o) { o.softcap = std::nanf(""); }},
      {"softcap with softplus", StatusCode::kBadArgument,
       [](AttentionTensors& t, AttentionOptions& o) {
         t.lse = nullptr;
         o.score = ScoreFunction::kSoftplus;
         o.softcap = 30.0f;
       }},
      {"softcap over a tiny temperature", StatusCode::kBadArgument,
       [](AttentionTensors&, AttentionOptions& o) {
         o.softcap = 1e30f;
         o.temperature = 1e-20f;
       }},
      {"ALiBi slope NaN", StatusCode::kBadArgument,
       [&](AttentionTensors&, AttentionOptions& o) { o.alibi_slopes = nan_slopes.data(); }},
      {"ALiBi slopes overlap o", StatusCode::kOverlap,
       [](AttentionTensors& t, AttentionOptions& o) { o.alibi_slopes = t.o + 2; }},
      {"sigmoid bias NaN", StatusCode::kBadArgument,
       [](AttentionTensors& t, AttentionOptions& o) {
         t.lse = nullptr;
         o.score = ScoreFunction::kSigmoid;
         o.sigmoid_bias = std::nanf("");
       }},
      {"softplus power 0", StatusCode::kBadArgument,
       [](AttentionTensors& t, AttentionOptions& o) {
         t.lse = nullptr;
         o.score = ScoreFunction::kSoftplus;
         o.softplus_power = 0;
       }},
      {"queries beyond the keys at end", StatusCode::kBadArgument,
       [](AttentionTensors& t, AttentionOptions&) { t.keys = 3; }},
      {"query_start overflows", StatusCode::kBadArgument,
       [](AttentionTensors& t, AttentionOptions&) { t.query_start = SIZE_MAX - 1; }},
  };
  (void)o_base;
  for_each_supported_isa([&](Isa isa) {
    for (const Case& c : cases) {
      std::vector<float> out(p.L * p.H * p.d + 64), lse(p.L * p.H + 64);
      fill_sentinel(out.data(), out.size());
      fill_sentinel(lse.data(), lse.size());
      AttentionTensors t = tensors_of(p, out.data(), lse.data());
      AttentionOptions o;
      c.edit(t, o);
      const Status s = softkern::attention(t, o);
      EXPECT_EQ(s.code(), c.code) << softkern::isa_name(isa) << " " << c.name << ": " << s.message();
      EXPECT_TRUE(is_sentinel(out.data(), out.size())) << c.name << ": o was written";
      EXPECT_TRUE(is_sentinel(lse.data(), lse.size())) << c.name << ": lse was written";
      EXPECT_STRNE(s.message(), "ok");
    }
    // The merge's own checks.
    std::vector<float> parts(2 * 8 * 64, 0.0f), parts_lse(16, 0.0f), out(8 * 64);
    fill_sentinel(out.data(), out.size());
    EXPECT_EQ(softkern::attention_merge(2, 8, 3, 64, parts.data(), parts_lse.data(), out.data(), nullptr).code(),
              StatusCode::kBadArgument);
    EXPECT_EQ(softkern::attention_merge(2, 8, 4, 64, parts.data(), nullptr, out.data(), nullptr).code(),
              StatusCode::kNullPointer);
    EXPECT_EQ(softkern::attention_merge(2, 8, 4, 64, parts.data(), parts_lse.data(), parts.data() + 3, nullptr).code(),
              StatusCode::kOverlap);
    AttentionOptions sp;
    sp.score = ScoreFunction::kSoftplus;
    EXPECT_EQ(softkern::attention_merge(2, 8, 4, 64, parts.data(), parts_lse.data(), out.data(), nullptr, sp).code(),
              StatusCode::kBadArgument);
    EXPECT_TRUE(is_sentinel(out.data(), out.size()));
  });
}

// Strided q and o (head-major output), queries = 0 and n = 0.
TEST(Attention, StridedQueriesAndOutputs) {
  for_each_supported_isa([&](Isa isa) {
    FailureLog log;
    Problem p = make_problem(5, 60, 4, 2, 64, Layout::kHeadMajor, ElementType::kBFloat16, 8);
    std::vector<float> dense(p.L * p.H * p.d);
    ASSERT_TRUE(softkern::attention(tensors_of(p, dense.data())).ok());
    // o as [H, L, d + 3], q copied into [H, L, d + 5].
    std::vector<float> q2(p.H * p.L * (p.d + 5), 0.0f), o2(p.H * p.L * (p.d + 3), 0.0f);
    for (std::size_t i = 0; i < p.L; ++i)
      for (std::size_t h = 0; h < p.H; ++h)
        for (std::size_t c = 0; c < p.d; ++c) q2[(h * p.L + i) * (p.d + 5) + c] = p.q[(i * p.H + h) * p.d + c];
    AttentionTensors t = tensors_of(p, o2.data());
    t.q = q2.data();
    t.q_row_stride = p.d + 5;
    t.q_head_stride = p.L * (p.d + 5);
    t.o_row_stride = p.d + 3;
    t.o_head_stride = p.L * (p.d + 3);
    ASSERT_TRUE(softkern::attention(t).ok());
    for (std::size_t i = 0; i < p.L; ++i)
      for (std::size_t h = 0; h < p.H; ++h)
        if (!bitwise_equal(&o2[(h * p.L + i) * (p.d + 3)], &dense[(i * p.H + h) * p.d], p.d))
          log.add(std::string(softkern::isa_name(isa)) + ": strided q/o changed the result");
    t.queries = 0;
    EXPECT_TRUE(softkern::attention(t).ok());
    // Cross attention: more queries than keys, no causal mask.
    Problem x = make_problem(13, 5, 2, 1, 64, Layout::kTokenMajor, ElementType::kFloat32, 12);
    std::vector<float> xo(x.L * x.H * x.d);
    AttentionOptions nc;
    nc.causal = false;
    const Status s = softkern::attention(tensors_of(x, xo.data()), nc);
    ASSERT_TRUE(s.ok()) << s.message();
    check_output(x, nc, xo, nullptr, 0, std::string(softkern::isa_name(isa)) + " cross attention", log);
    EXPECT_EQ(softkern::attention(tensors_of(x, xo.data())).code(), StatusCode::kBadArgument);
  });
}

}  // namespace
}  // namespace softkern_test

namespace softkern_test {
namespace {

using softkern::LinearAttentionOptions;
using softkern::LinearKind;

double elu1(double x) { return x > 0 ? x + 1 : std::exp(x); }

// Double reference of linear attention from an initial state (S0, z0), over
// the problem's tokens; fills the final state too. The bound per output:
//   |o - r| <= u * (kAttnC + 2 (d + 2) + 2 L) * kappa,
// kappa = the sum of the magnitudes of the numerator's terms (plus |o| times
// the denominator's, for elu + 1) over the denominator.
struct LinearRef {
  std::vector<double> o, kappa, S, z;
};

LinearRef reference_linear(const Problem& p, const LinearAttentionOptions& lo, const std::vector<float>& S0,
                           const std::vector<float>& z0, const std::vector<float>& decay) {
  const std::size_t d = p.d, L = p.L, n = p.n, H = p.H, group = p.H / p.Hk;
  const bool elu = lo.kind == LinearKind::kEluPlusOne;
  LinearRef r;
  r.o.assign(L * H * d, 0.0);
  r.kappa.assign(L * H * d, 0.0);
  r.S.assign(H * d * d, 0.0);
  r.z.assign(H * d, 0.0);
  auto phi = [&](double x) { return elu ? elu1(x) : x; };
  // phi of every key once (per KV head), and lambda^k from a table.
  std::vector<double> phik(n * p.Hk * d);
  for (std::size_t j = 0; j < n; ++j)
    for (std::size_t g = 0; g < p.Hk; ++g)
      for (std::size_t a = 0; a < d; ++a) phik[(j * p.Hk + g) * d + a] = phi(p.kf(j, g, a));
  for (std::size_t h = 0; h < H; ++h) {
    const std::size_t g = h / group;
    const double lambda = elu ? 1.0 : std::exp(-static_cast<double>(decay[h]));
    std::vector<double> pw(std::max(L, n) + 2);
    for (std::size_t e = 0; e < pw.size(); ++e) pw[e] = std::pow(lambda, static_cast<double>(e));
    auto pk = [&](std::size_t j, std::size_t a) { return phik[(j * p.Hk + g) * d + a]; };
    for (std::size_t i = 0; i < L; ++i) {
      const float* q = &p.q[(i * H + h) * d];
      std::vector<double> num(d, 0.0), mag(d, 0.0);
      double den = lo.eps, den_mag = lo.eps;
      const std::size_t jend = lo.causal ? i + 1 : n;
      const double carried = lo.causal ? pw[i + 1] : 0.0;
      if (lo.causal) {
        for (std::size_t a = 0; a < d; ++a) {
          const double qa = phi(q[a]);
          for (std::size_t c = 0; c < d; ++c) {
            num[c] += carried * qa * S0[(h * d + a) * d + c];
            mag[c] += std::fabs(carried * qa * S0[(h * d + a) * d + c]);
          }
          if (elu) {
            den += qa * z0[h * d + a];
            den_mag += std::fabs(qa * z0[h * d + a]);
          }
        }
      }
      for (std::size_t j = 0; j < jend; ++j) {
        double dot = 0, dmag = 0;
        for (std::size_t a = 0; a < d; ++a) {
          dot += phi(q[a]) * pk(j, a);
          dmag += std::fabs(phi(q[a]) * pk(j, a));
        }
        const double w = lo.causal ? pw[i - j] : 1.0;
        for (std::size_t c = 0; c < d; ++c) {
          num[c] += w * dot * p.vf(j, g, c);
          mag[c] += w * dmag * std::fabs(p.vf(j, g, c));
        }
        den += w * dot;
        den_mag += w * dmag;
      }
      for (std::size_t c = 0; c < d; ++c) {
        const std::size_t at = (i * H + h) * d + c;
        if (elu) {
          r.o[at] = num[c] / den;
          r.kappa[at] = (mag[c] + std::fabs(r.o[at]) * den_mag) / den;
        } else {
          r.o[at] = num[c];
          r.kappa[at] = mag[c];
        }
      }
    }
    // Final state.
    const double carried = lo.causal ? pw[n] : 0.0;
    for (std::size_t a = 0; a < d; ++a) {
      for (std::size_t c = 0; c < d; ++c) r.S[(h * d + a) * d + c] = carried * (lo.causal ? S0[(h * d + a) * d + c] : 0.0);
      for (std::size_t j = 0; j < n; ++j) {
        const double w = (lo.causal ? pw[n - 1 - j] : 1.0) * pk(j, a);
        for (std::size_t c = 0; c < d; ++c) r.S[(h * d + a) * d + c] += w * p.vf(j, g, c);
      }
      if (elu) {
        double s = lo.causal ? z0[h * d + a] : 0.0;
        for (std::size_t j = 0; j < n; ++j) s += pk(j, a);
        r.z[h * d + a] = s;
      }
    }
  }
  return r;
}

struct LinearCase {
  const char* name;
  LinearAttentionOptions options;
};

std::vector<LinearCase> linear_cases() {
  std::vector<LinearCase> c;
  LinearAttentionOptions o;
  o.causal = false;
  c.push_back({"elu1_noncausal", o});
  o.causal = true;
  c.push_back({"elu1_causal", o});
  o.chunk = 7;
  c.push_back({"elu1_causal_chunk7", o});
  LinearAttentionOptions dcy;
  dcy.kind = LinearKind::kDecay;
  c.push_back({"decay", dcy});
  dcy.chunk = 1;
  c.push_back({"decay_chunk1", dcy});
  dcy.chunk = 5;
  c.push_back({"decay_chunk5", dcy});
  return c;
}

TEST(LinearAttention, MatchesReference) {
  for_each_supported_isa([&](Isa isa) {
    FailureLog log;
    double worst = 0;
    for (const Shape& s : std::vector<Shape>{{1, 1, 1, 1, 64}, {45, 45, 4, 2, 64}, {70, 70, 2, 1, 80}, {33, 33, 2, 2, 3}}) {
      for (ElementType type : {ElementType::kFloat32, ElementType::kBFloat16}) {
        for (const LinearCase& lc : linear_cases()) {
          Problem p = make_problem(s.L, s.n, s.H, s.Hk, s.d, Layout::kTokenMajor, type, s.L + 100);
          if (!lc.options.causal) {  // non-causal: more keys than queries
            p = make_problem(s.L, s.n + 9, s.H, s.Hk, s.d, Layout::kHeadMajor, type, s.L + 200);
          }
          // Scale q and k down so decay products stay O(1) like a trained model's.
          for (auto& x : p.q) x *= 0.3f;
          std::mt19937 rng(7);
          std::uniform_real_distribution<float> u01(0.0f, 1.0f);
          std::vector<float> S0(p.H * p.d * p.d), z0(p.H * p.d), decay(p.H);
          for (auto& x : S0) x = u01(rng) - 0.5f;
          for (auto& x : z0) x = 1.0f + u01(rng);
          for (std::size_t h = 0; h < p.H; ++h) decay[h] = h == 0 ? 0.0f : 0.05f * static_cast<float>(h * h);
          LinearAttentionOptions o = lc.options;
          o.decay = decay.data();
          const LinearRef ref = reference_linear(p, o, S0, z0, decay);
          std::vector<float> out(p.L * p.H * p.d), S = S0, z = z0;
          AttentionTensors t = tensors_of(p, out.data());
          const bool elu = o.kind == LinearKind::kEluPlusOne;
          const Status st = softkern::linear_attention(t, S.data(), elu ? z.data() : nullptr, o);
          const std::string what = std::string(softkern::isa_name(isa)) + " " + lc.name + " L=" + std::to_string(s.L) +
                                   " H=" + std::to_string(s.H) + " d=" + std::to_string(s.d) + " " + type_name(type);
          if (!st.ok()) {
            log.add(what + ": rejected: " + st.message());
            continue;
          }
          const double F = kAttnC + 2.0 * (p.d + 2) + 2.0 * p.L;
          for (std::size_t x = 0; x < out.size(); ++x) {
            const double err = std::fabs(out[x] - ref.o[x]);
            if (!(err <= 0x1p-24 * F * ref.kappa[x] + 0x1p-126)) {
              log.add(what + ": o[" + std::to_string(x) + "] = " + std::to_string(out[x]) + " reference " +
                      std::to_string(ref.o[x]));
            }
            if (ref.kappa[x] > 0) worst = std::max(worst, err / (0x1p-24 * ref.kappa[x]));
          }
          for (std::size_t x = 0; x < S.size(); ++x) {
            if (!(std::fabs(S[x] - ref.S[x]) <= 1e-4 * (1 + std::fabs(ref.S[x])))) {
              log.add(what + ": state S[" + std::to_string(x) + "] = " + std::to_string(S[x]) + " reference " +
                      std::to_string(ref.S[x]));
              break;
            }
          }
          if (elu)
            for (std::size_t x = 0; x < z.size(); ++x)
              if (!(std::fabs(z[x] - ref.z[x]) <= 1e-5 * (1 + std::fabs(ref.z[x])))) {
                log.add(what + ": normaliser z differs");
                break;
              }
        }
      }
    }
    std::printf("[ accuracy ] %s linear: max err/(u kappa) = %.2f\n", softkern::isa_name(isa), worst);
  });
}

// Decode (one token per call, the state carried by the caller) equals the
// chunked prefill within the bound; a long sequence with strong decay
// (lambda^-t would overflow float after ~180 tokens) stays finite.
TEST(LinearAttention, DecodeStepsEqualPrefill) {
  for_each_supported_isa([&](Isa isa) {
    FailureLog log;
    for (LinearKind kind : {LinearKind::kEluPlusOne, LinearKind::kDecay}) {
      Problem p = make_problem(600, 600, 2, 1, 64, Layout::kTokenMajor, ElementType::kFloat32, 9);
      for (auto& x : p.q) x *= 0.3f;
      std::vector<float> decay = {0.5f, 0.01f};
      LinearAttentionOptions o;
      o.kind = kind;
      o.decay = decay.data();
      const bool elu = kind == LinearKind::kEluPlusOne;
      std::vector<float> S(p.H * p.d * p.d, 0.0f), z(p.H * p.d, 0.0f), out(p.L * p.H * p.d);
      ASSERT_TRUE(softkern::linear_attention(tensors_of(p, out.data()), S.data(), elu ? z.data() : nullptr, o).ok());
      std::vector<float> S2(S.size(), 0.0f), z2(z.size(), 0.0f), step(p.H * p.d);
      const std::vector<float> zeros_S(S.size(), 0.0f), zeros_z(z.size(), 0.0f);
      const LinearRef ref = reference_linear(p, o, zeros_S, zeros_z, decay);
      const double F = kAttnC + 2.0 * (p.d + 2) + 2.0 * p.L;
      double worst = 0;
      for (std::size_t i = 0; i < p.L; ++i) {
        AttentionTensors t = tensors_of(p, step.data());
        t.queries = t.keys = 1;
        t.q = p.q.data() + i * p.H * p.d;
        t.k = p.k.data() + i * p.kv_row_stride();
        t.v = p.v.data() + i * p.kv_row_stride();
        ASSERT_TRUE(softkern::linear_attention(t, S2.data(), elu ? z2.data() : nullptr, o).ok());
        for (std::size_t x = 0; x < step.size(); ++x) {
          const std::size_t at = i * p.H * p.d + x;
          const double limit = 0x1p-24 * F * ref.kappa[at] + 0x1p-126;
          if (!(std::fabs(step[x] - ref.o[at]) <= limit) || !(std::fabs(out[at] - ref.o[at]) <= limit))
            log.add(std::string(softkern::isa_name(isa)) + ": decode or prefill outside the bound at token " +
                    std::to_string(i));
          worst = std::max(worst, std::fabs(step[x] - out[at]) / (0x1p-24 * ref.kappa[at]));
        }
      }
      for (std::size_t x = 0; x < S.size(); ++x)
        if (!(std::fabs(S[x] - S2[x]) <= 1e-4f * (1 + std::fabs(S[x])))) {
          log.add(std::string(softkern::isa_name(isa)) + ": decode state differs from prefill state");
          break;
        }
      std::printf("[ accuracy ] %s linear %s L=600 decode vs prefill: max |difference|/(u kappa) = %.2f\n",
                  softkern::isa_name(isa), elu ? "elu1" : "decay", worst);
    }
  });
}

TEST(LinearAttention, RejectedCallsWriteNothing) {
  Problem p = make_problem(8, 8, 2, 1, 64, Layout::kTokenMajor, ElementType::kFloat32, 4);
  std::vector<float> decay = {0.1f, -1.0f};
  for_each_supported_isa([&](Isa isa) {
    std::vector<float> out(p.L * p.H * p.d), S(p.H * p.d * p.d), z(p.H * p.d);
    fill_sentinel(out.data(), out.size());
    fill_sentinel(S.data(), S.size());
    fill_sentinel(z.data(), z.size());
    auto check = [&](const char* name, StatusCode code, AttentionTensors t, float* s, float* zz,
                     LinearAttentionOptions o) {
      const Status st = softkern::linear_attention(t, s, zz, o);
      EXPECT_EQ(st.code(), code) << softkern::isa_name(isa) << " " << name << ": " << st.message();
      EXPECT_TRUE(is_sentinel(out.data(), out.size()) && is_sentinel(S.data(), S.size()) &&
                  is_sentinel(z.data(), z.size()))
          << name << ": something was written";
    };
    const AttentionTensors t = tensors_of(p, out.data());
    LinearAttentionOptions o;
    check("null state", StatusCode::kNullPointer, t, nullptr, z.data(), o);
    check("null normaliser", StatusCode::kNullPointer, t, S.data(), nullptr, o);
    AttentionTensors t2 = t;
    t2.keys = 7;
    check("causal with queries != keys", StatusCode::kBadArgument, t2, S.data(), z.data(), o);
    LinearAttentionOptions d;
    d.kind = LinearKind::kDecay;
    check("decay without decay", StatusCode::kNullPointer, t, S.data(), nullptr, d);
    d.decay = decay.data();
    check("negative decay", StatusCode::kBadArgument, t, S.data(), nullptr, d);
    decay[1] = 0.2f;
    d.causal = false;
    check("non-causal decay", StatusCode::kBadArgument, t, S.data(), nullptr, d);
    decay[1] = -1.0f;
    o.chunk = 33;
    check("chunk 33", StatusCode::kBadArgument, t, S.data(), z.data(), o);
    o.chunk = 0;
    o.eps = -1;
    check("eps < 0", StatusCode::kBadArgument, t, S.data(), z.data(), o);
    o.eps = 1e-6f;
    check("state overlaps o", StatusCode::kOverlap, t, out.data() + 5, z.data(), o);
    AttentionTensors t3 = t;
    t3.q = S.data();
    check("state overlaps q", StatusCode::kOverlap, t3, S.data(), z.data(), o);
  });
}

}  // namespace
}  // namespace softkern_test

namespace softkern_test {
namespace {

// [PROT_NONE page][data][PROT_NONE page]: a tensor placed so that its last
// byte is the last before the trailing guard (or its first the first after
// the leading one) faults on any access past its end (or before its start).
class GuardedBytes {
 public:
  explicit GuardedBytes(std::size_t bytes) {
    page_ = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    data_ = (bytes + page_ - 1) / page_ * page_;
    total_ = data_ + 2 * page_;
    void* p = mmap(nullptr, total_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) std::abort();
    base_ = static_cast<char*>(p);
    if (mprotect(base_, page_, PROT_NONE) != 0 || mprotect(base_ + page_ + data_, page_, PROT_NONE) != 0) std::abort();
  }
  ~GuardedBytes() { munmap(base_, total_); }
  GuardedBytes(const GuardedBytes&) = delete;
  GuardedBytes& operator=(const GuardedBytes&) = delete;
  template <typename T>
  T* place(std::size_t count, bool at_end) {
    return at_end ? reinterpret_cast<T*>(base_ + page_ + data_) - count : reinterpret_cast<T*>(base_ + page_);
  }

 private:
  std::size_t page_, data_, total_;
  char* base_;
};

template <typename T>
T* guarded_copy(GuardedBytes& g, const std::vector<T>& v, bool at_end) {
  T* p = g.place<T>(v.size(), at_end);
  std::memcpy(p, v.data(), v.size() * sizeof(T));
  return p;
}

// Every tensor (q, K, V, o, lse, mask, sinks, the linear state) right
// against a PROT_NONE page, at both ends, for head dims that are and are not
// whole vectors: a stray access kills the test.
TEST(Attention, NoAccessOutsideTheTensors) {
  for_each_supported_isa([&](Isa isa) {
    for (std::size_t d : {3, 80, 128}) {
      for (ElementType type : {ElementType::kFloat32, ElementType::kBFloat16, ElementType::kFloat16}) {
        for (bool at_end : {true, false}) {
          SCOPED_TRACE(std::string(softkern::isa_name(isa)) + " d=" + std::to_string(d) + " " + type_name(type) +
                       (at_end ? " ending at a guard page" : " starting after a guard page"));
          Problem p = make_problem(5, 37, 2, 1, d, Layout::kTokenMajor, type, d);
          p.mask.assign(p.L * p.n, 0.5f);
          p.sinks.assign(p.H, 1.0f);
          GuardedBytes gq(p.q.size() * 4), gk(p.k.size() * 4), gv(p.v.size() * 4), go(p.L * p.H * d * 4),
              glse(p.L * p.H * 4), gmask(p.mask.size() * 4), gsinks(p.H * 4), gS(p.H * d * d * 4), gz(p.H * d * 4);
          AttentionTensors t = tensors_of(p, go.place<float>(p.L * p.H * d, at_end));
          t.q = guarded_copy(gq, p.q, at_end);
          if (type == ElementType::kFloat32) {
            t.k = guarded_copy(gk, p.k, at_end);
            t.v = guarded_copy(gv, p.v, at_end);
          } else {
            t.k = kv_bits(guarded_copy(gk, p.k16, at_end), type);
            t.v = kv_bits(guarded_copy(gv, p.v16, at_end), type);
          }
          for (ScoreFunction score : {ScoreFunction::kSoftmax, ScoreFunction::kSigmoid, ScoreFunction::kSoftplus}) {
            AttentionOptions o;
            o.score = score;
            o.mask = guarded_copy(gmask, p.mask, at_end);
            if (score == ScoreFunction::kSoftmax) {
              o.sinks = guarded_copy(gsinks, p.sinks, at_end);
              t.lse = glse.place<float>(p.L * p.H, at_end);
            } else {
              t.lse = nullptr;
            }
            EXPECT_TRUE(softkern::attention(t, o).ok());
            AttentionTensors decode = t;
            decode.queries = 1;
            EXPECT_TRUE(softkern::attention(decode, o).ok());
          }
          // Linear attention: causal needs queries == keys, so its own tokens.
          Problem lp = make_problem(9, 9, 2, 1, d, Layout::kTokenMajor, type, d + 1);
          GuardedBytes lq(lp.q.size() * 4), lk(lp.k.size() * 4), lv(lp.v.size() * 4), lo_(lp.q.size() * 4);
          t = tensors_of(lp, lo_.place<float>(lp.q.size(), at_end));
          t.q = guarded_copy(lq, lp.q, at_end);
          if (type == ElementType::kFloat32) {
            t.k = guarded_copy(lk, lp.k, at_end);
            t.v = guarded_copy(lv, lp.v, at_end);
          } else {
            t.k = kv_bits(guarded_copy(lk, lp.k16, at_end), type);
            t.v = kv_bits(guarded_copy(lv, lp.v16, at_end), type);
          }
          float* S = gS.place<float>(p.H * d * d, at_end);
          float* z = gz.place<float>(p.H * d, at_end);
          std::memset(S, 0, p.H * d * d * 4);
          std::memset(z, 0, p.H * d * 4);
          std::vector<float> decay(p.H, 0.1f);
          softkern::LinearAttentionOptions lo;
          EXPECT_TRUE(softkern::linear_attention(t, S, z, lo).ok());
          lo.kind = softkern::LinearKind::kDecay;
          lo.decay = guarded_copy(gsinks, decay, at_end);
          EXPECT_TRUE(softkern::linear_attention(t, S, nullptr, lo).ok());
          lo.kind = softkern::LinearKind::kEluPlusOne;
          lo.causal = false;
          EXPECT_TRUE(softkern::linear_attention(t, S, z, lo).ok());
        }
      }
    }
  });
}

}  // namespace
}  // namespace softkern_test
