// softkern/detail/sampling_params.hpp — a validated sampling call as the
// per-target kernels see it, what their passes return, and the sampling
// entries of a target's KernelTable (kernel_table.hpp). Filled and driven by
// sampling_impl.hpp; the kernels are in sampling-inl.hpp. Nothing here names
// Highway.
//
// Everything that decides which token is drawn is either exact (maxima,
// comparisons, counts) or computed in an order fixed by the row's shape
// alone (sampling_select.hpp), from weights every target computes to the
// same bits (sampling-inl.hpp: SampleWeight). That is what makes the result
// the same on every target and for every thread count.
#ifndef SOFTKERN_DETAIL_SAMPLING_PARAMS_HPP_
#define SOFTKERN_DETAIL_SAMPLING_PARAMS_HPP_

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "softkern/element_types.hpp"
#include "softkern/sampling.hpp"

namespace softkern {
namespace detail {

// Rows are walked in blocks of this many elements (the kernels' unit: a
// block is loaded, patched with the penalised logits it holds, and reduced
// with a fixed summation tree) and cut into chunks of kSampleChunk elements
// (a multiple of the block) for threads. Both are constants, so every
// result is a function of the row alone. 256 elements keep a block's
// bookkeeping (the max so far, the candidates' thinning, the penalties'
// cursor) small next to its 16 to 256 vectors.
constexpr std::size_t kSampleBlock = 256;
constexpr std::size_t kSampleChunk = std::size_t{1} << 15;
// Candidates held on the stack (sampling_select.hpp: CandidateBuffer; more
// go to the heap). top_k up to kFastTopK is found from the candidates,
// larger k by radix select; top-p without such a top-k tries the
// kTopPCandidates largest entries, then the kTopPCandidatesWide largest.
constexpr std::size_t kCandidateCapacity = 1024;
constexpr std::size_t kFastTopK = std::size_t{1} << 16;
constexpr std::size_t kTopPCandidates = 128;
constexpr std::size_t kTopPCandidatesWide = 2048;
// Histogram buckets of one radix-select level: 12, 10 and 10 bits of the key.
constexpr std::size_t kHistogramBuckets = 4096;

// The penalised logit x' of a listed token (sampling.hpp). The products and
// sums are each rounded once, written with explicit fused multiply-adds so
// that no compiler contraction (which differs between targets) can change a
// bit: y = x / r (x > 0) or fma(x, r, -q), q = fma(count, frequency,
// presence if count > 0), and x / r - q.
struct Penalties {
  float repetition = 1.0f;
  float presence = 0.0f;
  float frequency = 0.0f;
};

inline float PenalizedLogit(float x, std::int32_t count, const Penalties& p) {
  const float presence = count > 0 ? p.presence : 0.0f;
  const float q = std::fma(static_cast<float>(count), p.frequency, presence);
  if (x > 0.0f) return x / p.repetition - q;
  return std::fma(x, p.repetition, -q);
}

// One row of a validated call: the logits and the penalty list, sorted by id.
struct SampleRow {
  const void* logits = nullptr;
  ElementType type = ElementType::kFloat32;
  std::size_t n = 0;
  const std::int32_t* ids = nullptr;
  const std::int32_t* counts = nullptr;
  std::size_t listed = 0;  // entries of ids / counts
  Penalties penalties;
};

// The constants of the weights w = e^{(x' - max) / T} 2^24 (SampleWeight).
struct WeightScale {
  float max = 0.0f;
  float inv_temperature = 1.0f;
};

// What the first pass collects as candidates for the cut
// (sampling_select.hpp: CandidateBuffer): the entries >= the k-th largest
// so far and >= min-p's bound from the max so far.
struct CandidateRule {
  std::int64_t top_k = 0;        // 0: none
  bool min_p = false;
  double log_min_p_scaled = 0;   // T ln(min_p)
  bool collect = false;          // any candidate rule
};

struct CandidateBuffer;  // sampling_select.hpp

// What the first pass finds in a chunk [begin, end) of a row: its largest
// x', the block that first holds it, whether a NaN was seen.
struct ScanResult {
  float max = -std::numeric_limits<float>::infinity();
  std::size_t max_block = 0;  // start of the first block holding `max`
  bool nan = false;
};

// Counts (and, for top-p, weights) of the x' in [low, high] by key bucket,
// the key being the order-preserving integer of the float (KeyOf).
struct HistogramRequest {
  float low = 0.0f, high = 0.0f;  // the range, inclusive, as values
  int shift = 0;                  // bucket = (key >> shift) - base, < kHistogramBuckets
  std::uint32_t base = 0;
  bool weights = false;           // also sum the weights per bucket
  WeightScale scale;
};

struct Histogram {
  std::uint32_t count[kHistogramBuckets];
  double weight[kHistogramBuckets];
};

// The order-preserving key of a float that is not NaN: a larger float has a
// larger key; -0 and +0 share one (ties are by value).
inline std::uint32_t KeyOf(float f) {
  f += 0.0f;  // -0 -> +0
  std::uint32_t bits;
  __builtin_memcpy(&bits, &f, sizeof bits);
  return (bits & 0x80000000u) != 0 ? ~bits : (bits | 0x80000000u);
}
inline float FloatOfKey(std::uint32_t key) {
  const std::uint32_t bits = (key & 0x80000000u) != 0 ? (key & 0x7FFFFFFFu) : ~key;
  float f;
  __builtin_memcpy(&f, &bits, sizeof f);
  return f;
}

// The sampling kernels of one target (sampling-inl.hpp). Each runs over the
// blocks of a chunk [begin, end) of one row (begin a multiple of the block).
struct SamplingKernels {
  // First pass: the chunk's max, NaN, and its candidates under `rule`.
  void (*scan)(const SampleRow& row, std::size_t begin, std::size_t end, const CandidateRule& rule,
               ScanResult* result, CandidateBuffer* candidates);
  // Adds the chunk's x' in the request's range to `histogram`.
  void (*histogram)(const SampleRow& row, std::size_t begin, std::size_t end, const HistogramRequest& request,
                    Histogram* histogram);
  // Kept mass of the chunk: the weights of x' >= cut, summed block by block
  // with the fixed tree (BlockSum), the blocks' sums added in double in
  // order; and how many x' >= cut (cut > -inf).
  void (*kept_mass)(const SampleRow& row, std::size_t begin, std::size_t end, float cut, const WeightScale& scale,
                    double* mass, std::uint64_t* kept);
  // The draw inside a chunk: the first block whose running mass (as
  // kept_mass adds it) exceeds *target; *target becomes what is left of it
  // inside that block, and the block's weights are stored in block_weights
  // (kSampleBlock of them). When rounding leaves *target beyond every
  // block, the last block with weight, *target = +inf (the draw then takes
  // its last kept entry). Returns the block's start, or `end` when the chunk
  // keeps nothing.
  std::size_t (*find_block)(const SampleRow& row, std::size_t begin, std::size_t end, float cut,
                            const WeightScale& scale, double* target, float* block_weights);
  // Weights of `count` values (the candidates), each as the row passes make it.
  void (*weights)(const float* values, std::size_t count, const WeightScale& scale, float* out);
};

}  // namespace detail
}  // namespace softkern

#endif  // SOFTKERN_DETAIL_SAMPLING_PARAMS_HPP_
