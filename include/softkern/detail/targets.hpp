// softkern/detail/targets.hpp — the one list of the targets this build
// compiles, best first. Adding a target is one entry here, its CPU check
// (cpu.hpp), its public name (dispatch.hpp) and whatever kernels need its own
// instructions.
//
// An entry names three things: the target's softkern::Isa enumerator, its
// Highway target and the namespace Highway gives that target's code:
//
//   #define SOFTKERN_TARGET_ENTRY kAvx2, HWY_AVX2, N_AVX2
//   #include SOFTKERN_TARGET_VISITOR
//
// The includer defines SOFTKERN_TARGET_VISITOR as the file to run on each
// entry, which reads the entry's fields with the accessors below and
// undefines SOFTKERN_TARGET_ENTRY when done. implementation.hpp reads the list
// twice: expand_target.hpp compiles every kernel for each entry, and
// target_entry.hpp lists each entry's KernelTable for the dispatcher, in this
// order (the dispatcher takes the first one the CPU supports).
//
// A list, not a header: it has no include guard and is meant to be included
// once per reading. It needs hwy/detect_targets.h for the architecture.

#ifndef SOFTKERN_TARGET_VISITOR
#error "softkern: define SOFTKERN_TARGET_VISITOR before including targets.hpp"
#endif

#ifndef SOFTKERN_DETAIL_TARGET_FIELDS_
#define SOFTKERN_DETAIL_TARGET_FIELDS_
// Accessors for an entry's fields; the inner macro takes the entry's expansion
// as its three arguments.
#define SOFTKERN_TARGET_ISA_OF(...) SOFTKERN_TARGET_ISA_OF_(__VA_ARGS__)
#define SOFTKERN_TARGET_ISA_OF_(isa, hwy_target, hwy_namespace) isa
#define SOFTKERN_TARGET_HWY_OF(...) SOFTKERN_TARGET_HWY_OF_(__VA_ARGS__)
#define SOFTKERN_TARGET_HWY_OF_(isa, hwy_target, hwy_namespace) hwy_target
#define SOFTKERN_TARGET_NAMESPACE_OF(...) SOFTKERN_TARGET_NAMESPACE_OF_(__VA_ARGS__)
#define SOFTKERN_TARGET_NAMESPACE_OF_(isa, hwy_target, hwy_namespace) hwy_namespace
#endif

// The list is fixed per architecture rather than taken from HWY_TARGETS,
// which depends on the compiler flags: with -march=x86-64-v3, Highway 1.0.3
// picks SSSE3 as its baseline and would leave AVX2 out of the static set.
#if HWY_ARCH_X86_64
#define SOFTKERN_TARGET_ENTRY kAvx512, HWY_AVX3, N_AVX3
#include SOFTKERN_TARGET_VISITOR
#define SOFTKERN_TARGET_ENTRY kAvx2, HWY_AVX2, N_AVX2
#include SOFTKERN_TARGET_VISITOR

#elif HWY_ARCH_ARM_A64
// SVE needs a compiler that knows it (g++ >= 10, clang >= 11).
#if HWY_ATTAINABLE_TARGETS & HWY_SVE2
#define SOFTKERN_TARGET_ENTRY kSve2, HWY_SVE2, N_SVE2
#include SOFTKERN_TARGET_VISITOR
#endif
#if HWY_ATTAINABLE_TARGETS & HWY_SVE
#define SOFTKERN_TARGET_ENTRY kSve, HWY_SVE, N_SVE
#include SOFTKERN_TARGET_VISITOR
#endif
#define SOFTKERN_TARGET_ENTRY kNeon, HWY_NEON, N_NEON
#include SOFTKERN_TARGET_VISITOR
#endif  // architecture

#define SOFTKERN_TARGET_ENTRY kScalar, HWY_SCALAR, N_SCALAR
#include SOFTKERN_TARGET_VISITOR
