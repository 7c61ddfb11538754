// bench/peers.cpp — the peers built into this binary, and what they load.
#include "peers.hpp"

#include <fstream>
#include <set>

namespace softkern_bench {

std::vector<std::unique_ptr<PeerSoftmax>> MakePeers() {
  std::vector<std::unique_ptr<PeerSoftmax>> peers;
#ifdef SOFTKERN_BENCH_HAVE_XSIMD
  peers.push_back(MakeXsimdPeer());
  if (auto avx2 = MakeXsimdAvx2Peer()) peers.push_back(std::move(avx2));
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

std::vector<std::unique_ptr<PeerAttention>> MakeAttentionPeers() {
  std::vector<std::unique_ptr<PeerAttention>> peers;
#ifdef SOFTKERN_BENCH_HAVE_TORCH
  peers.push_back(MakeTorchAttentionPeer());
#endif
#ifdef SOFTKERN_BENCH_HAVE_ONEDNN
  peers.push_back(MakeOneDnnAttentionPeer());
#endif
  return peers;
}

std::string LoadedMathLibraries() {
  std::ifstream maps("/proc/self/maps");
  std::set<std::string> found;
  for (std::string line; std::getline(maps, line);) {
    const std::size_t slash = line.find('/');
    if (slash == std::string::npos) continue;
    const std::string path = line.substr(slash);
    for (const char* key : {"blas", "lapack", "mkl", "blis", "gomp", "iomp", "dnnl"}) {
      if (path.find(key) != std::string::npos) found.insert(path);
    }
  }
  std::string out;
  for (const std::string& p : found) out += (out.empty() ? "" : " ") + p;
  return out.empty() ? "none" : out;
}

}  // namespace softkern_bench
