// bench/training_peers.hpp — the training bench's peers: softmax backward
// and cross-entropy forward + backward as a PyTorch user runs them (built
// when libtorch is found, like the softmax peers of peers.hpp).
#ifndef SOFTKERN_BENCH_TRAINING_PEERS_HPP_
#define SOFTKERN_BENCH_TRAINING_PEERS_HPP_

#include <cstddef>
#include <cstdint>
#include <memory>

namespace softkern_bench {

// dx = softmax (or log-softmax) backward of rows x cols float32 rows.
class PeerBackward {
 public:
  virtual ~PeerBackward() = default;
  virtual const char* name() const = 0;
  // `threads` intra-op threads.
  virtual void prepare(std::size_t rows, std::size_t cols, bool log, int threads) = 0;
  virtual void run(const float* y, const float* dy, float* dx) = 0;
};

// The mean cross-entropy of rows x vocab float32 logits and its gradient.
class PeerCrossEntropy {
 public:
  virtual ~PeerCrossEntropy() = default;
  virtual const char* name() const = 0;
  virtual void prepare(std::size_t rows, std::size_t vocab, const std::int64_t* targets, int threads) = 0;
  // Writes the loss; copies the gradient into `grad` when it is not null
  // (outside the timing: the peer's own gradient buffer is what it returns).
  virtual void run(const float* logits, float* loss, float* grad) = 0;
};

// Null when the bench is built without libtorch.
std::unique_ptr<PeerBackward> MakeTorchBackwardPeer();
std::unique_ptr<PeerCrossEntropy> MakeTorchCrossEntropyPeer();

}  // namespace softkern_bench

#endif  // SOFTKERN_BENCH_TRAINING_PEERS_HPP_
