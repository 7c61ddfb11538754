// PyTorch peers of the training bench (training_peers.hpp), with the
// intra-op thread count each row asks for (at::set_num_threads):
//  - softmax backward: at::_softmax_backward_data_out (log-softmax:
//    at::_log_softmax_backward_data_out) into the bench's buffer, the
//    operator autograd calls;
//  - cross-entropy: F.cross_entropy(logits, targets) (mean) and
//    loss.backward() on a leaf tensor over the bench's logits, as a training
//    step runs it; autograd allocates the gradient.
// PyTorch's CPU tensors are allocated through a wrapper of its allocator
// that reports to the bench's peak-memory counter (memory_counter.hpp).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/CPUAllocator.h>
#include <torch/torch.h>

#include <cstring>

#include "memory_counter.hpp"
#include "training_peers.hpp"

namespace softkern_bench {
namespace {

// PyTorch's CPU allocator, counted.
class CountingAllocator final : public c10::Allocator {
 public:
  explicit CountingAllocator(c10::Allocator* inner) : inner_(inner) {}
  c10::DataPtr allocate(std::size_t n) const override {
    c10::DataPtr inner = inner_->allocate(n);
    void* data = inner.get();
    auto* held = new Held{std::move(inner), n};
    CountAllocation(n);
    return c10::DataPtr(data, held, &Release, c10::Device(c10::DeviceType::CPU));
  }
  c10::DeleterFnPtr raw_deleter() const override { return nullptr; }

 private:
  struct Held {
    c10::DataPtr inner;
    std::size_t bytes;
  };
  static void Release(void* context) {
    auto* held = static_cast<Held*>(context);
    CountRelease(held->bytes);
    delete held;
  }
  c10::Allocator* inner_;
};

void UseCountingAllocator() {
  static CountingAllocator* counting = [] {
    auto* a = new CountingAllocator(c10::GetCPUAllocator());
    c10::SetCPUAllocator(a, /*priority=*/1);
    return a;
  }();
  (void)counting;
}

class TorchBackward final : public PeerBackward {
 public:
  const char* name() const override { return "pytorch"; }
  void prepare(std::size_t rows, std::size_t cols, bool log, int threads) override {
    UseCountingAllocator();
    at::set_num_threads(threads);
    rows_ = static_cast<int64_t>(rows);
    cols_ = static_cast<int64_t>(cols);
    log_ = log;
  }
  void run(const float* y, const float* dy, float* dx) override {
    const at::Tensor yt = at::from_blob(const_cast<float*>(y), {rows_, cols_}, at::kFloat);
    const at::Tensor dyt = at::from_blob(const_cast<float*>(dy), {rows_, cols_}, at::kFloat);
    at::Tensor dxt = at::from_blob(dx, {rows_, cols_}, at::kFloat);
    if (log_) {
      at::_log_softmax_backward_data_out(dxt, dyt, yt, 1, at::kFloat);
    } else {
      at::_softmax_backward_data_out(dxt, dyt, yt, 1, at::kFloat);
    }
  }

 private:
  int64_t rows_ = 0, cols_ = 0;
  bool log_ = false;
};

class TorchCrossEntropy final : public PeerCrossEntropy {
 public:
  const char* name() const override { return "pytorch"; }
  void prepare(std::size_t rows, std::size_t vocab, const std::int64_t* targets, int threads) override {
    UseCountingAllocator();
    at::set_num_threads(threads);
    rows_ = static_cast<int64_t>(rows);
    vocab_ = static_cast<int64_t>(vocab);
    targets_ = torch::from_blob(const_cast<std::int64_t*>(targets), {rows_}, torch::kInt64);
  }
  void run(const float* logits, float* loss, float* grad) override {
    torch::Tensor x = torch::from_blob(const_cast<float*>(logits), {rows_, vocab_}, torch::kFloat32);
    x.requires_grad_(true);
    torch::Tensor l = torch::nn::functional::cross_entropy(x, targets_);
    l.backward();
    *loss = l.item<float>();
    if (grad != nullptr) std::memcpy(grad, x.grad().data_ptr<float>(), sizeof(float) * rows_ * vocab_);
  }

 private:
  int64_t rows_ = 0, vocab_ = 0;
  torch::Tensor targets_;
};

}  // namespace

std::unique_ptr<PeerBackward> MakeTorchBackwardPeer() { return std::make_unique<TorchBackward>(); }
std::unique_ptr<PeerCrossEntropy> MakeTorchCrossEntropyPeer() { return std::make_unique<TorchCrossEntropy>(); }

}  // namespace softkern_bench
