// softkern/detail/row_stats.hpp — what a reduction pass over a row (or a
// chunk of one) finds, and how such findings merge.
//
// Every algorithm is a reduction (one or two passes) followed by a map. The
// per-target kernels (softmax-inl.hpp) reduce a chunk of a row to a RowStats
// with its lanes already merged in double; the driver (row_driver.hpp,
// RunRow) merges the chunks' stats here, adds the sink, decides the special
// cases, and hands the totals to the map. A row without an executor is one
// chunk; with one, long rows are cut into chunks that run on several threads
// and merge exactly as two halves of one row would: the (mantissa, exponent)
// pairs of the two-pass algorithm and the (max, sum) pairs of the online one
// are associative.
#ifndef SOFTKERN_DETAIL_ROW_STATS_HPP_
#define SOFTKERN_DETAIL_ROW_STATS_HPP_

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "softkern/detail/softmax_params.hpp"

namespace softkern {
namespace detail {

// The exponent of an empty two-pass sum, and of inputs clamped at -2^22:
// round(-2^22 * log2 e). Shared with the kernels (kTwoPassInitExponent).
constexpr double kTwoPassEmptyExponent = -6051102.0;
// The two-pass algorithm handles rows whose largest exponent n = round(x/T
// log2 e) is within +-kTwoPassMaxExponent (|x/T| up to about 2839); other
// rows take the three-pass path, which is exact at any magnitude. The
// kernels form n from x/T * log2 e in float, whose rounding error grows with
// |n| (ulp(n)/2, plus |n| 2^-25 from log2 e itself): beyond 2^12 it can pick
// the wrong integer, leaving a reduced argument |r| past ln2/2 where the
// degree-5 polynomial's error climbs fast (4 ulp at 0.36, 300 at 0.52; the
// fuzzer found a log-softmax 2.4e-6 off at x = 3314322.5). Up to 2^12 + 150
// (the terms within 2^-150 of the largest, the only ones not flushed to 0),
// |r| <= ln2/2 + 5e-4 including x/T's own rounding, within 0.1 ulp of the
// polynomial's error at ln2/2.
constexpr double kTwoPassMaxExponent = 4096.0;
constexpr double kLn2Double = 0.6931471805599453;
constexpr double kLog2eDouble = 1.4426950408889634;

// max(a, b) that remembers a NaN in `nan` instead of losing it.
inline void MergeMax(RowStats* into, const RowStats& other) {
  into->nan |= other.nan || std::isnan(other.max);
  if (other.max > into->max) into->max = other.max;
}

inline void MergeSum(RowStats* into, const RowStats& other) {
  into->nan |= other.nan;
  into->sum += other.sum;
}

// x 2^k for integral k, rounded once like std::ldexp; a multiply by a power
// of two built from its bits where 2^k is a normal double (the kernels merge
// every lane of a row this way, and a libm call per lane showed in the
// per-call time of short rows).
inline double ScaleByPow2(double x, double k) {
  if (k >= -1022.0 && k <= 1023.0) {
    const std::uint64_t bits = static_cast<std::uint64_t>(static_cast<std::int64_t>(k) + 1023) << 52;
    double pow2;
    std::memcpy(&pow2, &bits, sizeof pow2);
    return x * pow2;
  }
  // Far outside (or NaN): 2^-2100 takes any double to 0, as the sum of a lane
  // that far below the largest is.
  return std::ldexp(x, static_cast<int>(k >= -2100.0 ? std::fmin(k, 2100.0) : -2100.0));
}

// (M1, E1) + (M2, E2) = (M1 2^{E1-E} + M2 2^{E2-E}, E), E = max(E1, E2).
inline void MergeTwoPass(RowStats* into, const RowStats& other) {
  into->nan |= other.nan;
  const double e = std::fmax(into->exponent, other.exponent);
  into->sum = ScaleByPow2(into->sum, into->exponent - e) + ScaleByPow2(other.sum, other.exponent - e);
  into->exponent = e;
}

// (S1, m1) + (S2, m2) = (S1 e^{(m1-m)/T} + S2 e^{(m2-m)/T}, m), m = max.
inline void MergeOnline(RowStats* into, const RowStats& other, double inv_temperature) {
  into->nan |= other.nan || std::isnan(other.max);
  const float m = other.max > into->max ? other.max : into->max;
  auto rescaled = [&](const RowStats& s) {
    if (s.sum == 0.0) return 0.0;
    return s.max == m ? s.sum : s.sum * std::exp((static_cast<double>(s.max) - m) * inv_temperature);
  };
  into->sum = rescaled(*into) + rescaled(other);
  into->max = m;
}

// e^{(sink - max)/T} in double; 0 without a sink.
inline double SinkTerm(const RowParams& params, double max) {
  if (!params.has_sink || params.sink == -std::numeric_limits<float>::infinity()) return 0.0;
  return std::exp((static_cast<double>(params.sink) - max) * params.inv_temperature_f64);
}

// The row maximum with the sink; a NaN sink gives NaN.
inline float MaxWithSink(float max, const RowParams& params) {
  if (params.has_sink && !(params.sink <= max)) return params.sink;
  return max;
}

// Two-pass: adds the sink to the merged pair and says whether the pair is in
// its accurate range. Outside (an infinity or NaN anywhere, a NaN or +inf
// sink, an all -inf row, a largest |x/T| beyond about 2839: see
// kTwoPassMaxExponent) the three-pass path has the exact semantics, and x is
// untouched so far.
inline bool TwoPassTotals(RowStats* totals, const RowParams& params) {
  const double sink_z = params.has_sink ? params.sink * params.inv_temperature_f64 : -HUGE_VAL;
  if (params.has_sink && params.sink != -std::numeric_limits<float>::infinity() && std::isfinite(sink_z)) {
    RowStats sink;
    sink.exponent = std::nearbyint(sink_z * kLog2eDouble);
    sink.sum = std::exp(sink_z - sink.exponent * kLn2Double);
    MergeTwoPass(totals, sink);
  }
  const bool sink_ok = !params.has_sink || !(std::isnan(sink_z) || sink_z == HUGE_VAL);
  return !totals->nan && sink_ok && std::isfinite(totals->sum) && totals->sum > 0.0 &&
         std::fabs(totals->exponent) <= kTwoPassMaxExponent;
}

// Online: adds the sink; false if the row needs the three-pass path (a NaN,
// or a maximum that is not finite).
inline bool OnlineTotals(RowStats* totals, const RowParams& params) {
  const float max = MaxWithSink(totals->max, params);
  if (totals->nan || !std::isfinite(max)) return false;
  RowStats rescaled = *totals;
  MergeOnline(&rescaled, RowStats{max, 0.0, 0.0, false}, params.inv_temperature_f64);
  rescaled.sum += SinkTerm(params, max);
  *totals = rescaled;
  return true;
}

}  // namespace detail
}  // namespace softkern

#endif  // SOFTKERN_DETAIL_ROW_STATS_HPP_
