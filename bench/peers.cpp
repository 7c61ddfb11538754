#include "peers.hpp"

namespace softkern_bench {

std::vector<std::unique_ptr<PeerSoftmax>> MakePeers() {
  std::vector<std::unique_ptr<PeerSoftmax>> peers;
#ifdef SOFTKERN_BENCH_HAVE_XSIMD
  peers.push_back(MakeXsimdPeer());
#endif
#ifdef SOFTKERN_BENCH_HAVE_ONEDNN
  peers.push_back(MakeOneDnnPeer());
#endif
#ifdef SOFTKERN_BENCH_HAVE_XNNPACK
  peers.push_back(MakeXnnpackPeer());
#endif
#ifdef SOFTKERN_BENCH_HAVE_TORCH
  peers.push_back(MakeTorchPeer());
#endif
  return peers;
}

}  // namespace softkern_bench
