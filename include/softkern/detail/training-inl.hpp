// softkern/detail/training-inl.hpp — the target's TrainingKernels
// (training_params.hpp): the entry points of softmax_backward-inl.hpp,
// cross_entropy-inl.hpp and stablemax-inl.hpp, each picking the
// instantiation for the row's element type (and the logits' normaliser and
// options), 16-bit logits through float blocks where that saves code.
//
// Re-included once per target (Highway's toggle guard below).

#if defined(SOFTKERN_DETAIL_TRAINING_INL_HPP_) == defined(HWY_TARGET_TOGGLE)
#ifdef SOFTKERN_DETAIL_TRAINING_INL_HPP_
#undef SOFTKERN_DETAIL_TRAINING_INL_HPP_
#else
#define SOFTKERN_DETAIL_TRAINING_INL_HPP_
#endif

#include <cstddef>
#include <type_traits>

#include <hwy/highway.h>

#include "softkern/detail/cross_entropy-inl.hpp"
#include "softkern/detail/softmax_backward-inl.hpp"
#include "softkern/detail/stablemax-inl.hpp"
#include "softkern/detail/training_params.hpp"

HWY_BEFORE_NAMESPACE();
namespace softkern {
namespace detail {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Calls f with the row pointers cast to the Highway element type of `type`.
template <class F>
HWY_INLINE void WithElementType(ElementType type, const F& f) {
  switch (type) {
    case ElementType::kBFloat16: return f(hwy::bfloat16_t());
    case ElementType::kFloat16: return f(hwy::float16_t());
    default: break;  // float32 (the training API takes no quantized rows)
  }
  f(float());
}

void BackwardStatsEntry(const void* y, const void* dy, std::size_t n, const BackwardParams& params,
                        BackwardStats* out) {
  WithElementType(params.element, [&](auto element) HWY_ATTR {
    using T = decltype(element);
    BackwardStatsOf(static_cast<const T*>(y), static_cast<const T*>(dy), n, params, out);
  });
}

void BackwardMapEntry(const void* y, const void* dy, void* dx, std::size_t n, const BackwardParams& params,
                      double dot) {
  WithElementType(params.element, [&](auto element) HWY_ATTR {
    using T = decltype(element);
    BackwardMapOf(static_cast<const T*>(y), static_cast<const T*>(dy), static_cast<T*>(dx), n, params, dot);
  });
}

// 16-bit logits: only the plain softmax passes (no soft-cap, no label
// smoothing) are compiled for bf16 and f16. The other variants and StableMax
// widen each block of kFloatBlock elements into a stack buffer (64 KiB, in
// L2) and run their float instantiation on it, narrowing the outputs back:
// the same arithmetic (the elements are exact in float), at the cost of an
// L1 copy, for a third of the compiled code.
constexpr std::size_t kFloatBlock = 16384;

inline bool UsesFloatBlocks(const LogitParams& p) {
  return p.normaliser == Normaliser::kStableMax || p.softcap != 0.0f || p.smoothing;
}

template <class T>
HWY_INLINE void WidenBlock(DF d, const T* x, float* out, std::size_t n) {
  const std::size_t N = hn::Lanes(d);
  std::size_t i = 0;
  for (; i + N <= n; i += N) hn::Store(LoadElements(d, x + i), d, out + i);
  if (i < n) hn::Store(LoadTail(d, x + i, n - i, -kInf), d, out + i);  // the buffer has a vector to spare
}

template <class T>
HWY_INLINE void NarrowBlock(DF d, const float* in, T* out, std::size_t n) {
  const std::size_t N = hn::Lanes(d);
  std::size_t i = 0;
  for (; i + N <= n; i += N) StoreElements(d, hn::Load(d, in + i), out + i);
  if (i < n) StoreTail(d, hn::Load(d, in + i), out + i, n - i);
}

// Calls block(widened, begin, count) for the blocks of x[0, n), widened into
// the buffer; `narrow_to` (when not null) receives each block back.
template <class T, class F>
HWY_INLINE void ForFloatBlocks(DF d, const T* x, T* narrow_to, std::size_t n, const F& block) {
  HWY_ALIGN float buffer[kFloatBlock + hn::MaxLanes(DF())];
  for (std::size_t begin = 0; begin < n; begin += kFloatBlock) {
    const std::size_t count = HWY_MIN(kFloatBlock, n - begin);
    WidenBlock(d, x + begin, buffer, count);
    block(static_cast<float*>(buffer), begin, count);
    if (narrow_to != nullptr) NarrowBlock(d, buffer, narrow_to + begin, count);
  }
}

template <class T>
HWY_INLINE LogitStats LogitStatsOf(DF d, const T* x, const float* weights, std::size_t n, const LogitParams& params) {
  if constexpr (std::is_same_v<T, float>) {
    return params.normaliser == Normaliser::kStableMax ? StableMaxStats(d, x, weights, n, params)
                                                       : SoftmaxLogitStats(d, x, weights, n, params);
  } else {
    if (!UsesFloatBlocks(params)) return LogitStatsWith<T, false, false>(d, x, weights, n, params);
    LogitStats total;
    ForFloatBlocks(d, x, static_cast<T*>(nullptr), n, [&](float* block, std::size_t begin, std::size_t count) HWY_ATTR {
      const LogitStats s = LogitStatsOf(d, static_cast<const float*>(block),
                                        weights != nullptr ? weights + begin : nullptr, count, params);
      if (begin == 0) {
        total = s;
      } else {
        MergeLogitStats(&total, s, params.normaliser, params.exp.inv_temperature_f64);
      }
    });
    return total;
  }
}

template <class T>
HWY_INLINE void LogitGradientOf(DF d, const T* x, const float* weights, T* dx, std::size_t n,
                                const LogitParams& params, const LogitGradient& row) {
  if constexpr (std::is_same_v<T, float>) {
    if (params.normaliser == Normaliser::kStableMax) return StableMaxGradient(d, x, weights, dx, n, params, row);
    return SoftmaxGradient(d, x, weights, dx, n, params, row);
  } else {
    if (!UsesFloatBlocks(params)) return SoftmaxGradientWith<false, false, false>(d, x, weights, dx, n, params, row);
    ForFloatBlocks(d, x, dx, n, [&](float* block, std::size_t begin, std::size_t count) HWY_ATTR {
      LogitGradientOf(d, static_cast<const float*>(block), weights != nullptr ? weights + begin : nullptr, block,
                      count, params, row);
    });
  }
}

HWY_NOINLINE void LogitStatsEntry(const void* x, const float* weights, std::size_t n, const LogitParams& params,
                                  LogitStats* out) {
  *out = LogitStats();
  if (n == 0) return;
  WithElementType(params.element, [&](auto element) HWY_ATTR {
    using T = decltype(element);
    *out = LogitStatsOf(DF(), static_cast<const T*>(x), weights, n, params);
  });
}

HWY_NOINLINE void LogitGradientEntry(const void* x, const float* weights, void* dx, std::size_t n,
                                     const LogitParams& params, const LogitGradient& row) {
  if (n == 0) return;
  WithElementType(params.element, [&](auto element) HWY_ATTR {
    using T = decltype(element);
    LogitGradientOf(DF(), static_cast<const T*>(x), weights, static_cast<T*>(dx), n, params, row);
  });
}

HWY_NOINLINE void StableMaxMapEntry(const void* x, void* y, std::size_t n, const LogitParams& params, double sum) {
  if (n == 0) return;
  const DF d;
  WithElementType(params.element, [&](auto element) HWY_ATTR {
    using T = decltype(element);
    if constexpr (std::is_same_v<T, float>) {
      StableMaxMap(d, static_cast<const float*>(x), static_cast<float*>(y), n, params, sum);
    } else {
      ForFloatBlocks(d, static_cast<const T*>(x), static_cast<T*>(y), n,
                     [&](float* block, std::size_t, std::size_t count) HWY_ATTR {
                       StableMaxMap(d, static_cast<const float*>(block), block, count, params, sum);
                     });
    }
  });
}

inline constexpr TrainingKernels kTrainingKernels = {&BackwardStatsEntry, &BackwardMapEntry, &LogitStatsEntry,
                                                     &LogitGradientEntry, &StableMaxMapEntry};

}  // namespace HWY_NAMESPACE
}  // namespace detail
}  // namespace softkern
HWY_AFTER_NAMESPACE();

#endif  // toggle guard
