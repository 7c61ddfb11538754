// PyTorch peers, one thread: intra-op (at::set_num_threads(1)) and its BLAS
// (OpenBLAS's openblas_set_num_threads(1), when that is the BLAS loaded:
// the environment variable is read before main() runs, so it is set here
// through the library's own call).
//  - softmax: at::_softmax_out into the bench's buffer;
//  - attention: softmax(q k^T * scale + mask) v from at::matmul and
//    at::softmax with a precomputed -inf causal mask, as users compose it
//    (the full L x L product: at::matmul has no causal form).
#include <dlfcn.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <cstring>

#include "peers.hpp"

namespace softkern_bench {

void OneTorchThread() {
  at::set_num_threads(1);
  using SetThreads = void (*)(int);
  for (const char* name : {"openblas_set_num_threads", "goto_set_num_threads"}) {
    if (auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, name))) set(1);
  }
}

namespace {

class TorchPeer final : public PeerSoftmax {
 public:
  const char* name() const override { return "pytorch"; }
  bool prepare(std::size_t rows, std::size_t cols, std::string*) override {
    OneTorchThread();
    rows_ = static_cast<int64_t>(rows);
    cols_ = static_cast<int64_t>(cols);
    return true;
  }
  void run(const float* x, float* y) override {
    const at::Tensor in = at::from_blob(const_cast<float*>(x), {rows_, cols_}, at::kFloat);
    at::Tensor out = at::from_blob(y, {rows_, cols_}, at::kFloat);
    at::_softmax_out(out, in, 1, false);
  }

 private:
  int64_t rows_ = 0, cols_ = 0;
};

class TorchAttentionPeer final : public PeerAttention {
 public:
  const char* name() const override { return "pytorch"; }
  bool prepare(std::size_t L, std::size_t d, const float* q, const float* k, const float* v,
               std::string*) override {
    OneTorchThread();
    const int64_t l = static_cast<int64_t>(L), dd = static_cast<int64_t>(d);
    L_ = L;
    q_ = at::from_blob(const_cast<float*>(q), {l, dd}, at::kFloat);
    k_ = at::from_blob(const_cast<float*>(k), {l, dd}, at::kFloat);
    v_ = at::from_blob(const_cast<float*>(v), {l, dd}, at::kFloat);
    mask_ = at::full({l, l}, -INFINITY, at::kFloat).triu(1);
    scale_ = 1.0 / std::sqrt(static_cast<double>(d));
    return true;
  }
  void run(float* o) override {
    const at::Tensor out = at::matmul(at::softmax(at::matmul(q_, k_.t()) * scale_ + mask_, -1), v_);
    std::memcpy(o, out.contiguous().data_ptr<float>(), static_cast<std::size_t>(out.numel()) * sizeof(float));
  }
  // The scores, the scaled scores plus mask, and the softmax: three L x L
  // float matrices alive at once.
  double intermediate_bytes() const override { return 3.0 * L_ * L_ * sizeof(float); }

 private:
  std::size_t L_ = 0;
  at::Tensor q_, k_, v_, mask_;
  double scale_ = 1.0;
};

}  // namespace

std::unique_ptr<PeerSoftmax> MakeTorchPeer() { return std::make_unique<TorchPeer>(); }
std::unique_ptr<PeerAttention> MakeTorchAttentionPeer() { return std::make_unique<TorchAttentionPeer>(); }

}  // namespace softkern_bench
