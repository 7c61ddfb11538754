// tests/attention_reference.hpp — what the attention tests share: K/V
// problems (q, K, V in either layout and any K/V element type, mask,
// sinks), the double-precision reference that materialises the scores, and
// the bound docs/attention.md states, checked element by element.
//
// The bound (u = 2^-24; for output element (i, h, c)):
//   |o - r| <= u * (kAttnC + G * Amax + N_i) * kappa + 2^-126
// where kappa = sum_j w_j |v_jc| (w the exact weights of the visible keys),
// N_i the number of visible keys (the float accumulation over the keys),
// Amax = max_j |scale| sum_c |q_c k_jc| / T over visible keys (the
// magnitude of a score: the dot product's rounding moves a score by up to
// about (d + 2) u Amax, and a score error is a relative weight error), and
// G = 2 (d + 2) for softmax (numerator and normaliser), d + 2 for sigmoid.
// Softplus re-weights with a power p of a difference, which amplifies the
// score's error by about p * N_i * max_j A_ij / r_max; its bound is
//   |o - r| <= u * kAttnC * (1 + p * (d + 2) * (1 + N_i * maxA / r_max)) * kappa + 2^-126.
#ifndef SOFTKERN_TESTS_ATTENTION_REFERENCE_HPP_
#define SOFTKERN_TESTS_ATTENTION_REFERENCE_HPP_

#include "support.hpp"

namespace softkern_test {

using softkern::AttentionOptions;
using softkern::AttentionTensors;
using softkern::ElementType;
using softkern::KvPointer;
using softkern::ScoreFunction;

inline constexpr float kInf = std::numeric_limits<float>::infinity();
inline constexpr double kAttnC = 16.0;

// ------------------------------------------------------------ 16-bit storage

inline std::uint16_t to_bf16(float f) {  // round to nearest even
  std::uint32_t u = float_bits(f);
  u += 0x7FFFu + ((u >> 16) & 1u);
  return static_cast<std::uint16_t>(u >> 16);
}
inline float from_bf16(std::uint16_t b) { return bits_float(static_cast<std::uint32_t>(b) << 16); }
// IEEE binary16 by hand (round to nearest even), so the suite needs no
// compiler _Float16 support.
inline std::uint16_t to_f16(float f) {
  const std::uint32_t x = float_bits(f);
  const std::uint16_t sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
  const std::uint32_t mag = x & 0x7FFFFFFFu;
  if (mag >= 0x7F800000u) return sign | (mag > 0x7F800000u ? 0x7E00u : 0x7C00u);  // NaN, inf
  if (mag >= 0x477FF000u) return sign | 0x7C00u;                                // >= 65520 rounds to inf
  if (mag < 0x38800000u) {  // below 2^-14: a subnormal half, in units of 2^-24
    return sign | static_cast<std::uint16_t>(std::nearbyint(bits_float(mag) * 0x1p24f));
  }
  std::uint32_t h = mag - 0x38000000u;  // rebias the exponent (127 - 15) << 23
  h += 0xFFFu + ((h >> 13) & 1u);
  return sign | static_cast<std::uint16_t>(h >> 13);
}
inline float from_f16(std::uint16_t b) {
  const float sign = (b & 0x8000u) ? -1.0f : 1.0f;
  const int exponent = (b >> 10) & 0x1F;
  const int mantissa = b & 0x3FF;
  if (exponent == 0) return sign * std::ldexp(static_cast<float>(mantissa), -24);
  if (exponent == 31) return mantissa ? std::numeric_limits<float>::quiet_NaN() : sign * kInf;
  return sign * std::ldexp(static_cast<float>(mantissa + 1024), exponent - 25);
}

// ------------------------------------------------------------ problems

enum class Layout { kTokenMajor, kHeadMajor };

struct Problem {
  std::size_t L = 1, n = 0, H = 1, Hk = 1, d = 64;
  Layout layout = Layout::kTokenMajor;
  ElementType type = ElementType::kFloat32;
  std::vector<float> q;           // [L, H, d]
  std::vector<float> k, v;        // float values (what the kernel sees after conversion), layout order
  std::vector<std::uint16_t> k16, v16;
  std::vector<float> mask;        // [L, n] shared across heads, or empty
  std::vector<float> sinks;       // [H] or empty
  std::size_t kv_row_stride() const { return layout == Layout::kTokenMajor ? Hk * d : d; }
  std::size_t kv_head_stride() const { return layout == Layout::kTokenMajor ? d : n * d; }
  float kf(std::size_t j, std::size_t g, std::size_t c) const { return k[j * kv_row_stride() + g * kv_head_stride() + c]; }
  float vf(std::size_t j, std::size_t g, std::size_t c) const { return v[j * kv_row_stride() + g * kv_head_stride() + c]; }
  void set_kv(std::size_t j, std::size_t g, std::size_t c, float kval, float vval) {
    const std::size_t at = j * kv_row_stride() + g * kv_head_stride() + c;
    if (type == ElementType::kBFloat16) {
      k16[at] = to_bf16(kval);
      v16[at] = to_bf16(vval);
      k[at] = from_bf16(k16[at]);
      v[at] = from_bf16(v16[at]);
    } else if (type == ElementType::kFloat16) {
      k16[at] = to_f16(kval);
      v16[at] = to_f16(vval);
      k[at] = from_f16(k16[at]);
      v[at] = from_f16(v16[at]);
    } else {
      k[at] = kval;
      v[at] = vval;
    }
  }
};

inline Problem make_problem(std::size_t L, std::size_t n, std::size_t H, std::size_t Hk, std::size_t d, Layout layout,
                     ElementType type, std::uint64_t seed) {
  Problem p;
  p.L = L;
  p.n = n;
  p.H = H;
  p.Hk = Hk;
  p.d = d;
  p.layout = layout;
  p.type = type;
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + n * 31 + d * 7 + L);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  p.q.resize(L * H * d);
  for (auto& x : p.q) x = normal(rng);
  p.k.assign(n * Hk * d, 0.0f);
  p.v.assign(n * Hk * d, 0.0f);
  if (type != ElementType::kFloat32) {
    p.k16.assign(n * Hk * d, 0);
    p.v16.assign(n * Hk * d, 0);
  }
  for (std::size_t j = 0; j < n; ++j)
    for (std::size_t g = 0; g < Hk; ++g)
      for (std::size_t c = 0; c < d; ++c) p.set_kv(j, g, c, 1.5f * normal(rng), normal(rng));
  return p;
}

// K or V held as uint16_t bit patterns of the 16-bit `type`.
inline KvPointer kv_bits(const std::uint16_t* p, ElementType type) {
  if (type == ElementType::kBFloat16) return softkern::as_bfloat16(p);
  return softkern::as_float16(p);
}

inline AttentionTensors tensors_of(const Problem& p, float* o, float* lse = nullptr) {
  AttentionTensors t;
  t.queries = p.L;
  t.keys = p.n;
  t.heads = p.H;
  t.kv_heads = p.Hk;
  t.head_dim = p.d;
  t.q = p.q.data();
  if (p.type == ElementType::kFloat32) {
    t.k = p.k.data();
    t.v = p.v.data();
  } else {
    t.k = kv_bits(p.k16.data(), p.type);
    t.v = kv_bits(p.v16.data(), p.type);
  }
  t.kv_row_stride = p.kv_row_stride();
  t.kv_head_stride = p.kv_head_stride();
  t.o = o;
  t.lse = lse;
  return t;
}

// ------------------------------------------------------------ the reference

struct RefRow {
  std::vector<double> o;       // d
  std::vector<double> kappa;   // d: sum_j w_j |v_jc|
  double lse = -HUGE_VAL;
  double amax = 0;             // max_j |score magnitude| (see the bound)
  double softplus_amp = 0;     // softplus: N * maxA / r_max
  std::size_t visible = 0;
  bool nan = false;
};

inline bool key_visible(const AttentionOptions& o, std::uint64_t qpos, std::uint64_t kpos, float mask_value) {
  if (o.causal && kpos > qpos) return false;
  if (o.window != 0 && qpos >= o.window && kpos <= qpos - o.window) return false;
  return mask_value != -kInf;
}

inline RefRow reference_row(const Problem& p, const AttentionOptions& o, std::size_t i, std::size_t h,
                     std::uint64_t query_start, std::uint64_t key_start = 0, std::size_t j_begin = 0,
                     std::size_t j_end = SIZE_MAX) {
  const std::size_t d = p.d, g = h / (p.H / p.Hk);
  j_end = std::min(j_end, p.n);
  const double scale = o.scale == 0.0f ? 1.0 / std::sqrt(static_cast<double>(d)) : o.scale;
  const double inv_t = 1.0 / o.temperature;
  const float* q = &p.q[(i * p.H + h) * d];
  RefRow r;
  r.o.assign(d, 0.0);
  r.kappa.assign(d, 0.0);
  std::vector<std::size_t> idx;
  std::vector<double> x, mag, bias;
  double qn = 0;
  for (std::size_t c = 0; c < d; ++c) qn += static_cast<double>(q[c]) * q[c];
  qn = std::max(std::sqrt(qn), 1e-12);
  for (std::size_t j = j_begin; j < j_end; ++j) {
    const float mv = p.mask.empty() ? 0.0f : p.mask[i * p.n + j];
    if (!key_visible(o, query_start + i, key_start + j, mv)) continue;
    double dot = 0, am = 0, kn = 0;
    for (std::size_t c = 0; c < d; ++c) {
      dot += static_cast<double>(q[c]) * p.kf(j, g, c);
      am += std::fabs(static_cast<double>(q[c]) * p.kf(j, g, c));
      kn += static_cast<double>(p.kf(j, g, c)) * p.kf(j, g, c);
    }
    idx.push_back(j);
    // ALiBi: -slope |query position - key position|, added like the mask.
    const double alibi = o.alibi_slopes == nullptr
                             ? 0.0
                             : -static_cast<double>(o.alibi_slopes[h]) *
                                   std::fabs(static_cast<double>(query_start + i) - static_cast<double>(key_start + j));
    bias.push_back(alibi);
    if (o.score == ScoreFunction::kSoftplus) {
      x.push_back(dot / (qn * std::max(std::sqrt(kn), 1e-12)));  // cosine, scaled below
      mag.push_back(am / (qn * std::max(std::sqrt(kn), 1e-12)));
    } else {
      // Soft-capping c tanh(R / c) of the raw score R = scale q.k; its
      // derivative is at most 1, so R's magnitude still bounds the error.
      const double raw = scale * dot;
      x.push_back((o.softcap > 0 ? o.softcap * std::tanh(raw / o.softcap) : raw) + mv + alibi);
      mag.push_back(std::fabs(scale) * am * (o.score == ScoreFunction::kSoftmax ? inv_t : 1.0) +
                    (std::fabs(mv) + std::fabs(alibi)) * inv_t);
    }
  }
  r.visible = idx.size();
  std::vector<double> w(idx.size(), 0.0);
  if (o.score == ScoreFunction::kSoftmax) {
    double m = -HUGE_VAL;
    double sink = -HUGE_VAL;
    if (!p.sinks.empty()) {
      if (std::isnan(p.sinks[h])) r.nan = true;
      sink = p.sinks[h] * inv_t;
      m = sink;
    }
    for (double xv : x) m = std::max(m, xv * inv_t);
    double l = sink == -HUGE_VAL ? 0.0 : std::exp(sink - m);
    for (std::size_t a = 0; a < x.size(); ++a) l += w[a] = std::exp(x[a] * inv_t - m);
    for (auto& wa : w) wa = l > 0 ? wa / l : 0.0;
    r.lse = l > 0 ? m + std::log(l) : -HUGE_VAL;
    for (double a : mag) r.amax = std::max(r.amax, a);
  } else if (o.score == ScoreFunction::kSigmoid) {
    for (std::size_t a = 0; a < x.size(); ++a) w[a] = 1.0 / (1.0 + std::exp(-(x[a] + o.sigmoid_bias)));
    for (double a : mag) r.amax = std::max(r.amax, a);
  } else {
    const double N = static_cast<double>(idx.size());
    const double c = N > 0 ? std::log(static_cast<double>(d)) * std::log(N) : 0.0;
    std::vector<double> a(x.size()), t(x.size());
    double asum = 0;
    for (std::size_t j = 0; j < x.size(); ++j) {
      const double s = c * x[j] + (p.mask.empty() ? 0.0 : p.mask[i * p.n + idx[j]]) + bias[j];
      a[j] = std::max(s, 0.0) + std::log1p(std::exp(-std::fabs(s)));
      asum += a[j];
      r.amax = std::max(r.amax, std::fabs(c) * mag[j] + std::fabs(bias[j]));
    }
    double tmax = 0, rsum = 0, amax_w = 0;
    for (std::size_t j = 0; j < x.size(); ++j) {
      t[j] = std::max(a[j] / (asum + 1e-8) * N - o.softplus_offset, 0.0);
      tmax = std::max(tmax, t[j]);
      amax_w = std::max(amax_w, a[j] / (asum + 1e-8));
    }
    for (std::size_t j = 0; j < x.size(); ++j) rsum += w[j] = std::pow(t[j], o.softplus_power);
    for (auto& wj : w) wj = wj / (rsum + 1e-8);
    r.softplus_amp = tmax > 0 ? N * amax_w / tmax : 0.0;
  }
  for (std::size_t a = 0; a < idx.size(); ++a) {
    for (std::size_t c = 0; c < d; ++c) {
      r.o[c] += w[a] * p.vf(idx[a], g, c);
      r.kappa[c] += std::fabs(w[a] * p.vf(idx[a], g, c));
    }
  }
  return r;
}

// Soft-capping adds its tanh's error (a few u of the capped score, whose
// magnitude is at most the raw score's): d + 2 becomes d + 2 + kSoftcapC.
inline constexpr double kSoftcapC = 8.0;

inline double bound_factor(const Problem& p, const AttentionOptions& o, const RefRow& r) {
  const double d2 = static_cast<double>(p.d + 2) + (o.softcap > 0 ? kSoftcapC : 0.0);
  switch (o.score) {
    case ScoreFunction::kSoftmax: return kAttnC + 2 * d2 * r.amax + static_cast<double>(r.visible);
    case ScoreFunction::kSigmoid: return kAttnC + d2 * r.amax + static_cast<double>(r.visible);
    case ScoreFunction::kSoftplus:
      return kAttnC * (1 + o.softplus_power * d2 * (1 + r.softplus_amp)) + static_cast<double>(r.visible);
  }
  return 0;
}

// Checks o (dense [L, H, d]) and lse against the reference; returns the
// largest err / (u kappa) seen (the "measured C").
inline double check_output(const Problem& p, const AttentionOptions& o, const std::vector<float>& out,
                    const std::vector<float>* lse, std::uint64_t query_start, const std::string& what,
                    FailureLog& log) {
  const double u = 0x1p-24;
  double worst = 0;
  for (std::size_t i = 0; i < p.L; ++i) {
    for (std::size_t h = 0; h < p.H; ++h) {
      const RefRow r = reference_row(p, o, i, h, query_start);
      const double factor = bound_factor(p, o, r);
      for (std::size_t c = 0; c < p.d; ++c) {
        const float y = out[(i * p.H + h) * p.d + c];
        if (r.nan) {
          if (!std::isnan(y)) log.add(what + ": expected NaN");
          continue;
        }
        const double err = std::fabs(y - r.o[c]);
        const double limit = u * factor * r.kappa[c] + 0x1p-126;
        if (!(err <= limit)) {
          std::ostringstream s;
          s << what << ": o[" << i << "," << h << "," << c << "] = " << y << " reference " << r.o[c]
            << " err " << err << " > bound " << limit << " (kappa " << r.kappa[c] << ", factor " << factor << ")";
          log.add(s.str());
        }
        if (r.kappa[c] > 0) worst = std::max(worst, err / (u * r.kappa[c]));
      }
      if (lse != nullptr) {
        const float l = (*lse)[i * p.H + h];
        if (r.lse == -HUGE_VAL) {
          if (l != -kInf) log.add(what + ": lse of a query that sees nothing must be -inf, got " + std::to_string(l));
        } else {
          // log of a sum of weights each with relative error (d+2) u Amax.
          const double d2 = p.d + 2 + (o.softcap > 0 ? kSoftcapC : 0.0);
          const double limit = u * (kAttnC + 2 * std::fabs(r.lse) + 2 * d2 * r.amax + r.visible);
          if (!(std::fabs(l - r.lse) <= limit)) {
            log.add(what + ": lse " + std::to_string(l) + " vs reference " + std::to_string(r.lse));
          }
        }
      }
    }
  }
  return worst;
}

inline std::uint64_t resolved_query_start(const Problem& p, const AttentionTensors& t) {
  return t.query_start == softkern::kQueriesAtEnd ? t.key_start + p.n - p.L : t.query_start;
}

}  // namespace softkern_test

#endif  // SOFTKERN_TESTS_ATTENTION_REFERENCE_HPP_
