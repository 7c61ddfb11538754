// softkern/detail/expand_target.hpp — compiles every kernel for one entry of
// targets.hpp (SOFTKERN_TARGET_ENTRY): what hwy/foreach_target.h does for one
// target. Set HWY_TARGET, include the per-target kernels, flip
// HWY_TARGET_TOGGLE so that every *-inl.hpp file's toggle guard lets the next
// target in. SOFTKERN_TARGET_ISA names the target's Isa for its KernelTable
// (kernels-inl.hpp).
//
// Included by implementation.hpp through targets.hpp, once per entry; no
// include guard.

#undef HWY_TARGET
#define HWY_TARGET SOFTKERN_TARGET_HWY_OF(SOFTKERN_TARGET_ENTRY)
#define SOFTKERN_TARGET_ISA ::softkern::Isa::SOFTKERN_TARGET_ISA_OF(SOFTKERN_TARGET_ENTRY)

#include "softkern/detail/kernels-inl.hpp"

#undef SOFTKERN_TARGET_ISA
#ifdef HWY_TARGET_TOGGLE
#undef HWY_TARGET_TOGGLE
#else
#define HWY_TARGET_TOGGLE
#endif
#undef SOFTKERN_TARGET_ENTRY
