// softkern/detail/training-inl.hpp — the target's TrainingKernels
// (training_params.hpp): the entry points of softmax_backward-inl.hpp,
// cross_entropy-inl.hpp and stablemax-inl.hpp, each picking the
// instantiation for the row's element type (and the logits' normaliser).
//
// Re-included once per target (Highway's toggle guard below).

#if defined(SOFTKERN_DETAIL_TRAINING_INL_HPP_) == defined(HWY_TARGET_TOGGLE)
#ifdef SOFTKERN_DETAIL_TRAINING_INL_HPP_
#undef SOFTKERN_DETAIL_TRAINING_INL_HPP_
#else
#define SOFTKERN_DETAIL_TRAINING_INL_HPP_
#endif

#include <cstddef>

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
    case ElementType::kFloat32: break;
  }
  f(float());
}

void BackwardStatsEntry(const void* y, const void* dy, std::size_t n, const BackwardParams& params,
                        BackwardStats* out) {
  WithElementType(params.element, [&](auto element) {
    using T = decltype(element);
    BackwardStatsOf(static_cast<const T*>(y), static_cast<const T*>(dy), n, params, out);
  });
}

void BackwardMapEntry(const void* y, const void* dy, void* dx, std::size_t n, const BackwardParams& params,
                      double dot) {
  WithElementType(params.element, [&](auto element) {
    using T = decltype(element);
    BackwardMapOf(static_cast<const T*>(y), static_cast<const T*>(dy), static_cast<T*>(dx), n, params, dot);
  });
}

HWY_NOINLINE void LogitStatsEntry(const void* x, const float* weights, std::size_t n, const LogitParams& params,
                                  LogitStats* out) {
  *out = LogitStats();
  if (n == 0) return;
  WithElementType(params.element, [&](auto element) {
    using T = decltype(element);
    const DF d;
    const T* row = static_cast<const T*>(x);
    *out = params.normaliser == Normaliser::kStableMax ? StableMaxStats(d, row, weights, n, params)
                                                       : SoftmaxLogitStats(d, row, weights, n, params);
  });
}

HWY_NOINLINE void LogitGradientEntry(const void* x, const float* weights, void* dx, std::size_t n,
                                     const LogitParams& params, const LogitGradient& row) {
  if (n == 0) return;
  WithElementType(params.element, [&](auto element) {
    using T = decltype(element);
    const DF d;
    if (params.normaliser == Normaliser::kStableMax) {
      StableMaxGradient(d, static_cast<const T*>(x), weights, static_cast<T*>(dx), n, params, row);
    } else {
      SoftmaxGradient(d, static_cast<const T*>(x), weights, static_cast<T*>(dx), n, params, row);
    }
  });
}

HWY_NOINLINE void StableMaxMapEntry(const void* x, void* y, std::size_t n, const LogitParams& params, double sum) {
  if (n == 0) return;
  WithElementType(params.element, [&](auto element) {
    using T = decltype(element);
    StableMaxMap(DF(), static_cast<const T*>(x), static_cast<T*>(y), n, params, sum);
  });
}

inline constexpr TrainingKernels kTrainingKernels = {&BackwardStatsEntry, &BackwardMapEntry, &LogitStatsEntry,
                                                     &LogitGradientEntry, &StableMaxMapEntry};

}  // namespace HWY_NAMESPACE
}  // namespace detail
}  // namespace softkern
HWY_AFTER_NAMESPACE();

#endif  // toggle guard
