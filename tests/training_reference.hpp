// tests/training_reference.hpp — what the training tests share: reference
// softmax / log-softmax backward, cross-entropy and StableMax in Wide
// precision (support.hpp: long double on x86, double on aarch64), each with
// the error bound docs/training.md states, element by element; 16-bit
// element helpers; sentinel-filled matrices.
#ifndef SOFTKERN_TESTS_TRAINING_REFERENCE_HPP_
#define SOFTKERN_TESTS_TRAINING_REFERENCE_HPP_

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "support.hpp"

namespace softkern_test {

using softkern::CrossEntropyOptions;
using softkern::ElementType;
using softkern::Normaliser;
using softkern::Reduction;

inline constexpr double kU = bound::kUnitRoundoff;

inline constexpr ElementType kTypes[] = {ElementType::kFloat32, ElementType::kBFloat16, ElementType::kFloat16};
inline const char* type_name(ElementType t) {
  return t == ElementType::kFloat32 ? "f32" : t == ElementType::kBFloat16 ? "bf16" : "f16";
}

// The unit roundoff of storing to an element type, and its smallest step
// (the absolute error of a result rounded into the subnormal range).
inline double unit_roundoff(ElementType type) {
  return type == ElementType::kBFloat16 ? 0x1p-8 : type == ElementType::kFloat16 ? 0x1p-11 : 0.0;
}
inline double smallest_step(ElementType type) {
  return type == ElementType::kBFloat16 ? 0x1p-133 : type == ElementType::kFloat16 ? 0x1p-24 : 0x1p-149;
}

// Round-trips through an element type, as the kernels store.
inline float round_to(ElementType type, float v) {
  switch (type) {
    case ElementType::kBFloat16: return softkern::to_float(softkern::to_bfloat16(v));
    case ElementType::kFloat16: return softkern::to_float(softkern::to_float16(v));
    default: break;  // float32
  }
  return v;
}

// A matrix of `rows` x `stride` elements of one type, stored as 16-bit or
// 32-bit words, filled with a sentinel (a NaN pattern) that must survive
// wherever the call does not write.
struct TypedMatrix {
  ElementType type;
  std::size_t rows, cols, stride;
  std::vector<float> f32;
  std::vector<std::uint16_t> b16;
  static constexpr std::uint16_t kSentinel16 = 0x7dbd;  // a NaN in both 16-bit formats
  TypedMatrix(ElementType t, std::size_t r, std::size_t c, std::size_t s) : type(t), rows(r), cols(c), stride(s) {
    const std::size_t total = r == 0 ? 0 : (r - 1) * s + c + 3;  // 3 trailing guards
    if (t == ElementType::kFloat32) {
      f32.resize(total);
      fill_sentinel(f32.data(), total);
    } else {
      b16.assign(total, kSentinel16);
    }
  }
  void* data() { return type == ElementType::kFloat32 ? static_cast<void*>(f32.data()) : b16.data(); }
  float get(std::size_t r, std::size_t i) const {
    const std::size_t k = r * stride + i;
    if (type == ElementType::kFloat32) return f32[k];
    return type == ElementType::kBFloat16 ? softkern::to_float(softkern::bfloat16{b16[k]})
                                          : softkern::to_float(softkern::float16{b16[k]});
  }
  void set(std::size_t r, std::size_t i, float v) {
    const std::size_t k = r * stride + i;
    if (type == ElementType::kFloat32) {
      f32[k] = v;
    } else {
      b16[k] = type == ElementType::kBFloat16 ? softkern::to_bfloat16(v).bits : softkern::to_float16(v).bits;
    }
  }
  // Every position outside the rows' [0, cols) still holds the sentinel.
  bool guards_intact() const {
    const std::size_t total = type == ElementType::kFloat32 ? f32.size() : b16.size();
    for (std::size_t k = 0; k < total; ++k) {
      const bool inside = k < rows * stride && k % stride < cols;
      if (inside) continue;
      if (type == ElementType::kFloat32 ? float_bits(f32[k]) != kSentinelBits : b16[k] != kSentinel16) return false;
    }
    return true;
  }
  bool same_bits(const TypedMatrix& o) const {
    return f32.size() == o.f32.size() && bitwise_equal(f32.data(), o.f32.data(), f32.size()) && b16 == o.b16;
  }
};

// The largest |got - want| / bound a test measured, printed as a
// "[ accuracy ]" line (the share of the bound the kernels use).
struct BoundUse {
  double worst = 0;
  void add(Wide got, Wide want, Wide bound) {
    if (bound > 0 && std::isfinite(static_cast<double>(want)) && std::isfinite(static_cast<double>(got))) {
      worst = std::max(worst, static_cast<double>(std::fabs(got - want) / bound));
    }
  }
  void report(const std::string& label) const {
    std::printf("[ accuracy ] %s: largest error / bound = %.3f\n", label.c_str(), worst);
    std::fflush(stdout);
  }
};

// ------------------------------------------------------------ backward

struct BackwardReference {
  std::vector<Wide> dx, bound;  // per element
  Wide dot = 0, mass = 0, sink_grad = 0, sink_bound = 0;
};

// dx = (y/T)(dy - <y,dy>) or (dy - e^y sum dy)/T, from the inputs as given
// (already rounded to their type). Bounds (docs/training.md):
//   softmax: u (|y_i|/T) (4(|dy_i| + |D|) + S(n) A) + u16 |dx_i| + 2 step
//   log:     u/T (4|dy_i| + e^{y_i} (6|D| + S(n) A)) + u16 |dx_i| + 2 step
// A = sum |y_j dy_j| (log: sum |dy_j|); S(n) the summation term of support.hpp.
inline BackwardReference reference_backward(const std::vector<float>& y, const std::vector<float>& dy, bool log,
                                            float temperature, ElementType out_type) {
  const std::size_t n = y.size();
  BackwardReference ref;
  ref.dx.resize(n);
  ref.bound.resize(n);
  const Wide inv_t = Wide{1} / static_cast<Wide>(temperature);
  Wide a = 0, mass_abs = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const Wide yi = y[i], dyi = dy[i];
    const Wide p = log ? static_cast<Wide>(std::exp(static_cast<double>(yi))) : yi;
    ref.dot += log ? dyi : yi * dyi;
    a += log ? std::fabs(dyi) : std::fabs(yi * dyi);
    ref.mass += p;
    mass_abs += std::fabs(p);
  }
  const double s = bound::summation_c(n);
  const double u16 = unit_roundoff(out_type), step = smallest_step(out_type);
  for (std::size_t i = 0; i < n; ++i) {
    const Wide yi = y[i], dyi = dy[i];
    if (log) {
      const Wide e = static_cast<Wide>(std::exp(static_cast<double>(yi)));
      ref.dx[i] = (dyi - e * ref.dot) * inv_t;
      ref.bound[i] = kU * inv_t * (4 * std::fabs(dyi) + e * (6 * std::fabs(ref.dot) + s * a));
      // e^y in float is a subnormal for y < -87.3: its absolute error, up to
      // a step, is scaled by D / T; and dy - e^y D may round into the
      // subnormals before the 1/T scaling.
      ref.bound[i] += inv_t * static_cast<Wide>(bound::kDenormalStep) * (2 * std::fabs(ref.dot) + 1);
    } else {
      ref.dx[i] = yi * inv_t * (dyi - ref.dot);
      ref.bound[i] = kU * std::fabs(yi) * inv_t * (4 * (std::fabs(dyi) + std::fabs(ref.dot)) + s * a);
    }
    ref.bound[i] += u16 * std::fabs(ref.dx[i]) + 2 * step;
  }
  ref.sink_grad = -(1 - ref.mass) * ref.dot * inv_t;
  ref.sink_bound = kU * inv_t * (std::fabs(1 - ref.mass) * (s * a + std::fabs(ref.dot)) +
                                 std::fabs(ref.dot) * (s + 2) * mass_abs) +
                   2 * kU * std::fabs(ref.sink_grad) + 0x1p-149;
  return ref;
}

// ------------------------------------------------------------ StableMax

inline Wide stablemax_s(Wide z) { return z >= 0 ? z + 1 : 1 / (1 - z); }
inline Wide stablemax_log(Wide z) { return std::copysign(std::log1p(std::fabs(z)), z); }

// Forward StableMax with softmax.hpp's semantics (NaN rows, +inf shares, all
// -inf zeros). exact[i]: the output must equal (float) r exactly.
// Bound: u (6 + S(n)) r_i + step (log: u (6 + S(n) + 2|log s_i| + 2|r_i|)).
struct StableMaxReference {
  std::vector<Wide> r, bound;
  std::vector<unsigned char> exact;
};
inline StableMaxReference reference_stablemax(const std::vector<float>& x, const SoftmaxOptions& o,
                                              ElementType out_type) {
  constexpr Wide kInf = std::numeric_limits<Wide>::infinity();
  const std::size_t n = x.size();
  StableMaxReference ref;
  ref.r.assign(n, 0);
  ref.bound.assign(n, 0);
  ref.exact.assign(n, 1);
  bool nan = o.has_sink && std::isnan(o.sink);
  std::size_t pos_inf = o.has_sink && o.sink == HUGE_VALF ? 1 : 0;
  for (float v : x) {
    nan |= std::isnan(v);
    pos_inf += v == HUGE_VALF;
  }
  const Wide inv_t = Wide{1} / static_cast<Wide>(o.temperature);
  Wide sum = o.has_sink ? stablemax_s(static_cast<Wide>(o.sink) * inv_t) : 0;
  for (float v : x) sum += stablemax_s(static_cast<Wide>(v) * inv_t);
  if (nan) {
    for (auto& v : ref.r) v = std::numeric_limits<Wide>::quiet_NaN();
    return ref;
  }
  if (pos_inf > 0 || sum == 0) {
    for (std::size_t i = 0; i < n; ++i) {
      const bool share = pos_inf > 0 && x[i] == HUGE_VALF;
      ref.r[i] = o.log ? (share ? -std::log(static_cast<Wide>(pos_inf)) : -kInf)
                       : (share ? Wide{1} / static_cast<Wide>(pos_inf) : Wide{0});
      ref.exact[i] = !(o.log && share);
      ref.bound[i] = kU * 4 * std::fabs(ref.r[i]);
    }
    return ref;
  }
  const double s = bound::summation_c(n);
  const double u16 = unit_roundoff(out_type), step = smallest_step(out_type);
  const Wide log_sum = std::log(sum);
  for (std::size_t i = 0; i < n; ++i) {
    const Wide z = static_cast<Wide>(x[i]) * inv_t;
    ref.exact[i] = x[i] == -HUGE_VALF;
    if (o.log) {
      ref.r[i] = ref.exact[i] ? -kInf : stablemax_log(z) - log_sum;
      ref.bound[i] = kU * (6 + s + 2 * std::fabs(stablemax_log(z)) + 2 * std::fabs(ref.r[i]));
    } else {
      ref.r[i] = stablemax_s(z) / sum;
      ref.bound[i] = kU * (6 + s) * ref.r[i] + step;
    }
    ref.bound[i] += u16 * std::fabs(ref.r[i]) + (o.log ? 0 : step);
  }
  return ref;
}

// ---------------------------------------------------------- cross-entropy

// One row's reference: its loss terms, lse, gradient (before the reduction's
// scaling), and their bounds (docs/training.md).
struct CrossEntropyRowReference {
  bool ignored = false, nan = false;
  Wide ce = 0, zl = 0, lse = 0;
  Wide loss_bound = 0, lse_bound = 0;
  std::vector<Wide> grad, grad_bound;
};

// x: one row of V logits (as float values), target t (or ignored), g_ce and
// g_z the row's gradient scales (grad_output over kMean's denominators).
inline CrossEntropyRowReference reference_cross_entropy_row(const std::vector<float>& x, std::int64_t target,
                                                            const CrossEntropyOptions& o, Wide g_ce, Wide g_z,
                                                            bool want_grad) {
  constexpr Wide kInf = std::numeric_limits<Wide>::infinity();
  const std::size_t V = x.size();
  CrossEntropyRowReference ref;
  if (target == o.ignore_index) {
    ref.ignored = true;
    if (want_grad) ref.grad.assign(V, 0), ref.grad_bound.assign(V, 0);
    return ref;
  }
  const bool stablemax = o.normaliser == Normaliser::kStableMax;
  const bool cap = o.softcap != 0.0f;
  const Wide inv_t = Wide{1} / static_cast<Wide>(o.temperature);
  const Wide eps = o.label_smoothing, lambda = o.z_loss, smooth = eps / static_cast<Wide>(V);
  const auto w = [&](std::size_t c) -> Wide { return o.class_weights != nullptr ? o.class_weights[c] : 1; };
  std::vector<Wide> v(V), z(V), dcap(V, 1);
  bool nan = false, pos_inf = false;
  for (std::size_t c = 0; c < V; ++c) {
    nan |= std::isnan(x[c]);
    pos_inf |= x[c] == HUGE_VALF && !cap;
    v[c] = x[c];
    if (cap && x[c] != -HUGE_VALF) {
      const Wide a = static_cast<Wide>(x[c]) / o.softcap;
      v[c] = o.softcap * std::tanh(a);
      const Wide ch = std::cosh(a);
      dcap[c] = 1 / (ch * ch);
    }
    z[c] = v[c] * inv_t;
  }
  if (nan || pos_inf) {
    ref.nan = true;
    if (want_grad) ref.grad.assign(V, std::numeric_limits<Wide>::quiet_NaN()), ref.grad_bound.assign(V, 0);
    return ref;
  }
  // lse, the log-numerators and P (softmax p; StableMax s'/S), R.
  Wide zmax = -kInf;
  for (Wide zc : z) zmax = std::max(zmax, zc);
  std::vector<Wide> num(V), P(V, 0), R(V, 1);
  Wide sum = 0;
  for (std::size_t c = 0; c < V; ++c) {
    if (stablemax) {
      sum += stablemax_s(z[c]);
    } else if (z[c] != -kInf) {
      sum += std::exp(z[c] - zmax);
    }
  }
  ref.lse = stablemax ? std::log(sum) : zmax + std::log(sum);
  const std::size_t t = static_cast<std::size_t>(target);
  const double sn = bound::summation_c(V);
  if (ref.lse == -kInf) {
    ref.ce = (1 - eps) * w(t) != 0 ? kInf : 0;
    ref.zl = lambda != 0 ? kInf : 0;
    if (want_grad) {
      ref.grad.assign(V, 0);
      ref.grad_bound.assign(V, 0);
      ref.grad[t] = stablemax ? 0 : -g_ce * (1 - eps) * w(t) * inv_t;
      ref.grad_bound[t] = 2 * kU * std::fabs(ref.grad[t]);
    }
    return ref;
  }
  Wide zbar = 0, vbar = 0, weight = 0, weighted = 0, weighted_abs = 0, weight_abs = 0;
  for (std::size_t c = 0; c < V; ++c) {
    if (x[c] == -HUGE_VALF) {
      num[c] = -kInf;
      R[c] = stablemax ? 0 : 1;
      continue;
    }
    if (stablemax) {
      num[c] = stablemax_log(z[c]);
      R[c] = 1 / (1 + std::fabs(z[c]));
      P[c] = (z[c] >= 0 ? 1 : R[c] * R[c]) / sum;
    } else {
      num[c] = z[c];
      // Against zmax and the sum, not lse = zmax + log(sum): at |zmax| near
      // 1e30, zmax + log(sum) rounds back to zmax even in long double.
      P[c] = std::exp(z[c] - zmax) / sum;
    }
    const Wide p = stablemax ? stablemax_s(z[c]) / sum : P[c];
    zbar += p * std::fabs(z[c] - zmax);
    vbar += p * std::fabs(z[c]);
    weight += w(c);
    weight_abs += std::fabs(w(c));
    weighted += w(c) * num[c];
    weighted_abs += std::fabs(w(c) * (stablemax ? num[c] : z[c]));
  }
  const Wide one_hot = (1 - eps) * w(t);
  ref.ce = (one_hot == 0 ? 0 : one_hot * (ref.lse - num[t])) + smooth * (weight * ref.lse - weighted);
  ref.zl = lambda * ref.lse * ref.lse;
  // The bounds.
  const Wide e_lse = kU * (stablemax ? 6 + sn + (cap ? 8 : 0) : 8 + sn + 2 * zbar + (cap ? 8 * vbar : 0));
  ref.lse_bound = e_lse + kU * std::fabs(ref.lse);
  const Wide smoothing_error = stablemax ? kU * ((sn + 3) * weighted_abs + (3 + (cap ? 8 : 0)) * weight_abs)
                                         : kU * (sn + 1 + (cap ? 8 : 0)) * weighted_abs;
  ref.loss_bound = e_lse * (std::fabs(one_hot) + smooth * weight_abs + 2 * lambda * std::fabs(ref.lse)) +
                   smooth * smoothing_error + kU * std::fabs(ref.ce + ref.zl);
  if (!want_grad) return ref;
  const Wide k = g_ce * (one_hot + smooth * weight) + 2 * lambda * g_z * ref.lse;
  const Wide b = g_ce * smooth * inv_t;
  ref.grad.resize(V);
  ref.grad_bound.resize(V);
  for (std::size_t c = 0; c < V; ++c) {
    const bool masked = x[c] == -HUGE_VALF;
    const Wide term_a = k * inv_t * P[c];
    const Wide term_b = masked ? 0 : b * w(c) * R[c];
    Wide g = term_a - term_b;
    if (c == t) g -= g_ce * one_hot * inv_t * R[c];
    ref.grad[c] = dcap[c] * g;
    if (masked) {
      ref.grad_bound[c] = 4 * kU * std::fabs(ref.grad[c]);  // 0: exactly 0
      continue;
    }
    const Wide rel = stablemax ? 8 + (cap ? 8 : 0) : 12 + 2 * std::fabs(z[c] - zmax) + (cap ? 8 * std::fabs(z[c]) : 0);
    ref.grad_bound[c] = dcap[c] * (std::fabs(term_a) * (e_lse / kU + rel) * kU + 4 * kU * std::fabs(term_b) +
                                   2 * std::fabs(lambda * g_z) * inv_t * P[c] * e_lse) +
                        // dcap = 4e / (1 + e)^2, e = e^{-2|x|/cap}: the exponential's
                        // argument, formed in float with 1/cap rounded and then
                        // rounded itself (2u), carries 2u 2|x|/cap into dcap.
                        kU * std::fabs(ref.grad[c]) *
                            (2 + (cap && std::isfinite(x[c]) ? 8 + 4 * std::fabs(static_cast<Wide>(x[c]) / o.softcap)
                                  : cap                      ? 8
                                                             : 0)) +
                        (1 + std::fabs(k * inv_t)) * 0x1p-148;  // p_i rounded into the subnormals, times a
  }
  return ref;
}

}  // namespace softkern_test

#endif  // SOFTKERN_TESTS_TRAINING_REFERENCE_HPP_
