// Softmax and log-softmax backward (training.hpp), and softmax rows with the
// StableMax normaliser (softmax.hpp): every target against the Wide
// reference of training_reference.hpp with the bounds of docs/training.md,
// float32 and 16-bit rows, strides, in place, alignment, temperature, the
// sink's gradient (also against a finite difference), any executor giving
// the same bits, rejected calls writing nothing.
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

using softkern::SoftmaxBackwardOptions;


// Calls the backward function of `type` on TypedMatrix buffers.
Status call_backward(bool log, ElementType type, TypedMatrix& y, TypedMatrix& dy, TypedMatrix& dx,
                     const SoftmaxBackwardOptions& o) {
  const std::size_t rows = y.rows, cols = y.cols;
  switch (type) {
    case ElementType::kBFloat16: {
      auto p = [](TypedMatrix& m) { return softkern::as_bfloat16(static_cast<std::uint16_t*>(m.data())); };
      return log ? softkern::log_softmax_backward_rows(p(y), y.stride, p(dy), dy.stride, p(dx), dx.stride, rows, cols,
                                                       o)
                 : softkern::softmax_backward_rows(p(y), y.stride, p(dy), dy.stride, p(dx), dx.stride, rows, cols, o);
    }
    case ElementType::kFloat16: {
      auto p = [](TypedMatrix& m) { return softkern::as_float16(static_cast<std::uint16_t*>(m.data())); };
      return log ? softkern::log_softmax_backward_rows(p(y), y.stride, p(dy), dy.stride, p(dx), dx.stride, rows, cols,
                                                       o)
                 : softkern::softmax_backward_rows(p(y), y.stride, p(dy), dy.stride, p(dx), dx.stride, rows, cols, o);
    }
    default:  // float32
      break;
  }
  auto p = [](TypedMatrix& m) { return static_cast<float*>(m.data()); };
  return log ? softkern::log_softmax_backward_rows(p(y), y.stride, p(dy), dy.stride, p(dx), dx.stride, rows, cols, o)
             : softkern::softmax_backward_rows(p(y), y.stride, p(dy), dy.stride, p(dx), dx.stride, rows, cols, o);
}

// A forward output row: softmax (or log-softmax) of logits at temperature T
// with an optional sink, in Wide, rounded to `type`.
std::vector<float> forward_row(const std::vector<float>& x, bool log, float t, bool has_sink, float sink,
                               ElementType type) {
  const Reference ref = reference_softmax(x.data(), x.size(), make_options(t, log, has_sink, sink));
  std::vector<float> y(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) y[i] = round_to(type, static_cast<float>(ref.r[i]));
  return y;
}

std::vector<float> upstream_row(std::size_t n, std::uint64_t seed, ElementType type) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<float> dy(n);
  for (auto& v : dy) v = round_to(type, static_cast<float>(normal(rng)));
  return dy;
}

enum class InPlace { kNone, kDy, kY };

// Per element type (f32, bf16, f16).
BoundUse g_backward_use[3], g_log_backward_use[3], g_stablemax_use[3];

// One backward call on `rows` copies of (y, dy) (row r shifted by r), at a
// stride of cols + pad; checks every element against the reference and the
// guards around dx.
void check_backward_case(bool log, ElementType type, std::size_t cols, std::size_t rows, float t, InPlace in_place,
                         std::size_t pad, bool sink, FailureLog& failures) {
  const std::size_t stride = cols + pad;
  TypedMatrix y(type, rows, cols, stride), dy(type, rows, cols, stride), dx(type, rows, cols, stride);
  std::vector<BackwardReference> refs;
  std::vector<float> sink_grad(rows + 2, -7.0f);
  for (std::size_t r = 0; r < rows; ++r) {
    const std::vector<float> x = make_row(Distribution::kLogits, cols, 11 + r);
    const std::vector<float> yr = forward_row(x, log, t, sink, 0.5f, type);
    const std::vector<float> dyr = upstream_row(cols, 23 + r + cols, type);
    for (std::size_t i = 0; i < cols; ++i) y.set(r, i, yr[i]), dy.set(r, i, dyr[i]);
    refs.push_back(reference_backward(yr, dyr, log, t, type));
  }
  TypedMatrix* out = in_place == InPlace::kDy ? &dy : in_place == InPlace::kY ? &y : &dx;
  SoftmaxBackwardOptions o;
  o.temperature = t;
  o.sink_grad = sink ? sink_grad.data() + 1 : nullptr;
  const Status s = call_backward(log, type, y, dy, *out, o);
  const std::string where = std::string(log ? "log_softmax_backward " : "softmax_backward ") + type_name(type) +
                            " cols=" + std::to_string(cols) + " rows=" + std::to_string(rows) +
                            " T=" + std::to_string(t) + " in_place=" + std::to_string(static_cast<int>(in_place)) +
                            " pad=" + std::to_string(pad) + (sink ? " sink" : "");
  if (!s.ok()) return failures.add(where + ": rejected: " + s.message());
  if (!out->guards_intact()) failures.add(where + ": wrote outside the rows");
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t i = 0; i < cols; ++i) {
      const Wide got = out->get(r, i), want = refs[r].dx[i];
      (log ? g_log_backward_use : g_backward_use)[static_cast<int>(type)].add(got, want, refs[r].bound[i]);
      if (!(std::fabs(got - want) <= refs[r].bound[i])) {
        failures.add(where + ": row " + std::to_string(r) + " element " + std::to_string(i) + ": got " +
                     hexfloat(static_cast<float>(got)) + ", want " + hexfloat(want) + ", bound " +
                     hexfloat(refs[r].bound[i]));
        break;
      }
    }
    if (sink && !(std::fabs(sink_grad[r + 1] - refs[r].sink_grad) <= refs[r].sink_bound)) {
      failures.add(where + ": sink_grad of row " + std::to_string(r) + ": got " + hexfloat(sink_grad[r + 1]) +
                   ", want " + hexfloat(refs[r].sink_grad));
    }
  }
  if (sink && (sink_grad[0] != -7.0f || sink_grad[rows + 1] != -7.0f))
    failures.add(where + ": wrote outside sink_grad");
}

TEST(SoftmaxBackward, MatchesReferenceOnEveryTarget) {
  for (int k = 0; k < 3; ++k) g_backward_use[k] = g_log_backward_use[k] = BoundUse();
  for_each_supported_isa([](Isa) {
    FailureLog failures;
    for (ElementType type : kTypes) {
      for (bool log : {false, true}) {
        for (std::size_t cols : sweep_lengths(0, 300)) {
          check_backward_case(log, type, cols, 1, 1.0f, InPlace::kNone, 0, false, failures);
        }
        // Longer rows with every layout; the boundary sweep takes one
        // temperature per layout (the constants of the same loops).
        for (std::size_t cols : {std::size_t{1000}, std::size_t{4099}}) {
          for (InPlace in_place : {InPlace::kNone, InPlace::kDy, InPlace::kY}) {
            for (float t : {1.0f, 0.6f}) {
              if (!full_sweep() && (t == 1.0f) != (in_place == InPlace::kDy)) continue;
              check_backward_case(log, type, cols, 3, t, in_place, cols % 3, true, failures);
            }
          }
        }
      }
    }
  });
  for (ElementType type : kTypes) {
    g_backward_use[static_cast<int>(type)].report(std::string("softmax_backward ") + type_name(type));
    g_log_backward_use[static_cast<int>(type)].report(std::string("log_softmax_backward ") + type_name(type));
  }
}

// Rows over several chunks (chunked_rows.hpp cuts rows into 65536 elements).
TEST(SoftmaxBackward, LongRowsMatchReference) {
  for_each_supported_isa([](Isa) {
    FailureLog failures;
    const std::size_t cols = full_sweep() ? 2 * 65536 + 999 : 65536 + 17;
    for (bool log : {false, true})
      check_backward_case(log, ElementType::kFloat32, cols, 1, 1.0f, InPlace::kDy, 0, true, failures);
    check_backward_case(false, ElementType::kBFloat16, cols, 1, 2.0f, InPlace::kNone, 0, false, failures);
  });
}

// The sink's gradient against a finite difference of L(s) = sum_i dy_i y_i(s)
// in Wide (softmax; log-softmax: y_i = log of it), and dx against the finite
// differences of L in each logit, on a small row.
TEST(SoftmaxBackward, SinkGradientMatchesFiniteDifference) {
  const std::size_t n = 9;
  const std::vector<float> x = make_row(Distribution::kLogits, n, 5);
  const std::vector<float> dy = upstream_row(n, 77, ElementType::kFloat32);
  for (bool log : {false, true}) {
    for (float t : {1.0f, 0.7f}) {
      const float sink = 0.8f;
      const auto loss = [&](const std::vector<Wide>& logits, Wide s) {
        Wide z = std::exp(s / t);
        for (Wide v : logits) z += std::exp(v / t);
        Wide l = 0;
        for (std::size_t i = 0; i < n; ++i) {
          const Wide p = std::exp(logits[i] / t) / z;
          l += dy[i] * (log ? std::log(p) : p);
        }
        return l;
      };
      std::vector<Wide> xw(x.begin(), x.end());
      const Wide h = 1e-6L;
      const Wide fd_sink = (loss(xw, sink + h) - loss(xw, sink - h)) / (2 * h);
      const std::vector<float> y = forward_row(x, log, t, true, sink, ElementType::kFloat32);
      std::vector<float> dx(n);
      float sink_grad = 0;
      SoftmaxBackwardOptions o;
      o.temperature = t;
      o.sink_grad = &sink_grad;
      for_each_supported_isa([&](Isa) {
        const Status s = log ? softkern::log_softmax_backward(y.data(), dy.data(), dx.data(), n, o)
                             : softkern::softmax_backward(y.data(), dy.data(), dx.data(), n, o);
        ASSERT_TRUE(s.ok()) << s.message();
        EXPECT_NEAR(sink_grad, static_cast<double>(fd_sink), 1e-5 * (1 + std::fabs(static_cast<double>(fd_sink))))
            << (log ? "log " : "") << "T=" << t;
        for (std::size_t i = 0; i < n; ++i) {
          std::vector<Wide> plus = xw, minus = xw;
          plus[i] += h;
          minus[i] -= h;
          const Wide fd = (loss(plus, sink) - loss(minus, sink)) / (2 * h);
          EXPECT_NEAR(dx[i], static_cast<double>(fd), 1e-5 * (1 + std::fabs(static_cast<double>(fd))))
              << (log ? "log " : "") << "T=" << t << " element " << i;
        }
      });
    }
  }
}

// Any executor, any thread count: the same bits (rows over chunk
// boundaries, few rows and many).
TEST(SoftmaxBackward, SameBitsWithAnyExecutor) {
  auto three = softkern::make_executor(3, [](std::size_t count, auto&& task) {
    for (std::size_t i = count; i-- > 0;) task(i);  // backwards: order must not matter
  });
  softkern::Executor* executors[] = {&softkern::default_executor(), &three};
  for_each_supported_isa([&](Isa) {
    for (std::size_t rows : {std::size_t{1}, std::size_t{3}, std::size_t{9}}) {
      const std::size_t cols = rows == 9 ? 777 : full_sweep() ? 2 * 65536 + 5 : 65536 + 5;  // 3 or 2 chunks
      for (bool log : {false, true}) {
        TypedMatrix y(ElementType::kFloat32, rows, cols, cols), dy = y, dx = y;
        for (std::size_t r = 0; r < rows; ++r) {
          const std::vector<float> yr =
              forward_row(make_row(Distribution::kLogits, cols, r), log, 1.0f, false, 0, ElementType::kFloat32);
          const std::vector<float> dyr = upstream_row(cols, r, ElementType::kFloat32);
          for (std::size_t i = 0; i < cols; ++i) y.set(r, i, yr[i]), dy.set(r, i, dyr[i]);
        }
        std::vector<float> sink(rows);
        SoftmaxBackwardOptions o;
        o.sink_grad = sink.data();
        ASSERT_TRUE(call_backward(log, ElementType::kFloat32, y, dy, dx, o).ok());
        const std::vector<float> sink_alone = sink;
        for (softkern::Executor* e : executors) {
          TypedMatrix dx2 = dx;
          o.executor = e;
          ASSERT_TRUE(call_backward(log, ElementType::kFloat32, y, dy, dx2, o).ok());
          EXPECT_TRUE(dx2.same_bits(dx)) << "rows=" << rows << " log=" << log;
          EXPECT_TRUE(bitwise_equal(sink.data(), sink_alone.data(), rows));
        }
      }
    }
  });
}

TEST(SoftmaxBackward, NonFiniteInputsPropagate) {
  const std::size_t n = 37;
  std::vector<float> y(n, 1.0f / n), dy(n, 1.0f), dx(n);
  dy[5] = NAN;
  ASSERT_TRUE(softkern::softmax_backward(y.data(), dy.data(), dx.data(), n).ok());
  for (float v : dx) EXPECT_TRUE(std::isnan(v));
  // A masked entry of a log-softmax (-inf) passes dy through: e^-inf = 0.
  std::vector<float> logp(n, -std::log(static_cast<float>(n - 1)));
  logp[3] = -INFINITY;
  dy.assign(n, 0.5f);
  ASSERT_TRUE(softkern::log_softmax_backward(logp.data(), dy.data(), dx.data(), n).ok());
  EXPECT_EQ(dx[3], 0.5f);
  ASSERT_TRUE(softkern::softmax_backward(y.data(), dy.data(), dx.data(), 0).ok());  // n = 0: a no-op
}

TEST(SoftmaxBackward, RejectedCallsWriteNothing) {
  const std::size_t n = 64;
  std::vector<float> y(3 * n, 0.01f), dy(3 * n, 1.0f), dx(3 * n);
  float sink = 0;
  const auto reject = [&](const char* what, auto call) {
    fill_sentinel(dx.data(), dx.size());
    float sink_before;
    std::memcpy(&sink_before, &kSentinelBits, sizeof sink_before);
    sink = sink_before;
    const Status s = call();
    EXPECT_FALSE(s.ok()) << what;
    EXPECT_TRUE(is_sentinel(dx.data(), dx.size())) << what;
    EXPECT_TRUE(is_sentinel(&sink, 1)) << what;
  };
  SoftmaxBackwardOptions o;
  o.sink_grad = &sink;
  reject("null y", [&] { return softkern::softmax_backward(nullptr, dy.data(), dx.data(), n, o); });
  reject("null dx",
         [&] { return softkern::softmax_backward(y.data(), dy.data(), static_cast<float*>(nullptr), n, o); });
  SoftmaxBackwardOptions bad = o;
  for (float t : {0.0f, -1.0f, NAN, INFINITY, 0x1p-120f}) {
    bad.temperature = t;
    reject("temperature", [&] { return softkern::log_softmax_backward(y.data(), dy.data(), dx.data(), n, bad); });
  }
  reject("stride",
         [&] { return softkern::softmax_backward_rows(y.data(), n - 1, dy.data(), n, dx.data(), n, 2, n, o); });
  reject("dx overlaps dy", [&] { return softkern::softmax_backward(y.data(), dx.data(), dx.data() + 1, n, o); });
  reject("in place, other stride",
         [&] { return softkern::softmax_backward_rows(y.data(), n, dx.data(), n, dx.data(), n + 1, 2, n, o); });
  SoftmaxBackwardOptions overlap = o;
  overlap.sink_grad = dx.data() + 2;
  reject("sink_grad overlaps dx",
         [&] { return softkern::softmax_backward(y.data(), dy.data(), dx.data(), n, overlap); });
}

// ------------------------------------------------------------------ StableMax

Status call_stablemax(ElementType type, TypedMatrix& x, TypedMatrix& y, const SoftmaxOptions& o) {
  switch (type) {
    case ElementType::kBFloat16: {
      auto p = [](TypedMatrix& m) { return softkern::as_bfloat16(static_cast<std::uint16_t*>(m.data())); };
      return softkern::softmax_rows(p(x), x.stride, p(y), y.stride, x.rows, x.cols, o);
    }
    case ElementType::kFloat16: {
      auto p = [](TypedMatrix& m) { return softkern::as_float16(static_cast<std::uint16_t*>(m.data())); };
      return softkern::softmax_rows(p(x), x.stride, p(y), y.stride, x.rows, x.cols, o);
    }
    default:  // float32
      break;
  }
  return softkern::softmax_rows(static_cast<float*>(x.data()), x.stride, static_cast<float*>(y.data()), y.stride,
                                x.rows, x.cols, o);
}

void check_stablemax_row(ElementType type, const std::vector<float>& x_in, SoftmaxOptions o, bool in_place,
                         FailureLog& failures, const std::string& label) {
  o.normaliser = Normaliser::kStableMax;
  const std::size_t n = x_in.size();
  TypedMatrix x(type, 1, n, n), y(type, 1, n, n);
  std::vector<float> xr(n);
  for (std::size_t i = 0; i < n; ++i) x.set(0, i, x_in[i]), xr[i] = x.get(0, i);
  const StableMaxReference ref = reference_stablemax(xr, o, type);
  TypedMatrix& out = in_place ? x : y;
  const Status s = call_stablemax(type, x, out, o);
  const std::string where =
      label + " " + type_name(type) + " n=" + std::to_string(n) + " " + describe(o) + (in_place ? " in place" : "");
  if (!s.ok()) return failures.add(where + ": rejected: " + s.message());
  if (!out.guards_intact()) failures.add(where + ": wrote outside the row");
  for (std::size_t i = 0; i < n; ++i) {
    const float got = out.get(0, i);
    const Wide want = ref.r[i];
    if (!ref.exact[i]) g_stablemax_use[static_cast<int>(type)].add(got, want, ref.bound[i]);
    const bool ok = std::isnan(want) ? std::isnan(got)
                    : ref.exact[i]   ? got == round_to(type, static_cast<float>(want))
                                     : std::fabs(got - want) <= ref.bound[i];
    if (!ok) {
      failures.add(where + ": element " + std::to_string(i) + " (x = " + hexfloat(xr[i]) + "): got " + hexfloat(got) +
                   ", want " + hexfloat(want));
      return;
    }
  }
}

TEST(StableMax, MatchesReferenceOnEveryTarget) {
  for_each_supported_isa([](Isa) {
    FailureLog failures;
    for (ElementType type : kTypes) {
      for (const NamedOptions& v : option_variants()) {
        // The boundary sweep: every length with the plain options and all
        // of them at once, the others on the long rows only.
        const bool lengths = full_sweep() || std::string(v.name) == "plain" ||
                             std::string(v.name) == "temperature_3_log_sink_2.5";
        for (std::size_t n : lengths ? sweep_lengths(0, 140) : std::vector<std::size_t>{}) {
          check_stablemax_row(type, make_row(Distribution::kLogits, n, n), v.options, n % 2 == 1, failures, v.name);
        }
        for (Distribution d : kAllDistributions) {
          check_stablemax_row(type, make_row(d, 3000, 1), v.options, false, failures,
                              std::string(v.name) + " " + distribution_name(d));
        }
      }
    }
  });
  for (ElementType type : kTypes) {
    g_stablemax_use[static_cast<int>(type)].report(std::string("StableMax rows ") + type_name(type));
  }
}

TEST(StableMax, SpecialRows) {
  for_each_supported_isa([](Isa) {
    FailureLog failures;
    for (bool log : {false, true}) {
      SoftmaxOptions o = make_options(1.0f, log, false, 0.0f);
      std::vector<float> x = make_row(Distribution::kLogits, 50, 3);
      x[7] = NAN;
      check_stablemax_row(ElementType::kFloat32, x, o, false, failures, "nan");
      x[7] = INFINITY;
      x[9] = INFINITY;
      check_stablemax_row(ElementType::kFloat32, x, o, false, failures, "two +inf");
      check_stablemax_row(ElementType::kFloat32, std::vector<float>(40, -INFINITY), o, true, failures, "all -inf");
      // z = x / T overflows float, and a row of tiny s(z): the double path.
      SoftmaxOptions hot = make_options(0.25f, log, false, 0.0f);
      std::vector<float> huge(33, 3e38f);
      huge[4] = 1e38f;
      huge[5] = -3e38f;
      check_stablemax_row(ElementType::kFloat32, huge, hot, false, failures, "z overflows");
      check_stablemax_row(ElementType::kFloat32, std::vector<float>(20, -3e38f), hot, true, failures, "tiny sum");
    }
  });
}

// 16-bit rows longer than a float block (16384 elements).
TEST(StableMax, LongSixteenBitRows) {
  for_each_supported_isa([](Isa) {
    FailureLog failures;
    for (ElementType type : {ElementType::kBFloat16, ElementType::kFloat16}) {
      check_stablemax_row(type, make_row(Distribution::kLogits, 40000, 9), make_options(1.0f, true, true, 1.0f), true,
                          failures, "long");
      check_stablemax_row(type, make_row(Distribution::kWide, 33000, 9), make_options(0.5f, false, false, 0.0f), false,
                          failures, "long");
    }
  });
}

TEST(StableMax, SameBitsWithAnyExecutor) {
  for_each_supported_isa([](Isa) {
    for (std::size_t rows : {std::size_t{1}, std::size_t{5}}) {
      const std::size_t cols = rows == 1 ? (full_sweep() ? 3 * 65536 + 1 : 65536 + 1) : 70000;
      TypedMatrix x(ElementType::kFloat32, rows, cols, cols), y = x;
      for (std::size_t r = 0; r < rows; ++r) {
        const std::vector<float> row = make_row(Distribution::kWide, cols, r);
        for (std::size_t i = 0; i < cols; ++i) x.set(r, i, row[i]);
      }
      SoftmaxOptions o;
      o.normaliser = Normaliser::kStableMax;
      ASSERT_TRUE(call_stablemax(ElementType::kFloat32, x, y, o).ok());
      TypedMatrix y2 = x;
      o.executor = &softkern::default_executor();
      ASSERT_TRUE(call_stablemax(ElementType::kFloat32, x, y2, o).ok());
      EXPECT_TRUE(y2.same_bits(y)) << rows;
    }
  });
}

TEST(StableMax, UnknownNormaliserRejected) {
  std::vector<float> x(10, 1.0f), y(10);
  fill_sentinel(y.data(), y.size());
  SoftmaxOptions o;
  o.normaliser = static_cast<Normaliser>(2);
  EXPECT_FALSE(softkern::softmax(x.data(), y.data(), 10, o).ok());
  EXPECT_TRUE(is_sentinel(y.data(), y.size()));
  EXPECT_STREQ(softkern::normaliser_name(Normaliser::kStableMax), "stablemax");
}

}  // namespace
}  // namespace softkern_test
