// The "write it yourself with a SIMD wrapper" baseline: a plain three-pass
// softmax (max; e^{x-max} stored and summed; scale) with xsimd::exp, compiled
// for this machine's widest vectors (-march=native on this file only). On an
// AVX-512 machine a second instance uses 256-bit AVX2 batches, the peer of
// softkern's AVX2 target (what the same code gives on an AVX2-only CPU).
#include <algorithm>
#include <cmath>
#include <limits>

#include <xsimd/xsimd.hpp>

#include "peers.hpp"

namespace softkern_bench {
namespace {

template <class Arch>
void XsimdSoftmaxRow(const float* x, float* y, std::size_t n) {
  using Batch = xsimd::batch<float, Arch>;
  constexpr std::size_t N = Batch::size;
  std::size_t vec_end = n - n % N;
  Batch vmax(-std::numeric_limits<float>::infinity());
  for (std::size_t i = 0; i < vec_end; i += N) vmax = xsimd::max(vmax, Batch::load_unaligned(x + i));
  alignas(64) float lanes[N];
  vmax.store_aligned(lanes);
  float max = *std::max_element(lanes, lanes + N);
  for (std::size_t i = vec_end; i < n; ++i) max = std::max(max, x[i]);

  Batch vsum(0.0f);
  const Batch bmax(max);
  for (std::size_t i = 0; i < vec_end; i += N) {
    const Batch e = xsimd::exp(Batch::load_unaligned(x + i) - bmax);
    e.store_unaligned(y + i);
    vsum += e;
  }
  float sum = xsimd::hadd(vsum);
  for (std::size_t i = vec_end; i < n; ++i) sum += (y[i] = std::exp(x[i] - max));

  const Batch inv(1.0f / sum);
  for (std::size_t i = 0; i < vec_end; i += N) (Batch::load_unaligned(y + i) * inv).store_unaligned(y + i);
  for (std::size_t i = vec_end; i < n; ++i) y[i] *= 1.0f / sum;
}

template <class Arch>
class XsimdPeer final : public PeerSoftmax {
 public:
  explicit XsimdPeer(const char* name) : name_(name) {}
  const char* name() const override { return name_; }
  bool prepare(std::size_t rows, std::size_t cols, std::string*) override {
    rows_ = rows;
    cols_ = cols;
    return true;
  }
  void run(const float* x, float* y) override {
    for (std::size_t r = 0; r < rows_; ++r) XsimdSoftmaxRow<Arch>(x + r * cols_, y + r * cols_, cols_);
  }

 private:
  const char* name_;
  std::size_t rows_ = 0, cols_ = 0;
};

}  // namespace

std::unique_ptr<PeerSoftmax> MakeXsimdPeer() {
  return std::make_unique<XsimdPeer<xsimd::default_arch>>("xsimd_three_pass");
}

std::unique_ptr<PeerSoftmax> MakeXsimdAvx2Peer() {
#if XSIMD_WITH_AVX512F && XSIMD_WITH_AVX2
  return std::make_unique<XsimdPeer<xsimd::avx2>>("xsimd_three_pass_avx2");
#else
  return nullptr;  // the default peer already is the widest this CPU has
#endif
}

}  // namespace softkern_bench
