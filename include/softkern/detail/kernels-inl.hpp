// softkern/detail/kernels-inl.hpp — every kernel of one target and the
// target's KernelTable (kernel_table.hpp). Included once per entry of
// targets.hpp by expand_target.hpp, which defines SOFTKERN_TARGET_ISA; the
// files below each have their own toggle guard, and this one is read exactly
// once per target, so it needs none.
//
// A kernel family's *-inl.hpp file defines its table of entry points in the
// target's namespace (kSoftmaxKernels, kAttentionKernels, kSamplingKernels,
// kTrainingKernels); a new family adds its include and its member below.
#include "softkern/detail/softmax-inl.hpp"
#include "softkern/detail/attention-inl.hpp"
#include "softkern/detail/sampling-inl.hpp"
#include "softkern/detail/training-inl.hpp"

#include "softkern/detail/kernel_table.hpp"

HWY_BEFORE_NAMESPACE();
namespace softkern {
namespace detail {
namespace HWY_NAMESPACE {

// Bytes per vector as the kernels use them: hn::Lanes, which on SVE reads
// the vector length of the CPU it runs on. hn::MaxLanes is only Highway's
// compile-time bound (256 bytes on SVE, whatever the hardware has).
HWY_NOINLINE std::size_t VectorBytes() { return hn::Lanes(DF()) * sizeof(float); }

inline constexpr KernelTable kKernelTable = {
    SOFTKERN_TARGET_ISA,
    &VectorBytes,
    kSoftmaxKernels,
    kAttentionKernels,
    kSamplingKernels,
    kTrainingKernels,
};

}  // namespace HWY_NAMESPACE
}  // namespace detail
}  // namespace softkern
HWY_AFTER_NAMESPACE();
