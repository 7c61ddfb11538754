// 16-bit softmax (softkern::bfloat16, softkern::float16): every algorithm on every
// target against the long-double reference of the 16-bit inputs, with the
// bound for 16-bit outputs (docs/accuracy.md): the float32 bound plus two roundings to
// the output type (one for the stored result, one for the reload
// algorithm's stored intermediate) and the error e16 of the exponential the
// final pass uses for the type, u16 = 2^-8 (bf16) or 2^-11 (f16), e16 =
// 2^-9 or 2^-13 (support.hpp, bound::kExpErrorBf16 / kExpErrorF16):
//   softmax: |y - r| <= (2 u16 + e16 + u (8 + S(n) + 2|z|)) r + (smallest 16-bit step)
//   log:     |y - r| <= 2 u16 (|z| + |r|) + u (8 + S(n) + 2|z| + 2|r|)
// plus the conversions themselves: f16 <-> float exhaustively, bf16 and f16
// rounding to nearest-even, and the public to_float / to_bfloat16 /
// to_float16 against this file's own bf16 reference.
#include "softkern/detail/cpu.hpp"
#include "softkern/detail/float16.hpp"
#include "support.hpp"

namespace softkern_test {
namespace {

using softkern::ElementType;

float bf16_to_float(std::uint16_t b) { return bits_float(static_cast<std::uint32_t>(b) << 16); }
std::uint16_t float_to_bf16(float f) {  // round to nearest-even, NaN kept
  if (std::isnan(f)) return 0x7FC0;
  const std::uint32_t u = float_bits(f);
  return static_cast<std::uint16_t>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

float to_float(std::uint16_t b, ElementType t) {
  return t == ElementType::kBFloat16 ? bf16_to_float(b) : softkern::detail::HalfBitsToFloat(b);
}
std::uint16_t from_float(float f, ElementType t) {
  return t == ElementType::kBFloat16 ? float_to_bf16(f) : softkern::detail::FloatToHalfBits(f);
}

// softmax and softmax_rows over uint16_t bit patterns of `type`, through the
// public reinterpret path (as_bfloat16 / as_float16).
Status softmax16(const std::uint16_t* x, std::uint16_t* y, std::size_t n, ElementType t, const SoftmaxOptions& o) {
  if (t == ElementType::kBFloat16) return softkern::softmax(softkern::as_bfloat16(x), softkern::as_bfloat16(y), n, o);
  return softkern::softmax(softkern::as_float16(x), softkern::as_float16(y), n, o);
}
Status softmax_rows16(const std::uint16_t* x, std::size_t x_stride, std::uint16_t* y, std::size_t y_stride,
                      std::size_t rows, std::size_t cols, ElementType t, const SoftmaxOptions& o) {
  if (t == ElementType::kBFloat16) {
    return softkern::softmax_rows(softkern::as_bfloat16(x), x_stride, softkern::as_bfloat16(y), y_stride, rows, cols, o);
  }
  return softkern::softmax_rows(softkern::as_float16(x), x_stride, softkern::as_float16(y), y_stride, rows, cols, o);
}

TEST(Float16, PublicConversionsMatchTheReference) {
  for (std::uint32_t b = 0; b <= 0xFFFF; ++b) {
    const auto bits = static_cast<std::uint16_t>(b);
    const float f = bf16_to_float(bits);
    ASSERT_EQ(float_bits(softkern::to_float(softkern::bfloat16{bits})), float_bits(f)) << b;
    ASSERT_EQ(float_bits(softkern::to_float(softkern::float16{bits})),
              float_bits(softkern::detail::HalfBitsToFloat(bits))) << b;
  }
  // Every 4099th float bit pattern (all exponents, odd and even mantissas, NaNs).
  for (std::uint64_t u = 0; u <= 0xFFFFFFFFu; u += 4099) {
    const float f = bits_float(static_cast<std::uint32_t>(u));
    ASSERT_EQ(softkern::to_bfloat16(f).bits, float_to_bf16(f)) << hexfloat(f);
    ASSERT_EQ(softkern::to_float16(f).bits, softkern::detail::FloatToHalfBits(f)) << hexfloat(f);
  }
}

TEST(Float16, HalfToFloatToHalfIsExactForEveryHalf) {
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    const float f = softkern::detail::HalfBitsToFloat(static_cast<std::uint16_t>(h));
    const std::uint16_t back = softkern::detail::FloatToHalfBits(f);
    if (std::isnan(f)) {
      EXPECT_EQ(back & 0x7C00u, 0x7C00u);
      EXPECT_NE(back & 0x3FFu, 0u);
    } else {
      ASSERT_EQ(back, h) << "half 0x" << std::hex << h;
    }
  }
}

// Rounding to half: the result is the nearest half (ties to even), checked
// against the neighbours of every half on a dense sample of floats.
TEST(Float16, FloatToHalfRoundsToNearestEven) {
  std::mt19937 rng(5);
  for (int k = 0; k < 2000000; ++k) {
    const float f = bits_float(static_cast<std::uint32_t>(rng()) & 0x47FFFFFFu) * ((k & 1) ? 1.0f : -1.0f);
    if (std::isnan(f)) continue;
    const std::uint16_t h = softkern::detail::FloatToHalfBits(f);
    const double got = softkern::detail::HalfBitsToFloat(h);
    if (std::fabs(f) >= 65520.0) {
      ASSERT_TRUE(std::isinf(got)) << f;
      continue;
    }
    // No half is closer than the one returned.
    for (int step : {-1, 1}) {
      const std::uint16_t other = static_cast<std::uint16_t>(h + step);
      const double o = softkern::detail::HalfBitsToFloat(other);
      if (std::isnan(o) || std::isinf(o) || ((other ^ h) & 0x8000u)) continue;
      const double dg = std::fabs(got - f), doo = std::fabs(o - f);
      ASSERT_TRUE(dg < doo || (dg == doo && (h & 1u) == 0)) << f << " -> " << got << " but " << o;
    }
  }
}

struct TypeCase {
  ElementType type;
  const char* name;
  double u16;            // unit roundoff of the type
  long double min_step;  // smallest positive value of the type
  double exp_error;      // relative error of the final pass's exponential for the type
};
const TypeCase kTypes[] = {{ElementType::kBFloat16, "bf16", 0x1p-8, 0x1p-133L, bound::kExpErrorBf16},
                           {ElementType::kFloat16, "f16", 0x1p-11, 0x1p-24L, bound::kExpErrorF16}};

class SixteenBitSoftmax : public IsaAlgorithmTest {};

TEST_P(SixteenBitSoftmax, WithinTheBoundForEveryLengthLayoutAndOption) {
  FailureLog log;
  const double u = bound::kUnitRoundoff;
  std::vector<std::size_t> lengths;
  for (std::size_t n = 0; n <= 300; n += (n < 70 ? 1 : 13)) lengths.push_back(n);
  for (std::size_t n : {1000, 4099, 70001}) lengths.push_back(n);
  const NamedOptions variants[] = {option_variants()[0], option_variants()[3], option_variants()[7]};
  const Distribution distributions[] = {Distribution::kLogits, Distribution::kTiesAtMax,
                                        Distribution::kMaskedNegInf};
  double worst = 0;
  for (const TypeCase& tc : kTypes) {
    for (std::size_t n : lengths) {
      for (std::size_t k = 0; k < std::size(distributions); ++k) {
        const Distribution dist = distributions[k];
        std::vector<std::uint16_t> x16(n);
        const std::vector<float> raw = make_row(dist, n, 70);
        std::vector<float> x(n);
        for (std::size_t i = 0; i < n; ++i) {
          x16[i] = from_float(raw[i], tc.type);
          x[i] = to_float(x16[i], tc.type);
        }
        for (std::size_t v = 0; v < std::size(variants); ++v) {
          // The longest row (most of this test's time) in the boundary sweep
          // (support.hpp): each distribution with one of the variants, in
          // turn; every variant is checked with every distribution at 4099.
          if (!full_sweep() && n > 4099 && v != k % std::size(variants)) continue;
          const NamedOptions& variant = variants[v];
          const SoftmaxOptions o = with_algorithm(variant.options);
          const Reference ref = reference_softmax(x.data(), n, o);
          for (bool in_place : {false, true}) {
            // Guards of 8 elements on both sides, offset by n % 5 elements.
            const std::size_t off = 8 + n % 5;
            std::vector<std::uint16_t> buf(n + 2 * off + 8, 0xBAD1), out(n + 2 * off + 8, 0xBAD2);
            std::copy(x16.begin(), x16.end(), buf.begin() + static_cast<std::ptrdiff_t>(off));
            std::uint16_t* xp = buf.data() + off;
            std::uint16_t* yp = in_place ? xp : out.data() + off;
            const std::string what = label() + " " + tc.name + " " + distribution_name(dist) + " n=" +
                                     std::to_string(n) + " " + variant.name + (in_place ? " in place" : "");
            const Status s = softmax16(xp, yp, n, tc.type, o);
            if (!s.ok()) {
              log.add(what + ": rejected: " + s.message());
              continue;
            }
            const std::vector<std::uint16_t>& yb = in_place ? buf : out;
            for (std::size_t i = 0; i < off; ++i)
              if (yb[i] != (in_place ? 0xBAD1 : 0xBAD2) || yb[off + n + i] != (in_place ? 0xBAD1 : 0xBAD2)) {
                log.add(what + ": wrote outside the row");
                break;
              }
            long double sum = 0, ref_sum = 0;
            for (std::size_t i = 0; i < n; ++i) {
              const long double y = to_float(yp[i], tc.type), r = ref.r[i], z = std::fabs(ref.z[i]);
              if (ref.exact[i]) {
                if (!(std::isnan(r) ? std::isnan(y) : y == static_cast<float>(r)))
                  log.add(what + ": special value at " + std::to_string(i));
                continue;
              }
              long double limit;
              if (!o.log) {
                limit = (2 * tc.u16 + tc.exp_error + u * (bound::element_c(n) + 2 * z)) * r + tc.min_step;
                sum += y;
                ref_sum += r;
              } else {
                if (r < -65504 && tc.type == ElementType::kFloat16 && std::isinf(y)) continue;
                limit = 2 * tc.u16 * (z + std::fabs(r)) + u * (bound::element_c(n) + 2 * z + 2 * std::fabs(r));
              }
              const long double err = std::fabs(y - r);
              if (!(err <= limit)) {
                log.add(what + ": element " + std::to_string(i) + " y=" + hexfloat(static_cast<float>(y)) +
                        " reference=" + hexfloat(r) + " allowed " + std::to_string(static_cast<double>(limit)));
                break;
              }
              if (!o.log && r > 0) worst = std::max(worst, static_cast<double>((err - tc.min_step) / (tc.u16 * r)));
            }
            // Row sum: each output carries its own rounding to the type.
            if (!o.log && n > 0 && !ref.nan_row && !(std::fabs(sum - ref_sum) <= 2 * tc.u16 + tc.exp_error + u * bound::row_sum_c(n)))
              log.add(what + ": row sum " + std::to_string(static_cast<double>(sum)));
          }
        }
      }
    }
  }
  std::printf("[ accuracy ] %s 16-bit: max element error %.3f u16 (bound 2 u16 + e16 + float terms)\n", label().c_str(), worst);
}

// Rows of 16-bit elements through softmax_rows, strided, and the special
// values (NaN, +-inf, all -inf) in both types.
TEST_P(SixteenBitSoftmax, RowsAndSpecialValues) {
  for (const TypeCase& tc : kTypes) {
    const std::size_t rows = 5, cols = 37, stride = 41;
    std::vector<std::uint16_t> x(rows * stride, 0), y(rows * stride, 0xBAD3);
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < cols; ++c) x[r * stride + c] = from_float(std::sin(float(r * cols + c)), tc.type);
    x[1 * stride + 3] = from_float(NAN, tc.type);
    x[2 * stride + 4] = from_float(INFINITY, tc.type);
    x[2 * stride + 9] = from_float(INFINITY, tc.type);
    for (std::size_t c = 0; c < cols; ++c) x[3 * stride + c] = from_float(-INFINITY, tc.type);
    SoftmaxOptions o = with_algorithm(SoftmaxOptions());
    ASSERT_TRUE(softmax_rows16(x.data(), stride, y.data(), stride, rows, cols, tc.type, o).ok());
    for (std::size_t c = 0; c < cols; ++c) {
      EXPECT_TRUE(std::isnan(to_float(y[stride + c], tc.type))) << tc.name;
      EXPECT_EQ(to_float(y[2 * stride + c], tc.type), (c == 4 || c == 9) ? 0.5f : 0.0f) << tc.name;
      EXPECT_EQ(to_float(y[3 * stride + c], tc.type), 0.0f) << tc.name;
    }
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = cols; c < stride && r + 1 < rows; ++c) EXPECT_EQ(y[r * stride + c], 0xBAD3) << "gap written";
    // Row 0 and row 4 sum to 1 within the type's rounding.
    for (std::size_t r : {std::size_t{0}, std::size_t{4}}) {
      double sum = 0;
      for (std::size_t c = 0; c < cols; ++c) sum += to_float(y[r * stride + c], tc.type);
      EXPECT_NEAR(sum, 1.0, 2 * tc.u16 + 1e-6) << tc.name << " row " << r;
    }
  }
}

// On CPUs with AVX-512 BF16 the AVX-512 target rounds bf16 outputs with
// vcvtneps2bf16, and vectors holding a denormal output with the integer
// rounding every other target uses. The two give the same bits (a NaN only
// stays a NaN): rows whose outputs fall through the denormal range, zeros,
// special rows, every length around the vector and loop boundaries, in place
// and not, softmax and log-softmax.
TEST_P(SixteenBitSoftmax, Bf16InstructionRoundsAsTheIntegerPath) {
  if (isa() != Isa::kAvx512 || !softkern::detail::CpuHasAvx512Bf16()) {
    GTEST_SKIP() << "the bf16 instruction path runs on the AVX-512 target of CPUs with AVX-512 BF16";
  }
  FailureLog log;
  std::vector<std::size_t> lengths;
  for (std::size_t n = 1; n <= 140; ++n) lengths.push_back(n);
  for (std::size_t n : {191, 192, 193, 255, 256, 257, 1000, 4099}) lengths.push_back(n);
  for (std::size_t n : lengths) {
    // A slope through the denormal outputs (e^-87.3 = 2^-126 down to below
    // bf16's smallest step, 2^-133), the test's distributions, special rows.
    std::vector<std::vector<float>> rows;
    std::vector<float> slope(n);
    for (std::size_t i = 0; i < n; ++i) slope[i] = -static_cast<float>(i) * (100.0f / static_cast<float>(n));
    rows.push_back(slope);
    for (Distribution dist : {Distribution::kWide, Distribution::kLogits, Distribution::kMaskedNegInf})
      rows.push_back(make_row(dist, n, 90));
    std::vector<float> special = rows[1];
    special[n / 2] = NAN;
    rows.push_back(special);
    for (const std::vector<float>& raw : rows) {
      std::vector<std::uint16_t> x(n);
      for (std::size_t i = 0; i < n; ++i) x[i] = float_to_bf16(raw[i]);
      for (bool log_softmax : {false, true}) {
        SoftmaxOptions o = with_algorithm(SoftmaxOptions());
        o.log = log_softmax;
        for (bool in_place : {false, true}) {
          std::vector<std::uint16_t> y[2];
          for (int use_instruction = 0; use_instruction < 2; ++use_instruction) {
            softkern::detail::g_use_avx512_bf16 = use_instruction == 1;
            y[use_instruction] = in_place ? x : std::vector<std::uint16_t>(n, 0xBAD4);
            const std::uint16_t* src = in_place ? y[use_instruction].data() : x.data();
            EXPECT_TRUE(softmax16(src, y[use_instruction].data(), n, ElementType::kBFloat16, o).ok());
          }
          softkern::detail::g_use_avx512_bf16 = true;
          for (std::size_t i = 0; i < n; ++i) {
            const float a = bf16_to_float(y[0][i]), b = bf16_to_float(y[1][i]);
            if (std::isnan(a) ? !std::isnan(b) : y[0][i] != y[1][i]) {
              log.add(label() + " n=" + std::to_string(n) + (log_softmax ? " log" : "") +
                      (in_place ? " in place" : "") + ": element " + std::to_string(i) + " integer " +
                      hexfloat(a) + ", instruction " + hexfloat(b));
              break;
            }
          }
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllIsas, SixteenBitSoftmax, testing::ValuesIn(supported_isa_algorithm_pairs()),
                         pair_test_name);

}  // namespace
}  // namespace softkern_test
