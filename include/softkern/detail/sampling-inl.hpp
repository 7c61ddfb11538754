// softkern/detail/sampling-inl.hpp — the passes of a sampling call over a
// chunk of a logit row, per target, and the target's SamplingKernels.
//
// Re-included once per target (Highway's toggle guard below). A chunk is
// walked in blocks of kSampleBlock elements (ForEachBlock): a block that
// holds a listed (penalised) token, and the row's last partial block, is
// first copied into a float buffer with the penalised logits patched in
// (and -inf past the row's end); every other block is read in place, as
// float, bf16 or f16. The caller's logits are never written.
//
// Every pass is exact or target-independent:
//  - the scan (max, NaN, candidates by a threshold) only compares;
//  - the weights e^{(x' - max)/T} 2^24 are SampleWeight's, the same bits on
//    every target: each product-sum is one explicit fused multiply-add
//    (std::fma on the scalar target, whose Highway MulAdd rounds twice);
//  - a block's weights are summed by one fixed halving tree (BlockSum), the
//    same additions whatever the vector width; the blocks' sums are added in
//    double, in order.

#if defined(SOFTKERN_DETAIL_SAMPLING_INL_HPP_) == defined(HWY_TARGET_TOGGLE)
#ifdef SOFTKERN_DETAIL_SAMPLING_INL_HPP_
#undef SOFTKERN_DETAIL_SAMPLING_INL_HPP_
#else
#define SOFTKERN_DETAIL_SAMPLING_INL_HPP_
#endif

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include <hwy/highway.h>

#include "softkern/detail/exp-inl.hpp"
#include "softkern/detail/sampling_params.hpp"
#include "softkern/detail/sampling_select.hpp"
#include "softkern/detail/softmax_exp-inl.hpp"
#include "softkern/detail/softmax_rows-inl.hpp"

HWY_BEFORE_NAMESPACE();
namespace softkern {
namespace detail {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// a * b + c rounded once, on every target.
HWY_INLINE VF FusedMulAdd(DF d, VF a, VF b, VF c) {
#if HWY_TARGET == HWY_SCALAR
  return hn::Set(d, std::fma(hn::GetLane(a), hn::GetLane(b), hn::GetLane(c)));
#else
  (void)d;
  return hn::MulAdd(a, b, c);
#endif
}

// e^{(x - max) inv_t} 2^24 for x <= max (x = -inf included), the same bits
// on every target: z = (x - max) inv_t rounded twice and raised to at least
// kSampleMinZ, then softkern's exponential (exp-inl.hpp: Cody-Waite reduction
// with two constants, the degree-5 polynomial; 2^{n + 24} built from the
// rounding sum's low bits as softmax_exp-inl.hpp's Pow2FromLowBits does),
// every step one IEEE operation or one fused multiply-add. The 2^24 keeps
// every weight above 0 a normal float, so p 2^{n + 24} is exact; below
// e^-104.7 (2^-151 of the largest weight) the low bits hold 0 and the
// weight is exactly 0: such entries, -inf among them, are never drawn.
constexpr float kSampleMinZ = -105.0f;

HWY_INLINE VF SampleWeight(DF d, VF x, VF max, VF inv_t) {
  const VF z = hn::Max(hn::Mul(hn::Sub(x, max), inv_t), hn::Set(d, kSampleMinZ));
  const VF magic = hn::Set(d, kRoundMagic + 127.0f + 24.0f);
  const VF t = FusedMulAdd(d, z, hn::Set(d, kLog2e), magic);
  const VF n = hn::Sub(t, magic);
  VF r = FusedMulAdd(d, n, hn::Set(d, -kLn2Hi), z);
  r = FusedMulAdd(d, n, hn::Set(d, -kLn2Lo), r);
  VF p = FusedMulAdd(d, hn::Set(d, kExpC5), r, hn::Set(d, kExpC4));
  p = FusedMulAdd(d, p, r, hn::Set(d, kExpC3));
  p = FusedMulAdd(d, p, r, hn::Set(d, kExpC2));
  p = FusedMulAdd(d, p, r, hn::Set(d, kExpC1));
  p = FusedMulAdd(d, p, r, hn::Set(d, 1.0f));
  return hn::Mul(p, Pow2FromLowBits(d, t));
}

// ------------------------------------------------------------------ blocks

// The block [start, start + count) of the row as floats, with the listed
// tokens' penalised logits, and -inf past `count`. *cursor: the first listed
// id not yet used (ids are increasing).
template <class T>
HWY_INLINE void LoadBlock(DF d, const T* x, std::size_t start, std::size_t count, const SampleRow& row,
                          std::size_t* cursor, float* block) {
  const std::size_t N = hn::Lanes(d);
  std::size_t i = 0;
  for (; i + N <= count; i += N) hn::StoreU(LoadElements(d, x + start + i), d, block + i);
  if (i < count) {
    hn::StoreU(LoadTail(d, x + start + i, count - i, -kInf), d, block + i);
    i += N;
  }
  for (; i < kSampleBlock; ++i) block[i] = -kInf;
  for (; *cursor < row.listed && static_cast<std::size_t>(row.ids[*cursor]) < start + count; ++*cursor) {
    float& v = block[static_cast<std::size_t>(row.ids[*cursor]) - start];
    v = PenalizedLogit(v, row.counts[*cursor], row.penalties);
  }
}

// The first listed id >= begin.
inline std::size_t FirstListed(const SampleRow& row, std::size_t begin) {
  const std::int32_t* end = row.ids + row.listed;
  return static_cast<std::size_t>(std::lower_bound(row.ids, end, static_cast<std::int64_t>(begin),
                                                   [](std::int32_t id, std::int64_t b) { return id < b; }) -
                                  row.ids);
}

// Calls visit(p, start) for every block of [begin, end): p points at the
// block's kSampleBlock elements, in the row (T) or in a patched float copy.
// visit returns false to stop.
template <class T, class Visit>
HWY_INLINE void ForEachBlock(DF d, const SampleRow& row, std::size_t begin, std::size_t end, const Visit& visit) {
  const T* x = static_cast<const T*>(row.logits);
  std::size_t cursor = row.listed == 0 ? 0 : FirstListed(row, begin);
  HWY_ALIGN float block[kSampleBlock + kMaxVectorFloats];
  for (std::size_t start = begin; start < end; start += kSampleBlock) {
    const std::size_t count = HWY_MIN(kSampleBlock, end - start);
    const bool listed = cursor < row.listed && static_cast<std::size_t>(row.ids[cursor]) < start + count;
    bool go_on;
    if (count == kSampleBlock && !listed) {
      go_on = visit(x + start, start);
    } else {
      LoadBlock(d, x, start, count, row, &cursor, block);
      go_on = visit(static_cast<const float*>(block), start);
    }
    if (!go_on) return;
  }
}

// Calls f(v, j) for the block's vectors (j: offset in the block); a width
// that does not divide the block (SVE at 384 bits) ends with a padded tail.
template <class P, class F>
HWY_INLINE void ForEachVector(DF d, const P* p, const F& f) {
  const std::size_t N = hn::Lanes(d);
  std::size_t j = 0;
  for (; j + N <= kSampleBlock; j += N) f(LoadElements(d, p + j), j);
  if (j < kSampleBlock) f(LoadTail(d, p + j, kSampleBlock - j, -kInf), j);
}

// The block's kSampleBlock weights summed by halving: w[j] += w[j + h] for
// h = 32, 16, ..., 1. Each step's additions are independent, so vectors of
// any width (or none) give the same bits.
HWY_INLINE float BlockSum(DF d, float* w) {
  const std::size_t N = hn::Lanes(d);
  std::size_t h = kSampleBlock / 2;
  if (kSampleBlock % N == 0) {
    for (; h >= N; h /= 2) {
      for (std::size_t j = 0; j < h; j += N) hn::Store(hn::Add(hn::Load(d, w + j), hn::Load(d, w + j + h)), d, w + j);
    }
  }
  for (; h >= 1; h /= 2) {
    for (std::size_t j = 0; j < h; ++j) w[j] += w[j + h];
  }
  return w[0];
}

// The block's weights of x' >= cut (0 elsewhere) into w; returns how many.
template <class P>
HWY_INLINE std::size_t BlockWeights(DF d, const P* p, VF cut, const WeightScale& scale, float* w) {
  const VF max = hn::Set(d, scale.max), inv_t = hn::Set(d, scale.inv_temperature);
  std::size_t kept = 0;
  ForEachVector(d, p, [&](VF v, std::size_t j) HWY_ATTR {
    const auto keep = hn::Ge(v, cut);
    kept += hn::CountTrue(d, keep);
    hn::Store(hn::IfThenElseZero(keep, SampleWeight(d, v, max, inv_t)), d, w + j);
  });
  return kept;
}

// Calls f(j) for every lane j of `m` that is set, in lane order.
template <class M, class F>
HWY_INLINE void ForEachSetLane(DF d, M m, const F& f) {
  std::uint8_t bytes[8] = {};
  hn::StoreMaskBits(d, m, bytes);
  std::uint64_t bits;
  std::memcpy(&bits, bytes, sizeof bits);
  for (; bits != 0; bits &= bits - 1) f(static_cast<std::size_t>(__builtin_ctzll(bits)));
}

// Appends the lanes of v where `take` is set, and their token ids (first +
// lane), at values and ids; returns how many. AVX-512 and SVE compress
// within a register (vcompressps, compact) and store whole vectors (the
// buffers have the slack): Highway 1.0.3's CompressStore on AVX-512 is the
// memory form of vcompressps, microcoded and slow on AMD Zen 4.
// Elsewhere (Highway 1.0.3's AVX2 Compress copies a 256-entry table to the
// stack per call) the set lanes are copied one by one: after a chunk's first
// blocks few vectors have any.
template <class M>
HWY_INLINE std::size_t AppendSelected(DF d, VF v, M take, std::uint32_t first, float* values, std::uint32_t* ids) {
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL || HWY_TARGET == HWY_SVE || HWY_TARGET == HWY_SVE2
  const hn::RebindToUnsigned<DF> du;
  hn::StoreU(hn::Compress(hn::Iota(du, first), hn::RebindMask(du, take)), du, ids);
  hn::StoreU(hn::Compress(v, take), d, values);
  return hn::CountTrue(d, take);
#else
  HWY_ALIGN float lanes[hn::MaxLanes(DF())];
  hn::Store(v, d, lanes);
  std::size_t count = 0;
  ForEachSetLane(d, take, [&](std::size_t j) {
    values[count] = lanes[j];
    ids[count++] = first + static_cast<std::uint32_t>(j);
  });
  return count;
#endif
}

// ------------------------------------------------------------------ passes

// Whether the block holds a NaN (exact: ScanBlock's test is a sum).
template <class P>
HWY_INLINE bool BlockHasNaN(DF d, const P* p) {
  bool nan = false;
  ForEachVector(d, p, [&](VF v, std::size_t) HWY_ATTR { nan |= !hn::AllFalse(d, hn::IsNaN(v)); });
  return nan;
}

// One block of the first pass: returns its lanes' max and sets *nan if it
// holds a NaN; with kCollect, appends its entries >= the candidates'
// threshold to them. Four vectors at a time, with one branch on whether any
// of them has a candidate. NaN is found through the sum of the block's
// lanes, one add per vector: a NaN makes it NaN (and so does +inf meeting
// -inf, which the exact test then clears).
template <bool kCollect, class P>
HWY_INLINE VF ScanBlock(DF d, const P* HWY_RESTRICT p, std::size_t start, CandidateBuffer* candidates, bool* nan) {
  const std::size_t N = hn::Lanes(d);
  VF max = hn::Set(d, -kInf);
  VF sum = hn::Zero(d);
  const VF threshold = hn::Set(d, kCollect ? candidates->threshold : kInf);
  const auto append = [&](VF v, std::size_t j) HWY_ATTR {
    const auto take = hn::Ge(v, threshold);
    if (hn::AllFalse(d, take)) return;
    const std::size_t at = candidates->count;
    candidates->count += AppendSelected(d, v, take, static_cast<std::uint32_t>(start + j), candidates->values + at,
                                        candidates->ids + at);
  };
  if (kSampleBlock % (4 * N) == 0) {
    for (std::size_t j = 0; j < kSampleBlock; j += 4 * N) {
      const VF v0 = LoadElements(d, p + j), v1 = LoadElements(d, p + j + N);
      const VF v2 = LoadElements(d, p + j + 2 * N), v3 = LoadElements(d, p + j + 3 * N);
      max = hn::Max(max, hn::Max(hn::Max(v0, v1), hn::Max(v2, v3)));
      sum = hn::Add(sum, hn::Add(hn::Add(v0, v1), hn::Add(v2, v3)));
      if (kCollect) {
        const auto any = hn::Or(hn::Or(hn::Ge(v0, threshold), hn::Ge(v1, threshold)),
                                hn::Or(hn::Ge(v2, threshold), hn::Ge(v3, threshold)));
        if (HWY_UNLIKELY(!hn::AllFalse(d, any))) {
          append(v0, j);
          append(v1, j + N);
          append(v2, j + 2 * N);
          append(v3, j + 3 * N);
        }
      }
    }
  } else {
    ForEachVector(d, p, [&](VF v, std::size_t j) HWY_ATTR {
      max = hn::Max(max, v);
      sum = hn::Add(sum, v);
      if (kCollect) append(v, j);
    });
  }
  if (HWY_UNLIKELY(!hn::AllFalse(d, hn::IsNaN(sum)))) *nan = BlockHasNaN(d, p);
  return max;
}

// First pass: max, NaN and candidates (x' >= the buffer's threshold, which
// the bookkeeping in sampling_select.hpp raises as the chunk goes). The
// buffer may hold earlier chunks' candidates (one thread, one buffer).
template <bool kCollect, class T>
HWY_INLINE void ScanChunk(const SampleRow& row, std::size_t begin, std::size_t end, const CandidateRule& rule,
                          ScanResult* result, CandidateBuffer* candidates) {
  const DF d;
  float chunk_max = -kInf;
  std::size_t max_block = begin;
  bool nan = false;
  ForEachBlock<T>(d, row, begin, end, [&](const auto* p, std::size_t start) HWY_ATTR {
    const VF block_max = ScanBlock<kCollect>(d, p, start, candidates, &nan);
    if (!hn::AllFalse(d, hn::Gt(block_max, hn::Set(d, chunk_max)))) {
      chunk_max = hn::GetLane(hn::MaxOfLanes(d, block_max));
      max_block = start;
    }
    if (kCollect) AfterBlock(candidates, rule, chunk_max);
    return !nan;  // a NaN rejects the call: no need to read further
  });
  result->max = chunk_max;
  result->max_block = max_block;
  result->nan = nan;
}

template <class T>
HWY_NOINLINE void ScanOf(const SampleRow& row, std::size_t begin, std::size_t end, const CandidateRule& rule,
                         ScanResult* result, CandidateBuffer* candidates) {
  if (candidates != nullptr) return ScanChunk<true, T>(row, begin, end, rule, result, candidates);
  ScanChunk<false, T>(row, begin, end, rule, result, candidates);
}

// Adds the chunk's x' in [low, high] (and their weights) to the histogram,
// in index order.
template <class T>
HWY_NOINLINE void HistogramOf(const SampleRow& row, std::size_t begin, std::size_t end, const HistogramRequest& req,
                              Histogram* histogram) {
  const DF d;
  const VF low = hn::Set(d, req.low), high = hn::Set(d, req.high);
  const VF max = hn::Set(d, req.scale.max), inv_t = hn::Set(d, req.scale.inv_temperature);
  HWY_ALIGN float values[hn::MaxLanes(DF())];
  HWY_ALIGN float weights[hn::MaxLanes(DF())];
  ForEachBlock<T>(d, row, begin, end, [&](const auto* p, std::size_t) HWY_ATTR {
    ForEachVector(d, p, [&](VF v, std::size_t) HWY_ATTR {
      const auto in = hn::And(hn::Ge(v, low), hn::Le(v, high));
      if (hn::AllFalse(d, in)) return;
      hn::Store(v, d, values);
      if (req.weights) hn::Store(SampleWeight(d, v, max, inv_t), d, weights);
      ForEachSetLane(d, in, [&](std::size_t j) {
        const std::size_t bucket = (KeyOf(values[j]) >> req.shift) - req.base;
        ++histogram->count[bucket];
        if (req.weights) histogram->weight[bucket] += weights[j];
      });
    });
    return true;
  });
}

template <class T>
HWY_NOINLINE void KeptMassOf(const SampleRow& row, std::size_t begin, std::size_t end, float cut,
                             const WeightScale& scale, double* mass, std::uint64_t* kept) {
  const DF d;
  const VF cut_v = hn::Set(d, cut);
  HWY_ALIGN float w[kSampleBlock + kMaxVectorFloats];
  double sum = 0.0;
  std::uint64_t count = 0;
  ForEachBlock<T>(d, row, begin, end, [&](const auto* p, std::size_t) HWY_ATTR {
    count += BlockWeights(d, p, cut_v, scale, w);
    sum += BlockSum(d, w);
    return true;
  });
  *mass = sum;
  *kept = count;
}

template <class T>
HWY_NOINLINE std::size_t FindBlockOf(const SampleRow& row, std::size_t begin, std::size_t end, float cut,
                                     const WeightScale& scale, double* target, float* block_weights) {
  const DF d;
  const VF cut_v = hn::Set(d, cut);
  HWY_ALIGN float w[kSampleBlock + kMaxVectorFloats];
  double running = 0.0;
  std::size_t found = end, last_positive = end;
  double residual = 0.0;
  ForEachBlock<T>(d, row, begin, end, [&](const auto* p, std::size_t start) HWY_ATTR {
    BlockWeights(d, p, cut_v, scale, w);
    std::copy(w, w + kSampleBlock, block_weights);
    const float sum = BlockSum(d, w);
    if (sum > 0.0f) last_positive = start;
    const double next = running + sum;
    if (next > *target) {
      residual = *target - running;
      found = start;
      return false;
    }
    running = next;
    return true;
  });
  if (found != end) {
    *target = residual;
    return found;
  }
  if (last_positive == end) return end;
  // Rounding left the target beyond the chunk's blocks: the draw takes the
  // last kept entry of the last block with weight.
  ForEachBlock<T>(d, row, last_positive, HWY_MIN(end, last_positive + kSampleBlock),
                  [&](const auto* p, std::size_t) HWY_ATTR {
                    BlockWeights(d, p, cut_v, scale, block_weights);
                    return false;
                  });
  *target = HUGE_VAL;
  return last_positive;
}

// ----------------------------------------------------- the table's entries

#define SOFTKERN_SAMPLING_BY_TYPE(call, ...)                                                           \
  switch (row.type) {                                                                                  \
    case ElementType::kBFloat16: return call<hwy::bfloat16_t>(__VA_ARGS__);                           \
    case ElementType::kFloat16: return call<hwy::float16_t>(__VA_ARGS__);                              \
    default: break; /* float32: sampling takes no quantized rows */                                    \
  }                                                                                                    \
  return call<float>(__VA_ARGS__)

void SampleScan(const SampleRow& row, std::size_t begin, std::size_t end, const CandidateRule& rule,
                ScanResult* result, CandidateBuffer* candidates) {
  SOFTKERN_SAMPLING_BY_TYPE(ScanOf, row, begin, end, rule, result, candidates);
}

void SampleHistogram(const SampleRow& row, std::size_t begin, std::size_t end, const HistogramRequest& request,
                     Histogram* histogram) {
  SOFTKERN_SAMPLING_BY_TYPE(HistogramOf, row, begin, end, request, histogram);
}

void SampleKeptMass(const SampleRow& row, std::size_t begin, std::size_t end, float cut, const WeightScale& scale,
                    double* mass, std::uint64_t* kept) {
  SOFTKERN_SAMPLING_BY_TYPE(KeptMassOf, row, begin, end, cut, scale, mass, kept);
}

std::size_t SampleFindBlock(const SampleRow& row, std::size_t begin, std::size_t end, float cut,
                            const WeightScale& scale, double* target, float* block_weights) {
  SOFTKERN_SAMPLING_BY_TYPE(FindBlockOf, row, begin, end, cut, scale, target, block_weights);
}
#undef SOFTKERN_SAMPLING_BY_TYPE

HWY_NOINLINE void SampleWeights(const float* values, std::size_t count, const WeightScale& scale, float* out) {
  const DF d;
  const VF max = hn::Set(d, scale.max), inv_t = hn::Set(d, scale.inv_temperature);
  MapRow(d, values, out, count, /*stream=*/false,
         [SOFTKERN_MAP_CAPTURE](VF v) HWY_ATTR { return SampleWeight(d, v, max, inv_t); });
}

inline constexpr SamplingKernels kSamplingKernels = {&SampleScan, &SampleHistogram, &SampleKeptMass,
                                                     &SampleFindBlock, &SampleWeights};

}  // namespace HWY_NAMESPACE
}  // namespace detail
}  // namespace softkern
HWY_AFTER_NAMESPACE();

#endif  // toggle guard
