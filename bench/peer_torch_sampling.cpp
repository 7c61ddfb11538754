// PyTorch sampling peer, one thread (OneTorchThread): vLLM's CPU sampler as
// composed from ATen operators.
//  - top-k and top-p: at::sort of the whole row (ascending), the top-k mask
//    on the sorted logits (ties at the k-th value kept), at::softmax and
//    at::cumsum for top-p (entries whose ascending cumulative mass is <=
//    1 - p dropped, the largest always kept), at::softmax again and
//    at::multinomial; the sorted position maps back through the sort's
//    indices (vLLM scatters the row back first: one pass more);
//  - min-p: at::softmax, at::amax, the mask probs < min_p * max,
//    at::softmax of the masked row, at::multinomial.
// bf16 rows are widened to float first (`.to(at::kFloat)`), as vLLM does.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <limits>

#include "peers.hpp"

namespace softkern_bench {
namespace {

class TorchSampler final : public PeerSampler {
 public:
  TorchSampler() : generator_(at::detail::createCPUGenerator(1234)) {}
  const char* name() const override { return "pytorch"; }
  std::int64_t run(const void* logits, bool bf16, std::size_t n, std::int64_t top_k, float top_p,
                   float min_p) override {
    OneTorchThread();
    const int64_t size = static_cast<int64_t>(n);
    at::Tensor x = bf16 ? at::from_blob(const_cast<void*>(logits), {size}, at::kBFloat16).to(at::kFloat)
                        : at::from_blob(const_cast<void*>(logits), {size}, at::kFloat);
    const double inf = std::numeric_limits<double>::infinity();
    if (min_p > 0.0f) {
      const at::Tensor probs = at::softmax(x, -1);
      const at::Tensor masked = x.masked_fill(probs < at::amax(probs) * min_p, -inf);
      x = masked;
    }
    if (top_k == 0 && top_p >= 1.0f) {
      return at::multinomial(at::softmax(x, -1), 1, false, generator_).item<int64_t>();
    }
    auto [sorted, order] = at::sort(x, -1, /*descending=*/false);
    if (top_k > 0) sorted.masked_fill_(sorted < sorted[size - top_k], -inf);
    if (top_p < 1.0f) {
      at::Tensor remove = at::cumsum(at::softmax(sorted, -1), -1) <= 1.0 - top_p;
      remove[size - 1] = false;
      sorted.masked_fill_(remove, -inf);
    }
    const int64_t at_sorted = at::multinomial(at::softmax(sorted, -1), 1, false, generator_).item<int64_t>();
    return order[at_sorted].item<int64_t>();
  }

 private:
  at::Generator generator_;
};

}  // namespace

std::unique_ptr<PeerSampler> MakeTorchSamplerPeer() { return std::make_unique<TorchSampler>(); }

}  // namespace softkern_bench
