// softkern/detail/extents.hpp — the memory a strided tensor spans, and the
// checks between tensors that every entry point runs before writing: extents
// that fit in PTRDIFF_MAX bytes, outputs that overlap no input and no other
// output, output strides that give every element its own address.
#ifndef SOFTKERN_DETAIL_EXTENTS_HPP_
#define SOFTKERN_DETAIL_EXTENTS_HPP_

#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>

namespace softkern {
namespace detail {

// A strided tensor: `rank` outer dimensions (size, stride) around a
// contiguous inner run of `inner` elements of `element_size` bytes.
struct Extent {
  std::uintptr_t begin = 0, end = 0;  // bytes [begin, end); empty if begin == end
};

// Computes the byte extent; false if it overflows PTRDIFF_MAX bytes.
inline bool TensorExtent(const void* base, const std::size_t* sizes, const std::size_t* strides, int rank,
                         std::size_t inner, std::size_t element_size, Extent* out) {
  std::size_t last = inner - 1;  // offset of the last element, in elements
  for (int i = 0; i < rank; ++i) {
    if (sizes[i] == 0) {
      *out = Extent{};
      return true;
    }
    std::size_t step;
    if (__builtin_mul_overflow(sizes[i] - 1, strides[i], &step) || __builtin_add_overflow(last, step, &last)) {
      return false;
    }
  }
  std::size_t bytes;
  if (__builtin_add_overflow(last, std::size_t{1}, &bytes) || __builtin_mul_overflow(bytes, element_size, &bytes) ||
      bytes > static_cast<std::size_t>(PTRDIFF_MAX)) {
    return false;
  }
  const auto b = reinterpret_cast<std::uintptr_t>(base);
  if (b > std::numeric_limits<std::uintptr_t>::max() - bytes) return false;
  *out = Extent{b, b + bytes};
  return true;
}

inline bool Overlaps(const Extent& a, const Extent& b) {
  return a.begin != a.end && b.begin != b.end && a.begin < b.end && b.begin < a.end;
}

// True if no two elements of the strided tensor share an address: with the
// outer dimensions of size > 1 sorted by stride, each stride is at least the
// extent of everything nested inside it.
inline bool DistinctElements(const std::size_t* sizes, const std::size_t* strides, int rank, std::size_t inner) {
  std::size_t s[4], t[4];
  int k = 0;
  for (int i = 0; i < rank; ++i) {
    if (sizes[i] > 1) {
      s[k] = sizes[i];
      t[k] = strides[i];
      ++k;
    }
  }
  for (int i = 1; i < k; ++i) {  // insertion sort by stride
    for (int j = i; j > 0 && t[j] < t[j - 1]; --j) {
      std::swap(t[j], t[j - 1]);
      std::swap(s[j], s[j - 1]);
    }
  }
  std::size_t extent = inner;
  for (int i = 0; i < k; ++i) {
    if (t[i] < extent) return false;
    extent = t[i] * (s[i] - 1) + extent;  // no overflow: TensorExtent checked it
  }
  return true;
}

}  // namespace detail
}  // namespace softkern

#endif  // SOFTKERN_DETAIL_EXTENTS_HPP_
