// softkern/detail/fp_env.hpp — the floating-point state the kernels run in.
//
// The kernels' error bound and their exact special values (0 for -inf, the
// denormal tail of the exponential, (float)(1/k) for k infinities) assume
// IEEE defaults: round to nearest, denormals neither flushed nor treated as
// zero. A caller may run with other settings (flush-to-zero is common in
// audio and ML code, and some code changes the rounding mode), so every
// public entry point that runs kernels sets the defaults for the duration of
// the call and restores the caller's state on the way out. Reading the
// control register is cheap; it is written only when it differs.
#ifndef SOFTKERN_DETAIL_FP_ENV_HPP_
#define SOFTKERN_DETAIL_FP_ENV_HPP_

#include <cstdint>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

namespace softkern {
namespace detail {

class ScopedDefaultFpEnv {
 public:
#if defined(__x86_64__) || defined(_M_X64)
  // MXCSR: all exceptions masked (0x1F80), round to nearest (RC = 00),
  // FTZ (bit 15) and DAZ (bit 6) clear. The sticky exception flags (bits 0-5)
  // are the caller's: they are kept on entry and merged back on exit, so a
  // caller testing for, say, overflow after a call sees what the call raised.
  static constexpr std::uint32_t kControlMask = 0xFFC0u;
  static constexpr std::uint32_t kDefaultControl = 0x1F80u;
  ScopedDefaultFpEnv() : saved_(_mm_getcsr()) {
    if ((saved_ & kControlMask) != kDefaultControl) {
      _mm_setcsr((saved_ & ~kControlMask) | kDefaultControl);
      changed_ = true;
    }
  }
  ~ScopedDefaultFpEnv() {
    if (changed_) _mm_setcsr((saved_ & kControlMask) | (_mm_getcsr() & ~kControlMask));
  }
#elif defined(__aarch64__)
  // FPCR: RMode (bits 22-23) = round to nearest, FZ (bit 24) and FZ16
  // (bit 19) clear, AH/FIZ (bits 1, 0) clear; the rest is the caller's.
  static constexpr std::uint64_t kModeMask = (3ull << 22) | (1ull << 24) | (1ull << 19) | 3ull;
  ScopedDefaultFpEnv() {
    __asm__ volatile("mrs %0, fpcr" : "=r"(saved_));
    if ((saved_ & kModeMask) != 0) {
      const std::uint64_t fpcr = saved_ & ~kModeMask;
      __asm__ volatile("msr fpcr, %0" : : "r"(fpcr));
      changed_ = true;
    }
  }
  ~ScopedDefaultFpEnv() {
    if (changed_) __asm__ volatile("msr fpcr, %0" : : "r"(saved_));
  }
#else
  ScopedDefaultFpEnv() = default;
#endif
  ScopedDefaultFpEnv(const ScopedDefaultFpEnv&) = delete;
  ScopedDefaultFpEnv& operator=(const ScopedDefaultFpEnv&) = delete;

 private:
#if defined(__x86_64__) || defined(_M_X64)
  std::uint32_t saved_;
#elif defined(__aarch64__)
  std::uint64_t saved_ = 0;
#endif
  bool changed_ = false;
};

}  // namespace detail
}  // namespace softkern

#endif  // SOFTKERN_DETAIL_FP_ENV_HPP_
