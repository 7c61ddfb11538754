// PyTorch's softmax kernel, at::_softmax_out into the bench's buffer, one
// intra-op thread.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "peers.hpp"

namespace softkern_bench {
namespace {

class TorchPeer final : public PeerSoftmax {
 public:
  const char* name() const override { return "pytorch"; }
  bool prepare(std::size_t rows, std::size_t cols, std::string*) override {
    at::set_num_threads(1);
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

}  // namespace

std::unique_ptr<PeerSoftmax> MakeTorchPeer() { return std::make_unique<TorchPeer>(); }

}  // namespace softkern_bench
