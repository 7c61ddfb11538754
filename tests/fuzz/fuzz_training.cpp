// libFuzzer target for softmax_backward, log_softmax_backward and
// cross_entropy (training.hpp).
//
// The fuzzer's bytes choose the target, the function, the element type, the
// options (temperature, the sink's gradient; reduction, label smoothing,
// class weights, z-loss, soft-cap, normaliser, ignore_index), the shape
// (rows, columns, padding, in place or not), the targets and every value,
// with special values (+-inf, NaN, denormals, large magnitudes) one byte
// away. Each run is either a valid call, which must succeed, match the Wide
// reference of tests/training_reference.hpp within docs/training.md's
// bounds and write nothing outside its outputs; or an invalid one (a bad
// option, a target out of range), which must be rejected and write nothing.
// Magnitudes stay below 1e30 where the float sums of docs/training.md
// would overflow ("Accuracy": the domain).
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "../support.hpp"
#include "../training_reference.hpp"

namespace {

using namespace softkern_test;

class Bytes {
 public:
  Bytes(const std::uint8_t* data, std::size_t size) : p_(data), end_(data + size) {}
  std::uint8_t u8() { return p_ < end_ ? *p_++ : 0; }
  std::uint16_t u16() { return static_cast<std::uint16_t>(u8() | (u8() << 8)); }
  // A logit: mostly ordinary values, special ones one byte away.
  float value() {
    const std::uint8_t b = u8();
    if (b < 232) return (static_cast<float>(b) - 116.0f) * 0.25f;  // [-29, 29]
    switch (b) {
      case 232:
        return -std::numeric_limits<float>::infinity();
      case 233:
        return std::numeric_limits<float>::infinity();
      case 234:
        return std::numeric_limits<float>::quiet_NaN();
      case 235:
        return 1e30f;
      case 236:
        return -1e30f;
      case 237:
        return std::numeric_limits<float>::denorm_min() * static_cast<float>(u8());
      case 238:
        return -1000.0f + static_cast<float>(u16()) * (2000.0f / 65535.0f);
      default:
        return 88.0f + static_cast<float>(u8()) / 256.0f;
    }
  }

 private:
  const std::uint8_t* p_;
  const std::uint8_t* end_;
};

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "fuzz_training: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

void* Typed(TypedMatrix& m) { return m.data(); }

// softmax_backward / log_softmax_backward on random (y, dy).
void FuzzBackward(Bytes& in, const std::string& isa) {
  const std::uint8_t flags = in.u8();
  const bool log = flags & 1, sink = flags & 2, in_place = flags & 4;
  const ElementType type = kTypes[(flags >> 3) % 3];
  const std::size_t rows = 1 + in.u8() % 3, cols = in.u16() % 600, stride = cols + in.u8() % 3;
  const float temperatures[] = {1.0f, 0.5f, 3.0f, 0.0f, -1.0f};
  const float t = temperatures[in.u8() % 5];
  TypedMatrix y(type, rows, cols, stride), dy(type, rows, cols, stride), dx(type, rows, cols, stride);
  std::vector<BackwardReference> refs;
  for (std::size_t r = 0; r < rows; ++r) {
    std::vector<float> yr(cols), dyr(cols);
    for (std::size_t i = 0; i < cols; ++i) {
      // y: a probability (log: a log-probability, -inf included); dy any value.
      const float v = in.value();
      const float p = std::isnan(v) ? v : std::fabs(v) / (1 + std::fabs(v));
      yr[i] = round_to(type, log ? (p == 0 ? -INFINITY : std::log(p)) : p);
      dyr[i] = round_to(type, in.value());
      y.set(r, i, yr[i]);
      dy.set(r, i, dyr[i]);
    }
    refs.push_back(reference_backward(yr, dyr, log, t > 0 ? t : 1.0f, type));
  }
  std::vector<float> sink_grad(rows + 2, -3.0f);
  softkern::SoftmaxBackwardOptions o;
  o.temperature = t;
  o.sink_grad = sink ? sink_grad.data() + 1 : nullptr;
  TypedMatrix& out = in_place ? dy : dx;
  const TypedMatrix before = out;
  Status s;
  switch (type) {
    case ElementType::kFloat32: {
      const auto* yp = static_cast<const float*>(Typed(y));
      const auto* dyp = static_cast<const float*>(Typed(dy));
      auto* dxp = static_cast<float*>(Typed(out));
      s = log ? softkern::log_softmax_backward_rows(yp, stride, dyp, stride, dxp, stride, rows, cols, o)
              : softkern::softmax_backward_rows(yp, stride, dyp, stride, dxp, stride, rows, cols, o);
      break;
    }
    case ElementType::kBFloat16: {
      auto p = [](TypedMatrix& m) { return softkern::as_bfloat16(static_cast<std::uint16_t*>(m.data())); };
      s = log ? softkern::log_softmax_backward_rows(p(y), stride, p(dy), stride, p(out), stride, rows, cols, o)
              : softkern::softmax_backward_rows(p(y), stride, p(dy), stride, p(out), stride, rows, cols, o);
      break;
    }
    case ElementType::kFloat16: {
      auto p = [](TypedMatrix& m) { return softkern::as_float16(static_cast<std::uint16_t*>(m.data())); };
      s = log ? softkern::log_softmax_backward_rows(p(y), stride, p(dy), stride, p(out), stride, rows, cols, o)
              : softkern::softmax_backward_rows(p(y), stride, p(dy), stride, p(out), stride, rows, cols, o);
      break;
    }
    default:  // the fuzzer draws float32, bf16 and f16 rows only
      break;
  }
  const std::string what = isa + (log ? " log_softmax_backward " : " softmax_backward ") + std::to_string(rows) + "x" +
                           std::to_string(cols) + " T=" + std::to_string(t) + (in_place ? " in place" : "");
  if (!(t > 0)) {
    if (s.ok() && cols > 0) Fail("accepted a bad temperature: " + what);
    if (!out.same_bits(before)) Fail("a rejected call wrote: " + what);
    return;
  }
  if (!s.ok()) Fail("rejected a valid call: " + what + ": " + s.message());
  if (!out.guards_intact()) Fail("wrote outside the rows: " + what);
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t i = 0; i < cols; ++i) {
      const Wide want = refs[r].dx[i], got = out.get(r, i);
      const bool ok = std::isnan(want)   ? std::isnan(got)
                      : std::isinf(want) ? got == want
                                         : std::fabs(got - want) <= refs[r].bound[i];
      if (!ok)
        Fail(what + ": element " + std::to_string(i) + " got " + hexfloat(static_cast<float>(got)) + " want " +
             hexfloat(want));
    }
    const Wide want = refs[r].sink_grad;
    // cols == 0 is a no-op: sink_grad is not written either.
    if (sink && cols > 0 && !std::isnan(want) && !std::isinf(want) && !(std::fabs(sink_grad[r + 1] - want) <= refs[r].sink_bound)) {
      Fail(what + ": sink_grad got " + hexfloat(sink_grad[r + 1]) + " want " + hexfloat(want));
    }
  }
}

// cross_entropy on random logits and targets.
void FuzzCrossEntropy(Bytes& in, const std::string& isa) {
  const std::uint8_t flags = in.u8();
  const ElementType type = kTypes[flags % 3];
  const bool has_grad = flags & 4, in_place = flags & 8, weights = flags & 16, int32 = flags & 32;
  CrossEntropyOptions o;
  o.reduction = static_cast<Reduction>(in.u8() % 4);  // 3: invalid
  o.normaliser = static_cast<Normaliser>(in.u8() % 2);
  const float eps[] = {0.0f, 0.1f, 1.0f, -0.5f};
  o.label_smoothing = eps[in.u8() % 4];
  const float z[] = {0.0f, 1e-4f, 0.1f, -1.0f};
  o.z_loss = z[in.u8() % 4];
  const float caps[] = {0.0f, 30.0f, 2.0f, -1.0f};
  o.softcap = caps[in.u8() % 4];
  const float temperatures[] = {1.0f, 0.5f, 2.0f, 1000.0f};
  o.temperature = temperatures[in.u8() % 4];
  const std::size_t rows = in.u8() % 5, vocab = 1 + in.u16() % 700, pad = in.u8() % 3;
  std::vector<float> w(vocab);
  for (float& v : w) v = static_cast<float>(in.u8()) / 64.0f;
  if (weights) o.class_weights = w.data();
  bool targets_ok = true;
  std::vector<std::int64_t> targets(rows);
  std::vector<std::int32_t> targets32(rows);
  for (std::size_t r = 0; r < rows; ++r) {
    const std::uint8_t b = in.u8();
    targets[r] = b < 200   ? static_cast<std::int64_t>(in.u16() % vocab)
                 : b < 250 ? -100
                           : static_cast<std::int64_t>(vocab);
    targets_ok &= b < 250;
    targets32[r] = static_cast<std::int32_t>(targets[r]);
  }
  TypedMatrix logits(type, rows, vocab, vocab + pad), grad(type, rows, vocab, vocab + pad);
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t i = 0; i < vocab; ++i) logits.set(r, i, in.value());
  }
  const TypedMatrix logits_in = logits;
  const std::size_t loss_count = o.reduction == Reduction::kNone ? rows : 1;
  std::vector<float> loss(loss_count + 2, -5.0f), lse(rows + 2, -5.0f), grad_output(loss_count + 1, 1.25f);
  softkern::CrossEntropyTensors t;
  t.rows = rows;
  t.vocab = vocab;
  t.logits_stride = t.grad_stride = vocab + pad;
  if (int32) {
    t.targets = targets32.data();
  } else {
    t.targets = targets.data();
  }
  t.loss = loss.data() + 1;
  t.lse = lse.data() + 1;
  t.grad_output = grad_output.data();
  TypedMatrix& out = in_place ? logits : grad;
  switch (type) {
    case ElementType::kFloat32:
      t.logits = static_cast<const float*>(logits.data());
      if (has_grad) t.grad = static_cast<float*>(out.data());
      break;
    case ElementType::kBFloat16:
      t.logits = softkern::as_bfloat16(static_cast<const std::uint16_t*>(logits.data()));
      if (has_grad) t.grad = softkern::as_bfloat16(static_cast<std::uint16_t*>(out.data()));
      break;
    case ElementType::kFloat16:
      t.logits = softkern::as_float16(static_cast<const std::uint16_t*>(logits.data()));
      if (has_grad) t.grad = softkern::as_float16(static_cast<std::uint16_t*>(out.data()));
      break;
    default:  // the fuzzer draws float32, bf16 and f16 logits only
      break;
  }
  const TypedMatrix grad_before = grad;
  const Status s = softkern::cross_entropy(t, o);
  char buf[200];
  std::snprintf(buf, sizeof buf, " cross_entropy %zux%zu %s %s eps=%g z=%g cap=%g T=%g%s%s", rows, vocab,
                softkern::normaliser_name(o.normaliser),
                static_cast<int>(o.reduction) < 3 ? softkern::reduction_name(o.reduction) : "?", o.label_smoothing,
                o.z_loss, o.softcap, o.temperature, weights ? " weights" : "",
                has_grad ? (in_place ? " grad in place" : " grad") : "");
  const std::string what = isa + buf;
  const bool valid = static_cast<int>(o.reduction) < 3 && o.label_smoothing >= 0 && o.z_loss >= 0 && o.softcap >= 0 &&
                     o.temperature <= 256 && targets_ok &&
                     !(o.softcap > 0 && o.normaliser == Normaliser::kStableMax);
  if (!valid) {
    if (s.ok()) Fail("accepted an invalid call: " + what);
    if (!logits.same_bits(logits_in) || !grad.same_bits(grad_before) || loss[1] != -5.0f || lse[1] != -5.0f) {
      Fail("a rejected call wrote: " + what);
    }
    return;
  }
  if (!s.ok()) Fail("rejected a valid call: " + what + ": " + s.message());
  if (!out.guards_intact()) Fail("wrote outside the rows: " + what);
  if (loss[0] != -5.0f || loss[loss_count + 1] != -5.0f || lse[0] != -5.0f || lse[rows + 1] != -5.0f) {
    Fail("wrote outside loss or lse: " + what);
  }
  // Rows whose logits reach 1e30 leave the float sums' domain with label
  // smoothing (the sum of w v): their values are not compared.
  Wide weight_sum = 0, count = 0;
  for (std::int64_t target : targets) {
    if (target == -100) continue;
    weight_sum += weights ? w[target] : 1;
    count += 1;
  }
  const bool mean = o.reduction == Reduction::kMean;
  for (std::size_t r = 0; r < rows; ++r) {
    std::vector<float> x(vocab);
    bool huge = false;
    for (std::size_t i = 0; i < vocab; ++i) {
      x[i] = logits_in.get(r, i);
      huge |= std::fabs(x[i]) >= 1e29f && std::isfinite(x[i]);
    }
    if (huge && o.label_smoothing != 0) continue;
    const Wide g = 1.25;
    const CrossEntropyRowReference ref =
        reference_cross_entropy_row(x, targets[r], o, g * (mean ? (weight_sum != 0 ? 1 / weight_sum : 0) : 1),
                                    g * (mean ? (count != 0 ? 1 / count : 0) : 1), has_grad);
    const auto check = [&](Wide got, Wide want, Wide bound, const std::string& name) {
      // A value beyond FLT_MAX is stored as an infinity (z_loss lse^2 at lse = 1e30).
      if (std::fabs(want) > std::numeric_limits<float>::max()) want = std::copysign(HUGE_VALL, want);
      const bool ok = std::isnan(want)   ? std::isnan(got)
                      : std::isinf(want) ? got == want
                                         : std::fabs(got - want) <= bound;
      if (!ok)
        Fail(what + ": row " + std::to_string(r) + " " + name + " got " + hexfloat(got) + " want " + hexfloat(want));
    };
    if (!ref.ignored)
      check(lse[r + 1], ref.nan ? std::numeric_limits<Wide>::quiet_NaN() : ref.lse, ref.lse_bound, "lse");
    if (o.reduction == Reduction::kNone) {
      check(loss[r + 1],
            ref.ignored ? 0
            : ref.nan   ? std::numeric_limits<Wide>::quiet_NaN()
                        : ref.ce + ref.zl,
            ref.loss_bound, "loss");
    }
    if (!has_grad) continue;
    const double u16 = unit_roundoff(type), step = smallest_step(type);
    for (std::size_t i = 0; i < vocab; ++i) {
      const Wide want = ref.grad[i];
      if (ref.grad_bound[i] == 0 && !std::isnan(want)) {
        if (out.get(r, i) != want)
          Fail(what + ": row " + std::to_string(r) + " grad " + std::to_string(i) + " not exact");
        continue;
      }
      check(out.get(r, i), want, ref.grad_bound[i] + u16 * std::fabs(want) + step, "grad " + std::to_string(i));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Bytes in(data, size);
  const std::vector<Isa> isas = supported_isa_list();
  const Isa isa = isas[in.u8() % isas.size()];
  if (!softkern::force_isa(isa).ok()) Fail("force_isa failed for a supported target");
  if (in.u8() % 2 == 0) {
    FuzzBackward(in, softkern::isa_name(isa));
  } else {
    FuzzCrossEntropy(in, softkern::isa_name(isa));
  }
  softkern::reset_isa();
  return 0;
}
