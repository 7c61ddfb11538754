// softkern/detail/implementation.hpp — the one expansion: the kernels
// compiled for every target, then the parts that run them (see
// docs/layout.md): the dispatcher, the automatic choices, the row driver and
// the public functions with their argument checks.
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

#include <hwy/detect_targets.h>

#include "softkern/detail/cpu.hpp"
#include "softkern/detail/float16.hpp"
#include "softkern/detail/fp_env.hpp"
#include "softkern/detail/row_stats.hpp"
#include "softkern/detail/thread_pool.hpp"
#include "softkern/detail/kernel_table.hpp"
#include "softkern/dispatch.hpp"
#include "softkern/softmax.hpp"

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

#include "softkern/detail/dispatcher.hpp"
#include "softkern/detail/algorithm_choice.hpp"
#include "softkern/detail/row_driver.hpp"
#include "softkern/detail/softmax_calls.hpp"
#include "softkern/detail/attention_impl.hpp"

#endif  // SOFTKERN_DETAIL_IMPLEMENTATION_HPP_
