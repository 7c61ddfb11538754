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
#include "softkern/detail/kernel_table.hpp"
#include "softkern/detail/row_stats.hpp"
#include "softkern/detail/thread_pool.hpp"
#include "softkern/dispatch.hpp"
#include "softkern/softmax.hpp"
#include "softkern/training.hpp"

// ---------------------------------------------------------------- expansion
//
// What hwy/foreach_target.h does, but for softkern's own list of targets
// (targets.hpp) and without its once-per-TU include guard: for each entry,
// expand_target.hpp sets HWY_TARGET, includes the per-target kernels and
// flips HWY_TARGET_TOGGLE.

#undef HWY_TARGET_TOGGLE
#define SOFTKERN_TARGET_VISITOR "softkern/detail/expand_target.hpp"
#include "softkern/detail/targets.hpp"
#undef SOFTKERN_TARGET_VISITOR

// Leave Highway's macros as a fresh include would find them.
#undef HWY_TARGET_TOGGLE
#undef HWY_TARGET
#define HWY_TARGET HWY_STATIC_TARGET

#include "softkern/detail/dispatcher.hpp"
#include "softkern/detail/algorithm_choice.hpp"
#include "softkern/detail/row_driver.hpp"
#include "softkern/detail/softmax_calls.hpp"
#include "softkern/detail/attention_impl.hpp"
#include "softkern/detail/sampling_impl.hpp"
#include "softkern/detail/training_impl.hpp"
#include "softkern/detail/cross_entropy_calls.hpp"
#include "softkern/detail/serving_impl.hpp"

#endif  // SOFTKERN_DETAIL_IMPLEMENTATION_HPP_
