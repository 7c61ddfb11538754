// Attention and linear attention on an Executor (AttentionOptions::executor,
// LinearAttentionOptions::executor), on every supported target:
//  - the result does not depend on the executor: an in-order executor, a
//    reversed one with a different concurrency and the built-in pool give the
//    same bits;
//  - calls cut by (KV head, query block) and linear attention (by head) give
//    the same bits as the call without an executor;
//  - split-KV decode (at least two chunks of 4096 keys) equals the one-pass
//    result within a few units of rounding (the one-pass result is checked
//    against the long-double reference in test_attention.cpp), and keeps the
//    special-value rules (NaN V in a visible key, NaN sink, fully masked rows).
// Shapes are small (d <= 16) but cross the task boundaries: 64-query blocks
// and 4096-key chunks.
#include <thread>

#include "support.hpp"
#include "test_executors.hpp"

namespace softkern_test {
namespace {

using softkern::AttentionOptions;
using softkern::AttentionTensors;
using softkern::Executor;
using softkern::ElementType;
using softkern::LinearAttentionOptions;
using softkern::ScoreFunction;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Concurrency 1: the call runs as without an executor.
auto one = softkern::make_executor(1, [](std::size_t count, const auto& task) {
  for (std::size_t i = 0; i < count; ++i) task(i);
});

std::vector<Executor*> executors() { return {&in_order, &reversed, &two_threads, &softkern::default_executor()}; }

std::uint16_t to_bf16(float f) {
  std::uint32_t u = float_bits(f);
  u += 0x7FFFu + ((u >> 16) & 1u);
  return static_cast<std::uint16_t>(u >> 16);
}

struct Case {
  std::size_t L, n, H, Hk, d;
  ElementType type = ElementType::kFloat32;
  ScoreFunction score = ScoreFunction::kSoftmax;
  bool causal = true;
  std::size_t window = 0;
  bool sinks = false, mask = false, lse = false;
};

std::string describe(const Case& c) {
  std::string s = std::string(softkern::score_function_name(c.score)) + " L=" + std::to_string(c.L) +
                  " n=" + std::to_string(c.n) + " H=" + std::to_string(c.H) + "/" + std::to_string(c.Hk) +
                  " d=" + std::to_string(c.d) + (c.type == ElementType::kFloat32 ? " f32" : " bf16");
  if (c.window) s += " window=" + std::to_string(c.window);
  if (c.sinks) s += " sinks";
  if (c.mask) s += " mask";
  return s;
}

struct Data {
  std::vector<float> q, k, v, mask, sinks;
  std::vector<std::uint16_t> k16, v16;
};

Data make_data(const Case& c, std::uint64_t seed) {
  Data x;
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  x.q.resize(c.L * c.H * c.d);
  x.k.resize(c.n * c.Hk * c.d);
  x.v.resize(c.n * c.Hk * c.d);
  for (auto* t : {&x.q, &x.k, &x.v})
    for (auto& e : *t) e = normal(rng);
  if (c.type == ElementType::kBFloat16) {
    for (float f : x.k) x.k16.push_back(to_bf16(f));
    for (float f : x.v) x.v16.push_back(to_bf16(f));
  }
  if (c.mask) {
    x.mask.resize(c.L * c.n);
    for (std::size_t i = 0; i < x.mask.size(); ++i) x.mask[i] = (rng() % 7 == 0) ? -kInf : 0.25f * normal(rng);
  }
  if (c.sinks) {
    x.sinks.resize(c.H);
    for (auto& s : x.sinks) s = normal(rng);
  }
  return x;
}

struct Result {
  std::vector<float> o, lse;
};

// The case's tensors over `x`, output into o.
AttentionTensors tensors_of(const Case& c, const Data& x, float* o) {
  AttentionTensors t;
  t.queries = c.L;
  t.keys = c.n;
  t.heads = c.H;
  t.kv_heads = c.Hk;
  t.head_dim = c.d;
  t.q = x.q.data();
  if (c.type == ElementType::kFloat32) {
    t.k = x.k.data();
    t.v = x.v.data();
  } else {  // bf16 bit patterns
    t.k = softkern::as_bfloat16(x.k16.data());
    t.v = softkern::as_bfloat16(x.v16.data());
  }
  t.o = o;
  return t;
}

Result run(const Case& c, const Data& x, Executor* executor) {
  Result r;
  r.o.assign(c.L * c.H * c.d, -1.0f);
  if (c.lse) r.lse.assign(c.L * c.H, -1.0f);
  AttentionTensors t = tensors_of(c, x, r.o.data());
  t.lse = c.lse ? r.lse.data() : nullptr;
  if (!c.causal && c.window == 0) t.query_start = 0;
  AttentionOptions o;
  o.score = c.score;
  o.causal = c.causal;
  o.window = c.window;
  o.mask = c.mask ? x.mask.data() : nullptr;
  o.sinks = c.sinks ? x.sinks.data() : nullptr;
  o.executor = executor;
  const softkern::Status s = softkern::attention(t, o);
  EXPECT_TRUE(s.ok()) << s.message();
  return r;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && bitwise_equal(a.data(), b.data(), a.size());
}

// Every executor gives the same bits; with `equal_to_serial`, the same bits
// as no executor; else within `tolerance` of it (NaN where it is NaN).
void check_case(const Case& c, bool equal_to_serial, const std::string& isa) {
  const Data x = make_data(c, c.L * 131 + c.n * 7 + c.d);
  const Result serial = run(c, x, nullptr);
  EXPECT_TRUE(same_bits(run(c, x, &one).o, serial.o)) << isa << " " << describe(c) << ": concurrency 1";
  const Result first = run(c, x, executors().front());
  for (Executor* e : executors()) {
    const Result r = run(c, x, e);
    EXPECT_TRUE(same_bits(r.o, first.o) && same_bits(r.lse, first.lse))
        << isa << " " << describe(c) << ": depends on the executor (concurrency " << e->concurrency() << ")";
  }
  if (equal_to_serial) {
    EXPECT_TRUE(same_bits(first.o, serial.o) && same_bits(first.lse, serial.lse))
        << isa << " " << describe(c) << ": differs from the call without an executor";
    return;
  }
  // The merge rounds the chunks' partial sums once more: a few u of the
  // output scale (|v| <= about 5 here, weights summing to at most 1 + sink).
  const double tolerance = 64 * 0x1p-24 * 5.0 * (c.score == ScoreFunction::kSigmoid ? c.n : 1);
  std::size_t bad = 0;
  for (std::size_t i = 0; i < serial.o.size(); ++i) {
    const float a = first.o[i], b = serial.o[i];
    if (std::isnan(a) != std::isnan(b) || (!std::isnan(a) && !(std::fabs(a - b) <= tolerance))) ++bad;
  }
  for (std::size_t i = 0; i < serial.lse.size(); ++i) {
    const float a = first.lse[i], b = serial.lse[i];
    if (std::isnan(a) != std::isnan(b) || (a != b && !(std::fabs(a - b) <= 1e-5f * (1 + std::fabs(b))))) ++bad;
  }
  EXPECT_EQ(bad, 0u) << isa << " " << describe(c) << ": split-KV differs from the one-pass result";
}

TEST(AttentionThreads, PrefillByQueryBlocksEqualsSerial) {
  for_each_supported_isa([&](Isa isa) {
    const std::string name = softkern::isa_name(isa);
    Case c{130, 137, 4, 2, 8};  // three 64-query blocks, a cached prefix of 7
    check_case(c, true, name);
    c.window = 50;
    c.mask = c.sinks = c.lse = true;
    check_case(c, true, name);
    c.type = ElementType::kBFloat16;
    check_case(c, true, name);
    Case sigmoid{70, 70, 3, 3, 5};
    sigmoid.score = ScoreFunction::kSigmoid;
    check_case(sigmoid, true, name);
    Case softplus{65, 80, 2, 1, 16};
    softplus.score = ScoreFunction::kSoftplus;
    softplus.mask = true;
    check_case(softplus, true, name);
    Case cross{100, 40, 2, 2, 4};  // more queries than keys, no positions
    cross.causal = false;
    check_case(cross, true, name);
  });
}

TEST(AttentionThreads, SplitKvDecodeMatchesOnePass) {
  for_each_supported_isa([&](Isa isa) {
    const std::string name = softkern::isa_name(isa);
    Case c{1, 2 * 4096 + 45, 4, 2, 8};  // three chunks, the last one short
    check_case(c, false, name);
    c.sinks = c.mask = c.lse = true;
    check_case(c, false, name);
    c.type = ElementType::kBFloat16;
    c.window = 5000;  // the first chunk entirely outside the window
    check_case(c, false, name);
    Case sigmoid{1, 3 * 4096, 2, 1, 4};
    sigmoid.score = ScoreFunction::kSigmoid;
    check_case(sigmoid, false, name);
    Case few{16, 2 * 4096 + 3, 2, 1, 4};  // up to 16 queries still split the keys
    few.lse = few.mask = true;
    check_case(few, false, name);
    Case softplus{1, 2 * 4096, 2, 1, 4};  // softplus never splits the keys
    softplus.score = ScoreFunction::kSoftplus;
    check_case(softplus, true, name);
  });
}

TEST(AttentionThreads, SplitKvKeepsSpecialValues) {
  for_each_supported_isa([&](Isa isa) {
    const std::string name = softkern::isa_name(isa);
    Case c{1, 2 * 4096 + 10, 2, 1, 4};
    c.sinks = c.lse = c.mask = true;
    Data x = make_data(c, 9);
    x.v[(5000 * c.Hk) * c.d + 1] = kNaN;  // a visible key of the second chunk
    x.sinks[1] = kNaN;                    // head 1: NaN everywhere
    std::fill(x.mask.begin() + 4096, x.mask.begin() + 8192, -kInf);  // the whole second chunk hidden
    Result r = run(c, x, &two_threads);
    for (std::size_t e = 0; e < c.d; ++e) {
      EXPECT_FALSE(std::isnan(r.o[e])) << name << ": a NaN V behind a -inf mask leaked";
      EXPECT_TRUE(std::isnan(r.o[c.d + e])) << name << ": NaN sink";
    }
    EXPECT_TRUE(std::isnan(r.lse[1])) << name;
    x.mask[4096 + 5000 - 4096] = 0.0f;  // key 5000 visible again: its NaN V reaches o
    r = run(c, x, &two_threads);
    EXPECT_TRUE(std::isnan(r.o[1])) << name << ": a NaN V of a visible key was lost";
    std::fill(x.mask.begin(), x.mask.end(), -kInf);  // nothing visible, sinks -inf
    x.sinks = {-kInf, -kInf};
    r = run(c, x, &two_threads);
    for (float v : r.o) EXPECT_EQ(v, 0.0f) << name << ": fully masked row";
    EXPECT_EQ(r.lse[0], -kInf) << name;
  });
}

TEST(AttentionThreads, LinearByHeadsEqualsSerial) {
  for_each_supported_isa([&](Isa isa) {
    for (softkern::LinearKind kind : {softkern::LinearKind::kEluPlusOne, softkern::LinearKind::kDecay}) {
      for (bool causal : {true, false}) {
        if (!causal && kind == softkern::LinearKind::kDecay) continue;
        Case c{40, 40, 6, 3, 12};
        const Data x = make_data(c, 21);
        const std::vector<float> decay = {0.1f, 0.2f, 0.0f, 1.0f, 0.5f, 0.05f};
        auto run_linear = [&](Executor* executor, std::vector<float>* state, std::vector<float>* norm) {
          std::vector<float> o(c.L * c.H * c.d, -1.0f);
          state->assign(c.H * c.d * c.d, 0.01f);
          norm->assign(c.H * c.d, 0.5f);
          const AttentionTensors t = tensors_of(c, x, o.data());
          LinearAttentionOptions lo;
          lo.kind = kind;
          lo.causal = causal;
          lo.decay = decay.data();
          lo.chunk = 7;
          lo.executor = executor;
          EXPECT_TRUE(softkern::linear_attention(t, state->data(), norm->data(), lo).ok());
          return o;
        };
        std::vector<float> s0, z0;
        const std::vector<float> serial = run_linear(nullptr, &s0, &z0);
        for (Executor* e : executors()) {
          std::vector<float> s, z;
          const std::vector<float> o = run_linear(e, &s, &z);
          EXPECT_TRUE(same_bits(o, serial) && same_bits(s, s0) &&
                      (kind == softkern::LinearKind::kDecay || same_bits(z, z0)))
              << softkern::isa_name(isa) << " linear kind " << static_cast<int>(kind) << " causal " << causal
              << " concurrency " << e->concurrency();
        }
      }
    }
  });
}

}  // namespace
}  // namespace softkern_test
