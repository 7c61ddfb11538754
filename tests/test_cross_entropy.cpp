// cross_entropy (training.hpp): every target against the Wide reference of
// training_reference.hpp with the bounds of docs/training.md, for float32
// and 16-bit logits, both normalisers, label smoothing, class weights,
// z-loss, soft-cap, temperature, every reduction, int32 and int64 targets
// with ignore_index, the gradient in place or apart, strides; the reference's
// gradient against finite differences of its loss; the edge semantics; any
// executor giving the same bits; rejected calls writing nothing.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "support.hpp"
#include "training_reference.hpp"

namespace softkern_test {
namespace {

using softkern::CrossEntropyTensors;

enum class Grad { kNone, kApart, kInPlace };

// One call's inputs.
struct CeCase {
  ElementType type = ElementType::kFloat32;
  std::size_t rows = 3, vocab = 17, pad = 0;
  Distribution distribution = Distribution::kLogits;
  std::uint64_t seed = 1;
  bool int64 = true;
  Grad grad = Grad::kApart;
  float grad_output = 1.0f;  // kNone: row r gets grad_output + r
  CrossEntropyOptions options;
  std::vector<float> weights;         // class weights when non-empty
  std::vector<std::int64_t> targets;  // filled by make_targets unless set
};

std::string describe(const CeCase& c) {
  const CrossEntropyOptions& o = c.options;
  std::string s = std::string(type_name(c.type)) + " N=" + std::to_string(c.rows) + " V=" + std::to_string(c.vocab) +
                  " pad=" + std::to_string(c.pad) + " " + distribution_name(c.distribution) + " " +
                  softkern::normaliser_name(o.normaliser) + " " + softkern::reduction_name(o.reduction) +
                  (c.int64 ? " int64" : " int32") +
                  (c.grad == Grad::kNone    ? " no grad"
                   : c.grad == Grad::kApart ? " grad"
                                            : " grad in place");
  char buf[160];
  std::snprintf(buf, sizeof buf, " eps=%g z=%g cap=%g T=%g%s g=%g", o.label_smoothing, o.z_loss, o.softcap,
                o.temperature, c.weights.empty() ? "" : " weights", c.grad_output);
  return s + buf;
}

void make_targets(CeCase& c) {
  if (!c.targets.empty()) return;
  std::mt19937_64 rng(c.seed * 31 + c.vocab);
  for (std::size_t r = 0; r < c.rows; ++r) {
    // Row 1 of 3 and more is ignored.
    c.targets.push_back(r == 1 && c.rows >= 3 ? c.options.ignore_index : static_cast<std::int64_t>(rng() % c.vocab));
  }
}

// What the call wrote.
struct CeResult {
  Status status;
  std::vector<float> loss, lse;
  TypedMatrix logits, grad;
};

CeResult run(const CeCase& c, const TypedMatrix& logits_in, softkern::Executor* executor = nullptr) {
  CeResult out{Status(), {}, {}, logits_in, TypedMatrix(c.type, c.rows, c.vocab, c.vocab + c.pad)};
  const std::size_t loss_count = c.options.reduction == Reduction::kNone ? c.rows : 1;
  out.loss.assign(loss_count + 2, -5.0f);
  out.lse.assign(c.rows + 2, -5.0f);
  std::vector<std::int32_t> t32(c.targets.begin(), c.targets.end());
  std::vector<float> grad_output;
  for (std::size_t r = 0; r < loss_count; ++r) grad_output.push_back(c.grad_output + (loss_count > 1 ? r : 0));
  CrossEntropyTensors t;
  t.rows = c.rows;
  t.vocab = c.vocab;
  t.logits_stride = t.grad_stride = c.vocab + c.pad;
  if (c.int64) {
    t.targets = c.targets.data();
  } else {
    t.targets = t32.data();
  }
  t.loss = out.loss.data() + 1;
  t.lse = out.lse.data() + 1;
  t.grad_output = grad_output.data();
  TypedMatrix& grad = c.grad == Grad::kInPlace ? out.logits : out.grad;
  auto bind = [&](auto* logits, auto* grad_ptr) {
    t.logits = logits;
    if (c.grad != Grad::kNone) t.grad = grad_ptr;
  };
  switch (c.type) {
    case ElementType::kBFloat16:
      bind(softkern::as_bfloat16(static_cast<std::uint16_t*>(out.logits.data())),
           softkern::as_bfloat16(static_cast<std::uint16_t*>(grad.data())));
      break;
    case ElementType::kFloat16:
      bind(softkern::as_float16(static_cast<std::uint16_t*>(out.logits.data())),
           softkern::as_float16(static_cast<std::uint16_t*>(grad.data())));
      break;
    default:  // float32
      bind(static_cast<float*>(out.logits.data()), static_cast<float*>(grad.data()));
      break;
  }
  CrossEntropyOptions o = c.options;
  o.class_weights = c.weights.empty() ? nullptr : c.weights.data();
  o.executor = executor;
  out.status = softkern::cross_entropy(t, o);
  return out;
}

TypedMatrix make_logits(const CeCase& c) {
  TypedMatrix m(c.type, c.rows, c.vocab, c.vocab + c.pad);
  for (std::size_t r = 0; r < c.rows; ++r) {
    const std::vector<float> row = make_row(c.distribution, c.vocab, c.seed + 7 * r);
    for (std::size_t i = 0; i < c.vocab; ++i) m.set(r, i, row[i]);
  }
  return m;
}

// The whole call's reference: rows, the reduced loss and its bound.
struct CeReference {
  std::vector<CrossEntropyRowReference> rows;
  Wide loss = 0, loss_bound = 0;
};

CeReference reference(const CeCase& c, const TypedMatrix& logits) {
  CrossEntropyOptions o = c.options;
  o.class_weights = c.weights.empty() ? nullptr : c.weights.data();
  Wide weight_sum = 0, count = 0;
  for (std::int64_t t : c.targets) {
    if (t == o.ignore_index) continue;
    weight_sum += o.class_weights != nullptr ? o.class_weights[t] : 1;
    count += 1;
  }
  const bool mean = o.reduction == Reduction::kMean;
  const Wide ce_scale = !mean ? 1 : weight_sum != 0 ? 1 / weight_sum : 0;
  const Wide z_scale = !mean ? 1 : count != 0 ? 1 / count : 0;
  CeReference ref;
  Wide ce = 0, zl = 0, bound = 0;
  for (std::size_t r = 0; r < c.rows; ++r) {
    std::vector<float> x(c.vocab);
    for (std::size_t i = 0; i < c.vocab; ++i) x[i] = logits.get(r, i);
    const Wide g = o.reduction == Reduction::kNone ? c.grad_output + (c.rows > 1 ? r : 0) : c.grad_output;
    ref.rows.push_back(
        reference_cross_entropy_row(x, c.targets[r], o, g * ce_scale, g * z_scale, c.grad != Grad::kNone));
    const CrossEntropyRowReference& row = ref.rows.back();
    if (row.ignored) continue;
    if (row.nan) ce = std::numeric_limits<Wide>::quiet_NaN();
    ce += row.ce;
    zl += row.zl;
    bound += row.loss_bound;
  }
  ref.loss = !mean ? ce + zl : (weight_sum != 0 ? ce / weight_sum : 0) + (count != 0 ? zl / count : 0);
  ref.loss_bound = (mean ? bound * std::max(ce_scale, z_scale) : bound) + kU * std::fabs(ref.loss);
  return ref;
}

// Per element type (f32, bf16, f16).
BoundUse g_loss_use[3], g_lse_use[3], g_grad_use[3];

bool close(Wide got, Wide want, Wide bound) {
  if (std::isnan(want)) return std::isnan(got);
  if (std::isinf(want)) return got == want;
  return std::fabs(got - want) <= bound;
}

// Checks one result against the reference; failures go to `log`.
void check(const CeCase& c, const CeReference& ref, const CeResult& got, FailureLog& log) {
  const std::string where = describe(c);
  if (!got.status.ok()) return log.add(where + ": rejected: " + got.status.message());
  const std::size_t loss_count = c.options.reduction == Reduction::kNone ? c.rows : 1;
  if (got.loss.front() != -5.0f || got.loss[loss_count + 1] != -5.0f || got.lse.front() != -5.0f ||
      got.lse.back() != -5.0f) {
    log.add(where + ": wrote outside loss or lse");
  }
  if (c.options.reduction == Reduction::kNone) {
    for (std::size_t r = 0; r < c.rows; ++r) {
      const CrossEntropyRowReference& row = ref.rows[r];
      const Wide want = row.ignored ? 0 : row.nan ? std::numeric_limits<Wide>::quiet_NaN() : row.ce + row.zl;
      g_loss_use[static_cast<int>(c.type)].add(got.loss[r + 1], want, row.loss_bound);
      if (!close(got.loss[r + 1], want, row.loss_bound)) {
        log.add(where + ": loss of row " + std::to_string(r) + ": got " + hexfloat(got.loss[r + 1]) + ", want " +
                hexfloat(want) + " bound " + hexfloat(row.loss_bound));
      }
    }
  } else if (g_loss_use[static_cast<int>(c.type)].add(got.loss[1], ref.loss, ref.loss_bound),
             !close(got.loss[1], ref.loss, ref.loss_bound)) {
    log.add(where + ": loss: got " + hexfloat(got.loss[1]) + ", want " + hexfloat(ref.loss) + " bound " +
            hexfloat(ref.loss_bound));
  }
  for (std::size_t r = 0; r < c.rows; ++r) {
    const CrossEntropyRowReference& row = ref.rows[r];
    const Wide want = row.ignored || row.nan ? std::numeric_limits<Wide>::quiet_NaN() : row.lse;
    g_lse_use[static_cast<int>(c.type)].add(got.lse[r + 1], want, row.lse_bound);
    if (!close(got.lse[r + 1], want, row.lse_bound)) {
      log.add(where + ": lse of row " + std::to_string(r) + ": got " + hexfloat(got.lse[r + 1]) + ", want " +
              hexfloat(want));
    }
  }
  if (c.grad == Grad::kNone) {
    if (!got.logits.guards_intact() || !got.grad.guards_intact()) log.add(where + ": wrote outside the logits");
    return;
  }
  const TypedMatrix& grad = c.grad == Grad::kInPlace ? got.logits : got.grad;
  if (!grad.guards_intact()) log.add(where + ": wrote outside the gradient's rows");
  const double u16 = unit_roundoff(c.type), step = smallest_step(c.type);
  for (std::size_t r = 0; r < c.rows; ++r) {
    for (std::size_t i = 0; i < c.vocab; ++i) {
      const Wide want = ref.rows[r].grad[i];
      const Wide bound = ref.rows[r].grad_bound[i] + u16 * std::fabs(want) + step;
      const float g = grad.get(r, i);
      const bool exact = ref.rows[r].grad_bound[i] == 0;  // masked classes, ignored rows
      if (!exact) g_grad_use[static_cast<int>(c.type)].add(g, want, bound);
      if (exact ? !(g == want || (std::isnan(g) && std::isnan(want))) : !close(g, want, bound)) {
        log.add(where + ": grad[" + std::to_string(r) + "][" + std::to_string(i) + "]: got " + hexfloat(g) + ", want " +
                hexfloat(want) + " bound " + hexfloat(bound));
        break;
      }
    }
  }
}

// The option sets every accuracy sweep runs, each with both normalisers.
std::vector<CeCase> option_cases() {
  std::vector<CeCase> cases;
  auto add = [&](float eps, bool weights, float z, float cap, float t) {
    for (Normaliser n : {Normaliser::kSoftmax, Normaliser::kStableMax}) {
      CeCase c;
      c.options.label_smoothing = eps;
      c.options.z_loss = z;
      c.options.softcap = n == Normaliser::kSoftmax ? cap : 0.0f;  // StableMax takes no soft-cap
      c.options.temperature = t;
      c.options.normaliser = n;
      if (weights) c.weights = {1.0f};  // filled per vocabulary
      cases.push_back(c);
    }
  };
  add(0, false, 0, 0, 1);
  add(0.1f, false, 0, 0, 1);
  add(0.1f, true, 0, 0, 1);
  add(0, true, 0, 0, 1);
  add(0, false, 0.01f, 0, 1);
  add(0, false, 0, 5.0f, 1);
  add(0, false, 0, 0, 0.7f);
  add(0.2f, true, 0.01f, 8.0f, 1.5f);
  return cases;
}

std::vector<float> class_weights(std::size_t vocab) {
  std::vector<float> w(vocab);
  for (std::size_t c = 0; c < vocab; ++c) w[c] = 0.25f + static_cast<float>((c * 7) % 11) * 0.125f;
  return w;
}

TEST(CrossEntropy, MatchesReferenceOnEveryTarget) {
  FailureLog log;
  for (int k = 0; k < 3; ++k) g_loss_use[k] = g_lse_use[k] = g_grad_use[k] = BoundUse();
  const std::vector<std::size_t> vocabs = full_sweep()
                                              ? std::vector<std::size_t>{1, 2, 7, 16, 17, 31, 63, 100, 257, 1000, 4099}
                                              : std::vector<std::size_t>{1, 7, 17, 63, 257, 4099};
  const Reduction reductions[] = {Reduction::kMean, Reduction::kNone, Reduction::kSum};
  std::size_t k = 0;
  for (ElementType type : kTypes) {
    for (CeCase c : option_cases()) {
      for (std::size_t vocab : vocabs) {
        ++k;
        c.type = type;
        c.vocab = vocab;
        c.pad = k % 3;
        c.seed = k;
        c.targets.clear();
        c.options.reduction = reductions[k % 3];
        c.int64 = k % 2 == 0;
        c.grad = static_cast<Grad>(k % 3);
        c.grad_output = k % 4 == 0 ? 2.5f : 1.0f;
        c.distribution = k % 5 == 0   ? Distribution::kMaskedNegInf
                         : k % 7 == 0 ? Distribution::kWide
                                      : Distribution::kLogits;
        if (!c.weights.empty()) c.weights = class_weights(vocab);
        make_targets(c);
        const TypedMatrix logits = make_logits(c);
        const CeReference ref = reference(c, logits);
        for_each_supported_isa([&](Isa) { check(c, ref, run(c, logits), log); });
      }
    }
  }
  for (ElementType type : kTypes) {
    const std::string name = type_name(type);
    g_loss_use[static_cast<int>(type)].report("cross_entropy loss " + name);
    g_lse_use[static_cast<int>(type)].report("cross_entropy lse " + name);
    g_grad_use[static_cast<int>(type)].report("cross_entropy gradient " + name);
  }
}

// Rows over several chunks, against the reference, and the same bits with
// any executor (few rows: chunks across the threads; more: row blocks).
TEST(CrossEntropy, LongRowsAndAnyExecutor) {
  FailureLog log;
  auto three = softkern::make_executor(3, [](std::size_t count, auto&& task) {
    for (std::size_t i = count; i-- > 0;) task(i);
  });
  softkern::Executor* executors[] = {&softkern::default_executor(), &three};
  const std::vector<CeCase> cases = option_cases();
  for (std::size_t rows : {std::size_t{1}, std::size_t{2}, std::size_t{5}}) {
    for (std::size_t k : {std::size_t{0}, cases.size() - 1, cases.size() - 2}) {
      CeCase c = cases[k];
      c.rows = rows;
      // 16-bit logits through the float blocks (training-inl.hpp) too.
      if (rows == 1 && k != 0) c.type = ElementType::kBFloat16;
      c.vocab = full_sweep() ? 2 * 65536 + 1234 : rows == 1 ? 65536 + 1234 : 4000;
      c.grad = rows == 2 ? Grad::kApart : Grad::kInPlace;
      c.options.reduction = rows == 5 ? Reduction::kNone : Reduction::kMean;
      if (!c.weights.empty()) c.weights = class_weights(c.vocab);
      make_targets(c);
      const TypedMatrix logits = make_logits(c);
      const bool check_reference = rows == 1;
      const CeReference ref = check_reference ? reference(c, logits) : CeReference();
      for_each_supported_isa([&](Isa) {
        const CeResult alone = run(c, logits);
        if (check_reference) check(c, ref, alone, log);
        for (softkern::Executor* e : executors) {
          const CeResult threaded = run(c, logits, e);
          const bool same = threaded.status.ok() &&
                            bitwise_equal(threaded.loss.data(), alone.loss.data(), alone.loss.size()) &&
                            bitwise_equal(threaded.lse.data(), alone.lse.data(), alone.lse.size()) &&
                            threaded.grad.same_bits(alone.grad) && threaded.logits.same_bits(alone.logits);
          if (!same) log.add(describe(c) + ": an executor changed the bits");
        }
      });
    }
  }
}

// The reference's gradient against central differences of its own loss, so
// that the formula the kernels are held to is the loss's derivative.
TEST(CrossEntropy, ReferenceGradientIsTheLossDerivative) {
  for (const CeCase& base : option_cases()) {
    for (Reduction reduction : {Reduction::kNone, Reduction::kMean}) {
      CeCase c = base;
      c.rows = 3;
      c.vocab = 7;
      c.options.reduction = reduction;
      c.grad_output = 1.5f;
      if (!c.weights.empty()) c.weights = class_weights(c.vocab);
      make_targets(c);
      TypedMatrix logits = make_logits(c);
      logits.set(2, static_cast<std::size_t>(c.targets[2] + 1) % c.vocab, -INFINITY);  // a masked class
      const CeReference ref = reference(c, logits);
      // d(sum_r g_r loss_r)/dx (kNone) or d(g loss)/dx (kMean), in Wide.
      const auto total = [&](const TypedMatrix& m) {
        const CeReference rr = reference(c, m);
        if (reduction == Reduction::kMean) return rr.loss * c.grad_output;
        Wide s = 0;
        for (std::size_t r = 0; r < c.rows; ++r) s += (rr.rows[r].ce + rr.rows[r].zl) * (c.grad_output + r);
        return s;
      };
      for (std::size_t r = 0; r < c.rows; ++r) {
        for (std::size_t i = 0; i < c.vocab; ++i) {
          if (ref.rows[r].ignored || logits.get(r, i) == -HUGE_VALF) continue;
          // The steps as stored (x +- h rounded to float), exactly.
          TypedMatrix plus = logits, minus = logits;
          const float x = logits.get(r, i), h = 1.0f / 4096;
          plus.set(r, i, x + h);
          minus.set(r, i, x - h);
          const Wide step = static_cast<Wide>(plus.get(r, i)) - static_cast<Wide>(minus.get(r, i));
          const Wide fd = (total(plus) - total(minus)) / step;
          EXPECT_NEAR(static_cast<double>(ref.rows[r].grad[i]), static_cast<double>(fd), 1e-5)
              << describe(c) << " row " << r << " class " << i;
        }
      }
    }
  }
}

// The edges, on every target (docs/training.md, "Semantics").
TEST(CrossEntropy, EdgeSemantics) {
  FailureLog log;
  for (Normaliser n : {Normaliser::kSoftmax, Normaliser::kStableMax}) {
    for (float eps : {0.0f, 0.1f}) {
      CeCase c;
      c.rows = 5;
      c.vocab = 40;
      c.options.normaliser = n;
      c.options.label_smoothing = eps;
      c.options.reduction = Reduction::kNone;
      c.targets = {3, 4, 5, 6, 7};
      TypedMatrix logits = make_logits(c);
      logits.set(0, 11, NAN);       // row 0: NaN
      logits.set(1, 4, -INFINITY);  // row 1: the target is masked: +inf
      logits.set(1, 20, -INFINITY);
      for (std::size_t i = 0; i < c.vocab; ++i) logits.set(2, i, -INFINITY);  // row 2: all masked
      logits.set(3, 30, INFINITY);                                            // row 3: +inf: NaN
      logits.set(4, 9, -INFINITY);  // row 4: a masked class: gradient exactly 0
      const CeReference ref = reference(c, logits);
      for_each_supported_isa([&](Isa) {
        const CeResult got = run(c, logits);
        check(c, ref, got, log);
        EXPECT_TRUE(std::isnan(got.loss[1]) && std::isinf(got.loss[2]) && got.loss[3] == HUGE_VALF &&
                    std::isnan(got.loss[4]) && std::isfinite(got.loss[5]));
        EXPECT_EQ(got.grad.get(4, 9), 0.0f);
        EXPECT_EQ(got.grad.get(1, 20), 0.0f);
        EXPECT_EQ(got.lse[3], -HUGE_VALF);
      });
      // With a soft-cap, +inf is the cap: finite.
      if (n == Normaliser::kStableMax) continue;
      c.options.softcap = 4.0f;
      const CeReference capped = reference(c, logits);
      for_each_supported_isa([&](Isa) {
        const CeResult got = run(c, logits);
        check(c, capped, got, log);
        EXPECT_TRUE(std::isfinite(got.loss[4]));
      });
    }
  }
  // Every row ignored: the mean is 0 and so is the gradient (PyTorch: NaN).
  for (Reduction reduction : {Reduction::kMean, Reduction::kSum}) {
    CeCase c;
    c.options.reduction = reduction;
    c.targets = {-100, -100, -100};
    const TypedMatrix logits = make_logits(c);
    for_each_supported_isa([&](Isa) {
      const CeResult got = run(c, logits);
      ASSERT_TRUE(got.status.ok());
      EXPECT_EQ(got.loss[1], 0.0f);
      for (std::size_t r = 0; r < c.rows; ++r) {
        EXPECT_TRUE(std::isnan(got.lse[r + 1]));
        for (std::size_t i = 0; i < c.vocab; ++i) EXPECT_EQ(float_bits(got.grad.get(r, i)), 0u);
      }
    });
  }
  // No rows; no classes with every row ignored.
  for (std::size_t vocab : {std::size_t{0}, std::size_t{9}}) {
    CeCase c;
    c.rows = vocab == 0 ? 2 : 0;
    c.vocab = vocab;
    c.targets = vocab == 0 ? std::vector<std::int64_t>{-100, -100} : std::vector<std::int64_t>{};
    const CeResult got = run(c, make_logits(c));
    EXPECT_TRUE(got.status.ok()) << got.status.message();
    EXPECT_EQ(got.loss[1], 0.0f);
  }
}

TEST(CrossEntropy, RejectedCallsWriteNothing) {
  CeCase base;
  base.rows = 4;
  base.vocab = 50;
  base.pad = 2;
  base.options.reduction = Reduction::kNone;
  make_targets(base);
  const TypedMatrix logits = make_logits(base);
  const auto reject = [&](const char* what, const CeCase& c) {
    const CeResult got = run(c, logits);
    EXPECT_FALSE(got.status.ok()) << what;
    for (float v : got.loss) EXPECT_EQ(v, -5.0f) << what;
    for (float v : got.lse) EXPECT_EQ(v, -5.0f) << what;
    EXPECT_TRUE(got.logits.same_bits(logits)) << what;
    for (std::size_t r = 0; r < c.rows; ++r) {
      for (std::size_t i = 0; i < c.vocab; ++i) EXPECT_TRUE(std::isnan(got.grad.get(r, i))) << what;
    }
  };
  CeCase c = base;
  c.targets[2] = 50;
  reject("target == vocab", c);
  c.targets[2] = -1;
  reject("negative target", c);
  c = base;
  for (float eps : {-0.1f, 1.5f, NAN}) {
    c.options.label_smoothing = eps;
    reject("label_smoothing", c);
  }
  c = base;
  for (float z : {-1.0f, NAN, INFINITY}) {
    c.options.z_loss = z;
    reject("z_loss", c);
  }
  c = base;
  for (float cap : {-1.0f, NAN, INFINITY}) {
    c.options.softcap = cap;
    reject("softcap", c);
  }
  c = base;
  for (float t : {0.0f, 1000.0f, 0x1p-9f, NAN}) {
    c.options.temperature = t;
    reject("temperature", c);
  }
  c = base;
  c.weights = class_weights(c.vocab);
  c.weights[7] = NAN;
  reject("NaN class weight", c);
  c = base;
  c.options.softcap = 5.0f;
  c.options.normaliser = Normaliser::kStableMax;
  reject("softcap with StableMax", c);
  c = base;
  c.options.reduction = static_cast<Reduction>(3);
  reject("reduction", c);
  c = base;
  c.options.normaliser = static_cast<Normaliser>(5);
  reject("normaliser", c);
}

TEST(CrossEntropy, RejectedTensorsWriteNothing) {
  std::vector<float> logits(4 * 10, 0.5f), grad(4 * 10), loss(6), lse(6);
  std::vector<std::int64_t> targets = {1, 2, 3, 4};
  std::vector<softkern::bfloat16> grad16(40);
  const auto reject = [&](const char* what, CrossEntropyTensors t) {
    fill_sentinel(grad.data(), grad.size());
    fill_sentinel(loss.data(), loss.size());
    fill_sentinel(lse.data(), lse.size());
    EXPECT_FALSE(softkern::cross_entropy(t).ok()) << what;
    EXPECT_TRUE(is_sentinel(grad.data(), grad.size()) && is_sentinel(loss.data(), loss.size()) &&
                is_sentinel(lse.data(), lse.size()))
        << what;
  };
  CrossEntropyTensors t;
  t.rows = 4;
  t.vocab = 10;
  t.logits = logits.data();
  t.targets = targets.data();
  t.loss = loss.data();
  t.lse = lse.data();
  t.grad = grad.data();
  CrossEntropyTensors bad = t;
  bad.logits = static_cast<const float*>(nullptr);
  reject("null logits", bad);
  bad = t;
  bad.targets = static_cast<const std::int64_t*>(nullptr);
  reject("null targets", bad);
  bad = t;
  bad.logits_stride = 9;
  reject("stride < vocab", bad);
  bad = t;
  bad.grad = grad16.data();
  reject("grad type", bad);
  bad = t;
  bad.grad = logits.data();
  bad.grad_stride = 11;
  reject("in place with another stride", bad);
  bad = t;
  bad.lse = grad.data() + 3;
  reject("lse overlaps grad", bad);
  bad = t;
  bad.loss = lse.data() + 1;
  reject("loss overlaps lse", bad);
  bad = t;
  bad.grad = grad.data();
  bad.lse = reinterpret_cast<float*>(targets.data());
  reject("lse overlaps targets", bad);
}

}  // namespace
}  // namespace softkern_test
