// bench/fma_twin.cpp — see fma_twin.hpp. Intrinsics rather than Highway: the
// twin must compile to exactly one FMA instruction per accumulator per
// iteration, on the vector width of the target it is the peak of.
#include "fma_twin.hpp"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <ctime>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif

namespace softkern_bench {
namespace {

// acc = acc * a + b converges to b / (1 - a) = 1 and never overflows or
// goes denormal, so every FMA runs at full speed.
constexpr float kA = 0.999999f, kB = 1e-6f;
constexpr long kIterations = 1 << 18;  // about 2 ms on one AVX-512 or AVX2 core

#if defined(__x86_64__)
// AVX-512: 32 zmm registers, 24 accumulators (FMA latency 4 x 2 ports = 8
// needed; 24 also covers cores with 3-4 cycle latency and 2 ports).
__attribute__((target("avx512f"))) float Fma512(long iterations) {
  constexpr int kAcc = 24;
  __m512 acc[kAcc];
  for (int k = 0; k < kAcc; ++k) acc[k] = _mm512_set1_ps(static_cast<float>(k));
  const __m512 a = _mm512_set1_ps(kA), b = _mm512_set1_ps(kB);
  for (long i = 0; i < iterations; ++i) {
#pragma GCC unroll 32
    for (int k = 0; k < kAcc; ++k) acc[k] = _mm512_fmadd_ps(acc[k], a, b);
  }
  __m512 s = acc[0];
  for (int k = 1; k < kAcc; ++k) s = _mm512_add_ps(s, acc[k]);
  return _mm512_reduce_add_ps(s);
}

// AVX2: 16 ymm registers, 12 accumulators plus a and b.
__attribute__((target("avx2,fma"))) float Fma256(long iterations) {
  constexpr int kAcc = 12;
  __m256 acc[kAcc];
  for (int k = 0; k < kAcc; ++k) acc[k] = _mm256_set1_ps(static_cast<float>(k));
  const __m256 a = _mm256_set1_ps(kA), b = _mm256_set1_ps(kB);
  for (long i = 0; i < iterations; ++i) {
#pragma GCC unroll 32
    for (int k = 0; k < kAcc; ++k) acc[k] = _mm256_fmadd_ps(acc[k], a, b);
  }
  __m256 s = acc[0];
  for (int k = 1; k < kAcc; ++k) s = _mm256_add_ps(s, acc[k]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, s);
  float sum = 0;
  for (float x : lanes) sum += x;
  return sum;
}

// Scalar: one lane per FMA (vfmadd231ss), 12 accumulators.
__attribute__((target("fma"))) float Fma32(long iterations) {
  constexpr int kAcc = 12;
  __m128 acc[kAcc];
  for (int k = 0; k < kAcc; ++k) acc[k] = _mm_set_ss(static_cast<float>(k));
  const __m128 a = _mm_set_ss(kA), b = _mm_set_ss(kB);
  for (long i = 0; i < iterations; ++i) {
#pragma GCC unroll 32
    for (int k = 0; k < kAcc; ++k) acc[k] = _mm_fmadd_ss(acc[k], a, b);
  }
  float sum = 0;
  for (int k = 0; k < kAcc; ++k) sum += _mm_cvtss_f32(acc[k]);
  return sum;
}
#elif defined(__aarch64__)
// NEON: 32 q registers, 24 accumulators (the SVE targets are measured
// against this 128-bit twin).
float Fma128(long iterations) {
  constexpr int kAcc = 24;
  float32x4_t acc[kAcc];
  for (int k = 0; k < kAcc; ++k) acc[k] = vdupq_n_f32(static_cast<float>(k));
  const float32x4_t a = vdupq_n_f32(kA), b = vdupq_n_f32(kB);
  for (long i = 0; i < iterations; ++i) {
#pragma GCC unroll 32
    for (int k = 0; k < kAcc; ++k) acc[k] = vfmaq_f32(b, acc[k], a);
  }
  float32x4_t s = acc[0];
  for (int k = 1; k < kAcc; ++k) s = vaddq_f32(s, acc[k]);
  return vaddvq_f32(s);
}
#endif

// Flops per iteration and the loop, for `isa`.
struct Twin {
  double flops_per_iteration = 0;
  float (*loop)(long) = nullptr;
};

Twin TwinFor(softkern::Isa isa) {
  switch (isa) {
#if defined(__x86_64__)
    case softkern::Isa::kAvx512: return {2.0 * 24 * 16, &Fma512};
    case softkern::Isa::kAvx2: return {2.0 * 12 * 8, &Fma256};
    case softkern::Isa::kScalar: return {2.0 * 12, &Fma32};
#elif defined(__aarch64__)
    case softkern::Isa::kNeon:
    case softkern::Isa::kSve:
    case softkern::Isa::kSve2: return {2.0 * 24 * 4, &Fma128};
#endif
    default: return {};
  }
}

}  // namespace

double ThreadCpuSeconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

double ProcessCpuSeconds() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

FmaPeak FmaPeakFlops(softkern::Isa isa) {
  const Twin twin = TwinFor(isa);
  if (twin.loop == nullptr) return {};
  volatile float sink = twin.loop(kIterations / 8);  // warm up (clock, power state)
  std::vector<double> wall, cpu;
  const double flops = twin.flops_per_iteration * kIterations;
  for (int r = 0; r < 9; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = ThreadCpuSeconds();
    sink = sink + twin.loop(kIterations);
    cpu.push_back(flops / (ThreadCpuSeconds() - c0));
    wall.push_back(flops / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(wall.begin(), wall.end());
  std::sort(cpu.begin(), cpu.end());
  return {wall[wall.size() / 2], cpu[cpu.size() / 2]};
}

}  // namespace softkern_bench
