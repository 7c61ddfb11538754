// softkern/element_types.hpp — the element types of softkern's rows and K/V
// caches.
//
// bfloat16 and float16 are 2-byte storage types: the kernels widen them to
// float on load and round back to nearest-even on store. Each is its own type
// so that a row of the wrong type (double*, uint16_t*, float16* for bf16) is a
// compile error rather than bits read as something they are not.
// float8_e4m3 and float8_e5m2 (1 byte, OCP FP8) and std::int8_t are the
// codes of quantized K/V caches (serving.hpp); softmax rows are float32,
// bfloat16 or float16 only.
//
//   std::vector<softkern::bfloat16> x(n), y(n);
//   for (std::size_t i = 0; i < n; ++i) x[i] = softkern::to_bfloat16(logits[i]);
//   softkern::softmax(x.data(), y.data(), n);
//   float p0 = softkern::to_float(y[0]);
//
// Data already held in another 16-bit type (__bf16, _Float16, hwy::bfloat16_t,
// a framework's BFloat16/Half, or uint16_t bit patterns) is passed through
// as_bfloat16 / as_float16, which say what the bits are:
//
//   const __bf16* k_cache = ...;
//   tensors.k = softkern::as_bfloat16(k_cache);
#ifndef SOFTKERN_ELEMENT_TYPES_HPP_
#define SOFTKERN_ELEMENT_TYPES_HPP_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "softkern/detail/float16.hpp"
#include "softkern/detail/float8.hpp"

namespace softkern {

// The element type of a row or of K/V: float32, bfloat16 or float16 (rows
// and K/V); int8 and the two fp8 formats (quantized K/V codes, each with
// float32 scales).
enum class ElementType : int {
  kFloat32 = 0,
  kBFloat16,
  kFloat16,
  kInt8,
  kFloat8E4M3,
  kFloat8E5M2,
};
inline constexpr int kElementTypeCount = 6;

// Bytes per element of `type`.
constexpr std::size_t element_bytes(ElementType type) {
  return type == ElementType::kFloat32 ? 4 : (type == ElementType::kBFloat16 || type == ElementType::kFloat16) ? 2 : 1;
}

// True for the quantized K/V code types (int8, fp8), whose values are code *
// scale.
constexpr bool is_quantized(ElementType type) {
  return type == ElementType::kInt8 || type == ElementType::kFloat8E4M3 || type == ElementType::kFloat8E5M2;
}

// bfloat16: the upper 16 bits of an IEEE float32 (sign, 8-bit exponent,
// 7-bit mantissa). `bits` is the bit pattern: bfloat16{0x3F80} is 1.0.
struct bfloat16 {
  std::uint16_t bits;
};

// IEEE 754 binary16 (sign, 5-bit exponent, 10-bit mantissa): float16{0x3C00}
// is 1.0.
struct float16 {
  std::uint16_t bits;
};

// OCP FP8 E4M3 (e4m3fn: bias 7, no infinities, S.1111.111 NaN, largest
// finite 448) and E5M2 (the upper byte of a binary16: bias 15, infinities
// and NaN, largest finite 57344). `bits` is the bit pattern.
struct float8_e4m3 {
  std::uint8_t bits;
};
struct float8_e5m2 {
  std::uint8_t bits;
};

static_assert(sizeof(float8_e4m3) == 1 && sizeof(float8_e5m2) == 1);
static_assert(sizeof(bfloat16) == 2 && std::is_standard_layout_v<bfloat16> &&
              std::is_trivially_copyable_v<bfloat16>);
static_assert(sizeof(float16) == 2 && std::is_standard_layout_v<float16> &&
              std::is_trivially_copyable_v<float16>);

// Exact widening to float.
inline float to_float(bfloat16 x) {
  const std::uint32_t wide = static_cast<std::uint32_t>(x.bits) << 16;
  float f;
  std::memcpy(&f, &wide, sizeof f);
  return f;
}
inline float to_float(float16 x) { return detail::HalfBitsToFloat(x.bits); }
inline float to_float(float8_e4m3 x) { return detail::Float8E4M3BitsToFloat(x.bits); }
inline float to_float(float8_e5m2 x) { return detail::Float8E5M2BitsToFloat(x.bits); }

// Narrowing from float, rounded to nearest-even, as the kernels store: NaN
// gives a quiet NaN, values beyond the largest finite float16 (65504) round
// to infinity.
inline bfloat16 to_bfloat16(float x) {
  std::uint32_t wide;
  std::memcpy(&wide, &x, sizeof wide);
  if ((wide & 0x7FFFFFFFu) > 0x7F800000u) return bfloat16{0x7FC0};  // the quiet NaN
  return bfloat16{static_cast<std::uint16_t>((wide + 0x7FFFu + ((wide >> 16) & 1u)) >> 16)};
}
inline float16 to_float16(float x) { return float16{detail::FloatToHalfBits(x)}; }
// Rounded to nearest-even; finite values beyond the largest finite code
// saturate to it (448, 57344), infinities too; NaN stays NaN.
inline float8_e4m3 to_float8_e4m3(float x) { return float8_e4m3{detail::FloatToFloat8E4M3Bits(x)}; }
inline float8_e5m2 to_float8_e5m2(float x) { return float8_e5m2{detail::FloatToFloat8E5M2Bits(x)}; }

namespace detail {
template <class Target, class T>
using As16 = std::conditional_t<std::is_const_v<T>, const Target*, Target*>;

template <class Target, class T>
constexpr bool kIs16BitStorage = sizeof(T) == 2 && std::is_trivially_copyable_v<T> &&
                                 !std::is_same_v<std::remove_cv_t<T>, bfloat16> &&
                                 !std::is_same_v<std::remove_cv_t<T>, float16>;
template <class T>
constexpr bool kIs8BitStorage = sizeof(T) == 1 && std::is_trivially_copyable_v<T> &&
                                !std::is_same_v<std::remove_cv_t<T>, float8_e4m3> &&
                                !std::is_same_v<std::remove_cv_t<T>, float8_e5m2>;
}  // namespace detail

// p's elements as bfloat16 / float16: for 2-byte storage whose bits already
// are that format (__bf16, _Float16, a framework's type, uint16_t bit
// patterns). The caller vouches for the format; types of another size, and
// softkern's other 16-bit type, do not compile.
template <class T>
detail::As16<bfloat16, T> as_bfloat16(T* p) {
  static_assert(detail::kIs16BitStorage<bfloat16, T>, "as_bfloat16: expects a pointer to 2-byte storage other than softkern's own types");
  return reinterpret_cast<detail::As16<bfloat16, T>>(p);
}
template <class T>
detail::As16<float16, T> as_float16(T* p) {
  static_assert(detail::kIs16BitStorage<float16, T>, "as_float16: expects a pointer to 2-byte storage other than softkern's own types");
  return reinterpret_cast<detail::As16<float16, T>>(p);
}

// p's bytes as fp8 codes: for 1-byte storage whose bits already are that
// format (uint8_t, a framework's Float8_e4m3fn / Float8_e5m2). The caller
// vouches for the format.
template <class T>
detail::As16<float8_e4m3, T> as_float8_e4m3(T* p) {
  static_assert(detail::kIs8BitStorage<T>, "as_float8_e4m3: expects a pointer to 1-byte storage other than softkern's own types");
  return reinterpret_cast<detail::As16<float8_e4m3, T>>(p);
}
template <class T>
detail::As16<float8_e5m2, T> as_float8_e5m2(T* p) {
  static_assert(detail::kIs8BitStorage<T>, "as_float8_e5m2: expects a pointer to 1-byte storage other than softkern's own types");
  return reinterpret_cast<detail::As16<float8_e5m2, T>>(p);
}

}  // namespace softkern

#endif  // SOFTKERN_ELEMENT_TYPES_HPP_
