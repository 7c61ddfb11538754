// This program's own Highway kernel, in the same program as softkern: the
// usual Highway boilerplate (foreach_target.h, HWY_EXPORT,
// HWY_DYNAMIC_DISPATCH), which works alongside softkern because softkern
// expands its own kernels in a different TU (softkern_impl) and its headers
// include no Highway header. This TU includes a softkern header as well.
//
// HWY_WANT_AVX3_DL, before any Highway header: Highway 1.0.3 built with
// g++ 12 stops with "Logic error: best baseline should be included in dynamic
// targets" when the static target is AVX3_DL, which is the case under
// -march=native on AVX-512 CPUs with VNNI/VBMI2/VAES (Ice Lake and later, Zen 4)
// and under -march=icelake-server and the like: AVX3_DL is then the baseline
// but is left out of the dynamic targets unless asked for. Asking for it
// fixes that (upstream fixed it in Highway 1.0.5). softkern's own
// implementation TU does the same; any TU of yours that includes
// hwy/foreach_target.h under such flags needs it too.
#ifndef HWY_WANT_AVX3_DL
#define HWY_WANT_AVX3_DL
#endif

#include <cstddef>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "hwy_sum.cpp"  // found through the include path
#include <hwy/foreach_target.h>           // re-includes this file once per target
#include <hwy/highway.h>

#include "consumer.h"
#include "softkern/dispatch.hpp"

HWY_BEFORE_NAMESPACE();
namespace consumer {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Sum of x[0, n): float lanes, one vector accumulator, a scalar tail; the
// total is returned in double (the sums here are of softmax rows, near 1).
double SumImpl(const float* HWY_RESTRICT x, std::size_t n) {
  const hn::ScalableTag<float> d;
  const std::size_t N = hn::Lanes(d);
  auto acc = hn::Zero(d);
  std::size_t i = 0;
  for (; i + N <= n; i += N) acc = hn::Add(acc, hn::LoadU(d, x + i));
  double sum = static_cast<double>(hn::GetLane(hn::SumOfLanes(d, acc)));
  for (; i < n; ++i) sum += static_cast<double>(x[i]);
  return sum;
}

const char* TargetImpl() { return hwy::TargetName(HWY_TARGET); }

}  // namespace HWY_NAMESPACE
}  // namespace consumer
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace consumer {

HWY_EXPORT(SumImpl);
HWY_EXPORT(TargetImpl);

double HwySum(const float* x, std::size_t n) { return HWY_DYNAMIC_DISPATCH(SumImpl)(x, n); }

const char* HwySumTarget() { return HWY_DYNAMIC_DISPATCH(TargetImpl)(); }

}  // namespace consumer
#endif  // HWY_ONCE
