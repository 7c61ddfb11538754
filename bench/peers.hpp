// bench/peers.hpp — softmax and attention implementations a user would
// otherwise pick.
//
// Each peer is compiled only when its Debian package is found (see
// bench/CMakeLists.txt) and runs on contiguous rows x cols float32 rows, one
// thread, in the same process as softkern. The bench checks every peer's
// output against softkern's before timing it.
#ifndef SOFTKERN_BENCH_PEERS_HPP_
#define SOFTKERN_BENCH_PEERS_HPP_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace softkern_bench {

class PeerSoftmax {
 public:
  virtual ~PeerSoftmax() = default;
  virtual const char* name() const = 0;
  // Sets the peer up for `rows` rows of `cols` elements (contiguous). Returns
  // false with a reason when the peer cannot run that shape.
  virtual bool prepare(std::size_t rows, std::size_t cols, std::string* why) = 0;
  // y = softmax(x) row by row, for the shape of the last prepare().
  virtual void run(const float* x, float* y) = 0;
};

// Every peer built into this binary, in a fixed order.
std::vector<std::unique_ptr<PeerSoftmax>> MakePeers();

// Causal prefill attention, one head: o = softmax(q k^T / sqrt(d) + causal
// mask) v over [L, d] float32 q, k, v (L queries over L keys), composed from
// the library's own operators as its users write it, one thread.
class PeerAttention {
 public:
  virtual ~PeerAttention() = default;
  virtual const char* name() const = 0;
  // Sets the peer up for these tensors (kept by pointer until the next
  // prepare); false with a reason when it cannot run them.
  virtual bool prepare(std::size_t L, std::size_t d, const float* q, const float* k, const float* v,
                       std::string* why) = 0;
  virtual void run(float* o) = 0;
  // Bytes of the intermediate L x L matrices the composition materialises.
  virtual double intermediate_bytes() const = 0;
};

std::vector<std::unique_ptr<PeerAttention>> MakeAttentionPeers();
std::unique_ptr<PeerAttention> MakeOneDnnAttentionPeer();
std::unique_ptr<PeerAttention> MakeTorchAttentionPeer();
// One line naming the BLAS and threading libraries this process has mapped
// (from /proc/self/maps), e.g. ".../openblas-pthread/libblas.so.3".
std::string LoadedMathLibraries();

// Sampling one token from a row of logits, composed from the library's own
// operators as its users write it, one thread (bench/sampling_bench.cpp).
// The row is float32, or bfloat16 bits when `bf16`; the filters are
// top_k (0: none), top_p (1: none) and min_p (0: none), in vLLM's order.
class PeerSampler {
 public:
  virtual ~PeerSampler() = default;
  virtual const char* name() const = 0;
  virtual std::int64_t run(const void* logits, bool bf16, std::size_t n, std::int64_t top_k, float top_p,
                           float min_p) = 0;
};

// PyTorch's intra-op and BLAS threads set to one (peer_torch.cpp).
void OneTorchThread();

// Factories, one per peer source file (declared here, defined only when built).
std::unique_ptr<PeerSoftmax> MakeXsimdPeer();
std::unique_ptr<PeerSoftmax> MakeXsimdAvx2Peer();  // null unless the default is wider
std::unique_ptr<PeerSoftmax> MakeOneDnnPeer();
std::unique_ptr<PeerSoftmax> MakeXnnpackPeer();
std::unique_ptr<PeerSoftmax> MakeTorchPeer();
std::unique_ptr<PeerSampler> MakeTorchSamplerPeer();

}  // namespace softkern_bench

#endif  // SOFTKERN_BENCH_PEERS_HPP_
