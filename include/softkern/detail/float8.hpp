// softkern/detail/float8.hpp — exact scalar conversions between float and
// the two OCP 8-bit floating-point formats (OCP FP8 v1.0):
//  - E4M3 (e4m3fn): sign, 4-bit exponent (bias 7), 3-bit mantissa; no
//    infinities, S.1111.111 is NaN, the largest finite is 448, subnormals
//    are multiples of 2^-9;
//  - E5M2: sign, 5-bit exponent (bias 15), 2-bit mantissa; the upper byte of
//    an IEEE binary16 (infinities and NaN as binary16's), largest finite
//    57344, subnormals multiples of 2^-16.
// Narrowing rounds to nearest-even and saturates finite values beyond the
// largest finite to it (what quantized caches want: an outlier becomes the
// largest code, not NaN or infinity); NaN stays NaN. Behind the public
// to_float / to_float8_e4m3 / to_float8_e5m2 (element_types.hpp) and the
// cache quantizers (serving.hpp).
#ifndef SOFTKERN_DETAIL_FLOAT8_HPP_
#define SOFTKERN_DETAIL_FLOAT8_HPP_

#include <cstdint>
#include <cstring>

#include "softkern/detail/float16.hpp"

namespace softkern {
namespace detail {

inline float Float8E4M3BitsToFloat(std::uint8_t b) {
  const std::uint32_t exponent = (b >> 3) & 0xFu, mantissa = b & 7u;
  float magnitude;
  if (exponent == 0xFu && mantissa == 7u) {
    magnitude = __builtin_nanf("");
  } else if (exponent == 0) {
    magnitude = static_cast<float>(mantissa) * 0x1p-9f;  // subnormal, exact
  } else {
    const std::uint32_t bits = ((exponent + 120u) << 23) | (mantissa << 20);
    std::memcpy(&magnitude, &bits, sizeof magnitude);
  }
  return (b & 0x80u) ? -magnitude : magnitude;
}

inline float Float8E5M2BitsToFloat(std::uint8_t b) {
  return HalfBitsToFloat(static_cast<std::uint16_t>(static_cast<std::uint16_t>(b) << 8));
}

// Rounds |x| (finite, not NaN) to `mantissa_bits` bits below the leading one
// for exponents from `min_exponent` up (subnormal below it, in steps of
// 2^(min_exponent - mantissa_bits)), nearest-even, and returns the code's
// magnitude bits: exponent field (biased by 1 - min_exponent) and mantissa.
inline std::uint32_t RoundToFloat8(float a, int mantissa_bits, int min_exponent) {
  std::uint32_t bits;
  std::memcpy(&bits, &a, sizeof bits);
  const int exponent = static_cast<int>(bits >> 23) - 127;  // a's exponent; denormal floats are far below
  if (exponent < min_exponent) {
    // Subnormal code: a / step rounded to an integer, nearest-even; a / step
    // is exact (a power-of-two scaling) and below 2^mantissa_bits + 1.
    const float scaled = a * __builtin_ldexpf(1.0f, mantissa_bits - min_exponent);
    std::uint32_t m = static_cast<std::uint32_t>(scaled);
    const float rest = scaled - static_cast<float>(m);
    if (rest > 0.5f || (rest == 0.5f && (m & 1u))) ++m;
    return m;  // m == 2^mantissa_bits is the smallest normal, correctly
  }
  // Normal: drop 23 - mantissa_bits bits, nearest-even (a carry into the
  // exponent is the right result), and rebias.
  const int drop = 23 - mantissa_bits;
  const std::uint32_t half = (1u << (drop - 1)) - 1u;
  const std::uint32_t rounded = (bits + half + ((bits >> drop) & 1u)) >> drop;
  const std::uint32_t rebias = static_cast<std::uint32_t>(127 - (1 - min_exponent)) << mantissa_bits;
  return rounded - rebias;
}

// Narrows x to an fp8 format: NaN to `nan_code`; magnitudes from
// `saturate_from` (halfway between the largest finite and the next
// power-of-two step) up, infinities included, to the largest finite code
// `max_code`; the rest rounded by RoundToFloat8.
inline std::uint8_t FloatToFloat8Bits(float x, int mantissa_bits, int min_exponent, float saturate_from,
                                      std::uint8_t max_code, std::uint8_t nan_code) {
  std::uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  const std::uint8_t sign = static_cast<std::uint8_t>((bits >> 24) & 0x80u);
  const std::uint32_t abs = bits & 0x7FFFFFFFu;
  if (abs > 0x7F800000u) return static_cast<std::uint8_t>(sign | nan_code);
  float a;
  std::memcpy(&a, &abs, sizeof a);
  if (!(a < saturate_from)) return static_cast<std::uint8_t>(sign | max_code);
  return static_cast<std::uint8_t>(sign | RoundToFloat8(a, mantissa_bits, min_exponent));
}

// E4M3: 464 is halfway from 448 to the NaN code's 480.
inline std::uint8_t FloatToFloat8E4M3Bits(float x) { return FloatToFloat8Bits(x, 3, -6, 464.0f, 0x7E, 0x7F); }
// E5M2: 61440 is halfway from 57344 to infinity's 65536.
inline std::uint8_t FloatToFloat8E5M2Bits(float x) { return FloatToFloat8Bits(x, 2, -14, 61440.0f, 0x7B, 0x7E); }

}  // namespace detail
}  // namespace softkern

#endif  // SOFTKERN_DETAIL_FLOAT8_HPP_
