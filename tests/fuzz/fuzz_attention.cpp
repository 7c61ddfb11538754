// libFuzzer target for attention() with the softmax score function.
//
// The bytes choose the target, the shape (queries 1..8: decode and prefill,
// keys 0..300, heads with grouped KV heads, head dims from 1 to 256), the K/V
// layout ([n, Hk, d] or [Hk, n, d]) and type (f32, bf16, f16 bit patterns),
// causal/window/mask/sink/temperature options, and every value. Keys a query
// cannot see get NaN in K and V now and then: they must not matter. Each run
// either is valid, and every output is checked against an independent
// double-precision reference (materialised scores) within docs/accuracy.md's
// softmax bound u(16 + 2(d+2)A + N)κ + 2^-126, with the lse too; or is
// invalid (head dim 0 or > 256, heads not a multiple of KV heads, a null
// tensor, a bad temperature) and must be rejected without writing o or lse.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <softkern/attention.hpp>
#include <softkern/softkern.hpp>

namespace {

using softkern::AttentionOptions;
using softkern::AttentionTensors;
using softkern::ElementType;

class Bytes {
 public:
  Bytes(const std::uint8_t* data, std::size_t size) : p_(data), end_(data + size) {}
  std::uint8_t u8() { return p_ < end_ ? *p_++ : 0; }
  float small() { return (static_cast<float>(u8()) - 127.5f) / 32.0f; }  // [-4, 4]

 private:
  const std::uint8_t* p_;
  const std::uint8_t* end_;
};

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "fuzz_attention: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

// IEEE binary16 -> float, exactly (every half is a float).
float HalfToFloat(std::uint16_t h) {
  const int sign = h >> 15, exponent = (h >> 10) & 31, mantissa = h & 1023;
  float v;
  if (exponent == 0) v = std::ldexp(static_cast<float>(mantissa), -24);
  else if (exponent == 31) v = mantissa ? std::numeric_limits<float>::quiet_NaN() : INFINITY;
  else v = std::ldexp(static_cast<float>(mantissa | 1024), exponent - 25);
  return sign ? -v : v;
}
std::uint16_t FloatToHalfTruncate(float f) {  // for building inputs; any half is fine
  if (std::isnan(f)) return 0x7e00;
  const std::uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  f = std::fabs(f);
  if (f >= 65504.0f) return sign | 0x7bff;
  if (f < 0x1p-14f) return sign | static_cast<std::uint16_t>(f * 0x1p24f);
  int e;
  const float m = std::frexp(f, &e);  // f = m 2^e, m in [0.5, 1)
  return sign | static_cast<std::uint16_t>(((e + 14) << 10) | (static_cast<int>(m * 2048.0f) & 1023));
}
float Bf16ToFloat(std::uint16_t b) {
  const std::uint32_t u = static_cast<std::uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
std::uint16_t FloatToBf16Truncate(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return static_cast<std::uint16_t>(u >> 16);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Bytes in(data, size);
  softkern::Isa isas[softkern::kIsaCount];
  const std::size_t isa_count = softkern::supported_isas(isas, softkern::kIsaCount);
  const softkern::Isa isa = isas[in.u8() % isa_count];
  if (!softkern::force_isa(isa).ok()) Fail("force_isa failed");

  const std::size_t dims[] = {1, 3, 8, 16, 33, 64, 128, 256, 0, 257};
  const std::uint8_t shape = in.u8();
  const std::size_t L = 1 + shape % 8;
  const std::size_t n = in.u8() + (in.u8() % 2) * 45;  // 0..300
  const std::size_t Hk = 1 + in.u8() % 2;
  const std::size_t group = 1 + in.u8() % 3;
  const std::uint8_t dim_byte = in.u8();
  // Rarely an invalid head dimension (0 or 257).
  const std::size_t d = dim_byte >= 250 ? dims[8 + (dim_byte & 1)] : dims[dim_byte % 8];
  const std::uint8_t flags = in.u8();
  const bool head_major = flags & 1, use_mask = flags & 2, use_sink = flags & 4, causal = flags & 8,
             windowed = flags & 16, bad_group = (flags & 0xE0) == 0xE0;
  const ElementType type = static_cast<ElementType>(in.u8() % 3);
  const float temperatures[] = {1.0f, 0.5f, 2.0f, 0.125f, 0.0f, -1.0f};
  const std::uint8_t t_byte = in.u8();
  const float temperature = temperatures[t_byte < 250 ? t_byte % 4 : 4 + t_byte % 2];
  const std::size_t H = bad_group ? Hk * group + 1 : Hk * group;
  const std::size_t window = windowed ? 1 + in.u8() % 64 : 0;

  // Positions: queries are the last L of the n keys when L <= n.
  const std::size_t key_start = 0;
  const std::size_t query_start = n >= L ? n - L : 0;
  auto visible_by_position = [&](std::size_t i, std::size_t j) {
    const std::size_t qp = query_start + i, kp = key_start + j;
    if (causal && kp > qp) return false;             // the future
    if (window > 0 && kp + window <= qp) return false;  // beyond the window
    return true;
  };

  std::vector<float> q(L * H * (d ? d : 1)), mask(use_mask ? L * n : 0), sinks(use_sink ? H : 0);
  for (float& v : q) v = in.small();
  for (float& v : mask) {
    const std::uint8_t b = in.u8();
    v = b < 64 ? -INFINITY : (b < 200 ? 0.0f : in.small());
  }
  for (float& v : sinks) v = in.small();
  const std::size_t dd = d ? d : 1;
  const std::size_t row_stride = head_major ? dd : Hk * dd, head_stride = head_major ? n * dd : dd;
  std::vector<float> kf(std::max<std::size_t>(1, n * Hk * dd)), vf(kf.size());
  std::vector<std::uint16_t> k16(kf.size()), v16(kf.size());
  for (std::size_t j = 0; j < n; ++j) {
    // Keys no query can see (by position or mask) may hold NaN: they must not matter.
    bool seen = false;
    for (std::size_t i = 0; i < L; ++i)
      seen |= visible_by_position(i, j) && (!use_mask || mask[i * n + j] != -INFINITY);
    const bool poison = !seen && (in.u8() & 1);
    for (std::size_t g = 0; g < Hk; ++g) {
      for (std::size_t c = 0; c < dd; ++c) {
        const std::size_t at = j * row_stride + g * head_stride + c;
        float kv = poison ? NAN : in.small(), vv = poison ? NAN : in.small();
        if (type == ElementType::kBFloat16) {
          k16[at] = FloatToBf16Truncate(kv), v16[at] = FloatToBf16Truncate(vv);
          kv = Bf16ToFloat(k16[at]), vv = Bf16ToFloat(v16[at]);
        } else if (type == ElementType::kFloat16) {
          k16[at] = FloatToHalfTruncate(kv), v16[at] = FloatToHalfTruncate(vv);
          kv = HalfToFloat(k16[at]), vv = HalfToFloat(v16[at]);
        }
        kf[at] = kv, vf[at] = vv;
      }
    }
  }

  const float sentinel = -12345.0f;
  std::vector<float> o(L * H * dd, sentinel), lse(L * H, sentinel);
  AttentionTensors t;
  t.queries = L, t.keys = n, t.heads = H, t.kv_heads = Hk, t.head_dim = d;
  t.q = q.data();
  if (type == ElementType::kFloat32) {
    t.k = kf.data();
    t.v = vf.data();
  } else if (type == ElementType::kBFloat16) {
    t.k = softkern::as_bfloat16(k16.data());
    t.v = softkern::as_bfloat16(v16.data());
  } else {
    t.k = softkern::as_float16(k16.data());
    t.v = softkern::as_float16(v16.data());
  }
  t.kv_row_stride = row_stride, t.kv_head_stride = head_stride;
  t.o = o.data();
  t.lse = lse.data();
  t.query_start = query_start, t.key_start = key_start;
  AttentionOptions opt;
  opt.temperature = temperature;
  opt.causal = causal;
  opt.window = window;
  opt.mask = use_mask ? mask.data() : nullptr;
  opt.sinks = use_sink ? sinks.data() : nullptr;
  const bool null_q = (in.u8() == 255);
  if (null_q) t.q = nullptr;

  const bool valid = d >= 1 && d <= 256 && H % Hk == 0 && temperature > 0 && !null_q;
  const softkern::Status s = softkern::attention(t, opt);
  const std::string what = std::string("isa=") + softkern::isa_name(isa) + " L=" + std::to_string(L) +
                           " n=" + std::to_string(n) + " H=" + std::to_string(H) + " Hk=" + std::to_string(Hk) +
                           " d=" + std::to_string(d) + " type=" + std::to_string(static_cast<int>(type)) +
                           (head_major ? " head-major" : " token-major") + (causal ? " causal" : "") +
                           " window=" + std::to_string(window) + (use_mask ? " mask" : "") +
                           (use_sink ? " sinks" : "") + " T=" + std::to_string(temperature);
  auto untouched = [&] {
    for (float v : o) if (v != sentinel) return false;
    for (float v : lse) if (v != sentinel) return false;
    return true;
  };
  softkern::reset_isa();
  if (!valid) {
    if (s.ok()) Fail("accepted an invalid call: " + what);
    if (!untouched()) Fail("a rejected call wrote its output: " + what + ": " + s.message());
    return 0;
  }
  if (!s.ok()) Fail("rejected a valid call: " + what + ": " + s.message());

  // The reference: materialised scores in double.
  const double u = 0x1p-24, scale = 1.0 / std::sqrt(static_cast<double>(d));
  for (std::size_t i = 0; i < L; ++i) {
    for (std::size_t h = 0; h < H; ++h) {
      const std::size_t g = h / (H / Hk);
      std::vector<double> z(n, -INFINITY);
      double zmax = use_sink ? sinks[h] / static_cast<double>(temperature) : -INFINITY, a = 0;
      std::size_t visible = 0;
      for (std::size_t j = 0; j < n; ++j) {
        if (!visible_by_position(i, j) || (use_mask && mask[i * n + j] == -INFINITY)) continue;
        double dot = 0, dot_abs = 0;
        for (std::size_t c = 0; c < d; ++c) {
          const double qc = q[(i * H + h) * d + c], kc = kf[j * row_stride + g * head_stride + c];
          dot += qc * kc;
          dot_abs += std::fabs(qc * kc);
        }
        z[j] = (scale * dot + (use_mask ? mask[i * n + j] : 0.0)) / temperature;
        a = std::max(a, scale * dot_abs / temperature);
        zmax = std::max(zmax, z[j]);
        ++visible;
      }
      double denominator = use_sink ? std::exp(sinks[h] / static_cast<double>(temperature) - zmax) : 0.0;
      for (std::size_t j = 0; j < n; ++j) if (z[j] != -INFINITY) denominator += std::exp(z[j] - zmax);
      for (std::size_t c = 0; c < d; ++c) {
        double r = 0, kappa = 0;
        for (std::size_t j = 0; j < n; ++j) {
          if (z[j] == -INFINITY) continue;
          const double w = std::exp(z[j] - zmax) / denominator;
          const double vc = vf[j * row_stride + g * head_stride + c];
          r += w * vc;
          kappa += std::fabs(w * vc);
        }
        if (visible == 0) r = 0, kappa = 0;
        const double got = o[(i * H + h) * d + c];
        const double limit = u * (16 + 2.0 * (d + 2) * a + static_cast<double>(visible)) * kappa + 0x1p-126;
        if (!(std::fabs(got - r) <= limit))
          Fail("o outside the bound: " + what + " query " + std::to_string(i) + " head " + std::to_string(h) +
               " c " + std::to_string(c) + ": got " + std::to_string(got) + " reference " + std::to_string(r) +
               " allowed " + std::to_string(limit));
      }
      const double lse_ref = (visible == 0 && !use_sink) ? -INFINITY : zmax + std::log(denominator);
      const double lse_got = lse[i * H + h];
      if (std::isinf(lse_ref)) {
        if (lse_got != -INFINITY) Fail("lse of a query that sees nothing is not -inf: " + what);
      } else if (!(std::fabs(lse_got - lse_ref) <=
                   u * (16 + 2 * std::fabs(lse_ref) + 2.0 * (d + 2) * a + static_cast<double>(visible)))) {
        Fail("lse outside the bound: " + what + ": got " + std::to_string(lse_got) + " reference " +
             std::to_string(lse_ref));
      }
    }
  }
  return 0;
}
