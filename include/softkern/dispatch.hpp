// softkern/dispatch.hpp — which instruction set the kernels run on.
//
// Every kernel is compiled once per target (scalar, AVX2, AVX-512 on x86-64;
// scalar, NEON, SVE, SVE2 on aarch64). The best target this CPU supports is
// chosen on first use, once and thread-safely. The environment variable
// SOFTKERN_ISA (e.g. SOFTKERN_ISA=avx2) overrides that choice at start-up, and
// force_isa() overrides it from code: tests, benches, and users chasing a bug.
#ifndef SOFTKERN_DISPATCH_HPP_
#define SOFTKERN_DISPATCH_HPP_

#include <cstddef>

#include "softkern/status.hpp"

namespace softkern {

enum class Isa : int {
  kScalar = 0,
  kAvx2,
  kAvx512,
  kNeon,
  kSve,
  kSve2,
};
inline constexpr int kIsaCount = 6;

// "scalar", "avx2", "avx512", "neon", "sve", "sve2".
const char* isa_name(Isa isa);
// Parses the names above (case-insensitive); "avx3" is accepted for "avx512".
Status parse_isa(const char* name, Isa* isa);

// Compiled into this build (for this architecture).
bool isa_compiled(Isa isa);
// Compiled in and runnable on this CPU (with OS support for its registers).
bool isa_supported(Isa isa);

// Fills `out` with the supported targets, best first; returns how many there
// are (which may exceed `capacity`: only `capacity` are written).
std::size_t supported_isas(Isa* out, std::size_t capacity);

// The target that calls run on now: the forced one if any, else the one named
// by SOFTKERN_ISA, else the best supported one. Answered by the kernel table
// calls go through, which records the target it was compiled for.
Isa active_isa();

// Makes every later call (from any thread) run on `isa`. Fails with
// kUnsupportedIsa, changing nothing, if the target is not compiled in or not
// supported by this CPU.
Status force_isa(Isa isa);
// Returns to the default choice (SOFTKERN_ISA, else the best supported).
void reset_isa();

// The result of reading SOFTKERN_ISA on first use: ok if it is unset or names a
// supported target. If it names anything else, kernel calls fail with this
// status (rather than silently running another target) unless a target has
// been forced with force_isa().
Status environment_status();

}  // namespace softkern

#endif  // SOFTKERN_DISPATCH_HPP_
