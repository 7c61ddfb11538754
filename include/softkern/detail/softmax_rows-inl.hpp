// softkern/detail/softmax_rows-inl.hpp — walking a softmax row, per target:
// the element types (float, bf16, f16) and their loads and stores, the tails,
// the reduction tree and the map. The algorithms (softmax-inl.hpp) are
// written on top of FoldBlock, ReduceTree and MapRow.
//
// Re-included once per target (Highway's toggle guard below).
//  - A *reduction* walks the row once and produces a per-lane statistic. The
//    row is cut into leaves of 64 vectors (LeafElements); each leaf is folded
//    with four independent accumulators (to hide latency), and leaf results
//    are merged pairwise as a tree of depth ceil(log2(leaves)). The tree
//    keeps the rounding error of a sum of n terms at O(16 + log n) ulps
//    instead of O(n / lanes), and it is the same merge that splits a row
//    across threads. ReduceLeaves walks the leaves in one loop, so the
//    accumulator's constants are loaded once per row and stay in registers.
//  - A *map* walks the row once more and writes y.
//  - Tails (the last n % lanes elements) are masked loads and stores where
//    the hardware suppresses faults on the lanes left out (AVX-512, SVE, and
//    AVX2 for float), and go through a small stack buffer elsewhere, so no
//    target ever touches memory outside [x, x + n) and [y, y + n).

#if defined(SOFTKERN_DETAIL_SOFTMAX_ROWS_INL_HPP_) == defined(HWY_TARGET_TOGGLE)
#ifdef SOFTKERN_DETAIL_SOFTMAX_ROWS_INL_HPP_
#undef SOFTKERN_DETAIL_SOFTMAX_ROWS_INL_HPP_
#else
#define SOFTKERN_DETAIL_SOFTMAX_ROWS_INL_HPP_
#endif

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include <hwy/cache_control.h>
#include <hwy/highway.h>

#include "softkern/detail/cpu.hpp"
#include "softkern/detail/float16.hpp"

HWY_BEFORE_NAMESPACE();
namespace softkern {
namespace detail {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;

// How the lambdas given to MapRow capture their vector constants: by value,
// so that they stay in registers while y is stored; SVE vectors are sizeless
// types, which a closure cannot hold by value, so there by reference.
#undef SOFTKERN_MAP_CAPTURE
#if HWY_HAVE_SCALABLE
#define SOFTKERN_MAP_CAPTURE &
#else
#define SOFTKERN_MAP_CAPTURE =
#endif
using VF = hn::Vec<DF>;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
// Elements per leaf of the reduction tree: 64 vectors, so each of FoldBlock's
// four accumulators sums 16 vectors before the pairwise merges take over. The
// leaf is counted in vectors, not elements, so that every target (1 lane on
// scalar, 16 on AVX-512) keeps the same short serial chains and the same
// error bound; 1024 elements on AVX-512 is also where the leaf's data
// (4 KiB) is still in L1 when the merge needs it.
HWY_INLINE std::size_t LeafElements(DF d) { return 64 * hn::Lanes(d); }

// A vector kept in a struct (the accumulators' constants and the pairs of
// vectors the two-pass and online reductions carry). SVE vectors are
// sizeless types: they can be variables, arguments, references and return
// values, but not members of a struct or class. So on SVE (and any other
// scalable target) StoredVF keeps the lanes in memory and loads them when
// asked, which costs an L1 load where a constant is used (and, in the reload
// pass, cannot be hoisted out of the loop: y's stores may alias it); on
// every fixed-width target it holds the vector itself, a register.
#if HWY_HAVE_SCALABLE
class StoredVF {
 public:
  StoredVF() = default;
  HWY_INLINE StoredVF(DF d, VF v) { hn::Store(v, d, lanes_); }
  HWY_INLINE VF Get(DF d) const { return hn::Load(d, lanes_); }

 private:
  HWY_ALIGN float lanes_[hn::MaxLanes(DF())];
};
#else
class StoredVF {
 public:
  StoredVF() = default;
  HWY_INLINE StoredVF(DF d, VF v) : v_(v) { (void)d; }
  HWY_INLINE VF Get(DF d) const {
    (void)d;
    return v_;
  }

 private:
  VF v_;
};
#endif

// ---------------------------------------------------------------- row walking

// The row's elements: float, or 16-bit (hwy::bfloat16_t, hwy::float16_t)
// widened to float on load and rounded to nearest-even on store; all the
// arithmetic is float. bf16 is rounded with integer ops on every target
// (Highway 1.0.3's DemoteTo truncates); f16 uses the hardware (F16C on
// AVX2/AVX-512, fcvt on Arm) and, on the scalar target, the exact
// conversions of row_stats.hpp (Highway's scalar f16 emulation truncates and
// mishandles inf/NaN).
template <class T>
using DT = hn::Rebind<T, DF>;

template <class T>
HWY_INLINE VF WidenToFloat(DF d, hn::Vec<DT<T>> v) {
#if HWY_TARGET == HWY_SCALAR
  if constexpr (std::is_same_v<T, hwy::float16_t>) {
    std::uint16_t bits;
    std::memcpy(&bits, &v.raw, sizeof bits);
    return hn::Set(d, HalfBitsToFloat(bits));
  }
#endif
  return hn::PromoteTo(d, v);
}

template <class T>
HWY_INLINE hn::Vec<DT<T>> NarrowFromFloat(DF d, VF v) {
  const DT<T> dt;
  if constexpr (std::is_same_v<T, hwy::bfloat16_t>) {
    const hn::RebindToUnsigned<DF> du;
    const hn::RebindToSigned<DF> di;
    const auto bits = hn::BitCast(du, v);
    const auto lsb = hn::And(hn::ShiftRight<16>(bits), hn::Set(du, 1u));
    auto rounded = hn::ShiftRight<16>(hn::Add(hn::Add(bits, hn::Set(du, 0x7FFFu)), lsb));
    // A NaN must stay a NaN (rounding could carry it into infinity).
    rounded = hn::IfThenElse(hn::RebindMask(du, hn::IsNaN(v)), hn::Set(du, 0x7FC0u), rounded);
    return hn::BitCast(dt, hn::DemoteTo(hn::Rebind<std::uint16_t, DF>(), hn::BitCast(di, rounded)));
  } else {
#if HWY_TARGET == HWY_SCALAR
    const std::uint16_t bits = FloatToHalfBits(hn::GetLane(v));
    hn::Vec<DT<T>> out;
    std::memcpy(&out.raw, &bits, sizeof bits);
    (void)d;
    return out;
#else
    (void)d;
    return hn::DemoteTo(dt, v);
#endif
  }
}

template <class T>
HWY_INLINE VF LoadElements(DF d, const T* p) {
  if constexpr (std::is_same_v<T, float>) {
    return hn::LoadU(d, p);
  } else {
    return WidenToFloat<T>(d, hn::LoadU(DT<T>(), p));
  }
}

template <class T>
HWY_INLINE void StoreElements(DF d, VF v, T* p) {
  if constexpr (std::is_same_v<T, float>) {
    hn::StoreU(v, d, p);
  } else {
    hn::StoreU(NarrowFromFloat<T>(d, v), DT<T>(), p);
  }
}

// A bf16 vector rounded by AVX-512 BF16's vcvtneps2bf16 (AVX-512 target,
// CPUs that have it: g_use_avx512_bf16): one instruction where
// NarrowFromFloat's integer rounding takes nine. It rounds to nearest even
// like NarrowFromFloat, and keeps a NaN a NaN, but reads denormal inputs as
// zero: a vector holding one (vfpclassps, one instruction; softmax outputs
// below 2^-126 are rare) takes the integer rounding instead, so the two give
// the same bits but for NaN payloads. Highway 1.0.3 has no op for it and its
// AVX-512 target does not enable the extension, hence the inline assembly.
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
constexpr bool kHasBf16Instruction = true;
HWY_INLINE void StoreBf16ByInstruction(DF d, VF v, hwy::bfloat16_t* p) {
  constexpr int kDenormal = 0x20;
  if (HWY_UNLIKELY(_mm512_fpclass_ps_mask(v.raw, kDenormal) != 0)) return StoreElements(d, v, p);
  __m256i bits;
  __asm__("vcvtneps2bf16 %1, %0" : "=v"(bits) : "v"(v.raw));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), bits);
}
#else
constexpr bool kHasBf16Instruction = false;
HWY_INLINE void StoreBf16ByInstruction(DF d, VF v, hwy::bfloat16_t* p) { StoreElements(d, v, p); }
#endif

// Whether the tail of a row of T is read and written with masked loads and
// stores: AVX-512 and SVE suppress faults on the lanes left out, and so does
// AVX2's vmaskmovps (float only: AVX2 has no 16-bit masked store). NEON and
// the scalar target go through a stack buffer.
template <class T>
constexpr bool MaskedTails() {
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL || HWY_HAVE_SCALABLE
  return true;
#elif HWY_TARGET == HWY_AVX2
  return std::is_same_v<T, float>;
#else
  return false;
#endif
}

// The tail (fewer than a vector of elements), touching no memory outside the
// row; lanes past `count` read `fill`.
template <class T>
HWY_INLINE VF LoadTail(DF d, const T* p, std::size_t count, float fill) {
  if constexpr (MaskedTails<T>()) {
    const auto in_row = hn::FirstN(d, count);
    if constexpr (std::is_same_v<T, float>) {
      return hn::IfThenElse(in_row, hn::MaskedLoad(in_row, d, p), hn::Set(d, fill));
    } else {
      const hn::Rebind<std::uint16_t, DF> du16;
      const auto bits = hn::MaskedLoad(hn::FirstN(du16, count), du16, reinterpret_cast<const std::uint16_t*>(p));
      return hn::IfThenElse(in_row, WidenToFloat<T>(d, hn::BitCast(DT<T>(), bits)), hn::Set(d, fill));
    }
  } else {
    HWY_ALIGN float buf[hn::MaxLanes(DF())];
    const std::size_t lanes = hn::Lanes(d);
    for (std::size_t i = 0; i < lanes; ++i) buf[i] = fill;
    if constexpr (std::is_same_v<T, float>) {
      std::memcpy(buf, p, count * sizeof(float));
      return hn::Load(d, buf);
    } else {
      HWY_ALIGN T narrow[hn::MaxLanes(DF())];
      hn::StoreU(NarrowFromFloat<T>(d, hn::Load(d, buf)), DT<T>(), narrow);
      std::memcpy(narrow, p, count * sizeof(T));
      return LoadElements(d, static_cast<const T*>(narrow));
    }
  }
}

template <class T>
HWY_INLINE void StreamElements(DF d, VF v, T* p) {
  if constexpr (std::is_same_v<T, float>) {
    hn::Stream(v, d, p);
  } else {
    StoreElements(d, v, p);  // not reached: 16-bit rows never stream
  }
}

template <class T>
HWY_INLINE void StoreTail(DF d, VF v, T* p, std::size_t count) {
  if constexpr (MaskedTails<T>()) {
    if constexpr (std::is_same_v<T, float>) {
      hn::BlendedStore(v, hn::FirstN(d, count), d, p);
    } else {
      const hn::Rebind<std::uint16_t, DF> du16;
      hn::BlendedStore(hn::BitCast(du16, NarrowFromFloat<T>(d, v)), hn::FirstN(du16, count), du16,
                       reinterpret_cast<std::uint16_t*>(p));
    }
  } else {
    HWY_ALIGN T buf[hn::MaxLanes(DF())];
    StoreElements(d, v, static_cast<T*>(buf));
    std::memcpy(p, buf, count * sizeof(T));
  }
}

// Software prefetch of the lines kPrefetchBytes ahead of the 4 vectors at p.
// Hardware prefetchers follow a stream, but a pass that computes between its
// loads keeps too few misses in flight to draw the bandwidth a plain copy
// gets; asking early restores that. Prefetches never fault, so running past
// the end of the row is harmless (the address is formed as an integer). A
// call whose rows fit in the per-core L2 makes none (RowParams::prefetch):
// there they would only take load slots.
constexpr std::size_t kPrefetchBytes = 4096;
template <class T>
HWY_INLINE void PrefetchAhead(DF d, const T* p) {
  const std::uintptr_t ahead = reinterpret_cast<std::uintptr_t>(p) + kPrefetchBytes;
  for (std::size_t line = 0; line < 4 * hn::Lanes(d) * sizeof(T); line += 64) {
    hwy::Prefetch(reinterpret_cast<const float*>(ahead + line));
  }
}

// Folds x[0, count) into `Acc::State` with four independent accumulators.
// `acc.Add<kStore>(state, v)` returns the value that kStore stores at the
// same place in `y` (and is free not to form it without kStore): the reload
// algorithm stores while it sums. The tail is padded with -inf, which every
// accumulator ignores (max) or maps to 0 (exp). kPrefetch: PrefetchAhead
// every four vectors.
template <bool kStore, bool kPrefetch, class Acc, class T>
HWY_INLINE typename Acc::State FoldLeaf(DF d, const Acc& acc, const T* x, T* y, std::size_t count) {
  const std::size_t N = hn::Lanes(d);
  typename Acc::State s0 = acc.Init(d), s1 = acc.Init(d), s2 = acc.Init(d), s3 = acc.Init(d);
  std::size_t i = 0;
  // Kept a loop where a leaf's count is known (LeafElements): fully unrolled
  // it would add nothing but code.
#pragma GCC unroll 1
  for (; i + 4 * N <= count; i += 4 * N) {
    if (kPrefetch) PrefetchAhead(d, x + i);
    const VF r0 = acc.template Add<kStore>(d, s0, LoadElements(d, x + i));
    const VF r1 = acc.template Add<kStore>(d, s1, LoadElements(d, x + i + N));
    const VF r2 = acc.template Add<kStore>(d, s2, LoadElements(d, x + i + 2 * N));
    const VF r3 = acc.template Add<kStore>(d, s3, LoadElements(d, x + i + 3 * N));
    if (kStore) {
      StoreElements(d, r0, y + i);
      StoreElements(d, r1, y + i + N);
      StoreElements(d, r2, y + i + 2 * N);
      StoreElements(d, r3, y + i + 3 * N);
    }
  }
  for (; i + N <= count; i += N) {
    const VF r = acc.template Add<kStore>(d, s0, LoadElements(d, x + i));
    if (kStore) StoreElements(d, r, y + i);
  }
  if (i < count) {
    const VF r = acc.template Add<kStore>(d, s1, LoadTail(d, x + i, count - i, -kInf));
    if (kStore) StoreTail(d, r, y + i, count - i);
  }
  return acc.Merge(d, acc.Merge(d, s0, s1), acc.Merge(d, s2, s3));
}

// FoldLeaf as a function of its own (one leaf, prefetching), for callers
// that fold a block by itself. The accumulator is copied into a local so
// that its constants stay in registers across y's stores.
template <bool kStore, class Acc, class T>
HWY_NOINLINE typename Acc::State FoldBlock(DF d, const Acc& acc_in, const T* x, T* y, std::size_t count) {
  const Acc acc = acc_in;
  return FoldLeaf<kStore, true>(d, acc, x, y, count);
}

// The reduction tree over x[0, n): leaves of LeafElements(d), merged pairwise
// with the halves split at a leaf boundary. `acc.Leaf` folds one leaf
// (FoldBlock, or two folds for the online algorithm). The softmax passes use
// ReduceLeaves, which merges in the same depth without a call per leaf.
template <class Acc, class T>
HWY_NOINLINE typename Acc::State ReduceTree(DF d, const Acc& acc, const T* x, T* y, std::size_t n) {
  const std::size_t leaf = LeafElements(d);
  if (n <= leaf) return acc.Leaf(d, x, y, n);
  const std::size_t half = (n / leaf + 1) / 2 * leaf;
  const typename Acc::State left = ReduceTree(d, acc, x, y, half);
  const typename Acc::State right =
      ReduceTree(d, acc, x + half, y == nullptr ? nullptr : y + half, n - half);
  return acc.Merge(d, left, right);
}

// Where ReduceLeaves keeps a merged run of leaves: a State that is a vector
// goes through StoredVF (an SVE vector cannot be an array element); State
// structs already hold StoredVFs.
template <class State>
struct StateSlot {
  State state;
  HWY_INLINE void Put(DF d, const State& s) {
    (void)d;
    state = s;
  }
  HWY_INLINE State Get(DF d) const {
    (void)d;
    return state;
  }
};
template <>
struct StateSlot<VF> {
  StoredVF state;
  HWY_INLINE void Put(DF d, VF s) { state = StoredVF(d, s); }
  HWY_INLINE VF Get(DF d) const { return state.Get(d); }
};

// ReduceLeaves with its prefetching fixed at compile time.
template <bool kStore, bool kPrefetch, class Acc, class T>
HWY_INLINE typename Acc::State ReduceLeavesOf(DF d, const Acc& acc, const T* x, T* y, std::size_t n) {
  using State = typename Acc::State;
  const std::size_t leaf = LeafElements(d);
  if (n <= leaf) return acc.template FoldLeafOf<kStore, kPrefetch>(d, x, y, n);
  // merged[k] holds the merge of 2^k consecutive leaves while bit k of
  // `leaves` is set: each new leaf merges with the runs of its own size
  // before it, as a binary counter carries, and the runs left at the end
  // merge from the shortest up, so every leaf result passes through at most
  // ceil(log2(leaves)) merges: the depth of a balanced tree.
  StateSlot<State> merged[64];
  std::size_t leaves = 0;
  for (std::size_t i = 0; i < n; i += leaf) {
    const std::size_t count = HWY_MIN(leaf, n - i);
    State s = acc.template FoldLeafOf<kStore, kPrefetch>(d, x + i, kStore ? y + i : static_cast<T*>(nullptr), count);
    std::size_t k = 0;
    for (; (leaves >> k) & 1; ++k) s = acc.Merge(d, merged[k].Get(d), s);
    merged[k].Put(d, s);
    ++leaves;
  }
  // The runs left, the latest (shortest) first: earlier elements stay left.
  std::size_t k = 0;
  while (((leaves >> k) & 1) == 0) ++k;
  State total = merged[k].Get(d);
  for (++k; (leaves >> k) != 0; ++k) {
    if ((leaves >> k) & 1) total = acc.Merge(d, merged[k].Get(d), total);
  }
  return total;
}

// The reduction of x[0, n) (and, with kStore, the values stored to y[0, n)),
// leaf by leaf in one loop: acc is copied into a local once, so its
// constants stay in registers across every leaf and y's stores, and no call
// is made per leaf. prefetch: PrefetchAhead in the leaves (RowParams).
// `Acc::FoldLeafOf<kStore, kPrefetch>` folds one leaf (FoldLeaf, or two
// folds for the two-pass and online algorithms). Not inlined: each
// reduction pass is one named function, which scripts/instruction_bound.py
// finds and counts in the disassembly.
template <bool kStore, class Acc, class T>
HWY_NOINLINE typename Acc::State ReduceLeaves(DF d, const Acc& acc_in, const T* x, T* y, std::size_t n,
                                              bool prefetch) {
  const Acc acc = acc_in;
  if (prefetch) return ReduceLeavesOf<kStore, true>(d, acc, x, y, n);
  return ReduceLeavesOf<kStore, false>(d, acc, x, y, n);
}

// y[i, n) = f(x[i, n)), four vectors per iteration, then single vectors, then
// the tail. f must be elementwise, so that the result does not depend on
// where vectors start. kStream picks non-temporal stores for the whole
// vectors (MapRow says when); kBf16Instruction: bf16 rows rounded by
// StoreBf16ByInstruction; kPrefetch: PrefetchAhead every four vectors.
template <bool kStream, class T, class F, bool kBf16Instruction = false, bool kPrefetch = true>
HWY_INLINE void MapFrom(DF d, const T* x, T* y, std::size_t i, std::size_t n, const F& f) {
  const std::size_t N = hn::Lanes(d);
  const auto store = [d](VF v, T* p) {
    if constexpr (kStream) {
      StreamElements(d, v, p);
    } else if constexpr (kBf16Instruction && std::is_same_v<T, hwy::bfloat16_t>) {
      StoreBf16ByInstruction(d, v, p);
    } else {
      StoreElements(d, v, p);
    }
  };
  for (; i + 4 * N <= n; i += 4 * N) {
    if (kPrefetch) PrefetchAhead(d, x + i);
    const VF r0 = f(LoadElements(d, x + i));
    const VF r1 = f(LoadElements(d, x + i + N));
    const VF r2 = f(LoadElements(d, x + i + 2 * N));
    const VF r3 = f(LoadElements(d, x + i + 3 * N));
    store(r0, y + i);
    store(r1, y + i + N);
    store(r2, y + i + 2 * N);
    store(r3, y + i + 3 * N);
  }
  for (; i + N <= n; i += N) store(f(LoadElements(d, x + i)), y + i);
  if (i < n) StoreTail(d, f(LoadTail(d, x + i, n - i, -kInf)), y + i, n - i);
}

// y[i] = f(x[i]) for i in [0, n). Not inlined, like ReduceLeaves (one named
// function per map); f is copied into a local and captures its constants by
// value, so they stay in registers.
//
// With `stream`, y is written with non-temporal stores (the final pass of a
// row larger than the last-level cache): a normal store first reads the line
// it writes (read-for-ownership), so streaming saves a third of the final
// pass's traffic, and y does not evict x. Non-temporal stores need aligned
// addresses, so the head up to y's first vector boundary goes through the
// tail path. In place (x == y, and always in the reload algorithm's final
// pass) the lines of y were just read, so there is no read-for-ownership to
// save and a non-temporal store would only evict them: plain stores then.
// prefetch: PrefetchAhead in the plain-store loops (RowParams::prefetch;
// streamed rows are beyond the last-level cache and always prefetch).
template <class T, class F>
HWY_NOINLINE void MapRow(DF d, const T* x, T* y, std::size_t n, bool stream, bool prefetch, const F& f_in) {
  const F f = f_in;
  const auto y_address = reinterpret_cast<std::uintptr_t>(y);
  // Streaming stores are for float rows (a 16-bit vector is half a line).
  if (std::is_same_v<T, float> && stream && x != y && y_address % sizeof(float) == 0) {
    const std::size_t N = hn::Lanes(d);
    const std::size_t misaligned = (y_address / sizeof(float)) % N;
    const std::size_t head = HWY_MIN(n, (N - misaligned) % N);
    if (head != 0) StoreTail(d, f(LoadTail(d, x, head, -kInf)), y, head);
    MapFrom<true>(d, x, y, head, n, f);
    // Non-temporal stores are weakly ordered: fence them before returning, so
    // that y is visible to whatever the caller (or another thread) does next.
    hwy::FlushStream();
    return;
  }
  if constexpr (kHasBf16Instruction && std::is_same_v<T, hwy::bfloat16_t>) {
    if (g_use_avx512_bf16.load(std::memory_order_relaxed)) {
      if (prefetch) return MapFrom<false, T, F, true, true>(d, x, y, 0, n, f);
      return MapFrom<false, T, F, true, false>(d, x, y, 0, n, f);
    }
  }
  if (prefetch) return MapFrom<false, T, F, false, true>(d, x, y, 0, n, f);
  MapFrom<false, T, F, false, false>(d, x, y, 0, n, f);
}

// MapRow, prefetching.
template <class T, class F>
HWY_INLINE void MapRow(DF d, const T* x, T* y, std::size_t n, bool stream, const F& f) {
  MapRow(d, x, y, n, stream, /*prefetch=*/true, f);
}

// The sum of v's lanes in double: a tree of adds (two halves widened to
// double, then the target's lane reduction), not a chain of one add per lane.
HWY_INLINE double SumOfLanesInDouble(DF d, VF v) {
#if HWY_TARGET == HWY_SCALAR
  return static_cast<double>(hn::GetLane(v));
#else
  const hn::Half<DF> dh;
  const hn::Rebind<double, hn::Half<DF>> dd;
  const auto sum = hn::Add(hn::PromoteTo(dd, hn::LowerHalf(dh, v)), hn::PromoteTo(dd, hn::UpperHalf(dh, v)));
  return hn::GetLane(hn::SumOfLanes(dd, sum));
#endif
}

}  // namespace HWY_NAMESPACE
}  // namespace detail
}  // namespace softkern
HWY_AFTER_NAMESPACE();

#endif  // toggle guard
