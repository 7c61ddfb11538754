// softkern/detail/known_enum.hpp — the one check of an enum argument. Every
// public enum numbers its enumerators 0, 1, ... and declares its count beside
// it (kAlgorithmCount, kScoreFunctionCount, ...); a value cast from any other
// integer is rejected with a Status before anything is written.
#ifndef SOFTKERN_DETAIL_KNOWN_ENUM_HPP_
#define SOFTKERN_DETAIL_KNOWN_ENUM_HPP_

#include <type_traits>

namespace softkern {
namespace detail {

template <class Enum>
constexpr bool IsKnown(Enum value, int count) {
  static_assert(std::is_enum_v<Enum>, "IsKnown checks enum values");
  const auto v = static_cast<std::underlying_type_t<Enum>>(value);
  return v >= 0 && v < count;
}

}  // namespace detail
}  // namespace softkern

#endif  // SOFTKERN_DETAIL_KNOWN_ENUM_HPP_
