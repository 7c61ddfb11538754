// softkern/detail/float16.hpp — exact scalar conversions between float and
// IEEE binary16, rounding to nearest-even, with infinities, NaN and
// subnormals. Behind the public to_float / to_float16 (element_types.hpp),
// used by the scalar target (the vector targets convert in hardware) and by
// the tests.
#ifndef SOFTKERN_DETAIL_FLOAT16_HPP_
#define SOFTKERN_DETAIL_FLOAT16_HPP_

#include <cstdint>
#include <cstring>

namespace softkern {
namespace detail {

inline float HalfBitsToFloat(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h >> 15) << 31;
  const std::uint32_t exponent = (h >> 10) & 0x1Fu, mantissa = h & 0x3FFu;
  std::uint32_t bits;
  if (exponent == 0x1Fu) {
    bits = sign | 0x7F800000u | (mantissa << 13);  // inf, NaN (payload kept)
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112u) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;
  } else {
    // Subnormal half: mantissa * 2^-24, exact in float.
    float f = static_cast<float>(mantissa) * 0x1p-24f;
    std::memcpy(&bits, &f, sizeof bits);
    bits |= sign;
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

inline std::uint16_t FloatToHalfBits(float f) {
  std::uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  const std::uint16_t sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
  const std::uint32_t abs = bits & 0x7FFFFFFFu;
  if (abs > 0x7F800000u) return static_cast<std::uint16_t>(sign | 0x7E00u);  // NaN
  if (abs >= 0x477FF000u) return static_cast<std::uint16_t>(sign | 0x7C00u);  // rounds to inf
  if (abs < 0x38800000u) {
    // Subnormal (or zero) half: round abs * 2^24 to an integer, nearest-even.
    float a;
    std::memcpy(&a, &abs, sizeof a);
    const float scaled = a * 0x1p24f;  // exact: a < 2^-14
    std::uint32_t m = static_cast<std::uint32_t>(scaled);
    const float rest = scaled - static_cast<float>(m);
    if (rest > 0.5f || (rest == 0.5f && (m & 1u))) ++m;
    return static_cast<std::uint16_t>(sign | m);  // m == 0x400 is the smallest normal, correctly
  }
  // Normal: drop 13 mantissa bits with round-to-nearest-even.
  const std::uint32_t rounded = abs + 0xFFFu + ((abs >> 13) & 1u);
  return static_cast<std::uint16_t>(sign | ((rounded - 0x38000000u) >> 13));
}

}  // namespace detail
}  // namespace softkern

#endif  // SOFTKERN_DETAIL_FLOAT16_HPP_
