// bench/softmax_twin.cpp — the roofline twins of the softmax algorithms
// (softmax_twin.hpp).
#include "softmax_twin.hpp"

#include <cmath>
#include <cstddef>

#include <softkern/softkern.hpp>

#if defined(__AVX__)
#include <immintrin.h>
#endif

namespace softkern_bench {

using softkern::Algorithm;

const char* TrafficName(Traffic t) {
  switch (t) {
    case Traffic::kTwoReadsOneWrite: return "2R1W";
    case Traffic::kThreeReadsOneWrite: return "3R1W";
    case Traffic::kThreeReadsTwoWrites: return "3R2W";
  }
  return "?";
}

double TrafficBytesPerElement(Traffic t) {
  switch (t) {
    case Traffic::kTwoReadsOneWrite: return 12;
    case Traffic::kThreeReadsOneWrite: return 16;
    case Traffic::kThreeReadsTwoWrites: return 20;
  }
  return 0;
}

Traffic TrafficOf(Algorithm algorithm, std::size_t n) {
  if (algorithm == Algorithm::kAuto) algorithm = softkern::auto_algorithm(n);
  switch (algorithm) {
    case Algorithm::kThreePassRecompute: return Traffic::kThreeReadsOneWrite;
    case Algorithm::kThreePassReload: return Traffic::kThreeReadsTwoWrites;
    default: return Traffic::kTwoReadsOneWrite;
  }
}

namespace {

float TwinSum(const float* x, std::size_t n) {
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (std::size_t i = 0; i < n; ++i) sum += x[i];
  return sum;
}

float TwinMax(const float* x, std::size_t n) {
  float max = -INFINITY;
#pragma omp simd reduction(max : max)
  for (std::size_t i = 0; i < n; ++i) max = x[i] > max ? x[i] : max;
  return max;
}

float TwinScale(const float* x, float* y, std::size_t n, float scale) {
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (std::size_t i = 0; i < n; ++i) {
    y[i] = x[i] * scale;
    sum += y[i];
  }
  return sum;
}

// TwinScale with non-temporal stores, as softkern's final pass makes them for
// rows of at least streaming_threshold_bytes(): the twin must move the same
// bytes, and a streaming store skips the read-for-ownership of y's lines.
float TwinScaleStreaming(const float* x, float* y, std::size_t n, float scale) {
#if defined(__AVX512F__) || defined(__AVX__)
#if defined(__AVX512F__)
  using V = __m512;
  constexpr std::size_t kLanes = 16;
  auto set1 = [](float v) { return _mm512_set1_ps(v); };
  auto mul = [](V a, V b) { return _mm512_mul_ps(a, b); };
  auto add = [](V a, V b) { return _mm512_add_ps(a, b); };
  auto load = [](const float* p) { return _mm512_loadu_ps(p); };
  auto stream = [](float* p, V v) { _mm512_stream_ps(p, v); };
  auto hsum = [](V v) { return _mm512_reduce_add_ps(v); };
#else
  using V = __m256;
  constexpr std::size_t kLanes = 8;
  auto set1 = [](float v) { return _mm256_set1_ps(v); };
  auto mul = [](V a, V b) { return _mm256_mul_ps(a, b); };
  auto add = [](V a, V b) { return _mm256_add_ps(a, b); };
  auto load = [](const float* p) { return _mm256_loadu_ps(p); };
  auto stream = [](float* p, V v) { _mm256_stream_ps(p, v); };
  auto hsum = [](V v) {
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, v);
    float s = 0;
    for (float l : lanes) s += l;
    return s;
  };
#endif
  std::size_t i = 0;
  float sum = 0.0f;
  for (; i < n && reinterpret_cast<std::uintptr_t>(y + i) % (kLanes * 4) != 0; ++i) {
    y[i] = x[i] * scale;
    sum += y[i];
  }
  const V vscale = set1(scale);
  V vsum = set1(0.0f);
  for (; i + kLanes <= n; i += kLanes) {
    const V v = mul(load(x + i), vscale);
    stream(y + i, v);
    vsum = add(vsum, v);
  }
  for (; i < n; ++i) {
    y[i] = x[i] * scale;
    sum += y[i];
  }
  _mm_sfence();
  return sum + hsum(vsum);
#else
  return TwinScale(x, y, n, scale);
#endif
}

// Same passes, same reads and writes as the algorithm, no exponentials; the
// final pass streams where softkern's does.
void RooflineTwinRow(Traffic traffic, const float* x, float* y, std::size_t n, softkern::StreamingStores streaming) {
  const bool stream = softkern::streams_for(n, streaming);
  auto final_scale = stream ? TwinScaleStreaming : TwinScale;
  switch (traffic) {
    case Traffic::kTwoReadsOneWrite: {
      const float s = TwinSum(x, n);
      final_scale(x, y, n, 1.0f / (1.0f + std::fabs(s)));
      break;
    }
    case Traffic::kThreeReadsOneWrite: {
      const float m = TwinMax(x, n);
      const float s = TwinSum(x, n);
      final_scale(x, y, n, 1.0f / (1.0f + std::fabs(s + m)));
      break;
    }
    case Traffic::kThreeReadsTwoWrites: {
      const float m = TwinMax(x, n);
      const float s = TwinScale(x, y, n, 1.0f / (1.0f + std::fabs(m)));
      // In place, like reload's final pass, which never streams (softmax_rows-inl.hpp: MapRow).
      TwinScale(y, y, n, 1.0f / (1.0f + std::fabs(s)));
      break;
    }
  }
}

}  // namespace

void RooflineTwin(Traffic traffic, const float* x, float* y, std::size_t rows, std::size_t cols,
                  softkern::StreamingStores streaming) {
  for (std::size_t r = 0; r < rows; ++r) RooflineTwinRow(traffic, x + r * cols, y + r * cols, cols, streaming);
}

}  // namespace softkern_bench
