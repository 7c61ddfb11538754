// softkern/detail/cpu.hpp — which of softkern's targets this CPU can run.
//
// softkern does its own CPU check instead of calling Highway's (which lives
// in libhwy.so): cpuid + xgetbv on x86-64, getauxval on aarch64. A target
// counts as supported only if the OS also saves its registers.
#ifndef SOFTKERN_DETAIL_CPU_HPP_
#define SOFTKERN_DETAIL_CPU_HPP_

#include <atomic>

#include "softkern/dispatch.hpp"

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

namespace softkern {
namespace detail {

#if defined(__x86_64__) || defined(_M_X64)
inline unsigned long long ReadXcr0() {
  unsigned eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
}
#endif

inline bool CpuSupports(Isa isa) {
  if (isa == Isa::kScalar) return true;
#if defined(__x86_64__) || defined(_M_X64)
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
  const bool osxsave = c & (1u << 27);
  // What Highway's AVX2 target assumes: AVX2, FMA, F16C, BMI1/2, LZCNT, MOVBE.
  const bool fma = c & (1u << 12), movbe = c & (1u << 22), f16c = c & (1u << 29);
  if (!osxsave) return false;
  const unsigned long long xcr0 = ReadXcr0();
  const bool os_avx = (xcr0 & 0x6) == 0x6;            // XMM and YMM state
  const bool os_avx512 = (xcr0 & 0xE6) == 0xE6;       // + opmask, ZMM_Hi256, Hi16_ZMM
  unsigned a7, b7, c7, d7;
  if (!__get_cpuid_count(7, 0, &a7, &b7, &c7, &d7)) return false;
  unsigned a8, b8, c8, d8;
  if (!__get_cpuid(0x80000001u, &a8, &b8, &c8, &d8)) return false;
  const bool lzcnt = c8 & (1u << 5);
  const bool avx2 = os_avx && fma && movbe && f16c && lzcnt && (b7 & (1u << 5)) &&
                    (b7 & (1u << 3)) && (b7 & (1u << 8));
  if (isa == Isa::kAvx2) return avx2;
  if (isa == Isa::kAvx512) {
    // Highway's AVX3 target: AVX-512 F, VL, DQ and BW.
    const unsigned need = (1u << 16) | (1u << 31) | (1u << 17) | (1u << 30);
    return avx2 && os_avx512 && (b7 & need) == need;
  }
  return false;
#elif defined(__aarch64__) && defined(__linux__)
  const unsigned long hwcap = getauxval(AT_HWCAP);
  const unsigned long hwcap2 = getauxval(AT_HWCAP2);
  if (isa == Isa::kNeon) return hwcap & (1ul << 1);      // HWCAP_ASIMD
  if (isa == Isa::kSve) return hwcap & (1ul << 22);      // HWCAP_SVE
  if (isa == Isa::kSve2) return (hwcap & (1ul << 22)) && (hwcap2 & (1ul << 1));  // HWCAP2_SVE2
  return false;
#else
  return false;
#endif
}

// AVX-512 BF16 (vcvtneps2bf16): CPUID leaf 7, subleaf 1, EAX bit 5. Asked
// only by the AVX-512 target, whose own check covers the OS state.
inline bool CpuHasAvx512Bf16() {
#if defined(__x86_64__) || defined(_M_X64)
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || a < 1) return false;  // a: the last subleaf
  if (!__get_cpuid_count(7, 1, &a, &b, &c, &d)) return false;
  return a & (1u << 5);
#else
  return false;
#endif
}

// Whether the AVX-512 target rounds bf16 rows with vcvtneps2bf16: true where
// the CPU has it. Tests set it to false to run the integer rounding on the
// same CPU and compare the two.
inline std::atomic<bool> g_use_avx512_bf16{CpuHasAvx512Bf16()};

}  // namespace detail
}  // namespace softkern

#endif  // SOFTKERN_DETAIL_CPU_HPP_
