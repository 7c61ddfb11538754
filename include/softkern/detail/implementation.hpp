// softkern/detail/implementation.hpp — the kernels expanded for every target,
// the dispatcher, and the argument checks of the public functions.
//
// Included by exactly one translation unit of a program, the one that defines
// SOFTKERN_IMPLEMENTATION (CMake's softkern_impl does it). That TU must include
// no Highway header before softkern: the per-target expansion below manages
// Highway's re-inclusion toggle itself.
#ifndef SOFTKERN_DETAIL_IMPLEMENTATION_HPP_
#define SOFTKERN_DETAIL_IMPLEMENTATION_HPP_

#ifdef HWY_HIGHWAY_INCLUDED
#error "softkern: define SOFTKERN_IMPLEMENTATION in a translation unit that includes no Highway header before softkern"
#endif

// Highway 1.0.3 stops with "best baseline should be included in dynamic
// targets" under -march=native on AVX-512 CPUs with VNNI/VBMI2 (its static
// target is then AVX3_DL, which it leaves out unless asked for). Asking for it
// fixes the check; softkern's expansion below names its targets itself and
// does not depend on the static target at all.
#ifndef HWY_WANT_AVX3_DL
#define HWY_WANT_AVX3_DL
#endif

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include <hwy/detect_targets.h>

#include "softkern/detail/cpu.hpp"
#include "softkern/detail/float16.hpp"
#include "softkern/detail/fp_env.hpp"
#include "softkern/detail/row_stats.hpp"
#include "softkern/detail/thread_pool.hpp"
#include "softkern/detail/kernel_table.hpp"
#include "softkern/dispatch.hpp"
#include "softkern/softmax.hpp"

#if defined(__linux__)
#include <unistd.h>
#endif

// ---------------------------------------------------------------- expansion
//
// What hwy/foreach_target.h does, but for softkern's own list of targets and
// without its once-per-TU include guard: set HWY_TARGET, include the per-target
// kernels, flip HWY_TARGET_TOGGLE. The list is fixed per architecture rather
// than taken from HWY_TARGETS, which depends on the compiler flags (with
// -march=x86-64-v3, Highway 1.0.3 would otherwise pick SSSE3 as the baseline).

#define SOFTKERN_KERNELS "softkern/detail/kernels-inl.hpp"

#undef HWY_TARGET
#define HWY_TARGET HWY_SCALAR
#include SOFTKERN_KERNELS
#define HWY_TARGET_TOGGLE

#if HWY_ARCH_X86_64
#undef HWY_TARGET
#define HWY_TARGET HWY_AVX2
#include SOFTKERN_KERNELS
#undef HWY_TARGET_TOGGLE

#undef HWY_TARGET
#define HWY_TARGET HWY_AVX3
#include SOFTKERN_KERNELS
#define HWY_TARGET_TOGGLE
#define SOFTKERN_HAVE_AVX2 1
#define SOFTKERN_HAVE_AVX512 1

#elif HWY_ARCH_ARM_A64
#undef HWY_TARGET
#define HWY_TARGET HWY_NEON
#include SOFTKERN_KERNELS
#undef HWY_TARGET_TOGGLE
#define SOFTKERN_HAVE_NEON 1

#if HWY_ATTAINABLE_TARGETS & HWY_SVE
#undef HWY_TARGET
#define HWY_TARGET HWY_SVE
#include SOFTKERN_KERNELS
#define HWY_TARGET_TOGGLE
#define SOFTKERN_HAVE_SVE 1
#endif

#if HWY_ATTAINABLE_TARGETS & HWY_SVE2
#undef HWY_TARGET
#define HWY_TARGET HWY_SVE2
#include SOFTKERN_KERNELS
#ifdef HWY_TARGET_TOGGLE
#undef HWY_TARGET_TOGGLE
#else
#define HWY_TARGET_TOGGLE
#endif
#define SOFTKERN_HAVE_SVE2 1
#endif
#endif  // architecture

// Leave Highway's macros as a fresh include would find them.
#undef HWY_TARGET_TOGGLE
#undef HWY_TARGET
#define HWY_TARGET HWY_STATIC_TARGET
#undef SOFTKERN_KERNELS

// --------------------------------------------------------------- dispatcher

namespace softkern {
namespace detail {
namespace {

const KernelTable* CompiledTable(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return &N_SCALAR::kKernelTable;
#ifdef SOFTKERN_HAVE_AVX2
    case Isa::kAvx2:
      return &N_AVX2::kKernelTable;
#endif
#ifdef SOFTKERN_HAVE_AVX512
    case Isa::kAvx512:
      return &N_AVX3::kKernelTable;
#endif
#ifdef SOFTKERN_HAVE_NEON
    case Isa::kNeon:
      return &N_NEON::kKernelTable;
#endif
#ifdef SOFTKERN_HAVE_SVE
    case Isa::kSve:
      return &N_SVE::kKernelTable;
#endif
#ifdef SOFTKERN_HAVE_SVE2
    case Isa::kSve2:
      return &N_SVE2::kKernelTable;
#endif
    default:
      return nullptr;
  }
}

// Best first.
constexpr Isa kPreference[] = {Isa::kAvx512, Isa::kAvx2, Isa::kSve2, Isa::kSve, Isa::kNeon, Isa::kScalar};

struct Dispatcher {
  const KernelTable* best = nullptr;         // best supported target
  const KernelTable* from_environment = nullptr;  // SOFTKERN_ISA, if set and valid
  Status environment = Status::Ok();
};

const Dispatcher& GetDispatcher() {
  // Initialised once, thread-safely (a function-local static).
  static const Dispatcher dispatcher = [] {
    Dispatcher result;
    for (Isa isa : kPreference) {
      if (isa_supported(isa)) {
        result.best = CompiledTable(isa);
        break;
      }
    }
    const char* name = std::getenv("SOFTKERN_ISA");
    if (name != nullptr && name[0] != '\0') {
      Isa isa;
      if (!parse_isa(name, &isa).ok()) {
        result.environment = Status(StatusCode::kUnsupportedIsa,
                                    "SOFTKERN_ISA names no target softkern knows "
                                    "(expected scalar, avx2, avx512, neon, sve or sve2)");
      } else if (!isa_supported(isa)) {
        result.environment = Status(StatusCode::kUnsupportedIsa,
                                    "SOFTKERN_ISA names a target that is not compiled in "
                                    "or not supported by this CPU");
      } else {
        result.from_environment = CompiledTable(isa);
      }
    }
    return result;
  }();
  return dispatcher;
}

std::atomic<const KernelTable*> g_forced{nullptr};

// The table calls run on, or an error status (a bad SOFTKERN_ISA).
const KernelTable* ActiveTable(Status* status) {
  if (const KernelTable* forced = g_forced.load(std::memory_order_acquire)) return forced;
  const Dispatcher& dispatcher = GetDispatcher();
  if (!dispatcher.environment.ok()) {
    *status = dispatcher.environment;
    return nullptr;
  }
  return dispatcher.from_environment != nullptr ? dispatcher.from_environment : dispatcher.best;
}

bool EqualsIgnoreCase(const char* a, const char* b) {
  for (; *a != '\0' && *b != '\0'; ++a, ++b) {
    if (std::tolower(static_cast<unsigned char>(*a)) != std::tolower(static_cast<unsigned char>(*b))) {
      return false;
    }
  }
  return *a == *b;
}


// ------------------------------------------------------------ row driver
//
// RunRow runs one row through the passes of its algorithm (kernel_table.hpp:
// chunk_stats / chunk_map), merging what the passes find (row_stats.hpp).
// Without an executor, or for rows shorter than two chunks, the row is one
// chunk and every pass is one direct call: nothing is allocated. With an
// executor, a long row is cut into chunks of kChunkElements (a fixed size,
// so the result does not depend on the thread count) whose stats merge in
// double; the result then differs from the one-chunk result only by
// rounding, within the same bound.
constexpr std::size_t kChunkElements = std::size_t{1} << 18;  // 1 MiB of floats
// Whether RunRow cuts a row of n elements into chunks (given an executor
// with more than one thread): at least two whole chunks.
constexpr bool SplitsIntoChunks(std::size_t n) { return n >= 2 * kChunkElements; }

// Element i of a row of `type`, as a float, and back (rounded to nearest-even).
float ElementAt(const void* row, std::size_t i, ElementType type) {
  if (type == ElementType::kFloat32) return static_cast<const float*>(row)[i];
  const std::uint16_t bits = static_cast<const std::uint16_t*>(row)[i];
  if (type == ElementType::kFloat16) return HalfBitsToFloat(bits);
  const std::uint32_t wide = static_cast<std::uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &wide, sizeof f);
  return f;
}

void SetElement(void* row, std::size_t i, ElementType type, float value) {
  if (type == ElementType::kFloat32) {
    static_cast<float*>(row)[i] = value;
    return;
  }
  std::uint16_t bits;
  if (type == ElementType::kFloat16) {
    bits = FloatToHalfBits(value);
  } else if (std::isnan(value)) {
    bits = 0x7FC0;
  } else {
    std::uint32_t wide;
    std::memcpy(&wide, &value, sizeof wide);
    bits = static_cast<std::uint16_t>((wide + 0x7FFFu + ((wide >> 16) & 1u)) >> 16);
  }
  static_cast<std::uint16_t*>(row)[i] = bits;
}

// The row's semantics when its maximum is not finite, which is the reference
// behaviour every algorithm defers to: any NaN (or a NaN sink) -> all NaN;
// else +inf entries (and a +inf sink) share the mass; else (everything is
// -inf) all weights are 0.
void ResolveNonFiniteRow(const void* x, void* y, std::size_t n, const RowParams& params) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  const ElementType type = params.element;
  bool any_nan = params.has_sink && std::isnan(params.sink);
  std::size_t pos_inf = params.has_sink && params.sink == kInf ? 1 : 0;
  for (std::size_t i = 0; i < n; ++i) {
    const float xi = ElementAt(x, i, type);
    any_nan |= std::isnan(xi);
    pos_inf += xi == kInf;
  }
  const float zero_weight = params.log ? -kInf : 0.0f;
  if (any_nan) {
    for (std::size_t i = 0; i < n; ++i) SetElement(y, i, type, std::numeric_limits<float>::quiet_NaN());
  } else if (pos_inf > 0) {
    const double share = 1.0 / static_cast<double>(pos_inf);
    const float inf_weight = static_cast<float>(params.log ? std::log(share) : share);
    // In place, y[i] overwrites x[i] only after x[i] was read.
    for (std::size_t i = 0; i < n; ++i) SetElement(y, i, type, ElementAt(x, i, type) == kInf ? inf_weight : zero_weight);
  } else {
    for (std::size_t i = 0; i < n; ++i) SetElement(y, i, type, zero_weight);
  }
}

class RowChunks {
 public:
  RowChunks(const KernelTable* table, const void* x, void* y, std::size_t n, const RowParams& params,
            Executor* executor)
      : table_(table), x_(x), y_(y), n_(n), params_(params), executor_(executor),
        bytes_(params.element == ElementType::kFloat32 ? 4 : 2) {
    if (executor != nullptr && executor->concurrency() > 1 && SplitsIntoChunks(n)) {
      count_ = (n + kChunkElements - 1) / kChunkElements;
      stats_.resize(count_);
    }
  }

  // Runs `phase` of the reduction on every chunk; merges with `merge`.
  template <class Merge>
  RowStats Reduce(int phase, float max, Merge merge) {
    if (count_ == 1) {
      RowStats stats;
      table_->chunk_stats(x_, y_, n_, params_, phase, max, &stats);
      return stats;
    }
    phase_ = phase;
    max_ = max;
    executor_->run(count_, [](void* self, std::size_t c) {
      RowChunks& r = *static_cast<RowChunks*>(self);
      const ScopedDefaultFpEnv fp_env;  // a worker has its own FP state
      r.table_->chunk_stats(r.X(c), r.Y(c), r.Size(c), r.params_, r.phase_, r.max_, &r.stats_[c]);
    }, this);
    RowStats merged = stats_[0];
    for (std::size_t c = 1; c < count_; ++c) merge(&merged, stats_[c]);
    return merged;
  }

  void Map(const RowStats& totals) {
    if (count_ == 1) return table_->chunk_map(x_, y_, n_, params_, totals);
    totals_ = totals;
    executor_->run(count_, [](void* self, std::size_t c) {
      RowChunks& r = *static_cast<RowChunks*>(self);
      const ScopedDefaultFpEnv fp_env;
      r.table_->chunk_map(r.X(c), r.Y(c), r.Size(c), r.params_, r.totals_);
    }, this);
  }

  void Fill(float value) {
    // Rare (a NaN row): one thread is fine.
    for (std::size_t i = 0; i < n_; ++i) SetElement(y_, i, params_.element, value);
  }

 private:
  std::size_t Begin(std::size_t c) const { return c * kChunkElements; }
  std::size_t Size(std::size_t c) const { return std::min(kChunkElements, n_ - Begin(c)); }
  const void* X(std::size_t c) const { return static_cast<const unsigned char*>(x_) + Begin(c) * bytes_; }
  void* Y(std::size_t c) const { return static_cast<unsigned char*>(y_) + Begin(c) * bytes_; }

  const KernelTable* table_;
  const void* x_;
  void* y_;
  std::size_t n_;
  const RowParams& params_;
  Executor* executor_;
  std::size_t bytes_;
  std::size_t count_ = 1;
  std::vector<RowStats> stats_;
  int phase_ = 0;
  float max_ = 0;
  RowStats totals_;
};

void RunRow(const KernelTable* table, const void* x, void* y, std::size_t n, const RowParams& params,
            Executor* executor) {
  if (n == 0) return;
  RowChunks chunks(table, x, y, n, params, executor);
  if (params.algorithm == Algorithm::kTwoPass) {
    RowStats totals = chunks.Reduce(0, 0.0f, MergeTwoPass);
    if (TwoPassTotals(&totals, params)) return chunks.Map(totals);
  } else if (params.algorithm == Algorithm::kOnline) {
    RowStats totals = chunks.Reduce(0, 0.0f, [&](RowStats* a, const RowStats& b) {
      MergeOnline(a, b, params.inv_temperature_f64);
    });
    if (OnlineTotals(&totals, params)) return chunks.Map(totals);
  }
  // Three-pass, and the rows the other algorithms leave to its semantics
  // (x is untouched so far): the reload algorithm stores in its second pass.
  RowParams three_pass = params;
  if (three_pass.algorithm != Algorithm::kThreePassReload) three_pass.algorithm = Algorithm::kThreePassRecompute;
  RowChunks passes(table, x, y, n, three_pass, executor);
  const float max = MaxWithSink(passes.Reduce(0, 0.0f, MergeMax).max, three_pass);
  if (!std::isfinite(max)) return ResolveNonFiniteRow(x, y, n, three_pass);
  RowStats totals = passes.Reduce(1, max, MergeSum);
  totals.max = max;
  totals.sum += SinkTerm(three_pass, max);
  // x may be gone (reload in place), but a NaN sum with a finite max means a
  // NaN input.
  if (totals.nan || std::isnan(totals.sum)) return passes.Fill(std::numeric_limits<float>::quiet_NaN());
  passes.Map(totals);
}

// ------------------------------------------------------------ validation

// [a, a + a_bytes) and [b, b + b_bytes) share a byte.
bool RangesOverlap(const void* a, std::size_t a_bytes, const void* b, std::size_t b_bytes) {
  const auto a0 = reinterpret_cast<std::uintptr_t>(a), b0 = reinterpret_cast<std::uintptr_t>(b);
  return a0 < b0 + b_bytes && b0 < a0 + a_bytes;
}

Status MakeRowParams(const SoftmaxOptions& options, std::size_t n, RowParams* params) {
  const float t = options.temperature;
  if (!(t > 0.0f) || !std::isfinite(t)) {
    return Status(StatusCode::kBadTemperature, "temperature must be finite and > 0");
  }
  const double inv_t = 1.0 / static_cast<double>(t);
  // [2^-100, 2^100]: 1/T is a normal float, and an entry whose difference
  // from the maximum overflows float (|x - M| > FLT_MAX ~ 2^128) has
  // (x - M) / T < -2^28, whose exponential is exactly 0 anyway, so no
  // algorithm loses anything by forming x - M in float.
  if (!(t >= 0x1p-100f && t <= 0x1p100f)) {
    return Status(StatusCode::kBadTemperature, "temperature must be in [2^-100, 2^100] (7.9e-31 to 1.3e30)");
  }
  const int algorithm = static_cast<int>(options.algorithm);
  if (algorithm < 0 || algorithm >= kAlgorithmCount) {
    return Status(StatusCode::kBadArgument, "unknown softmax algorithm");
  }
  params->algorithm = options.algorithm == Algorithm::kAuto ? auto_algorithm(n) : options.algorithm;
  params->inv_temperature = static_cast<float>(inv_t);
  params->inv_temperature_lo = static_cast<float>(inv_t - static_cast<double>(params->inv_temperature));
  params->inv_temperature_f64 = inv_t;
  params->unit_temperature = t == 1.0f;
  params->log = options.log;
  params->has_sink = options.has_sink;
  params->sink = options.sink;
  const int streaming = static_cast<int>(options.streaming);
  if (streaming < 0 || streaming > 2) return Status(StatusCode::kBadArgument, "unknown StreamingStores value");
  params->stream = streams_for(n, options.streaming);
  return Status::Ok();
}

std::size_t CacheSizeOr(int name, std::size_t fallback);

// The per-core L2 when the OS reports it (1 MiB otherwise): up to it kAuto
// picks three-pass reload (measured crossover: see the README), and beyond it
// attention prefetches the next key block.
std::size_t PerCoreL2Bytes() {
  static const std::size_t bytes = CacheSizeOr(_SC_LEVEL2_CACHE_SIZE, std::size_t{1} << 20);
  return bytes;
}

std::size_t CacheSizeOr(int name, std::size_t fallback) {
  long bytes = -1;
#if defined(__linux__)
  bytes = sysconf(name);
#else
  (void)name;
#endif
  return bytes > 0 ? static_cast<std::size_t>(bytes) : fallback;
}

}  // namespace
}  // namespace detail

// ------------------------------------------------------------ public API

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
    case Isa::kNeon: return "neon";
    case Isa::kSve: return "sve";
    case Isa::kSve2: return "sve2";
  }
  return "unknown";
}

Status parse_isa(const char* name, Isa* isa) {
  if (name == nullptr || isa == nullptr) return Status(StatusCode::kNullPointer, "parse_isa: null argument");
  for (int i = 0; i < kIsaCount; ++i) {
    if (detail::EqualsIgnoreCase(name, isa_name(static_cast<Isa>(i)))) {
      *isa = static_cast<Isa>(i);
      return Status::Ok();
    }
  }
  if (detail::EqualsIgnoreCase(name, "avx3")) {
    *isa = Isa::kAvx512;
    return Status::Ok();
  }
  return Status(StatusCode::kBadArgument,
                "unknown ISA name (expected scalar, avx2, avx512, neon, sve or sve2)");
}

bool isa_compiled(Isa isa) { return detail::CompiledTable(isa) != nullptr; }

bool isa_supported(Isa isa) { return isa_compiled(isa) && detail::CpuSupports(isa); }

std::size_t supported_isas(Isa* out, std::size_t capacity) {
  std::size_t count = 0;
  for (Isa isa : detail::kPreference) {
    if (!isa_supported(isa)) continue;
    if (out != nullptr && count < capacity) out[count] = isa;
    ++count;
  }
  return count;
}

Isa active_isa() {
  Status status;
  const detail::KernelTable* table = detail::ActiveTable(&status);
  return table != nullptr ? table->isa : detail::GetDispatcher().best->isa;
}

Isa dispatched_isa() { return active_isa(); }

Status force_isa(Isa isa) {
  if (!isa_compiled(isa)) {
    return Status(StatusCode::kUnsupportedIsa, "force_isa: that target is not compiled into this build");
  }
  if (!detail::CpuSupports(isa)) {
    return Status(StatusCode::kUnsupportedIsa, "force_isa: this CPU does not support that target");
  }
  detail::g_forced.store(detail::CompiledTable(isa), std::memory_order_release);
  return Status::Ok();
}

void reset_isa() { detail::g_forced.store(nullptr, std::memory_order_release); }

Status environment_status() { return detail::GetDispatcher().environment; }

const char* algorithm_name(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::kAuto: return "auto";
    case Algorithm::kThreePassRecompute: return "three_pass_recompute";
    case Algorithm::kThreePassReload: return "three_pass_reload";
    case Algorithm::kTwoPass: return "two_pass";
    case Algorithm::kOnline: return "online";
  }
  return "unknown";
}

std::size_t streaming_threshold_bytes() {
  constexpr std::size_t k32MiB = std::size_t{32} << 20;
  static const std::size_t bytes = std::min(k32MiB, detail::CacheSizeOr(_SC_LEVEL3_CACHE_SIZE, k32MiB));
  return bytes;
}

bool streams_for(std::size_t n, StreamingStores choice) {
  switch (choice) {
    case StreamingStores::kAlways: return true;
    case StreamingStores::kNever: return false;
    case StreamingStores::kAuto: break;
  }
  if (choice != StreamingStores::kAuto || n < streaming_threshold_bytes() / sizeof(float)) return false;
  Status status;
  const detail::KernelTable* table = detail::ActiveTable(&status);
  // Whole 64-byte lines per vector: AVX-512, and SVE when its run-time
  // vector length is a multiple of 512 bits.
  return table != nullptr && table->vector_bytes() % 64 == 0;
}

Algorithm auto_algorithm(std::size_t n) {
  // On vector targets reload wins while the row is in the per-core cache (it
  // evaluates one exponential per element, two-pass two) and two-pass beyond
  // (fewer bytes). The scalar target is compute-bound at every size, and its
  // two-pass exponential (reduced in double) is the cheaper one: measured
  // crossover between 4 Ki and 16 Ki elements (README, "Results"). Targets
  // with vectors narrower than a cache line (AVX2, NEON) spend twice the
  // instructions per element of AVX-512 on two-pass's second exponential, so
  // reload keeps winning past the L2, up to about four times its size:
  // measured crossover between 1 Mi and 4 Mi elements on AVX2 with both a
  // 1 MiB and a 2 MiB L2.
  Status status;
  const detail::KernelTable* table = detail::ActiveTable(&status);
  std::size_t reload_max_bytes = detail::PerCoreL2Bytes();
  if (table != nullptr && table->isa == Isa::kScalar) {
    reload_max_bytes = std::size_t{32} << 10;
  } else if (table != nullptr && table->vector_bytes() < 64) {
    reload_max_bytes *= 4;
  }
  return n * sizeof(float) <= reload_max_bytes ? Algorithm::kThreePassReload : Algorithm::kTwoPass;
}

namespace detail {

std::size_t ElementBytes(ElementType type) { return type == ElementType::kFloat32 ? 4 : 2; }

const char* TypeError(ElementType type) {
  const int t = static_cast<int>(type);
  return t < 0 || t > 2 ? "unknown ElementType" : nullptr;
}

// Byte address arithmetic on rows of any element type.
const void* Advance(const void* p, std::size_t elements, std::size_t bytes) {
  return static_cast<const unsigned char*>(p) + elements * bytes;
}
void* Advance(void* p, std::size_t elements, std::size_t bytes) {
  return static_cast<unsigned char*>(p) + elements * bytes;
}

Status SoftmaxRow(const void* x, void* y, std::size_t n, ElementType type, const SoftmaxOptions& options) {
  // IEEE defaults for the whole call: 1/T below is rounded in them too.
  const ScopedDefaultFpEnv fp_env;
  if (const char* bad = TypeError(type)) return Status(StatusCode::kBadArgument, bad);
  RowParams params;
  if (Status s = MakeRowParams(options, n, &params); !s.ok()) return s;
  params.element = type;
  if (type != ElementType::kFloat32) params.stream = false;
  if (n == 0) return Status::Ok();
  if (x == nullptr || y == nullptr) return Status(StatusCode::kNullPointer, "softmax: x or y is null with n > 0");
  const std::size_t bytes = ElementBytes(type);
  const std::size_t max_elements = static_cast<std::size_t>(PTRDIFF_MAX) / bytes;
  if (n > max_elements) {
    return Status(StatusCode::kBadStride, "softmax: n * sizeof(element) exceeds PTRDIFF_MAX bytes");
  }
  if (x != y && RangesOverlap(x, n * bytes, y, n * bytes)) {
    return Status(StatusCode::kOverlap, "softmax: x and y overlap without being the same buffer");
  }
  Status status;
  const KernelTable* table = ActiveTable(&status);
  if (table == nullptr) return status;
  RunRow(table, x, y, n, params, options.executor);
  return Status::Ok();
}

Status SoftmaxRows(const void* x, std::size_t x_stride, void* y, std::size_t y_stride, std::size_t rows,
                   std::size_t cols, ElementType type, const SoftmaxOptions& options) {
  const ScopedDefaultFpEnv fp_env;
  if (const char* bad = TypeError(type)) return Status(StatusCode::kBadArgument, bad);
  RowParams params;
  if (Status s = MakeRowParams(options, cols, &params); !s.ok()) return s;
  params.element = type;
  if (type != ElementType::kFloat32) params.stream = false;
  if (rows == 0 || cols == 0) return Status::Ok();
  if (x == nullptr || y == nullptr) {
    return Status(StatusCode::kNullPointer, "softmax_rows: x or y is null with rows * cols > 0");
  }
  if (x_stride < cols || y_stride < cols) {
    return Status(StatusCode::kBadStride, "softmax_rows: a row stride is smaller than the row length");
  }
  // Extent of each matrix in elements: (rows - 1) * stride + cols, overflow-checked.
  const std::size_t bytes = ElementBytes(type);
  const std::size_t max_elements = static_cast<std::size_t>(PTRDIFF_MAX) / bytes;
  if (cols > max_elements) {
    return Status(StatusCode::kBadStride, "softmax_rows: cols * sizeof(element) exceeds PTRDIFF_MAX bytes");
  }
  const std::size_t max_rows_x = (max_elements - cols) / x_stride;
  const std::size_t max_rows_y = (max_elements - cols) / y_stride;
  if (rows - 1 > max_rows_x || rows - 1 > max_rows_y) {
    return Status(StatusCode::kBadStride,
                  "softmax_rows: ((rows - 1) * stride + cols) * sizeof(element) exceeds PTRDIFF_MAX bytes");
  }
  const std::size_t x_extent = (rows - 1) * x_stride + cols;
  const std::size_t y_extent = (rows - 1) * y_stride + cols;
  if (x == y) {
    if (x_stride != y_stride) {
      return Status(StatusCode::kOverlap, "softmax_rows: in place needs equal input and output strides");
    }
  } else if (RangesOverlap(x, x_extent * bytes, y, y_extent * bytes)) {
    return Status(StatusCode::kOverlap, "softmax_rows: x and y overlap without being the same buffer");
  }
  Status status;
  const KernelTable* table = ActiveTable(&status);
  if (table == nullptr) return status;
  Executor* executor = options.executor;
  if (executor != nullptr && executor->concurrency() <= 1) executor = nullptr;
  // Fewer rows than threads: when the rows are long, each row in turn is cut
  // into chunks across the threads (RunRow), exactly as softmax() does, so
  // one long row gets the same speed-up through either entry point.
  const bool rows_in_turn = executor == nullptr || rows == 1 ||
                            (rows < executor->concurrency() && SplitsIntoChunks(cols));
  if (rows_in_turn) {
    for (std::size_t r = 0; r < rows; ++r) {
      RunRow(table, Advance(x, r * x_stride, bytes), Advance(y, r * y_stride, bytes), cols, params, executor);
    }
    return Status::Ok();
  }
  // Contiguous blocks of rows, a few per thread so that uneven progress
  // evens out; each task runs in the IEEE defaults too (a worker thread has
  // its own floating-point state).
  struct Job {
    const KernelTable* table;
    const RowParams* params;
    const void* x;
    void* y;
    std::size_t x_stride, y_stride, rows, cols, rows_per_task, bytes;
  };
  const std::size_t tasks = std::min(rows, 4 * executor->concurrency());
  Job job{table, &params, x, y, x_stride, y_stride, rows, cols, (rows + tasks - 1) / tasks, bytes};
  executor->run((rows + job.rows_per_task - 1) / job.rows_per_task,
                [](void* context, std::size_t task) {
                  const Job& j = *static_cast<const Job*>(context);
                  const ScopedDefaultFpEnv task_fp_env;
                  const std::size_t end = std::min(j.rows, (task + 1) * j.rows_per_task);
                  for (std::size_t r = task * j.rows_per_task; r < end; ++r) {
                    RunRow(j.table, Advance(j.x, r * j.x_stride, j.bytes), Advance(j.y, r * j.y_stride, j.bytes),
                           j.cols, *j.params, nullptr);
                  }
                },
                &job);
  return Status::Ok();
}

}  // namespace detail

Status softmax(const float* x, float* y, std::size_t n, const SoftmaxOptions& options) {
  return detail::SoftmaxRow(x, y, n, ElementType::kFloat32, options);
}

Status softmax(const void* x, void* y, std::size_t n, ElementType type, const SoftmaxOptions& options) {
  return detail::SoftmaxRow(x, y, n, type, options);
}

Status softmax_rows(const float* x, std::size_t x_stride, float* y, std::size_t y_stride, std::size_t rows,
                    std::size_t cols, const SoftmaxOptions& options) {
  return detail::SoftmaxRows(x, x_stride, y, y_stride, rows, cols, ElementType::kFloat32, options);
}

Status softmax_rows(const void* x, std::size_t x_stride, void* y, std::size_t y_stride, std::size_t rows,
                    std::size_t cols, ElementType type, const SoftmaxOptions& options) {
  return detail::SoftmaxRows(x, x_stride, y, y_stride, rows, cols, type, options);
}

namespace detail {
void exp_for_testing(const float* x, float* y, std::size_t n) {
  Status status;
  const KernelTable* table = ActiveTable(&status);
  if (table == nullptr) table = GetDispatcher().best;
  const ScopedDefaultFpEnv fp_env;
  table->exp_array(x, y, n);
}
}  // namespace detail

}  // namespace softkern

#include "softkern/detail/attention_impl.hpp"

#endif  // SOFTKERN_DETAIL_IMPLEMENTATION_HPP_
