// softkern/detail/training_rows-inl.hpp — walking two rows in step, per
// target: the reduction and the map of the training kernels, whose passes
// read two arrays at once (y and dy; logits and class weights).
//
// Re-included once per target (Highway's toggle guard below). These are the
// two-input forms of softmax_rows-inl.hpp's FoldBlock and MapFrom, on the
// same element loads, tails and prefetches; the reduction tree is
// ReduceTree itself, which walks a second row in step through its y
// argument (a leaf gets both rows' pointers at the same offset).

#if defined(SOFTKERN_DETAIL_TRAINING_ROWS_INL_HPP_) == defined(HWY_TARGET_TOGGLE)
#ifdef SOFTKERN_DETAIL_TRAINING_ROWS_INL_HPP_
#undef SOFTKERN_DETAIL_TRAINING_ROWS_INL_HPP_
#else
#define SOFTKERN_DETAIL_TRAINING_ROWS_INL_HPP_
#endif

#include <cstddef>

#include <hwy/highway.h>

#include "softkern/detail/softmax_rows-inl.hpp"

HWY_BEFORE_NAMESPACE();
namespace softkern {
namespace detail {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Folds a[0, count) and b[0, count) into `Acc::State` with four independent
// accumulators: acc.Add(d, state, a_i, b_i). The tail reads acc.kFillA and
// acc.kFillB past the end, values the accumulator ignores. Not inlined, like
// FoldBlock: one named inner loop per pass.
template <class Acc, class TA, class TB>
HWY_NOINLINE typename Acc::State FoldPair(DF d, const Acc& acc_in, const TA* a, const TB* b, std::size_t count) {
  const Acc acc = acc_in;
  const std::size_t N = hn::Lanes(d);
  typename Acc::State s0 = acc.Init(d), s1 = acc.Init(d), s2 = acc.Init(d), s3 = acc.Init(d);
  std::size_t i = 0;
  for (; i + 4 * N <= count; i += 4 * N) {
    PrefetchAhead(d, a + i);
    PrefetchAhead(d, b + i);
    acc.Add(d, s0, LoadElements(d, a + i), LoadElements(d, b + i));
    acc.Add(d, s1, LoadElements(d, a + i + N), LoadElements(d, b + i + N));
    acc.Add(d, s2, LoadElements(d, a + i + 2 * N), LoadElements(d, b + i + 2 * N));
    acc.Add(d, s3, LoadElements(d, a + i + 3 * N), LoadElements(d, b + i + 3 * N));
  }
  for (; i + N <= count; i += N) acc.Add(d, s0, LoadElements(d, a + i), LoadElements(d, b + i));
  if (i < count) {
    acc.Add(d, s1, LoadTail(d, a + i, count - i, Acc::kFillA), LoadTail(d, b + i, count - i, Acc::kFillB));
  }
  return acc.Merge(d, acc.Merge(d, s0, s1), acc.Merge(d, s2, s3));
}

// out[i] = f(a[i], b[i]) for i in [0, n): four vectors per iteration, then
// single vectors, then the tail through a stack buffer. Every load of an
// iteration comes before its stores, so out may be a or b (in place). f
// must be elementwise.
template <class TA, class TB, class TO, class F>
HWY_NOINLINE void MapPair(DF d, const TA* a, const TB* b, TO* out, std::size_t n, const F& f_in) {
  const F f = f_in;
  const std::size_t N = hn::Lanes(d);
  std::size_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    PrefetchAhead(d, a + i);
    PrefetchAhead(d, b + i);
    const VF r0 = f(LoadElements(d, a + i), LoadElements(d, b + i));
    const VF r1 = f(LoadElements(d, a + i + N), LoadElements(d, b + i + N));
    const VF r2 = f(LoadElements(d, a + i + 2 * N), LoadElements(d, b + i + 2 * N));
    const VF r3 = f(LoadElements(d, a + i + 3 * N), LoadElements(d, b + i + 3 * N));
    StoreElements(d, r0, out + i);
    StoreElements(d, r1, out + i + N);
    StoreElements(d, r2, out + i + 2 * N);
    StoreElements(d, r3, out + i + 3 * N);
  }
  for (; i + N <= n; i += N) StoreElements(d, f(LoadElements(d, a + i), LoadElements(d, b + i)), out + i);
  if (i < n) StoreTail(d, f(LoadTail(d, a + i, n - i, 0.0f), LoadTail(d, b + i, n - i, 0.0f)), out + i, n - i);
}

}  // namespace HWY_NAMESPACE
}  // namespace detail
}  // namespace softkern
HWY_AFTER_NAMESPACE();

#endif  // toggle guard
